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
import base64
import copy
import math
import re
import shutil
import struct
import sys
from pathlib import Path

import jinja2
import nbformat
from nbconvert import SlidesExporter

from course_utils import config

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from run_course import with_links_to  # noqa: E402

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


#: Height budget of one slide, in CSS pixels of the 1280 x 800 slide: the estimates below err by about
#: 60 px (measured against Chromium), and reveal.js needs a margin.
SLIDE_BUDGET = 660
#: No cell is taller than this on a slide: a longer one scrolls inside its box (see the template).
CELL_CAP = 620


def _png_height(data: str) -> float:
    """Height in slide pixels of a base64 PNG, as the template shows it (scaled to fit 1,100 px
    wide, at most 500 px high)."""
    head = base64.b64decode(data[:64] + "=" * (-len(data[:64]) % 4))
    width, height = struct.unpack(">II", head[16:24])
    return min(500.0, height * min(1.0, 1100 / max(width, 1)))


def _lines(text: str, width: int) -> int:
    return sum(max(1, math.ceil(len(line) / width)) for line in text.rstrip("\n").split("\n"))


def estimated_height(cell) -> float:
    """The cell's height on a slide, in pixels, from its lines, headings and figures (a linear fit to
    heights measured in Chromium at 1280 x 800: 120 cells of notebooks 07, 08 and 11), at most
    :data:`CELL_CAP`."""
    if cell.cell_type == "markdown":
        lines = cell.source.split("\n")
        height = 19 + 16 * _lines(cell.source, 90) + 75 * sum(line.startswith("#") for line in lines)
        # the title's big heading: about 110 px a line of 35 characters
        height += sum(110 * math.ceil(len(line) / 35) for line in lines if line.startswith("# "))
        return min(CELL_CAP, height)
    height = 42 + min(400, 20 * _lines(cell.source, 110))
    text, images = 0, 0.0
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            text += _lines(output.get("text", ""), 110)
        data = output.get("data", {})
        if "image/png" in data:
            images += _png_height(data["image/png"])
        elif "text/plain" in data:
            text += _lines(data["text/plain"], 110)
    return min(CELL_CAP, height + min(300, 20 * text) + 1.1 * images)


def _markdown_blocks(source: str) -> list[str]:
    """A markdown cell cut at its blank lines, except inside a fenced block or $$ display maths."""
    blocks, current, fenced, maths = [], [], False, False
    for line in source.split("\n"):
        if line.strip().startswith("```"):
            fenced = not fenced
        if line.strip().startswith("$$") and not (line.strip().endswith("$$") and len(line.strip()) > 2):
            maths = not maths
        if not line.strip() and not fenced and not maths and current:
            blocks.append("\n".join(current))
            current = []
        elif line.strip() or current:
            current.append(line)
    if current:
        blocks.append("\n".join(current))
    return blocks


def paginate(nb):
    """A copy of ``nb`` cut into slides that fit 1280 x 800: the headings' slide types (cells'
    ``metadata.slideshow``), plus a new sub-slide wherever the next cell would take a slide past
    :data:`SLIDE_BUDGET`. A markdown cell taller than the budget is first cut into its paragraphs.
    The set-up code (every code cell before the first ``##`` section), the solutions and their heading
    are left out."""
    nb = copy.deepcopy(nb)
    cells, title_slide = [], True
    for cell in nb.cells:
        kind = cell.metadata.get("slideshow", {}).get("slide_type") or slide_type(cell)
        if cell.cell_type == "markdown" and cell.source.lstrip().startswith("## "):
            title_slide = False
        if cell.cell_type == "code" and title_slide:
            kind = "skip"  # set-up: imports, the profile, the data
        if cell.cell_type == "markdown" and re.match(r"#+ Solutions\b", cell.source.lstrip()):
            kind = "skip"
        if kind == "skip":
            continue
        if cell.cell_type == "markdown" and estimated_height(cell) > SLIDE_BUDGET / 2:
            for i, block in enumerate(_markdown_blocks(cell.source)):
                part = nbformat.v4.new_markdown_cell(block, metadata=copy.deepcopy(cell.metadata))
                part.metadata["slideshow"] = {"slide_type": kind if i == 0 else "-"}
                cells.append(part)
            continue
        cell.metadata["slideshow"] = {"slide_type": kind}
        cells.append(cell)
    used = 0.0
    for cell in cells:
        height = estimated_height(cell)
        kind = cell.metadata["slideshow"]["slide_type"]
        if kind in ("slide", "subslide"):
            used = height
        elif used + height > SLIDE_BUDGET:
            cell.metadata["slideshow"] = {"slide_type": "subslide"}
            used = height
        else:
            used += height
    nb.cells = cells
    return nb


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
        nb = with_links_to(paginate(nbformat.read(source, as_version=4)), ".slides.html")
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
