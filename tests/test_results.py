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


def test_robustness_cost_of_a_file_with_known_ratios(tmp_path, monkeypatch):
    """A results file made up here: natural training 200 s for 10 epochs, PGD-AT 700 s for 5, PGD-AT
    costing 20 natural epochs; a third model trained but not evaluated. By hand: PGD-AT took 3.5x the
    wall-clock time, 2.0x the cost in natural steps, and one of its steps costs 4 natural ones."""
    natural = dict(clean=0.9, fgsm=0.2, pgd20=0.01, autoattack=0.0, worst_case=0.0, train_seconds=200.0,
                   epochs_run=10, intervals={"worst_case": [0.0, 0.01]})  # fmt: skip
    pgd_at = dict(clean=0.8, fgsm=0.7, pgd20=0.6, pgd50x10=0.58, worst_case=0.55, train_seconds=700.0,
                  epochs_run=5)  # fmt: skip
    raw = {"models": {"natural": natural, "pgd_at": pgd_at, "trades": {"train_seconds": 900.0}},
           "cost_in_natural_epochs": {"natural": 10, "pgd_at": 20}}  # fmt: skip
    (tmp_path / "at_standard").mkdir()
    (tmp_path / "at_standard" / "results.json").write_text(json.dumps(raw))
    monkeypatch.setattr(results, "results_dir", lambda: tmp_path)
    rows = {row["model"]: row for row in results.robustness_cost()}
    assert list(rows) == ["natural", "pgd_at"]
    assert [rows["pgd_at"][k] for k in ("time_vs_natural", "cost_vs_natural", "step_cost")] == [3.5, 2.0, 4.0]
    assert [rows["natural"][k] for k in ("time_vs_natural", "cost_vs_natural", "step_cost")] == [
        1.0,
        1.0,
        1.0,
    ]
    assert rows["pgd_at"]["epochs"] == 5 and rows["pgd_at"]["pgd50x10"] == 0.58
    assert rows["natural"]["pgd50x10"] is None and rows["pgd_at"]["autoattack"] is None
    assert rows["natural"]["worst_case_interval"] == (0.0, 0.01)
    assert rows["pgd_at"]["worst_case_interval"] == (None, None)
    del raw["cost_in_natural_epochs"]  # an interrupted benchmark: step costs not measured
    (tmp_path / "at_standard" / "results.json").write_text(json.dumps(raw))
    row = {row["model"]: row for row in results.robustness_cost()}["pgd_at"]
    assert (row["time_vs_natural"], row["cost_vs_natural"], row["step_cost"]) == (3.5, None, None)


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
