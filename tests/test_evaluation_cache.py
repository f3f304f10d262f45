"""The evaluation cache: a report card computed once gives the same rows when loaded, attacks
nothing the second time, and starts afresh when the model, the data, a setting or the code change."""

import dataclasses

import numpy as np
import pytest

from course_utils import attacks, config, defenses, evaluation_cache, robustness

from .helpers import data_for, reachable_linear_model

KWARGS = dict(eps_list=[0.05, 0.2], pgd_steps=5, restarts=2, seed=0, progress=False, batch_size=16)


def _same_rows(a, b):
    assert [(r.name, r.eps, r.kind, r.accuracy) for r in a.rows] == [
        (r.name, r.eps, r.kind, r.accuracy) for r in b.rows
    ]
    for ra, rb in zip(a.rows, b.rows, strict=True):
        np.testing.assert_array_equal(ra.correct, rb.correct)


def test_a_cached_card_equals_the_computed_one_and_attacks_nothing(tmp_path, monkeypatch):
    model = reachable_linear_model()
    x, y = data_for(model)
    fresh = robustness.report_card(model, x, y, **KWARGS)
    first = robustness.report_card(model, x, y, cache=tmp_path, **KWARGS)
    assert first.cached_stages == [] and len(list(tmp_path.glob("report_card-*.npz"))) == 2  # one per eps
    _same_rows(fresh, first)
    assert 0 < fresh.accuracy(fresh.worst_case, 0.2) < 1  # the attacks do change something here

    def no_attacks(*args, **kwargs):
        raise AssertionError("attacked although the rows were cached")

    with monkeypatch.context() as patch:
        patch.setattr(attacks, "pgd", no_attacks)
        patch.setattr(attacks, "fgsm", no_attacks)
        loaded = robustness.report_card(model, x, y, cache=tmp_path, masking_checks=False, **KWARGS)
    assert loaded.cached_stages == [(0.05, "white-box"), (0.2, "white-box")]
    _same_rows(fresh, loaded)
    assert loaded.restart_seconds == pytest.approx(first.restart_seconds)
    assert [r.seconds for r in loaded.rows] == pytest.approx([r.seconds for r in first.rows])
    assert "Rows loaded from the evaluation cache: white-box at eps=0.05" in str(loaded) and str(
        tmp_path
    ) in str(loaded)
    assert "evaluation cache" not in str(first)
    # a card at one of the budgets reuses that budget's rows: another notebook's card, same model
    one = robustness.report_card(model, x, y, cache=tmp_path, **{**KWARGS, "eps_list": [0.2]})
    assert one.cached_eps == [0.2]


@pytest.mark.slow
def test_autoattack_rows_are_cached_with_their_version(tmp_path):
    model = reachable_linear_model()
    x, y = data_for(model, n=40)
    kwargs = {**KWARGS, "eps_list": [0.2], "masking_checks": False}
    white_box = robustness.report_card(model, x, y, cache=tmp_path, **kwargs)
    first = robustness.report_card(model, x, y, cache=tmp_path, autoattack="lesson", **kwargs)
    assert first.worst_case.startswith("+Square")
    assert first.cached_stages == [(0.2, "white-box")]  # the white-box rows of the card before
    _same_rows(white_box, dataclasses.replace(first, rows=first.rows[:3]))
    loaded = robustness.report_card(model, x, y, cache=tmp_path, autoattack="lesson", **kwargs)
    assert loaded.cached_stages == [(0.2, "white-box"), (0.2, "AutoAttack")]
    _same_rows(first, loaded)
    fresh = robustness.report_card(model, x, y, autoattack="lesson", **kwargs)
    _same_rows(fresh, loaded)
    other = robustness.report_card(model, x, y, cache=tmp_path, autoattack="course", **kwargs)
    assert other.cached_stages == [(0.2, "white-box")]  # another AutoAttack version: attacked again


def test_the_key_changes_with_the_model_the_data_the_settings_and_the_code(tmp_path, monkeypatch):
    model = reachable_linear_model()
    x, y = data_for(model)
    base = evaluation_cache.key(model, x, y, {"eps": 0.1})
    assert evaluation_cache.key(model, x.copy(), y.copy(), {"eps": 0.1}) == base  # same values, same key
    assert evaluation_cache.key(model, x, y, {"eps": 0.2}) != base
    assert evaluation_cache.key(model, x[1:], y[1:], {"eps": 0.1}) != base
    shifted = x.copy()
    shifted[0, 0, 0, 0] += 1e-3
    assert evaluation_cache.key(model, shifted, y, {"eps": 0.1}) != base
    other = reachable_linear_model()
    weights = other.get_weights()
    weights[0][0, 0] += 1e-6
    other.set_weights(weights)
    assert evaluation_cache.key(other, x, y, {"eps": 0.1}) != base
    # the same weights in a model that computes something else (a quantising layer in front)
    assert evaluation_cache.key(defenses.quantized(model, 4), x, y, {"eps": 0.1}) != base
    assert evaluation_cache.key(defenses.quantized(model, 8), x, y, {"eps": 0.1}) != evaluation_cache.key(
        defenses.quantized(model, 4), x, y, {"eps": 0.1}
    )
    # the package's source: a copy of it with one byte changed
    copy = tmp_path / "course_utils"
    copy.mkdir()
    for path in evaluation_cache._PACKAGE.glob("*.py"):
        (copy / path.name).write_bytes(path.read_bytes())
    monkeypatch.setattr(evaluation_cache, "_PACKAGE", copy)
    assert evaluation_cache.key(model, x, y, {"eps": 0.1}) != base  # attacks/ is missing from the copy
    same_copy = evaluation_cache.key(model, x, y, {"eps": 0.1})
    (copy / "attacks_note.py").write_text("# one more module\n")
    assert evaluation_cache.key(model, x, y, {"eps": 0.1}) != same_copy


def test_a_damaged_entry_is_recomputed(tmp_path):
    model = reachable_linear_model()
    x, y = data_for(model)
    kwargs = {**KWARGS, "eps_list": [0.2], "masking_checks": False}
    first = robustness.report_card(model, x, y, cache=tmp_path, **kwargs)
    (entry,) = tmp_path.glob("report_card-*.npz")
    entry.write_bytes(b"not an npz file")
    again = robustness.report_card(model, x, y, cache=tmp_path, **kwargs)
    assert again.cached_stages == []
    _same_rows(first, again)
    assert robustness.report_card(model, x, y, cache=tmp_path, **kwargs).cached_eps == [0.2]  # rewritten
    assert not list(tmp_path.glob(".*tmp*")), "temporary files left behind"


def test_models_and_losses_the_cache_cannot_identify_are_refused(tmp_path):
    import keras

    model = reachable_linear_model()
    x, y = data_for(model)
    with_lambda = keras.Sequential([keras.Input((2, 2, 1)), keras.layers.Lambda(lambda v: v * 0.5), model])
    with pytest.raises(evaluation_cache.UncacheableModelError, match="Lambda layers.*cache=False"):
        robustness.report_card(with_lambda, x, y, cache=tmp_path, **KWARGS)
    with pytest.raises(evaluation_cache.UncacheableModelError, match="keras.Model.*cache=False"):
        robustness.report_card(lambda v: model(v), x, y, cache=tmp_path, **KWARGS)

    def my_loss(labels, logits):
        return attacks.cross_entropy(labels, logits)

    with pytest.raises(evaluation_cache.UncacheableModelError, match="not one of course_utils'"):
        robustness.report_card(model, x, y, cache=tmp_path, loss=my_loss, **KWARGS)
    card = robustness.report_card(model, x, y, cache=tmp_path, loss=attacks.margin_loss, **KWARGS)
    assert card.cached_stages == []
    assert list(tmp_path.iterdir()), "a course_utils loss is cached"


def test_cache_true_uses_the_evaluation_folder_of_the_model_cache(tmp_path, monkeypatch):
    monkeypatch.setenv(config.CACHE_ENV_VAR, str(tmp_path / "models"))
    assert config.evaluation_cache_dir() == tmp_path / "models" / "evaluations"
    model = reachable_linear_model()
    x, y = data_for(model)
    card = robustness.report_card(model, x, y, cache=True, **{**KWARGS, "eps_list": [0.1]})
    assert card.cache_dir == str(tmp_path / "models" / "evaluations")
    assert len(list((tmp_path / "models" / "evaluations").glob("report_card-*.npz"))) == 1
