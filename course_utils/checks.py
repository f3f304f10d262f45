"""Checks for the exercises where you write code: your function against the reference, in words.

Each ``check_*`` runs your function on a tiny case whose answer is known, compares it with the
course's reference implementation, prints what is right or what is wrong with a hint, and returns
``True`` when everything matches. It never shows you a bare traceback: if your function raises,
the check says which error, and what usually causes it.

    from course_utils import checks
    checks.check_class_means(class_means)                 # notebook 00, exercise 1
    checks.check_line_gradient(loss, dw, db)              # notebook 01, exercise 1 (numbers by hand)
    checks.check_layer_sizes(cnn, shape, conv_params, features_params)  # notebook 02, exercise 1
    checks.check_gan_losses(my_d_loss, my_g_loss)         # notebook 03, exercise 1
    checks.check_fgsm_l2(my_fgsm_l2)                      # notebook 04, exercise 2
    checks.check_l2_projection(project_l2_images)         # notebook 05, exercise 1
    checks.check_gan_code_checker(check_gan_code)         # notebook 08, exercise 1
    checks.check_repaired_d_loss(repaired_d_loss)         # notebook 08, exercise 2

Where you write numbers rather than a function (01, 02), leave them as ``None`` until you have them:
the check then says what it still needs.
"""

from __future__ import annotations

import math

import numpy as np


def _say(ok: bool, lines: list[str]) -> bool:
    head = "✔ Correct." if ok else "✘ Not yet."
    print("\n".join([head, *[f"  {line}" for line in lines]]))
    return ok


def _call(fn, *args, **kwargs):
    """Run the student's function; returns (result, message) with message set when it raised."""
    try:
        return fn(*args, **kwargs), None
    except NotImplementedError:
        return (
            None,
            "Not written yet: replace `raise NotImplementedError` with your code, then run the cell again.",
        )
    except Exception as exc:  # noqa: BLE001 - any error becomes advice, not a traceback
        hint = {
            "TypeError": "check your function's arguments and the types you combine (NumPy vs tensors).",
            "ValueError": "check the shapes: images are (N, 28, 28, 1), labels (N,).",
            "InvalidArgumentError": "a TensorFlow shape or dtype mismatch: cast images to float32.",
            "NameError": "a name is not defined: did you run the cells above, or misspell a variable?",
            "AttributeError": "a NumPy array and a TensorFlow tensor have different methods "
            "(use np.asarray(t) or tf.convert_to_tensor(a)).",
        }.get(type(exc).__name__, "read the message and check the formula in the exercise text.")
        return None, f"Your function raised {type(exc).__name__}: {str(exc)[:200]}\n  Hint: {hint}"


def _as_array(value):
    return np.asarray(value.numpy() if hasattr(value, "numpy") else value, dtype=np.float64)


# ------------------------------------------------------------------------------ FGSM in L2 (04)
def _linear_model():
    """A 10-class linear model on 28×28×1 images with fixed weights: gradients known exactly."""
    import keras

    rng = np.random.default_rng(0)
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10)])
    model.layers[-1].set_weights([rng.normal(0, 0.05, (784, 10)).astype("float32"), np.zeros(10, "float32")])
    return model


def check_fgsm_l2(fn) -> bool:
    """Check ``fn(model, x, y, eps)``: one FGSM step in the L2 norm, ``clip(x + eps * g / ||g||_2, 0, 1)``
    per image, with ``g`` the gradient of the cross-entropy (from logits) with respect to ``x``."""
    from course_utils import attacks

    model = _linear_model()
    rng = np.random.default_rng(1)
    x = rng.uniform(0.3, 0.7, (4, 28, 28, 1)).astype("float32")  # away from 0 and 1: no clipping at eps=1
    y = np.array([0, 3, 5, 9])
    eps = 1.0
    result, error = _call(fn, model, x, y, eps)
    if error:
        return _say(False, [error])
    out = _as_array(result)
    if out.shape != x.shape:
        return _say(
            False, [f"Your result has shape {out.shape}; it should have the images' shape {x.shape}."]
        )
    reference = _as_array(attacks.fgsm(model, x, y, eps=eps, norm=2))
    if np.allclose(out, reference, atol=1e-5):
        edge = rng.uniform(0.0, 1.0, (4, 28, 28, 1)).astype("float32")  # now with pixels near 0 and 1
        edge_out, error = _call(fn, model, edge, y, 3.0)
        if error:
            return _say(False, ["Right on the first case, but: " + error])
        edge_out = _as_array(edge_out)
        if edge_out.min() < -1e-6 or edge_out.max() > 1 + 1e-6:
            return _say(
                False, ["The step is right, but pixels leave [0, 1]: clip the result (tf.clip_by_value)."]
            )
        return _say(
            True, ["Your step matches attacks.fgsm(..., norm=2) to within 1e-5, and stays in [0, 1]."]
        )
    delta = (out - x).reshape(len(x), -1)
    lengths = np.linalg.norm(delta, axis=1)
    lines = []
    linf = _as_array(attacks.fgsm(model, x, y, eps=eps))  # what using the sign gives
    if np.allclose(out, linf, atol=1e-5) or np.allclose(
        np.abs(delta), np.abs(delta).max(axis=1, keepdims=True)
    ):
        lines.append(
            "Every pixel moved by the same amount: that is the sign of the gradient (L∞ FGSM). "
            "For L2, move along the gradient itself, divided by its L2 length."
        )
    elif not np.allclose(lengths, eps, rtol=1e-3):
        lines.append(
            f"Each image should move by exactly eps = {eps} in L2 length; yours moved by "
            f"{np.round(lengths, 3).tolist()}. Normalise per image: divide by the norm over axes "
            "(1, 2, 3), keepdims=True, not over the whole batch."
        )
    else:
        ref_delta = (reference - x).reshape(len(x), -1)
        cosine = np.sum(delta * ref_delta, axis=1) / (lengths * np.linalg.norm(ref_delta, axis=1))
        if np.all(cosine < -0.99):
            lines.append(
                "You moved in the opposite direction: FGSM *adds* the gradient, to increase the loss."
            )
        else:
            lines.append(
                "The length is right but the direction is not. Take the gradient of the cross-entropy "
                "of the *logits* (from_logits=True) with respect to the input, with the true labels."
            )
    return _say(False, lines)


# --------------------------------------------------------------------------- L2 projection (05)
def check_l2_projection(fn) -> bool:
    """Check ``fn(x_adv, x, eps)``: project each image of ``x_adv`` onto the L2 ball of radius
    ``eps`` around the same image of ``x`` (norm over all pixels of each image)."""
    rng = np.random.default_rng(2)
    x = rng.uniform(0, 1, (5, 28, 28, 1))
    scales = np.array([0.001, 0.01, 1.0, 3.0, 10.0])[:, None, None, None]  # 2 inside, 3 outside eps=1
    direction = rng.normal(size=x.shape)
    direction /= np.sqrt((direction**2).sum(axis=(1, 2, 3), keepdims=True))
    x_adv = x + scales * direction
    eps = 1.0
    result, error = _call(fn, x_adv.copy(), x.copy(), eps)
    if error:
        return _say(False, [error])
    out = _as_array(result)
    if out.shape != x.shape:
        return _say(False, [f"Your result has shape {out.shape}; it should be {x.shape}, like x_adv."])
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
            lines.append(
                "You took one norm over the whole batch. Take it per image: "
                "np.sum(delta**2, axis=(1, 2, 3), keepdims=True)."
            )
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


# ------------------------------------------------------------------------------ GAN losses (03)
def check_gan_losses(d_loss_fn, g_loss_fn) -> bool:
    """Check ``d_loss_fn(real_logits, fake_logits)`` = mean(-log D(x)) + mean(-log(1 - D(G(z)))) and
    ``g_loss_fn(fake_logits)`` = mean(-log D(G(z))), with ``D = sigmoid(logit)``, computed safely."""
    import tensorflow as tf

    from course_utils import gan

    rng = np.random.default_rng(3)
    real = tf.constant(rng.normal(0, 2, (16, 1)), tf.float32)
    fake = tf.constant(rng.normal(0, 2, (16, 1)), tf.float32)
    lines = []
    d, error = _call(d_loss_fn, real, fake)
    g, error_g = _call(g_loss_fn, fake)
    for name, err in (("discriminator loss", error), ("generator loss", error_g)):
        if err:
            lines.append(f"{name}: {err}")
    if lines:
        return _say(False, lines)
    d, g = float(_as_array(d).sum()), float(_as_array(g).sum())
    d_ref, g_ref = float(gan.discriminator_loss(real, fake)), float(gan.generator_loss(fake))
    if not math.isclose(d, d_ref, rel_tol=1e-4):
        swapped = float(gan.discriminator_loss(fake, real))
        if math.isclose(d, swapped, rel_tol=1e-4):
            lines.append("Discriminator loss: real and fake are swapped; real images should get D(x) -> 1.")
        elif math.isclose(d, d_ref * 16, rel_tol=1e-4):
            lines.append("Discriminator loss: you summed over the batch; average instead (tf.reduce_mean).")
        else:
            lines.append(
                f"Discriminator loss: {d:.4f}, expected {d_ref:.4f}. It is softplus(-real_logits) + "
                "softplus(fake_logits), each averaged over its batch."
            )
    if not math.isclose(g, g_ref, rel_tol=1e-4):
        saturating = float(tf.reduce_mean(-tf.math.softplus(fake)))
        if math.isclose(g, saturating, rel_tol=1e-4):
            lines.append(
                "Generator loss: that is the saturating log(1 - D(G(z))); use the non-saturating "
                "-log D(G(z)) = softplus(-fake_logits)."
            )
        elif math.isclose(g, -g_ref, rel_tol=1e-4):
            lines.append("Generator loss: wrong sign; the generator *minimises* -log D(G(z)).")
        else:
            lines.append(f"Generator loss: {g:.4f}, expected {g_ref:.4f} = mean(softplus(-fake_logits)).")
    if lines:
        return _say(False, lines)
    extreme = tf.constant([[-200.0], [200.0]]), tf.constant([[200.0], [-200.0]])
    d_big, error = _call(d_loss_fn, *extreme)
    g_big, error_g = _call(g_loss_fn, extreme[1])
    if error or error_g or not (np.isfinite(_as_array(d_big)).all() and np.isfinite(_as_array(g_big)).all()):
        return _say(
            False,
            [
                "The values match on ordinary logits, but for very confident logits (±200) your "
                "losses overflow to inf or NaN: log(sigmoid(l)) underflows. Compute from logits "
                "with tf.math.softplus: -log(sigmoid(l)) = softplus(-l)."
            ],
        )
    return _say(True, ["Both losses match course_utils.gan, and stay finite for very confident logits."])


def _missing(**values) -> list[str]:
    return [name for name, value in values.items() if value is None]


def _number(value) -> float:
    return float(_as_array(value).sum())


# ----------------------------------------------------------------------- mean image per class (00)
def check_class_means(fn) -> bool:
    """Check ``fn(x, y)``: the mean image of every class, shape ``(10, 28, 28, 1)``, row ``c`` the
    average of the images with label ``c``."""
    rng = np.random.default_rng(4)
    y = np.concatenate([np.arange(10), rng.integers(0, 10, 30)])
    rng.shuffle(y)
    x = rng.uniform(0, 1, (len(y), 28, 28, 1)).astype("float32")
    expected = np.stack([x[y == c].mean(axis=0) for c in range(10)])
    result, error = _call(fn, x, y)
    if error:
        return _say(False, [error])
    out = _as_array(result)
    if out.shape != expected.shape:
        hint = {
            (10,): "You averaged over the pixels too: average over the images of a class only (axis=0).",
            (28, 28, 1): "That is one image: compute one mean per class (x[y == c] for c in range(10)).",
        }.get(out.shape, "Stack one mean image per class: np.stack([... for c in range(10)]).")
        return _say(False, [f"Your result has shape {out.shape}; expected {expected.shape}.", hint])
    if np.allclose(out, expected, atol=1e-5):
        return _say(True, ["Ten mean images, in class order, to within 1e-5."])
    if np.allclose(out, x.mean(axis=0, keepdims=True), atol=1e-5):
        return _say(False, ["Every row is the mean of *all* images: select one class with x[y == c]."])
    wrong = [c for c in range(10) if not np.allclose(out[c], expected[c], atol=1e-5)]
    order = [c for c in range(10) if any(np.allclose(out[c], expected[k], atol=1e-5) for k in range(10))]
    if len(order) == 10:
        return _say(False, ["The means are right but in the wrong order: row c must be class c."])
    return _say(
        False, [f"Rows {wrong} differ from the mean of their class's images (x[y == c].mean(axis=0))."]
    )


# ------------------------------------------------------------------ a gradient by hand (01)
LINE_XS = (0.0, 1.0, 2.0, 3.0)
LINE_YS = (1.0, 3.0, 5.0, 7.0)


def check_line_gradient(loss, dw, db, *, w: float = 0.85, b: float = 0.4, xs=LINE_XS, ys=LINE_YS) -> bool:
    """Check hand-computed ``loss``, ``dL/dw`` and ``dL/db`` of the mean squared error
    ``L = mean((w * x + b - y) ** 2)`` of notebook 01's four points at ``w``, ``b``.
    Numbers or scalar tensors; ``None`` for one you have not computed yet."""
    missing = _missing(loss=loss, dw=dw, db=db)
    if missing:
        return _say(
            False, [f"Not written yet: {', '.join(missing)} still None. Put your numbers in, then rerun."]
        )
    xs, ys = np.asarray(xs, np.float64), np.asarray(ys, np.float64)
    n = len(xs)
    residual = w * xs + b - ys
    ref = {"loss": np.mean(residual**2), "dw": 2 * np.mean(residual * xs), "db": 2 * np.mean(residual)}
    yours = {"loss": _number(loss), "dw": _number(dw), "db": _number(db)}
    lines = []
    for name, value in yours.items():
        r = ref[name]
        if math.isclose(value, r, rel_tol=1e-3, abs_tol=1e-4):
            continue
        if math.isclose(value, -r, rel_tol=1e-3):
            lines.append(f"{name}: the sign is flipped. The residual is prediction - target, w*x + b - y.")
        elif name == "loss" and math.isclose(value, r * n, rel_tol=1e-3):
            lines.append(
                f"loss: {value:g} is the sum of the squared residuals; the loss is their mean (/ {n})."
            )
        elif name != "loss" and math.isclose(value, r / 2, rel_tol=1e-3):
            lines.append(f"{name}: the factor 2 from the square is missing (d/dp (p - y)^2 = 2 (p - y)).")
        elif name != "loss" and math.isclose(value, r * n, rel_tol=1e-3):
            lines.append(f"{name}: you summed over the {n} points; the loss is a mean, so divide by {n}.")
        elif name == "dw" and math.isclose(value, ref["db"], rel_tol=1e-3):
            lines.append("dw: each residual must be multiplied by its own x (the chain rule through w * x).")
        else:
            lines.append(f"{name}: {value:g} is not right. Write out the residuals w*x + b - y first.")
    if lines:
        return _say(False, lines)
    return _say(True, [f"loss {ref['loss']:g}, dL/dw {ref['dw']:g}, dL/db {ref['db']:g}: all three match."])


# ------------------------------------------------------------- sizes of the CNN's layers (02)
def check_layer_sizes(cnn, conv_shape=None, conv_params=None, features_params=None) -> bool:
    """Check hand-computed sizes of ``cnn`` (built by ``models.build_cnn``): the output shape of
    ``conv1_1`` per image, e.g. ``(28, 28, 32)``, its parameter count, and the ``features`` layer's
    parameter count. ``None`` for one you have not computed yet."""
    missing = _missing(conv_shape=conv_shape, conv_params=conv_params, features_params=features_params)
    if missing:
        return _say(
            False, [f"Not written yet: {', '.join(missing)} still None. Put your numbers in, then rerun."]
        )
    conv, features = cnn.get_layer("conv1_1"), cnn.get_layer("features")
    shape = tuple(int(d) for d in conv.output.shape[1:])
    filters, channels = shape[-1], int(conv.input.shape[-1])
    kernel = int(np.prod(conv.kernel_size)) * channels * filters
    flat, dense = int(features.input.shape[-1]), int(features.units)
    try:
        given_shape = tuple(int(d) for d in conv_shape if d is not None)
        conv_params, features_params = int(conv_params), int(features_params)
    except (TypeError, ValueError):
        return _say(False, ["Give the shape as a tuple such as (28, 28, 8) and the counts as whole numbers."])
    lines = []
    if given_shape != shape:
        if given_shape[:2] != shape[:2]:
            lines.append(
                f"conv1_1 shape: {given_shape}; 'same' padding keeps the image size, so it is "
                f"{shape[:2]} with one channel per filter."
            )
        else:
            lines.append(f"conv1_1 shape: {given_shape}; one output channel per filter: {shape}.")
    if int(conv_params) != conv.count_params():
        if int(conv_params) == kernel + filters and not conv.use_bias:
            lines.append(
                "conv1_1 parameters: this convolution has no bias, because BatchNorm follows it and "
                "its shift does the bias's job: only the 3x3 weights count."
            )
        elif int(conv_params) == kernel:
            lines.append("conv1_1 parameters: add one bias per filter.")
        else:
            lines.append(
                f"conv1_1 parameters: {conv_params}. Each filter has 3 x 3 x {channels} weights"
                + (" and one bias." if conv.use_bias else " (no bias here: BatchNorm follows).")
            )
    if int(features_params) != features.count_params():
        if int(features_params) == flat * dense:
            lines.append(f"features parameters: add one bias per unit (+{dense}).")
        else:
            lines.append(
                f"features parameters: {features_params}. The Dense layer sees the flattened last "
                f"feature map ({flat} values: each 2x2 pooling halves the side, rounding down) "
                f"times {dense} units, plus {dense} biases."
            )
    if lines:
        return _say(False, lines)
    return _say(
        True,
        [f"conv1_1 {shape}, {conv.count_params()} parameters; features {features.count_params()}: right."],
    )


# --------------------------------------------------------------- a checker for GAN code (08)
_CLEAN = "import tensorflow as tf\n\n\ndef score(x):\n    return tf.reduce_mean(x)\n"
_UNDEFINED = "import tensorflow as tf\n\n\ndef score(x):\n    return tf.reduce_mean(x) + offset\n"
_TF1 = "import tensorflow as tf\n\n\ndef score(x):\n    return tf.log(x)\n"
_TWICE = (
    "import tensorflow as tf\n\n\ndef block(x):\n"
    "    x = tf.keras.layers.Dense(8, name='dense_a')(x)\n"
    "    return tf.keras.layers.Dense(8, name='dense_a')(x)\n"
)


def check_gan_code_checker(fn) -> bool:
    """Check ``fn(source) -> list[str]`` of notebook 08: no warning for clean code, and one that names
    the culprit for an undefined name, a TF1-only API (``tf.log``) and a layer name given twice."""
    lines = []
    for label, source, culprit in (
        ("clean code", _CLEAN, None),
        ("an undefined name", _UNDEFINED, "offset"),
        ("a TF1-only API", _TF1, "tf.log"),
        ("a layer name used twice", _TWICE, "dense_a"),
    ):
        result, error = _call(fn, source)
        if error:
            return _say(False, [error if error.startswith("Not written yet") else f"On {label}: {error}"])
        if not isinstance(result, list | tuple) or not all(isinstance(w, str) for w in result):
            return _say(False, [f"Return a list of warning strings; on {label} you returned {result!r:.80}."])
        if culprit is None and result:
            lines.append(f"False alarm on clean code: {result}. Only report what is wrong.")
        elif culprit is not None and not any(culprit in w for w in result):
            lines.append(f"Missed {label}: no warning mentions {culprit!r} in\n{source}")
    if lines:
        return _say(False, lines)
    return _say(
        True, ["Quiet on clean code; names the undefined name, the TF1 API and the repeated layer name."]
    )


# ------------------------------------------------------------ the repaired snippet loss (08)
def check_repaired_d_loss(fn) -> bool:
    """Check ``fn(real_logits, fake_logits)``: the discriminator loss the snippet meant,
    ``mean(-log D(x) - log(1 - D(G(z))))`` with ``D = sigmoid(logit)``, on moderate logits; and that
    its gradient with respect to the fake logits is ``sigmoid(fake) / N``, not zero."""
    import tensorflow as tf

    from course_utils import gan

    rng = np.random.default_rng(5)
    real = tf.constant(rng.normal(0, 1.5, (8, 1)), tf.float32)
    fake = tf.Variable(rng.normal(0, 1.5, (8, 1)).astype("float32"))
    try:
        with tf.GradientTape() as tape:
            value, error = _call(fn, real, fake)
        if error:
            return _say(False, [error])
        grad = tape.gradient(value, fake)
    except Exception as exc:  # noqa: BLE001 - e.g. a NumPy result the tape cannot follow
        return _say(
            False, [f"Computing the gradient failed ({type(exc).__name__}): use TensorFlow ops only."]
        )
    value = _number(value)
    ref = float(gan.discriminator_loss(real, fake))
    if not np.isfinite(value):
        return _say(
            False, ["Your loss is NaN or inf: the log of a *logit* can be negative. Apply tf.sigmoid first."]
        )
    if grad is None or np.allclose(grad.numpy(), 0.0):
        return _say(
            False,
            [
                "Your loss does not depend on fake_logits: that is the snippet's bug. A discriminator "
                "must also be trained to reject generated images: add -log(1 - D(G(z)))."
            ],
        )
    if not math.isclose(value, ref, rel_tol=1e-4):
        if math.isclose(value, float(gan.discriminator_loss(fake, real)), rel_tol=1e-4):
            return _say(False, ["Real and fake are swapped: real images should get D(x) -> 1."])
        if math.isclose(value, 8 * ref, rel_tol=1e-4):
            return _say(False, ["You summed over the batch; average instead (tf.reduce_mean)."])
        return _say(False, [f"Loss {value:.4f}, expected {ref:.4f} = mean(-log D(x) - log(1 - D(G(z))))."])
    expected_grad = tf.sigmoid(fake).numpy() / len(real)
    if not np.allclose(grad.numpy(), expected_grad, rtol=1e-3, atol=1e-6):
        return _say(
            False, ["The value is right but its gradient is not: compute it with TensorFlow ops only."]
        )
    return _say(
        True, [f"Loss {value:.4f} matches gan.discriminator_loss; d loss / d fake = sigmoid(fake) / N > 0."]
    )
