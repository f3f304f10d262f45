"""Is this machine ready for the course? ``python -m course_utils doctor`` answers.

It checks the versions (Python, TensorFlow, Keras and its backend), the device, the chosen profile,
whether Fashion-MNIST is on disk (without downloading), whether the model cache is writable, and
measures how fast this machine trains the course's CNN, to estimate how long each notebook will
take. Every problem comes with what to do about it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from course_utils import config, reference_times
from course_utils import data as data_lib

#: The reference machine's measured times (``course_utils/reference_times.json``, written by
#: ``tools/reference_times.py`` from measured runs; the README's course map shows the same file):
#: seconds per notebook **with its models already cached** and no attack results cached, and seconds
#: to train each cached model (:data:`course_utils.zoo.MODELS`) once.
_REFERENCE = reference_times.load()
REFERENCE_MACHINE = _REFERENCE["machine"]
REFERENCE_SECONDS = _REFERENCE["notebooks"]
TRAINING_SECONDS = _REFERENCE["training"]
#: The cached models each notebook loads, in the order it loads them. A model missing from the cache
#: is trained by the first notebook (in course order) that loads it.
NOTEBOOK_MODELS = {
    "01_neural_network_basics": ("mlp",),
    "02_convolutional_classifiers": ("mlp", "cnn"),
    "03_generative_adversarial_networks": ("cnn", "dcgan", "dcgan_conditional"),
    "04a_spectral_normalisation_on_fashion_mnist": ("cnn", "dcgan", "dcgan_sn"),
    "05_the_classic_tf1_gan_snippet": ("dcgan",),
    "06_adversarial_examples_fgsm": ("cnn",),
    "07_pgd_attacks": ("cnn",),
    "08_adversarial_training": ("cnn", "cnn_pgd", "cnn_fast"),
    "08a_adversarial_training_further": ("cnn", "cnn_pgd", "cnn_fast"),
    "09_evaluating_robustness": ("cnn",),
    "09a_inside_autoattack": ("cnn", "cnn_fast"),
    "10_black_box_and_transfer_attacks": ("mlp", "cnn", "cnn_next_seed", "cnn_pgd"),
    "11_certified_robustness": ("mlp", "cnn", "cnn_pgd", "mlp_ibp", "cnn_noise"),
    "12_open_problems_and_faq": ("cnn", "cnn_pgd"),
}
#: One training step of the `standard` CNN on a batch of 128 on the reference machine (seconds), by
#: :func:`step_seconds`, recorded with the times.
REFERENCE_STEP_SECONDS = _REFERENCE["step_seconds"]


@dataclasses.dataclass
class Check:
    """One line of the report: what was checked, what was found, and what to do if it is not ok."""

    name: str
    found: str
    ok: bool = True
    fix: str = ""

    def __str__(self) -> str:
        line = f"  [{'ok' if self.ok else '!!'}] {self.name:12s} {self.found}"
        return line if self.ok else f"{line}\n       -> {self.fix}"


def tensorflow_build() -> str:
    """Which TensorFlow package is installed: ``"CPU-only build"`` (``tensorflow-cpu``) or ``"full build"``
    (``tensorflow``, which looks for CUDA at start-up and logs an error-level line without a GPU)."""
    from importlib import metadata

    try:
        metadata.version("tensorflow-cpu")
        return "CPU-only build"
    except metadata.PackageNotFoundError:
        return "full build"


@contextlib.contextmanager
def start_up_lines_held_back():
    """Hold back what C++ code writes to the process's stderr (file descriptor 2) inside the block:
    TensorFlow's start-up lines ("All log messages before absl::InitializeLog()", oneDNN, CPU
    features), which read like instructions but are not. If the block raises, they are written out
    after all, since they may say why."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            held.seek(0)
            os.write(2, held.read())
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def check_versions() -> list[Check]:
    """Python in ``config.SUPPORTED_PYTHON``, TensorFlow 2, Keras 3 on TensorFlow, oneDNN requested."""
    with start_up_lines_held_back():
        import keras
        import tensorflow as tf

        tf.constant(0.0) + 1.0  # the first operation logs the CPU's features

    checks = [
        Check(
            "Python",
            platform.python_version(),
            config.python_supported(),
            f"use {config.supported_python_text()}, the versions the course supports (see README)",
        ),
        Check(
            "TensorFlow",
            f"{tf.__version__} ({tensorflow_build()})",
            tf.__version__.startswith("2."),
            'pip install -e ".[dev,cpu]" (or ".[dev,gpu]" with an NVIDIA GPU)',
        ),
        Check("Keras", keras.__version__, keras.__version__.startswith("3."), 'pip install "keras>=3"'),
    ]
    backend = keras.backend.backend()
    checks.append(
        Check(
            "backend", backend, backend == "tensorflow", "unset KERAS_BACKEND (the course runs on TensorFlow)"
        )
    )
    onednn = os.environ.get("TF_ENABLE_ONEDNN_OPTS", "")
    checks.append(
        Check(
            "oneDNN",
            f"TF_ENABLE_ONEDNN_OPTS={onednn or '(unset)'}",
            onednn == "1",
            "export TF_ENABLE_ONEDNN_OPTS=1 before starting Python (2-3x faster on AMD CPUs)",
        )
    )
    return checks


def check_data() -> Check:
    """Fashion-MNIST found on disk (no download is attempted)."""
    try:
        folder = data_lib.locate_fashion_mnist(download=False)
    except data_lib.DatasetNotFoundError as exc:
        return Check("data", "Fashion-MNIST not found", False, str(exc).replace("\n", "\n          "))
    return Check("data", f"Fashion-MNIST in {folder}")


def check_cache(profile: config.Profile | None = None, status: dict[str, bool] | None = None) -> Check:
    """The model cache folder exists (or can be created) and is writable; with ``profile``, which of
    that profile's models it holds (``status`` from :func:`cached_models`, computed if not given)."""
    folder = config.cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".doctor-{os.getpid()}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        return Check("model cache", str(folder), False, f"cannot write there ({exc}); set $COURSE_CACHE_DIR")
    files = len(list(folder.glob("*.keras")))
    if profile is None:
        return Check("model cache", f"{folder} ({files} trained models)")
    status = cached_models(profile) if status is None else status
    have = [name for name, cached in status.items() if cached]
    missing = [name for name, cached in status.items() if not cached]
    found = f"{folder}: {profile.name} models cached: {', '.join(have) or 'none yet'}"
    if missing:
        found += f"; not yet: {', '.join(missing)}"
    return Check("model cache", f"{found} ({files} files in all profiles)")


def cached_models(profile: config.Profile) -> dict[str, bool]:
    """``{model name: cached?}`` for ``profile`` (nothing is loaded or trained)."""
    from course_utils import zoo

    return zoo.cache_status(profile)


def step_seconds(*, batches: int = 12, rounds: int = 3) -> float:
    """Seconds of one training step of the `standard` CNN on a batch of 128 random images: the median
    of ``rounds`` medians of ``batches`` steps each (one round alone moved by half between runs)."""
    from course_utils import training, zoo

    model = zoo.cnn_architecture(config.get_profile("standard"), seed=0)
    training.compile_classifier(model)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (128, 28, 28, 1)).astype("float32")
    y = rng.integers(0, 10, 128)
    model.train_on_batch(x, y)  # tracing and first-call costs
    medians = []
    for _ in range(rounds):
        times = []
        for _ in range(batches):
            start = time.perf_counter()
            model.train_on_batch(x, y)
            times.append(time.perf_counter() - start)
        medians.append(float(np.median(times)))
    return float(np.median(medians))


def speed_sentence(seconds: float) -> str:
    """How this machine compares with the reference one, in words that cannot be misread."""
    ratio = REFERENCE_STEP_SECONDS / seconds
    if 0.9 <= ratio <= 1.1:
        comparison = "about as fast as the reference machine"
    elif ratio > 1:
        comparison = f"{ratio:.1f}x faster than the reference machine"
    else:
        comparison = f"{1 / ratio:.1f}x slower than the reference machine"
    return (
        f"Speed: this machine is {comparison} (a training step of the course's CNN takes "
        f"{1000 * seconds:.0f} ms here, {1000 * REFERENCE_STEP_SECONDS:.0f} ms there: "
        f"{REFERENCE_MACHINE})."
    )


duration = reference_times.duration


def training_plan(profile_name: str, missing=None) -> dict[str, list[str]]:
    """``{notebook: [models it trains]}`` when the notebooks run in course order: each model in
    ``missing`` (default: every model, an empty cache) is trained by the first notebook that loads it."""
    to_train = set(TRAINING_SECONDS.get(profile_name, {})) if missing is None else set(missing)
    plan = {}
    for notebook in REFERENCE_SECONDS.get(profile_name, {}):
        plan[notebook] = [m for m in NOTEBOOK_MODELS.get(notebook, ()) if m in to_train]
        to_train -= set(plan[notebook])
    return plan


def first_run_seconds(profile_name: str, notebook: str) -> float:
    """What a first run of the course (empty cache, notebooks in order) adds to ``notebook``'s time
    on the reference machine: the training of the models it is the first to load."""
    seconds = TRAINING_SECONDS.get(profile_name, {})
    return float(sum(seconds[m] for m in training_plan(profile_name).get(notebook, ())))


def estimate_minutes(
    profile_name: str, speed_factor: float, missing=None
) -> dict[str, tuple[float, float, list[str]]] | None:
    """``{notebook: (minutes with its models cached, minutes of training first, models trained)}`` on
    a machine ``speed_factor`` times slower than the reference one, when the notebooks run in order
    and the models in ``missing`` (default: all) are not cached yet; ``None`` without reference
    timings."""
    reference = REFERENCE_SECONDS.get(profile_name)
    if reference is None:
        return None
    seconds = TRAINING_SECONDS[profile_name]
    plan = training_plan(profile_name, missing)
    return {
        nb: (cached * speed_factor / 60, sum(seconds[m] for m in plan[nb]) * speed_factor / 60, plan[nb])
        for nb, cached in reference.items()
    }


def run(profile_name: str | None = None, *, probe: bool = True, out=None) -> int:
    """Print the report; returns 0 when everything is ready, 1 otherwise."""
    out = out or sys.stdout
    checks = check_versions()
    try:
        profile = config.get_profile(profile_name)
        from_env = bool(os.environ.get(config.PROFILE_ENV_VAR))
        source = (
            "--profile" if profile_name else (f"${config.PROFILE_ENV_VAR}" if from_env else "the default")
        )
        checks.append(Check("profile", f"{profile.name} ({source}): {profile.description}"))
    except ValueError as exc:
        profile = None
        checks.append(
            Check("profile", str(profile_name or os.environ.get(config.PROFILE_ENV_VAR)), False, str(exc))
        )
    checks.append(Check("device", config.device_summary()))
    status = cached_models(profile) if profile is not None else None
    checks += [check_data(), check_cache(profile, status)]
    print("Course environment check", file=out)
    for check in checks:
        print(check, file=out)
    if probe and profile is not None:
        seconds = step_seconds()
        factor = seconds / REFERENCE_STEP_SECONDS
        print("\n" + speed_sentence(seconds), file=out)
        missing = [name for name, cached in status.items() if not cached]
        minutes = estimate_minutes(profile.name, factor, missing)
        if minutes is None:
            print(f"No reference timings for the {profile.name!r} profile: it is meant for a GPU.", file=out)
        else:
            print(f"Estimated minutes per notebook ({profile.name}, with the models cached now):", file=out)
            total = 0.0
            for notebook, (cached, training, to_train) in minutes.items():
                note = f"  (trains {', '.join(to_train)} first)" if to_train else ""
                minutes_here = cached + training
                total += minutes_here
                print(f"  {notebook:38s} {minutes_here:6.1f}{note}", file=out)
            print(f"  {'all of them':38s} {total:6.1f}", file=out)
            if missing:
                print(
                    f"Train the {len(missing)} missing model(s) ahead of time: python -m course_utils "
                    f"pretrain --profile {profile.name}",
                    file=out,
                )
    problems = [c for c in checks if not c.ok]
    print(f"\n{len(problems)} problem(s)." if problems else "\nReady.", file=out)
    return 1 if problems else 0


def repo_notebooks() -> list[Path]:
    """The course's notebooks, when running from a checkout (for completeness checks)."""
    return config.course_notebooks()
