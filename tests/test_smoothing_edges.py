"""Randomized smoothing at its edges, where mutation testing (make mutation) found it untested: the
smallest and the refused sample sizes and levels, the dtypes and shapes of what it returns, abstaining
on a fair coin, the default budgets, repeatability from a seed, and certified_accuracy. (Certificates,
radii and the attack's strength: tests/test_certify_smoothing.py.)"""

import numpy as np
import pytest

from course_utils.certify import smoothing

from .helpers import linear_model


def recording(model):
    """``model`` called through NumPy, each batch of (noisy) images it sees kept: ``(wrapped, seen)``."""
    seen = []

    def wrapped(x):
        seen.append(np.array(x))
        return model(np.asarray(x))

    return wrapped, seen


def coin(x):
    """Class 0 when the first pixel is positive, else 1: a fair coin for an image of zeros under noise."""
    first = x.reshape(len(x), -1)[:, :1]
    return np.concatenate([first, -first], axis=1)


def sure(x):
    """Class 1 of 3 whatever the image: noise never changes its vote."""
    return np.tile(np.array([[0.0, 1.0, 0.0]], np.float32), (len(x), 1))


ZEROS = np.zeros((1, 2, 2, 1), np.float32)


def test_certified_accuracy_needs_the_right_class_and_a_radius_at_least_the_one_asked():
    classes, radii, y = [0, 1, -1, 2], [0.5, 0.2, 0.0, 0.3], [0, 1, 2, 1]
    assert smoothing.certified_accuracy(classes, radii, y, 0.3) == 0.25
    assert smoothing.certified_accuracy(classes, radii, y, 0.2) == 0.5
    assert smoothing.certified_accuracy(classes, radii, y, 0.5) == 0.25
    assert smoothing.certified_accuracy(classes, radii, y, 0.0) == 0.5


def test_one_noisy_copy_is_enough_and_fewer_is_refused():
    assert smoothing.noise_counts(sure, ZEROS, sigma=0.5, num_samples=1, seed=0).tolist() == [[0, 1, 0]]
    assert smoothing.clopper_pearson_lower(1, 1, 0.01) == pytest.approx(0.01)
    assert smoothing.clopper_pearson_lower(0, 1, 0.01) == 0.0
    assert smoothing.binomial_test_p_value(0, 0) == 1.0
    for n in (0, 2.5):
        with pytest.raises(ValueError, match="noise samples"):
            smoothing.noise_counts(sure, ZEROS, sigma=0.5, num_samples=n, seed=0)
    with pytest.raises(ValueError, match="noise samples"):
        smoothing.max_radius(0.5, 0, 0.01)
    with pytest.raises(ValueError, match="noise samples"):
        smoothing.attack(sure, ZEROS, [1], eps=0.5, sigma=0.5, seed=0, num_noise=0)
    with pytest.raises(ValueError, match="eps"):
        smoothing.attack(sure, ZEROS, [1], eps=0.0, sigma=0.5, seed=0)


@pytest.mark.parametrize("alpha", [0.0, 1.0, 1.5])
def test_alpha_must_lie_strictly_between_0_and_1(alpha):
    with pytest.raises(ValueError, match="alpha"):
        smoothing.predict(sure, ZEROS, sigma=0.5, num_samples=10, alpha=alpha, seed=0)
    with pytest.raises(ValueError, match="alpha"):
        smoothing.clopper_pearson_lower(5, 10, alpha)


def test_counts_are_int64_with_a_column_for_every_class():
    counts = smoothing.noise_counts(
        sure, np.zeros((2, 2, 2, 1), np.float32), sigma=0.5, num_samples=7, seed=0
    )
    assert counts.dtype == np.int64 and counts.tolist() == [[0, 7, 0], [0, 7, 0]]


def test_predict_abstains_on_a_fair_coin_with_its_default_budget_and_level():
    model, seen = recording(coin)
    out = smoothing.predict(model, ZEROS, sigma=1.0, seed=0)  # 1000 copies, alpha = 0.001
    assert out.dtype == np.int64 and out.tolist() == [-1]
    assert sum(len(batch) for batch in seen) == 1000
    assert smoothing.predict(sure, ZEROS, sigma=1.0, num_samples=50, seed=0).tolist() == [1]
    # A p-value equal to alpha is significant (as in Cohen et al.'s code): 2 votes of 2 give exactly 0.5.
    assert smoothing.binomial_test_p_value(2, 2) == 0.5
    assert smoothing.predict(sure, ZEROS, sigma=1.0, num_samples=2, alpha=0.5, seed=0).tolist() == [1]


def test_certify_uses_its_default_budgets_and_returns_int64_classes():
    model, seen = recording(sure)
    classes, radii = smoothing.certify(model, ZEROS, sigma=0.5, seed=0)  # n0 = 100, then 1000 copies
    assert [len(batch) for batch in seen] == [100, 1000]
    assert classes.dtype == np.int64 and classes.tolist() == [1]
    assert radii[0] == pytest.approx(smoothing.max_radius(0.5, 1000, 0.001))


def test_the_same_seed_gives_the_same_noise():
    for run in (
        lambda m: smoothing.predict(m, ZEROS, sigma=0.5, num_samples=20, seed=3),
        lambda m: smoothing.certify(m, ZEROS, sigma=0.5, n0=5, num_samples=20, seed=3),
    ):
        first, second = recording(sure), recording(sure)
        run(first[0]), run(second[0])
        assert len(first[1]) == len(second[1])
        for a, b in zip(first[1], second[1], strict=True):
            np.testing.assert_array_equal(a, b)


def test_the_attack_stays_in_the_pixel_range_repeats_and_takes_the_step_asked():
    model, _, _ = linear_model((2, 2, 1), 3)
    x = np.full((4, 2, 2, 1), 0.95, np.float32)
    y = np.asarray(model(x)).argmax(1)
    a = smoothing.attack(model, x, y, eps=0.5, sigma=0.25, seed=0)  # default pixel range [0, 1]
    assert a.min() >= 0.0 and a.max() <= 1.0 and (a > 0.95 + 1e-3).any()
    np.testing.assert_array_equal(a, smoothing.attack(model, x, y, eps=0.5, sigma=0.25, seed=0))
    x = np.full((4, 2, 2, 1), 0.5, np.float32)
    small = smoothing.attack(model, x, y, eps=0.5, sigma=0.25, seed=0, num_steps=1, step_size=1e-3)
    moved = np.sqrt(((small - x) ** 2).reshape(len(x), -1).sum(1))
    np.testing.assert_allclose(moved, 1e-3, rtol=1e-2)
    assert small.dtype == np.float32
