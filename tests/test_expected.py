"""course_utils.expected: tolerances from their definitions, verdicts, the saved file and the check."""

import json
import math

import pytest

from course_utils import expected


def test_sampling_halfwidth_is_the_normal_95_percent_interval():
    assert expected.sampling_halfwidth(0.5, 100) == pytest.approx(1.959964 * 0.05)
    assert expected.sampling_halfwidth(0.9, 1000) == pytest.approx(1.959964 * math.sqrt(0.9 * 0.1 / 1000))
    # all correct on 200 images: the interval still admits an error (p taken as 0.5/200)
    assert expected.sampling_halfwidth(1.0, 200) == pytest.approx(1.959964 * math.sqrt(0.0025 * 0.9975 / 200))
    assert expected.sampling_halfwidth(0.3, None) == 0.0


def test_tolerance_is_the_largest_of_seed_spread_sampling_error_and_floor():
    # seed spread: 1.5 x the largest deviation from the reference (0.74 - 0.70)
    assert expected.tolerance([0.70, 0.74, 0.69], 0.70) == pytest.approx(0.06)
    # the sampling error of 100 images at 70 % (0.0898) beats a small spread
    assert expected.tolerance([0.70, 0.71], 0.70, n=100) == pytest.approx(1.959964 * math.sqrt(0.21 / 100))
    assert expected.tolerance([3.0, 3.0], 3.0, floor=0.5) == 0.5
    assert expected.tolerance([3.0], 3.0) == 0.0  # a deterministic figure must repeat exactly


def _reference(**figures):
    return {
        "reference_seed": 42,
        "machine": "test CPU",
        "date": "2026-12-06",
        "basis": "test",
        "figures": {
            k: {"label": k, "value": v, "tolerance": t, "fmt": ".1%"} for k, (v, t) in figures.items()
        },
    }


@pytest.fixture
def figures(tmp_path, monkeypatch):
    monkeypatch.setenv(expected.RESULTS_ENV_VAR, str(tmp_path))
    monkeypatch.delenv(expected.CHECK_ENV_VAR, raising=False)
    f = expected.Figures("06", "quick", 42)
    f.record("clean", 0.75, "clean accuracy", n=200)
    f.record("fgsm", 0.46, "FGSM accuracy")
    return f


def test_record_returns_the_value_and_refuses_nonsense(figures):
    assert figures.record("x", 0.5, "x") == 0.5
    for bad, match in ((75.0, "proportion in"), (float("nan"), "finite"), ("high", "not a number")):
        with pytest.raises(ValueError, match=match):
            figures.record("bad", bad, "bad")
    assert figures.record("fd", 11.2, "Fréchet distance", fmt=".2f") == 11.2  # not a percentage: any value


def test_verdicts(figures):
    rows = {f.key: v for f, _, v in figures.compare(_reference(clean=(0.76, 0.02), fgsm=(0.40, 0.05)))}
    assert rows == {"clean": "as expected", "fgsm": "higher"}  # 0.46 is 0.06 above 0.40, beyond 0.05
    rows = {f.key: v for f, _, v in figures.compare(_reference(clean=(0.80, 0.049), fgsm=(0.46, 0.0)))}
    assert rows == {"clean": "lower", "fgsm": "as expected"}
    rows = {f.key: v for f, _, v in figures.compare(_reference(clean=(0.75, 0.01), old=(0.5, 0.1)))}
    assert rows == {"clean": "as expected", "fgsm": "new", "old": "not measured"}


def test_report_prints_saves_and_fails_only_when_checking(figures, tmp_path, capsys):
    ref = _reference(clean=(0.75, 0.02), fgsm=(0.60, 0.05))
    figures.report(ref, check=False)
    out = capsys.readouterr().out
    assert "clean accuracy" in out and "75.0%" in out and "± 5.0 pt" in out and "lower" in out
    saved = json.loads((tmp_path / "quick-seed42" / "06.json").read_text())
    assert saved["figures"]["fgsm"]["value"] == 0.46 and saved["seed"] == 42
    with pytest.raises(AssertionError, match="fgsm: lower"):
        figures.report(ref, check=True)
    figures.report(_reference(clean=(0.75, 0.02), fgsm=(0.46, 0.0)), check=True)  # all within: passes
    assert "All 2 figures are within their tolerance" in capsys.readouterr().out


def test_a_stale_reference_fails_the_check(figures):
    with pytest.raises(AssertionError, match="fgsm: new"):
        figures.report(_reference(clean=(0.75, 0.02)), check=True)


def test_missing_reference_fails_the_check_in_quick_and_standard_only(figures, monkeypatch, capsys):
    monkeypatch.setattr(expected, "load_reference", lambda notebook, profile, root=None: None)
    figures.report(check=False)
    assert "No reference run of notebook 06" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="no quick reference"):
        figures.report(check=True)
    full = expected.Figures("06", "full", 42)
    full.record("clean", 0.9, "clean accuracy")
    full.report(check=True)  # nothing to compare with in full: said, not failed


def test_check_follows_the_environment(figures, monkeypatch):
    monkeypatch.setenv(expected.CHECK_ENV_VAR, "1")
    with pytest.raises(AssertionError):
        figures.report(_reference(clean=(0.2, 0.01), fgsm=(0.46, 0.01)))


def test_the_header_says_what_the_tolerance_is_in_plain_words():
    ref = {**_reference(), "seeds": [42, 43, 44, 45, 46]}
    text = expected._header("quick", ref)
    assert "seeds 42-46 spread" in text and "vary a lot" in text
    one = expected._header("standard", {**_reference(), "seeds": [42]})
    assert "spread over seeds was not measured" in one and "vary a lot" not in one
