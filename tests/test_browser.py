"""The rendered course as a browser sees it: headless Chromium opens the course map, a notebook page
and a slide deck, served from a local folder with the network blocked, and takes screenshots. The
test fails when a page is blank, refers to a network address, or asks for a file that is not there."""

import importlib.util
import re
import shutil
import subprocess
from pathlib import Path

import matplotlib.image
import nbformat
import numpy as np
import pytest

from .helpers import static_server

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _tool(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _screenshot(url: str, png: Path) -> np.ndarray:
    subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
         "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",  # no network but this server
         "--virtual-time-budget=8000", "--window-size=1280,800", f"--screenshot={png}", url],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    return matplotlib.image.imread(png)[..., :3]


@pytest.mark.slow
@pytest.mark.skipif(
    CHROMIUM is None,
    reason="headless Chromium not found: install it (Debian/Ubuntu: sudo apt-get install chromium) "
    "to check the rendered course map and slides",
)
def test_course_map_and_a_slide_deck_render_with_every_resource_local(tmp_path):
    site = tmp_path / "site"
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell(
            "# 99 · A deck\n\nMaths: $\\nabla_x L$", metadata={"slideshow": {"slide_type": "slide"}}
        ),
        nbformat.v4.new_code_cell("print('hello')", metadata={"slideshow": {"slide_type": "-"}}),
    ]
    source = tmp_path / "99_deck.ipynb"
    nbformat.write(nb, source)
    _tool("build_slides").build([source], site / "slides")
    (site / "html").mkdir(parents=True)
    run_course = _tool("run_course")
    run_course.render_html(nb, site / "html", "99_deck")
    run_course.write_index(site / "html", [("99_deck", "99 · A deck", 30.0)], "quick")
    for page in [*(site / "html").glob("*.html"), *(site / "slides").glob("*.html")]:
        remote = re.findall(r"""(?:src|href)=["']((?:https?:)?//(?!127\.0\.0\.1)[^"']*)""", page.read_text())
        assert not remote, f"{page.name} loads from the network: {remote}"

    with static_server(site) as (base, requests):
        for page in ("html/index.html", "html/99_deck.html", "slides/99_deck.slides.html"):
            pixels = _screenshot(f"{base}/{page}", tmp_path / (Path(page).stem + ".png"))
            assert pixels.std() > 0.02, f"{page} renders blank"
    missing = [path for path, code in requests if code >= 400 and "favicon" not in path]
    assert not missing, f"resources that cannot load: {missing}"
    loaded = [path for path, _ in requests]
    assert any(path.endswith("reveal.js") for path in loaded) and any("MathJax.js" in path for path in loaded)
    assert any("slides" in path for path in loaded) and "/html/index.html" in loaded
    assert any(path.startswith("/html/_static/mathjax/MathJax.js") for path in loaded)


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not found (sudo apt-get install chromium)")
def test_a_slide_shows_the_longest_code_line_whole_at_1280_by_800(tmp_path):
    """Code lines are up to 110 characters (ruff's limit): on a slide at 1280 x 800 none is cut off, and
    a longer printed line wraps."""
    longest = "x = [" + ", ".join(["1234567"] * 10) + "]"
    longest += " " * (110 - len(longest) - 9) + "# the end"
    assert len(longest) == 110
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# 99 · Wide", metadata={"slideshow": {"slide_type": "slide"}}),
        # code on the title slide is set-up and left out of the deck: this one comes in a section
        nbformat.v4.new_markdown_cell("## 1. A section", metadata={"slideshow": {"slide_type": "slide"}}),
        nbformat.v4.new_code_cell(longest, metadata={"slideshow": {"slide_type": "-"}}),
    ]
    nb.cells[2].outputs = [nbformat.v4.new_output("stream", name="stdout", text="y" * 300 + "\n")]
    source = tmp_path / "99_wide.ipynb"
    nbformat.write(nb, source)
    (deck,) = _tool("build_slides").build([source], tmp_path / "slides")
    # Report, in the page title, every <pre> whose content is wider than its box (cut off).
    probe = """<script>function probe() {
        var cut = Array.from(document.querySelectorAll('.reveal pre')).filter(
            function (p) { return p.scrollWidth > p.clientWidth + 1; });
        document.title = 'cut:' + cut.length + ' of ' + document.querySelectorAll('.reveal pre').length;
    }
    (function wait() { window.Reveal && Reveal.isReady() ? probe() : setTimeout(wait, 50); })();
    </script></body>"""
    html = deck.read_text()
    deck.write_text(html[: html.rindex("</body>")] + probe + html[html.rindex("</body>") + 7 :])
    dom = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--window-size=1280,800",
         "--virtual-time-budget=5000", "--dump-dom", deck.as_uri()],
        check=True, capture_output=True, text=True, timeout=120,
    ).stdout  # fmt: skip
    title = re.search(r"<title>(.*?)</title>", dom).group(1)
    assert title.startswith("cut:0 of ") and not title.endswith(" 0"), title
