"""Keep notebooks clean in git: no execution counts, no outputs, no machine metadata.

    python tools/nbclean.py notebooks/*.ipynb          # clean in place
    python tools/nbclean.py --check notebooks/*.ipynb  # exit 1 if anything would change (CI)

No outputs are committed: a cell whose result is deterministic checks it with an explicit
``assert``, which nbval (``--nbval-lax``) runs like every other cell. Cell metadata keeps ``tags``,
``slideshow`` and ``student_stub`` (the student build's starting code); notebook metadata keeps a
generic Python 3 kernelspec and the language name.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

KEEP_CELL_METADATA = ("tags", "slideshow", "student_stub")
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def clean(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    nb.metadata = nbformat.from_dict({"kernelspec": KERNELSPEC, "language_info": {"name": "python"}})
    for cell in nb.cells:
        cell.metadata = nbformat.from_dict(
            {k: v for k, v in cell.metadata.items() if k in KEEP_CELL_METADATA}
        )
        if cell.cell_type != "code":
            cell.pop("outputs", None)
            cell.pop("execution_count", None)
            continue
        cell.execution_count = None
        cell.outputs = []
    return nb


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report, do not write; exit 1 if dirty")
    parser.add_argument("paths", nargs="+", type=Path)
    args = parser.parse_args(argv)
    dirty = []
    for path in args.paths:
        original = path.read_text(encoding="utf-8")
        nb = nbformat.reads(original, as_version=4)
        text = nbformat.writes(clean(nb)) + "\n"
        if text != original:
            dirty.append(path)
            if not args.check:
                path.write_text(text, encoding="utf-8")
    if dirty and args.check:
        print("Notebooks not clean (run `make clean-notebooks`):\n  " + "\n  ".join(map(str, dirty)))
        return 1
    for path in dirty:
        print(f"cleaned {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
