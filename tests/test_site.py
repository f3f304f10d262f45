"""The course site (tools/build_site.py): built from the clean notebooks and docs/, then checked as a
reader meets it: every local link and resource exists, no page loads anything from the network,
every page has the navigation, and in headless Chromium with the network blocked the home page, a
notebook page and a search render and load every file they ask for."""

import importlib.util
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from course_utils import config, reference_times

from .helpers import static_server

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
_spec = importlib.util.spec_from_file_location("build_site", ROOT / "tools" / "build_site.py")
build_site = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build_site)
NOTEBOOKS = config.course_notebooks(ROOT / "notebooks")


def test_the_home_page_lists_every_notebook_in_its_part_with_its_time():
    rows = build_site.course_map_rows(NOTEBOOKS)
    links = {rows[0]["stem"]: [("slides", "slides/x.slides.html")]}
    page = build_site.index_page(rows, "quick", links)
    seconds = reference_times.load()["notebooks"]["quick"]
    for row in rows:
        table = [line for line in page.splitlines() if line.startswith("| ")]
        (line,) = [line for line in table if f"(notebooks/{row['stem']}.ipynb)" in line]
        assert f"| {reference_times.duration(seconds[row['stem']])} |" in line
        assert ("optional" in line.lower()) == (len(row["number"]) == 3)  # 04a, 08a, 09a
        assert line.lower().count("optional") == (len(row["number"]) == 3)  # once: by the title or a mark
    headings = [line[3:] for line in page.splitlines() if line.startswith("## ")]
    assert headings == [title for title, _ in build_site.PARTS]
    # a part's notebooks come under its heading, and in its hidden table of contents
    part3 = page[page.index("## Part 3") : page.index("## Part 4")]
    assert "(notebooks/08a_adversarial_training_further.ipynb)" in part3
    assert "(notebooks/03_generative_adversarial_networks.ipynb)" not in part3
    assert ":caption: Part 2 · Generative adversarial networks\n\nnotebooks/03_" in page
    assert '<a href="slides/x.slides.html">slides</a>' in page
    assert "Start here" in page and "[00 · Set-up and tour](notebooks/00_setup_and_tour.ipynb)" in page


def test_a_notebook_outside_the_four_parts_is_an_error():
    with pytest.raises(ValueError, match="extend PARTS"):
        build_site.part_of("13_new_topic")
    assert build_site.part_of("08a_adversarial_training_further").startswith("Part 3")


def test_figures_get_their_text_alternative_by_the_images_hash(tmp_path):
    page = tmp_path / "p.html"
    digest = "a" * 64
    page.write_text(
        f'<p><img alt="../_images/{digest}.png" src="../_images/{digest}.png" />'
        '<img alt="x" src="y.png"/></p>'
    )
    assert build_site.put_alt_texts(tmp_path, {digest: 'Figure. "loss" against step'}) == 1
    text = page.read_text()
    assert 'alt="Figure. &quot;loss&quot; against step"' in text and 'alt="x" src="y.png"' in text


def _local_targets(site: Path):
    """(page, target) for every local href and src of the site's own pages."""
    for page in site.rglob("*.html"):
        if {"slides", "student", "_static"} & set(page.relative_to(site).parts):
            continue
        for url in re.findall(r'(?:href|src)="([^"]+)"', page.read_text(encoding="utf-8")):
            parts = urlsplit(url)
            if parts.scheme or url.startswith(("#", "//", "mailto:", "javascript:")) or not parts.path:
                continue
            yield page, (page.parent / unquote(parts.path)).resolve()


FIGURE_ALT = "Figure. a test figure: plot of loss against step."


def _executed_07(folder: Path) -> None:
    """Notebook 07 as `make course` leaves it, as far as the site cares: its first code cell with a
    figure (PNG, its text alternative in the output's metadata) and an interactive widget."""
    import base64
    import io

    import matplotlib.pyplot as plt
    import nbformat

    fig, ax = plt.subplots(figsize=(2, 1))
    ax.plot([0, 1], [1, 0])
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    nb = nbformat.read(ROOT / "notebooks" / "07_pgd_attacks.ipynb", as_version=4)
    cell = next(c for c in nb.cells if c.cell_type == "code")
    png = base64.b64encode(buffer.getvalue()).decode()
    cell.outputs = [
        nbformat.v4.new_output(
            "display_data", {"image/png": png}, metadata={"image/png": {"alt": FIGURE_ALT}}
        ),
        nbformat.v4.new_output(
            "display_data",
            {
                "application/vnd.jupyter.widget-view+json": {
                    "model_id": "abc",
                    "version_major": 2,
                    "version_minor": 0,
                }
            },
        ),
    ]
    model = {"model_name": "IntSliderModel", "model_module": "@jupyter-widgets/controls", "state": {}}
    state = {"state": {"abc": model}, "version_major": 2, "version_minor": 0}  # saved with a widget
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": state}
    folder.mkdir(parents=True)
    nbformat.write(nb, folder / "07_pgd_attacks.ipynb")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("build") / "site"
    _executed_07(out.parent / "executed")
    build_site.build(out, out.parent / "executed", "quick")
    return out


@pytest.mark.slow
def test_the_site_has_no_broken_link_no_network_resource_and_navigation_everywhere(site):
    broken = [(str(p.relative_to(site)), str(t)) for p, t in _local_targets(site) if not t.exists()]
    assert not broken, f"{len(broken)} broken local links, e.g. {broken[:5]}"
    pages = [
        site / "index.html",
        *sorted((site / "notebooks").glob("*.html")),
        *sorted((site / "docs").glob("*.html")),
    ]
    assert len(pages) == 1 + len(NOTEBOOKS) + len(build_site.DOCS)
    for page in pages:
        text = page.read_text(encoding="utf-8")
        resources = re.findall(r'<(?:script|img|link)[^>]+(?:src|href)="((?:https?:)?//[^"]+)"', text)
        assert not resources, f"{page.name} loads from the network: {resources}"
        assert "bd-sidebar-primary" in text and 'class="prev-next-area"' in text, (
            f"{page.name}: no navigation"
        )
        assert text.count('class="reference internal" href=') >= len(NOTEBOOKS), (
            f"{page.name}: a short table of contents"
        )
        assert '.ipynb"' not in re.sub(r'href="student/[^"]+"', "", text), (
            f"{page.name} links to a notebook file"
        )
    assert (site / "_static" / "mathjax" / "MathJax.js").exists() and (site / "searchindex.js").exists()
    # the executed notebook's figure is on its page, with its text alternative
    page = (site / "notebooks" / "07_pgd_attacks.html").read_text(encoding="utf-8")
    assert f'alt="{FIGURE_ALT}"' in page
    assert build_site.WIDGET_NOTE.split(":")[0] in page  # the widget says where it works


def _chromium(*args: str) -> str:
    done = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
         "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",  # no network but this server
         "--virtual-time-budget=15000", "--window-size=1280,800", *args],
        check=True, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    return done.stdout


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not found (sudo apt-get install chromium)")
def test_the_site_renders_and_searches_offline_in_a_browser(site, tmp_path):
    import matplotlib.image

    with static_server(site) as (base, requests):
        for page in ("index.html", "notebooks/07_pgd_attacks.html", "docs/results.html"):
            png = tmp_path / (Path(page).stem + ".png")
            _chromium(f"--screenshot={png}", f"{base}/{page}")
            assert matplotlib.image.imread(png)[..., :3].std() > 0.02, f"{page} renders blank"
        dom = _chromium("--dump-dom", f"{base}/search.html?q=projection")
    found = re.search(r"found (\d+) page", dom)
    assert found and int(found.group(1)) >= 1, "the search found nothing"
    assert 'href="notebooks/07_pgd_attacks.html' in dom
    missing = [path for path, code in requests if code >= 400 and "favicon" not in path]
    assert not missing, f"resources that cannot load: {missing}"
    loaded = [path for path, _ in requests]
    assert any("MathJax.js" in path for path in loaded) and any("searchindex.js" in path for path in loaded)
