"""Checks for the evaluation exercises of notebook 09: the straight-through rounding of BPDA and a
check that random noise does not beat the attack (a sign of masked gradients)."""

from __future__ import annotations

import numpy as np

from course_utils.checks._core import (
    _array,
    _call,
    _linear_model,
    _never_raises,
    _Problem,
    _say,
)


# ------------------------------------------------------------- BPDA and a masking check (09)
@_never_raises
def check_straight_through(fn) -> bool:
    """Check ``fn(x, levels)``: round the pixels of the tensor ``x`` to ``levels`` grey levels
    ``0, 1/(levels-1), ..., 1`` in the forward pass, with the identity as its gradient (BPDA)."""
    import tensorflow as tf

    rng = np.random.default_rng(7)
    x = tf.constant(rng.uniform(0, 1, (3, 6, 6, 1)).astype("float32"))
    weights = tf.constant(rng.normal(size=(3, 6, 6, 1)).astype("float32"))
    for levels in (4, 8):
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = _call(fn, x, levels)
            total = tf.reduce_sum(tf.cast(out, tf.float32) * weights) if tf.is_tensor(out) else None
        values = _array(out)
        if values.shape != tuple(x.shape):
            raise _Problem(
                f"Your result has shape {values.shape}; it should keep x's shape {tuple(x.shape)}."
            )
        scale = levels - 1
        expected = np.round(x.numpy() * scale) / scale
        if not np.allclose(values, expected, atol=1e-6):
            if np.allclose(values, x.numpy(), atol=1e-6):
                raise _Problem("The forward pass does not round: the values must be the rounded pixels.")
            if np.allclose(values, np.round(x.numpy() * levels) / levels, atol=1e-6):
                raise _Problem(
                    f"{levels} grey levels are 0, 1/{scale}, ..., 1 (steps of 1/(levels - 1)): round "
                    "x * (levels - 1), then divide by (levels - 1)."
                )
            raise _Problem(
                f"The forward pass should give round(x * {scale}) / {scale}, like defenses.Quantize."
            )
        if total is None:
            raise _Problem(
                "Your function returns a NumPy array: TensorFlow cannot differentiate through NumPy. "
                "Use TensorFlow operations (tf.round, tf.stop_gradient)."
            )
        grad = tape.gradient(total, x)
        if grad is None:
            raise _Problem(
                "No gradient reaches x: tf.round has no gradient in TensorFlow (its true derivative is 0 "
                "almost everywhere), and a tf.stop_gradient around the whole expression blocks it too. Hide "
                "only the rounding from the gradient: x + tf.stop_gradient(rounded - x)."
            )
        grad = grad.numpy()
        if np.allclose(grad, 0.0):
            raise _Problem(
                "The gradient is zero: the backward pass sees tf.round's derivative, which is 0 almost "
                "everywhere. Hide the rounding from the gradient: x + tf.stop_gradient(rounded - x)."
            )
        if not np.allclose(grad, weights.numpy(), atol=1e-5):
            raise _Problem("The gradient should be the identity: d output / d x = 1 for every pixel.")
    return _say(True, ["Forward: the rounding of defenses.Quantize. Backward: the identity. That is BPDA."])


@_never_raises
def check_noise_check(fn) -> bool:
    """Check ``fn(model, x, y, eps, attack_accuracy, tolerance)``: ``True`` exactly when random noise
    on the surface of the L∞ ball (every pixel moved by ±eps, clipped to [0, 1]) leaves fewer
    images correctly classified than ``attack_accuracy``, by more than ``tolerance``."""
    from course_utils import attacks, evaluation

    model = _linear_model()
    x = np.random.default_rng(3).uniform(0, 1, (1000, 28, 28, 1)).astype("float32")
    y = evaluation.predict_logits(model, x).argmax(axis=1)
    eps = 0.3
    noise = evaluation.accuracy(model, attacks.random_perturbation(x, eps=eps, surface=True, seed=0), y)
    inside = evaluation.accuracy(
        model, attacks.random_perturbation(x, eps=eps, seed=0), y
    )  # uniform in the ball
    cases = [  # (attack accuracy, tolerance, expected answer, what the case is)
        (max(noise - 0.2, 0.0), 0.01, False, "an attack far stronger than noise (no warning)"),
        (min(noise + 0.2, 1.0), 0.01, True, "an attack far weaker than noise (a warning)"),
        (min(noise + 0.1, 1.0), 0.3, False, "an attack weaker than noise, but by less than the tolerance"),
        (
            (noise + inside) / 2,
            0.01,
            True,
            "an attack that surface noise beats but noise inside the ball does not",
        ),
    ]
    lines, ok = [], True
    for attack_accuracy, tolerance, expected, what in cases:
        answer = _call(fn, model, x, y, eps, attack_accuracy, tolerance)
        if not isinstance(answer, bool | np.bool_):
            raise _Problem(
                f"Return True or False (the warning is raised or not); yours is a {type(answer).__name__}."
            )
        if bool(answer) != expected:
            ok = False
            lines.append(
                f"For {what} (attack {attack_accuracy:.1%}, noise about {noise:.1%}) expected {expected}."
            )
    if ok:
        return _say(True, [f"Noise at eps={eps} leaves about {noise:.1%}; all four cases answered right."])
    wrong = {what for what in ("far stronger", "far weaker", "less than the tolerance", "surface noise") if
             any(what in line for line in lines)}  # fmt: skip
    if {"far stronger", "far weaker"} <= wrong:
        lines.append("Compare the other way round: warn when noise_accuracy < attack_accuracy - tolerance.")
    elif "less than the tolerance" in wrong:
        lines.append(
            "Ignore differences smaller than the tolerance: noise_accuracy < attack_accuracy - tolerance."
        )
    elif wrong == {"surface noise"}:
        lines.append(
            "Your noise is weaker than it should be: put it on the surface of the ball "
            "(attacks.random_perturbation(..., surface=True): every pixel moved by +eps or -eps)."
        )
    return _say(False, lines)
