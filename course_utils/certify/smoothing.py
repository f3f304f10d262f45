"""Randomized smoothing (Cohen, Rosenfeld & Kolter, 2019): an L2 certificate for any classifier,
with high probability instead of with certainty.

The *smoothed* classifier ``g(x) = argmax_c P(f(x + δ) = c)``, ``δ ~ N(0, σ² I)``, is the base
classifier ``f``'s majority vote under Gaussian noise. If the top class has probability at least
``p_A > ½``, then ``g`` predicts it everywhere within the L2 radius ``R = σ Φ⁻¹(p_A)`` (Φ the standard
normal CDF). ``p_A`` is not known; it is estimated from ``n`` noisy copies, and the certificate uses
a one-sided Clopper–Pearson lower bound, so a certificate is wrong with probability at most ``α``.

Randomness is passed in (``seed``: a NumPy ``Generator`` or an integer); nothing here touches
global random state.
"""

from __future__ import annotations

import math
import statistics

import keras
import numpy as np
import tensorflow as tf

from course_utils.attacks.core import as_generator, forward

_NORMAL = statistics.NormalDist()


def _check(sigma, alpha=0.01, n=1):
    if not isinstance(sigma, int | float | np.floating) or not sigma > 0 or not math.isfinite(sigma):
        raise ValueError(
            f"sigma (the noise's standard deviation) must be a number > 0, e.g. 0.25, got {sigma!r}."
        )
    if not 0 < alpha < 1:
        raise ValueError(
            f"alpha (the probability of a wrong certificate) must lie in (0, 1), e.g. 0.001, got {alpha!r}."
        )
    if not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"the number of noise samples must be a positive integer, got {n!r}.")


def _log_binomial_tail(k: int, n: int, p: float) -> float:
    """log P(Binomial(n, p) >= k), summed in log space (exact up to rounding)."""
    if k <= 0:
        return 0.0
    if p <= 0:
        return -math.inf
    if p >= 1:
        return 0.0
    i = np.arange(k, n + 1)
    log_terms = (
        math.lgamma(n + 1)
        - np.array([math.lgamma(j + 1) + math.lgamma(n - j + 1) for j in i])
        + i * math.log(p)
        + (n - i) * math.log1p(-p)
    )
    top = log_terms.max()
    return float(top + math.log(np.exp(log_terms - top).sum()))


def clopper_pearson_lower(k: int, n: int, alpha: float) -> float:
    """One-sided ``1 − alpha`` lower confidence bound on a probability after ``k`` successes in ``n``
    trials (Clopper & Pearson, 1934): the ``p`` at which ``P(Binomial(n, p) >= k) = alpha``.

    Exact (no normal approximation), so valid for ``k`` near ``n``, where certificates live.
    ``k = 0`` gives 0; ``k = n`` gives ``alpha ** (1 / n)``.
    """
    if not (isinstance(k, int | np.integer) and isinstance(n, int | np.integer) and 0 <= k <= n and n >= 1):
        raise ValueError(f"need integers 0 <= k <= n and n >= 1, got k={k!r}, n={n!r}.")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), e.g. 0.001, got {alpha!r}.")
    k, n = int(k), int(n)
    if k == 0:
        return 0.0
    if k == n:
        return alpha ** (1.0 / n)
    target = math.log(alpha)
    low, high = 0.0, k / n  # the tail grows with p; at p = k/n it is about one half > alpha
    for _ in range(100):
        mid = (low + high) / 2
        if _log_binomial_tail(k, n, mid) < target:
            low = mid
        else:
            high = mid
        if high - low < 1e-12:
            break
    return low


def binomial_test_p_value(k: int, n: int) -> float:
    """Two-sided p-value of ``k`` successes in ``n`` trials under ``p = ½`` (exact)."""
    if n == 0:
        return 1.0
    extreme = max(k, n - k)
    tail = sum(math.comb(n, i) for i in range(extreme, n + 1))
    return min(1.0, 2 * tail / 2**n)


def noise_counts(model, x, *, sigma: float, num_samples: int, seed, batch_size: int = 1000) -> np.ndarray:
    """How often the base classifier predicts each class under Gaussian noise.

    Args:
        model: a Keras model or callable mapping images to logits.
        x: float32 images ``(N, H, W, C)``.
        sigma: standard deviation of the noise (pixel scale); num_samples: noisy copies per image.
        seed: ``numpy.random.Generator`` or integer for the noise (``None``: fresh noise).

    Returns:
        ``(N, num_classes)`` int64 counts; each row sums to ``num_samples``.
    """
    _check(sigma, n=num_samples)
    rng = as_generator(seed)
    x = np.asarray(x, dtype=np.float32)
    rows = []
    for image in x:
        votes = None
        for start in range(0, num_samples, batch_size):
            m = min(batch_size, num_samples - start)
            noisy = image[None] + np.float32(sigma) * rng.standard_normal((m, *image.shape), dtype=np.float32)
            logits = np.asarray(forward(model, noisy))
            counts = np.bincount(logits.argmax(axis=1), minlength=logits.shape[1])
            votes = counts if votes is None else votes + counts
        rows.append(votes)
    if not rows:
        raise ValueError("x holds no images.")
    return np.stack(rows).astype(np.int64)


def predict(
    model, x, *, sigma: float, num_samples: int = 1000, alpha: float = 0.001, seed, batch_size: int = 1000
):
    """Cohen et al.'s PREDICT: the smoothed classifier's class per image, or ``-1`` (abstain) when
    a two-sided binomial test cannot tell the top two classes apart at level ``alpha``. A class it
    returns differs from ``g(x)`` with probability at most ``alpha``.

    Returns:
        ``(N,)`` int64 classes, ``-1`` for an abstention.
    """
    _check(sigma, alpha, num_samples)
    counts = noise_counts(model, x, sigma=sigma, num_samples=num_samples, seed=seed, batch_size=batch_size)
    order = np.argsort(-counts, axis=1, kind="stable")
    top, second = order[:, 0], order[:, 1]
    rows = np.arange(len(counts))
    out = top.astype(np.int64)
    for i in rows:
        k, n = int(counts[i, top[i]]), int(counts[i, top[i]] + counts[i, second[i]])
        if binomial_test_p_value(k, n) > alpha:
            out[i] = -1
    return out


def certify(
    model, x, *, sigma: float, n0: int = 100, num_samples: int = 1000, alpha: float = 0.001, seed,
    batch_size: int = 1000,
):  # fmt: skip
    """Cohen et al.'s CERTIFY: per image a class and an L2 radius within which the smoothed
    classifier provably (with probability ≥ ``1 − alpha``) predicts it.

    ``n0`` noisy copies pick the top class; ``num_samples`` fresh ones estimate its probability
    ``p_A`` with a one-sided Clopper–Pearson lower bound ``p_lower``. If ``p_lower < ½`` the image is
    abstained on (class ``-1``, radius 0); else the radius is ``σ Φ⁻¹(p_lower)``. The largest
    radius ``num_samples`` copies can certify is ``σ Φ⁻¹(alpha ** (1 / num_samples))``.

    Returns:
        ``(classes, radii)``: ``(N,)`` int64 (``-1`` = abstain) and ``(N,)`` float64 radii.
    """
    _check(sigma, alpha, num_samples)
    _check(sigma, alpha, n0)
    rng = as_generator(seed)
    select = noise_counts(model, x, sigma=sigma, num_samples=n0, seed=rng, batch_size=batch_size).argmax(
        axis=1
    )
    counts = noise_counts(model, x, sigma=sigma, num_samples=num_samples, seed=rng, batch_size=batch_size)
    classes = np.full(len(select), -1, dtype=np.int64)
    radii = np.zeros(len(select))
    for i, c in enumerate(select):
        p_lower = clopper_pearson_lower(int(counts[i, c]), num_samples, alpha)
        if p_lower > 0.5:
            classes[i] = c
            radii[i] = sigma * _NORMAL.inv_cdf(p_lower)
    return classes, radii


def max_radius(sigma: float, num_samples: int, alpha: float) -> float:
    """The largest radius :func:`certify` can return: every one of ``num_samples`` copies voted
    for the top class, so ``p_lower = alpha ** (1 / num_samples)``."""
    _check(sigma, alpha, num_samples)
    return sigma * _NORMAL.inv_cdf(alpha ** (1.0 / num_samples))


def certified_accuracy(classes, radii, y, radius) -> float:
    """Share of images whose certified class is the label with a radius of at least ``radius``."""
    classes, radii, y = np.asarray(classes), np.asarray(radii), np.asarray(y)
    return float(np.mean((classes == y) & (radii >= radius)))


def attack(
    model, x, y, *, eps: float, sigma: float, seed, num_steps: int = 10, num_noise: int = 16,
    step_size: float | None = None, clip_min: float = 0.0, clip_max: float = 1.0, batch_size: int = 100,
):  # fmt: skip
    """An L2 attack on the *smoothed* classifier (Salman et al., 2019, "SmoothAdv"): PGD that
    raises the cross-entropy of the base classifier's softmax averaged over ``num_noise`` noise
    draws (a Monte Carlo estimate of the smoothed classifier's soft output), a fresh draw per step.

    Its result, classified with :func:`predict`, gives an *upper* bound on the smoothed classifier's
    robust accuracy at ``eps``, to set beside the certified *lower* bound of :func:`certify`.

    Returns:
        float32 adversarial images, each within L2 ``eps`` of ``x`` and inside the pixel range.
    """
    _check(sigma, n=num_noise)
    if not eps > 0:
        raise ValueError(f"eps (an L2 radius) must be > 0, e.g. 0.5, got {eps!r}.")
    rng = as_generator(seed)
    step_size = 2.5 * eps / num_steps if step_size is None else step_size
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y).astype(np.int32)

    @tf.function(reduce_retracing=True)
    def step(x_adv, x0, labels, noise):
        with tf.GradientTape() as tape:
            tape.watch(x_adv)
            b = tf.shape(x_adv)[0]
            noisy = tf.reshape(x_adv[:, None] + noise, tf.concat([[-1], tf.shape(x_adv)[1:]], 0))
            logits = model(noisy, training=False) if isinstance(model, keras.Model) else model(noisy)
            probs = tf.reshape(tf.nn.softmax(logits), [b, num_noise, -1])
            mean = tf.reduce_mean(probs, axis=1)
            loss = -tf.reduce_sum(tf.math.log(tf.gather(mean, labels, axis=1, batch_dims=1) + 1e-12))
        grad = tape.gradient(loss, x_adv)
        norm = tf.sqrt(tf.reduce_sum(grad**2, axis=[1, 2, 3], keepdims=True))
        x_new = x_adv + step_size * grad / tf.maximum(norm, 1e-12)
        delta = x_new - x0
        length = tf.sqrt(tf.reduce_sum(delta**2, axis=[1, 2, 3], keepdims=True))
        delta = delta * tf.minimum(1.0, eps / tf.maximum(length, 1e-12))
        return tf.clip_by_value(x0 + delta, clip_min, clip_max)

    out = []
    for i in range(0, len(x), batch_size):
        x0, labels = tf.constant(x[i : i + batch_size]), tf.constant(y[i : i + batch_size])
        x_adv = x0
        for _ in range(num_steps):
            shape = (x0.shape[0], num_noise, *x0.shape[1:])
            noise = tf.constant(np.float32(sigma) * rng.standard_normal(shape, dtype=np.float32))
            x_adv = step(x_adv, x0, labels, noise)
        out.append(x_adv.numpy())
    return np.concatenate(out)
