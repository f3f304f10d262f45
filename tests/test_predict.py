"""course_utils.predict: every guess, well formed or not, gets a sentence and never an exception."""

import pytest

from course_utils import predict


def test_number_within_close_is_well_judged():
    text = predict.number_verdict(20, 17.9, unit="%", close=5, what="accuracy under FGSM")
    assert text.startswith("Accuracy under FGSM: 17.9 %") and "within 5 points" in text


def test_number_outside_close_says_how_far_and_which_way():
    assert "42.1 points lower than your prediction of 60" in predict.number_verdict(
        60, 17.9, unit="%", close=5
    )
    assert "2.5 s higher" in predict.number_verdict(1, 3.5, unit="s", close=1)


@pytest.mark.parametrize("guess", [None, ...])
def test_no_guess_still_shows_the_result(guess):
    text = predict.number_verdict(guess, 17.9, unit="%", close=5)
    assert "No prediction written down" in text and "17.9 %" in text


@pytest.mark.parametrize("guess", ["forty", [40], True, float("nan")])
def test_malformed_guess_is_explained(guess):
    text = predict.number_verdict(guess, 17.9, unit="%", close=5)
    assert "is not a number" in text and "my_prediction = 40" in text and "17.9 %" in text


def test_a_proportion_given_for_a_percentage_gets_a_hint():
    assert "Did you mean 60 %" in predict.number_verdict(0.6, 17.9, unit="%", close=5)
    assert "Did you mean" not in predict.number_verdict(0.6, 0.5, unit="%", close=5)


def test_choice_verdicts():
    options = ("noise", "fgsm", "same")
    assert predict.choice_verdict(" FGSM ", "fgsm", options).endswith("Right.")
    assert "Not what you expected" in predict.choice_verdict("noise", "fgsm", options)
    assert "not one of the options" in predict.choice_verdict("fgsn", "fgsm", options)
    assert "not one of the options" in predict.choice_verdict(3, "fgsm", options)
    assert "No prediction written down" in predict.choice_verdict(None, "fgsm", options)
    with pytest.raises(
        ValueError, match="not among the options"
    ):  # the notebook's mistake, not the student's
        predict.choice_verdict("fgsm", "pgd", options)


def test_reveal_prints(capsys):
    predict.reveal_number(50, 48.0, unit="%", close=5)
    predict.reveal_choice("a", "a", ("a", "b"))
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and "well judged" in out[0] and out[1].endswith("Right.")
