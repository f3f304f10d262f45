"""Certified robustness: proofs that no perturbation within a budget changes a prediction
(notebook 11), where an attack (notebooks 06-09) can only show that one does.

Two methods, each in a module of its own:

* :mod:`course_utils.certify.ibp`: interval bound propagation (Gowal et al., 2018), a deterministic
  L∞ certificate for a network, and training with its loss.
* :mod:`course_utils.certify.smoothing`: randomized smoothing (Cohen, Rosenfeld & Kolter, 2019), an
  L2 certificate that holds with probability ``1 − α`` for a classifier's vote under Gaussian noise,
  with an attack on the smoothed classifier for the matching upper bound.

A certificate gives a *lower* bound on robust accuracy, an attack an *upper* bound; the true
robust accuracy lies between them.
"""

from course_utils.certify import ibp, smoothing

__all__ = ["ibp", "smoothing"]
