"""Timing training steps side by side."""

import pytest

from course_utils import timing
from tests.test_adversarial_training import tiny_classifier, tiny_data


def test_time_training_steps_measures_each_method_on_the_same_batches():
    x, y = tiny_data(n=64)
    seconds = timing.time_training_steps(
        tiny_classifier, x, y, methods={"natural": None, "pgd-3": {"method": "pgd", "steps": 3}},
        eps=0.05, batches=2, batch_size=16, repeats=2,
    )  # fmt: skip
    assert set(seconds) == {"natural", "pgd-3"} and all(s > 0 for s in seconds.values())
    with pytest.raises(ValueError, match="at least"):
        timing.time_training_steps(tiny_classifier, x, y, methods={"natural": None}, batches=5, batch_size=16)
