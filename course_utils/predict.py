"""Predict, then run: the student commits to a guess in one cell, the next cell measures and compares.

A result you predicted wrongly is the one you remember. Before each main result a notebook asks a
question and leaves a variable for the answer::

    my_prediction = None  # your guess: the CNN's accuracy under FGSM at ε = 0.1, in %

and the cell that measures the result reveals it next to the guess::

    predict.reveal_number(my_prediction, 100 * accuracy, unit="%", close=10,
                          what="the CNN's accuracy under FGSM at ε = 0.1")

A prediction never fails a run: a missing or malformed guess gets a sentence saying so (and what to
write), and the measured result is shown either way. Nothing here runs on import.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def _as_number(guess) -> float | None:
    if isinstance(guess, bool):
        return None
    try:
        number = float(guess)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def number_verdict(guess, measured: float, *, unit: str = "", close: float, what: str = "") -> str:
    """The sentence :func:`reveal_number` prints (see there)."""
    shown = f"{measured:.1f}{' ' + unit if unit else ''}"
    subject = f"{what[0].upper()}{what[1:]}" if what else "The measured value"
    result = f"{subject}: {shown}."
    if guess is None or guess is Ellipsis:
        return (
            f"No prediction written down. {result} Next time commit to a number before running the cell: "
            "a result you predicted wrongly is the one you remember."
        )
    value = _as_number(guess)
    if value is None:
        return f"Your prediction {guess!r} is not a number (write e.g. `my_prediction = 40`). {result}"
    units = "points" if unit == "%" else (unit or "")
    gap = measured - value
    hint = ""
    if unit == "%" and 0 < value <= 1 and measured > 1:
        hint = f" (Did you mean {100 * value:g} %? Percentages are written from 0 to 100.)"
    if abs(gap) <= close:
        verdict = f"within {close:g} {units} of your prediction of {value:g}: well judged.".replace("  ", " ")
    else:
        direction = "higher" if gap > 0 else "lower"
        verdict = f"{abs(gap):.1f} {units} {direction} than your prediction of {value:g}.".replace("  ", " ")
    return f"{result[:-1]}, {verdict}{hint}"


def reveal_number(guess, measured: float, *, unit: str = "", close: float, what: str = "") -> None:
    """Print the measured value next to the student's numeric guess.

    Args:
        guess: the student's prediction (``None`` or ``...`` when they wrote none; anything that is not
            a number gets a sentence saying so, never an exception).
        measured: the value the cell measured, in the same units as the guess (e.g. a percentage
            from 0 to 100, not a proportion).
        unit: ``"%"`` (differences are then in points), or any unit name.
        close: how near counts as "well judged", in the units of ``measured``.
        what: the quantity in words, e.g. ``"the CNN's accuracy under FGSM"``.
    """
    print(number_verdict(guess, measured, unit=unit, close=close, what=what))


def choice_verdict(answer, measured: str, options: Sequence[str]) -> str:
    """The sentence :func:`reveal_choice` prints (see there)."""
    if measured not in options:
        raise ValueError(f"measured answer {measured!r} is not among the options {list(options)}.")
    listed = ", ".join(repr(o) for o in options)
    result = f"Measured: {measured!r}."
    if answer is None or answer is Ellipsis:
        return f"No prediction written down (choose one of {listed}). {result}"
    key = answer.strip().lower() if isinstance(answer, str) else answer
    matches = [o for o in options if isinstance(key, str) and o.lower() == key]
    if not matches:
        return f"Your prediction {answer!r} is not one of the options {listed}. {result}"
    if matches[0] == measured:
        return f"You predicted {matches[0]!r}. {result} Right."
    return f"You predicted {matches[0]!r}. {result} Not what you expected: the next paragraph explains why."


def reveal_choice(answer, measured: str, options: Sequence[str]) -> None:
    """Print which option the measurement chose next to the student's choice.

    Args:
        answer: the student's choice (``None`` or ``...`` for none; case and surrounding spaces are
            ignored; anything else gets a sentence, never an exception).
        measured: the option the cell's measurement decided, computed from the data.
        options: every allowed answer.

    Raises:
        ValueError: if ``measured`` is not among ``options`` (a mistake in the notebook, not the student's).
    """
    print(choice_verdict(answer, measured, options))
