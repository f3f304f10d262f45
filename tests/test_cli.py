"""The command line, ``python -m course_utils``."""

import subprocess
import sys

import pytest

from course_utils import __main__ as cli


def test_pretrain_rejects_unknown_models_and_lists_the_valid_ones(capsys):
    assert cli.main(["pretrain", "--profile", "quick", "resnet"]) == 2
    err = capsys.readouterr().err
    assert "resnet" in err and "cnn_pgd" in err


@pytest.mark.slow
def test_pretrain_trains_into_the_cache_then_loads(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path))
    assert cli.main(["pretrain", "--profile", "quick", "mlp"]) == 0
    out = capsys.readouterr().out
    assert "mlp: trained" in out and "To train: mlp (about " in out  # announced with its reference time
    assert len(list(tmp_path.glob("mlp-*.keras"))) == 1
    assert cli.main(["pretrain", "--profile", "quick", "mlp"]) == 0
    out = capsys.readouterr().out
    assert "mlp: loaded from the cache" in out and "To train" not in out  # nothing left to train


def test_the_training_plan_line_adds_up_the_reference_times():
    from course_utils import doctor

    line = cli.training_plan_line("standard", ["cnn_pgd", "cnn_fast"])
    pgd, fast = (
        doctor.TRAINING_SECONDS["standard"]["cnn_pgd"],
        doctor.TRAINING_SECONDS["standard"]["cnn_fast"],
    )
    assert line.startswith(
        f"To train: cnn_pgd (about {pgd / 60:.0f} min), cnn_fast (about {fast / 60:.0f} min);"
    )
    assert f"about {(pgd + fast) / 60:.0f} min in all" in line
    mlp = doctor.TRAINING_SECONDS["quick"]["mlp"]
    assert cli.training_plan_line("quick", ["mlp"]).startswith(f"To train: mlp (about {mlp} s)")
    assert cli.training_plan_line("standard", []) == "" and cli.training_plan_line("full", ["cnn"]) == ""


@pytest.mark.slow
def test_python_dash_m_course_utils_shows_its_help():
    out = subprocess.run([sys.executable, "-m", "course_utils", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "pretrain" in out.stdout


def test_pretrain_help_names_every_zoo_model():
    from course_utils import zoo

    out = subprocess.run(
        [sys.executable, "-m", "course_utils", "pretrain", "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0
    assert all(name in out.stdout for name in zoo.MODELS)
