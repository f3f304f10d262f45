"""Checks for the attack exercises: the budget that flips a linear score and FGSM in L2 (06), the L2
projection (07), BPDA and a masking check (09)."""

from __future__ import annotations

import math

import numpy as np

from course_utils.checks._core import (
    _array,
    _call,
    _linear_model,
    _never_raises,
    _Problem,
    _say,
    _scalar,
)


# ------------------------------------------------------------------------------ FGSM in L2 (06)
@_never_raises
def check_fgsm_l2(fn) -> bool:
    """Check ``fn(model, x, y, eps)``: one FGSM step in the L2 norm, ``clip(x + eps * g / ||g||_2, 0, 1)``
    per image, with ``g`` the gradient of the cross-entropy (from logits, true labels ``y``) with
    respect to ``x``."""
    from course_utils import attacks

    model = _linear_model()
    rng = np.random.default_rng(1)
    x = rng.uniform(0.3, 0.7, (4, 28, 28, 1)).astype("float32")  # away from 0 and 1: no clipping
    y = np.array([0, 3, 5, 9])
    eps = 0.7
    out = _array(_call(fn, model, x, y, eps))
    if out.shape != x.shape:
        raise _Problem(f"Your result has shape {out.shape}; it should have the images' shape {x.shape}.")
    reference = _array(attacks.fgsm(model, x, y, eps=eps, norm=2))
    if np.allclose(out, reference, atol=1e-5):
        edge = rng.uniform(0.0, 1.0, (4, 28, 28, 1)).astype("float32")  # now with pixels near 0 and 1
        try:
            edge_out = _array(_call(fn, model, edge, y, 3.0))
        except _Problem as problem:
            return _say(False, [f"Right on the first case, but with eps = 3: {problem}"])
        if edge_out.min() < -1e-6 or edge_out.max() > 1 + 1e-6:
            raise _Problem("The step is right, but pixels leave [0, 1]: clip the result (tf.clip_by_value).")
        if not np.allclose(edge_out, _array(attacks.fgsm(model, edge, y, eps=3.0, norm=2)), atol=1e-5):
            raise _Problem(
                "Right for images away from 0 and 1, but not near them: take the full step first, then "
                "clip the result to [0, 1] once."
            )
        return _say(
            True, ["Your step matches attacks.fgsm(..., norm=2) to within 1e-5, and stays in [0, 1]."]
        )
    if not np.isfinite(out).all():
        raise _Problem(
            "Your result contains NaN or inf: a division by a zero norm. Is the gradient zero? Compute "
            "the loss from the logits with the true labels, inside the tape."
        )
    delta = (out - x).reshape(len(x), -1)
    lengths = np.linalg.norm(delta, axis=1)
    if np.all(lengths < 1e-7):
        raise _Problem("The images did not move: add eps times the normalised gradient to x.")
    linf = _array(attacks.fgsm(model, x, y, eps=eps))  # what using the sign gives
    if np.allclose(out, linf, atol=1e-5) or np.allclose(
        np.abs(delta), np.abs(delta).max(axis=1, keepdims=True)
    ):
        raise _Problem(
            "Every pixel moved by the same amount: that is the sign of the gradient (L∞ FGSM). "
            "For L2, move along the gradient itself, divided by its L2 length."
        )
    if not np.allclose(lengths, eps, rtol=1e-3):
        if math.isclose(float(np.sqrt((lengths**2).sum())), eps, rel_tol=1e-3):
            advice = (
                "you took one norm over the whole batch. Normalise per image: the norm over axes "
                "(1, 2, 3), keepdims=True."
            )
        elif np.allclose(lengths, 1.0, rtol=1e-3):
            advice = "each image moved by exactly 1: multiply the unit direction by eps."
        else:
            advice = "normalise the gradient of each image to length 1, then multiply by eps."
        raise _Problem(
            f"Each image should move by exactly eps = {eps} in L2 length; yours moved by "
            f"{np.round(lengths, 3).tolist()}: {advice}"
        )
    ref_delta = (reference - x).reshape(len(x), -1)
    cosine = np.sum(delta * ref_delta, axis=1) / (lengths * np.linalg.norm(ref_delta, axis=1))
    if np.all(cosine < -0.99):
        raise _Problem("You moved in the opposite direction: FGSM *adds* the gradient, to increase the loss.")
    raise _Problem(
        "The length is right but the direction is not. Take the gradient of the cross-entropy "
        "of the *logits* (from_logits=True) with respect to the input, with the true labels."
    )


# --------------------------------------------------------------------------- L2 projection (07)
@_never_raises
def check_l2_projection(fn) -> bool:
    """Check ``fn(x_adv, x, eps)``: project each image of ``x_adv`` onto the L2 ball of radius
    ``eps`` around the same image of ``x`` (norm over all pixels of each image)."""
    rng = np.random.default_rng(2)
    x = rng.uniform(0, 1, (5, 28, 28, 1))
    scales = np.array([0.001, 0.01, 1.0, 3.0, 10.0])[:, None, None, None]  # 2 inside, 3 outside eps
    direction = rng.normal(size=x.shape)
    direction /= np.sqrt((direction**2).sum(axis=(1, 2, 3), keepdims=True))
    x_adv = x + scales * direction
    eps = 0.7
    out = _array(_call(fn, x_adv.copy(), x.copy(), eps))
    if out.shape != x.shape:
        raise _Problem(f"Your result has shape {out.shape}; it should be {x.shape}, like x_adv.")
    if not np.isfinite(out).all():
        raise _Problem(
            "Your result contains NaN or inf: guard the division by the length (np.maximum(length, 1e-12))."
        )
    lengths = np.sqrt(((out - x) ** 2).sum(axis=(1, 2, 3)))
    expected = np.minimum(scales.ravel(), eps)
    lines = []
    if not np.allclose(out[:2], x_adv[:2], atol=1e-9):
        lines.append(
            "Points already inside the ball must not move (images 0 and 1 are inside: "
            "scale by min(1, eps / length), never enlarge)."
        )
    if not np.allclose(lengths[2:], eps, rtol=1e-6):
        batch = np.sqrt(((x_adv - x) ** 2).sum())
        if np.allclose(lengths, scales.ravel() * min(1.0, eps / batch), rtol=1e-6):
            lines.append("You took one norm over the whole batch. Take it per image: over axes (1, 2, 3).")
        elif np.allclose(lengths[2:], 1.0, rtol=1e-6):
            lines.append(f"Points outside land at length 1, not at eps = {eps}: use eps in the scale factor.")
        else:
            lines.append(
                f"Points outside must land exactly on the sphere (length {eps}); yours are at "
                f"{np.round(lengths[2:], 4).tolist()}."
            )
    cosine = np.sum((out - x) * (x_adv - x), axis=(1, 2, 3)) / np.maximum(
        lengths * np.sqrt(((x_adv - x) ** 2).sum(axis=(1, 2, 3))), 1e-12
    )
    if not np.allclose(cosine, 1.0, atol=1e-6):
        lines.append("The projection must keep the direction of x_adv - x (shrink it, do not clip pixels).")
    if lines:
        return _say(False, lines)
    summary = f"Inside points unchanged, outside points on the sphere (lengths {expected.tolist()})"
    return _say(True, [summary + ", directions kept."])


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


# ------------------------------------------------------------------ the budget that flips a linear score (06)
@_never_raises
def check_flip_eps(fn) -> bool:
    """Check ``fn(w, b, x)``: the smallest L∞ budget ε at which some perturbation with
    ``max|δ_i| <= ε`` changes the sign of the linear score ``w·x + b`` (the pixel range ignored):
    ``|w·x + b| / ||w||_1``."""
    cases = [  # (w, b, x): a positive score, a negative score, and a wider random one
        (np.array([0.5, -1.0, 2.0, -0.5]), -0.3, np.array([0.2, 0.4, 0.6, 0.8])),
        (np.array([1.0, 2.0]), -2.0, np.array([0.1, 0.2])),
    ]
    rng = np.random.default_rng(6)
    cases.append((rng.normal(size=50), 0.7, rng.uniform(0, 1, 50)))
    for w, b, x in cases:
        score = float(w @ x + b)
        right = abs(score) / np.abs(w).sum()
        value = _scalar(_call(fn, w, b, x), "your budget")
        if math.isclose(value, right, rel_tol=1e-6):
            continue
        wrong = {
            "the L2 norm of w": abs(score) / np.linalg.norm(w),
            "the largest |w_i| (the L∞ norm)": abs(score) / np.abs(w).max(),
            "the sum of w without absolute values": abs(score) / abs(w.sum()),
        }
        for name, candidate in wrong.items():
            if math.isclose(value, candidate, rel_tol=1e-6):
                raise _Problem(
                    f"You divided by {name}. A perturbation of ε on every coordinate, each in the sign "
                    "of w_i, moves the score by ε·Σ|w_i| = ε·||w||_1: divide by that."
                )
        if math.isclose(value, score / np.abs(w).sum(), rel_tol=1e-6):
            raise _Problem(
                f"For the score {score:+.2f} you returned a negative budget: a budget is a size. A "
                "negative score flips as easily as a positive one: use |w·x + b|."
            )
        if math.isclose(value, abs(float(w @ x)) / np.abs(w).sum(), rel_tol=1e-6):
            raise _Problem("You left out the bias b: the score is w·x + b.")
        if math.isclose(value, abs(score) * np.abs(w).sum(), rel_tol=1e-6):
            raise _Problem("You multiplied by ||w||_1; the budget that closes the gap is the score over it.")
        raise _Problem(
            f"For w = {np.round(w[:4], 2).tolist()}{'...' if len(w) > 4 else ''}, b = {b}, the answer is "
            f"{right:.4f}; you returned {value:.4f}. Set the worst-case score |s(x)| - ε·||w||_1 to zero "
            "and solve for ε."
        )
    return _say(True, ["|w·x + b| / ||w||_1 on all three cases: positive and negative scores, 4-50 inputs."])
