"""A from-scratch NumPy engine for the MLP of :mod:`mnistflow.models.mlp` (NumPy only, no torch).

``NumpyMLP`` holds parameters named and shaped like the torch model's state_dict, with a forward
and an explicit, vectorised backward pass; ``SGD`` and ``Adam`` update them with torch's
semantics. ``softmax_cross_entropy`` is the stable loss and its gradient.
"""

from mnistflow.scratch.engine import NumpyMLP
from mnistflow.scratch.layers import log_softmax, softmax_cross_entropy
from mnistflow.scratch.optim import SGD, Adam

__all__ = ["NumpyMLP", "SGD", "Adam", "softmax_cross_entropy", "log_softmax"]
