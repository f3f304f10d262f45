"""The course's reference times, in one file: ``course_utils/reference_times.json``.

Every time a user reads (the README's course map, the course site's home page, ``make course``'s
announcements, ``python -m course_utils doctor``'s estimates, ``pretrain``'s plan) comes from that
file. This tool writes it from measured runs and copies its times into the README:

    python tools/reference_times.py notebooks build/std-run build/quick-run   # timings.json of run_course
    python tools/reference_times.py training standard pretrain-standard.log   # `pretrain`'s output
    python tools/reference_times.py readme                                    # the course map's times

The runs must come from one machine, with nothing else running; ``notebooks`` measures the
machine's training step (``doctor.step_seconds``) so that ``doctor`` can scale the times to another.
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from course_utils import reference_times  # noqa: E402

COURSE_MAP_ROW = re.compile(
    r"^(\| (\d\d[a-z]?) \| \[[^\]]+\]\(notebooks/([^)]+)\.ipynb\) \| .+? \|) .+? \| .+? \|$"
)
COURSE_TOTALS = re.compile(r"The whole course took [^`]+? in `quick` and [^`]+? in `standard`")
TRAINING_TOTALS = re.compile(r"ahead of time(\s+)in [^(]+? \(`quick`\) or [^(]+? \(`standard`\)")
TRAINED = re.compile(r"^(\w+): trained in (\d+) s")


def record_notebooks(runs: list[Path], step_seconds: float | None) -> dict:
    from course_utils import doctor, expected

    data = reference_times.load()
    for run in runs:
        timings = json.loads((run / "timings.json").read_text())
        data["notebooks"][timings["profile"]] = {k: round(v) for k, v in timings["seconds"].items()}
    data["machine"] = expected.machine_description()
    data["date"] = datetime.date.today().isoformat()
    data["step_seconds"] = round(step_seconds or doctor.step_seconds(), 4)
    return data


def record_training(profile: str, log: Path) -> dict:
    data = reference_times.load()
    found = {
        m.group(1): int(m.group(2)) for line in log.read_text().splitlines() if (m := TRAINED.match(line))
    }
    if not found:
        raise SystemExit(f"{log} has no 'NAME: trained in N s' lines: give the output of `pretrain`.")
    data["training"].setdefault(profile, {}).update(found)
    return data


def readme_with_times(text: str, data: dict) -> str:
    """The README with each course-map row's quick and standard columns taken from ``data``."""

    def row(match: re.Match) -> str:
        stem = match.group(3)
        times = [reference_times.duration(data["notebooks"][p].get(stem)) for p in ("quick", "standard")]
        return f"{match.group(1)} {times[0]} | {times[1]} |"

    text = "\n".join(COURSE_MAP_ROW.sub(row, line) for line in text.split("\n"))
    totals = totals_text(data)
    text = COURSE_TOTALS.sub(
        lambda m: (
            f"The whole course took {totals['quick']} in `quick` and {totals['standard']} in `standard`"
        ),
        text,
    )
    return TRAINING_TOTALS.sub(
        lambda m: (
            f"ahead of time{m.group(1)}in {totals['quick training']} (`quick`) or "
            f"{totals['standard training']} (`standard`)"
        ),
        text,
    )


def totals_text(data: dict) -> dict[str, str]:
    """The whole course's time and all models' training time per profile, as the README says them."""
    out = {}
    for profile in ("quick", "standard"):
        out[profile] = reference_times.duration(sum(data["notebooks"][profile].values()))
        out[f"{profile} training"] = reference_times.duration(sum(data["training"][profile].values()))
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("notebooks", help="record the notebooks' times from run_course output folders")
    p.add_argument("runs", nargs="+", type=Path)
    p.add_argument("--step-seconds", type=float, help="this machine's training step (default: measure it)")
    p = commands.add_parser("training", help="record models' training times from pretrain's output")
    p.add_argument("profile")
    p.add_argument("log", type=Path)
    commands.add_parser("readme", help="write the course map's times into README.md")
    args = parser.parse_args(argv)
    if args.command == "notebooks":
        reference_times.save(record_notebooks(args.runs, args.step_seconds))
    elif args.command == "training":
        reference_times.save(record_training(args.profile, args.log))
    readme = ROOT / "README.md"
    readme.write_text(readme_with_times(readme.read_text(), reference_times.load()))
    print(f"{reference_times.PATH.relative_to(ROOT)} and the README's course map are up to date.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
