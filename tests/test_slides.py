"""Slide decks (tools/build_slides.py): slide types from the headings, decks that load nothing remote."""

import importlib.util
import re
from pathlib import Path

import nbformat

from course_utils import config

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("build_slides", ROOT / "tools" / "build_slides.py")
build_slides = importlib.util.module_from_spec(spec)
spec.loader.exec_module(build_slides)


def test_slide_types_follow_the_headings():
    md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
    assert build_slides.slide_type(md("# Title")) == "slide"
    assert build_slides.slide_type(md("## 2. Section\ntext")) == "slide"
    assert build_slides.slide_type(md("### 2.1 Part")) == "subslide"
    assert build_slides.slide_type(md("Some text")) == "-"
    assert build_slides.slide_type(code("x = 1")) == "-"
    reveal = code("acc = 0.5\npredict.reveal_number(my_prediction, 50, close=5)")
    assert build_slides.slide_type(reveal) == "subslide"
    assert build_slides.slide_type(code("answer = 42", metadata={"tags": ["solution"]})) == "skip"


def test_every_notebook_carries_its_slide_types():
    for path in sorted(config.course_notebooks(ROOT / "notebooks")):
        nb = nbformat.read(path, as_version=4)
        wrong = [
            i
            for i, c in enumerate(nb.cells)
            if c.metadata.get("slideshow", {}).get("slide_type") != build_slides.slide_type(c)
        ]
        assert not wrong, f"{path.name}: cells {wrong}; run `python tools/build_slides.py --assign`"


def test_a_deck_loads_only_local_files(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell(
            "# A deck\n\nwith $x^2$ maths", metadata={"slideshow": {"slide_type": "slide"}}
        ),
        nbformat.v4.new_code_cell("print(1)", metadata={"slideshow": {"slide_type": "-"}}),
        nbformat.v4.new_markdown_cell("## Second slide", metadata={"slideshow": {"slide_type": "slide"}}),
    ]
    source = tmp_path / "99_deck.ipynb"
    nbformat.write(nb, source)
    (deck,) = build_slides.build([source], tmp_path / "slides")
    html = deck.read_text()
    assert html.count("<section") >= 2
    references = re.findall(r'(?:src|href)="([^"#][^"]*)"', html)
    assert references, "the deck should load reveal.js"
    for ref in references:
        assert not ref.startswith(("http:", "https:", "//")), f"remote resource {ref}"
        assert (deck.parent / ref.split("?")[0]).is_file(), f"missing local file {ref}"


def _types(nb):
    return [c.metadata["slideshow"]["slide_type"] for c in nb.cells]


def test_pagination_leaves_out_set_up_and_solutions_and_starts_a_subslide_when_full():
    md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
    nb = nbformat.v4.new_notebook()
    tall = "\n".join(f"x{i} = {i}" for i in range(14))  # about 330 px: two fit a slide, not three
    nb.cells = [
        md("# 99 · Title"),
        code("import os\nfrom course_utils import config"),  # the set-up cell
        md("## 1. Section"),
        code(tall),
        code(tall),
        code(tall),
        md("## Solutions"),
        code("answer = 1", metadata={"tags": ["solution"]}),
    ]
    for cell in nb.cells:
        cell.metadata["slideshow"] = {"slide_type": build_slides.slide_type(cell)}
    paged = build_slides.paginate(nb)
    sources = [c.source for c in paged.cells]
    assert (
        "import os" not in "".join(sources) and "## Solutions" not in sources and "answer = 1" not in sources
    )
    assert _types(paged) == ["slide", "slide", "-", "subslide", "-"]
    heights = [build_slides.estimated_height(c) for c in paged.cells]
    assert heights[1] + heights[2] + heights[3] > build_slides.SLIDE_BUDGET >= heights[1] + heights[2]
    assert _types(nb)[1] == "-"  # the notebook itself is left as it was


def test_a_markdown_cell_taller_than_half_a_slide_is_cut_at_its_paragraphs_but_not_inside_maths():
    paragraph = (
        "A sentence of about ninety characters, long enough to wrap onto a second line on a slide. " * 3
    )
    maths = "$$\nx^{t+1} = x^t\n\ny\n$$"
    cell = nbformat.v4.new_markdown_cell("## 2. A long section\n\n" + "\n\n".join([paragraph] * 10 + [maths]))
    cell.metadata["slideshow"] = {"slide_type": "slide"}
    nb = nbformat.v4.new_notebook()
    nb.cells = [cell]
    paged = build_slides.paginate(nb)
    assert [c.source for c in paged.cells] == ["## 2. A long section", *[paragraph] * 10, maths]
    assert _types(paged)[0] == "slide" and "subslide" in _types(paged)
    assert build_slides.estimated_height(cell) == build_slides.CELL_CAP  # one cell never counts more
