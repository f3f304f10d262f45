"""Run the whole course headless: execute every notebook, save it and render it to HTML.

    python tools/run_course.py [--profile NAME] [--out build] [notebooks/04_*.ipynb ...]

Writes ``build/executed/<name>.ipynb``, ``build/html/<name>.html`` and ``build/html/index.html``
(the course map with links). The profile comes from ``--profile`` or ``$COURSE_PROFILE``.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbconvert import HTMLExporter

ROOT = Path(__file__).resolve().parent.parent


def title_of(nb) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return "untitled"


def write_index(folder: Path, rows, profile: str) -> Path:
    """The course map page: ``rows`` of ``(stem, title, seconds)``, one link per notebook (and to its
    slide deck when ``build/slides`` has one)."""
    slides = folder.parent / "slides"
    items = "\n".join(
        f'<li><a href="{html.escape(stem)}.html">{html.escape(title)}</a> '
        + (
            f'(<a href="../slides/{html.escape(stem)}.slides.html">slides</a>) '
            if (slides / f"{stem}.slides.html").exists()
            else ""
        )
        + f"<small>({seconds / 60:.1f} min)</small></li>"
        for stem, title, seconds in rows
    )
    index = folder / "index.html"
    index.write_text(
        "<!doctype html><meta charset='utf-8'><title>Course map</title>"
        "<style>body{font-family:sans-serif;max-width:46em;margin:2em auto}li{margin:.4em 0}</style>"
        f"<h1>Adversarial examples, robustness and GANs</h1><p>Profile: {html.escape(profile)}</p>"
        f"<ol start='0'>{items}</ol>",
        encoding="utf-8",
    )
    return index


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", help="quick, standard or full (default: $COURSE_PROFILE)")
    parser.add_argument("--out", type=Path, default=ROOT / "build")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds allowed per cell")
    parser.add_argument("notebooks", nargs="*", type=Path)
    args = parser.parse_args(argv)
    if args.profile:
        os.environ["COURSE_PROFILE"] = args.profile
    os.environ.setdefault("TQDM_DISABLE", "1")  # no progress bars stored in the executed notebooks
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    (args.out / "executed").mkdir(parents=True, exist_ok=True)
    (args.out / "html").mkdir(parents=True, exist_ok=True)
    exporter = HTMLExporter()
    rows, failed = [], []
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        print(f"running {path.name} ...", flush=True)
        start = time.perf_counter()
        try:
            NotebookClient(
                nb,
                timeout=args.timeout,
                kernel_name="python3",
                resources={"metadata": {"path": str(path.parent)}},
            ).execute()
        except Exception as exc:  # noqa: BLE001 - report every notebook, then fail at the end
            failed.append(path.name)
            print(f"  FAILED: {type(exc).__name__}: {str(exc).splitlines()[-1] if str(exc) else ''}")
        seconds = time.perf_counter() - start
        nbformat.write(nb, args.out / "executed" / path.name)
        body, _ = exporter.from_notebook_node(nb)
        (args.out / "html" / f"{path.stem}.html").write_text(body, encoding="utf-8")
        rows.append((path.stem, title_of(nb), seconds))
        print(f"  {seconds:.0f} s -> {args.out / 'html' / (path.stem + '.html')}", flush=True)
    profile = os.environ.get("COURSE_PROFILE", "default")
    write_index(args.out / "html", rows, profile)
    (args.out / "timings.json").write_text(
        json.dumps({"profile": profile, "seconds": {stem: s for stem, _, s in rows}}, indent=1)
    )
    print(f"index: {args.out / 'html' / 'index.html'}")
    if failed:
        print("failed notebooks: " + ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
