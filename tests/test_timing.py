"""Timing training steps side by side."""

import types

import keras
import numpy as np
import pytest

from course_utils import adversarial_training, timing

from .helpers import tiny_classifier, tiny_data


@pytest.mark.slow
def test_time_training_steps_measures_each_method_on_the_same_batches():
    x, y = tiny_data(n=64)
    seconds = timing.time_training_steps(
        tiny_classifier, x, y, methods={"natural": None, "pgd-3": {"method": "pgd", "steps": 3}},
        eps=0.05, batches=2, batch_size=16, repeats=2,
    )  # fmt: skip
    assert set(seconds) == {"natural", "pgd-3"}  # the arithmetic: test_interleaved_timing_on_a_fake_clock
    with pytest.raises(ValueError, match="at least"):
        timing.time_training_steps(tiny_classifier, x, y, methods={"natural": None}, batches=5, batch_size=16)


@pytest.mark.slow
def test_the_hand_written_fgsm_step_matches_the_trainer_exactly():
    """FGSM has no randomness: one hand-written step and one AdversarialTrainer step from the same
    weights on the same batch must give the same weights (the reference measures the same work)."""
    x, y = tiny_data(n=16)
    hand, keras_model = tiny_classifier(seed=3), tiny_classifier(seed=3)
    step = timing.reference_step(hand, keras.optimizers.Adam(1e-3), method="fgsm", eps=0.05)
    step(x, y)
    trainer = adversarial_training.AdversarialTrainer(keras_model, method="fgsm", eps=0.05)
    trainer.compile(optimizer=keras.optimizers.Adam(1e-3), steps_per_execution=1)
    trainer.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False)
    for a, b in zip(hand.get_weights(), keras_model.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_reference_entries_and_methods():
    x, y = tiny_data(n=64)
    seconds = timing.time_training_steps(
        tiny_classifier, x, y, methods={"natural": None, "n-fgsm": {"method": "n_fgsm"}},
        eps=0.05, batches=2, batch_size=16, repeats=1, reference=True,
    )  # fmt: skip
    assert set(seconds) == {"natural", "n-fgsm", "natural (hand-written)", "n-fgsm (hand-written)"}
    with pytest.raises(ValueError, match="reference step covers"):
        timing.reference_step(tiny_classifier(), None, method="trades")
    # TRADES has no hand-written step: it is timed, without a reference entry (no crash at the end
    # of a long benchmark run that trains it)
    seconds = timing.time_training_steps(
        tiny_classifier, x, y, methods={"natural": None, "trades2": {"method": "trades", "steps": 2}},
        eps=0.05, batches=2, batch_size=16, repeats=1, reference=True,
    )  # fmt: skip
    assert set(seconds) == {"natural", "trades2", "natural (hand-written)"}
    with pytest.raises(ValueError, match="no equivalent"):
        timing.time_training_steps(
            tiny_classifier, x, y, methods={"mix": {"method": "pgd", "adv_ratio": 0.5}}, batches=2,
            batch_size=16, reference=True,
        )  # fmt: skip


def test_interleaved_timing_on_a_fake_clock(monkeypatch):
    """Runners that advance a fake clock by scripted times: a 100 s warm-up each that must not count,
    then three interleaved rounds, a taking 2, 10, 4 s and b 6, 6, 30 s, over 2 batches. Seconds per
    batch: the medians 4 and 6 halved, 2 and 3 (the means would give 2.7 and 7)."""
    now = [0.0]
    monkeypatch.setattr(timing, "time", types.SimpleNamespace(perf_counter=lambda: now[0]))
    scripts = {"a": [100.0, 2.0, 10.0, 4.0], "b": [100.0, 6.0, 6.0, 30.0]}
    order = []

    def runner(name):
        def run():
            order.append(name)
            now[0] += scripts[name].pop(0)

        return run

    seconds = timing._interleaved({"a": runner("a"), "b": runner("b")}, 3, per=2)
    assert seconds == {"a": 2.0, "b": 3.0}
    assert order == ["a", "b"] * 4 and scripts == {"a": [], "b": []}  # warm-ups, then 3 rounds in turn


def test_method_key_names_each_method_once():
    assert timing.method_key(None) == "natural"
    assert timing.method_key({"method": None, "epochs": 12}) == "natural"
    assert timing.method_key({"method": "pgd", "steps": 2, "epochs": 8}) == "pgd2"
    assert timing.method_key({"method": "trades", "steps": 10}) == "trades10"
    # one-step methods ignore a steps entry: FGSM-RS costs the same whatever "steps" says
    assert timing.method_key({"method": "fgsm_rs", "steps": 1}) == "fgsm_rs"


def test_time_input_gradients_prices_a_bigger_model_higher():
    """One model with 64 times the convolution work of another must cost more per image (the
    ratio is large, so machine noise cannot flip it)."""
    x, y = tiny_data(n=64)

    def conv(filters):
        return lambda: keras.Sequential(
            [keras.Input(x.shape[1:]), keras.layers.Conv2D(filters, 3, padding="same"),
             keras.layers.Conv2D(filters, 3, padding="same"), keras.layers.Flatten(), keras.layers.Dense(3)]
        )  # fmt: skip

    seconds = timing.time_input_gradients(
        {"small": conv(2), "big": conv(128)}, x, y, batch_size=32, repeats=3
    )
    assert set(seconds) == {"small", "big"} and 0 < seconds["small"] < seconds["big"]
    with pytest.raises(ValueError, match="at least"):
        timing.time_input_gradients({"small": conv(2)}, x, y, batch_size=64, batches=2)
