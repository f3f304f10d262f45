"""The GAN exercises' checks: one-sided label smoothing and the game's value against the best
discriminator (notebook 03), a GAN's train step and WGAN-GP's gradient penalty (notebook 04), a checker
for GAN code and the snippet's shapes by hand (notebook 05). A right answer passes; each classic mistake
gets its own advice; odd answers get advice, never a traceback."""

import math

import numpy as np
import pytest
import tensorflow as tf

from course_utils import checks, gan, toy_gan
from course_utils.checks.gans import SNIPPET_BN_INPUTS, SNIPPET_DENSE_PARAMS, value_via_jsd

from .helpers import dotted_name


# ------------------------------------------------------------------------------ check_optimal_value
def _normalise(p_data, p_g):
    p, q = np.asarray(p_data, dtype=float), np.asarray(p_g, dtype=float)
    return p / p.sum(), q / q.sum()


def _d_star(p, q):
    return np.divide(p, p + q, out=np.full_like(p, 0.5), where=p + q > 0)


def optimal_value(p_data, p_g):
    p, q = _normalise(p_data, p_g)
    d_star = _d_star(p, q)
    value = np.sum(p[p > 0] * np.log(d_star[p > 0])) + np.sum(q[q > 0] * np.log(1 - d_star[q > 0]))
    return value, d_star


def _value_only(p_data, p_g):
    return optimal_value(p_data, p_g)[0]


def _with_d_star(value_fn):
    """A mistake in the value, with the right D* beside it."""
    return lambda p, q: (value_fn(p, q), _d_star(*_normalise(p, q)))


def test_the_oracle_agrees_with_the_paper():
    """Theorem 1 of Goodfellow et al.: -log 4 at p_g = p_data; 0 for disjoint supports (JSD = log 2)."""
    assert math.isclose(value_via_jsd([1, 2, 3], [1, 2, 3]), -math.log(4))
    assert math.isclose(value_via_jsd([1, 1, 0, 0], [0, 0, 1, 1]), 0.0, abs_tol=1e-12)
    assert math.isclose(value_via_jsd([1, 1, 0], [0, 1, 1]), -math.log(2))


def test_optimal_value_passes_a_right_answer(capsys):
    assert checks.check_optimal_value(optimal_value)
    assert "Correct" in capsys.readouterr().out
    # D* may be anything where neither distribution has mass, and any array-like
    assert checks.check_optimal_value(
        lambda p, q: (optimal_value(p, q)[0], list(np.nan_to_num(_d_star(*_normalise(p, q)) * ((p + q) > 0))))
    )


def _without_zero_handling(p_data, p_g):
    p, q = _normalise(p_data, p_g)
    with np.errstate(divide="ignore", invalid="ignore"):
        d = p / (p + q)
        return np.sum(p * np.log(d)) + np.sum(q * np.log(1 - d))


def _unnormalised(p_data, p_g):
    p, q = np.asarray(p_data, dtype=float), np.asarray(p_g, dtype=float)
    d = _d_star(p, q)
    return np.sum(p[p > 0] * np.log(d[p > 0])) + np.sum(q[q > 0] * np.log(1 - d[q > 0])), d


def _with_mean(p_data, p_g):
    p, q = _normalise(p_data, p_g)
    d = _d_star(p, q)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.mean(np.where(p > 0, p * np.log(d), 0)) + np.mean(np.where(q > 0, q * np.log(1 - d), 0))


def _swapped(p_data, p_g):
    p, q = _normalise(p_data, p_g)
    d = np.divide(q, p + q, out=np.full_like(p, 0.5), where=p + q > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.sum(np.where(p > 0, p * np.log(d), 0)) + np.sum(np.where(q > 0, q * np.log(1 - d), 0))
    return value, d


def _via_jsd_with_a_constant_d(p_data, p_g):
    """The shortcut the exercise rules out: 2 JSD - log 4 without D* (here D* = 1/2 everywhere)."""
    return value_via_jsd(p_data, p_g), np.full(len(p_data), 0.5)


@pytest.mark.parametrize(
    ("answer", "advice"),
    [
        (_with_d_star(lambda p, q: -_value_only(p, q)), "Wrong sign"),
        (
            _with_d_star(lambda p, q: (_value_only(p, q) + math.log(4)) / 2),
            "Jensen-Shannon divergence itself",
        ),
        (_with_d_star(lambda p, q: _value_only(p, q) / 2), "do not average them"),
        (_with_d_star(lambda p, q: _value_only(p, q) / math.log(2)), "natural logarithm"),
        (_unnormalised, "normalise each to sum to 1"),
        (_with_d_star(_with_mean), "not np.mean"),
        (_with_d_star(_without_zero_handling), "0 log 0 = 0"),
        (_swapped, "D* is swapped"),
        (_via_jsd_with_a_constant_d, "D*(x) = p_data(x) / (p_data(x) + p_g(x))"),
        (_with_d_star(lambda p, q: _value_only(p, q) + 0.1), "Sum p_data log D* + sum p_g log(1 - D*)"),
    ],
    ids=["sign", "jsd", "halved", "bits", "unnormalised", "mean", "zeros", "swapped", "no-d-star", "other"],
)
def test_optimal_value_names_each_mistake(capsys, answer, advice):
    assert not checks.check_optimal_value(answer)
    out = capsys.readouterr().out
    assert advice in out, out


def test_optimal_value_catches_raw_weights_where_the_totals_differ(capsys):
    """With equal totals a D* of the raw weights is right by luck; the last case has different totals."""

    def raw_d_star(p_data, p_g):
        p, q = _normalise(p_data, p_g)
        value = optimal_value(p_data, p_g)[0]
        return value, _d_star(np.asarray(p_data, float), np.asarray(p_g, float))

    assert not checks.check_optimal_value(raw_d_star)
    out = capsys.readouterr().out
    assert "weights with different totals" in out and "Your D* uses the weights as they were given" in out, (
        out
    )


@pytest.mark.parametrize(
    ("answer", "advice"),
    [
        (lambda p, q: None, "returned None"),
        (_value_only, "return the pair (value, d_star)"),
        (lambda p, q: (np.array([1.0, 2.0]), _d_star(*_normalise(p, q))), "should be one number"),
        (lambda p, q: ("zero", _d_star(*_normalise(p, q))), "plain number"),
        (lambda p, q: (optimal_value(p, q)[0], np.ones(2)), "give one per image"),
        (lambda p, q: 1 / 0, "ZeroDivisionError"),
    ],
    ids=["none", "value-only", "array", "text", "d-star-length", "raises"],
)
def test_optimal_value_odd_answers_get_advice(capsys, answer, advice):
    assert not checks.check_optimal_value(answer)
    out = capsys.readouterr().out
    assert advice in out and "Traceback" not in out, out


def test_optimal_value_not_written_yet(capsys):
    def stub(p_data, p_g):
        raise NotImplementedError

    assert not checks.check_optimal_value(stub)
    assert "Not written yet" in capsys.readouterr().out


# --------------------------------------------------------------------------- check_gradient_penalty
def _penalty(
    critic, real, fake, alpha, *, where="x_hat", norm="per_sample", centre=1.0, power=1, mean_scores=False
):
    x_hat = {"x_hat": alpha * real + (1.0 - alpha) * fake, "real": real, "fake": fake}[where]
    with tf.GradientTape() as tape:
        tape.watch(x_hat)
        scores = critic(x_hat, training=True)
        if mean_scores:
            scores = tf.reduce_mean(scores)
    grads = tape.gradient(scores, x_hat)
    if norm == "batch":
        norms = tf.norm(tf.reshape(grads, (-1,)))
    elif norm == "axis1":
        norms = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=1))
    else:
        norms = tf.sqrt(tf.reduce_sum(tf.square(tf.reshape(grads, (tf.shape(grads)[0], -1))), axis=1))
    return tf.reduce_mean(tf.square(norms**power - centre))


def _zero_centred(critic, real, fake, alpha):
    x_hat = alpha * real + (1.0 - alpha) * fake
    with tf.GradientTape() as tape:
        tape.watch(x_hat)
        scores = critic(x_hat, training=True)
    grads = tf.reshape(tape.gradient(scores, x_hat), (tf.shape(x_hat)[0], -1))
    return tf.reduce_mean(tf.reduce_sum(tf.square(grads), axis=1))


def test_gradient_penalty_passes_the_course_s_and_a_swapped_alpha(capsys):
    assert checks.check_gradient_penalty(toy_gan.gradient_penalty)
    assert checks.check_gradient_penalty(
        lambda c, r, f, a: _penalty(c, r, f, 1.0 - a)
    )  # same in distribution
    assert "Correct" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("answer", "advice"),
    [
        (lambda c, r, f, a: _penalty(c, r, f, a, norm="batch"), "one norm over the whole batch"),
        (lambda c, r, f, a: _penalty(c, r, f, a, power=2), "penalised the squared norm"),
        (_zero_centred, "centred at 0"),
        (lambda c, r, f, a: _penalty(c, r, f, a, mean_scores=True), "divided by the batch size"),
        (lambda c, r, f, a: _penalty(c, r, f, a, where="real"), "at the real samples"),
        (lambda c, r, f, a: _penalty(c, r, f, a, where="fake"), "at the generated samples"),
        (lambda c, r, f, a: _penalty(c, r, f, a, norm="axis1"), "reshape the gradient to (N, -1)"),
        (lambda c, r, f, a: len(r) * _penalty(c, r, f, a), "summed over the batch"),
        (
            lambda c, r, f, a: tf.constant(float(_penalty(c, r, f, a).numpy())),
            "does not pass a gradient back",
        ),
    ],
    ids=[
        "batch-norm",
        "squared",
        "zero-centred",
        "mean-scores",
        "at-real",
        "at-fake",
        "axis1",
        "sum",
        "numpy",
    ],
)
def test_gradient_penalty_names_each_mistake(capsys, answer, advice):
    assert not checks.check_gradient_penalty(answer)
    out = capsys.readouterr().out
    assert advice in out, out


def test_gradient_penalty_without_tape_watch_gets_the_tape_advice(capsys):
    def unwatched(critic, real, fake, alpha):
        x_hat = alpha * real + (1.0 - alpha) * fake
        with tf.GradientTape() as tape:
            scores = critic(x_hat, training=True)
        grads = tape.gradient(scores, x_hat)
        return tf.reduce_mean((tf.norm(grads, axis=1) - 1.0) ** 2)

    assert not checks.check_gradient_penalty(unwatched)
    out = capsys.readouterr().out
    assert "tape.watch" in out and "Traceback" not in out, out


@pytest.mark.parametrize(
    ("answer", "advice"),
    [
        (lambda c, r, f, a: None, "returned None"),
        (lambda c, r, f, a: tf.ones((5,)), "should be one number"),
        (lambda c, r, f, a: {"penalty": 1.0}, "dict"),
    ],
    ids=["none", "vector", "dict"],
)
def test_gradient_penalty_odd_answers_get_advice(capsys, answer, advice):
    assert not checks.check_gradient_penalty(answer)
    out = capsys.readouterr().out
    assert advice in out and "Traceback" not in out, out


def test_gradient_penalty_not_written_yet(capsys):
    def stub(critic, real, fake, alpha):
        raise NotImplementedError

    assert not checks.check_gradient_penalty(stub)
    assert "Not written yet" in capsys.readouterr().out


# ---------------------------------------------------------------------------- check_smoothed_d_loss
def smoothed(real, fake, t=0.9, *, fake_label=0.0, keep_other=True, naive=False):
    if naive:
        d_real, d_fake = tf.sigmoid(real), tf.sigmoid(fake)
        real_term = -t * tf.math.log(d_real) - (1 - t) * tf.math.log(1 - d_real)
        return tf.reduce_mean(real_term) + tf.reduce_mean(-tf.math.log(1 - d_fake))
    real_term = t * tf.math.softplus(-real) + ((1 - t) * tf.math.softplus(real) if keep_other else 0.0)
    fake_term = fake_label * tf.math.softplus(-fake) + (1 - fake_label) * tf.math.softplus(fake)
    return tf.reduce_mean(real_term) + tf.reduce_mean(fake_term)


def test_smoothed_d_loss_passes_a_right_answer(capsys):
    assert checks.check_smoothed_d_loss(smoothed)
    bce = tf.keras.losses.BinaryCrossentropy(from_logits=True)  # the same, with Keras's loss and soft targets

    def with_keras(real, fake, t):
        return bce(tf.fill(tf.shape(real), t), real) + bce(tf.zeros_like(fake), fake)

    assert checks.check_smoothed_d_loss(with_keras)
    assert "Correct" in capsys.readouterr().out


def test_smoothed_d_loss_without_smoothing_is_the_course_s_loss():
    """real_label = 1 gives gan.discriminator_loss: the reference is the course's loss plus smoothing."""
    rng = np.random.default_rng(0)
    real, fake = (tf.constant(rng.normal(0, 3, (8, 1)), tf.float32) for _ in range(2))
    assert math.isclose(
        float(smoothed(real, fake, 1.0)), float(gan.discriminator_loss(real, fake)), rel_tol=1e-6
    )


def _keras_smoothing(real, fake, t):
    bce = tf.keras.losses.BinaryCrossentropy(from_logits=True, label_smoothing=1 - t)
    return bce(tf.ones_like(real), real) + bce(tf.zeros_like(fake), fake)


@pytest.mark.parametrize(
    ("answer", "advice"),
    [
        (lambda r, f, t: smoothed(r, f, 1.0), "without smoothing"),
        (lambda r, f, t: smoothed(r, f, t, keep_other=False), "you dropped the second"),
        (lambda r, f, t: smoothed(r, f, 1 - t), "t and 1 - t are swapped"),
        (lambda r, f, t: smoothed(r, f, t, fake_label=1 - t), "two-sided"),
        (lambda r, f, t: smoothed(r, f, 1.0, fake_label=1 - t), "kept the real one at 1"),
        (_keras_smoothing, "label_smoothing moves *both* labels"),
        (lambda r, f, t: smoothed(f, r, t), "Real and fake are swapped"),
        (lambda r, f, t: 16 * smoothed(r, f, t), "summed over the batch"),
        (lambda r, f, t: smoothed(r, f, t) / 2, "do not average them"),
        (lambda r, f, t: smoothed(r, f, 0.9), "not a fixed 0.9"),
        (lambda r, f, t: smoothed(r, f, t, naive=True), "underflows"),
        (
            lambda r, f, t: smoothed(tf.clip_by_value(r, -15, 15), tf.clip_by_value(f, -15, 15), t),
            "An epsilon or a clip",
        ),
        (lambda r, f, t: smoothed(r, f, t) + 0.1, "Write -t log D(x) - (1 - t) log(1 - D(x))"),
    ],
    ids=[
        "unsmoothed",
        "one-term",
        "t-swapped",
        "two-sided",
        "fake-only",
        "keras",
        "real-fake",
        "sum",
        "halved",
        "hard-coded",
        "naive",
        "clip",
        "other",
    ],
)
def test_smoothed_d_loss_names_each_mistake(capsys, answer, advice):
    assert not checks.check_smoothed_d_loss(answer)
    out = capsys.readouterr().out
    assert advice in out, out


@pytest.mark.parametrize(
    ("answer", "advice"),
    [
        (lambda r, f, t: None, "returned None"),
        (lambda r, f, t: tf.math.softplus(-r), "one number"),
        (lambda r, f, t: (smoothed(r, f, t), 0.0), "tuple of 2 items"),
        (lambda r, f: smoothed(r, f), "TypeError"),
    ],
    ids=["none", "per-image", "pair", "no-label-argument"],
)
def test_smoothed_d_loss_odd_answers_get_advice(capsys, answer, advice):
    assert not checks.check_smoothed_d_loss(answer)
    out = capsys.readouterr().out
    assert advice in out and "Traceback" not in out, out


def test_smoothed_d_loss_not_written_yet(capsys):
    def stub(real_logits, fake_logits, real_label=0.9):
        raise NotImplementedError

    assert not checks.check_smoothed_d_loss(stub)
    assert "Not written yet" in capsys.readouterr().out


def test_gan_losses_names_the_discriminator_s_term_as_a_generator_loss(capsys):
    def d_loss(r, f):
        return tf.reduce_mean(tf.math.softplus(-r)) + tf.reduce_mean(tf.math.softplus(f))

    assert not checks.check_gan_losses(d_loss, lambda f: tf.reduce_mean(tf.math.softplus(f)))
    out = capsys.readouterr().out
    assert "softplus(fake) is -log(1 - D(G(z)))" in out, out


# --------------------------------------------------------------------------------- check_gan_step
def _step(generator, discriminator, g_opt, d_opt, real, z, *, swap_opt=False, g_moves_d=False, g_value=None):
    if swap_opt:
        g_opt, d_opt = d_opt, g_opt
    with tf.GradientTape() as tape:
        d_loss = gan.discriminator_loss(
            discriminator(real, training=True), discriminator(generator(z, training=True), training=True)
        )
    d_opt.apply(tape.gradient(d_loss, discriminator.trainable_weights), discriminator.trainable_weights)
    variables = generator.trainable_weights + (discriminator.trainable_weights if g_moves_d else [])
    with tf.GradientTape() as tape:
        g_loss = gan.generator_loss(discriminator(generator(z, training=True), training=True))
    g_opt.apply(tape.gradient(g_loss, variables), variables)
    return d_loss, (g_loss if g_value is None else g_value)


def _one_optimizer(generator, discriminator, g_opt, d_opt, real, z):
    return _step(generator, discriminator, d_opt, d_opt, real, z)


def _g_loss_before_d_step(generator, discriminator, g_opt, d_opt, real, z):
    g_before = gan.generator_loss(discriminator(generator(z, training=True), training=True))
    d_loss, _ = _step(generator, discriminator, g_opt, d_opt, real, z)
    return d_loss, g_before


def test_gan_step_passes_the_course_s_step(capsys):
    assert checks.check_gan_step(toy_gan.gan_step)
    assert checks.check_gan_step(_step)
    assert "same weights as the reference" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("answer", "advice"),
    [
        (lambda *a: _step(*a, swap_opt=True), "The optimizers are swapped"),
        (lambda *a: _step(*a, g_moves_d=True), "also moved the discriminator"),
        (_one_optimizer, "One optimizer was given both networks' weights"),
        (lambda *a: _step(*a, g_value=12345.0), "the g_loss you return is 12345.0000"),
        (_g_loss_before_d_step, "with the updated discriminator, before the generator's step"),
        (lambda *a: _step(*a)[::-1], "in the order (d_loss, g_loss)"),
        (lambda *a: (0.0, _step(*a)[1]), "the d_loss you return is 0.0000"),
    ],
    ids=[
        "swapped-optimizers",
        "g-moves-d",
        "one-optimizer",
        "g-loss-made-up",
        "g-loss-stale",
        "order",
        "d-loss-made-up",
    ],
)
def test_gan_step_names_each_mistake(capsys, answer, advice):
    assert not checks.check_gan_step(answer)
    out = capsys.readouterr().out
    assert advice in out and "Traceback" not in out and "<Variable" not in out, out


# -------------------------------------------------------------------------- check_gan_code_checker
def _names_used_and_defined(tree):
    import ast

    stored = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    args = {a.arg for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) for a in n.args.args}
    defined = stored | args | {"tf"} | {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
    loaded = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    return sorted(loaded - defined)


TF1_ONLY = {"tf.log", "tf.Session", "tf.layers.dense", "tf.train.Adam", "tf.variable_scope"}


def code_checker(source, *, per_function=True, substring_apis=False):
    """A right answer: whole dotted names, layer names counted within each function."""
    import ast

    tree = ast.parse(source)
    warnings = [f"undefined name: {name}" for name in _names_used_and_defined(tree)]
    if substring_apis:
        warnings += [f"TF1 API: {api}" for api in sorted(TF1_ONLY) if api in source]
    else:
        dotted = {dotted_name(n) for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        warnings += [f"TF1 API: {api}" for api in sorted(TF1_ONLY & dotted)]
    scopes = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)] if per_function else [tree]
    for scope in scopes:
        names = [
            kw.value.value for n in ast.walk(scope) for kw in getattr(n, "keywords", []) if kw.arg == "name"
        ]
        warnings += [f"layer name {n!r} used twice" for n in sorted(set(names)) if names.count(n) > 1]
    return warnings


def test_gan_code_checker_passes_a_right_answer(capsys):
    assert checks.check_gan_code_checker(code_checker)
    assert "Correct" in capsys.readouterr().out


def _hard_coded(source):
    """Recognises the first cases by their text: what a student might write to satisfy the check."""
    return [
        w
        for w, mark in (
            ("offset", "offset"),
            ("tf.log", "tf.log(x)"),
            ("dense_a", "'dense_a')(x)\n    return tf.keras.layers.Dense(8, name='dense_a')"),
        )
        if mark in source
    ]


@pytest.mark.parametrize(
    ("answer", "advice"),
    [
        (lambda s: code_checker(s, per_function=False), "count the names within each ast.FunctionDef"),
        (lambda s: code_checker(s, substring_apis=True), "'tf.log' is only the start of 'tf.logical_and'"),
        (_hard_coded, "Missed code with all three defects under other names"),
        (lambda s: [w for w in code_checker(s) if "layer name" not in w], "Missed a layer name used twice"),
        (lambda s: code_checker(s) + ["always"], "False alarm on clean code"),
    ],
    ids=["whole-file-names", "substring-apis", "hard-coded", "no-duplicates", "always"],
)
def test_gan_code_checker_names_each_mistake(capsys, answer, advice):
    assert not checks.check_gan_code_checker(answer)
    out = capsys.readouterr().out
    assert advice in out, out


def test_gan_code_checker_odd_answers_get_advice(capsys):
    assert not checks.check_gan_code_checker(lambda s: "\n".join(code_checker(s)))
    assert "list of warning strings" in capsys.readouterr().out
    assert not checks.check_gan_code_checker(lambda s: None)
    out = capsys.readouterr().out
    assert "returned None" in out and "Traceback" not in out


# ---------------------------------------------------------------------------- check_snippet_shapes
def test_the_snippet_shapes_agree_with_keras():
    """Build the snippet's discriminator in Keras (same kernels, strides and padding): the oracle."""
    import keras

    layers = keras.layers
    inputs = keras.Input((28, 28, 1))
    h, seen = inputs, []
    for filters, strides in ((32, 2), (64, 2), (128, 2), (256, 1)):
        h = layers.Conv2D(filters, 4, strides=strides, padding="same")(h)
        seen.append(tuple(h.shape[1:]))
    out = layers.Dense(1)(layers.Flatten()(h))
    dense = keras.Model(inputs, out).layers[-1]
    assert tuple(seen) == SNIPPET_BN_INPUTS and dense.count_params() == SNIPPET_DENSE_PARAMS


def test_snippet_shapes_passes_a_right_answer(capsys):
    assert checks.check_snippet_shapes(list(SNIPPET_BN_INPUTS), SNIPPET_DENSE_PARAMS)
    assert checks.check_snippet_shapes(np.array(SNIPPET_BN_INPUTS), np.int64(4097))
    assert "defect 4" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("answer", "advice"),
    [
        (([(13, 13, 32), (5, 5, 64), (1, 1, 128), (1, 1, 256)], 257), "'valid' padding"),
        (([(14, 14, 32), (7, 7, 64), (3, 3, 128), (3, 3, 256)], 2305), "rounds *up*"),
        (([(14, 14, 32), (7, 7, 64), (4, 4, 128), (2, 2, 256)], 1025), "strides=1"),
        (([(14, 14, 1), (7, 7, 1), (4, 4, 1), (4, 4, 1)], 17), "32, 64, 128, 256"),
        (([(14, 14, 32), (7, 7, 64), (4, 4, 128), (4, 4, 256)], 4096), "add the bias"),
        (([(14, 14, 32), (7, 7, 64), (4, 4, 128), (4, 4, 256)], 17), "flatten keeps the channels"),
        (([(14, 14, 32), (7, 7, 64), (4, 4, 128), (4, 4, 256)], 5000), "one weight per flattened input"),
        (([(14, 7, 32), (7, 7, 64), (4, 4, 128), (4, 4, 256)], 4097), "stays square"),
    ],
    ids=["valid", "floor", "stride-1", "channels", "bias", "flatten", "other-count", "not-square"],
)
def test_snippet_shapes_names_each_mistake(capsys, answer, advice):
    assert not checks.check_snippet_shapes(*answer)
    out = capsys.readouterr().out
    assert advice in out, out


@pytest.mark.parametrize(
    ("answer", "advice"),
    [
        ((None, None), "bn_inputs and dense_params still None"),
        ((list(SNIPPET_BN_INPUTS), None), "dense_params still None"),
        (([(None, 14, 14, 32)] * 4, 4097), "without the batch axis"),
        ((list(SNIPPET_BN_INPUTS)[:3], 4097), "four batch_normalization layers"),
        (("14x14x32", 4097), "list of four"),
        (([(14.5, 14, 32)] * 4, 4097), "whole number"),
        ((list(SNIPPET_BN_INPUTS), "4097 weights"), "plain number"),
    ],
    ids=["none", "one-none", "batch-axis", "three", "text", "fraction", "text-count"],
)
def test_snippet_shapes_odd_answers_get_advice(capsys, answer, advice):
    assert not checks.check_snippet_shapes(*answer)
    out = capsys.readouterr().out
    assert advice in out and "Traceback" not in out, out


# --------------------------------------------------------------------------- check_repaired_d_loss
def test_repaired_d_loss_says_which_logits_it_tried(capsys):
    def meant(real, fake):
        return tf.reduce_mean(-tf.math.log(tf.sigmoid(real)) - tf.math.log(1.0 - tf.sigmoid(fake)))

    assert checks.check_repaired_d_loss(meant)
    assert "On the check's own logits" in capsys.readouterr().out
