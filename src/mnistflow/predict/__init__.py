"""``mnistflow predict``: read digits from the user's own pictures, one module per job.

- ``pictures``: a picture file read and prepared as MNIST was made (:func:`to_mnist`);
- ``classifiers``: the digit model that answers (a checkpoint or an MLflow model; by default the
  best on validation);
- ``square``: whether the digit is a perfect square (the ``square`` model, or the digit's label);
- ``output``: one :class:`Prediction` per picture, as text or JSON.

The names callers use are re-exported here (``predict.to_mnist``, ``predict.select_classifier``).
"""

from mnistflow.errors import PredictError
from mnistflow.predict.classifiers import (
    Classifier,
    best_model,
    checkpoint_classifier,
    digit_models,
    example_model,
    mlflow_classifier,
    scorer,
    select_classifier,
    square_model,
    validation_accuracies,
)
from mnistflow.predict.output import TOP, Prediction, predict, predict_images, to_json, to_text
from mnistflow.predict.pictures import (
    BOX,
    CENTRE,
    INK,
    MAX_SIDE,
    MIN_CONTRAST,
    SIZE,
    border,
    digit_box,
    ink,
    load_grey,
    mnist_like,
    stroke_width,
    to_mnist,
)
from mnistflow.predict.square import PERFECT_SQUARES, SquareJudge, square_judge

__all__ = [
    "BOX",
    "CENTRE",
    "INK",
    "MAX_SIDE",
    "MIN_CONTRAST",
    "PERFECT_SQUARES",
    "SIZE",
    "TOP",
    "Classifier",
    "PredictError",
    "Prediction",
    "SquareJudge",
    "best_model",
    "border",
    "checkpoint_classifier",
    "digit_box",
    "digit_models",
    "example_model",
    "ink",
    "load_grey",
    "mlflow_classifier",
    "mnist_like",
    "predict",
    "predict_images",
    "scorer",
    "select_classifier",
    "square_judge",
    "square_model",
    "stroke_width",
    "to_json",
    "to_mnist",
    "to_text",
    "validation_accuracies",
]
