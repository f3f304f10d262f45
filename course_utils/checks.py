"""Checks for the exercises where you write code: your function against the reference, in words.

Each ``check_*`` runs your function on a tiny case whose answer is known, compares it with the
course's reference implementation, prints what is right or what is wrong with a hint, and returns
``True`` when everything matches. It never shows you a bare traceback: if your function raises,
returns nothing or returns something of the wrong kind, the check says so and what usually causes it.

    from course_utils import checks
    checks.check_class_means(class_means)                 # notebook 00, exercise 1
    checks.check_line_gradient(loss, dw, db)              # notebook 01, exercise 1 (numbers by hand)
    checks.check_layer_sizes(cnn, shape, conv_params, features_params)  # notebook 02, exercise 1
    checks.check_gan_losses(my_d_loss, my_g_loss)         # notebook 03, exercise 1
    checks.check_fgsm_l2(my_fgsm_l2)                      # notebook 04, exercise 2
    checks.check_l2_projection(project_l2_images)         # notebook 05, exercise 1
    checks.check_straight_through(straight_through_round)  # notebook 07, exercise 1 (BPDA)
    checks.check_noise_check(noise_beats_attack)          # notebook 07, exercise 2
    checks.check_gan_code_checker(check_gan_code)         # notebook 08, exercise 1
    checks.check_repaired_d_loss(repaired_d_loss)         # notebook 08, exercise 2
    checks.check_interval_dense(interval_dense)           # notebook 10, exercise 1
    checks.check_fgsm_rs_step(fgsm_rs_step)               # notebook 06, exercise 4
    checks.check_trades_loss(trades_loss)                 # notebook 06, exercise 5
    checks.check_transfer_rate(transfer_rate)             # notebook 11, exercise 1

Where you write numbers rather than a function (01, 02), leave them as ``None`` until you have them:
the check then says what it still needs.

The budgets in the tiny cases (ε = 0.7, not 1) are chosen so that a formula with ε in the wrong
place (ε², 1/ε, or no ε) gives a different answer from the right one.
"""

from __future__ import annotations

import functools
import math

import numpy as np

NOT_WRITTEN = "Not written yet: replace `raise NotImplementedError` with your code, then run the cell again."


class _Problem(Exception):
    """An answer that cannot be checked further; the message is the advice for the student."""


def _say(ok: bool, lines: list[str]) -> bool:
    head = "✔ Correct." if ok else "✘ Not yet."
    print("\n".join([head, *[f"  {line}" for line in lines]]))
    return ok


def _never_raises(check):
    """Turn every failure inside ``check`` into advice printed by ``_say`` (and ``False``)."""

    @functools.wraps(check)
    def wrapper(*args, **kwargs):
        try:
            return check(*args, **kwargs)
        except _Problem as problem:
            return _say(False, [str(problem)])
        except Exception as exc:  # noqa: BLE001 - an answer of an unexpected kind: advice, not a traceback
            return _say(
                False,
                [
                    f"Your answer could not be checked ({type(exc).__name__}: {str(exc)[:160]}). "
                    "Compare its type and shape with what the exercise asks for."
                ],
            )

    return wrapper


_HINTS = {
    "TypeError": "check your function's arguments and the types you combine.",
    "ValueError": "check the shapes: images are (N, 28, 28, 1), labels (N,).",
    "InvalidArgumentError": "a TensorFlow shape or dtype mismatch: cast to float32 before combining.",
    "NameError": "a name is not defined: did you run the cells above, or misspell a variable?",
    "AttributeError": "that object has no such attribute or method (a NumPy array and a TensorFlow tensor "
    "have different methods: np.asarray(t), tf.convert_to_tensor(a)).",
}


def _hint(exc: Exception, hints: dict | None) -> str:
    message = str(exc)
    if "NoneType" in message:
        return (
            "something is None. tape.gradient returns None when the tape did not watch x "
            "(tape.watch(x)) or the loss was computed outside the `with` block; a function without "
            "`return` gives None too."
        )
    if "norm" in message.lower() and ("dimension" in message.lower() or "axis" in message.lower()):
        return (
            "np.linalg.norm and tf.norm take at most two axes. For one norm per image use "
            "sqrt(sum(d**2, axis=(1, 2, 3), keepdims=True))."
        )
    return {**_HINTS, **(hints or {})}.get(
        type(exc).__name__, "read the message and check the formula in the exercise text."
    )


def _call(fn, *args, hints: dict | None = None):
    """Run the student's function. Raises ``_Problem`` with advice when it raises or returns None."""
    try:
        result = fn(*args)
    except NotImplementedError:
        raise _Problem(NOT_WRITTEN) from None
    except Exception as exc:  # noqa: BLE001 - any error becomes advice, not a traceback
        raise _Problem(
            f"Your function raised {type(exc).__name__}: {str(exc)[:200]}\n  Hint: {_hint(exc, hints)}"
        ) from None
    if result is None:
        raise _Problem("Your function returned None: did you forget `return`?")
    return result


def _array(value, what: str = "your result") -> np.ndarray:
    """``value`` as a float64 array, or a ``_Problem`` that says why it is not one."""
    if isinstance(value, tuple | list) and len(value) > 0 and hasattr(value[0], "shape"):
        shapes = {tuple(getattr(v, "shape", ())) for v in value}
        if len(shapes) > 1 or len(value) < 4:
            raise _Problem(
                f"{what.capitalize()} is a {type(value).__name__} of {len(value)} items; return one value."
            )
    if isinstance(value, str | dict | set):
        raise _Problem(f"{what.capitalize()} is a {type(value).__name__}; return an array (or a tensor).")
    try:
        return np.asarray(value.numpy() if hasattr(value, "numpy") else value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise _Problem(f"{what.capitalize()} cannot be read as one array of numbers ({exc}).") from None


def _scalar(value, what: str) -> float:
    """One number from ``value`` (a number, a scalar tensor or array), else a ``_Problem``."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            raise _Problem(f"{what}: give a plain number such as -9.85, not the text {value!r}.") from None
    out = _array(value, what)
    if out.size != 1:
        raise _Problem(f"{what} should be one number; you gave {out.size} values (shape {out.shape}).")
    return float(out.reshape(()))


def _missing(**values) -> list[str]:
    return [name for name, value in values.items() if value is None]


# ----------------------------------------------------------------------- mean image per class (00)
@_never_raises
def check_class_means(fn) -> bool:
    """Check ``fn(x, y)``: the mean image of every class, shape ``(10, 28, 28, 1)``, row ``c`` the
    average of the images with label ``c``."""
    rng = np.random.default_rng(4)
    y = np.concatenate([np.arange(10), rng.integers(0, 10, 30)])
    rng.shuffle(y)
    x = rng.uniform(0, 1, (len(y), 28, 28, 1)).astype("float32")
    expected = np.stack([x[y == c].mean(axis=0) for c in range(10)])
    out = _array(_call(fn, x, y))
    if out.shape != expected.shape:
        hint = {
            (10,): "You averaged over the pixels too: average over the images of a class only (axis=0).",
            (28, 28, 1): "That is one image: compute one mean per class.",
            (10, 28, 28): "Keep the channel axis: each mean image has shape (28, 28, 1).",
            (10, 1, 28, 28, 1): "keepdims=True added an axis: average without it.",
        }.get(out.shape, "Stack one mean image per class, in class order.")
        return _say(False, [f"Your result has shape {out.shape}; expected {expected.shape}.", hint])
    if np.allclose(out, expected, atol=1e-5):
        return _say(True, ["Ten mean images, in class order, to within 1e-5."])
    if np.allclose(out, x.mean(axis=0, keepdims=True), atol=1e-5):
        return _say(
            False, ["Every row is the mean of *all* images: select the images of one class (y == c)."]
        )
    matches = [
        next((k for k in range(10) if np.allclose(out[c], expected[k], atol=1e-5)), None) for c in range(10)
    ]
    if sorted(m for m in matches if m is not None) == list(range(10)):
        return _say(False, ["The ten means are right but in the wrong order: row c must be class c."])
    wrong = [c for c in range(10) if matches[c] != c]
    return _say(
        False,
        [
            f"Rows {wrong} are not the mean of their class's images. Compute from the arguments x and y "
            "(the check passes its own small data set, not x_train)."
        ],
    )


# ------------------------------------------------------------------ a gradient by hand (01)
LINE_XS = (0.0, 1.0, 2.0, 3.0)
LINE_YS = (1.0, 3.0, 5.0, 7.0)


@_never_raises
def check_line_gradient(loss, dw, db, *, w: float = 0.85, b: float = 0.4, xs=LINE_XS, ys=LINE_YS) -> bool:
    """Check hand-computed ``loss``, ``dL/dw`` and ``dL/db`` of the mean squared error
    ``L = mean((w * x + b - y) ** 2)`` of notebook 01's four points at ``w``, ``b``.
    Numbers or scalar tensors; ``None`` for one you have not computed yet."""
    missing = _missing(loss=loss, dw=dw, db=db)
    if missing:
        return _say(False, [f"Not written yet: {', '.join(missing)} still None. Fill in your numbers."])
    xs, ys = np.asarray(xs, np.float64), np.asarray(ys, np.float64)
    n = len(xs)
    residual = w * xs + b - ys
    ref = {"loss": np.mean(residual**2), "dw": 2 * np.mean(residual * xs), "db": 2 * np.mean(residual)}
    yours = {"loss": _scalar(loss, "loss"), "dw": _scalar(dw, "dw"), "db": _scalar(db, "db")}

    def close(a, b):
        return math.isclose(a, b, rel_tol=1e-3, abs_tol=1e-4)

    lines = []
    if close(yours["dw"], ref["db"]) and close(yours["db"], ref["dw"]) and not close(ref["dw"], ref["db"]):
        lines.append("dw and db are swapped: dL/dw multiplies each residual by its x, dL/db does not.")
        yours["dw"], yours["db"] = ref["dw"], ref["db"]
    if yours["loss"] < 0:
        lines.append("loss: a mean of squares cannot be negative.")
        yours["loss"] = ref["loss"]
    for name, value in yours.items():
        r = ref[name]
        if close(value, r):
            continue
        if close(value, -r):
            lines.append(f"{name}: the sign is flipped. The residual is prediction - target, w*x + b - y.")
        elif name == "loss" and close(value, r * n):
            lines.append(f"loss: {value:g} is the sum of the squared residuals; the loss is their mean.")
        elif name != "loss" and close(value, r / 2):
            lines.append(f"{name}: the factor 2 from the square is missing (d/dp (p - y)^2 = 2 (p - y)).")
        elif name != "loss" and close(value, r * n):
            lines.append(f"{name}: you summed over the {n} points; the loss is a mean, so divide by {n}.")
        elif name == "dw" and close(value, ref["db"]):
            lines.append("dw: each residual must be multiplied by its own x (the chain rule through w * x).")
        else:
            lines.append(f"{name}: {value:g} is not right. Write out the residuals w*x + b - y first.")
    if lines:
        return _say(False, lines)
    return _say(True, [f"loss {ref['loss']:g}, dL/dw {ref['dw']:g}, dL/db {ref['db']:g}: all three match."])


# ------------------------------------------------------------- sizes of the CNN's layers (02)
def _count(value, what: str) -> int:
    number = _scalar(value, what)
    if number != int(number):
        raise _Problem(f"{what}: {number:g} is not a whole number; parameter counts are.")
    return int(number)


@_never_raises
def check_layer_sizes(cnn, conv_shape=None, conv_params=None, features_params=None) -> bool:
    """Check hand-computed sizes of ``cnn`` (built by ``models.build_cnn``): the output shape of
    ``conv1_1`` per image, e.g. ``(28, 28, 32)``, its parameter count, and the ``features`` layer's
    parameter count. ``None`` for one you have not computed yet."""
    missing = _missing(conv_shape=conv_shape, conv_params=conv_params, features_params=features_params)
    if missing:
        return _say(False, [f"Not written yet: {', '.join(missing)} still None. Fill in your numbers."])
    try:
        conv, features = cnn.get_layer("conv1_1"), cnn.get_layer("features")
    except (ValueError, AttributeError):
        raise _Problem(
            "Pass the course's CNN (from zoo.cnn or models.build_cnn): it has layers named "
            "'conv1_1' and 'features'."
        ) from None
    shape = tuple(int(d) for d in conv.output.shape[1:])
    filters, channels = shape[-1], int(conv.input.shape[-1])
    kernel = int(np.prod(conv.kernel_size)) * channels * filters
    flat, dense = int(features.input.shape[-1]), int(features.units)
    try:
        given_shape = tuple(int(d) for d in conv_shape if d is not None)
    except (TypeError, ValueError):
        raise _Problem("Give the shape as a tuple of whole numbers, such as (28, 28, 8).") from None
    conv_params, features_params = (
        _count(conv_params, "conv_params"),
        _count(features_params, "features_params"),
    )
    lines = []
    if given_shape != shape:
        if len(given_shape) == 4 and given_shape[1:] == shape:
            lines.append(
                f"conv1_1 shape: give the shape of one image's output, without the batch axis: {shape}."
            )
        elif given_shape == (shape[2], shape[0], shape[1]):
            lines.append("conv1_1 shape: Keras puts the channels last: (height, width, channels).")
        elif given_shape[:2] != shape[:2]:
            lines.append(
                f"conv1_1 shape: {given_shape}; 'same' padding keeps the image size, so it is "
                f"{shape[:2]} with one channel per filter."
            )
        else:
            lines.append(f"conv1_1 shape: {given_shape}; one output channel per filter.")
    if conv_params != conv.count_params():
        if conv_params == kernel + filters and not conv.use_bias:
            lines.append(
                "conv1_1 parameters: this convolution has no bias, because BatchNorm follows it and "
                "its shift does the bias's job: only the 3x3 weights count."
            )
        elif conv_params == kernel:
            lines.append("conv1_1 parameters: add one bias per filter.")
        else:
            lines.append(
                f"conv1_1 parameters: {conv_params}. Each filter has 3 x 3 x {channels} weights"
                + (" and one bias." if conv.use_bias else " (no bias here: BatchNorm follows).")
            )
    if features_params != features.count_params():
        if features_params == flat * dense:
            lines.append(f"features parameters: add one bias per unit (+{dense}).")
        else:
            lines.append(
                f"features parameters: {features_params}. The Dense layer sees the flattened last "
                "feature map (each 2x2 pooling halves the side, rounding down) and has one weight per "
                "input and unit, plus one bias per unit."
            )
    if lines:
        return _say(False, lines)
    return _say(
        True,
        [f"conv1_1 {shape}, {conv.count_params()} parameters; features {features.count_params()}: right."],
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


# ------------------------------------------------------------------------------ FGSM in L2 (04)
def _linear_model():
    """A 10-class linear model on 28×28×1 images with fixed weights: gradients known exactly."""
    import keras

    rng = np.random.default_rng(0)
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10)])
    model.layers[-1].set_weights([rng.normal(0, 0.05, (784, 10)).astype("float32"), np.zeros(10, "float32")])
    return model


@_never_raises
def check_fgsm_l2(fn) -> bool:
    """Check ``fn(model, x, y, eps)``: one FGSM step in the L2 norm, ``clip(x + eps * g / ||g||_2, 0, 1)``
    per image, with ``g`` the gradient of the cross-entropy (from logits, true labels ``y``) with
    respect to ``x``."""
    from course_utils import attacks

    model = _linear_model()
    rng = np.random.default_rng(1)
    x = rng.uniform(0.3, 0.7, (4, 28, 28, 1)).astype("float32")  # away from 0 and 1: no clipping
    y = np.array([0, 3, 5, 9])
    eps = 0.7
    out = _array(_call(fn, model, x, y, eps))
    if out.shape != x.shape:
        raise _Problem(f"Your result has shape {out.shape}; it should have the images' shape {x.shape}.")
    reference = _array(attacks.fgsm(model, x, y, eps=eps, norm=2))
    if np.allclose(out, reference, atol=1e-5):
        edge = rng.uniform(0.0, 1.0, (4, 28, 28, 1)).astype("float32")  # now with pixels near 0 and 1
        try:
            edge_out = _array(_call(fn, model, edge, y, 3.0))
        except _Problem as problem:
            return _say(False, [f"Right on the first case, but with eps = 3: {problem}"])
        if edge_out.min() < -1e-6 or edge_out.max() > 1 + 1e-6:
            raise _Problem("The step is right, but pixels leave [0, 1]: clip the result (tf.clip_by_value).")
        if not np.allclose(edge_out, _array(attacks.fgsm(model, edge, y, eps=3.0, norm=2)), atol=1e-5):
            raise _Problem(
                "Right for images away from 0 and 1, but not near them: take the full step first, then "
                "clip the result to [0, 1] once."
            )
        return _say(
            True, ["Your step matches attacks.fgsm(..., norm=2) to within 1e-5, and stays in [0, 1]."]
        )
    if not np.isfinite(out).all():
        raise _Problem(
            "Your result contains NaN or inf: a division by a zero norm. Is the gradient zero? Compute "
            "the loss from the logits with the true labels, inside the tape."
        )
    delta = (out - x).reshape(len(x), -1)
    lengths = np.linalg.norm(delta, axis=1)
    if np.all(lengths < 1e-7):
        raise _Problem("The images did not move: add eps times the normalised gradient to x.")
    linf = _array(attacks.fgsm(model, x, y, eps=eps))  # what using the sign gives
    if np.allclose(out, linf, atol=1e-5) or np.allclose(
        np.abs(delta), np.abs(delta).max(axis=1, keepdims=True)
    ):
        raise _Problem(
            "Every pixel moved by the same amount: that is the sign of the gradient (L∞ FGSM). "
            "For L2, move along the gradient itself, divided by its L2 length."
        )
    if not np.allclose(lengths, eps, rtol=1e-3):
        if math.isclose(float(np.sqrt((lengths**2).sum())), eps, rel_tol=1e-3):
            advice = (
                "you took one norm over the whole batch. Normalise per image: the norm over axes "
                "(1, 2, 3), keepdims=True."
            )
        elif np.allclose(lengths, 1.0, rtol=1e-3):
            advice = "each image moved by exactly 1: multiply the unit direction by eps."
        else:
            advice = "normalise the gradient of each image to length 1, then multiply by eps."
        raise _Problem(
            f"Each image should move by exactly eps = {eps} in L2 length; yours moved by "
            f"{np.round(lengths, 3).tolist()}: {advice}"
        )
    ref_delta = (reference - x).reshape(len(x), -1)
    cosine = np.sum(delta * ref_delta, axis=1) / (lengths * np.linalg.norm(ref_delta, axis=1))
    if np.all(cosine < -0.99):
        raise _Problem("You moved in the opposite direction: FGSM *adds* the gradient, to increase the loss.")
    raise _Problem(
        "The length is right but the direction is not. Take the gradient of the cross-entropy "
        "of the *logits* (from_logits=True) with respect to the input, with the true labels."
    )


# --------------------------------------------------------------------------- L2 projection (05)
@_never_raises
def check_l2_projection(fn) -> bool:
    """Check ``fn(x_adv, x, eps)``: project each image of ``x_adv`` onto the L2 ball of radius
    ``eps`` around the same image of ``x`` (norm over all pixels of each image)."""
    rng = np.random.default_rng(2)
    x = rng.uniform(0, 1, (5, 28, 28, 1))
    scales = np.array([0.001, 0.01, 1.0, 3.0, 10.0])[:, None, None, None]  # 2 inside, 3 outside eps
    direction = rng.normal(size=x.shape)
    direction /= np.sqrt((direction**2).sum(axis=(1, 2, 3), keepdims=True))
    x_adv = x + scales * direction
    eps = 0.7
    out = _array(_call(fn, x_adv.copy(), x.copy(), eps))
    if out.shape != x.shape:
        raise _Problem(f"Your result has shape {out.shape}; it should be {x.shape}, like x_adv.")
    if not np.isfinite(out).all():
        raise _Problem(
            "Your result contains NaN or inf: guard the division by the length (np.maximum(length, 1e-12))."
        )
    lengths = np.sqrt(((out - x) ** 2).sum(axis=(1, 2, 3)))
    expected = np.minimum(scales.ravel(), eps)
    lines = []
    if not np.allclose(out[:2], x_adv[:2], atol=1e-9):
        lines.append(
            "Points already inside the ball must not move (images 0 and 1 are inside: "
            "scale by min(1, eps / length), never enlarge)."
        )
    if not np.allclose(lengths[2:], eps, rtol=1e-6):
        batch = np.sqrt(((x_adv - x) ** 2).sum())
        if np.allclose(lengths, scales.ravel() * min(1.0, eps / batch), rtol=1e-6):
            lines.append("You took one norm over the whole batch. Take it per image: over axes (1, 2, 3).")
        elif np.allclose(lengths[2:], 1.0, rtol=1e-6):
            lines.append(f"Points outside land at length 1, not at eps = {eps}: use eps in the scale factor.")
        else:
            lines.append(
                f"Points outside must land exactly on the sphere (length {eps}); yours are at "
                f"{np.round(lengths[2:], 4).tolist()}."
            )
    cosine = np.sum((out - x) * (x_adv - x), axis=(1, 2, 3)) / np.maximum(
        lengths * np.sqrt(((x_adv - x) ** 2).sum(axis=(1, 2, 3))), 1e-12
    )
    if not np.allclose(cosine, 1.0, atol=1e-6):
        lines.append("The projection must keep the direction of x_adv - x (shrink it, do not clip pixels).")
    if lines:
        return _say(False, lines)
    summary = f"Inside points unchanged, outside points on the sphere (lengths {expected.tolist()})"
    return _say(True, [summary + ", directions kept."])


# ------------------------------------------------------------- BPDA and a masking check (07)
@_never_raises
def check_straight_through(fn) -> bool:
    """Check ``fn(x, levels)``: round the pixels of the tensor ``x`` to ``levels`` grey levels
    ``0, 1/(levels-1), ..., 1`` in the forward pass, with the identity as its gradient (BPDA)."""
    import tensorflow as tf

    rng = np.random.default_rng(7)
    x = tf.constant(rng.uniform(0, 1, (3, 6, 6, 1)).astype("float32"))
    weights = tf.constant(rng.normal(size=(3, 6, 6, 1)).astype("float32"))
    for levels in (4, 8):
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = _call(fn, x, levels)
            total = tf.reduce_sum(tf.cast(out, tf.float32) * weights) if tf.is_tensor(out) else None
        values = _array(out)
        if values.shape != tuple(x.shape):
            raise _Problem(
                f"Your result has shape {values.shape}; it should keep x's shape {tuple(x.shape)}."
            )
        scale = levels - 1
        expected = np.round(x.numpy() * scale) / scale
        if not np.allclose(values, expected, atol=1e-6):
            if np.allclose(values, x.numpy(), atol=1e-6):
                raise _Problem("The forward pass does not round: the values must be the rounded pixels.")
            if np.allclose(values, np.round(x.numpy() * levels) / levels, atol=1e-6):
                raise _Problem(
                    f"{levels} grey levels are 0, 1/{scale}, ..., 1 (steps of 1/(levels - 1)): round "
                    "x * (levels - 1), then divide by (levels - 1)."
                )
            raise _Problem(
                f"The forward pass should give round(x * {scale}) / {scale}, like defenses.Quantize."
            )
        if total is None:
            raise _Problem(
                "Your function returns a NumPy array: TensorFlow cannot differentiate through NumPy. "
                "Use TensorFlow operations (tf.round, tf.stop_gradient)."
            )
        grad = tape.gradient(total, x)
        if grad is None:
            raise _Problem(
                "No gradient reaches x: tf.round has no gradient in TensorFlow (its true derivative is 0 "
                "almost everywhere), and a tf.stop_gradient around the whole expression blocks it too. Hide "
                "only the rounding from the gradient: x + tf.stop_gradient(rounded - x)."
            )
        grad = grad.numpy()
        if np.allclose(grad, 0.0):
            raise _Problem(
                "The gradient is zero: the backward pass sees tf.round's derivative, which is 0 almost "
                "everywhere. Hide the rounding from the gradient: x + tf.stop_gradient(rounded - x)."
            )
        if not np.allclose(grad, weights.numpy(), atol=1e-5):
            raise _Problem("The gradient should be the identity: d output / d x = 1 for every pixel.")
    return _say(True, ["Forward: the rounding of defenses.Quantize. Backward: the identity. That is BPDA."])


@_never_raises
def check_noise_check(fn) -> bool:
    """Check ``fn(model, x, y, eps, attack_accuracy, tolerance)``: ``True`` exactly when random noise
    on the surface of the L∞ ball (every pixel moved by ±eps, clipped to [0, 1]) leaves fewer
    images correctly classified than ``attack_accuracy``, by more than ``tolerance``."""
    from course_utils import attacks, evaluation

    model = _linear_model()
    x = np.random.default_rng(3).uniform(0, 1, (1000, 28, 28, 1)).astype("float32")
    y = evaluation.predict_logits(model, x).argmax(axis=1)
    eps = 0.3
    noise = evaluation.accuracy(model, attacks.random_perturbation(x, eps=eps, surface=True, seed=0), y)
    inside = evaluation.accuracy(
        model, attacks.random_perturbation(x, eps=eps, seed=0), y
    )  # uniform in the ball
    cases = [  # (attack accuracy, tolerance, expected answer, what the case is)
        (max(noise - 0.2, 0.0), 0.01, False, "an attack far stronger than noise (no warning)"),
        (min(noise + 0.2, 1.0), 0.01, True, "an attack far weaker than noise (a warning)"),
        (min(noise + 0.1, 1.0), 0.3, False, "an attack weaker than noise, but by less than the tolerance"),
        (
            (noise + inside) / 2,
            0.01,
            True,
            "an attack that surface noise beats but noise inside the ball does not",
        ),
    ]
    lines, ok = [], True
    for attack_accuracy, tolerance, expected, what in cases:
        answer = _call(fn, model, x, y, eps, attack_accuracy, tolerance)
        if not isinstance(answer, bool | np.bool_):
            raise _Problem(
                f"Return True or False (the warning is raised or not); yours is a {type(answer).__name__}."
            )
        if bool(answer) != expected:
            ok = False
            lines.append(
                f"For {what} (attack {attack_accuracy:.1%}, noise about {noise:.1%}) expected {expected}."
            )
    if ok:
        return _say(True, [f"Noise at eps={eps} leaves about {noise:.1%}; all four cases answered right."])
    wrong = {what for what in ("far stronger", "far weaker", "less than the tolerance", "surface noise") if
             any(what in line for line in lines)}  # fmt: skip
    if {"far stronger", "far weaker"} <= wrong:
        lines.append("Compare the other way round: warn when noise_accuracy < attack_accuracy - tolerance.")
    elif "less than the tolerance" in wrong:
        lines.append(
            "Ignore differences smaller than the tolerance: noise_accuracy < attack_accuracy - tolerance."
        )
    elif wrong == {"surface noise"}:
        lines.append(
            "Your noise is weaker than it should be: put it on the surface of the ball "
            "(attacks.random_perturbation(..., surface=True): every pixel moved by +eps or -eps)."
        )
    return _say(False, lines)


# --------------------------------------------------------------- a checker for GAN code (08)
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
    """Check ``fn(source) -> list[str]`` of notebook 08: no warning for clean code (layers with
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


# ------------------------------------------------------------ the repaired snippet loss (08)
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


# -------------------------------------------------------------- interval bounds of a layer (10)
@_never_raises
def check_interval_dense(fn) -> bool:
    """Check ``fn(lower, upper, W, b)``: the lower and upper bounds of ``x @ W + b`` over every ``x``
    with ``lower <= x <= upper``, as a pair of arrays ``(N, K)``."""
    from course_utils.certify import ibp

    rng = np.random.default_rng(5)
    x = rng.uniform(0, 1, (3, 4))
    lower, upper = x - 0.7 * rng.uniform(0, 1, x.shape), x + 0.7 * rng.uniform(0, 1, x.shape)
    w = rng.normal(size=(4, 5))  # both signs
    b = rng.normal(size=5)
    result = _call(fn, lower.copy(), upper.copy(), w.copy(), b.copy())
    if not (isinstance(result, tuple | list) and len(result) == 2):
        raise _Problem("Return a pair (lower, upper): two arrays of shape (N, K), here (3, 5).")
    low, high = _array(result[0], "your lower bound"), _array(result[1], "your upper bound")
    if low.shape != (3, 5) or high.shape != (3, 5):
        raise _Problem(
            f"Your bounds have shapes {low.shape} and {high.shape}; each should be (3, 5): (N, K)."
        )
    ref_low, ref_high = (np.asarray(v) for v in ibp.interval_dense(lower, upper, w, b))
    if np.allclose(low, ref_low, atol=1e-6) and np.allclose(high, ref_high, atol=1e-6):
        return _say(True, ["Your bounds are exact: each equals the extreme value over the box's 16 corners."])
    if np.allclose(low, lower @ w + b) and np.allclose(high, upper @ w + b):
        raise _Problem(
            "You mapped the two ends (lower @ W + b, upper @ W + b). A negative weight swaps them: the "
            "smallest output takes the *upper* end of an input with a negative weight. Use the centre "
            "m = (l + u) / 2 and radius r = (u - l) / 2: W m + b ± |W| r."
        )
    if np.allclose(low, np.minimum(lower @ w, upper @ w) + b):
        raise _Problem(
            "Taking the smaller of lower @ W and upper @ W mixes the inputs wrongly: each input must pick "
            "its own end depending on the sign of its weight. Use W m + b ± |W| r."
        )
    if np.any(low > high + 1e-9):
        raise _Problem("Some of your lower bounds exceed your upper bounds: check the signs of ± |W| r.")
    corners = np.array(np.meshgrid(*[[0, 1]] * 4)).reshape(4, -1).T  # the 16 corners of the box
    values = np.stack([np.where(c, upper, lower) @ w + b for c in corners])
    if np.any(values.min(0) < low - 1e-9) or np.any(values.max(0) > high + 1e-9):
        raise _Problem(
            "Your bounds are not sound: some corner of the box gives an output outside them. Did you "
            "forget the bias, or use W instead of |W| for the radius?"
        )
    raise _Problem(
        "Your bounds contain every output but are looser than needed: use exactly W m + b ± |W| r."
    )


# ----------------------------------------------------------------------- transfer rate (11)
@_never_raises
def check_transfer_rate(fn) -> bool:
    """Check ``fn(target, x, x_adv, y)``: the share of the images ``target`` classifies correctly
    when clean that it misclassifies after the attack (a number in [0, 1])."""
    rng = np.random.default_rng(11)
    x = rng.uniform(0, 1, (10, 4, 4, 1)).astype("float32")
    x_adv = x.copy()
    x_adv[:, 0, 0, 0] += 10.0  # a marker the toy target reads: which images "the attack" moved
    moved = np.array([1, 1, 0, 0, 0, 0, 1, 1, 0, 0], bool)
    x_adv[~moved] = x[~moved]
    right_clean = np.array([1, 1, 1, 1, 1, 1, 0, 0, 1, 1], bool)  # images 6 and 7 are wrong already
    y = np.zeros(10, np.int64)

    def target(images):
        images = np.asarray(images)
        flagged = images[:, 0, 0, 0] > 5  # an attacked image: predict class 1 (wrong)
        # clean images: right (class 0) except the two the target gets wrong anyway
        clean_right = np.isin(np.arange(len(images)), np.flatnonzero(right_clean))
        label = np.where(flagged | ~clean_right, 1, 0)
        return np.eye(2, dtype=np.float32)[label] * 5

    expected = 2 / 8  # moved and right when clean: images 0 and 1, out of the 8 right when clean
    value = _scalar(_call(fn, target, x, x_adv, y), "your transfer rate")
    if math.isclose(value, expected, abs_tol=1e-9):
        return _say(
            True, [f"{value:.3f} = 2 / 8: fooled images among those the target got right when clean."]
        )
    if math.isclose(value, 4 / 10, abs_tol=1e-9):
        raise _Problem(
            "You counted every image wrong after the attack, over all images. Images the target "
            "already got wrong when clean (6 and 7 here) were not fooled by the attack: count only "
            "images right when clean, and divide by how many those are."
        )
    if math.isclose(value, 2 / 10, abs_tol=1e-9):
        raise _Problem(
            "The numerator is right, but divide by the images the target got right when clean "
            "(8), not all 10."
        )
    if math.isclose(value, 4 / 8, abs_tol=1e-9):
        raise _Problem(
            "The denominator is right, but the numerator counts images wrong after the attack that were "
            "wrong already: keep only those right when clean and wrong after."
        )
    if math.isclose(value, 1 - expected, abs_tol=1e-9):
        raise _Problem("That is the share that survived; the transfer rate is the share fooled.")
    raise _Problem(
        f"Expected {expected:.3f} on this case, got {value:.3f}. Rate = (right when clean AND wrong after "
        "the attack) / (right when clean), with predictions from target(x) and target(x_adv)."
    )


# ------------------------------------------------------- adversarial training steps (06)
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
