"""Checks for the GAN exercises: the losses (03), a checker for GAN code and the repaired TF1 loss
(05), and a GAN's train step (04)."""

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


@_never_raises
def check_gan_code_checker(fn) -> bool:
    """Check ``fn(source) -> list[str]`` of notebook 05: no warning for clean code (layers with
    different names included), and one that names the culprit for an undefined name, a missing
    TF1 API (``tf.log``) and a layer name given twice in one function."""
    lines = []
    for label, source, culprit in (
        ("clean code", _CLEAN, None),
        ("clean code with two differently named layers", _DISTINCT, None),
        ("an undefined name", _UNDEFINED, "offset"),
        ("a TF1-only API", _TF1, "tf.log"),
        ("a layer name used twice", _TWICE, "dense_a"),
    ):
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
        if culprit is None and result:
            lines.append(f"False alarm on {label}: {list(result)}. Only report what is wrong.")
        elif culprit is not None and not any(culprit in w for w in result):
            lines.append(f"Missed {label}: no warning mentions {culprit!r} in\n{source}")
    if lines:
        return _say(False, lines)
    return _say(True, ["Quiet on clean code; names the undefined name, the TF1 API and the repeated name."])


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
        True, [f"Loss {value:.4f} matches gan.discriminator_loss; d loss/d fake = sigmoid(fake)/N > 0."]
    )


# --------------------------------------------------------------------- a GAN's train step (GAN dynamics)
def _reference_gan_step(
    gen, disc, lr, real, z, *, g_loss="non-saturating", stale=False, swap=False, g_first=False
):
    """One SGD step of the ring GAN, with one of the usual mistakes switched on (for the advice)."""
    import tensorflow as tf

    from course_utils import gan

    def d_step():
        with tf.GradientTape() as tape:
            r, f = disc(real, training=True), disc(gen(z, training=True), training=True)
            loss = gan.discriminator_loss(f, r) if swap else gan.discriminator_loss(r, f)
        for var, grad in zip(
            disc.trainable_weights, tape.gradient(loss, disc.trainable_weights), strict=True
        ):
            var.assign_sub(lr * grad)

    def g_step(judge):
        with tf.GradientTape() as tape:
            logits = judge(gen(z, training=True), training=True)
            if g_loss == "saturating":
                loss = tf.reduce_mean(-tf.math.softplus(logits))  # log(1 - D(G(z)))
            else:
                loss = gan.generator_loss(logits)
        for var, grad in zip(gen.trainable_weights, tape.gradient(loss, gen.trainable_weights), strict=True):
            var.assign_sub(lr * grad)

    if g_first:
        g_step(disc)
        d_step()
        return
    old = None
    if stale:  # the generator judged by the discriminator as it was before its step
        import keras

        old = keras.models.clone_model(disc)
        old.set_weights(disc.get_weights())
    d_step()
    g_step(old if stale else disc)


@_never_raises
def check_gan_step(fn) -> bool:
    """Check ``fn(generator, discriminator, g_optimizer, d_optimizer, real, z)``: one discriminator step
    on the non-saturating GAN loss (``real`` against ``generator(z)``), then one generator step with the
    updated discriminator and the same ``z``; returns ``(d_loss, g_loss)``. Compared, weight by weight,
    with the reference after one SGD step on a tiny ring GAN."""
    import keras
    import tensorflow as tf

    from course_utils import gan, toy_gan

    lr = 0.1
    rng = np.random.default_rng(11)
    real = tf.constant(rng.normal(size=(16, 2)), tf.float32)
    z = tf.constant(rng.normal(size=(16, 3)), tf.float32)

    def pair():
        return (
            toy_gan.mlp_generator(3, hidden=8, depth=1, seed=21),
            toy_gan.mlp_critic(hidden=8, depth=1, seed=22),
        )

    gen0, disc0 = pair()
    d_ref0 = float(gan.discriminator_loss(disc0(real), disc0(gen0(z))))

    def weights(model):
        return [w.numpy() for w in model.trainable_weights]

    def weights_after(**mistake):
        gen, disc = pair()
        _reference_gan_step(gen, disc, lr, real, z, **mistake)
        return weights(gen), weights(disc)

    def same(a, b):
        return all(np.allclose(x, y, atol=1e-5) for x, y in zip(a, b, strict=True))

    gen, disc = pair()
    g_start, d_start = weights(gen), weights(disc)
    result = _call(fn, gen, disc, keras.optimizers.SGD(lr), keras.optimizers.SGD(lr), real, z)
    g_got, d_got = weights(gen), weights(disc)
    g_want, d_want = weights_after()
    lines = []
    if same(d_got, d_start):
        lines.append(
            "The discriminator did not change: apply d_optimizer to the gradients of the discriminator "
            "loss with respect to discriminator.trainable_weights."
        )
    if same(g_got, g_start):
        lines.append(
            "The generator did not change: after the discriminator's step, apply g_optimizer to the "
            "gradients of -log D(G(z)) with respect to generator.trainable_weights."
        )
    if lines:
        return _say(False, lines)
    if not same(d_got, d_want):
        if same(d_got, weights_after(swap=True)[1]):
            lines.append("Discriminator step: real and generated points are swapped in its loss.")
        elif same(d_got, weights_after(g_first=True)[1]):
            lines.append(
                "You stepped the generator first. Algorithm 1 updates the discriminator first, then the "
                "generator against the updated discriminator."
            )
        else:
            lines.append(
                "The discriminator's weights differ from one step on "
                "gan.discriminator_loss(D(real), D(G(z))); compute both logits inside its tape."
            )
        return _say(False, lines)
    if not same(g_got, g_want):
        if same(g_got, weights_after(g_loss="saturating")[0]):
            lines.append(
                "Generator step: that is the saturating loss log(1 - D(G(z))). Use the non-saturating "
                "-log D(G(z)) (gan.generator_loss), whose gradient does not vanish when D wins."
            )
        elif same(g_got, weights_after(stale=True)[0]):
            lines.append(
                "Generator step: it used the discriminator's logits from before the discriminator's "
                "step. Recompute D(G(z)) inside the generator's own tape, after the discriminator moved."
            )
        else:
            lines.append(
                "The generator's weights differ from one step on gan.generator_loss(D(G(z))) with the "
                "updated discriminator and the same z."
            )
        return _say(False, lines)
    if not isinstance(result, tuple | list) or len(result) != 2:
        return _say(False, ["The steps are right; now return the two losses as a pair: (d_loss, g_loss)."])
    d_value = _scalar(result[0], "d_loss")
    if not math.isclose(d_value, d_ref0, rel_tol=1e-4):
        return _say(
            False,
            [
                f"The steps are right, but the d_loss you return is {d_value:.4f}, expected {d_ref0:.4f} "
                "(the discriminator's loss before its step)."
            ],
        )
    return _say(
        True,
        [
            "One discriminator step, then one generator step against the updated discriminator, "
            "each optimizer on its own network only: the same weights as the reference."
        ],
    )
