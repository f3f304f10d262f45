"""Write constraints.txt: the exact version of every package that `make venv` installs.

    make lock                     # or: python3.11 tools/lock.py

In a throwaway virtual environment, pip resolves the course (`pip install -e ".[dev,cpu]"`: the newest
versions that pyproject.toml allows, among the releases that install on the oldest Python it allows,
3.11.0), installs it, and the lock records `pip freeze` of it: that is what `make venv` (and so CI)
installs on Linux x86-64 with Python 3.11. On top of those pins pip then resolves (without installing)
the `gpu` extra and the benchmarks' `bench` extra, and their extra packages (TensorFlow's full build,
NVIDIA's CUDA libraries; ART and what it needs) are pinned too, so that every supported install takes
the same versions of what they share. A constraints file only constrains the packages that an install
asks for: pins that a platform does not use are harmless.

    python3.11 tools/lock.py --upgrade keras    # keep every other pin, take the newest keras allowed

`--upgrade NAME` (repeatable) leaves the other pins as they are and lets pip choose NAME again (and any
package that then needs another version fails to resolve: run without --upgrade to re-resolve all).
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "constraints.txt"
# What `pip freeze` leaves out, and so does the lock: the installer and the build tools, whose versions
# come with the interpreter that made the virtual environment. course-utils is this checkout.
NOT_PINNED = {"pip", "setuptools", "wheel", "course-utils"}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(text: str) -> dict[str, str]:
    """{canonical name: version} of the `name==version` lines of a constraints file or `pip freeze`."""
    pins = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            name, version = line.split(";", 1)[0].split("==")
            pins[canonical(name.strip())] = version.strip()
    return pins


def run(*args: str, **kwargs) -> subprocess.CompletedProcess:
    print("+", " ".join(args), flush=True)
    return subprocess.run(args, check=True, cwd=ROOT, **kwargs)


def oldest_python() -> str:
    """The oldest Python that pyproject.toml's requires-python admits, as 3.N.0."""
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    return re.search(r">=\s*(3\.\d+)", requires).group(1) + ".0"


def resolve(python: str, extras: str, constraints: Path) -> dict[str, str]:
    """What `pip install -e .[extras]` would install from scratch under these constraints, choosing only
    releases that install on the oldest Python pyproject.toml admits (3.11.0: some releases need a newer
    3.11.x, and Debian 12's python3 is 3.11.2). Nothing is installed: pip's --dry-run report."""
    report = Path(constraints.parent, f"report-{extras.replace(',', '-')}.json")
    pip = [python, "-m", "pip", "install", "--quiet", "--dry-run", "--ignore-installed"]
    pip += ["--only-binary=:all:", "--python-version", oldest_python(), "--report", str(report)]
    run(*pip, "-c", str(constraints), "-e", f".[{extras}]")
    installs = json.loads(report.read_text())["install"]
    return {
        canonical(item["metadata"]["name"]): item["metadata"]["version"]
        for item in installs
        if canonical(item["metadata"]["name"]) not in NOT_PINNED
    }


def section(title: str, pins: dict[str, str]) -> list[str]:
    return ["", f"# {title}", *(f"{name}=={pins[name]}" for name in sorted(pins))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--upgrade",
        action="append",
        default=[],
        metavar="NAME",
        help="keep the other pins; let pip choose this package's version again",
    )
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    if (platform.system(), platform.machine(), sys.version_info[:2]) != ("Linux", "x86_64", (3, 11)):
        print(
            "The lock records what CI installs: run it with Python 3.11 on Linux x86-64 "
            f"(this is Python {platform.python_version()} on {platform.system()} {platform.machine()})."
        )
        return 2
    with tempfile.TemporaryDirectory(prefix="course-lock-") as tmp:
        tmp = Path(tmp)
        python = str(tmp / "venv" / "bin" / "python")
        run(sys.executable, "-m", "venv", str(tmp / "venv"))
        run(python, "-m", "pip", "install", "--quiet", "--upgrade", "pip")  # as make venv does
        keep = tmp / "keep.txt"  # the current pins, less the ones to upgrade (--upgrade only)
        if args.upgrade and args.out.exists():
            upgrade = {canonical(name) for name in args.upgrade}
            kept = {k: v for k, v in read_pins(args.out.read_text()).items() if k not in upgrade}
            keep.write_text("".join(f"{k}=={v}\n" for k, v in kept.items()))
        else:
            keep.write_text("")
        chosen = tmp / "chosen.txt"  # the versions for every Python the course supports
        resolved = resolve(python, "dev,cpu", keep)
        chosen.write_text("".join(f"{k}=={v}\n" for k, v in resolved.items()))
        run(python, "-m", "pip", "install", "--quiet", "-c", str(chosen), "-e", ".[dev,cpu]")
        freeze = run(
            python, "-m", "pip", "freeze", "--exclude-editable", capture_output=True, text=True
        ).stdout
        cpu = {k: v for k, v in read_pins(freeze).items() if k not in NOT_PINNED}
        if cpu != resolved:  # the lock is the freeze; say where the install left the dry run's choice
            print("warning: installed, not as resolved:", sorted(set(cpu.items()) ^ set(resolved.items())))
        installed = tmp / "cpu.txt"
        installed.write_text("".join(f"{k}=={v}\n" for k, v in cpu.items()))
        gpu = {k: v for k, v in resolve(python, "dev,gpu", installed).items() if k not in cpu}
        bench = {k: v for k, v in resolve(python, "dev,cpu,bench", installed).items() if k not in cpu}
        pip_version = run(python, "-m", "pip", "--version", capture_output=True, text=True).stdout.split()[1]
    lines = [
        "# The exact versions that `make venv` installs and CI tests (pip install -c constraints.txt ...).",
        "# Generated by tools/lock.py: do not edit by hand. To regenerate (newest versions pyproject.toml",
        "# allows), with Python 3.11 on Linux x86-64:  make lock   (or: python3.11 tools/lock.py)",
        "# One package only:  python3.11 tools/lock.py --upgrade NAME.  See docs/contributing.md.",
        f"# Installed with Python {platform.python_version()} and pip {pip_version}, choosing releases that "
        f"install on Python {oldest_python()} too;",
        "# pip, setuptools and wheel are not pinned. Pins that an install does not use (another build,",
        "# platform or Python) are ignored.",
        *section(
            'pip install -e ".[dev,cpu]" on Linux x86-64, Python 3.11: what make venv installs and CI tests',
            cpu,
        ),
        *section('added by the gpu extra (pip install -e ".[dev,gpu]"; its TensorFlow is macOS\'s too)', gpu),
        *section(
            "added by the benchmarks' bench extra (benchmarks/autoattack.py installs it on first use)", bench
        ),
    ]
    args.out.write_text("\n".join(lines) + "\n")
    print(
        f"{args.out}: {len(cpu)} pins for the cpu build, {len(gpu)} more for gpu, "
        f"{len(bench)} for the benchmarks"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
