"""The student build (tools/student_build.py): solutions out, everything else in, nothing leaks."""

import importlib.util
from pathlib import Path

import nbformat
import pytest

from course_utils import config

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("student_build", ROOT / "tools" / "student_build.py")
student_build = importlib.util.module_from_spec(spec)
spec.loader.exec_module(student_build)


def _notebook(tags_after_heading=("solution", "solution")):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Title"),
        nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_markdown_cell("## Exercises\n\n**Exercise 1.** Write f.\n\n---\n## Solutions"),
        nbformat.v4.new_code_cell(
            "def f(x):\n    return secret_formula(x)", metadata={"tags": [tags_after_heading[0]]}
        ),
        nbformat.v4.new_markdown_cell("The answer is 42.", metadata={"tags": [tags_after_heading[1]]}),
    ]
    return nb


def test_every_course_notebook_builds_without_a_solution_left(tmp_path):
    """What the build writes, cell by cell, read back from disk (not what main() checked before it
    wrote): each solution cell became a stub tagged "student" (its own student_stub, or a default
    one ending "# Your code here" / "*Your answer here.*") with none of the solution's text; every
    other cell is the instructor's, but for the "## Solutions" heading."""
    assert student_build.main(["--out", str(tmp_path)]) == 0
    for path in sorted(config.course_notebooks(ROOT / "notebooks")):
        instructor = nbformat.read(path, as_version=4)
        student = nbformat.read(tmp_path / path.name, as_version=4)
        assert len(student.cells) == len(instructor.cells)
        solutions = [c for c in instructor.cells if "solution" in c.metadata.get("tags", [])]
        assert len(solutions) >= 2, f"{path.name}: fewer than two exercises' solutions"
        text = "\n".join(c.source for c in student.cells)
        for i, (mine, theirs) in enumerate(zip(instructor.cells, student.cells, strict=True)):
            where = f"{path.name}, cell {i}"
            if mine not in solutions:
                expected = mine.source.replace("## Solutions", "## Your solutions")
                assert (theirs.cell_type, theirs.source) == (mine.cell_type, expected), where
                continue
            other_tags = [t for t in mine.metadata["tags"] if t != "solution"]
            assert theirs.metadata["tags"] == [*other_tags, "student"], where
            default = "# Your code here\n" if mine.cell_type == "code" else "*Your answer here.*"
            if "student_stub" in mine.metadata:
                assert theirs.source == mine.metadata["student_stub"], where
            else:
                assert theirs.source.endswith(default), where
            assert mine.source.strip() not in text, where
        # the lesson's predictions reach the student unchanged: the guess cell and the reveal after it
        code = [c.source for c in instructor.cells if c.cell_type == "code"]
        guesses = [s for s in code if "my_prediction = None" in s or "my_choice = None" in s]
        reveals = [s for s in code if "predict.reveal_" in s]
        assert len(guesses) == len(reveals), path.name
        for source in guesses + reveals:
            assert source in [c.source for c in student.cells], (path.name, source[:60])


def test_solution_cells_become_stubs_and_the_rest_is_kept():
    nb = _notebook()
    nb.cells[3].metadata["student_stub"] = "def f(x):\n    raise NotImplementedError"
    student = student_build.student_copy(nb)
    assert [c.source for c in student.cells[:2]] == [c.source for c in nb.cells[:2]]
    assert student.cells[2].source.endswith("## Your solutions")
    assert student.cells[3].source == "def f(x):\n    raise NotImplementedError"
    assert student.cells[4].source == student_build.TEXT_STUB
    assert "secret_formula" not in "".join(c.source for c in student.cells)


def test_an_untagged_cell_after_the_solutions_heading_is_refused(tmp_path):
    nb = _notebook(tags_after_heading=("solution", "other"))
    assert student_build.untagged_solutions(nb) == [4]
    path = tmp_path / "99_x.ipynb"
    nbformat.write(nb, path)
    assert student_build.main(["--out", str(tmp_path / "out"), str(path)]) == 1
    assert not (tmp_path / "out" / "99_x.ipynb").exists()


def test_a_solution_line_copied_into_the_lesson_is_detected():
    nb = _notebook()
    student = student_build.student_copy(nb)
    student.cells[1].source += "\n    return secret_formula(x)"
    assert any("secret_formula" in problem for problem in student_build.leaks(nb, student))


def test_every_check_stub_runs_and_answers_in_words(capsys):
    """A student who runs a checked exercise before writing anything gets advice, not a traceback."""
    import keras
    import numpy as np
    import tensorflow as tf

    from course_utils import checks, models

    namespace = {"checks": checks, "np": np, "tf": tf, "keras": keras}
    namespace["cnn"] = models.build_cnn(filters=(8, 16), dense_units=16)  # notebook 02's stub uses it
    stubs = {}
    for path in sorted(config.course_notebooks(ROOT / "notebooks")):
        for cell in nbformat.read(path, as_version=4).cells:
            stub = cell.metadata.get("student_stub", "")
            if "checks.check_" in stub:
                stubs[f"{path.name[:2]}: {stub.splitlines()[0]}"] = stub
    assert len(stubs) >= 8, sorted(stubs)
    for name, stub in stubs.items():
        exec(compile(stub, name, "exec"), dict(namespace))  # noqa: S102 - the course's own stubs
        out = capsys.readouterr().out
        assert "Not written yet" in out, (name, out)


def test_default_stubs_keep_the_exercise_number_and_the_cell_id():
    nb = _notebook()
    nb.cells[3].source = "# Exercise 2: brightness per class\nanswer = secret_formula(3)"
    nb.cells[4].source = "**Exercise 2.** The answer is 42."
    first, second = student_build.student_copy(nb), student_build.student_copy(nb)
    assert first.cells[3].source == "# Exercise 2\n" + student_build.DEFAULT_STUB
    assert first.cells[4].source == "**Exercise 2.** " + student_build.TEXT_STUB
    assert [c.id for c in first.cells] == [c.id for c in second.cells] == [c.id for c in nb.cells]
    assert student_build.leaks(nb, first) == []


def test_an_answer_in_a_solution_s_first_comment_is_not_kept():
    """The label of a solution's first line is reduced to its number: the rest can be the answer."""
    nb = _notebook()
    nb.cells[3].source = "# Exercise 1: the score is 0.2, so eps* = 0.05\nanswer = 0.05"
    nb.cells[4].source = "**Exercise 1. eps* = 0.05** because the score is 0.2."
    student = student_build.student_copy(nb)
    text = "".join(c.source for c in student.cells)
    assert "0.05" not in text and "0.2" not in text
    assert student.cells[3].source.startswith("# Exercise 1\n")
    assert student.cells[4].source.startswith("**Exercise 1.** ")
    assert student_build.leaks(nb, student) == []


def test_a_leaked_comment_or_answer_text_is_detected():
    """Seeded leaks: a solution's comment in a stub, and a solution's sentence in the lesson's text."""
    nb = _notebook()
    nb.cells[3].source = "# Exercise 1: the score is 0.2, so eps* = 0.05\nanswer = 0.05"
    student = student_build.student_copy(nb)
    student.cells[3].source = "# Exercise 1: the score is 0.2, so eps* = 0.05\n# Your code here\n"
    assert any("eps* = 0.05" in problem for problem in student_build.leaks(nb, student))
    student = student_build.student_copy(nb)
    student.cells[2].source += "\n\nThe answer is 42."
    assert any("text of cell 4" in problem for problem in student_build.leaks(nb, student))


def test_keep_existing_never_overwrites_a_student_s_work(tmp_path):
    """`make lab` builds the students' copies once: a second build must not erase their answers."""
    nb = _notebook()
    source = tmp_path / "99_x.ipynb"
    nbformat.write(nb, source)
    out = tmp_path / "mine"
    assert student_build.main(["--out", str(out), "--keep-existing", str(source)]) == 0
    mine = nbformat.read(out / "99_x.ipynb", as_version=4)
    mine.cells[3].source = "def f(x):\n    return my_own_answer(x)"
    nbformat.write(mine, out / "99_x.ipynb")
    assert student_build.main(["--out", str(out), "--keep-existing", str(source)]) == 0
    assert "my_own_answer" in (out / "99_x.ipynb").read_text()
    assert student_build.main(["--out", str(out), str(source)]) == 0  # without the flag: rebuilt
    assert "my_own_answer" not in (out / "99_x.ipynb").read_text()


def test_keep_existing_moves_a_renumbered_copy_with_its_answers(tmp_path):
    """After the course renumbers a notebook, `make lab` renames the student's old copy to the new
    number (answers kept) instead of writing a second, empty copy beside it."""
    source = tmp_path / "06_x.ipynb"
    nbformat.write(_notebook(), source)
    out = tmp_path / "mine"
    out.mkdir()
    mine = student_build.student_copy(_notebook())
    mine.cells[3].source = "def f(x):\n    return my_own_answer(x)"
    nbformat.write(mine, out / "04_x.ipynb")
    nbformat.write(mine, out / "04_y.ipynb")  # another notebook's copy: not touched
    assert student_build.main(["--out", str(out), "--keep-existing", str(source)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["04_y.ipynb", "06_x.ipynb"]
    assert "my_own_answer" in (out / "06_x.ipynb").read_text()


def test_keep_existing_leaves_ambiguous_old_copies_alone(tmp_path, capsys):
    source = tmp_path / "06_x.ipynb"
    nbformat.write(_notebook(), source)
    out = tmp_path / "mine"
    out.mkdir()
    for name in ("04_x.ipynb", "05_x.ipynb"):
        nbformat.write(_notebook(), out / name)
    assert student_build.main(["--out", str(out), "--keep-existing", str(source)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["04_x.ipynb", "05_x.ipynb", "06_x.ipynb"]
    assert "several earlier copies (04_x.ipynb, 05_x.ipynb)" in capsys.readouterr().out


def test_copies_for_hosted_notebooks_start_with_a_set_up_cell_that_does_nothing_here(tmp_path):
    import subprocess
    import sys

    source = tmp_path / "src" / "99_demo.ipynb"
    source.parent.mkdir()
    nbformat.write(_notebook(), source)
    out = tmp_path / "out"
    repo = "https://example.org/course.git"
    assert student_build.main(["--out", str(out), "--colab-repo", repo, str(source)]) == 0
    nb = nbformat.read(out / "99_demo.ipynb", as_version=4)
    assert nb.cells[0].source == "# Title" and student_build.COLAB_TAG in nb.cells[1].metadata["tags"]
    setup = nb.cells[1].source
    assert f"COURSE_REPO = {repo!r}" in setup and '"course[gpu]"' in setup
    # here course_utils is installed: the cell must neither clone, install nor stop the notebook
    done = subprocess.run([sys.executable, "-c", setup], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0 and done.stdout == "" and not (tmp_path / "course").exists()
    assert sum(student_build.COLAB_TAG in c.metadata.get("tags", []) for c in nb.cells) == 1
    plain = tmp_path / "plain"
    assert student_build.main(["--out", str(plain), str(source)]) == 0
    assert student_build.COLAB_TAG not in str(nbformat.read(plain / "99_demo.ipynb", as_version=4))


@pytest.mark.slow
def test_run_errors_reports_each_cell_that_raises_and_runs_past_it(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_code_cell("raise NotImplementedError('write f')"),
        nbformat.v4.new_code_cell("y = x + 1\nprint(y)"),
        nbformat.v4.new_code_cell("1 / 0"),
    ]
    path = tmp_path / "99_run.ipynb"
    nbformat.write(nb, path)
    assert student_build.run_errors(path, timeout=120) == [
        "cell 1: NotImplementedError: write f",
        "cell 3: ZeroDivisionError: division by zero",
    ]
