"""Generative adversarial networks: a DCGAN for 28×28×1 images, its losses, sampling and training.

The model follows Radford, Metz & Chintala (2016, DCGAN): a generator of transposed convolutions
with BatchNorm, ending in ``tanh``; a discriminator of strided convolutions with LeakyReLU that
outputs a **logit**. Training follows Goodfellow et al. (2014) with the non-saturating generator
loss, written as a ``keras.Model`` subclass in the style of the Keras 3 custom ``train_step``
guide: two optimizers, two gradient tapes, loss trackers as metrics, a seeded random generator.

Pixel ranges. The course's images are in ``[0, 1]``; the generator works in ``[-1, 1]`` (its
``tanh``), and so does the discriminator. The conversion happens in exactly one place: the
functions :func:`to_generator_range` and :func:`to_pixel_range`. :class:`GAN` converts real
batches on the way in, :func:`sample` converts generated images on the way out, so everything a
caller sees is in ``[0, 1]``.

Sample quality (the Fréchet distance and its references) is measured by
:mod:`course_utils.sample_quality`.
"""

from __future__ import annotations

import itertools

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from course_utils import sample_quality, training

IMAGE_SHAPE = (28, 28, 1)
DEFAULT_LATENT_DIM = 64


def to_generator_range(x):
    """Pixels in ``[0, 1]`` -> the GAN's range ``[-1, 1]`` (works on arrays and tensors)."""
    return x * 2.0 - 1.0


def to_pixel_range(t):
    """The generator's ``[-1, 1]`` -> pixels in ``[0, 1]`` (clipped, for numerical safety)."""
    return keras.ops.clip((t + 1.0) / 2.0, 0.0, 1.0)


# --------------------------------------------------------------------------------------- models
def _initializers(seed: int | None):
    """Kernel and embedding initializers: Keras' defaults, seeded from ``seed`` (one per layer, in
    order) when it is given, else drawing from Keras' global random state."""
    seeds = itertools.count(seed or 0)  # seed, seed + 1, ... one per layer

    def kernel():
        return "glorot_uniform" if seed is None else keras.initializers.GlorotUniform(next(seeds))

    def embedding():
        if seed is None:
            return "uniform"
        return keras.initializers.RandomUniform(-0.05, 0.05, seed=next(seeds))

    return kernel, embedding


def build_generator(
    latent_dim: int = DEFAULT_LATENT_DIM,
    *,
    filters: tuple[int, int] = (128, 64),
    num_classes: int | None = None,
    name: str = "generator",
    seed: int | None = None,
) -> keras.Model:
    """DCGAN generator: ``z`` of shape ``(N, latent_dim)`` -> images ``(N, 28, 28, 1)`` in ``[-1, 1]``.

    Dense to a 7×7 map, then two transposed convolutions with stride 2 (7 -> 14 -> 28), BatchNorm and
    ReLU in between, ``tanh`` at the end (no BatchNorm on the output, as in DCGAN).

    Args:
        latent_dim: size of the noise vector.
        filters: channels of the 7×7 and 14×14 maps.
        num_classes: if set, a class-conditional generator with a second input, integer labels
            ``(N,)``, embedded and concatenated to ``z`` (choose which garment to draw).
        seed: seeds the initial weights (same seed, same weights); ``None`` draws them from Keras'
            global random state.
    """
    kernel, embedding = _initializers(seed)
    if latent_dim < 1:
        raise ValueError(f"latent_dim must be >= 1, got {latent_dim}.")
    z = keras.Input(shape=(latent_dim,), name="z")
    inputs, h = [z], z
    if num_classes:
        label = keras.Input(shape=(), dtype="int32", name="label")
        inputs.append(label)
        h = layers.Concatenate(name="z_and_label")(
            [
                z,
                layers.Embedding(num_classes, 16, embeddings_initializer=embedding(), name="label_embedding")(
                    label
                ),
            ]
        )
    h = layers.Dense(7 * 7 * filters[0], use_bias=False, kernel_initializer=kernel(), name="project")(h)
    h = layers.BatchNormalization(momentum=0.9, name="bn_project")(h)
    h = layers.ReLU(name="relu_project")(h)
    h = layers.Reshape((7, 7, filters[0]), name="to_7x7")(h)
    h = layers.Conv2DTranspose(
        filters[1], 4, strides=2, padding="same", use_bias=False, kernel_initializer=kernel(), name="up_14x14"
    )(h)
    h = layers.BatchNormalization(momentum=0.9, name="bn_14x14")(h)
    h = layers.ReLU(name="relu_14x14")(h)
    image = layers.Conv2DTranspose(
        1, 4, strides=2, padding="same", activation="tanh", kernel_initializer=kernel(), name="up_28x28"
    )(h)
    return keras.Model(inputs if num_classes else z, image, name=name)


@keras.saving.register_keras_serializable(package="course_utils")
class LeakyReLU(layers.LeakyReLU):
    """Keras' ``LeakyReLU``, computed as ``max(x, slope * x)``: the same values for ``0 < slope < 1``.

    TensorFlow 2.21's graph optimiser (grappler's remapper) fuses a convolution, its bias and the
    ``LeakyRelu`` op into one node, then finds that the gradient still needs the bias output: it logs
    an error-level "remapper failed" line and leaves the whole graph unoptimised. With ``max`` nothing
    is fused wrongly, so neither happens.
    """

    def call(self, inputs):
        return keras.ops.maximum(inputs, self.negative_slope * inputs)


def build_discriminator(
    *,
    filters: tuple[int, int] = (64, 128),
    num_classes: int | None = None,
    spectral_norm: bool = False,
    name: str = "discriminator",
    seed: int | None = None,
) -> keras.Model:
    """DCGAN discriminator: images ``(N, 28, 28, 1)`` in ``[-1, 1]`` -> one **logit** per image ``(N, 1)``.

    Two strided convolutions (28 -> 14 -> 7) with LeakyReLU(0.2), dropout, a dense logit. No sigmoid:
    the losses take logits, which is numerically safe (``log(sigmoid(x))`` is computed as
    ``-softplus(-x)``). No BatchNorm (DCGAN has it in both networks): with it an image's score would
    depend on the rest of its batch, and per-image gradient penalties (WGAN-GP) would not apply.

    Args:
        filters: channels of the two convolutions.
        num_classes: if set, a class-conditional discriminator with a second input, integer labels,
            embedded as an extra 28×28 channel.
        spectral_norm: wrap both convolutions and the logit layer in
            ``keras.layers.SpectralNormalization`` (Miyato et al., 2018: each layer's largest singular
            value is kept at 1, one power iteration per training call, so the network is at most
            1-Lipschitz; for a convolution Keras normalises the kernel reshaped into a matrix, which
            bounds the convolution's own norm only approximately) and leave out the dropout, as
            SN-GAN does: the constraint is the regulariser.
        seed: seeds the initial weights and the dropout (same seed, same weights); ``None`` uses
            Keras' global random state.
    """
    kernel, embedding = _initializers(seed)

    def normalized(layer):
        return layers.SpectralNormalization(layer, name=f"sn_{layer.name}") if spectral_norm else layer

    image = keras.Input(shape=IMAGE_SHAPE, name="image")
    inputs, h = [image], image
    if num_classes:
        label = keras.Input(shape=(), dtype="int32", name="label")
        inputs.append(label)
        plane = layers.Embedding(
            num_classes, 28 * 28, embeddings_initializer=embedding(), name="label_embedding"
        )(label)
        h = layers.Concatenate(name="image_and_label")(
            [image, layers.Reshape(IMAGE_SHAPE, name="label_plane")(plane)]
        )
    h = normalized(
        layers.Conv2D(
            filters[0], 4, strides=2, padding="same", kernel_initializer=kernel(), name="down_14x14"
        )
    )(h)
    h = LeakyReLU(0.2, name="lrelu_14x14")(h)
    h = normalized(
        layers.Conv2D(filters[1], 4, strides=2, padding="same", kernel_initializer=kernel(), name="down_7x7")
    )(h)
    h = LeakyReLU(0.2, name="lrelu_7x7")(h)
    h = layers.Flatten(name="flatten")(h)
    if not spectral_norm:
        h = layers.Dropout(0.3, seed=None if seed is None else seed + 999, name="dropout")(h)
    logit = normalized(layers.Dense(1, kernel_initializer=kernel(), name="logit"))(h)
    return keras.Model(inputs if num_classes else image, logit, name=name)


def latent_dim_of(generator: keras.Model) -> int:
    """The size of ``generator``'s noise input."""
    return int(generator.inputs[0].shape[-1])


def num_classes_of(generator: keras.Model) -> int | None:
    """The number of classes of a conditional generator, ``None`` for an unconditional one."""
    if len(generator.inputs) < 2:
        return None
    return int(generator.get_layer("label_embedding").input_dim)


def sample(generator: keras.Model, n: int | None = None, *, labels=None, z=None, seed: int = 0) -> np.ndarray:
    """Draw images from ``generator``, in inference mode, as pixels in ``[0, 1]``.

    Args:
        generator: from :func:`build_generator` (or a saved copy).
        n: number of images (or give ``z``).
        labels: integer classes ``(n,)`` for a conditional generator (required there).
        z: the noise ``(n, latent_dim)`` to use; drawn from N(0, I) with ``seed`` when ``None``.
        seed: seeds the noise: the same seed gives the same images.

    Returns:
        float32 array ``(n, 28, 28, 1)`` in ``[0, 1]``.
    """
    latent_dim, num_classes = latent_dim_of(generator), num_classes_of(generator)
    if z is None:
        if n is None or n < 1:
            raise ValueError("Give the number of images n (>= 1) or the noise z.")
        z = np.random.default_rng(seed).standard_normal((n, latent_dim)).astype("float32")
    z = np.asarray(z, dtype="float32")
    if z.ndim != 2 or z.shape[1] != latent_dim:
        raise ValueError(f"z must have shape (n, {latent_dim}), got {z.shape}.")
    if num_classes:
        if labels is None:
            raise ValueError(
                f"This generator is class-conditional: pass labels, integers in [0, {num_classes})."
            )
        labels = np.broadcast_to(np.asarray(labels, dtype="int32"), (len(z),))
        if labels.min() < 0 or labels.max() >= num_classes:
            raise ValueError(f"labels must be in [0, {num_classes}), got {labels.min()}..{labels.max()}.")
    elif labels is not None:
        raise ValueError("This generator is unconditional: it takes no labels.")
    images = []
    for start in range(0, len(z), 512):
        part = (
            z[start : start + 512]
            if not num_classes
            else [z[start : start + 512], labels[start : start + 512]]
        )
        images.append(np.asarray(to_pixel_range(generator(part, training=False))))
    return np.concatenate(images).astype("float32")


def cycling_labels(generator: keras.Model, n: int) -> np.ndarray | None:
    """Labels ``0, 1, ..., K-1, 0, 1, ...`` (``n`` of them) for a conditional generator with ``K``
    classes, so that every class is drawn equally often; ``None`` for an unconditional one."""
    num_classes = num_classes_of(generator)
    return np.arange(n) % num_classes if num_classes else None


# ------------------------------------------------------------------------------------- training
def discriminator_loss(real_logits, fake_logits):
    """``-log D(x) - log(1 - D(G(z)))``, averaged, from logits (D = sigmoid of the logit).

    Computed as ``softplus(-real) + softplus(fake)``, which equals the formula but never takes the
    log of 0.
    """
    return keras.ops.mean(keras.ops.softplus(-real_logits)) + keras.ops.mean(keras.ops.softplus(fake_logits))


def generator_loss(fake_logits):
    """The non-saturating generator loss ``-log D(G(z))``, averaged, from logits.

    Goodfellow et al. (2014) proposed it instead of minimising ``log(1 - D(G(z)))``, whose gradient
    vanishes exactly when the generator is bad and the discriminator confident (early in training).
    """
    return keras.ops.mean(keras.ops.softplus(-fake_logits))


class GAN(keras.Model):
    """A generator and a discriminator trained against each other; ``fit`` on images in ``[0, 1]``.

    ``fit(x)`` for an unconditional GAN, ``fit(x, y)`` (or a dataset of ``(x, y)``) for a conditional
    one. Each ``train_step`` takes one discriminator step (real batch against a fresh fake batch),
    then one generator step (another fresh fake batch), each with its own optimizer and its own
    tape, so no ``trainable = False`` trick is needed: each optimizer only updates its own network.

    Metrics: ``d_loss``, ``g_loss``, and ``d_real`` / ``d_fake``: the discriminator's mean
    probability that real / generated images are real (at the equilibrium both are 0.5).

    Args:
        generator: from :func:`build_generator`.
        discriminator: from :func:`build_discriminator` (conditional iff the generator is).
        seed: seeds the noise (a ``keras.random.SeedGenerator``).
    """

    def __init__(self, generator, discriminator, *, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.generator, self.discriminator = generator, discriminator
        self.latent_dim = latent_dim_of(generator)
        self.num_classes = num_classes_of(generator)
        if (len(discriminator.inputs) > 1) != bool(self.num_classes):
            raise ValueError("Generator and discriminator must both be conditional or both unconditional.")
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.d_real_tracker = keras.metrics.Mean(name="d_real")
        self.d_fake_tracker = keras.metrics.Mean(name="d_fake")
        self.built = True  # nothing of its own: the two networks are built

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker, self.d_real_tracker, self.d_fake_tracker]

    def compile(self, d_optimizer=None, g_optimizer=None, **kwargs):
        """Adam(2e-4, beta_1=0.5) for both networks unless given (the DCGAN paper's setting);
        ``training.STEPS_PER_EXECUTION`` batches per compiled call unless ``steps_per_execution`` is
        given (the same training, with less per-batch overhead)."""
        kwargs.setdefault("steps_per_execution", training.STEPS_PER_EXECUTION)
        super().compile(**kwargs)
        self.d_optimizer = d_optimizer or keras.optimizers.Adam(2e-4, beta_1=0.5)
        self.g_optimizer = g_optimizer or keras.optimizers.Adam(2e-4, beta_1=0.5)

    def call(self, z, training=False):
        return self.generator(z, training=training)

    def _fake(self, batch_size, training):
        z = keras.random.normal((batch_size, self.latent_dim), seed=self.seed_generator)
        if not self.num_classes:
            return self.generator(z, training=training), None
        labels = keras.random.randint(
            (batch_size,), 0, self.num_classes, seed=self.seed_generator, dtype="int32"
        )
        return self.generator([z, labels], training=training), labels

    def _judge(self, images, labels):
        inputs = images if labels is None else [images, labels]
        return self.discriminator(inputs, training=True)

    def train_step(self, data):
        if isinstance(data, (tuple, list)):
            x, y = data[0], (data[1] if len(data) > 1 else None)
        else:
            x, y = data, None
        if self.num_classes and y is None:
            raise ValueError("A conditional GAN trains on (images, labels): call fit(x, y).")
        real = to_generator_range(tf.cast(x, "float32"))
        real_labels = tf.cast(y, "int32") if self.num_classes else None
        batch_size = tf.shape(real)[0]

        fake, fake_labels = self._fake(batch_size, training=True)
        with tf.GradientTape() as tape:
            real_logits = self._judge(real, real_labels)
            fake_logits = self._judge(fake, fake_labels)
            d_loss = discriminator_loss(real_logits, fake_logits)
        grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
        self.d_optimizer.apply(grads, self.discriminator.trainable_weights)

        with tf.GradientTape() as tape:
            fake, fake_labels = self._fake(batch_size, training=True)
            g_loss = generator_loss(self._judge(fake, fake_labels))
        grads = tape.gradient(g_loss, self.generator.trainable_weights)
        self.g_optimizer.apply(grads, self.generator.trainable_weights)

        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        self.d_real_tracker.update_state(keras.ops.mean(keras.ops.sigmoid(real_logits)))
        self.d_fake_tracker.update_state(keras.ops.mean(keras.ops.sigmoid(fake_logits)))
        return {m.name: m.result() for m in self.metrics}


def make_gan(
    latent_dim: int = DEFAULT_LATENT_DIM,
    *,
    num_classes: int | None = None,
    generator_filters=(128, 64),
    discriminator_filters=(64, 128),
    seed: int = 0,
) -> GAN:
    """A compiled DCGAN with the DCGAN paper's optimiser (Adam 2e-4, beta_1 0.5), ready for ``fit``.

    ``seed`` fixes the initial weights and the training noise; the global random state is left alone.
    """
    gan = GAN(
        build_generator(latent_dim, filters=generator_filters, num_classes=num_classes, seed=seed),
        build_discriminator(filters=discriminator_filters, num_classes=num_classes, seed=seed + 100),
        seed=seed,
    )
    gan.compile()
    return gan


class FixedNoiseSamples(keras.callbacks.Callback):
    """Draws the same ``n`` noise vectors after every epoch: one row of a "samples over time" figure.

    ``self.images`` is a list (one entry per epoch, plus one before training when
    ``include_start``) of float32 arrays ``(n, 28, 28, 1)`` in ``[0, 1]``; :attr:`stacked` has shape
    ``(epochs, n, 28, 28, 1)``. For a conditional GAN the labels cycle through the classes.
    """

    def __init__(self, n: int = 16, *, seed: int = 0, include_start: bool = True):
        super().__init__()
        self.n, self.seed, self.include_start = n, seed, include_start
        self.images: list[np.ndarray] = []

    def _draw(self):
        generator = self.model.generator
        return sample(generator, z=self._z, labels=cycling_labels(generator, self.n))

    def on_train_begin(self, logs=None):
        self._z = np.random.default_rng(self.seed).standard_normal(
            (self.n, latent_dim_of(self.model.generator))
        )
        self.images = [self._draw()] if self.include_start else []

    def on_epoch_end(self, epoch, logs=None):
        self.images.append(self._draw())

    @property
    def stacked(self) -> np.ndarray:
        return np.stack(self.images)


def discriminator_as_classifier(discriminator: keras.Model) -> keras.Model:
    """Wrap an unconditional discriminator as a two-class classifier on pixels in ``[0, 1]``.

    Returns a model with logits ``(N, 2)``: class 0 "generated" (logit 0), class 1 "real" (the
    discriminator's logit), so that ``softmax`` gives ``1 - D(x)`` and ``D(x)``. With it, the attacks
    of :mod:`course_utils.attacks` apply to the discriminator unchanged.
    """
    if len(discriminator.inputs) > 1:
        raise ValueError("Only an unconditional discriminator can be wrapped (it takes no labels).")
    pixels = keras.Input(shape=IMAGE_SHAPE, name="pixels")
    logit = discriminator(to_generator_range(pixels))
    logits = keras.ops.concatenate([keras.ops.zeros_like(logit), logit], axis=-1)
    return keras.Model(pixels, logits, name=f"{discriminator.name}_as_classifier")


class FrechetDistanceMonitor(keras.callbacks.Callback):
    """After every epoch, the Fréchet distance of ``space.n`` fresh samples, as ``logs["fid"]``
    (so it lands in the History next to the losses). The noise is the same each epoch."""

    def __init__(self, space: sample_quality.FeatureSpace, *, seed: int = 0):
        super().__init__()
        self.space, self.seed = space, seed

    def on_epoch_end(self, epoch, logs=None):
        generator = self.model.generator
        labels = cycling_labels(generator, self.space.n)
        fid = self.space.distance(sample(generator, self.space.n, labels=labels, seed=self.seed))
        if logs is not None:
            logs["fid"] = fid


def train(
    model: GAN,
    x,
    y=None,
    *,
    epochs: int,
    batch_size: int = 128,
    space: sample_quality.FeatureSpace | None = None,
    num_samples: int = 16,
    seed: int = 0,
    verbose=2,
):
    """Train ``model`` on images ``x`` in ``[0, 1]`` (and labels ``y`` if conditional), recording
    what a lesson or a benchmark wants to show afterwards.

    Returns:
        ``(history, samples)``: the History's dict (``d_loss``, ``g_loss``, ``d_real``, ``d_fake``,
        ``epoch_seconds`` and, with ``space``, the Fréchet distance ``fid`` after every epoch), and
        the :class:`FixedNoiseSamples` images, shape ``(epochs + 1, num_samples, 28, 28, 1)``
        (before training, then after each epoch).
    """
    x = np.asarray(x, dtype="float32")
    if x.ndim != 4 or x.shape[1:] != IMAGE_SHAPE:
        raise ValueError(f"x must be images of shape (N, 28, 28, 1), got {x.shape}.")
    sample_quality.check_pixels(x, "x")
    if y is not None and len(y) != len(x):
        raise ValueError(f"x and y differ in length: {len(x)} images, {len(y)} labels.")
    snapshots = FixedNoiseSamples(num_samples, seed=seed)
    callbacks = [training.EpochTimer(), snapshots]
    if space is not None:
        callbacks.append(FrechetDistanceMonitor(space, seed=seed))
    # A tf.data pipeline, shuffled with `seed` every epoch: Keras' own batching of NumPy arrays ends in a
    # partial batch that logs an error-level line under op determinism (config.set_seed).
    dataset = tf.data.Dataset.from_tensor_slices(x if y is None else (x, np.asarray(y)))
    dataset = dataset.shuffle(len(x), seed=seed, reshuffle_each_iteration=True).batch(batch_size)
    history = model.fit(dataset, epochs=epochs, verbose=verbose, callbacks=callbacks, shuffle=False)
    return dict(history.history), snapshots.stacked
