"""params.yaml validation: types, dotted keys in every error, and the real file."""

from __future__ import annotations

import copy
import re

import pytest
import yaml

from conftest import ROOT
from mnistflow.config import (
    MNIST_FILES,
    SHARED_SECTIONS,
    CNNSection,
    ConfigError,
    MLPSection,
    Params,
    SquareSection,
    flatten,
    load_params,
    parse_params,
    to_dict,
)

PARAMS_FILE = ROOT / "params.yaml"
HINT = (
    "Fix params.yaml, or restore the committed one with `git checkout params.yaml` (`git diff params.yaml` shows "
    "what changed)."
)


@pytest.fixture(scope="module")
def real_raw() -> dict:
    return yaml.safe_load(PARAMS_FILE.read_text(encoding="utf-8"))


@pytest.fixture()
def raw(real_raw) -> dict:
    """A fresh, mutable copy of the real params.yaml content."""
    return copy.deepcopy(real_raw)


def problems_of(raw) -> list[str]:
    """The problem lines of the ConfigError raised for ``raw``."""
    with pytest.raises(ConfigError) as info:
        parse_params(raw, source="test-params")
    message = str(info.value)
    assert "\n" not in message and message.endswith(f". {HINT}")
    body = message[: -len(f". {HINT}")]
    if body.startswith("test-params: "):
        return [body[len("test-params: ") :]]
    header, listing = body.split(": ", 1)
    problems = re.split(r" ?\(\d+\) ", listing)[1:]
    assert header == f"test-params has {len(problems)} problems" and len(problems) > 1
    return problems


# --- the real file ------------------------------------------------------------------------------


def test_load_real_params():
    params = load_params(PARAMS_FILE)
    assert isinstance(params, Params)
    assert isinstance(params.models["ann"].model.hidden, tuple)
    assert len(params.models["ann"].model.hidden) >= 1
    assert all(type(w) is int and w > 0 for w in params.models["ann"].model.hidden)
    assert type(params.models["ann"].train.lr) is float and params.models["ann"].train.lr > 0
    assert type(params.models["ann"].train.epochs) is int and params.models["ann"].train.epochs >= 1
    assert type(params.models["ann"].train.batch_size) is int
    assert type(params.prepare.standardize) is bool
    assert type(params.prepare.val_fraction) is float and 0 < params.prepare.val_fraction < 1
    assert type(params.prepare.seed) is int
    assert type(params.init.k0) is float and type(params.init.k1) is float
    assert params.init.sampling in ("constant", "normal", "uniform")
    assert type(params.download.timeout_s) is float
    assert isinstance(params.download.mirrors, tuple) and all(isinstance(m, str) for m in params.download.mirrors)
    assert set(params.download.sha256) == set(MNIST_FILES)
    assert all(re.fullmatch(r"[0-9a-f]{64}", d) for d in params.download.sha256.values())
    assert type(params.evaluate.batch_size) is int


def test_real_params_values_match_the_yaml(real_raw):
    params = load_params(str(PARAMS_FILE))
    assert list(params.models["ann"].model.hidden) == real_raw["ann"]["model"]["hidden"]
    assert params.models["ann"].train.lr == pytest.approx(float(real_raw["ann"]["train"]["lr"]))
    assert params.models["ann"].train.epochs == real_raw["ann"]["train"]["epochs"]
    assert params.prepare.val_fraction == pytest.approx(float(real_raw["prepare"]["val_fraction"]))
    assert list(params.download.mirrors) == real_raw["download"]["mirrors"]
    assert dict(params.download.sha256) == real_raw["download"]["sha256"]


def test_params_are_frozen():
    params = load_params(PARAMS_FILE)
    with pytest.raises(AttributeError):
        params.models["ann"].train.lr = 1.0  # type: ignore[misc]


def test_to_dict_round_trips(raw):
    params = parse_params(raw)
    as_dict = to_dict(params)
    assert as_dict["ann"]["model"]["hidden"] == list(params.models["ann"].model.hidden)
    assert parse_params(as_dict) == params
    flat = flatten(as_dict)
    assert flat["ann.train.lr"] == params.models["ann"].train.lr
    assert flat["ann.model.hidden"] == str(list(params.models["ann"].model.hidden))


def test_params_yaml_is_the_whole_truth(real_raw):
    """Every value the stages use is written in params.yaml: the validated config, dumped,
    is exactly the file's content, so nothing can hide in a default in code."""
    assert to_dict(load_params(PARAMS_FILE)) == json_numbers(real_raw)


def json_numbers(data):
    """params.yaml as the config holds it: numbers written as text (1e-3) become floats, ints
    stay ints (the config turns ints into floats where a float is meant; compare by value)."""
    if isinstance(data, dict):
        return {k: json_numbers(v) for k, v in data.items()}
    if isinstance(data, list):
        return [json_numbers(v) for v in data]
    if isinstance(data, str) and re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", data):
        return float(data)
    return data


@pytest.mark.parametrize(
    "path",
    [
        ("ann", "train", "warmup_epochs"),
        ("ann", "model", "dropout"),
        ("square", "train", "label_smoothing"),
        ("prepare", "seed"),
    ],
)
def test_a_missing_key_is_an_error_naming_it(raw, path):
    section = raw
    for key in path[:-1]:
        section = section[key]
    del section[path[-1]]
    assert problems_of(raw) == [
        f"{'.'.join(path)}: missing key; params.yaml must write every value (see the other model sections for an "
        "example)"
    ]


def test_a_missing_section_is_an_error_naming_it(raw):
    del raw["prepare"]
    del raw["ann"]["train"]["augment"]
    assert problems_of(raw) == [
        "prepare: missing section; params.yaml must write every value",
        "ann.train.augment: missing section; params.yaml must write every value (see the other model sections for an "
        "example)",
    ]


def test_an_empty_file_names_every_section():
    lines = problems_of({})
    assert [line.split(":")[0] for line in lines] == list(SHARED_SECTIONS)


# --- unknown keys -----------------------------------------------------------------------------


def test_unknown_top_level_key(raw):
    raw["trian"] = {"epochs": 3}
    lines = problems_of(raw)
    assert len(lines) == 1
    assert lines[0].startswith(
        "trian: unknown section; params.yaml takes download, prepare, perturb, init, evaluate, plot and model sections"
    )


def test_unknown_nested_key(raw):
    raw["ann"]["train"]["lrr"] = 0.01
    lines = problems_of(raw)
    assert len(lines) == 1
    assert lines[0].startswith("ann.train.lrr: unknown key; ann.train takes seed, epochs, batch_size")
    assert "lr," in lines[0]


def test_unknown_key_in_model(raw):
    raw["ann"]["model"]["layers"] = [10]
    assert problems_of(raw)[0].startswith("ann.model.layers: unknown key")


# --- wrong types ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path, value, expected",
    [
        (("ann", "train", "epochs"), "ten", "ann.train.epochs: expected an integer, got str 'ten'"),
        (("ann", "train", "epochs"), 10.0, "ann.train.epochs: expected an integer, got float 10.0"),
        (("ann", "train", "epochs"), True, "ann.train.epochs: expected an integer, got bool True"),
        (("prepare", "standardize"), 1, "prepare.standardize: expected true or false, got int 1"),
        (("prepare", "standardize"), "yes", "prepare.standardize: expected true or false, got str 'yes'"),
        (("ann", "train", "lr"), "fast", "ann.train.lr: expected a number, got str 'fast'"),
        (("ann", "train", "lr"), False, "ann.train.lr: expected a number, got bool False"),
        (("ann", "model", "hidden"), 256, "ann.model.hidden: expected a list, got int 256"),
        (("ann", "model", "hidden"), [256, "x"], "ann.model.hidden.1: expected an integer, got str 'x'"),
        (("download", "mirrors"), "https://a/", "download.mirrors: expected a list, got str 'https://a/'"),
        (("download", "mirrors"), [3], "download.mirrors.0: expected a string, got int 3"),
        (("download", "sha256"), ["abc"], "download.sha256: expected a mapping, got list ['abc']"),
        (("ann", "train"), [1, 2], "ann.train: expected a mapping of keys, got list [1, 2]"),
    ],
)
def test_wrong_type(raw, path, value, expected):
    section = raw
    for key in path[:-1]:
        section = section[key]
    section[path[-1]] = value
    lines = problems_of(raw)
    assert lines[0] == expected
    assert len(lines) == 1, lines


def test_top_level_not_a_mapping():
    assert problems_of([1, 2]) == ["the top level: expected a mapping of sections, got list [1, 2]"]


# --- impossible values ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path, value, expected",
    [
        (("ann", "train", "lr"), -1, "ann.train.lr: must be > 0, got -1.0"),
        (("ann", "train", "lr"), 0, "ann.train.lr: must be > 0, got 0.0"),
        (("ann", "train", "epochs"), 0, "ann.train.epochs: must be >= 1, got 0"),
        (("ann", "train", "momentum"), 1.0, "ann.train.momentum: must be in [0, 1), got 1.0"),
        (("ann", "train", "optimizer"), "rmsprop", "ann.train.optimizer: must be one of 'adam', 'sgd', got 'rmsprop'"),
        (("prepare", "val_fraction"), 1.5, "prepare.val_fraction: must be between 0 and 1 (exclusive), got 1.5"),
        (("prepare", "val_fraction"), 0, "prepare.val_fraction: must be between 0 and 1 (exclusive), got 0.0"),
        (("prepare", "train_subset"), -5, "prepare.train_subset: must be 0 (all images) or a positive count, got -5"),
        (("prepare", "train_subset"), 50, "prepare.train_subset: must be at least 100"),
        (("init", "sampling"), "cauchy", "init.sampling: must be one of 'constant', 'normal', 'uniform', got 'cauchy'"),
        (("init", "spread"), -0.5, "init.spread: must be >= 0, got -0.5"),
        (("ann", "model", "hidden"), [0], "ann.model.hidden.0: must be a positive width, got 0"),
        (("ann", "model", "hidden"), [64, -3], "ann.model.hidden.1: must be a positive width, got -3"),
        (("ann", "model", "hidden"), [], "ann.model.hidden: needs at least one hidden layer width"),
        (
            ("ann", "model", "activation"),
            "tanh",
            "ann.model.activation: must be one of 'learnable', 'polynomial', 'rational', 'relu'",
        ),
        (("download", "timeout_s"), 0, "download.timeout_s: must be > 0 seconds, got 0.0"),
        (("download", "mirrors"), ["ftp://x/"], "download.mirrors.0: must be an http(s):// or file:// URL"),
        (("evaluate", "batch_size"), 0, "evaluate.batch_size: must be >= 1, got 0"),
    ],
)
def test_impossible_value(raw, path, value, expected):
    section = raw
    for key in path[:-1]:
        section = section[key]
    section[path[-1]] = value
    lines = problems_of(raw)
    assert len(lines) == 1, lines
    assert lines[0].startswith(expected), lines[0]


def test_spread_zero_with_random_sampling(raw):
    raw["init"]["sampling"] = "normal"
    raw["init"]["spread"] = 0
    lines = problems_of(raw)
    assert lines == ["init.spread: must be > 0 when sampling is 'normal' (use sampling: constant for fixed values)"]


def test_bad_checksums(raw):
    raw["download"]["sha256"][MNIST_FILES[0]] = "ABC"
    del raw["download"]["sha256"][MNIST_FILES[3]]
    raw["download"]["sha256"]["extra-file"] = "0" * 64
    lines = problems_of(raw)
    assert f"download.sha256: needs the checksum of {MNIST_FILES[3]}" in lines
    assert any(line.startswith("download.sha256: unknown file(s) extra-file") for line in lines)
    assert f"download.sha256.{MNIST_FILES[0]}: must be 64 lowercase hex digits (a SHA-256)" in lines
    assert len(lines) == 3


def test_local_folder_mirrors_accepted(raw):
    raw["download"]["mirrors"] = ["/srv/mnist", "./mnist", "file:///srv/mnist/", "http://127.0.0.1:8000/"]
    assert parse_params(raw).download.mirrors == tuple(raw["download"]["mirrors"])


# --- several problems together ----------------------------------------------------------------


def test_several_problems_reported_together(raw):
    raw["bogus"] = 1
    raw["ann"]["train"]["lrr"] = 0.1
    raw["ann"]["train"]["epochs"] = "ten"
    raw["ann"]["train"]["lr"] = -1  # a section's values are checked once its keys and types are right
    raw["prepare"]["val_fraction"] = 1.5
    raw["init"]["sampling"] = "cauchy"
    raw["mlp"]["model"]["hidden"] = [0]
    raw["deepcnn"]["train"]["momentum"] = 1.0
    lines = problems_of(raw)
    keys = sorted(line.split(":")[0] for line in lines)
    assert keys == sorted(
        [
            "bogus",
            "ann.train.lrr",
            "ann.train.epochs",
            "prepare.val_fraction",
            "init.sampling",
            "mlp.model.hidden.0",
            "deepcnn.train.momentum",
        ]
    )


def test_load_params_error_names_the_file(tmp_path, raw):
    raw["ann"]["train"]["lr"] = -1
    raw["prepare"]["val_fraction"] = 2
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError) as info:
        load_params(path)
    message = str(info.value)
    assert message.startswith(f"{path} has 2 problems: (1) ") and "\n" not in message
    assert "ann.train.lr: must be > 0, got -1.0" in message
    assert "prepare.val_fraction: must be between 0 and 1 (exclusive), got 2.0" in message


# --- numbers written as text ------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, number",
    [("1e-3", 0.001), ("1E-3", 0.001), ("+2.5e2", 250.0), (".5", 0.5), ("3", 3.0), (" 1e-4 ", 1e-4), ("-1e-2", -0.01)],
)
def test_float_text_accepted(raw, text, number):
    raw["init"]["k0"] = text
    params = parse_params(raw)
    assert type(params.init.k0) is float
    assert params.init.k0 == pytest.approx(number, rel=1e-12)


def test_yaml_1e_minus_3_is_a_learning_rate(tmp_path, raw):
    # PyYAML reads 1e-3 (no dot) as the string "1e-3"; the config still takes it as 0.001.
    text = yaml.safe_dump(raw).replace("lr: 0.001", "lr: 1e-3")
    assert "lr: 1e-3" in text
    assert yaml.safe_load(text)["ann"]["train"]["lr"] == "1e-3"
    path = tmp_path / "params.yaml"
    path.write_text(text)
    params = load_params(path)
    assert params.models["ann"].train.lr == 0.001
    assert type(params.models["ann"].train.lr) is float


def test_float_text_still_validated(raw):
    raw["ann"]["train"]["lr"] = "-1e-3"
    assert problems_of(raw) == ["ann.train.lr: must be > 0, got -0.001"]


@pytest.mark.parametrize("text", ["1e", "e5", "1.2.3", "nan", "0x10", ""])
def test_non_numeric_text_rejected_for_floats(raw, text):
    raw["ann"]["train"]["lr"] = text
    assert problems_of(raw) == [f"ann.train.lr: expected a number, got str {text!r}"]


def test_ints_become_floats_but_not_the_reverse(raw):
    raw["ann"]["train"]["lr"] = 1
    raw["download"]["timeout_s"] = 10
    params = parse_params(raw)
    assert type(params.models["ann"].train.lr) is float and params.models["ann"].train.lr == 1.0
    assert type(params.download.timeout_s) is float
    raw["ann"]["train"]["batch_size"] = "64"
    assert problems_of(raw) == ["ann.train.batch_size: expected an integer, got str '64'"]


# --- files --------------------------------------------------------------------------------------


def test_missing_file(tmp_path):
    path = tmp_path / "nowhere" / "params.yaml"
    with pytest.raises(ConfigError) as info:
        load_params(path)
    message = str(info.value)
    assert str(path) in message
    assert "not found" in message
    assert "project root" in message


def test_missing_file_default_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"^params\.yaml: not found.*project root"):
        load_params()


def test_invalid_yaml(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("ann:\n  train: [unclosed\n")
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}: not valid YAML"):
        load_params(path)


def test_config_error_is_a_value_error():
    assert issubclass(ConfigError, ValueError)


def test_numpy_backend_is_checked(raw):
    raw["lenet5"]["train"]["backend"] = "numpy"
    raw["ann"]["train"]["backend"] = "numpy"
    raw["ann"]["train"]["amp"] = "bf16"
    assert problems_of(raw) == [
        "ann.train.amp: is 'bf16', which the numpy backend does not support; use backend: torch or change amp",
        "lenet5.train.backend: does not apply here: the numpy backend trains fully connected networks only (ann, mlp); "
        "remove the key (torch trains this model)",
    ]


def test_the_numpy_engine_has_no_test_time_augmentation(raw):
    raw["mlp"]["train"]["backend"] = "numpy"
    raw["mlp"]["model"]["tta"] = "ring"
    assert problems_of(raw) == [
        "mlp.train.backend: is numpy, whose from-scratch engine has no test-time augmentation, but model.tta is ring; "
        "set backend: torch (or model.tta: none)"
    ]
    raw["mlp"]["model"]["tta"] = "none"
    assert parse_params(raw).models["mlp"].train.backend == "numpy"


def test_share_k_does_not_apply_to_relu(raw):
    raw["ann"]["model"]["activation"] = "relu"
    assert parse_params(raw).models["ann"].model.share_k == "network"  # the neutral value: one pair, unused
    raw["ann"]["model"]["share_k"] = "layer"
    assert problems_of(raw) == [
        "ann.model.share_k: is 'layer', but ReLU has no k0/k1 to share; use network (or activation: learnable)"
    ]


def test_channels_last_does_not_apply_to_fully_connected_networks(raw):
    raw["mlp"]["train"]["channels_last"] = True
    raw["deepcnn"]["train"]["channels_last"] = True  # a CNN: fine
    assert problems_of(raw) == [
        "mlp.train.channels_last: is true, but a fully connected network has no image channels to reorder (it speeds "
        "up the CNNs); set it to false"
    ]


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf"])
@pytest.mark.parametrize(
    "path", [("ann", "train", "lr"), ("init", "k1"), ("init", "k0"), ("deepcnn", "train", "warmup_epochs")]
)
def test_every_float_must_be_finite(raw, tmp_path, path, value):
    text = yaml.safe_dump(raw)
    data = yaml.safe_load(text)
    section = data
    for key in path[:-1]:
        section = section[key]
    section[path[-1]] = yaml.safe_load(value)  # what `dvc exp run -S init.k1=.nan` writes
    file = tmp_path / "params.yaml"
    file.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as info:
        load_params(file)
    assert f"{'.'.join(path)}: must be a finite number, got {float(yaml.safe_load(value))}" in str(info.value)
    assert len(str(info.value).splitlines()) == 1  # the one problem and the hint, on one line


def test_a_new_section_is_a_new_model_of_the_kind_it_describes(raw):
    raw["wide"] = copy.deepcopy(raw["mlp"])
    raw["wide"]["model"]["hidden"] = [1024]
    raw["odd"] = {**copy.deepcopy(raw["square"]), "positive": [1, 3, 5, 7, 9]}
    params = parse_params(raw)
    assert list(params.models) == ["ann", "mlp", "lenet5", "deepcnn", "square", "wide", "odd"]  # file order
    assert isinstance(params.section("wide"), MLPSection) and params.section("wide").model.hidden == (1024,)
    assert isinstance(params.section("odd"), SquareSection) and params.section("odd").positive == (1, 3, 5, 7, 9)
    assert isinstance(params.section("lenet5"), CNNSection)
    with pytest.raises(
        ConfigError,
        match="unknown model 'nope'; params.yaml has sections for ann, mlp, lenet5, deepcnn, square, wide, odd",
    ):
        params.section("nope")


def test_a_model_section_names_its_network(raw):
    raw["lenet5"]["model"]["arch"] = "resnet"
    del raw["mlp"]["model"]["arch"]
    assert problems_of(raw) == [
        "mlp.model.arch: must be one of 'mlp', 'lenet5', 'deepcnn', got None",
        "lenet5.model.arch: must be one of 'mlp', 'lenet5', 'deepcnn', got 'resnet'",
    ]
