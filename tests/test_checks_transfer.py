"""Notebook 10's checks: MI-FGSM against Dong et al.'s update, and a score-based attack judged by its
budget, its ball and what it fools on a linear model where the foolable images are known exactly."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from course_utils import checks


def mi_fgsm(model, x, y, eps, steps, decay, *, norm="l1", step=None, project=True, batch_norm=False):
    """An independent MI-FGSM in TensorFlow (not the check's NumPy reference), with switchable mistakes."""
    x = tf.convert_to_tensor(x, tf.float32)
    adv, g = tf.identity(x), tf.zeros_like(x)
    for _ in range(steps):
        with tf.GradientTape() as tape:
            tape.watch(adv)
            loss = keras.losses.sparse_categorical_crossentropy(y, model(adv), from_logits=True)
        grad = tape.gradient(loss, adv)
        axes = None if batch_norm else [1, 2, 3]
        if norm == "l1":
            grad = grad / tf.reduce_sum(tf.abs(grad), axis=axes, keepdims=True)
        elif norm == "l2":
            grad = grad / tf.sqrt(tf.reduce_sum(grad**2, axis=axes, keepdims=True))
        g = decay * g + grad
        adv = adv + (eps / steps if step is None else step) * tf.sign(g)
        if project:
            adv = tf.clip_by_value(adv, x - eps, x + eps)
        adv = tf.clip_by_value(adv, 0.0, 1.0)
    return adv


def test_mi_fgsm_check_passes_an_independent_implementation(capsys):
    assert checks.check_mi_fgsm(mi_fgsm)
    assert "decay 1.0 and 0.5" in capsys.readouterr().out


@pytest.mark.parametrize(
    "mistake, advice",
    [
        (dict(decay_override=0.0), "plain iterative FGSM"),
        (dict(norm="l2"), "L2 norm"),
        (dict(norm=None), "Divide each image's gradient by its L1 norm"),
        (dict(batch_norm=True), "per image"),
        (dict(step=0.3), "eps / steps long"),
        (dict(step=0.1, project=False), "more than eps"),  # with steps of eps / steps it could not leave
        (dict(decay_fixed=1.0), "multiply the old momentum by `decay`"),
    ],
)
def test_mi_fgsm_mistakes_get_their_advice(mistake, advice, capsys):
    def wrong(model, x, y, eps, steps, decay):
        kwargs = dict(mistake)
        decay = kwargs.pop("decay_override", kwargs.pop("decay_fixed", decay))
        return mi_fgsm(model, x, y, eps, steps, decay, **kwargs)

    assert not checks.check_mi_fgsm(wrong)
    assert advice in capsys.readouterr().out


def greedy_search(scores, x, y, eps, queries, seed=None, *, keep_all=False, budget_factor=1):
    """A reference score-based attack: start at a random corner, flip one pixel's sign per query, keep
    the flip when the margin drops."""
    rng = np.random.default_rng(seed)
    n = len(x)
    flat = x.reshape(n, -1)
    signs = rng.choice([-1.0, 1.0], size=flat.shape)

    def margin(s):
        z = scores(np.clip(flat + eps * s, 0, 1).reshape(x.shape))
        true = z[np.arange(n), y]
        z[np.arange(n), y] = -np.inf
        return true - z.max(1)

    best = margin(signs)
    for _ in range(budget_factor * queries - 1):
        i = rng.integers(flat.shape[1], size=n)
        trial = signs.copy()
        trial[np.arange(n), i] *= -1
        m = margin(trial)
        better = np.ones(n, bool) if keep_all else m < best
        signs[better], best[better] = trial[better], m[better]
    return np.clip(flat + eps * signs, 0, 1).reshape(x.shape)


def test_random_search_check_judges_by_budget_ball_and_success(capsys):
    assert checks.check_random_search(greedy_search)
    assert "images that can be fooled at all" in capsys.readouterr().out
    cases = {
        "more than the budget": lambda *a: greedy_search(*a, budget_factor=2),
        "about what one random": lambda *a: greedy_search(*a, keep_all=True),
        "never called scores()": lambda s, x, y, eps, q, seed: x,
        "more than eps": lambda s, x, y, eps, q, seed: greedy_search(s, x, y, 2 * eps, q, seed),
        "Not written yet": lambda *a: (_ for _ in ()).throw(NotImplementedError()),
    }
    for advice, wrong in cases.items():
        assert not checks.check_random_search(wrong), advice
        assert advice in capsys.readouterr().out, advice
