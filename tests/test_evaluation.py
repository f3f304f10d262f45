"""Measuring classifiers: predictions, accuracy and its confidence interval, confusion matrices,
accuracy under attack with every batch checked."""

import numpy as np
import pytest

from course_utils import evaluation, models

# test_robustness.py imports these two from here (issue 28: to move to helpers with its next edit)
from .helpers import data_for, reachable_linear_model


def test_confusion_matrix_known_answer():
    m = evaluation.confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 2, 0], num_classes=3)
    np.testing.assert_array_equal(m, [[1, 1, 0], [0, 1, 0], [1, 0, 2]])
    assert m.sum() == 6


def test_softmax_is_stable_and_normalised():
    p = evaluation.softmax(np.array([[1000.0, 1000.0], [0.0, np.log(3.0)]]))
    np.testing.assert_allclose(p, [[0.5, 0.5], [0.25, 0.75]], rtol=1e-6)


def test_most_confident_mistakes_order():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.05, 0.95]])
    y = np.array([1, 1, 1, 0])
    np.testing.assert_array_equal(evaluation.most_confident_mistakes(probs, y, k=5), [3, 0, 2])


def test_accuracy_and_batched_predictions_agree():
    model = models.build_mlp((4,))
    x = np.random.default_rng(0).random((10, 28, 28, 1), dtype=np.float32)
    logits = evaluation.predict_logits(model, x, batch_size=3)
    np.testing.assert_allclose(logits, np.asarray(model(x)), rtol=1e-5, atol=1e-6)
    y = logits.argmax(axis=1)
    assert evaluation.accuracy(model, x, y, batch_size=4) == 1.0
    with pytest.raises(ValueError, match="one label per image"):
        evaluation.accuracy(model, x, y[:-1])
    # One-hot labels of 10 images used to compare 10 x 10 entries and return a meaningless share.
    with pytest.raises(ValueError, match="one-hot"):
        evaluation.accuracy(model, x, np.eye(10)[y])


# ---------------------------------------------------------------- robustness evaluation


def test_check_adversarial_accepts_valid_and_names_every_problem():
    x = np.full((3, 2, 2, 1), 0.5, dtype=np.float32)
    evaluation.check_adversarial(x, x + np.float32(0.1), eps=0.1)
    evaluation.check_adversarial(x, x + np.float32(0.05), eps=0.2, norm=2)
    bad = x.copy()
    bad[0] += 0.3
    bad[1, 0, 0, 0] = 1.5
    bad[2, 0, 0, 0] = np.nan
    with pytest.raises(ValueError) as err:
        evaluation.check_adversarial(x, bad, eps=0.1)
    message = str(err.value)
    assert "1 image(s) contain NaN" in message
    assert "outside [0.0, 1.0]" in message
    assert "2 perturbation(s) exceed eps=0.1" in message
    with pytest.raises(ValueError, match="float32"):
        evaluation.check_adversarial(x, x.astype(np.float64), eps=0.1)
    with pytest.raises(ValueError, match="shape"):
        evaluation.check_adversarial(x, x[:2], eps=0.1)


def test_robust_accuracy_clean_identity_and_validation():
    model = reachable_linear_model()
    x, y = data_for(model)
    y[:15] = (y[:15] + 1) % 3  # a quarter of the labels are wrong
    clean = evaluation.robust_accuracy(model, x, y, batch_size=7, progress=False)
    assert clean.accuracy == evaluation.accuracy(model, x, y) == 0.75
    assert clean.correct.sum() == 45
    same = evaluation.robust_accuracy(model, x, y, lambda xb, yb: xb, eps=0.1, batch_size=7, progress=False)
    np.testing.assert_array_equal(same.correct, clean.correct)
    with pytest.raises(ValueError, match="exceed eps"):
        evaluation.robust_accuracy(
            model, x, y, lambda xb, yb: np.clip(xb + 0.5, 0, 1), eps=0.1, progress=False
        )
    with pytest.raises(ValueError, match="matching"):
        evaluation.robust_accuracy(model, x, y[:-1], progress=False)


def test_wilson_interval_known_values_and_symmetry():
    # Newcombe (1998), "Two-sided confidence intervals for the single proportion", Table I (Wilson).
    np.testing.assert_allclose(evaluation.confidence_interval(81, 263), (0.2553, 0.3662), atol=5e-5)
    np.testing.assert_allclose(evaluation.confidence_interval(15, 148), (0.0624, 0.1605), atol=5e-5)
    np.testing.assert_allclose(evaluation.confidence_interval(0, 20), (0.0, 0.1611), atol=5e-5)
    assert evaluation.confidence_interval(0, 1000)[0] == 0.0
    assert evaluation.confidence_interval(9, 9)[1] == 1.0
    for k, n in ((0, 7), (3, 10), (750, 1000), (10_000, 10_000)):
        low, high = evaluation.confidence_interval(k, n)
        mirror = evaluation.confidence_interval(n - k, n)
        assert 0 <= low <= k / n <= high <= 1
        np.testing.assert_allclose((low, high), (1 - mirror[1], 1 - mirror[0]), atol=1e-12)
    low, high = evaluation.confidence_interval(750, 1000)
    assert 0.026 < (high - low) / 2 < 0.028  # about ±2.7 points, as the docs say
    wider = evaluation.confidence_interval(750, 1000, level=0.99)
    assert wider[0] < low and wider[1] > high
    with pytest.raises(ValueError, match="correct"):
        evaluation.confidence_interval(11, 10)
    with pytest.raises(ValueError, match="level"):
        evaluation.confidence_interval(5, 10, level=95)


def test_attack_result_reports_its_interval():
    correct = np.array([True] * 75 + [False] * 25)
    row = evaluation.AttackResult("PGD-20", 0.1, 0.75, correct, 1.0, "pgd")
    assert row.n == 100 and row.interval == evaluation.confidence_interval(75, 100)
    assert str(row).startswith("PGD-20 at eps=0.1: 75.00 % [65.7, 82.5]")


def test_predictions_of_a_plain_function():
    model = reachable_linear_model()
    x, y = data_for(model)
    plain = lambda images: model(images) * 2.0  # noqa: E731  (no `training` argument)
    np.testing.assert_allclose(evaluation.predict_logits(plain, x), 2 * np.asarray(model(x)), rtol=1e-6)
    assert evaluation.robust_accuracy(plain, x, y, progress=False).accuracy == 1.0
