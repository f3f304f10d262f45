"""The Square attack: it uses only the model's outputs (it breaks a model without any gradient), it
counts its queries exactly, its outputs are valid and repeatable, and bad inputs are refused."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from course_utils import attacks
from course_utils.attacks.square import window_share

from .helpers import counting, linear_model, worst_case_margin


def without_gradient(model):
    """``model`` evaluated through NumPy: TensorFlow cannot differentiate it at all."""

    def wrapped(x):
        out = tf.numpy_function(lambda v: model(v).numpy(), [x], tf.float32)
        return tf.reshape(out, [-1, 10])

    return wrapped


@pytest.fixture(scope="module")
def setting():
    model, w, b = linear_model((4, 4, 1), 10)
    x = np.random.default_rng(3).uniform(0, 1, size=(120, 4, 4, 1)).astype(np.float32)
    pred = model(x).numpy().argmax(1)
    return model, w, b, x, pred


def test_window_schedule():
    assert window_share(0, 10_000) == 0.8
    assert window_share(11, 10_000) == 0.4
    assert window_share(9_000, 10_000) == pytest.approx(0.8 / 512)
    assert window_share(100, 1_000) == window_share(1_000, 10_000)  # rescaled to the budget


def test_square_needs_no_gradient(setting):
    model, w, b, x, pred = setting
    blind = without_gradient(model)
    margin = worst_case_margin(x, pred, w, b, 0.08)
    x_adv = attacks.square(blind, x, pred, eps=0.08, queries=300, seed=0)
    broken = model(x_adv).numpy().argmax(1) != pred
    assert not broken[margin < 0].any()
    assert broken[margin > 0.1].mean() > 0.95
    # A gradient attack gets nothing from the same model: its gradient does not exist.
    x_pgd = attacks.pgd(blind, x, pred, eps=0.08, step_size=0.02, num_steps=10, seed=0)
    assert (model(x_pgd).numpy().argmax(1) != pred).mean() < broken.mean() / 2


def test_square_counts_every_query(setting):
    model, _, _, x, pred = setting
    counted, seen = counting(model)
    y = pred.copy()
    y[:5] = (y[:5] + 1) % 10  # five images misclassified from the start: one query each
    x_adv, used = attacks.square_with_queries(counted, x, y, eps=0.05, queries=50, seed=1, batch_size=64)
    assert int(seen.numpy()) == used.sum()
    assert (used[:5] == 1).all() and used.max() <= 50
    survived = model(x_adv).numpy().argmax(1) == y
    assert (used[survived] == 50).all()  # a survivor spent the whole budget
    attacked_and_broken = ~survived & (np.arange(len(y)) >= 5)
    assert attacked_and_broken.any() and (used[attacked_and_broken] >= 2).all()


def test_square_output_is_valid_and_repeatable(setting):
    model, _, _, x, pred = setting
    a = attacks.square(model, x, pred, eps=0.05, queries=40, seed=2)
    b = attacks.square(model, x, pred, eps=0.05, queries=40, seed=2)
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.float32 and a.min() >= 0 and a.max() <= 1
    assert attacks.perturbation_norms(a, x, "inf").max() <= 0.05 + 1e-6
    c = attacks.square(model, x, eps=0.05, queries=40, seed=2)  # y=None: the predictions
    np.testing.assert_array_equal(a, c)


def test_square_refuses_bad_arguments(setting):
    model, _, _, x, _ = setting
    with pytest.raises(ValueError, match="apgd"):
        attacks.square(model, x, eps=0.5, norm=2)
    with pytest.raises(ValueError, match="queries"):
        attacks.square(model, x, eps=0.1, queries=0)
    with pytest.raises(ValueError, match="p_init"):
        attacks.square(model, x, eps=0.1, p_init=0)
    with pytest.raises(ValueError, match=r"\(N, H, W, C\)"):
        flat = keras.Sequential([keras.Input((16,)), keras.layers.Dense(10)])
        attacks.square(flat, x.reshape(len(x), 16), eps=0.1)
    with pytest.raises(ValueError, match="divide by 255"):
        attacks.square(model, x * 255, eps=0.1)
    with pytest.raises(ValueError, match="one label per image"):
        attacks.square(model, x, np.zeros(3, int), eps=0.1)


def never_fooled(seed=0):
    """Logits of 10 classes on 8 x 8 images: class 0 ahead by 100 plus a linear function of the
    pixels, so the margin Square lowers varies with every pixel but the image is never broken."""
    w = np.random.default_rng(seed).normal(size=(8, 8, 1)).astype(np.float32)

    def model(x):
        score = 100.0 + tf.reduce_sum(tf.convert_to_tensor(x) * w, axis=[1, 2, 3])
        return tf.concat([score[:, None], tf.zeros([tf.shape(score)[0], 9])], axis=1)

    return model


def test_square_starts_from_vertical_stripes():
    """Andriushchenko et al.'s initialisation: every column moved by +eps or -eps (both signs used),
    the same along the column; with a budget of two queries (the clean look and the stripes) that
    is what comes back for an image nothing breaks."""
    x = np.full((6, 8, 8, 1), 0.5, np.float32)
    out = attacks.square(never_fooled(), x, np.zeros(6, int), eps=0.1, queries=2, seed=0)
    delta = np.round((out - x) / 0.1, 4)
    assert set(np.unique(delta)) == {-1.0, 1.0}
    np.testing.assert_array_equal(delta, np.broadcast_to(delta[:, :1], delta.shape))  # constant per column


def test_square_uses_its_window_schedule_and_first_window():
    """The same seed with another schedule or another first window size searches other squares."""
    model, x = never_fooled(), np.full((4, 8, 8, 1), 0.5, np.float32)
    y = np.zeros(4, int)

    def run(**kwargs):
        return attacks.square(model, x, y, eps=0.1, queries=60, seed=3, **kwargs)

    base = run()
    assert not np.array_equal(base, run(rescale_schedule=False))
    assert not np.array_equal(base, run(p_init=0.3))
    same, _ = attacks.square_with_queries(model, x, y, eps=0.1, queries=60, seed=3, rescale_schedule=False)
    np.testing.assert_array_equal(run(rescale_schedule=False), same)
