"""Every slide of every deck fits a 1280 x 800 slide: headless Chromium opens each deck, visits every
slide and measures its height. The course's notebooks are measured as they are here (executed by
`make course` where build/executed has them, else without outputs), and one made-up notebook with
outputs taller than any slide checks that a long cell scrolls inside its own box."""

import base64
import importlib.util
import io
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest

from course_utils import config

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
_spec = importlib.util.spec_from_file_location("build_slides", ROOT / "tools" / "build_slides.py")
build_slides = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build_slides)

# Visits every slide once the deck and its images are loaded; writes the result into the title.
PROBE = """<script>function probe() {
  var limit = Reveal.getConfig().height, over = [], slides = Reveal.getSlides(), first = slides[0];
  slides.forEach(function (s) { var i = Reveal.getIndices(s); Reveal.slide(i.h, i.v);
    if (s.scrollHeight > limit) over.push(i.h + '/' + (i.v || 0) + ':' + s.scrollHeight); });
  var code = first.querySelectorAll('.jp-CodeCell').length;
  document.title = 'slides:' + slides.length + ' code-on-title:' + code + ' over:' + over.join(',');
}
window.addEventListener('load', function () { setTimeout(function wait() {
  window.Reveal && Reveal.isReady() ? probe() : setTimeout(wait, 50); }, 1000); });
</script></body>"""


def measure(deck: Path) -> dict:
    html = deck.read_text(encoding="utf-8")
    deck.write_text(
        html[: html.rindex("</body>")] + PROBE + html[html.rindex("</body>") + 7 :], encoding="utf-8"
    )
    dom = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--window-size=1280,800",
         "--virtual-time-budget=20000", "--dump-dom", deck.as_uri()],
        check=True, capture_output=True, text=True, timeout=300,
    ).stdout  # fmt: skip
    found = re.search(r"<title>slides:(\d+) code-on-title:(\d+) over:(.*?)</title>", dom, re.S)
    assert found, f"{deck.name}: the probe did not run"
    return {"slides": int(found.group(1)), "code_on_title": int(found.group(2)), "over": found.group(3)}


def _tall_notebook(folder: Path) -> Path:
    """A notebook whose one section holds a figure, a 200-line printout and an 80-line code cell."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 12), dpi=100)  # 1,200 px high
    ax.plot([0, 1], [0, 1])
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        md("# 99 · Tall things"),
        code("import os"),
        md("## 1. One section"),
        code("plot()"),
        code("report()"),
    ]
    nb.cells.append(code("\n".join(f"value_{i} = {i}" for i in range(80))))
    png = base64.b64encode(buffer.getvalue()).decode()
    nb.cells[3].outputs = [nbformat.v4.new_output("display_data", {"image/png": png})]
    text = "".join(f"line {i}\n" for i in range(200))
    nb.cells[4].outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
    for cell in nb.cells:
        cell.metadata["slideshow"] = {"slide_type": build_slides.slide_type(cell)}
    path = folder / "99_tall_things.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not found (sudo apt-get install chromium)")
def test_every_slide_of_every_deck_fits_1280_by_800(tmp_path):
    notebooks = [*config.course_notebooks(ROOT / "notebooks"), _tall_notebook(tmp_path)]
    decks = build_slides.build(notebooks, tmp_path / "slides")
    problems = []
    for deck in decks:
        result = measure(deck)
        if result["over"] or result["code_on_title"]:
            problems.append(f"{deck.name}: {result}")
        html = deck.read_text(encoding="utf-8")
        assert not re.search(r"<h2[^>]*>Solutions", html), f"{deck.name} has a Solutions slide"
        assert not re.search(r'href="\d\d[a-z]?_\w+\.ipynb', html), f"{deck.name} links to a notebook file"
    assert 'href="01_neural_network_basics.slides.html"' in decks[0].read_text(encoding="utf-8")  # the map
    assert not problems, "slides taller than 800 px or set-up code on the title slide:\n" + "\n".join(
        problems
    )
