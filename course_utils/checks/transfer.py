"""Checks for the black-box exercises of notebook 10: a transfer rate, and a transfer attack of your own."""

from __future__ import annotations

import math

import numpy as np

from course_utils.checks._core import _call, _never_raises, _Problem, _say, _scalar


# ----------------------------------------------------------------------- transfer rate (10)
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
