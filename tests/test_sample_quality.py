"""Tests for course_utils.sample_quality: the Fréchet distance against closed forms and an
independent eigenvalue route, class entropy's known answers, the feature space's references, and
nearest neighbours."""

import math

import numpy as np
import pytest

from course_utils import config, models, sample_quality


def test_frechet_distance_of_a_set_with_itself_is_zero():
    f = np.random.default_rng(0).standard_normal((500, 6))
    assert sample_quality.frechet_distance(f, f) == pytest.approx(0.0, abs=1e-9)


def test_frechet_distance_matches_the_closed_form_for_diagonal_covariances():
    # For diagonal covariances d² = |mu_a - mu_b|² + sum_i (sqrt(var_a_i) - sqrt(var_b_i))².
    rng = np.random.default_rng(1)
    # samples whose sample mean and covariance are exactly the chosen ones
    a = _exact_moments(rng.standard_normal((400, 3)), [0.0, 1.0, 0.0], [1.0, 2.0, 0.5])
    b = _exact_moments(rng.standard_normal((400, 3)), [1.0, 0.0, 2.0], [3.0, 1.0, 0.5])
    expected = (1 + 1 + 4) + (2.0**2 + 1.0**2 + 0.0)
    assert sample_quality.frechet_distance(a, b) == pytest.approx(expected, rel=1e-9)


def _exact_moments(x, mean, std):
    """Transform samples so that their sample mean and covariance are exactly mean, diag(std²)."""
    centred = x - x.mean(0)
    cov = np.cov(centred, rowvar=False)
    values, vectors = np.linalg.eigh(cov)
    whitened = centred @ vectors @ np.diag(values**-0.5) @ vectors.T
    return whitened * std + mean


def test_frechet_distance_matches_the_eigenvalue_formula_for_general_covariances():
    # tr((S_a^½ S_b S_a^½)^½) = sum of sqrt(eigenvalues of S_a S_b): an independent route.
    rng = np.random.default_rng(2)
    a = rng.standard_normal((300, 5)) @ rng.standard_normal((5, 5))
    b = rng.standard_normal((300, 5)) @ rng.standard_normal((5, 5)) + 0.3
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    cross = np.sum(np.sqrt(np.linalg.eigvals(cov_a @ cov_b).real))
    expected = np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2 * cross
    assert sample_quality.frechet_distance(a, b) == pytest.approx(expected, rel=1e-8)
    # symmetric, and invariant under a rotation of the feature space
    distance = sample_quality.frechet_distance
    assert distance(b, a) == pytest.approx(distance(a, b), rel=1e-8)
    q, _ = np.linalg.qr(rng.standard_normal((5, 5)))
    assert distance(a @ q, b @ q) == pytest.approx(distance(a, b), rel=1e-8)


def test_frechet_distance_is_real_and_finite_for_singular_covariances():
    rng = np.random.default_rng(3)
    a = np.zeros((20, 50))  # fewer samples than features, and dead units
    a[:, :10] = rng.standard_normal((20, 10))
    b = np.zeros((20, 50))
    b[:, 5:15] = rng.standard_normal((20, 10))
    d = sample_quality.frechet_distance(a, b)
    # the eigenvalue route (the products' eigenvalues here are real and >= 0 up to rounding)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    cross = np.sum(np.sqrt(np.clip(np.linalg.eigvals(cov_a @ cov_b).real, 0, None)))
    expected = np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2 * cross
    assert isinstance(d, float) and d == pytest.approx(expected, rel=1e-6)


def test_frechet_distance_rejects_bad_input():
    f = np.zeros((10, 3))
    with pytest.raises(ValueError, match="same D"):
        sample_quality.frechet_distance(f, np.zeros((10, 4)))
    with pytest.raises(ValueError, match="at least 2"):
        sample_quality.frechet_distance(f[:1], f)
    g = f.copy()
    g[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        sample_quality.frechet_distance(f, g)


def test_class_entropy_known_answers():
    assert sample_quality.class_entropy(np.arange(100) % 10) == pytest.approx(math.log(10))
    assert str(sample_quality.class_entropy(np.full(50, 3))) == "0.0"  # not -0.0
    assert sample_quality.class_entropy([0, 1]) == pytest.approx(math.log(2))


def test_feature_space_floor_noise_reference_and_input_checks():
    """The references of a feature space, and the class entropy of a report: that of the classifier's
    predictions on the samples, counted here by hand, and 0 for 40 copies of one image (a collapsed
    generator), whose report still carries the real images' entropy."""
    with config.seeded(4):  # weights whose predictions on the real images spread over 3 classes
        classifier = models.build_cnn((4,), dense_units=8, name="cnn")
    rng = np.random.default_rng(0)
    real = rng.uniform(0, 0.5, (80, 28, 28, 1)).astype("float32")
    real[:, 8:20, 8:20] += 0.5  # a bright square in every "real" image
    space = sample_quality.FeatureSpace(classifier, real, n=40, seed=0)
    assert space.distance(space.real_b) == pytest.approx(space.floor)
    assert space.floor < space.ceiling
    report = space.report(space.real_b)
    assert report.fid == pytest.approx(report.floor) and report.n == 40
    share = np.bincount(np.asarray(classifier(space.real_b, training=False)).argmax(1)) / 40
    share = share[share > 0]
    assert len(share) > 1 and report.class_entropy == pytest.approx(-(share * np.log(share)).sum(), rel=1e-9)
    collapsed = space.report(np.full((40, 28, 28, 1), 0.5, np.float32))
    assert collapsed.class_entropy == 0.0 and collapsed.real_class_entropy == report.class_entropy
    assert "floor" in str(report) and "noise reference" in str(report) and "ceiling" not in str(report)
    assert report.noise_reference == report.ceiling == space.noise_reference == space.ceiling
    with pytest.raises(ValueError, match="to_pixel_range"):
        space.distance(real[:40] * 2 - 1)
    with pytest.raises(ValueError, match="same size"):
        space.distance(real[:10])
    with pytest.raises(ValueError, match="two disjoint halves"):
        sample_quality.FeatureSpace(classifier, real, n=41)


def test_nearest_neighbours_finds_the_copy():
    rng = np.random.default_rng(0)
    reference = rng.uniform(0, 1, (50, 28, 28, 1)).astype("float32")
    images = reference[[7, 3]] + 0.01
    idx, dist = sample_quality.nearest_neighbours(images, reference)
    np.testing.assert_array_equal(idx, [7, 3])
    np.testing.assert_allclose(dist, 0.01 * 28, rtol=1e-3)
