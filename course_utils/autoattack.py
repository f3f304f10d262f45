"""AutoAttack-style robustness evaluation (Croce & Hein, "Reliable evaluation of adversarial
robustness with an ensemble of diverse parameter-free attacks", ICML 2020).

Three attacks run in turn, each only on the images that survived the previous ones, and an image
counts as robust only if it survived all of them (the per-image worst case):

1. **APGD-CE**: Auto-PGD on the cross-entropy, untargeted (:func:`course_utils.attacks.apgd`);
2. **APGD-T**: Auto-PGD on the targeted DLR loss, towards each of the most likely other classes in
   turn (scale-invariant: a saturated softmax cannot hide from it; a model with fewer than 4
   classes gets the targeted cross-entropy, as the DLR is undefined there);
3. **Square**: a random search that uses the model's outputs only, no gradient
   (:func:`course_utils.attacks.square`; L∞ only, skipped for L2).

The original ensemble has a fourth member, FAB-T (targeted FAB, Croce & Hein, ICML 2020, an attack
that looks for the smallest perturbation), left out here: in the AutoAttack paper the final number
is usually set by the two APGD runs, and FAB-T and Square are there for the cases where they fail.
Without FAB-T, Square is the only attack from a different family; notebook 09 discusses the cost.

The attacks have no step size to tune: AutoAttack's point is that an evaluation nobody tuned
cannot be tuned to flatter a defense. ``version`` sets only the budget (:data:`VERSIONS`). The
budgets are named so that none can be taken for one of the paper's versions: ``lesson`` (a smoke
test), ``course`` (the paper's APGD runs, a fifth of Square's queries) and ``paper-without-fab``
(the paper's ``standard`` version minus FAB-T); each says in its description what it leaves out.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from course_utils import attacks, config, evaluation


@dataclasses.dataclass(frozen=True)
class Version:
    """The budget of an AutoAttack run.

    Attributes:
        name: ``"lesson"``, ``"course"`` or ``"paper-without-fab"``.
        apgd_steps: iterations of each APGD run (100 in the paper).
        apgd_restarts: random restarts of APGD-CE and of each APGD-T target (1 in the paper).
        targets: target classes of APGD-T, most likely first (9 in the paper: every other class
            of a 10-class problem).
        square_queries: query budget of the Square attack per image (5,000 in the paper).
        square_rescaled: Square's window schedule stretched to ``square_queries`` (AutoAttack does
            not rescale it: :func:`course_utils.attacks.square`'s ``rescale_schedule``).
        description: one line for humans, saying how the budget differs from the paper's.
    """

    name: str
    apgd_steps: int
    apgd_restarts: int
    targets: int
    square_queries: int
    square_rescaled: bool
    description: str


VERSIONS: dict[str, Version] = {
    "lesson": Version(
        "lesson", 25, 1, 3, 300, True,
        "a smoke test, not the paper's: a quarter of its APGD steps, 3 of 9 APGD-T targets, "
        "Square with 300 of 5,000 queries, no FAB-T",
    ),
    "course": Version(
        "course", 100, 1, 9, 1000, True,
        "the paper's APGD-CE and APGD-T; Square with 1,000 of its 5,000 queries (schedule rescaled); "
        "no FAB-T",
    ),
    "paper-without-fab": Version(
        "paper-without-fab", 100, 1, 9, 5000, False,
        "the paper's 'standard' version without FAB-T (Square: 5,000 queries, AutoAttack's schedule)",
    ),
}  # fmt: skip
# The budgets' former names: "standard" and "full" read like the paper's versions, which they are not.
RENAMED = {"quick": "lesson", "standard": "course", "full": "paper-without-fab"}


def get_version(version: str | Version | None = None) -> Version:
    """A :class:`Version` by name; ``None``: the one the active profile names
    (:attr:`course_utils.config.Profile.autoattack`)."""
    if isinstance(version, Version):
        return version
    name = config.get_profile().autoattack if version is None else str(version).strip().lower()
    if name in RENAMED:
        new = RENAMED[name]
        raise ValueError(
            f"The AutoAttack budget {name!r} is now called {new!r} ({VERSIONS[new].description}): the "
            f"old name could be taken for the paper's version of that name. Use version={new!r}."
        )
    if name not in VERSIONS:
        raise ValueError(f"Unknown AutoAttack version {name!r}; choose one of {', '.join(VERSIONS)}.")
    return VERSIONS[name]


@dataclasses.dataclass
class AutoAttackResult:
    """What :func:`autoattack` measured.

    Attributes:
        version: the budget used. eps, norm: the threat model.
        clean: clean accuracy (an :class:`~course_utils.evaluation.AttackResult`).
        stages: one row per attack, each the **worst case so far** (an image counts as correct only
            if it survived this attack and every earlier one); ``seconds`` is the stage's own time.
        x_adv: ``(N, H, W, C)`` per image, the adversarial example that broke it (the clean image
            for one misclassified already, and for one nothing broke).
        skipped: attacks that did not run, with the reason.
    """

    version: Version
    eps: float
    norm: str | int
    clean: evaluation.AttackResult
    stages: list[evaluation.AttackResult]
    x_adv: np.ndarray
    skipped: dict[str, str]

    @property
    def correct(self) -> np.ndarray:
        """``(N,)`` bool: images that survived every attack."""
        return self.stages[-1].correct if self.stages else self.clean.correct

    @property
    def accuracy(self) -> float:
        """Robust accuracy: the per-image worst case over all the attacks."""
        return float(np.mean(self.correct)) if len(self.correct) else float("nan")

    @property
    def interval(self) -> tuple[float, float]:
        """95 % Wilson interval of :attr:`accuracy`."""
        return evaluation.confidence_interval(int(self.correct.sum()), len(self.correct))

    @property
    def seconds(self) -> float:
        """Time of all the attacks (the clean pass excluded)."""
        return float(sum(s.seconds for s in self.stages))

    def to_dict(self) -> dict:
        """JSON-friendly summary (no per-image arrays)."""
        return {
            "version": dataclasses.asdict(self.version),
            "eps": self.eps,
            "norm": str(self.norm),
            "n": len(self.correct),
            "clean": self.clean.accuracy,
            "robust": self.accuracy,
            "interval": list(self.interval),
            "stages": [
                {"attack": s.name, "accuracy": s.accuracy, "interval": list(s.interval), "seconds": s.seconds}
                for s in self.stages
            ],
            "skipped": self.skipped,
        }

    def __str__(self) -> str:
        v = self.version
        lines = [
            f"AutoAttack ({v.name}: {v.description}), L{self.norm} eps={self.eps:g}, "
            f"{len(self.correct):,} images; accuracy [95 % interval]",
            f"  {'clean':<34}{evaluation.format_accuracy(self.clean.accuracy, self.clean.interval):>24}",
        ]
        for s in self.stages:
            cell = evaluation.format_accuracy(s.accuracy, s.interval)
            lines.append(f"  {'+ ' + s.name:<34}{cell:>24}{s.seconds:>9.1f} s")
        for name, why in self.skipped.items():
            lines.append(f"  {name}: not run ({why})")
        final = evaluation.format_accuracy(self.accuracy, self.interval)
        lines.append(f"robust accuracy (worst case over all attacks): {final}")
        return "\n".join(lines)


def stage_attacks(
    model, *, eps, norm="inf", version=None, seed=0, clip_min=0.0, clip_max=1.0, batch_size=512
):
    """The attacks of a run as ``[(name, kind, attack(x_batch, y_batch) -> x_adv)]`` and the skipped
    ones as ``{name: reason}``: what :func:`autoattack` runs, for code that runs them on its own
    schedule (the report card runs them on the survivors of its other attacks)."""
    v = get_version(version)
    norm = attacks.norm_name(norm)
    common = dict(eps=eps, norm=norm, num_steps=v.apgd_steps, restarts=v.apgd_restarts, clip_min=clip_min,
                  clip_max=clip_max, batch_size=batch_size)  # fmt: skip

    def apgd_t(xb, yb):
        # The targeted DLR needs 4 classes; with fewer, APGD-T falls back to the targeted cross-entropy.
        classes = evaluation.predict_logits(model, xb[:1]).shape[1]
        return attacks.apgd(model, xb, yb, loss="dlr" if classes >= 4 else "ce", target="ranked",
                            num_targets=v.targets, seed=seed + 1, **common)  # fmt: skip

    stages = [
        ("APGD-CE", "apgd-ce", lambda xb, yb: attacks.apgd(model, xb, yb, loss="ce", seed=seed, **common)),
        (f"APGD-T ({v.targets} targets)", "apgd-t", apgd_t),
    ]
    skipped = {}
    if norm == "inf":
        stages.append(
            (
                f"Square ({v.square_queries:,} queries)",
                "square",
                lambda xb, yb: attacks.square(
                    model,
                    xb,
                    yb,
                    eps=eps,
                    queries=v.square_queries,
                    rescale_schedule=v.square_rescaled,
                    seed=seed + 2,
                    clip_min=clip_min,
                    clip_max=clip_max,
                    batch_size=batch_size,
                ),  # fmt: skip
            )
        )
    else:
        skipped["Square"] = "the course's Square attack is L∞ only"
    return stages, skipped


def autoattack(
    model,
    x,
    y,
    *,
    eps,
    norm="inf",
    version: str | Version | None = None,
    seed: int = 0,
    clip_min: float = 0.0,
    clip_max: float = 1.0,
    batch_size: int = 512,
    progress: bool | None = None,
) -> AutoAttackResult:
    """Robust accuracy of ``model`` under APGD-CE, then APGD-T, then Square, each on the survivors.

    Args:
        model: maps float32 images ``(N, H, W, C)`` in ``[clip_min, clip_max]`` to logits.
        x, y: test images and their true integer labels ``(N,)``.
        eps: the budget in ``norm``, in the pixel scale (``0.1`` for Fashion-MNIST's usual L∞ test).
        norm: ``"inf"`` or ``2`` (Square runs for L∞ only).
        version: the budget: ``"lesson"``, ``"course"``, ``"paper-without-fab"`` (:data:`VERSIONS`) or a
            :class:`Version`; ``None`` takes the active profile's.
        seed: seeds every random start and every random search: the same seed gives the same result.
        batch_size: images per attack call.
        progress: progress bars on stderr (default: on unless ``$TQDM_DISABLE`` is set).

    Returns:
        An :class:`AutoAttackResult`; ``print`` it for the table. Every adversarial batch is checked
        with :func:`~course_utils.evaluation.check_adversarial` before it is scored.
    """
    v = get_version(version)
    x, y = np.asarray(x, dtype=np.float32), np.asarray(y)
    check = dict(
        eps=eps, norm=norm, clip_min=clip_min, clip_max=clip_max, batch_size=batch_size, progress=progress
    )
    clean = evaluation.robust_accuracy(model, x, y, name="clean", kind="clean", batch_size=batch_size,
                                       progress=progress)  # fmt: skip
    stages_to_run, skipped = stage_attacks(
        model, eps=eps, norm=norm, version=v, seed=seed, clip_min=clip_min, clip_max=clip_max,
        batch_size=batch_size,
    )  # fmt: skip
    rows, x_adv = run_stages(model, x, y, stages_to_run, clean.correct, keep_adversarial=True, **check)
    return AutoAttackResult(v, float(eps), attacks.norm_name(norm), clean, rows, x_adv, skipped)


def run_stages(model, x, y, stages, correct, *, eps, prefix="", keep_adversarial=False, **check):
    """The per-image worst case over ``stages``: each attack runs only on the images still correct,
    and an image counts as correct only while no attack so far has broken it.

    Args:
        model, x, y: the model, images ``(N, H, W, C)`` and true labels ``(N,)``.
        stages: ``[(name, kind, attack(x_batch, y_batch) -> x_adv)]``, run in order
            (:func:`stage_attacks`).
        correct: ``(N,)`` bool, the images standing before the first stage (not changed).
        eps: the budget, checked on every adversarial batch; ``check``: the other arguments of
            :func:`~course_utils.evaluation.robust_accuracy` (norm, clip range, batch size, progress).
        prefix: put before each row's name (the report card's "+APGD-CE").
        keep_adversarial: also return, per image, the example that broke it (else ``None``).

    Returns:
        ``(rows, x_adv)``: one :class:`~course_utils.evaluation.AttackResult` per stage, each the
        worst case so far with the stage's own time; and the examples (the clean image for an image
        no stage broke), or ``None``.
    """
    correct = np.array(correct, dtype=bool)
    x_adv = np.array(x, copy=True) if keep_adversarial else None
    rows = []
    for name, kind, attack in stages:
        todo = np.flatnonzero(correct)
        result = evaluation.robust_accuracy(
            model, x[todo], y[todo], attack, eps=eps, name=prefix + name, kind=kind,
            keep_adversarial=keep_adversarial, **check,
        )  # fmt: skip
        broken = todo[~result.correct]
        if keep_adversarial:
            x_adv[broken] = result.x_adv[~result.correct]
        correct[broken] = False
        rows.append(evaluation.AttackResult(prefix + name, float(eps), float(correct.mean()), correct.copy(),
                                            result.seconds, kind))  # fmt: skip
    return rows, x_adv
