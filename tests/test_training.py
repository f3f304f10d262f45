import time
import types

import numpy as np
import pytest

from course_utils import config, models, training


def toy_images(n=256, seed=0):
    """Class 0: a bright left half, class 1: a bright right half, plus noise."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    x = rng.uniform(0.0, 0.2, size=(n, 28, 28, 1))
    x[y == 0, :, :14] += 0.5
    x[y == 1, :, 14:] += 0.5
    return x.astype(np.float32), y.astype(np.int64)


def train_once(seed):
    config.set_seed(seed)
    x, y = toy_images()
    model = models.build_mlp((8,), num_classes=2)
    history = training.train_classifier(
        model, x, y, epochs=3, batch_size=32, learning_rate=3e-3, validation_data=(x, y), seed=seed, verbose=0
    )
    return model, history


@pytest.mark.slow
def test_training_learns_a_separable_problem_and_records_time():
    """Three epochs' times, which together fit inside the wall-clock time of the whole call (times
    counted from the start of training would add up to more)."""
    start = time.perf_counter()
    model, history = train_once(0)
    wall = time.perf_counter() - start
    h = history.history
    assert h["accuracy"][-1] > 0.9 and h["val_accuracy"][-1] > 0.9
    assert h["loss"][-1] < h["loss"][0]
    assert len(h["epoch_seconds"]) == 3 and 0 < sum(h["epoch_seconds"]) <= wall


def test_epoch_timer_times_each_epoch_from_its_own_start(monkeypatch):
    """On a fake clock set by hand: training begins at 0 s, epoch 0 runs from 10 to 12.5 s, epoch 1
    from 20 to 23 s. The timer must record 2.5 and 3 s (not 12.5 and 23 s since training began, nor
    10.5 s since the last epoch ended), in its list and in each epoch's logs."""
    now = [0.0]
    monkeypatch.setattr(training, "time", types.SimpleNamespace(perf_counter=lambda: now[0]))
    timer, logs = training.EpochTimer(), [{}, {}]
    timer.on_train_begin()
    for epoch, (begin, end) in enumerate([(10.0, 12.5), (20.0, 23.0)]):
        now[0] = begin
        timer.on_epoch_begin(epoch)
        now[0] = end
        timer.on_epoch_end(epoch, logs[epoch])
    assert timer.seconds == [2.5, 3.0] and logs == [{"epoch_seconds": 2.5}, {"epoch_seconds": 3.0}]


@pytest.mark.slow
def test_same_seed_same_weights():
    a, _ = train_once(3)
    b, _ = train_once(3)
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)


def test_rejects_0_255_images_and_one_hot_labels():
    x, y = toy_images(16)
    model = models.build_mlp((4,), num_classes=2)
    with pytest.raises(ValueError, match="Divide 0-255 images by 255"):
        training.train_classifier(model, x * 255, y, epochs=1)
    with pytest.raises(ValueError, match="one-hot"):
        training.train_classifier(model, x, np.eye(2)[y], epochs=1)
    with pytest.raises(ValueError, match="0..1"):
        training.train_classifier(model, x, y + 5, epochs=1)
    with pytest.raises(ValueError, match="epochs"):
        training.train_classifier(model, x, y, epochs=0)


def test_one_cycle_rises_to_its_peak_then_decays_to_zero():
    rate = training.learning_rate_schedule("one_cycle", 3e-3, 100, warmup_fraction=0.3)
    values = np.array([float(rate(step)) for step in range(101)])
    np.testing.assert_allclose(values[0], 3e-3 / 25, rtol=1e-6)
    assert values.argmax() == 30 and np.isclose(values.max(), 3e-3)
    assert np.all(np.diff(values[:31]) > 0) and np.all(np.diff(values[30:]) <= 0)
    assert values[-1] < 1e-9
    cosine = training.learning_rate_schedule("cosine", 1e-3, 100)
    assert np.isclose(float(cosine(0)), 1e-3) and float(cosine(100)) < 1e-9
    assert training.learning_rate_schedule("constant", 1e-3, 100) == 1e-3


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(kind="onecycle"), "Unknown schedule"),
        (dict(learning_rate=0.0), "learning_rate"),
        (dict(total_steps=0), "at least one"),
        (dict(warmup_fraction=1.0), "warmup_fraction"),
    ],
)
def test_bad_schedules_are_refused(kwargs, match):
    args = dict(kind="one_cycle", learning_rate=1e-3, total_steps=10) | kwargs
    with pytest.raises(ValueError, match=match):
        training.learning_rate_schedule(
            args.pop("kind"), args.pop("learning_rate"), args.pop("total_steps"), **args
        )


def test_a_one_cycle_run_learns_too():
    x, y = toy_images()
    model = models.build_mlp((8,), num_classes=2)
    history = training.train_classifier(
        model, x, y, epochs=2, batch_size=32, learning_rate=1e-2, schedule="one_cycle", verbose=0
    )
    assert history.history["accuracy"][-1] > 0.9


@pytest.mark.slow
def test_steps_per_execution_changes_the_speed_not_the_result():
    """Several batches per compiled call (the default) train exactly like one batch per call,
    including a last call with fewer batches than steps_per_execution (8 batches per epoch, 3 per call)."""
    results = []
    for steps in (1, 3):
        config.set_seed(5)
        x, y = toy_images()
        model = models.build_mlp((8,), num_classes=2)
        history = training.train_classifier(
            model, x, y, epochs=2, batch_size=32, seed=5, verbose=0, steps_per_execution=steps
        )
        assert int(model.optimizer.iterations.numpy()) == 2 * 8
        results.append((model.get_weights(), history.history["loss"]))
    for wa, wb in zip(results[0][0], results[1][0], strict=True):
        np.testing.assert_allclose(wa, wb, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-5)
    with pytest.raises(ValueError, match="steps_per_execution must be >= 1"):
        training.compile_classifier(models.build_mlp((4,), num_classes=2), steps_per_execution=0)
