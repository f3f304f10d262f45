"""Transfer matrices and accuracy-versus-queries against cases with known answers: a model's copy
is fooled exactly as the model is, a target that ignores its input is never fooled, a target fooled
on known images has the rate and Wilson interval they give, and the accuracy curve of a query attack
is read off per-image query counts."""

import numpy as np
import pytest
import tensorflow as tf

from course_utils import attacks, config, models, transfer

from .helpers import coded_images, image_numbers, threshold_model, wilson


def _mlp(seed):
    with config.seeded(seed):
        return models.build_mlp((16,), input_shape=(4, 4, 1), num_classes=3)


def _constant(label, classes=3):
    """A 'model' that ignores the image and always predicts ``label``."""
    row = tf.one_hot(label, classes) * 5.0
    return lambda x: tf.tile(row[None], [tf.shape(x)[0], 1])


def _pgd(model, x, y):
    return attacks.pgd(model, x, y, eps=0.3, step_size=0.1, num_steps=10, seed=0)


def test_a_copy_is_fooled_like_the_original_and_a_constant_model_never():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (60, 4, 4, 1)).astype("float32")
    source = _mlp(1)
    copy = _mlp(1)  # same seed, same weights
    y = source(x, training=False).numpy().argmax(1)  # the source is right on every image
    targets = {"source": source, "copy": copy, "always 0": _constant(0), "other": _mlp(2)}
    result = transfer.transfer_matrix({"source": source}, targets, x, y, _pgd, eps=0.3)
    rates = dict(zip(result.targets, result.rates[0], strict=True))
    assert rates["source"] == rates["copy"] > 0.5  # white-box success, and the copy is the same model
    np.testing.assert_array_equal(result.fooled[0, 0], result.fooled[0, 1])
    assert rates["always 0"] == 0.0 and result.counts[2] == np.sum(y == 0)
    # by hand, for the independent model: right before, wrong after, over right before
    other = targets["other"]
    x_adv = _pgd(source, x, y)
    before = other(x, training=False).numpy().argmax(1) == y
    after = other(x_adv, training=False).numpy().argmax(1) != y
    assert rates["other"] == pytest.approx((before & after).sum() / before.sum())
    assert "source \\ target" in str(result) and "always 0" in str(result)


def test_a_target_fooled_on_known_images_has_their_rate_and_interval():
    """Eight numbered images of class 0 (tests/test_autoattack.py); the attack raises every image's
    signal past the threshold. The target 'picky' is wrong on image 0 from the start and fooled
    only on images 1, 2 and 5: its rate is 3 of the 7 it classified right (not 3/8, not 4/7 with
    image 0), and its interval is Wilson's for 3 of 7."""

    def picky(x):
        numbers, flipped = image_numbers(x), np.asarray(x)[:, 1, 1, 0] > 0.5
        wrong = (numbers == 0) | (flipped & np.isin(numbers, [1, 2, 5]))
        return np.stack([~wrong, wrong], axis=1).astype(np.float32)

    def raise_signal(model, x, y):
        x_adv = np.array(x)
        x_adv[:, 1, 1, 0] = 0.6
        return x_adv

    x, y = coded_images(8), np.zeros(8, int)
    result = transfer.transfer_matrix(
        {"source": threshold_model}, {"source": threshold_model, "picky": picky}, x, y, raise_signal, eps=0.25
    )
    assert result.counts.tolist() == [8, 7]
    assert result.rates.tolist() == [[1.0, 3 / 7]]
    assert np.flatnonzero(result.fooled[0, 1]).tolist() == [1, 2, 5]
    np.testing.assert_allclose(result.interval("source", "picky"), wilson(3, 7), rtol=1e-9)
    np.testing.assert_allclose(result.interval("source", "source"), wilson(8, 8), rtol=1e-9)


def test_transfer_matrix_checks_its_inputs():
    x = np.zeros((4, 4, 4, 1), "float32")
    with pytest.raises(ValueError, match="at least one source"):
        transfer.transfer_matrix({}, {"a": _mlp(0)}, x, np.zeros(4, int), _pgd)
    with pytest.raises(ValueError, match="labels"):
        transfer.transfer_matrix({"a": _mlp(0)}, {"a": _mlp(0)}, x, np.zeros(3, int), _pgd)
    with pytest.raises(ValueError, match="shaped like x"):
        transfer.transfer_matrix({"a": _mlp(0)}, {"a": _mlp(0)}, x, np.zeros(4, int), lambda m, a, b: a[:2])
    with pytest.raises(ValueError, match="exceed eps"):
        transfer.transfer_matrix(
            {"a": _mlp(0)}, {"a": _mlp(0)}, x, np.zeros(4, int), lambda m, a, b: a + 0.5, eps=0.1
        )


def test_accuracy_vs_queries_counts_an_image_broken_from_its_query_on():
    correct = np.array([True, True, True, False])
    fooled = np.array([True, True, False, True])
    used = np.array([5, 50, 100, 1])
    acc = transfer.accuracy_vs_queries(correct, fooled, used, [1, 5, 49, 50, 100])
    np.testing.assert_allclose(acc, [0.75, 0.5, 0.5, 0.25, 0.25])
    with pytest.raises(ValueError, match="one entry per image"):
        transfer.accuracy_vs_queries(correct, fooled[:2], used, [1])


def test_accuracy_vs_queries_follows_one_square_run():
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 1, (40, 4, 4, 1)).astype("float32")
    model = _mlp(4)
    y = model(x, training=False).numpy().argmax(1)
    x_adv, used = attacks.square_with_queries(model, x, y, eps=0.2, queries=200, seed=0)
    fooled = model(x_adv, training=False).numpy().argmax(1) != y
    budgets = [1, 10, 50, 100, 200]
    curve = transfer.accuracy_vs_queries(np.ones(40, bool), fooled, used, budgets)
    assert curve[0] == 1.0 and curve[-1] == pytest.approx(1 - fooled.mean())
    assert (np.diff(curve) <= 0).all() and curve[-1] < 1
    assert (used[~fooled] == 200).all()  # survivors spent the whole budget
