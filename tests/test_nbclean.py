"""tools/nbclean.py: outputs, execution counts and machine metadata out; tags and stubs kept."""

import importlib.util
from pathlib import Path

import nbformat

from course_utils import config

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("nbclean", ROOT / "tools" / "nbclean.py")
nbclean = importlib.util.module_from_spec(spec)
spec.loader.exec_module(nbclean)


def _executed_notebook():
    nb = nbformat.v4.new_notebook()
    code = nbformat.v4.new_code_cell(
        "print(1)",
        execution_count=7,
        outputs=[nbformat.v4.new_output("stream", name="stdout", text="1\n")],
        metadata={"tags": ["solution"], "student_stub": "# Your code here\n", "ExecuteTime": {"x": 1},
                  "collapsed": True},
    )  # fmt: skip
    text = nbformat.v4.new_markdown_cell("# Title", metadata={"slideshow": {"slide_type": "slide"}})
    nb.cells = [text, code]
    nb.metadata = {
        "kernelspec": {"display_name": "my-env", "language": "python", "name": "my-env"},
        "language_info": {"name": "python", "version": "3.11.9"},
        "widgets": {"state": {}},
    }
    return nb


def test_clean_drops_what_a_run_adds_and_keeps_what_the_course_needs():
    nb = nbclean.clean(_executed_notebook())
    code = nb.cells[1]
    assert code.outputs == [] and code.execution_count is None
    assert dict(code.metadata) == {"tags": ["solution"], "student_stub": "# Your code here\n"}
    assert dict(nb.cells[0].metadata) == {"slideshow": {"slide_type": "slide"}}
    assert nb.metadata["kernelspec"] == nbclean.KERNELSPEC
    assert dict(nb.metadata["language_info"]) == {"name": "python"} and "widgets" not in nb.metadata
    nbformat.validate(nb)


def test_check_reports_a_dirty_notebook_and_cleaning_is_idempotent(tmp_path, capsys):
    path = tmp_path / "01_x.ipynb"
    nbformat.write(_executed_notebook(), path)
    before = path.read_text()
    assert nbclean.main(["--check", str(path)]) == 1
    assert path.read_text() == before  # --check writes nothing
    assert "not clean" in capsys.readouterr().out
    assert nbclean.main([str(path)]) == 0
    cleaned = path.read_text()
    assert nbclean.main(["--check", str(path)]) == 0
    assert nbclean.main([str(path)]) == 0 and path.read_text() == cleaned  # a second pass changes nothing


def test_every_course_notebook_is_clean():
    paths = sorted(str(p) for p in config.course_notebooks(ROOT / "notebooks"))
    assert len(paths) >= 10
    assert nbclean.main(["--check", *paths]) == 0
