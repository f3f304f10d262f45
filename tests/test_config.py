import dataclasses
import subprocess
import sys

import numpy as np
import pytest

from course_utils import config


def test_three_profiles_with_growing_work():
    quick, standard, full = (config.get_profile(n) for n in ("quick", "standard", "full"))
    assert quick.train_size < 60_000 and standard.train_size is None
    assert quick.cnn_epochs < standard.cnn_epochs <= full.cnn_epochs
    assert quick.pgd_steps < standard.pgd_steps <= full.pgd_steps
    assert quick.attack_eval_size < standard.attack_eval_size <= full.attack_eval_size


def test_profiles_are_read_only():
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.get_profile("quick").cnn_epochs = 99


def test_unknown_profile_is_a_clear_error(monkeypatch):
    with pytest.raises(ValueError, match="quick, standard, full"):
        config.get_profile("fast")
    monkeypatch.setenv(config.PROFILE_ENV_VAR, "turbo")
    with pytest.raises(ValueError, match=r"turbo.*COURSE_PROFILE"):
        config.get_profile()


def test_profile_from_environment(monkeypatch):
    monkeypatch.setenv(config.PROFILE_ENV_VAR, " Quick ")
    assert config.get_profile().name == "quick"


def test_the_default_profile_is_standard_with_or_without_a_gpu(monkeypatch):
    """`full` has never been timed on a GPU: nobody gets it without asking for it."""
    monkeypatch.delenv(config.PROFILE_ENV_VAR, raising=False)
    for gpu in (True, False):
        monkeypatch.setattr(config, "gpu_available", lambda gpu=gpu: gpu)
        assert config.get_profile().name == "standard"
    monkeypatch.setenv(config.PROFILE_ENV_VAR, "full")
    assert config.get_profile().name == "full"


def test_settings_are_json_keys_that_change_with_the_profile():
    quick, standard = config.get_profile("quick"), config.get_profile("standard")
    assert quick.cnn_settings() != standard.cnn_settings()
    assert quick.mlp_settings() != standard.mlp_settings()


def test_set_seed_repeats_numpy_and_keras_draws():
    import keras

    draws = []
    for _ in range(2):
        config.set_seed(7)
        draws.append(
            (
                np.random.rand(3),  # noqa: NPY002 - set_seed must cover the legacy API
                np.asarray(keras.random.normal((3,))),
            )
        )
    np.testing.assert_array_equal(draws[0][0], draws[1][0])
    np.testing.assert_array_equal(draws[0][1], draws[1][1])


def _draw_from_every_global_generator():
    """One draw from each generator set_seed seeds, including Keras' initializers and TF's ops."""
    import random

    import keras
    import tensorflow as tf

    return [
        random.random(),
        np.random.rand(2),  # noqa: NPY002 - seeded must restore the legacy API too
        tf.random.uniform((2,)).numpy(),  # an operation seed from TF's global sequence
        np.asarray(keras.random.normal((2,))),  # Keras' global seed generator
        keras.layers.Dense(2, kernel_initializer="glorot_uniform")(np.ones((1, 2))).numpy(),
    ]


@pytest.mark.parametrize("determinism_before", [True, False])
def test_seeded_gives_the_caller_its_random_state_back(determinism_before):
    from tensorflow.python.framework import config as tf_config

    def run(with_block):
        config.set_seed(3, deterministic_ops=determinism_before)
        if not determinism_before:
            tf_config.disable_op_determinism()
        first = _draw_from_every_global_generator()  # the generators are in use before the block
        inside = None
        if with_block:
            with config.seeded(9) as seed:
                assert seed == 9
                inside = _draw_from_every_global_generator()
            assert tf_config.is_op_determinism_enabled() == determinism_before
        return first, _draw_from_every_global_generator(), inside

    first, after_without, _ = run(with_block=False)
    first_again, after_with, inside = run(with_block=True)
    for a, b in zip(first + after_without, first_again + after_with, strict=True):
        np.testing.assert_array_equal(a, b)
    config.set_seed(9)
    for a, b in zip(inside, _draw_from_every_global_generator(), strict=True):
        np.testing.assert_array_equal(a, b)  # inside the block: exactly as after set_seed(9)
    assert any(not np.array_equal(a, b) for a, b in zip(inside, after_with, strict=True))


def test_seeded_restores_the_random_state_after_an_error():
    config.set_seed(3)
    expected = _draw_from_every_global_generator()
    config.set_seed(3)
    with pytest.raises(RuntimeError, match="inside"), config.seeded(9):
        np.random.rand(5)  # noqa: NPY002
        raise RuntimeError("inside")
    for a, b in zip(expected, _draw_from_every_global_generator(), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_seeded_works_in_a_process_that_never_seeded_tensorflow():
    # TensorFlow creates its operation-seed generator only when first seeded: `python -m
    # course_utils pretrain` in a fresh process failed on the missing attribute.
    code = (
        "import numpy as np\n"
        "from course_utils import config\n"
        "with config.seeded(3):\n"
        "    inside = np.random.rand()\n"
        "with config.seeded(3):\n"
        "    assert np.random.rand() == inside\n"
        "import tensorflow as tf\n"
        "tf.random.uniform(())  # unseeded afterwards, as before\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("ok")


@pytest.mark.parametrize("bad", [-1, 1.5, "42"])
def test_set_seed_rejects_non_integers(bad):
    with pytest.raises(ValueError, match="non-negative integer"):
        config.set_seed(bad)


def test_cache_dir_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(config.CACHE_ENV_VAR, str(tmp_path))
    assert config.cache_dir() == tmp_path
    monkeypatch.delenv(config.CACHE_ENV_VAR)
    assert config.cache_dir() == config.repo_root() / ".cache" / "models"


def test_adversarial_schedule_follows_the_cnn_unless_set():
    standard = dataclasses.replace(
        config.get_profile("standard"), at_epochs=None, at_learning_rate=None, at_schedule=None
    )
    cnn, at = standard.cnn_schedule_settings(), standard.at_schedule_settings()
    assert {k: at[k] for k in cnn} == cnn and at["eps_ramp_epochs"] == standard.at_eps_ramp_epochs
    fast = dataclasses.replace(standard, at_epochs=5, at_learning_rate=3e-3, at_schedule="one_cycle")
    at = fast.at_schedule_settings()
    assert (at["epochs"], at["learning_rate"], at["schedule"]) == (5, 3e-3, "one_cycle")
    assert fast.cnn_schedule_settings() == cnn  # the natural CNN keeps its own
    assert "schedule" in standard.cnn_settings()  # part of the cache key


def test_fast_model_settings_follow_the_adversarial_schedule_unless_set():
    quick = config.get_profile("quick")
    fast = quick.fast_at_settings()
    assert {k: fast[k] for k in quick.at_schedule_settings()} == quick.at_schedule_settings()
    assert (fast["method"], fast["steps"]) == (quick.fast_at_method, quick.fast_at_steps)
    standard = config.get_profile("standard")
    fast = standard.fast_at_settings()
    assert fast["epochs"] == standard.fast_at_epochs < standard.at_schedule_settings()["epochs"]
    assert fast["learning_rate"] == standard.at_learning_rate and fast["schedule"] == standard.at_schedule


def test_check_python_names_the_supported_range(monkeypatch):
    import sys

    assert config.python_supported((3, 11)) and config.python_supported((3, 13))
    assert not config.python_supported((3, 10)) and not config.python_supported((3, 14))
    assert config.check_python() == ".".join(map(str, sys.version_info[:3]))
    monkeypatch.setattr(sys, "version_info", (3, 10, 4, "final", 0))
    with pytest.raises(RuntimeError, match=r"needs Python 3\.11 to 3\.13.*make venv PYTHON="):
        config.check_python()


def test_course_seed_reads_the_environment(monkeypatch):
    monkeypatch.delenv(config.SEED_ENV_VAR, raising=False)
    assert config.course_seed() == 42
    monkeypatch.setenv(config.SEED_ENV_VAR, " 43 ")
    assert config.course_seed() == 43
    for bad in ("-1", "4.5", "forty"):
        monkeypatch.setenv(config.SEED_ENV_VAR, bad)
        with pytest.raises(ValueError, match="COURSE_SEED must be a non-negative integer"):
            config.course_seed()


def test_course_notebooks_puts_an_appendix_after_its_notebook(tmp_path):
    names = ("09_b.ipynb", "08a_appendix.ipynb", "08_main.ipynb", "notes.ipynb", "8_x.ipynb", "10_c.ipynb")
    for name in names:
        (tmp_path / name).write_text("{}")
    names = [p.name for p in config.course_notebooks(tmp_path)]
    assert names == ["08_main.ipynb", "08a_appendix.ipynb", "09_b.ipynb", "10_c.ipynb"]
    assert config.notebook_number("08a_appendix.ipynb") == "08a"
    assert config.notebook_number(tmp_path / "10_c") == "10"
    with pytest.raises(ValueError, match="not a course notebook"):
        config.notebook_number("notes.ipynb")
