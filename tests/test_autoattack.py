"""The AutoAttack-style evaluation: stages on the survivors, a worst case that only goes down, valid
adversarial examples that really fool the model, its versions, L2 without Square, repeatability."""

import json

import numpy as np
import pytest

from course_utils import autoattack, config, defenses, evaluation

from .test_evaluation import data_for, reachable_linear_model


def test_stages_are_cumulative_and_the_examples_are_real():
    model = reachable_linear_model()
    x, y = data_for(model, n=80)
    y[:8] = (y[:8] + 1) % 3  # misclassified from the start
    result = autoattack.autoattack(model, x, y, eps=0.15, version="quick", seed=0, progress=False)
    assert [s.kind for s in result.stages] == ["apgd-ce", "apgd-t", "square"]
    accs = [result.clean.accuracy] + [s.accuracy for s in result.stages]
    assert accs == sorted(accs, reverse=True) and result.accuracy == accs[-1]
    evaluation.check_adversarial(x, result.x_adv, eps=0.15)
    pred = evaluation.predict_logits(model, result.x_adv).argmax(1)
    np.testing.assert_array_equal(pred == y, result.correct)  # every broken image is broken for real
    low, high = result.interval
    assert low <= result.accuracy <= high
    assert "robust accuracy (worst case over all attacks)" in str(result)
    summary = json.loads(json.dumps(result.to_dict()))
    assert summary["version"]["name"] == "quick" and len(summary["stages"]) == 3
    again = autoattack.autoattack(model, x, y, eps=0.15, version="quick", seed=0, progress=False)
    np.testing.assert_array_equal(again.x_adv, result.x_adv)


def test_square_breaks_what_hides_its_gradient():
    """On a quantised model the gradient attacks see a zero gradient; AutoAttack with its default
    settings still reaches the accuracy that BPDA (the straight-through twin) finds."""
    base = reachable_linear_model()
    x, y = data_for(base, n=120, seed=1)
    quantised = defenses.quantized(base, levels=4)
    twin = defenses.quantized(base, levels=4, straight_through=True)
    keep = evaluation.predict_logits(quantised, x).argmax(1) == y
    x, y = x[keep], y[keep]
    blind = autoattack.autoattack(quantised, x, y, eps=0.2, version="quick", progress=False)
    bpda = autoattack.autoattack(twin, x, y, eps=0.2, version="quick", progress=False)
    assert blind.stages[0].accuracy > bpda.accuracy + 0.2  # APGD-CE alone is fooled by the rounding
    assert abs(blind.accuracy - bpda.accuracy) <= 0.05


def test_l2_runs_without_square_and_says_so():
    model = reachable_linear_model()
    x, y = data_for(model, n=30)
    result = autoattack.autoattack(model, x, y, eps=0.3, norm=2, version="quick", progress=False)
    assert [s.kind for s in result.stages] == ["apgd-ce", "apgd-t"]
    assert "Square" in result.skipped and "not run" in str(result)
    evaluation.check_adversarial(x, result.x_adv, eps=0.3, norm=2)


def test_versions(monkeypatch):
    assert autoattack.get_version("full").square_queries == 5000
    assert autoattack.get_version("full").apgd_steps == 100 and autoattack.get_version("full").targets == 9
    monkeypatch.setenv(config.PROFILE_ENV_VAR, "quick")
    assert autoattack.get_version(None).name == "quick"
    for name in config.PROFILES:
        assert config.PROFILES[name].autoattack in autoattack.VERSIONS
    with pytest.raises(ValueError, match="quick, standard, full"):
        autoattack.get_version("plus")
