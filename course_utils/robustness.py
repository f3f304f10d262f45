"""The robustness report card: a model's accuracy under attacks of growing strength at several ε.

:func:`report_card` measures a model at several budgets ε with FGSM, PGD-k, PGD-k with random
restarts and, optionally, the AutoAttack ensemble (APGD-CE, APGD-T, Square;
:mod:`course_utils.autoattack`). Every accuracy carries its 95 % interval. From the restarts on,
every row is the per-image **worst case so far**, and the last row is the number to report. The
card then runs the gradient-masking checks of :mod:`course_utils.masking`. With ``cache=True`` the
attack rows are kept on disk (:mod:`course_utils.evaluation_cache`) and computed once.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from pathlib import Path

import numpy as np

from course_utils import attacks, config, evaluation_cache
from course_utils import autoattack as autoattack_lib
from course_utils.evaluation import AttackResult, format_accuracy, robust_accuracy
from course_utils.masking import MaskingFlag, gradient_masking_checks


@dataclasses.dataclass
class ReportCard:
    """Robustness of one model: accuracy under each attack at each ε, and the masking checks.

    ``rows`` holds one :class:`~course_utils.evaluation.AttackResult` per (attack, ε), in the order
    they ran. FGSM and PGD-k rows are each attack alone; the rows from the restarts on are
    cumulative (an image counts as robust only if it survived the clean test, every attack above
    and this one), so the last row is the per-image worst case.

    ``restart_seconds`` is the time spent on restarts; ``restart_seconds_all`` the same if they had
    run on every image (measured when ``restarts_on_survivors`` is False, else estimated as the
    measured time plus one PGD run per skipped image).
    """

    model_name: str
    norm: str | int
    n: int
    clean: AttackResult
    rows: list[AttackResult]
    flags: list[MaskingFlag]
    restart_seconds: float
    restart_seconds_all: float
    restarts_on_survivors: bool
    autoattack: str | None = None
    cached_stages: list[tuple[float, str]] = dataclasses.field(default_factory=list)
    cache_dir: str | None = None

    @property
    def cached_eps(self) -> list[float]:
        """The budgets at which some rows came from the evaluation cache."""
        return sorted({eps for eps, _ in self.cached_stages})

    def attacks(self) -> list[str]:
        """Attack names in the order they were run."""
        return list(dict.fromkeys(r.name for r in self.rows))

    def curves(self) -> dict[str, tuple[list[float], list[float]]]:
        """``{attack: (eps values, accuracies)}`` including ε = 0 (clean accuracy), for plotting."""
        out = {}
        for name in self.attacks():
            rows = [r for r in self.rows if r.name == name]
            out[name] = ([0.0] + [r.eps for r in rows], [self.clean.accuracy] + [r.accuracy for r in rows])
        return out

    def result(self, attack: str, eps: float) -> AttackResult:
        """The row of ``attack`` (a name from :meth:`attacks`) at ``eps``."""
        for r in self.rows:
            if r.name == attack and np.isclose(r.eps, eps):
                return r
        raise KeyError(f"No row for {attack!r} at eps={eps}; attacks: {self.attacks()}.")

    def accuracy(self, attack: str, eps: float) -> float:
        """Accuracy under ``attack`` (a name from :meth:`attacks`) at ``eps``."""
        return self.result(attack, eps).accuracy

    def interval(self, attack: str, eps: float) -> tuple[float, float]:
        """95 % interval of the accuracy under ``attack`` at ``eps``."""
        return self.result(attack, eps).interval

    @property
    def worst_case(self) -> str:
        """Name of the last row: the per-image worst case over every attack (at the budgets where
        every attack ran; see :meth:`worst`)."""
        return self.attacks()[-1]

    def worst(self, eps: float) -> AttackResult:
        """The per-image worst case at ``eps``: the last row measured at that budget."""
        rows = [r for r in self.rows if np.isclose(r.eps, eps)]
        if not rows:
            raise KeyError(f"No rows at eps={eps}; the card has {sorted({r.eps for r in self.rows})}.")
        return rows[-1]

    def worst_case_curve(self) -> tuple[list[float], list[float]]:
        """``(eps values, worst-case accuracies)`` including ε = 0 (clean accuracy), for plotting."""
        eps_values = sorted({r.eps for r in self.rows})
        return [0.0, *eps_values], [self.clean.accuracy] + [self.worst(e).accuracy for e in eps_values]

    def to_dict(self) -> dict:
        """JSON-friendly summary (no per-image arrays)."""
        return {
            "model": self.model_name,
            "norm": str(self.norm),
            "n": self.n,
            "clean_accuracy": self.clean.accuracy,
            "clean_interval": list(self.clean.interval),
            "autoattack": self.autoattack,
            "rows": [
                {
                    "attack": r.name,
                    "kind": r.kind,
                    "eps": r.eps,
                    "accuracy": r.accuracy,
                    "interval": list(r.interval),
                    "seconds": r.seconds,
                }
                for r in self.rows
            ],  # fmt: skip
            "flags": [dataclasses.asdict(f) for f in self.flags],
            "restart_seconds": self.restart_seconds,
            "restart_seconds_all_examples": self.restart_seconds_all,
            "restarts_on_survivors": self.restarts_on_survivors,
            "cached_stages": [list(stage) for stage in self.cached_stages],
        }

    def __str__(self) -> str:
        names = self.attacks()
        eps_values = sorted({r.eps for r in self.rows})
        width = max(len(n) for n in names + ["accuracy under attack"]) + 2
        lines = [f"Robustness report card: {self.model_name} ({self.n:,} test images, L{self.norm} norm)"]
        lines.append(f"clean accuracy: {format_accuracy(self.clean.accuracy, self.clean.interval)}")
        lines.append(
            "accuracy under attack".ljust(width)
            + "".join(f"{'eps=' + format(e, 'g'):>21}" for e in eps_values)
        )
        measured = {(r.name, r.eps): r for r in self.rows}
        for name in names:
            cells = "".join(
                f"{format_accuracy(r.accuracy, r.interval, 1) if (r := measured.get((name, e))) else '-':>21}"
                for e in eps_values
            )
            lines.append(name.ljust(width) + cells)
        lines.append("[95 % intervals] Rows from 'worst case' down are cumulative: an image counts as robust")
        lines.append(
            "only if it survived that attack and every one above it. The last row is the number to report."
        )
        if self.restarts_on_survivors:
            lines.append(
                "Restarts ran only on the images that survived every earlier attack: "
                f"{self.restart_seconds:.1f} s instead of about {self.restart_seconds_all:.1f} s "
                "(estimated) on all images."
            )
        else:
            lines.append(f"Restarts ran on all images: {self.restart_seconds:.1f} s.")
        seconds = {}
        for r in self.rows:
            seconds[r.name] = seconds.get(r.name, 0.0) + r.seconds
        lines.append("Time per attack: " + ", ".join(f"{n} {s:.1f} s" for n, s in seconds.items()) + ".")
        if self.cached_stages:
            stages = ", ".join(f"{stage} at eps={eps:g}" for eps, stage in self.cached_stages)
            lines.append(
                f"Rows loaded from the evaluation cache: {stages} (times are those of the run that "
                f"computed them; delete {self.cache_dir} to attack again)."
            )
        lines.append("Gradient-masking checks:" + ("" if self.flags else " not run"))
        for flag in self.flags:
            lines.append(f"  [{flag.status}] {flag.name}: {flag.detail}")
        if any(f.raised for f in self.flags):
            lines.append(
                "  A warning means these numbers may overstate robustness: try stronger or different attacks."
            )
        return "\n".join(lines)


def report_card(
    model,
    x,
    y,
    *,
    eps_list,
    norm="inf",
    pgd_steps: int = 20,
    restarts: int = 5,
    step_size_factor: float = 2.5,
    autoattack: str | autoattack_lib.Version | None = None,
    autoattack_eps=None,
    loss="ce",
    clip_min: float = 0.0,
    clip_max: float = 1.0,
    seed: int = 0,
    batch_size: int = 512,
    restarts_on_survivors: bool = True,
    masking_checks: bool = True,
    model_name: str = "model",
    progress: bool | None = None,
    cache: bool | str | os.PathLike = False,
) -> ReportCard:
    """Evaluate ``model`` at every ε with FGSM, PGD-k, PGD-k with restarts and, with ``autoattack``,
    the AutoAttack ensemble; then run the gradient-masking checks.

    The PGD step size is ``step_size_factor * eps / pgd_steps``; 2.5 is a common rule of thumb,
    enough to cross the ball from any random start. The restarts row, ``"worst case, +PGD-k xR"``,
    adds ``restarts`` random restarts of PGD-k. Restarts cannot repair an image that is already
    misclassified, so with ``restarts_on_survivors=True`` they run only on the images that survived
    the clean test, FGSM and PGD-k, and the card reports the time this saved (``False`` runs them on
    every image, to measure the difference). The AutoAttack rows (``"+APGD-CE"``, ``"+APGD-T"``,
    ``"+Square"``) then run on the images that survived everything above. Every adversarial batch
    is checked with :func:`~course_utils.evaluation.check_adversarial`.

    Args:
        model: maps images ``(N, H, W, C)`` in ``[clip_min, clip_max]`` to logits.
        x, y: test images (float32) and integer labels.
        eps_list: budgets to test, in the pixel scale, e.g. ``[0.05, 0.1, 0.2]``.
        norm: ``"inf"`` or ``2``.
        pgd_steps, restarts: PGD iterations and number of random restarts (``restarts >= 2``).
        autoattack: ``None`` (no AutoAttack rows), or its budget: ``"lesson"``, ``"course"``,
            ``"paper-without-fab"`` (:data:`course_utils.autoattack.VERSIONS`).
        autoattack_eps: the budgets at which the AutoAttack rows run (default: every ε of
            ``eps_list``); AutoAttack on a robust model takes minutes per ε on a CPU.
        loss: loss of FGSM and PGD: ``"ce"`` (cross-entropy), ``"margin"`` or a function. The
            AutoAttack rows always use their own losses (cross-entropy and targeted DLR).
        seed: seeds every random start: the same seed gives the same card. Random starts are drawn
            batch by batch, so PGD numbers can differ slightly from one ``attacks.pgd`` call on all
            images with that seed.
        cache: ``True`` keeps each ε's attack rows in :func:`course_utils.config.evaluation_cache_dir`
            (a folder name: there), keyed by the model's architecture and weights, the images, every
            setting above and the package's code; a later call with the same key loads them instead
            of attacking (the clean row and the masking checks always run). Only for a
            ``keras.Model`` without ``Lambda`` layers and the default or a ``course_utils`` loss.
    """
    eps_list, version, aa_eps = _checked_budgets(restarts, eps_list, autoattack, autoattack_eps)
    x, y = np.asarray(x, dtype=np.float32), np.asarray(y)
    norm_key = attacks.norm_name(norm)
    attack_settings = dict(norm=norm_key, loss=loss, clip_min=clip_min, clip_max=clip_max)
    check = dict(
        norm=norm_key, clip_min=clip_min, clip_max=clip_max, batch_size=batch_size, progress=progress
    )
    store = _Cache()
    if cache:
        folder = Path(cache) if not isinstance(cache, bool) else config.evaluation_cache_dir()
        settings = dict(
            norm=norm_key, pgd_steps=pgd_steps, restarts=restarts, step_size_factor=step_size_factor,
            loss=_loss_name(loss), clip_min=clip_min, clip_max=clip_max, seed=seed, batch_size=batch_size,
            restarts_on_survivors=restarts_on_survivors,
        )  # fmt: skip
        store = _Cache(folder, evaluation_cache.key(model, x, y, settings))  # model, data, code hashed once

    clean = robust_accuracy(model, x, y, name="clean", kind="clean", batch_size=batch_size, progress=progress)
    rows, restart_seconds, restart_seconds_all = [], 0.0, 0.0
    for eps in eps_list:
        white_box = functools.partial(
            _white_box_rows, model, x, y, clean.correct, eps=eps, pgd_steps=pgd_steps, restarts=restarts,
            step_size_factor=step_size_factor, seed=seed, restart_seed=seed + 1,
            restarts_on_survivors=restarts_on_survivors, attack_settings=attack_settings, check=check,
        )  # fmt: skip
        white_box_rows, timings = store.rows("white-box", eps, white_box, clean=clean.correct.tolist())
        rows += white_box_rows
        restart_seconds += timings["restart_seconds"]
        restart_seconds_all += timings["restart_seconds_all"]
        if version is not None and any(np.isclose(eps, e) for e in aa_eps):
            survived = white_box_rows[-1].correct.copy()
            cascade = functools.partial(_autoattack_rows, model, x, y, survived, eps=eps, version=version,
                                        seed=seed + 2, check=check)  # fmt: skip
            aa_rows, _ = store.rows("AutoAttack", eps, cascade, autoattack=dataclasses.asdict(version),
                                    survivors=survived.tolist())  # fmt: skip
            rows += aa_rows

    flags = []
    if masking_checks:
        flags = gradient_masking_checks(
            model, x, y, rows, clean, norm=norm_key, pgd_steps=pgd_steps, loss=loss, clip_min=clip_min,
            clip_max=clip_max, seed=seed, batch_size=batch_size, progress=progress,
        )  # fmt: skip
    return ReportCard(
        model_name, norm_key, len(x), clean, rows, flags, restart_seconds, restart_seconds_all,
        restarts_on_survivors, None if version is None else version.name, store.loaded,
        None if store.folder is None else str(store.folder),
    )  # fmt: skip


def _checked_budgets(restarts, eps_list, autoattack, autoattack_eps):
    """The card's budgets, checked: ``(eps_list sorted, the AutoAttack version or None, the budgets
    of the AutoAttack rows)``. Raises ValueError on fewer than 2 restarts, a budget that is not
    positive, an unknown version or an AutoAttack budget missing from ``eps_list``."""
    if restarts < 2:
        raise ValueError(f"restarts must be >= 2 for the restarts row, got {restarts}.")
    eps_list = sorted(float(e) for e in eps_list)
    if not eps_list or eps_list[0] <= 0:
        raise ValueError(f"eps_list must hold positive budgets, got {eps_list}.")
    version = None if autoattack is None else autoattack_lib.get_version(autoattack)
    aa_eps = eps_list if autoattack_eps is None else [float(e) for e in autoattack_eps]
    if version is not None and not all(any(np.isclose(e, f) for f in eps_list) for e in aa_eps):
        raise ValueError(f"autoattack_eps {aa_eps} must be budgets of eps_list {eps_list}.")
    return eps_list, version, aa_eps


class _Cache:
    """Load-or-compute for the card's attack rows: one :mod:`course_utils.evaluation_cache` entry
    per stage and ε, named from ``base_key`` (the model, data, settings and code). Without a folder
    every stage is computed. ``loaded`` lists the ``(eps, stage)`` that came from disk."""

    def __init__(self, folder: Path | None = None, base_key: str | None = None):
        self.folder, self.base_key = folder, base_key
        self.loaded: list[tuple[float, str]] = []

    def rows(self, stage: str, eps: float, compute, **part) -> tuple[list[AttackResult], dict]:
        """``compute()`` -> ``(rows, extra)``, or the copy saved under ``stage``, ``eps`` and
        ``part`` (what the stage depends on besides the card's settings); a computed stage is saved."""
        if self.folder is None:
            return compute()
        part = {**part, "stage": stage, "eps": eps}
        entry = "report_card-" + evaluation_cache.part_key(self.base_key, part)
        found = evaluation_cache.load(self.folder, entry)
        if found is not None:
            self.loaded.append((eps, stage))
            return found
        stage_rows, extra = compute()
        evaluation_cache.save(self.folder, entry, stage_rows, extra)
        return stage_rows, extra


def _white_box_rows(
    model, x, y, clean, *, eps, pgd_steps, restarts, step_size_factor, seed, restart_seed,
    restarts_on_survivors, attack_settings, check,
):  # fmt: skip
    """FGSM, PGD-k and the restarts row at ``eps``, and the time the restarts took.

    FGSM and PGD-k (random start from ``seed``, step ``step_size_factor * eps / pgd_steps``) run on
    every image. PGD-k with ``restarts`` random starts (from ``restart_seed``) runs on the images
    that survived the clean test, FGSM and PGD-k (``clean``: ``(N,)`` bool), or on every image with
    ``restarts_on_survivors=False``. ``attack_settings`` go to the attacks, ``check`` to
    :func:`~course_utils.evaluation.robust_accuracy`.

    Returns:
        ``([fgsm, pgd, restarts], timings)``: FGSM and PGD-k each alone, the restarts row the worst
        case so far, each over all N images; ``timings`` holds ``restart_seconds`` (measured) and
        ``restart_seconds_all`` (on every image: measured, or estimated as the measured time plus
        one PGD run per skipped image).
    """
    pgd_name = f"PGD-{pgd_steps}"
    pgd = functools.partial(attacks.pgd, model, eps=eps, step_size=step_size_factor * eps / pgd_steps,
                            num_steps=pgd_steps, **attack_settings)  # fmt: skip
    fgsm_row = robust_accuracy(
        model, x, y, lambda xb, yb: attacks.fgsm(model, xb, yb, eps=eps, **attack_settings),
        eps=eps, name="FGSM", kind="fgsm", **check,
    )  # fmt: skip
    pgd_row = robust_accuracy(model, x, y, lambda xb, yb: pgd(xb, yb, restarts=1, seed=seed), eps=eps,
                              name=pgd_name, kind="pgd", **check)  # fmt: skip
    survived = clean & fgsm_row.correct & pgd_row.correct
    todo = np.flatnonzero(survived) if restarts_on_survivors else np.arange(len(x))
    restart = robust_accuracy(
        model, x[todo], y[todo], lambda xb, yb: pgd(xb, yb, restarts=restarts, seed=restart_seed),
        eps=eps, name=f"worst case, +{pgd_name} x{restarts}", **check,
    )  # fmt: skip
    survived[todo] &= restart.correct
    seconds_all = restart.seconds
    if restarts_on_survivors:
        # Run on all images, restarts would also attack the images broken already; most of them
        # fall in the first run and are then skipped by attacks.pgd: one PGD run each.
        seconds_all += (len(x) - len(todo)) * pgd_row.seconds / max(len(x), 1)
    timings = {"restart_seconds": restart.seconds, "restart_seconds_all": seconds_all}
    worst = AttackResult(restart.name, eps, float(survived.mean()), survived, restart.seconds, "restarts")
    return [fgsm_row, pgd_row, worst], timings


def _autoattack_rows(model, x, y, survived, *, eps, version, seed, check):
    """The AutoAttack rows at ``eps`` (``version``'s APGD-CE, APGD-T, Square, seeded from ``seed``),
    each run on the images still standing, starting from ``survived`` (``(N,)`` bool).

    Returns:
        ``(rows, {})``: one row per attack (named ``"+APGD-CE"``, ...), each the worst case so far
        over all N images (:func:`course_utils.autoattack.run_stages`), and no extra values.
    """
    stages, _ = autoattack_lib.stage_attacks(
        model, eps=eps, norm=check["norm"], version=version, seed=seed, clip_min=check["clip_min"],
        clip_max=check["clip_max"], batch_size=check["batch_size"],
    )  # fmt: skip
    cascade, _ = autoattack_lib.run_stages(model, x, y, stages, survived, eps=eps, prefix="+", **check)
    return cascade, {}


def _loss_name(loss) -> str:
    """The loss as a cache setting: ``"default"`` for the cross-entropy, a loss's name, or a
    ``course_utils`` function's full name."""
    if isinstance(loss, str):
        key = loss.strip().lower()
        return "default" if key == "ce" else key
    module = getattr(loss, "__module__", "") or ""
    if not module.startswith("course_utils"):
        raise evaluation_cache.UncacheableModelError(
            f"The loss {loss!r} is not one of course_utils', so the evaluation cache cannot tell "
            "whether it changed. Evaluate without the cache (cache=False)."
        )
    return f"{module}.{loss.__qualname__}"
