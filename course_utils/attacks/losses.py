"""Per-example losses on logits for the attacks: the cross-entropy, the Carlini-Wagner margin and
the difference-of-logits ratios (DLR) of Croce & Hein (2020).

Every function takes integer labels ``(N,)`` and logits ``(N, K)`` and returns one value per
example ``(N,)``, larger when the example is closer to being misclassified (for the targeted DLR:
closer to the target class). They are TensorFlow functions, usable inside compiled code.
"""

from __future__ import annotations

import tensorflow as tf


def cross_entropy(y_true, logits):
    """Per-example sparse categorical cross-entropy ``(N,)`` of integer labels and ``(N, K)`` logits."""
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.cast(y_true, tf.int32), logits=logits)


def margin_loss(y_true, logits):
    """Per-example margin ``max_{j≠y} z_j − z_y`` ``(N,)`` (Carlini & Wagner, 2017).

    Positive exactly when the example is misclassified. Unlike the cross-entropy it does not
    saturate when the model is very confident, so it still gives useful gradients on models whose
    softmax is pushed to 0/1 (a classic way a "defense" hides its gradients).
    """
    y = tf.cast(y_true, tf.int32)
    num_classes = tf.shape(logits)[-1]
    onehot = tf.one_hot(y, num_classes, dtype=logits.dtype)
    true_logit = tf.reduce_sum(onehot * logits, axis=-1)
    other = tf.reduce_max(logits - onehot * tf.constant(1e9, logits.dtype), axis=-1)
    return other - true_logit


def _check_classes(logits, needed: int, name: str):
    classes = logits.shape[-1]
    if classes is not None and classes < needed:
        raise ValueError(
            f"The {name} loss needs at least {needed} classes; this model has {classes}. "
            "Use loss='ce' instead."
        )


def dlr_loss(y_true, logits):
    """Difference-of-logits ratio ``(N,)`` (Croce & Hein, 2020), untargeted:

    ``DLR = −(z_y − max_{j≠y} z_j) / (z_π1 − z_π3 + 1e−12)``, where ``z_π1 ≥ z_π2 ≥ …`` are the
    logits sorted in decreasing order. The numerator is the margin of :func:`margin_loss`; dividing
    by the spread of the top logits makes the loss **invariant to rescaling the logits** (and to
    adding a constant to them), so a model cannot hide its gradient by making its softmax saturate.
    Positive exactly when the example is misclassified; needs at least 3 classes.
    """
    _check_classes(logits, 3, "DLR")
    top = tf.math.top_k(logits, k=3).values
    return margin_loss(y_true, logits) / (top[:, 0] - top[:, 2] + 1e-12)


def targeted_dlr_loss(y_true, y_target, logits):
    """Targeted difference-of-logits ratio ``(N,)`` (Croce & Hein, 2020):

    ``−(z_y − z_t) / (z_π1 − (z_π3 + z_π4) / 2 + 1e−12)`` for the true class ``y`` and the target
    ``t``. Larger when the target's logit gains on the true class's; scale-invariant like
    :func:`dlr_loss`. Needs at least 4 classes.
    """
    _check_classes(logits, 4, "targeted DLR")
    num_classes = tf.shape(logits)[-1]
    z_y = tf.reduce_sum(tf.one_hot(tf.cast(y_true, tf.int32), num_classes, dtype=logits.dtype) * logits, -1)
    z_t = tf.reduce_sum(tf.one_hot(tf.cast(y_target, tf.int32), num_classes, dtype=logits.dtype) * logits, -1)
    top = tf.math.top_k(logits, k=4).values
    return (z_t - z_y) / (top[:, 0] - 0.5 * (top[:, 2] + top[:, 3]) + 1e-12)


LOSS_NAMES = {"ce": cross_entropy, "margin": margin_loss}


def loss_function(loss):
    """The per-example loss ``loss(y_true, logits) -> (N,)`` an attack ascends, from ``loss``: a
    name in :data:`LOSS_NAMES` (``"ce"``: cross-entropy, ``"margin"``: Carlini-Wagner margin) or a
    Keras-style function, returned as it is.

    Raises:
        ValueError: for an unknown name, listing the known ones.
    """
    if callable(loss):
        return loss
    key = str(loss).strip().lower()
    if key in LOSS_NAMES:
        return LOSS_NAMES[key]
    raise ValueError(
        f"Unknown loss {loss!r}. Use loss='ce' (cross-entropy), loss='margin' (Carlini-Wagner margin) "
        "or a Keras-style function loss(y_true, logits) that returns one value per image."
    )
