"""Tests for course_utils.doctor, the environment check behind ``python -m course_utils doctor``."""

import io
import os
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest

from course_utils import __main__ as cli
from course_utils import config, data, doctor, training, zoo

ROOT = Path(__file__).resolve().parents[1]
needs_data = pytest.mark.skipif(
    not data.DEBIAN_DIR.is_dir(), reason="Debian's dataset-fashion-mnist not installed"
)


@needs_data
def test_a_ready_machine_reports_ready(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "1")
    out = io.StringIO()
    assert doctor.run("quick", probe=False, out=out) == 0
    text = out.getvalue()
    assert "Ready." in text and "Fashion-MNIST in" in text and "quick" in text
    assert str(tmp_path) in text


def test_missing_data_is_a_problem_that_says_what_to_do(tmp_path, monkeypatch):
    def not_found(*args, **kwargs):
        raise data.DatasetNotFoundError(
            "Fashion-MNIST not found. Looked in: /nowhere\nFix: apt-get install ..."
        )

    monkeypatch.setattr(data, "locate_fashion_mnist", not_found)
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path))
    out = io.StringIO()
    assert doctor.run("quick", probe=False, out=out) == 1
    assert "/nowhere" in out.getvalue() and "problem(s)" in out.getvalue()


def test_unknown_profile_and_missing_onednn_are_reported(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    out = io.StringIO()
    assert doctor.run("fast", probe=False, out=out) == 1
    text = out.getvalue()
    assert "quick, standard, full" in text and "export TF_ENABLE_ONEDNN_OPTS=1" in text


def test_estimates_scale_with_speed_and_cover_every_notebook():
    slow = doctor.estimate_minutes("standard", 2.0)
    fast = doctor.estimate_minutes("standard", 1.0)
    assert all(slow[nb][0] == pytest.approx(2 * fast[nb][0]) for nb in fast)
    assert doctor.estimate_minutes("full", 1.0) is None
    notebooks = {p.stem for p in doctor.repo_notebooks()}
    for profile in ("quick", "standard"):  # a new notebook needs its measured reference time
        assert notebooks <= set(doctor.REFERENCE_SECONDS[profile]), notebooks - set(
            doctor.REFERENCE_SECONDS[profile]
        )


def test_speed_probe_is_the_median_of_the_rounds_medians(monkeypatch):
    """A stand-in model whose steps take scripted times on a fake clock: a 100 s warm-up step that
    must not count, then rounds of (1, 2, 9), (4, 3, 50), (5, 7, 8) s. The medians are 2, 4, 7 and the
    probe must answer their median, 4 s (the mean of the medians is 4.33, the median of all nine 5,
    their mean 9.7). Then the real probe on the course's CNN, which must simply run."""
    steps = [100.0, 1.0, 2.0, 9.0, 4.0, 3.0, 50.0, 5.0, 7.0, 8.0]
    now = [0.0]

    class Scripted:
        def train_on_batch(self, x, y):
            now[0] += steps.pop(0)

    with monkeypatch.context() as patch:
        patch.setattr(doctor, "time", types.SimpleNamespace(perf_counter=lambda: now[0]))
        patch.setattr(zoo, "cnn_architecture", lambda profile, seed: Scripted())
        patch.setattr(training, "compile_classifier", lambda model: model)
        assert doctor.step_seconds(batches=3, rounds=3) == 4.0
    assert steps == []  # one warm-up step and 3 x 3 timed ones
    doctor.step_seconds(batches=2, rounds=2)  # the real thing runs (its time is the machine's)


def test_speed_sentence_says_faster_or_slower_without_a_bare_factor():
    ref = doctor.REFERENCE_STEP_SECONDS
    assert "2.0x faster" in doctor.speed_sentence(ref / 2)
    assert "3.0x slower" in doctor.speed_sentence(ref * 3)
    assert "about as fast" in doctor.speed_sentence(ref * 1.05)


def test_cli_runs_doctor(monkeypatch, tmp_path, capsys):
    """The command's exit code is the report's verdict. With the data found (a stand-in for the
    lookup) and oneDNN on, nothing is wrong: exit 0 and "Ready."; with the data missing, exactly one
    problem: exit 1 and "1 problem(s)."."""
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "1")
    monkeypatch.setattr(data, "locate_fashion_mnist", lambda download=False: tmp_path / "fashion")
    code = cli.main(["doctor", "--profile", "quick", "--no-speed"])
    out = capsys.readouterr().out
    assert out.startswith("Course environment check") and f"Fashion-MNIST in {tmp_path / 'fashion'}" in out
    assert (code, out.rstrip().splitlines()[-1]) == (0, "Ready."), out

    def not_found(download=False):
        raise data.DatasetNotFoundError("Fashion-MNIST not found. Looked in: /nowhere")

    monkeypatch.setattr(data, "locate_fashion_mnist", not_found)
    code = cli.main(["doctor", "--profile", "quick", "--no-speed"])
    out = capsys.readouterr().out
    assert (code, out.rstrip().splitlines()[-1]) == (1, "1 problem(s)."), out
    assert config.get_profile("quick").name == "quick"


def test_cli_doctor_fails_on_an_unknown_profile(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path))
    assert cli.main(["doctor", "--profile", "no_such_profile", "--no-speed"]) == 1
    out = capsys.readouterr().out
    assert "no_such_profile" in out and "problem(s)" in out


def test_tensorflow_build_names_the_installed_package(monkeypatch):
    from importlib import metadata

    installed = {"tensorflow-cpu"}

    def version(name):
        if name not in installed:
            raise metadata.PackageNotFoundError(name)
        return "2.21.0"

    monkeypatch.setattr(metadata, "version", version)
    assert doctor.tensorflow_build() == "CPU-only build"
    installed = {"tensorflow"}
    assert doctor.tensorflow_build() == "full build"


def test_the_cache_line_and_the_estimates_follow_what_is_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(doctor, "step_seconds", lambda: doctor.REFERENCE_STEP_SECONDS)  # no probe
    profile = config.get_profile("standard")
    line = str(doctor.check_cache(profile))
    assert "standard models cached: none yet" in line and "not yet: mlp, cnn, cnn_pgd" in line
    out = io.StringIO()
    doctor.run("standard", out=out)
    text = out.getvalue()
    cached = doctor.REFERENCE_SECONDS["standard"]["08_adversarial_training"]
    first = doctor.TRAINING_SECONDS["standard"]["cnn_pgd"] + doctor.TRAINING_SECONDS["standard"]["cnn_fast"]
    assert f"{(cached + first) / 60:6.1f}  (trains cnn_pgd, cnn_fast first)" in text
    # with every model cached, the notebook's time is the one without training
    monkeypatch.setattr(doctor, "cached_models", lambda p: dict.fromkeys(zoo.MODELS, True))
    out = io.StringIO()
    doctor.run("standard", out=out)
    assert re.search(rf"08_adversarial_training +{cached / 60:.1f}\n", out.getvalue())
    assert "pretrain" not in out.getvalue()  # nothing to train: no advice to train
    assert set().union(*doctor.NOTEBOOK_MODELS.values()) <= set(zoo.MODELS)
    # with only the CNN cached, the DCGANs' training is charged to 03, the first notebook to load them
    monkeypatch.setattr(doctor, "cached_models", lambda p: {m: m == "cnn" for m in zoo.MODELS})
    out = io.StringIO()
    doctor.run("standard", out=out)
    assert re.search(
        r"03_generative_adversarial_networks .*\(trains dcgan, dcgan_conditional first\)", out.getvalue()
    )
    missing = len(zoo.MODELS) - 1
    assert f"Train the {missing} missing model(s) ahead of time: python -m course_utils pretrain" in (
        out.getvalue()
    )


def test_each_missing_model_is_trained_once_by_the_first_notebook_that_loads_it():
    for profile in ("quick", "standard"):
        assert set(doctor.TRAINING_SECONDS[profile]) == set(zoo.MODELS)  # a time for every model
        plan = doctor.training_plan(profile)
        trained = [m for models in plan.values() for m in models]
        assert sorted(trained) == sorted(zoo.MODELS)  # every model once, from an empty cache
    plan = doctor.training_plan("standard")
    assert plan["02_convolutional_classifiers"] == ["cnn"] and plan["08_adversarial_training"] == [
        "cnn_pgd",
        "cnn_fast",
    ]
    assert plan["09_evaluating_robustness"] == [] and plan["05_the_classic_tf1_gan_snippet"] == []
    only = doctor.training_plan("standard", missing=["dcgan"])  # the rest cached
    assert {nb: m for nb, m in only.items() if m} == {"03_generative_adversarial_networks": ["dcgan"]}
    assert doctor.first_run_seconds("standard", "08_adversarial_training") == (
        doctor.TRAINING_SECONDS["standard"]["cnn_pgd"] + doctor.TRAINING_SECONDS["standard"]["cnn_fast"]
    )
    assert doctor.first_run_seconds("full", "08_adversarial_training") == 0


def _models_loaded_by(notebook) -> set[str]:
    """The cached models a notebook's code cells load, read from its ``zoo.<function>`` calls."""
    import json

    by_function = {"mlp": "mlp", "robust_cnn": "cnn_pgd", "fast_robust_cnn": "cnn_fast", "ibp_mlp": "mlp_ibp",
                   "noise_cnn": "cnn_noise"}  # fmt: skip
    found = set()
    for cell in json.loads(notebook.read_text())["cells"]:
        if cell["cell_type"] != "code":
            continue
        # calls, zoo.cnn(profile, seed=SEED), and references, {"PGD-AT": zoo.robust_cnn, ...}
        for function, args in re.findall(r"zoo\.(\w+)(\([^)]*\))?", "".join(cell["source"])):
            if function == "cnn":
                found.add("cnn_next_seed" if "SEED + 1" in args else "cnn")
            elif function == "dcgan":
                kind = (
                    "conditional" if "conditional=True" in args else "sn" if "spectral_norm" in args else ""
                )
                found.add(f"dcgan_{kind}" if kind else "dcgan")
            elif function in by_function:
                found.add(by_function[function])
    return found


def test_notebook_models_lists_what_each_notebook_loads():
    """The doctor's estimates are only right if NOTEBOOK_MODELS follows the notebooks (05 and 10-12
    once listed only part of what they load)."""
    notebooks = doctor.repo_notebooks()
    assert len(notebooks) >= 13
    for notebook in notebooks:
        assert _models_loaded_by(notebook) == set(doctor.NOTEBOOK_MODELS.get(notebook.stem, ())), (
            notebook.stem
        )


@pytest.mark.slow
def test_doctor_holds_back_tensorflows_start_up_lines_but_not_a_failure(tmp_path):
    """Started as a student would (no TF_CPP_MIN_LOG_LEVEL), the report is all doctor prints."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["COURSE_CACHE_DIR"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "course_utils", "doctor", "--no-speed"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert done.stdout.startswith("Course environment check"), done.stdout[:300]
    assert done.stderr == "", done.stderr[:300]
    # what C++ code writes inside the block comes out if the block fails
    script = (
        "import os\nfrom course_utils import doctor\n"
        "with doctor.start_up_lines_held_back():\n"
        "    os.write(2, b'held line\\n')\n"
        "    raise SystemExit(3)\n"
    )
    failed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT)
    assert failed.returncode == 3 and failed.stderr == "held line\n"
    quiet = script.replace("    raise SystemExit(3)\n", "")
    passed = subprocess.run([sys.executable, "-c", quiet], capture_output=True, text=True, cwd=ROOT)
    assert passed.returncode == 0 and passed.stderr == ""
