"""Build the students' copies of the notebooks: solutions replaced by a space for their own work.

    python tools/student_build.py [--out build/student] [--run] [notebooks/03_*.ipynb ...]
    python tools/student_build.py --out my_notebooks --keep-existing   # what `make lab` does

Every notebook ends with a "## Solutions" section. Each cell after that heading must carry the tag
``solution`` (the build refuses a notebook where one does not, so that no answer can slip through
untagged). In the student copy a solution code cell becomes a stub: the cell's
``metadata["student_stub"]`` when it has one (for example the signature of the function to write,
so that the check cell after it can say what is missing), else ``# Your code here`` under the
solution's exercise number (``# Exercise 2``; the rest of its first line is dropped, as it may give
the answer away). A solution text cell becomes "*Your answer here.*", after its number
(``**Exercise 1.**``) if it has one. The "## Solutions" heading becomes
"## Your solutions". Everything else is kept as it is.

The build then verifies its output: no cell tagged ``solution`` and no line of a solution (code,
comment or text) that the lesson does not also contain is left. It exits with status 1 (and says
where) if anything would leak. With ``--run`` it also executes each student copy top to bottom, as a
student's "Run All" before starting the exercises would, and fails on any cell that raises
(``COURSE_PROFILE=quick`` keeps that to a few minutes).

With ``--colab-repo URL`` each copy starts with a set-up cell for hosted notebooks (Colab, Kaggle):
in a session without ``course_utils`` it clones the course from ``URL``, installs it, keeps trained
models on Google Drive (Colab) or in ``/kaggle/working``, and asks for one restart; anywhere the
package is installed it does nothing. An instructor builds the copies once with the repository's
address and hands them out (or puts them on Drive).

With ``--keep-existing`` a copy made before the course renumbered its notebooks (the same name after
the number, ``04_adversarial_examples_fgsm.ipynb`` for ``06_adversarial_examples_fgsm.ipynb``) is
renamed to the new number rather than left beside a fresh copy: the student's answers move with it.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

from course_utils import config

ROOT = Path(__file__).resolve().parent.parent
TAG = "solution"
DEFAULT_STUB = "# Your code here\n"
TEXT_STUB = "*Your answer here.*"


def is_solutions_heading(cell) -> bool:
    return cell.cell_type == "markdown" and any(
        line.strip().lower() == "## solutions" for line in cell.source.splitlines()
    )


def untagged_solutions(nb) -> list[int]:
    """Indices of cells after the "## Solutions" heading that lack the ``solution`` tag."""
    start = next((i for i, cell in enumerate(nb.cells) if is_solutions_heading(cell)), None)
    if start is None:
        return []
    return [i for i in range(start + 1, len(nb.cells)) if TAG not in nb.cells[i].metadata.get("tags", [])]


EXERCISE_LABEL = re.compile(r"^(?:# Exercise (\d+)|\*\*Exercise (\d+)\b)")


def stub_source(cell) -> str:
    """What a solution cell becomes: its ``student_stub``, else the default stub under the cell's
    exercise label, reduced to its number (``# Exercise 2`` or ``**Exercise 2.**``): the rest of a
    solution's first line may be the answer itself ("... so eps* = 0.05")."""
    if cell.cell_type == "code" and "student_stub" in cell.metadata:
        return cell.metadata["student_stub"]
    first = cell.source.splitlines()[0] if cell.source else ""
    label = EXERCISE_LABEL.match(first)
    number = label and (label.group(1) or label.group(2))
    if cell.cell_type == "code":
        return (f"# Exercise {number}\n" if number else "") + DEFAULT_STUB
    return (f"**Exercise {number}.** " if number else "") + TEXT_STUB


COLAB_TAG = "hosted-setup"
COLAB_SETUP = """# Colab, Kaggle: install the course once per session (elsewhere this cell does nothing).
import importlib.util
import os
import subprocess
import sys

COURSE_REPO = {repo!r}
if os.path.isdir("/kaggle/working"):  # trained models survive the session here
    os.environ.setdefault("COURSE_CACHE_DIR", "/kaggle/working/course-models")
elif "google.colab" in sys.modules:  # ... and on Google Drive
    if not os.path.isdir("/content/drive/MyDrive"):
        from google.colab import drive

        drive.mount("/content/drive")
    os.environ.setdefault("COURSE_CACHE_DIR", "/content/drive/MyDrive/adversarial-course/models")
if importlib.util.find_spec("course_utils") is None:
    if not os.path.isdir("course"):
        subprocess.run(["git", "clone", "--depth", "1", COURSE_REPO, "course"], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", "course[gpu]"], check=True)
    raise SystemExit("Installed. Restart the session (Runtime > Restart session), then run all cells.")
"""


def with_hosted_setup(nb, repo: str):
    """``nb`` with :data:`COLAB_SETUP` for ``repo`` as its first code cell (after the title)."""
    nb = nbformat.from_dict(nb)
    cell = nbformat.v4.new_code_cell(COLAB_SETUP.format(repo=repo), metadata={"tags": [COLAB_TAG]})
    cell["id"] = "hosted-setup"
    nb.cells.insert(1 if nb.cells and nb.cells[0].cell_type == "markdown" else 0, cell)
    return nb


def student_copy(nb):
    """A copy of ``nb`` with every solution cell replaced by a stub (same cell id: two builds of the
    same notebook are identical) and the "## Solutions" heading renamed "## Your solutions"."""
    copy = nbformat.from_dict(nb)
    cells = []
    for cell in copy.cells:
        tags = cell.metadata.get("tags", [])
        if TAG not in tags:
            if is_solutions_heading(cell):
                cell.source = "\n".join(
                    "## Your solutions" if line.strip().lower() == "## solutions" else line
                    for line in cell.source.splitlines()
                )
            cells.append(cell)
            continue
        meta = {"tags": [t for t in tags if t != TAG] + ["student"]}
        new = nbformat.v4.new_code_cell if cell.cell_type == "code" else nbformat.v4.new_markdown_cell
        stub = new(stub_source(cell), metadata=meta)
        if "id" in cell:
            stub["id"] = cell["id"]
        cells.append(stub)
    copy.cells = cells
    return copy


def leaks(instructor, student) -> list[str]:
    """What of the solutions survives in ``student``: tagged cells, or lines of a solution (code,
    comment or text) that appear nowhere else in the instructor's notebook."""
    problems = [
        f"cell {i} is still tagged {TAG!r}"
        for i, c in enumerate(student.cells)
        if TAG in c.metadata.get("tags", [])
    ]
    lesson_lines = {
        line.strip()
        for c in instructor.cells
        if TAG not in c.metadata.get("tags", [])
        for line in c.source.splitlines()
    }
    student_lines = {line.strip() for c in student.cells for line in c.source.splitlines()}
    for i, cell in enumerate(instructor.cells):
        if TAG not in cell.metadata.get("tags", []):
            continue
        stub_lines = {line.strip() for line in stub_source(cell).splitlines()}
        kind = "code" if cell.cell_type == "code" else "text"
        for line in cell.source.splitlines():
            line = line.strip()
            if line and line not in lesson_lines and line not in stub_lines and line in student_lines:
                problems.append(f"solution {kind} of cell {i} survives: {line[:60]!r}")
    return problems


def run_errors(path: Path, timeout: int = 1800) -> list[str]:
    """Execute the notebook at ``path`` top to bottom, as a student's "Run All" would, continuing past
    errors; returns one line per cell that raised."""
    from nbclient import NotebookClient

    sys.path.insert(0, str(ROOT / "tools"))
    from run_course import ipc_kernel_config

    nb = nbformat.read(path, as_version=4)
    NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(path.parent)}},
        config=ipc_kernel_config(),  # a local kernel over Unix sockets: no warning about plain TCP
    ).execute()
    return [
        f"cell {i}: {output['ename']}: {output['evalue'][:120]}"
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]


def adopt_renumbered(out: Path, names: list[str]) -> list[str]:
    """Rename a student's copy in ``out`` whose name after the number matches one of ``names`` but
    whose number does not (the course renumbered it), unless a copy under the new name exists.
    Returns one message per rename. A name with several old copies is left alone (and reported)."""
    messages = []
    for name in names:
        target = out / name
        if target.exists():
            continue
        rest = name.split("_", 1)[1]
        old = [p for p in config.course_notebooks(out) if p.name.split("_", 1)[1] == rest and p.name != name]
        if len(old) == 1:
            old[0].rename(target)
            messages.append(
                f"{old[0].name}: the course renumbered this notebook; your copy, answers included, "
                f"is now {target} (its text may still name the old numbers)"
            )
        elif old:
            messages.append(
                f"{name}: several earlier copies ({', '.join(p.name for p in old)}); none renamed, "
                f"a fresh copy is written: move your answers across and delete the old ones"
            )
    return messages


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "student")
    parser.add_argument(
        "--run",
        action="store_true",
        help="then run every student copy top to bottom ($COURSE_PROFILE) and fail on any error",
    )
    parser.add_argument(
        "--keep-existing",
        action="store_true",
        help="never overwrite a copy already in --out (a student's own work); write only missing ones",
    )
    parser.add_argument(
        "--colab-repo",
        metavar="URL",
        help="start each copy with a cell that installs the course from URL on Colab or Kaggle",
    )
    parser.add_argument("notebooks", nargs="*", type=Path)
    args = parser.parse_args(argv)
    paths = args.notebooks or config.course_notebooks(ROOT / "notebooks")
    args.out.mkdir(parents=True, exist_ok=True)
    if args.keep_existing:
        for message in adopt_renumbered(args.out, [p.name for p in paths]):
            print(message)
    failed = False
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        missing = untagged_solutions(nb)
        if missing:
            print(f"{path.name}: cells {missing} follow '## Solutions' but are not tagged {TAG!r}; tag them.")
            failed = True
            continue
        student = student_copy(nb)
        problems = leaks(nb, student)
        if problems:
            print(f"{path.name}: " + "; ".join(problems))
            failed = True
            continue
        target = args.out / path.name
        if args.keep_existing and target.exists():
            print(f"{path.name}: your copy {target} is kept (delete it to get a fresh one)")
            continue
        if args.colab_repo:
            student = with_hosted_setup(student, args.colab_repo)
        nbformat.write(student, target)
        stubs = sum("student" in c.metadata.get("tags", []) for c in student.cells)
        print(f"{path.name}: {stubs} solution cells replaced -> {args.out / path.name}")
        if args.run:
            errors = run_errors(args.out / path.name)
            print(f"  ran top to bottom: {'; '.join(errors) if errors else 'no errors'}", flush=True)
            failed = failed or bool(errors)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
