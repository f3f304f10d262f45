"""Checks for the attack exercises: the budget that flips a linear score and FGSM in L2 (06), the L2
projection and the worst case over restarts (07). Notebook 09's checks are in ``checks.evaluation``."""

from __future__ import annotations

import math
import re

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
def _project_l2(x_adv, x, eps, mistake=None):
    """The L2 projection of each image's perturbation, or one classic slip of it (``mistake``)."""
    delta = x_adv - x
    wrong_axes = {"axes (1, 2)": (1, 2), "axis -1": (-1,), "whole batch": None}
    axes = wrong_axes.get(mistake, tuple(range(1, x.ndim)))
    if mistake == "clip first":
        delta = np.clip(delta, -eps, eps)
    if mistake == "L-inf clip":
        return x + np.clip(delta, -eps, eps)
    length = np.sqrt(np.sum(delta**2, axis=axes, keepdims=True))
    radius = 1.0 if mistake == "eps ignored" else eps
    scale = radius / np.maximum(length, 1e-12)
    shrunk = delta * (scale if mistake == "always scale" else np.minimum(1.0, scale))
    if mistake == "no x":
        return shrunk
    return np.clip(x + shrunk, 0, 1) if mistake == "pixel range" else x + shrunk


_PROJECTION_ADVICE = {
    "whole batch": "Take one norm per image, not one for the whole batch: sum over axes (1, 2, 3) with "
    "keepdims=True. With one norm for the batch, images already inside the ball moved too (they must not "
    "move), and the others did not land on the sphere of radius eps.",
    "axis -1": "You took the norm over the last axis only (axis=-1, as in the two-dimensional example of "
    "section 2). For images that is each pixel's own channels, so every pixel was shrunk on its own: take "
    "one norm per image, over axes (1, 2, 3), keepdims=True.",
    "axes (1, 2)": "You took the norm over axes (1, 2) only: with several channels (this case has 3) that is "
    "one norm per channel. Take one norm per image, over axes (1, 2, 3) (all axes but the batch axis).",
    "L-inf clip": "You clipped each pixel to ±eps: that is the L∞ projection. The L2 projection keeps the "
    "direction of x_adv - x and shrinks its length, so that points outside land on the sphere of radius "
    "eps: multiply by min(1, eps / length), one length per image.",
    "clip first": "You clipped the pixels to ±eps before the L2 projection. That changes the direction "
    "whenever a pixel moved by more than eps: use the L2 formula alone.",
    "pixel range": "Your result is clipped to the pixel range [0, 1]. This function is the projection onto "
    "the L2 ball only: leave the clip to [0, 1] to the caller (section 3's loop clips after projecting).",
    "no x": "You returned the shrunk perturbation: return x plus it.",
    "eps ignored": "Points outside land at length 1, not at eps: use eps in the scale factor, "
    "min(1, eps / length).",
    "always scale": "Points already inside the ball must not move: scale by min(1, eps / length), which is 1 "
    "inside the ball, never by eps / length alone (it enlarges short perturbations).",
}


def _projection_cases():
    """Three batches (x, x_adv, eps, what): colour images, grey ones, one pixel moved more than eps."""
    rng = np.random.default_rng(2)

    def along(shape, scales):
        x = rng.uniform(0, 1, shape)
        direction = rng.normal(size=shape)
        axes = tuple(range(1, len(shape)))
        direction /= np.sqrt((direction**2).sum(axis=axes, keepdims=True))
        return x, x + np.asarray(scales).reshape((-1,) + (1,) * (len(shape) - 1)) * direction

    eps = 0.7  # not 1: a formula without eps, or with eps squared, gives a different answer
    colour = (*along((4, 6, 5, 3), [0.01, 0.3, 2.0, 5.0]), eps, "colour images (4, 6, 5, 3)")
    grey = (*along((5, 28, 28, 1), [0.0, 0.01, 1.0, 3.0, 10.0]), eps, "grey images (5, 28, 28, 1)")
    x = rng.uniform(0, 1, (3, 28, 28, 1))
    x_adv = x.copy()
    x_adv[0, 5, 5, 0] += 2.0  # one pixel moved by more than eps, nothing else
    x_adv[1] += 0.05 * rng.normal(size=(28, 28, 1))
    x_adv[1, 3, 4, 0] += 2.1  # one pixel far, the others a little
    x_adv[2] += 0.3 * rng.normal(size=(28, 28, 1)) / 28  # inside the ball
    one_pixel = (x, x_adv, eps, "one pixel moved more than eps (3, 28, 28, 1)")
    return [colour, grey, one_pixel]


@_never_raises
def check_l2_projection(fn) -> bool:
    """Check ``fn(x_adv, x, eps)``: project each image of ``x_adv`` onto the L2 ball of radius ``eps``
    around the same image of ``x``, ``x + δ · min(1, eps / ‖δ‖₂)`` with ``δ = x_adv - x`` and one norm
    per image over all its pixels and channels, for batches of any image shape ``(N, H, W, C)``."""
    lines = []
    for x, x_adv, eps, what in _projection_cases():
        try:
            with np.errstate(all="ignore"):
                out = _array(_call(fn, x_adv.copy(), x.copy(), eps))
        except _Problem as problem:
            if re.search(r"\b784\b|28,\s*28", str(problem)):
                raise _Problem(
                    f"Your function assumes 28 × 28 × 1 images (784 pixels); this case has {what}. Take the "
                    "norm over axes (1, 2, 3), or reshape to (len(x), -1), instead of a hard-coded shape."
                ) from None
            raise
        if out.shape != x.shape:
            raise _Problem(f"For {what} your result has shape {out.shape}; it should be {x.shape}, as x_adv.")
        if not np.isfinite(out).all():
            raise _Problem(
                "Your result contains NaN or inf: a perturbation of length 0 divides by zero. Guard the "
                "division: eps / np.maximum(length, 1e-12)."
            )
        right = _project_l2(x_adv, x, eps)
        if np.allclose(out, right, atol=1e-5):
            lines.append(what)
            continue
        for mistake, advice in _PROJECTION_ADVICE.items():
            wrong = _project_l2(x_adv, x, eps, mistake)
            if not np.allclose(wrong, right, atol=1e-5) and np.allclose(out, wrong, atol=1e-5):
                raise _Problem(f"Case {what}: {advice}")
        axes = tuple(range(1, x.ndim))
        before = np.sqrt(((x_adv - x) ** 2).sum(axis=axes))
        lengths = np.sqrt(((out - x) ** 2).sum(axis=axes))
        advice = []
        inside = before <= eps
        if not np.allclose(out[inside], x_adv[inside], atol=1e-5):
            advice.append("Points already inside the ball must not move: scale by min(1, eps / length).")
        if not np.allclose(lengths[~inside], eps, rtol=1e-6):
            advice.append(
                f"Points outside must land exactly on the sphere (length {eps}); yours are at "
                f"{np.round(lengths[~inside], 4).tolist()}."
            )
        cosine = np.sum((out - x) * (x_adv - x), axis=axes) / np.maximum(lengths * before, 1e-12)
        if not np.allclose(cosine[before > 0], 1.0, atol=1e-6):
            advice.append("The projection keeps the direction of x_adv - x: shrink it, do not clip pixels.")
        return _say(False, [f"Case {what}:", *advice] if advice else [f"Case {what}: not the projection."])
    return _say(
        True,
        [
            "Inside points unchanged, outside points on the sphere of radius eps with their direction kept: "
            + "; ".join(lines)
            + "."
        ],
    )


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


# -------------------------------------------------------------- the worst case over restarts (07)
# Each case's logits are chosen directly: the model's logits are the first three pixels of a 2x2 image.
# Labels y = (0, 1, 2, 0, 1); margins max_{j != y} z_j - z_y per (run, image):
#   image 0: -0.20 +0.05 -0.05  (run 2 has the highest cross-entropy, run 1 the largest margin)
#   image 1: -0.70 -0.50 -0.10  (correct in every run: margins only differ below 0)
#   image 2: +0.70 -0.20 +0.20
#   image 3: -0.30 +0.05 +0.50
#   image 4: -1.25 +0.30 +0.05  (run 0 has the lowest true logit, but the others are lower still)
_RESTART_LOGITS = np.array(
    [
        [[0.5, 0.3, 0.1], [0.1, 0.9, 0.2], [0.9, 0.1, 0.2], [0.6, 0.2, 0.3], [-1.0, 0.25, -1.0]],
        [[0.4, 0.45, 0.0], [0.3, 0.8, 0.1], [0.3, 0.2, 0.5], [0.5, 0.55, 0.1], [0.6, 0.3, 0.1]],
        [[0.3, 0.25, 0.25], [0.5, 0.7, 0.6], [0.6, 0.1, 0.4], [0.2, 0.7, 0.1], [0.45, 0.4, 0.3]],
    ]
)
_RESTART_LABELS = np.array([0, 1, 2, 0, 1])


def _logit_model():
    """A model whose logits are the first three pixels of a 2x2x1 image (the fourth is ignored)."""
    import keras

    model = keras.Sequential(
        [keras.Input((2, 2, 1)), keras.layers.Flatten(), keras.layers.Dense(3, use_bias=False)]
    )
    model.layers[-1].set_weights([np.eye(4, 3, dtype="float32")])
    return model


def _as_images(logits: np.ndarray, rng) -> np.ndarray:
    """``(R, N, 3)`` logits as ``(R, N, 2, 2, 1)`` images (a random fourth pixel: no two alike)."""
    filler = rng.uniform(0, 1, logits.shape[:-1] + (1,))
    return np.concatenate([logits, filler], axis=-1).reshape(logits.shape[:-1] + (2, 2, 1)).astype("float32")


def _restart_scores(logits: np.ndarray, y: np.ndarray):
    """Per (run, image): the margin ``max_{j != y} z_j - z_y`` and the cross-entropy."""
    runs, n, _ = logits.shape
    true = logits[:, np.arange(n), y]
    others = np.where(np.eye(logits.shape[-1], dtype=bool)[y][None], -np.inf, logits)
    margin = others.max(axis=-1) - true
    top = logits.max(axis=-1, keepdims=True)
    cross_entropy = np.log(np.exp(logits - top).sum(axis=-1)) + top[..., 0] - true
    return margin, cross_entropy


def _chosen_runs(out: np.ndarray, x_runs: np.ndarray) -> np.ndarray:
    """For each image, the run whose image ``out`` returned (-1 where it is none of them)."""
    runs = np.full(out.shape[0], -1)
    for i in range(out.shape[0]):
        same = [r for r in range(len(x_runs)) if np.allclose(out[i], x_runs[r, i], atol=1e-6)]
        if same:
            runs[i] = same[0]
    return runs


@_never_raises
def check_worst_of_restarts(fn) -> bool:
    """Check ``fn(model, x_runs, y)``: from ``R`` adversarial batches ``x_runs`` ``(R, N, ...)`` of the
    same ``N`` images, return ``(N, ...)``: for each image, the run's image with the largest margin
    ``max_{j != y} z_j - z_y`` (positive exactly when that run misclassifies it)."""
    model = _logit_model()
    rng = np.random.default_rng(8)
    hints = {
        "ValueError": "call the model on one run at a time, x_runs[r] of shape (N, ...): the model "
        "takes a batch of images, not a stack of batches.",
        "InvalidArgumentError": "call the model on one run at a time, x_runs[r] of shape (N, ...).",
    }
    shape_advice = (
        "Your function assumes 28 × 28 images; the check uses 2 × 2 ones. Do not hard-code the image "
        "shape: call the model on one run at a time, x_runs[r], or reshape with the runs' own shape, "
        "x_runs.reshape(-1, *x_runs.shape[2:])."
    )
    cases = [(_RESTART_LOGITS, _RESTART_LABELS)]
    random_logits = rng.normal(0, 1, (4, 12, 3))
    cases.append((random_logits, rng.integers(0, 3, 12)))  # four runs of twelve images
    for case, (logits, y) in enumerate(cases):
        x_runs = _as_images(logits, rng)
        margin, cross_entropy = _restart_scores(logits, y)
        right = margin.argmax(axis=0)
        try:
            out = _array(_call(fn, model, x_runs.copy(), y.copy(), hints=hints))
        except _Problem as problem:
            if re.search(r"\b784\b|28,\s*28", str(problem)):
                raise _Problem(shape_advice) from None
            raise
        runs, n = logits.shape[:2]
        if out.shape == (n,) and np.allclose(out, np.round(out)):
            raise _Problem(
                "You returned one number per image (the run indices?). Return the images themselves: "
                "x_runs[best, np.arange(N)], shape (N, ...)."
            )
        if out.shape == x_runs.shape:
            raise _Problem(
                f"Your result has the shape of all {runs} runs {x_runs.shape}; keep one image per image: "
                f"shape {x_runs.shape[1:]}."
            )
        if out.shape != x_runs.shape[1:]:
            raise _Problem(f"Your result has shape {out.shape}; it should be {x_runs.shape[1:]}: (N, ...).")
        chosen = _chosen_runs(out, x_runs)
        if np.array_equal(chosen, right):
            continue
        if (chosen < 0).any():
            i = int(np.flatnonzero(chosen < 0)[0])
            raise _Problem(
                f"Image {i} of your result is none of the {runs} runs' images for it: return x_runs[r, i] "
                "unchanged (no averaging, clipping or mixing of runs)."
            )
        if len(set(chosen.tolist())) == 1 and len(set(right.tolist())) > 1:
            raise _Problem(
                f"You returned run {chosen[0]} for every image. Choose per image: the run that breaks one "
                "image need not be the run that breaks another (np.argmax over the runs' axis, then "
                "x_runs[best, np.arange(N)])."
            )
        if np.array_equal(chosen, margin.argmin(axis=0)):
            raise _Problem(
                "You kept the run with the *smallest* margin, the weakest attack: take the largest "
                "(np.argmax), and check the margin's sign: max_{j != y} z_j - z_y, positive when "
                "misclassified."
            )
        with_true = np.maximum(margin, 0.0).argmax(axis=0)  # the max taken over every class, y included
        if np.array_equal(chosen, with_true):
            raise _Problem(
                "Leave the true class out of the max: max over all classes minus z_y is 0 for every run "
                "that classifies the image correctly, so those runs cannot be told apart (image "
                f"{int(np.flatnonzero(chosen != right)[0])} is correct in every run)."
            )
        lowest_true = logits[:, np.arange(n), y].argmin(axis=0)  # the run with the smallest z_y
        by_loss = cross_entropy.argmax(axis=0)
        if np.array_equal(chosen, lowest_true) and not np.array_equal(lowest_true, by_loss):
            raise _Problem(
                "You chose the run with the lowest true logit z_y. What decides the class is z_y against the "
                "other logits: a run can lower z_y and the others even more (image 4, run 0). Choose by the "
                "margin max_{j != y} z_j - z_y."
            )
        if np.array_equal(chosen, by_loss):
            raise _Problem(
                "You chose by the cross-entropy. A higher cross-entropy does not always mean misclassified "
                "(image 0: the run with the highest loss is classified correctly, another run is not); "
                "choose by the margin max_{j != y} z_j - z_y."
            )
        i = int(np.flatnonzero(chosen != right)[0])
        raise _Problem(
            f"For image {i} (label {int(y[i])}) you returned run {int(chosen[i])}'s image, margin "
            f"{margin[chosen[i], i]:+.2f}; run {int(right[i])} has the largest margin, "
            f"{margin[right[i], i]:+.2f}. The margin is max over j != y of z_j, minus z_y."
            + ("" if case == 0 else " (This was the second case: four runs of twelve random images.)")
        )
    return _say(
        True,
        [
            "Per image, the run with the largest margin: a misclassifying run whenever there is one, "
            "on both cases (3 runs of 5 images, 4 runs of 12)."
        ],
    )
