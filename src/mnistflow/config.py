"""params.yaml -> frozen, typed config objects, validated once at start-up.

Each section of params.yaml is a dataclass below, with typed, commented fields and no defaults:
params.yaml is the one place a value is written. ``load_params`` reads the file once, rejects
unknown, missing or inapplicable keys, wrong types, non-finite numbers and impossible values with
an error that names the dotted key (``ann.train.lr: must be > 0, got -1.0``), and returns a
:class:`Params`.
A stage then reads only its own section, and dvc.yaml lists exactly those sections.

The shared sections (download, prepare, init, evaluate, plot) are fields of :class:`Params`.
Every other top-level section is a model of the pipeline, in :attr:`Params.models`; its kind
follows from what it holds: ``model.arch`` names the network (an entry of ``ARCHITECTURES``,
which says its params section type) and a ``positive`` list makes it a yes/no classifier. So a
new model is one section here plus its entry in dvc.yaml's ``vars: models``.
"""

from __future__ import annotations

import dataclasses
import math
import re
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml

from mnistflow.activations import FAMILIES, FAMILY_KEYS, scratch_families
from mnistflow.errors import UserError

MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


class ConfigError(UserError, ValueError):
    """params.yaml holds a key, type or value the pipeline cannot use."""


Problems = Iterator[tuple[str, str]]  # (field name, what is wrong with it)


# Every field is required: params.yaml is the one place a value is written, so a key left out
# is an error that names it, never a silent default in code.


@dataclass(frozen=True)
class DownloadSection:
    # Public HTTPS mirrors, tried in order after $MNIST_MIRROR (a folder or file:// URL) if set.
    mirrors: tuple[str, ...]
    # Seconds to wait on a silent mirror before trying the next one.
    timeout_s: float
    # Seconds one file may take from one mirror in all (a mirror that trickles bytes is abandoned).
    deadline_s: float
    # SHA-256 of each file's *decompressed* content (mirrors gzip the same bytes differently).
    sha256: Mapping[str, str]

    def problems(self) -> Problems:
        if self.timeout_s <= 0:
            yield "timeout_s", f"must be > 0 seconds, got {self.timeout_s}"
        if self.deadline_s < self.timeout_s:
            yield "deadline_s", f"must be >= timeout_s ({self.timeout_s}), got {self.deadline_s}"
        for i, url in enumerate(self.mirrors):
            if not is_mirror(url):
                yield f"mirrors.{i}", f"must be an http(s):// or file:// URL or a folder path, got {url!r}"
        missing = [name for name in MNIST_FILES if name not in self.sha256]
        extra = [name for name in self.sha256 if name not in MNIST_FILES]
        if missing:
            yield "sha256", f"needs the checksum of {', '.join(missing)}"
        if extra:
            yield "sha256", f"unknown file(s) {', '.join(extra)}; expected {', '.join(MNIST_FILES)}"
        for name, digest in self.sha256.items():
            if not re.fullmatch(r"[0-9a-f]{64}", digest):
                yield f"sha256.{name}", "must be 64 lowercase hex digits (a SHA-256)"


def is_mirror(text: str) -> bool:
    """An http(s):// or file:// URL, or a folder path; any other scheme (ftp://, s3://) is not."""
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", text):
        return bool(re.match(r"^(https?|file)://", text))
    return bool(text.strip())


@dataclass(frozen=True)
class PrepareSection:
    # Seed for shuffling, the stratified train/validation split and the optional subset.
    seed: int
    # Fraction of the 60,000 training images held out for validation.
    val_fraction: float
    # Subtract the training set's mean pixel and divide by its std (after scaling to [0, 1]).
    standardize: bool
    # >0: keep a stratified subset of this many training images (before the split), for quick runs.
    train_subset: int

    def problems(self) -> Problems:
        if not 0.0 < self.val_fraction < 1.0:
            yield "val_fraction", f"must be between 0 and 1 (exclusive), got {self.val_fraction}"
        if self.train_subset < 0:
            yield "train_subset", f"must be 0 (all images) or a positive count, got {self.train_subset}"
        elif 0 < self.train_subset < 100:
            yield "train_subset", f"must be at least 100 so every class reaches both splits, got {self.train_subset}"


@dataclass(frozen=True)
class PerturbSection:
    """The perturbed copy of the test set (``mnistflow.data.perturb``): MNIST's test digits
    moved, turned, resized and re-inked about as much as people's digits still differ from
    MNIST's after ``mnistflow predict`` has normalised them (docs/robustness.md)."""

    # Seed of the draws (one set of five per image), apart from prepare.seed so that a new
    # train/validation split keeps the same perturbed test set.
    seed: int
    # Rotation about the centre of mass, uniform in +/- this many degrees.
    degrees: float
    # Shift in x and in y, each uniform in +/- this many pixels (not whole pixels).
    translate: float
    # Zoom about the centre of mass by a factor uniform in [1 - scale, 1 + scale].
    scale: float
    # Stroke width changed by up to +/- this many pixels in all (half on each side of a stroke).
    stroke: float

    def problems(self) -> Problems:
        if not 0 <= self.degrees <= 45:
            yield (
                "degrees",
                f"must be in [0, 45] (a larger turn is no slant a writer gives a digit), got {self.degrees}",
            )
        if not 0 <= self.translate <= 4:
            yield (
                "translate",
                f"must be in [0, 4] pixels (MNIST's 20-pixel digit has 4 pixels of margin), got {self.translate}",
            )
        if not 0 <= self.scale < 0.5:
            yield "scale", f"must be in [0, 0.5), got {self.scale}"
        if not 0 <= self.stroke <= 2:
            yield (
                "stroke",
                f"must be in [0, 2] pixels (a 3x3 dilation or erosion moves each edge by at most 1), got {self.stroke}",
            )


@dataclass(frozen=True)
class InitSection:
    """Initial coefficients of ``ann``'s learnable activation, whichever family it is: k0, k1
    here, and every further coefficient (polynomial k2..kd, rational k2..km and b1..bn) 0, so
    each family starts as the affine g(x) = k0 + k1*x; normal/uniform draw around all of them."""

    # Initial value of k0 in the learnable activation g(x) = k0 + k1*x.
    k0: float
    # Initial value of k1.
    k1: float
    # constant: k0, k1 exactly; normal: drawn from N(k, spread^2); uniform: from U(k - spread, k + spread).
    sampling: Literal["constant", "normal", "uniform"]
    # Spread of the draw (std for normal, half-width for uniform); not used by constant.
    spread: float

    def problems(self) -> Problems:
        if self.spread < 0:
            yield "spread", f"must be >= 0, got {self.spread}"
        if self.sampling != "constant" and self.spread == 0:
            yield "spread", f"must be > 0 when sampling is {self.sampling!r} (use sampling: constant for fixed values)"


class ActivationKeys:
    """The checks of ``activation`` and ``activations.FAMILY_KEYS`` that every network reading
    them shares (``MLPModel``, ``CNNModel``): a dataclass with fields activation, degree,
    denominator and span."""

    def activation_problems(self) -> Problems:
        if self.activation not in FAMILIES:
            yield "activation", f"must be one of {', '.join(map(repr, FAMILIES))}, got {self.activation!r}"
            return
        yield from self.family_problems()

    def family_problems(self) -> Problems:
        """Each of ``activations.FAMILY_KEYS`` in range for the families that read it, at its
        neutral value for the others."""
        reads = FAMILIES[self.activation].reads
        for name, neutral in FAMILY_KEYS.items():
            families = [f.name for f in FAMILIES.values() if name in f.reads]
            value = getattr(self, name)
            if name not in reads and value != neutral:
                yield (
                    name,
                    f"is {value}, but only activation {' or '.join(families)} reads it; set it to {neutral} (or "
                    f"activation: {families[0]})",
                )
        if "degree" in reads and not 1 <= self.degree <= 8:
            yield "degree", f"must be 1 to 8, got {self.degree}"
        if "span" in reads and self.span < 0:
            yield "span", f"must be >= 0 (0: no bound), got {self.span}"
        if "denominator" in reads and not 1 <= self.denominator <= 8:
            yield (
                "denominator",
                f"must be 1 to 8 for a rational activation (a polynomial has none), got {self.denominator}",
            )


@dataclass(frozen=True)
class MLPModel(ActivationKeys):
    """The architecture of a fully connected network (``ann.model``, ``mlp.model``)."""

    # The network: a name in ``ARCHITECTURES`` whose section is MLPSection (mlp).
    arch: str
    # A family of ``activations.FAMILIES``. learnable: hidden activations g(x) = k0 + k1*x with
    # k0, k1 trained; polynomial: k0 + k1*x + ... + kd*x^d; rational: P(x)/Q(x) (a Padé unit
    # without poles); relu: ReLU with He init.
    activation: str
    # Hidden layer widths, input side first.
    hidden: tuple[int, ...]
    # network: one set of coefficients shared by every hidden layer; layer: one per hidden layer.
    share_k: Literal["network", "layer"]
    # Dropout after each hidden activation (0: none).
    dropout: float
    # polynomial: its degree d; rational: the numerator's degree m.
    degree: int
    # rational: the degree n of the denominator's polynomial s(x).
    denominator: int
    # polynomial, rational: g is its formula on [-span, span] and its tangent line beyond (0: the formula everywhere).
    span: float
    # Test-time augmentation (mnistflow.tta), as the convolutional models': none, plus, ring.
    tta: Literal["none", "plus", "ring"]

    def problems(self) -> Problems:
        if not 0 <= self.dropout < 1:
            yield "dropout", f"must be in [0, 1), got {self.dropout}"
        if not self.hidden:
            yield "hidden", "needs at least one hidden layer width"
        for i, width in enumerate(self.hidden):
            if width < 1:
                yield f"hidden.{i}", f"must be a positive width, got {width}"
        if self.activation in FAMILIES and not FAMILIES[self.activation].learned and self.share_k != "network":
            yield (
                "share_k",
                f"is {self.share_k!r}, but ReLU has no k0/k1 to share; use network (or activation: learnable)",
            )
        yield from self.activation_problems()


@dataclass(frozen=True)
class AugmentSettings:
    # Random rotation of each training image, up to +/- this many degrees (0: off).
    degrees: float
    # Random shift up to this fraction of the image size, in x and in y (0: off).
    translate: float
    # Random zoom by a factor in [1 - scale, 1 + scale] (0: off).
    scale: float
    # Elastic distortion after the affine one (mnistflow.data.elastic): the largest displacement
    # of a pixel, in pixels (0: off), and the smoothness of the displacement field (Gaussian
    # sigma, in pixels).
    elastic_alpha: float
    elastic_sigma: float

    @property
    def enabled(self) -> bool:
        return bool(self.degrees or self.translate or self.scale or self.elastic_alpha)

    def problems(self) -> Problems:
        if not 0 <= self.degrees <= 180:
            yield "degrees", f"must be in [0, 180], got {self.degrees}"
        if not 0 <= self.translate < 0.5:
            yield "translate", f"must be in [0, 0.5), got {self.translate}"
        if not 0 <= self.scale < 1:
            yield "scale", f"must be in [0, 1), got {self.scale}"
        if not 0 <= self.elastic_alpha <= 4:
            yield (
                "elastic_alpha",
                f"must be in [0, 4] pixels (MNIST's 20-pixel digit has 4 pixels of margin), got {self.elastic_alpha}",
            )
        if not 0.5 <= self.elastic_sigma <= 14:
            yield "elastic_sigma", f"must be in [0.5, 14] pixels, got {self.elastic_sigma}"


@dataclass(frozen=True)
class Training:
    """How a model is trained (every model section's ``train``)."""

    # Keys a user may expect here that this kind of model cannot use, and why.
    NOT_APPLICABLE: ClassVar[Mapping[str, str]] = {
        "backend": "the numpy backend trains fully connected networks only (ann, mlp); remove the key (torch trains "
        "this model)",
    }

    # Seed for weight init, k sampling and batch order.
    seed: int
    epochs: int
    batch_size: int
    # adam or sgd (with momentum below).
    optimizer: Literal["adam", "sgd"]
    # Peak learning rate.
    lr: float
    # SGD momentum; Adam does not use it.
    momentum: float
    # L2 penalty (torch's weight_decay argument).
    weight_decay: float
    # constant, or cosine decay from lr to 0 over the epochs (updated every step).
    schedule: Literal["constant", "cosine"]
    # Linear warm-up from 0 to lr over this many epochs (fractions allowed) before the schedule.
    warmup_epochs: float
    # auto: CUDA when available, else Apple's MPS, else CPU; or name one.
    device: Literal["auto", "cpu", "cuda", "mps"]
    # Record the mini-batch training loss every this many steps (the fine-grained loss curve).
    log_every: int
    # Training images evaluated after each epoch for train loss/accuracy (0: all of them).
    train_eval_size: int
    # Random shifts, rotations and zooms of training images (drawn as torchvision's v2.RandomAffine).
    augment: AugmentSettings
    # Mixed precision: none (float32) or bf16 (torch.autocast with bfloat16).
    amp: Literal["none", "bf16"]
    # Store image batches and conv weights channels-last (NHWC): faster convolutions on some CPUs.
    channels_last: bool
    # Label smoothing of the cross-entropy (binary: targets pulled towards 0.5 by half of it).
    label_smoothing: float
    # > 0: score and save an exponential moving average of the weights and BatchNorm statistics
    # with this decay per step (mnistflow.ema); 0: the last step's weights.
    ema_decay: float

    def uses_numpy(self) -> bool:
        """Whether the from-scratch NumPy engine trains (only a fully connected network's may)."""
        return False

    def problems(self) -> Problems:
        if not 0 <= self.ema_decay < 1:
            yield "ema_decay", f"must be in [0, 1) (0: off), got {self.ema_decay}"
        for name in ("epochs", "batch_size", "log_every"):
            if getattr(self, name) < 1:
                yield name, f"must be >= 1, got {getattr(self, name)}"
        if self.lr <= 0:
            yield "lr", f"must be > 0, got {self.lr}"
        if not 0 <= self.momentum < 1:
            yield "momentum", f"must be in [0, 1), got {self.momentum}"
        if self.weight_decay < 0:
            yield "weight_decay", f"must be >= 0, got {self.weight_decay}"
        if self.epochs >= 1 and not 0 <= self.warmup_epochs < self.epochs:
            yield "warmup_epochs", f"must be in [0, epochs), got {self.warmup_epochs}"
        if self.train_eval_size < 0:
            yield "train_eval_size", f"must be 0 (all) or a positive count, got {self.train_eval_size}"
        if not 0 <= self.label_smoothing < 1:
            yield "label_smoothing", f"must be in [0, 1), got {self.label_smoothing}"


@dataclass(frozen=True)
class MLPTraining(Training):
    """Training of a fully connected network, which may also use the from-scratch engine."""

    NOT_APPLICABLE: ClassVar[Mapping[str, str]] = {}

    # torch, or numpy: the from-scratch NumPy engine (on the CPU, in float32, without amp,
    # channels_last or label smoothing).
    backend: Literal["torch", "numpy"]

    def uses_numpy(self) -> bool:
        return self.backend == "numpy"

    def problems(self) -> Problems:
        yield from super().problems()
        if self.channels_last:
            yield (
                "channels_last",
                "is true, but a fully connected network has no image channels to reorder (it speeds up the CNNs); set "
                "it to false",
            )
        if self.backend == "numpy":
            unsupported = {
                "amp": self.amp != "none",
                "device": self.device in ("cuda", "mps"),
                "label_smoothing": self.label_smoothing > 0,
                "ema_decay": self.ema_decay > 0,
            }
            for name, bad in unsupported.items():
                if bad:
                    yield (
                        name,
                        f"is {getattr(self, name)!r}, which the numpy backend does not support; use backend: torch or "
                        f"change {name}",
                    )


@dataclass(frozen=True)
class CNNModel(ActivationKeys):
    """The architecture of a convolutional network (``lenet5.model``, ``deepcnn.model``, ``square.model``)."""

    # A name in ``ARCHITECTURES`` whose section is CNNSection. lenet5: conv5x5 'same' -> pool ->
    # conv5x5 -> pool -> dense; deepcnn: [conv3x3-conv3x3-BN-pool-dropout] blocks.
    arch: str
    # Output channels: lenet5 takes exactly two (one per convolution); deepcnn one per block.
    channels: tuple[int, ...]
    # Hidden widths of the dense head, before the output layer.
    dense: tuple[int, ...]
    # Dropout after the convolutional features (deepcnn: after every block).
    dropout: float
    # Dropout before the output layer.
    dense_dropout: float
    # deepcnn: how a block halves its maps: maxpool (2x2 max pooling), or strided (a 5x5
    # convolution of stride 2, as the convolutions' own learned downsampling); lenet5: maxpool.
    downsample: Literal["maxpool", "strided"]
    # deepcnn: BatchNorm once per block (block), or after every convolution (every); lenet5: block (none).
    batchnorm: Literal["block", "every"]
    # Test-time augmentation (mnistflow.tta): the answer is the mean of the probabilities on the
    # image and on copies shifted by one pixel: none; plus (the 4 neighbours); ring (all 8).
    tta: Literal["none", "plus", "ring"]
    # A family of ``activations.FAMILIES`` after every convolution and hidden dense layer: relu,
    # or a learned one with one set of coefficients per layer (starting from ``init``, as ann's).
    activation: str
    # The family's keys, as ``MLPModel``'s (polynomial: degree, span; rational: degree,
    # denominator, span); a family that does not read one leaves it at its neutral value.
    degree: int
    denominator: int
    span: float

    def problems(self) -> Problems:
        yield from self.activation_problems()
        if self.arch == "lenet5":
            for name, neutral in (("downsample", "maxpool"), ("batchnorm", "block")):
                if getattr(self, name) != neutral:
                    yield name, f"is {getattr(self, name)!r}, but only arch deepcnn reads it; set it to {neutral}"

        if self.arch == "lenet5" and len(self.channels) != 2:
            yield "channels", f"lenet5 has exactly two convolutions, so two channel counts; got {list(self.channels)}"
        if self.arch == "deepcnn" and not 1 <= len(self.channels) <= 4:
            yield "channels", f"deepcnn takes 1 to 4 blocks (each halves 28x28), got {len(self.channels)}"
        for i, c in enumerate(self.channels):
            if c < 1:
                yield f"channels.{i}", f"must be >= 1, got {c}"
        for i, c in enumerate(self.dense):
            if c < 1:
                yield f"dense.{i}", f"must be >= 1, got {c}"
        for name in ("dropout", "dense_dropout"):
            if not 0 <= getattr(self, name) < 1:
                yield name, f"must be in [0, 1), got {getattr(self, name)}"


@dataclass(frozen=True)
class MLPSection:
    """A fully connected digit classifier: the learnable-activation ``ann`` or the ReLU ``mlp``."""

    model: MLPModel
    train: MLPTraining

    def problems(self) -> Problems:
        family = FAMILIES.get(self.model.activation)  # None: MLPModel has said so
        if self.train.uses_numpy() and family is not None and not family.scratch:
            yield (
                "train.backend",
                f"is numpy, whose from-scratch engine has only activation {' and '.join(scratch_families())}, not "
                f"activation {self.model.activation}; set backend: torch",
            )
        if self.train.uses_numpy() and self.model.tta != "none":
            yield (
                "train.backend",
                f"is numpy, whose from-scratch engine has no test-time augmentation, but model.tta is "
                f"{self.model.tta}; set backend: torch (or model.tta: none)",
            )


@dataclass(frozen=True)
class CNNSection:
    """A convolutional digit classifier: ``lenet5`` or ``deepcnn``."""

    model: CNNModel
    train: Training


@dataclass(frozen=True)
class SquareSection:
    """The binary classifier: is the digit a perfect square?"""

    # Digits labelled positive ("a perfect square"): 0, 1, 4 and 9.
    positive: tuple[int, ...]
    # The backbone (its output layer has one logit).
    model: CNNModel
    train: Training

    def problems(self) -> Problems:
        if ARCHITECTURES[self.model.arch].section is not CNNSection:
            convolutional = " or ".join(name for name, a in ARCHITECTURES.items() if a.section is CNNSection)
            yield "model.arch", f"is {self.model.arch!r}, but a yes/no model is convolutional; use {convolutional}"
        if not self.positive or len(set(self.positive)) == 10:
            yield "positive", "must name some but not all of the digits 0-9"
        if len(set(self.positive)) != len(self.positive):
            yield "positive", f"lists a digit twice: {list(self.positive)}"
        for i, digit in enumerate(self.positive):
            if not 0 <= digit <= 9:
                yield f"positive.{i}", f"must be a digit 0-9, got {digit}"


@dataclass(frozen=True)
class PlotSection:
    # Misclassified test digits shown in each model's gallery.
    gallery_size: int

    def problems(self) -> Problems:
        if not 1 <= self.gallery_size <= 400:
            yield "gallery_size", f"must be in [1, 400], got {self.gallery_size}"


@dataclass(frozen=True)
class EvaluateSection:
    # Images per forward pass when a model is scored: the train, val and test evaluation after
    # each epoch, whose last test answers the evaluate stage reads.
    batch_size: int

    def problems(self) -> Problems:
        if self.batch_size < 1:
            yield "batch_size", f"must be >= 1, got {self.batch_size}"


ModelSection = MLPSection | CNNSection | SquareSection


@dataclass(frozen=True)
class Architecture:
    """A network a model section's ``model.arch`` may name."""

    # How descriptions and plot titles name it ("LeNet-5 12-24 / dense 120-84").
    title: str
    # The typed params section it is built from: its ``model`` is the network's config.
    section: type
    # "module:Class" of its ``nn.Module``, imported only when a network is built
    # (``mnistflow.models.build_model``), so that reading params.yaml never imports torch.
    network: str


# The architectures, by the name ``model.arch`` gives: the one place a new network is added
# (tests/test_models.py checks that every network class in mnistflow.models has an entry, and
# that each entry builds from its section).
ARCHITECTURES: Mapping[str, Architecture] = {
    "mlp": Architecture("MLP", MLPSection, "mnistflow.models.mlp:MLP"),
    "lenet5": Architecture("LeNet-5", CNNSection, "mnistflow.models.cnn:LeNet5"),
    "deepcnn": Architecture("deep CNN", CNNSection, "mnistflow.models.cnn:DeepCNN"),
}


def model_section_type(raw: Mapping[str, Any]) -> type:
    """The kind of a model section, from what it holds: a ``positive`` list makes it a yes/no
    classifier, else its ``model.arch``'s entry in ``ARCHITECTURES`` says."""
    if "positive" in raw:
        return SquareSection
    return ARCHITECTURES[raw["model"]["arch"]].section


@dataclass(frozen=True)
class Params:
    """The whole of params.yaml: the shared sections, and the models' sections by name."""

    download: DownloadSection
    prepare: PrepareSection
    perturb: PerturbSection
    init: InitSection
    evaluate: EvaluateSection
    plot: PlotSection
    # Every other top-level section, in file order: a model of the pipeline, named by its key.
    models: Mapping[str, ModelSection]

    def section(self, model: str) -> ModelSection:
        """The params section of model ``model``."""
        if model not in self.models:
            raise ConfigError(f"unknown model {model!r}; params.yaml has sections for {', '.join(self.models)}")
        return self.models[model]


SHARED_SECTIONS = tuple(f.name for f in dataclasses.fields(Params) if f.name != "models")


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and validate params.yaml; raise :class:`ConfigError` naming every bad key."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as fh:
            raw = yaml.safe_load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: not found; run the stage from the project root, where params.yaml lives") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    return parse_params(raw if raw is not None else {}, source=str(path))


RESTORE_HINT = (
    "Fix params.yaml, or restore the committed one with `git checkout params.yaml` (`git diff params.yaml` "
    "shows what changed)."
)


def parse_params(raw: Any, source: str = "params") -> Params:
    errors: list[str] = []
    params = _build_params(raw, errors)
    if errors:
        # One line, however many problems: each names its dotted key.
        if len(errors) == 1:
            raise ConfigError(f"{source}: {errors[0]}. {RESTORE_HINT}")
        listing = " ".join(f"({i}) {error}" for i, error in enumerate(errors, 1))
        raise ConfigError(f"{source} has {len(errors)} problems: {listing}. {RESTORE_HINT}")
    return params


def _build_params(raw: Any, errors: list[str]) -> Any:
    """:class:`Params` from the whole file: the shared sections by name, every other section as
    a model (its kind from :func:`model_section_type`)."""
    if not isinstance(raw, Mapping):
        errors.append(f"the top level: expected a mapping of sections, got {_describe(raw)}")
        return _INVALID
    values: dict[str, Any] = {}
    for name in SHARED_SECTIONS:
        if name in raw:
            values[name] = _build(typing.get_type_hints(Params)[name], raw[name], name, errors)
        else:
            errors.append(f"{name}: missing section; params.yaml must write every value")
    models: dict[str, Any] = {}
    for name, section in raw.items():
        if name in SHARED_SECTIONS:
            continue
        name = str(name)
        if not isinstance(section, Mapping) or "model" not in section or "train" not in section:
            errors.append(
                f"{name}: unknown section; params.yaml takes {', '.join(SHARED_SECTIONS)} and model sections "
                f"(a mapping with `model` and `train`, see the mlp section for an example)"
            )
            continue
        arch = section["model"].get("arch") if isinstance(section["model"], Mapping) else None
        if arch not in ARCHITECTURES:
            errors.append(f"{name}.model.arch: must be one of {', '.join(map(repr, ARCHITECTURES))}, got {arch!r}")
            continue
        models[name] = _build(model_section_type(section), section, name, errors)
    if not models and not errors:
        errors.append(
            "the top level: no model section; add one (a mapping with `model` and `train`, see README 'Add a model')"
        )
    if _INVALID in values.values() or _INVALID in models.values() or len(values) < len(SHARED_SECTIONS):
        return _INVALID
    return Params(**values, models=models)


def to_dict(config: Any) -> Any:
    """A config object as plain dicts/lists (for checkpoints, MLflow params and JSON); the
    whole :class:`Params` as params.yaml lays it out, the model sections at the top level."""
    if isinstance(config, Params):
        shared = {name: to_dict(getattr(config, name)) for name in SHARED_SECTIONS}
        return {**shared, **{name: to_dict(section) for name, section in config.models.items()}}
    if dataclasses.is_dataclass(config):
        return {f.name: to_dict(getattr(config, f.name)) for f in dataclasses.fields(config)}
    if isinstance(config, Mapping):
        return {k: to_dict(v) for k, v in config.items()}
    if isinstance(config, (list, tuple)):
        return [to_dict(v) for v in config]
    return config


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; lists become their string form."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        elif isinstance(value, (list, tuple)):
            flat[name] = str(list(value))
        else:
            flat[name] = value
    return flat


# --- the one validation pass -------------------------------------------------------------


def _dotted(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _build(cls: type, raw: Any, prefix: str, errors: list[str]) -> Any:
    """``cls`` from the mapping ``raw``, or ``_INVALID`` after appending what is wrong to ``errors``."""
    where = prefix or "the top level"
    if not isinstance(raw, Mapping):
        errors.append(f"{where}: expected a mapping of keys, got {_describe(raw)}")
        return _INVALID
    hints = typing.get_type_hints(cls)
    fields = [f.name for f in dataclasses.fields(cls)]
    not_applicable = getattr(cls, "NOT_APPLICABLE", {})
    n_before = len(errors)
    for key in raw:
        if key in not_applicable:
            errors.append(f"{_dotted(prefix, str(key))}: does not apply here: {not_applicable[key]}")
        elif key not in fields:
            errors.append(f"{_dotted(prefix, str(key))}: unknown key; {where} takes {', '.join(fields)}")
    values = {}
    for name in fields:
        if name in raw:
            values[name] = _convert(raw[name], hints[name], _dotted(prefix, name), errors)
        else:
            what = "section" if dataclasses.is_dataclass(hints[name]) else "key"
            errors.append(
                f"{_dotted(prefix, name)}: missing {what}; params.yaml must write every value (see the other model "
                "sections for an example)"
            )
    if len(errors) > n_before or _INVALID in values.values():
        return _INVALID
    obj = cls(**values)
    if hasattr(obj, "problems"):
        errors.extend(f"{_dotted(prefix, name)}: {message}" for name, message in obj.problems())
    return obj


_INVALID = object()
_FLOAT_TEXT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def _describe(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"


def _convert(value: Any, tp: Any, key: str, errors: list[str]) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, key, errors)
    if origin is Literal:
        if value not in args:
            errors.append(f"{key}: must be one of {', '.join(map(repr, args))}, got {value!r}")
            return _INVALID
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            errors.append(f"{key}: expected a list, got {_describe(value)}")
            return _INVALID
        items = [_convert(v, args[0], f"{key}.{i}", errors) for i, v in enumerate(value)]
        return _INVALID if _INVALID in items else tuple(items)
    if origin in (Mapping, dict) or tp is Mapping:
        if not isinstance(value, Mapping):
            errors.append(f"{key}: expected a mapping, got {_describe(value)}")
            return _INVALID
        converted = {str(k): _convert(v, args[1], f"{key}.{k}", errors) for k, v in value.items()}
        return _INVALID if _INVALID in converted.values() else converted
    if tp is bool:
        if not isinstance(value, bool):
            errors.append(f"{key}: expected true or false, got {_describe(value)}")
            return _INVALID
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            errors.append(f"{key}: expected an integer, got {_describe(value)}")
            return _INVALID
        return value
    if tp is float:
        if isinstance(value, str) and _FLOAT_TEXT.fullmatch(value.strip()):
            # PyYAML reads ``1e-3`` (no dot) as a string; take it as the number it means.
            value = float(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            errors.append(f"{key}: expected a number, got {_describe(value)}")
            return _INVALID
        if not math.isfinite(value):
            errors.append(f"{key}: must be a finite number, got {value}")
            return _INVALID
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            errors.append(f"{key}: expected a string, got {_describe(value)}")
            return _INVALID
        return value
    raise TypeError(f"config type {tp!r} of {key} is not supported")  # a bug in this module
