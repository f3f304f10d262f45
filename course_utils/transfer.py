"""Black-box attacks (notebook 10): adversarial examples crafted on one model and tried on another
(transfer), and accuracy as a function of the number of queries a score-based attack may ask.

A transfer attack needs no access to the target at all: the attacker trains (or downloads) a
*source* model of their own, attacks it white-box and sends the result to the target. A
score-based attack (:func:`course_utils.attacks.square`) queries the target's scores and never
sees a gradient; its cost is counted in queries.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from course_utils import evaluation


@dataclasses.dataclass(frozen=True)
class TransferMatrix:
    """Transfer rates between models: ``rates[i, j]`` is the share of the images that target
    ``targets[j]`` classifies correctly when clean, that it misclassifies after the attack on source
    ``sources[i]``. With a model in both lists, its entry is its white-box success rate.

    Attributes:
        sources, targets: model names (rows, columns).
        rates: ``(len(sources), len(targets))`` transfer success rates in [0, 1].
        counts: ``(len(targets),)`` images each target classified correctly when clean (the
            denominators).
        fooled: ``(len(sources), len(targets), N)`` booleans, per image: clean correct and adversarial
            wrong on that target.
    """

    sources: tuple[str, ...]
    targets: tuple[str, ...]
    rates: np.ndarray
    counts: np.ndarray
    fooled: np.ndarray

    def interval(self, source: str, target: str, level: float = 0.95) -> tuple[float, float]:
        """Wilson interval of one rate (its sample is the target's correctly classified images)."""
        i, j = self.sources.index(source), self.targets.index(target)
        return evaluation.confidence_interval(int(self.fooled[i, j].sum()), int(self.counts[j]), level)

    def __str__(self) -> str:
        width = max(12, *(len(t) + 2 for t in self.targets))
        corner = "source \\ target"
        head = f"{corner:22s}" + "".join(f"{t:>{width}s}" for t in self.targets)
        rows = [
            f"{s:22s}" + "".join(f"{r:>{width}.1%}" for r in self.rates[i])
            for i, s in enumerate(self.sources)
        ]
        return "\n".join([head, *rows])


def transfer_matrix(sources: dict, targets: dict, x, y, attack, *, eps=None, norm="inf") -> TransferMatrix:
    """Attack every source model white-box, then classify the results with every target model.

    Args:
        sources: ``{name: model}`` the attacker can differentiate; targets: ``{name: model}``.
        x: float32 images ``(N, H, W, C)`` in [0, 1]; y: integer labels ``(N,)``.
        attack: ``attack(model, x, y) -> x_adv``, e.g.
            ``lambda m, x, y: attacks.pgd(m, x, y, eps=0.1, step_size=0.025, num_steps=10)``.
        eps, norm: when ``eps`` is given, every adversarial batch is checked to lie within the budget
            (:func:`course_utils.evaluation.check_adversarial`).

    Returns:
        A :class:`TransferMatrix`.
    """
    if not sources or not targets:
        raise ValueError("Pass at least one source and one target model, as {name: model} dicts.")
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y)
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} images but y has {len(y)} labels; pass matching arrays.")
    clean_right = np.stack(
        [evaluation.predict_logits(model, x).argmax(1) == y for model in targets.values()]
    )  # (T, N)
    fooled = np.zeros((len(sources), len(targets), len(x)), dtype=bool)
    for i, source in enumerate(sources.values()):
        x_adv = np.asarray(attack(source, x, y), dtype=np.float32)
        if x_adv.shape != x.shape:
            raise ValueError(
                f"attack returned shape {x_adv.shape}; it must return images shaped like x, {x.shape}."
            )
        if eps is not None:
            evaluation.check_adversarial(x, x_adv, eps=eps, norm=norm)
        for j, target in enumerate(targets.values()):
            wrong = evaluation.predict_logits(target, x_adv).argmax(1) != y
            fooled[i, j] = clean_right[j] & wrong
    counts = clean_right.sum(axis=1)
    rates = fooled.sum(axis=2) / np.maximum(counts, 1)[None, :]
    return TransferMatrix(tuple(sources), tuple(targets), rates, counts, fooled)


def accuracy_vs_queries(correct_clean, fooled, queries_used, budgets) -> np.ndarray:
    """Accuracy after ``q`` queries of one query-based attack run, for every ``q`` in ``budgets``:
    an image counts as broken from the query that first misclassified it on (the attack stops
    there, as :func:`course_utils.attacks.square` does). This is what an attacker with the run's
    budget has achieved after ``q`` queries; a separate run with budget ``q`` can differ slightly,
    because Square's window sizes follow a schedule set by the total budget.

    Args:
        correct_clean: ``(N,)`` booleans, the model right on the clean image.
        fooled: ``(N,)`` booleans, the model wrong on the attack's final image.
        queries_used: ``(N,)`` queries the attack used per image
            (:func:`~course_utils.attacks.square_with_queries`).
        budgets: query budgets (ints).

    Returns:
        ``(len(budgets),)`` accuracies in [0, 1].
    """
    correct_clean, fooled = np.asarray(correct_clean, bool), np.asarray(fooled, bool)
    queries_used = np.asarray(queries_used)
    if not (len(correct_clean) == len(fooled) == len(queries_used)):
        raise ValueError("correct_clean, fooled and queries_used must have one entry per image.")
    broken_by = np.where(correct_clean & fooled, queries_used, np.iinfo(np.int64).max)
    return np.array([np.mean(correct_clean & (broken_by > q)) for q in budgets])
