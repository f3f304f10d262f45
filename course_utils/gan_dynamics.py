"""GAN training dynamics on problems small enough to watch: a bilinear game and a ring of Gaussians.

Two pieces, each used by the GAN-dynamics notebook (the small GANs trained on the ring are in
:mod:`course_utils.toy_gan`):

- :func:`bilinear_game`: gradient play on ``min_x max_y x*y``, whose only equilibrium is ``(0, 0)``.
  Simultaneous steps spiral out (the distance to the equilibrium grows by exactly
  ``sqrt(1 + lr**2)`` per step), alternating steps circle for ever, extragradient steps spiral in.
- :func:`ring_of_gaussians` and :func:`mode_coverage`: the 2-D benchmark of Metz et al. (2017,
  unrolled GANs) and Srivastava et al. (2017, VEEGAN): eight Gaussians of standard deviation 0.02 on
  a circle of radius 2. A sample is *high quality* if it lies within three standard deviations of a
  centre; a mode is *covered* if at least 0.8 % of the samples are high-quality samples of it
  (VEEGAN's 20 of 2,500).

Randomness is passed in (:func:`ring_of_gaussians` takes a NumPy generator); nothing here touches
global random state.
"""

from __future__ import annotations

import dataclasses

import numpy as np

RING_MODES = 8
RING_RADIUS = 2.0
RING_STD = 0.02
COVERED_SHARE = 20 / 2500  # VEEGAN: a mode with fewer than 20 of 2,500 samples is lost


# ---------------------------------------------------------------------------- the bilinear game
def bilinear_game(x0: float, y0: float, *, lr: float, steps: int, method: str = "simultaneous") -> np.ndarray:
    """Gradient play on ``f(x, y) = x * y``: ``x`` descends, ``y`` ascends; the equilibrium is ``(0, 0)``.

    Methods (with ``gx = df/dx = y`` and ``gy = df/dy = x``):

    - ``"simultaneous"``: both players step from the same point,
      ``x' = x - lr*y``, ``y' = y + lr*x``. The distance to ``(0, 0)`` grows by ``sqrt(1 + lr**2)``
      every step: it spirals out for every ``lr > 0``.
    - ``"alternating"``: ``x`` steps first, ``y`` answers the new ``x``: ``y' = y + lr*x'``. The map has
      determinant 1 and, for ``lr < 2``, eigenvalues on the unit circle: it keeps
      ``x**2 + y**2 - lr*x*y`` constant and circles for ever, never arriving.
    - ``"extragradient"`` (Korpelevich, 1976): a look-ahead step, then the real step with the
      gradients of the look-ahead point. The distance shrinks by ``sqrt(1 - lr**2 + lr**4)``: it
      spirals in for ``0 < lr < 1``.

    Returns:
        The trajectory, shape ``(steps + 1, 2)``: ``(x, y)`` before the first step, then after each.
    """
    if method not in ("simultaneous", "alternating", "extragradient"):
        raise ValueError(f"method must be 'simultaneous', 'alternating' or 'extragradient', got {method!r}.")
    if not lr > 0 or steps < 0:
        raise ValueError(f"Need lr > 0 and steps >= 0, got lr={lr}, steps={steps}.")
    path = np.empty((steps + 1, 2))
    x, y = float(x0), float(y0)
    path[0] = x, y
    for t in range(1, steps + 1):
        if method == "simultaneous":
            x, y = x - lr * y, y + lr * x
        elif method == "alternating":
            x = x - lr * y
            y = y + lr * x
        else:
            x_half, y_half = x - lr * y, y + lr * x
            x, y = x - lr * y_half, y + lr * x_half
        path[t] = x, y
    return path


# ------------------------------------------------------------------------------ the ring of modes
def ring_centres(modes: int = RING_MODES, radius: float = RING_RADIUS) -> np.ndarray:
    """The modes' centres, shape ``(modes, 2)``, evenly spaced on a circle, the first at ``(radius, 0)``."""
    angles = 2 * np.pi * np.arange(modes) / modes
    return radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def ring_of_gaussians(
    n: int,
    *,
    rng: np.random.Generator,
    modes: int = RING_MODES,
    radius: float = RING_RADIUS,
    std: float = RING_STD,
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points from an equal mixture of ``modes`` Gaussians on a circle.

    Returns:
        ``(points, mode)``: ``points`` float32 of shape ``(n, 2)``, ``mode`` the index of each point's
        Gaussian, int of shape ``(n,)``.
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError("rng must be a numpy Generator: pass np.random.default_rng(seed).")
    mode = rng.integers(0, modes, size=n)
    points = ring_centres(modes, radius)[mode] + std * rng.standard_normal((n, 2))
    return points.astype("float32"), mode


@dataclasses.dataclass(frozen=True)
class Coverage:
    """How a set of 2-D samples covers the ring (see :func:`mode_coverage`).

    Attributes:
        counts: high-quality samples near each mode, shape ``(modes,)``.
        n: number of samples judged.
        high_quality: share of all samples within ``quality_stds`` standard deviations of a centre.
        covered: which modes have at least ``covered_share`` of the samples as high-quality samples,
            boolean of shape ``(modes,)``.
        largest_share: the largest share of *all* samples (good or not) that have the same nearest
            mode: 1/8 when the mass is spread evenly, 1 when everything collapsed towards one mode.
    """

    counts: np.ndarray
    n: int
    high_quality: float
    covered: np.ndarray
    largest_share: float

    @property
    def modes_covered(self) -> int:
        """How many modes are covered."""
        return int(self.covered.sum())

    def __str__(self):
        return f"{self.modes_covered}/{len(self.counts)} modes, {self.high_quality:.0%} high quality"


def mode_coverage(
    samples,
    *,
    modes: int = RING_MODES,
    radius: float = RING_RADIUS,
    std: float = RING_STD,
    quality_stds: float = 3.0,
    covered_share: float = COVERED_SHARE,
) -> Coverage:
    """Judge ``samples`` of shape ``(n, 2)`` against the ring: which are near a mode, which modes are hit."""
    samples = np.asarray(samples, dtype="float64")
    if samples.ndim != 2 or samples.shape[1] != 2 or len(samples) == 0:
        raise ValueError(
            f"samples must be a non-empty array of 2-D points, shape (n, 2), got {samples.shape}."
        )
    distances = np.linalg.norm(samples[:, None, :] - ring_centres(modes, radius)[None], axis=2)
    nearest = distances.argmin(axis=1)
    good = distances[np.arange(len(samples)), nearest] <= quality_stds * std
    counts = np.bincount(nearest[good], minlength=modes)
    return Coverage(
        counts=counts,
        n=len(samples),
        high_quality=float(good.mean()),
        covered=counts >= covered_share * len(samples),
        largest_share=float(np.bincount(nearest, minlength=modes).max() / len(samples)),
    )
