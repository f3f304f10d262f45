"""Tests for course_utils.gan_dynamics: closed forms of the bilinear game, and the ring's coverage
against the Gaussian's known mass."""

import math

import numpy as np
import pytest

from course_utils import gan_dynamics as gd


# ------------------------------------------------------------------------------- bilinear game
@pytest.mark.parametrize("lr", [0.05, 0.2, 0.5])
def test_simultaneous_steps_spiral_out_at_the_closed_form_rate(lr):
    path = gd.bilinear_game(0.3, -0.7, lr=lr, steps=40, method="simultaneous")
    radius = np.linalg.norm(path, axis=1)
    np.testing.assert_allclose(radius, radius[0] * (1 + lr**2) ** (np.arange(41) / 2), rtol=1e-10)


@pytest.mark.parametrize("lr", [0.05, 0.2, 1.5])
def test_alternating_steps_keep_their_invariant_and_stay_bounded(lr):
    path = gd.bilinear_game(1.0, 0.5, lr=lr, steps=2000, method="alternating")
    x, y = path[:, 0], path[:, 1]
    np.testing.assert_allclose(x**2 + y**2 - lr * x * y, 1.0 + 0.25 - lr * 0.5, rtol=1e-9)
    assert np.linalg.norm(path, axis=1).max() < 10  # circles, neither in nor out
    assert np.linalg.norm(path[-1]) > 0.5


@pytest.mark.parametrize("lr", [0.1, 0.5, 0.9])
def test_extragradient_spirals_in_at_the_closed_form_rate(lr):
    path = gd.bilinear_game(1.0, 1.0, lr=lr, steps=30, method="extragradient")
    radius = np.linalg.norm(path, axis=1)
    np.testing.assert_allclose(radius, radius[0] * (1 - lr**2 + lr**4) ** (np.arange(31) / 2), rtol=1e-10)


def test_bilinear_game_refuses_unknown_methods_and_bad_rates():
    with pytest.raises(ValueError, match="simultaneous"):
        gd.bilinear_game(1, 1, lr=0.1, steps=5, method="adam")
    with pytest.raises(ValueError, match="lr > 0"):
        gd.bilinear_game(1, 1, lr=0.0, steps=5)


# ------------------------------------------------------------------------------------- the ring
def test_ring_samples_sit_at_their_modes():
    points, mode = gd.ring_of_gaussians(4000, rng=np.random.default_rng(0))
    assert points.shape == (4000, 2) and points.dtype == np.float32
    nearest = np.linalg.norm(points[:, None] - gd.ring_centres()[None], axis=2).argmin(axis=1)
    np.testing.assert_array_equal(nearest, mode)
    np.testing.assert_allclose(np.bincount(mode) / 4000, 1 / 8, atol=0.02)


def test_real_data_covers_every_mode_with_the_gaussians_known_mass():
    points, _ = gd.ring_of_gaussians(40_000, rng=np.random.default_rng(1))
    coverage = gd.mode_coverage(points)
    assert coverage.modes_covered == 8
    # A 2-D standard Gaussian puts 1 - exp(-r**2 / 2) of its mass within radius r: 98.89 % for r = 3.
    assert coverage.high_quality == pytest.approx(1 - math.exp(-4.5), abs=0.003)
    assert coverage.counts.sum() == pytest.approx(coverage.high_quality * 40_000)
    assert coverage.largest_share == pytest.approx(1 / 8, abs=0.01)


def test_a_collapsed_generator_covers_one_mode_and_noise_covers_none():
    centre = gd.ring_centres()[3]
    collapsed = gd.mode_coverage(np.tile(centre, (500, 1)))
    assert collapsed.modes_covered == 1 and collapsed.high_quality == 1.0 and collapsed.counts[3] == 500
    assert collapsed.largest_share == 1.0
    noise = gd.mode_coverage(np.random.default_rng(0).uniform(-0.5, 0.5, (500, 2)))
    assert noise.modes_covered == 0 and noise.high_quality == 0.0
    assert "1/8 modes" in str(collapsed)


def test_coverage_refuses_points_that_are_not_2d():
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        gd.mode_coverage(np.zeros((10, 3)))


def test_ring_needs_a_generator_not_a_seed():
    with pytest.raises(TypeError, match="default_rng"):
        gd.ring_of_gaussians(10, rng=0)
