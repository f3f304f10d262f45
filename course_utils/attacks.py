"""Gradient attacks on image classifiers: FGSM and PGD under the L∞ and L2 norms.

Both attacks share one kernel: start at ``x`` (or at a random point of the ε-ball around it), take
``num_steps`` steps along the normalised gradient of the loss, and after each step project back
onto the ε-ball and the valid pixel range. FGSM is the special case of one step of size ε from
``x`` itself.

* FGSM: Goodfellow, Shlens & Szegedy, "Explaining and harnessing adversarial examples", ICLR 2015.
* PGD: Madry, Makelov, Schmidt, Tsipras & Vladu, "Towards deep learning models resistant to
  adversarial attacks", ICLR 2018.

Conventions (the same for every function here):

* ``model`` maps float32 images ``(N, H, W, C)`` to **logits** ``(N, K)``. A model that ends in a
  softmax is rejected: its gradients vanish when the softmax saturates and the attack looks weak.
* ``x`` lies in ``[clip_min, clip_max]`` (``[0, 1]`` by default) and ε is measured in that scale:
  ``eps=8/255``, not ``eps=8``.
* ``y`` holds integer class ids ``(N,)``; with ``targeted=True`` they are the classes to reach.
* ``loss_fn(y_true, logits)`` follows the Keras convention; the default is the sparse categorical
  cross-entropy on logits. It may return one loss per example (preferred) or their mean.

The gradient step is compiled once per model, image shape and attack configuration (the batch
dimension is left free), so repeated calls and the last, smaller batch do not retrace it.
Every function returns NumPy arrays.
"""

from __future__ import annotations

import logging
import math
import weakref

import keras
import numpy as np
import tensorflow as tf

NORMS = ("inf", 2)

# model -> {configuration: compiled function}. Weak keys: a deleted model frees its functions.
_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


# ----------------------------------------------------------------------------------- losses


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


# ----------------------------------------------------------------------- argument checking


def _norm_name(norm):
    """``"inf"`` or ``2`` for the spellings people use; ValueError for anything else."""
    key = str(norm).strip().lower()
    if key in ("inf", "linf", "l_inf", "l-inf", "infinity"):
        return "inf"
    if key in ("2", "2.0", "l2", "l_2", "l-2"):
        return 2
    raise ValueError(
        f"Unknown norm {norm!r}. Use norm='inf' (each pixel moves at most eps) or norm=2 "
        "(the Euclidean length of the whole perturbation is at most eps)."
    )


def _check_scalars(eps, clip_min, clip_max, norm):
    if clip_min >= clip_max:
        raise ValueError(f"clip_min ({clip_min}) must be smaller than clip_max ({clip_max}).")
    if not np.isfinite(eps) or eps < 0:
        raise ValueError(f"eps must be a finite number >= 0, got {eps!r}.")
    span = clip_max - clip_min
    if norm == "inf" and eps > span:
        raise ValueError(
            f"eps={eps} is larger than the whole pixel range [{clip_min}, {clip_max}], so it allows any "
            f"image. Give eps in the scale of the pixels: for images in [0, 1], 8 grey levels of 255 "
            f"are eps=8/255={8 / 255:.4f}."
        )


def _check_images(x, clip_min, clip_max) -> np.ndarray:
    x_np = np.asarray(x)
    if x_np.ndim < 2:
        raise ValueError(f"x must be a batch of images (N, H, W, C), got shape {x_np.shape}.")
    if not np.issubdtype(x_np.dtype, np.floating):
        raise ValueError(
            f"x has dtype {x_np.dtype}; attacks need float images in [{clip_min}, {clip_max}]. "
            "Convert first, e.g. x.astype('float32') / 255."
        )
    x_np = x_np.astype(np.float32, copy=False)
    if x_np.size and not np.all(np.isfinite(x_np)):
        raise ValueError("x contains NaN or infinite values; attack only finite images.")
    if x_np.size:
        lo, hi = float(x_np.min()), float(x_np.max())
        if lo < clip_min - 1e-6 or hi > clip_max + 1e-6:
            hint = " They look like 0-255 images: divide by 255." if hi > 1.5 and clip_max <= 1 else ""
            raise ValueError(
                f"Pixels of x lie in [{lo:g}, {hi:g}], outside the clip range [{clip_min}, {clip_max}]."
                f"{hint} Or pass clip_min/clip_max matching your data."
            )
    return x_np


def _check_logits(model, x_probe: np.ndarray) -> int:
    """Run the model on a few images; reject probability outputs. Returns the number of classes."""
    out = np.asarray(
        _compiled(model, "logits", "inf", False, None, 0.0, 1.0, x_probe.shape)(tf.constant(x_probe))
    )
    if out.ndim != 2:
        raise ValueError(f"The model must output logits of shape (N, num_classes), got shape {out.shape}.")
    if out.shape[1] > 1 and np.all(out >= 0) and np.allclose(out.sum(axis=1), 1.0, atol=1e-3):
        raise ValueError(
            "The model's outputs are non-negative and every row sums to 1: they look like "
            "probabilities (a softmax output). Pass logits: build the model without the final softmax "
            "(e.g. Dense(10) instead of Dense(10, activation='softmax')), or attack a model that "
            "stops before it. Gradients through a saturated softmax vanish and the attack looks weak."
        )
    return int(out.shape[1])


def _check_labels(y, n: int, num_classes: int, targeted: bool) -> np.ndarray:
    y_np = np.asarray(y)
    if y_np.ndim == 2 and y_np.shape[1] == num_classes and num_classes > 1:
        raise ValueError(
            f"y has shape {y_np.shape}, which looks one-hot. Pass integer class ids: y.argmax(axis=1)."
        )
    y_np = y_np.reshape(-1) if y_np.ndim == 2 and y_np.shape[1] == 1 else y_np
    if y_np.ndim != 1:
        raise ValueError(f"y must be integer class ids of shape (N,), got shape {y_np.shape}.")
    if len(y_np) != n:
        what = "targets" if targeted else "labels"
        raise ValueError(f"x has {n} images but y has {len(y_np)} {what}; pass one label per image.")
    if n and not np.issubdtype(y_np.dtype, np.integer):
        if not np.all(np.equal(np.mod(y_np, 1), 0)):
            raise ValueError("y must hold integer class ids, got non-integer values.")
    y_np = y_np.astype(np.int64)
    if n and (y_np.min() < 0 or y_np.max() >= num_classes):
        raise ValueError(
            f"Labels must lie in [0, {num_classes - 1}] for a model with {num_classes} outputs; "
            f"got values in [{y_np.min()}, {y_np.max()}]."
        )
    return y_np


# --------------------------------------------------------------------------- shared maths


def _direction(grad, norm):
    """Steepest-ascent direction of unit size in ``norm`` (sign for L∞, unit vector for L2)."""
    if norm == "inf":
        return tf.sign(grad)
    axes = list(range(1, len(grad.shape)))
    length = tf.sqrt(tf.reduce_sum(tf.square(grad), axis=axes, keepdims=True))
    return grad / tf.maximum(length, 1e-12)


def _project(x_adv, x, eps, norm, clip_min, clip_max):
    """Nearest point of the ε-ball around ``x`` (then clipped to the pixel range).

    Clipping after the projection cannot leave the ball: it only moves pixels towards ``x``'s box.
    """
    delta = x_adv - x
    if norm == "inf":
        delta = tf.clip_by_value(delta, -eps, eps)
    else:
        axes = list(range(1, len(delta.shape)))
        length = tf.sqrt(tf.reduce_sum(tf.square(delta), axis=axes, keepdims=True))
        delta = delta * tf.minimum(1.0, eps / tf.maximum(length, 1e-12))
    return tf.clip_by_value(x + delta, clip_min, clip_max)


def _project_l2_float64(x_adv: np.ndarray, x: np.ndarray, eps: float) -> np.ndarray:
    """Final L2 projection in float64 so that float32 rounding cannot push ‖δ‖₂ past ε."""
    delta = x_adv.astype(np.float64) - x
    axes = tuple(range(1, x.ndim))
    length = np.sqrt(np.sum(delta**2, axis=axes, keepdims=True))
    scale = np.minimum(1.0, eps / np.maximum(length, 1e-300))
    return (x + delta * scale).astype(np.float32)


def random_perturbation(x, *, eps, norm="inf", seed=None, clip_min=0.0, clip_max=1.0, surface=False):
    """``x`` plus random noise in the ε-ball, clipped to the pixel range. NumPy float32, same shape.

    Args:
        x: float images ``(N, ...)`` in ``[clip_min, clip_max]``.
        eps: radius of the ball in ``norm``.
        norm: ``"inf"`` (uniform in the cube) or ``2`` (uniform in the ball).
        seed: integer for reproducible noise, or a ``numpy.random.Generator``.
        surface: put the noise on the ball's surface (L∞: every pixel ±ε; L2: length exactly ε),
            the largest random perturbation allowed. Used as a baseline: a gradient attack that
            does worse than this noise has a masked gradient.
    """
    norm = _norm_name(norm)
    x = np.asarray(x, dtype=np.float32)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    if norm == "inf":
        if surface:
            noise = eps * rng.choice(np.array([-1.0, 1.0]), size=x.shape)
        else:
            noise = rng.uniform(-eps, eps, size=x.shape)
    else:
        direction = rng.standard_normal(size=x.shape)
        axes = tuple(range(1, x.ndim))
        direction /= np.maximum(np.sqrt(np.sum(direction**2, axis=axes, keepdims=True)), 1e-300)
        dim = int(np.prod(x.shape[1:]))
        radius = eps if surface else eps * rng.uniform(size=(len(x),) + (1,) * (x.ndim - 1)) ** (1.0 / dim)
        noise = direction * radius
    out = np.clip(x + noise.astype(np.float32), clip_min, clip_max).astype(np.float32)
    return _project_l2_float64(out, x, eps) if norm == 2 else out


# ------------------------------------------------------------------------ compiled kernels


def _forward(model, x):
    """Logits of ``model`` in inference mode; plain callables without a ``training`` argument work too."""
    if isinstance(model, keras.Model | keras.layers.Layer):
        return model(x, training=False)
    return model(x)


class _ExpectedTracingFilter(logging.Filter):
    """Drops TensorFlow's "frequent retracing" warning about the functions compiled here.

    TensorFlow counts traces per *source code* location, so attacking several models (or one model
    under several settings) looks like retracing to it, although each compiled function is traced
    once and reused (tests/test_attacks.py checks that). Other warnings pass through.
    """

    def filter(self, record):
        message = record.getMessage()
        return not ("retracing" in message and "_compiled.<locals>.fn" in message)


def _install_tracing_filter():
    logger = tf.get_logger()
    if not any(isinstance(f, _ExpectedTracingFilter) for f in logger.filters):
        logger.addFilter(_ExpectedTracingFilter())


def _compiled(model, kind, norm, targeted, loss_fn, clip_min, clip_max, x_shape):
    """The tf.function for ``kind`` ("step", "fgsm", "score", "logits", "grad"), built once per setting."""
    key = (kind, norm, targeted, loss_fn, float(clip_min), float(clip_max), tuple(x_shape[1:]))
    try:
        per_model = _COMPILED.setdefault(model, {})
    except TypeError:  # not weak-referenceable: compile without caching
        per_model = {}
    if key in per_model:
        return per_model[key]

    _install_tracing_filter()
    model_ref = weakref.ref(model)  # the compiled graph must not keep the model alive
    # autograph=False below: these functions have no tensor-dependent Python control flow, and
    # autograph would re-read their source file when converting (wrong if it changed since import).
    loss = loss_fn or cross_entropy
    image_spec = tf.TensorSpec((None, *x_shape[1:]), tf.float32)
    label_spec = tf.TensorSpec((None,), tf.int64)
    scalar = tf.TensorSpec((), tf.float32)

    def gradient(x_adv, y, return_logits=False):
        with tf.GradientTape() as tape:
            tape.watch(x_adv)
            logits = _forward(model_ref(), x_adv)
            total = tf.reduce_sum(loss(y, logits))
        grad = tape.gradient(total, x_adv, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        return (grad, logits) if return_logits else grad

    if kind == "step":
        # One step per call, looped in Python: measured ~35% faster on a CPU than a tf.range loop
        # inside the graph (benchmarks/attack_speed.py), and just as fast on small batches.
        @tf.function(input_signature=[image_spec, image_spec, label_spec, scalar, scalar], autograph=False)
        def fn(x_adv, x, y, eps, step_size):
            grad, logits = gradient(x_adv, y, return_logits=True)
            if targeted:
                grad = -grad  # descend the loss of the target class
            x_next = _project(x_adv + step_size * _direction(grad, norm), x, eps, norm, clip_min, clip_max)
            return x_next, tf.argmax(logits, axis=-1)  # the prediction on x_adv, free from the forward pass

    elif kind == "fgsm":

        @tf.function(input_signature=[image_spec, label_spec, scalar], autograph=False)
        def fn(x, y, eps):
            grad = gradient(x, y)
            if targeted:
                grad = -grad
            return tf.clip_by_value(x + eps * _direction(grad, norm), clip_min, clip_max)

    elif kind == "score":

        @tf.function(input_signature=[image_spec, label_spec], autograph=False)
        def fn(x_adv, y):
            logits = _forward(model_ref(), x_adv)
            value = loss(y, logits)
            if value.shape.rank != 1:  # a reduced loss cannot rank examples: use the cross-entropy
                value = cross_entropy(y, logits)
            return tf.argmax(logits, axis=-1), value

    elif kind == "logits":

        @tf.function(input_signature=[image_spec], autograph=False)
        def fn(x):
            return _forward(model_ref(), x)

    elif kind == "grad":

        @tf.function(input_signature=[image_spec, label_spec], autograph=False)
        def fn(x, y):
            return gradient(x, y)

    else:  # pragma: no cover
        raise ValueError(kind)
    per_model[key] = fn
    return fn


def _prepare(model, x, y, eps, norm, targeted, clip_min, clip_max, batch_size):
    """Shared checks. Returns (x float32, y int64 or None, norm)."""
    norm = _norm_name(norm)
    _check_scalars(eps, clip_min, clip_max, norm)
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
    x_np = _check_images(x, clip_min, clip_max)
    if targeted and y is None:
        raise ValueError("A targeted attack needs y: the class each image should be pushed to.")
    if len(x_np) == 0:
        return x_np, (None if y is None else np.asarray(y, dtype=np.int64)), norm
    num_classes = _check_logits(model, x_np[: min(len(x_np), 32)])
    y_np = None if y is None else _check_labels(y, len(x_np), num_classes, targeted)
    return x_np, y_np, norm


def _labels_for(model, x_batch, y_np, start):
    if y_np is not None:
        return y_np[start : start + len(x_batch)]
    # y=None: attack the model's own prediction (see the docstrings: avoids label leaking).
    logits = _compiled(model, "logits", "inf", False, None, 0.0, 1.0, x_batch.shape)(tf.constant(x_batch))
    return np.asarray(tf.argmax(logits, axis=-1), dtype=np.int64)


# ------------------------------------------------------------------------------- attacks


def fgsm(
    model,
    x,
    y=None,
    *,
    eps,
    norm="inf",
    targeted=False,
    loss_fn=None,
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
        y: integer labels ``(N,)``. ``None`` attacks the model's own predictions instead of the
            true labels. That is the right choice when the labels are unknown, and it avoids
            "label leaking" (Kurakin et al., 2017): a one-step attack built from the true label
            can carry information about that label into the image, which makes models trained on
            such images look more robust than they are. For evaluation, pass the true labels.
        eps: size of the perturbation in ``norm``, in the pixel scale (``0.1`` = 10% of the range).
        norm: ``"inf"`` or ``2``.
        targeted: if True, ``y`` are target classes and the step *decreases* their loss.
        loss_fn: ``loss_fn(y_true, logits)`` (Keras convention); default cross-entropy on logits.
        clip_min, clip_max: valid pixel range.
        batch_size: images per gradient computation.

    Returns:
        Adversarial images, NumPy float32 with the shape of ``x``.

    Raises:
        ValueError: for a negative or out-of-scale ε, an unknown norm, pixels outside the clip range,
            labels that do not match the images, or a model that outputs probabilities.
    """
    x_np, y_np, norm = _prepare(model, x, y, eps, norm, targeted, clip_min, clip_max, batch_size)
    if len(x_np) == 0 or eps == 0:
        return x_np.copy()
    step = _compiled(model, "fgsm", norm, targeted, loss_fn, clip_min, clip_max, x_np.shape)
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
    targeted=False,
    loss_fn=None,
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
        y: integer labels ``(N,)``; ``None`` attacks the model's own predictions (see :func:`fgsm`
            on label leaking); targets when ``targeted=True`` (then required).
        eps: radius of the ball in ``norm``, in the pixel scale.
        step_size: length of one step in ``norm`` (> 0).
        num_steps: number of steps (>= 1).
        norm: ``"inf"`` or ``2``.
        rand_init: start from a random point of the ball (True) or from ``x`` (False).
        restarts: number of runs (>= 1); only meaningful with ``rand_init=True``.
        targeted: if True, ``y`` are target classes to reach.
        loss_fn: ``loss_fn(y_true, logits)``; default cross-entropy on logits.
        clip_min, clip_max: valid pixel range.
        seed: integer: the same seed gives the same result (the random starts are drawn from it;
            restart ``r`` uses the same starts whatever ``restarts`` is). ``None``: fresh randomness.
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
    x_np, y_np, norm = _prepare(model, x, y, eps, norm, targeted, clip_min, clip_max, batch_size)
    if len(x_np) == 0 or eps == 0:
        return x_np.copy()
    num_steps, restarts = int(num_steps), int(restarts)
    step = _compiled(model, "step", norm, targeted, loss_fn, clip_min, clip_max, x_np.shape)
    score = (
        _compiled(model, "score", norm, targeted, loss_fn, clip_min, clip_max, x_np.shape)
        if restarts > 1
        else None
    )
    # One generator per restart, so that run r draws the same starts whatever `restarts` is.
    seed_seq = np.random.SeedSequence(seed)
    rngs = [np.random.default_rng(s) for s in seed_seq.spawn(restarts)]
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
            pred, loss = (np.array(t) for t in score(tf.constant(adv), tf.constant(yb[todo])))
            success = (pred == yb[todo]) if targeted else (pred != yb[todo])
            if best is None:
                best, best_loss, done = adv, loss, success
                continue
            better = success | ((loss < best_loss[todo]) if targeted else (loss > best_loss[todo]))
            idx = todo[better]
            best[idx], best_loss[idx] = adv[better], loss[better]
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
    targeted=False,
    loss_fn=None,
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
        x: float32 tensor ``(N, ...)`` in ``[clip_min, clip_max]``; y: integer labels ``(N,)``.
        eps, step_size: Python floats or scalar tensors; num_steps: a Python int (the steps are
            unrolled into the graph).
        norm: ``"inf"`` or ``2``.
        seed: ``None``, an int, or a ``keras.random.SeedGenerator`` (use one inside ``train_step``,
            so that every call draws new random starts and a seeded run is repeatable).

    Returns:
        The adversarial batch, a float32 tensor shaped like ``x``, with no gradient flowing back
        to ``x`` (``tf.stop_gradient``); within ε up to float32 rounding, and in the pixel range.
    """
    norm = _norm_name(norm)
    if int(num_steps) != num_steps or num_steps < 1:
        raise ValueError(f"num_steps must be an integer >= 1, got {num_steps!r}.")
    loss = loss_fn or cross_entropy
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
            radius = eps * keras.random.uniform(radius_shape, seed=seed) ** (1.0 / dim)
            noise = direction * radius
        x_adv = tf.clip_by_value(x + noise, clip_min, clip_max)
    for _ in range(int(num_steps)):
        with tf.GradientTape() as tape:
            tape.watch(x_adv)
            total = tf.reduce_sum(loss(y, _forward(model, x_adv)))
        grad = tape.gradient(total, x_adv, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        if targeted:
            grad = -grad
        x_adv = _project(x_adv + step_size * _direction(grad, norm), x, eps, norm, clip_min, clip_max)
    return tf.stop_gradient(x_adv)


def input_gradients(model, x, y, *, loss_fn=None, batch_size=512):
    """Gradient of the per-example loss with respect to the input, ``(N, ...)`` float32.

    Used to diagnose gradient masking: a model whose input gradients are zero, NaN or infinite
    cannot be evaluated with gradient attacks at all.
    """
    x_np = np.asarray(x, dtype=np.float32)
    y_np = np.asarray(y, dtype=np.int64)
    if len(x_np) != len(y_np):
        raise ValueError(f"x has {len(x_np)} images but y has {len(y_np)} labels; pass one label per image.")
    grad = _compiled(model, "grad", "inf", False, loss_fn, 0.0, 1.0, x_np.shape)
    out = [
        np.asarray(grad(tf.constant(x_np[i : i + batch_size]), tf.constant(y_np[i : i + batch_size])))
        for i in range(0, len(x_np), batch_size)
    ]
    return np.concatenate(out) if out else np.zeros_like(x_np)


def perturbation_norms(x_adv, x, norm="inf") -> np.ndarray:
    """Per-example size ``‖x_adv − x‖`` ``(N,)`` in ``norm``, computed in float64."""
    norm = _norm_name(norm)
    delta = (np.asarray(x_adv, dtype=np.float64) - np.asarray(x, dtype=np.float64)).reshape(len(x), -1)
    return np.abs(delta).max(axis=1, initial=0.0) if norm == "inf" else np.sqrt((delta**2).sum(axis=1))


def max_eps(norm, shape, clip_min=0.0, clip_max=1.0) -> float:
    """The largest meaningful ε for images of ``shape`` ``(H, W, C)``: the ball then contains every image."""
    norm = _norm_name(norm)
    span = clip_max - clip_min
    return span if norm == "inf" else span * math.sqrt(float(np.prod(shape)))
