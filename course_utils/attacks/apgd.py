"""Auto-PGD (APGD): Algorithm 1 of Croce & Hein, "Reliable evaluation of adversarial robustness with
an ensemble of diverse parameter-free attacks" (ICML 2020).

PGD with a fixed step size either stalls (steps too large to settle into a maximum) or crawls
(steps too small to get there). APGD needs no step size:

* it starts with the step η = 2ε and adds **momentum** (α = 0.75) to every step:
  ``z = P(x_k + η ∇f(x_k))``, ``x_{k+1} = P(x_k + α (z − x_k) + (1 − α)(x_k − x_{k−1}))``, where
  ``P`` projects onto the ε-ball and the pixel range and ``∇`` is the sign (L∞) or the unit vector
  (L2) of the gradient;
* at **checkpoints** ``w_j`` (after 22 %, 41 %, 57 %, 70 %, 80 %, 87 %, 93 % and 99 % of the
  iterations) it **halves the step size** of every image whose loss rose in at most 75 % of the
  steps since the last checkpoint, or whose best loss did not improve while its step size stayed
  the same; such an image **restarts from its best point** so far.

Each image has its own step size, best point and checkpoint decisions. An image leaves the batch
as soon as it is misclassified, or when it sits at its best point with a gradient of exactly zero
and did not move (a deterministic model then returns the same point forever, restarts included:
masked gradients cost nothing). A zero gradient anywhere else only waits for the next checkpoint,
which restarts the image from its best point.

With ``target="ranked"`` the attack is APGD-T: for each of the ``num_targets`` classes the model
finds most likely after the true one, a run maximises the targeted DLR loss towards that class, on
the images still not broken. An image counts as broken when it is misclassified, whatever the
target was (AutoAttack's rule).
Conventions: see :mod:`course_utils.attacks`.
"""

from __future__ import annotations

import weakref

import numpy as np
import tensorflow as tf

from course_utils.attacks.core import (
    _compiled,
    _direction,
    _install_tracing_filter,
    _model_cache,
    _prepare,
    _project,
    _project_l2_float64,
    check_seed,
    forward,
    spawn_generators,
)
from course_utils.attacks.losses import cross_entropy, dlr_loss, targeted_dlr_loss

MOMENTUM = 0.75  # α of Algorithm 1
RHO = 0.75  # condition 1: halve the step if the loss rose in at most this share of the steps
LOSSES = ("ce", "dlr")
AT_BEST = 1e-6  # an image this close to its best point (largest pixel difference) is at it


def checkpoints(num_steps: int) -> list[int]:
    """Iteration counts after which APGD checks its progress, for ``num_steps`` iterations.

    ``w_j = ⌈p_j N⌉`` with ``p_0 = 0``, ``p_1 = 0.22`` and ``p_{j+1} = p_j + max(p_j − p_{j−1} − 0.03,
    0.06)``, in the integer form of the reference implementation: the first interval is
    ``⌊0.22 N⌋`` iterations, each next one ``⌊0.03 N⌋`` shorter, but never shorter than ``⌊0.06 N⌋``
    (all at least 1). For N = 100: ``[22, 41, 57, 70, 80, 87, 93, 99]``.
    """
    first, shrink, shortest = (max(int(share * num_steps), 1) for share in (0.22, 0.03, 0.06))
    out, at, length = [], 0, first
    while at + length <= num_steps:
        at += length
        out.append(at)
        length = max(length - shrink, shortest)
    return out


def _loss_name(loss):
    if callable(loss):
        return loss
    key = str(loss).strip().lower()
    if key in LOSSES:
        return key
    raise ValueError(
        f"Unknown loss {loss!r}. Use loss='ce' (cross-entropy), loss='dlr' (the scale-invariant "
        "difference-of-logits ratio) or a Keras-style function loss(y_true, logits) that returns one "
        "value per image."
    )


def _objective(loss, targeted):
    """``f(y, t, logits) -> (N,)``: the quantity APGD maximises."""
    if loss == "dlr":
        if targeted:
            return lambda y, t, logits: targeted_dlr_loss(y, t, logits)
        return lambda y, t, logits: dlr_loss(y, logits)
    fn = cross_entropy if loss == "ce" else loss
    if targeted:  # approach the target: maximise minus its loss
        return lambda y, t, logits: -fn(t, logits)
    return lambda y, t, logits: fn(y, logits)


def _apgd_kernels(model, norm, loss, targeted, clip_min, clip_max, x_shape):
    """``(start, step)`` compiled for this model and setting (cached on the model).

    ``start(x_adv, y, t) -> (loss, grad, pred)``; ``step(...)`` takes one momentum step from
    ``x_adv`` and returns the new point with its loss, gradient and prediction, whether it is frozen
    (see below), and the updated best point, best loss, its gradient, and the count of loss rises.
    """
    key = ("apgd", norm, loss, targeted, float(clip_min), float(clip_max), tuple(x_shape[1:]))
    cache = _model_cache(model)
    if key in cache:
        return cache[key]
    _install_tracing_filter()
    objective = _objective(loss, targeted)
    model_ref = weakref.ref(model)  # the compiled graph must not keep the model alive
    rank = len(x_shape)
    image = tf.TensorSpec((None, *x_shape[1:]), tf.float32)
    vector = tf.TensorSpec((None,), tf.float32)
    labels = tf.TensorSpec((None,), tf.int64)
    scalar = tf.TensorSpec((), tf.float32)

    def loss_and_grad(x_adv, y, t):
        with tf.GradientTape() as tape:
            tape.watch(x_adv)
            logits = forward(model_ref(), x_adv)
            value = objective(y, t, logits)
            if value.shape.rank != 1:
                raise ValueError(
                    f"APGD needs one loss value per image (it adapts each image's step size), but the "
                    f"loss returned shape {value.shape}. Pass a per-example loss, e.g. "
                    "keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=None)."
                )
            total = tf.reduce_sum(value)
        grad = tape.gradient(total, x_adv, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        return value, grad, tf.argmax(logits, axis=-1)

    @tf.function(input_signature=[image, labels, labels], autograph=False)
    def start(x_adv, y, t):
        return loss_and_grad(x_adv, y, t)

    @tf.function(
        input_signature=[image, image, image, image, vector, labels, labels, scalar, scalar]
        + [image, vector, image, vector, vector],
        autograph=False,
    )
    def step(x_adv, x_prev, grad, x, eta, y, t, alpha, eps, x_best, loss_best, grad_best, loss_now, rises):
        size = tf.reshape(eta, [-1] + [1] * (rank - 1))
        z = _project(x_adv + size * _direction(grad, norm), x, eps, norm, clip_min, clip_max)
        x_new = _project(
            x_adv + alpha * (z - x_adv) + (1.0 - alpha) * (x_adv - x_prev), x, eps, norm, clip_min, clip_max
        )
        loss_new, grad_new, pred = loss_and_grad(x_new, y, t)
        better = loss_new > loss_best
        mask = tf.reshape(better, [-1] + [1] * (rank - 1))
        x_best = tf.where(mask, x_new, x_best)
        grad_best = tf.where(mask, grad_new, grad_best)
        loss_best = tf.where(better, loss_new, loss_best)
        rises = rises + tf.cast(loss_new > loss_now, tf.float32)
        # Frozen: a zero gradient, no move, and at its best point (to float rounding), where the
        # gradient is zero too. Every later step returns the same point (the step and the momentum
        # are both zero) and a restart from the best point changes nothing, so the image can stop
        # here without changing the result. Away from its best point it waits for the next
        # checkpoint, which restarts it there (as the reference implementation does).
        axes = list(range(1, rank))
        frozen = (
            tf.reduce_all(tf.equal(grad_new, 0.0), axis=axes)
            & tf.reduce_all(tf.equal(grad_best, 0.0), axis=axes)
            & tf.reduce_all(tf.equal(x_new, x_adv), axis=axes)
            & (tf.reduce_max(tf.abs(x_new - x_best), axis=axes) <= AT_BEST)
        )
        return x_new, loss_new, grad_new, pred, frozen, x_best, loss_best, grad_best, rises

    cache[key] = (start, step)
    return start, step


def _random_start(x, eps, norm, rng, clip_min, clip_max):
    """The reference implementation's start: L∞, uniform noise rescaled so that its largest pixel is
    ±ε; L2, a Gaussian direction of length ε. Clipped to the pixel range."""
    axes = tuple(range(1, x.ndim))
    if norm == "inf":
        t = rng.uniform(-1.0, 1.0, size=x.shape)
        t /= np.abs(t).max(axis=axes, keepdims=True) + 1e-12
    else:
        t = rng.standard_normal(size=x.shape)
        t /= np.sqrt((t**2).sum(axis=axes, keepdims=True)) + 1e-12
    return np.clip(x + eps * t, clip_min, clip_max).astype(np.float32)


def _single_run(kernels, x, y, t, x0, eps, num_steps):
    """One APGD run on the images ``x`` from ``x0``. Returns ``(x_out, loss_out, broken)``: for each
    image its first misclassified iterate when one was found (``broken``), else its best point."""
    start, step = kernels
    n = len(x)
    x_out, loss_out, broken = np.array(x0), np.full(n, -np.inf, np.float32), np.zeros(n, bool)
    checks = set(checkpoints(num_steps))
    eps_t = tf.constant(eps, tf.float32)
    s = {"x": tf.constant(x), "y": tf.constant(y), "t": tf.constant(t), "x_adv": tf.constant(x0)}
    s["loss"], s["grad"], pred = start(s["x_adv"], s["y"], s["t"])
    s["x_prev"], s["x_best"], s["grad_best"], s["loss_best"] = s["x_adv"], s["x_adv"], s["grad"], s["loss"]
    s["eta"] = tf.fill([n], tf.constant(2.0 * eps, tf.float32))
    s["rises"] = tf.zeros([n])
    s["best_at_check"], s["halved_at_check"] = s["loss"], tf.ones([n], tf.bool)
    active = np.arange(n)
    last_check = 0

    def drop(pred, point, frozen=None):
        """Take out the images that are broken (keep ``point``) or frozen (keep their best point)."""
        nonlocal active, s
        hit = pred.numpy() != y[active]
        still = np.zeros_like(hit) if frozen is None else frozen.numpy() & ~hit
        if not (hit.any() or still.any()):
            return False
        x_out[active[hit]], broken[active[hit]] = point.numpy()[hit], True
        x_out[active[still]], loss_out[active[still]] = (
            s["x_best"].numpy()[still],
            s["loss_best"].numpy()[still],
        )
        keep = tf.constant(np.flatnonzero(~(hit | still)))
        active = active[~(hit | still)]
        s = {k: tf.gather(v, keep) for k, v in s.items()}
        return len(active) == 0

    if drop(pred, s["x_adv"]):
        return x_out, loss_out, broken
    for i in range(num_steps):
        alpha = tf.constant(1.0 if i == 0 else MOMENTUM, tf.float32)
        x_new, loss_new, grad_new, pred, frozen, *best = step(
            s["x_adv"], s["x_prev"], s["grad"], s["x"], s["eta"], s["y"], s["t"], alpha, eps_t,
            s["x_best"], s["loss_best"], s["grad_best"], s["loss"], s["rises"],
        )  # fmt: skip
        s["x_prev"], s["x_adv"], s["loss"], s["grad"] = s["x_adv"], x_new, loss_new, grad_new
        s["x_best"], s["loss_best"], s["grad_best"], s["rises"] = best
        if drop(pred, x_new, frozen):
            return x_out, loss_out, broken
        if i + 1 in checks:
            interval, last_check = i + 1 - last_check, i + 1
            stalled = s["rises"] <= RHO * interval  # condition 1
            stuck = tf.logical_not(s["halved_at_check"]) & (s["best_at_check"] >= s["loss_best"])  # cond. 2
            halve = stalled | stuck
            mask = tf.reshape(halve, [-1] + [1] * (x.ndim - 1))
            s["eta"] = tf.where(halve, s["eta"] / 2.0, s["eta"])
            s["x_adv"] = tf.where(mask, s["x_best"], s["x_adv"])  # restart from the best point
            s["grad"] = tf.where(mask, s["grad_best"], s["grad"])
            s["loss"] = tf.where(halve, s["loss_best"], s["loss"])
            s["halved_at_check"], s["best_at_check"] = halve, s["loss_best"]
            s["rises"] = tf.zeros_like(s["rises"])
    x_out[active], loss_out[active] = s["x_best"].numpy(), s["loss_best"].numpy()
    return x_out, loss_out, broken


def apgd(
    model,
    x,
    y=None,
    *,
    eps,
    norm="inf",
    loss="ce",
    num_steps=100,
    restarts=1,
    target=None,
    num_targets=9,
    clip_min=0.0,
    clip_max=1.0,
    seed=None,
    batch_size=512,
):
    """Auto-PGD (Croce & Hein, 2020): PGD with momentum and a step size that adapts per image.

    Args:
        model: Keras model (or any TensorFlow callable) mapping images to logits ``(N, K)``.
        x: float images ``(N, H, W, C)`` in ``[clip_min, clip_max]``.
        y: the true integer labels ``(N,)``; ``None`` attacks the model's own predictions.
        eps: radius of the ball in ``norm``, in the pixel scale.
        norm: ``"inf"`` or ``2``.
        loss: ``"ce"`` (cross-entropy), ``"dlr"`` (difference-of-logits ratio, invariant to rescaling
            the logits; needs ≥ 3 classes, ≥ 4 when targeted) or a Keras-style per-example loss
            ``loss(y_true, logits) -> (N,)``. AutoAttack runs ``"ce"`` untargeted and ``"dlr"``
            targeted.
        num_steps: iterations per run (100 in AutoAttack); each costs one forward and backward pass.
        restarts: runs from new random starts, on the images not yet broken (>= 1).
        target: ``None`` (untargeted), or ``"ranked"``: APGD-T, one run per target class, the
            ``num_targets`` classes the model ranks highest after the true one, in that order (see the
            module docstring); success still means "misclassified". (To reach a class you choose,
            use :func:`~course_utils.attacks.pgd` with ``target=``.)
        num_targets: how many target classes, the most likely first (at most K − 1).
        clip_min, clip_max: valid pixel range.
        seed: an integer or a ``numpy.random.Generator`` for reproducible random starts (run ``r``
            uses the same starts whatever ``restarts`` is), ``None`` for fresh ones.
        batch_size: images attacked together.

    Returns:
        Adversarial images, NumPy float32 shaped like ``x``: for each image the first misclassified
        iterate found, else the highest-loss point; an image the model misclassifies already is
        returned unchanged. ``‖x_adv − x‖ ≤ eps`` in ``norm`` and every pixel in the range.

    Raises:
        ValueError: for the arguments :func:`~course_utils.attacks.pgd` refuses, an unknown loss, a
            loss that returns one value for the whole batch, ``num_steps``, ``restarts`` or
            ``num_targets`` below 1, or too few classes for the DLR loss.
    """
    for name, value in (("num_steps", num_steps), ("restarts", restarts), ("num_targets", num_targets)):
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}.")
    loss, seed = _loss_name(loss), check_seed(seed)
    if target is not None and not (isinstance(target, str) and target.strip().lower() == "ranked"):
        raise ValueError(
            f"apgd takes target=None (untargeted) or target='ranked' (APGD-T: the classes the model ranks "
            f"highest after the true one, in turn), got {target!r}. To reach classes you choose, use "
            "attacks.pgd(..., target=classes)."
        )
    targeted = target is not None
    x_np, y_np, norm = _prepare(model, x, y, eps, norm, clip_min, clip_max, batch_size)
    if len(x_np) == 0 or eps == 0:
        return x_np.copy()
    num_steps, restarts, num_targets = int(num_steps), int(restarts), int(num_targets)
    logits_fn = _compiled(model, "logits", "inf", False, None, 0.0, 1.0, x_np.shape)
    kernels = _apgd_kernels(model, norm, loss, targeted, clip_min, clip_max, x_np.shape)
    out = x_np.copy()
    rng_runs = None
    for begin in range(0, len(x_np), batch_size):
        xb = x_np[begin : begin + batch_size]
        logits = np.asarray(logits_fn(tf.constant(xb)))
        pred = logits.argmax(axis=1)
        yb = pred if y_np is None else y_np[begin : begin + len(xb)]
        # Targets: the most likely classes after the top one, most likely first (AutoAttack's choice).
        order = np.argsort(-logits, axis=1, kind="stable")
        k = min(num_targets, logits.shape[1] - 1) if targeted else 1
        runs = [(j, r) for j in range(1, k + 1) for r in range(restarts)]
        if rng_runs is None:
            rng_runs = spawn_generators(seed, len(runs))
        done = pred != yb  # already misclassified: returned unchanged
        best_loss = np.full(len(xb), -np.inf, np.float32)
        result = xb.copy()
        for (j, _), rng in zip(runs, rng_runs, strict=True):
            x0 = _random_start(xb, eps, norm, rng, clip_min, clip_max)  # drawn for the whole batch
            todo = np.flatnonzero(~done)
            if len(todo) == 0:
                continue
            targets = order[todo, j] if targeted else yb[todo]
            x_run, loss_run, broken = _single_run(
                kernels,
                xb[todo],
                yb[todo].astype(np.int64),
                targets.astype(np.int64),
                x0[todo],
                eps,
                num_steps,
            )
            better = broken | (loss_run > best_loss[todo])
            result[todo[better]], best_loss[todo[better]] = x_run[better], loss_run[better]
            done[todo[broken]] = True
        out[begin : begin + len(xb)] = result
    return _project_l2_float64(out, x_np, eps) if norm == 2 else out
