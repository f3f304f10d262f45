"""The exercise checks: a correct answer passes, each classic mistake gets its own advice."""

import keras
import numpy as np
import tensorflow as tf

from course_utils import checks


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
        if api and "tf.log(" in source:
            warnings.append("TF1 API: tf.log")
        names = [
            kw.value.value for n in ast.walk(tree) for kw in getattr(n, "keywords", []) if kw.arg == "name"
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
