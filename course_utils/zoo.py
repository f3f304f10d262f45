"""The course's trained models, by name: trained once under a profile, then loaded from the cache.

Notebook 01 trains :func:`mlp`, notebook 02 trains :func:`cnn`; the attack notebooks call the same
function and get the same model back in a second instead of retraining it. What defines a model
(the profile's architecture and schedule, the data size and the seed) is its cache key.

A model trains from its ``seed`` alone (:func:`course_utils.config.seeded`), and the caller's global
random state is the same afterwards whether the model was trained or loaded.
"""

from __future__ import annotations

import keras

from course_utils import adversarial_training, cache, config, models, sample_quality, training
from course_utils import data as data_lib
from course_utils import gan as gan_lib
from course_utils.certify import ibp


def _training_data(profile: config.Profile, seed: int):
    (x_train, y_train), (x_test, y_test) = data_lib.load_fashion_mnist()
    x_train, y_train = data_lib.take_subset(x_train, y_train, profile.train_size, seed=seed)
    x_test, y_test = data_lib.take_subset(x_test, y_test, profile.test_size, seed=seed)
    return (x_train, y_train), (x_test, y_test)


def _say_what_full_costs(profile: config.Profile) -> None:
    """Before a model trains in the opt-in ``full`` profile: its projected cost, printed."""
    if profile.name == "full":
        from course_utils import results

        print(results.full_cost_note(), flush=True)


def _load_or_train(name, settings, build, profile, schedule, seed, retrain, verbose, cache_dir, fit=None):
    """Load ``name`` from the cache or build and train it on the profile's data.

    ``fit(model, x, y, **schedule)`` trains in place (default :func:`training.train_classifier`);
    ``schedule`` holds its epochs, batch size and learning rate (and schedule).
    """
    fit = fit or training.train_classifier

    def train(model):
        _say_what_full_costs(profile)
        (x_train, y_train), validation = _training_data(profile, seed)
        return fit(
            model, x_train, y_train, validation_data=validation, seed=seed, verbose=verbose, **schedule
        )

    def build_seeded():  # a cache miss: from the seed, whatever loading a damaged entry drew
        config.set_seed(seed)
        return build()

    # Loading draws random numbers too (Keras initialises layers before it loads their weights):
    # inside `seeded`, the caller's random numbers afterwards do not depend on the cache.
    with config.seeded(seed):
        model, record = cache.load_or_train(
            name,
            {**settings, "seed": seed},
            build_seeded,
            train,
            cache_dir=cache_dir,
            retrain=retrain,
            verbose=bool(verbose),
        )
    if record.from_cache or not model.compiled:  # loaded, or trained by a loop of its own (IBP)
        training.compile_classifier(model, learning_rate=profile.learning_rate)
    return model, record


def mlp_architecture(profile: config.Profile) -> keras.Model:
    """The untrained MLP of notebook 01 under ``profile`` (what :func:`mlp` trains)."""
    return models.build_mlp(profile.mlp_hidden, dropout=0.2, name="mlp")


def cnn_architecture(profile: config.Profile, *, seed: int = config.DEFAULT_SEED) -> keras.Model:
    """The untrained CNN of notebook 02 under ``profile`` (what :func:`cnn` trains)."""
    return models.build_cnn(
        profile.cnn_filters,
        convs_per_block=profile.cnn_convs_per_block,
        dense_units=profile.cnn_dense,
        batch_norm=profile.cnn_batch_norm,
        augment=profile.cnn_augment,
        seed=seed,
        name="cnn",
    )


def mlp(
    profile: config.Profile | None = None,
    *,
    seed: int = config.DEFAULT_SEED,
    retrain: bool = False,
    verbose=2,
    cache_dir=None,
):
    """The multilayer perceptron of notebook 01 for ``profile`` (default: the active profile).

    Training prints one line per epoch (``verbose=2``): Keras's live progress bar would store
    thousands of lines in an executed notebook. Pass ``verbose=0`` for silence.

    Returns:
        ``(model, record)``: a compiled Keras model returning logits, and its
        :class:`~course_utils.cache.CacheRecord` (``record.history`` has the learning curves).
    """
    profile = profile or config.get_profile()
    return _load_or_train(
        "mlp",
        profile.mlp_settings(),
        lambda: mlp_architecture(profile),
        profile,
        {
            "epochs": profile.mlp_epochs,
            "batch_size": profile.batch_size,
            "learning_rate": profile.learning_rate,
        },
        seed,
        retrain,
        verbose,
        cache_dir,
    )


def cnn(
    profile: config.Profile | None = None,
    *,
    seed: int = config.DEFAULT_SEED,
    retrain: bool = False,
    verbose=2,
    cache_dir=None,
):
    """The naturally trained CNN of notebook 02 (the model that notebooks 06-10 attack).

    Returns:
        ``(model, record)`` as for :func:`mlp`.
    """
    profile = profile or config.get_profile()
    return _load_or_train(
        "cnn",
        profile.cnn_settings(),
        lambda: cnn_architecture(profile, seed=seed),
        profile,
        profile.cnn_schedule_settings(),
        seed,
        retrain,
        verbose,
        cache_dir,
    )


def robust_cnn(
    profile: config.Profile | None = None,
    *,
    method: str = "pgd",
    eps: float = 0.1,
    seed: int = config.DEFAULT_SEED,
    retrain: bool = False,
    verbose=2,
    cache_dir=None,
):
    """The CNN of notebook 02's architecture, adversarially trained at L∞ budget ``eps`` with
    ``method`` (``"pgd"``: Madry et al. with the profile's ``at_pgd_steps``; ``"fgsm_rs"``: fast FGSM
    with random start; ``"n_fgsm"``: N-FGSM; ``"trades"``: TRADES with β = 6 and the profile's
    ``at_pgd_steps``), with the profile's adversarial-training schedule
    (:meth:`~course_utils.config.Profile.at_schedule_settings`). Trained once, then loaded from the cache.

    ``robust_cnn(profile)`` is the course's PGD-AT model; :func:`fast_robust_cnn` is its fast one.

    Returns:
        ``(model, record)`` as for :func:`mlp`.
    """
    profile = profile or config.get_profile()
    return _robust(
        f"cnn_{method}", profile, profile.at_settings(method), eps, seed, retrain, verbose, cache_dir
    )


def fast_robust_cnn(
    profile: config.Profile | None = None,
    *,
    eps: float = 0.1,
    seed: int = config.DEFAULT_SEED,
    retrain: bool = False,
    verbose=2,
    cache_dir=None,
):
    """The course's *fast* robust CNN: the profile's ``fast_at_method``, ``fast_at_steps`` and
    ``fast_at_epochs`` (:meth:`~course_utils.config.Profile.fast_at_settings`; in ``standard``, PGD-2
    for half the epochs of :func:`robust_cnn`, the method ``benchmarks/schedule_search.py`` found to
    give the most robustness per second). Trained once, then loaded from the cache.

    Returns:
        ``(model, record)`` as for :func:`mlp`; ``record.settings["method"]`` names the method.
    """
    profile = profile or config.get_profile()
    return _robust("cnn_fast", profile, profile.fast_at_settings(), eps, seed, retrain, verbose, cache_dir)


def _robust(name, profile, settings, eps, seed, retrain, verbose, cache_dir):
    """Adversarially train (or load) the profile's CNN architecture with ``settings``: keyword
    arguments of :func:`~course_utils.adversarial_training.train_adversarial`, method and schedule."""
    method, steps = settings["method"], settings["steps"]
    schedule = {k: v for k, v in settings.items() if k not in ("method", "steps")}
    key = {**profile.cnn_settings(), **schedule, "method": method, "eps": eps, "at_steps": steps}

    def fit(model, x, y, **schedule):
        return adversarial_training.train_adversarial(
            model, x, y, method=method, eps=eps, steps=steps, **schedule
        )

    return _load_or_train(
        name,
        key,
        lambda: cnn_architecture(profile, seed=seed),
        profile,
        schedule,
        seed,
        retrain,
        verbose,
        cache_dir,
        fit=fit,
    )


def dcgan(
    profile: config.Profile | None = None,
    *,
    conditional: bool = False,
    spectral_norm: bool = False,
    feature_profile: config.Profile | None = None,
    seed: int = config.DEFAULT_SEED,
    retrain: bool = False,
    verbose=2,
    cache_dir=None,
):
    """The DCGAN of notebooks 03–05, trained on the profile's training images for the profile's
    ``gan_epochs``; with ``conditional=True`` the class-conditional variant; with
    ``spectral_norm=True`` the same generator, loss and schedule against a spectrally normalised
    discriminator without dropout (notebook 04's SN-DCGAN, cached as ``dcgan_sn``). Only the generator
    is kept (the discriminator is needed for training, not for drawing).

    While training it records the Fréchet distance to real test images after every epoch, in the
    features of :func:`cnn` under ``feature_profile`` (default: ``profile``; trained first if not
    cached), and the same 16 noise vectors' images.

    The trained discriminator is cached beside it: :func:`dcgan_discriminator`.

    Returns:
        ``(generator, record)``: ``record.history`` has ``d_loss``, ``g_loss``, ``d_real``, ``d_fake``,
        ``fid`` and ``epoch_seconds`` per epoch; ``record.arrays["samples"]`` has shape
        ``(epochs + 1, 16, 28, 28, 1)`` (before training, then after each epoch), pixels in [0, 1].
    """
    profile = profile or config.get_profile()
    num_classes = 10 if conditional else None
    settings = {
        **profile.gan_settings(),
        "conditional": conditional,
        "latent_dim": gan_lib.DEFAULT_LATENT_DIM,
    }
    if spectral_norm:  # only then: the plain DCGAN's cache key stays what it was
        settings["spectral_norm"] = True
    if feature_profile is not None and feature_profile.name != profile.name:
        settings["feature_cnn"] = feature_profile.name  # only the recorded distances differ
    feature_profile = feature_profile or profile

    def build():  # a cache miss: from the seed, whatever loading a damaged entry drew
        config.set_seed(seed)
        return gan_lib.build_generator(filters=profile.gan_filters, num_classes=num_classes)

    def train(generator):
        _say_what_full_costs(profile)
        classifier, _ = cnn(feature_profile, seed=seed, verbose=verbose, cache_dir=cache_dir)
        (x_train, y_train), (x_test, _) = _training_data(profile, seed)
        space = sample_quality.FeatureSpace(classifier, x_test, n=profile.gan_fid_images, seed=seed)
        model = gan_lib.GAN(
            generator,
            gan_lib.build_discriminator(
                filters=profile.gan_filters[::-1], num_classes=num_classes, spectral_norm=spectral_norm
            ),
            seed=seed,
        )
        rate = profile.gan_learning_rate
        model.compile(
            d_optimizer=keras.optimizers.Adam(rate, beta_1=0.5),
            g_optimizer=keras.optimizers.Adam(rate, beta_1=0.5),
        )
        history, samples = gan_lib.train(
            model,
            x_train,
            y_train if conditional else None,
            epochs=profile.gan_epochs,
            batch_size=profile.batch_size,
            space=space,
            seed=seed,
            verbose=verbose,
        )
        cache.save(model.discriminator, f"{name}_discriminator", settings, cache_dir=cache_dir)
        return history, {"samples": samples}

    name = "dcgan" + ("_conditional" if conditional else "") + ("_sn" if spectral_norm else "")
    settings = {**settings, "seed": seed}
    with config.seeded(seed):  # the caller's random numbers afterwards do not depend on the cache
        return cache.load_or_train(
            name, settings, build, train, cache_dir=cache_dir, retrain=retrain, verbose=bool(verbose)
        )


def dcgan_discriminator(
    profile: config.Profile | None = None,
    *,
    conditional: bool = False,
    spectral_norm: bool = False,
    seed: int = config.DEFAULT_SEED,
    verbose=2,
    cache_dir=None,
) -> tuple[keras.Model, cache.CacheRecord]:
    """The discriminator trained together with :func:`dcgan`'s generator (same arguments).

    Trains the pair first when it is not cached. Returns ``(discriminator, record)`` like every
    model of the zoo: images in ``[-1, 1]`` -> logits (use
    :func:`course_utils.gan.discriminator_as_classifier` for pixels in ``[0, 1]``), and its cache
    record.
    """
    profile = profile or config.get_profile()
    kwargs = dict(
        conditional=conditional, spectral_norm=spectral_norm, seed=seed, verbose=verbose, cache_dir=cache_dir
    )
    _, record = dcgan(profile, **kwargs)
    found = cache.load(f"{record.name}_discriminator", record.settings, cache_dir=cache_dir)
    if found is None:  # a generator cached without its discriminator: train the pair again
        _, record = dcgan(profile, retrain=True, **kwargs)
        found = cache.load(f"{record.name}_discriminator", record.settings, cache_dir=cache_dir)
    return found


def ibp_mlp(
    profile: config.Profile | None = None,
    *,
    eps: float = 0.1,
    seed: int = config.DEFAULT_SEED,
    retrain: bool = False,
    verbose=2,
    cache_dir=None,
):
    """Notebook 11's MLP trained for certification: the profile's MLP widths (no dropout) trained
    with the interval-bound-propagation loss at L∞ budget ``eps`` (:func:`course_utils.certify.ibp.train_ibp`)
    for ``max(10, 2 × mlp_epochs)`` epochs, the budget ramped up from 0 over the first half.
    Trained once, then loaded from the cache.

    Returns:
        ``(model, record)`` as for :func:`mlp`.
    """
    profile = profile or config.get_profile()
    schedule = {
        "epochs": max(10, 2 * profile.mlp_epochs),
        "batch_size": profile.batch_size,
        "learning_rate": 1e-3,
    }
    key = {**profile.mlp_settings(), **schedule, "eps": eps, "method": "ibp"}

    def fit(model, x, y, **schedule):
        return ibp.train_ibp(model, x, y, eps=eps, **schedule)

    return _load_or_train(
        "mlp_ibp",
        key,
        lambda: models.build_mlp(profile.mlp_hidden, name="mlp_ibp"),
        profile,
        schedule,
        seed,
        retrain,
        verbose,
        cache_dir,
        fit=fit,
    )


def noise_cnn(
    profile: config.Profile | None = None,
    *,
    sigma: float = 0.25,
    seed: int = config.DEFAULT_SEED,
    retrain: bool = False,
    verbose=2,
    cache_dir=None,
):
    """Notebook 11's base classifier for randomized smoothing: notebook 02's CNN trained on images
    with Gaussian noise of standard deviation ``sigma`` added (a ``GaussianNoise`` input layer,
    active only in training; Cohen et al., 2019), with the CNN's schedule. Trained once, then loaded
    from the cache.

    Returns:
        ``(model, record)`` as for :func:`mlp`; the model maps clean or noisy images to logits.
    """
    profile = profile or config.get_profile()

    def build():
        inputs = keras.Input(shape=models.IMAGE_SHAPE, name="image")
        noisy = keras.layers.GaussianNoise(sigma, seed=seed, name="gaussian_noise")(inputs)
        return keras.Model(inputs, cnn_architecture(profile, seed=seed)(noisy), name="cnn_noise")

    return _load_or_train(
        "cnn_noise",
        {**profile.cnn_settings(), "noise_sigma": sigma},
        build,
        profile,
        profile.cnn_schedule_settings(),
        seed,
        retrain,
        verbose,
        cache_dir,
    )


MODELS = {
    "mlp": lambda profile, **kw: mlp(profile, **kw),
    "cnn": lambda profile, **kw: cnn(profile, **kw),
    "cnn_pgd": lambda profile, **kw: robust_cnn(profile, method="pgd", **kw),
    "cnn_fast": lambda profile, **kw: fast_robust_cnn(profile, **kw),
    "dcgan": lambda profile, **kw: dcgan(profile, **kw),
    "dcgan_conditional": lambda profile, **kw: dcgan(profile, conditional=True, **kw),
    "dcgan_sn": lambda profile, **kw: dcgan(profile, spectral_norm=True, **kw),
    "mlp_ibp": lambda profile, **kw: ibp_mlp(profile, **kw),
    "cnn_noise": lambda profile, **kw: noise_cnn(profile, **kw),
    # notebook 10's attacker: the same CNN trained from the next seed (43 for the course's 42)
    "cnn_next_seed": lambda profile, seed=config.DEFAULT_SEED, **kw: cnn(profile, seed=seed + 1, **kw),
}


def cache_status(profile: config.Profile | None = None, *, seed: int = config.DEFAULT_SEED, cache_dir=None):
    """``{name: True if cached}`` for every model of :data:`MODELS` under ``profile`` and ``seed``;
    nothing is loaded or trained."""
    profile = profile or config.get_profile()
    return {
        name: cache.locate(build, profile, seed=seed, cache_dir=cache_dir).exists()
        for name, build in MODELS.items()
    }
