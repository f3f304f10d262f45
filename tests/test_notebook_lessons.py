"""Each numbered notebook is a lesson: short enough for one slot, prose that never quotes a number a cell
computes, a prediction before a main result, checked exercises, and its figures compared with the
course's reference run at the end.

These tests read the committed notebooks (no execution): the figures a cell computes are known from
the reference runs in ``notebooks/expected/``, and every other percentage in the prose must be a
constant or a citation listed below with its reason.
"""

import json
import re
from pathlib import Path

import nbformat
import pytest

from course_utils import config

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = config.course_notebooks(ROOT / "notebooks")
CORE = [p for p in NOTEBOOKS if re.fullmatch(r"\d\d", config.notebook_number(p))]
LESSON_WORDS = 2_000  # prose before the Summary: about 13 minutes of technical reading at 150 words/min

# Percentages the prose may state because no cell of the notebook computes them: confidence levels
# and other constants, and numbers quoted from papers. Each with its reason.
ALLOWED_PERCENTAGES = {
    "*": {"95 %": "the confidence level of every interval", "100 %": "a bound, not a measurement"},
    "00": {"10 %": "chance"},
    "01": {"84 %": "Xiao et al. 2017's logistic regression"},
    "02": {
        "93 %": "user-submitted CNN rows (2 conv + BN) of the Fashion-MNIST repository's benchmark table",
        "84 %": "Xiao et al. 2017's logistic regression; the same table's crowd-sourced human row",
    },
    "08": {"30 %": "the one-cycle schedule's warm-up share, a setting"},
    "09": {"0 %": "what a broken defense falls to, by definition"},
    "11": {"49 %": "Cohen et al. 2019's certified accuracy on ImageNet at L2 radius 0.5"},
    "09a": {
        "75 %": "APGD's checkpoint condition (a constant of the algorithm)",
        "22 %": "APGD's first checkpoint interval",
        "3 %": "APGD's interval decrement",
        "6 %": "APGD's smallest interval",
        "80 %": "the Square attack's first window size",
    },
}


def _markdown_cells(nb):
    """(index, text) of markdown cells, with code spans and LaTeX removed (constants live there)."""
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        text = re.sub(r"`[^`]*`", " ", cell.source)
        text = re.sub(r"\$\$.*?\$\$", " ", text, flags=re.S)
        yield i, re.sub(r"\$[^$\n]*\$", " ", text)


def _heading_index(nb, title: str) -> int:
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown" and re.match(rf"##\s+{title}\b", cell.source.strip()):
            return i
    return len(nb.cells)


def lesson_words(nb) -> int:
    """Words of markdown before the notebook's Summary heading (exercises included)."""
    end = _heading_index(nb, "Summary")
    return sum(len(text.split()) for i, text in _markdown_cells(nb) if i < end)


def _read(path):
    return nbformat.read(path, as_version=4)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem[:3])
def test_lesson_fits_a_slot(path):
    words = lesson_words(_read(path))
    assert words <= LESSON_WORDS, f"{path.name}: {words} words before its Summary (at most {LESSON_WORDS})"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem[:3])
def test_prose_states_no_percentage_a_cell_computes(path):
    number = config.notebook_number(path)
    allowed = {**ALLOWED_PERCENTAGES["*"], **ALLOWED_PERCENTAGES.get(number, {})}
    found = []
    for i, text in _markdown_cells(_read(path)):
        for match in re.finditer(r"(?<![\d.])\d+(?:\.\d+)?\s?%", text):
            value = re.sub(r"\s?%", " %", match.group(0))
            if value not in allowed:
                found.append(f"cell {i}: {match.group(0)!r}")
    assert not found, f"{path.name}: percentages in the prose (print them from a cell instead): {found}"


def _reference_figures(number: str):
    path = ROOT / "notebooks" / "expected" / f"{number}.json"
    if not path.is_file():
        return []
    out = []
    for profile in json.loads(path.read_text(encoding="utf-8")).values():
        for key, fig in profile["figures"].items():
            shown = format(fig["value"], fig["fmt"]).replace("%", "")
            out.append((key, shown))
    return out


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem[:3])
def test_prose_states_no_recorded_figure(path):
    """No figure of the reference runs appears in the prose as printed (integers below 10 and round
    numbers such as 0.1 or 2.0 are too common as constants to tell apart, and are skipped)."""
    number = config.notebook_number(path)
    figures = [
        (k, s) for k, s in _reference_figures(number) if not re.fullmatch(r"-?\d(\.0+)?|-?0\.\d|-?\d+\.0+", s)
    ]
    found = []
    for i, text in _markdown_cells(_read(path)):
        for key, shown in figures:
            if re.search(rf"(?<![\d.]){re.escape(shown)}(?![\d])", text):
                found.append(f"cell {i}: {shown} ({key})")
    assert not found, f"{path.name}: the prose quotes figures its cells compute: {found}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem[:3])
def test_figures_are_reported_before_the_solutions(path):
    nb = _read(path)
    number = config.notebook_number(path)
    setup = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "expected.Figures(" in c.source]
    reports = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "figures.report()" in c.source]
    assert len(setup) == 1 and f'expected.Figures("{number}"' in nb.cells[setup[0]].source, path.name
    assert len(reports) == 1 and reports[0] < _heading_index(nb, "Solutions"), path.name
    assert (ROOT / "notebooks" / "expected" / f"{number}.json").is_file(), f"no reference run for {number}"


def _predictions(nb) -> int:
    """Reveal cells, each preceded by a code cell where the student writes the prediction."""
    count = 0
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and re.search(r"predict\.reveal_(number|choice)\(", cell.source):
            earlier = [c for c in nb.cells[:i] if c.cell_type == "code"]
            assert earlier and re.search(r"^my_\w+ = None", earlier[-1].source, re.M), (
                f"cell {i}: the prediction variable must be set (to None) in the code cell just before"
            )
            count += 1
    return count


def _checked_exercises(nb) -> set[str]:
    start = _heading_index(nb, "Solutions")
    return {
        name
        for cell in nb.cells[start:]
        if cell.cell_type == "code"
        for name in re.findall(r"checks\.(check_\w+)\(", cell.source)
    }


@pytest.mark.parametrize("path", [p for p in CORE if 3 <= int(config.notebook_number(p)) <= 11], ids=str)
def test_predict_before_the_main_result_and_two_checked_exercises(path):
    nb = _read(path)
    assert _predictions(nb) >= 1, f"{path.name}: no prediction before a main result"
    checked = _checked_exercises(nb)
    assert len(checked) >= 2, f"{path.name}: {len(checked)} checked exercise(s): {sorted(checked)}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem[:3])
def test_no_cell_ends_by_echoing_a_recorded_figure(path):
    """``figures.record`` returns its value, so a cell that ends with one prints a stray number."""
    import ast

    for i, cell in enumerate(_read(path).cells):
        if cell.cell_type != "code" or "figures.record" not in cell.source:
            continue
        last = ast.parse(cell.source).body[-1]
        call = last.value if isinstance(last, ast.Expr) else None
        assert not (isinstance(call, ast.Call) and getattr(call.func, "attr", "") == "record"), (
            f"{path.name}, cell {i}: ends with figures.record(...), which prints its value; record earlier"
        )
