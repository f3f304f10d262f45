"""Make the notebooks' reference runs (notebooks/expected/NN.json) from runs with several seeds.

    python tools/expected_results.py run   --profile quick --seeds 42 43 44 45 46 [notebooks ...]
    python tools/expected_results.py write --profile quick --seeds 42 43 44 45 46 [notebooks ...]

``run`` executes each notebook once per seed (``$COURSE_SEED``) with ``tools/run_course.py``; each
notebook's last lesson cell saves its figures to ``build/results/<profile>-seed<seed>/<NN>.json``. It
is resumable: a notebook whose figures are newer than the notebook file is skipped (``--force``
reruns it). ``write`` turns those files into the references: the first seed's figures (the course's
seed, 42) with, for each figure, the tolerance of :func:`course_utils.expected.tolerance` over all the
seeds, and the machine the runs came from. A notebook's other profiles in its file are kept.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
from pathlib import Path

from course_utils import config, expected

ROOT = Path(__file__).resolve().parent.parent


def results_file(profile: str, seed: int, number: str) -> Path:
    return expected.results_dir(profile, seed) / f"{number}.json"


def run(profile: str, seeds: list[int], notebooks: list[Path], force: bool, out: Path) -> int:
    failed = []
    for seed in seeds:
        todo = [
            nb
            for nb in notebooks
            if force
            or not results_file(profile, seed, config.notebook_number(nb)).is_file()
            or results_file(profile, seed, config.notebook_number(nb)).stat().st_mtime < nb.stat().st_mtime
        ]
        if not todo:
            print(f"seed {seed}: every notebook's figures are up to date")
            continue
        print(f"seed {seed}: running {', '.join(nb.stem for nb in todo)}", flush=True)
        env = {**os.environ, config.SEED_ENV_VAR: str(seed), config.PROFILE_ENV_VAR: profile}
        env.pop(expected.CHECK_ENV_VAR, None)  # measuring the spread, not checking against it
        command = [sys.executable, str(ROOT / "tools" / "run_course.py"), "--out", str(out / f"seed{seed}")]
        code = subprocess.call([*command, *map(str, todo)], env=env, cwd=ROOT)
        if code:
            failed.append(seed)
    if failed:
        print(f"some notebooks failed with seeds {failed}: a claim that does not hold for every seed")
    return 1 if failed else 0


def write(profile: str, seeds: list[int], notebooks: list[Path]) -> int:
    reference_seed, problems = seeds[0], []
    for nb in notebooks:
        number = config.notebook_number(nb)
        runs = {}
        for seed in seeds:
            path = results_file(profile, seed, number)
            if path.is_file():
                runs[seed] = json.loads(path.read_text(encoding="utf-8"))
        if reference_seed not in runs:
            problems.append(f"{number}: no run with seed {reference_seed}")
            continue
        ref = runs[reference_seed]
        used = sorted(runs)
        for seed, r in runs.items():
            if set(r["figures"]) != set(ref["figures"]):
                problems.append(f"{number}: seed {seed} recorded other figures than seed {reference_seed}")
        figures = {}
        for key, fig in ref["figures"].items():
            values = [r["figures"][key]["value"] for r in runs.values() if key in r["figures"]]
            tol = expected.tolerance(values, fig["value"], n=fig.get("n"), floor=fig.get("floor", 0.0))
            figures[key] = {
                "label": fig["label"],
                "value": fig["value"],
                "tolerance": float(f"{tol:.4g}"),
                "fmt": fig["fmt"],
                "seed_values": {
                    str(s): r["figures"][key]["value"] for s, r in runs.items() if key in r["figures"]
                },
            }
        if len(used) > 1:
            basis = (
                f"the larger of 1.5 × the largest deviation over seeds {', '.join(map(str, used))} on the "
                "reference machine, the 95 % sampling error of the images a percentage is measured on, "
                "and the notebook's floor for the figure"
            )
        else:
            basis = (
                "one run only: the 95 % sampling error of the images a percentage is measured on, or the "
                "notebook's floor for the figure (the spread over seeds was not measured in this profile)"
            )
        path = expected.reference_path(number, ROOT)
        path.parent.mkdir(parents=True, exist_ok=True)
        existing = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        existing[profile] = {
            "reference_seed": reference_seed,
            "seeds": used,
            "machine": ref["machine"],
            "date": datetime.date.fromtimestamp(
                results_file(profile, reference_seed, number).stat().st_mtime
            ).isoformat(),
            "basis": basis,
            "figures": figures,
        }
        path.write_text(json.dumps(existing, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"{path.relative_to(ROOT)}: {profile}, {len(figures)} figures from seeds {used}")
    for problem in problems:
        print("problem:", problem)
    return 1 if problems else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("run", "write"))
    parser.add_argument("--profile", required=True, help="quick or standard")
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=[42, 43, 44, 45, 46], help="the first is the reference"
    )
    parser.add_argument("--force", action="store_true", help="run: rerun notebooks whose figures exist")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "seeds", help="run: executed notebooks")
    parser.add_argument("notebooks", nargs="*", type=Path)
    args = parser.parse_intermixed_args(argv)
    notebooks = args.notebooks or config.course_notebooks(ROOT / "notebooks")
    if args.action == "run":
        return run(args.profile, args.seeds, notebooks, args.force, args.out)
    return write(args.profile, args.seeds, notebooks)


if __name__ == "__main__":
    sys.exit(main())
