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
    assert "mlp: trained" in capsys.readouterr().out
    assert len(list(tmp_path.glob("mlp-*.keras"))) == 1
    assert cli.main(["pretrain", "--profile", "quick", "mlp"]) == 0
    assert "mlp: loaded from the cache" in capsys.readouterr().out


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
