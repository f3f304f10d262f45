"""Deliberately broken "defenses" for notebook 09: they look robust to a weak evaluation because
they hide the gradient, not because they are robust. Do not use them to protect anything.

* :func:`quantized`: rounds every input pixel to a few grey levels before the classifier. Rounding
  has a zero derivative almost everywhere, so gradient attacks see no signal at all ("shattered
  gradients", Athalye, Carlini & Wagner, "Obfuscated gradients give a false sense of security",
  ICML 2018). The fix is BPDA: attack a twin whose rounding passes the gradient straight through
  (``straight_through=True``), then score the result on the real model.
* :func:`saturated`: multiplies the logits by a large factor. Predictions do not change, but the
  softmax saturates to exactly 0/1 in float32 and the cross-entropy gradient of confidently
  classified images becomes exactly zero. The fix is a loss on the logits that does not saturate,
  such as :func:`course_utils.attacks.margin_loss`.
"""

from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="course_utils")
class Quantize(keras.layers.Layer):
    """Round pixels in [0, 1] to ``levels`` evenly spaced grey levels. Shape-preserving.

    Args:
        levels: number of grey levels (>= 2), e.g. 4 gives {0, 1/3, 2/3, 1}.
        straight_through: if True, the backward pass treats rounding as the identity (BPDA);
            the forward pass is the same rounding either way.
    """

    def __init__(self, levels: int = 4, straight_through: bool = False, **kwargs):
        super().__init__(**kwargs)
        if int(levels) < 2:
            raise ValueError(f"levels must be >= 2, got {levels}.")
        self.levels = int(levels)
        self.straight_through = bool(straight_through)

    def call(self, x):
        scale = float(self.levels - 1)
        straight_through = self.straight_through

        @tf.custom_gradient
        def quantize(v):
            def grad(upstream):
                # The true derivative of rounding is 0 almost everywhere; BPDA pretends it is 1.
                return upstream if straight_through else tf.zeros_like(upstream)

            return tf.round(v * scale) / scale, grad

        return quantize(x)

    def get_config(self):
        return {**super().get_config(), "levels": self.levels, "straight_through": self.straight_through}


def quantized(model: keras.Model, levels: int = 4, *, straight_through: bool = False) -> keras.Model:
    """``model`` preceded by input quantisation to ``levels`` grey levels (shares its weights).

    With ``straight_through=True`` the returned model makes the same predictions but lets
    gradients through the rounding: attack it to evaluate the quantised model properly (BPDA).
    """
    inputs = keras.Input(model.input_shape[1:])
    outputs = model(Quantize(levels, straight_through)(inputs))
    suffix = "_bpda" if straight_through else ""
    return keras.Model(inputs, outputs, name=f"quantized{levels}_{model.name}{suffix}")


def saturated(model: keras.Model, factor: float = 1000.0) -> keras.Model:
    """``model`` with its logits multiplied by ``factor`` (same predictions, saturated softmax)."""
    if factor <= 0:
        raise ValueError(f"factor must be > 0, got {factor}.")
    inputs = keras.Input(model.input_shape[1:])
    outputs = keras.layers.Rescaling(factor)(model(inputs))
    return keras.Model(inputs, outputs, name=f"saturated_{model.name}")
