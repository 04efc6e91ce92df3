"""The building blocks of the NumPy MLP, each with its forward and backward pass written out.

Notation (one mini-batch of N rows; every array is batch-major, one sample per row):
    A_prev (N, in)   input of a linear layer      W (out, in), b (out,)   torch.nn.Linear layout
    Z      (N, out)  Z = A_prev · W^T + b         pre-activation
    G      (N, out)  G = g(Z)                     activation output
    A      (N, out)  A = G ⊙ M                    after inverted dropout (M = keep / (1 - p))
    dX     dL/dX for any X, with the same shape as X

All functions are vectorised over the batch; none loops over samples. They keep the dtype of
their inputs: Python ``float`` scalars never upcast a float32 array (NEP 50), and nothing here
creates a float64 array from float32 inputs.
"""

from __future__ import annotations

import numpy as np

# ---------------------------------------------------------------------------------------------
# Linear layer
# ---------------------------------------------------------------------------------------------


def linear_forward(a_prev: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Z = A_prev · W^T + b."""
    z = a_prev @ weight.T
    z += bias
    return z


def linear_backward(
    dz: np.ndarray, a_prev: np.ndarray, weight: np.ndarray, need_input_grad: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Gradients of a linear layer from dZ (N, out); returns (dW, db, dA_prev).

    dL/dW      = dZ^T · A_prev        (out, in): sum over the batch of outer products dz_n a_n^T
    dL/db      = sum_n dZ[n, :]       (out,)
    dL/dA_prev = dZ · W               (N, in)   (skipped for the first layer: the input needs none)

    The 1/N of the mean loss is already inside dZ (see :func:`softmax_cross_entropy`).
    """
    dw = dz.T @ a_prev
    db = dz.sum(axis=0)
    da_prev = dz @ weight if need_input_grad else None
    return dw, db, da_prev


# ---------------------------------------------------------------------------------------------
# Activations
# ---------------------------------------------------------------------------------------------


def affine_forward(z: np.ndarray, k0: np.ndarray, k1: np.ndarray) -> np.ndarray:
    """G = g(Z) = k0 + k1 * Z, element-wise, k0 and k1 scalars (0-d arrays)."""
    g = z * k1
    g += k0
    return g


def affine_backward(dg: np.ndarray, z: np.ndarray, k1: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Gradients of g(Z) = k0 + k1*Z from dG; returns (dZ, dk0, dk1).

    dL/dZ  = dG * k1                      (dg/dz = k1, element-wise)
    dL/dk0 = sum_{n,j} dG[n, j]            (dg/dk0 = 1 for every element)
    dL/dk1 = sum_{n,j} dG[n, j] * Z[n, j]  (dg/dk1 = z)

    dG is overwritten by dZ (it is a temporary of the backward pass).
    """
    dk0 = dg.sum()
    dk1 = np.vdot(dg, z)  # one BLAS dot over the flattened arrays: sum of dG * Z
    dg *= k1
    return dg, dk0, dk1


def relu_forward(z: np.ndarray) -> np.ndarray:
    """G = max(Z, 0), computed in place in Z (the caller keeps G, which is enough for backward)."""
    return np.maximum(z, 0, out=z)


def relu_backward(dg: np.ndarray, g: np.ndarray) -> np.ndarray:
    """dL/dZ = dG * [Z > 0]; [Z > 0] = [G > 0], so the ReLU output G is all backward needs.

    Like torch, the derivative at exactly 0 is taken as 0. dG is overwritten by dZ.
    """
    return np.multiply(dg, g > 0, out=dg)


# ---------------------------------------------------------------------------------------------
# Inverted dropout
# ---------------------------------------------------------------------------------------------


def dropout_mask(rng: np.random.Generator, shape: tuple[int, ...], p: float, dtype) -> np.ndarray:
    """M = keep / (1 - p) with keep ~ Bernoulli(1 - p): zeros where dropped, 1/(1-p) elsewhere.

    Scaling the kept units by 1/(1-p) keeps E[G ⊙ M] = G, so evaluation needs no rescaling
    (torch.nn.Dropout does the same).
    """
    if p >= 1.0:
        return np.zeros(shape, dtype=dtype)
    keep = rng.random(shape, dtype=np.float32) >= p
    mask = keep.astype(dtype)
    mask *= 1.0 / (1.0 - p)
    return mask


def dropout_forward(g: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """A = G ⊙ M."""
    return g * mask


def dropout_backward(da: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """dL/dG = dA ⊙ M (the same mask as the forward pass). dA is overwritten."""
    return np.multiply(da, mask, out=da)


# ---------------------------------------------------------------------------------------------
# Loss
# ---------------------------------------------------------------------------------------------


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """log softmax(Z)[n, c] = Z[n, c] - logsumexp_c' Z[n, c'], computed stably.

    logsumexp(Z) = m + log sum_c exp(Z - m) with m = max_c Z: every exponent is <= 0, so nothing
    overflows, and the largest term is exp(0) = 1, so the sum never underflows to 0.
    """
    shifted = logits - logits.max(axis=1, keepdims=True)
    shifted -= np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return shifted


def softmax_cross_entropy(logits: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean softmax cross-entropy of logits Z (N, C) against integer labels y (N,), and dL/dZ.

    L     = -(1/N) sum_n log softmax(Z)[n, y_n]          (torch.nn.functional.cross_entropy)
    dL/dZ = (softmax(Z) - onehot(y)) / N
    """
    n = logits.shape[0]
    rows = np.arange(n)
    logp = log_softmax(logits)
    loss = -float(logp[rows, y].mean())
    dlogits = np.exp(logp, out=logp)  # softmax, reusing the buffer
    dlogits[rows, y] -= 1.0
    dlogits *= 1.0 / n
    return loss, dlogits


# ---------------------------------------------------------------------------------------------
# Initialisation
# ---------------------------------------------------------------------------------------------


def normal_weight(rng: np.random.Generator, fan_out: int, fan_in: int, std: float, dtype) -> np.ndarray:
    """A (fan_out, fan_in) weight drawn from N(0, std^2) (drawn in float64, then cast)."""
    return (rng.standard_normal((fan_out, fan_in)) * std).astype(dtype)
