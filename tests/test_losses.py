"""The DLR losses at their edges, where mutation testing (make mutation) found them untested: the fewest
classes each accepts, the 1e-12 that keeps a tie of the top logits from dividing by zero, and the
error that names the loss. (Their values, invariances and use by APGD: tests/test_apgd.py.)"""

import numpy as np
import pytest
import tensorflow as tf

from course_utils import attacks


def test_dlr_on_three_classes_the_fewest_it_accepts():
    z = tf.constant([[3.0, 1.0, 0.0], [0.0, 2.0, 1.0]])
    y = np.array([0, 0])
    # -(z_y - max_{j≠y} z_j) / (z_π1 - z_π3): -(3 - 1) / 3 and -(0 - 2) / 2.
    np.testing.assert_allclose(attacks.dlr_loss(y, z).numpy(), [-2 / 3, 1.0], rtol=1e-6)


def test_a_tie_of_the_top_logits_gives_a_huge_loss_of_the_margins_sign():
    # The three (four) largest logits are equal, so the denominator is the 1e-12 alone: the loss is
    # the margin divided by it, positive (misclassified) here, never a division by zero or a sign flip.
    z = tf.constant([[1.0, 1.0, 1.0, 0.0]])
    assert attacks.dlr_loss(np.array([3]), z).numpy()[0] == pytest.approx(1e12, rel=1e-3)
    z5 = tf.constant([[1.0, 1.0, 1.0, 1.0, 0.0]])
    targeted = attacks.targeted_dlr_loss(np.array([4]), np.array([0]), z5).numpy()[0]
    assert targeted == pytest.approx(1e12, rel=1e-3)  # (z_t - z_y) / (1e-12) with z_t - z_y = 1


def test_too_few_classes_is_an_error_naming_the_loss():
    with pytest.raises(ValueError, match="The DLR loss needs at least 3 classes; this model has 2"):
        attacks.dlr_loss(np.array([0]), tf.constant([[1.0, 0.0]]))
    with pytest.raises(ValueError, match="The targeted DLR loss needs at least 4 classes; this model has 3"):
        attacks.targeted_dlr_loss(np.array([0]), np.array([1]), tf.constant([[1.0, 0.0, 2.0]]))
