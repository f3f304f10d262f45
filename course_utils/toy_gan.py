"""Small GANs on 2-D points, trained three ways, on :mod:`course_utils.gan_dynamics`' ring of Gaussians.

Small MLP generators and critics and three ways to train them, one step function each:
:func:`gan_step` (Goodfellow et al., 2014, the non-saturating loss, one discriminator step then one
generator step), :func:`wgan_gp_step` (Gulrajani et al., 2017: a critic, the Wasserstein loss and a
gradient penalty, five critic steps per generator step) and spectral normalisation (Miyato et al.,
2018: :func:`mlp_critic` with ``spectral_norm=True``, trained by :func:`gan_step`). :func:`train` runs
any of them and records samples and their coverage of the ring's modes as it goes
(:class:`ToyRun`).

Randomness is passed in: the builders take ``seed`` for their initial weights, :func:`train` draws
every batch and every noise vector from ``numpy.random.default_rng(seed)``. Nothing here touches
global random state, so the same seed gives the same run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import logging
import time

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from course_utils import gan as gan_lib
from course_utils import gan_dynamics

KINDS = ("gan", "sn", "wgan-gp")


# ------------------------------------------------------------------------------------- networks
def _kernels(seed: int):
    seeds = itertools.count(seed)
    return lambda: keras.initializers.GlorotUniform(next(seeds))


def mlp_generator(latent_dim: int = 16, *, hidden: int = 128, depth: int = 2, seed: int = 0) -> keras.Model:
    """Noise ``(N, latent_dim)`` -> points ``(N, 2)``: ``depth`` ReLU layers of ``hidden`` units, then a
    linear layer."""
    kernel = _kernels(seed)
    z = keras.Input((latent_dim,), name="z")
    h = z
    for i in range(depth):
        h = layers.Dense(hidden, activation="relu", kernel_initializer=kernel(), name=f"hidden_{i}")(h)
    return keras.Model(z, layers.Dense(2, kernel_initializer=kernel(), name="point")(h), name="generator")


def mlp_critic(
    *, hidden: int = 128, depth: int = 2, spectral_norm: bool = False, lipschitz: float = 1.0, seed: int = 0
) -> keras.Model:
    """Points ``(N, 2)`` -> one score per point ``(N, 1)``: a logit for :func:`gan_step`, a critic value for
    :func:`wgan_gp_step`. ``depth`` LeakyReLU(0.2) layers of ``hidden`` units.

    With ``spectral_norm=True`` every Dense layer is wrapped in ``keras.layers.SpectralNormalization``
    (each weight matrix divided by its largest singular value, estimated by one power iteration per
    training call), so the network is at most 1-Lipschitz. The power iteration's start vectors are
    drawn from ``seed`` too. ``lipschitz`` multiplies the input first (a ``Rescaling`` layer), so a
    spectrally normalised critic is at most ``lipschitz``-Lipschitz: the bound that fits data whose
    modes are 0.02 wide is not the one that fits images in ``[-1, 1]``.
    """
    kernel = _kernels(seed)

    def dense(units, name):
        layer = layers.Dense(units, kernel_initializer=kernel(), name=name)
        return layers.SpectralNormalization(layer, name=f"sn_{name}") if spectral_norm else layer

    point = keras.Input((2,), name="point")
    h = layers.Rescaling(lipschitz, name="scale")(point) if lipschitz != 1.0 else point
    for i in range(depth):
        h = gan_lib.LeakyReLU(0.2, name=f"lrelu_{i}")(dense(hidden, f"hidden_{i}")(h))
    model = keras.Model(point, dense(1, "score")(h), name="critic")
    rng = np.random.default_rng(seed)
    for layer in model.layers:  # Keras draws u from its global state: draw it from the seed instead
        if isinstance(layer, layers.SpectralNormalization):
            layer.vector_u.assign(0.02 * rng.standard_normal(layer.vector_u.shape).astype("float32"))
    return model


# --------------------------------------------------------------------------------- train steps
def discriminator_step(generator, discriminator, d_optimizer, real, z):
    """One step of the discriminator alone on ``-log D(x) - log(1 - D(G(z)))``; returns that loss."""
    with tf.GradientTape() as tape:
        fake = generator(z, training=True)
        d_loss = gan_lib.discriminator_loss(
            discriminator(real, training=True), discriminator(fake, training=True)
        )
    d_optimizer.apply(tape.gradient(d_loss, discriminator.trainable_weights), discriminator.trainable_weights)
    return d_loss


def gan_step(generator, discriminator, g_optimizer, d_optimizer, real, z):
    """One step of the original GAN, as in Goodfellow et al.'s Algorithm 1 with the non-saturating loss.

    First the discriminator: ``-log D(x) - log(1 - D(G(z)))`` on the real batch and ``G(z)``, a step of
    ``d_optimizer`` on its weights only (:func:`discriminator_step`). Then the generator:
    ``-log D(G(z))`` with the *updated* discriminator and the same ``z``, a step of ``g_optimizer`` on
    its weights only.

    Args:
        real: real points, shape ``(N, 2)`` (or images: nothing here depends on the shape).
        z: noise, shape ``(N, latent_dim)``.

    Returns:
        ``(d_loss, g_loss)``: the two scalar losses, each before its own step.
    """
    d_loss = discriminator_step(generator, discriminator, d_optimizer, real, z)
    with tf.GradientTape() as tape:
        g_loss = gan_lib.generator_loss(discriminator(generator(z, training=True), training=True))
    g_optimizer.apply(tape.gradient(g_loss, generator.trainable_weights), generator.trainable_weights)
    return d_loss, g_loss


def gradient_penalty(critic, real, fake, alpha):
    """Gulrajani et al.'s penalty ``mean((||grad_x critic(x_hat)||_2 - 1)**2)`` at ``x_hat = alpha*real +
    (1 - alpha)*fake``, ``alpha`` of shape ``(N, 1)`` in ``[0, 1]``: it asks the critic to have slope 1
    between the two distributions, which a 1-Lipschitz optimal critic has."""
    x_hat = alpha * real + (1.0 - alpha) * fake
    with tf.GradientTape() as tape:
        tape.watch(x_hat)
        scores = critic(x_hat, training=True)
    grads = tape.gradient(scores, x_hat)
    norms = tf.sqrt(tf.reduce_sum(tf.square(tf.reshape(grads, (tf.shape(grads)[0], -1))), axis=1) + 1e-12)
    return tf.reduce_mean(tf.square(norms - 1.0))


def wgan_gp_step(
    generator, critic, g_optimizer, c_optimizer, real, z, alpha, *, penalty_weight: float = 10.0
):
    """One WGAN-GP iteration: ``len(real)`` critic steps, then one generator step.

    Args:
        real: shape ``(n_critic, N, 2)``: one real batch per critic step.
        z: shape ``(n_critic + 1, N, latent_dim)``: noise for each critic step, and the last for the
            generator's step.
        alpha: shape ``(n_critic, N, 1)``: the interpolation weights of each critic step's penalty.

    The critic minimises ``mean(critic(fake)) - mean(critic(real)) + penalty_weight * penalty``, an
    estimate of minus the Wasserstein-1 distance plus the penalty; the generator minimises
    ``-mean(critic(G(z)))``.

    Returns:
        ``(critic_loss, g_loss)`` of the last critic step and of the generator step.
    """
    for i in range(real.shape[0]):
        fake = generator(z[i], training=True)
        with tf.GradientTape() as tape:
            c_loss = (
                tf.reduce_mean(critic(fake, training=True))
                - tf.reduce_mean(critic(real[i], training=True))
                + penalty_weight * gradient_penalty(critic, real[i], fake, alpha[i])
            )
        c_optimizer.apply(tape.gradient(c_loss, critic.trainable_weights), critic.trainable_weights)
    with tf.GradientTape() as tape:
        g_loss = -tf.reduce_mean(critic(generator(z[-1], training=True), training=True))
    g_optimizer.apply(tape.gradient(g_loss, generator.trainable_weights), generator.trainable_weights)
    return c_loss, g_loss


# -------------------------------------------------------------------------------------- training
@dataclasses.dataclass
class ToyRun:
    """What :func:`train` recorded.

    Attributes:
        kind: ``"gan"``, ``"sn"`` or ``"wgan-gp"``.
        steps: generator steps after which a snapshot was taken (0 = before training).
        samples: the generator's points at each snapshot, shape ``(len(steps), n_samples, 2)``, always
            from the same noise.
        coverage: :func:`~course_utils.gan_dynamics.mode_coverage` of each snapshot.
        d_loss, g_loss: the losses of every generator step, shape ``(total_steps,)``.
        seconds: wall-clock training time.
        generator, discriminator: the trained networks.
    """

    kind: str
    steps: np.ndarray
    samples: np.ndarray
    coverage: list
    d_loss: np.ndarray
    g_loss: np.ndarray
    seconds: float
    generator: keras.Model
    discriminator: keras.Model

    @property
    def modes_covered(self) -> np.ndarray:
        """Modes covered at each snapshot, shape ``(len(steps),)``."""
        return np.array([c.modes_covered for c in self.coverage])

    @property
    def high_quality(self) -> np.ndarray:
        """Share of high-quality samples at each snapshot, shape ``(len(steps),)``."""
        return np.array([c.high_quality for c in self.coverage])

    @property
    def largest_share(self) -> np.ndarray:
        """:attr:`~course_utils.gan_dynamics.Coverage.largest_share` at each snapshot, shape
        ``(len(steps),)``."""
        return np.array([c.largest_share for c in self.coverage])

    @property
    def centres(self) -> np.ndarray:
        """The mean of the samples at each snapshot, shape ``(len(steps), 2)``: where a collapsed
        generator's blob is."""
        return self.samples.mean(axis=1)

    def modes_lost(self) -> int:
        """How often a covered mode was no longer covered at the next snapshot (mode hopping)."""
        covered = np.stack([c.covered for c in self.coverage])
        return int((covered[:-1] & ~covered[1:]).sum())


def optimizers(kind: str, g_learning_rate: float = 1e-3, d_learning_rate: float = 1e-3):
    """``(g_optimizer, d_optimizer)``: Adam with β1 = 0.5 as in DCGAN, and β2 = 0.9 for ``"wgan-gp"`` as in
    Gulrajani et al. (who use 1e-4 on images; the toy problem learns in a lesson at 1e-3)."""
    _check_kind(kind)
    beta_2 = 0.9 if kind == "wgan-gp" else 0.999
    return (
        keras.optimizers.Adam(g_learning_rate, beta_1=0.5, beta_2=beta_2),
        keras.optimizers.Adam(d_learning_rate, beta_1=0.5, beta_2=beta_2),
    )


def _check_kind(kind):
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}.")


class _NotRetracing(logging.Filter):
    def filter(self, record):
        return "triggered tf.function retracing" not in record.getMessage()


@contextlib.contextmanager
def _first_traces_are_not_retracing():
    """Every training run compiles its own function once, for its own new networks. TensorFlow counts
    these first traces of the same code across runs as "retracing" and, after five, warns about a
    function recompiled in a loop, which this is not. The warning is dropped during a run, and only it:
    the filter is removed afterwards."""
    logger = tf.get_logger()
    quiet = _NotRetracing()
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)


def _chunk_trainer(kind: str, step, n_critic: int, penalty_weight: float):
    """A compiled function that runs a whole chunk of iterations in one call (a ``tf.while_loop``), so
    that Python's per-step overhead, larger than these small networks' arithmetic, is paid once per
    chunk. ``real``: ``(chunk, n_critic, N, 2)``; ``z``: ``(chunk, n_critic + 1, N, latent_dim)`` (the
    last for the generator's step; in a GAN, :func:`gan_step` takes it for its discriminator step
    too, and ``z[n_critic - 1]`` is not used); ``alpha``: ``(chunk, n_critic, N, 1)``. Returns the
    chunk's two loss vectors."""

    def iteration(generator, critic, g_opt, d_opt, real, z, alpha):
        if kind == "wgan-gp":
            return wgan_gp_step(
                generator, critic, g_opt, d_opt, real, z, alpha, penalty_weight=penalty_weight
            )
        for j in range(n_critic - 1):
            discriminator_step(generator, critic, d_opt, real[j], z[j])
        return (step or gan_step)(generator, critic, g_opt, d_opt, real[-1], z[-1])

    @tf.function  # traced once per training run: every chunk but a shorter last one has the same shapes
    def run(generator, critic, g_opt, d_opt, real, z, alpha):
        count = tf.shape(real)[0]
        d_losses = tf.TensorArray(tf.float32, size=count)
        g_losses = tf.TensorArray(tf.float32, size=count)
        for i in tf.range(count):
            d_loss, g_loss = iteration(generator, critic, g_opt, d_opt, real[i], z[i], alpha[i])
            d_losses = d_losses.write(i, tf.cast(d_loss, tf.float32))
            g_losses = g_losses.write(i, tf.cast(g_loss, tf.float32))
        return d_losses.stack(), g_losses.stack()

    return run


def train(
    kind: str = "gan",
    *,
    steps: int = 3000,
    batch_size: int = 256,
    latent_dim: int = 16,
    n_critic: int | None = None,
    penalty_weight: float = 10.0,
    lipschitz: float = 1.0,
    g_learning_rate: float = 1e-3,
    d_learning_rate: float = 1e-3,
    snapshot_every: int = 250,
    n_samples: int = 2500,
    step=None,
    seed: int = 0,
) -> ToyRun:
    """Train a GAN on :func:`~course_utils.gan_dynamics.ring_of_gaussians` and watch it.

    Args:
        kind: ``"gan"`` (non-saturating GAN), ``"sn"`` (the same with a spectrally normalised
            discriminator) or ``"wgan-gp"``.
        steps: generator steps.
        n_critic: discriminator (or critic) steps per generator step: by default 5 for ``"wgan-gp"``
            (Gulrajani et al.), 1 for the others, whose extra steps are :func:`discriminator_step`.
        penalty_weight: the weight of WGAN-GP's gradient penalty (Gulrajani et al.'s 10).
        lipschitz: for ``"sn"``, the spectrally normalised discriminator's Lipschitz bound (see
            :func:`mlp_critic`).
        g_learning_rate, d_learning_rate: Adam's rates for the generator and the discriminator
            (or critic); see :func:`optimizers`.
        step: for ``"gan"`` and ``"sn"``, a step function with :func:`gan_step`'s signature to use
            instead of it (your own); it is compiled with ``tf.function``.
        snapshot_every: take :func:`~course_utils.gan_dynamics.mode_coverage` of ``n_samples`` points
            every this many steps; the steps between two snapshots run in one compiled call, with
            their random numbers drawn together, so two runs with different ``snapshot_every`` draw
            different numbers.
        seed: seeds the networks, the data and the noise.

    Returns:
        A :class:`ToyRun`.
    """
    _check_kind(kind)
    if step is not None and kind == "wgan-gp":
        raise ValueError("step= replaces gan_step, for kind='gan' or 'sn'; WGAN-GP uses wgan_gp_step.")
    if lipschitz != 1.0 and kind != "sn":
        raise ValueError(
            f"lipschitz= bounds a spectrally normalised discriminator: use kind='sn', not {kind!r}."
        )
    n_critic = n_critic if n_critic is not None else (5 if kind == "wgan-gp" else 1)
    if steps < 1 or snapshot_every < 1 or n_critic < 1:
        raise ValueError(
            f"Need steps, snapshot_every and n_critic >= 1, got {steps}, {snapshot_every} and {n_critic}."
        )
    rng = np.random.default_rng(seed)
    generator = mlp_generator(latent_dim, seed=seed)
    critic = mlp_critic(spectral_norm=kind == "sn", lipschitz=lipschitz, seed=seed + 100)
    g_opt, d_opt = optimizers(kind, g_learning_rate, d_learning_rate)
    g_opt.build(generator.trainable_weights)
    d_opt.build(critic.trainable_weights)
    run_chunk = _chunk_trainer(kind, step, n_critic, penalty_weight)
    z_fixed = rng.standard_normal((n_samples, latent_dim)).astype("float32")

    snapshots, samples, coverage = [], [], []

    def snapshot(t):
        points = generator(z_fixed, training=False).numpy()
        snapshots.append(t)
        samples.append(points)
        coverage.append(gan_dynamics.mode_coverage(points))

    d_losses, g_losses = [], []
    snapshot(0)
    start = time.perf_counter()
    done = 0
    while done < steps:
        chunk = min(snapshot_every, steps - done)
        real = gan_dynamics.ring_of_gaussians(chunk * n_critic * batch_size, rng=rng)[0].reshape(
            chunk, n_critic, batch_size, 2
        )
        z = rng.standard_normal((chunk, n_critic + 1, batch_size, latent_dim)).astype("float32")
        alpha = rng.uniform(size=(chunk, n_critic, batch_size, 1)).astype("float32")
        with _first_traces_are_not_retracing():
            d_loss, g_loss = run_chunk(
                generator, critic, g_opt, d_opt, tf.constant(real), tf.constant(z), tf.constant(alpha)
            )
        d_losses.append(d_loss.numpy())
        g_losses.append(g_loss.numpy())
        done += chunk
        snapshot(done)
    seconds = time.perf_counter() - start
    return ToyRun(
        kind=kind,
        steps=np.array(snapshots),
        samples=np.stack(samples),
        coverage=coverage,
        d_loss=np.concatenate(d_losses),
        g_loss=np.concatenate(g_losses),
        seconds=seconds,
        generator=generator,
        discriminator=critic,
    )
