"""The report card: each worst-case row the union of what scripted attacks broke, Wilson intervals on
every row, AutoAttack rows on the survivors (as autoattack.autoattack finds them), repeatable with a
seed, and its bad inputs."""

import json

import numpy as np
import pytest

from course_utils import attacks, autoattack, defenses, robustness

from .helpers import breaker, coded_images, data_for, reachable_linear_model, threshold_model, wilson


def test_report_card_invariants():
    model = reachable_linear_model()
    x, y = data_for(model)
    kwargs = dict(eps_list=[0.3, 0.05, 0.1], pgd_steps=5, restarts=3, seed=0, progress=False, batch_size=16)
    card = robustness.report_card(model, x, y, **kwargs)
    assert card.attacks() == ["FGSM", "PGD-5", "worst case, +PGD-5 x3"]
    assert card.worst_case == "worst case, +PGD-5 x3"
    assert [r.kind for r in card.rows[:3]] == ["fgsm", "pgd", "restarts"]
    assert card.clean.accuracy == 1.0
    for row in card.rows:  # every row's interval is the Wilson interval of its own count, over all images
        np.testing.assert_allclose(row.interval, wilson(int(row.correct.sum()), len(x)), rtol=1e-9)
    eps_values, accs = card.curves()[card.worst_case]
    assert eps_values == [0.0, 0.05, 0.1, 0.3] and accs[0] == 1.0
    assert accs == sorted(accs, reverse=True)  # a bigger ball never helps the model here
    assert not any(f.raised for f in card.flags), str(card)
    statuses = {f.name: f.status for f in card.flags}
    assert statuses["black-box attack stronger than the white-box ones"] == "not run"  # no Square row
    assert len(card.flags) == 7 and "Gradient-masking checks" in str(card) and "[95 % intervals]" in str(card)
    summary = json.loads(json.dumps(card.to_dict()))
    assert all(len(row["interval"]) == 2 and row["kind"] for row in summary["rows"])
    again = robustness.report_card(model, x, y, **kwargs)
    assert [r.accuracy for r in again.rows] == [r.accuracy for r in card.rows]
    on_all = robustness.report_card(model, x, y, restarts_on_survivors=False, masking_checks=False, **kwargs)
    assert on_all.flags == [] and not on_all.restarts_on_survivors


@pytest.mark.slow
def test_report_card_with_autoattack_rows():
    model = reachable_linear_model()
    x, y = data_for(model, n=80)
    card = robustness.report_card(
        model, x, y, eps_list=[0.1, 0.2], pgd_steps=5, restarts=2, autoattack="lesson", progress=False
    )
    assert [r.kind for r in card.rows if r.eps == 0.1] == [
        "fgsm", "pgd", "restarts", "apgd-ce", "apgd-t", "square"
    ]  # fmt: skip
    assert card.worst_case.startswith("+Square") and card.autoattack == "lesson"
    for eps in (0.1, 0.2):  # the same cascade as autoattack.autoattack on the restarts row's survivors
        restarts, *rows = [r for r in card.rows if r.eps == eps][2:]
        alive = restarts.correct
        alone = autoattack.autoattack(model, x[alive], y[alive], eps=eps, version="lesson", seed=2,
                                      progress=False)  # fmt: skip
        for row, stage in zip(rows, alone.stages, strict=True):
            np.testing.assert_array_equal(row.correct[alive], stage.correct)
            assert not row.correct[~alive].any()
    statuses = {f.name: f.status for f in card.flags}
    assert "not run" not in statuses.values(), str(card)
    assert not any(f.raised for f in card.flags), str(card)


def test_each_worst_case_row_is_the_union_of_what_the_attacks_broke(monkeypatch):
    """Scripted attacks on numbered images (tests/test_autoattack.py): FGSM breaks {0, 1}, PGD {1, 2},
    the restarts {2, 4}, APGD-CE {5}, APGD-T {0, 2}, Square {6}; image 3 is misclassified clean.
    FGSM and PGD rows are each attack alone; from the restarts on, each row is the union of every
    image broken so far, and each of those attacks sees only the survivors. Pins the card against a
    worst case that forgets an attack, "only the last attack counts", and AutoAttack rows that
    start again from the clean survivors."""
    seen = {name: [] for name in ("FGSM", "PGD", "restarts", "A", "B", "C")}
    fgsm, pgd, restart = (breaker(victims, 0.6, seen[name]) for victims, name in
                          (({0, 1}, "FGSM"), ({1, 2}, "PGD"), ({2, 4}, "restarts")))  # fmt: skip
    monkeypatch.setattr(attacks, "fgsm", lambda model, xb, yb, **kwargs: fgsm(xb, yb))
    monkeypatch.setattr(
        attacks,
        "pgd",
        lambda model, xb, yb, *, restarts, **kwargs: (pgd if restarts == 1 else restart)(xb, yb),
    )
    stages = [
        ("A", "apgd-ce", breaker({5}, 0.6, seen["A"])),
        ("B", "apgd-t", breaker({0, 2}, 0.6, seen["B"])),
        ("C", "square", breaker({6}, 0.6, seen["C"])),
    ]
    monkeypatch.setattr(autoattack, "stage_attacks", lambda model, **kwargs: (stages, {}))
    x, y = coded_images(7), np.array([0, 0, 0, 1, 0, 0, 0])
    card = robustness.report_card(
        threshold_model, x, y, eps_list=[0.25], pgd_steps=5, restarts=2, autoattack="lesson",
        masking_checks=False, progress=False,
    )  # fmt: skip
    survivors = {
        "FGSM": [2, 4, 5, 6],
        "PGD-5": [0, 4, 5, 6],
        "worst case, +PGD-5 x2": [5, 6],
        "+A": [6],
        "+B": [6],
        "+C": [],
    }
    assert {r.name: np.flatnonzero(r.correct).tolist() for r in card.rows} == survivors
    assert [r.kind for r in card.rows] == ["fgsm", "pgd", "restarts", "apgd-ce", "apgd-t", "square"]
    assert seen == {"FGSM": [0, 1, 2, 3, 4, 5, 6], "PGD": [0, 1, 2, 3, 4, 5, 6], "restarts": [4, 5, 6],
                    "A": [5, 6], "B": [6], "C": [6]}  # fmt: skip
    assert card.worst(0.25).accuracy == 0.0 and card.accuracy("worst case, +PGD-5 x2", 0.25) == 2 / 7
    np.testing.assert_allclose(card.interval("worst case, +PGD-5 x2", 0.25), wilson(2, 7), rtol=1e-9)
    np.testing.assert_allclose(card.interval("FGSM", 0.25), wilson(4, 7), rtol=1e-9)


def test_report_card_refuses_bad_arguments():
    model = reachable_linear_model()
    x, y = data_for(model)
    with pytest.raises(ValueError, match="restarts"):
        robustness.report_card(model, x, y, eps_list=[0.1], restarts=1)
    with pytest.raises(ValueError, match="positive"):
        robustness.report_card(model, x, y, eps_list=[0.0, 0.1])
    with pytest.raises(ValueError, match="Unknown AutoAttack version"):
        robustness.report_card(model, x, y, eps_list=[0.1], autoattack="strong")


def test_autoattack_rows_expose_a_quantised_model():
    """Rounding hides the gradient from FGSM and PGD; the Square attack does not need it."""
    model = defenses.quantized(reachable_linear_model(), levels=2)
    x, y = data_for(model, n=80)
    card = robustness.report_card(
        model, x, y, eps_list=[0.3], pgd_steps=5, restarts=2, autoattack="lesson", progress=False
    )
    pgd, worst = card.accuracy("PGD-5", 0.3), card.accuracy(card.worst_case, 0.3)
    assert worst < pgd - 0.2, str(card)
    raised = {f.name for f in card.flags if f.raised}
    assert {
        "black-box attack stronger than the white-box ones",
        "zero or non-finite input gradients",
    } <= raised


@pytest.mark.slow
def test_autoattack_at_some_budgets_only():
    model = reachable_linear_model()
    x, y = data_for(model, n=60)
    card = robustness.report_card(
        model, x, y, eps_list=[0.1, 0.2], pgd_steps=5, restarts=2, autoattack="lesson", autoattack_eps=[0.2],
        masking_checks=False, progress=False,
    )  # fmt: skip
    assert card.worst(0.1).kind == "restarts" and card.worst(0.2).kind == "square"
    assert "+APGD-CE" in str(card)  # rows measured at some budgets only print as "-" at the others
    eps_values, accs = card.worst_case_curve()
    assert eps_values == [0.0, 0.1, 0.2] and accs == sorted(accs, reverse=True)
    assert accs[2] == card.worst(0.2).accuracy
    with pytest.raises(ValueError, match="autoattack_eps"):
        robustness.report_card(model, x, y, eps_list=[0.1], autoattack="lesson", autoattack_eps=[0.3])
    with pytest.raises(KeyError, match="No rows at eps=0.3"):
        card.worst(0.3)


@pytest.mark.slow
def test_report_card_of_a_plain_function():
    """The attacks accept any callable that returns logits; so must the card (it used to crash)."""
    model = reachable_linear_model()
    x, y = data_for(model, n=40)

    def plain(images):  # no `training` argument, not a Keras model
        return model(images)

    card = robustness.report_card(
        plain, x, y, eps_list=[0.1], pgd_steps=3, restarts=2, autoattack="lesson", progress=False
    )
    keras_card = robustness.report_card(
        model, x, y, eps_list=[0.1], pgd_steps=3, restarts=2, autoattack="lesson", progress=False
    )
    assert [r.accuracy for r in card.rows] == [r.accuracy for r in keras_card.rows]
