"""Tests for course_utils.gan: ranges, losses against their formulas, the training step, sampling
and the callbacks."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from course_utils import gan, models, sample_quality


def test_range_conversion_round_trips_and_clips():
    x = np.array([0.0, 0.25, 1.0], dtype="float32")
    np.testing.assert_allclose(gan.to_generator_range(x), [-1.0, -0.5, 1.0])
    np.testing.assert_allclose(np.asarray(gan.to_pixel_range(gan.to_generator_range(x))), x)
    np.testing.assert_allclose(np.asarray(gan.to_pixel_range(np.array([-1.2, 1.3], "float32"))), [0.0, 1.0])


def test_generator_and_discriminator_shapes():
    g = gan.build_generator(8, filters=(8, 4))
    d = gan.build_discriminator(filters=(4, 8))
    z = np.random.default_rng(0).standard_normal((3, 8)).astype("float32")
    images = np.asarray(g(z))
    assert images.shape == (3, 28, 28, 1) and images.min() >= -1 and images.max() <= 1
    assert np.asarray(d(images)).shape == (3, 1)
    assert gan.latent_dim_of(g) == 8 and gan.num_classes_of(g) is None


def test_spectrally_normalised_discriminator_is_one_lipschitz_and_has_no_dropout():
    d = gan.build_discriminator(filters=(4, 8), spectral_norm=True, seed=0)
    assert not any(isinstance(layer, keras.layers.Dropout) for layer in d.layers)
    wrapped = [layer for layer in d.layers if isinstance(layer, keras.layers.SpectralNormalization)]
    assert [w.layer.name for w in wrapped] == ["down_14x14", "down_7x7", "logit"]
    x = tf.constant(np.random.default_rng(0).uniform(-1, 1, (8, 28, 28, 1)), tf.float32)
    for _ in range(40):  # the power iteration converges over training calls
        d(x, training=True)
    with tf.GradientTape() as tape:  # input gradients: each layer's operator norm is at most 1
        tape.watch(x)
        scores = d(x, training=False)
    slopes = np.linalg.norm(tape.gradient(scores, x).numpy().reshape(8, -1), axis=1)
    assert slopes.max() <= 1.05
    plain = gan.build_discriminator(filters=(4, 8), seed=0)
    assert any(isinstance(layer, keras.layers.Dropout) for layer in plain.layers)


def test_sample_is_seeded_in_pixel_range_and_checks_its_arguments():
    g = gan.build_generator(8, filters=(8, 4))
    a, b = gan.sample(g, 5, seed=3), gan.sample(g, 5, seed=3)
    assert a.shape == (5, 28, 28, 1) and a.dtype == np.float32
    assert a.min() >= 0 and a.max() <= 1
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, gan.sample(g, 5, seed=4))
    with pytest.raises(ValueError, match="unconditional"):
        gan.sample(g, 2, labels=[0, 1])
    with pytest.raises(ValueError, match=r"shape \(n, 8\)"):
        gan.sample(g, z=np.zeros((2, 7)))
    with pytest.raises(ValueError, match="number of images"):
        gan.sample(g)


def test_conditional_generator_needs_valid_labels():
    g = gan.build_generator(8, filters=(8, 4), num_classes=10)
    assert gan.num_classes_of(g) == 10
    assert gan.sample(g, 4, labels=[0, 1, 2, 9]).shape == (4, 28, 28, 1)
    with pytest.raises(ValueError, match="pass labels"):
        gan.sample(g, 2)
    with pytest.raises(ValueError, match=r"in \[0, 10\)"):
        gan.sample(g, 2, labels=[0, 10])


def test_losses_match_their_formulas():
    real = np.array([[2.0], [-1.0], [0.5]], dtype="float32")
    fake = np.array([[-3.0], [0.0], [1.5]], dtype="float32")
    d_real, d_fake = 1 / (1 + np.exp(-real)), 1 / (1 + np.exp(-fake))
    expected_d = np.mean(-np.log(d_real)) + np.mean(-np.log(1 - d_fake))
    np.testing.assert_allclose(float(gan.discriminator_loss(real, fake)), expected_d, rtol=1e-6)
    np.testing.assert_allclose(float(gan.generator_loss(fake)), np.mean(-np.log(d_fake)), rtol=1e-6)
    # at the equilibrium D = 1/2 everywhere: 2 ln 2 and ln 2
    zero = np.zeros((4, 1), "float32")
    assert float(gan.discriminator_loss(zero, zero)) == pytest.approx(2 * math.log(2))
    assert float(gan.generator_loss(zero)) == pytest.approx(math.log(2))
    # from logits, no log(0): a very confident discriminator gives a finite loss
    assert np.isfinite(float(gan.discriminator_loss(np.array([[-200.0]]), np.array([[200.0]]))))


def _tiny_gan(num_classes=None, seed=0):
    keras.utils.set_random_seed(seed)
    g = gan.GAN(
        gan.build_generator(4, filters=(4, 4), num_classes=num_classes),
        gan.build_discriminator(filters=(4, 4), num_classes=num_classes),
        seed=seed,
    )
    g.compile()
    return g


@pytest.mark.slow
def test_training_step_updates_both_networks_and_reports_metrics():
    model = _tiny_gan()
    x = np.random.default_rng(0).uniform(0, 1, (64, 28, 28, 1)).astype("float32")
    g_before = [w.copy() for w in model.generator.get_weights()]
    d_before = [w.copy() for w in model.discriminator.get_weights()]
    history = model.fit(x, batch_size=32, epochs=1, verbose=0)
    assert set(history.history) == {"d_loss", "g_loss", "d_real", "d_fake"}
    assert all(np.isfinite(v[0]) for v in history.history.values())
    assert 0 < history.history["d_real"][0] < 1 and 0 < history.history["d_fake"][0] < 1
    assert any(not np.array_equal(a, b) for a, b in zip(g_before, model.generator.get_weights(), strict=True))
    assert any(
        not np.array_equal(a, b) for a, b in zip(d_before, model.discriminator.get_weights(), strict=True)
    )
    assert model.generator.trainable and model.discriminator.trainable  # no trainable=False tricks


@pytest.mark.slow
def test_training_is_repeatable_with_the_same_seed():
    x = np.random.default_rng(1).uniform(0, 1, (64, 28, 28, 1)).astype("float32")
    runs = []
    for _ in range(2):
        model = _tiny_gan(seed=5)
        model.fit(x, batch_size=32, epochs=1, verbose=0, shuffle=False)
        runs.append(model.generator.get_weights())
    for a, b in zip(*runs, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_conditional_gan_trains_on_labels_and_refuses_to_train_without():
    model = _tiny_gan(num_classes=10)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (32, 28, 28, 1)).astype("float32")
    y = rng.integers(0, 10, 32)
    assert np.isfinite(model.fit(x, y, batch_size=16, epochs=1, verbose=0).history["g_loss"][0])
    with pytest.raises(ValueError, match="fit\\(x, y\\)"):
        model.fit(x, batch_size=16, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="both be conditional"):
        gan.GAN(
            gan.build_generator(4, filters=(4, 4), num_classes=10), gan.build_discriminator(filters=(4, 4))
        )


@pytest.mark.slow
def test_fixed_noise_samples_records_one_grid_per_epoch_from_the_same_noise():
    model = _tiny_gan()
    x = np.random.default_rng(0).uniform(0, 1, (32, 28, 28, 1)).astype("float32")
    callback = gan.FixedNoiseSamples(6, seed=2)
    model.fit(x, batch_size=16, epochs=2, verbose=0, callbacks=[callback])
    assert callback.stacked.shape == (3, 6, 28, 28, 1)  # before training + 2 epochs
    np.testing.assert_array_equal(callback.images[-1], gan.sample(model.generator, z=callback._z))


@pytest.mark.slow
def test_frechet_monitor_logs_the_distance_every_epoch():
    """After each epoch, the distance of the generator as it stands then, from the same noise."""
    classifier = models.build_cnn((4,), dense_units=8, name="cnn")
    real = np.random.default_rng(0).uniform(0, 1, (40, 28, 28, 1)).astype("float32")
    model = _tiny_gan()
    monitor = gan.FrechetDistanceMonitor(sample_quality.FeatureSpace(classifier, real, n=20))
    history = model.fit(real, batch_size=20, epochs=2, verbose=0, callbacks=[monitor])
    fid = history.history["fid"]
    assert len(fid) == 2 and fid[0] != fid[1]  # measured again after each epoch
    # the last entry: the trained generator's 20 images from seed 0, against the first real half
    features = monitor.space.features(gan.sample(model.generator, 20, seed=0))
    assert fid[-1] == pytest.approx(
        sample_quality.frechet_distance(monitor.space.features_a, features), rel=1e-9
    )


def test_discriminator_as_classifier_gives_d_as_the_real_class_probability():
    d = gan.build_discriminator(filters=(4, 4))
    clf = gan.discriminator_as_classifier(d)
    x = np.random.default_rng(0).uniform(0, 1, (5, 28, 28, 1)).astype("float32")
    probs = np.asarray(keras.ops.softmax(clf(x)))
    d_of_x = 1 / (1 + np.exp(-np.asarray(d(x * 2 - 1))))
    np.testing.assert_allclose(probs[:, 1:], d_of_x, rtol=1e-5)
    with pytest.raises(ValueError, match="unconditional"):
        gan.discriminator_as_classifier(gan.build_discriminator(filters=(4, 4), num_classes=10))


@pytest.mark.slow
def test_steps_per_execution_changes_the_speed_not_the_result():
    x = np.random.default_rng(2).uniform(0, 1, (96, 28, 28, 1)).astype("float32")
    runs = []
    for steps in (1, 2):  # 3 batches: calls of 2 and 1 batches
        model = _tiny_gan(seed=6)
        model.compile(steps_per_execution=steps)
        model.fit(x, batch_size=32, epochs=1, verbose=0, shuffle=False)
        runs.append(model.generator.get_weights() + model.discriminator.get_weights())
    for a, b in zip(*runs, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_make_gan_is_repeatable_without_touching_the_global_random_state():
    import random

    random.seed(5)
    np.random.seed(5)  # noqa: NPY002 - the legacy global state is what must be left alone
    expected = (random.random(), np.random.rand())  # noqa: NPY002
    random.seed(5)
    np.random.seed(5)  # noqa: NPY002
    first = gan.make_gan(generator_filters=(8, 4), discriminator_filters=(4, 8), seed=3)
    assert (random.random(), np.random.rand()) == expected  # noqa: NPY002 - not reseeded
    second = gan.make_gan(generator_filters=(8, 4), discriminator_filters=(4, 8), seed=3)
    other = gan.make_gan(generator_filters=(8, 4), discriminator_filters=(4, 8), seed=4)
    for a, b in zip(first.generator.get_weights(), second.generator.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(first.discriminator.get_weights(), second.discriminator.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first.generator.get_weights()[0], other.generator.get_weights()[0])
