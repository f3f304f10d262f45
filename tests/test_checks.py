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
