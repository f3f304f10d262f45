"""Checks for the defence exercises: the FGSM-RS step and the TRADES loss (08). Notebook 11's checks
are in ``checks.certify``."""

from __future__ import annotations

import math

import numpy as np

from course_utils.checks._core import (
    _array,
    _call,
    _linear_model,
    _never_raises,
    _Problem,
    _say,
    _scalar,
)


# ------------------------------------------------------- adversarial training steps (08)
@_never_raises
def check_fgsm_rs_step(fn) -> bool:
    """Check ``fn(model, x, y, eps, alpha, delta0)``: FGSM with a random start (Wong, Rice & Kolter,
    2020): from ``x + delta0`` (``delta0`` the random start, given), one step of ``alpha`` along the
    sign of the cross-entropy's input gradient *at that point*, then back into the ε-ball around
    ``x`` and the pixel range [0, 1]."""
    import tensorflow as tf

    from course_utils import attacks

    model = _linear_model()
    rng = np.random.default_rng(6)
    x = rng.uniform(0, 1, (6, 28, 28, 1)).astype("float32")
    y = np.array([0, 1, 2, 3, 4, 5])
    eps, alpha = 0.1, 0.125  # alpha = 1.25 eps, as Wong et al.
    delta0 = rng.uniform(-eps, eps, x.shape).astype("float32")

    def step_from(start):
        g = attacks.input_gradients(model, start, y)
        return np.sign(g)

    start = np.clip(x + delta0, 0, 1)
    reference = np.clip(x + np.clip(start - x + alpha * step_from(start), -eps, eps), 0, 1)
    out = _array(_call(fn, model, tf.constant(x), y, eps, alpha, tf.constant(delta0)))
    if out.shape != x.shape:
        raise _Problem(f"Your result has shape {out.shape}; it should have the images' shape {x.shape}.")
    if np.allclose(out, reference, atol=1e-5):
        return _say(
            True,
            [
                "Your step matches: from x + delta0, one sign step of alpha, projected to the ε-ball "
                "and [0, 1]."
            ],
        )
    sizes = np.abs(out - x).max()
    if sizes > eps + 1e-5:
        raise _Problem(
            f"Some pixels moved by {sizes:.3f} > eps = {eps}: after the step, clip x_adv - x to [-eps, eps] "
            "(alpha = 1.25 eps is larger than eps, so the projection matters)."
        )
    if out.min() < -1e-6 or out.max() > 1 + 1e-6:
        raise _Problem("Pixels leave [0, 1]: clip the result to the pixel range as well.")
    at_x = np.clip(x + np.clip(start - x + alpha * step_from(x), -eps, eps), 0, 1)
    if np.allclose(out, at_x, atol=1e-5):
        raise _Problem(
            "You took the gradient at the clean x. The random start is the point: compute the gradient at "
            "x + delta0 (clipped to [0, 1]), where the step starts."
        )
    no_start = np.clip(x + np.clip(alpha * step_from(x), -eps, eps), 0, 1)
    if np.allclose(out, no_start, atol=1e-5):
        raise _Problem("You ignored delta0: start from x + delta0, the random start, not from x.")
    raise _Problem(
        "Not the FGSM-RS step. Start at x + delta0 (clip to [0, 1]), add alpha * sign(gradient of the "
        "cross-entropy at that point, true labels, from logits), then clip x_adv - x to [-eps, eps] and "
        "the result to [0, 1]."
    )


@_never_raises
def check_trades_loss(fn) -> bool:
    """Check ``fn(model, x, x_adv, y, beta)``: TRADES' training loss (Zhang et al., 2019), the mean
    over the batch of ``CE(f(x), y) + beta * KL(softmax f(x) || softmax f(x_adv))``, a scalar."""
    import tensorflow as tf

    from course_utils import adversarial_training, attacks

    model = _linear_model()
    rng = np.random.default_rng(7)
    x = rng.uniform(0, 1, (8, 28, 28, 1)).astype("float32")
    x_adv = np.clip(x + rng.uniform(-0.3, 0.3, x.shape), 0, 1).astype("float32")
    y = rng.integers(0, 10, 8)
    beta = 6.0
    clean, adv = model(x, training=False), model(x_adv, training=False)
    ce = float(tf.reduce_mean(attacks.cross_entropy(y, clean)))
    kl = float(tf.reduce_mean(adversarial_training.kl_from_clean(tf.nn.softmax(clean), adv)))
    value = _scalar(_call(fn, model, tf.constant(x), tf.constant(x_adv), y, beta), "your TRADES loss")
    if math.isclose(value, ce + beta * kl, rel_tol=1e-4):
        return _say(True, [f"{value:.4f} = clean cross-entropy {ce:.4f} + {beta:g} x KL {kl:.4f}."])
    reverse = float(tf.reduce_mean(adversarial_training.kl_from_clean(tf.nn.softmax(adv), clean)))
    adv_ce = float(tf.reduce_mean(attacks.cross_entropy(y, adv)))
    if math.isclose(value, ce + beta * reverse, rel_tol=1e-4):
        raise _Problem(
            "The KL divergence is the wrong way round: TRADES uses KL(f(x) || f(x_adv)), the clean "
            "prediction as the reference distribution."
        )
    if math.isclose(value, adv_ce + beta * kl, rel_tol=1e-4):
        raise _Problem("The first term is the cross-entropy on the *clean* images, not the adversarial ones.")
    if math.isclose(value, ce + kl, rel_tol=1e-4):
        raise _Problem(f"Multiply the KL term by beta (here {beta:g}).")
    if math.isclose(value, ce, rel_tol=1e-4):
        raise _Problem("You returned only the cross-entropy: add beta times the KL divergence.")
    raise _Problem(
        f"Expected {ce + beta * kl:.4f} (cross-entropy {ce:.4f} + {beta:g} x KL {kl:.4f}); got {value:.4f}. "
        "The KL of two softmaxes p, q is sum p (log p - log q); take batch means."
    )
