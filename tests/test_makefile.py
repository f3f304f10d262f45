"""The Makefile's help and its JupyterLab targets, read from `make` itself."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def make(*args: str, env: dict | None = None) -> str:
    result = subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **(env or {})},
    )
    return result.stdout


def phony_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    (line,) = re.findall(r"^\.PHONY:(.*)$", text, flags=re.M)
    return set(line.split())


def test_make_help_lists_every_target_once():
    listed = re.findall(r"^make ([\w-]+)", make("help"), flags=re.M)
    assert len(listed) == len(set(listed))
    assert set(listed) == phony_targets()


def test_make_lab_passes_allow_root_only_to_root_and_takes_extra_options():
    # -n prints the commands without running them; the venv stamp is up to date in a test run.
    as_user = make("-n", "lab", "lab-instructor", env={"LAB_ARGS": ""})
    assert "--allow-root" not in as_user
    lab_lines = [line for line in make("-n", "lab").splitlines() if "jupyter lab" in line]
    assert len(lab_lines) == 1
    assert ("--allow-root" in lab_lines[0]) == (os.getuid() == 0)
    custom = make("-n", "lab-instructor", env={"LAB_ARGS": "--port=8899"})
    assert "jupyter lab --port=8899 notebooks" in custom
