"""Shared machinery of the attacks: argument checks whose errors say what to do, the steepest-ascent
direction and the projection onto the ε-ball, random starts, and the cache of compiled functions.

Nothing here is an attack; :mod:`course_utils.attacks` lists those and the conventions they share.
"""

from __future__ import annotations

import logging
import math
import weakref

import keras
import numpy as np
import tensorflow as tf

from course_utils.attacks.losses import cross_entropy, loss_function
from course_utils.labels import class_ids

NORMS = ("inf", 2)

# model -> {configuration: compiled function}. Weak keys: a deleted model frees its functions.
_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

# ----------------------------------------------------------------------- argument checking


def norm_name(norm):
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


def check_seed(seed):
    """``seed`` if it is ``None``, a non-negative integer or a ``numpy.random.Generator``; else a
    ValueError that says what to pass."""
    if seed is None or isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0:
        return int(seed)
    raise ValueError(
        f"seed must be None (fresh randomness), a non-negative integer, or a numpy.random.Generator "
        f"(e.g. np.random.default_rng(0)); got {seed!r}."
    )


def as_generator(seed) -> np.random.Generator:
    """A NumPy generator from ``seed`` (``None``, an int, or a generator, returned as it is)."""
    seed = check_seed(seed)
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def spawn_generators(seed, n: int) -> list[np.random.Generator]:
    """``n`` independent generators from ``seed``: the ``k``-th is the same whatever ``n`` is (so
    restart ``k`` of an attack draws the same start whether it runs 2 or 5 restarts)."""
    seed = check_seed(seed)
    if isinstance(seed, np.random.Generator):
        return seed.spawn(n)
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(n)]


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
        seed: ``None`` (fresh noise), an integer, or a ``numpy.random.Generator``.
        surface: put the noise on the ball's surface (L∞: every pixel ±ε; L2: length exactly ε),
            the largest random perturbation allowed. Used as a baseline: a gradient attack that
            does worse than this noise has a masked gradient.
    """
    norm = norm_name(norm)
    x = np.asarray(x, dtype=np.float32)
    rng = as_generator(seed)
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


def forward(model, x):
    """Logits of ``model`` in inference mode; plain callables without a ``training`` argument work too."""
    if isinstance(model, keras.Model | keras.layers.Layer):
        return model(x, training=False)
    return model(x)


# The functions that build the compiled kernels (here, in apgd.py and in square.py).
_BUILDERS = ("_compiled", "_apgd_kernels", "_square_kernel")


class _ExpectedTracingFilter(logging.Filter):
    """Drops TensorFlow's "frequent retracing" warning about the functions compiled here.

    TensorFlow counts traces per *source code* location, so attacking several models (or one model
    under several settings) looks like retracing to it, although each compiled function is traced
    once and reused (tests/test_attacks.py checks that). Other warnings pass through.
    """

    def filter(self, record):
        message = record.getMessage()
        return not ("retracing" in message and any(f"{name}.<locals>." in message for name in _BUILDERS))


def _install_tracing_filter():
    logger = tf.get_logger()
    if not any(isinstance(f, _ExpectedTracingFilter) for f in logger.filters):
        logger.addFilter(_ExpectedTracingFilter())


def _model_cache(model) -> dict:
    """The dictionary of compiled functions kept for ``model`` (a fresh one if it cannot be weakly
    referenced: then nothing is cached)."""
    try:
        return _COMPILED.setdefault(model, {})
    except TypeError:
        return {}


def compiled_kernels(model) -> dict:
    """The functions compiled for ``model`` so far, ``{setting: function}`` (a copy): for checking
    that repeated calls reuse them instead of retracing."""
    return dict(_COMPILED.get(model, {}))


def _compiled(model, kind, norm, targeted, loss, clip_min, clip_max, x_shape):
    """The tf.function for ``kind`` ("step", "fgsm", "score", "logits", "grad"), built once per setting
    (``loss``: a name or a function, see :func:`~course_utils.attacks.losses.loss_function`)."""
    loss = loss_function("ce" if loss is None else loss)
    key = (kind, norm, targeted, loss, float(clip_min), float(clip_max), tuple(x_shape[1:]))
    per_model = _model_cache(model)
    if key in per_model:
        return per_model[key]

    _install_tracing_filter()
    model_ref = weakref.ref(model)  # the compiled graph must not keep the model alive
    # autograph=False below: these functions have no tensor-dependent Python control flow, and
    # autograph would re-read their source file when converting (wrong if it changed since import).
    image_spec = tf.TensorSpec((None, *x_shape[1:]), tf.float32)
    label_spec = tf.TensorSpec((None,), tf.int64)
    scalar = tf.TensorSpec((), tf.float32)

    def gradient(x_adv, y, return_logits=False):
        with tf.GradientTape() as tape:
            tape.watch(x_adv)
            logits = forward(model_ref(), x_adv)
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
            logits = forward(model_ref(), x_adv)
            value = loss(y, logits)
            if value.shape.rank != 1:  # a reduced loss cannot rank examples: use the cross-entropy
                value = cross_entropy(y, logits)
            return tf.argmax(logits, axis=-1), value

    elif kind == "logits":

        @tf.function(input_signature=[image_spec], autograph=False)
        def fn(x):
            return forward(model_ref(), x)

    elif kind == "grad":

        @tf.function(input_signature=[image_spec, label_spec], autograph=False)
        def fn(x, y):
            return gradient(x, y)

    else:  # pragma: no cover
        raise ValueError(kind)
    per_model[key] = fn
    return fn


def _prepare(model, x, y, eps, norm, clip_min, clip_max, batch_size, target=None):
    """Shared checks. Returns ``(x float32, labels int64 or None, norm)``: the labels an attack
    works with are the classes to reach when ``target`` is given (a targeted attack), else ``y``
    (``None``: the model's own predictions)."""
    norm = norm_name(norm)
    _check_scalars(eps, clip_min, clip_max, norm)
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
    x_np = _check_images(x, clip_min, clip_max)
    if len(x_np) == 0:
        return x_np, None, norm
    num_classes = _check_logits(model, x_np[: min(len(x_np), 32)])
    y_np = None if y is None else class_ids(y, n=len(x_np), num_classes=num_classes)
    if target is None:
        return x_np, y_np, norm
    target = np.full(len(x_np), target) if np.ndim(target) == 0 else target
    return x_np, class_ids(target, n=len(x_np), num_classes=num_classes, name="target"), norm


def _labels_for(model, x_batch, y_np, start):
    if y_np is not None:
        return y_np[start : start + len(x_batch)]
    # y=None: attack the model's own prediction (see the docstrings: avoids label leaking).
    logits = _compiled(model, "logits", "inf", False, None, 0.0, 1.0, x_batch.shape)(tf.constant(x_batch))
    return np.asarray(tf.argmax(logits, axis=-1), dtype=np.int64)


def input_gradients(model, x, y, *, loss="ce", batch_size=512):
    """Gradient of the per-example loss with respect to the input, ``(N, ...)`` float32.

    Used to diagnose gradient masking: a model whose input gradients are zero, NaN or infinite
    cannot be evaluated with gradient attacks at all.
    """
    x_np = np.asarray(x, dtype=np.float32)
    y_np = class_ids(y, n=len(x_np))
    grad = _compiled(model, "grad", "inf", False, loss, 0.0, 1.0, x_np.shape)
    out = [
        np.asarray(grad(tf.constant(x_np[i : i + batch_size]), tf.constant(y_np[i : i + batch_size])))
        for i in range(0, len(x_np), batch_size)
    ]
    return np.concatenate(out) if out else np.zeros_like(x_np)


def perturbation_norms(x_adv, x, norm="inf") -> np.ndarray:
    """Per-example size ``‖x_adv − x‖`` ``(N,)`` in ``norm``, computed in float64."""
    norm = norm_name(norm)
    delta = (np.asarray(x_adv, dtype=np.float64) - np.asarray(x, dtype=np.float64)).reshape(len(x), -1)
    return np.abs(delta).max(axis=1, initial=0.0) if norm == "inf" else np.sqrt((delta**2).sum(axis=1))


def max_eps(norm, shape, clip_min=0.0, clip_max=1.0) -> float:
    """The largest meaningful ε for images of ``shape`` ``(H, W, C)``: the ball then contains every image."""
    norm = norm_name(norm)
    span = clip_max - clip_min
    return span if norm == "inf" else span * math.sqrt(float(np.prod(shape)))
