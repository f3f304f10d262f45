import numpy as np
import pytest

from course_utils import evaluation, models


def test_confusion_matrix_known_answer():
    m = evaluation.confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 2, 0], num_classes=3)
    np.testing.assert_array_equal(m, [[1, 1, 0], [0, 1, 0], [1, 0, 2]])
    assert m.sum() == 6


def test_softmax_is_stable_and_normalised():
    p = evaluation.softmax(np.array([[1000.0, 1000.0], [0.0, np.log(3.0)]]))
    np.testing.assert_allclose(p, [[0.5, 0.5], [0.25, 0.75]], rtol=1e-6)


def test_most_confident_mistakes_order():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.05, 0.95]])
    y = np.array([1, 1, 1, 0])
    np.testing.assert_array_equal(evaluation.most_confident_mistakes(probs, y, k=5), [3, 0, 2])


def test_accuracy_and_batched_predictions_agree():
    model = models.build_mlp((4,))
    x = np.random.default_rng(0).random((10, 28, 28, 1), dtype=np.float32)
    logits = evaluation.predict_logits(model, x, batch_size=3)
    np.testing.assert_allclose(logits, np.asarray(model(x)), rtol=1e-5, atol=1e-6)
    y = logits.argmax(axis=1)
    assert evaluation.accuracy(model, x, y, batch_size=4) == 1.0
    with pytest.raises(ValueError, match="matching"):
        evaluation.accuracy(model, x, y[:-1])


# ---------------------------------------------------------------- robustness evaluation


def reachable_linear_model():
    """logits = 5 * (first three pixels) of a 2x2 image: every class is reachable inside [0, 1]."""
    import keras

    model = keras.Sequential([keras.Input((2, 2, 1)), keras.layers.Flatten(), keras.layers.Dense(3)])
    model.layers[-1].set_weights([np.eye(4, 3, dtype=np.float32) * 5.0, np.zeros(3, np.float32)])
    return model


def data_for(model, n=60, seed=0):
    x = np.random.default_rng(seed).uniform(0, 1, size=(n, 2, 2, 1)).astype(np.float32)
    return x, np.asarray(model(x)).argmax(axis=1)


def test_check_adversarial_accepts_valid_and_names_every_problem():
    x = np.full((3, 2, 2, 1), 0.5, dtype=np.float32)
    evaluation.check_adversarial(x, x + np.float32(0.1), eps=0.1)
    evaluation.check_adversarial(x, x + np.float32(0.05), eps=0.2, norm=2)
    bad = x.copy()
    bad[0] += 0.3
    bad[1, 0, 0, 0] = 1.5
    bad[2, 0, 0, 0] = np.nan
    with pytest.raises(ValueError) as err:
        evaluation.check_adversarial(x, bad, eps=0.1)
    message = str(err.value)
    assert "1 image(s) contain NaN" in message
    assert "outside [0.0, 1.0]" in message
    assert "2 perturbation(s) exceed eps=0.1" in message
    with pytest.raises(ValueError, match="float32"):
        evaluation.check_adversarial(x, x.astype(np.float64), eps=0.1)
    with pytest.raises(ValueError, match="shape"):
        evaluation.check_adversarial(x, x[:2], eps=0.1)


def test_robust_accuracy_clean_identity_and_validation():
    model = reachable_linear_model()
    x, y = data_for(model)
    y[:15] = (y[:15] + 1) % 3  # a quarter of the labels are wrong
    clean = evaluation.robust_accuracy(model, x, y, batch_size=7, progress=False)
    assert clean.accuracy == evaluation.accuracy(model, x, y) == 0.75
    assert clean.correct.sum() == 45
    same = evaluation.robust_accuracy(model, x, y, lambda xb, yb: xb, eps=0.1, batch_size=7, progress=False)
    np.testing.assert_array_equal(same.correct, clean.correct)
    with pytest.raises(ValueError, match="exceed eps"):
        evaluation.robust_accuracy(
            model, x, y, lambda xb, yb: np.clip(xb + 0.5, 0, 1), eps=0.1, progress=False
        )
    with pytest.raises(ValueError, match="matching"):
        evaluation.robust_accuracy(model, x, y[:-1], progress=False)


def test_report_card_invariants():
    import json

    model = reachable_linear_model()
    x, y = data_for(model)
    kwargs = dict(eps_list=[0.3, 0.05, 0.1], pgd_steps=5, restarts=3, seed=0, progress=False, batch_size=16)
    card = evaluation.report_card(model, x, y, **kwargs)
    assert (
        card.attacks() == ["FGSM", "PGD-5", "worst case, +PGD-5 x3"]
        and card.worst_case == "worst case, +PGD-5 x3"
    )
    assert card.clean.accuracy == 1.0
    for eps in (0.05, 0.1, 0.3):
        worst = card.accuracy(card.worst_case, eps)
        assert worst <= min(card.accuracy("FGSM", eps), card.accuracy("PGD-5", eps))
    eps_values, accs = card.curves()[card.worst_case]
    assert eps_values == [0.0, 0.05, 0.1, 0.3] and accs[0] == 1.0
    assert accs == sorted(accs, reverse=True)  # a bigger ball never helps the model here
    assert not any(f.raised for f in card.flags), str(card)
    assert len(card.flags) == 5 and "Gradient-masking checks" in str(card)
    json.dumps(card.to_dict())
    again = evaluation.report_card(model, x, y, **kwargs)
    assert [r.accuracy for r in again.rows] == [r.accuracy for r in card.rows]
    on_all = evaluation.report_card(model, x, y, restarts_on_survivors=False, masking_checks=False, **kwargs)
    assert on_all.flags == [] and not on_all.restarts_on_survivors
    with pytest.raises(ValueError, match="restarts"):
        evaluation.report_card(model, x, y, eps_list=[0.1], restarts=1)
    with pytest.raises(ValueError, match="positive"):
        evaluation.report_card(model, x, y, eps_list=[0.0, 0.1])


def test_masking_checks_catch_a_quantised_model():
    from course_utils import defenses

    model = defenses.quantized(reachable_linear_model(), levels=2)
    x, y = data_for(model, n=80)
    card = evaluation.report_card(model, x, y, eps_list=[0.1, 0.2], pgd_steps=5, restarts=2, progress=False)
    raised = {f.name for f in card.flags if f.raised}
    assert "zero or non-finite input gradients" in raised
    assert "accuracy not near zero at a very large eps" in raised
    assert "WARNING" in str(card)


def test_an_attack_that_helps_the_model_is_flagged():
    model = reachable_linear_model()
    x, y = data_for(model)
    clean = evaluation.robust_accuracy(model, x, y, progress=False)
    ones = np.ones(len(x), dtype=bool)
    rows = [
        evaluation.AttackResult("FGSM", 0.1, 0.5, ones, 0.0),
        evaluation.AttackResult("PGD-5", 0.1, 0.4, ones, 0.0),
        evaluation.AttackResult("FGSM", 0.2, 0.7, ones, 0.0),  # rises with eps
        evaluation.AttackResult("PGD-5", 0.2, 0.3, ones, 0.0),
    ]
    flags = evaluation.gradient_masking_checks(model, x, y, rows, clean, pgd_steps=5, progress=False)
    rising = next(f for f in flags if f.name == "accuracy not falling as eps grows")
    assert rising.raised and "FGSM: 50.0% at eps=0.1 but 70.0% at eps=0.2" in rising.detail
