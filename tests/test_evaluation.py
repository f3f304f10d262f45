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
