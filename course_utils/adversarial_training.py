"""Adversarial training: a Keras model that attacks its classifier batch by batch and trains on the
result (PGD-AT, FGSM-RS, FGSM, TRADES), a guard against catastrophic overfitting, and one function that
does it all with the course's schedule.

Natural training and the shared schedule live in :mod:`course_utils.training`.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from course_utils import attacks, training
from course_utils.training import EpochTimer

ADVERSARIAL_METHODS = ("pgd", "fgsm_rs", "n_fgsm", "fgsm", "trades")


def kl_from_clean(p_clean, logits):
    """Per-example KL divergence ``KL(p_clean || softmax(logits))`` ``(N,)``: TRADES' robustness term.

    ``p_clean``: ``(N, K)`` probabilities (the prediction on the clean images), ``logits``: ``(N, K)``.
    Used as the ``loss`` of :func:`course_utils.attacks.pgd_tensor`, with ``p_clean`` in place of
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
    * ``"n_fgsm"``: de Jorge et al. (2022), "Make some noise": one step of ``eps`` from a noisy image
      ``x + U[-2 eps, 2 eps]``, **not** projected back to the ε-ball (the training perturbation can
      reach 3 eps). The same cost as FGSM-RS, and it avoids catastrophic overfitting without a guard.
    * ``"fgsm"``: one step of ``eps`` from the clean image (no random start): the variant that
      overfits catastrophically, kept for the demonstration.
    * ``"trades"``: Zhang et al. (2019): loss ``CE(f(x), y) + beta * KL(f(x) || f(x_adv))``, where
      PGD (``steps`` steps, default 10, from a uniform random start in the ball) maximises the KL
      term. ``beta`` trades clean accuracy for robustness (the paper uses 6).

    For the other methods the loss is ``adv_ratio * L(adversarial) + (1 - adv_ratio) * L(clean)``:
    1.0 is Madry et al.'s objective, 0.5 the mix of Goodfellow et al. (2015). Metrics: ``loss``,
    ``adv_loss`` and ``adv_accuracy`` on the training batches, plus ``clean_loss`` where the loss uses
    the clean batch (TRADES, ``adv_ratio < 1``; measuring it otherwise would cost a forward pass per
    step); evaluation (``validation_data``)
    reports the classifier's clean ``loss`` and ``accuracy``.

    Works under ``tf.distribute``: build and compile it inside ``strategy.scope()``.

    Args:
        classifier: a Keras model that outputs logits; its weights are the ones trained.
        method: one of ``"pgd"``, ``"fgsm_rs"``, ``"n_fgsm"``, ``"fgsm"``, ``"trades"``.
        eps: L∞ budget in the pixel scale (> 0).
        steps: PGD steps (``"pgd"`` and ``"trades"``; default 10).
        step_size: step length (default per method, see above).
        adv_ratio: weight of the adversarial loss, in [0, 1] (not for ``"trades"``).
        beta: weight of TRADES' KL term (``"trades"`` only).
        eps_ramp_steps: if > 0, the budget grows linearly from ``eps / eps_ramp_steps`` to ``eps``
            over the first ``eps_ramp_steps`` optimizer steps (the step size scales with it), then
            stays at ``eps``: an ε ramp-up, which helps short runs start learning.
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
        eps_ramp_steps=0,
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
        if int(eps_ramp_steps) < 0:
            raise ValueError(f"eps_ramp_steps must be >= 0, got {eps_ramp_steps!r}.")
        if step_size <= 0:
            raise ValueError(f"step_size must be > 0, got {step_size!r}.")
        self.classifier = classifier
        self.method, self.eps, self.steps, self.step_size = method, float(eps), steps, float(step_size)
        self.adv_ratio, self.beta = float(adv_ratio), float(beta)
        self.eps_ramp_steps = int(eps_ramp_steps)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.adv_loss_tracker = keras.metrics.Mean(name="adv_loss")
        self.clean_loss_tracker = keras.metrics.Mean(name="clean_loss")
        self.adv_accuracy = keras.metrics.SparseCategoricalAccuracy(name="adv_accuracy")
        self.val_accuracy = keras.metrics.SparseCategoricalAccuracy(name="accuracy")
        # Nothing of its own to build: built when the classifier is (BackupAndRestore requires it).
        self.built = bool(getattr(classifier, "built", False))

    @property
    def _uses_clean_batch(self) -> bool:
        """Whether the loss itself needs the clean batch (TRADES, or a clean/adversarial mix)."""
        return self.method == "trades" or self.adv_ratio < 1.0

    @property
    def _train_metrics(self):
        clean = [self.clean_loss_tracker] if self._uses_clean_batch else []
        return [self.loss_tracker, self.adv_loss_tracker, *clean, self.adv_accuracy]

    @property
    def metrics(self):
        return [*self._train_metrics, self.val_accuracy]

    def call(self, x, training=False):
        return self.classifier(x, training=training)

    def current_eps_fraction(self):
        """The share of ``eps`` used at the optimizer's current step (1 without a ramp-up)."""
        if not self.eps_ramp_steps or self.optimizer is None:
            return tf.constant(1.0)
        done = tf.cast(self.optimizer.iterations + 1, tf.float32)
        return tf.minimum(1.0, done / float(self.eps_ramp_steps))

    def adversarial_batch(self, x, y):
        """The batch this trainer would train on (a tensor), for inspection."""
        fraction = self.current_eps_fraction()
        eps, step_size = self.eps * fraction, self.step_size * fraction
        if self.method == "n_fgsm":
            noise = keras.random.uniform(tf.shape(x), -2.0 * eps, 2.0 * eps, seed=self.seed_generator)
            x_noisy = tf.clip_by_value(x + noise, 0.0, 1.0)
            with tf.GradientTape() as tape:
                tape.watch(x_noisy)
                loss = tf.reduce_sum(attacks.cross_entropy(y, self.classifier(x_noisy, training=False)))
            step = step_size * tf.sign(tape.gradient(loss, x_noisy))
            return tf.stop_gradient(tf.clip_by_value(x_noisy + step, 0.0, 1.0))
        labels, loss = y, "ce"
        if self.method == "trades":  # maximise the KL divergence from the clean prediction
            labels = tf.stop_gradient(tf.nn.softmax(self.classifier(x, training=False)))
            loss = kl_from_clean
        return attacks.pgd_tensor(
            self.classifier,
            x,
            labels,
            eps=eps,
            step_size=step_size,
            num_steps=self.steps,
            rand_init=self.method != "fgsm",
            loss=loss,
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
        # Metrics from what the step already computed: no extra forward pass.
        self.loss_tracker.update_state(loss)
        self.adv_loss_tracker.update_state(adv_loss)
        if self._uses_clean_batch:
            self.clean_loss_tracker.update_state(clean_loss)
        self.adv_accuracy.update_state(y, adv_logits)
        return {m.name: m.result() for m in self._train_metrics}

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
        restore_best: at the end of training, put back the weights of the epoch with the best
            held-out PGD accuracy if a later epoch was worse: early stopping against robust
            overfitting (Rice, Wong & Kolter, 2020), measured on images the model did not train on.
        seed: seeds the measuring attack (the same images and starts every epoch).
        verbose: print the measurement and the decision.

    Attributes after training: ``history`` (PGD accuracy per epoch), ``fgsm_history``,
    ``best_accuracy``, ``best_epoch`` (0-based), ``collapse_epoch`` (0-based, or ``None``),
    ``stopped_epoch`` (the epoch it stopped at, or ``None``) and ``restored_epoch`` (the epoch whose
    weights ``restore_best`` put back, or ``None``).
    """

    def __init__(
        self, x, y, *, eps, steps=10, collapse_fraction=0.5, min_drop=0.1, stop=True, restore_best=False,
        seed=0, verbose=True,
    ):  # fmt: skip
        super().__init__()
        self.restore_best, self.restored_epoch = bool(restore_best), None
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

    def on_train_end(self, logs=None):
        if not self.restore_best or self.best_weights is None or self.stopped_epoch is not None:
            return  # nothing measured, or a collapse has already restored the best weights
        if self.history and self.history[-1] < self.best_accuracy:
            self.classifier().set_weights(self.best_weights)
            self.restored_epoch = self.best_epoch
            if self.verbose:
                print(
                    f"RobustAccuracyGuard: the weights of epoch {self.best_epoch + 1} (held-out PGD accuracy "
                    f"{self.best_accuracy:.1%}, against {self.history[-1]:.1%} at the end) are restored."
                )

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
    eps_ramp_epochs: float = 0.0,
    batch_size: int = 128,
    learning_rate: float = 1e-3,
    schedule: str = "cosine",
    validation_data=None,
    seed: int = 0,
    verbose="auto",
    callbacks=None,
    steps_per_execution: int | None = None,
) -> keras.callbacks.History:
    """Adversarially train ``classifier`` in place (see :class:`AdversarialTrainer` for ``method``,
    ``steps``, ``adv_ratio`` and ``beta``; ``eps_ramp_epochs`` is the ε ramp-up in epochs), with the
    same choices as :func:`train_classifier`: Adam with a ``"cosine"``, ``"one_cycle"`` or
    ``"constant"`` learning rate (``schedule``), shuffled batches, ``steps_per_execution`` batches
    per compiled call, per-epoch seconds in ``history.history["epoch_seconds"]``.

    Afterwards ``classifier`` is compiled like :func:`train_classifier`'s output, ready to evaluate.
    """
    train_ds, val_ds, decay_steps = training.datasets(
        classifier, x_train, y_train, validation_data, epochs, batch_size, seed
    )
    if not 0 <= eps_ramp_epochs <= epochs:
        raise ValueError(f"eps_ramp_epochs must be in [0, epochs={epochs}], got {eps_ramp_epochs!r}.")
    ramp_steps = int(round(eps_ramp_epochs * decay_steps / epochs))
    trainer = AdversarialTrainer(
        classifier, method=method, eps=eps, steps=steps, adv_ratio=adv_ratio, beta=beta,
        eps_ramp_steps=ramp_steps, seed=seed,
    )  # fmt: skip
    rate = training.learning_rate_schedule(schedule, learning_rate, decay_steps)
    spe = training.checked_steps_per_execution(steps_per_execution)
    trainer.compile(optimizer=keras.optimizers.Adam(rate), steps_per_execution=spe)
    timer = EpochTimer()
    history = trainer.fit(
        train_ds, epochs=epochs, validation_data=val_ds, verbose=verbose, shuffle=False,
        callbacks=[timer, *(callbacks or [])],
    )  # fmt: skip
    history.history["epoch_seconds"] = list(timer.seconds)
    training.compile_classifier(classifier, learning_rate=learning_rate)
    return history
