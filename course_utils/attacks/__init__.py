"""Attacks on image classifiers: FGSM, PGD, APGD (with the DLR losses) and the Square attack.

* :func:`fgsm`, :func:`pgd`, :func:`pgd_tensor` (``attacks/pgd.py``): gradient steps of fixed size,
  each followed by a projection onto the ε-ball and the pixel range. Goodfellow, Shlens & Szegedy,
  "Explaining and harnessing adversarial examples", ICLR 2015; Madry, Makelov, Schmidt, Tsipras &
  Vladu, "Towards deep learning models resistant to adversarial attacks", ICLR 2018.
* :func:`apgd` (``attacks/apgd.py``): Auto-PGD, PGD with momentum and a step size that halves when
  progress stalls, on the cross-entropy or the scale-invariant DLR loss, untargeted or targeted.
  Croce & Hein, "Reliable evaluation of adversarial robustness with an ensemble of diverse
  parameter-free attacks", ICML 2020.
* :func:`square` (``attacks/square.py``): the Square attack, a random search that uses only the
  model's outputs, never a gradient. Andriushchenko, Croce, Flammarion & Hein, "Square Attack: a
  query-efficient black-box adversarial attack via random search", ECCV 2020.
* Losses (``attacks/losses.py``): :func:`cross_entropy`, :func:`margin_loss`, :func:`dlr_loss`,
  :func:`targeted_dlr_loss`.

Conventions (the same for every attack; :data:`PARAMETERS` lists them and ``tests/test_attack_api.py``
checks every attack's signature against it):

* ``attack(model, x, y=None, *, eps, ...)``: three positional arguments, everything else by keyword.
* ``model`` maps float32 images ``(N, H, W, C)`` to **logits** ``(N, K)``. A model that ends in a
  softmax is rejected: its gradients vanish when the softmax saturates and the attack looks weak.
  Keras models are called with ``training=False``; any other TensorFlow callable works too.
* ``x`` lies in ``[clip_min, clip_max]`` (``[0, 1]`` by default) and ε is measured in that scale:
  ``eps=8/255``, not ``eps=8``.
* ``y`` always holds the **true** integer class ids ``(N,)``; ``None`` attacks the model's own
  predictions. Labels are checked by :func:`course_utils.labels.class_ids` (the same errors as in
  evaluation and training: one-hot rows, wrong length, unknown classes).
* ``target`` says what to reach: ``None`` (the default) any wrong class; a class, or integer classes
  ``(N,)``, for :func:`fgsm`, :func:`pgd` and :func:`pgd_tensor` (success: classified as the target);
  ``"ranked"`` for :func:`apgd` (APGD-T: each of the classes the model ranks highest after the
  true one, in turn).
* ``loss``: ``"ce"`` (cross-entropy, the default), ``"margin"`` (Carlini-Wagner), ``"dlr"``
  (:func:`apgd` only), or a Keras-style function ``loss(y_true, logits)`` returning one value per
  example (or, for FGSM and PGD, their mean).
* ``num_steps`` counts a gradient attack's iterations; ``queries`` a black-box attack's model
  evaluations per image.
* ``seed``: ``None`` (fresh randomness), a non-negative integer, or a ``numpy.random.Generator``; the
  same seed gives the same images. (:func:`pgd_tensor`, which runs inside TensorFlow graphs, takes a
  ``keras.random.SeedGenerator`` instead of a NumPy generator.)
* Every attack returns NumPy float32 images of ``x``'s shape, within ε of ``x`` and in the pixel
  range (:func:`square_with_queries` returns them with the queries used, :func:`pgd_tensor` a
  tensor). Bad arguments raise a ``ValueError`` that says what to do.

Each attack's steps are compiled once per model, image shape and configuration (the batch
dimension is left free), so repeated calls and the last, smaller batch do not retrace them.
"""

from course_utils.attacks.apgd import apgd
from course_utils.attacks.core import (
    NORMS,
    compiled_kernels,
    input_gradients,
    max_eps,
    norm_name,
    perturbation_norms,
    random_perturbation,
)
from course_utils.attacks.losses import cross_entropy, dlr_loss, margin_loss, targeted_dlr_loss
from course_utils.attacks.pgd import fgsm, pgd, pgd_tensor
from course_utils.attacks.square import square, square_with_queries

# Every keyword an attack may take, with its one meaning (the test of the conventions reads this).
PARAMETERS = {
    "eps": "radius of the threat model's ball, in the pixel scale",
    "norm": "'inf' or 2",
    "loss": "'ce', 'margin', 'dlr' (apgd) or a function loss(y_true, logits)",
    "target": "None (any wrong class), classes to reach, or 'ranked' (apgd's APGD-T)",
    "num_targets": "how many ranked classes APGD-T tries",
    "num_steps": "iterations of a gradient attack",
    "step_size": "length of one step of PGD in norm",
    "queries": "model evaluations per image of a black-box attack",
    "restarts": "runs from new random starts",
    "rand_init": "start from a random point of the ball",
    "early_stop": "stop an image at its first adversarial iterate",
    "p_init": "share of the image Square's first windows cover",
    "rescale_schedule": "stretch Square's window schedule to the query budget (AutoAttack: False)",
    "seed": "None, an int or a numpy Generator (pgd_tensor: a keras SeedGenerator)",
    "batch_size": "images attacked together",
    "clip_min": "smallest valid pixel value",
    "clip_max": "largest valid pixel value",
}
ATTACKS = ("fgsm", "pgd", "pgd_tensor", "apgd", "square", "square_with_queries")

__all__ = [
    "ATTACKS",
    "PARAMETERS",
    "NORMS",
    "apgd",
    "compiled_kernels",
    "cross_entropy",
    "dlr_loss",
    "fgsm",
    "input_gradients",
    "margin_loss",
    "max_eps",
    "perturbation_norms",
    "pgd",
    "pgd_tensor",
    "random_perturbation",
    "square",
    "square_with_queries",
    "targeted_dlr_loss",
    "norm_name",
]
