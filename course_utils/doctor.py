"""Is this machine ready for the course? ``python -m course_utils doctor`` answers.

It checks the versions (Python, TensorFlow, Keras and its backend), the device, the chosen profile,
whether Fashion-MNIST is on disk (without downloading), whether the model cache is writable, and
measures how fast this machine trains the course's CNN, to estimate how long each notebook will
take. Every problem comes with what to do about it.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from course_utils import config
from course_utils import data as data_lib

#: Seconds per notebook on the reference machine (2-core AMD EPYC CPU, no GPU, TF 2.21, Keras 3.15),
#: measured with ``tools/run_course.py``: ``(with the models already cached, extra on the first run)``.
#: For 00–02 the first figure is a whole first run (its training included). Notebook 09's ``quick``
#: time (with AutoAttack) was measured on another CPU only (64 s, where the notebook before AutoAttack
#: took 22.5 s against 28 s here) and is scaled to this machine. The ``standard`` times of 08 and 09
#: come from later runs (README's course map, † and ‡). Notebooks were renumbered on 2026-12-01.
REFERENCE_SECONDS = {
    "quick": {
        "00_setup_and_tour": (12, 0),
        "01_neural_network_basics": (69, 0),
        "02_convolutional_classifiers": (22, 0),
        "03_generative_adversarial_networks": (36, 105),
        "04_gan_training_dynamics": (170, 29),  # 2026-12-01
        "05_the_classic_tf1_gan_snippet": (17, 0),
        "06_adversarial_examples_fgsm": (14, 0),
        "07_pgd_attacks": (20, 0),
        "08_adversarial_training": (163, 34),
        "09_evaluating_robustness": (80, 0),  # estimated, see above
        "10_black_box_and_transfer_attacks": (49, 12),  # 2026-12-01
        "11_certified_robustness": (50, 17),  # 2026-12-01
        "12_open_problems_and_faq": (99, 0),
    },
    "standard": {
        "00_setup_and_tour": (12, 0),
        "01_neural_network_basics": (111, 0),
        "02_convolutional_classifiers": (124, 443),
        "03_generative_adversarial_networks": (57, 978),  # 2026-11-30, 6 epochs at 5e-4 (README §)
        "04_gan_training_dynamics": (267, 384),  # 2026-12-01; dcgan_sn trained next to other jobs
        "05_the_classic_tf1_gan_snippet": (15, 0),
        "06_adversarial_examples_fgsm": (22, 0),
        "07_pgd_attacks": (210, 0),
        "08_adversarial_training": (1090, 801),  # 2026-12-01 (README's course map, †); training 2026-11-30
        "09_evaluating_robustness": (879, 0),  # 2026-12-01, after 08 (its evaluation cache)
        "10_black_box_and_transfer_attacks": (114, 713),  # 2026-12-01 (¶; training next to a CI job)
        "11_certified_robustness": (238, 666),  # 2026-12-01 (README's course map, ¶)
        "12_open_problems_and_faq": (108, 0),
    },
}
#: The cached models (:data:`course_utils.zoo.MODELS`) that a notebook trains when they are missing:
#: its "extra on the first run" above.
NOTEBOOK_MODELS = {
    "02_convolutional_classifiers": ("cnn",),
    "03_generative_adversarial_networks": ("dcgan", "dcgan_conditional"),
    "04_gan_training_dynamics": ("dcgan", "dcgan_sn"),
    "08_adversarial_training": ("cnn_pgd", "cnn_fast"),
    "10_black_box_and_transfer_attacks": ("cnn_next_seed",),
    "11_certified_robustness": ("mlp_ibp", "cnn_noise"),
}
#: One training step of the `standard` CNN on a batch of 128 on the reference machine (seconds),
#: from ``benchmarks/results/at_standard/results.json`` (``step_seconds.natural``).
REFERENCE_STEP_SECONDS = 0.0612


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


def check_versions() -> list[Check]:
    """Python 3.11-3.13, TensorFlow 2, Keras 3 on the TensorFlow backend, oneDNN kernels requested."""
    import keras
    import tensorflow as tf

    checks = [
        Check(
            "Python",
            platform.python_version(),
            (3, 11) <= sys.version_info[:2] <= (3, 13),
            "use Python 3.11 to 3.13, for which TensorFlow 2.21 has wheels (see README)",
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
        f"{1000 * seconds:.0f} ms here, {1000 * REFERENCE_STEP_SECONDS:.0f} ms there: a 2-core CPU)."
    )


def estimate_minutes(profile_name: str, speed_factor: float) -> dict[str, tuple[float, float]] | None:
    """``{notebook: (minutes with cached models, extra minutes on the first run)}`` on a machine
    ``speed_factor`` times slower than the reference one; ``None`` without reference timings."""
    reference = REFERENCE_SECONDS.get(profile_name)
    if reference is None:
        return None
    return {
        nb: (cached * speed_factor / 60, first * speed_factor / 60)
        for nb, (cached, first) in reference.items()
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
        minutes = estimate_minutes(profile.name, factor)
        if minutes is None:
            print(f"No reference timings for the {profile.name!r} profile: it is meant for a GPU.", file=out)
        else:
            print(f"Estimated minutes per notebook ({profile.name}, with the models cached now):", file=out)
            total = 0.0
            for notebook, (cached, first) in minutes.items():
                to_train = _to_train(notebook, status)
                note = f"  (trains {', '.join(to_train)} first)" if to_train and first else ""
                minutes_here = cached + first if to_train else cached
                total += minutes_here
                print(f"  {notebook:38s} {minutes_here:6.1f}{note}", file=out)
            print(f"  {'all of them':38s} {total:6.1f}", file=out)
            print(
                "Pre-train the cached models ahead of time: python -m course_utils pretrain "
                f"--profile {profile.name}",
                file=out,
            )
    problems = [c for c in checks if not c.ok]
    print(f"\n{len(problems)} problem(s)." if problems else "\nReady.", file=out)
    return 1 if problems else 0


def _to_train(notebook: str, status: dict[str, bool]) -> list[str]:
    """The models ``notebook`` trains first, given the cache ``status``."""
    return [m for m in NOTEBOOK_MODELS.get(notebook, ()) if not status.get(m, True)]


def repo_notebooks() -> list[Path]:
    """The course's notebooks, when running from a checkout (for completeness checks)."""
    root = config.repo_root()
    return sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb")) if root else []
