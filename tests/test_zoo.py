import dataclasses

import keras
import numpy as np
import pytest

from course_utils import config, data, gan, zoo

needs_data = pytest.mark.skipif(
    not data.DEBIAN_DIR.is_dir(), reason="Debian's dataset-fashion-mnist not installed"
)


def _draws():
    """What a notebook draws next from the global generators (NumPy, Keras, TensorFlow)."""
    import keras
    import tensorflow as tf

    return (
        np.random.rand(3),  # noqa: NPY002 - the legacy global generator config.set_seed seeds
        np.asarray(keras.random.normal((3,))),
        tf.random.uniform((3,)).numpy(),
    )


@needs_data
@pytest.mark.slow
def test_cnn_trains_once_then_loads_identically(tmp_path):
    tiny = dataclasses.replace(config.get_profile("quick"), train_size=500, test_size=100, cnn_epochs=1)
    config.set_seed(5)
    first, record = zoo.cnn(tiny, seed=1, cache_dir=tmp_path, verbose=0)
    after_miss = _draws()
    config.set_seed(5)
    second, again = zoo.cnn(tiny, seed=1, cache_dir=tmp_path, verbose=0)
    for a, b in zip(after_miss, _draws(), strict=True):
        np.testing.assert_array_equal(a, b)  # the caller's random numbers do not depend on the cache
    assert not record.from_cache and again.from_cache
    assert again.settings["train_size"] == 500 and again.settings["seed"] == 1
    assert len(again.history["loss"]) == 1
    x = np.random.default_rng(0).random((4, 28, 28, 1), dtype=np.float32)
    np.testing.assert_array_equal(first(x, training=False), second(x, training=False))
    assert second.optimizer is not None, "a model from the cache comes back compiled"
    _, other_seed = zoo.cnn(tiny, seed=2, cache_dir=tmp_path, verbose=0)
    assert not other_seed.from_cache and other_seed.key != record.key


def test_architectures_follow_the_profile():
    for name in config.PROFILES:
        profile = config.get_profile(name)
        cnn = zoo.cnn_architecture(profile)
        convs = [layer for layer in cnn.layers if layer.name.startswith("conv")]
        assert len(convs) == len(profile.cnn_filters) * profile.cnn_convs_per_block
        assert cnn.get_layer("features").units == profile.cnn_dense
        assert zoo.mlp_architecture(profile).output_shape == (None, 10)


@needs_data
@pytest.mark.slow
def test_robust_cnn_trains_once_per_method_then_loads(tmp_path):
    tiny = dataclasses.replace(
        config.get_profile("quick"), train_size=300, test_size=100, cnn_epochs=1, at_pgd_steps=1
    )
    model, record = zoo.robust_cnn(tiny, method="pgd", eps=0.1, cache_dir=tmp_path, verbose=0)
    again, cached = zoo.robust_cnn(tiny, method="pgd", eps=0.1, cache_dir=tmp_path, verbose=0)
    assert not record.from_cache and cached.from_cache
    assert cached.settings["method"] == "pgd" and cached.settings["at_steps"] == 1
    assert {"adv_loss", "adv_accuracy", "epoch_seconds"} <= set(cached.history)
    x = np.random.default_rng(0).random((4, 28, 28, 1), dtype=np.float32)
    np.testing.assert_array_equal(model(x, training=False), again(x, training=False))
    _, fgsm_rs = zoo.robust_cnn(tiny, method="fgsm_rs", eps=0.1, cache_dir=tmp_path, verbose=0)
    assert not fgsm_rs.from_cache and fgsm_rs.key != record.key
    # the fast model: the profile's fast method and epochs, a cache entry of its own
    tiny = dataclasses.replace(tiny, cnn_epochs=2, fast_at_method="pgd", fast_at_steps=1, fast_at_epochs=1)
    _, fast = zoo.fast_robust_cnn(tiny, eps=0.1, cache_dir=tmp_path, verbose=0)
    assert fast.settings["method"] == "pgd" and fast.settings["epochs"] == 1
    assert len(fast.history["adv_loss"]) == 1 and fast.path.name.startswith("cnn_fast")
    _, again = zoo.fast_robust_cnn(tiny, eps=0.1, cache_dir=tmp_path, verbose=0)
    assert again.from_cache and again.key == fast.key


@needs_data
@pytest.mark.slow
def test_dcgan_trains_once_with_its_record_then_loads(tmp_path):
    tiny = dataclasses.replace(
        config.get_profile("quick"),
        train_size=256,
        test_size=100,
        cnn_epochs=1,
        gan_epochs=2,
        gan_fid_images=50,
    )
    config.set_seed(5)
    generator, record = zoo.dcgan(tiny, cache_dir=tmp_path, verbose=0)  # trains the CNN and the GAN
    after_miss = _draws()
    config.set_seed(5)
    again, cached = zoo.dcgan(tiny, cache_dir=tmp_path, verbose=0)
    for a, b in zip(after_miss, _draws(), strict=True):
        np.testing.assert_array_equal(a, b)  # the caller's random numbers do not depend on the cache
    assert not record.from_cache and cached.from_cache
    # its feature CNN was trained into the same folder, not the user's cache
    assert zoo.cnn(tiny, cache_dir=tmp_path, verbose=0)[1].from_cache
    assert {"d_loss", "g_loss", "d_real", "d_fake", "fid", "epoch_seconds"} <= set(cached.history)
    assert len(cached.history["fid"]) == 2
    assert cached.arrays["samples"].shape == (3, 16, 28, 28, 1)
    np.testing.assert_array_equal(gan.sample(generator, 4, seed=0), gan.sample(again, 4, seed=0))
    discriminator, d_record = zoo.dcgan_discriminator(tiny, cache_dir=tmp_path, verbose=0)
    assert d_record.name == "dcgan_discriminator"
    assert discriminator(np.zeros((2, 28, 28, 1), "float32")).shape == (2, 1)
    conditional, conditional_record = zoo.dcgan(tiny, conditional=True, cache_dir=tmp_path, verbose=0)
    assert conditional_record.key != record.key and gan.num_classes_of(conditional) == 10
    _, sn_record = zoo.dcgan(tiny, spectral_norm=True, cache_dir=tmp_path, verbose=0)
    assert sn_record.name == "dcgan_sn" and sn_record.key != record.key and len(sn_record.history["fid"]) == 2
    sn_discriminator, _ = zoo.dcgan_discriminator(tiny, spectral_norm=True, cache_dir=tmp_path, verbose=0)
    assert any(isinstance(layer, keras.layers.SpectralNormalization) for layer in sn_discriminator.layers)


@needs_data
@pytest.mark.slow
def test_cache_status_finds_a_trained_model_without_loading_or_training(tmp_path):
    tiny = dataclasses.replace(config.get_profile("quick"), train_size=300, test_size=100, cnn_epochs=1)
    assert zoo.cache_status(tiny, seed=3, cache_dir=tmp_path) == dict.fromkeys(zoo.MODELS, False)
    assert list(tmp_path.iterdir()) == []  # nothing trained or written
    zoo.cnn(tiny, seed=3, cache_dir=tmp_path, verbose=0)
    status = zoo.cache_status(tiny, seed=3, cache_dir=tmp_path)
    assert status["cnn"] and not any(v for k, v in status.items() if k != "cnn")
    assert not zoo.cache_status(tiny, seed=4, cache_dir=tmp_path)["cnn"]  # another seed, another model


@needs_data
@pytest.mark.slow
def test_certification_models_train_once_then_load(tmp_path):
    tiny = dataclasses.replace(config.get_profile("quick"), train_size=300, test_size=100, cnn_epochs=1)
    for build, name, key in [(zoo.ibp_mlp, "mlp_ibp", "eps"), (zoo.noise_cnn, "cnn_noise", "noise_sigma")]:
        model, record = build(tiny, cache_dir=tmp_path, verbose=0)
        again, cached = build(tiny, cache_dir=tmp_path, verbose=0)
        assert not record.from_cache and cached.from_cache and cached.path.name.startswith(name)
        assert key in cached.settings
        assert model.compiled and again.compiled  # trained here (IBP: by a loop of its own) or loaded
        x = np.random.default_rng(0).random((4, 28, 28, 1), dtype=np.float32)
        np.testing.assert_array_equal(model(x, training=False), again(x, training=False))
    assert "certified" in zoo.ibp_mlp(tiny, cache_dir=tmp_path, verbose=0)[1].history
    _, other = zoo.noise_cnn(tiny, sigma=0.5, cache_dir=tmp_path, verbose=0)  # another sigma, another model
    assert not other.from_cache


@needs_data
@pytest.mark.slow
def test_a_model_about_to_train_in_the_full_profile_says_what_full_costs_first(tmp_path, capsys):
    from course_utils import results

    quick = config.get_profile("quick")
    tiny_full = dataclasses.replace(quick, name="full", train_size=300, test_size=100, mlp_epochs=1)
    zoo.mlp(tiny_full, cache_dir=tmp_path, verbose=0)
    assert results.full_cost_note() in capsys.readouterr().out
    _, record = zoo.mlp(tiny_full, cache_dir=tmp_path, verbose=0)  # loaded: nothing to warn about
    assert record.from_cache and "full profile" not in capsys.readouterr().out
    tiny_quick = dataclasses.replace(quick, train_size=300, test_size=100, mlp_epochs=1)
    zoo.mlp(tiny_quick, cache_dir=tmp_path, verbose=0)
    assert "full profile" not in capsys.readouterr().out
