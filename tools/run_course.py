"""Run the whole course headless: execute every notebook, save it and render it to HTML.

    python tools/run_course.py [--profile NAME] [--out build] [notebooks/04_*.ipynb ...]

Writes ``build/executed/<name>.ipynb``, ``build/html/<name>.html`` and ``build/html/index.html``
(the course map with links). The profile comes from ``--profile`` or ``$COURSE_PROFILE``.

The HTML pages work offline: MathJax is copied from ``jupyter-server-mathjax`` into
``build/html/_static/mathjax`` and the page template (``tools/html_template``) loads nothing from a
CDN. TensorFlow's C++ start-up log lines are removed from the saved outputs. Running a few
notebooks updates their pages and keeps the others on the course map: timings accumulate in
``build/timings.json`` (per profile).
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import shutil
import sys
import time
from pathlib import Path

import jinja2
import nbformat
from nbclient import NotebookClient
from nbconvert import HTMLExporter
from traitlets.config import Config

from course_utils import config, doctor

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_DIR = Path(__file__).resolve().parent / "html_template"
MATHJAX_URL = "_static/mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full"
# TensorFlow's C++ start-up log lines (absl format: I0000 12:00:00.000 123 file.cc:45] ...), which no
# environment variable silences in TF 2.21. They say nothing about the lesson.
TF_LOG_LINE = re.compile(
    r"^(?:[IWEF]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ [\w.]+:\d+\] .*"
    r"|WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|To enable the following instructions: .*rebuild TensorFlow with the appropriate compiler flags\.)$"
)

# The lines among them, and the kernel's, that are at warning level or above: a clean run has none.
LOUD_LOG_LINE = re.compile(
    r"^(?:[WEF]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ [\w.]+:\d+\] .*"  # TensorFlow: W, E or F level
    r"|\[\w+\] (?:WARNING|ERROR) \| .*)$"  # the kernel's own, e.g. "[IPKernelApp] WARNING | ..."
)


# Run in each kernel before the notebook: every figure's PNG carries a text alternative, from its
# title, panel titles, axis labels and legend (course_utils.figure_text), which the HTML pages and
# slides use as the image's alt text.
ALT_TEXT_SETUP = "from course_utils import figure_text as _figure_text\n_figure_text.register_alt_text()"


def ipc_kernel_config() -> Config:
    """Kernel managers that talk to their kernel over Unix sockets (IPC) instead of TCP: the kernel is
    local, and ipykernel warns that TCP is unencrypted. The socket path must be absolute, because the
    kernel runs in the notebook's folder."""
    from jupyter_core.paths import jupyter_runtime_dir

    runtime = Path(jupyter_runtime_dir())
    runtime.mkdir(parents=True, exist_ok=True)
    return Config({"KernelManager": {"transport": "ipc", "ip": str(runtime / f"course-{os.getpid()}-ipc")}})


def title_of(nb) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return "untitled"


COURSE_MAP_ROW = re.compile(  # | 04 | [title](notebooks/04_x.ipynb) | topics | quick | standard |
    r"^\| (\d\d[a-z]?) \| \[[^\]]+\]\(notebooks/([^)]+)\.ipynb\) \| (.+?) \| (.+?) \| (.+?) \|$"
)


def readme_course_map(readme: Path = ROOT / "README.md") -> dict[str, dict[str, str]]:
    """The README's course map, the one place the topics and measured times are written:
    ``{stem: {"topics", "quick", "standard"}}`` (empty if the README has no such table)."""
    rows = {}
    if readme.exists():
        for line in readme.read_text(encoding="utf-8").splitlines():
            match = COURSE_MAP_ROW.match(line)
            if match:
                _, stem, topics, quick, standard = match.groups()
                rows[stem] = {"topics": topics, "quick": quick, "standard": standard}
    return rows


def _markdown_inline(text: str) -> str:
    """The README's inline markdown (`code`, *emphasis*) as HTML, everything else escaped."""
    out = html.escape(text)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    return re.sub(r"\*([^*]+)\*", r"<em>\1</em>", out)


def write_index(folder: Path, rows, profile: str, course_map: dict | None = None) -> Path:
    """The course map page: ``rows`` of ``(stem, title, seconds)``, one entry per notebook with its
    topics and the README's times in each profile (``course_map``, default: read from the README),
    this run's time, and links to its page, its slide deck (when ``build/slides`` has one) and the
    students' copy (when ``build/student`` has one). It is the page an instructor projects first."""
    course_map = readme_course_map() if course_map is None else course_map
    slides, student = folder.parent / "slides", folder.parent / "student"
    items = []
    for stem, title, seconds in rows:
        links = [f'<a href="{html.escape(stem)}.html">page</a>']
        if (slides / f"{stem}.slides.html").exists():
            links.append(f'<a href="../slides/{html.escape(stem)}.slides.html">slides</a>')
        if (student / f"{stem}.ipynb").exists():
            links.append(f'<a href="../student/{html.escape(stem)}.ipynb">student copy</a>')
        info = course_map.get(stem, {})
        topics = f"<p>{_markdown_inline(info['topics'])}</p>" if info else ""
        times = f"this run ({html.escape(profile)}): {seconds / 60:.1f} min"
        if info:
            times += (
                f"; on the reference CPU, quick: {html.escape(info['quick'])}, "
                f"standard: {html.escape(info['standard'])}"
            )
        items.append(
            f'<li><a href="{html.escape(stem)}.html"><b>{html.escape(title)}</b></a> '
            f"({' · '.join(links)}){topics}<small>{times}</small></li>"
        )
    index = folder / "index.html"
    index.write_text(
        "<!doctype html><meta charset='utf-8'><title>Course map</title>"
        "<style>body{font-family:sans-serif;max-width:52em;margin:2em auto;line-height:1.4}"
        "ul{list-style:none;padding:0}li{margin:0 0 1em}li p{margin:.2em 0}small{color:#555}</style>"
        f"<h1>Adversarial examples, robustness and GANs</h1><p>Profile of this run: {html.escape(profile)}. "
        "Reference times are with the notebook's models already cached; "
        "<code>python -m course_utils doctor</code> estimates them for your machine.</p>"
        f"<ul>{''.join(items)}</ul>",
        encoding="utf-8",
    )
    return index


def loud_log_lines(nb) -> list[tuple[int, str]]:
    """``(cell index, line)`` for every warning-, error- or fatal-level log line of TensorFlow's C++
    runtime or of the kernel in the stderr outputs of ``nb``: what a student would see in red."""
    found = []
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if output.get("output_type") == "stream" and output.get("name") == "stderr":
                found += [(index, line) for line in output["text"].splitlines() if LOUD_LOG_LINE.match(line)]
    return found


def strip_tensorflow_logs(nb) -> int:
    """Remove TensorFlow's C++ start-up log lines from the stderr outputs of ``nb`` (in place); an
    output left empty is dropped. Everything else printed to stderr is kept. Returns lines removed."""
    removed = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stderr":
                lines = output["text"].splitlines(keepends=True)
                clean = [line for line in lines if not TF_LOG_LINE.match(line.rstrip("\n"))]
                removed += len(lines) - len(clean)
                if not clean:
                    continue
                output["text"] = "".join(clean)
            kept.append(output)
        cell["outputs"] = kept
    return removed


def html_exporter() -> HTMLExporter:
    """nbconvert's HTML exporter with the course's offline template."""
    return HTMLExporter(
        extra_template_basedirs=[str(TEMPLATE_DIR.parent)],
        extra_loaders=[jinja2.FileSystemLoader(str(TEMPLATE_DIR.parent))],  # figure_png.html.j2
        template_name=TEMPLATE_DIR.name,
        mathjax_url=MATHJAX_URL,
    )


NOTEBOOK_LINK = re.compile(r"\]\((\d\d[a-z]?_[A-Za-z0-9_]+)\.ipynb(#[^)\s]*)?\)")


def with_links_to(nb, suffix: str):
    """A copy of ``nb`` whose markdown links to another course notebook (``](09_x.ipynb)``) point to
    its rendered form, ``09_x`` + ``suffix`` (``.html`` for a page, ``.slides.html`` for a deck)."""
    nb = nbformat.from_dict(nb)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = NOTEBOOK_LINK.sub(
                lambda m: f"]({m.group(1)}{suffix}{m.group(2) or ''})", cell.source
            )
    return nb


def render_html(nb, folder: Path, stem: str, exporter: HTMLExporter | None = None) -> Path:
    """Write ``folder/<stem>.html`` for the notebook ``nb``, with MathJax in ``folder/_static``; links
    to other notebooks go to their pages."""
    import jupyter_server_mathjax

    nb = with_links_to(nb, ".html")

    mathjax = folder / "_static" / "mathjax"
    if not mathjax.exists():
        shutil.copytree(Path(jupyter_server_mathjax.__file__).parent / "static", mathjax)
    body, _ = (exporter or html_exporter()).from_notebook_node(nb, resources={"metadata": {"name": stem}})
    target = folder / f"{stem}.html"
    target.write_text(body, encoding="utf-8")
    return target


def renumber_after_setup_cell(nb) -> None:
    """Execution counts as if the taken-out set-up cell had never run: the first cell is ``In [1]``."""
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.get("execution_count"):
            cell.execution_count -= 1
            for output in cell.get("outputs", []):
                if output.get("execution_count"):
                    output["execution_count"] -= 1


def cell_seconds(nb) -> list[tuple[int, float]]:
    """``(cell index, seconds)`` of every executed code cell, from the timestamps nbclient records in
    ``metadata.execution`` (from the kernel receiving the cell to its reply)."""
    import datetime

    out = []
    for index, cell in enumerate(nb.cells):
        stamps = cell.metadata.get("execution", {}) if cell.cell_type == "code" else {}
        if "iopub.execute_input" in stamps and "shell.execute_reply" in stamps:
            start, end = (
                datetime.datetime.fromisoformat(stamps[k].replace("Z", "+00:00"))
                for k in ("iopub.execute_input", "shell.execute_reply")
            )
            out.append((index, (end - start).total_seconds()))
    return out


def merged_timings(path: Path, profile: str, seconds: dict[str, float]) -> dict[str, float]:
    """Earlier timings of the same profile from ``path``, updated with ``seconds``; saved back."""
    previous = {}
    if path.exists():
        try:
            saved = json.loads(path.read_text())
            previous = saved["seconds"] if saved.get("profile") == profile else {}
        except (ValueError, KeyError):
            previous = {}  # a damaged record is rebuilt from this run
    merged = {**previous, **seconds}
    path.write_text(json.dumps({"profile": profile, "seconds": merged}, indent=1))
    return merged


def expected_time(profile: str, stem: str, speed_factor: float | None = None) -> str:
    """How long ``stem`` should take in ``profile``: the reference machine's time
    (``course_utils/reference_times.json``) times ``speed_factor`` (this machine's training step over
    the reference machine's, measured by ``doctor``), e.g. "about 2 min here, or 14 min if it trains
    its models first"; without a factor, the reference machine's own time. Empty without a reference."""
    cached = doctor.REFERENCE_SECONDS.get(profile, {}).get(stem)
    if cached is None:
        return ""
    factor = speed_factor or 1.0
    cached *= factor
    first = doctor.first_run_seconds(profile, stem) * factor
    where = "here" if speed_factor else "on the reference 2-core CPU"
    text = f"about {doctor.duration(cached)} {where}"
    if first and doctor.duration(cached + first) != doctor.duration(cached):
        text += f", or {doctor.duration(cached + first)} if it trains its models first"
    return text


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", help="quick, standard or full (default: $COURSE_PROFILE)")
    parser.add_argument("--out", type=Path, default=ROOT / "build")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds allowed per cell")
    parser.add_argument("--no-speed", action="store_true", help="announce the reference machine's times")
    parser.add_argument("notebooks", nargs="*", type=Path)
    args = parser.parse_args(argv)
    if args.profile:
        os.environ["COURSE_PROFILE"] = args.profile
    os.environ.setdefault("TQDM_DISABLE", "1")  # no progress bars stored in the executed notebooks
    paths = args.notebooks or config.course_notebooks(ROOT / "notebooks")
    (args.out / "executed").mkdir(parents=True, exist_ok=True)
    (args.out / "html").mkdir(parents=True, exist_ok=True)
    exporter = html_exporter()
    ipc_kernel = ipc_kernel_config()
    profile_name = config.get_profile().name
    speed = None
    if not args.no_speed and profile_name in doctor.REFERENCE_SECONDS:
        with doctor.start_up_lines_held_back():  # TensorFlow's start-up lines, in this process
            speed = doctor.step_seconds() / doctor.REFERENCE_STEP_SECONDS  # a few seconds
        print(doctor.speed_sentence(speed * doctor.REFERENCE_STEP_SECONDS), flush=True)
    seconds_of, longest_of, failed = {}, {}, []
    # What the kernels write to their process's stderr (TensorFlow's start-up lines, twice per notebook)
    # goes to a log instead of between the course's own lines.
    kernel_log_path = args.out / "kernel-stderr.log"
    kernel_log = kernel_log_path.open("w", encoding="utf-8")
    for number, path in enumerate(paths, 1):
        nb = nbformat.read(path, as_version=4)
        expected = expected_time(profile_name, path.stem, speed)
        what = f"[{number}/{len(paths)}] running {path.name}"
        print(f"{what} ({expected}) ..." if expected else f"{what} ...", flush=True)
        start = time.perf_counter()
        nb.cells.insert(0, nbformat.v4.new_code_cell(ALT_TEXT_SETUP))  # taken out again below
        try:
            NotebookClient(
                nb,
                timeout=args.timeout,
                kernel_name="python3",
                resources={"metadata": {"path": str(path.parent)}},
                # IPC (Unix sockets) instead of TCP: the kernel is local, and ipykernel warns about
                # unencrypted TCP.
                config=ipc_kernel,
            ).execute(stderr=kernel_log)
        except Exception as exc:  # noqa: BLE001 - report every notebook, then fail at the end
            failed.append(path.name)
            print(f"  FAILED: {type(exc).__name__}: {str(exc).splitlines()[-1] if str(exc) else ''}")
        seconds = time.perf_counter() - start
        nb.cells.pop(0)
        renumber_after_setup_cell(nb)
        loud = loud_log_lines(nb)
        if loud:
            print(f"  {len(loud)} warning- or error-level log line(s) (removed from the saved notebook):")
            for index, line in loud[:5]:
                print(f"    cell {index}: {line[:160]}")
        strip_tensorflow_logs(nb)
        nbformat.write(nb, args.out / "executed" / path.name)
        page = render_html(nb, args.out / "html", path.stem, exporter)
        seconds_of[path.stem] = seconds
        cells = cell_seconds(nb)
        longest = max(cells, key=lambda c: c[1], default=(None, 0.0))
        longest_of[path.stem] = {"cell": longest[0], "seconds": round(longest[1], 1)}
        print(
            f"  {seconds:.0f} s (longest cell: {longest[1]:.0f} s, cell {longest[0]}) -> {page}", flush=True
        )
    profile = os.environ.get("COURSE_PROFILE", "default")
    timings = merged_timings(args.out / "timings.json", profile, seconds_of)
    cells_path = args.out / "cell_timings.json"
    previous = json.loads(cells_path.read_text()) if cells_path.exists() else {}
    previous.setdefault(profile, {}).update(longest_of)
    cells_path.write_text(json.dumps(previous, indent=1))
    rows = [
        (p.stem, title_of(nbformat.read(p, as_version=4)), timings[p.stem])
        for p in config.course_notebooks(args.out / "executed")
        if p.stem in timings and (args.out / "html" / f"{p.stem}.html").exists()
    ]
    write_index(args.out / "html", rows, profile)
    kernel_log.close()
    total = sum(seconds_of.values())
    print(f"{len(seconds_of)} notebook(s) in {total / 60:.1f} min; index: {args.out / 'html' / 'index.html'}")
    print(f"(the kernels' own start-up messages are in {kernel_log_path})")
    if failed:
        print("failed notebooks: " + ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
