"""Checks for the GAN exercises: the losses, one-sided label smoothing and the game's value against the
best discriminator (03); a checker for GAN code and the snippet's shapes worked out by hand (05). The
training exercises of 04 are in :mod:`course_utils.checks.gan_training`."""

from __future__ import annotations

import math

import numpy as np

from course_utils.checks._core import (
    NOT_WRITTEN,
    _array,
    _call,
    _never_raises,
    _Problem,
    _say,
    _scalar,
)


# ------------------------------------------------------------------------------ GAN losses (03)
def _one_loss(value, what: str) -> float:
    out = _array(value, what)
    if out.size != 1:
        raise _Problem(
            f"{what} should be one number (average over the batch with tf.reduce_mean); "
            f"yours has shape {out.shape}."
        )
    return float(out.reshape(()))


@_never_raises
def check_gan_losses(d_loss_fn, g_loss_fn) -> bool:
    """Check ``d_loss_fn(real_logits, fake_logits)`` = mean(-log D(x)) + mean(-log(1 - D(G(z)))) and
    ``g_loss_fn(fake_logits)`` = mean(-log D(G(z))), with ``D = sigmoid(logit)``, computed safely
    (also for very confident logits, where an epsilon or a clip inside the log gives wrong values)."""
    import tensorflow as tf

    from course_utils import gan

    rng = np.random.default_rng(3)
    real = tf.constant(rng.normal(0, 2, (16, 1)), tf.float32)
    fake = tf.constant(rng.normal(0, 2, (16, 1)), tf.float32)
    lines = []
    values = {}
    for name, fn, args in (
        ("Discriminator loss", d_loss_fn, (real, fake)),
        ("Generator loss", g_loss_fn, (fake,)),
    ):
        try:
            values[name] = _one_loss(_call(fn, *args), name)
        except _Problem as problem:
            lines.append(f"{name}: {problem}")
    if lines:
        return _say(False, lines)
    d, g = values["Discriminator loss"], values["Generator loss"]
    d_ref, g_ref = float(gan.discriminator_loss(real, fake)), float(gan.generator_loss(fake))
    if not math.isclose(d, d_ref, rel_tol=1e-4):
        if math.isclose(d, float(gan.discriminator_loss(fake, real)), rel_tol=1e-4):
            lines.append("Discriminator loss: real and fake are swapped; real images should get D(x) -> 1.")
        elif math.isclose(d, d_ref * 16, rel_tol=1e-4):
            lines.append("Discriminator loss: you summed over the batch; average instead (tf.reduce_mean).")
        elif math.isclose(d, d_ref / 2, rel_tol=1e-4):
            lines.append(
                "Discriminator loss: half the expected value. The course adds the two means (real and "
                "fake); it does not average them."
            )
        else:
            lines.append(
                f"Discriminator loss: {d:.4f}, expected {d_ref:.4f}: the real images' term plus the "
                "generated images' term, each averaged over its batch."
            )
    if not math.isclose(g, g_ref, rel_tol=1e-4):
        if math.isclose(g, float(tf.reduce_mean(-tf.math.softplus(fake))), rel_tol=1e-4):
            lines.append(
                "Generator loss: that is the saturating log(1 - D(G(z))); use the non-saturating "
                "-log D(G(z))."
            )
        elif math.isclose(g, float(tf.reduce_mean(tf.math.softplus(fake))), rel_tol=1e-4):
            lines.append(
                "Generator loss: softplus(fake) is -log(1 - D(G(z))), the discriminator's term for "
                "generated images: minimising it would help the discriminator. The generator minimises "
                "-log D(G(z)) = softplus(-fake)."
            )
        elif math.isclose(g, -g_ref, rel_tol=1e-4):
            lines.append("Generator loss: wrong sign; the generator *minimises* -log D(G(z)).")
        elif math.isclose(g, g_ref * 16, rel_tol=1e-4):
            lines.append("Generator loss: you summed over the batch; average instead (tf.reduce_mean).")
        else:
            lines.append(f"Generator loss: {g:.4f}, expected {g_ref:.4f} = mean of -log D(G(z)).")
    if lines:
        return _say(False, lines)
    extreme = tf.constant([[-200.0], [200.0]]), tf.constant([[200.0], [-200.0]])
    try:
        d_big = _one_loss(_call(d_loss_fn, *extreme), "Discriminator loss")
        g_big = _one_loss(_call(g_loss_fn, extreme[1]), "Generator loss")
    except _Problem as problem:
        return _say(False, [f"Right on ordinary logits, but with very confident logits (±200): {problem}"])
    d_big_ref, g_big_ref = float(gan.discriminator_loss(*extreme)), float(gan.generator_loss(extreme[1]))
    if not (np.isfinite(d_big) and np.isfinite(g_big)):
        return _say(
            False,
            [
                "The values match on ordinary logits, but for very confident logits (±200) your "
                "losses overflow to inf or NaN: log(sigmoid(l)) underflows. Compute from logits "
                "with tf.math.softplus: -log(sigmoid(l)) = softplus(-l)."
            ],
        )
    if not (math.isclose(d_big, d_big_ref, rel_tol=1e-3) and math.isclose(g_big, g_big_ref, rel_tol=1e-3)):
        return _say(
            False,
            [
                f"For very confident logits (±200) your losses are {d_big:.1f} and {g_big:.1f}, expected "
                f"{d_big_ref:.1f} and {g_big_ref:.1f}. An epsilon or a clip inside the log caps the loss "
                "(and flattens its gradient); compute from the logits with tf.math.softplus instead."
            ],
        )
    return _say(True, ["Both losses match course_utils.gan, also for very confident logits."])


# ------------------------------------------------------------ one-sided label smoothing (03)
def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


def _smoothed_reference(real, fake, t, *, fake_label=0.0, keep_other_term=True):
    """``mean(-t log D(x) - (1 - t) log(1 - D(x))) + mean(-(f) log D(G(z)) - (1 - f) log(1 - D(G(z))))``
    in float64 from logits (``f``: the generated images' label, 0 unless a mistake is simulated)."""
    r, f = (np.asarray(v, dtype=np.float64) for v in (real, fake))
    real_term = t * _softplus(-r) + ((1.0 - t) * _softplus(r) if keep_other_term else 0.0)
    fake_term = fake_label * _softplus(-f) + (1.0 - fake_label) * _softplus(f)
    return float(np.mean(real_term) + np.mean(fake_term))


def _smoothing_advice(got: float, real, fake, t: float) -> str | None:
    """The usual mistake that gives ``got`` for real label ``t`` (``None``: none of them)."""
    ref = _smoothed_reference(real, fake, t)
    mistakes = (
        (
            _smoothed_reference(real, fake, 1.0),
            "That is the loss without smoothing: the real images' target is real_label, not 1.",
        ),
        (
            _smoothed_reference(real, fake, t, keep_other_term=False),
            "A soft label t gives two terms, -t log D(x) - (1 - t) log(1 - D(x)): you dropped the second, "
            "t * softplus(-real) alone has no pull towards D(x) = t.",
        ),
        (
            _smoothed_reference(real, fake, 1.0 - t),
            "t and 1 - t are swapped: the real images' target is t, so -log D(x) = softplus(-real) gets "
            "the weight t.",
        ),
        (
            _smoothed_reference(real, fake, t, fake_label=1.0 - t),
            "You smoothed the generated images' label too (two-sided). One-sided smoothing keeps their "
            "target at 0: a target above 0 would reward the discriminator for calling drawings real "
            "where the data are absent (Salimans et al., 2016).",
        ),
        (
            _smoothed_reference(real, fake, 1.0, fake_label=1.0 - t),
            "You smoothed the generated images' label and kept the real one at 1: smooth the real "
            "images' label only.",
        ),
        (
            _smoothed_reference(real, fake, 1.0 - (1.0 - t) / 2, fake_label=(1.0 - t) / 2),
            "Keras's label_smoothing moves *both* labels towards 1/2; one-sided smoothing changes the "
            "real images' label only. Write the two terms from logits yourself.",
        ),
        (
            _smoothed_reference(fake, real, t),
            "Real and fake are swapped: the real images get the soft target t, the generated ones 0.",
        ),
        (len(np.asarray(real)) * ref, "You summed over the batch; average instead (tf.reduce_mean)."),
        (ref / 2, "Half the expected value: add the two means (real and generated), do not average them."),
    )
    for value, advice in mistakes:
        if math.isclose(got, value, rel_tol=1e-4):
            return advice
    return None


@_never_raises
def check_smoothed_d_loss(fn) -> bool:
    """Check ``fn(real_logits, fake_logits, real_label)``: the discriminator loss with one-sided label
    smoothing (Salimans et al., 2016), real images' target ``t = real_label``, generated images' 0,

    ``mean(-t log D(x) - (1 - t) log(1 - D(x))) + mean(-log(1 - D(G(z))))``, ``D = sigmoid(logit)``,

    computed from logits (``t softplus(-l) + (1 - t) softplus(l)``) so that very confident logits give
    the true, finite value. Tried with ``t = 0.9`` and ``t = 0.7`` (a hard-coded 0.9 is caught) and
    with logits of ±200."""
    import tensorflow as tf

    rng = np.random.default_rng(4)
    real = rng.normal(0, 2, (16, 1)).astype("float32")
    fake = rng.normal(0, 2, (16, 1)).astype("float32")
    for t in (0.9, 0.7):
        result = _call(fn, tf.constant(real), tf.constant(fake), t)
        got = _one_loss(result, f"With real_label = {t}, your loss")
        want = _smoothed_reference(real, fake, t)
        if math.isclose(got, want, rel_tol=1e-4):
            continue
        if t != 0.9 and math.isclose(got, _smoothed_reference(real, fake, 0.9), rel_tol=1e-4):
            raise _Problem(
                f"With real_label = {t} you return the value for 0.9: use the real_label argument, "
                "not a fixed 0.9."
            )
        if not np.isfinite(got):
            raise _Problem(
                f"With real_label = {t} on ordinary logits your loss is {got}: compute it from the "
                "logits with tf.math.softplus."
            )
        advice = _smoothing_advice(got, real, fake, t) or (
            "Write -t log D(x) - (1 - t) log(1 - D(x)) for the real images and -log(1 - D(G(z))) for "
            "the generated ones from logits, with -log(sigmoid(l)) = softplus(-l) and "
            "-log(1 - sigmoid(l)) = softplus(l), each averaged over its batch, then add them."
        )
        raise _Problem(f"With real_label = {t}: your loss is {got:.4f}, expected {want:.4f}. {advice}")
    big_real = np.array([[200.0], [-200.0]], dtype="float32")
    big_fake = np.array([[-200.0], [200.0]], dtype="float32")
    result = _call(fn, tf.constant(big_real), tf.constant(big_fake), 0.9)
    got = _one_loss(result, "With very confident logits (±200), your loss")
    want = _smoothed_reference(big_real, big_fake, 0.9)
    if not np.isfinite(got):
        raise _Problem(
            f"Right on ordinary logits, but with very confident logits (±200) your loss is {got}: "
            "log(sigmoid(l)) underflows. Use -log(sigmoid(l)) = softplus(-l) and "
            "-log(1 - sigmoid(l)) = softplus(l)."
        )
    if not math.isclose(got, want, rel_tol=1e-3):
        raise _Problem(
            f"Right on ordinary logits, but with very confident logits (±200) your loss is {got:.1f}, "
            f"expected {want:.1f}. An epsilon or a clip inside the log caps the loss (and flattens its "
            "gradient); compute from the logits with tf.math.softplus instead."
        )
    return _say(
        True,
        [
            "One-sided smoothing from logits: t softplus(-real) + (1 - t) softplus(real) for the real "
            "images, softplus(fake) for the generated ones, right for t = 0.9 and 0.7 and for very "
            "confident logits."
        ],
    )


# --------------------------------------------------------------- a checker for GAN code (05)
_CLEAN = "import tensorflow as tf\n\n\ndef score(x):\n    return tf.reduce_mean(x)\n"
_DISTINCT = (
    "import tensorflow as tf\n\n\ndef block(x):\n"
    "    x = tf.keras.layers.Dense(8, name='dense_a')(x)\n"
    "    return tf.keras.layers.Dense(8, name='dense_b')(x)\n"
)
_UNDEFINED = "import tensorflow as tf\n\n\ndef score(x):\n    return tf.reduce_mean(x) + offset\n"
_TF1 = "import tensorflow as tf\n\n\ndef score(x):\n    return tf.log(x)\n"
_TWICE = _DISTINCT.replace("dense_b", "dense_a")
# As in the snippet, where generator() and discriminator() both name a layer 'dense_1': one name per
# function is fine (each network has its own scope).
_TWO_FUNCTIONS = (
    "import tensorflow as tf\n\n\ndef encoder(x):\n    return tf.keras.layers.Dense(8, name='dense_1')(x)\n"
    "\n\ndef decoder(x):\n    return tf.keras.layers.Dense(8, name='dense_1')(x)\n"
)
_LOGICAL = "import tensorflow as tf\n\n\ndef inside(x):\n    return tf.logical_and(x > 0, x < 1)\n"
# Every defect again, with other names: a checker that recognises the cases above by their text fails.
_MIXED = (
    "import tensorflow as tf\n\n\ndef critic(x):\n"
    "    h = tf.keras.layers.Dense(16, name='hidden')(x)\n"
    "    h = tf.keras.layers.Dense(16, name='hidden')(h)\n"
    "    return h * scale\n\n\ndef run(x):\n"
    "    with tf.Session() as sess:\n        return sess.run(critic(x))\n"
)
_CODE_CASES = (
    ("clean code", _CLEAN, ()),
    ("clean code with two differently named layers", _DISTINCT, ()),
    ("an undefined name", _UNDEFINED, ("offset",)),
    ("a TF1-only API", _TF1, ("tf.log",)),
    ("a layer name used twice", _TWICE, ("dense_a",)),
    ("clean code whose two functions each name one layer 'dense_1'", _TWO_FUNCTIONS, ()),
    ("clean code that calls tf.logical_and", _LOGICAL, ()),
    ("code with all three defects under other names", _MIXED, ("scale", "tf.Session", "hidden")),
)


def _false_alarm_advice(source: str, warnings: list[str]) -> str:
    if source is _TWO_FUNCTIONS and any("dense_1" in w for w in warnings):
        return (
            "A layer name may repeat in *different* functions (each network builds its layers in its own "
            "scope; the snippet's generator and discriminator both have 'dense_1'): count the names "
            "within each ast.FunctionDef separately."
        )
    if source is _LOGICAL and any("tf.log" in w for w in warnings):
        return (
            "'tf.log' is only the start of 'tf.logical_and': compare whole dotted names (rebuild each "
            "ast.Attribute chain, such as tf.train.Adam), not substrings of the source."
        )
    return "Only report what is wrong."


@_never_raises
def check_gan_code_checker(fn) -> bool:
    """Check ``fn(source) -> list[str]`` of notebook 05: no warning for clean code (differently named
    layers, one layer name in each of two functions, ``tf.logical_and``, whose name starts with
    ``tf.log``), and a warning naming the culprit for an undefined name, a missing TF1 API and a layer
    name given twice in one function; then all three at once under other names (``scale``,
    ``tf.Session``, ``hidden``), which a checker written for the first cases' text misses."""
    lines = []
    for label, source, culprits in _CODE_CASES:
        try:
            result = _call(
                fn,
                source,
                hints={
                    "AttributeError": "not every ast node has that attribute: "
                    "check the node's type with isinstance first."
                },
            )
        except _Problem as problem:
            if str(problem) == NOT_WRITTEN:
                raise
            raise _Problem(f"On {label}: {problem}") from None
        if not isinstance(result, list | tuple) or not all(isinstance(w, str) for w in result):
            raise _Problem(f"Return a list of warning strings; on {label} you returned {result!r:.80}.")
        missed = [c for c in culprits if not any(c in w for w in result)]
        if not culprits and result:
            lines.append(
                f"False alarm on {label}: {list(result)}. {_false_alarm_advice(source, list(result))}"
            )
        elif missed:
            lines.append(f"Missed {label}: no warning mentions {' or '.join(map(repr, missed))} in\n{source}")
    if lines:
        return _say(False, lines)
    return _say(
        True,
        [
            "Quiet on clean code (a name repeated across functions, tf.logical_and included); names "
            "every undefined name, TF1 API and name repeated within a function, whatever they are called."
        ],
    )


# ------------------------------------------------------------ the repaired snippet loss (05)
@_never_raises
def check_repaired_d_loss(fn) -> bool:
    """Check ``fn(real_logits, fake_logits)``: the discriminator loss the snippet meant,
    ``mean(-log D(x) - log(1 - D(G(z))))`` with ``D = sigmoid(logit)``, on moderate logits; and that
    its gradient with respect to the fake logits is ``sigmoid(fake) / N``, not zero."""
    import tensorflow as tf

    from course_utils import gan

    rng = np.random.default_rng(5)
    real = tf.constant(rng.normal(0, 1.5, (8, 1)), tf.float32)
    fake = tf.Variable(rng.normal(0, 1.5, (8, 1)).astype("float32"))
    with tf.GradientTape() as tape:
        result = _call(fn, real, fake)
    value = _one_loss(result, "Your loss")
    try:
        grad = tape.gradient(result, fake)
    except Exception as exc:  # noqa: BLE001 - e.g. a NumPy result the tape cannot follow
        raise _Problem(f"The gradient failed ({type(exc).__name__}): use TensorFlow ops only.") from None
    ref = float(gan.discriminator_loss(real, fake))
    if not np.isfinite(value):
        raise _Problem(
            "Your loss is NaN or inf: the log of a *logit* can be negative. Apply tf.sigmoid first."
        )
    if grad is None and not isinstance(result, tf.Tensor | tf.Variable):
        raise _Problem(
            "Your loss is not a TensorFlow tensor, so it has no gradient: use TensorFlow ops only."
        )
    if grad is None or np.allclose(grad.numpy(), 0.0):
        raise _Problem(
            "Your loss does not depend on fake_logits: that is the snippet's bug. A discriminator "
            "must also be trained to reject generated images: add -log(1 - D(G(z)))."
        )
    if not math.isclose(value, ref, rel_tol=1e-4):
        if math.isclose(value, float(gan.discriminator_loss(fake, real)), rel_tol=1e-4):
            raise _Problem("Real and fake are swapped: real images should get D(x) -> 1.")
        if math.isclose(value, 8 * ref, rel_tol=1e-4):
            raise _Problem("You summed over the batch; average instead (tf.reduce_mean).")
        if math.isclose(value, ref / 2, rel_tol=1e-4):
            raise _Problem("Half the expected value: add the two terms, do not average them.")
        raise _Problem(f"Loss {value:.4f}, expected {ref:.4f} = mean(-log D(x) - log(1 - D(G(z)))).")
    expected_grad = tf.sigmoid(fake).numpy() / len(real)
    if not np.allclose(grad.numpy(), expected_grad, rtol=1e-3, atol=1e-6):
        raise _Problem("The value is right but its gradient is not: use TensorFlow ops only.")
    return _say(
        True,
        [
            "On the check's own logits your loss equals gan.discriminator_loss, and its gradient with "
            "respect to the generated images' logits is sigmoid(fake)/N > 0."
        ],
    )


# ---------------------------------------------------------- the value against the best D (03)
# (p_data, p_g) over a few images, and why each case is there. Weights, not yet probabilities: the
# student normalises. Each pair's two totals are equal, so a forgotten normalisation scales V by that
# total and can be named.
_VALUE_CASES = (
    ("data spread over four images, the generator mostly on one", [1, 1, 1, 1], [2.8, 0.4, 0.4, 0.4]),
    ("two distributions that half overlap", [1, 1, 0], [0, 1, 1]),
    ("a generator equal to the data", [0.2, 0.3, 0.5], [0.2, 0.3, 0.5]),
    ("supports that do not overlap", [1, 1, 0, 0], [0, 0, 1, 1]),
    ("weights given as counts", [6, 2, 0, 0, 4], [3, 3, 3, 3, 0]),
    ("weights with different totals", [1, 3, 0], [2, 2, 4]),
)


def _kl(p: np.ndarray, q: np.ndarray) -> float:
    inside = p > 0
    return float(np.sum(p[inside] * np.log(p[inside] / q[inside])))


def value_via_jsd(p_data, p_g) -> float:
    """``2 JSD(p_data || p_g) - log 4`` (Goodfellow et al., 2014, Theorem 1), from the KL definition of
    the Jensen-Shannon divergence: the oracle for :func:`check_optimal_value`, computed without D*."""
    p, q = (np.asarray(v, dtype=np.float64) for v in (p_data, p_g))
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2
    return _kl(p, m) + _kl(q, m) - math.log(4)


def _value_with(p, q, *, d_star=None, reduce=np.sum, log=np.log) -> float:
    """V(D, G) for a given D (default D*), summed over images where each weight is positive."""
    d = p / (p + q) if d_star is None else d_star
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(reduce(np.where(p > 0, p * log(d), 0.0)) + reduce(np.where(q > 0, q * log(1 - d), 0.0)))


def _value_advice(
    got: float, p: np.ndarray, q: np.ndarray, p_raw: np.ndarray, q_raw: np.ndarray
) -> str | None:
    """The usual mistake that gives ``got`` on the normalised ``p``, ``q`` (``p_raw``, ``q_raw``: the
    weights as given)."""
    want = value_via_jsd(p, q)
    jsd = (want + math.log(4)) / 2

    def near(x):
        return np.isfinite(x) and math.isclose(got, x, rel_tol=1e-6, abs_tol=1e-9)

    with np.errstate(divide="ignore", invalid="ignore"):
        swapped = _value_with(p, q, d_star=q / (p + q))
    mistakes = (
        (-want, "Wrong sign: V is a sum of p log(probability) terms, so it is never positive."),
        (
            jsd,
            "That is the Jensen-Shannon divergence itself; the exercise asks for V(D*, G) = 2 JSD - log 4, "
            "computed from D*.",
        ),
        (want / 2, "Half the expected value: add the real and the generated term, do not average them."),
        (want / math.log(2), "That is V in bits: use the natural logarithm (np.log), as in log 4."),
        (
            _value_with(p_raw, q_raw),
            "You used the weights as they were given: normalise each to sum to 1 first "
            "(p_data / p_data.sum()).",
        ),
        (
            _value_with(p, q, reduce=np.mean),
            "An expectation is a sum weighted by the probabilities, "
            "np.sum(p * ...), not np.mean over the images.",
        ),
        (swapped, "D* is swapped: D*(x) = p_data / (p_data + p_g), the probability that x is real."),
    )
    for value, advice in mistakes:
        if near(value):
            return advice
    return None


def _value_and_d_star(result, label: str, n: int) -> tuple[float, np.ndarray]:
    """``(value, d_star)`` from the student's result, or a ``_Problem`` saying what to return."""
    if not isinstance(result, tuple | list) or len(result) != 2:
        kind = "one number" if np.ndim(np.asarray(result, dtype=object)) == 0 else type(result).__name__
        raise _Problem(
            f"For {label} you return {kind}: return the pair (value, d_star), the value of the game and "
            "D*, one probability per image, from which you computed it."
        )
    value = _scalar(result[0], f"For {label}, your value (the pair's first item)")
    raw = result[1]
    try:
        d_star = np.asarray(raw.numpy() if hasattr(raw, "numpy") else raw, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        raise _Problem(
            f"For {label} your D* (the pair's second item) cannot be read as an array of numbers: give "
            "one probability per image."
        ) from None
    if d_star.shape != (n,):
        raise _Problem(
            f"For {label} your D* has {d_star.size} values; give one per image ({n}), "
            "D*(x) = p_data(x) / (p_data(x) + p_g(x))."
        )
    return value, d_star


@_never_raises
def check_optimal_value(fn) -> bool:
    """Check ``fn(p_data, p_g) -> (value, d_star)``: the optimal discriminator
    ``D* = p_data / (p_data + p_g)``, one probability per image (any value where both weights are 0), and
    the value ``V(D*, G) = E_data log D*(x) + E_g log(1 - D*(x))`` of the GAN game computed from it, for
    two distributions over a few images given as non-negative weights (normalised inside ``fn``).
    Compared with ``2 JSD - log 4`` (:func:`value_via_jsd`), also where the supports do not overlap
    (``V = 0``), where an image has zero weight under one of them (``0 log 0 = 0``) and where the two
    weight vectors have different totals (D* of the raw weights is then wrong)."""
    for label, p_raw, q_raw in _VALUE_CASES:
        p_in, q_in = np.array(p_raw, dtype=np.float64), np.array(q_raw, dtype=np.float64)
        result = _call(fn, p_in.copy(), q_in.copy())
        got, d_got = _value_and_d_star(result, label, len(p_in))
        p, q = p_in / p_in.sum(), q_in / q_in.sum()
        want = value_via_jsd(p, q)
        given = f"(p_data = {p_raw}, p_g = {q_raw})"
        seen = p + q > 0
        d_want = p[seen] / (p + q)[seen]
        if not np.allclose(d_got[seen], d_want, rtol=1e-6, atol=1e-9):
            with np.errstate(divide="ignore", invalid="ignore"):
                raw = p_in[seen] / (p_in + q_in)[seen]
            if np.allclose(d_got[seen], 1 - d_want, rtol=1e-6, atol=1e-9):
                advice = "D* is swapped: D*(x) = p_data / (p_data + p_g), the probability that x is real."
            elif np.allclose(d_got[seen], raw, rtol=1e-6, atol=1e-9):
                advice = (
                    "Your D* uses the weights as they were given: normalise each to sum to 1 first "
                    "(p_data / p_data.sum())."
                )
            else:
                advice = "D*(x) = p_data(x) / (p_data(x) + p_g(x)), on the normalised weights."
            raise _Problem(
                f"For {label} {given} your D* is {np.round(d_got, 4).tolist()}, expected "
                f"{np.round(np.where(seen, p / np.where(seen, p + q, 1), np.nan), 4).tolist()} "
                f"(nan: any value, no image there). {advice}"
            )
        if math.isclose(got, want, rel_tol=1e-6, abs_tol=1e-9):
            continue
        if not np.isfinite(got):
            raise _Problem(
                f"For {label} {given} your value is {got}. Where a weight is 0 its term is 0 "
                "(0 log 0 = 0), although the log in it is -inf: add up only the images where that "
                "weight is positive."
            )
        advice = _value_advice(got, p, q, p_in, q_in)
        raise _Problem(
            f"For {label} {given} your D* is right, but you return the value {got:.4f}, expected "
            f"{want:.4f}. "
            + (advice or "Sum p_data log D* + sum p_g log(1 - D*), with the normalised weights.")
        )
    return _say(
        True,
        [
            "D* and V(D*, G) = 2 JSD - log 4 on every case: -log 4 when the generator equals the data, "
            "and 0 whenever the supports do not overlap, however far apart they are."
        ],
    )


# ------------------------------------------------------------- the snippet's shapes, by hand (05)
#: The input of each of the snippet discriminator's four BatchNorm layers for 28×28×1 images:
#: 4×4 kernels with padding='same', so a stride-s convolution gives ceil(n / s); strides 2, 2, 2, 1.
SNIPPET_BN_INPUTS = ((14, 14, 32), (7, 7, 64), (4, 4, 128), (4, 4, 256))
#: The final dense layer's weights: 4 × 4 × 256 flattened inputs, one output, plus its bias.
SNIPPET_DENSE_PARAMS = 4 * 4 * 256 + 1


def _whole(value, what: str) -> int:
    number = _scalar(value, what)
    if not float(number).is_integer():
        raise _Problem(f"{what} should be a whole number; you gave {number}.")
    return int(number)


def _shape_list(bn_inputs) -> list[tuple[int, ...]]:
    if isinstance(bn_inputs, str | dict) or not hasattr(bn_inputs, "__len__"):
        raise _Problem(
            "bn_inputs should be a list of four (height, width, channels) tuples, one per "
            f"batch_normalization layer; you gave {bn_inputs!r:.80}."
        )
    if len(bn_inputs) != 4:
        raise _Problem(
            f"The snippet's discriminator has four batch_normalization layers, one after each "
            f"convolution; you gave {len(bn_inputs)} shapes."
        )
    shapes = []
    for i, shape in enumerate(bn_inputs, start=1):
        if isinstance(shape, str) or not hasattr(shape, "__len__"):
            raise _Problem(f"Shape {i} should be a tuple (height, width, channels); you gave {shape!r:.40}.")
        if len(shape) == 4:
            raise _Problem(
                f"Shape {i} has four entries: give (height, width, channels), without the batch axis."
            )
        if len(shape) != 3:
            raise _Problem(
                f"Shape {i} should have three entries (height, width, channels); it has {len(shape)}."
            )
        shapes.append(tuple(_whole(v, f"Shape {i}'s entries") for v in shape))
    return shapes


@_never_raises
def check_snippet_shapes(bn_inputs, dense_params) -> bool:
    """Check the shapes worked out by hand for notebook 05's snippet: ``bn_inputs``, the
    ``(height, width, channels)`` entering each of the discriminator's four ``batch_normalization``
    layers for 28×28×1 images (:data:`SNIPPET_BN_INPUTS`), and ``dense_params``, the weights of its final
    ``dense(net, 1)`` (:data:`SNIPPET_DENSE_PARAMS`). The classic slips get their own advice: 'valid'
    padding arithmetic, ``floor`` instead of ``ceil`` for 7 / 2, a stride-1 layer that halves, the
    channels, the batch axis, a forgotten bias."""
    missing = [name for name, v in (("bn_inputs", bn_inputs), ("dense_params", dense_params)) if v is None]
    if missing:
        raise _Problem(
            f"Not written yet: {' and '.join(missing)} still None. Work them out from the snippet's code."
        )
    shapes = _shape_list(bn_inputs)
    want = list(SNIPPET_BN_INPUTS)
    lines = []
    if shapes != want:
        heights = [s[0] for s in shapes]
        channels = [s[2] for s in shapes]
        if any(s[0] != s[1] for s in shapes):
            lines.append("Every map stays square: 28×28 in, the same stride and padding along both axes.")
        elif heights[0] == 13:
            lines.append(
                "Those are 'valid' padding sizes ((n - 4) // s + 1); the snippet passes padding='same', "
                "which gives ceil(n / s): 28 -> 14."
            )
        elif heights[:2] == [14, 7] and heights[2] == 3:
            lines.append("With padding='same' the size is ceil(n / s), so 7 / 2 rounds *up*: 4, not 3.")
        elif heights[:3] == [14, 7, 4] and heights[3] == 2:
            lines.append("conv_4 has strides=1: with padding='same' it keeps the 4×4 size.")
        elif heights != [w[0] for w in want]:
            lines.append(
                "Follow the sizes layer by layer: 28 in, strides 2, 2, 2 and 1, padding='same' "
                "(size ceil(n / s))."
            )
        if channels != [w[2] for w in want]:
            lines.append(
                "The channels are the number of filters of the convolution just before each BatchNorm "
                "(conv_2d's second argument): 32, 64, 128, 256."
            )
        return _say(False, lines or [f"Expected {want}, got {shapes}."])
    params = _whole(dense_params, "dense_params")
    if params != SNIPPET_DENSE_PARAMS:
        if params == SNIPPET_DENSE_PARAMS - 1:
            advice = "add the bias: tf.layers.dense has one by default (use_bias=True)."
        elif params in (4 * 4 + 1, 4 * 4):
            advice = "flatten keeps the channels: the dense layer sees 4 × 4 × 256 numbers per image."
        else:
            advice = (
                "count one weight per flattened input (the last shape's height × width × channels), "
                "plus one bias."
            )
        return _say(False, [f"dense_params = {params}, expected {SNIPPET_DENSE_PARAMS}: {advice}"])
    return _say(
        True,
        [
            "Right: the four BatchNorm layers see 32, 64, 128 and 256 channels, and a BatchNorm layer "
            "keeps one scale and one offset per channel. Sharing one set of variables named 'bn' "
            "(AUTO_REUSE) is a shape error: defect 4.",
        ],
    )
