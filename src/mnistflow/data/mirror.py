"""Fetch the MNIST files from an ordered list of mirrors, verifying each by content checksum.

A mirror is a folder, a ``file://`` URL or an ``http(s)://`` URL. ``$MNIST_MIRROR`` (a local
copy) is tried before the mirrors in params.yaml. Each file is checked by the SHA-256 of its
*decompressed* bytes, since mirrors gzip the same IDX content differently. A mirror that fails
or serves a bad file is reported and the next one tried; a file reaches the destination folder
only once verified (downloaded into a temporary folder there, then renamed).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from mnistflow.config import is_mirror
from mnistflow.errors import Interrupted, UserError
from mnistflow.paths import project_root

ENV_VAR = "MNIST_MIRROR"
CHUNK = 1 << 20


class DownloadError(UserError, RuntimeError):
    """No mirror could supply a verified copy of a file."""


class ChecksumError(ValueError):
    """A mirror served a file whose content is not the expected one."""


def mirror_list(configured: Sequence[str], env: Mapping[str, str] = os.environ) -> list[str]:
    """``$MNIST_MIRROR`` (when set) followed by the configured mirrors, in order."""
    local = env.get(ENV_VAR, "").strip()
    if local and not is_mirror(local):
        raise UserError(
            f"{ENV_VAR}={local} is not a folder, a file:// URL or an http(s):// URL; "
            f"point it at the folder holding the four MNIST .gz files (`export {ENV_VAR}=/path/to/mnist`) or "
            f"`unset {ENV_VAR}`"
        )
    return ([local] if local else []) + list(configured)


def content_sha256(path: str | Path) -> str:
    """SHA-256 of the file's content, decompressed first when it is gzip data."""
    digest = hashlib.sha256()
    with open(path, "rb") as raw:
        is_gzip = raw.read(2) == b"\x1f\x8b"
    opener = gzip.open if is_gzip else open
    with opener(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def local_folder(mirror: str) -> Path | None:
    """The folder a local mirror names (a path or ``file://`` URL), or None for http(s)."""
    if mirror.startswith(("http://", "https://")):
        return None
    if mirror.startswith("file://"):
        return Path(urllib.request.url2pathname(urllib.parse.urlparse(mirror).path))
    folder = Path(mirror).expanduser()
    if not folder.is_absolute() and not folder.exists():
        # Relative to the project, also from inside a `dvc exp run --temp` copy.
        folder = project_root() / folder
    return folder


def _download(url: str, target: Path, timeout_s: float, deadline_s: float) -> None:
    """Download ``url`` to ``target``: at most ``timeout_s`` of silence, ``deadline_s`` in all.

    urllib follows redirects; ``read1`` returns whatever one socket read brings, so a server
    that trickles bytes meets the deadline instead of being waited on forever. A progress bar
    shows on a terminal.
    """
    from tqdm import tqdm

    start = time.monotonic()
    request = urllib.request.Request(url, headers={"User-Agent": "mnistflow"})
    with urllib.request.urlopen(request, timeout=timeout_s) as response, open(target, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(total=total, unit="B", unit_scale=True, desc=target.name, disable=None, leave=False) as bar:
            while chunk := response.read1(CHUNK):
                out.write(chunk)
                bar.update(len(chunk))
                if time.monotonic() - start > deadline_s:
                    raise TimeoutError(f"too slow: {bar.n:,} bytes in {deadline_s:g} s (download.deadline_s)")


def retrieve(mirror: str, filename: str, folder: Path, timeout_s: float, deadline_s: float) -> Path:
    """Copy or download ``filename`` from ``mirror`` into ``folder``; return the new file."""
    target = folder / filename
    local = local_folder(mirror)
    if local is not None:
        source = local / filename
        if not source.is_file():
            raise FileNotFoundError(f"no file {source}")
        shutil.copyfile(source, target)
        return target
    _download((mirror if mirror.endswith("/") else mirror + "/") + filename, target, timeout_s, deadline_s)
    return target


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return f"unreachable ({exc.reason})"
    return str(exc) or type(exc).__name__


def fetch(
    name: str,
    mirrors: Sequence[str],
    sha256: str,
    dest_dir: str | Path,
    timeout_s: float,
    deadline_s: float,
    log: Callable[[str], None] = print,
) -> str:
    """Place a verified ``<name>.gz`` in ``dest_dir``; return the mirror it came from.

    Raises :class:`DownloadError` listing every mirror and why it failed.
    """
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    filename = f"{name}.gz"
    target = dest_dir / filename
    if target.is_file():
        try:
            if content_sha256(target) == sha256:
                return "already present"
        except (OSError, EOFError, zlib.error):
            pass
    failures: list[str] = []
    for mirror in mirrors:
        with tempfile.TemporaryDirectory(prefix=".download-", dir=dest_dir) as tmp:
            try:
                part = retrieve(mirror, filename, Path(tmp), timeout_s, deadline_s)
                got = content_sha256(part)
                if got != sha256:
                    raise ChecksumError(f"checksum mismatch: content SHA-256 {got[:16]}..., expected {sha256[:16]}...")
                os.replace(part, target)
                return mirror
            except Interrupted as exc:  # the temporary folder goes with the partial file
                raise exc.at(
                    f"while fetching {filename} from {mirror}; no partial file left, verified files kept"
                ) from None
            except (OSError, EOFError, zlib.error, RuntimeError, ValueError) as exc:
                reason = _reason(exc)
                failures.append(f"  - {mirror}: {reason}")
                local = local_folder(mirror)
                if local is None or local.is_dir():  # an absent optional folder is not news
                    log(f"{filename}: {mirror} failed ({reason}); trying the next mirror")
    listing = "\n".join(failures) if failures else "  (no mirror configured)"
    raise DownloadError(
        f"could not get a verified copy of {filename} from any mirror:\n{listing}\n"
        f"To work offline, point {ENV_VAR} at a folder (or file:// URL) holding the four MNIST .gz files, "
        f"e.g. `export {ENV_VAR}=/path/to/mnist`, or add a mirror to download.mirrors in params.yaml."
    )


def download_mnist(
    dest_dir: str | Path,
    names: Sequence[str],
    checksums: Mapping[str, str],
    mirrors: Sequence[str],
    timeout_s: float,
    deadline_s: float,
    log: Callable[[str], None] = print,
) -> dict[str, str]:
    """Fetch every named file; return ``{name: mirror it came from}``."""
    sources = {}
    for name in names:
        sources[name] = fetch(name, mirrors, checksums[name], dest_dir, timeout_s, deadline_s, log)
        log(f"{name}.gz: ok ({sources[name]})")
    return sources
