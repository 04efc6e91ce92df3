"""Serving a trained model over HTTP: `mlflow models serve -m models:/mnist-deepcnn@champion`.

The train stage (`python -m stages.train deepcnn`, after download and preprocess, on generated
data and a tiny network) registers its model as `mnist-deepcnn` in a SQLite store in tmp_path,
the first version, so alias `champion` names it; `mlflow models serve --env-manager local`
serves the champion (docs/operations.md) on 127.0.0.1 and a free
port; two images posted to /invocations as README shows get the checkpoint's own
probabilities back; a malformed request gets a 400. The server is always stopped (its whole
process group). `mnistflow predict --model-uri` and `mnistflow serve` (its default) then read the same
champion, the page's server naming its version, alias and accuracies. Most of its time is the
stages' and the servers' imports.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import socket
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import VENV_BIN, base_env, copy_project, edit_params, wait_for, write_mnist
from mnistflow import checkpoint
from scripts.screenshot_serve import start_server, stop_server

pytestmark = pytest.mark.e2e

MODEL = "deepcnn"  # the one the README's example serves; here tiny, bf16-trained, channels-last
START_TIMEOUT_S = 120


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def request_body(raw_images_gz: Path, first: int, count: int) -> bytes:
    """What a client sends: {"inputs": N x 28 x 28 pixel values / 255}, as README's snippet
    builds it from an MNIST IDX file (16-byte header, then one byte per pixel)."""
    images = np.frombuffer(gzip.decompress(raw_images_gz.read_bytes()), np.uint8, offset=16).reshape(-1, 28, 28)
    return json.dumps({"inputs": (images[first : first + count] / 255.0).round(4).tolist()}).encode()


def post(url: str, body: bytes, kind: str = "application/json") -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": kind})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def run_stage(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [str(VENV_BIN / "python"), "-m", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, f"{args} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def test_the_registered_model_answers_http_requests(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    copy_project(project)
    mirror = tmp_path / "mirror"
    edit_params(project / "params.yaml", write_mnist(mirror, n_train=1000, n_test=300, seed=0))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = {**base_env(), "MNIST_MIRROR": str(mirror), "MLFLOW_TRACKING_URI": uri}
    for stage in (["stages.download"], ["stages.preprocess"]):
        run_stage(stage, project, env)
    trained = run_stage(["stages.train", MODEL], project, env)
    assert (
        f"model 'mnist-{MODEL}'" in trained.stderr + trained.stdout
    )  # "Successfully registered model 'mnist-deepcnn'."
    champion = f"models:/mnist-{MODEL}@champion"

    port = free_port()
    server = subprocess.Popen(
        [
            str(VENV_BIN / "mlflow"),
            "models",
            "serve",
            "-m",
            champion,
            "--env-manager",
            "local",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # the server and its workers in one process group, stopped together
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(f"{base}/ping", server, START_TIMEOUT_S, "mlflow models serve")
        raw = project / "data/raw/t10k-images-idx3-ubyte.gz"
        status, answer = post(f"{base}/invocations", request_body(raw, 0, 2))
        assert status == 200, answer
        served = np.asarray(answer["predictions"], dtype=np.float64)

        # The same images through the checkpoint's network, in float32: the same probabilities.
        model, task, _ = checkpoint.load(project / f"models/{MODEL}.pt")
        pixels = torch.tensor(json.loads(request_body(raw, 0, 2))["inputs"], dtype=torch.float32)
        with torch.no_grad():
            expected = task.proba(model(pixels)).numpy()
        assert served.shape == (2, 10)
        np.testing.assert_allclose(served.sum(axis=1), 1.0, atol=1e-5)
        np.testing.assert_allclose(served, expected, atol=1e-4)
        labels = np.frombuffer(
            gzip.decompress((project / "data/raw/t10k-labels-idx1-ubyte.gz").read_bytes()), np.uint8, offset=8
        )
        assert served.argmax(axis=1).tolist() == labels[:2].tolist()  # the synthetic digits are learned exactly

        # A batch of one, and a request of the wrong shape: an answer, and a 400 saying why.
        status, answer = post(f"{base}/invocations", request_body(raw, 5, 1))
        assert status == 200 and np.asarray(answer["predictions"]).shape == (1, 10), answer
        status, answer = post(f"{base}/invocations", json.dumps({"inputs": [[0.0] * 5]}).encode())
        assert status == 400 and "shape" in json.dumps(answer).lower(), (status, answer)

        # `mnistflow predict --model-uri` reads the registered model as the checkpoint reads it.
        images = np.frombuffer(gzip.decompress(raw.read_bytes()), np.uint8, offset=16).reshape(-1, 28, 28)
        Image.fromarray(255 - images[3]).resize((112, 112)).save(project / "digit.png")  # dark on light, 4x
        answers = {}
        cli_env = {**env, "PYTHONPATH": str(project / "src")}
        for flag in (["--model-uri", champion], ["--model", MODEL]):
            # This copy's code: the venv's `mnistflow` script may be installed from another checkout.
            cli = [str(VENV_BIN / "python"), "-m", "mnistflow", "predict", "--json", *flag, "digit.png"]
            proc = subprocess.run(
                cli,
                cwd=project,
                env=cli_env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert proc.returncode == 0, proc.stderr
            answers[flag[0]] = json.loads(proc.stdout)
        by_uri, by_checkpoint = answers["--model-uri"], answers["--model"]
        assert by_uri["model"] == {"name": champion, "source": champion}
        top = {p["digit"]: p["probability"] for p in by_uri["predictions"][0]["top"]}
        expected_top = {p["digit"]: p["probability"] for p in by_checkpoint["predictions"][0]["top"]}
        assert list(top) == list(expected_top)  # the same ranking; bf16 (checkpoint) vs float32 (served) values
        np.testing.assert_allclose(list(top.values()), list(expected_top.values()), atol=0.03)

        # `mnistflow serve`, with no model named, answers with the registry's champion (the store has
        # one): it names the registered version, its alias and accuracies, and offers the checkpoint
        # too; its answer is `mnistflow predict --model-uri`'s.
        page, page_url = start_server([], cwd=project, env=cli_env)
        try:
            with urllib.request.urlopen(f"{page_url}api/models", timeout=60) as response:
                listing = json.loads(response.read())
            status, served_answer = post(f"{page_url}api/predict", (project / "digit.png").read_bytes(), "image/png")
        finally:
            stop_server(page)
        assert [m["key"] for m in listing["models"]] == [champion, f"models/{MODEL}.pt"]
        assert status == 200, served_answer
        trained_metrics = json.loads((project / f"metrics/{MODEL}-train.json").read_text())
        model_info = served_answer["model"]
        assert (model_info["registered_model"], model_info["version"], model_info["aliases"]) == (
            f"mnist-{MODEL}",
            "1",
            ["champion"],
        )
        assert model_info["val_acc"] == trained_metrics["val_acc"]
        assert model_info["chosen_for"] == (
            f"the registry's champion with the best validation accuracy: {trained_metrics['val_acc']:.2%}"
        )
        assert model_info["test_acc"] == pytest.approx(trained_metrics["test_acc"], abs=1e-9)
        assert served_answer["predictions"][0]["top"] == by_uri["predictions"][0]["top"]
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
        # Workers left behind by a server that died on its own: the group still exists.
        try:
            os.killpg(server.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
