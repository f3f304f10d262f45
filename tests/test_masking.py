"""The gradient-masking checks: they fire on broken defenses, find rows by what they measure, and
never say "ok" about a check they could not run."""

import numpy as np

from course_utils import defenses, evaluation, masking, robustness

from .helpers import data_for, reachable_linear_model


def row(name, kind, eps, accuracy, n=1000):
    correct = np.arange(n) < round(accuracy * n)
    return evaluation.AttackResult(name, eps, accuracy, correct, 0.0, kind)


def checks(rows, n=60):
    model = reachable_linear_model()
    x, y = data_for(model, n=n)
    clean = evaluation.robust_accuracy(model, x, y, progress=False)
    flags = masking.gradient_masking_checks(model, x, y, rows, clean, pgd_steps=5, progress=False)
    return {f.name: f for f in flags}, clean


def test_masking_checks_catch_a_quantised_model():
    model = defenses.quantized(reachable_linear_model(), levels=2)
    x, y = data_for(model, n=80)
    card = robustness.report_card(model, x, y, eps_list=[0.1, 0.2], pgd_steps=5, restarts=2, progress=False)
    raised = {f.name for f in card.flags if f.raised}
    assert "zero or non-finite input gradients" in raised
    assert "accuracy not near zero at a very large eps" in raised
    assert "WARNING" in str(card)


def test_an_attack_that_helps_the_model_is_flagged():
    flags, _ = checks(
        [
            row("FGSM", "fgsm", 0.1, 0.5),
            row("PGD-5", "pgd", 0.1, 0.4),
            row("FGSM", "fgsm", 0.2, 0.7),  # rises with eps
            row("PGD-5", "pgd", 0.2, 0.3),
        ]
    )
    rising = flags["accuracy not falling as eps grows"]
    assert rising.raised and "FGSM: 50.0% at eps=0.1 but 70.0% at eps=0.2" in rising.detail


def test_rows_are_found_by_kind_not_by_name():
    """The old card looked its PGD rows up as f"PGD-{pgd_steps}": with other steps it found nothing
    and said "ok". FGSM beating PGD must be flagged whatever the rows are called."""
    flags, _ = checks([row("FGSM", "fgsm", 0.1, 0.3), row("PGD-40 (my run)", "pgd", 0.1, 0.6)])
    assert flags["FGSM stronger than PGD"].raised


def test_a_check_without_its_rows_says_not_run():
    flags, _ = checks([row("FGSM", "fgsm", 0.1, 0.3)])  # no PGD, no restarts, no Square
    for name in (
        "FGSM stronger than PGD",
        "random noise stronger than PGD",
        "black-box attack stronger than the white-box ones",
        "stronger attacks move the result (not converged)",
    ):
        assert flags[name].status == "not run" and not flags[name].raised, name
    assert "[not run]" in str(
        robustness.ReportCard("m", "inf", 60, evaluation.AttackResult("clean", 0, 1, np.ones(60, bool), 0),
                              [row("FGSM", "fgsm", 0.1, 0.3)], list(flags.values()), 0.0, 0.0, True)
    )  # fmt: skip


def test_black_box_beating_white_box_is_flagged():
    rows = [
        row("PGD-5", "pgd", 0.1, 0.62),
        row("worst case", "restarts", 0.1, 0.6),
        row("+Square", "square", 0.1, 0.4),
    ]
    assert checks(rows)[0]["black-box attack stronger than the white-box ones"].raised
    rows[-1] = row("+Square", "square", 0.1, 0.598)
    assert checks(rows)[0]["black-box attack stronger than the white-box ones"].status == "ok"


def test_not_converged_when_stronger_attacks_move_more_than_the_interval():
    # n = 1,000 at 75 %: the 95 % interval is about ±2.7 points.
    moved = [row("PGD-20", "pgd", 0.1, 0.75), row("+APGD-T", "apgd-t", 0.1, 0.71)]
    flag = checks(moved)[0]["stronger attacks move the result (not converged)"]
    assert flag.raised and "40 images broken that PGD-20 missed (4.0 points" in flag.detail
    close = [row("PGD-20", "pgd", 0.1, 0.75), row("+APGD-T", "apgd-t", 0.1, 0.74)]
    assert checks(close)[0]["stronger attacks move the result (not converged)"].status == "ok"
