"""Classifier builders: a multilayer perceptron and a small CNN. Both output **logits**.

Logits (unnormalised scores, one per class) rather than softmax probabilities: the losses use
``from_logits=True`` for numerical stability, and the attack notebooks need logits because the
gradient of a saturated softmax vanishes (a classic reason why attacks "fail" for the wrong reason).
Apply ``keras.ops.softmax`` yourself when you want probabilities.
"""

from __future__ import annotations

import keras
from keras import layers

IMAGE_SHAPE = (28, 28, 1)
NUM_CLASSES = 10


def build_mlp(
    hidden_units=(256, 128),
    *,
    input_shape=IMAGE_SHAPE,
    num_classes: int = NUM_CLASSES,
    activation: str = "relu",
    dropout: float = 0.0,
    name: str = "mlp",
) -> keras.Model:
    """A fully connected network: flatten -> [dense + activation (+ dropout)] * k -> dense logits.

    Args:
        hidden_units: width of each hidden layer; ``()`` gives multinomial logistic regression.
        input_shape: shape of one image, default ``(28, 28, 1)``.
        num_classes: number of logits.
        activation: hidden activation (any Keras name).
        dropout: dropout rate after each hidden layer (0 disables it).
        name: model name.

    Returns:
        ``keras.Model`` mapping float32 ``(N, *input_shape)`` in [0, 1] to logits ``(N, num_classes)``.
    """
    inputs = keras.Input(shape=input_shape, name="image")
    h = layers.Flatten(name="flatten")(inputs)
    for i, units in enumerate(hidden_units, start=1):
        h = layers.Dense(units, activation=activation, name=f"dense_{i}")(h)
        if dropout:
            h = layers.Dropout(dropout, name=f"dropout_{i}")(h)
    logits = layers.Dense(num_classes, name="logits")(h)
    return keras.Model(inputs, logits, name=name)


def build_cnn(
    filters=(32, 64),
    *,
    convs_per_block: int = 1,
    dense_units: int = 128,
    batch_norm: bool = True,
    dropout: float = 0.3,
    augment: bool = False,
    input_shape=IMAGE_SHAPE,
    num_classes: int = NUM_CLASSES,
    seed: int = 0,
    name: str = "cnn",
) -> keras.Model:
    """A small VGG-style CNN: blocks of [3x3 conv (+ BatchNorm) + ReLU] * k + 2x2 max-pool.

    The default (two blocks of one conv, BatchNorm) follows the "2 Conv+pooling+BN" row that users
    submitted to the Fashion-MNIST repository's benchmark table; ``convs_per_block=2`` with
    ``augment=True`` is the larger model of the ``full`` profile.

    Args:
        filters: filters of each block; the spatial size halves after each block.
        convs_per_block: 3x3 convolutions per block.
        dense_units: width of the dense layer before the logits.
        batch_norm: BatchNorm after each convolution (faster, more stable training).
        dropout: dropout rate before the dense and logit layers.
        augment: random shifts (up to 2 pixels) and horizontal flips, active only in training.
        input_shape: shape of one image, default ``(28, 28, 1)``.
        num_classes: number of logits.
        seed: seed of the augmentation layers.
        name: model name.

    Returns:
        ``keras.Model`` mapping float32 ``(N, *input_shape)`` in [0, 1] to logits ``(N, num_classes)``.
    """
    if convs_per_block < 1:
        raise ValueError(f"convs_per_block must be at least 1, got {convs_per_block}.")
    inputs = keras.Input(shape=input_shape, name="image")
    h = inputs
    if augment:
        shift = 2.0 / input_shape[0]
        h = layers.RandomFlip("horizontal", seed=seed, name="random_flip")(h)
        h = layers.RandomTranslation(shift, shift, fill_mode="constant", seed=seed + 1, name="random_shift")(
            h
        )
    for b, width in enumerate(filters, start=1):
        for c in range(1, convs_per_block + 1):
            h = layers.Conv2D(width, 3, padding="same", use_bias=not batch_norm, name=f"conv{b}_{c}")(h)
            if batch_norm:
                h = layers.BatchNormalization(momentum=0.9, name=f"bn{b}_{c}")(h)
            h = layers.ReLU(name=f"relu{b}_{c}")(h)
        h = layers.MaxPooling2D(2, name=f"pool{b}")(h)
    h = layers.Flatten(name="flatten")(h)
    if dropout:
        h = layers.Dropout(dropout, seed=seed + 2, name="dropout_1")(h)
    h = layers.Dense(dense_units, activation="relu", name="features")(h)
    if dropout:
        h = layers.Dropout(dropout, seed=seed + 3, name="dropout_2")(h)
    logits = layers.Dense(num_classes, name="logits")(h)
    return keras.Model(inputs, logits, name=name)


def feature_extractor(model: keras.Model, layer_name: str = "features") -> keras.Model:
    """A model sharing ``model``'s weights that outputs the activations of ``layer_name``
    (default: the CNN's penultimate dense layer), e.g. for embeddings or feature statistics."""
    return keras.Model(model.input, model.get_layer(layer_name).output, name=f"{model.name}_{layer_name}")
