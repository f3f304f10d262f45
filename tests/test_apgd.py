"""APGD and the DLR losses: the checkpoint schedule of the paper, the closed-form optimum of attacks
on linear models, DLR's invariance to rescaling the logits, validity, determinism, bad inputs."""

import importlib

import keras
import numpy as np
import pytest
import tensorflow as tf

from course_utils import attacks
from course_utils.attacks.apgd import checkpoints

from .helpers import counting, hyperplane_logits, linear_model, unit_normal, worst_case_margin


def test_checkpoints_follow_the_paper():
    assert checkpoints(100) == [22, 41, 57, 70, 80, 87, 93, 99]
    p = [0.0, 0.22]
    while True:
        nxt = p[-1] + max(p[-1] - p[-2] - 0.03, 0.06)
        if nxt > 1:
            break
        p.append(nxt)
    assert checkpoints(100) == [round(v * 100) for v in p[1:]]
    for n in (1, 5, 20, 37, 250, 1000):
        # The reference code's counter: check after every k iterations, k shrinking by 3 % of n down
        # to 6 % of n (each at least 1).
        k, shrink, shortest = max(int(0.22 * n), 1), max(int(0.03 * n), 1), max(int(0.06 * n), 1)
        counted, since = [], 0
        for i in range(n):
            since += 1
            if since == k:
                counted.append(i + 1)
                k, since = max(k - shrink, shortest), 0
        assert checkpoints(n) == counted, n


def test_dlr_is_invariant_to_scaling_and_shifting_the_logits():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(32, 10))  # float64: the invariance is exact, float32 rounding is not
    y = rng.integers(0, 10, 32)
    t = (y + 1 + rng.integers(0, 9, 32)) % 10
    for loss, args in ((attacks.dlr_loss, (y,)), (attacks.targeted_dlr_loss, (y, t))):
        base = loss(*args, tf.constant(z)).numpy()
        for scale, shift in ((1000.0, 0.0), (0.01, 5.0), (7.0, -3.0)):
            np.testing.assert_allclose(loss(*args, tf.constant(z * scale + shift)).numpy(), base, rtol=1e-9)
    # The margin and the cross-entropy are not: a saturated softmax hides the cross-entropy's gradient.
    assert not np.allclose(attacks.margin_loss(y, z * 1000).numpy(), attacks.margin_loss(y, z).numpy())


def test_dlr_known_values():
    z = tf.constant([[4.0, 1.0, 0.0, -1.0], [0.0, 3.0, 1.0, -1.0]])
    y = np.array([0, 0])
    # Correct: -(4 - 1) / (4 - 0); misclassified: -(0 - 3) / (3 - 0).
    np.testing.assert_allclose(attacks.dlr_loss(y, z).numpy(), [-0.75, 1.0], rtol=1e-6)
    # Targeted at class 2: -(z_y - z_t) / (z_π1 - (z_π3 + z_π4) / 2).
    np.testing.assert_allclose(
        attacks.targeted_dlr_loss(y, np.array([2, 2]), z).numpy(), [-4 / 4.5, 1 / 3.5], rtol=1e-6
    )
    # Three classes, the fewest the DLR loss takes: -(3 - 1) / (3 - 0).
    np.testing.assert_allclose(
        attacks.dlr_loss([0], tf.constant([[3.0, 1.0, 0.0]])).numpy(), [-2 / 3], rtol=1e-6
    )


def test_dlr_keeps_its_sign_when_the_top_logits_tie():
    """Croce & Hein's denominators get + 1e-12: when the three (targeted: four) largest logits tie,
    a misclassified image's loss is a huge positive number, never a huge negative one."""
    z = tf.constant([[0.0, 2.0, 2.0, 2.0, 2.0]])
    assert attacks.dlr_loss([0], z).numpy()[0] > 1e9
    assert attacks.targeted_dlr_loss([0], [1], z).numpy()[0] > 1e9


def test_dlr_losses_name_themselves_when_there_are_too_few_classes():
    with pytest.raises(ValueError, match="The DLR loss needs at least 3 classes; this model has 2"):
        attacks.dlr_loss([0], tf.constant([[1.0, 0.0]]))
    with pytest.raises(ValueError, match="The targeted DLR loss needs at least 4 classes; this model has 3"):
        attacks.targeted_dlr_loss([0], [1], tf.constant([[1.0, 0.0, 2.0]]))


@pytest.mark.parametrize(
    "loss, target, share", [("dlr", "ranked", 1.0), ("ce", None, 0.9), ("dlr", None, 0.9)]
)
def test_apgd_on_a_linear_model_finds_what_the_closed_form_allows(loss, target, share):
    """APGD-T tries every other class, each time maximising a linear numerator: on a linear model it
    breaks exactly the images the closed form says can be broken. Untargeted runs follow one loss
    and may miss a class; they must still break most."""
    model, w, b = linear_model((4, 4, 1), 10)
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 1, size=(300, 4, 4, 1)).astype(np.float32)
    pred = model(x).numpy().argmax(1)
    eps = 0.08
    margin = worst_case_margin(x, pred, w, b, eps)
    assert (margin > 0.01).sum() > 30 and (margin < -0.01).sum() > 30  # both kinds present
    x_adv = attacks.apgd(model, x, pred, eps=eps, loss=loss, target=target, num_steps=50, seed=0)
    broken = model(x_adv).numpy().argmax(1) != pred
    assert not broken[margin < 0].any()  # no attack beats the optimum
    assert broken[margin > 0.01].mean() >= share


def test_apgd_reaches_the_optimum_of_a_two_class_linear_model():
    """Two classes: the cross-entropy grows with z_1 − z_0, a linear function, so its maximum over the
    ball is at x + ε sign(w_1 − w_0) (L∞) or x + ε (w_1 − w_0)/‖w_1 − w_0‖ (L2, inside the box)."""
    rng = np.random.default_rng(0)
    w = rng.normal(size=(16, 2)).astype(np.float32)
    model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(), keras.layers.Dense(2)])
    x = rng.uniform(0.3, 0.7, size=(8, 4, 4, 1)).astype(np.float32)
    # A bias that keeps class 0 ahead anywhere in the ball (so no image stops early), but by little
    # enough that the cross-entropy does not round to 0 in float32.
    reach = np.abs(x.reshape(8, -1) @ (w[:, 1] - w[:, 0])).max() + 0.4 * np.abs(w[:, 1] - w[:, 0]).sum()
    model.layers[-1].set_weights([w, np.array([reach + 2.0, 0.0], np.float32)])
    y = np.zeros(8, np.int64)
    direction = (w[:, 1] - w[:, 0]).reshape(4, 4, 1)
    x_inf = attacks.apgd(model, x, y, eps=0.1, num_steps=10, seed=0)
    np.testing.assert_allclose(x_inf, np.clip(x + 0.1 * np.sign(direction), 0, 1), atol=1e-6)
    x_l2 = attacks.apgd(model, x, y, eps=0.25, norm=2, num_steps=30, seed=0)
    optimum = x + 0.25 * direction / np.linalg.norm(direction)
    gain = lambda xs: xs.reshape(8, -1) @ (w[:, 1] - w[:, 0])  # noqa: E731
    np.testing.assert_allclose(gain(x_l2), gain(optimum), atol=1e-3)


def test_dlr_attack_is_blind_to_a_saturated_softmax():
    """Multiplying the logits by 1000 saturates the softmax: the cross-entropy's gradient vanishes on
    confident images and APGD-CE fails, while APGD-DLR sees the same loss as on the plain model."""
    model, w, b = linear_model((4, 4, 1), 10, scale=1.0)
    saturated, _, _ = linear_model((4, 4, 1), 10, scale=1000.0)
    x = np.random.default_rng(4).uniform(0, 1, size=(200, 4, 4, 1)).astype(np.float32)
    pred = model(x).numpy().argmax(1)
    assert (saturated(x).numpy().argmax(1) == pred).all()

    def accuracy(m, loss):
        return np.mean(m(attacks.apgd(m, x, pred, eps=0.08, loss=loss, seed=0)).numpy().argmax(1) == pred)

    plain, dlr_saturated = accuracy(model, "dlr"), accuracy(saturated, "dlr")
    assert abs(plain - dlr_saturated) <= 0.01
    assert accuracy(saturated, "ce") > dlr_saturated + 0.1


@pytest.mark.parametrize("norm, eps", [("inf", 0.05), (2, 0.5)])
def test_apgd_output_is_valid_and_deterministic(norm, eps):
    model, _, _ = linear_model((4, 4, 1), 10)
    x = np.random.default_rng(5).uniform(0, 1, size=(40, 4, 4, 1)).astype(np.float32)
    y = np.random.default_rng(6).integers(0, 10, 40)
    a = attacks.apgd(model, x, y, eps=eps, norm=norm, num_steps=12, restarts=2, seed=7, batch_size=16)
    b = attacks.apgd(model, x, y, eps=eps, norm=norm, num_steps=12, restarts=2, seed=7, batch_size=16)
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.float32 and a.shape == x.shape
    assert a.min() >= 0 and a.max() <= 1
    assert attacks.perturbation_norms(a, x, norm).max() <= eps + 1e-6
    wrong = model(x).numpy().argmax(1) != y
    np.testing.assert_array_equal(a[wrong], x[wrong])  # misclassified already: unchanged


def test_apgd_accepts_a_per_example_keras_loss_and_compiles_once():
    model, _, _ = linear_model((4, 4, 1), 10)
    x = np.random.default_rng(8).uniform(0, 1, size=(20, 4, 4, 1)).astype(np.float32)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=None)
    a = attacks.apgd(model, x, eps=0.05, loss=loss, num_steps=5, seed=1)
    b = attacks.apgd(model, x[:7], eps=0.05, loss=loss, num_steps=5, seed=1)  # another batch size
    assert a.shape == x.shape and b.shape == (7, 4, 4, 1)
    kernels = [fn for key, fns in attacks.compiled_kernels(model).items() if key[0] == "apgd" for fn in fns]
    assert kernels and all(fn.experimental_get_tracing_count() == 1 for fn in kernels)


@pytest.mark.slow
def test_apgd_targeted_tries_several_targets():
    model, w, b = linear_model((4, 4, 1), 10)
    x = np.random.default_rng(9).uniform(0, 1, size=(200, 4, 4, 1)).astype(np.float32)
    pred = model(x).numpy().argmax(1)

    def broken(k):
        x_adv = attacks.apgd(model, x, pred, eps=0.06, loss="dlr", target="ranked", num_targets=k, seed=0)
        return (model(x_adv).numpy().argmax(1) != pred).sum()

    assert broken(9) > broken(1)


def test_apgd_refuses_bad_arguments():
    model, _, _ = linear_model((4, 4, 1), 10)
    x = np.random.default_rng(0).uniform(0, 1, size=(4, 4, 4, 1)).astype(np.float32)
    with pytest.raises(ValueError, match="Unknown loss"):
        attacks.apgd(model, x, eps=0.1, loss="hinge")
    with pytest.raises(ValueError, match="one loss value per image"):
        attacks.apgd(model, x, eps=0.1, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    for name in ("num_steps", "restarts", "num_targets"):
        with pytest.raises(ValueError, match=name):
            attacks.apgd(model, x, eps=0.1, **{name: 0})
    with pytest.raises(ValueError, match="8/255"):
        attacks.apgd(model, x, eps=8)
    two = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="at least 3 classes"):
        attacks.apgd(two, x, eps=0.1, loss="dlr")
    softmax = keras.Sequential([model, keras.layers.Softmax()])
    with pytest.raises(ValueError, match="probabilities"):
        attacks.apgd(softmax, x, eps=0.1)


def test_a_zero_gradient_stops_an_image_at_once():
    """Rounding has a zero gradient: APGD cannot move, so it must not spend its steps trying."""
    from course_utils import defenses

    base, _, _ = linear_model((4, 4, 1), 10)
    model = defenses.quantized(base, levels=2)
    counted, seen = counting(model)
    x = np.random.default_rng(0).uniform(0, 1, size=(50, 4, 4, 1)).astype(np.float32)
    pred = model(x).numpy().argmax(1)
    x_adv = attacks.apgd(counted, x, pred, eps=0.01, num_steps=1000, seed=0)
    assert attacks.perturbation_norms(x_adv, x).max() <= 0.01 + 1e-6
    assert int(seen.numpy()) < 5 * len(x)  # not 1,000 steps per image


def test_the_first_step_is_twice_eps_so_one_iteration_reaches_the_corner_of_a_linear_model():
    """Croce & Hein start APGD with step size 2 eps: on a linear model the first sign step from any
    random start in the L-inf ball ends, after projection, at the corner x - eps sign(w) (where w is
    not zero), so one iteration already attains the worst case."""
    linear = hyperplane_logits(unit_normal(), 3.0, mirrored=True)  # far from any boundary
    x = np.full((3, 4, 4, 1), 0.5, np.float32)
    adv = np.asarray(attacks.apgd(linear, x, np.ones(3, int), eps=0.1, num_steps=1, seed=0))
    np.testing.assert_allclose(adv[:, 1, 2, 0], 0.4, atol=1e-6)  # the loss rises as the score falls
    np.testing.assert_allclose(adv[:, 3, 0, 0], 0.6, atol=1e-6)
    assert np.abs(adv - x).max() <= 0.1 + 1e-6


def plateau_model(eps):
    """Two classes on 16 x 16 images; the attacked class's logit ``h`` depends on the mean offset
    ``m = mean(x) - 0.5`` (images start at 0.5): ``h = 10 (m - 0.15 eps)`` below ``m = 0.5 eps``, and
    a flat ``-10`` above, a plateau with zero gradient. The image is misclassified exactly when
    ``0.15 eps < m < 0.5 eps``: reachable, but the first step of size 2 eps crosses the window and
    lands on the plateau, below the loss of the start."""

    def model(x):
        m = tf.reduce_mean(tf.convert_to_tensor(x), axis=[1, 2, 3]) - 0.5
        h = tf.where(m < 0.5 * eps, 10.0 * (m - 0.15 * eps), -10.0 * tf.ones_like(m))
        return tf.stack([tf.zeros_like(h), h], axis=1)

    return model


def test_apgd_restarts_from_its_best_point_when_the_gradient_vanishes():
    """Algorithm 1 of Croce & Hein keeps iterating when the gradient is zero: at the next checkpoint
    the loss has not risen (condition 1), so the step is halved and the run restarts from its best
    point, the start x0. The next step, with momentum 0.75 and step eps, ends at
    x0 + 0.75 (edge - x0) + 0.25 (x0 - edge) pixel by pixel (``edge`` = the ball's corner reached
    by the first step, clipped in z), a mean offset near 0.31 eps, inside the window: every image
    is broken. An attack that drops an image as soon as its gradient is zero, or never restarts from
    the best point, leaves them all robust."""
    eps = 0.1
    plateau = plateau_model(eps)
    model, seen = counting(plateau)
    x = np.full((20, 16, 16, 1), 0.5, np.float32)
    y = np.zeros(20, np.int64)
    assert (np.asarray(plateau(x)).argmax(1) == 0).all()
    x_adv = np.asarray(attacks.apgd(model, x, y, eps=eps, num_steps=100, seed=0))
    m = x_adv.mean(axis=(1, 2, 3)) - 0.5
    assert ((m > 0.15 * eps) & (m < 0.5 * eps)).all(), m
    assert (np.asarray(plateau(x_adv)).argmax(1) == 1).all()
    # Restarted at the first checkpoint (22 of 100 iterations): on the plateau the loss never rose,
    # which condition 1 counts with a strict ">". Broken one step later: 23 passes per image, plus a
    # few for checking the model, predicting and the start's gradient (a ">=" would wait for the
    # second checkpoint: 42 steps).
    assert int(seen.numpy()) <= 30 * len(x)


def wavy_model(seed=0, pixels=16, omega=40.0):
    """Two classes on 4 x 4 images; class 1's logit is ``sum_i a_i sin(omega x_i + phi_i) - C``, a
    landscape with several local maxima per pixel inside an eps = 0.1 ball, always below class 0's
    logit 0 (so no image is ever misclassified and every run goes to the end). Returns ``model``."""
    rng = np.random.default_rng(seed)
    a = rng.uniform(0.05, 0.3, size=(1, 4, 4, 1)).astype(np.float32)
    phi = rng.uniform(0, 2 * np.pi, size=(1, 4, 4, 1)).astype(np.float32)
    offset = float(a.sum()) + 0.5

    def model(x):
        h = tf.reduce_sum(a * tf.sin(omega * tf.convert_to_tensor(x) + phi), axis=[1, 2, 3]) - offset
        return tf.stack([tf.zeros_like(h), h], axis=1)

    return model


def algorithm_1(model, x, y, x0, eps, norm, num_steps):
    """Algorithm 1 of Croce & Hein (2020) as in their reference code (autopgd_base.py), written here
    step by step in NumPy for images that stay correctly classified; the model only supplies losses
    and gradients. Returns the best point of each image, and the number of step-size halvings."""

    def loss_grad(z):
        z = tf.constant(z)
        with tf.GradientTape() as tape:
            tape.watch(z)
            loss = tf.nn.sparse_softmax_cross_entropy_with_logits(tf.constant(y), model(z))
            total = tf.reduce_sum(loss)
        return loss.numpy(), tape.gradient(total, z).numpy()

    def per_image(v):
        return v.reshape(len(v), 1, 1, 1)

    def direction(g):
        return np.sign(g) if norm == "inf" else g / per_image(np.sqrt((g**2).sum(axis=(1, 2, 3))))

    def project(z):
        d = z - x
        if norm == "inf":
            d = np.clip(d, -eps, eps)
        else:
            d = d * per_image(np.minimum(1.0, eps / np.sqrt((d**2).sum(axis=(1, 2, 3)))))
        return np.clip(x + d, 0.0, 1.0)

    ends = checkpoints(num_steps)
    eta = np.full(len(x), 2.0 * eps, np.float32)  # the initial step: 2 eps
    now, prev = x0.copy(), x0.copy()
    f_now, g_now = loss_grad(now)
    best, f_best, g_best = now.copy(), f_now.copy(), g_now.copy()
    rises = np.zeros(len(x))
    halved_last, f_best_last, halvings, last = np.ones(len(x), bool), f_best.copy(), 0, 0
    for k in range(num_steps):
        alpha = 1.0 if k == 0 else 0.75  # no momentum on the first step
        z = project(now + per_image(eta) * direction(g_now))
        new = project(now + alpha * (z - now) + (1 - alpha) * (now - prev))
        f_new, g_new = loss_grad(new)
        rises += f_new > f_now
        up = f_new > f_best
        best[up], f_best[up], g_best[up] = new[up], f_new[up], g_new[up]
        prev, now, f_now, g_now = now, new, f_new, g_new
        if k + 1 in ends:
            condition_1 = rises <= 0.75 * (k + 1 - last)  # the loss rose in at most 75 % of the steps
            condition_2 = ~halved_last & (f_best_last >= f_best)  # same step, no better point
            halve = condition_1 | condition_2
            eta[halve] /= 2.0
            now[halve], f_now[halve], g_now[halve] = best[halve], f_best[halve], g_best[halve]
            halved_last, f_best_last, rises, last = halve, f_best.copy(), np.zeros(len(x)), k + 1
            halvings += int(halve.sum())
    return best, halvings


@pytest.mark.parametrize("norm, eps, omega, atol", [("inf", 0.1, 40.0, 1e-5), (2, 0.5, 12.0, 1e-3)])
def test_apgd_follows_algorithm_1_step_by_step(monkeypatch, norm, eps, omega, atol):
    """From the same start, on a landscape with many local maxima, the course's APGD ends at the same
    best point as Algorithm 1 written out independently: the 2 eps first step, momentum 0.75, the
    checkpoints, both halving conditions and the restarts from the best point all leave their mark.
    (L2 steps are continuous in float32 rounding, which differs between TensorFlow's and NumPy's
    sums and grows over 100 steps to about 1e-4 on a gentler landscape; L-inf sign steps match.)"""
    apgd_module = importlib.import_module("course_utils.attacks.apgd")  # the module, not the function
    model = wavy_model(omega=omega)
    rng = np.random.default_rng(1)
    x = rng.uniform(0.2, 0.8, size=(12, 4, 4, 1)).astype(np.float32)
    noise = rng.uniform(-1, 1, size=x.shape).astype(np.float32)
    if norm == 2:
        noise /= np.sqrt((noise**2).sum(axis=(1, 2, 3), keepdims=True))
    x0 = np.clip(x + eps * noise, 0, 1).astype(np.float32)
    monkeypatch.setattr(apgd_module, "_random_start", lambda *args, **kwargs: x0.copy())
    y = np.zeros(len(x), np.int64)
    expected, halvings = algorithm_1(model, x, y, x0, eps, norm, num_steps=100)
    assert halvings >= 2 * len(x)  # the landscape makes the step sizes adapt
    got = np.asarray(attacks.apgd(model, x, y, eps=eps, norm=norm, num_steps=100, seed=0))
    np.testing.assert_allclose(got, expected, atol=atol)


def test_apgd_targets_the_most_likely_other_classes_first():
    """AutoAttack's APGD-T attacks the classes the model ranks highest after the true one, in that
    order. Four classes, only two of them reachable: class 1 (ranked second) by raising the mean
    pixel, class 2 (ranked third) by lowering it; class 3 is last and out of reach. With one target,
    every image must end in class 1; a least-likely-first order lands the images in class 2 instead."""

    def model(x):
        m = tf.reduce_mean(tf.convert_to_tensor(x), axis=[1, 2, 3]) - 0.5
        return tf.stack([tf.zeros_like(m), 10.0 * m - 0.3, -10.0 * m - 0.6, -5.0 + 0.0 * m], axis=1)

    x = np.full((10, 4, 4, 1), 0.5, np.float32)
    assert (np.argsort(-np.asarray(model(x)), axis=1) == [0, 1, 2, 3]).all()
    y = np.zeros(10, np.int64)
    adv = attacks.apgd(model, x, y, eps=0.1, loss="dlr", target="ranked", num_targets=1, seed=0)
    np.testing.assert_array_equal(np.asarray(model(adv)).argmax(1), 1)
    adv = attacks.apgd(model, x, y, eps=0.1, loss="dlr", target="ranked", num_targets=2, seed=0)
    np.testing.assert_array_equal(np.asarray(model(adv)).argmax(1), 1)  # broken by the first target
