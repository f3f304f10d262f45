"""The course's own measured results (``benchmarks/results/``), for notebooks that discuss them.

The benchmark scripts write JSON files; these functions read them back so that notebook 12 quotes
numbers that were measured, with the command that measured them, instead of copying them by hand.
"""

from __future__ import annotations

import json
from pathlib import Path

from course_utils import config


def results_dir() -> Path:
    """``benchmarks/results`` of the course checkout.

    Raises:
        FileNotFoundError: outside a checkout of the course (the package installed elsewhere).
    """
    root = config.repo_root()
    if root is None or not (root / "benchmarks" / "results").is_dir():
        raise FileNotFoundError(
            "The course's benchmark results live in benchmarks/results/ of the course repository; "
            "run this notebook from a checkout (git clone ...) to read them."
        )
    return root / "benchmarks" / "results"


def load(name: str) -> dict:
    """One results file, e.g. ``"at_standard/results.json"`` or ``"cnn_standard.json"``."""
    path = results_dir() / name
    if not path.is_file():
        raise FileNotFoundError(f"No results file {path}; run the benchmark that writes it (see README).")
    return json.loads(path.read_text())


def robustness_cost(name: str = "at_standard/results.json") -> list[dict]:
    """The adversarial-training benchmark as rows, one per evaluated model (``natural``, ``pgd_at``...):
    clean / FGSM / PGD-20 / AutoAttack / worst-case accuracy (fractions; the worst case is per image
    over every attack, the number to quote) and its 95 % interval; PGD-50×10 when the benchmark ran
    it (else ``None``); training seconds; training time relative to natural training, in wall-clock
    seconds (``time_vs_natural``) and in side-by-side step costs (``cost_vs_natural``: epochs × the
    cost of one step in natural steps, ``None`` if not measured); and ``step_cost``, one step's cost
    in natural steps."""
    data = load(name)
    models = data["models"]
    natural_seconds = models["natural"]["train_seconds"]
    epochs = data.get("cost_in_natural_epochs", {})
    rows = []
    for key, m in models.items():
        if "clean" not in m:  # trained, not evaluated yet (an interrupted benchmark)
            continue
        cost = epochs.get(key)
        rows.append(
            {
                "model": key,
                "clean": m["clean"],
                "fgsm": m["fgsm"],
                "pgd20": m["pgd20"],
                "pgd50x10": m.get("pgd50x10"),
                "autoattack": m.get("autoattack"),
                "worst_case": m["worst_case"],
                "worst_case_interval": tuple(m.get("intervals", {}).get("worst_case", (None, None))),
                "train_seconds": m["train_seconds"],
                "epochs": m["epochs_run"],
                "time_vs_natural": m["train_seconds"] / natural_seconds,
                "cost_vs_natural": None if cost is None else cost / epochs["natural"],
                "step_cost": None if cost is None else cost / m["epochs_run"],
            }
        )
    return rows


def full_cost_note() -> str:
    """What the ``full`` profile is projected to cost, from the adversarial-training benchmark's
    ``--estimate`` run (``at_full/estimate.json``: measured step times, scaled to the full schedules),
    in one sentence to print before anything trains in ``full``."""
    advice = "Use COURSE_PROFILE=standard unless you mean it."
    try:
        estimate = load("at_full/estimate.json")
    except FileNotFoundError:
        return (
            "The full profile trains bigger models for 30 epochs and has not been timed on a GPU; its "
            "projected cost is in benchmarks/results/at_full/estimate.json of the course repository. "
            + advice
        )
    return (
        f"The full profile has not been timed on a GPU. On {estimate['machine']} its "
        f"adversarial-training benchmark alone was projected at {estimate['total_hours']:.0f} hours "
        f"(benchmarks/results/at_full/estimate.json, {estimate['date']}). {advice}"
    )
