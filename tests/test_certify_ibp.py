"""Interval bound propagation: sound bounds (every reachable logit inside them, checked by sampling
and exhaustive corner and grid search), exact for one layer, tighter margins by elision, training
that makes certificates succeed, and clear errors for what it cannot bound."""

import itertools

import keras
import numpy as np
import pytest

from course_utils import attacks, config, models
from course_utils.certify import ibp

from .helpers import linear_model


def _tiny_net(seed=0, hidden=(16, 16), classes=3):
    with config.seeded(seed):
        return models.build_mlp(hidden, input_shape=(2, 1, 1), num_classes=classes)


def _cnn(seed=0):
    with config.seeded(seed):
        model = models.build_cnn((4, 8), dense_units=16, batch_norm=True)
    rng = np.random.default_rng(seed)
    for layer in model.layers:  # BatchNorm statistics of a trained model, gammas of both signs
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.gamma.shape[0]
            layer.gamma.assign(rng.normal(size=n).astype("float32"))
            layer.beta.assign(rng.normal(size=n).astype("float32"))
            layer.moving_mean.assign(rng.normal(size=n).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.5, 2, size=n).astype("float32"))
    return model


def test_one_dense_layer_is_exact_at_the_corners():
    rng = np.random.default_rng(0)
    lower = rng.uniform(-1, 0, (5, 4))
    upper = lower + rng.uniform(0, 1, (5, 4))
    w, b = rng.normal(size=(4, 3)), rng.normal(size=3)
    low, high = ibp.interval_dense(lower, upper, w, b)
    corners = np.stack([np.where(c, upper, lower) @ w + b for c in itertools.product([0, 1], repeat=4)])
    np.testing.assert_allclose(low, corners.min(0), atol=1e-12)
    np.testing.assert_allclose(high, corners.max(0), atol=1e-12)


@pytest.mark.parametrize("build", [_tiny_net, _cnn])
def test_bounds_contain_every_sampled_output_and_collapse_at_eps_zero(build):
    model = build()
    rng = np.random.default_rng(1)
    shape = model.input_shape[1:]
    x = rng.uniform(0, 1, (6, *shape)).astype("float32")
    eps = 0.05
    lower, upper = ibp.interval_bounds(model, x, eps)
    logits = model(x, training=False).numpy()
    low0, high0 = ibp.interval_bounds(model, x, 0.0)
    np.testing.assert_allclose(low0, logits, atol=1e-4)
    np.testing.assert_allclose(high0, logits, atol=1e-4)
    for _ in range(30):
        x_near = np.clip(x + rng.uniform(-eps, eps, x.shape), 0, 1).astype("float32")
        z = model(x_near, training=False).numpy()
        assert (z >= lower - 1e-4).all() and (z <= upper + 1e-4).all()
    assert (upper - lower > 0).any()


def test_margin_bound_is_below_the_true_minimum_from_an_exhaustive_grid():
    model = _tiny_net(seed=3)
    x = np.array([[0.4, 0.6], [0.2, 0.3], [0.8, 0.5]], dtype="float32").reshape(3, 2, 1, 1)
    y = model(x, training=False).numpy().argmax(1)
    eps = 0.04
    bounds = ibp.margin_lower_bounds(model, x, y, eps)
    steps = np.linspace(-eps, eps, 81)
    grid = np.stack(np.meshgrid(steps, steps), -1).reshape(-1, 2)  # 6,561 points, corners included
    lower, upper = ibp.interval_bounds(model, x, eps)
    for i in range(3):
        points = np.clip(x[i].reshape(1, 2) + grid, 0, 1).reshape(-1, 2, 1, 1).astype("float32")
        z = model(points, training=False).numpy()
        true_min = (z[:, [y[i]]] - z).min(axis=0)  # per class j: min over the box of z_y - z_j
        assert (bounds[i] <= true_min + 1e-4).all()
        naive = lower[i, y[i]] - upper[i]
        naive[y[i]] = 0
        assert (bounds[i] >= naive - 1e-4).all()  # elision is never looser
        assert bounds[i, y[i]] == pytest.approx(0.0, abs=1e-5)


def test_a_certified_image_resists_pgd_and_the_certificate_shrinks_with_eps():
    model = _tiny_net(seed=4)
    rng = np.random.default_rng(4)
    x = rng.uniform(0, 1, (200, 2, 1, 1)).astype("float32")
    y = model(x, training=False).numpy().argmax(1)
    shares = [ibp.certified(model, x, y, eps).mean() for eps in (0.0, 0.01, 0.05, 0.2)]
    assert shares[0] == 1.0 and shares == sorted(shares, reverse=True)
    proved = ibp.certified(model, x, y, 0.05)
    assert 0 < proved.sum() < len(x)
    x_adv = attacks.pgd(model, x, y, eps=0.05, step_size=0.01, num_steps=20, restarts=3, seed=0)
    fooled = model(x_adv, training=False).numpy().argmax(1) != y
    assert not (fooled & proved).any()


@pytest.mark.slow
def test_ibp_training_makes_certificates_succeed():
    rng = np.random.default_rng(0)
    centres = np.array([[0.25, 0.25], [0.75, 0.75], [0.25, 0.75]])
    y = rng.integers(0, 3, 600)
    x = (centres[y] + rng.normal(0, 0.06, (600, 2))).clip(0, 1).astype("float32").reshape(-1, 2, 1, 1)
    model = _tiny_net(seed=5, hidden=(32,))
    before = ibp.certified(model, x, y, 0.08).mean()
    state = np.random.get_state()  # noqa: NPY002 - training must not touch the global generator
    history = ibp.train_ibp(model, x[:500], y[:500], eps=0.08, epochs=30, batch_size=50, learning_rate=3e-3,
                            validation_data=(x[500:], y[500:]), seed=0, verbose=0)  # fmt: skip
    assert np.random.get_state()[1].tolist() == state[1].tolist()  # noqa: NPY002
    assert set(history) >= {"loss", "accuracy", "certified", "val_accuracy", "val_certified", "epoch_seconds"}
    assert len(history["loss"]) == 30
    after = ibp.certified(model, x[500:], y[500:], 0.08).mean()
    assert after > max(before, 0.8), (before, after)
    assert history["val_certified"][-1] == pytest.approx(after)


def test_what_it_cannot_bound_is_a_clear_error():
    inputs = keras.Input((4, 1, 1))
    h = keras.layers.Flatten()(inputs)
    branch = keras.layers.Dense(4)(h)
    skip = keras.layers.Add()([h, branch])
    model = keras.Model(inputs, keras.layers.Dense(2)(skip))
    x = np.zeros((2, 4, 1, 1), "float32")
    with pytest.raises(ibp.UnsupportedLayerError, match="Add"):
        ibp.interval_bounds(model, x, 0.1)
    gelu = models.build_mlp((4,), input_shape=(4, 1, 1), num_classes=2, activation="gelu")
    with pytest.raises(ibp.UnsupportedLayerError, match="not monotone"):
        ibp.interval_bounds(gelu, x, 0.1)
    with pytest.raises(ValueError, match="eps must be a number >= 0"):
        ibp.interval_bounds(_tiny_net(), np.zeros((1, 2, 1, 1), "float32"), -0.1)
    with pytest.raises(TypeError, match="keras.Model"):
        ibp.interval_bounds(lambda t: t, x, 0.1)
    with pytest.raises(ValueError, match="labels"):
        ibp.margin_lower_bounds(_tiny_net(), np.zeros((3, 2, 1, 1), "float32"), [0, 1], 0.1)


def _extreme_logits(model, x, eps, sign, steps=60):
    """Each logit driven as high (sign=+1) or as low (sign=-1) as sign-gradient ascent can take it
    within the L-inf ball of radius eps around x, inside [0, 1]: (n, classes). An independent search
    of the box, so a bound that is too tight is caught where uniform samples never reach."""
    import tensorflow as tf

    x = tf.constant(x)
    classes = model.output_shape[-1]
    best = np.full((x.shape[0], classes), -np.inf if sign > 0 else np.inf, dtype=np.float32)
    for k in range(classes):
        z = tf.identity(x)
        for _ in range(steps):
            with tf.GradientTape() as tape:
                tape.watch(z)
                objective = tf.reduce_sum(sign * model(z, training=False)[:, k])
            z = tf.clip_by_value(z + (eps / 10) * tf.sign(tape.gradient(objective, z)), x - eps, x + eps)
            z = tf.clip_by_value(z, 0.0, 1.0)
            value = model(z, training=False)[:, k].numpy()
            best[:, k] = np.maximum(best[:, k], value) if sign > 0 else np.minimum(best[:, k], value)
    return best


@pytest.mark.slow
@pytest.mark.parametrize("build", [_tiny_net, _cnn])
def test_bounds_contain_the_logits_an_attack_drives_to_either_extreme(build):
    """Sound bounds hold the most extreme logits gradient ascent finds in the box (BatchNorm with
    negative gammas included), and the search reaches a real part of them."""
    model = build()
    rng = np.random.default_rng(2)
    x = rng.uniform(0, 1, (4, *model.input_shape[1:])).astype("float32")
    eps = 0.05
    lower, upper = (np.asarray(b) for b in ibp.interval_bounds(model, x, eps))
    highest, lowest = _extreme_logits(model, x, eps, +1), _extreme_logits(model, x, eps, -1)
    assert (highest <= upper + 1e-4).all(), float((highest - upper).max())
    assert (lowest >= lower - 1e-4).all(), float((lower - lowest).max())
    reached = (highest - lowest) / np.maximum(upper - lower, 1e-9)
    assert np.median(reached) > 0.05


def test_elision_makes_one_affine_layer_exact():
    """Gowal et al.'s elision bounds ``z_y - z_j`` through the last affine layer as one linear
    function: for a model that is a single Dense layer the bound is the exact minimum over the box
    (each pixel at the end its coefficient ``w_y - w_j`` points away from), where subtracting two
    logit intervals counts every pixel twice."""
    rng = np.random.default_rng(0)
    model, w, b = linear_model((3, 3, 1), 4, rng)  # the images come from the same generator
    x = rng.uniform(0, 1, size=(6, 3, 3, 1)).astype("float32")
    y = np.array([0, 1, 2, 3, 0, 1])
    eps = 0.05
    flat = x.reshape(6, -1).astype(np.float64)
    lo, hi = np.clip(flat - eps, 0, 1), np.clip(flat + eps, 0, 1)
    coef = w[:, y].T[:, :, None] - w[None]  # (N, 9, K): the weights of z_y - z_j
    exact = np.where(coef > 0, lo[:, :, None], hi[:, :, None])  # the minimising corner
    exact = (coef * exact).sum(axis=1) + b[y][:, None] - b[None]
    np.testing.assert_allclose(ibp.margin_lower_bounds(model, x, y, eps), exact, atol=1e-5)
    low, high = ibp.interval_bounds(model, x, eps)
    naive = low[np.arange(6), y][:, None] - high
    naive[np.arange(6), y] = 0.0
    assert (exact - naive > 1e-3).sum() >= 6 * 3 - 1  # the difference of intervals is looser


def test_a_tie_is_not_a_certificate():
    """Certified means every other class's margin is *positive*: with two identical output units
    the margin is exactly 0 everywhere, and the arg-max may pick either class."""
    model = keras.Sequential([keras.Input((2, 1, 1)), keras.layers.Flatten(), keras.layers.Dense(3)])
    w = np.array([[1.0, 1.0, -1.0], [2.0, 2.0, 0.5]], "float32")
    model.layers[-1].set_weights([w, np.array([0.5, 0.5, -3.0], "float32")])
    x = np.full((2, 2, 1, 1), 0.5, "float32")
    for eps in (0.0, 0.01):
        margins = ibp.margin_lower_bounds(model, x, np.zeros(2, int), eps)
        np.testing.assert_allclose(margins[:, 1], 0.0, atol=1e-7)
        assert margins[:, 2].min() > 0
        assert not ibp.certified(model, x, np.zeros(2, int), eps).any()


def test_ibp_training_and_bounds_check_their_inputs_like_every_other_trainer():
    model = _tiny_net()
    x = np.random.default_rng(0).uniform(0, 1, size=(8, 2, 1, 1)).astype("float32")
    y = np.arange(8) % 3
    with pytest.raises(ValueError, match="one-hot"):
        ibp.train_ibp(model, x, np.eye(3)[y], eps=0.1, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="Divide 0-255 images by 255"):
        ibp.train_ibp(model, x * 255, y, eps=0.1, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"y_train must lie in 0\.\.2"):
        ibp.train_ibp(model, x, y + 1, eps=0.1, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="epochs must be at least 1"):
        ibp.train_ibp(model, x, y, eps=0.1, epochs=0, verbose=0)
    with pytest.raises(ValueError, match="one label per image"):
        ibp.margin_lower_bounds(model, x, y[:-1], 0.1)
