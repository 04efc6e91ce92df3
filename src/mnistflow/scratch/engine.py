"""``NumpyMLP``: the network of :class:`mnistflow.models.mlp.MLP`, from scratch in NumPy.

Flatten -> [Linear -> activation -> dropout] x len(hidden) -> Linear -> logits, with activation
ReLU or the learnable g(x) = k0 + k1*x. Parameters live in ``self.params``, a dict with the same
keys, shapes and order as the torch model's ``state_dict()`` (``hidden.{i}.weight`` (out, in),
``hidden.{i}.bias``, ``out.weight``, ``out.bias``, ``acts.{j}.k0`` and ``acts.{j}.k1`` as 0-d
arrays), so weights move between the two with ``load_state_dict``.

Backward pass (one mini-batch of N, L hidden layers; the pieces are in :mod:`.layers`):
    dZ_out   = (softmax(logits) - onehot(y)) / N
    dW_out   = dZ_out^T · A_L,     db_out = sum_n dZ_out,     dA_L = dZ_out · W_out
    for layer i = L .. 1:
        dG_i  = dA_i ⊙ M_i                                      (dropout mask, if any)
        ReLU:       dZ_i = dG_i ⊙ [Z_i > 0]
        learnable:  dZ_i = k1 dG_i,  dk0 += sum dG_i,  dk1 += sum dG_i ⊙ Z_i
        dW_i  = dZ_i^T · A_{i-1},  db_i = sum_n dZ_i,  dA_{i-1} = dZ_i · W_i  (not for i = 1)
With ``share_k="network"`` the single (k0, k1) pair collects the sums over all hidden layers;
with ``"layer"`` each pair gets its own layer's.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from mnistflow.scratch.layers import (
    affine_backward,
    affine_forward,
    dropout_backward,
    dropout_forward,
    dropout_mask,
    linear_backward,
    linear_forward,
    normal_weight,
    relu_backward,
    relu_forward,
    softmax_cross_entropy,
)

INITS = ("he", "lecun", "xavier")


class NumpyMLP:
    """The torch ``MLP`` in NumPy: same arguments, same parameter names, explicit backward.

    ``init`` chooses the weight initialisation (normal, biases zero), drawn from
    ``np.random.default_rng(seed)``:

    * ``None`` or ``"he"``: what ``MLP.reset_weights`` does, ``kaiming_normal_`` (fan-in) with the
      activation's gain, std = gain / sqrt(fan_in): gain sqrt(2) for ReLU hidden layers, gain 1
      (LeCun) for the learnable affine activation and always for the output layer;
    * ``"lecun"``: std = 1 / sqrt(fan_in) for every layer;
    * ``"xavier"``: ``xavier_normal_``, std = sqrt(2 / (fan_in + fan_out)) for every layer.

    The same generator then draws the dropout masks. ``dtype`` (float32 by default) is the dtype
    of every parameter, activation and gradient; ``astype(np.float64)`` gives a float64 copy.
    """

    def __init__(
        self,
        in_features: int = 28 * 28,
        hidden: Sequence[int] = (256, 128),
        n_classes: int = 10,
        activation: str = "learnable",
        share_k: str = "network",
        k_init: Sequence[Sequence[float]] = ((0.0, 1.0),),
        dropout: float = 0.0,
        init: str | None = None,
        seed: int = 0,
        dtype: Any = np.float32,
    ):
        if activation not in ("learnable", "relu"):
            raise ValueError(f"activation must be 'learnable' or 'relu', got {activation!r}")
        if share_k not in ("network", "layer"):
            raise ValueError(f"share_k must be 'network' or 'layer', got {share_k!r}")
        if init is not None and init not in INITS:
            raise ValueError(f"init must be one of {INITS} or None, got {init!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if not hidden:
            raise ValueError("hidden needs at least one layer width")
        self.in_features = int(in_features)
        self.hidden = tuple(int(h) for h in hidden)
        self.n_classes = int(n_classes)
        self.activation = activation
        self.share_k = share_k
        self.dropout = float(dropout)
        self.init = init or "he"
        self.dtype = np.dtype(dtype)
        if self.dtype.kind != "f":
            raise ValueError(f"dtype must be a floating-point type, got {self.dtype}")
        self.rng = np.random.default_rng(seed)
        self._cache: dict[str, Any] | None = None

        self.n_pairs = 0
        if activation == "learnable":
            self.n_pairs = 1 if share_k == "network" else len(self.hidden)
            k_init = [tuple(pair) for pair in k_init]
            if len(k_init) != self.n_pairs:
                raise ValueError(
                    f"share_k={share_k!r} with {len(self.hidden)} hidden layers needs {self.n_pairs} (k0, k1) pairs, "
                    f"got {len(k_init)}"
                )

        # Same order as torch's state_dict: hidden layers, output layer, then the activations.
        self.params: dict[str, np.ndarray] = {}
        widths = [self.in_features, *self.hidden]
        for i, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:])):
            self.params[f"hidden.{i}.weight"] = normal_weight(
                self.rng, fan_out, fan_in, self._init_std(fan_in, fan_out, False), self.dtype
            )
            self.params[f"hidden.{i}.bias"] = np.zeros(fan_out, dtype=self.dtype)
        self.params["out.weight"] = normal_weight(
            self.rng, self.n_classes, widths[-1], self._init_std(widths[-1], self.n_classes, True), self.dtype
        )
        self.params["out.bias"] = np.zeros(self.n_classes, dtype=self.dtype)
        for j in range(self.n_pairs):
            k0, k1 = k_init[j]
            self.params[f"acts.{j}.k0"] = np.array(k0, dtype=self.dtype)
            self.params[f"acts.{j}.k1"] = np.array(k1, dtype=self.dtype)

    # -----------------------------------------------------------------------------------------
    # Construction helpers
    # -----------------------------------------------------------------------------------------

    def _init_std(self, fan_in: int, fan_out: int, is_output: bool) -> float:
        if self.init == "xavier":
            return math.sqrt(2.0 / (fan_in + fan_out))
        gain = math.sqrt(2.0) if self.init == "he" and self.activation == "relu" and not is_output else 1.0
        return gain / math.sqrt(fan_in)

    def _act_index(self, i: int) -> int:
        """Index j of the (k0, k1) pair used by hidden layer i (``acts.{j}``)."""
        return i if self.n_pairs > 1 else 0

    def _as_input(self, x: Any) -> np.ndarray:
        x = np.asarray(x, dtype=self.dtype)
        x = x.reshape(x.shape[0], -1)
        if x.shape[1] != self.in_features:
            raise ValueError(f"expected {self.in_features} input features per sample, got {x.shape[1]}")
        return x

    @property
    def n_hidden(self) -> int:
        return len(self.hidden)

    def n_parameters(self) -> int:
        return sum(int(p.size) for p in self.params.values())

    def __repr__(self) -> str:
        act = "g(x) = k0 + k1*x" if self.activation == "learnable" else "ReLU"
        widths = "-".join(map(str, (self.in_features, *self.hidden, self.n_classes)))
        return f"NumpyMLP({widths}, {act}, share_k={self.share_k!r}, dropout={self.dropout}, {self.dtype})"

    # -----------------------------------------------------------------------------------------
    # Forward / backward
    # -----------------------------------------------------------------------------------------

    def forward(self, x: Any, train: bool = False) -> np.ndarray:
        """Logits (N, n_classes) of x, shape (N, 28, 28) or (N, in_features).

        ``train=True`` applies inverted dropout (masks from ``self.rng``) and keeps what
        :meth:`backward` needs; ``train=False`` is deterministic and keeps nothing.
        """
        return self._forward(x, keep=train, dropout=train)

    def _forward(self, x: Any, keep: bool, dropout: bool) -> np.ndarray:
        p = self.params
        a = self._as_input(x)
        layers = []  # per hidden layer: (A_prev, Z or G, dropout mask or None)
        use_dropout = dropout and self.dropout > 0.0
        for i in range(self.n_hidden):
            z = linear_forward(a, p[f"hidden.{i}.weight"], p[f"hidden.{i}.bias"])
            if self.activation == "relu":
                g = relu_forward(z)  # in place: z now holds G, and backward only needs G > 0
                saved = g
            else:
                j = self._act_index(i)
                g = affine_forward(z, p[f"acts.{j}.k0"], p[f"acts.{j}.k1"])
                saved = z  # dk1 needs Z
            mask = None
            if use_dropout:
                mask = dropout_mask(self.rng, g.shape, self.dropout, self.dtype)
                g = dropout_forward(g, mask)
            if keep:
                layers.append((a, saved, mask))
            a = g
        logits = linear_forward(a, p["out.weight"], p["out.bias"])
        self._cache = {"layers": layers, "a_last": a} if keep else None
        return logits

    __call__ = forward

    def backward(self, dlogits: np.ndarray) -> dict[str, np.ndarray]:
        """Gradients of the loss w.r.t. every parameter, given dL/dlogits, after ``forward(train=True)``.

        Returns a dict with the keys of ``self.params`` (same shapes and dtype). The equations
        are in the module docstring and in :mod:`.layers`.
        """
        if self._cache is None:
            raise RuntimeError("backward needs a forward(x, train=True) first")
        p = self.params
        cache, self._cache = self._cache, None
        grads: dict[str, np.ndarray] = {}
        dk0 = [0.0] * self.n_pairs
        dk1 = [0.0] * self.n_pairs

        # Output layer: dW_out = dZ^T · A_L, db_out = sum_n dZ, dA_L = dZ · W_out.
        dw, db, da = linear_backward(dlogits, cache["a_last"], p["out.weight"])
        grads["out.weight"], grads["out.bias"] = dw, db

        for i in reversed(range(self.n_hidden)):
            a_prev, saved, mask = cache["layers"][i]
            if mask is not None:
                da = dropout_backward(da, mask)  # dG = dA ⊙ M
            if self.activation == "relu":
                dz = relu_backward(da, saved)  # dZ = dG ⊙ [Z > 0]
            else:
                j = self._act_index(i)
                # dZ = k1 dG; dk0 = sum dG; dk1 = sum dG ⊙ Z; a shared pair sums over layers.
                dz, g0, g1 = affine_backward(da, saved, p[f"acts.{j}.k1"])
                dk0[j] += g0
                dk1[j] += g1
            # dW_i = dZ^T · A_{i-1}, db_i = sum_n dZ, dA_{i-1} = dZ · W_i (none for the input).
            dw, db, da = linear_backward(dz, a_prev, p[f"hidden.{i}.weight"], need_input_grad=i > 0)
            grads[f"hidden.{i}.weight"], grads[f"hidden.{i}.bias"] = dw, db

        for j in range(self.n_pairs):
            grads[f"acts.{j}.k0"] = np.array(dk0[j], dtype=self.dtype)
            grads[f"acts.{j}.k1"] = np.array(dk1[j], dtype=self.dtype)
        return {key: grads[key] for key in p}  # same order as params

    def loss_and_grads(self, x: Any, y: Any, train: bool = True) -> tuple[float, dict[str, np.ndarray]]:
        """(mean softmax cross-entropy, gradients) of one mini-batch.

        ``train=True`` (the default, as in a training step) applies dropout. Weight decay is not
        here: like torch, it belongs to the optimizer.
        """
        logits = self._forward(x, keep=True, dropout=train)
        loss, dlogits = softmax_cross_entropy(logits, np.asarray(y, dtype=np.intp))
        return loss, self.backward(dlogits)

    def loss(self, x: Any, y: Any) -> float:
        """Mean cross-entropy in evaluation mode (no dropout, nothing cached)."""
        return softmax_cross_entropy(self.forward(x), np.asarray(y, dtype=np.intp))[0]

    def predict_logits(self, x: Any, batch_size: int = 1000) -> np.ndarray:
        """Evaluation-mode logits of every row of x, ``batch_size`` rows at a time."""
        x = self._as_input(x)
        if len(x) == 0:
            return np.zeros((0, self.n_classes), dtype=self.dtype)
        return np.concatenate([self.forward(x[start : start + batch_size]) for start in range(0, len(x), batch_size)])

    def predict(self, x: Any, batch_size: int = 1000) -> np.ndarray:
        """Predicted class of every row of x."""
        return self.predict_logits(x, batch_size).argmax(axis=1)

    # -----------------------------------------------------------------------------------------
    # Parameters
    # -----------------------------------------------------------------------------------------

    def scalars(self) -> dict[str, float]:
        """The same dict as torch ``MLP.scalars()``: k0, k1 (mean over the pairs) and, with one
        pair per layer, k0_l<i>, k1_l<i>; ``{}`` for ReLU."""
        if self.activation != "learnable":
            return {}
        pairs = [(float(self.params[f"acts.{j}.k0"]), float(self.params[f"acts.{j}.k1"])) for j in range(self.n_pairs)]
        values = {"k0": sum(p[0] for p in pairs) / len(pairs), "k1": sum(p[1] for p in pairs) / len(pairs)}
        if len(pairs) > 1:
            for i, (k0, k1) in enumerate(pairs, start=1):
                values[f"k0_l{i}"] = k0
                values[f"k1_l{i}"] = k1
        return values

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of the parameters, keyed and ordered like the torch model's state_dict."""
        return {key: value.copy() for key, value in self.params.items()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Copy values into the parameters, in place (optimizers holding ``params`` stay valid).

        Values may be NumPy arrays or anything ``np.asarray`` accepts; torch tensors are taken
        through ``.detach().cpu().numpy()``. Keys and shapes must match exactly; values are cast
        to the model's dtype.
        """
        missing = [k for k in self.params if k not in state]
        unexpected = [k for k in state if k not in self.params]
        if missing or unexpected:
            raise KeyError(f"state_dict mismatch: missing {missing}, unexpected {unexpected}")
        arrays = {}
        for key, value in state.items():
            if hasattr(value, "detach"):  # a torch tensor, possibly requiring grad (no torch import here)
                value = value.detach().cpu().numpy()
            array = np.asarray(value)
            if array.shape != self.params[key].shape:
                raise ValueError(f"{key}: expected shape {self.params[key].shape}, got {array.shape}")
            arrays[key] = array
        for key, array in arrays.items():
            self.params[key][...] = array

    def astype(self, dtype: Any) -> "NumpyMLP":
        """A copy of the model whose parameters (and hence all computation) use ``dtype``."""
        other = copy.copy(self)
        other.dtype = np.dtype(dtype)
        other.params = {key: value.astype(other.dtype) for key, value in self.params.items()}
        other.rng = copy.deepcopy(self.rng)
        other._cache = None
        return other

    def parameters(self) -> Iterable[np.ndarray]:
        return self.params.values()
