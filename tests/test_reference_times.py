"""One source for every time a user reads: course_utils/reference_times.json."""

import importlib.util
import json
from pathlib import Path

from course_utils import config, doctor, reference_times, zoo

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("reference_times_tool", ROOT / "tools" / "reference_times.py")
tool = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tool)


def test_the_readme_shows_the_files_times_and_totals():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert (
        tool.readme_with_times(readme, reference_times.load()) == readme
    )  # run `tools/reference_times.py readme`
    rows = [line for line in readme.splitlines() if tool.COURSE_MAP_ROW.match(line)]
    assert len(rows) == len(config.course_notebooks(ROOT / "notebooks"))
    assert tool.COURSE_TOTALS.search(readme) and tool.TRAINING_TOTALS.search(readme)


def test_a_changed_time_changes_the_readme():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    data = reference_times.load()
    data["notebooks"]["standard"]["08_adversarial_training"] = 3600
    changed = tool.readme_with_times(readme, data)
    (row,) = [line for line in changed.splitlines() if "(notebooks/08_adversarial_training.ipynb)" in line]
    assert row.endswith("| 60 min |")
    total = sum(data["notebooks"]["standard"].values())
    assert f"and {reference_times.duration(total)} in `standard`" in changed


def test_every_notebook_and_model_has_a_time_and_doctor_reads_the_same_file():
    data = reference_times.load()
    stems = {p.stem for p in config.course_notebooks(ROOT / "notebooks")}
    for profile in ("quick", "standard"):
        assert set(data["notebooks"][profile]) == stems
        assert set(data["training"][profile]) == set(zoo.MODELS)
        assert all(seconds > 0 for seconds in data["notebooks"][profile].values())
    assert doctor.REFERENCE_SECONDS == data["notebooks"] and doctor.TRAINING_SECONDS == data["training"]
    assert (
        doctor.REFERENCE_STEP_SECONDS == data["step_seconds"] and doctor.REFERENCE_MACHINE == data["machine"]
    )


def test_duration_says_seconds_below_90_and_whole_minutes_above():
    assert [reference_times.duration(s) for s in (7, 89.4, 90, 191, 1245, None)] == [
        "7 s",
        "89 s",
        "2 min",
        "3 min",
        "21 min",
        "-",
    ]


def test_the_tool_records_a_runs_timings_and_pretrains_output(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "timings.json").write_text(json.dumps({"profile": "quick", "seconds": {"00_setup_and_tour": 3.6}}))
    data = tool.record_notebooks([run], step_seconds=0.05)
    assert data["notebooks"]["quick"]["00_setup_and_tour"] == 4 and data["step_seconds"] == 0.05
    assert data["notebooks"]["standard"] == reference_times.load()["notebooks"]["standard"]  # untouched
    log = tmp_path / "pretrain.log"
    log.write_text(
        "profile quick: mlp\nEpoch 1/2\nmlp: trained in 12 s -> /x/mlp.keras\n"
        "cnn: loaded from the cache in 1 s\n"
    )
    data = tool.record_training("quick", log)
    assert data["training"]["quick"]["mlp"] == 12
    assert data["training"]["quick"]["cnn"] == reference_times.load()["training"]["quick"]["cnn"]
