"""Interval bound propagation (IBP; Gowal et al., 2018): a proof that no L∞ perturbation of size
ε changes a network's prediction, and training that makes such proofs succeed.

Every input pixel lies in an interval ``[max(x - ε, 0), min(x + ε, 1)]``. Pushing the intervals
through the network layer by layer gives, for every logit, an interval that contains every value
the logit can take on the whole ε-box. An affine layer maps the box with centre ``m`` and radius
``r`` to centre ``W m + b`` and radius ``|W| r``; a monotone layer (ReLU, max-pooling) maps the two
ends. The bounds are *sound* (they contain every reachable value) but loose: they treat every
neuron's interval as independent, so they grow with depth.

A prediction is **certified** when the lower bound of the margin ``z_y - z_j`` is positive for every
other class ``j``. The last affine layer is applied to the margins directly ("elision", Gowal et
al.), which is tighter than subtracting two logit intervals.

The networks bounded here are chains of Keras layers (``keras.Sequential`` or a functional model
without branches, nested models allowed): Dense, Conv2D, BatchNormalization (inference mode),
monotone activations and pooling, Flatten and Reshape; Dropout, GaussianNoise and the random
augmentation layers are the identity at inference and are skipped.
"""

from __future__ import annotations

import math
import time

import keras
import numpy as np
import tensorflow as tf

from course_utils import evaluation, training
from course_utils.labels import class_ids

#: Activations that never decrease: the interval ``[f(l), f(u)]`` bounds ``f`` on ``[l, u]``.
MONOTONE_ACTIVATIONS = ("linear", "relu", "relu6", "leaky_relu", "elu", "selu", "sigmoid", "tanh", "softplus")

# Layers that are the identity in inference mode (what a certificate is about).
_IDENTITY = (
    keras.layers.InputLayer,
    keras.layers.Dropout,
    keras.layers.GaussianNoise,
    keras.layers.GaussianDropout,
    keras.layers.RandomFlip,
    keras.layers.RandomTranslation,
    keras.layers.RandomRotation,
    keras.layers.RandomZoom,
)
# Layers that are monotone in every input (each output grows when any input grows) and have no
# weights of either sign: their bounds are the layer applied to the two ends.
_MONOTONE = (
    keras.layers.ReLU,
    keras.layers.MaxPooling2D,
    keras.layers.AveragePooling2D,
    keras.layers.GlobalMaxPooling2D,
    keras.layers.GlobalAveragePooling2D,
    keras.layers.Flatten,
    keras.layers.Reshape,
)


class UnsupportedLayerError(TypeError):
    """A layer interval bound propagation cannot bound (its message says which and what works)."""


def interval_dense(lower, upper, kernel, bias=None):
    """Bounds of ``x @ kernel + bias`` over every ``x`` with ``lower <= x <= upper`` (elementwise).

    Args:
        lower, upper: ``(N, D)`` ends of the input intervals (``lower <= upper``).
        kernel: ``(D, K)`` weights; bias: ``(K,)`` or ``None``.

    Returns:
        ``(lower, upper)``, each ``(N, K)``: exact for one affine layer (each output's extremes are
        reached at a corner of the box). With centre ``m = (l + u) / 2`` and radius
        ``r = (u - l) / 2``: ``W m + b ± |W| r``.
    """
    mid, rad = (upper + lower) / 2, (upper - lower) / 2
    centre = mid @ kernel
    if bias is not None:
        centre = centre + bias
    radius = rad @ abs(kernel)
    return centre - radius, centre + radius


def _activation_name(activation) -> str:
    name = getattr(activation, "__name__", type(activation).__name__)
    return name


def _monotone(layer, lower, upper, activation):
    name = _activation_name(activation)
    if name not in MONOTONE_ACTIVATIONS:
        raise UnsupportedLayerError(
            f"Layer {layer.name!r} uses the activation {name!r}, which is not monotone (or not known "
            f"to be): interval bounds need one of {', '.join(MONOTONE_ACTIVATIONS)}."
        )
    return activation(lower), activation(upper)


def _chain(model) -> list:
    """The layers of ``model`` in order, nested models flattened."""
    out = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            out.extend(_chain(layer))
        else:
            out.append(layer)
    return out


def _scale_shift(lower, upper, scale, shift):
    """Bounds of the elementwise ``x * scale + shift`` on ``[lower, upper]`` (``scale`` of either sign)."""
    mid, rad = (upper + lower) / 2, (upper - lower) / 2
    centre, radius = mid * scale + shift, rad * abs(scale)
    return centre - radius, centre + radius


def _bound_layer(layer, lower, upper):
    """Bounds of ``layer``'s output (inference mode) over the box ``[lower, upper]``."""
    if isinstance(layer, _IDENTITY):
        return lower, upper
    if isinstance(layer, keras.layers.Dense):
        lower, upper = interval_dense(lower, upper, layer.kernel, layer.bias)
        return _monotone(layer, lower, upper, layer.activation)
    if isinstance(layer, keras.layers.Conv2D) and not isinstance(layer, keras.layers.Conv2DTranspose):
        if getattr(layer, "groups", 1) != 1:
            raise UnsupportedLayerError(f"Conv2D layer {layer.name!r} has groups > 1; use groups=1.")

        def conv(h, kernel):
            return keras.ops.conv(
                h, kernel, strides=layer.strides, padding=layer.padding,
                data_format=layer.data_format, dilation_rate=layer.dilation_rate,
            )  # fmt: skip

        mid, rad = (upper + lower) / 2, (upper - lower) / 2
        centre = conv(mid, layer.kernel)
        if layer.bias is not None:
            centre = centre + layer.bias
        radius = conv(rad, abs(layer.kernel))
        return _monotone(layer, centre - radius, centre + radius, layer.activation)
    if isinstance(layer, keras.layers.BatchNormalization):
        if layer.axis not in (-1, len(lower.shape) - 1):
            raise UnsupportedLayerError(f"BatchNormalization {layer.name!r} must normalise the last axis.")
        scale = 1.0 / tf.sqrt(layer.moving_variance + layer.epsilon)
        if layer.gamma is not None:
            scale = scale * layer.gamma
        shift = -layer.moving_mean * scale
        if layer.beta is not None:
            shift = shift + layer.beta
        return _scale_shift(lower, upper, scale, shift)
    if isinstance(layer, keras.layers.Rescaling):
        return _scale_shift(lower, upper, layer.scale, layer.offset)
    if isinstance(layer, keras.layers.Activation):
        return _monotone(layer, lower, upper, layer.activation)
    if isinstance(layer, _MONOTONE):
        return layer(lower), layer(upper)
    raise UnsupportedLayerError(
        f"Interval bound propagation cannot bound layer {layer.name!r} of type {type(layer).__name__}. "
        "It bounds chains of Dense, Conv2D, BatchNormalization, Rescaling, monotone activations, "
        "pooling, Flatten and Reshape layers (Dropout, GaussianNoise and random augmentation are "
        "skipped: they are the identity at inference)."
    )


def _input_box(x, eps, clip_min, clip_max):
    x = tf.convert_to_tensor(x, dtype=tf.float32)
    return tf.maximum(x - eps, clip_min), tf.minimum(x + eps, clip_max)


def _propagate(layers, lower, upper):
    for layer in layers:
        lower, upper = _bound_layer(layer, lower, upper)
    return lower, upper


def _check_eps(eps) -> float:
    if not isinstance(eps, int | float | np.floating | np.integer) or not math.isfinite(eps) or eps < 0:
        raise ValueError(f"eps must be a number >= 0 on the pixel scale [0, 1] (e.g. 0.1), got {eps!r}.")
    return float(eps)


def _check_chain(model, x) -> list:
    """The model's layers, after checking that running them in order is the model (no branches)."""
    if not isinstance(model, keras.Model):
        raise TypeError(
            "Interval bounds need a keras.Model (its layers are bounded one by one), "
            f"got {type(model).__name__}."
        )
    layers = _chain(model)
    probe = tf.convert_to_tensor(np.asarray(x[:2], dtype=np.float32))
    chained, _ = _propagate(layers, probe, probe)
    direct = model(probe, training=False)
    if chained.shape != direct.shape or not np.allclose(chained, direct, atol=1e-4, rtol=1e-4):
        raise ValueError(
            f"Running {model.name!r}'s layers one after the other does not give its output: it has "
            "branches or skip connections, which interval bound propagation here does not follow. "
            "Use a keras.Sequential model or a functional model without branches."
        )
    return layers


def interval_bounds(model, x, eps, *, clip_min: float = 0.0, clip_max: float = 1.0, batch_size: int = 512):
    """Lower and upper bounds of every logit over the L∞ ball of radius ``eps`` around each image.

    Args:
        model: a chain of supported Keras layers (see the module's docstring) returning logits.
        x: float32 images ``(N, H, W, C)`` in ``[clip_min, clip_max]``.
        eps: L∞ budget on the pixel scale (0 gives ``lower == upper ==`` the logits).

    Returns:
        ``(lower, upper)``: NumPy ``(N, num_classes)`` arrays with ``lower <= logits(x') <= upper`` for
        every ``x'`` within ``eps`` of ``x`` and inside the pixel range.
    """
    eps = _check_eps(eps)
    x = np.asarray(x, dtype=np.float32)
    layers = _check_chain(model, x)
    lows, highs = [], []
    for i in range(0, len(x), batch_size):
        lower, upper = _propagate(layers, *_input_box(x[i : i + batch_size], eps, clip_min, clip_max))
        lows.append(np.asarray(lower))
        highs.append(np.asarray(upper))
    return np.concatenate(lows), np.concatenate(highs)


def _margin_bounds(layers, x, y, eps, clip_min, clip_max):
    """``(N, K)`` lower bounds of ``z_y - z_j`` (0 in column ``y``), last affine layer elided."""
    *body, last = layers
    lower, upper = _propagate(body, *_input_box(x, eps, clip_min, clip_max))
    y = tf.cast(y, tf.int32)
    elide = isinstance(last, keras.layers.Dense) and _activation_name(last.activation) == "linear"
    if not elide:  # the plain difference of two logit intervals
        lower, upper = _bound_layer(last, lower, upper)
        low_y = tf.gather(lower, y, axis=1, batch_dims=1)
        margins = low_y[:, None] - upper
        return margins * (1.0 - tf.one_hot(y, tf.shape(margins)[1]))
    kernel, bias = last.kernel, last.bias
    w_y = tf.transpose(tf.gather(kernel, y, axis=1))  # (N, D)
    diff = w_y[:, :, None] - kernel[None]  # (N, D, K): the weights of z_y - z_j
    mid, rad = (upper + lower) / 2, (upper - lower) / 2
    centre = tf.einsum("nd,ndk->nk", mid, diff)
    if bias is not None:
        centre = centre + tf.gather(bias, y)[:, None] - bias[None]
    return centre - tf.einsum("nd,ndk->nk", rad, tf.abs(diff))


def margin_lower_bounds(
    model, x, y, eps, *, clip_min: float = 0.0, clip_max: float = 1.0, batch_size: int = 512
):
    """Certified lower bounds of the margins ``z_y(x') - z_j(x')`` over the L∞ ``eps``-ball.

    Returns:
        ``(N, num_classes)`` NumPy array; column ``y`` is 0. The prediction on image ``i`` is
        certified when every other column of row ``i`` is positive.
    """
    eps = _check_eps(eps)
    x = np.asarray(x, dtype=np.float32)
    y = class_ids(y, n=len(x), num_classes=model.output_shape[-1]).astype(np.int32)
    layers = _check_chain(model, x)
    out = [
        np.asarray(
            _margin_bounds(layers, x[i : i + batch_size], y[i : i + batch_size], eps, clip_min, clip_max)
        )
        for i in range(0, len(x), batch_size)
    ]
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def certified(model, x, y, eps, **kwargs) -> np.ndarray:
    """``(N,)`` booleans: True where IBP proves that no ``x'`` within L∞ ``eps`` of ``x[i]`` (and in
    the pixel range) is classified other than ``y[i]``. A False is *not* an attack: the proof may
    just be too loose (:func:`course_utils.attacks.pgd` looks for a counterexample)."""
    margins = margin_lower_bounds(model, x, y, eps, **kwargs)
    y = np.asarray(y)
    margins[np.arange(len(y)), y] = np.inf
    return margins.min(axis=1) > 0


# --------------------------------------------------------------------------------- training


def ibp_loss(model, x, y, eps, *, kappa: float = 0.5, clip_min: float = 0.0, clip_max: float = 1.0):
    """Gowal et al.'s training loss: ``κ · CE(logits) + (1 − κ) · CE(worst-case logits)``, where the
    worst-case logits are ``−(lower bound of z_y − z_j)``: the logits of the adversary IBP cannot
    rule out. Differentiable in the model's weights.

    Returns:
        ``(loss, logits, worst)``: the scalar loss, the clean logits ``(N, K)`` (computed in training
        mode) and the worst-case logits ``(N, K)``, so that a training step can report accuracy and
        certified accuracy without another forward pass."""
    layers = _chain(model)
    y = tf.cast(y, tf.int32)
    logits = model(x, training=True)
    worst = -_margin_bounds(layers, x, y, eps, clip_min, clip_max)
    ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    return kappa * ce(y, logits) + (1.0 - kappa) * ce(y, worst), logits, worst


def train_ibp(
    model: keras.Model,
    x_train,
    y_train,
    *,
    eps: float,
    epochs: int,
    batch_size: int = 128,
    learning_rate: float = 1e-3,
    ramp_fraction: float = 0.5,
    final_kappa: float = 0.5,
    validation_data=None,
    seed: int = 0,
    verbose=2,
) -> dict:
    """Train ``model`` in place with the IBP loss (Gowal et al., 2018).

    The budget grows linearly from 0 to ``eps`` over the first ``ramp_fraction`` of the steps while
    the weight κ of the clean loss falls from 1 to ``final_kappa`` (starting at the full budget
    makes the bounds explode and training stall); Adam with a cosine-decayed rate.

    Args:
        x_train: float32 images ``(N, H, W, C)`` in [0, 1]; y_train: integer labels ``(N,)``.
        validation_data: optional ``(x, y)``; its clean and IBP-certified accuracy at ``eps`` are
            measured after every epoch.
        seed: seed of the shuffling order (the weights come from the model as built).
        verbose: 0 silent; otherwise one line per epoch.

    Returns:
        The history: ``{"loss", "accuracy", "certified", "epoch_seconds"}`` per epoch (training
        batches, ``certified`` at the epoch's budget), plus ``val_accuracy`` and ``val_certified``.
    """
    eps = _check_eps(eps)
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}.")
    x_train = np.asarray(x_train, dtype=np.float32)
    training.check_training_images(x_train)  # the checks of every other training function
    classes = model.output_shape[-1]
    y_train = class_ids(y_train, n=len(x_train), num_classes=classes, name="y_train").astype(np.int32)
    _check_chain(model, x_train)
    steps_per_epoch = math.ceil(len(x_train) / batch_size)
    total = epochs * steps_per_epoch
    ramp_steps = max(1, int(ramp_fraction * total))
    rate = keras.optimizers.schedules.CosineDecay(learning_rate, total)
    optimizer = keras.optimizers.Adam(rate)

    @tf.function(reduce_retracing=True)
    def step(x, y, eps_now, kappa):
        with tf.GradientTape() as tape:
            loss, logits, worst = ibp_loss(model, x, y, eps_now, kappa=kappa)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        correct = tf.reduce_sum(tf.cast(tf.argmax(logits, 1, output_type=tf.int32) == y, tf.float32))
        others = worst - 1e9 * tf.one_hot(y, tf.shape(worst)[1])  # every class but y
        proved = tf.reduce_sum(tf.cast(tf.reduce_max(others, 1) < 0, tf.float32))
        return loss, correct, proved

    order_rng = np.random.default_rng(seed)
    history = {"loss": [], "accuracy": [], "certified": [], "epoch_seconds": []}
    if validation_data is not None:
        history["val_accuracy"], history["val_certified"] = [], []
    done = 0
    for epoch in range(epochs):
        start = time.perf_counter()
        order = order_rng.permutation(len(x_train))
        losses, correct, proved = [], 0.0, 0.0
        for i in range(0, len(x_train), batch_size):
            idx = order[i : i + batch_size]
            progress = min(1.0, done / ramp_steps)
            loss, c, p = step(
                x_train[idx], y_train[idx], tf.constant(eps * progress, tf.float32),
                tf.constant(1.0 - (1.0 - final_kappa) * progress, tf.float32),
            )  # fmt: skip
            losses.append(float(loss))
            correct += float(c)
            proved += float(p)
            done += 1
        history["loss"].append(float(np.mean(losses)))
        history["accuracy"].append(correct / len(x_train))
        history["certified"].append(proved / len(x_train))
        line = (
            f"epoch {epoch + 1}/{epochs}: loss {history['loss'][-1]:.4f}, "
            f"accuracy {history['accuracy'][-1]:.4f}, "
            f"certified {history['certified'][-1]:.4f} at eps {eps * min(1.0, done / ramp_steps):.3f}"
        )
        if validation_data is not None:
            x_val, y_val = validation_data
            history["val_accuracy"].append(evaluation.accuracy(model, x_val, y_val))
            history["val_certified"].append(float(np.mean(certified(model, x_val, y_val, eps))))
            line += (
                f"; val accuracy {history['val_accuracy'][-1]:.4f}, "
                f"val certified {history['val_certified'][-1]:.4f}"
            )
        history["epoch_seconds"].append(time.perf_counter() - start)
        if verbose:
            print(line + f" ({history['epoch_seconds'][-1]:.0f} s)")
    return history
