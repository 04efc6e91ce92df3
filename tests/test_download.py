"""Mirror fallback and checksum verification, against a local HTTP server and local folders."""

from __future__ import annotations

import functools
import gzip
import http.server
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, write_mnist
from mnistflow.config import MNIST_FILES
from mnistflow.data.idx import read_pair
from mnistflow.errors import UserError
from mnistflow.data.mirror import (
    ENV_VAR,
    DownloadError,
    content_sha256,
    download_mnist,
    fetch,
    local_folder,
    mirror_list,
)

PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - keep the test output clean
        pass


class _Server:
    """A ThreadingHTTPServer on 127.0.0.1 serving one folder, in a daemon thread."""

    def __init__(self, folder: Path):
        self.folder = folder
        handler = functools.partial(_QuietHandler, directory=str(folder))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    """Requests to 127.0.0.1 must go straight to the test server."""
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.delenv(ENV_VAR, raising=False)


@pytest.fixture()
def serve(tmp_path_factory):
    """``serve(folder)`` -> base URL of an HTTP server for ``folder``; all stopped afterwards."""
    servers: list[_Server] = []

    def start(folder: Path) -> str:
        server = _Server(folder)
        servers.append(server)
        return server.url

    yield start
    for server in servers:
        server.close()
    for server in servers:
        assert not server.thread.is_alive()


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """Small generated MNIST files (the content every mirror should serve) and their checksums."""
    folder = tmp_path_factory.mktemp("good")
    return folder, write_mnist(folder, n_train=120, n_test=40, seed=5)


@pytest.fixture(scope="module")
def corrupt(tmp_path_factory) -> Path:
    """Same file names, different (valid IDX, other seed) content."""
    folder = tmp_path_factory.mktemp("corrupt")
    write_mnist(folder, n_train=120, n_test=40, seed=99)
    return folder


def closed_port_url() -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def assert_only_verified_files(dest: Path, checksums: dict[str, str], names=MNIST_FILES) -> None:
    """dest holds exactly ``<name>.gz`` for ``names`` (no temp folders, no partial files), all valid."""
    assert sorted(p.name for p in dest.iterdir()) == sorted(f"{n}.gz" for n in names)
    for name in names:
        assert content_sha256(dest / f"{name}.gz") == checksums[name]


# --- content_sha256, mirror_list, local_folder --------------------------------------------


def test_content_sha256_ignores_compression(tmp_path, good):
    folder, checksums = good
    name = MNIST_FILES[1]
    gz = folder / f"{name}.gz"
    data = gzip.decompress(gz.read_bytes())
    raw = tmp_path / name
    raw.write_bytes(data)
    recompressed = tmp_path / f"{name}-9.gz"
    recompressed.write_bytes(gzip.compress(data, compresslevel=1, mtime=12345))
    assert recompressed.read_bytes() != gz.read_bytes()
    assert content_sha256(gz) == content_sha256(raw) == content_sha256(recompressed) == checksums[name]
    assert len(checksums[name]) == 64


def test_mirror_list_puts_env_first():
    configured = ["https://a.example/", "https://b.example/"]
    assert mirror_list(configured, env={ENV_VAR: "/data/mnist"}) == ["/data/mnist", *configured]
    assert mirror_list(configured, env={ENV_VAR: "  file:///x/  "}) == ["file:///x/", *configured]
    assert mirror_list(configured, env={}) == configured
    assert mirror_list(configured, env={ENV_VAR: "   "}) == configured
    assert mirror_list((), env={ENV_VAR: "/m"}) == ["/m"]


def test_mirror_list_reads_os_environ_by_default(monkeypatch):
    monkeypatch.setenv(ENV_VAR, "/from/env")
    assert mirror_list(["https://a.example/"]) == ["/from/env", "https://a.example/"]


def test_local_folder(tmp_path):
    assert local_folder("http://127.0.0.1:1/") is None
    assert local_folder("https://example.org/mnist/") is None
    assert local_folder(str(tmp_path)) == tmp_path
    assert local_folder(tmp_path.as_uri()) == tmp_path


# --- HTTP mirrors ---------------------------------------------------------------------------


def test_download_from_http(tmp_path, good, serve):
    folder, checksums = good
    url = serve(folder)
    dest = tmp_path / "raw"
    messages: list[str] = []
    sources = download_mnist(dest, MNIST_FILES, checksums, [url], timeout_s=5, deadline_s=30, log=messages.append)
    assert sources == {name: url for name in MNIST_FILES}
    assert_only_verified_files(dest, checksums)
    # The downloaded files are readable MNIST data of the generated sizes.
    x, y = read_pair(dest / "train-images-idx3-ubyte.gz", dest / "train-labels-idx1-ubyte.gz")
    assert x.shape == (120, 28, 28) and y.shape == (120,)
    assert messages == [f"{name}.gz: ok ({url})" for name in MNIST_FILES]


def test_mirror_url_without_trailing_slash(tmp_path, good, serve):
    folder, checksums = good
    url = serve(folder).rstrip("/")
    dest = tmp_path / "raw"
    name = MNIST_FILES[3]
    assert fetch(name, [url], checksums[name], dest, timeout_s=5, deadline_s=30, log=lambda m: None) == url
    assert_only_verified_files(dest, checksums, names=[name])


def test_corrupt_mirror_falls_through(tmp_path, good, corrupt, serve):
    folder, checksums = good
    bad_url, good_url = serve(corrupt), serve(folder)
    dest = tmp_path / "raw"
    messages: list[str] = []
    sources = download_mnist(
        dest, MNIST_FILES, checksums, [bad_url, good_url], timeout_s=5, deadline_s=30, log=messages.append
    )
    assert sources == {name: good_url for name in MNIST_FILES}
    assert_only_verified_files(dest, checksums)
    mismatches = [m for m in messages if "checksum mismatch" in m]
    assert len(mismatches) == 4
    for name, message in zip(MNIST_FILES, mismatches):
        assert message.startswith(f"{name}.gz: {bad_url} failed (checksum mismatch")
        assert checksums[name][:16] in message  # the expected digest
        assert content_sha256(corrupt / f"{name}.gz")[:16] in message  # the digest served
        assert "trying the next mirror" in message


def test_404_mirror_falls_through(tmp_path, good, serve):
    folder, checksums = good
    empty = tmp_path / "empty"
    empty.mkdir()
    missing_url, good_url = serve(empty), serve(folder)
    dest = tmp_path / "raw"
    messages: list[str] = []
    sources = download_mnist(
        dest, MNIST_FILES, checksums, [missing_url, good_url], timeout_s=5, deadline_s=30, log=messages.append
    )
    assert set(sources.values()) == {good_url}
    assert_only_verified_files(dest, checksums)
    failures = [m for m in messages if "failed" in m]
    assert len(failures) == 4
    assert all(f"{missing_url} failed (HTTP 404" in m for m in failures)


def test_unreachable_mirror_falls_through(tmp_path, good, serve):
    folder, checksums = good
    dead, good_url = closed_port_url(), serve(folder)
    dest = tmp_path / "raw"
    messages: list[str] = []
    sources = download_mnist(
        dest, MNIST_FILES, checksums, [dead, good_url], timeout_s=5, deadline_s=30, log=messages.append
    )
    assert set(sources.values()) == {good_url}
    assert_only_verified_files(dest, checksums)
    failures = [m for m in messages if "failed" in m]
    assert len(failures) == 4
    assert all(f"{dead} failed (unreachable" in m for m in failures)


def test_all_mirrors_fail(tmp_path, good, corrupt, serve):
    _, checksums = good
    empty = tmp_path / "empty"
    empty.mkdir()
    dead = closed_port_url()
    not_found = serve(empty)
    bad = serve(corrupt)
    missing_folder = tmp_path / "no-such-folder"
    mirrors = [str(missing_folder), dead, not_found, bad]
    dest = tmp_path / "raw"
    messages: list[str] = []
    with pytest.raises(DownloadError) as info:
        download_mnist(dest, MNIST_FILES, checksums, mirrors, timeout_s=5, deadline_s=30, log=messages.append)
    message = str(info.value)
    first = MNIST_FILES[0]
    assert f"{first}.gz" in message
    lines = message.splitlines()
    # One line per mirror, in order, each with its reason.
    listed = [line for line in lines if line.startswith("  - ")]
    assert len(listed) == 4
    assert listed[0].startswith(f"  - {missing_folder}: no file {missing_folder / (first + '.gz')}")
    assert listed[1].startswith(f"  - {dead}: unreachable")
    assert listed[2].startswith(f"  - {not_found}: HTTP 404")
    assert listed[3].startswith(f"  - {bad}: checksum mismatch")
    assert ENV_VAR in message
    # Each failure logged as it happened, but for the absent folder (an optional local copy):
    # the final error still lists it.
    assert len(messages) == 3 and not any(str(missing_folder) in m for m in messages)
    # Nothing (no partial download, no temp folder) was left behind.
    assert list(dest.iterdir()) == []


def test_no_mirrors_configured(tmp_path, good):
    _, checksums = good
    name = MNIST_FILES[0]
    with pytest.raises(DownloadError, match="no mirror configured") as info:
        fetch(name, [], checksums[name], tmp_path / "raw", timeout_s=5, deadline_s=30, log=lambda m: None)
    assert ENV_VAR in str(info.value)


# --- local mirrors ----------------------------------------------------------------------------


def test_local_folder_mirror(tmp_path, good):
    folder, checksums = good
    dest = tmp_path / "raw"
    sources = download_mnist(
        dest, MNIST_FILES, checksums, [str(folder)], timeout_s=5, deadline_s=30, log=lambda m: None
    )
    assert sources == {name: str(folder) for name in MNIST_FILES}
    assert_only_verified_files(dest, checksums)
    # A copy: the mirror's files are untouched.
    for name in MNIST_FILES:
        assert (folder / f"{name}.gz").read_bytes() == (dest / f"{name}.gz").read_bytes()


def test_file_url_mirror(tmp_path, good):
    folder, checksums = good
    url = folder.as_uri() + "/"
    assert url.startswith("file:///")
    dest = tmp_path / "raw"
    sources = download_mnist(dest, MNIST_FILES, checksums, [url], timeout_s=5, deadline_s=30, log=lambda m: None)
    assert sources == {name: url for name in MNIST_FILES}
    assert_only_verified_files(dest, checksums)


def test_corrupt_local_mirror_falls_through_to_file_url(tmp_path, good, corrupt):
    folder, checksums = good
    dest = tmp_path / "raw"
    messages: list[str] = []
    sources = download_mnist(
        dest, MNIST_FILES, checksums, [str(corrupt), folder.as_uri()], timeout_s=5, deadline_s=30, log=messages.append
    )
    assert set(sources.values()) == {folder.as_uri()}
    assert_only_verified_files(dest, checksums)
    assert sum("checksum mismatch" in m for m in messages) == 4


def test_damaged_gzip_on_mirror_falls_through(tmp_path, good):
    folder, checksums = good
    name = MNIST_FILES[0]
    broken = tmp_path / "broken"
    broken.mkdir()
    data = (folder / f"{name}.gz").read_bytes()
    (broken / f"{name}.gz").write_bytes(data[: len(data) // 2])  # truncated gzip stream
    dest = tmp_path / "raw"
    messages: list[str] = []
    assert fetch(
        name, [str(broken), str(folder)], checksums[name], dest, timeout_s=5, deadline_s=30, log=messages.append
    ) == str(folder)
    assert_only_verified_files(dest, checksums, names=[name])
    assert len(messages) == 1 and messages[0].startswith(f"{name}.gz: {broken} failed (")


def test_env_mirror_used_first(tmp_path, good, monkeypatch):
    folder, checksums = good
    monkeypatch.setenv(ENV_VAR, str(folder))
    mirrors = mirror_list([closed_port_url()])
    dest = tmp_path / "raw"
    messages: list[str] = []
    sources = download_mnist(dest, MNIST_FILES, checksums, mirrors, timeout_s=5, deadline_s=30, log=messages.append)
    assert sources == {name: str(folder) for name in MNIST_FILES}
    assert not any("failed" in m for m in messages)  # the dead HTTP mirror was never needed


# --- files already in place -----------------------------------------------------------------


def test_valid_file_not_fetched_again(tmp_path, good, serve):
    folder, checksums = good
    dest = tmp_path / "raw"
    download_mnist(dest, MNIST_FILES, checksums, [str(folder)], timeout_s=5, deadline_s=30, log=lambda m: None)
    before = {name: (dest / f"{name}.gz").stat().st_mtime_ns for name in MNIST_FILES}
    # Only a dead mirror now: any fetch would fail, so "already present" proves no fetch happened.
    messages: list[str] = []
    sources = download_mnist(
        dest, MNIST_FILES, checksums, [closed_port_url()], timeout_s=5, deadline_s=30, log=messages.append
    )
    assert sources == {name: "already present" for name in MNIST_FILES}
    assert messages == [f"{name}.gz: ok (already present)" for name in MNIST_FILES]
    assert {name: (dest / f"{name}.gz").stat().st_mtime_ns for name in MNIST_FILES} == before
    assert_only_verified_files(dest, checksums)


def test_valid_file_recompressed_still_counts(tmp_path, good):
    folder, checksums = good
    name = MNIST_FILES[1]
    dest = tmp_path / "raw"
    dest.mkdir()
    data = gzip.decompress((folder / f"{name}.gz").read_bytes())
    (dest / f"{name}.gz").write_bytes(gzip.compress(data, compresslevel=1, mtime=1))
    assert fetch(name, [], checksums[name], dest, timeout_s=5, deadline_s=30, log=lambda m: None) == "already present"


@pytest.mark.parametrize("damage", ["other-content", "garbage", "truncated-gzip", "empty"])
def test_present_but_corrupt_file_is_replaced(tmp_path, good, corrupt, damage):
    folder, checksums = good
    name = MNIST_FILES[0]
    dest = tmp_path / "raw"
    dest.mkdir()
    target = dest / f"{name}.gz"
    original = (folder / f"{name}.gz").read_bytes()
    target.write_bytes(
        {
            "other-content": (corrupt / f"{name}.gz").read_bytes(),
            "garbage": b"\x1f\x8b not really gzip" * 20,
            "truncated-gzip": original[: len(original) // 3],
            "empty": b"",
        }[damage]
    )
    assert fetch(name, [str(folder)], checksums[name], dest, timeout_s=5, deadline_s=30, log=lambda m: None) == str(
        folder
    )
    assert target.read_bytes() == original
    assert_only_verified_files(dest, checksums, names=[name])


def test_failed_fetch_leaves_only_the_old_file(tmp_path, good, corrupt):
    """A corrupt file in dest that no mirror can replace is left as is, and the error raised."""
    _, checksums = good
    name = MNIST_FILES[2]
    dest = tmp_path / "raw"
    dest.mkdir()
    bad = (corrupt / f"{name}.gz").read_bytes()
    (dest / f"{name}.gz").write_bytes(bad)
    with pytest.raises(DownloadError):
        fetch(name, [str(corrupt)], checksums[name], dest, timeout_s=5, deadline_s=30, log=lambda m: None)
    assert sorted(p.name for p in dest.iterdir()) == [f"{name}.gz"]


# --- the stage as a subprocess ---------------------------------------------------------------


def stage_project(tmp_path: Path, **download) -> Path:
    """The stages and the package in ``tmp_path/project``, with params.yaml's ``download``
    section updated by ``download``."""
    project = tmp_path / "project"
    project.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "stages", project / "stages", ignore=ignore)
    shutil.copytree(ROOT / "src", project / "src", ignore=ignore)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["download"].update(download)
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return project


def test_download_stage_fails_cleanly(tmp_path, good):
    _, checksums = good
    dead = closed_port_url()
    project = stage_project(tmp_path, sha256=dict(checksums), mirrors=[dead], timeout_s=5.0)
    empty_mirror = tmp_path / "empty-mirror"
    empty_mirror.mkdir()

    env = {k: v for k, v in os.environ.items() if k not in PROXY_VARS and k not in ("DVC_ROOT", "PYTHONPATH")}
    env[ENV_VAR] = str(empty_mirror)
    env["no_proxy"] = "127.0.0.1,localhost"
    result = subprocess.run(
        [sys.executable, "-m", "stages.download"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("error:"), result.stderr
    assert ENV_VAR in result.stderr
    assert f"{MNIST_FILES[0]}.gz" in result.stderr
    assert str(empty_mirror) in result.stderr and dead in result.stderr
    assert "Traceback" not in result.stderr
    raw = project / "data" / "raw"
    if raw.exists():
        assert list(raw.rglob("*.gz")) == []
        assert list(raw.iterdir()) == []  # no temporary download folder left either


class _TrickleHandler(http.server.BaseHTTPRequestHandler):
    """Sends a 1 MB file one byte every 0.2 s: never silent for long, never done."""

    def do_GET(self):  # noqa: N802 - http.server's naming
        self.send_response(200)
        self.send_header("Content-Length", str(1 << 20))
        self.end_headers()
        try:
            for _ in range(1 << 20):
                self.wfile.write(b"x")
                self.wfile.flush()
                threading.Event().wait(0.2)
        except OSError:  # the client gave up
            pass

    def log_message(self, format, *args):  # noqa: A002
        pass


def test_trickling_mirror_meets_its_deadline(tmp_path, good, serve):
    folder, checksums = good
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _TrickleHandler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    slow = f"http://127.0.0.1:{httpd.server_address[1]}/"
    name = MNIST_FILES[1]
    messages: list[str] = []
    try:
        start = time.monotonic()
        source = fetch(
            name, [slow, str(folder)], checksums[name], tmp_path / "raw", timeout_s=1, deadline_s=2, log=messages.append
        )
        elapsed = time.monotonic() - start
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert source == str(folder)
    assert 2 <= elapsed < 5, elapsed  # the deadline, not the 1 s read timeout, not forever
    assert len(messages) == 1 and "too slow" in messages[0] and "download.deadline_s" in messages[0]
    assert sorted(p.name for p in (tmp_path / "raw").iterdir()) == [f"{name}.gz"]  # no .download-* left


@pytest.mark.parametrize("value", ["ftp://example.org/mnist/", "s3://bucket/mnist"])
def test_mnist_mirror_env_is_validated(value):
    with pytest.raises(
        UserError, match=f"^{ENV_VAR}={value} is not a folder, a file:// URL or an http\\(s\\):// URL; point it at"
    ):
        mirror_list(["https://a/"], {ENV_VAR: value})


def test_sigterm_during_a_download_is_one_line_and_leaves_no_partial_file(tmp_path, good):
    """The download stage stopped while a mirror trickles a file: one line, status 143, and no
    `.download-*` folder (nor any file) left in data/raw."""
    _, checksums = good
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _TrickleHandler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    slow = f"http://127.0.0.1:{httpd.server_address[1]}/"
    project = stage_project(tmp_path, sha256=dict(checksums), mirrors=[slow], timeout_s=5.0, deadline_s=120.0)
    env = {k: v for k, v in os.environ.items() if k not in PROXY_VARS and k not in ("DVC_ROOT", "PYTHONPATH", ENV_VAR)}
    env["no_proxy"] = "127.0.0.1,localhost"
    raw = project / "data" / "raw"
    proc = subprocess.Popen(
        [sys.executable, "-m", "stages.download"],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (raw.is_dir() and any(p.name.startswith(".download-") for p in raw.iterdir())):
            assert proc.poll() is None and time.monotonic() < deadline, "the download never started"
            time.sleep(0.1)
        time.sleep(0.5)  # bytes are arriving
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        httpd.shutdown()
        httpd.server_close()
    assert proc.returncode == 128 + signal.SIGTERM, stderr
    assert stderr.splitlines() == [
        f"interrupted while fetching {MNIST_FILES[0]}.gz from {slow}; no partial file left, verified files kept"
    ], stderr
    assert list(raw.iterdir()) == []
