"""FGSM and PGD under the L∞ and L2 norms, on NumPy arrays (:func:`fgsm`, :func:`pgd`) and on
tensors inside a compiled training step (:func:`pgd_tensor`).

Both attacks share one kernel: start at ``x`` (or at a random point of the ε-ball around it), take
``num_steps`` steps along the normalised gradient of the loss, and after each step project back
onto the ε-ball and the valid pixel range. FGSM is the special case of one step of size ε from
``x`` itself. Conventions: see :mod:`course_utils.attacks`.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from course_utils.attacks.core import (
    _compiled,
    _direction,
    _labels_for,
    _prepare,
    _project,
    _project_l2_float64,
    check_seed,
    forward,
    norm_name,
    random_perturbation,
    spawn_generators,
)
from course_utils.attacks.losses import loss_function


def fgsm(
    model,
    x,
    y=None,
    *,
    eps,
    norm="inf",
    loss="ce",
    target=None,
    clip_min=0.0,
    clip_max=1.0,
    batch_size=512,
):
    """Fast gradient (sign) method: one step of size ``eps`` along the loss gradient.

    With ``norm="inf"`` the result is exactly ``clip(x + eps * sign(∇x loss(y, model(x))))``
    (Goodfellow et al., 2015); with ``norm=2`` the step is ``eps * g / ‖g‖₂`` per image.

    Args:
        model: Keras model (or any TensorFlow callable) mapping images to logits ``(N, K)``.
        x: float images ``(N, H, W, C)`` in ``[clip_min, clip_max]``.
        y: the true integer labels ``(N,)``. ``None`` attacks the model's own predictions instead of the
            true labels. That is the right choice when the labels are unknown, and it avoids
            "label leaking" (Kurakin et al., 2017): a one-step attack built from the true label
            can carry information about that label into the image, which makes models trained on
            such images look more robust than they are. For evaluation, pass the true labels.
        eps: size of the perturbation in ``norm``, in the pixel scale (``0.1`` = 10% of the range).
        norm: ``"inf"`` or ``2``.
        loss: ``"ce"`` (cross-entropy on logits), ``"margin"`` (Carlini-Wagner) or a Keras-style
            ``loss(y_true, logits)``.
        target: ``None`` (untargeted: any wrong class), or the class to reach, one int for every
            image or integer classes ``(N,)``: the step then *decreases* the loss of the target.
        clip_min, clip_max: valid pixel range.
        batch_size: images per gradient computation.

    Returns:
        Adversarial images, NumPy float32 with the shape of ``x``.

    Raises:
        ValueError: for a negative or out-of-scale ε, an unknown norm, pixels outside the clip range,
            labels that do not match the images, or a model that outputs probabilities.
    """
    x_np, y_np, norm = _prepare(model, x, y, eps, norm, clip_min, clip_max, batch_size, target)
    if len(x_np) == 0 or eps == 0:
        return x_np.copy()
    step = _compiled(model, "fgsm", norm, target is not None, loss, clip_min, clip_max, x_np.shape)
    out = np.empty_like(x_np)
    for start in range(0, len(x_np), batch_size):
        xb = x_np[start : start + batch_size]
        yb = _labels_for(model, xb, y_np, start)
        out[start : start + len(xb)] = step(tf.constant(xb), tf.constant(yb), tf.constant(eps, tf.float32))
    return _project_l2_float64(out, x_np, eps) if norm == 2 else out


def _run_steps(step, x, x_start, y, eps_t, step_t, num_steps, targeted, early_stop):
    """``num_steps`` compiled steps from ``x_start``. With ``early_stop``, an image leaves the batch as
    soon as it is adversarial (misclassified, or classified as its target); its adversarial iterate is
    kept, and the remaining images continue in a smaller batch."""
    out = np.array(x_start, dtype=np.float32)
    active = np.arange(len(x))
    x_t, y_t, adv_t = tf.constant(x), tf.constant(y), tf.constant(x_start)
    y_active = y
    for _ in range(num_steps):
        next_t, pred_t = step(adv_t, x_t, y_t, eps_t, step_t)
        if early_stop:
            pred = pred_t.numpy()
            done = (pred == y_active) if targeted else (pred != y_active)
            if done.any():
                out[active[done]] = adv_t.numpy()[done]  # already adversarial before this step
                keep = np.flatnonzero(~done)
                active, y_active = active[keep], y_active[keep]
                if len(active) == 0:
                    return out
                next_t, x_t, y_t = (tf.gather(t, keep) for t in (next_t, x_t, y_t))
        adv_t = next_t
    out[active] = adv_t.numpy()
    return out


def pgd(
    model,
    x,
    y=None,
    *,
    eps,
    step_size,
    num_steps,
    norm="inf",
    rand_init=True,
    restarts=1,
    loss="ce",
    target=None,
    clip_min=0.0,
    clip_max=1.0,
    seed=None,
    batch_size=512,
    early_stop=True,
):
    """Projected gradient descent (Madry et al., 2018): iterated gradient steps, each followed by a
    projection onto the ε-ball around ``x`` and the pixel range.

    Each step moves ``step_size`` along ``sign(∇)`` (L∞) or ``∇/‖∇‖₂`` (L2). With
    ``rand_init=True`` every run starts from a uniformly random point of the ε-ball. With
    ``restarts=R`` the attack runs R times from different random starts and keeps, per image, the
    strongest result: a misclassified image (for a targeted attack: one classified as its target)
    if any run found one, else the run with the highest loss (lowest for targeted). Later runs
    skip the images already broken, so restarts cost little on a non-robust model.

    A common choice is ``step_size = 2.5 * eps / num_steps`` (enough to cross the ball from any
    start); ``num_steps`` between 10 and 100.

    With ``early_stop=True`` (the default) an image stops as soon as it is adversarial and the
    iterate that fooled the model is returned; the remaining images continue in a smaller batch.
    This does not weaken the attack (an image the full run breaks at some step is broken) and is much
    faster on models that are not robust. Pass ``early_stop=False`` when you want the highest-loss
    point rather than the first misclassified one: for adversarial training, and for transfer
    attacks (an example that only just fools one model rarely fools another).

    Args:
        model: Keras model (or any TensorFlow callable) mapping images to logits ``(N, K)``.
        x: float images ``(N, H, W, C)`` in ``[clip_min, clip_max]``.
        y: the true integer labels ``(N,)``; ``None`` attacks the model's own predictions (see
            :func:`fgsm` on label leaking).
        eps: radius of the ball in ``norm``, in the pixel scale.
        step_size: length of one step in ``norm`` (> 0).
        num_steps: number of steps (>= 1).
        norm: ``"inf"`` or ``2``.
        rand_init: start from a random point of the ball (True) or from ``x`` (False).
        restarts: number of runs (>= 1); more than one needs ``rand_init=True``.
        loss: ``"ce"``, ``"margin"`` or a Keras-style ``loss(y_true, logits)`` (see :func:`fgsm`).
        target: ``None`` (untargeted), or the class to reach: one int for every image or integer
            classes ``(N,)``; success then means "classified as the target".
        clip_min, clip_max: valid pixel range.
        seed: an integer or a ``numpy.random.Generator``: the same seed gives the same result (the
            random starts are drawn from it; restart ``r`` uses the same starts whatever
            ``restarts`` is). ``None``: fresh randomness.
        batch_size: images attacked together.
        early_stop: stop each image at its first adversarial iterate (see above).

    Returns:
        Adversarial images, NumPy float32 with the shape of ``x``; ``‖x_adv − x‖ ≤ eps`` in ``norm``
        and every pixel in ``[clip_min, clip_max]``.

    Raises:
        ValueError: as :func:`fgsm`, and for ``step_size <= 0``, ``num_steps < 1`` or ``restarts < 1``.
    """
    if not (np.isfinite(step_size) and step_size > 0):
        raise ValueError(
            f"step_size must be > 0, got {step_size!r} (a common choice is 2.5 * eps / num_steps)."
        )
    if int(num_steps) != num_steps or num_steps < 1:
        raise ValueError(f"num_steps must be an integer >= 1, got {num_steps!r}.")
    if int(restarts) != restarts or restarts < 1:
        raise ValueError(f"restarts must be an integer >= 1, got {restarts!r}.")
    if restarts > 1 and not rand_init:
        raise ValueError(
            f"restarts={restarts} with rand_init=False would run the same deterministic attack {restarts} "
            "times. Pass rand_init=True (each restart then starts from a new random point) or restarts=1."
        )
    seed = check_seed(seed)
    x_np, y_np, norm = _prepare(model, x, y, eps, norm, clip_min, clip_max, batch_size, target)
    if len(x_np) == 0 or eps == 0:
        return x_np.copy()
    num_steps, restarts, targeted = int(num_steps), int(restarts), target is not None
    step = _compiled(model, "step", norm, targeted, loss, clip_min, clip_max, x_np.shape)
    score = None
    if restarts > 1:
        score = _compiled(model, "score", norm, targeted, loss, clip_min, clip_max, x_np.shape)
    # One generator per restart, so that run r draws the same starts whatever `restarts` is.
    rngs = spawn_generators(seed, restarts)
    eps_t, step_t = tf.constant(eps, tf.float32), tf.constant(step_size, tf.float32)

    out = np.empty_like(x_np)
    for start in range(0, len(x_np), batch_size):
        xb = x_np[start : start + batch_size]
        yb = _labels_for(model, xb, y_np, start)
        best = best_loss = done = None
        for r in range(restarts):
            if rand_init:
                x0 = random_perturbation(
                    xb, eps=eps, norm=norm, seed=rngs[r], clip_min=clip_min, clip_max=clip_max
                )
            else:
                x0 = xb
            todo = np.arange(len(xb)) if done is None else np.flatnonzero(~done)
            if len(todo) == 0:
                break
            adv = _run_steps(
                step, xb[todo], x0[todo], yb[todo], eps_t, step_t, num_steps, targeted, early_stop
            )
            if score is None:
                best = adv
                break
            pred, value = (np.array(t) for t in score(tf.constant(adv), tf.constant(yb[todo])))
            success = (pred == yb[todo]) if targeted else (pred != yb[todo])
            if best is None:
                best, best_loss, done = adv, value, success
                continue
            better = success | ((value < best_loss[todo]) if targeted else (value > best_loss[todo]))
            idx = todo[better]
            best[idx], best_loss[idx] = adv[better], value[better]
            done[todo] |= success
        out[start : start + len(xb)] = best
    return _project_l2_float64(out, x_np, eps) if norm == 2 else out


def pgd_tensor(
    model,
    x,
    y,
    *,
    eps,
    step_size,
    num_steps,
    norm="inf",
    rand_init=True,
    loss="ce",
    target=None,
    clip_min=0.0,
    clip_max=1.0,
    seed=None,
):
    """PGD on tensors, for use inside a compiled function such as a Keras ``train_step``.

    The PGD iteration of :func:`pgd` with ``restarts=1`` and ``early_stop=False`` (every image gets
    all ``num_steps`` steps), returning the last iterate, as Madry et al.'s training does; without
    :func:`pgd`'s input checks, batching or NumPy conversion, so that it can run inside a graph.
    The model is called with ``training=False``. With ``num_steps=1``, ``rand_init=True`` and
    ``step_size=1.25 * eps`` it is the FGSM with random start of Wong, Rice & Kolter ("Fast is
    better than free", ICLR 2020).

    Args:
        model: maps images to logits.
        x: float32 tensor ``(N, ...)`` in ``[clip_min, clip_max]``; y: the true integer labels ``(N,)``.
        eps, step_size: Python floats or scalar tensors; num_steps: a Python int (the steps are
            unrolled into the graph).
        norm: ``"inf"`` or ``2``.
        loss: ``"ce"``, ``"margin"`` or a Keras-style ``loss(y_true, logits)``.
        target: ``None`` (untargeted) or integer classes to reach ``(N,)`` (a tensor).
        seed: ``None``, an int, or a ``keras.random.SeedGenerator`` (not a NumPy generator: this
            function runs inside TensorFlow graphs). Inside a compiled function
            (``tf.function``, a Keras ``train_step``) pass a ``SeedGenerator``: every call then
            draws new random starts and a seeded run is repeatable. An int is refused there (it
            would draw the same start on every call); in eager code an int gives the same start
            for the same seed.

    Raises:
        ValueError: on ``num_steps`` below 1, or an int ``seed`` inside a compiled function.

    Returns:
        The adversarial batch, a float32 tensor shaped like ``x``, with no gradient flowing back
        to ``x`` (``tf.stop_gradient``); within ε up to float32 rounding, and in the pixel range.
    """
    norm = norm_name(norm)
    if int(num_steps) != num_steps or num_steps < 1:
        raise ValueError(f"num_steps must be an integer >= 1, got {num_steps!r}.")
    if rand_init and isinstance(seed, int) and not tf.executing_eagerly():
        raise ValueError(
            f"pgd_tensor got the integer seed {seed} inside a compiled function, where it would draw the "
            "same random start on every call. Create keras.random.SeedGenerator(seed) once, outside "
            "the function, and pass that."
        )
    loss = loss_function(loss)
    labels = y if target is None else target
    x = tf.convert_to_tensor(x, tf.float32)
    eps = tf.cast(eps, tf.float32)
    step_size = tf.cast(step_size, tf.float32)
    x_adv = x
    if rand_init:
        if norm == "inf":
            noise = keras.random.uniform(tf.shape(x), minval=-1.0, maxval=1.0, seed=seed) * eps
        else:
            axes = list(range(1, len(x.shape)))
            direction = keras.random.normal(tf.shape(x), seed=seed)
            direction /= tf.maximum(
                tf.sqrt(tf.reduce_sum(tf.square(direction), axis=axes, keepdims=True)), 1e-12
            )
            dim = tf.cast(tf.reduce_prod(tf.shape(x)[1:]), tf.float32)
            radius_shape = tf.concat([tf.shape(x)[:1], tf.ones([len(x.shape) - 1], tf.int32)], axis=0)
            # an int seed would give the radius the same stream as the direction: offset it
            radius_seed = seed + 1 if isinstance(seed, int) else seed
            radius = eps * keras.random.uniform(radius_shape, seed=radius_seed) ** (1.0 / dim)
            noise = direction * radius
        x_adv = tf.clip_by_value(x + noise, clip_min, clip_max)
    for _ in range(int(num_steps)):
        with tf.GradientTape() as tape:
            tape.watch(x_adv)
            total = tf.reduce_sum(loss(labels, forward(model, x_adv)))
        grad = tape.gradient(total, x_adv, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        if target is not None:
            grad = -grad
        x_adv = _project(x_adv + step_size * _direction(grad, norm), x, eps, norm, clip_min, clip_max)
    return tf.stop_gradient(x_adv)
