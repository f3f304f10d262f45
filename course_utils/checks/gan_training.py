"""Checks for the exercises of notebook 04 (GAN training dynamics): a GAN's train step, and WGAN-GP's
gradient penalty."""

from __future__ import annotations

import math

import numpy as np

from course_utils.checks._core import _call, _never_raises, _Problem, _say, _scalar

# --------------------------------------------------------------------------- a GAN's train step (04)
#: The two SGD rates of the check: different, so that swapped optimizers change the weights.
_D_RATE, _G_RATE = 0.1, 0.03


def _reference_gan_step(
    gen,
    disc,
    real,
    z,
    *,
    g_loss="non-saturating",
    stale=False,
    swap=False,
    g_first=False,
    swap_optimizers=False,
    g_moves_d=False,
):
    """One SGD step of the ring GAN, with one of the usual mistakes switched on (for the advice).

    Returns ``(d_loss, g_loss)``, each before its own step (the values a right step returns)."""
    import tensorflow as tf

    from course_utils import gan

    d_rate, g_rate = (_G_RATE, _D_RATE) if swap_optimizers else (_D_RATE, _G_RATE)

    def d_step():
        with tf.GradientTape() as tape:
            r, f = disc(real, training=True), disc(gen(z, training=True), training=True)
            loss = gan.discriminator_loss(f, r) if swap else gan.discriminator_loss(r, f)
        for var, grad in zip(
            disc.trainable_weights, tape.gradient(loss, disc.trainable_weights), strict=True
        ):
            var.assign_sub(d_rate * grad)
        return float(loss)

    def g_step(judge):
        variables = gen.trainable_weights + (disc.trainable_weights if g_moves_d else [])
        with tf.GradientTape() as tape:
            logits = judge(gen(z, training=True), training=True)
            if g_loss == "saturating":
                loss = tf.reduce_mean(-tf.math.softplus(logits))  # log(1 - D(G(z)))
            else:
                loss = gan.generator_loss(logits)
        for var, grad in zip(variables, tape.gradient(loss, variables), strict=True):
            var.assign_sub(g_rate * grad)
        return float(loss)

    if g_first:
        g_value = g_step(disc)
        return d_step(), g_value
    old = None
    if stale:  # the generator judged by the discriminator as it was before its step
        import keras

        old = keras.models.clone_model(disc)
        old.set_weights(disc.get_weights())
    d_value = d_step()
    return d_value, g_step(old if stale else disc)


_ONE_OPTIMIZER_PER_NETWORK = (
    "One optimizer was given both networks' weights. A Keras optimizer keeps its state (here its "
    "variables; Adam's moments too) for the weights it was first applied to: apply d_optimizer to the "
    "discriminator's gradients and g_optimizer to the generator's."
)


@_never_raises
def check_gan_step(fn) -> bool:
    """Check ``fn(generator, discriminator, g_optimizer, d_optimizer, real, z)``: one discriminator step
    on the non-saturating GAN loss (``real`` against ``generator(z)``), then one generator step with the
    updated discriminator and the same ``z``, each optimizer on its own network's weights only; returns
    ``(d_loss, g_loss)``, each loss before its own step. Compared, weight by weight and loss by loss,
    with the reference after one step on a tiny ring GAN, with SGD at two different rates (so swapped
    optimizers show)."""
    import keras
    import tensorflow as tf

    from course_utils import toy_gan

    rng = np.random.default_rng(11)
    real = tf.constant(rng.normal(size=(16, 2)), tf.float32)
    z = tf.constant(rng.normal(size=(16, 3)), tf.float32)

    def pair():
        return (
            toy_gan.mlp_generator(3, hidden=8, depth=1, seed=21),
            toy_gan.mlp_critic(hidden=8, depth=1, seed=22),
        )

    def weights(model):
        return [w.numpy() for w in model.trainable_weights]

    def weights_after(**mistake):
        gen, disc = pair()
        losses = _reference_gan_step(gen, disc, real, z, **mistake)
        return weights(gen), weights(disc), losses

    def same(a, b):
        return all(np.allclose(x, y, atol=1e-5) for x, y in zip(a, b, strict=True))

    gen, disc = pair()
    g_start, d_start = weights(gen), weights(disc)
    g_opt, d_opt = keras.optimizers.SGD(_G_RATE), keras.optimizers.SGD(_D_RATE)
    try:
        result = _call(fn, gen, disc, g_opt, d_opt, real, z)
    except _Problem as problem:
        if "originally built with" in str(problem) or "Unknown variable" in str(problem):
            raise _Problem(_ONE_OPTIMIZER_PER_NETWORK) from None
        raise
    g_got, d_got = weights(gen), weights(disc)
    g_want, d_want, (d_loss_want, g_loss_want) = weights_after()
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
    if not (same(d_got, d_want) and same(g_got, g_want)):
        diagnoses = (
            (
                dict(swap_optimizers=True),
                "The optimizers are swapped: d_optimizer steps the discriminator, g_optimizer the "
                "generator (the check gives them different learning rates).",
            ),
            (
                dict(g_moves_d=True),
                "The discriminator step is right, but your generator step also moved the discriminator: "
                "take the generator loss's gradients with respect to generator.trainable_weights only "
                "(the discriminator must not learn to help the generator).",
            ),
            (dict(swap=True), "Discriminator step: real and generated points are swapped in its loss."),
            (
                dict(g_first=True),
                "You stepped the generator first. Algorithm 1 updates the discriminator first, then the "
                "generator against the updated discriminator.",
            ),
            (
                dict(g_loss="saturating"),
                "Generator step: that is the saturating loss log(1 - D(G(z))). Use the non-saturating "
                "-log D(G(z)) (gan.generator_loss), whose gradient does not vanish when D wins.",
            ),
            (
                dict(stale=True),
                "Generator step: it used the discriminator's logits from before the discriminator's "
                "step. Recompute D(G(z)) inside the generator's own tape, after the discriminator moved.",
            ),
        )
        for mistake, advice in diagnoses:
            g_alt, d_alt, _ = weights_after(**mistake)
            if same(g_got, g_alt) and same(d_got, d_alt):
                return _say(False, [advice])
        if not same(d_got, d_want):
            lines.append(
                "The discriminator's weights differ from one step of d_optimizer on "
                "gan.discriminator_loss(D(real), D(G(z))), only on discriminator.trainable_weights; "
                "compute both logits inside its tape."
            )
        else:
            lines.append(
                "The discriminator step is right; the generator's weights differ from one step of "
                "g_optimizer on gan.generator_loss(D(G(z))) with the updated discriminator and the same z."
            )
        return _say(False, lines)
    if not isinstance(result, tuple | list) or len(result) != 2:
        return _say(False, ["The steps are right; now return the two losses as a pair: (d_loss, g_loss)."])
    d_value = _scalar(result[0], "d_loss")
    g_value = _scalar(result[1], "g_loss")
    if math.isclose(d_value, g_loss_want, rel_tol=1e-4) and math.isclose(g_value, d_loss_want, rel_tol=1e-4):
        return _say(False, ["The steps are right; return the losses in the order (d_loss, g_loss)."])
    if not math.isclose(d_value, d_loss_want, rel_tol=1e-4):
        return _say(
            False,
            [
                f"The steps are right, but the d_loss you return is {d_value:.4f}, expected "
                f"{d_loss_want:.4f} (the discriminator's loss before its step)."
            ],
        )
    if not math.isclose(g_value, g_loss_want, rel_tol=1e-4):
        return _say(
            False,
            [
                f"The steps are right, but the g_loss you return is {g_value:.4f}, expected "
                f"{g_loss_want:.4f}: -log D(G(z)) with the updated discriminator, before the generator's "
                "step (the value inside the generator's tape)."
            ],
        )
    return _say(
        True,
        [
            "One discriminator step, then one generator step against the updated discriminator, "
            "each optimizer on its own network only: the same weights as the reference, and the same "
            "two losses."
        ],
    )


# ------------------------------------------------------------------ WGAN-GP's gradient penalty (04)
class _HalfSquaredNorm:
    """The critic ``f(x) = ||x||^2 / 2`` per sample, shape ``(N, 1)``: its gradient at ``x`` is ``x``
    itself, so the penalty has a closed form."""

    def __call__(self, x, training=False):
        import tensorflow as tf

        flat = tf.reshape(x, (tf.shape(x)[0], -1))
        return 0.5 * tf.reduce_sum(tf.square(flat), axis=1, keepdims=True)


def _penalty_cases():
    rng = np.random.default_rng(13)
    points = [rng.normal(0, 0.8, (5, 2)).astype("float32") for _ in range(2)]
    images = [rng.uniform(-0.4, 0.4, (3, 4, 4, 1)).astype("float32") for _ in range(2)]
    return (
        ("five 2-D points", *points, rng.uniform(size=(5, 1)).astype("float32")),
        ("three 4x4 images", *images, rng.uniform(size=(3, 1, 1, 1)).astype("float32")),
    )


def _penalty(grads: np.ndarray, *, centre: float = 1.0, power: float = 1.0) -> float:
    norms = np.sqrt((grads.reshape(len(grads), -1) ** 2).sum(axis=1))
    return float(np.mean((norms**power - centre) ** 2))


def _penalty_advice(got: float, real: np.ndarray, fake: np.ndarray, alpha: np.ndarray) -> str:
    x_hat = alpha * real + (1 - alpha) * fake  # the critic's gradient at x is x
    n = len(x_hat)
    flat = x_hat.reshape(n, -1)
    norms = np.sqrt((flat**2).sum(axis=1))
    mistakes = [
        (
            (np.sqrt((flat**2).sum()) - 1) ** 2,
            "You took one norm over the whole batch: take one norm per "
            "sample (sum the squares over every axis but the first), then average the penalties.",
        ),
        (
            _penalty(x_hat, power=2),
            "You penalised the squared norm: take the square root first, "
            "(||g||_2 - 1)**2, so that the penalty asks for slope 1.",
        ),
        (
            float(np.mean(norms**2)),
            "Your penalty is centred at 0 (||g||^2, like R1): Gulrajani et al. "
            "ask for slope 1, (||g||_2 - 1)**2.",
        ),
        (float(np.mean(np.abs(norms - 1))), "Square the gap: (||g||_2 - 1)**2, not its absolute value."),
        (n * _penalty(x_hat), "You summed over the batch; average the per-sample penalties."),
        (
            _penalty(x_hat / n),
            "Your gradient is divided by the batch size: take the gradient of the scores "
            "(or of their sum), not of their mean.",
        ),
        (
            _penalty(real),
            "You took the gradient at the real samples: take it at x_hat = alpha * real + "
            "(1 - alpha) * fake, between the two distributions.",
        ),
        (
            _penalty(fake),
            "You took the gradient at the generated samples: take it at x_hat = alpha * real "
            "+ (1 - alpha) * fake, between the two distributions.",
        ),
    ]
    if real.ndim > 2:
        per_row = np.sqrt((x_hat**2).sum(axis=1))
        mistakes.append(
            (
                float(np.mean((per_row - 1) ** 2)),
                "The norm must run over the whole sample: for images, "
                "reshape the gradient to (N, -1) (or sum over axes 1, 2, 3) before the square root.",
            )
        )
    for value, advice in mistakes:
        if math.isclose(got, value, rel_tol=1e-4, abs_tol=1e-7):
            return advice
    return "Compute g = the gradient of critic(x_hat) with respect to x_hat, then mean((||g||_2 - 1)**2)."


@_never_raises
def check_gradient_penalty(fn) -> bool:
    """Check ``fn(critic, real, fake, alpha)``: WGAN-GP's penalty (Gulrajani et al., 2017)
    ``mean((||grad f(x_hat)||_2 - 1)**2)`` at ``x_hat = alpha * real + (1 - alpha) * fake``, one norm per
    sample. Judged on a critic ``f(x) = ||x||^2 / 2``, whose gradient at ``x`` is ``x`` (2-D points and
    small images), and on a linear critic, whose penalty ``(||w|| - 1)**2`` must have the gradient
    ``2 (||w|| - 1) w / ||w||`` with respect to ``w``: the critic is trained through the penalty."""
    import keras
    import tensorflow as tf

    critic = _HalfSquaredNorm()
    hints = {"AttributeError": "inside the function, stay with TensorFlow ops on tensors (no .numpy())."}
    for label, real, fake, alpha in _penalty_cases():
        result = _call(fn, critic, tf.constant(real), tf.constant(fake), tf.constant(alpha), hints=hints)
        got = _scalar(result, f"On {label}, your penalty")
        x_hat = alpha * real + (1 - alpha) * fake
        if math.isclose(got, _penalty(x_hat), rel_tol=1e-4, abs_tol=1e-7):
            continue
        if math.isclose(got, _penalty((1 - alpha) * real + alpha * fake), rel_tol=1e-4, abs_tol=1e-7):
            continue  # alpha on the other side: the same penalty in distribution, alpha being uniform
        raise _Problem(
            f"On {label} your penalty is {got:.5f}, expected {_penalty(x_hat):.5f}. "
            + _penalty_advice(got, real, fake, alpha)
        )
    w = np.array([[1.2], [-0.9]], dtype="float32")  # ||w|| = 1.5
    linear = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, use_bias=False)])
    linear.layers[0].set_weights([w])
    real, fake, alpha = _penalty_cases()[0][1:]
    with tf.GradientTape() as outer:
        result = _call(fn, linear, tf.constant(real), tf.constant(fake), tf.constant(alpha), hints=hints)
    value = _scalar(result, "On a linear critic, your penalty")
    norm = float(np.linalg.norm(w))
    if not math.isclose(value, (norm - 1) ** 2, rel_tol=1e-4):
        raise _Problem(
            f"On a linear critic f(x) = w.x (||w|| = {norm}) every gradient is w, so the penalty is "
            f"({norm} - 1)^2 = {(norm - 1) ** 2:.4f}; yours is {value:.4f}."
        )
    try:
        grad = outer.gradient(result, linear.trainable_weights[0])
    except Exception:  # noqa: BLE001 - e.g. a NumPy value the outer tape cannot follow
        grad = None
    want = 2 * (norm - 1) * w / norm
    if grad is None or not np.allclose(np.asarray(grad), want, rtol=1e-3, atol=1e-6):
        raise _Problem(
            "The value is right, but the penalty does not pass a gradient back to the critic's weights: "
            "compute it with TensorFlow ops only (no .numpy(), no tf.stop_gradient), so that training the "
            "critic on it changes the critic's slope."
        )
    return _say(
        True,
        [
            "One norm per sample, at the interpolated points, centred at 1, averaged; and differentiable "
            "with respect to the critic's weights, as the critic's training needs."
        ],
    )
