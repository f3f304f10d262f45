"""tools/run_course.py: offline HTML pages and a course map that keeps every notebook run so far."""

import importlib.util
import json
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("run_course", ROOT / "tools" / "run_course.py")
run_course = importlib.util.module_from_spec(spec)
spec.loader.exec_module(run_course)


def test_a_partial_run_keeps_the_other_notebooks_timings(tmp_path):
    record = tmp_path / "timings.json"
    assert run_course.merged_timings(record, "quick", {"00_a": 10.0, "01_b": 20.0}) == {
        "00_a": 10.0,
        "01_b": 20.0,
    }
    assert run_course.merged_timings(record, "quick", {"01_b": 25.0}) == {"00_a": 10.0, "01_b": 25.0}
    # Another profile's timings are not mixed in; a damaged record is rebuilt.
    assert run_course.merged_timings(record, "standard", {"02_c": 5.0}) == {"02_c": 5.0}
    record.write_text("{not json")
    assert run_course.merged_timings(record, "standard", {"03_d": 1.0}) == {"03_d": 1.0}
    assert json.loads(record.read_text()) == {"profile": "standard", "seconds": {"03_d": 1.0}}


def test_notebook_pages_bring_their_own_mathjax(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Title\n\n$x^2$"), nbformat.v4.new_code_cell("1 + 1")]
    page = run_course.render_html(nb, tmp_path, "99_x").read_text()
    assert run_course.MATHJAX_URL in page
    assert (tmp_path / "_static" / "mathjax" / "MathJax.js").exists()
    assert "cdnjs" not in page and "require.min.js" not in page and "jsdelivr" not in page
