"""course_utils.figure_text: text alternatives made from a figure's own words, carried into the pages."""

import html.parser
import importlib.util
from pathlib import Path

import matplotlib.pyplot as plt
import nbformat
import numpy as np
import pytest

from course_utils import figure_text, plotting

ROOT = Path(__file__).resolve().parent.parent


def test_a_plot_is_described_by_its_titles_labels_and_legend():
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0], label="natural")
    ax.plot([0, 1], [1, 1], label="PGD-AT")
    ax.plot([0, 1], [0, 0], label="_hidden")
    ax.set(xlabel="$\\varepsilon$", ylabel="accuracy (%)", title="under attack")
    ax.legend()
    fig.suptitle("worst-case accuracy")
    text = figure_text.describe(fig)
    plt.close(fig)
    assert text == (
        "Figure: worst-case accuracy. under attack: plot of accuracy (%) against \\varepsilon: "
        "natural, PGD-AT."
    )


def test_an_image_grid_names_its_images_and_long_text_is_cut():
    images = np.zeros((3, 28, 28))
    fig = plotting.image_grid(images, titles=["shirt", "bag", "boot"], suptitle="three drawings")
    assert figure_text.describe(fig) == "Figure: three drawings. 3 images titled: shirt, bag, boot."
    short = figure_text.describe(fig, max_chars=20)
    plt.close(fig)
    assert len(short) == 20 and short.endswith("…")
    empty = plt.figure()
    assert figure_text.describe(empty) == "Figure."
    plt.close(empty)


def test_outside_ipython_registering_does_nothing():
    assert figure_text.register_alt_text() is False


@pytest.mark.slow
def test_a_run_notebook_page_has_the_figure_description_as_alt_text(tmp_path, monkeypatch):
    """What tools/run_course.py does: set up the kernel, run, take the set-up cell out, render."""
    from nbclient import NotebookClient

    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's own inline backend, as in JupyterLab
    spec = importlib.util.spec_from_file_location("run_course", ROOT / "tools" / "run_course.py")
    run_course = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run_course)
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(run_course.ALT_TEXT_SETUP),
        nbformat.v4.new_code_cell(
            "import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nax.plot([0, 1], [0, 1])\n"
            "ax.set(xlabel='epoch', ylabel='loss <& \"quotes\">')\nfig.suptitle('training')"
        ),
    ]
    NotebookClient(nb, timeout=120, kernel_name="python3", config=run_course.ipc_kernel_config()).execute()
    nb.cells.pop(0)
    (png,) = [o for o in nb.cells[0].outputs if "image/png" in o.get("data", {})]
    assert png.metadata["image/png"]["alt"] == 'Figure: training. Plot of loss <& "quotes"> against epoch.'
    page = run_course.render_html(nb, tmp_path, "99_x").read_text()
    alts = []

    class Images(html.parser.HTMLParser):
        def handle_starttag(self, tag, attrs):
            if tag == "img":
                alts.append(dict(attrs).get("alt"))

    Images().feed(page)
    assert alts == ['Figure: training. Plot of loss <& "quotes"> against epoch.']
