"""Training a classifier with Keras ``fit``: one function, the course's defaults, nothing hidden.

Defaults: Adam with a cosine-decayed learning rate, sparse categorical cross-entropy computed
**from logits**, accuracy as the metric. The returned ``History`` also records the wall-clock
seconds of every epoch (``history.history["epoch_seconds"]``) so notebooks can talk about cost.
"""

from __future__ import annotations

import time

import keras
import numpy as np
import tensorflow as tf

from course_utils import attacks
from course_utils import data as data_lib


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


def compile_classifier(model: keras.Model, *, learning_rate: float = 1e-3, decay_steps: int | None = None):
    """Compile ``model`` (which outputs logits) with Adam, cross-entropy from logits and accuracy.

    Args:
        model: a classifier returning logits ``(N, num_classes)``.
        learning_rate: initial learning rate.
        decay_steps: if given, the learning rate follows a cosine decay to 0 over this many steps.
    """
    schedule = learning_rate
    if decay_steps:
        schedule = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=decay_steps)
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        jit_compile=False,  # XLA was 2x slower than plain graph mode on the course's CPUs
    )
    return model


def _check_labels(model: keras.Model, y: np.ndarray, what: str) -> None:
    classes = model.output_shape[-1]
    y = np.asarray(y)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(
            f"{what} must be a 1-D array of integer class ids, got shape {y.shape} "
            f"and dtype {y.dtype}. (One-hot labels? Use y.argmax(axis=1).)"
        )
    if len(y) and (y.min() < 0 or y.max() >= classes):
        raise ValueError(f"{what} must lie in 0..{classes - 1} for this model, found {y.min()}..{y.max()}.")


def _datasets(model, x_train, y_train, validation_data, epochs, batch_size, seed):
    """Checked training and validation pipelines, and the number of optimizer steps of the run."""
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}.")
    x_min, x_max = float(np.min(x_train)), float(np.max(x_train))
    if x_min < 0.0 or x_max > 1.0:
        raise ValueError(
            f"Training images must be scaled to [0, 1], found values in "
            f"[{x_min:g}, {x_max:g}]. Divide 0-255 images by 255."
        )
    _check_labels(model, y_train, "y_train")
    train_ds = data_lib.make_dataset(x_train, y_train, batch_size=batch_size, shuffle=True, seed=seed)
    val_ds = None
    if validation_data is not None:
        x_val, y_val = validation_data
        _check_labels(model, y_val, "validation labels")
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
    validation_data=None,
    seed: int = 0,
    verbose="auto",
    callbacks=None,
) -> keras.callbacks.History:
    """Compile and fit a classifier; progress is shown by Keras.

    Args:
        model: an uncompiled (or to-be-recompiled) Keras classifier returning logits.
        x_train: float32 images ``(N, H, W, C)`` in [0, 1].
        y_train: integer labels ``(N,)``.
        epochs: passes over the training data.
        batch_size: minibatch size.
        learning_rate: initial Adam learning rate, cosine-decayed to 0 over the run.
        validation_data: optional ``(x_val, y_val)`` evaluated after every epoch.
        seed: seed of the shuffling order.
        verbose: Keras verbosity (``"auto"``, 0, 1 or 2).
        callbacks: extra Keras callbacks.

    Returns:
        The ``keras.callbacks.History``; ``history.history`` holds per-epoch ``loss``,
        ``accuracy`` (``val_*`` with validation data) and ``epoch_seconds``.
    """
    train_ds, val_ds, steps = _datasets(model, x_train, y_train, validation_data, epochs, batch_size, seed)
    compile_classifier(model, learning_rate=learning_rate, decay_steps=steps)
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


# ----------------------------------------------------------------------- adversarial training

ADVERSARIAL_METHODS = ("pgd", "fgsm_rs", "fgsm", "trades")


def kl_from_clean(p_clean, logits):
    """Per-example KL divergence ``KL(p_clean || softmax(logits))`` ``(N,)``: TRADES' robustness term.

    ``p_clean``: ``(N, K)`` probabilities (the prediction on the clean images), ``logits``: ``(N, K)``.
    Used as a ``loss_fn`` for :func:`course_utils.attacks.pgd_tensor`, with ``p_clean`` in place of
    the labels.
    """
    p_clean = tf.convert_to_tensor(p_clean, tf.float32)
    return tf.reduce_sum(tf.math.xlogy(p_clean, p_clean) - p_clean * tf.nn.log_softmax(logits), axis=-1)


class AdversarialTrainer(keras.Model):
    """Trains ``classifier`` on adversarial examples crafted on the fly, batch by batch.

    Each ``train_step`` first attacks the current classifier (in inference mode, with
    :func:`course_utils.attacks.pgd_tensor`), then updates it on the adversarial batch, or on a mix of
    the clean and adversarial batches. Methods:

    * ``"pgd"``: Madry et al. (2018): PGD with a random start, ``steps`` steps of ``step_size``
      (default ``2.5 * eps / steps``).
    * ``"fgsm_rs"``: Wong, Rice & Kolter (2020), "Fast is better than free": one step of
      ``1.25 * eps`` from a random start. About twice the cost of natural training; watch it with
      :class:`RobustAccuracyGuard` (catastrophic overfitting).
    * ``"fgsm"``: one step of ``eps`` from the clean image (no random start): the variant that
      overfits catastrophically, kept for the demonstration.
    * ``"trades"``: Zhang et al. (2019): loss ``CE(f(x), y) + beta * KL(f(x) || f(x_adv))``, where
      PGD (``steps`` steps, default 10, from a uniform random start in the ball) maximises the KL
      term. ``beta`` trades clean accuracy for robustness (the paper uses 6).

    For the other methods the loss is ``adv_ratio * L(adversarial) + (1 - adv_ratio) * L(clean)``:
    1.0 is Madry et al.'s objective, 0.5 the mix of Goodfellow et al. (2015). Metrics: ``loss``, ``adv_loss``,
    ``clean_loss`` and ``adv_accuracy`` (on the training batches); evaluation (``validation_data``)
    reports the classifier's clean ``loss`` and ``accuracy``.

    Works under ``tf.distribute``: build and compile it inside ``strategy.scope()``.

    Args:
        classifier: a Keras model that outputs logits; its weights are the ones trained.
        method: one of ``"pgd"``, ``"fgsm_rs"``, ``"fgsm"``, ``"trades"``.
        eps: L∞ budget in the pixel scale (> 0).
        steps: PGD steps (``"pgd"`` and ``"trades"``; default 10).
        step_size: step length (default per method, see above).
        adv_ratio: weight of the adversarial loss, in [0, 1] (not for ``"trades"``).
        beta: weight of TRADES' KL term (``"trades"`` only).
        seed: seeds the random starts (a ``keras.random.SeedGenerator`` is created from it).
    """

    def __init__(
        self,
        classifier,
        *,
        method="pgd",
        eps,
        steps=None,
        step_size=None,
        adv_ratio=1.0,
        beta=6.0,
        seed=0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if method not in ADVERSARIAL_METHODS:
            raise ValueError(f"Unknown method {method!r}; choose one of {', '.join(ADVERSARIAL_METHODS)}.")
        if not (0 < eps <= 1):
            raise ValueError(f"eps must be in (0, 1] (pixel scale [0, 1]), got {eps!r}; e.g. 8/255 or 0.1.")
        if not (0.0 <= adv_ratio <= 1.0):
            raise ValueError(f"adv_ratio must be in [0, 1], got {adv_ratio!r}.")
        if method == "trades" and adv_ratio != 1.0:
            raise ValueError("adv_ratio does not apply to TRADES; its trade-off setting is beta.")
        if not beta >= 0:
            raise ValueError(f"beta must be >= 0, got {beta!r}.")
        if method in ("pgd", "trades"):
            steps = 10 if steps is None else int(steps)
            if steps < 1:
                raise ValueError(f"steps must be >= 1, got {steps}.")
            step_size = 2.5 * eps / steps if step_size is None else step_size
        else:
            if steps not in (None, 1):
                raise ValueError(f"method {method!r} takes exactly one step; got steps={steps}.")
            steps = 1
            step_size = (1.25 * eps if method == "fgsm_rs" else eps) if step_size is None else step_size
        if step_size <= 0:
            raise ValueError(f"step_size must be > 0, got {step_size!r}.")
        self.classifier = classifier
        self.method, self.eps, self.steps, self.step_size = method, float(eps), steps, float(step_size)
        self.adv_ratio, self.beta = float(adv_ratio), float(beta)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.adv_loss_tracker = keras.metrics.Mean(name="adv_loss")
        self.clean_loss_tracker = keras.metrics.Mean(name="clean_loss")
        self.adv_accuracy = keras.metrics.SparseCategoricalAccuracy(name="adv_accuracy")
        self.val_accuracy = keras.metrics.SparseCategoricalAccuracy(name="accuracy")
        # Nothing of its own to build: built when the classifier is (BackupAndRestore requires it).
        self.built = bool(getattr(classifier, "built", False))

    @property
    def metrics(self):
        return [
            self.loss_tracker,
            self.adv_loss_tracker,
            self.clean_loss_tracker,
            self.adv_accuracy,
            self.val_accuracy,
        ]

    def call(self, x, training=False):
        return self.classifier(x, training=training)

    def adversarial_batch(self, x, y):
        """The batch this trainer would train on (a tensor), for inspection."""
        target, loss_fn = y, None
        if self.method == "trades":  # maximise the KL divergence from the clean prediction
            target = tf.stop_gradient(tf.nn.softmax(self.classifier(x, training=False)))
            loss_fn = kl_from_clean
        return attacks.pgd_tensor(
            self.classifier,
            x,
            target,
            eps=self.eps,
            step_size=self.step_size,
            num_steps=self.steps,
            rand_init=self.method != "fgsm",
            loss_fn=loss_fn,
            seed=self.seed_generator,
        )

    def train_step(self, data):
        x, y = data[0], data[1]
        x_adv = self.adversarial_batch(x, y)
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        with tf.GradientTape() as tape:
            adv_logits = self.classifier(x_adv, training=True)
            adv_loss = tf.reduce_mean(attacks.cross_entropy(y, adv_logits))
            if self.method == "trades":
                clean_logits = self.classifier(x, training=True)
                clean_loss = tf.reduce_mean(attacks.cross_entropy(y, clean_logits))
                robust = tf.reduce_mean(kl_from_clean(tf.nn.softmax(clean_logits), adv_logits))
                loss = clean_loss + self.beta * robust
            elif self.adv_ratio < 1.0:
                clean_loss = tf.reduce_mean(attacks.cross_entropy(y, self.classifier(x, training=True)))
                loss = self.adv_ratio * adv_loss + (1.0 - self.adv_ratio) * clean_loss
            else:
                loss = adv_loss
            if self.classifier.losses:
                loss += tf.add_n(self.classifier.losses)
            # The optimizer sums the replicas' gradients: scale so that the result is the mean.
            scaled = loss / replicas
        grads = tape.gradient(scaled, self.classifier.trainable_variables)
        self.optimizer.apply(grads, self.classifier.trainable_variables)
        if (
            self.method != "trades" and self.adv_ratio == 1.0
        ):  # not computed above: measure it, inference mode
            clean_loss = tf.reduce_mean(attacks.cross_entropy(y, self.classifier(x, training=False)))
        self.loss_tracker.update_state(loss)
        self.adv_loss_tracker.update_state(adv_loss)
        self.clean_loss_tracker.update_state(clean_loss)
        self.adv_accuracy.update_state(y, adv_logits)
        return {m.name: m.result() for m in self.metrics[:4]}

    def test_step(self, data):
        x, y = data[0], data[1]
        logits = self.classifier(x, training=False)
        self.loss_tracker.update_state(tf.reduce_mean(attacks.cross_entropy(y, logits)))
        self.val_accuracy.update_state(y, logits)
        return {"loss": self.loss_tracker.result(), "accuracy": self.val_accuracy.result()}


class RobustAccuracyGuard(keras.callbacks.Callback):
    """Measures PGD accuracy on a held-out batch after every epoch; stops training and restores the
    best weights when it collapses (catastrophic overfitting, the known failure of FGSM training:
    Wong, Rice & Kolter, 2020).

    Collapse means: robust accuracy below ``collapse_fraction`` times the best seen so far, and
    below the best by at least ``min_drop``. The history gets ``val_pgd_accuracy`` and
    ``val_fgsm_accuracy`` per epoch: FGSM accuracy that keeps rising while PGD accuracy falls is the
    signature of catastrophic overfitting (the model has learnt to defeat the one-step attack only).

    Args:
        x, y: held-out images and labels (a few hundred are enough).
        eps, steps: the PGD used to measure (step ``2.5 * eps / steps``, one random start).
        collapse_fraction, min_drop: what counts as a collapse (see above).
        stop: ``False`` only watches: it reports the collapse and records ``collapse_epoch`` but lets
            training go on (for demonstrations).
        seed: seeds the measuring attack (the same images and starts every epoch).
        verbose: print the measurement and the decision.

    Attributes after training: ``history`` (PGD accuracy per epoch), ``fgsm_history``,
    ``best_accuracy``, ``best_epoch`` (0-based), ``collapse_epoch`` (0-based, or ``None``) and
    ``stopped_epoch`` (the epoch it stopped at, or ``None``).
    """

    def __init__(
        self, x, y, *, eps, steps=10, collapse_fraction=0.5, min_drop=0.1, stop=True, seed=0, verbose=True
    ):
        super().__init__()
        self.x, self.y = np.asarray(x, dtype=np.float32), np.asarray(y)
        if len(self.x) != len(self.y):
            raise ValueError(f"x has {len(self.x)} images but y has {len(self.y)} labels.")
        self.eps, self.steps, self.seed = float(eps), int(steps), seed
        self.collapse_fraction, self.min_drop, self.stop, self.verbose = (
            collapse_fraction,
            min_drop,
            stop,
            verbose,
        )
        self.history: list[float] = []
        self.fgsm_history: list[float] = []
        self.best_accuracy, self.best_epoch, self.best_weights = -1.0, None, None
        self.collapse_epoch = None
        self.stopped_epoch = None

    def classifier(self):
        return getattr(self.model, "classifier", self.model)

    def _accuracy(self, x_adv) -> float:
        logits = self.classifier()(x_adv, training=False)
        return float(np.mean(np.asarray(logits).argmax(axis=1) == self.y))

    def measure(self) -> float:
        """PGD accuracy of the current classifier on the held-out batch."""
        x_adv = attacks.pgd(
            self.classifier(), self.x, self.y, eps=self.eps, step_size=2.5 * self.eps / self.steps,
            num_steps=self.steps, seed=self.seed,
        )  # fmt: skip
        return self._accuracy(x_adv)

    def measure_fgsm(self) -> float:
        """FGSM accuracy of the current classifier on the held-out batch."""
        return self._accuracy(attacks.fgsm(self.classifier(), self.x, self.y, eps=self.eps))

    def on_epoch_end(self, epoch, logs=None):
        accuracy, fgsm_accuracy = self.measure(), self.measure_fgsm()
        self.history.append(accuracy)
        self.fgsm_history.append(fgsm_accuracy)
        if logs is not None:
            logs["val_pgd_accuracy"] = accuracy
            logs["val_fgsm_accuracy"] = fgsm_accuracy
        collapsed = (
            self.best_weights is not None
            and accuracy < self.collapse_fraction * self.best_accuracy
            and accuracy < self.best_accuracy - self.min_drop
        )
        if collapsed and self.collapse_epoch is None:
            self.collapse_epoch = epoch
            what = (
                f"RobustAccuracyGuard: PGD accuracy collapsed to {accuracy:.1%} at epoch {epoch + 1} "
                f"(best {self.best_accuracy:.1%} at epoch {self.best_epoch + 1}; FGSM accuracy "
                f"{fgsm_accuracy:.1%}): catastrophic overfitting."
            )
            if self.stop:
                self.classifier().set_weights(self.best_weights)
                self.model.stop_training = True
                self.stopped_epoch = epoch
                if self.verbose:
                    print(
                        f"{what} Training stopped; the weights of epoch {self.best_epoch + 1} are restored."
                    )
                return
            if self.verbose:
                print(f"{what} Watching only (stop=False): training goes on.")
        if accuracy > self.best_accuracy:
            self.best_accuracy, self.best_epoch = accuracy, epoch
            self.best_weights = self.classifier().get_weights()
        if self.verbose:
            print(
                f"RobustAccuracyGuard: epoch {epoch + 1}: PGD-{self.steps} accuracy {accuracy:.1%}, "
                f"FGSM accuracy {fgsm_accuracy:.1%}"
            )


def train_adversarial(
    classifier: keras.Model,
    x_train,
    y_train,
    *,
    method: str = "pgd",
    eps: float,
    epochs: int,
    steps: int | None = None,
    adv_ratio: float = 1.0,
    beta: float = 6.0,
    batch_size: int = 128,
    learning_rate: float = 1e-3,
    validation_data=None,
    seed: int = 0,
    verbose="auto",
    callbacks=None,
) -> keras.callbacks.History:
    """Adversarially train ``classifier`` in place (see :class:`AdversarialTrainer` for ``method``,
    ``steps``, ``adv_ratio`` and ``beta``), with the same schedule as :func:`train_classifier`: Adam with a
    cosine-decayed learning rate, shuffled batches, per-epoch seconds in
    ``history.history["epoch_seconds"]``.

    Afterwards ``classifier`` is compiled like :func:`train_classifier`'s output, ready to evaluate.
    """
    train_ds, val_ds, decay_steps = _datasets(
        classifier, x_train, y_train, validation_data, epochs, batch_size, seed
    )
    trainer = AdversarialTrainer(
        classifier, method=method, eps=eps, steps=steps, adv_ratio=adv_ratio, beta=beta, seed=seed
    )
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps)
    trainer.compile(optimizer=keras.optimizers.Adam(schedule))
    timer = EpochTimer()
    history = trainer.fit(
        train_ds, epochs=epochs, validation_data=val_ds, verbose=verbose, shuffle=False,
        callbacks=[timer, *(callbacks or [])],
    )  # fmt: skip
    history.history["epoch_seconds"] = list(timer.seconds)
    compile_classifier(classifier, learning_rate=learning_rate)
    return history


def time_training_steps(
    build,
    x,
    y,
    *,
    methods: dict,
    eps: float = 0.1,
    batches: int = 20,
    batch_size: int = 128,
    repeats: int = 3,
    seed: int = 0,
) -> dict[str, float]:
    """Seconds per training batch of natural and adversarial training, measured side by side.

    Each method trains a fresh model from ``build()`` on the same ``batches`` batches, once to warm
    up (tracing), then ``repeats`` more times, **interleaved** (natural, PGD, FGSM-RS, natural, ...),
    so a noisy machine slows every method alike; the result is the median. This measures the cost of
    robustness on the machine at hand in seconds, without training for an epoch.

    Args:
        build: zero-argument function returning a fresh Keras classifier (logits).
        x, y: at least ``batches * batch_size`` training images in [0, 1] and integer labels.
        methods: ``{name: settings}``; settings ``None`` (or ``{}``) means natural training, otherwise
            keyword arguments of :class:`AdversarialTrainer` such as ``{"method": "pgd", "steps": 7}``.
        eps: L∞ budget of the adversarial methods.

    Returns:
        ``{name: seconds per batch}``. Divide by the natural entry to get the cost in natural steps.
    """
    n = batches * batch_size
    if len(x) < n or len(y) != len(x):
        raise ValueError(
            f"Need at least batches * batch_size = {n} images with as many labels; got {len(x)} images "
            f"and {len(y)} labels."
        )
    dataset = data_lib.make_dataset(x[:n], y[:n], batch_size=batch_size, shuffle=False).cache()
    runners = {}
    for name, settings in methods.items():
        model = build()
        if settings:
            runner = AdversarialTrainer(model, eps=eps, seed=seed, **settings)
            runner.compile(optimizer=keras.optimizers.Adam(1e-3))
        else:
            runner = compile_classifier(model)
        runner.fit(dataset, epochs=1, verbose=0, shuffle=False)  # warm-up: tracing and first-call costs
        runners[name] = runner
    seconds = {name: [] for name in methods}
    for _ in range(repeats):
        for name, runner in runners.items():
            start = time.perf_counter()
            runner.fit(dataset, epochs=1, verbose=0, shuffle=False)
            seconds[name].append((time.perf_counter() - start) / batches)
    return {name: float(np.median(values)) for name, values in seconds.items()}
