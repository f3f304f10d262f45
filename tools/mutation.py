"""Mutation testing of the attacks, the certificates and the evaluation code, with mutmut 3 (issue 28).

    make mutation                                      # every module below: hours (docs/contributing.md)
    make mutation MUTATION_MODULES="attacks certify"   # groups, or single files:
    python tools/mutation.py attacks/square.py certify # the same from the virtual environment
    python tools/mutation.py --report                  # only the scores and survivors of what has run
    python tools/mutation.py --retest-survivors attacks/square.py   # after adding a test

mutmut (configured in pyproject.toml's [tool.mutmut]) copies course_utils/ and tests/ into mutants/,
writes every mutant of a function next to the original behind a switch, runs the selected test files once
to learn which tests call which function ("stats"), and then runs, for each mutant, only the tests that
called its function, fastest first, stopping at the first failure. TensorFlow does not survive a fork
once its runtime has started, so the tests run under `process_isolation = "forkserver"`: a server process
that has only imported and collected the tests forks one child per mutant.

Results stay in mutants/ (git-ignored): running again resumes where a run stopped and tests only the
mutants that have no result yet (and those of functions edited since). Each run rewrites
benchmarks/results/mutation/scores.json (per file and per group: killed / tested) and survivors.txt
(each surviving mutant's id, diff and the note about it in notes.toml: why it is equivalent, or which
test would kill it). mutmut's own output goes to benchmarks/results/mutation/mutmut.log.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import tomllib
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "mutation"
NOTES = OUT / "notes.toml"
MUTANTS = ROOT / "mutants"
TIMES = MUTANTS / "mutation-times.json"
PACKAGE = "course_utils"
# The groups `make mutation` knows; each is a folder or a file of course_utils (pyproject.toml's only_mutate).
GROUPS = {
    "attacks": "attacks",
    "certify": "certify",
    "autoattack": "autoattack.py",
    "masking": "masking.py",
    "robustness": "robustness.py",
    "evaluation": "evaluation.py",
}
# mutmut's exit codes of a tested mutant (mutmut/stats.py), folded into what the scores count.
KILLED = {1: "killed", 3: "killed"}
STATUS = {
    0: "survived",
    5: "no tests",
    33: "no tests",
    34: "skipped",
    36: "timeout",
    24: "timeout",
    -24: "timeout",
    152: "timeout",
    255: "timeout",
    -9: "timeout",  # the CPU-time limit's SIGKILL
    -11: "segfault",
    None: "not checked",
}
CAUGHT = ("killed", "timeout", "segfault")  # a test run that did not pass: the mutant was seen
LISTED = ("survived", "no tests", "suspicious")  # survivors.txt


def status_of(exit_code: int | None) -> str:
    return KILLED.get(exit_code) or STATUS.get(exit_code, "suspicious")


def files_of(target: str) -> list[Path]:
    """The source files (relative to the checkout) of a group name or a path under course_utils/."""
    rel = GROUPS.get(target, target).removeprefix(f"{PACKAGE}/")
    path = ROOT / PACKAGE / rel
    if path.is_dir():
        return sorted(p.relative_to(ROOT) for p in path.glob("*.py") if p.name != "__init__.py")
    if path.is_file():
        return [path.relative_to(ROOT)]
    raise SystemExit(f"{target!r} is neither a group ({', '.join(GROUPS)}) nor a file under {PACKAGE}/.")


def group_of(path: Path) -> str:
    rel = path.relative_to(PACKAGE).as_posix()
    return next(g for g, p in GROUPS.items() if rel == p or rel.startswith(p + "/"))


def module_of(path: Path) -> str:
    return ".".join(path.with_suffix("").parts)


def load_meta(path: Path) -> dict[str, int | None]:
    """mutmut's results for one source file: {mutant id: exit code or None}, {} before its first run."""
    meta = MUTANTS / (str(path) + ".meta")
    if not meta.is_file():
        return {}
    return json.loads(meta.read_text())["exit_code_by_key"]


def is_stale(path: Path) -> bool:
    """True when the source changed since mutmut last made its mutants (the next run remakes them)."""
    copy = MUTANTS / path
    return not copy.is_file() or (ROOT / path).stat().st_mtime > copy.stat().st_mtime


def to_test(path: Path, retest: bool) -> list[str]:
    """The mutant ids or patterns of one source file to hand to `mutmut run`; [] when it is done.

    Named mutants are tested even if they have a result: so name only those without one (the run
    resumes), every mutant of a file never run (``module.*``) or of a function none of whose mutants
    ran (``module.x_function__mutmut_*``), and one mutant of a file whose source changed since (mutmut
    first remakes that file's mutants and resets those of every edited function: the next round).
    """
    meta = load_meta(path)
    if not meta:
        return [module_of(path) + ".*"]
    wanted = {None} | ({0, 5, 33} if retest else set())
    pending = {k for k, code in meta.items() if code in wanted}
    if not pending:
        return [next(iter(meta))] if is_stale(path) else []
    if pending == set(meta):
        return [module_of(path) + ".*"]
    functions: dict[str, list[str]] = {}
    for k in meta:
        functions.setdefault(k.rsplit("__mutmut_", 1)[0], []).append(k)
    names = []
    for function, keys in functions.items():
        todo = [k for k in keys if k in pending]
        names += [function + "__mutmut_*"] if len(todo) == len(keys) else todo
    return names


def run_mutmut(path: Path, names: list[str], jobs: int, log) -> int:
    """`mutmut run` on ``names`` (mutants of ``path``), its output to ``log``; progress every minute."""
    mutmut = Path(sys.executable).with_name("mutmut")
    cmd = [str(mutmut), "run", "--max-children", str(jobs), *names]
    log.write(f"\n=== {datetime.now():%Y-%m-%d %H:%M:%S} mutmut run: {path} ({len(names)} names)\n")
    log.flush()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    while proc.poll() is None:
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            meta = load_meta(path)
            done = sum(code is not None for code in meta.values())
            print(f"  {datetime.now():%H:%M} {path}: {done}/{len(meta)} mutants tested", flush=True)
    return proc.returncode


def load_times() -> dict[str, dict]:
    """Wall-clock time spent and mutants tested per file, summed over runs (mutants/, with the results)."""
    return json.loads(TIMES.read_text()) if TIMES.is_file() else {}


def add_time(path: Path, seconds: float, tested: int) -> None:
    times = load_times()
    t = times.setdefault(path.as_posix(), {"seconds": 0.0, "mutants_tested": 0})
    t["seconds"] += seconds
    t["mutants_tested"] += tested
    TIMES.write_text(json.dumps(times, indent=2) + "\n")


def test_file(path: Path, jobs: int, retest: bool, log) -> int:
    """Test the mutants of one source file that have no result (all again with ``retest``)."""
    for _ in range(3):  # a round remakes the mutants of edited functions: the next one tests them
        names = to_test(path, retest)
        if not names:
            return 0
        start = time.monotonic()
        before = sum(code is not None for code in load_meta(path).values())
        print(f"{path}: mutmut run ({len(names)} ids or patterns); log: {log.name}", flush=True)
        code = run_mutmut(path, names, jobs, log)
        after = sum(code is not None for code in load_meta(path).values())
        if not retest:
            add_time(path, time.monotonic() - start, after - before)
        if code != 0:
            print(f"mutmut run failed (exit {code}); see {log.name}", file=sys.stderr)
            return code
        retest = False
    return 0


def score(killed: int, tested: int) -> float | None:
    return round(100 * killed / tested, 1) if tested else None


def counts(meta: dict[str, int | None]) -> dict[str, int]:
    c: dict[str, int] = {}
    for code in meta.values():
        s = status_of(code)
        c[s] = c.get(s, 0) + 1
    tested = sum(n for s, n in c.items() if s not in ("not checked", "skipped"))
    caught = sum(c.get(s, 0) for s in CAUGHT)
    return {
        "mutants": len(meta),
        "tested": tested,
        **{s.replace(" ", "_"): c[s] for s in sorted(c) if s != "killed"},
        "killed": caught,  # with the timeouts and crashes
        "score_percent": score(caught, tested),
    }


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()


def load_notes() -> dict[str, dict]:
    return tomllib.loads(NOTES.read_text()) if NOTES.is_file() else {}


def diff_of(mutant: str, path: Path) -> str:
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    try:
        return get_diff_for_mutant(mutant, path=path)
    except Exception as e:  # noqa: BLE001 - a report must not fail on one unreadable mutant
        return f"(no diff: {e})"


def report(all_files: list[Path]) -> dict:
    """Write scores.json and survivors.txt for every configured file that has results."""
    os.chdir(ROOT)  # mutmut's helpers read mutants/ relative to the working directory
    notes, times = load_notes(), load_times()
    per_file, per_group, lines = {}, {}, []
    for path in all_files:
        meta = load_meta(path)
        if not meta:
            continue
        c = counts(meta)
        listed = [(k, status_of(code)) for k, code in meta.items() if status_of(code) in LISTED]
        entries = []
        for mutant, status in listed:
            diff = diff_of(mutant, path)
            note = notes.get(mutant)
            added = [d[1:].strip() for d in diff.splitlines() if d[:1] == "+" and d[:3] != "+++"]
            if note is None:
                kind, verdict = "unclassified", "UNCLASSIFIED"
            elif note.get("change") is not None and note["change"] not in added:
                kind = "unclassified"
                verdict = f"STALE NOTE (written for: {note['change']}): {note['verdict']}: {note['why']}"
            else:
                kind, verdict = note["verdict"], f"{note['verdict']}: {note['why']}"
            c[kind] = c.get(kind, 0) + 1
            entries += [f"\n--- {mutant} [{status}]", f"    {verdict}", diff, ""]
        c["score_without_equivalent_percent"] = score(c["killed"], c["tested"] - c.get("equivalent", 0))
        t = times.get(path.as_posix())
        if t and t["mutants_tested"]:
            c["seconds_per_mutant"] = round(t["seconds"] / t["mutants_tested"], 1)
        per_file[path.as_posix()] = c
        g = per_group.setdefault(group_of(path), {})
        for k, v in c.items():
            if not k.endswith(("_percent", "_per_mutant")):
                g[k] = g.get(k, 0) + v
        if entries:
            title = f"{path.as_posix()}: {len(listed)} not killed of {c['tested']} tested"
            lines += ["=" * 100, title, "=" * 100, *entries]
    for g in per_group.values():
        g["score_percent"] = score(g["killed"], g["tested"])
        g["score_without_equivalent_percent"] = score(g["killed"], g["tested"] - g.get("equivalent", 0))
    scores = {
        "written": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": git("describe", "--always", "--dirty"),
        "score": "killed / tested: a mutant is killed when one of its tests fails, crashes or times out;"
        " 'no tests' mutants count as tested and not killed. score_without_equivalent leaves out the"
        " survivors notes.toml calls equivalent; gap and unclassified count the others",
        "groups": per_group,
        "files": per_file,
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "scores.json").write_text(json.dumps(scores, indent=2) + "\n")
    header = (
        "Mutants that no test killed (make mutation; tools/mutation.py), each with its note from\n"
        "notes.toml: 'equivalent' (no behaviour changes), 'gap' (a hole in the tests, and which test\n"
        "would kill it), or UNCLASSIFIED.\n"
    )
    (OUT / "survivors.txt").write_text(header + "\n".join(lines) + "\n")
    return scores


def print_scores(scores: dict) -> None:
    """One line per file and per group: killed / tested and the score, also without the equivalent
    survivors; the survivors by their notes (equivalent, gap, none yet); the mutants not tested yet."""

    def pct(value):
        return "-" if value is None else f"{value:.1f}%"

    head = ["killed", "tested", "score", "w/o eq.", "equiv.", "gap", "no note", "untested"]
    print(f"{'':34}" + "".join(f"{h:>9}" for h in head))
    for name, c in [*scores["files"].items(), *((f"[{g}]", c) for g, c in scores["groups"].items())]:
        cells = [
            c["killed"],
            c["tested"],
            pct(c["score_percent"]),
            pct(c["score_without_equivalent_percent"]),
        ]
        cells += [c.get(k, 0) for k in ("equivalent", "gap", "unclassified", "not_checked")]
        print(f"{name:34}" + "".join(f"{v:>9}" for v in cells))
    print(f"-> {(OUT / 'scores.json').relative_to(ROOT)}, {(OUT / 'survivors.txt').relative_to(ROOT)}")


def main(argv: list[str] | None = None) -> int:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("targets", nargs="*", help=f"groups ({', '.join(GROUPS)}) or files under {PACKAGE}/")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="mutants tested at once")
    parser.add_argument("--report", action="store_true", help="test nothing: only write the scores")
    parser.add_argument(
        "--retest-survivors", action="store_true", help="test the surviving mutants again (after new tests)"
    )
    args = parser.parse_args(argv)
    all_files = [p for g in GROUPS for p in files_of(g)]
    files = list(dict.fromkeys(p for t in (args.targets or GROUPS) for p in files_of(t)))  # in order
    if not args.report:
        OUT.mkdir(parents=True, exist_ok=True)
        with open(OUT / "mutmut.log", "a") as log:
            for path in files:  # file by file: each one's score is final when the next one starts
                code = test_file(path, args.jobs, args.retest_survivors, log)
                report(all_files)
                if code != 0:
                    return code
    print_scores(report(all_files))
    return 0


if __name__ == "__main__":
    sys.exit(main())
