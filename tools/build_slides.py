"""Build reveal.js slide decks from the notebooks, working offline.

    python tools/build_slides.py [--out build/slides] [notebooks/04_*.ipynb ...]

Each notebook becomes ``build/slides/<name>.slides.html``. The decks use the executed notebooks of
``make course`` (``build/executed/``) when they exist, so that figures and printed results appear
and no training runs during a lecture; otherwise the clean notebooks, without outputs. Cells carry
their slide types in ``metadata.slideshow`` (see :func:`slide_type`); ``tools/build_slides.py
--assign`` writes them into the notebooks from the headings.

Everything a deck loads is copied beside it into ``build/slides/_static/``: reveal.js (bundled by the
``sphinx-revealjs`` package) and MathJax 2 (bundled by ``jupyter-server-mathjax``). No CDN is used.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import jinja2
import nbformat
from nbconvert import SlidesExporter

from course_utils import config

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_DIR = Path(__file__).resolve().parent / "slides_template"


def slide_type(cell) -> str:
    """The slide type the course gives a cell: a new slide at each ``#`` or ``##`` heading, a
    sub-slide at ``###`` and at the cell that reveals a prediction (so that the question and the
    student's guess come first, the answer after), exercises' solutions skipped, everything else a
    continuation."""
    if "solution" in cell.metadata.get("tags", []):
        return "skip"
    if cell.cell_type == "code" and "predict.reveal_" in cell.source:
        return "subslide"
    if cell.cell_type == "markdown":
        first = cell.source.lstrip().splitlines()[0] if cell.source.strip() else ""
        if first.startswith(("# ", "## ")):
            return "slide"
        if first.startswith("### "):
            return "subslide"
    return "-"


def assign(paths) -> int:
    """Write :func:`slide_type` into every cell's ``metadata.slideshow``; returns cells changed."""
    changed = 0
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            wanted = {"slide_type": slide_type(cell)}
            if cell.metadata.get("slideshow") != wanted:
                cell.metadata["slideshow"] = wanted
                changed += 1
        nbformat.write(nb, path)
    return changed


def static_sources() -> dict[str, Path]:
    import jupyter_server_mathjax
    import sphinx_revealjs

    return {
        "revealjs": Path(sphinx_revealjs.__file__).parent / "_static" / "revealjs",
        "mathjax": Path(jupyter_server_mathjax.__file__).parent / "static",
    }


def build(paths, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    for name, source in static_sources().items():
        target = out / "_static" / name
        if not target.exists():
            shutil.copytree(source, target)
    exporter = SlidesExporter(
        extra_template_basedirs=[str(TEMPLATE_DIR.parent)],
        extra_loaders=[jinja2.FileSystemLoader(str(TEMPLATE_DIR.parent))],  # figure_png.html.j2
        template_name=TEMPLATE_DIR.name,
        reveal_url_prefix="_static/revealjs",
        mathjax_url="_static/mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full",
        reveal_scroll=True,
        reveal_width="1280",  # slide coordinates: at 1280 x 800 nothing is scaled (see the template)
        reveal_height="800",
    )
    written = []
    for path in paths:
        executed = ROOT / "build" / "executed" / path.name
        source = executed if executed.exists() else path
        nb = nbformat.read(source, as_version=4)
        body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": path.stem}})
        target = out / f"{path.stem}.slides.html"
        target.write_text(body, encoding="utf-8")
        written.append(target)
        note = "with outputs" if source == executed else "no outputs: run `make course` first for figures"
        print(f"{path.name} -> {target} ({note})")
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "slides")
    parser.add_argument("--assign", action="store_true", help="write slide types into the notebooks")
    parser.add_argument("notebooks", nargs="*", type=Path)
    args = parser.parse_args(argv)
    paths = args.notebooks or config.course_notebooks(ROOT / "notebooks")
    if args.assign:
        print(f"{assign(paths)} cells given slide types")
        return 0
    build(paths, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
