"""The course's reference times: how long each notebook and each model's training took on one
machine, measured (``tools/reference_times.py`` writes ``reference_times.json`` from the runs).

The README's course map, the course site, ``make course``'s announcements and ``doctor``'s
estimates all read this one file, so they cannot disagree.
"""

from __future__ import annotations

import json
from pathlib import Path

PATH = Path(__file__).with_name("reference_times.json")


def load(path: Path = PATH) -> dict:
    """``{"machine", "date", "step_seconds", "notebooks": {profile: {stem: s}}, "training":
    {profile: {model: s}}}``: seconds on the reference machine, each notebook with its models cached
    and no attack results cached; ``step_seconds`` is one training step of the ``standard`` CNN there
    (:func:`course_utils.doctor.step_seconds`)."""
    return json.loads(path.read_text(encoding="utf-8"))


def save(data: dict, path: Path = PATH) -> None:
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def duration(seconds: float | None) -> str:
    """A time as people say it: ``"45 s"`` below 90 seconds, else whole minutes, ``"8 min"``; ``"-"``
    when there is no time."""
    if seconds is None:
        return "-"
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"
