"""What every check shares: advice instead of tracebacks, and answers read as numbers."""

from __future__ import annotations

import functools

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


def _linear_model():
    """A 10-class linear model on 28×28×1 images with fixed weights: gradients known exactly."""
    import keras

    rng = np.random.default_rng(0)
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10)])
    model.layers[-1].set_weights([rng.normal(0, 0.05, (784, 10)).astype("float32"), np.zeros(10, "float32")])
    return model
