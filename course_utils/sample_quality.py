"""How good are a generator's samples: distances in a classifier's features, with their references.

:func:`frechet_distance` compares two sets of feature vectors (Heusel et al., 2017: the "FID" when the
features are Inception's). Inception weights cannot be downloaded here, so :class:`FeatureSpace`
uses the penultimate layer of the course's own Fashion-MNIST classifier, and its
:meth:`FeatureSpace.report` always gives the distance with its *floor* (two disjoint halves of real
test images) and its *noise reference* (uniform noise images), plus the entropy of the classes the
classifier sees in the samples (:func:`class_entropy`: mode collapse shows up as low entropy; it is the
marginal-entropy half of Salimans et al.'s 2016 Inception Score). The noise reference is not a ceiling:
the distance is unbounded, and real images of a single class can score above noise. The floor is itself
an estimate from ``n`` images: another set of real images can land slightly below it.
:func:`nearest_neighbours` finds each sample's closest training image, the check for memorisation
that a distance between distributions cannot make.

Every function takes images in ``[0, 1]``, shape ``(N, 28, 28, 1)``.
"""

from __future__ import annotations

import dataclasses
import math

import keras
import numpy as np

from course_utils import evaluation, models


def nearest_neighbours(images, reference) -> tuple[np.ndarray, np.ndarray]:
    """For each image, the index of the closest ``reference`` image (Euclidean, in pixels) and the
    distance: the check that a generator has not simply memorised its training images.

    Args:
        images: ``(N, 28, 28, 1)``; reference: ``(M, 28, 28, 1)``; both in the same range.

    Returns:
        ``(indices (N,), distances (N,))``.
    """
    a = np.asarray(images, np.float32).reshape(len(images), -1)
    b = np.asarray(reference, np.float32).reshape(len(reference), -1)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"images and reference differ in size: {a.shape[1]} vs {b.shape[1]} pixels.")
    d2 = (a**2).sum(1)[:, None] + (b**2).sum(1)[None, :] - 2.0 * a @ b.T  # (N, M), no (N, M, 784) array
    idx = d2.argmin(axis=1)
    return idx, np.sqrt(np.maximum(d2[np.arange(len(a)), idx], 0.0))


def frechet_distance(features_a, features_b) -> float:
    """Fréchet distance between Gaussians fitted to two sets of feature vectors (in float64).

    ``d² = |mu_a - mu_b|² + tr(S_a) + tr(S_b) - 2 tr((S_a^½ S_b S_a^½)^½)``
    (Dowson & Landau, 1982; Heusel et al., 2017). Both square roots are taken of symmetric positive
    semi-definite matrices through an eigen-decomposition with negative round-off eigenvalues set to
    zero, so the result is real and stable for near-singular covariances (fewer samples than
    features, dead ReLU units), where the usual ``scipy.linalg.sqrtm`` of ``S_a S_b`` can return
    complex values.

    Args:
        features_a, features_b: arrays ``(N_a, D)`` and ``(N_b, D)``, ``N >= 2``.

    Returns:
        The squared distance ``d²`` (what is reported as FID), ``>= 0``.
    """
    a, b = np.asarray(features_a, dtype=np.float64), np.asarray(features_b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"Expected two feature arrays (N, D) with the same D, got {a.shape} and {b.shape}.")
    if len(a) < 2 or len(b) < 2:
        raise ValueError("Need at least 2 feature vectors per set to estimate a covariance.")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("Features contain NaN or infinity: check the images and the feature model.")
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root_a = _psd_sqrt(cov_a)
    cross = _psd_sqrt(root_a @ cov_b @ root_a)
    d2 = np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2.0 * np.trace(cross)
    return float(max(d2, 0.0))


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    sym = (matrix + matrix.T) / 2.0
    values, vectors = np.linalg.eigh(sym)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def class_entropy(predicted_classes, num_classes: int = 10) -> float:
    """Entropy (nats) of the histogram of predicted classes: ``ln(num_classes)`` when every class
    is equally frequent, 0 when all samples fall in one class (mode collapse)."""
    counts = np.bincount(np.asarray(predicted_classes, dtype=np.int64).ravel(), minlength=num_classes)
    p = counts[counts > 0] / counts.sum()
    return float(max(0.0, -(p * np.log(p)).sum()))  # max: no "-0.0" for a single class


@dataclasses.dataclass
class QualityReport:
    """Sample quality with its reference points.

    Attributes:
        fid: Fréchet distance between generated and real images, in the classifier's features.
        floor: the same distance between two disjoint halves of real test images (what a perfect
            generator would score with this many samples, up to sampling noise).
        ceiling: the *noise reference*, the distance from uniform noise images (a generator that
            learned nothing); also :attr:`noise_reference`. Not an upper bound: the distance is
            unbounded, and real images of one class can score above it. The attribute keeps its old
            name for the benchmarks that read it.
        class_entropy: entropy (nats) of the classifier's predicted classes on the samples.
        real_class_entropy: the same on real images (about ``ln 10`` = 2.30 for Fashion-MNIST).
        n: images per set.
    """

    fid: float
    floor: float
    ceiling: float
    class_entropy: float
    real_class_entropy: float
    n: int

    @property
    def noise_reference(self) -> float:
        """The distance from uniform noise images (the same number as :attr:`ceiling`)."""
        return self.ceiling

    def __str__(self) -> str:
        return (
            f"Fréchet distance {self.fid:.2f} (floor {self.floor:.2f}: real vs real; noise reference "
            f"{self.ceiling:.1f}: uniform noise), {self.fid / max(self.floor, 1e-12):.1f}× the floor | "
            f"class entropy {self.class_entropy:.3f} nats (real images {self.real_class_entropy:.3f}, max "
            f"{math.log(10):.3f}) | n = {self.n:,}"
        )


class FeatureSpace:
    """The penultimate-layer features of a trained classifier, for Fréchet distances.

    Args:
        classifier: a course CNN (returns logits; has a ``"features"`` layer).
        real_images: real test images ``(N, 28, 28, 1)`` in ``[0, 1]``; split into two disjoint
            halves of ``n`` each (``2n <= N``) with ``seed``.
        n: images per set in every distance (the distance depends on n: compare like with like).
    """

    def __init__(self, classifier: keras.Model, real_images, *, n: int = 5000, seed: int = 0):
        real_images = np.asarray(real_images, dtype="float32")
        if real_images.ndim != 4 or real_images.shape[1:] != models.IMAGE_SHAPE:
            raise ValueError(f"real_images must have shape (N, 28, 28, 1), got {real_images.shape}.")
        if 2 * n > len(real_images):
            raise ValueError(
                f"Need 2n = {2 * n} real images for two disjoint halves, got {len(real_images)}."
            )
        check_pixels(real_images, "real_images")
        self.classifier, self.n = classifier, n
        self._features = models.feature_extractor(classifier)
        order = np.random.default_rng(seed).permutation(len(real_images))
        self.real_a, self.real_b = real_images[order[:n]], real_images[order[n : 2 * n]]
        self.features_a = self.features(self.real_a)
        self._seed = seed
        self._floor = self._ceiling = None

    def features(self, images) -> np.ndarray:
        """float64 features ``(N, D)`` of images in ``[0, 1]``."""
        # Called directly in batches rather than through `predict`: with op determinism on,
        # `predict` on an array whose length is not a multiple of the batch logs an error-level line.
        return np.asarray(evaluation.predict_logits(self._features, images, batch_size=1000), np.float64)

    def predicted_classes(self, images) -> np.ndarray:
        return np.argmax(evaluation.predict_logits(self.classifier, images, batch_size=1000), axis=1)

    def distance(self, images) -> float:
        """Fréchet distance of ``n`` images (``[0, 1]``) to the first real half."""
        images = np.asarray(images, dtype="float32")
        if len(images) != self.n:
            raise ValueError(f"Compare sets of the same size: expected {self.n} images, got {len(images)}.")
        check_pixels(images, "images")
        return frechet_distance(self.features(images), self.features_a)

    @property
    def floor(self) -> float:
        if self._floor is None:
            self._floor = frechet_distance(self.features(self.real_b), self.features_a)
        return self._floor

    @property
    def noise_reference(self) -> float:
        """Fréchet distance of ``n`` uniform noise images to the first real half: a reference for a
        generator that learned nothing, not an upper bound (see :class:`QualityReport`)."""
        return self.ceiling

    @property
    def ceiling(self) -> float:
        """The noise reference under its old name (read by ``benchmarks/gan_quality.py``)."""
        if self._ceiling is None:
            shape = (self.n, *models.IMAGE_SHAPE)
            noise = np.random.default_rng(self._seed + 1).uniform(0, 1, shape).astype("float32")
            self._ceiling = frechet_distance(self.features(noise), self.features_a)
        return self._ceiling

    def report(self, images) -> QualityReport:
        """The :class:`QualityReport` of ``n`` generated images in ``[0, 1]``."""
        return QualityReport(
            fid=self.distance(images),
            floor=self.floor,
            ceiling=self.ceiling,
            class_entropy=class_entropy(self.predicted_classes(images)),
            real_class_entropy=class_entropy(self.predicted_classes(self.real_b)),
            n=self.n,
        )


def check_pixels(images: np.ndarray, what: str) -> None:
    """Raise a ValueError that says what to do unless ``images`` are pixels in ``[0, 1]``."""
    lo, hi = float(images.min()), float(images.max())
    if lo < -1e-6 or hi > 1 + 1e-6:
        raise ValueError(
            f"{what} must be pixels in [0, 1], got values in [{lo:.3g}, {hi:.3g}]. Images from the "
            "generator's tanh are in [-1, 1]: convert them with gan.to_pixel_range, or draw them "
            "with gan.sample."
        )
