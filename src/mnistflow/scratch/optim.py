"""SGD and Adam with the semantics of ``torch.optim.SGD`` and ``torch.optim.Adam``.

Both hold the model's ``params`` dict and update its arrays in place on ``step(grads)``; ``lr``
is a plain attribute the caller may change between steps (a schedule). Weight decay is the L2
kind of torch (added to the gradient), not AdamW's decoupled decay. State arrays have the
dtype of their parameter, and every update is done with ``out=`` ufuncs, so 0-d parameters
(k0, k1) are updated in place like the others and nothing is upcast to float64.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np


class SGD:
    """torch.optim.SGD (dampening 0, no Nesterov):

    g   = grad + weight_decay * p
    buf = g                          on the first step
    buf = momentum * buf + g         afterwards          (only when momentum != 0)
    p  -= lr * buf                   (lr * g without momentum)
    """

    def __init__(self, params: dict[str, np.ndarray], lr: float, momentum: float = 0.0, weight_decay: float = 0.0):
        if lr < 0 or momentum < 0 or weight_decay < 0:
            raise ValueError(f"lr, momentum and weight_decay must be >= 0, got {lr}, {momentum}, {weight_decay}")
        self.params = params
        self.lr = float(lr)
        self.momentum = float(momentum)
        self.weight_decay = float(weight_decay)
        self.state: dict[str, dict[str, np.ndarray]] = {}

    def step(self, grads: Mapping[str, np.ndarray]) -> None:
        """One update of every parameter that has a gradient in ``grads``."""
        lr, momentum, wd = float(self.lr), self.momentum, self.weight_decay
        for key, param in self.params.items():
            grad = grads.get(key)
            if grad is None:
                continue
            state = self.state.get(key)
            if state is None:
                state = self.state[key] = {"g": np.empty_like(param)}
            g = state["g"]
            if wd:
                np.multiply(param, wd, out=g)  # g = grad + wd * p
                np.add(g, grad, out=g)
            else:
                np.copyto(g, grad)
            if momentum:
                buf = state.get("momentum_buffer")
                if buf is None:
                    state["momentum_buffer"] = buf = g.copy()  # buf = g on the first step
                else:
                    np.multiply(buf, momentum, out=buf)  # buf = momentum * buf + g
                    np.add(buf, g, out=buf)
                g = buf
            np.multiply(g, lr, out=state["g"])  # p -= lr * buf
            np.subtract(param, state["g"], out=param)


class Adam:
    """torch.optim.Adam (amsgrad off), with L2 weight decay added to the gradient:

        g     = grad + weight_decay * p
        m     = m + (1 - beta1) * (g - m)                  (torch's lerp: beta1 m + (1 - beta1) g)
        v     = beta2 * v + (1 - beta2) * g^2
        p    -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

    i.e. p -= lr * m_hat / (sqrt(v_hat) + eps), with eps added after the bias correction of v,
    exactly as torch's single-tensor implementation computes it.
    """

    def __init__(
        self,
        params: dict[str, np.ndarray],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ):
        if lr < 0 or eps < 0 or weight_decay < 0:
            raise ValueError(f"lr, eps and weight_decay must be >= 0, got {lr}, {eps}, {weight_decay}")
        if not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"betas must be in [0, 1), got {betas}")
        self.params = params
        self.lr = float(lr)
        self.betas = (float(betas[0]), float(betas[1]))
        self.eps = float(eps)
        self.weight_decay = float(weight_decay)
        self.state: dict[str, dict] = {}

    def step(self, grads: Mapping[str, np.ndarray]) -> None:
        """One update of every parameter that has a gradient in ``grads``."""
        beta1, beta2 = self.betas
        lr, eps, wd = float(self.lr), self.eps, self.weight_decay
        for key, param in self.params.items():
            grad = grads.get(key)
            if grad is None:
                continue
            state = self.state.get(key)
            if state is None:
                state = self.state[key] = {
                    "step": 0,
                    "exp_avg": np.zeros_like(param),
                    "exp_avg_sq": np.zeros_like(param),
                    "g": np.empty_like(param),
                    "tmp": np.empty_like(param),
                }
            state["step"] += 1
            t = state["step"]
            m, v, g, tmp = state["exp_avg"], state["exp_avg_sq"], state["g"], state["tmp"]
            if wd:
                np.multiply(param, wd, out=g)  # g = grad + wd * p
                np.add(g, grad, out=g)
            else:
                np.copyto(g, grad)
            np.subtract(g, m, out=tmp)  # m = m + (1 - beta1) (g - m)
            np.multiply(tmp, 1.0 - beta1, out=tmp)
            np.add(m, tmp, out=m)
            np.multiply(v, beta2, out=v)  # v = beta2 v + (1 - beta2) g^2
            np.multiply(g, g, out=tmp)
            np.multiply(tmp, 1.0 - beta2, out=tmp)
            np.add(v, tmp, out=v)
            step_size = lr / (1.0 - beta1**t)
            bias_correction2_sqrt = math.sqrt(1.0 - beta2**t)
            np.sqrt(v, out=tmp)  # denom = sqrt(v) / sqrt(1 - beta2^t) + eps
            np.divide(tmp, bias_correction2_sqrt, out=tmp)
            np.add(tmp, eps, out=tmp)
            np.divide(m, tmp, out=tmp)  # p -= step_size * m / denom
            np.multiply(tmp, step_size, out=tmp)
            np.subtract(param, tmp, out=param)
