"""Measuring classifiers: batched predictions, accuracy, confusion matrices, confident mistakes."""

from __future__ import annotations

import numpy as np


def predict_logits(model, x, *, batch_size: int = 1024) -> np.ndarray:
    """Logits ``(N, num_classes)`` of ``model`` on float32 images ``x`` ``(N, H, W, C)``,
    computed in inference mode (dropout off, BatchNorm using its moving averages)."""
    x = np.asarray(x, dtype=np.float32)
    out = [np.asarray(model(x[i : i + batch_size], training=False)) for i in range(0, len(x), batch_size)]
    if not out:
        return np.zeros((0, model.output_shape[-1]), dtype=np.float32)
    return np.concatenate(out)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of ``(N, K)`` logits, computed stably (max subtracted)."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


def accuracy(model, x, y, *, batch_size: int = 1024) -> float:
    """Fraction of ``x`` whose arg-max logit equals the integer label in ``y``."""
    y = np.asarray(y)
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} images but y has {len(y)} labels; pass matching arrays.")
    return float(np.mean(predict_logits(model, x, batch_size=batch_size).argmax(axis=1) == y))


def confusion_matrix(y_true, y_pred, num_classes: int = 10) -> np.ndarray:
    """``(K, K)`` int64 counts: row = true class, column = predicted class."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true {y_true.shape} and y_pred {y_pred.shape} must have the same shape.")
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (y_true, y_pred), 1)
    return matrix


def most_confident_mistakes(probs, y_true, k: int = 10) -> np.ndarray:
    """Indices of the ``k`` misclassified examples with the highest predicted probability,
    most confident first.

    Args:
        probs: ``(N, K)`` class probabilities; y_true: ``(N,)`` integer labels.
    """
    probs, y_true = np.asarray(probs), np.asarray(y_true)
    pred = probs.argmax(axis=1)
    wrong = np.flatnonzero(pred != y_true)
    confidence = probs[wrong, pred[wrong]]
    return wrong[np.argsort(-confidence, kind="stable")[:k]]
