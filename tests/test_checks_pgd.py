"""Notebook 07's exercise checks: the L2 projection of image batches (exercise 1), and the worst case over
PGD restarts, chosen per image by the margin (exercise 2). A correct answer passes, each classic mistake
gets its own advice, odd answers get words, never a traceback."""

import numpy as np
import tensorflow as tf

from course_utils import checks


# ------------------------------------------------------------------------------ the L2 projection
def project(x_adv, x, eps, *, mistake=None):
    delta = x_adv - x
    axes = {"axes (1, 2)": (1, 2), "axis -1": -1, "whole batch": None}.get(mistake, tuple(range(1, x.ndim)))
    if mistake == "clip first":
        delta = np.clip(delta, -eps, eps)
    if mistake == "L-inf clip":
        return x + np.clip(delta, -eps, eps)
    if mistake == "784":
        length = np.sqrt(np.sum(delta.reshape(len(x), 784) ** 2, axis=1)).reshape(-1, 1, 1, 1)
    else:
        length = np.sqrt(np.sum(delta**2, axis=axes, keepdims=True))
    if mistake == "no guard":  # the unit direction first: 0 / 0 for an image that did not move
        return x + delta / length * np.minimum(length, eps)
    shrunk = delta * np.minimum(1.0, eps / np.maximum(length, 1e-12))
    if mistake == "clip after":  # a no-op: after the projection every |delta_i| <= ||delta||_2 <= eps
        shrunk = np.clip(shrunk, -eps, eps)
    if mistake == "pixel range":
        return np.clip(x + shrunk, 0, 1)
    if mistake == "no x":
        return shrunk
    return x + shrunk


def test_the_right_projection_passes_in_several_forms(capsys):
    def flattened(x_adv, x, eps):
        delta = (x_adv - x).reshape(len(x), -1)
        scale = np.minimum(1.0, eps / np.maximum(np.linalg.norm(delta, axis=1), 1e-12))
        return x + (delta * scale[:, None]).reshape(x.shape)

    def in_tensorflow(x_adv, x, eps):
        delta = tf.constant(x_adv - x, tf.float32)
        length = tf.sqrt(tf.reduce_sum(delta**2, axis=[1, 2, 3], keepdims=True))
        return x + delta * tf.minimum(1.0, eps / tf.maximum(length, 1e-12))

    for fn in (project, flattened, in_tensorflow, lambda a, x, e: project(a, x, e, mistake="clip after")):
        assert checks.check_l2_projection(fn)
        out = capsys.readouterr().out
        assert "Correct" in out and "colour images" in out and "one pixel moved" in out, out


def test_each_projection_mistake_gets_its_own_advice(capsys):
    cases = {
        "whole batch": "Take one norm per image, not one for the whole batch",
        "axis -1": "norm over the last axis only (axis=-1",
        "axes (1, 2)": "one norm per channel",
        "L-inf clip": "that is the L∞ projection",
        "clip first": "before the L2 projection",
        "784": "assumes 28 × 28 × 1 images",
        "pixel range": "clipped to the pixel range",
        "no x": "return x plus it",
        "no guard": "NaN or inf",
    }
    for mistake, advice in cases.items():
        assert not checks.check_l2_projection(lambda a, x, e, m=mistake: project(a, x, e, mistake=m))
        out = capsys.readouterr().out
        assert advice in out and "Traceback" not in out, (mistake, out)
        if mistake == "whole batch":  # the advice leads with what to do: per image
            assert out.splitlines()[1].strip().startswith("Case colour images") and "per image" in out


def test_odd_projection_answers_get_advice_never_a_traceback(capsys):
    def unwritten(x_adv, x, eps):
        raise NotImplementedError

    answers = {
        "Not written yet": unwritten,
        "forget `return`": lambda a, x, e: None,
        "should be (4, 6, 5, 3)": lambda a, x, e: a[0],
        "is a str": lambda a, x, e: "projected",
        "at most two axes": lambda a, x, e: np.linalg.norm(a - x, axis=(1, 2, 3)),
    }
    for advice, fn in answers.items():
        assert not checks.check_l2_projection(fn)
        out = capsys.readouterr().out
        assert advice in out and "Traceback" not in out, (advice, out)


# ------------------------------------------------------------------------- the worst case over restarts
def worst_of_restarts(model, x_runs, y, *, mistake=None):
    y = np.asarray(y)
    n = len(y)
    scores = []
    for x in x_runs:
        logits = np.asarray(model(x, training=False), dtype=np.float64)
        true = logits[np.arange(n), y]
        if mistake == "lowest true logit":
            scores.append(-true)
        elif mistake == "with the true class":
            scores.append(logits.max(axis=1) - true)
        elif mistake == "cross-entropy":
            scores.append(tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits).numpy())
        else:
            others = np.where(np.eye(logits.shape[1], dtype=bool)[y], -np.inf, logits)
            scores.append(others.max(axis=1) - true)
    scores = np.array(scores)  # (R, N)
    if mistake == "one run":
        return x_runs[scores.mean(axis=1).argmax()]
    best = scores.argmin(axis=0) if mistake == "smallest" else scores.argmax(axis=0)
    if mistake == "indices":
        return best
    if mistake == "all runs":
        return x_runs
    return x_runs[best, np.arange(n)]


def test_the_right_answer_passes(capsys):
    assert checks.check_worst_of_restarts(worst_of_restarts)
    assert "Correct" in capsys.readouterr().out


def test_each_classic_mistake_gets_its_own_advice(capsys):
    cases = {
        "smallest": "*smallest* margin",
        "one run": "for every image",
        "with the true class": "Leave the true class out of the max",
        "cross-entropy": "chose by the cross-entropy",
        "lowest true logit": "lowest true logit z_y",
        "indices": "run indices",
        "all runs": "shape of all 3 runs",
    }
    for mistake, advice in cases.items():
        assert not checks.check_worst_of_restarts(
            lambda m, x, y, k=mistake: worst_of_restarts(m, x, y, mistake=k)
        )
        out = capsys.readouterr().out
        assert advice in out, (mistake, out)


def test_a_mixed_or_averaged_image_is_named(capsys):
    assert not checks.check_worst_of_restarts(lambda m, x, y: x.mean(axis=0))
    assert "none of the 3 runs' images" in capsys.readouterr().out


def test_a_wrong_choice_on_the_random_case_names_the_image(capsys):
    def first_misclassified(model, x_runs, y):  # right on the designed case only by luck of its order
        chosen = worst_of_restarts(model, x_runs, y)
        if len(x_runs) == 4:
            chosen = chosen.copy()
            right = worst_of_restarts(model, x_runs, y, mistake="indices")
            chosen[0] = x_runs[(right[0] + 1) % 4, 0]
        return chosen

    assert not checks.check_worst_of_restarts(first_misclassified)
    out = capsys.readouterr().out
    assert "For image 0" in out and "second case" in out


def test_odd_answers_get_advice_never_a_traceback(capsys):
    def unwritten(model, x_runs, y):
        raise NotImplementedError

    def stacked_call(model, x_runs, y):
        return model(x_runs)  # a stack of batches fed to the model at once

    answers = {
        "Not written yet": unwritten,
        "forget `return`": lambda m, x, y: None,
        "one run at a time": stacked_call,
        "Do not hard-code the image shape": lambda m, x, y: m(x.reshape(-1, 28, 28, 1)),
        "should be (5, 2, 2, 1)": lambda m, x, y: x[0, :3],
        "is a str": lambda m, x, y: "run 1",
    }
    for advice, fn in answers.items():
        assert not checks.check_worst_of_restarts(fn)
        out = capsys.readouterr().out
        assert advice in out and "Traceback" not in out, (advice, out)
