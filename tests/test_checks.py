"""The exercise checks: a correct answer passes, each classic mistake gets its own advice."""

import keras
import numpy as np
import tensorflow as tf

from course_utils import checks

from .helpers import dotted_name


def fgsm_l2(model, x, y, eps, *, sign=False, per_batch=False, minus=False, clip=True):
    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = keras.losses.sparse_categorical_crossentropy(y, model(x), from_logits=True)
    g = tape.gradient(loss, x)
    if sign:
        step = tf.sign(g)
    else:
        axes = None if per_batch else [1, 2, 3]
        step = g / tf.sqrt(tf.reduce_sum(g**2, axis=axes, keepdims=True))
    out = x - eps * step if minus else x + eps * step
    return tf.clip_by_value(out, 0.0, 1.0) if clip else out


def test_fgsm_l2_check(capsys):
    assert checks.check_fgsm_l2(fgsm_l2)
    assert "Correct" in capsys.readouterr().out
    cases = {
        "sign of the gradient": lambda *a: fgsm_l2(*a, sign=True),
        "Normalise per image": lambda *a: fgsm_l2(*a, per_batch=True),
        "opposite direction": lambda *a: fgsm_l2(*a, minus=True),
        "clip the result": lambda *a: fgsm_l2(*a, clip=False),
    }
    for advice, wrong in cases.items():
        assert not checks.check_fgsm_l2(wrong)
        assert advice in capsys.readouterr().out, advice


def test_checks_turn_exceptions_into_advice(capsys):
    def unwritten(model, x, y, eps):
        raise NotImplementedError

    def broken(model, x, y, eps):
        return x + undefined_name  # noqa: F821

    assert not checks.check_fgsm_l2(unwritten)
    assert "Not written yet" in capsys.readouterr().out
    assert not checks.check_fgsm_l2(broken)
    out = capsys.readouterr().out
    assert "NameError" in out and "Hint" in out and "Traceback" not in out


def project(x_adv, x, eps, *, per_batch=False, clip_pixels=False):
    delta = x_adv - x
    if clip_pixels:
        return x + np.clip(delta, -eps, eps)
    axes = None if per_batch else (1, 2, 3)
    length = np.sqrt(np.sum(delta**2, axis=axes, keepdims=True))
    return x + delta * np.minimum(1.0, eps / np.maximum(length, 1e-12))


def test_l2_projection_check(capsys):
    assert checks.check_l2_projection(project)
    capsys.readouterr()
    assert not checks.check_l2_projection(lambda a, x, e: project(a, x, e, per_batch=True))
    assert "per image" in capsys.readouterr().out
    assert not checks.check_l2_projection(lambda a, x, e: project(a, x, e, clip_pixels=True))
    assert "sphere" in capsys.readouterr().out
    assert not checks.check_l2_projection(lambda a, x, e: x + (a - x) * e / np.linalg.norm(a - x))
    assert "must not move" in capsys.readouterr().out


def test_gan_losses_check(capsys):
    def d_loss(r, f):
        return tf.reduce_mean(tf.math.softplus(-r)) + tf.reduce_mean(tf.math.softplus(f))

    def g_loss(f):
        return tf.reduce_mean(tf.math.softplus(-f))

    def naive_d(r, f):
        return tf.reduce_mean(-tf.math.log(tf.sigmoid(r))) + tf.reduce_mean(-tf.math.log(1 - tf.sigmoid(f)))

    assert checks.check_gan_losses(d_loss, g_loss)
    capsys.readouterr()
    assert not checks.check_gan_losses(lambda r, f: d_loss(f, r), g_loss)
    assert "swapped" in capsys.readouterr().out
    assert not checks.check_gan_losses(d_loss, lambda f: tf.reduce_mean(-tf.math.softplus(f)))
    assert "saturating" in capsys.readouterr().out
    assert not checks.check_gan_losses(lambda r, f: 16 * d_loss(r, f), g_loss)
    assert "summed" in capsys.readouterr().out
    assert not checks.check_gan_losses(naive_d, g_loss)
    assert "overflow" in capsys.readouterr().out


def test_class_means_check(capsys):
    def means(x, y):
        return np.stack([x[y == c].mean(axis=0) for c in range(10)])

    assert checks.check_class_means(means)
    capsys.readouterr()
    wrong = {
        "pixels too": lambda x, y: np.array([x[y == c].mean() for c in range(10)]),
        "*all* images": lambda x, y: np.repeat(x.mean(axis=0, keepdims=True), 10, axis=0),
        "wrong order": lambda x, y: means(x, y)[::-1],
    }
    for advice, fn in wrong.items():
        assert not checks.check_class_means(fn)
        assert advice in capsys.readouterr().out, advice


def test_line_gradient_check(capsys):
    assert checks.check_line_gradient(tf.constant(7.05875), -9.85, -4.65)  # notebook 01's numbers
    assert "match" in capsys.readouterr().out
    wrong = {
        "still None": (None, -9.85, None),
        "sign is flipped": (7.05875, 9.85, 4.65),
        "factor 2": (7.05875, -4.925, -2.325),
        "summed over": (7.05875, -39.4, -18.6),
        "sum of the squared": (28.235, -9.85, -4.65),
        "its own x": (7.05875, -4.65, -4.65),
    }
    for advice, numbers in wrong.items():
        assert not checks.check_line_gradient(*numbers)
        assert advice in capsys.readouterr().out, advice


def test_layer_sizes_check(capsys):
    from course_utils import models

    plain = models.build_cnn(filters=(8, 16), dense_units=32, batch_norm=False)
    # 3x3x1 weights + a bias per filter; two poolings: 7 x 7 x 16 = 784 inputs to features.
    assert checks.check_layer_sizes(plain, (28, 28, 8), 80, (784 + 1) * 32)
    capsys.readouterr()
    assert not checks.check_layer_sizes(plain, (28, 28, 8), 72, 784 * 32)
    out = capsys.readouterr().out
    assert "one bias per filter" in out and "one bias per unit" in out
    assert not checks.check_layer_sizes(plain, (26, 26, 8), 80, (784 + 1) * 32)
    assert "'same' padding" in capsys.readouterr().out
    normed = models.build_cnn(filters=(8, 16), dense_units=32, batch_norm=True)
    assert checks.check_layer_sizes(normed, (None, 28, 28, 8), 72, (784 + 1) * 32)
    capsys.readouterr()
    assert not checks.check_layer_sizes(normed, (28, 28, 8), 80, (784 + 1) * 32)
    assert "BatchNorm follows" in capsys.readouterr().out
    assert not checks.check_layer_sizes(normed, None, None, None)
    assert "conv_shape, conv_params, features_params still None" in capsys.readouterr().out


def test_gan_code_checker_check(capsys):
    import ast

    def checker(source, *, dup=True, api=True):
        tree = ast.parse(source)
        stored = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
        defined = stored | {"tf", "x"} | {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
        loaded = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
        warnings = [f"undefined: {name}" for name in sorted(loaded - defined)]
        if api:  # whole dotted names: tf.logical_and is not tf.log
            used = {dotted_name(n) for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
            warnings += [f"TF1 API: {name}" for name in sorted(used & {"tf.log", "tf.Session"})]
        for function in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)):  # names per function
            names = [
                kw.value.value
                for n in ast.walk(function)
                for kw in getattr(n, "keywords", [])
                if kw.arg == "name"
            ]
            if dup:
                warnings += [f"layer name {n} twice" for n in set(names) if names.count(n) > 1]
        return warnings

    assert checks.check_gan_code_checker(checker)
    capsys.readouterr()
    assert not checks.check_gan_code_checker(lambda s: checker(s, dup=False))
    assert "Missed a layer name used twice" in capsys.readouterr().out
    assert not checks.check_gan_code_checker(lambda s: checker(s) + ["always"])
    assert "False alarm" in capsys.readouterr().out
    assert not checks.check_gan_code_checker(lambda s: "\n".join(checker(s)))
    assert "list of warning strings" in capsys.readouterr().out


def test_repaired_d_loss_check(capsys):
    def meant(real, fake):
        return tf.reduce_mean(-tf.math.log(tf.sigmoid(real)) - tf.math.log(1.0 - tf.sigmoid(fake)))

    assert checks.check_repaired_d_loss(meant)
    capsys.readouterr()
    wrong = {
        "does not depend on fake_logits": lambda r, f: tf.reduce_mean(-tf.math.log(tf.sigmoid(r))),
        "log of a *logit*": lambda r, f: tf.reduce_mean(-tf.math.log(r) - tf.math.log(1.0 - f)),
        "swapped": lambda r, f: meant(f, r),
        "summed": lambda r, f: 8 * meant(r, f),
        "TensorFlow ops only": lambda r, f: float(meant(r, f).numpy()),
    }
    for advice, fn in wrong.items():
        assert not checks.check_repaired_d_loss(fn)
        assert advice in capsys.readouterr().out, advice


# ------------------------------------------------------- answers a first-time student gave in review
def test_a_formula_with_eps_in_the_wrong_place_is_caught(capsys):
    assert not checks.check_fgsm_l2(lambda m, x, y, eps: fgsm_l2(m, x, y, 1.0))  # eps ignored
    assert "moved by" in capsys.readouterr().out
    assert not checks.check_fgsm_l2(lambda m, x, y, eps: fgsm_l2(m, x, y, eps**2))
    assert "moved by" in capsys.readouterr().out
    assert not checks.check_l2_projection(lambda a, x, e: project(a, x, 1.0))
    assert "use eps" in capsys.readouterr().out
    assert not checks.check_l2_projection(lambda a, x, e: project(a, x, e**2))
    assert "sphere" in capsys.readouterr().out


def test_an_epsilon_or_a_clip_in_the_gan_losses_is_caught(capsys):
    def eps_d(r, f):
        return tf.reduce_mean(-tf.math.log(tf.sigmoid(r) + 1e-8)) + tf.reduce_mean(
            -tf.math.log(1 - tf.sigmoid(f) + 1e-8)
        )

    def g_loss(f):
        return tf.reduce_mean(tf.math.softplus(-f))

    assert not checks.check_gan_losses(eps_d, g_loss)
    assert "epsilon or a clip" in capsys.readouterr().out
    pair = lambda r, f: (tf.reduce_mean(tf.math.softplus(-r)), tf.reduce_mean(tf.math.softplus(f)))  # noqa: E731
    assert not checks.check_gan_losses(pair, g_loss)
    assert "tuple of 2 items" in capsys.readouterr().out
    halved = lambda r, f: tf.reduce_mean(tf.concat([tf.math.softplus(-r), tf.math.softplus(f)], 0))  # noqa: E731
    assert not checks.check_gan_losses(halved, g_loss)
    assert "does not average them" in capsys.readouterr().out
    assert not checks.check_gan_losses(halved, lambda f: 16 * g_loss(f))
    assert "Generator loss: you summed" in capsys.readouterr().out


def no_watch(model, x, y, eps):
    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:  # x is a constant and not watched: the gradient is None
        loss = keras.losses.sparse_categorical_crossentropy(y, model(x), from_logits=True)
    return x + eps * tape.gradient(loss, x)


def test_odd_answers_get_advice_never_a_traceback(capsys):
    means = lambda x, y: np.stack([x[y == c].mean(axis=0) for c in range(10)])  # noqa: E731
    answers = {
        "forget `return`": (checks.check_class_means, lambda x, y: None),
        "list of 10 items": (checks.check_class_means, lambda x, y: [x[y == c] for c in range(10)]),
        "is a dict": (checks.check_class_means, lambda x, y: {c: x[y == c].mean(0) for c in range(10)}),
        "(10, 28, 28)": (checks.check_class_means, lambda x, y: means(x, y)[..., 0]),
        "not the mean of their class": (
            checks.check_class_means,
            lambda x, y: np.repeat(means(x, y)[:1], 10, 0),
        ),
        "tuple of 2 items": (checks.check_fgsm_l2, lambda m, x, y, e: (fgsm_l2(m, x, y, e), 0.0)),
        "did not move": (checks.check_fgsm_l2, lambda m, x, y, e: x),
        "tape.watch": (checks.check_fgsm_l2, no_watch),
        "at most two axes": (
            checks.check_l2_projection,
            lambda a, x, e: np.linalg.norm(a - x, axis=(1, 2, 3)),
        ),
        "isinstance": (
            checks.check_gan_code_checker,
            lambda s: [n.id for n in __import__("ast").walk(__import__("ast").parse(s))],
        ),
    }
    for advice, (check, fn) in answers.items():
        assert not check(fn), advice
        out = capsys.readouterr().out
        assert advice in out and "Traceback" not in out, (advice, out)
        assert "wrong order" not in out  # ten copies of one class's mean are not a permutation


def test_numbers_by_hand_in_odd_forms(capsys):
    assert checks.check_line_gradient("7.05875", np.float32(-9.85), tf.constant([-4.65]))
    capsys.readouterr()
    wrong = {
        "not the text": ("113/16", -9.85, -4.65),
        "swapped": (7.05875, -4.65, -9.85),
        "cannot be negative": (-7.05875, -9.85, -4.65),
        "one number": (7.05875, [-9.85, -4.65], -4.65),
    }
    for advice, numbers in wrong.items():
        assert not checks.check_line_gradient(*numbers)
        assert advice in capsys.readouterr().out, advice
    from course_utils import models

    cnn = models.build_cnn(filters=(8, 16), dense_units=32, batch_norm=False)
    sizes = {
        "without the batch axis": ((1, 28, 28, 8), 80, 25_120),
        "channels last": ((8, 28, 28), 80, 25_120),
        "not a whole number": ((28, 28, 8), 80.5, 25_120),
    }
    for advice, answer in sizes.items():
        assert not checks.check_layer_sizes(cnn, *answer)
        assert advice in capsys.readouterr().out, advice
    assert not checks.check_layer_sizes(
        keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]), (1,), 1, 1
    )
    assert "layers named" in capsys.readouterr().out


def test_a_checker_that_flags_every_named_layer_is_caught(capsys):
    import re

    def every_name(source):
        return (
            [f"layer {n}" for n in re.findall(r"name='(\w+)'", source)]
            + (["undefined: offset"] if "offset" in source else [])
            + (["TF1: tf.log"] if "tf.log(" in source else [])
        )

    assert not checks.check_gan_code_checker(every_name)
    assert "False alarm on clean code with two differently named layers" in capsys.readouterr().out


def test_repaired_loss_halved_or_returning_none(capsys):
    def meant(real, fake):
        return tf.reduce_mean(-tf.math.log(tf.sigmoid(real)) - tf.math.log(1.0 - tf.sigmoid(fake)))

    assert not checks.check_repaired_d_loss(lambda r, f: meant(r, f) / 2)
    assert "do not average" in capsys.readouterr().out
    assert not checks.check_repaired_d_loss(lambda r, f: None)
    assert "forget `return`" in capsys.readouterr().out


def straight_through(x, levels, *, mistake=None):
    scale = levels - 1
    if mistake == "levels":
        scale = levels
    rounded = tf.round(x * scale) / scale
    if mistake == "plain":
        return rounded
    if mistake == "numpy":
        return rounded.numpy()
    if mistake == "all stopped":
        return tf.stop_gradient(x + (rounded - x))
    return x + tf.stop_gradient(rounded - x)


def test_straight_through_check(capsys):
    assert checks.check_straight_through(straight_through)
    assert "BPDA" in capsys.readouterr().out
    cases = {
        "tf.round has no gradient": "plain",
        "steps of 1/(levels - 1)": "levels",
        "cannot differentiate through NumPy": "numpy",
        "blocks it too": "all stopped",
    }
    for advice, mistake in cases.items():
        assert not checks.check_straight_through(
            lambda x, levels, m=mistake: straight_through(x, levels, mistake=m)
        )
        assert advice in capsys.readouterr().out, advice
    assert not checks.check_straight_through(lambda x, levels: x)
    assert "does not round" in capsys.readouterr().out


def noise_beats_attack(
    model, x, y, eps, attack_accuracy, tolerance=0.01, *, flip=False, strict=False, inside=False
):
    from course_utils import attacks, evaluation

    x_noise = attacks.random_perturbation(x, eps=eps, surface=not inside, seed=1)
    noise = evaluation.accuracy(model, x_noise, y)
    if flip:
        return noise > attack_accuracy + tolerance
    return noise < attack_accuracy - (0 if strict else tolerance)


def test_noise_check_check(capsys):
    assert checks.check_noise_check(noise_beats_attack)
    assert "all four cases" in capsys.readouterr().out
    assert not checks.check_noise_check(lambda *a: noise_beats_attack(*a, flip=True))
    assert "other way round" in capsys.readouterr().out
    assert not checks.check_noise_check(lambda *a: noise_beats_attack(*a, strict=True))
    assert "smaller than the tolerance" in capsys.readouterr().out
    assert not checks.check_noise_check(lambda *a: noise_beats_attack(*a, inside=True))
    assert "surface=True" in capsys.readouterr().out
    assert not checks.check_noise_check(lambda *a: 0.5)
    assert "True or False" in capsys.readouterr().out


def test_interval_dense_check(capsys):
    def right(lower, upper, w, b):
        mid, rad = (lower + upper) / 2, (upper - lower) / 2
        return mid @ w + b - rad @ np.abs(w), mid @ w + b + rad @ np.abs(w)

    assert checks.check_interval_dense(right)
    assert "exact" in capsys.readouterr().out
    cases = {
        "A negative weight swaps them": lambda l, u, w, b: (l @ w + b, u @ w + b),
        "not sound": lambda l, u, w, b: tuple(v - b for v in right(l, u, w, b)),
        "looser than needed": lambda l, u, w, b: (right(l, u, w, b)[0] - 1, right(l, u, w, b)[1] + 1),
        "Return a pair": lambda l, u, w, b: right(l, u, w, b)[0],
        "Not written yet": lambda l, u, w, b: (_ for _ in ()).throw(NotImplementedError),
    }
    for advice, wrong in cases.items():
        assert not checks.check_interval_dense(wrong)
        assert advice in capsys.readouterr().out, advice


def test_fgsm_rs_step_check(capsys):
    def step(model, x, y, eps, alpha, delta0, *, at_clean=False, project=True, start=True):
        x = tf.convert_to_tensor(x)
        begin = tf.clip_by_value(x + delta0, 0.0, 1.0) if start else x
        point = x if at_clean else begin
        with tf.GradientTape() as tape:
            tape.watch(point)
            loss = keras.losses.sparse_categorical_crossentropy(y, model(point), from_logits=True)
        moved = begin + alpha * tf.sign(tape.gradient(loss, point))
        delta = tf.clip_by_value(moved - x, -eps, eps) if project else moved - x
        return tf.clip_by_value(x + delta, 0.0, 1.0)

    assert checks.check_fgsm_rs_step(step)
    assert "matches" in capsys.readouterr().out
    cases = {
        "at the clean x": lambda *a: step(*a, at_clean=True),
        "moved by": lambda *a: step(*a, project=False),
        "ignored delta0": lambda *a: step(*a, start=False),
    }
    for advice, wrong in cases.items():
        assert not checks.check_fgsm_rs_step(wrong)
        assert advice in capsys.readouterr().out, advice


def test_trades_loss_check(capsys):
    def kl(p_logits, q_logits):
        p = tf.nn.softmax(p_logits)
        return tf.reduce_sum(p * (tf.nn.log_softmax(p_logits) - tf.nn.log_softmax(q_logits)), axis=1)

    def loss(model, x, x_adv, y, beta, *, reverse=False, adv_ce=False, no_beta=False):
        clean, adv = model(x), model(x_adv)
        ce = keras.losses.sparse_categorical_crossentropy(y, adv if adv_ce else clean, from_logits=True)
        term = kl(adv, clean) if reverse else kl(clean, adv)
        return tf.reduce_mean(ce) + (1.0 if no_beta else beta) * tf.reduce_mean(term)

    assert checks.check_trades_loss(loss)
    assert "clean cross-entropy" in capsys.readouterr().out
    cases = {
        "wrong way round": lambda *a: loss(*a, reverse=True),
        "on the *clean* images": lambda *a: loss(*a, adv_ce=True),
        "Multiply the KL term by beta": lambda *a: loss(*a, no_beta=True),
    }
    for advice, wrong in cases.items():
        assert not checks.check_trades_loss(wrong)
        assert advice in capsys.readouterr().out, advice


def test_gan_step_check(capsys):
    from course_utils import gan, toy_gan

    def step(generator, discriminator, g_opt, d_opt, real, z, *, saturating=False, stale=False, no_g=False):
        with tf.GradientTape() as tape:
            fake = generator(z, training=True)
            fake_logits = discriminator(fake, training=True)
            d_loss = gan.discriminator_loss(discriminator(real, training=True), fake_logits)
        d_opt.apply(tape.gradient(d_loss, discriminator.trainable_weights), discriminator.trainable_weights)
        if no_g:
            return d_loss, d_loss
        with tf.GradientTape() as tape:
            logits = discriminator(generator(z, training=True), training=True)
            if stale:
                logits = logits * 0 + fake_logits  # the value from before D's step (and no gradient)
            g_loss = tf.reduce_mean(-tf.math.softplus(logits)) if saturating else gan.generator_loss(logits)
        g_opt.apply(tape.gradient(g_loss, generator.trainable_weights), generator.trainable_weights)
        return d_loss, g_loss

    assert checks.check_gan_step(toy_gan.gan_step)
    assert "same weights as the reference" in capsys.readouterr().out
    assert checks.check_gan_step(step)
    capsys.readouterr()
    cases = {
        "saturating loss": lambda *a: step(*a, saturating=True),
        "generator did not change": lambda *a: step(*a, no_g=True),
        "return the two losses": lambda *a: (step(*a), None)[1] or 3,
    }
    for advice, wrong in cases.items():
        assert not checks.check_gan_step(wrong)
        assert advice in capsys.readouterr().out, advice

    def not_written(*args):
        raise NotImplementedError

    assert not checks.check_gan_step(not_written)
    assert "Not written yet" in capsys.readouterr().out


def test_flip_eps_check(capsys):
    def flip_eps(w, b, x):
        return abs(w @ x + b) / np.abs(w).sum()

    assert checks.check_flip_eps(flip_eps)
    mistakes = {
        "L2 norm": lambda w, b, x: abs(w @ x + b) / np.linalg.norm(w),
        "L∞ norm": lambda w, b, x: abs(w @ x + b) / np.abs(w).max(),
        "without absolute values": lambda w, b, x: abs(w @ x + b) / abs(w.sum()),
        "negative budget": lambda w, b, x: (w @ x + b) / np.abs(w).sum(),
        "left out the bias": lambda w, b, x: abs(w @ x) / np.abs(w).sum(),
        "multiplied": lambda w, b, x: abs(w @ x + b) * np.abs(w).sum(),
        "Set the worst-case score": lambda w, b, x: 0.05,  # the first case's answer, hard-coded
    }
    for advice, wrong in mistakes.items():
        capsys.readouterr()
        assert not checks.check_flip_eps(wrong), advice
        assert advice in capsys.readouterr().out, advice
