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

Conventions (the same for every attack):

* ``model`` maps float32 images ``(N, H, W, C)`` to **logits** ``(N, K)``. A model that ends in a
  softmax is rejected: its gradients vanish when the softmax saturates and the attack looks weak.
  Keras models are called with ``training=False``; any other TensorFlow callable works too.
* ``x`` lies in ``[clip_min, clip_max]`` (``[0, 1]`` by default) and ε is measured in that scale:
  ``eps=8/255``, not ``eps=8``.
* ``y`` holds integer class ids ``(N,)``; ``None`` attacks the model's own predictions. For
  :func:`fgsm` and :func:`pgd` with ``targeted=True`` they are the classes to reach.
* ``loss_fn(y_true, logits)`` follows the Keras convention; the default is the sparse categorical
  cross-entropy on logits. It may return one loss per example (preferred) or their mean.
* Every attack returns NumPy float32 images of ``x``'s shape, within ε of ``x`` and in the pixel
  range. Bad arguments raise a ``ValueError`` that says what to do.

Each attack's steps are compiled once per model, image shape and configuration (the batch
dimension is left free), so repeated calls and the last, smaller batch do not retrace them.
"""

from course_utils.attacks.apgd import apgd
from course_utils.attacks.core import (
    _COMPILED,
    NORMS,
    _norm_name,
    input_gradients,
    max_eps,
    perturbation_norms,
    random_perturbation,
)
from course_utils.attacks.losses import cross_entropy, dlr_loss, margin_loss, targeted_dlr_loss
from course_utils.attacks.pgd import fgsm, pgd, pgd_tensor
from course_utils.attacks.square import square

__all__ = [
    "NORMS",
    "apgd",
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
    "targeted_dlr_loss",
    "_COMPILED",
    "_norm_name",
]
