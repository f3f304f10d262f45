"""Training a classifier with Keras ``fit``: one function, the course's defaults, nothing hidden.

Defaults: Adam with a cosine-decayed learning rate, sparse categorical cross-entropy computed
**from logits**, accuracy as the metric. The returned ``History`` also records the wall-clock
seconds of every epoch (``history.history["epoch_seconds"]``) so notebooks can talk about cost.
"""

from __future__ import annotations

import time

import keras
import numpy as np

from course_utils import data as data_lib
from course_utils.labels import class_ids


class EpochTimer(keras.callbacks.Callback):
    """Records the wall-clock duration of each training epoch in ``self.seconds``."""

    def on_train_begin(self, logs=None):
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)
        if logs is not None:  # later callbacks (a CSVLogger, say) see it too
            logs["epoch_seconds"] = self.seconds[-1]


SCHEDULES = ("cosine", "one_cycle", "constant")


def learning_rate_schedule(
    kind: str, learning_rate: float, total_steps: int, *, warmup_fraction: float = 0.3
):
    """The learning rate over a run of ``total_steps`` optimizer steps.

    * ``"cosine"``: starts at ``learning_rate`` and decays to 0 along a half cosine.
    * ``"one_cycle"``: rises linearly from ``learning_rate / 25`` to its peak ``learning_rate`` over
      the first ``warmup_fraction`` of the run, then decays to 0 along a half cosine. The idea is Smith &
      Topin's (2019) one cycle, whose rate rises and falls linearly; the 1/25, the 30 % and the cosine
      descent are the defaults of PyTorch's ``OneCycleLR``. A higher peak than a decaying schedule
      tolerates, so fewer epochs reach the same accuracy.
    * ``"constant"``: ``learning_rate`` throughout.

    Returns a float (constant) or a ``keras.optimizers.schedules.LearningRateSchedule``.
    """
    if kind not in SCHEDULES:
        raise ValueError(f"Unknown schedule {kind!r}; choose one of {', '.join(SCHEDULES)}.")
    if not learning_rate > 0:
        raise ValueError(f"learning_rate must be > 0, got {learning_rate!r}.")
    if total_steps < 1:
        raise ValueError(f"A run needs at least one optimizer step, got total_steps={total_steps}.")
    if kind == "constant":
        return float(learning_rate)
    if kind == "cosine":
        return keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=total_steps)
    if not 0.0 < warmup_fraction < 1.0:
        raise ValueError(f"warmup_fraction must be in (0, 1), got {warmup_fraction!r}.")
    warmup = max(1, int(round(warmup_fraction * total_steps)))
    return keras.optimizers.schedules.CosineDecay(
        learning_rate / 25, decay_steps=max(1, total_steps - warmup), warmup_target=learning_rate,
        warmup_steps=warmup,
    )  # fmt: skip


#: Training batches per call of the compiled training function: Keras then loops over batches
#: inside the graph instead of returning to Python after each one, which removes most of the
#: per-batch overhead of ``fit`` (callbacks still run every epoch; per-batch callbacks and
#: progress bars see every 8th batch).
STEPS_PER_EXECUTION = 8


def checked_steps_per_execution(value: int | None) -> int:
    """``value`` as a number of batches per compiled call (``None``: :data:`STEPS_PER_EXECUTION`)."""
    value = STEPS_PER_EXECUTION if value is None else int(value)
    if value < 1:
        raise ValueError(f"steps_per_execution must be >= 1, got {value}.")
    return value


def compile_classifier(
    model: keras.Model,
    *,
    learning_rate=1e-3,
    decay_steps: int | None = None,
    steps_per_execution: int | None = None,
):
    """Compile ``model`` (which outputs logits) with Adam, cross-entropy from logits and accuracy.

    Args:
        model: a classifier returning logits ``(N, num_classes)``.
        learning_rate: initial learning rate, or a schedule from :func:`learning_rate_schedule`.
        decay_steps: if given (with a float ``learning_rate``), the learning rate follows a cosine
            decay to 0 over this many steps.
        steps_per_execution: batches per call of the compiled training function (default
            :data:`STEPS_PER_EXECUTION`); 1 returns to Python after every batch.
    """
    steps_per_execution = checked_steps_per_execution(steps_per_execution)
    schedule = learning_rate
    if decay_steps:
        schedule = learning_rate_schedule("cosine", learning_rate, decay_steps)
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        jit_compile=False,  # XLA was 2x slower than plain graph mode on the course's CPUs
        steps_per_execution=steps_per_execution,
    )
    return model


def check_training_images(x) -> None:
    """Refuse training images outside ``[0, 1]`` (0-255 images, say) with what to do.

    Raises:
        ValueError: for a pixel below 0 or above 1.
    """
    x_min, x_max = float(np.min(x)), float(np.max(x))
    if x_min < 0.0 or x_max > 1.0:
        raise ValueError(
            f"Training images must be scaled to [0, 1], found values in "
            f"[{x_min:g}, {x_max:g}]. Divide 0-255 images by 255."
        )


def datasets(model, x_train, y_train, validation_data, epochs, batch_size, seed):
    """Checked training and validation pipelines, and the number of optimizer steps of the run."""
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}.")
    check_training_images(x_train)
    y_train = class_ids(y_train, n=len(x_train), num_classes=model.output_shape[-1], name="y_train")
    train_ds = data_lib.make_dataset(x_train, y_train, batch_size=batch_size, shuffle=True, seed=seed)
    val_ds = None
    if validation_data is not None:
        x_val, y_val = validation_data
        y_val = class_ids(y_val, n=len(x_val), num_classes=model.output_shape[-1], name="validation labels")
        val_ds = data_lib.make_dataset(x_val, y_val, batch_size=512, shuffle=False)
    return train_ds, val_ds, int(np.ceil(len(x_train) / batch_size)) * epochs


def train_classifier(
    model: keras.Model,
    x_train,
    y_train,
    *,
    epochs: int,
    batch_size: int = 128,
    learning_rate: float = 1e-3,
    schedule: str = "cosine",
    validation_data=None,
    seed: int = 0,
    verbose="auto",
    callbacks=None,
    steps_per_execution: int | None = None,
) -> keras.callbacks.History:
    """Compile and fit a classifier; progress is shown by Keras.

    Args:
        model: an uncompiled (or to-be-recompiled) Keras classifier returning logits.
        x_train: float32 images ``(N, H, W, C)`` in [0, 1].
        y_train: integer labels ``(N,)``.
        epochs: passes over the training data.
        batch_size: minibatch size.
        learning_rate: Adam's initial (``"cosine"``) or peak (``"one_cycle"``) learning rate.
        schedule: ``"cosine"``, ``"one_cycle"`` or ``"constant"`` (see :func:`learning_rate_schedule`).
        validation_data: optional ``(x_val, y_val)`` evaluated after every epoch.
        seed: seed of the shuffling order.
        verbose: Keras verbosity (``"auto"``, 0, 1 or 2).
        callbacks: extra Keras callbacks.
        steps_per_execution: batches per call of the compiled step (default
            :data:`STEPS_PER_EXECUTION`; the result is the same, only the speed differs).

    Returns:
        The ``keras.callbacks.History``; ``history.history`` holds per-epoch ``loss``,
        ``accuracy`` (``val_*`` with validation data) and ``epoch_seconds``.
    """
    train_ds, val_ds, steps = datasets(model, x_train, y_train, validation_data, epochs, batch_size, seed)
    rate = learning_rate_schedule(schedule, learning_rate, steps)
    compile_classifier(model, learning_rate=rate, steps_per_execution=steps_per_execution)
    timer = EpochTimer()
    history = model.fit(
        train_ds,
        epochs=epochs,
        validation_data=val_ds,
        verbose=verbose,
        shuffle=False,
        callbacks=[timer, *(callbacks or [])],
    )
    history.history["epoch_seconds"] = list(timer.seconds)
    return history
