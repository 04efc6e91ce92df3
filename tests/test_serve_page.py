"""`mnistflow serve`: the drawing page and /api/predict, against `mnistflow predict`.

The fixture trains a tiny LeNet-5 on generated digits (a few seconds) and saves it as the
project's models/lenet5.pt with its metrics files, beside an untrained models/deepcnn.pt (a
second model for the picker) and an untrained models/square.pt (the yes/no model), in a
project folder whose reports/summary.json names lenet5 best; then starts `mnistflow serve`
there as a user does (no model named: the default choice), on 127.0.0.1 and a free port.
The API tests post pictures, arrays and bad input; the browser tests (skipped without
Chromium; CI installs it) draw on the page with real mouse and touch events through
scripts/screenshot_serve.py's DevTools driver, with every host but this machine unreachable.
The last test stops the server with Ctrl-C.
"""

from __future__ import annotations

import http.client
import io
import json
import re
import shutil
import socket
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from conftest import ROOT, VENV_BIN, base_env, cnn_model, synthetic_digits, training
from mnistflow import checkpoint, predict, serve
from mnistflow.data.prepare import Split, Splits
from mnistflow.models import build_model, cnn_spec
from mnistflow.tasks import MULTICLASS, square_task
from mnistflow.training import fit, seed_everything
from scripts.check_html import BrowserError, find_browser
from scripts.screenshot_serve import STROKES, Page, draw_digit, start_server, stop_server


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("serve")
    x, y = synthetic_digits(600, seed=0)
    x = x.astype(np.float32) / 255.0
    y = y.astype(np.int64)
    splits = Splits(
        Split(x[:500], y[:500], np.arange(500)),
        Split(x[500:], y[500:], np.arange(100)),
        Split(x[500:], y[500:], np.arange(100)),
        info={"standardize": False},
    )
    seed_everything(0)
    arch, kwargs = cnn_spec(cnn_model(channels=(4, 8), dense=(32, 16)))
    model = build_model(arch, kwargs)
    last = fit(model, splits, training(epochs=4, lr=3e-3), MULTICLASS).last
    extra = {"amp": "none", "data": splits.info}
    checkpoint.save(root / "models/lenet5.pt", model.cpu(), arch, kwargs, MULTICLASS, {"model": "lenet5", **extra})
    untrained = build_model(arch, kwargs)
    checkpoint.save(root / "models/deepcnn.pt", untrained, arch, kwargs, MULTICLASS, {"model": "deepcnn", **extra})
    # The yes/no model, untrained: the page shows its probability beside the digit.
    arch, kwargs = cnn_spec(cnn_model(channels=(4, 8), dense=(32, 16)), n_outputs=1)
    square = square_task((0, 1, 4, 9)).with_threshold(0.45)
    checkpoint.save(
        root / "models/square.pt", build_model(arch, kwargs), arch, kwargs, square, {"model": "square", **extra}
    )
    (root / "metrics").mkdir()
    (root / "metrics/lenet5-train.json").write_text(json.dumps({"val_acc": last["val_acc"], "test_acc": 0.5}))
    (root / "metrics/lenet5.json").write_text(json.dumps({"accuracy": last["test_acc"]}))
    # The untrained one is the worst on every split, whichever the default model is chosen by.
    (root / "metrics/deepcnn-train.json").write_text(json.dumps({"val_acc": 0.1, "test_acc": 0.1}))
    (root / "metrics/deepcnn.json").write_text(json.dumps({"accuracy": 0.1}))
    (root / "reports").mkdir()
    (root / "reports/summary.json").write_text(json.dumps({"lenet5": {"accuracy": 0.99}, "deepcnn": {"accuracy": 0.1}}))
    shutil.copy(ROOT / "params.yaml", root / "params.yaml")
    return root


def server_env(project: Path) -> dict[str, str]:
    # A store that does not exist: the page offers the checkpoints only, MLflow is not imported.
    return {**base_env(), "MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}", "MNISTFLOW_THREADS": "1"}


@pytest.fixture(scope="module")
def server(project: Path):
    proc, url = start_server([], cwd=project, env=server_env(project))
    try:
        yield proc, url
    finally:
        stop_server(proc)


@pytest.fixture(scope="module")
def page():
    try:
        browser = find_browser(None)
    except BrowserError as exc:
        pytest.skip(str(exc))
    page = Page(browser)
    yield page
    page.close()


def post(url: str, body: bytes, kind: str, model: str | None = None) -> tuple[int, dict]:
    query = f"?model={urllib.parse.quote(model)}" if model else ""
    request = urllib.request.Request(f"{url}api/predict{query}", data=body, headers={"Content-Type": kind})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def picture(digit_lines, size=(240, 200), ink=20, paper=235, width=14) -> Image.Image:
    image = Image.new("L", size, paper)
    sketch = ImageDraw.Draw(image)
    for line in digit_lines:
        sketch.line([(x * size[0], y * size[1]) for x, y in line], fill=ink, width=width, joint="curve")
    return image


def png(image: Image.Image, kind: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, kind)
    return buffer.getvalue()


def predict_file(project: Path, name: str) -> dict:
    """The answer `mnistflow predict --json` gives for one file with the server's model, from
    the function the command calls (the command itself is run in the first test)."""
    classifier = predict.checkpoint_classifier(project / "models/lenet5.pt")
    judge = predict.square_judge(project / "models/square.pt", project / "params.yaml")
    return predict.predict([project / name], classifier, judge)[0].to_dict()


def mnistflow_predict(project: Path, *args: str) -> dict:
    proc = subprocess.run(
        [str(VENV_BIN / "mnistflow"), "predict", "--json", *args],
        cwd=project,
        env=server_env(project),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_the_api_answers_as_mnistflow_predict(project: Path, server):
    _, url = server
    pictures = {
        "seven.png": png(picture(STROKES[7])),
        "three.jpg": png(picture(STROKES[3], size=(400, 500), ink=250, paper=10, width=30).convert("RGB"), "JPEG"),
    }
    answers = {}
    for name, data in pictures.items():
        (project / name).write_bytes(data)
        status, answers[name] = post(url, data, "image/jpeg" if name.endswith("jpg") else "image/png")
        assert status == 200, answers[name]
    cli = mnistflow_predict(project, *pictures)
    # The same model chosen by default, the same square judge, the same numbers for each picture.
    for name, by_cli in zip(pictures, cli["predictions"]):
        served = answers[name]
        assert served["model"]["name"] == cli["model"]["name"] == "lenet5"
        assert served["model"]["chosen_for"] == cli["model"]["chosen_for"]
        assert served["square"] == cli["square"]
        assert {k: v for k, v in served["predictions"][0].items() if k != "file"} == {
            k: v for k, v in by_cli.items() if k != "file"
        }
        assert len(by_cli["top"]) == 3 and by_cli["top"][0]["probability"] > by_cli["top"][2]["probability"]
    # The 28×28 image the server read is the one `mnistflow predict` makes of the file.
    mnist = predict.mnist_like(project / "seven.png")
    np.testing.assert_allclose(answers["seven.png"]["mnist"], mnist, atol=5e-4)

    # A 28×28 array: read as a picture (to_mnist), answered by the same classifier.
    grey = np.asarray(picture(STROKES[7]).resize((28, 28), Image.Resampling.BOX), np.float32) / 255.0
    status, by_array = post(url, json.dumps({"image": grey.round(4).tolist()}).encode(), "application/json")
    assert status == 200, by_array
    classifier = predict.checkpoint_classifier(project / "models/lenet5.pt")
    expected = classifier.proba(predict.to_mnist(grey.round(4))[None])[0]
    top = by_array["predictions"][0]["top"]
    assert [t["digit"] for t in top] == np.argsort(-expected, kind="stable")[:3].tolist()
    np.testing.assert_allclose([t["probability"] for t in top], np.sort(expected)[::-1][:3], atol=2e-6)

    # What the page says about the model: its checkpoint and accuracies, from the metrics files.
    model = answers["seven.png"]["model"]
    train_metrics = json.loads((project / "metrics/lenet5-train.json").read_text())
    test_metrics = json.loads((project / "metrics/lenet5.json").read_text())
    assert model["checkpoint"] == "models/lenet5.pt" and model["key"] == "models/lenet5.pt"
    assert model["val_acc"] == train_metrics["val_acc"] and model["test_acc"] == test_metrics["accuracy"]
    with urllib.request.urlopen(f"{url}api/models", timeout=30) as response:
        listing = json.loads(response.read())
    assert listing["default"] == "models/lenet5.pt"
    assert [m["key"] for m in listing["models"]] == ["models/lenet5.pt", "models/deepcnn.pt"]

    # Another model, picked by key: its own answer.
    status, other = post(url, pictures["seven.png"], "image/png", model="models/deepcnn.pt")
    assert status == 200 and other["model"]["name"] == "deepcnn" and other["model"]["val_acc"] == 0.1
    assert other["predictions"][0]["top"] != answers["seven.png"]["predictions"][0]["top"]


def test_bad_input_is_a_4xx_with_one_line_and_the_server_goes_on(server):
    _, url = server
    huge = png(Image.new("1", (8000, 8000), 1))  # 64 million pixels in a small file
    cases = [
        (b"", "image/png", 400, "the picture: the request has no picture"),
        (b"not a picture", "image/png", 400, "the picture: not an image Pillow can read"),
        (png(Image.new("L", (300, 300), 255)), "image/png", 400, "the picture: no digit found"),
        (huge, "image/png", 413, "the picture: the picture is 8000×8000 pixels"),
        (b'{"image": [[0, 1]]}', "application/json", 400, "the image has shape [1, 2], not [28, 28]"),
        (b'{"image": [[0, 1], [0]]}', "application/json", 400, "the image is not rows of numbers of one length"),
        (b"[1, 2]", "application/json", 400, "the JSON has no image (it is a JSON array)"),
        (b'{"image": [[0.5', "application/json", 400, "the body is not JSON"),
        (
            json.dumps({"image": [[255] * 28] * 28}).encode(),
            "application/json",
            400,
            "the image's values run from 255 to 255, not within [0, 1]",
        ),
        (json.dumps({"image": [[0.3] * 28] * 28}).encode(), "application/json", 400, "the array: no digit found"),
        (b"x", "text/plain", 415, "content type 'text/plain' is not a picture or JSON"),
    ]
    for body, kind, status, reason in cases:
        got, answer = post(url, body, kind)
        assert (got, list(answer)) == (status, ["error"]), (reason, got, answer)
        assert answer["error"].startswith(reason) and "\n" not in answer["error"], answer
    # A body declared larger than 20 MB is refused before it is read.
    host, port = urllib.parse.urlsplit(url).netloc.split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    connection.putrequest("POST", "/api/predict")
    connection.putheader("Content-Type", "image/png")
    connection.putheader("Content-Length", str(100 * 2**20))
    connection.endheaders(b"\x89PNG" + b"\0" * 4096)
    response = connection.getresponse()
    answer = json.loads(response.read())
    connection.close()
    assert response.status == 413 and answer["error"].startswith("the body is larger than 20 MB; send a smaller"), (
        answer
    )
    got, answer = post(url, png(picture(STROKES[1])), "image/png", model="models/../../etc/passwd")
    assert got == 400 and answer["error"].startswith("unknown model 'models/../../etc/passwd'; the server offers")
    got, answer = post(url, png(picture(STROKES[1])), "image/png")
    assert got == 200 and answer["predictions"][0]["digit"] in range(10)


@pytest.mark.parametrize(
    "args, line",
    [
        (["--model", "broken.pt"], r"^error: broken\.pt is not a checkpoint this pipeline wrote: "),
        (["--model", "nosuch"], r"^error: unknown model 'nosuch'; the digit models are "),
        (
            ["--model", "lenet5", "--port", "{busy}"],
            r"^error: cannot listen on 127\.0\.0\.1:\d+ \(.*\); choose another",
        ),
    ],
)
def test_a_model_or_port_that_cannot_be_had_is_one_line(project: Path, args, line):
    (project / "broken.pt").write_bytes(b"not a checkpoint")
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    with busy:
        proc = subprocess.run(
            [str(VENV_BIN / "mnistflow"), "serve", *[a.format(busy=busy.getsockname()[1]) for a in args]],
            cwd=project,
            env=server_env(project),
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert proc.returncode == 1 and "serving" not in proc.stdout, proc.stdout + proc.stderr
    assert len(proc.stderr.splitlines()) == 1, proc.stderr
    assert re.match(line, proc.stderr), proc.stderr


def shown_top(shown: dict) -> list[tuple[int, float]]:
    return [(t["digit"], t["probability"]) for t in shown["top"]]


# The page's model picker, in the page's scripts.
PICKER = "document.getElementById('model')"


def test_drawing_on_the_page_answers_as_the_api_and_the_command(project: Path, server, page):
    _, url = server
    page.open(url)
    for digit, touch in ((7, False), (0, True)):  # with the mouse, then a finger
        shown = draw_digit(page, digit, touch=touch)
        assert shown["error"] is None and shown["model"] == "models/lenet5.pt", shown
        # The same pixels through the API: the numbers the page drew its bars from.
        drawing = page.canvas_png()
        status, answer = post(url, drawing, "image/png")
        assert status == 200, answer
        expected = answer["predictions"][0]
        assert shown["digit"] == expected["digit"]
        assert shown_top(shown) == [(t["digit"], t["probability"]) for t in expected["top"]]
        assert [t["shown"] for t in shown["top"]] == [f"{t['digit']}{t['probability']:.1%}" for t in expected["top"]]
        # ... and through `mnistflow predict`, from the file.
        (project / f"drawn-{digit}.png").write_bytes(drawing)
        assert predict_file(project, f"drawn-{digit}.png")["top"] == expected["top"]
    square = answer["predictions"][0]["square"]
    yes = "yes" if square["answer"] else "no"
    assert shown["square"] == f"Perfect square: {yes} (probability {square['probability']:.1%}, yes from 45.0%)"
    assert shown["about"]["model"] == "lenet5" and shown["about"]["checkpoint"] == "models/lenet5.pt"
    val_acc = json.loads((project / "metrics/lenet5-train.json").read_text())["val_acc"]
    assert shown["about"]["validation-accuracy"] == f"{val_acc:.2%}"
    assert shown["about"]["chosen-for"] == answer["model"]["chosen_for"]  # `mnistflow predict`'s default

    # Another model from the picker: the page asks again, and shows that model's answer.
    before = page.read()["asked"]
    page.evaluate("(s => { s.value = 'models/deepcnn.pt'; s.dispatchEvent(new Event('change')); })(" + PICKER + ")")
    other = page.answer(before)
    status, answer = post(url, page.canvas_png(), "image/png", model="models/deepcnn.pt")
    assert other["model"] == "models/deepcnn.pt" and other["about"]["model"] == "deepcnn"
    assert shown_top(other) == [(t["digit"], t["probability"]) for t in answer["predictions"][0]["top"]]
    assert page.errors() == []


def test_the_page_loads_nothing_from_elsewhere(server, page):
    _, url = server
    page.tools.events.clear()
    page.open(url)
    draw_digit(page, 3)
    requests = page.requests()
    asked = {urllib.parse.urlsplit(r).path for r in requests}
    assert {"/", "/style.css", "/app.js", "/api/models", "/api/predict"} <= asked, requests
    assert [r for r in requests if not r.startswith((url, "data:", "blob:"))] == []
    assert page.errors() == []


def test_the_page_says_what_is_wrong_with_bad_input(project: Path, server, page):
    _, url = server
    page.open(url)
    # An empty canvas: nothing to send.
    before = page.read()["asked"]
    page.evaluate("(s => s.dispatchEvent(new Event('change')))(" + PICKER + ")")
    assert page.answer(before)["error"] == "The canvas is empty: draw a digit first."
    # A file that is not a picture, uploaded: the server's one line, on the page.
    (project / "notes.png").write_text("shopping list")
    document = page.send("DOM.getDocument")["root"]["nodeId"]
    upload = page.send("DOM.querySelector", {"nodeId": document, "selector": "#upload"})["nodeId"]
    before = page.read()["asked"]
    page.send("DOM.setFileInputFiles", {"nodeId": upload, "files": [str(project / "notes.png")]})
    shown = page.answer(before)
    assert shown["error"].startswith("notes.png: not an image Pillow can read") and shown["digit"] is None
    # A picture uploaded: answered as `mnistflow predict` answers the file.
    (project / "upload.png").write_bytes(png(picture(STROKES[4])))
    before = page.read()["asked"]
    page.send("DOM.setFileInputFiles", {"nodeId": upload, "files": [str(project / "upload.png")]})
    shown = page.answer(before)
    expected = predict_file(project, "upload.png")
    assert shown["error"] is None and shown_top(shown) == [(t["digit"], t["probability"]) for t in expected["top"]]
    # And drawing again works.
    assert draw_digit(page, 1)["error"] is None


def test_ctrl_c_stops_the_server(server):
    proc, url = server
    status, printed = stop_server(proc)
    assert status == 0 and printed[-1] == "stopped", printed
    assert printed[0].startswith("digit: lenet5 (models/lenet5.pt") and printed[2].startswith(f"serving {url}")
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url, timeout=5)


def test_a_picked_model_that_cannot_be_loaded_is_a_503_and_an_unoffered_one_a_400():
    default = predict.Classifier("tiny", "tiny.pt", lambda images: np.full((len(images), 10), 0.1))
    models = serve.Models(default, ["tiny.pt", "models/gone.pt"])
    assert models.get(None)[0] is default and models.get("tiny.pt")[1]["name"] == "tiny"
    with pytest.raises(
        serve.InputError, match=r"^the model models/gone\.pt cannot be used now: models/gone\.pt is"
    ) as e:
        models.get("models/gone.pt")
    assert e.value.status == 503
    with pytest.raises(serve.InputError, match=r"^unknown model '/etc/passwd'; the server offers tiny\.pt, ") as e:
        models.get("/etc/passwd")
    assert e.value.status == 400
