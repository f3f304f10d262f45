"""Checks for the exercises where you write code: your function against the reference, in words.

Each ``check_*`` runs your function on a tiny case whose answer is known, compares it with the
course's reference implementation, prints what is right or what is wrong with a hint, and returns
``True`` when everything matches. It never shows you a bare traceback: if your function raises,
returns nothing or returns something of the wrong kind, the check says so and what usually causes it.

    from course_utils import checks
    checks.check_class_means(class_means)                 # notebook 00, exercise 1
    checks.check_line_gradient(loss, dw, db)              # notebook 01, exercise 1 (numbers by hand)
    checks.check_layer_sizes(cnn, shape, conv_params, features_params)  # notebook 02, exercise 1
    checks.check_smoothed_d_loss(smoothed_d_loss)         # notebook 03, exercise 1 (label smoothing)
    checks.check_optimal_value(optimal_value)             # notebook 03, exercise 2 (the game against D*)
    checks.check_gan_losses(my_d_loss, my_g_loss)         # both GAN losses from logits
    checks.check_flip_eps(flip_eps)                       # notebook 06, exercise 1
    checks.check_fgsm_l2(my_fgsm_l2)                      # notebook 06, exercise 2
    checks.check_l2_projection(project_l2_images)         # notebook 07, exercise 1
    checks.check_worst_of_restarts(worst_of_restarts)     # notebook 07, exercise 2
    checks.check_straight_through(straight_through_round)  # notebook 09, exercise 1 (BPDA)
    checks.check_noise_check(noise_beats_attack)          # notebook 09, exercise 2
    checks.check_gan_code_checker(check_gan_code)         # notebook 05, exercise 1
    checks.check_snippet_shapes(bn_inputs, dense_params)  # notebook 05, exercise 2 (numbers by hand)
    checks.check_repaired_d_loss(repaired_d_loss)         # the snippet's discriminator loss, repaired
    checks.check_interval_network(interval_network)       # notebook 11, exercise 1
    checks.check_clopper_pearson(clopper_pearson_lower)   # notebook 11, exercise 2a
    checks.check_certify_from_counts(certify_from_counts)  # notebook 11, exercise 2b
    checks.check_interval_dense(interval_dense)           # one dense layer's interval bounds
    checks.check_fgsm_rs_step(fgsm_rs_step)               # notebook 08, exercise 2
    checks.check_trades_loss(trades_loss)                 # notebook 08, exercise 3
    checks.check_mi_fgsm(mi_fgsm)                         # notebook 10, exercise 1 (a transfer attack)
    checks.check_random_search(random_search)             # notebook 10, exercise 2 (a score-based attack)
    checks.check_gan_step(train_step)                     # notebook 04, exercise 1
    checks.check_gradient_penalty(my_gradient_penalty)    # notebook 04, exercise 2 (WGAN-GP)

Where you write numbers rather than a function (01, 02), leave them as ``None`` until you have them:
the check then says what it still needs.

The budgets in the tiny cases (ε = 0.7, not 1) are chosen so that a formula with ε in the wrong
place (ε², 1/ε, or no ε) gives a different answer from the right one.
"""

from course_utils.checks.attacks import (
    check_fgsm_l2,
    check_flip_eps,
    check_l2_projection,
    check_worst_of_restarts,
)
from course_utils.checks.basics import (
    check_class_means,
    check_layer_sizes,
    check_line_gradient,
)
from course_utils.checks.certify import (
    check_certify_from_counts,
    check_clopper_pearson,
    check_interval_dense,
    check_interval_network,
)
from course_utils.checks.defenses import check_fgsm_rs_step, check_trades_loss
from course_utils.checks.evaluation import check_noise_check, check_straight_through
from course_utils.checks.gan_training import check_gan_step, check_gradient_penalty
from course_utils.checks.gans import (
    check_gan_code_checker,
    check_gan_losses,
    check_optimal_value,
    check_repaired_d_loss,
    check_smoothed_d_loss,
    check_snippet_shapes,
)
from course_utils.checks.transfer import check_mi_fgsm, check_random_search

__all__ = [
    "check_certify_from_counts",
    "check_class_means",
    "check_clopper_pearson",
    "check_fgsm_l2",
    "check_fgsm_rs_step",
    "check_flip_eps",
    "check_gan_code_checker",
    "check_gan_losses",
    "check_gan_step",
    "check_gradient_penalty",
    "check_interval_dense",
    "check_interval_network",
    "check_l2_projection",
    "check_layer_sizes",
    "check_line_gradient",
    "check_mi_fgsm",
    "check_noise_check",
    "check_optimal_value",
    "check_random_search",
    "check_repaired_d_loss",
    "check_smoothed_d_loss",
    "check_snippet_shapes",
    "check_straight_through",
    "check_trades_loss",
    "check_worst_of_restarts",
]
