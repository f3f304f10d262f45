"""Run profiles, seeding and the course's paths: every knob a student may want to turn, in one place.

A *profile* fixes how much work each notebook does. There are three:

* ``quick``: a smoke test. Every notebook runs in under four minutes on 2 CPU cores; the numbers are
  only roughly meaningful. CI uses it.
* ``standard``: the default, on a CPU and on a GPU. Full Fashion-MNIST, results worth discussing,
  minutes per notebook on a laptop.
* ``full``: opt-in. Bigger models and longer schedules for paper-grade numbers; never measured on
  a GPU yet, and projected at tens of hours on a 2-core CPU (:func:`course_utils.results.full_cost_note`).

Choose one with the environment variable ``COURSE_PROFILE`` (``COURSE_PROFILE=quick jupyter lab``)
or by passing a name to :func:`get_profile`. Nothing here runs on import.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import random
import re
from pathlib import Path

import numpy as np

PROFILE_ENV_VAR = "COURSE_PROFILE"
CACHE_ENV_VAR = "COURSE_CACHE_DIR"
SEED_ENV_VAR = "COURSE_SEED"
DEFAULT_SEED = 42
# The Python versions the course supports: the oldest and the newest minor version, both included.
# pyproject.toml's requires-python says the same (tests/test_environment.py holds them together).
# CI runs 3.11; TensorFlow 2.21 has wheels for 3.10 to 3.13, and the course asks for 3.11 or newer.
SUPPORTED_PYTHON = ((3, 11), (3, 13))


@dataclasses.dataclass(frozen=True)
class Profile:
    """How much work the notebooks do. Read-only; use :func:`dataclasses.replace` to vary it.

    Attributes:
        name: ``"quick"``, ``"standard"`` or ``"full"``.
        description: one line for humans.
        train_size: training images used (``None`` = all 60,000).
        test_size: test images used for evaluation (``None`` = all 10,000).
        batch_size: minibatch size for training.
        mlp_hidden: hidden-layer widths of notebook 01's multilayer perceptron.
        mlp_epochs: training epochs of the MLP.
        cnn_filters: filters of each convolutional block of the CNN classifier.
        cnn_convs_per_block: convolutions per block (each block ends with 2x2 max-pooling).
        cnn_dense: width of the CNN's dense layer.
        cnn_batch_norm: BatchNorm after each convolution (better accuracy, slower on a CPU).
        cnn_augment: random shifts and horizontal flips while training the CNN.
        cnn_epochs: training epochs of the CNN.
        learning_rate: peak Adam learning rate of the MLP and the CNN (and of adversarial training
            unless ``at_learning_rate`` is set).
        attack_eval_size: test images attacked when a notebook measures robustness.
        pgd_steps: iterations of projected gradient descent in the attack notebooks.
        pgd_restarts: random restarts of PGD in the robustness report card.
        autoattack: budget of the AutoAttack-style evaluation (a name in
            :data:`course_utils.autoattack.VERSIONS`).
        at_pgd_steps: PGD steps per batch when adversarial training crafts its examples.
        gan_filters: channels of the DCGAN generator's 7×7 and 14×14 maps (the discriminator mirrors
            them: 14×14, then 7×7).
        gan_epochs: training epochs of the DCGAN (notebooks 03–05).
        gan_learning_rate: Adam's learning rate for both DCGAN networks (β1 = 0.5).
        gan_fid_images: images per set in the GAN's Fréchet distances (at most half the test set).
        cnn_schedule: the CNN's learning-rate schedule, ``"cosine"`` (from ``learning_rate`` down
            to 0) or ``"one_cycle"`` (up to ``learning_rate``, then down to 0); see
            :func:`course_utils.training.learning_rate_schedule`.
        at_epochs, at_learning_rate, at_schedule: the same for adversarial training (``None``: as
            the CNN).
        at_eps_ramp_epochs: epochs over which adversarial training's ε grows from 0 to its value.
        fast_at_method, fast_at_steps, fast_at_epochs: the course's *fast* robust model (notebook 08,
            :func:`course_utils.zoo.fast_robust_cnn`): its method (``"pgd"``, ``"fgsm_rs"``,
            ``"n_fgsm"``), PGD steps (``None``: one-step methods) and epochs (``None``: ``at_epochs``),
            with the adversarial-training schedule otherwise. Chosen by
            ``benchmarks/schedule_search.py``: the most robustness per second of training.
    """

    name: str
    description: str
    train_size: int | None
    test_size: int | None
    batch_size: int
    mlp_hidden: tuple[int, ...]
    mlp_epochs: int
    cnn_filters: tuple[int, ...]
    cnn_convs_per_block: int
    cnn_dense: int
    cnn_batch_norm: bool
    cnn_augment: bool
    cnn_epochs: int
    learning_rate: float
    attack_eval_size: int
    pgd_steps: int
    pgd_restarts: int
    autoattack: str
    at_pgd_steps: int
    gan_filters: tuple[int, int]
    gan_epochs: int
    gan_learning_rate: float
    gan_fid_images: int
    cnn_schedule: str = "cosine"
    at_epochs: int | None = None
    at_learning_rate: float | None = None
    at_schedule: str | None = None
    at_eps_ramp_epochs: float = 0.0
    fast_at_method: str = "fgsm_rs"
    fast_at_steps: int | None = None
    fast_at_epochs: int | None = None

    def cnn_settings(self) -> dict:
        """The settings that define the course's CNN under this profile (its cache key)."""
        return {
            "filters": list(self.cnn_filters),
            "convs_per_block": self.cnn_convs_per_block,
            "dense_units": self.cnn_dense,
            "batch_norm": self.cnn_batch_norm,
            "augment": self.cnn_augment,
            "epochs": self.cnn_epochs,
            "batch_size": self.batch_size,
            "learning_rate": self.learning_rate,
            "schedule": self.cnn_schedule,
            "train_size": self.train_size,
        }

    def cnn_schedule_settings(self) -> dict:
        """Keyword arguments of :func:`course_utils.training.train_classifier` for the CNN."""
        return {
            "epochs": self.cnn_epochs,
            "batch_size": self.batch_size,
            "learning_rate": self.learning_rate,
            "schedule": self.cnn_schedule,
        }

    def at_schedule_settings(self) -> dict:
        """Keyword arguments of :func:`course_utils.adversarial_training.train_adversarial` that set
        its schedule (epochs, batch size, learning rate and its schedule, the ε ramp-up)."""
        return {
            "epochs": self.at_epochs or self.cnn_epochs,
            "batch_size": self.batch_size,
            "learning_rate": self.at_learning_rate or self.learning_rate,
            "schedule": self.at_schedule or self.cnn_schedule,
            "eps_ramp_epochs": self.at_eps_ramp_epochs,
        }

    def at_settings(self, method: str) -> dict:
        """``method``'s settings in adversarial training under this profile: keyword arguments of
        :func:`course_utils.adversarial_training.train_adversarial` (all but ``eps``), with the
        profile's ``at_pgd_steps`` for the multi-step methods (``"pgd"``, ``"trades"``)."""
        steps = self.at_pgd_steps if method in ("pgd", "trades") else None
        return {"method": method, "steps": steps, **self.at_schedule_settings()}

    def fast_at_settings(self) -> dict:
        """The fast robust model's method, steps and schedule: keyword arguments of
        :func:`course_utils.adversarial_training.train_adversarial` (all but ``eps``)."""
        schedule = self.at_schedule_settings()
        if self.fast_at_epochs:
            schedule["epochs"] = self.fast_at_epochs
        return {"method": self.fast_at_method, "steps": self.fast_at_steps, **schedule}

    def gan_settings(self) -> dict:
        """The settings that define the course's DCGAN under this profile (its cache key)."""
        return {
            "filters": list(self.gan_filters),
            "epochs": self.gan_epochs,
            "learning_rate": self.gan_learning_rate,
            "batch_size": self.batch_size,
            "train_size": self.train_size,
            "fid_images": self.gan_fid_images,
        }

    def mlp_settings(self) -> dict:
        """The settings that define the course's MLP under this profile (its cache key)."""
        return {
            "hidden_units": list(self.mlp_hidden),
            "epochs": self.mlp_epochs,
            "batch_size": self.batch_size,
            "learning_rate": self.learning_rate,
            "train_size": self.train_size,
        }


PROFILES: dict[str, Profile] = {
    "quick": Profile(
        name="quick",
        description="smoke test: every notebook in under four minutes on a 2-core CPU (CI)",
        train_size=6_000,
        test_size=1_000,
        batch_size=128,
        mlp_hidden=(128,),
        mlp_epochs=2,
        cnn_filters=(16, 32),
        cnn_convs_per_block=1,
        cnn_dense=64,
        cnn_batch_norm=False,
        cnn_augment=False,
        cnn_epochs=2,
        learning_rate=2e-3,
        attack_eval_size=200,
        pgd_steps=5,
        pgd_restarts=2,
        autoattack="lesson",
        at_pgd_steps=2,
        gan_filters=(64, 32),
        gan_epochs=5,
        gan_learning_rate=5e-4,
        gan_fid_images=500,
    ),
    "standard": Profile(
        name="standard",
        description="the default (CPU or GPU): full data, meaningful results in minutes per notebook",
        train_size=None,
        test_size=None,
        batch_size=128,
        mlp_hidden=(256, 128),
        mlp_epochs=10,
        cnn_filters=(32, 64),
        cnn_convs_per_block=1,
        cnn_dense=128,
        cnn_batch_norm=False,
        cnn_augment=False,
        cnn_epochs=12,
        learning_rate=2e-3,
        attack_eval_size=1_000,
        pgd_steps=20,
        pgd_restarts=5,
        autoattack="course",
        at_pgd_steps=2,
        gan_filters=(64, 32),
        gan_epochs=6,  # benchmarks/gan_schedule_search.py: 6 epochs at 5e-4 beat 10 at 2e-4
        gan_learning_rate=5e-4,
        gan_fid_images=5_000,
        # Chosen by benchmarks/schedule_search.py on 1,000 held-out training images (README,
        # "Training schedules"): a one-cycle schedule reaches more in fewer epochs; PGD-2 gives the
        # most robustness per second of the methods measured (FGSM-RS, N-FGSM, PGD-2/3). The
        # natural CNN keeps its cosine schedule: one-cycle in 8 epochs matched it on the held-out
        # images but reached 92.29 % on the test set against 92.82 %.
        at_epochs=8,
        at_learning_rate=3e-3,
        at_schedule="one_cycle",
        at_eps_ramp_epochs=1,
        fast_at_method="pgd",
        fast_at_steps=2,
        fast_at_epochs=4,
    ),
    "full": Profile(
        name="full",
        description="opt-in, for a GPU: bigger CNN, augmentation, long schedules, paper-grade numbers",
        train_size=None,
        test_size=None,
        batch_size=128,
        mlp_hidden=(512, 256),
        mlp_epochs=30,
        cnn_filters=(32, 64),
        cnn_convs_per_block=2,
        cnn_dense=256,
        cnn_batch_norm=True,
        cnn_augment=True,
        cnn_epochs=30,
        learning_rate=2e-3,
        attack_eval_size=10_000,
        pgd_steps=50,
        pgd_restarts=10,
        autoattack="paper-without-fab",
        at_pgd_steps=10,
        gan_filters=(128, 64),
        gan_epochs=40,
        gan_learning_rate=2e-4,  # the DCGAN paper's rate, for the long schedule
        gan_fid_images=5_000,
    ),
}


def python_supported(version: tuple[int, ...] | None = None) -> bool:
    """True when ``version`` (default: the running Python's) is within :data:`SUPPORTED_PYTHON`."""
    import sys

    major_minor = tuple((version or sys.version_info)[:2])
    return SUPPORTED_PYTHON[0] <= major_minor <= SUPPORTED_PYTHON[1]


def supported_python_text() -> str:
    """The supported range in words, e.g. ``"Python 3.11 to 3.13"``."""
    (a, b), (c, d) = SUPPORTED_PYTHON
    return f"Python {a}.{b} to {c}.{d}"


def check_python() -> str:
    """Return the running Python's version if the course supports it.

    Raises:
        RuntimeError: outside :data:`SUPPORTED_PYTHON`, saying which versions to use.
    """
    import platform

    if not python_supported():
        raise RuntimeError(
            f"This is Python {platform.python_version()}; the course needs {supported_python_text()}. "
            "Create the environment with one of them, "
            "e.g. `make venv PYTHON=python3.12`."
        )
    return platform.python_version()


def gpu_available() -> bool:
    """True when TensorFlow sees at least one GPU."""
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def device_summary() -> str:
    """One line naming where TensorFlow will compute, e.g. ``"CPU only (2 cores)"``.

    Calling it early also gets TensorFlow's device start-up messages out of the way.
    """
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        return f"{len(gpus)} GPU(s): " + ", ".join(g.name for g in gpus)
    return f"CPU only ({os.cpu_count()} cores)"


def default_profile_name() -> str:
    """``$COURSE_PROFILE`` if set, else ``"standard"``, with or without a GPU: ``full`` has not been
    timed on a GPU yet, so nobody gets it without asking."""
    return os.environ.get(PROFILE_ENV_VAR, "").strip() or "standard"


def get_profile(name: str | None = None) -> Profile:
    """Return the profile called ``name`` (default: :func:`default_profile_name`).

    Raises:
        ValueError: for an unknown name, listing the valid ones.
    """
    chosen = default_profile_name() if name is None else name
    key = chosen.strip().lower()
    if key not in PROFILES:
        source = f" (from ${PROFILE_ENV_VAR})" if name is None else ""
        raise ValueError(
            f"Unknown course profile {chosen!r}{source}. Choose one of "
            f"{', '.join(PROFILES)}, e.g. `export {PROFILE_ENV_VAR}=standard`."
        )
    return PROFILES[key]


def use_onednn() -> None:
    """Ask TensorFlow for its oneDNN CPU kernels (``TF_ENABLE_ONEDNN_OPTS=1``), unless the variable is
    set already: 2-3x faster on AMD CPUs, where TensorFlow leaves them off by default (on Intel they
    are on). It must run before TensorFlow is imported; afterwards it changes nothing. Every notebook,
    benchmark and command of the course calls it (``make`` exports the variable too)."""
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")


def course_seed() -> int:
    """The notebooks' seed: ``$COURSE_SEED`` when set (to measure how much the figures move with the
    seed), else :data:`DEFAULT_SEED`.

    Raises:
        ValueError: when ``$COURSE_SEED`` is not a non-negative integer, saying what to write.
    """
    text = os.environ.get(SEED_ENV_VAR, "").strip()
    if not text:
        return DEFAULT_SEED
    if not text.isdigit():
        raise ValueError(
            f"${SEED_ENV_VAR} must be a non-negative integer such as 43, not {text!r} "
            f"(or unset it for the course's seed, {DEFAULT_SEED})."
        )
    return int(text)


def set_seed(seed: int = DEFAULT_SEED, *, deterministic_ops: bool = True) -> int:
    """Seed Python, NumPy, TensorFlow and Keras so that a run repeats exactly on the same machine.

    Args:
        seed: any non-negative integer.
        deterministic_ops: also ask TensorFlow for deterministic kernels
            (``tf.config.experimental.enable_op_determinism``), without which multi-threaded
            reductions may differ in the last bits between runs.

    Returns:
        The seed, so a notebook can print it.
    """
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}.")
    import keras
    import tensorflow as tf

    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - seeds legacy np.random users too
    keras.utils.set_random_seed(seed)
    if deterministic_ops:
        tf.config.experimental.enable_op_determinism()
    return seed


@contextlib.contextmanager
def seeded(seed: int = DEFAULT_SEED, *, deterministic_ops: bool = True):
    """Run a block as if just after ``set_seed(seed)``, then give the caller its random state back.

    What the block draws repeats exactly (weights, dropout masks, shuffles), and what the caller
    draws afterwards is what it would have drawn had the block never run: a library function that
    trains a model on a cache miss uses this so that a notebook's random numbers do not depend on
    whether the cache was warm. Restored on exit, error or not: Python's and NumPy's global
    generators, TensorFlow's global seed and its sequence of operation seeds, Keras' global seed
    and seed generator, and whether op determinism was on.

    Yields:
        The seed.
    """
    saved = _global_random_state()
    try:
        yield set_seed(seed, deterministic_ops=deterministic_ops)
    finally:
        _restore_global_random_state(saved)


def _global_random_state() -> dict:
    """Everything :func:`set_seed` changes, as objects :func:`_restore_global_random_state` takes.

    TensorFlow and Keras keep theirs in private attributes (TF 2.21, Keras 3.15):
    ``tests/test_config.py`` checks that restoring them restores the draws.
    """
    from keras.src.backend.common import global_state
    from keras.src.random import seed_generator
    from tensorflow.python.eager import context
    from tensorflow.python.framework import config as tf_config

    tf_context = context.context()
    return {
        "python": random.getstate(),
        "numpy": np.random.get_state(),  # noqa: NPY002 - the legacy global generator set_seed seeds
        "tf_seed": tf_context._seed,  # noqa: SLF001
        # set_seed replaces it (the old one stays intact); a process never seeded has none yet
        "tf_op_seeds": getattr(tf_context, "_rng", None),
        "keras_seed": global_state.get_global_attribute("global_random_seed"),
        "keras_generator": global_state.get_global_attribute(seed_generator.GLOBAL_SEED_GENERATOR),
        "op_determinism": tf_config.is_op_determinism_enabled(),  # public: enable only
    }


def _restore_global_random_state(saved: dict) -> None:
    from keras.src.backend.common import global_state
    from keras.src.random import seed_generator
    from tensorflow.python.eager import context
    from tensorflow.python.framework import config as tf_config

    random.setstate(saved["python"])
    np.random.set_state(saved["numpy"])  # noqa: NPY002
    tf_context = context.context()
    tf_context._seed = saved["tf_seed"]  # noqa: SLF001
    tf_context._rng = saved["tf_op_seeds"]  # noqa: SLF001
    global_state.set_global_attribute("global_random_seed", saved["keras_seed"])
    global_state.set_global_attribute(seed_generator.GLOBAL_SEED_GENERATOR, saved["keras_generator"])
    if saved["op_determinism"]:
        tf_config.enable_op_determinism()
    else:
        tf_config.disable_op_determinism()


#: A course notebook's file name: two digits, an optional letter for an optional appendix (``08a``),
#: an underscore and a name, e.g. ``08_adversarial_training.ipynb``, ``08a_choosing_a_schedule.ipynb``.
NOTEBOOK_NAME = re.compile(r"^(\d\d[a-z]?)_\w+\.ipynb$")


def course_notebooks(folder: Path | None = None) -> list[Path]:
    """The course's notebooks in ``folder`` (default: the checkout's ``notebooks/``), in course order:
    by number, an appendix right after its notebook (``08``, ``08a``, ``09``). Empty outside a
    checkout."""
    if folder is None:
        root = repo_root()
        if root is None:
            return []
        folder = root / "notebooks"
    return sorted(p for p in Path(folder).glob("*.ipynb") if NOTEBOOK_NAME.match(p.name))


def notebook_number(path_or_name) -> str:
    """``"08a"`` for ``08a_choosing_a_schedule.ipynb`` (or its stem, or a path to it).

    Raises:
        ValueError: for a name that is not a course notebook's.
    """
    name = Path(path_or_name).name
    match = NOTEBOOK_NAME.match(name if name.endswith(".ipynb") else f"{name}.ipynb")
    if not match:
        raise ValueError(f"{name!r} is not a course notebook's name (like 08_adversarial_training.ipynb).")
    return match.group(1)


def repo_root() -> Path | None:
    """The course checkout holding this package, or ``None`` when installed elsewhere."""
    root = Path(__file__).resolve().parent.parent
    if (root / "pyproject.toml").is_file() and (root / "notebooks").is_dir():
        return root
    return None


def cache_dir() -> Path:
    """Where trained models are cached: ``$COURSE_CACHE_DIR``, else ``<repo>/.cache/models``,
    else ``~/.cache/course_utils/models`` when the package is installed outside a checkout."""
    env = os.environ.get(CACHE_ENV_VAR, "").strip()
    if env:
        return Path(env).expanduser()
    root = repo_root()
    if root is not None:
        return root / ".cache" / "models"
    return Path.home() / ".cache" / "course_utils" / "models"


def evaluation_cache_dir() -> Path:
    """Where attack results are kept (:mod:`course_utils.evaluation_cache`): ``evaluations/`` in
    :func:`cache_dir`."""
    return cache_dir() / "evaluations"
