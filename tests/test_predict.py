"""`mnistflow predict`: the user's own pictures of digits, prepared as MNIST was, read back.

The fixture trains a small LeNet-5 (the pipeline's own ``fit`` and checkpoint format) on digits
drawn with Pillow in matplotlib's DejaVu fonts, each prepared by ``predict.to_mnist``, the way
MNIST's scans were. The tests then draw new pictures that differ from
anything in training (canvas size, stroke, dark-on-light or light-on-dark, offset, JPEG, a
transparent PNG) and check that `mnistflow predict` reads them back, through the console
script as a user runs it, as text and as JSON; and that each kind of bad input is one line.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw, ImageFont

from conftest import ROOT, VENV_BIN, base_env, cnn_model, training
from mnistflow import checkpoint, predict
from mnistflow.config import AugmentSettings
from mnistflow.data.prepare import Split, Splits
from mnistflow.models import build_model, cnn_spec
from mnistflow.tasks import MULTICLASS
from mnistflow.training import fit, seed_everything

FONTS = Path(__import__("matplotlib").get_data_path()) / "fonts" / "ttf"
FACES = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf", "DejaVuSerif-Bold.ttf")


def draw(
    digit: int,
    canvas=(200, 200),
    height=120,
    stroke=0,
    face="DejaVuSans.ttf",
    offset=(0, 0),
    light_on_dark=False,
    angle=0.0,
    grey=(20, 235),
) -> Image.Image:
    """A picture of ``digit`` as a person might make one: ``height`` pixels tall on a canvas of
    ``canvas`` (width, height), centred plus ``offset``, pen ``stroke`` pixels wider than the font."""
    ink, paper = (grey[1], grey[0]) if light_on_dark else grey
    image = Image.new("L", canvas, paper)
    font = ImageFont.truetype(str(FONTS / face), height)
    sketch = ImageDraw.Draw(image)
    x = canvas[0] / 2 + offset[0]
    y = canvas[1] / 2 + offset[1]
    sketch.text((x, y), str(digit), fill=ink, font=font, anchor="mm", stroke_width=stroke, stroke_fill=ink)
    if angle:
        image = image.rotate(angle, resample=Image.Resampling.BILINEAR, fillcolor=paper)
    return image


def training_set(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` drawn digits (random face, size, stroke, tilt, place, polarity), each as MNIST."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 10
    images = np.empty((n, 28, 28), np.float32)
    for i, digit in enumerate(labels):
        side = int(rng.integers(48, 160))
        height = int(side * rng.uniform(0.45, 0.8))
        image = draw(
            int(digit),
            canvas=(side, side),
            height=height,
            stroke=int(rng.integers(0, max(1, height // 14))),
            face=FACES[int(rng.integers(len(FACES)))],
            offset=tuple(int(v) for v in rng.integers(-side // 8, side // 8 + 1, 2)),
            light_on_dark=bool(rng.integers(2)),
            angle=float(rng.uniform(-12, 12)),
        )
        images[i] = predict.to_mnist(np.asarray(image, np.float32) / 255.0)
    return images, labels.astype(np.int64)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A project folder as the pipeline leaves it: models/lenet5.pt (trained here, its inputs
    standardised as `prepare.standardize: true` does) and the training metrics that make it the best
    digit model on validation (though not on test)."""
    root = tmp_path_factory.mktemp("predict")
    x, y = training_set(3000, seed=0)
    mean, std = float(x[:2500].mean()), float(x[:2500].std())
    x = (x - mean) / std
    splits = Splits(
        Split(x[:2500], y[:2500], np.arange(2500)),
        Split(x[2500:], y[2500:], np.arange(500)),
        Split(x[2500:], y[2500:], np.arange(500)),
        info={"standardize": True, "mean": mean, "std": std},
    )
    seed_everything(0)
    arch, kwargs = cnn_spec(cnn_model())
    model = build_model(arch, kwargs)
    cfg = training(
        epochs=8,
        batch_size=64,
        lr=2e-3,
        schedule="cosine",
        augment=AugmentSettings(degrees=0.0, translate=0.1, scale=0.1, elastic_alpha=0.0, elastic_sigma=4.0),
    )
    history = fit(model, splits, cfg, MULTICLASS)
    assert history.last["val_acc"] >= 0.97, history.last
    checkpoint.save(
        root / "models" / "lenet5.pt",
        model.cpu(),
        arch,
        kwargs,
        MULTICLASS,
        {"model": "lenet5", "amp": "none", "data": splits.info},
    )
    shutil.copy(ROOT / "params.yaml", root / "params.yaml")  # its model sections: which models answer digits
    # The training stages' metrics: ann has the better test accuracy, lenet5 the better validation one.
    (root / "metrics").mkdir()
    for name, val_acc, test_acc in (("ann", 0.9, 0.995), ("lenet5", 0.99, 0.98), ("square", 0.999, 0.999)):
        metrics = {"val_acc": val_acc, "test_acc": test_acc}
        (root / "metrics" / f"{name}-train.json").write_text(json.dumps(metrics), encoding="utf-8")
    return root


def mnistflow(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """The installed console script, as a user types it."""
    command = VENV_BIN / "mnistflow"
    assert command.exists(), "the mnistflow command is not installed: `pip install -e .` (setup.sh does it)"
    return subprocess.run([str(command), *args], cwd=cwd, env=base_env(), capture_output=True, text=True, timeout=120)


# Pictures unlike the training ones in some way each: size, pen, polarity, place, format.
VARIANTS = {
    "large-canvas": dict(canvas=(900, 700), height=380),
    "small-canvas": dict(canvas=(40, 40), height=30),
    "thick-pen": dict(canvas=(300, 300), height=170, stroke=12),
    "light-on-dark": dict(canvas=(220, 260), height=150, light_on_dark=True),
    "off-centre": dict(canvas=(500, 400), height=120, offset=(-150, 110)),
    "serif-tilted": dict(canvas=(256, 256), height=150, face="DejaVuSerif.ttf", angle=-8.0),
    "grey-on-grey": dict(canvas=(180, 180), height=110, grey=(90, 200)),
}


def test_to_mnist_places_the_digit_as_mnist_does():
    image = np.asarray(draw(7, canvas=(600, 300), height=200, offset=(180, -40)), np.float32) / 255.0
    out = predict.to_mnist(image)
    assert out.shape == (28, 28) and out.dtype == np.float32 and out.min() == 0.0 and 0.9 < out.max() <= 1.0
    rows, cols = np.nonzero(out > 0.05)
    assert max(rows.max() - rows.min(), cols.max() - cols.min()) + 1 in (19, 20, 21)  # the 20-pixel box
    from scipy import ndimage

    cy, cx = ndimage.center_of_mass(out)
    assert abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5
    # The negative of the picture is the same digit: white on black either way.
    negative = predict.to_mnist(1.0 - image)
    assert np.abs(negative - out).max() < 0.05
    # A thin pen on a big canvas is thickened, not shrunk to a hairline.
    thin = predict.to_mnist(
        np.asarray(draw(1, canvas=(1000, 1000), height=600, face="DejaVuSans.ttf"), np.float32) / 255.0
    )
    assert (thin >= 0.5).sum() >= 30


def test_blank_and_faint_pages_are_refused():
    with pytest.raises(
        predict.PredictError,
        match=r"^page: no digit found \(the strongest mark differs from the background by 0% of white",
    ):
        predict.to_mnist(np.full((50, 80), 0.8, np.float32), "page")
    with pytest.raises(predict.PredictError, match="no digit found"):
        predict.to_mnist(np.asarray(draw(3, grey=(120, 140)), np.float32) / 255.0, "faint")


@pytest.mark.e2e  # slow: a whole training (deselected by -m "not e2e")
def test_predict_reads_drawn_digits_back(project: Path):
    files = []
    for name, variant in VARIANTS.items():
        for digit in range(10):
            path = project / "drawn" / f"{name}-{digit}.png"
            path.parent.mkdir(exist_ok=True)
            draw(digit, **variant).save(path)
            files.append(path)
    images = np.stack([predict.mnist_like(f) for f in files])
    classifier = predict.checkpoint_classifier(project / "models" / "lenet5.pt")
    read = classifier.proba(images).argmax(axis=1)
    truth = np.tile(np.arange(10), len(VARIANTS))
    wrong = [f.name for f, r, t in zip(files, read, truth) if r != t]
    assert len(wrong) <= 2, wrong  # 70 pictures, none like the training ones in every way


@pytest.mark.e2e  # slow: a whole training (deselected by -m "not e2e")
def test_the_command_prints_digits_probabilities_and_squares(project: Path):
    pictures = project / "mine"
    pictures.mkdir(exist_ok=True)
    draw(4, canvas=(320, 240), height=160, stroke=3).convert("RGB").save(pictures / "four.jpg", quality=80)
    rgba = Image.new("RGBA", (200, 200), (0, 0, 0, 0))  # a digit drawn on a transparent canvas
    rgba.putalpha(draw(7, canvas=(200, 200), height=140, light_on_dark=True, grey=(0, 255)))
    rgba.save(pictures / "seven.png")
    draw(8, canvas=(150, 150), height=100, light_on_dark=True).save(pictures / "eight.png")

    result = mnistflow(["predict", "mine/four.jpg", "mine/seven.png", "mine/eight.png"], project)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert (
        lines[0]
        == "digit: lenet5 (models/lenet5.pt; the best validation accuracy: 99.00% in metrics/lenet5-train.json)"
    )
    assert lines[1].startswith("perfect square: the predicted digit (one of 0, 1, 4, 9, from ")
    answers = {line.split(":")[0]: line for line in lines[2:]}
    assert (
        answers["mine/four.jpg"].split()[1] == "4"
        and "perfect square: yes (4 is one of 0, 1, 4, 9)" in answers["mine/four.jpg"]
    )
    assert answers["mine/seven.png"].split()[1] == "7" and "perfect square: no" in answers["mine/seven.png"]
    assert answers["mine/eight.png"].split()[1] == "8"
    assert result.stderr == ""

    document = json.loads(
        mnistflow(["predict", "--json", "--model", "lenet5", "mine/four.jpg", "mine/eight.png"], project).stdout
    )
    assert document["model"] == {"name": "lenet5", "source": "models/lenet5.pt"}
    first = document["predictions"][0]
    assert first["file"] == "mine/four.jpg" and first["digit"] == 4 and first["square"] == {"answer": True}
    probabilities = [p["probability"] for p in first["top"]]
    assert (
        len(probabilities) == 3
        and probabilities == sorted(probabilities, reverse=True)
        and 0.5 < probabilities[0] <= 1.0
    )
    assert [p["digit"] for p in document["predictions"][1]["top"]][0] == 8


@pytest.mark.e2e  # slow: a whole training (deselected by -m "not e2e")
def test_bad_inputs_are_one_line_each(project: Path, monkeypatch, capsys):
    from mnistflow.cli import main

    (project / "notes.png").write_text("not a picture", encoding="utf-8")
    Image.new("L", (100, 100), 255).save(project / "blank.png")
    draw(9).save(project / "nine.png")

    # Good files are still answered; each bad one is one line on stderr, and the status says so.
    result = mnistflow(["predict", "nine.png", "notes.png", "blank.png", "nowhere.png"], project)
    assert result.returncode == 1
    assert [line.split(":")[0] for line in result.stdout.splitlines()[2:]] == ["nine.png"]
    assert result.stderr.splitlines() == [
        "error: notes.png: not an image Pillow can read (PNG, JPEG, GIF, BMP, TIFF, WebP, …); give a picture of one "
        "digit",
        "error: blank.png: no digit found (the strongest mark differs from the background by 0% of white, 20% is "
        "needed); give a picture of one digit, dark on light or light on dark",
        "error: nowhere.png: no such file; check the name (`ls .`)",
    ]

    def one_line(args: list[str], cwd: Path = project) -> str:
        """The command's own ``main`` in this process (the console script is run above and by the
        other tests here): status 1, nothing on stdout, one line on stderr."""
        monkeypatch.chdir(cwd)
        status = main(args)
        out, err = capsys.readouterr()
        assert status == 1 and out == "" and len(err.splitlines()) == 1, (status, out, err)
        return err

    assert one_line(["predict", "--model", "deepcnn", "nine.png"]).startswith(
        "error: models/deepcnn.pt is missing; run its training stage (`dvc repro train@deepcnn`) or fetch it "
        "(`dvc pull models/deepcnn.pt`)"
    )
    assert one_line(["predict", "--model", "resnet", "nine.png"]).startswith(
        "error: unknown model 'resnet'; the digit models are ann, mlp, lenet5, deepcnn"
    )
    assert one_line(["predict", "--model", "square", "nine.png"]).startswith(
        "error: square answers only whether the digit is a perfect square"
    )
    elsewhere = project / "elsewhere"
    elsewhere.mkdir(exist_ok=True)
    assert one_line(["predict", "../nine.png"], elsewhere).startswith(
        "error: no readable params.yaml here, so its digit models are unknown; run from the project folder"
    )
    shutil.copy(project / "params.yaml", elsewhere / "params.yaml")
    assert one_line(["predict", "../nine.png"], elsewhere).startswith(
        "error: no digit model has training metrics (metrics/deepcnn-train.json and the like), so there is no best "
        "model to choose; make them with `dvc repro`"
    )
    (project / "models" / "broken.pt").write_bytes(b"PK\x03\x04 truncated")
    assert one_line(["predict", "--model", "models/broken.pt", "nine.png"]).startswith(
        "error: models/broken.pt is not a readable checkpoint ("
    )
    # Through the console script: MLflow's settings are the command's environment's (base_env), not this process's.
    by_uri = mnistflow(["predict", "--model-uri", "models:/mnist-lenet5/1", "nine.png"], project)
    assert by_uri.returncode == 1 and by_uri.stdout == "" and len(by_uri.stderr.splitlines()) == 1, by_uri
    assert by_uri.stderr.startswith(
        f"error: no MLflow store at {project / 'mlflow.db'}, so no models:/mnist-lenet5/1; train a model first"
    )
    monkeypatch.chdir(project)
    assert main(["predict"]) == 2 and "the following arguments are required: IMAGE" in capsys.readouterr().err


@pytest.mark.e2e  # slow: a whole training (deselected by -m "not e2e")
def test_python_dash_m_is_the_same_command(project: Path):
    draw(1, canvas=(120, 200), height=150).save(project / "one.png")
    env = {**base_env(), "PYTHONPATH": os.pathsep.join([str(Path(predict.__file__).parents[2])])}
    result = subprocess.run(
        [str(VENV_BIN / "python"), "-m", "mnistflow", "predict", "--json", "one.png"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["predictions"][0]["digit"] == 1


@pytest.mark.e2e  # slow: a whole training (deselected by -m "not e2e")
def test_the_square_model_answers_when_it_exists(project: Path, tmp_path: Path):
    """With models/square.pt the yes/no comes from that model (its probability and threshold)."""
    from mnistflow.tasks import square_task

    arch, kwargs = cnn_spec(cnn_model(), n_outputs=1)
    model = build_model(arch, kwargs)
    with torch.no_grad():  # a model that always answers P(square) = sigmoid(3) ≈ 0.9526
        for p in model.parameters():
            p.zero_()
        model.head[-1].bias.fill_(3.0)
    path = tmp_path / "square.pt"
    task = square_task((0, 1, 4, 9)).with_threshold(0.5)
    checkpoint.save(path, model, arch, kwargs, task, {"model": "square", "amp": "none", "data": {"standardize": False}})
    judge = predict.square_judge(path)
    assert judge.uses_model and judge.threshold == 0.5 and judge.positive == (0, 1, 4, 9)
    classifier = predict.checkpoint_classifier(project / "models" / "lenet5.pt")
    draw(8).save(tmp_path / "eight.png")
    [result] = predict.predict([tmp_path / "eight.png"], classifier, judge)
    assert result.digit == 8 and result.square is True and abs(result.square_proba - 0.9526) < 1e-3
    with pytest.raises(predict.PredictError, match="answers only yes/no"):
        predict.checkpoint_classifier(path)
