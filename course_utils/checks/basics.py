"""Checks for notebooks 00-02: class means, a gradient by hand, the sizes of the CNN's layers."""

from __future__ import annotations

import math

import numpy as np

from course_utils.checks._core import (
    _array,
    _call,
    _missing,
    _never_raises,
    _Problem,
    _say,
    _scalar,
)


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
