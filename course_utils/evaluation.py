"""Measuring classifiers: batched predictions, accuracy with its confidence interval, confusion
matrices, confident mistakes; accuracy under an attack, with every adversarial batch checked.

The robustness report card and its gradient-masking checks are in :mod:`course_utils.robustness`;
the AutoAttack-style evaluation is in :mod:`course_utils.autoattack`."""

from __future__ import annotations

import dataclasses
import os
import statistics
import time

import numpy as np

from course_utils import attacks
from course_utils.attacks.core import forward
from course_utils.labels import class_ids


def predict_logits(model, x, *, batch_size: int = 1024) -> np.ndarray:
    """Logits ``(N, num_classes)`` of ``model`` on float32 images ``x`` ``(N, H, W, C)``,
    computed in inference mode (dropout off, BatchNorm using its moving averages). ``model`` may
    be a Keras model or any callable that maps a batch of images to logits, as for the attacks."""
    x = np.asarray(x, dtype=np.float32)
    out = [np.asarray(forward(model, x[i : i + batch_size])) for i in range(0, len(x), batch_size)]
    if not out:
        classes = getattr(model, "output_shape", (None, 0))[-1]
        return np.zeros((0, classes or 0), dtype=np.float32)
    return np.concatenate(out)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of ``(N, K)`` logits, computed stably (max subtracted)."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


def accuracy(model, x, y, *, batch_size: int = 1024) -> float:
    """Fraction of ``x`` whose arg-max logit equals the integer label in ``y``.

    Raises:
        ValueError: for labels :func:`course_utils.labels.class_ids` refuses (one-hot rows, a length
            other than ``len(x)``, classes the model does not have).
    """
    y = class_ids(y, n=len(x))  # before the forward pass: a wrong length fails at once
    logits = predict_logits(model, x, batch_size=batch_size)
    y = class_ids(y, n=len(x), num_classes=logits.shape[1])
    return float(np.mean(logits.argmax(axis=1) == y))


def confusion_matrix(y_true, y_pred, num_classes: int = 10) -> np.ndarray:
    """``(K, K)`` int64 counts: row = true class, column = predicted class."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true {y_true.shape} and y_pred {y_pred.shape} must have the same shape.")
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (y_true, y_pred), 1)
    return matrix


def most_confident_mistakes(probs, y_true, k: int = 10) -> np.ndarray:
    """Indices of the ``k`` misclassified examples with the highest predicted probability,
    most confident first.

    Args:
        probs: ``(N, K)`` class probabilities; y_true: ``(N,)`` integer labels.
    """
    probs, y_true = np.asarray(probs), np.asarray(y_true)
    pred = probs.argmax(axis=1)
    wrong = np.flatnonzero(pred != y_true)
    confidence = probs[wrong, pred[wrong]]
    return wrong[np.argsort(-confidence, kind="stable")[:k]]


# ------------------------------------------------------------------------ robust accuracy


def _progress(total: int, desc: str, enabled: bool | None):
    """A text progress bar on stderr that appears after a second and is erased when done.

    ``enabled=None`` shows it unless ``$TQDM_DISABLE`` is set (the headless builds set it, so that
    executed notebooks do not store progress bars).
    """
    from tqdm.std import tqdm

    if enabled is None:
        enabled = os.environ.get("TQDM_DISABLE", "").strip().lower() not in ("1", "true", "yes")
    return tqdm(
        total=total, desc=desc, disable=not enabled, leave=False, delay=1.0, mininterval=0.5, unit="img"
    )


def check_adversarial(x, x_adv, *, eps, norm="inf", clip_min=0.0, clip_max=1.0, atol=1e-6) -> None:
    """Check that ``x_adv`` is a valid adversarial batch for ``x`` (the checks of the MNIST
    challenge's ``run_attack.py``): same shape, float32, finite, every pixel in
    ``[clip_min, clip_max]`` and every perturbation ``‖x_adv − x‖ ≤ eps + atol`` in ``norm``.

    Raises:
        ValueError: listing every check that failed and how many images fail it.
    """
    x, x_adv = np.asarray(x), np.asarray(x_adv)
    problems = []
    if x_adv.shape != x.shape:
        raise ValueError(f"Invalid adversarial batch: shape {x_adv.shape}, expected {x.shape}.")
    if x_adv.dtype != np.float32:
        problems.append(f"dtype is {x_adv.dtype}, expected float32")
    finite = np.isfinite(x_adv.reshape(len(x_adv), -1)).all(axis=1)
    if not finite.all():
        problems.append(f"{int((~finite).sum())} image(s) contain NaN or infinite values")
    flat = x_adv.reshape(len(x_adv), -1)
    outside = ((flat < clip_min) | (flat > clip_max)).any(axis=1)
    if outside.any():
        problems.append(f"{int(outside.sum())} image(s) have pixels outside [{clip_min}, {clip_max}]")
    sizes = attacks.perturbation_norms(np.where(np.isfinite(x_adv), x_adv, x), x, norm)
    too_far = sizes > eps + atol
    if too_far.any():
        problems.append(
            f"{int(too_far.sum())} perturbation(s) exceed eps={eps} in the {norm} norm "
            f"(largest {sizes.max():.6g})"
        )
    if problems:
        raise ValueError("Invalid adversarial batch: " + "; ".join(problems) + ".")


def confidence_interval(correct: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval ``(low, high)`` for an accuracy of ``correct`` out of ``n`` images.

    An accuracy measured on a sample of test images is an estimate; the interval holds the
    accuracy on the whole population of such images with probability ``level`` (Wilson, 1927). It
    stays inside [0, 1] and works at 0 % and 100 %, unlike the textbook ``p ± 1.96 √(p(1−p)/n)``.
    At n = 1,000 and 75 % the 95 % interval is about ±2.7 points; at n = 10,000, ±0.85.
    """
    if n <= 0:
        return float("nan"), float("nan")
    if not 0 <= correct <= n:
        raise ValueError(f"correct must lie in [0, n={n}], got {correct}.")
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), e.g. 0.95, got {level}.")
    z = statistics.NormalDist().inv_cdf(0.5 + level / 2)
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    low = 0.0 if correct == 0 else max(0.0, centre - half)  # exact ends: no rounding residue
    high = 1.0 if correct == n else min(1.0, centre + half)
    return float(low), float(high)


def format_accuracy(accuracy: float, interval: tuple[float, float] | None = None, digits: int = 2) -> str:
    """``"75.20 % [72.4, 77.9]"``: an accuracy in percent (``digits`` decimals) and its interval, if any."""
    text = f"{100 * accuracy:.{digits}f} %"
    if interval is not None and np.isfinite(interval[0]):
        text += f" [{100 * interval[0]:.1f}, {100 * interval[1]:.1f}]"
    return text


@dataclasses.dataclass
class AttackResult:
    """Accuracy of a model under one attack.

    Attributes:
        name: e.g. ``"PGD-20"``; eps: the budget (0 for clean); accuracy: in [0, 1];
        correct: ``(N,)`` bool, image still classified correctly; seconds: wall time;
        x_adv: the attacked images, when :func:`robust_accuracy` was asked to keep them;
        kind: what the row measures, for code that looks rows up (``"clean"``, ``"fgsm"``, ``"pgd"``,
        ``"restarts"``, ``"apgd-ce"``, ``"apgd-t"``, ``"square"``, or ``""`` for anything else).
    """

    name: str
    eps: float
    accuracy: float
    correct: np.ndarray
    seconds: float
    kind: str = ""
    x_adv: np.ndarray | None = dataclasses.field(default=None, repr=False)

    @property
    def n(self) -> int:
        """Number of images the accuracy was measured on."""
        return len(self.correct)

    @property
    def interval(self) -> tuple[float, float]:
        """95 % Wilson interval of the accuracy (see :func:`confidence_interval`)."""
        return confidence_interval(int(np.sum(self.correct)), len(self.correct))

    def __str__(self) -> str:
        where = "" if self.eps == 0 else f" at eps={self.eps:g}"
        return f"{self.name}{where}: {format_accuracy(self.accuracy, self.interval)} of {self.n:,} images"


def robust_accuracy(
    model,
    x,
    y,
    attack=None,
    *,
    eps=None,
    norm="inf",
    clip_min=0.0,
    clip_max=1.0,
    batch_size: int = 512,
    name: str = "attack",
    kind: str = "",
    keep_adversarial: bool = False,
    progress: bool | None = None,
) -> AttackResult:
    """Accuracy of ``model`` on ``attack(x_batch, y_batch)``, batch by batch, with a progress bar.

    Args:
        model: maps images to logits.
        x: float32 images ``(N, H, W, C)``; y: integer labels ``(N,)``.
        attack: ``attack(x_batch, y_batch) -> x_adv_batch``, e.g.
            ``lambda xb, yb: attacks.pgd(model, xb, yb, eps=0.1, step_size=0.01, num_steps=20)``.
            ``None`` measures clean accuracy.
        eps, norm, clip_min, clip_max: when ``eps`` is given, every adversarial batch is checked
            with :func:`check_adversarial` before it is scored.
        batch_size: images per call of ``attack``.
        name: label of the result and the progress bar; kind: see :class:`AttackResult`.
        keep_adversarial: keep the attacked images in the result's ``x_adv`` ``(N, H, W, C)``.
        progress: show a progress bar (on stderr, erased when done); default: yes, unless
            ``$TQDM_DISABLE`` is set.
    """
    x, y = np.asarray(x, dtype=np.float32), np.asarray(y)
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} images but y has {len(y)} labels; pass matching arrays.")
    correct = np.zeros(len(x), dtype=bool)
    kept = np.empty_like(x) if keep_adversarial else None
    start_time = time.perf_counter()
    with _progress(len(x), name, progress) as bar:
        for start in range(0, len(x), batch_size):
            xb, yb = x[start : start + batch_size], y[start : start + batch_size]
            if attack is not None:
                x_adv = attack(xb, yb)
                if eps is not None:
                    check_adversarial(xb, x_adv, eps=eps, norm=norm, clip_min=clip_min, clip_max=clip_max)
                xb = np.asarray(x_adv, dtype=np.float32)
            if kept is not None:
                kept[start : start + len(xb)] = xb
            correct[start : start + len(xb)] = (
                predict_logits(model, xb, batch_size=batch_size).argmax(1) == yb
            )
            bar.update(len(xb))
    seconds = time.perf_counter() - start_time
    accuracy_value = float(correct.mean()) if len(correct) else float("nan")
    eps_value = 0.0 if eps is None else float(eps)
    return AttackResult(name, eps_value, accuracy_value, correct, seconds, kind, kept)
