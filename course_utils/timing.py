"""Seconds per training step of natural and adversarial training, measured side by side, and the
hand-written ``tf.function`` training steps they are compared with.

The reference steps are what a student would write from the papers with nothing but TensorFlow: one
compiled function per batch, the PGD loop unrolled, no metrics. They set the floor the course's
Keras training (``fit``, callbacks, metrics) is measured against.
"""

from __future__ import annotations

import time

import keras
import numpy as np
import tensorflow as tf

from course_utils import data as data_lib
from course_utils import training
from course_utils.adversarial_training import AdversarialTrainer

#: The methods :func:`reference_step` has a hand-written step for (``None``: natural training).
REFERENCE_METHODS = (None, "pgd", "fgsm_rs", "fgsm", "n_fgsm")


def method_key(settings: dict | None) -> str:
    """The name a training method's step cost is filed under: ``"natural"`` for ``None`` (or a
    ``method`` of ``None``), ``"pgd2"``/``"trades10"`` for the multi-step methods (``method`` and
    ``steps``), else the method's own name (``"fgsm_rs"``, ``"n_fgsm"``, ``"fgsm"``)."""
    if settings is None or settings.get("method") is None:
        return "natural"
    if settings["method"] in ("pgd", "trades"):
        return f"{settings['method']}{settings['steps']}"
    return settings["method"]


def reference_step(model, optimizer, *, method=None, eps=0.1, steps=None, step_size=None, seed=0):
    """A hand-written training step: ``step(x, y)`` updates ``model`` on one batch and returns the loss.

    Args:
        model: a Keras classifier returning logits ``(N, K)``; its weights are updated in place.
        optimizer: a Keras optimizer.
        method: ``None`` (natural training), ``"pgd"`` (PGD-``steps`` from a uniform random start, step
            ``2.5 * eps / steps``), ``"fgsm_rs"`` (one step of ``1.25 * eps`` from a random start),
            ``"fgsm"`` (one step of ``eps`` from the clean image) or ``"n_fgsm"`` (one step of ``eps``
            from noise in ``[-2 eps, 2 eps]``, not projected), as in
            :class:`course_utils.adversarial_training.AdversarialTrainer`.
        eps: L∞ budget in the pixel scale [0, 1].
        seed: seeds the random starts (a ``tf.random.Generator`` of its own; global state untouched).

    Returns:
        A ``tf.function`` ``step(x, y) -> loss``; ``x``: float32 ``(N, H, W, C)`` in [0, 1],
        ``y``: integer labels ``(N,)``.
    """
    if method not in REFERENCE_METHODS:
        raise ValueError(
            f"The reference step covers natural, 'pgd', 'fgsm_rs', 'fgsm' and 'n_fgsm'; got {method!r}."
        )
    if method == "pgd":
        steps = 10 if steps is None else int(steps)
        step_size = 2.5 * eps / steps if step_size is None else step_size
    elif method is not None:
        steps, step_size = 1, (1.25 * eps if method == "fgsm_rs" else eps) if step_size is None else step_size
    generator = tf.random.Generator.from_seed(seed)

    def loss_of(x, y, training):
        logits = model(x, training=training)
        return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(tf.cast(y, tf.int32), logits))

    @tf.function
    def step(x, y):
        if method is not None:
            x_adv = x
            noise = 2.0 * eps if method == "n_fgsm" else eps  # N-FGSM: wider noise, no projection
            if method != "fgsm":
                x_adv = tf.clip_by_value(x + generator.uniform(tf.shape(x), -noise, noise), 0.0, 1.0)
            for _ in range(steps):  # unrolled at trace time
                with tf.GradientTape() as tape:
                    tape.watch(x_adv)
                    attack_loss = loss_of(x_adv, y, training=False)
                grad = tape.gradient(attack_loss, x_adv)
                x_adv = x_adv + step_size * tf.sign(grad)
                if method != "n_fgsm":
                    x_adv = x + tf.clip_by_value(x_adv - x, -eps, eps)
                x_adv = tf.clip_by_value(x_adv, 0.0, 1.0)
            x = tf.stop_gradient(x_adv)
        with tf.GradientTape() as tape:
            loss = loss_of(x, y, training=True)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply(grads, model.trainable_variables)
        return loss

    return step


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
    reference: bool = False,
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
        reference: also time each method's hand-written step (:func:`reference_step`, looped over
            the same batches), interleaved with the rest, as ``"<name> (hand-written)"``. A method
            with no hand-written step (TRADES; see :data:`REFERENCE_METHODS`) gets no such entry.

    Returns:
        ``{name: seconds per batch}``. Divide by the natural entry to get the cost in natural steps,
        or by the hand-written entry to get the framework's overhead.
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
            trainer = AdversarialTrainer(model, eps=eps, seed=seed, **settings)
            trainer.compile(
                optimizer=keras.optimizers.Adam(1e-3), steps_per_execution=training.STEPS_PER_EXECUTION
            )
        else:
            trainer = training.compile_classifier(model)
        runners[name] = lambda trainer=trainer: trainer.fit(dataset, epochs=1, verbose=0, shuffle=False)
        if reference and (settings or {}).get("method") in REFERENCE_METHODS:
            settings = dict(settings or {})
            step = reference_step(
                build(), keras.optimizers.Adam(1e-3), method=settings.pop("method", None), eps=eps,
                steps=settings.pop("steps", None), step_size=settings.pop("step_size", None), seed=seed,
            )  # fmt: skip
            if settings:
                raise ValueError(f"The hand-written reference has no equivalent of {sorted(settings)}.")

            def loop(step=step):
                for xb, yb in dataset:
                    step(xb, yb)

            runners[f"{name} (hand-written)"] = loop
    return _interleaved(runners, repeats, per=batches)


def time_input_gradients(
    builds: dict, x, y, *, batch_size: int = 512, batches: int = 2, repeats: int = 3
) -> dict[str, float]:
    """Seconds per image of one forward and backward pass to the input, for each model, side by side.

    That pass is the unit of work of every gradient attack (an APGD or PGD iteration is one per
    image still attacked), so the ratio of two models' figures is the ratio of their evaluation
    costs under the same attack on the same surviving images. Each model runs on the same
    ``batches`` batches of ``batch_size`` images, once to warm up (tracing), then ``repeats`` more
    times, interleaved; the result is the median.

    Args:
        builds: ``{name: zero-argument function returning a Keras classifier (logits)}``.
        x, y: at least ``batches * batch_size`` images ``(N, H, W, C)`` in [0, 1] and integer labels.

    Returns:
        ``{name: seconds per image}``.
    """
    n = batches * batch_size
    if len(x) < n or len(y) != len(x):
        raise ValueError(
            f"Need at least batches * batch_size = {n} images with as many labels; got {len(x)} images "
            f"and {len(y)} labels."
        )
    chunks = [
        (tf.constant(x[i : i + batch_size], tf.float32), tf.constant(y[i : i + batch_size], tf.int32))
        for i in range(0, n, batch_size)
    ]
    runners = {}
    for name, build in builds.items():
        model = build()

        @tf.function
        def gradient(xb, yb, model=model):
            with tf.GradientTape() as tape:
                tape.watch(xb)
                loss = tf.reduce_sum(
                    tf.nn.sparse_softmax_cross_entropy_with_logits(yb, model(xb, training=False))
                )
            return tape.gradient(loss, xb)

        def run(gradient=gradient):
            for xb, yb in chunks:
                gradient(xb, yb).numpy()  # .numpy(): wait for the result, as an attack does

        runners[name] = run
    return _interleaved(runners, repeats, per=n)


def _interleaved(runners: dict, repeats: int, *, per: int) -> dict[str, float]:
    """Run each of ``runners`` once to warm up (tracing, first-call costs), then ``repeats`` rounds
    of all of them in turn, so that a noisy machine slows each alike; ``{name: median seconds of one
    run / per}``."""
    for run in runners.values():
        run()
    seconds = {name: [] for name in runners}
    for _ in range(repeats):
        for name, run in runners.items():
            start = time.perf_counter()
            run()
            seconds[name].append((time.perf_counter() - start) / per)
    return {name: float(np.median(values)) for name, values in seconds.items()}
