"""Reading the course's measured results back (course_utils.results)."""

import json

import pytest

from course_utils import config, results


def test_robustness_cost_rows_match_the_benchmark_file():
    rows = {row["model"]: row for row in results.robustness_cost()}
    raw = json.loads((results.results_dir() / "at_standard" / "results.json").read_text())
    assert set(rows) == {name for name, m in raw["models"].items() if "clean" in m} >= {"natural", "pgd_at"}
    assert rows["natural"]["time_vs_natural"] == 1.0
    for key, row in rows.items():
        assert row["clean"] == raw["models"][key]["clean"]
        assert 0 <= row["worst_case"] <= row["autoattack"] <= row["pgd20"] <= row["clean"] <= 1
        assert row["pgd50x10"] is None or row["worst_case"] <= row["pgd50x10"] <= row["pgd20"]
    pgd, natural = raw["models"]["pgd_at"], raw["models"]["natural"]
    assert rows["pgd_at"]["time_vs_natural"] == pgd["train_seconds"] / natural["train_seconds"]
    if "cost_in_natural_epochs" not in raw:  # step costs are measured last: an interrupted run has none
        assert rows["pgd_at"]["step_cost"] is None and rows["pgd_at"]["cost_vs_natural"] is None
        return
    # the cost relative to natural training: epochs x one step's cost, both measured
    assert rows["natural"]["step_cost"] == rows["natural"]["cost_vs_natural"] == 1.0
    row = rows["pgd_at"]
    assert row["step_cost"] * row["epochs"] / rows["natural"]["epochs"] == pytest.approx(
        row["cost_vs_natural"]
    )
    assert row["step_cost"] > 1


def test_outside_a_checkout_the_error_says_where_the_results_live(monkeypatch):
    monkeypatch.setattr(config, "repo_root", lambda: None)
    with pytest.raises(FileNotFoundError, match="benchmarks/results"):
        results.load("cnn_standard.json")
    monkeypatch.undo()
    with pytest.raises(FileNotFoundError, match="run the benchmark"):
        results.load("no_such_file.json")


def test_the_full_profiles_cost_note_quotes_the_estimate_file(monkeypatch):
    import json

    estimate = json.loads((config.repo_root() / "benchmarks/results/at_full/estimate.json").read_text())
    note = results.full_cost_note()
    assert f"projected at {round(estimate['total_hours'])} hours" in note
    assert estimate["machine"] in note and "COURSE_PROFILE=standard" in note
    monkeypatch.setattr(config, "repo_root", lambda: None)  # the package installed elsewhere
    assert "has not been timed on a GPU" in results.full_cost_note()
