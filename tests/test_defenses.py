"""The broken defenses of notebook 09 do what they claim: same predictions, hidden gradients."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from course_utils import attacks, defenses

from .helpers import reachable_linear_model


def gradient(model, x):
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = tf.reduce_sum(model(x))
    return np.asarray(tape.gradient(out, x))


def test_quantize_rounds_to_levels_and_hides_or_passes_the_gradient():
    x = np.array([0.0, 0.2, 0.49, 0.51, 0.9, 1.0], dtype=np.float32).reshape(1, 6)
    np.testing.assert_allclose(defenses.Quantize(3)(x), [[0.0, 0.0, 0.5, 0.5, 1.0, 1.0]])
    plain = keras.Sequential([keras.Input((6,)), defenses.Quantize(3)])
    bpda = keras.Sequential([keras.Input((6,)), defenses.Quantize(3, straight_through=True)])
    np.testing.assert_array_equal(gradient(plain, x), 0.0)
    np.testing.assert_array_equal(gradient(bpda, x), 1.0)
    with pytest.raises(ValueError, match="levels"):
        defenses.Quantize(1)


def test_quantized_model_predicts_like_the_model_on_rounded_images():
    model = reachable_linear_model()
    x = np.random.default_rng(0).uniform(0, 1, size=(16, 2, 2, 1)).astype(np.float32)
    q, q_bpda = defenses.quantized(model, 4), defenses.quantized(model, 4, straight_through=True)
    expected = np.asarray(model(np.round(x * 3) / 3))
    np.testing.assert_allclose(q(x), expected, rtol=1e-6)
    np.testing.assert_allclose(q_bpda(x), expected, rtol=1e-6)
    y = expected.argmax(axis=1)
    assert np.all(attacks.input_gradients(q, x, y) == 0)
    assert np.all(np.abs(attacks.input_gradients(q_bpda, x, y)).max(axis=(1, 2, 3)) > 0)


def test_saturated_model_keeps_predictions_and_zeroes_confident_gradients():
    model = reachable_linear_model()
    x = np.zeros((2, 2, 2, 1), dtype=np.float32)
    x[0, 0, 0, 0] = 1.0  # confidently class 0
    x[1, 0, 1, 0] = 1.0  # confidently class 1
    s = defenses.saturated(model, 1000.0)
    np.testing.assert_array_equal(np.asarray(s(x)).argmax(1), [0, 1])
    y = np.array([0, 1])
    assert np.all(attacks.input_gradients(s, x, y) == 0)
    assert np.all(np.abs(attacks.input_gradients(s, x, y, loss=attacks.margin_loss)).max(axis=(1, 2, 3)) > 0)
    with pytest.raises(ValueError, match="factor"):
        defenses.saturated(model, 0.0)
