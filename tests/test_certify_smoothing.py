"""Randomized smoothing against known answers: the exact Clopper–Pearson bound and binomial test,
and a linear classifier, whose smoothed version is itself and whose certified radius is exactly its
distance to the decision boundary (Cohen et al., 2019)."""

import math
import statistics
from fractions import Fraction

import numpy as np
import pytest

from course_utils.certify import smoothing

from .helpers import hyperplane_logits, unit_normal

W = unit_normal()  # unit length: the distance to the boundary is |w.x + b|
B = -0.1
# Logits (0, w.x + b): class 1 on one side of a hyperplane, class 0 on the other.
linear = hyperplane_logits(W, B)


def _images(scores):
    """Images at signed distances ``scores`` from the boundary (moved along w from a point on it)."""
    base = np.full((4, 4, 1), 0.5, np.float32)
    base += (B * -1 - float((base * W).sum())) * W  # now w.base + b = 0
    return np.stack([base + s * W for s in scores]).astype(np.float32)


def _exact_tail(k, n, p):
    p = Fraction(p)
    return float(sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k, n + 1)))


@pytest.mark.parametrize(("k", "n"), [(1, 10), (7, 10), (55, 60), (990, 1000)])
def test_clopper_pearson_lower_bound_has_tail_alpha(k, n):
    alpha = 0.01
    low = smoothing.clopper_pearson_lower(k, n, alpha)
    assert 0 < low < k / n
    assert _exact_tail(k, n, low) == pytest.approx(alpha, rel=1e-6)


def test_clopper_pearson_ends():
    assert smoothing.clopper_pearson_lower(0, 50, 0.05) == 0.0
    assert smoothing.clopper_pearson_lower(50, 50, 0.05) == pytest.approx(0.05 ** (1 / 50))
    more = [smoothing.clopper_pearson_lower(k, 100, 0.01) for k in (60, 80, 99)]
    assert more == sorted(more)


def test_binomial_test_p_values():
    assert smoothing.binomial_test_p_value(10, 10) == pytest.approx(2 / 1024)
    assert smoothing.binomial_test_p_value(0, 10) == pytest.approx(2 / 1024)
    assert smoothing.binomial_test_p_value(5, 10) == 1.0
    assert smoothing.binomial_test_p_value(8, 10) == pytest.approx(2 * (45 + 10 + 1) / 1024)


def test_certified_radius_of_a_linear_classifier_is_its_distance_to_the_boundary():
    distances = np.array([-0.2, 0.05, 0.1, 0.2, 0.4])
    x = _images(distances)
    sigma = 0.25
    classes, radii = smoothing.certify(
        linear, x, sigma=sigma, n0=100, num_samples=20_000, alpha=0.001, seed=0
    )
    np.testing.assert_array_equal(classes, (distances > 0).astype(int))
    assert (radii <= np.abs(distances) + 1e-9).all()  # never more than the truth (prob >= 1 - alpha)
    assert (radii >= np.abs(distances) - 0.02).all()  # and close to it with 20,000 samples
    assert radii.max() <= smoothing.max_radius(sigma, 20_000, 0.001)


def test_abstain_near_the_boundary_and_decide_far_from_it():
    x = _images([0.0, 0.3, -0.3])
    out = smoothing.predict(linear, x, sigma=0.25, num_samples=2_000, alpha=0.001, seed=1)
    assert out[1] == 1 and out[2] == 0
    classes, radii = smoothing.certify(linear, x[:1], sigma=0.25, n0=50, num_samples=500, alpha=0.001, seed=1)
    assert classes[0] == -1 and radii[0] == 0.0


def test_max_radius_is_reached_when_every_vote_agrees():
    x = _images([3.0])  # twelve sigmas from the boundary: every noisy copy votes class 1
    classes, radii = smoothing.certify(linear, x, sigma=0.25, n0=20, num_samples=1000, alpha=0.001, seed=2)
    expected = 0.25 * statistics.NormalDist().inv_cdf(0.001 ** (1 / 1000))
    assert classes[0] == 1 and radii[0] == pytest.approx(expected)
    assert smoothing.max_radius(0.25, 1000, 0.001) == pytest.approx(expected)


def test_same_seed_same_certificates_and_global_state_untouched():
    x = _images([0.1, 0.15])
    state = np.random.get_state()  # noqa: NPY002
    first = smoothing.certify(linear, x, sigma=0.25, n0=50, num_samples=300, alpha=0.01, seed=7)
    second = smoothing.certify(linear, x, sigma=0.25, n0=50, num_samples=300, alpha=0.01,
                               seed=np.random.default_rng(7))  # fmt: skip
    np.testing.assert_array_equal(first[1], second[1])
    assert np.random.get_state()[1].tolist() == state[1].tolist()  # noqa: NPY002
    counts = smoothing.noise_counts(linear, x, sigma=0.25, num_samples=300, seed=0, batch_size=64)
    assert counts.shape == (2, 2) and (counts.sum(1) == 300).all()


def test_attack_on_the_smoothed_classifier_crosses_the_boundary_within_its_budget():
    distances = np.array([0.1, 0.2, 0.6])
    x = _images(distances)
    y = np.ones(3, dtype=int)
    x_adv = smoothing.attack(linear, x, y, eps=0.35, sigma=0.25, seed=0, num_steps=10, num_noise=8)
    lengths = np.sqrt(((x_adv - x) ** 2).sum(axis=(1, 2, 3)))
    assert (lengths <= 0.35 + 1e-5).all() and x_adv.min() >= 0 and x_adv.max() <= 1
    after = smoothing.predict(linear, x_adv, sigma=0.25, num_samples=2_000, alpha=0.001, seed=3)
    # The smoothed linear classifier is the linear classifier: within 0.35 of the boundary it flips.
    assert after[0] == 0 and after[1] == 0 and after[2] == 1


def test_bad_arguments_are_clear_errors():
    x = _images([0.1])
    with pytest.raises(ValueError, match="sigma"):
        smoothing.certify(linear, x, sigma=0, seed=0)
    with pytest.raises(ValueError, match="alpha"):
        smoothing.certify(linear, x, sigma=0.25, alpha=1.5, seed=0)
    with pytest.raises(ValueError, match="default_rng"):
        smoothing.certify(linear, x, sigma=0.25, seed="seed")
    with pytest.raises(ValueError, match="0 <= k <= n"):
        smoothing.clopper_pearson_lower(5, 3, 0.01)


def test_certify_selects_on_n0_copies_and_estimates_on_n_fresh_ones():
    """Cohen et al.'s CERTIFY keeps its two samples apart: the class is picked on the first n0 noisy
    copies, its probability estimated on num_samples others. A base classifier that answers class 0
    for exactly the first n0 copies it sees, and class 1 after, must be abstained on: the class the
    selection picks never wins the estimate. Estimating on the selection sample would certify it."""
    seen = []

    def first_copies_say_zero(x):
        x = np.asarray(x)
        start = sum(seen)
        seen.append(len(x))
        index = np.arange(start, start + len(x))
        return np.stack([(index < 7).astype(np.float32), (index >= 7).astype(np.float32)], axis=1)

    classes, radii = smoothing.certify(
        first_copies_say_zero, _images([2.0]), sigma=0.25, n0=7, num_samples=50, seed=0
    )
    assert sum(seen) == 7 + 50  # each sample drawn once, the selection first
    assert classes.tolist() == [-1] and radii.tolist() == [0.0]


def test_the_binomial_test_and_the_bound_at_their_edges():
    """Known values by hand: two-sided p of 9 heads in 10 tosses is 2 (C(10,9) + C(10,10)) / 2^10;
    no trial gives no evidence (p = 1); k = n gives the bound alpha^(1/n), one trial included."""
    assert smoothing.binomial_test_p_value(9, 10) == pytest.approx(22 / 1024, rel=1e-12)
    assert smoothing.binomial_test_p_value(5, 10) == 1.0
    assert smoothing.binomial_test_p_value(0, 0) == 1.0
    assert smoothing.clopper_pearson_lower(1, 1, 0.05) == pytest.approx(0.05, rel=1e-9)
    assert smoothing.clopper_pearson_lower(10, 10, 0.001) == pytest.approx(0.001**0.1, rel=1e-9)
    assert smoothing.clopper_pearson_lower(0, 7, 0.01) == 0.0


@pytest.mark.parametrize("alpha", [0.0, 1.0, 1.5])
def test_alpha_must_lie_strictly_between_0_and_1(alpha):
    x = _images([0.5])
    with pytest.raises(ValueError, match="alpha"):
        smoothing.predict(linear, x, sigma=0.25, num_samples=10, alpha=alpha, seed=0)
    with pytest.raises(ValueError, match="alpha"):
        smoothing.clopper_pearson_lower(3, 5, alpha)


def test_one_noisy_copy_is_the_fewest_allowed():
    x = _images([2.0])
    assert smoothing.noise_counts(linear, x, sigma=0.25, num_samples=1, seed=0).sum() == 1
    for bad in (0, 2.5):
        with pytest.raises(ValueError, match="number of noise samples must be a positive integer"):
            smoothing.noise_counts(linear, x, sigma=0.25, num_samples=bad, seed=0)


def test_predict_abstains_with_minus_one_on_the_boundary():
    """PREDICT (Cohen et al.) tests the top class's count against the runner-up's, nA out of
    nA + nB, and answers -1 (abstain) when the test cannot reject a tie: on the decision boundary
    the votes split evenly; two units away they are unanimous."""
    classes = smoothing.predict(
        linear, _images([0.0, 2.0]), sigma=0.25, num_samples=1000, alpha=0.001, seed=0
    )
    assert classes.dtype == np.int64
    np.testing.assert_array_equal(classes, [-1, 1])


def test_certified_accuracy_counts_the_right_class_at_the_radius_or_more():
    # right at 0.5 >= 0.2; right but 0.9 for the wrong class; abstained; right at exactly 0.2; right at 0.1
    classes, radii, y = [1, 0, -1, 2, 3], [0.5, 0.9, 0.0, 0.2, 0.1], [1, 1, 0, 2, 3]
    assert smoothing.certified_accuracy(classes, radii, y, 0.2) == pytest.approx(2 / 5)
    assert smoothing.certified_accuracy(classes, radii, y, 0.0) == pytest.approx(3 / 5)


def test_the_same_seed_gives_the_same_answers():
    """Every draw comes from ``seed``: PREDICT, CERTIFY (its selection sample too) and the attack on
    the smoothed classifier repeat exactly, with an int or with equal Generators."""
    x = _images([0.3, 0.4, -0.35])
    y = np.array([1, 1, 0])
    for seed in (5, 11):
        # 30 images where PREDICT abstains about half the time: other draws would not repeat all 30.
        edge = _images([0.088] * 30)
        once = smoothing.predict(linear, edge, sigma=0.5, num_samples=200, alpha=0.05, seed=seed)
        assert 5 < (once == -1).sum() < 25
        again = smoothing.predict(linear, edge, sigma=0.5, num_samples=200, alpha=0.05, seed=seed)
        np.testing.assert_array_equal(once, again)

        a = smoothing.certify(linear, x, sigma=0.5, n0=5, num_samples=200, alpha=0.05, seed=seed)
        b = smoothing.certify(
            linear, x, sigma=0.5, n0=5, num_samples=200, alpha=0.05, seed=np.random.default_rng(seed)
        )
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
        adv = smoothing.attack(linear, x, y, eps=0.3, sigma=0.25, seed=seed, num_steps=3, num_noise=4)
        np.testing.assert_array_equal(
            adv, smoothing.attack(linear, x, y, eps=0.3, sigma=0.25, seed=seed, num_steps=3, num_noise=4)
        )
    # The default step is 2.5 eps / num_steps.
    np.testing.assert_array_equal(
        smoothing.attack(linear, x, y, eps=0.3, sigma=0.25, seed=1, num_steps=3, num_noise=4),
        smoothing.attack(linear, x, y, eps=0.3, sigma=0.25, seed=1, num_steps=3, num_noise=4, step_size=0.25),
    )
    with pytest.raises(ValueError, match="eps"):
        smoothing.attack(linear, x, y, eps=0.0, sigma=0.25, seed=0)
