"""Class labels, checked in one place: every attack, evaluation and training function that takes
labels turns them into integer class ids with :func:`class_ids`, and so refuses the same mistakes
with the same advice (one-hot rows, fractions, one label too many, a class the model does not have).
"""

from __future__ import annotations

import numpy as np


def class_ids(y, *, n: int, num_classes: int | None = None, name: str = "y") -> np.ndarray:
    """``y`` as int64 class ids ``(n,)``; a ``(n, 1)`` column is accepted and flattened.

    Args:
        y: labels, integer class ids ``(n,)`` (floats holding whole numbers are accepted).
        n: how many images the labels belong to.
        num_classes: the model's number of outputs ``K``: every id must lie in ``0..K-1``
            (``None``: not checked).
        name: what the error messages call the labels (``"y"``, ``"y_train"``, ``"target"``).

    Raises:
        ValueError: for one-hot or other 2-D labels, a length other than ``n``, non-integer values, or
            ids outside ``0..K-1``, each saying what to pass instead.
    """
    y_np = np.asarray(y)
    if y_np.ndim == 2 and y_np.shape[1] == 1:
        y_np = y_np.reshape(-1)
    if y_np.ndim == 2 and y_np.shape[1] > 1:
        raise ValueError(
            f"{name} has shape {y_np.shape}, which looks one-hot. Pass integer class ids: "
            f"{name}.argmax(axis=1)."
        )
    if y_np.ndim != 1:
        raise ValueError(f"{name} must be integer class ids of shape (N,), got shape {y_np.shape}.")
    if len(y_np) != n:
        raise ValueError(f"There are {n} images but {name} has {len(y_np)} labels; pass one label per image.")
    if len(y_np) and not np.issubdtype(y_np.dtype, np.integer):
        if not np.issubdtype(y_np.dtype, np.number) or not np.all(np.equal(np.mod(y_np, 1), 0)):
            raise ValueError(f"{name} must hold integer class ids, got {y_np.dtype} values: {y_np[:3]}.")
    y_np = y_np.astype(np.int64)
    if num_classes is not None and len(y_np) and (y_np.min() < 0 or y_np.max() >= num_classes):
        raise ValueError(
            f"{name} must lie in 0..{num_classes - 1} for a model with {num_classes} outputs; "
            f"got values in {y_np.min()}..{y_np.max()}."
        )
    return y_np
