"""The course's own measured results (``benchmarks/results/``), for notebooks that discuss them.

The benchmark scripts write JSON files; these functions read them back so that notebook 09 quotes
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
    """The adversarial-training benchmark as rows: model, clean / FGSM / PGD-20 / PGD-50×10 /
    AutoAttack / worst-case accuracy (fractions; the worst case is per image over every attack, the
    number to quote), its 95 % interval, training seconds, and training time and per-step cost
    relative to natural training (the per-step cost when the benchmark measured it side by side,
    else ``None``)."""
    data = load(name)
    models = data["models"]
    natural_seconds = models["natural"]["train_seconds"]
    step_cost = data.get("step_cost_in_natural_steps", {})
    rows = []
    for key, m in models.items():
        rows.append(
            {
                "model": key,
                "clean": m["clean"],
                "fgsm": m["fgsm"],
                "pgd20": m["pgd20"],
                "pgd50x10": m["pgd50x10"],
                "autoattack": m.get("autoattack"),
                "worst_case": m["worst_case"],
                "worst_case_interval": tuple(m.get("intervals", {}).get("worst_case", (None, None))),
                "train_seconds": m["train_seconds"],
                "time_vs_natural": m["train_seconds"] / natural_seconds,
                "step_cost": step_cost.get(key),
            }
        )
    return rows
