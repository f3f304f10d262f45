"""Build the course site: the executed notebooks, the course map as its home page and the reference
pages (``docs/``), with navigation, search and no network.

    python tools/build_site.py                # after `make course` (it runs this itself)
    python tools/build_site.py --out build/site --executed build/executed

Sphinx with ``myst-nb`` and ``sphinx-book-theme`` does the work: a left-hand table of contents in
the course's four parts, previous/next links on every page, a local search index. The sources are
assembled in ``build/site-src`` (never edit them there): the notebooks (executed ones where
``make course`` made them, else the clean ones), ``docs/*.md``, and a generated ``index.md``. The
slide decks (``build/slides``) and the students' copies (``build/student``) are copied into the site
when they exist, so that the home page links to them and the site is one folder to hand out.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import html
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

from course_utils import config, reference_times  # noqa: E402

#: The course's four parts, by the notebooks' numbers (an appendix such as 08a joins its notebook's part).
PARTS = (
    ("Part 1 · The basics", range(0, 3)),
    ("Part 2 · Generative adversarial networks", range(3, 6)),
    ("Part 3 · Adversarial examples: attacks, defenses, evaluation, certificates", range(6, 12)),
    ("Part 4 · What remains open", range(12, 13)),
)
#: The reference pages, in the order of the navigation.
DOCS = ("setup", "profiles", "package", "results", "instructors", "troubleshooting", "contributing")


def part_of(stem: str) -> str:
    number = int(stem[:2])
    for title, numbers in PARTS:
        if number in numbers:
            return title
    raise ValueError(f"notebook {stem} belongs to no part of the course: extend PARTS in {__file__}")


def title_of(nb) -> str:
    """The notebook's ``#`` heading without its number: "PGD attacks"."""
    import run_course

    return run_course.title_of(nb).split("·", 1)[-1].strip()


def course_map_rows(notebooks: list[Path]) -> list[dict]:
    """One row per notebook: stem, number, title, topics (from the README's course map), optional."""
    import run_course

    topics = run_course.readme_course_map()
    rows = []
    for path in notebooks:
        info = topics.get(path.stem, {})
        text = info.get("topics", "")
        optional = text.startswith("*optional*")
        rows.append(
            {
                "stem": path.stem,
                "number": path.stem.split("_", 1)[0],
                "title": title_of(nbformat.read(path, as_version=4)),
                "topics": text.removeprefix("*optional*:").strip() if optional else text,
                "optional": optional,
            }
        )
    return rows


def index_page(rows: list[dict], profile: str, links: dict[str, list[tuple[str, str]]]) -> str:
    """The home page: the course map by part, "start here", times in ``profile``, links."""
    times = reference_times.load()
    seconds = times["notebooks"].get(profile, {})
    lines = [
        "# Adversarial examples, robustness and GANs",
        "",
        "*A hands-on course in TensorFlow 2 / Keras 3: from a single neuron to attacking, defending and "
        "honestly evaluating image classifiers, and training generative adversarial networks, on "
        "Fashion-MNIST.*",
        "",
        "**Start here:** [00 · Set-up and tour](notebooks/00_setup_and_tour.ipynb). Each notebook of 00–12 "
        "is a 45-minute lesson; those marked *optional* go further, and nothing later depends on them. "
        "Before each main result a notebook asks for your prediction; its last cell before the solutions "
        "compares your figures with the course's reference runs.",
        "",
        f"Times: the `{profile}` profile, each notebook with its models already cached, on the course's "
        f"reference machine ({times['machine']}); `python -m course_utils doctor` estimates them for yours. "
        "Other pages: [set-up](docs/setup.md), [profiles](docs/profiles.md), [results](docs/results.md), "
        "[for instructors](docs/instructors.md).",
        "",
    ]
    toctrees = []
    for part, _ in PARTS:
        members = [r for r in rows if part_of(r["stem"]) == part]
        if not members:
            continue
        lines += [f"## {part}", "", "| | notebook | topics | time | also |", "|---|---|---|---|---|"]
        for row in members:
            name = f"[{row['title']}](notebooks/{row['stem']}.ipynb)"
            if row["optional"] and "optional" not in row["title"].lower():
                name += " *(optional)*"
            extra = " · ".join(
                f'<a href="{html.escape(href)}">{html.escape(label)}</a>'
                for label, href in links.get(row["stem"], [])
            )
            time = reference_times.duration(seconds.get(row["stem"]))
            lines.append(f"| {row['number']} | {name} | {row['topics']} | {time} | {extra or '-'} |")
        lines.append("")
        toctrees += ["```{toctree}", ":hidden:", f":caption: {part}", ""]
        toctrees += [f"notebooks/{r['stem']}" for r in members] + ["```", ""]
    toctrees += ["```{toctree}", ":hidden:", ":caption: Reference", ""]
    toctrees += [f"docs/{name}" for name in DOCS] + ["```", ""]
    return "\n".join(lines + toctrees)


WIDGET_NOTE = (
    "[An interactive widget: open this notebook in JupyterLab to use it. "
    "The figures below show fixed values.]"
)


def without_live_widgets(nb):
    """``nb`` with each widget output replaced by :data:`WIDGET_NOTE` (a page has no kernel to drive
    a widget) and the saved widget state dropped (it would pull the widget library from a CDN)."""
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if "application/vnd.jupyter.widget-view+json" in output.get("data", {}):
                output["data"] = {"text/plain": WIDGET_NOTE}
    nb.metadata.pop("widgets", None)
    return nb


def assemble(src: Path, executed: Path, build: Path, profile: str) -> list[str]:
    """Write the site's sources into ``src``; returns the notebooks' stems."""
    import jupyter_server_mathjax

    if src.exists():
        shutil.rmtree(src)
    (src / "notebooks").mkdir(parents=True)
    (src / "docs").mkdir()
    shutil.copy(ROOT / "tools" / "site" / "conf.py", src / "conf.py")
    shutil.copytree(Path(jupyter_server_mathjax.__file__).parent / "static", src / "_static" / "mathjax")
    notebooks = []
    for clean in config.course_notebooks(ROOT / "notebooks"):
        ran = executed / clean.name
        nb = nbformat.read(ran if ran.exists() else clean, as_version=4)
        nbformat.write(without_live_widgets(nb), src / "notebooks" / clean.name)
        notebooks.append(clean)
    for name in DOCS:
        shutil.copy(ROOT / "docs" / f"{name}.md", src / "docs" / f"{name}.md")
    links = {}
    for path in notebooks:
        links[path.stem] = []
        if (build / "slides" / f"{path.stem}.slides.html").exists():
            links[path.stem].append(("slides", f"slides/{path.stem}.slides.html"))
        if (build / "student" / f"{path.stem}.ipynb").exists():
            links[path.stem].append(("student copy", f"student/{path.stem}.ipynb"))
    (src / "index.md").write_text(index_page(course_map_rows(notebooks), profile, links), encoding="utf-8")
    return [p.stem for p in notebooks]


def alt_texts(notebook_dir: Path) -> dict[str, str]:
    """``{sha256 of a PNG output: its text alternative}`` for the figures of the notebooks in
    ``notebook_dir`` (``course_utils.figure_text`` stores it in each PNG output's metadata; myst-nb
    names each image by that hash but uses its file name as the alt text)."""
    found = {}
    for path in notebook_dir.glob("*.ipynb"):
        for cell in nbformat.read(path, as_version=4).cells:
            for output in cell.get("outputs", []):
                alt = output.get("metadata", {}).get("image/png", {}).get("alt")
                png = output.get("data", {}).get("image/png")
                if alt and png:
                    found[hashlib.sha256(base64.b64decode(png)).hexdigest()] = alt
    return found


def put_alt_texts(site: Path, alts: dict[str, str]) -> int:
    """Give every figure of the built pages its text alternative; returns how many were given."""
    image = re.compile(r"<img [^>]*>")
    given = 0
    for page in site.rglob("*.html"):
        text = page.read_text(encoding="utf-8")

        def with_alt(match: re.Match) -> str:
            nonlocal given
            tag = match.group(0)
            name = re.search(r'src="[^"]*_images/([0-9a-f]{64})\.png"', tag)
            if not name or name.group(1) not in alts:
                return tag
            given += 1
            return re.sub(r'alt="[^"]*"', lambda _: f'alt="{html.escape(alts[name.group(1)])}"', tag, count=1)

        new = image.sub(with_alt, text)
        if new != text:
            page.write_text(new, encoding="utf-8")
    return given


def build(out: Path, executed: Path, profile: str) -> Path:
    """Assemble the sources next to ``out`` and run Sphinx; returns ``out / "index.html"``."""
    build_dir = out.parent
    src = build_dir / "site-src"
    assemble(src, executed, build_dir, profile)
    if out.exists():
        shutil.rmtree(out)
    done = subprocess.run(
        [sys.executable, "-m", "sphinx", "-b", "html", "-q", "-j", "auto", str(src), str(out)],
        capture_output=True,
        text=True,
    )
    warnings = [line for line in done.stderr.splitlines() if line.strip()]
    if done.returncode != 0:
        raise SystemExit("Sphinx failed:\n" + "\n".join(warnings[-30:]))
    if warnings:
        print(f"Sphinx: {len(warnings)} warning line(s), e.g.:\n  " + "\n  ".join(warnings[:10]))
    put_alt_texts(out, alt_texts(src / "notebooks"))
    for extra in ("slides", "student"):
        if (build_dir / extra).is_dir():
            shutil.copytree(build_dir / extra, out / extra)
    return out / "index.html"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "site")
    parser.add_argument("--executed", type=Path, default=ROOT / "build" / "executed")
    parser.add_argument("--profile", help="whose times the home page shows (default: $COURSE_PROFILE)")
    args = parser.parse_args(argv)
    profile = config.get_profile(args.profile).name
    index = build(args.out, args.executed, profile)
    print(f"course site: {index}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
