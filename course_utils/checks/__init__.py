"""Checks for the exercises where you write code: your function against the reference, in words.

Each ``check_*`` runs your function on a tiny case whose answer is known, compares it with the
course's reference implementation, prints what is right or what is wrong with a hint, and returns
``True`` when everything matches. It never shows you a bare traceback: if your function raises,
returns nothing or returns something of the wrong kind, the check says so and what usually causes it.

    from course_utils import checks
    checks.check_class_means(class_means)                 # notebook 00, exercise 1
    checks.check_line_gradient(loss, dw, db)              # notebook 01, exercise 1 (numbers by hand)
    checks.check_layer_sizes(cnn, shape, conv_params, features_params)  # notebook 02, exercise 1
    checks.check_gan_losses(my_d_loss, my_g_loss)         # notebook 03, exercise 1
    checks.check_flip_eps(flip_eps)                       # notebook 06, exercise 1
    checks.check_fgsm_l2(my_fgsm_l2)                      # notebook 06, exercise 2
    checks.check_l2_projection(project_l2_images)         # notebook 07, exercise 1
    checks.check_straight_through(straight_through_round)  # notebook 09, exercise 1 (BPDA)
    checks.check_noise_check(noise_beats_attack)          # notebook 09, exercise 2
    checks.check_gan_code_checker(check_gan_code)         # notebook 05, exercise 1
    checks.check_repaired_d_loss(repaired_d_loss)         # notebook 05, exercise 2
    checks.check_interval_dense(interval_dense)           # notebook 11, exercise 1
    checks.check_fgsm_rs_step(fgsm_rs_step)               # notebook 08, exercise 4
    checks.check_trades_loss(trades_loss)                 # notebook 08, exercise 5
    checks.check_transfer_rate(transfer_rate)             # notebook 10, exercise 1
    checks.check_gan_step(train_step)                     # notebook 04, exercise 1

Where you write numbers rather than a function (01, 02), leave them as ``None`` until you have them:
the check then says what it still needs.

The budgets in the tiny cases (ε = 0.7, not 1) are chosen so that a formula with ε in the wrong
place (ε², 1/ε, or no ε) gives a different answer from the right one.
"""

from course_utils.checks.attacks import (
    check_fgsm_l2,
    check_flip_eps,
    check_l2_projection,
    check_noise_check,
    check_straight_through,
)
from course_utils.checks.basics import (
    check_class_means,
    check_layer_sizes,
    check_line_gradient,
)
from course_utils.checks.defenses import (
    check_fgsm_rs_step,
    check_interval_dense,
    check_trades_loss,
)
from course_utils.checks.gans import (
    check_gan_code_checker,
    check_gan_losses,
    check_gan_step,
    check_repaired_d_loss,
)
from course_utils.checks.transfer import check_transfer_rate

__all__ = [
    "check_class_means",
    "check_fgsm_l2",
    "check_fgsm_rs_step",
    "check_flip_eps",
    "check_gan_code_checker",
    "check_gan_losses",
    "check_gan_step",
    "check_interval_dense",
    "check_l2_projection",
    "check_layer_sizes",
    "check_line_gradient",
    "check_noise_check",
    "check_repaired_d_loss",
    "check_straight_through",
    "check_trades_loss",
    "check_transfer_rate",
]
