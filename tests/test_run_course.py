"""tools/run_course.py: offline HTML pages and a course map that keeps every notebook run so far."""

import importlib.util
import json
from pathlib import Path

import nbformat
import pytest

from course_utils import config

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


def test_tensorflow_start_up_logs_are_removed_and_nothing_else():
    logs = (
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
        "I0000 00:00:1795656736.674631   31000 port.cc:153] oneDNN custom operations are on.\n"
        "To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow with "
        "the appropriate compiler flags.\n"
        "E0000 00:00:1795656741.739647   31000 cuda_platform.cc:52] failed call to cuInit: UNKNOWN ERROR\n"
    )
    warning = "/tmp/x.py:3: UserWarning: the model ends in a softmax\n"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import tensorflow"), nbformat.v4.new_code_cell("f()")]
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", name="stderr", text=logs)]
    nb.cells[1].outputs = [
        nbformat.v4.new_output("stream", name="stderr", text=logs + warning),
        nbformat.v4.new_output("stream", name="stdout", text="I0000 printed by the lesson\n"),
    ]
    assert run_course.strip_tensorflow_logs(nb) == 8
    assert nb.cells[0].outputs == []
    assert [o["text"] for o in nb.cells[1].outputs] == [warning, "I0000 printed by the lesson\n"]


def test_each_notebook_is_announced_with_its_expected_time(monkeypatch):
    from course_utils import doctor

    cached = doctor.REFERENCE_SECONDS["standard"]["08_adversarial_training"]
    first = sum(doctor.TRAINING_SECONDS["standard"][m] for m in ("cnn_pgd", "cnn_fast"))  # 08 trains these
    text = run_course.expected_time("standard", "08_adversarial_training")
    assert f"about {cached / 60:.0f} min" in text and f"{(cached + first) / 60:.0f} min if it trains" in text
    cached = doctor.REFERENCE_SECONDS["quick"]["06_adversarial_examples_fgsm"]  # its CNN: trained by 02
    assert run_course.expected_time("quick", "06_adversarial_examples_fgsm") == (
        f"about {cached:.0f} s on the reference 2-core CPU"
    )
    assert run_course.expected_time("full", "08_adversarial_training") == ""  # no reference: say nothing
    # training that does not change the rounded minutes is not announced as a second time
    monkeypatch.setitem(doctor.REFERENCE_SECONDS["quick"], "08_adversarial_training", 163)
    monkeypatch.setitem(doctor.TRAINING_SECONDS["quick"], "cnn_pgd", 20)
    monkeypatch.setitem(doctor.TRAINING_SECONDS["quick"], "cnn_fast", 14)
    assert run_course.expected_time("quick", "08_adversarial_training") == (
        "about 3 min on the reference 2-core CPU"
    )
    assert run_course.expected_time("quick", "99_not_a_notebook") == ""
    # on a machine twice as slow, twice the time, said as this machine's
    cached = doctor.REFERENCE_SECONDS["quick"]["06_adversarial_examples_fgsm"]
    assert run_course.expected_time("quick", "06_adversarial_examples_fgsm", 2.0) == (
        f"about {doctor.duration(2 * cached)} here"
    )


def test_the_course_map_page_has_topics_times_and_links(tmp_path):
    course_map = run_course.readme_course_map()
    notebooks = sorted(p.stem for p in config.course_notebooks(ROOT / "notebooks"))
    assert sorted(course_map) == notebooks  # the README's table lists every notebook, once
    html_dir = tmp_path / "html"
    html_dir.mkdir()
    (tmp_path / "student").mkdir()
    (tmp_path / "student" / f"{notebooks[4]}.ipynb").write_text("{}")
    rows = [(stem, f"title {stem}", 60.0) for stem in notebooks]
    page = run_course.write_index(html_dir, rows, "quick", course_map).read_text()
    for stem in notebooks:
        assert f'href="{stem}.html"' in page and course_map[stem]["standard"] in page
    assert page.count("student copy") == 1 and f"../student/{notebooks[4]}.ipynb" in page
    assert "<code>" in page  # the README's `code` spans are rendered, not shown as backticks


def test_loud_log_lines_are_found_with_their_cell():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import tensorflow"), nbformat.v4.new_markdown_cell("E0000 text")]
    nb.cells[0].outputs = [
        nbformat.v4.new_output(
            "stream",
            name="stderr",
            text="I0000 00:00:1.5   7 port.cc:153] oneDNN custom operations are on.\n"
            "E0000 00:00:1796078785.166076   18906 node_def_util.cc:682] NodeDef mentions attribute x\n"
            "W0000 00:00:1.0 7 remapper.cc:1] a warning\n"
            "[IPKernelApp] WARNING | Kernel is running over TCP without encryption.\n"
            "/tmp/x.py:3: UserWarning: the model ends in a softmax\n",
        ),
        nbformat.v4.new_output("stream", name="stdout", text="E0000 00:00:1.0 7 a.cc:1] printed\n"),
    ]
    found = run_course.loud_log_lines(nb)
    assert [(i, line.split()[0]) for i, line in found] == [(0, "E0000"), (0, "W0000"), (0, "[IPKernelApp]")]


@pytest.mark.slow
@pytest.mark.skipif(
    not Path("/usr/share/datasets/fashion-mnist").is_dir() and not list((ROOT / "data").glob("*.gz")),
    reason="needs Fashion-MNIST on disk (apt-get install dataset-fashion-mnist)",
)
@pytest.mark.parametrize("stem", ["00_setup_and_tour", "01_neural_network_basics"])
def test_a_notebook_runs_headless_without_warning_or_error_log_lines(monkeypatch, stem):
    """Notebook 00 starts TensorFlow and asks for its devices; 01 trains, evaluates and predicts with
    Keras. In a clean run TensorFlow logs nothing at warning level or above, even with no
    TF_CPP_MIN_LOG_LEVEL set (as in a JupyterLab started by hand)."""
    from nbclient import NotebookClient

    monkeypatch.setenv("COURSE_PROFILE", "quick")
    monkeypatch.setenv("TQDM_DISABLE", "1")
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    # ipykernel forwards what C++ code writes to the process's stderr into the notebook, as in
    # JupyterLab, except under pytest (it looks for this variable): look like a plain run.
    monkeypatch.delenv("PYTEST_CURRENT_TEST", raising=False)
    path = ROOT / "notebooks" / f"{stem}.ipynb"
    nb = nbformat.read(path, as_version=4)
    NotebookClient(
        nb,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        config=run_course.ipc_kernel_config(),
    ).execute()
    assert run_course.loud_log_lines(nb) == []


def test_cell_seconds_reads_nbclients_timestamps():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# x"),
        nbformat.v4.new_code_cell("1"),
        nbformat.v4.new_code_cell("2"),
    ]
    nb.cells[1].metadata["execution"] = {
        "iopub.execute_input": "2026-12-06T12:45:11.500000Z",
        "shell.execute_reply": "2026-12-06T12:45:15.750000Z",
    }
    assert run_course.cell_seconds(nb) == [(1, 4.25)]  # the unexecuted cell has no entry


def test_the_saved_notebook_starts_at_in_1_once_the_set_up_cell_is_taken_out():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# title")]
    for count in (2, 3, None, 5):  # the set-up cell ran as 1; a cell that did not run has None
        cell = nbformat.v4.new_code_cell("1 + 1", execution_count=count)
        if count:
            cell.outputs = [
                nbformat.v4.new_output("execute_result", {"text/plain": "2"}, execution_count=count)
            ]
        nb.cells.append(cell)
    run_course.renumber_after_setup_cell(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == [1, 2, None, 4]
    assert [c.outputs[0]["execution_count"] for c in code if c.outputs] == [1, 2, 4]


def test_links_to_other_notebooks_go_to_their_pages_or_decks():
    nb = nbformat.v4.new_notebook()
    text = "See [09](09_evaluating_robustness.ipynb), [§2](08a_x_y.ipynb#2.-Cost), [d](../data/README.md)."
    nb.cells = [nbformat.v4.new_markdown_cell(text), nbformat.v4.new_code_cell("x = '[a](09_b.ipynb)'")]
    pages = run_course.with_links_to(nb, ".html")
    assert pages.cells[0].source == (
        "See [09](09_evaluating_robustness.html), [§2](08a_x_y.html#2.-Cost), [d](../data/README.md)."
    )
    assert (
        pages.cells[1].source == nb.cells[1].source and nb.cells[0].source == text
    )  # code and input untouched
    assert (
        "(09_evaluating_robustness.slides.html)"
        in run_course.with_links_to(nb, ".slides.html").cells[0].source
    )
