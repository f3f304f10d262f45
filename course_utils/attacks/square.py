"""The Square attack under L∞: Andriushchenko, Croce, Flammarion & Hein, "Square Attack: a
query-efficient black-box adversarial attack via random search" (ECCV 2020).

A random search that needs only the model's outputs (its *scores*), never a gradient, so that
hiding or breaking the gradient cannot stop it:

1. start from vertical stripes: every column of pixels moved by +ε or −ε, at random;
2. repeat: pick a random square window, set the perturbation inside it to ±ε (one random sign per
   colour channel), and keep the change if the margin ``z_y − max_{j≠y} z_j`` went down;
3. stop an image as soon as it is misclassified, or when its query budget is spent.

The windows shrink as the budget is spent: the share ``p`` of the image a window covers starts at
``p_init`` and is halved after 10, 50, 200, 500, 1,000, 2,000, 4,000, 6,000 and 8,000 of 10,000
queries (the schedule is rescaled to the budget). Conventions: see :mod:`course_utils.attacks`.
"""

from __future__ import annotations

import math
import weakref

import numpy as np
import tensorflow as tf

from course_utils.attacks.core import (
    _check_images,
    _check_scalars,
    _install_tracing_filter,
    _model_cache,
    as_generator,
    check_seed,
    forward,
    norm_name,
)
from course_utils.labels import class_ids

# Queries (out of 10,000) after which the window's share of the image halves.
_HALVINGS = (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)


def window_share(iteration: int, queries: int, p_init: float = 0.8, rescale: bool = True) -> float:
    """Share of the image covered by the window at ``iteration`` (0-based) of a ``queries`` budget.

    With ``rescale`` the paper's schedule for 10,000 queries is stretched or squeezed to the budget
    (the Square paper's code, ``rescale_schedule=True``); without, the window halves after the same
    absolute numbers of queries whatever the budget, as AutoAttack runs Square (5,000 queries,
    ``resc_schedule=False``: the halvings after 6,000 and 8,000 are never reached).
    """
    scaled = int(iteration / queries * 10_000) if rescale else iteration
    return p_init / 2 ** sum(scaled > h for h in _HALVINGS)


def _margin(logits, y):
    """``z_y − max_{j≠y} z_j`` per image: negative exactly when the image is misclassified."""
    onehot = tf.one_hot(tf.cast(y, tf.int32), tf.shape(logits)[-1], dtype=logits.dtype)
    true = tf.reduce_sum(onehot * logits, axis=-1)
    other = tf.reduce_max(logits - onehot * tf.constant(1e9, logits.dtype), axis=-1)
    return true - other


def _square_kernel(model, clip_min, clip_max, x_shape):
    """``(score, step)`` compiled for this model and image shape (cached on the model)."""
    key = ("square", float(clip_min), float(clip_max), tuple(x_shape[1:]))
    cache = _model_cache(model)
    if key in cache:
        return cache[key]
    _install_tracing_filter()
    model_ref = weakref.ref(model)
    height, width = int(x_shape[1]), int(x_shape[2])
    image = tf.TensorSpec((None, *x_shape[1:]), tf.float32)
    labels = tf.TensorSpec((None,), tf.int64)
    index = tf.TensorSpec((None,), tf.int32)
    signs = tf.TensorSpec((None, 1, 1, x_shape[3]), tf.float32)
    scalar = tf.TensorSpec((), tf.float32)

    @tf.function(input_signature=[image, labels], autograph=False)
    def score(x_adv, y):
        logits = forward(model_ref(), x_adv)
        return _margin(logits, y), tf.argmax(logits, axis=-1)

    @tf.function(
        input_signature=[image, image, tf.TensorSpec((None,), tf.float32), labels, scalar]
        + [tf.TensorSpec((), tf.int32), index, index, signs],
        autograph=False,
    )
    def step(x, x_best, margin_best, y, eps, side, top, left, sign):
        rows = tf.range(height)[None, :, None, None]
        cols = tf.range(width)[None, None, :, None]
        top, left = top[:, None, None, None], left[:, None, None, None]
        window = (rows >= top) & (rows < top + side) & (cols >= left) & (cols < left + side)
        x_new = tf.where(window, tf.clip_by_value(x + eps * sign, clip_min, clip_max), x_best)
        # A proposal that changes nothing wastes a query: flip its signs (the reference resamples).
        same = tf.reduce_all(tf.abs(x_new - x_best) < 1e-7, axis=[1, 2, 3])[:, None, None, None]
        flipped = tf.where(window, tf.clip_by_value(x - eps * sign, clip_min, clip_max), x_best)
        x_new = tf.where(same, flipped, x_new)
        margin, pred = score(x_new, y)
        accept = (margin < margin_best) | (pred != y)
        x_best = tf.where(accept[:, None, None, None], x_new, x_best)
        return x_best, tf.where(accept, margin, margin_best), accept & (pred != y)

    cache[key] = (score, step)
    return score, step


def square(
    model,
    x,
    y=None,
    *,
    eps,
    norm="inf",
    queries=5000,
    p_init=0.8,
    rescale_schedule=True,
    clip_min=0.0,
    clip_max=1.0,
    seed=None,
    batch_size=512,
):
    """The Square attack (Andriushchenko et al., 2020) under L∞: random search, no gradient.

    Returns the adversarial images; :func:`square_with_queries` runs the same attack and also
    returns how many queries each image used.

    Args:
        model: anything that maps float32 images ``(N, H, W, C)`` to scores ``(N, K)``: logits, or
            even probabilities (only their order matters). It is never differentiated, so it may
            contain non-differentiable steps (rounding, ``tf.numpy_function``).
        x: float images ``(N, H, W, C)`` in ``[clip_min, clip_max]``.
        y: true integer labels ``(N,)``; ``None`` attacks the model's own predictions.
        eps: L∞ radius, in the pixel scale.
        queries: the budget: at most this many model evaluations per image, counting the first look
            at the clean image (AutoAttack uses 5,000). An image stops at its first misclassified
            query.
        norm: only ``"inf"`` (for L2, use :func:`~course_utils.attacks.apgd` with ``norm=2``).
        p_init: share of the image the first windows cover (0.8 as in AutoAttack).
        rescale_schedule: stretch the windows' halving schedule to ``queries`` (True), or halve
            after fixed numbers of queries as AutoAttack does (False; see :func:`window_share`).
        clip_min, clip_max: valid pixel range.
        seed: an integer or a ``numpy.random.Generator`` for reproducible windows and signs, or
            ``None`` for fresh ones.
        batch_size: images attacked together.

    Returns:
        Adversarial images, NumPy float32 shaped like ``x``: the first misclassified point found,
        else the point of smallest margin; an image misclassified already is returned unchanged.

    Raises:
        ValueError: for an L2 norm, a negative or out-of-scale ε, images that are not ``(N, H, W, C)``
            or outside the pixel range, bad labels, ``queries < 1`` or ``p_init`` outside (0, 1].
    """
    x_adv, _ = square_with_queries(
        model, x, y, eps=eps, norm=norm, queries=queries, p_init=p_init, rescale_schedule=rescale_schedule,
        clip_min=clip_min,
        clip_max=clip_max, seed=seed, batch_size=batch_size,
    )  # fmt: skip
    return x_adv


def square_with_queries(
    model,
    x,
    y=None,
    *,
    eps,
    norm="inf",
    queries=5000,
    p_init=0.8,
    rescale_schedule=True,
    clip_min=0.0,
    clip_max=1.0,
    seed=None,
    batch_size=512,
):
    """:func:`square`, returning ``(x_adv, queries_used)``: the adversarial images and the number of
    model evaluations each image used ``(N,)`` int64 (1 for an image misclassified already, at
    most ``queries``). Arguments, errors and images as :func:`square`.
    """
    seed = check_seed(seed)
    if norm_name(norm) != "inf":
        raise ValueError("square() is the L∞ Square attack; for norm=2 use attacks.apgd(..., norm=2).")
    _check_scalars(eps, clip_min, clip_max, "inf")
    if int(queries) != queries or queries < 1:
        raise ValueError(f"queries must be an integer >= 1 (AutoAttack uses 5000), got {queries!r}.")
    if not 0 < p_init <= 1:
        raise ValueError(f"p_init must be in (0, 1] (a share of the image), got {p_init!r}.")
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
    x_np = _check_images(x, clip_min, clip_max)
    if x_np.ndim != 4:
        raise ValueError(f"square() needs images of shape (N, H, W, C), got shape {x_np.shape}.")
    used = np.zeros(len(x_np), np.int64)
    if len(x_np) == 0:
        return x_np.copy(), used
    score, step = _square_kernel(model, clip_min, clip_max, x_np.shape)
    rng = as_generator(seed)
    height, width, channels = x_np.shape[1:]
    eps_t = tf.constant(eps, tf.float32)
    out = x_np.copy()
    y_np = None
    for begin in range(0, len(x_np), batch_size):
        xb = x_np[begin : begin + batch_size]
        end = begin + len(xb)
        logits = np.asarray(forward(model, tf.constant(xb)))  # query 1: the clean image
        if logits.ndim != 2:
            raise ValueError(f"The model must output scores of shape (N, classes), got {logits.shape}.")
        if y_np is None and y is not None:
            y_np = class_ids(y, n=len(x_np), num_classes=logits.shape[1])
        yb = logits.argmax(axis=1) if y is None else y_np[begin:end]
        used[begin:end] = 1
        active = np.flatnonzero(logits.argmax(axis=1) == yb)  # misclassified already: unchanged
        if queries < 2 or len(active) == 0 or eps == 0:
            continue
        stripes = rng.choice(np.array([-1.0, 1.0], np.float32), size=(len(active), 1, width, channels))
        x_best = np.clip(xb[active] + eps * stripes, clip_min, clip_max).astype(np.float32)
        x_t, y_t = tf.constant(xb[active]), tf.constant(yb[active].astype(np.int64))
        best_t = tf.constant(x_best)
        margin_t, pred = score(best_t, y_t)  # query 2: the stripes
        used[begin + active] += 1
        hit = pred.numpy() != yb[active]
        for iteration in range(queries - 2):
            if hit.any():
                done = active[hit]
                out[begin + done] = best_t.numpy()[hit]
                keep = tf.constant(np.flatnonzero(~hit))
                active = active[~hit]
                x_t, y_t, best_t, margin_t = (tf.gather(t, keep) for t in (x_t, y_t, best_t, margin_t))
            if len(active) == 0:
                break
            share = window_share(iteration, queries, p_init, rescale_schedule)
            side = min(max(round(math.sqrt(share * height * width)), 1), height, width)
            top = rng.integers(0, height - side + 1, size=len(active)).astype(np.int32)
            left = rng.integers(0, width - side + 1, size=len(active)).astype(np.int32)
            sign = rng.choice(np.array([-1.0, 1.0], np.float32), size=(len(active), 1, 1, channels))
            best_t, margin_t, hit_t = step(x_t, best_t, margin_t, y_t, eps_t, side, top, left, sign)
            used[begin + active] += 1
            hit = hit_t.numpy()
        if len(active):  # out of queries (an image broken by the last one is in x_best too)
            out[begin + active] = best_t.numpy()
    return out, used
