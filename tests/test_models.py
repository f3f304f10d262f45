import keras
import numpy as np
import pytest

from course_utils import models


@pytest.mark.parametrize(
    "build",
    [
        lambda: models.build_mlp((32,)),
        lambda: models.build_mlp(()),
        lambda: models.build_cnn((8, 16)),
        lambda: models.build_cnn((8, 16), convs_per_block=2, batch_norm=False, augment=True),
    ],
)
def test_models_output_logits_of_the_right_shape(build):
    model = build()
    x = np.random.default_rng(0).random((5, 28, 28, 1), dtype=np.float32)
    out = np.asarray(model(x, training=False))
    assert out.shape == (5, 10)
    assert model.layers[-1].activation is keras.activations.linear  # logits, not softmax
    assert not np.allclose(out.sum(axis=1), 1.0)


def test_augmentation_is_off_at_inference():
    model = models.build_cnn((4,), augment=True, dropout=0.0)
    x = np.random.default_rng(0).random((3, 28, 28, 1), dtype=np.float32)
    np.testing.assert_array_equal(model(x, training=False), model(x, training=False))


def test_feature_extractor_shares_weights():
    model = models.build_cnn((4, 8), dense_units=12)
    features = models.feature_extractor(model)
    x = np.zeros((2, 28, 28, 1), np.float32)
    assert features(x).shape == (2, 12)
    assert features.get_layer("features") is model.get_layer("features")


def test_bad_block_count():
    with pytest.raises(ValueError, match="at least 1"):
        models.build_cnn(convs_per_block=0)
