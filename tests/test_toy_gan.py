"""Tests for course_utils.toy_gan: the train steps against finite differences, the critics'
Lipschitz bounds, reproducible runs, and the records a run keeps."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from course_utils import gan as gan_lib
from course_utils import gan_dynamics as gd
from course_utils import toy_gan as tg


def test_modes_lost_counts_modes_that_disappear_between_snapshots():
    centres = gd.ring_centres()
    snapshots = [centres[[0, 1] * 50], centres[[1, 2] * 50], centres[[0, 1, 2, 3] * 25]]
    run = tg.ToyRun("gan", np.arange(3), np.stack(snapshots), [gd.mode_coverage(s) for s in snapshots],
                    np.zeros(2), np.zeros(2), 0.0, None, None)  # fmt: skip
    assert run.modes_lost() == 1  # mode 0 lost once; modes gained do not count
    np.testing.assert_allclose(run.centres[0], centres[[0, 1]].mean(axis=0))
    np.testing.assert_allclose(run.largest_share, [0.5, 0.5, 0.25])


# ------------------------------------------------------------------------------------ networks
def test_spectral_norm_critic_has_unit_spectral_norms_after_training_calls():
    critic = tg.mlp_critic(hidden=16, spectral_norm=True, seed=3)
    x = tf.constant(np.random.default_rng(0).normal(size=(32, 2)), tf.float32)
    for _ in range(60):  # one power iteration per training call
        critic(x, training=True)
    for layer in critic.layers:
        if isinstance(layer, keras.layers.SpectralNormalization):
            kernel = layer.layer.kernel.numpy()
            assert np.linalg.svd(kernel, compute_uv=False)[0] == pytest.approx(1.0, abs=0.02)
    with tf.GradientTape() as tape:  # so the whole critic is (nearly) 1-Lipschitz
        tape.watch(x)
        scores = critic(x, training=False)
    assert np.linalg.norm(tape.gradient(scores, x).numpy(), axis=1).max() <= 1.02


def test_builders_are_seeded():
    a, b = tg.mlp_critic(spectral_norm=True, seed=5), tg.mlp_critic(spectral_norm=True, seed=5)
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)
    g1, g2 = tg.mlp_generator(seed=1), tg.mlp_generator(seed=2)
    assert not np.array_equal(g1.get_weights()[0], g2.get_weights()[0])


# ---------------------------------------------------------------------------------- train steps
def _tiny_pair(seed=0):
    return tg.mlp_generator(3, hidden=4, depth=1, seed=seed), tg.mlp_critic(hidden=4, depth=1, seed=seed + 10)


def _numeric_gradient(loss, variables, h=1e-3):
    """Central differences of ``loss()`` over every entry of ``variables`` (float64 sums)."""
    grads = []
    for var in variables:
        value = var.numpy().astype("float64")
        grad = np.zeros_like(value)
        for idx in np.ndindex(value.shape):
            for sign in (1, -1):
                shifted = value.copy()
                shifted[idx] += sign * h
                var.assign(shifted.astype("float32"))
                grad[idx] += sign * float(loss()) / (2 * h)
        var.assign(value.astype("float32"))
        grads.append(grad)
    return grads


def test_gan_step_is_one_discriminator_step_then_one_generator_step():
    rng = np.random.default_rng(0)
    real = tf.constant(rng.normal(size=(8, 2)), tf.float32)
    z = tf.constant(rng.normal(size=(8, 3)), tf.float32)
    lr = 0.05
    gen, disc = _tiny_pair()
    g0, d0 = [w.numpy() for w in gen.trainable_weights], [w.numpy() for w in disc.trainable_weights]

    def d_loss():
        return gan_lib.discriminator_loss(disc(real), disc(gen(z)))

    d_grads = _numeric_gradient(d_loss, disc.trainable_weights)
    expected_d = [w - lr * g for w, g in zip(d0, d_grads, strict=True)]
    for var, value in zip(disc.trainable_weights, expected_d, strict=True):  # the generator sees the new D
        var.assign(value.astype("float32"))
    g_grads = _numeric_gradient(lambda: gan_lib.generator_loss(disc(gen(z))), gen.trainable_weights)
    expected_g = [w - lr * g for w, g in zip(g0, g_grads, strict=True)]

    gen, disc = _tiny_pair()
    d_value, _ = tg.gan_step(gen, disc, keras.optimizers.SGD(lr), keras.optimizers.SGD(lr), real, z)
    for got, want in zip(disc.trainable_weights, expected_d, strict=True):
        np.testing.assert_allclose(got.numpy(), want, atol=2e-4)
    for got, want in zip(gen.trainable_weights, expected_g, strict=True):
        np.testing.assert_allclose(got.numpy(), want, atol=2e-4)
    gen0, disc0 = _tiny_pair()
    assert float(d_value) == pytest.approx(
        float(gan_lib.discriminator_loss(disc0(real), disc0(gen0(z)))), rel=1e-5
    )


def test_gradient_penalty_of_a_linear_critic_is_its_slope_gap_squared():
    critic = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    critic.layers[0].kernel.assign([[3.0], [4.0]])  # slope 5 everywhere
    rng = np.random.default_rng(0)
    real, fake = (tf.constant(rng.normal(size=(6, 2)), tf.float32) for _ in range(2))
    alpha = tf.constant(rng.uniform(size=(6, 1)), tf.float32)
    assert float(tg.gradient_penalty(critic, real, fake, alpha)) == pytest.approx(16.0, rel=1e-5)


def test_wgan_gp_step_takes_n_critic_steps_and_only_moves_each_network_in_its_own_step():
    rng = np.random.default_rng(1)
    gen, critic = _tiny_pair()
    g0 = [w.numpy() for w in gen.trainable_weights]
    real = tf.constant(rng.normal(size=(3, 8, 2)), tf.float32)
    z = tf.constant(rng.normal(size=(4, 8, 3)), tf.float32)
    alpha = tf.constant(rng.uniform(size=(3, 8, 1)), tf.float32)
    c_opt = keras.optimizers.SGD(0.01)
    tg.wgan_gp_step(gen, critic, keras.optimizers.SGD(0.0), c_opt, real, z, alpha)
    assert int(c_opt.iterations) == 3
    for got, want in zip(gen.trainable_weights, g0, strict=True):  # generator's rate 0: unchanged
        np.testing.assert_array_equal(got.numpy(), want)


# -------------------------------------------------------------------------------------- training
@pytest.mark.slow
def test_train_is_reproducible_and_records_snapshots():
    a = tg.train("gan", steps=30, snapshot_every=10, n_samples=200, seed=4)
    b = tg.train("gan", steps=30, snapshot_every=10, n_samples=200, seed=4)
    np.testing.assert_array_equal(a.samples, b.samples)
    np.testing.assert_array_equal(a.steps, [0, 10, 20, 30])
    assert a.samples.shape == (4, 200, 2) and a.d_loss.shape == (30,) and len(a.coverage) == 4
    c = tg.train("gan", steps=30, snapshot_every=10, n_samples=200, seed=5)
    assert not np.array_equal(a.samples, c.samples)


@pytest.mark.parametrize("kind", ["sn", "wgan-gp"])
def test_train_runs_the_other_kinds(kind):
    run = tg.train(kind, steps=6, snapshot_every=3, n_samples=100, seed=0)
    assert (
        run.samples.shape == (3, 100, 2) and np.isfinite(run.d_loss).all() and np.isfinite(run.g_loss).all()
    )


def test_train_uses_a_given_step_function():
    calls = []

    def my_step(generator, discriminator, g_optimizer, d_optimizer, real, z):
        calls.append(1)  # runs while tracing
        return tg.gan_step(generator, discriminator, g_optimizer, d_optimizer, real, z)

    mine = tg.train("gan", steps=5, snapshot_every=5, n_samples=50, step=my_step, seed=2)
    reference = tg.train("gan", steps=5, snapshot_every=5, n_samples=50, seed=2)
    assert calls
    np.testing.assert_allclose(mine.samples, reference.samples, atol=1e-6)


def test_train_refuses_bad_arguments():
    with pytest.raises(ValueError, match="kind must be one of"):
        tg.train("vanilla", steps=1)
    with pytest.raises(ValueError, match="wgan_gp_step"):
        tg.train("wgan-gp", steps=1, step=tg.gan_step)
    with pytest.raises(ValueError, match="n_critic >= 1"):
        tg.train("gan", steps=0)
    with pytest.raises(ValueError, match="n_critic >= 1"):
        tg.train("gan", steps=5, n_critic=0)


def test_extra_discriminator_steps_move_only_the_discriminator():
    gen, disc = _tiny_pair()
    g0, d0 = [w.numpy() for w in gen.trainable_weights], [w.numpy() for w in disc.trainable_weights]
    rng = np.random.default_rng(3)
    real, z = (tf.constant(rng.normal(size=s), tf.float32) for s in ((8, 2), (8, 3)))
    tg.discriminator_step(gen, disc, keras.optimizers.SGD(0.1), real, z)
    assert all(np.array_equal(a.numpy(), b) for a, b in zip(gen.trainable_weights, g0, strict=True))
    assert not all(np.array_equal(a.numpy(), b) for a, b in zip(disc.trainable_weights, d0, strict=True))
    one = tg.train("gan", steps=3, snapshot_every=3, n_samples=50, seed=1)
    five = tg.train("gan", steps=3, snapshot_every=3, n_samples=50, n_critic=5, seed=1)
    assert not np.allclose(one.samples[-1], five.samples[-1])


@pytest.mark.slow
def test_many_short_runs_do_not_warn_about_retracing(caplog):
    for seed in range(7):  # each run traces its own function once: not a retracing loop
        tg.train("gan", steps=4, snapshot_every=2, n_samples=20, seed=seed)
    assert not [r for r in caplog.records if "retracing" in r.getMessage()]
    assert not any(isinstance(f, tg._NotRetracing) for f in tf.get_logger().filters)  # removed again
