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
