"""Attack kernels on tiny models with known answers: closed-form FGSM on a linear model, the
ε-ball and pixel-range invariants, targeted success, restarts, determinism and every bad input."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from course_utils import attacks

from .helpers import linear_model, tiny_classifier


def closed_form_gradient(x, y, w, b):
    """∂/∂x of the cross-entropy of softmax(xW + b) at label y: W (softmax − onehot), float64."""
    flat = x.reshape(len(x), -1).astype(np.float64)
    z = flat @ w + b
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(y)), y] -= 1.0
    return (p @ w.T).reshape(x.shape)


@pytest.fixture
def images():
    rng = np.random.default_rng(1)
    return rng.uniform(0.05, 0.95, size=(12, 2, 2, 1)).astype(np.float32), rng.integers(0, 3, size=12)


def test_fgsm_linf_is_exactly_the_closed_form(images):
    x, y = images
    model, w, b = linear_model()
    grad = closed_form_gradient(x, y, w, b)
    assert np.abs(grad).min() > 1e-4  # no sign ambiguity in the known answer
    expected = np.clip(x + np.float32(0.1) * np.sign(grad).astype(np.float32), 0.0, 1.0)
    np.testing.assert_array_equal(attacks.fgsm(model, x, y, eps=0.1), expected)


def test_fgsm_l2_follows_the_normalised_gradient(images):
    x, y = images
    model, w, b = linear_model()
    grad = closed_form_gradient(x, y, w, b)
    unit = grad / np.sqrt((grad**2).sum(axis=(1, 2, 3), keepdims=True))
    expected = np.clip(x + 0.05 * unit, 0.0, 1.0)
    np.testing.assert_allclose(attacks.fgsm(model, x, y, eps=0.05, norm=2), expected, atol=1e-6)


def test_targeted_fgsm_descends_the_target_loss(images):
    x, y = images
    model, w, b = linear_model()
    target = (y + 1) % 3
    sign = np.sign(closed_form_gradient(x, target, w, b)).astype(np.float32)
    expected = np.clip(x - np.float32(0.1) * sign, 0.0, 1.0)
    np.testing.assert_array_equal(attacks.fgsm(model, x, y, eps=0.1, target=target), expected)
    np.testing.assert_array_equal(attacks.fgsm(model, x, eps=0.1, target=target), expected)  # y not needed


def test_input_gradients_match_the_closed_form(images):
    x, y = images
    model, w, b = linear_model()
    got = attacks.input_gradients(model, x, y, batch_size=5)
    np.testing.assert_allclose(got, closed_form_gradient(x, y, w, b), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("norm", ["inf", 2])
def test_eps_zero_is_the_identity(images, norm):
    x, y = images
    model, _, _ = linear_model()
    np.testing.assert_array_equal(attacks.fgsm(model, x, y, eps=0.0, norm=norm), x)
    np.testing.assert_array_equal(attacks.pgd(model, x, y, eps=0.0, step_size=0.1, num_steps=3, norm=norm), x)


@pytest.mark.parametrize("norm,eps", [("inf", 0.1), (2, 0.5)])
def test_every_output_stays_in_the_ball_and_the_pixel_range(norm, eps):
    model = tiny_classifier(classes=5)
    rng = np.random.default_rng(2)
    x = rng.uniform(0, 1, size=(20, 8, 8, 1)).astype(np.float32)
    x[:5] = 0.0  # pixels at the edge of the range must stay inside it
    x[5:10] = 1.0
    y = rng.integers(0, 5, size=20)
    outputs = [
        attacks.fgsm(model, x, y, eps=eps, norm=norm),
        attacks.pgd(model, x, y, eps=eps, step_size=eps / 2, num_steps=7, norm=norm, seed=0, batch_size=6),
        attacks.pgd(model, x, y, eps=eps, step_size=eps, num_steps=3, norm=norm, restarts=3, seed=1),
        attacks.random_perturbation(x, eps=eps, norm=norm, seed=0),
        attacks.random_perturbation(x, eps=eps, norm=norm, seed=0, surface=True),
    ]
    for x_adv in outputs:
        assert x_adv.shape == x.shape and x_adv.dtype == np.float32
        assert attacks.perturbation_norms(x_adv, x, norm).max() <= eps + 1e-6
        assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0


def test_random_perturbation_on_the_surface_has_size_eps():
    x = np.full((4, 8, 8, 1), 0.5, dtype=np.float32)
    np.testing.assert_allclose(
        attacks.perturbation_norms(attacks.random_perturbation(x, eps=0.1, seed=0, surface=True), x),
        0.1,
        rtol=1e-6,
    )
    x_l2 = attacks.random_perturbation(x, eps=0.3, norm=2, seed=0, surface=True)
    np.testing.assert_allclose(attacks.perturbation_norms(x_l2, x, 2), 0.3, rtol=1e-5)


def test_perturbation_norms_known_answer():
    x = np.zeros((2, 1, 2, 1))
    x_adv = np.array([[[[0.3], [-0.4]]], [[[0.0], [0.0]]]])
    np.testing.assert_allclose(attacks.perturbation_norms(x_adv, x, "inf"), [0.4, 0.0])
    np.testing.assert_allclose(attacks.perturbation_norms(x_adv, x, 2), [0.5, 0.0])


@pytest.mark.parametrize("norm,eps,step", [("inf", 1.0, 0.25), (2, 2.0, 0.5)])
def test_targeted_pgd_reaches_its_target(images, norm, eps, step):
    x, y = images
    model, _, _ = linear_model()
    # Class k wins when pixel k is the brightest of the first three: every target is reachable.
    model.layers[-1].set_weights([np.eye(4, 3, dtype=np.float32) * 5.0, np.zeros(3, np.float32)])
    target = (np.asarray(model(x)).argmax(axis=1) + 1) % 3
    x_adv = attacks.pgd(model, x, y, eps=eps, step_size=step, num_steps=20, norm=norm, target=target, seed=0)
    np.testing.assert_array_equal(np.asarray(model(x_adv)).argmax(axis=1), target)


def test_pgd_is_at_least_as_strong_as_fgsm_and_climbs_the_loss():
    model = tiny_classifier(classes=5)
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 1, size=(64, 8, 8, 1)).astype(np.float32)
    y = np.asarray(model(x)).argmax(axis=1)

    def loss(images):
        return np.asarray(attacks.cross_entropy(y, model(images)))

    x_fgsm = attacks.fgsm(model, x, y, eps=0.05)
    x_pgd = attacks.pgd(
        model, x, y, eps=0.05, step_size=0.01, num_steps=20, rand_init=False, early_stop=False
    )
    assert loss(x_fgsm).mean() > loss(x).mean()
    assert loss(x_pgd).mean() >= loss(x_fgsm).mean()


def test_restarts_are_never_weaker_than_one_run():
    model = tiny_classifier(classes=5)
    rng = np.random.default_rng(4)
    x = rng.uniform(0, 1, size=(64, 8, 8, 1)).astype(np.float32)
    y = np.asarray(model(x)).argmax(axis=1)
    kwargs = dict(eps=0.02, step_size=0.005, num_steps=5, seed=7)
    one = attacks.pgd(model, x, y, **kwargs)
    many = attacks.pgd(model, x, y, restarts=4, **kwargs)
    pred_one, pred_many = np.asarray(model(one)).argmax(1), np.asarray(model(many)).argmax(1)
    fooled_one, fooled_many = pred_one != y, pred_many != y
    assert np.all(fooled_many[fooled_one])  # every image broken by one run stays broken
    assert 0 < fooled_many.sum() < len(y)  # the case is not trivial
    loss_one = np.asarray(attacks.cross_entropy(y, model(one)))
    loss_many = np.asarray(attacks.cross_entropy(y, model(many)))
    still = ~fooled_many
    assert np.all(loss_many[still] >= loss_one[still] - 1e-6)


def test_same_seed_same_result_and_seed_matters():
    model = tiny_classifier(classes=5)
    x = np.random.default_rng(5).uniform(0, 1, size=(10, 8, 8, 1)).astype(np.float32)
    kwargs = dict(eps=0.1, step_size=0.02, num_steps=3, restarts=2)
    a = attacks.pgd(model, x, eps=0.1, step_size=0.02, num_steps=3, restarts=2, seed=11)
    b = attacks.pgd(model, x, **kwargs, seed=11)
    c = attacks.pgd(model, x, **kwargs, seed=12)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_y_none_attacks_the_models_own_predictions(images):
    x, _ = images
    model, _, _ = linear_model()
    pred = np.asarray(model(x)).argmax(axis=1)
    np.testing.assert_array_equal(attacks.fgsm(model, x, eps=0.1), attacks.fgsm(model, x, pred, eps=0.1))


def test_a_reduced_keras_loss_gives_the_same_fgsm(images):
    x, y = images
    model, _, _ = linear_model()
    mean_loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    np.testing.assert_array_equal(
        attacks.fgsm(model, x, y, eps=0.1, loss=mean_loss), attacks.fgsm(model, x, y, eps=0.1)
    )
    # A reduced loss cannot rank restarts per example; the attack still runs and stays valid.
    x_adv = attacks.pgd(model, x, y, eps=0.1, step_size=0.05, num_steps=2, restarts=2, loss=mean_loss, seed=0)
    assert attacks.perturbation_norms(x_adv, x).max() <= 0.1 + 1e-6


def test_margin_loss_known_answer_and_positive_iff_misclassified():
    logits = np.array([[1.0, 3.0, 2.0], [5.0, 1.0, 0.0]], dtype=np.float32)
    np.testing.assert_allclose(attacks.margin_loss(np.array([0, 0]), logits), [2.0, -4.0])


def test_the_gradient_step_is_compiled_once_per_model_and_shape():
    model = tiny_classifier(classes=5)
    x = np.random.default_rng(6).uniform(0, 1, size=(13, 8, 8, 1)).astype(np.float32)
    for n in (13, 7):  # a different number of images, and a last batch of another size
        attacks.pgd(model, x[:n], eps=0.1, step_size=0.02, num_steps=2, seed=0, batch_size=5)
    steps = [fn for key, fn in attacks.compiled_kernels(model).items() if key[0] == "step"]
    assert len(steps) == 1 and steps[0].experimental_get_tracing_count() == 1


# ------------------------------------------------------------------------------ bad input


@pytest.fixture
def setup(images):
    x, y = images
    model, _, _ = linear_model()
    return model, x, y


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(eps=-0.1), "eps must be"),
        (dict(eps=float("nan")), "eps must be"),
        (dict(eps=8.0), "8/255"),
        (dict(eps=0.1, norm="l1"), "Unknown norm"),
        (dict(eps=0.1, clip_min=1.0, clip_max=0.0), "clip_min"),
    ],
)
def test_bad_attack_settings_are_refused(setup, kwargs, match):
    model, x, y = setup
    with pytest.raises(ValueError, match=match):
        attacks.fgsm(model, x, y, **kwargs)
    with pytest.raises(ValueError, match=match):
        attacks.pgd(model, x, y, step_size=0.01, num_steps=2, **kwargs)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(step_size=0.0, num_steps=2), "step_size must be > 0"),
        (dict(step_size=-1.0, num_steps=2), "step_size must be > 0"),
        (dict(step_size=0.01, num_steps=0), "num_steps must be"),
        (dict(step_size=0.01, num_steps=2.5), "num_steps must be"),
        (dict(step_size=0.01, num_steps=2, restarts=0), "restarts must be"),
        (dict(step_size=0.01, num_steps=2, restarts=3, rand_init=False), "same deterministic attack 3 times"),
    ],
)
def test_bad_pgd_schedule_is_refused(setup, kwargs, match):
    model, x, y = setup
    with pytest.raises(ValueError, match=match):
        attacks.pgd(model, x, y, eps=0.1, **kwargs)


def test_images_in_0_255_are_refused_with_a_hint(setup):
    model, x, y = setup
    with pytest.raises(ValueError, match="divide by 255"):
        attacks.fgsm(model, x * 255.0, y, eps=0.1)
    with pytest.raises(ValueError, match="astype"):
        attacks.fgsm(model, (x * 255).astype(np.uint8), y, eps=0.1)
    with pytest.raises(ValueError, match="NaN"):
        attacks.fgsm(model, np.full_like(x, np.nan), y, eps=0.1)


def test_labels_that_do_not_match_are_refused(setup):
    model, x, y = setup
    with pytest.raises(ValueError, match="one label per image"):
        attacks.fgsm(model, x, y[:-1], eps=0.1)
    with pytest.raises(ValueError, match="one-hot"):
        attacks.fgsm(model, x, np.eye(3)[y], eps=0.1)
    with pytest.raises(ValueError, match=r"y must lie in 0\.\.2"):
        attacks.fgsm(model, x, y + 3, eps=0.1)
    with pytest.raises(ValueError, match=r"target must lie in 0\.\.2"):
        attacks.pgd(model, x, eps=0.1, step_size=0.01, num_steps=2, target=5)
    with pytest.raises(ValueError, match="target has 2 labels"):
        attacks.pgd(model, x, eps=0.1, step_size=0.01, num_steps=2, target=[0, 1])


def test_a_softmax_model_is_refused_with_pass_logits(setup):
    _, x, y = setup
    probs = keras.Sequential(
        [keras.Input((2, 2, 1)), keras.layers.Flatten(), keras.layers.Dense(3, activation="softmax")]
    )
    for attack in (
        lambda: attacks.fgsm(probs, x, y, eps=0.1),
        lambda: attacks.pgd(probs, x, y, eps=0.1, step_size=0.01, num_steps=1),
    ):
        with pytest.raises(ValueError, match="Pass logits"):
            attack()


def test_a_plain_tensorflow_function_can_be_attacked(images):
    x, y = images
    model, w, b = linear_model()

    def plain(batch):  # no `training` argument
        return tf.reshape(batch, (-1, 4)) @ w + b

    np.testing.assert_array_equal(attacks.fgsm(plain, x, y, eps=0.1), attacks.fgsm(model, x, y, eps=0.1))


def test_early_stop_keeps_every_success_and_returns_adversarial_iterates():
    model = tiny_classifier(classes=5)
    rng = np.random.default_rng(8)
    x = rng.uniform(0, 1, size=(48, 8, 8, 1)).astype(np.float32)
    y = np.asarray(model(x)).argmax(axis=1)
    kwargs = dict(eps=0.03, step_size=0.01, num_steps=8, seed=3)
    full = attacks.pgd(model, x, y, early_stop=False, **kwargs)
    early = attacks.pgd(model, x, y, early_stop=True, **kwargs)
    fooled_full = np.asarray(model(full)).argmax(1) != y
    fooled_early = np.asarray(model(early)).argmax(1) != y
    assert 0 < fooled_full.sum() < len(y)
    assert np.all(fooled_early[fooled_full])
    assert attacks.perturbation_norms(early, x).max() <= 0.03 + 1e-6


def test_pgd_tensor_matches_pgd_without_random_start():
    model = tiny_classifier(classes=5)
    rng = np.random.default_rng(9)
    x = rng.uniform(0, 1, size=(16, 8, 8, 1)).astype(np.float32)
    y = rng.integers(0, 5, size=16)
    kwargs = dict(eps=0.05, step_size=0.01, num_steps=4, rand_init=False)
    for norm in ("inf", 2):
        ours = attacks.pgd_tensor(model, tf.constant(x), tf.constant(y), norm=norm, **kwargs)
        reference = attacks.pgd(model, x, y, norm=norm, early_stop=False, **kwargs)
        np.testing.assert_allclose(np.asarray(ours), reference, atol=1e-6)


@pytest.mark.parametrize("norm,eps", [("inf", 0.1), (2, 0.5)])
def test_pgd_tensor_runs_in_a_graph_with_a_seed_generator(norm, eps):
    model = tiny_classifier(classes=5)
    x = np.random.default_rng(10).uniform(0, 1, size=(12, 8, 8, 1)).astype(np.float32)
    y = np.asarray(model(x)).argmax(axis=1)

    def run(seed_value):
        generator = keras.random.SeedGenerator(seed_value)

        @tf.function
        def fast_fgsm(xb, yb):  # FGSM with random start, as in "Fast is better than free"
            return attacks.pgd_tensor(
                model, xb, yb, eps=eps, step_size=1.25 * eps, num_steps=1, norm=norm, seed=generator
            )

        return [np.asarray(fast_fgsm(tf.constant(x), tf.constant(y))) for _ in range(2)]

    first, second = run(0)
    again, _ = run(0)
    np.testing.assert_array_equal(first, again)  # same seed, same random starts
    assert not np.array_equal(first, second)  # each call draws new starts
    for x_adv in (first, second):
        assert attacks.perturbation_norms(x_adv, x, norm).max() <= eps + 1e-5
        assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0


def test_pgd_tensor_refuses_an_integer_seed_inside_a_graph():
    model = tiny_classifier(classes=5)
    x = np.random.default_rng(11).uniform(0, 1, size=(4, 8, 8, 1)).astype(np.float32)
    y = np.zeros(4, dtype=np.int64)

    @tf.function
    def compiled(xb, yb):
        return attacks.pgd_tensor(model, xb, yb, eps=0.1, step_size=0.05, num_steps=1, seed=3)

    with pytest.raises(ValueError, match="SeedGenerator"):
        compiled(tf.constant(x), tf.constant(y))
    # eagerly an int seed is allowed and repeatable
    once = attacks.pgd_tensor(model, x, y, eps=0.1, step_size=0.05, num_steps=1, seed=3)
    np.testing.assert_array_equal(
        once, attacks.pgd_tensor(model, x, y, eps=0.1, step_size=0.05, num_steps=1, seed=3)
    )


def test_pgd_tensor_l2_start_radius_is_not_tied_to_its_direction():
    """With an int seed the direction and the radius come from different streams: the radius of
    the random start (no steps taken: step_size 0) is not a function of the direction's draws."""
    model = tiny_classifier(classes=5)
    x = np.full((64, 8, 8, 1), 0.5, np.float32)
    y = np.zeros(64, dtype=np.int64)
    x_adv = attacks.pgd_tensor(model, x, y, eps=0.5, step_size=0.0, num_steps=1, norm=2, seed=5)
    radii = attacks.perturbation_norms(np.asarray(x_adv), x, 2)
    assert radii.max() <= 0.5 + 1e-5 and radii.std() > 0  # uniform in the ball: the radii vary
    # what the radii were when both draws used seed 5 (the correlated version)
    same_stream = 0.5 * keras.random.uniform((64, 1, 1, 1), seed=5).numpy().ravel() ** (1 / 64)
    assert not np.allclose(radii, same_stream, atol=1e-4)
