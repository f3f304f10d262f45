"""Checks for the black-box exercises of notebook 10: a transfer attack with momentum (MI-FGSM) and a
score-based attack of your own."""

from __future__ import annotations

import numpy as np

from course_utils.checks._core import _array, _call, _never_raises, _Problem, _say


# ----------------------------------------------------------------------- MI-FGSM (10)
def _tiny_tanh_model():
    """A fixed 10-class network with one tanh layer on 6×6×1 images: its gradient direction changes
    from step to step, so momentum, normalisation and step size all change an attack's result."""
    import keras

    rng = np.random.default_rng(10)
    model = keras.Sequential(
        [
            keras.Input((6, 6, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(12, "tanh"),
            keras.layers.Dense(10),
        ]
    )
    model.layers[-2].set_weights(
        [rng.normal(0, 1.0, (36, 12)).astype("float32"), rng.normal(0, 0.1, 12).astype("float32")]
    )
    model.layers[-1].set_weights([rng.normal(0, 1.0, (12, 10)).astype("float32"), np.zeros(10, "float32")])
    return model


def _mi_fgsm_variant(
    model, x, y, eps, steps, decay, *, norm="l1", step=None, project=True, clip=True, axes=(1, 2, 3)
):
    """MI-FGSM (Dong et al., 2018) and its classic mistakes, for the check: ``g = decay * g + grad /
    ||grad||_1`` per image, ``x = clip(project(x + (eps / steps) * sign(g)))``, from ``x`` itself."""
    from course_utils import attacks

    x = np.asarray(x, np.float32)
    adv, g = x.copy(), np.zeros_like(x)
    alpha = eps / steps if step is None else step
    for _ in range(steps):
        grad = attacks.input_gradients(model, adv, y).astype(np.float64)
        if norm == "l1":
            grad = grad / np.maximum(np.abs(grad).sum(axis=axes, keepdims=True), 1e-12)
        elif norm == "l2":
            grad = grad / np.maximum(np.sqrt((grad**2).sum(axis=axes, keepdims=True)), 1e-12)
        g = decay * g + grad
        adv = adv + alpha * np.sign(g)
        if project:
            adv = np.clip(adv, x - eps, x + eps)
        if clip:
            adv = np.clip(adv, 0.0, 1.0)
        adv = adv.astype(np.float32)
    return adv


@_never_raises
def check_mi_fgsm(fn) -> bool:
    """Check ``fn(model, x, y, eps, steps, decay)``: the momentum iterative FGSM of Dong et al. (2018),
    ``g ← decay·g + ∇/‖∇‖₁`` (the L1 norm per image), ``x ← clip_[0,1](project_ε(x + (ε/steps)·sign(g)))``,
    starting from ``x`` with ``g = 0``."""
    model = _tiny_tanh_model()
    rng = np.random.default_rng(3)
    x = rng.uniform(0.0, 1.0, (6, 6, 6, 1)).astype("float32")  # pixels near 0 and 1 too: clipping matters
    y = np.array([0, 1, 2, 3, 4, 5])
    eps, steps, decay = 0.3, 6, 1.0
    out = _array(_call(fn, model, x, y, eps, steps, decay))
    if out.shape != x.shape:
        raise _Problem(f"Your result has shape {out.shape}; it should have the images' shape {x.shape}.")
    right = _mi_fgsm_variant(model, x, y, eps, steps, decay)
    if np.allclose(out, right, atol=1e-5):
        other = _array(_call(fn, model, x, y, eps, steps, 0.5))
        if np.allclose(other, _mi_fgsm_variant(model, x, y, eps, steps, 0.5), atol=1e-5):
            return _say(True, ["Your attack matches MI-FGSM step for step, with decay 1.0 and 0.5."])
        raise _Problem("Right with decay = 1.0, but not with 0.5: multiply the old momentum by `decay`.")
    if np.abs(out - x).max() > eps + 1e-5:
        raise _Problem(
            f"Some pixels moved by {np.abs(out - x).max():.3f}, more than eps = {eps}: after each step, clip "
            "x_adv to [x - eps, x + eps] (the projection), then to [0, 1]."
        )
    if out.min() < -1e-6 or out.max() > 1 + 1e-6:
        raise _Problem("Pixels leave [0, 1]: clip the result to the pixel range after each step.")
    mistakes = {
        "no momentum": dict(decay=0.0),
        "L2 normalisation": dict(norm="l2"),
        "no normalisation": dict(norm=None),
        "one norm for the whole batch": dict(axes=None),
        "step of eps": dict(step=eps),
    }
    advice = {
        "no momentum": "The result is plain iterative FGSM: add the momentum, "
        "g = decay * g + grad / ||grad||_1.",
        "L2 normalisation": "You normalised the gradient by its L2 norm; MI-FGSM divides by the L1 norm, "
        "sum(|grad|), per image.",
        "no normalisation": "Divide each image's gradient by its L1 norm before adding it to the momentum: "
        "otherwise the first, largest gradients dominate g for good.",
        "one norm for the whole batch": "Take the L1 norm per image (axis=(1, 2, 3), keepdims=True), "
        "not over "
        "the whole batch.",
        "step of eps": "Each of the `steps` steps is eps / steps long; a step of eps jumps to the corners "
        "at once.",
    }
    for name, kwargs in mistakes.items():
        args = {"decay": decay, **kwargs}
        if np.allclose(out, _mi_fgsm_variant(model, x, y, eps, steps, args.pop("decay"), **args), atol=1e-5):
            raise _Problem(advice[name])
    if np.allclose(out, x):
        raise _Problem("Your result is the clean images: did the loop update x_adv (and return it)?")
    raise _Problem(
        "Your images differ from MI-FGSM's. Per step: the gradient of the cross-entropy (from logits) at the "
        "current x_adv; g = decay * g + grad / sum(|grad|) per image; x_adv += (eps / steps) * sign(g); "
        "project to the eps-ball around x, then clip to [0, 1]."
    )


# ----------------------------------------------------------------------- a score-based attack (10)
@_never_raises
def check_random_search(fn) -> bool:
    """Check ``fn(scores, x, y, eps, queries, seed)``: a score-based L∞ attack that only calls
    ``scores(images) -> logits`` (each image scored counts as one query of the image it came from),
    never spends more than ``queries`` queries on any image, returns images within ``eps`` of ``x``
    and in [0, 1],
    and fools most of the images that can be fooled at all (judged on a linear model, where that set
    is known exactly), far more than random corners of the ball do."""
    rng = np.random.default_rng(12)
    n, d, k = 40, 16, 10
    w = rng.normal(0, 1.0, (d, k))
    chosen = []  # images at least 0.25 apart in L∞, so each candidate (within 0.1) names its image
    while len(chosen) < n:
        candidate = rng.uniform(0.3, 0.7, d)  # no pixel can reach 0 or 1 at eps = 0.1
        if all(np.abs(candidate - other).max() >= 0.25 for other in chosen):
            chosen.append(candidate)
    x = np.array(chosen).reshape(n, 4, 4, 1).astype("float32")
    flat = x.reshape(n, d).astype(np.float64)
    y = (flat @ w).argmax(1)  # the linear model is right on every image
    eps, queries = 0.1, 300
    spent = np.zeros(n, int)  # queries per image, each scored image credited to its nearest original

    def scores(images):
        images = np.asarray(images, dtype=np.float64)
        if images.ndim != 4 or images.shape[1:] != (4, 4, 1):
            raise ValueError(f"scores() takes a batch of images of shape (m, 4, 4, 1), got {images.shape}")
        flat_images = images.reshape(len(images), d)
        nearest = np.abs(flat_images[:, None, :] - flat[None]).max(axis=2).argmin(axis=1)
        np.add.at(spent, nearest, 1)
        return flat_images @ w

    # Exactly which images an L∞ attack can fool: some class j whose margin eps * ||w_y - w_j||_1 closes.
    logits = flat @ w
    margins = logits[np.arange(n), y][:, None] - logits
    reach = eps * np.abs(w.T[y][:, None, :] - w.T[None, :, :]).sum(axis=2)
    foolable = ((margins < reach) & (np.arange(k)[None] != y[:, None])).any(axis=1)

    out = _array(_call(fn, scores, x, y, eps, queries, 0))
    if out.shape != x.shape:
        raise _Problem(f"Your result has shape {out.shape}; it should have the images' shape {x.shape}.")
    if spent.sum() == 0:
        raise _Problem("Your attack never called scores(): a score-based attack must query the model.")
    if np.abs(out - x).max() > eps + 1e-6:
        raise _Problem(
            f"Some pixels moved by {np.abs(out - x).max():.3f}, more than eps = {eps}: keep every candidate "
            "inside the ball, x + eps * (a sign per pixel), and clip to [0, 1]."
        )
    if out.min() < -1e-6 or out.max() > 1 + 1e-6:
        raise _Problem("Pixels leave [0, 1]: clip every candidate to the pixel range.")
    if spent.max() > queries:
        raise _Problem(
            f"Your attack scored one image {spent.max():,} times, more than the budget of {queries} "
            "queries per image. Count every image you score, and stop when its budget is spent."
        )
    fooled = (out.reshape(n, d).astype(np.float64) @ w).argmax(1) != y
    corners = np.clip(x + eps * rng.choice([-1.0, 1.0], size=x.shape), 0, 1).reshape(n, d) @ w
    noise_fooled = corners.argmax(1) != y
    share = fooled[foolable].mean()
    if share >= 0.9:
        return _say(
            True,
            [
                f"Within the ball and the budget (at most {spent.max()} queries per image), your attack "
                f"fooled {fooled.sum()} of the {foolable.sum()} images that can be fooled at all (a random "
                f"corner fools {noise_fooled.sum()})."
            ],
        )
    if share <= noise_fooled[foolable].mean() + 0.1:
        raise _Problem(
            f"Your attack fooled {fooled.sum()} of {foolable.sum()} foolable images, about what one random "
            "corner "
            f"of the ball does ({noise_fooled.sum()}). Keep a candidate only if it lowers the margin "
            "(true logit minus the best other logit), and keep searching from the best image so far."
        )
    raise _Problem(
        f"Your attack fooled {fooled.sum()} of the {foolable.sum()} images that can be fooled ({share:.0%}; "
        "a greedy search reaches 90 % with this budget). Change a few pixels per query (one sign each), "
        "keep the change when the margin drops, and use the whole budget."
    )
