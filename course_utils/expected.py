"""A notebook's measured figures next to the course's reference run: recorded as they are computed,
compared at the end.

The prose of a notebook never quotes a number that a cell computes: a student on another CPU, or
with another seed, prints other digits and would think they broke something. Instead a cell records
each main figure as it prints it, and the notebook's last lesson cell compares them all with the
course's reference run of the same profile, within a tolerance measured for each figure::

    figures = expected.Figures("06", profile, SEED)
    acc = figures.record("fgsm_0.1", evaluation.accuracy(cnn, x_adv, y_eval), "FGSM accuracy at ε = 0.1",
                         n=len(y_eval))
    ...
    figures.report()  # yours | reference | tolerance | verdict, one line per figure

The reference runs live in ``notebooks/expected/<notebook>.json`` (one entry per profile), written by
``tools/expected_results.py`` from runs with several seeds: each figure's tolerance is the larger of
1.5 times its largest deviation over those seeds, the 95 % sampling half-width of a proportion of
``n`` images, and the ``floor`` the notebook gives. :meth:`Figures.report` also saves the run's
figures to ``build/results/<profile>-seed<seed>/<notebook>.json``, from which the references are
made. With ``$COURSE_CHECK_EXPECTED=1`` (``make test`` sets it) a figure outside its tolerance, or a
reference that no longer matches the notebook's figures, fails the report cell; otherwise the report
only says so.

Nothing here runs on import.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
import re
from pathlib import Path

from course_utils import config

CHECK_ENV_VAR = "COURSE_CHECK_EXPECTED"
RESULTS_ENV_VAR = "COURSE_RESULTS_DIR"
SEED_MARGIN = 1.5  # tolerance = 1.5 x the largest deviation seen over the reference seeds (or more)
Z95 = 1.959964  # two-sided 95 % normal quantile, for a proportion's sampling half-width


@dataclasses.dataclass(frozen=True)
class Figure:
    """One recorded figure.

    Attributes:
        key: short identifier, unique within the notebook (``"fgsm_0.1"``).
        label: what it is, in words (``"FGSM accuracy at ε = 0.1"``).
        value: the number (a proportion in [0, 1] when ``fmt`` ends in ``%``).
        fmt: format spec for display, e.g. ``".1%"`` or ``".2f"``.
        n: for a proportion, the number of images it is measured on (sets a sampling-error floor).
        floor: the smallest tolerance this figure gets, in its own units.
    """

    key: str
    label: str
    value: float
    fmt: str = ".1%"
    n: int | None = None
    floor: float = 0.0

    def show(self, value: float | None = None) -> str:
        v = self.value if value is None else value
        return "-" if v is None else format(v, self.fmt)


def sampling_halfwidth(p: float, n: int | None) -> float:
    """95 % normal-approximation half-width of a proportion ``p`` measured on ``n`` items (0 without
    ``n``). For p = 0 or 1 it uses p = 0.5/n, so that a run of all-correct images still admits a
    different run's one error."""
    if not n:
        return 0.0
    p = min(max(p, 0.5 / n), 1 - 0.5 / n)
    return Z95 * math.sqrt(p * (1 - p) / n)


def tolerance(values: list[float], reference: float, *, n: int | None = None, floor: float = 0.0) -> float:
    """How far a run may land from ``reference`` and still be "as expected".

    Args:
        values: the figure in every reference run (seeds), ``reference`` among them.
        reference: the reference run's value (the course's seed).
        n: images behind a proportion (see :func:`sampling_halfwidth`), or ``None``.
        floor: the smallest tolerance allowed, in the figure's units.

    Returns:
        ``max(1.5 * max|v - reference|, sampling half-width, floor)``.
    """
    spread = max((abs(v - reference) for v in values), default=0.0)
    return max(SEED_MARGIN * spread, sampling_halfwidth(reference, n), floor)


def machine_description() -> str:
    """The CPU (or GPU), core count and TensorFlow version, e.g.
    ``"AMD EPYC 7B13, 2 cores, TF 2.21.0"``: which machine a reference run came from."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    try:
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        tf_text = f"TF {tf.__version__}" + (f", {len(gpus)} GPU(s)" if gpus else "")
    except ImportError:  # pragma: no cover - the course always has TensorFlow
        tf_text = "no TensorFlow"
    return f"{cpu}, {os.cpu_count()} cores, {tf_text}"


def reference_path(notebook: str, root: Path | None = None) -> Path | None:
    """``notebooks/expected/<notebook>.json`` of the course checkout (``None`` outside one)."""
    root = root or config.repo_root()
    return None if root is None else root / "notebooks" / "expected" / f"{notebook}.json"


def results_dir(profile: str, seed: int) -> Path:
    """Where a run saves its figures: ``$COURSE_RESULTS_DIR``, else ``<repo>/build/results``, else
    ``~/.cache/course_utils/results``; then ``<profile>-seed<seed>/``."""
    env = os.environ.get(RESULTS_ENV_VAR, "").strip()
    root = config.repo_root()
    if env:
        base = Path(env).expanduser()
    elif root is not None:
        base = root / "build" / "results"
    else:
        base = Path.home() / ".cache" / "course_utils" / "results"
    return base / f"{profile}-seed{seed}"


def load_reference(notebook: str, profile: str, root: Path | None = None) -> dict | None:
    """The reference run of ``notebook`` in ``profile`` (``None`` if there is none yet)."""
    path = reference_path(notebook, root)
    if path is None or not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8")).get(profile)


class Figures:
    """The figures one run of a notebook measures; see the module docstring.

    Args:
        notebook: the notebook's number as in its file name, e.g. ``"06"`` or ``"08a"``.
        profile: the run's :class:`~course_utils.config.Profile` (or its name).
        seed: the run's seed.
    """

    def __init__(self, notebook: str, profile, seed: int):
        self.notebook = str(notebook)
        self.profile = getattr(profile, "name", profile)
        self.seed = int(seed)
        self.figures: dict[str, Figure] = {}

    def record(
        self,
        key: str,
        value: float,
        label: str,
        *,
        fmt: str = ".1%",
        n: int | None = None,
        floor: float = 0.0,
    ) -> float:
        """Keep ``value`` under ``key`` and return it unchanged (so a cell can record as it computes).

        Raises:
            ValueError: for a value that is not a finite number, or a proportion outside [0, 1].
        """
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"figure {key!r}: {value!r} is not a number.") from None
        if not math.isfinite(number):
            raise ValueError(f"figure {key!r} is {number}: a measured figure must be finite.")
        if fmt.endswith("%") and not 0.0 <= number <= 1.0:
            raise ValueError(
                f"figure {key!r} = {number} is formatted as a percentage, so it must be a proportion in "
                "[0, 1] (pass 0.75, not 75)."
            )
        self.figures[key] = Figure(key, label, number, fmt, n, floor)
        return value

    def as_dict(self) -> dict:
        return {
            "notebook": self.notebook,
            "profile": self.profile,
            "seed": self.seed,
            "machine": machine_description(),
            "figures": {k: dataclasses.asdict(f) for k, f in self.figures.items()},
        }

    def save(self) -> Path:
        """Write the figures to :func:`results_dir` ``/<notebook>.json`` and return the path."""
        folder = results_dir(self.profile, self.seed)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{self.notebook}.json"
        path.write_text(json.dumps(self.as_dict(), indent=1, ensure_ascii=False), encoding="utf-8")
        return path

    def compare(self, reference: dict | None = None) -> list[tuple[Figure, dict | None, str]]:
        """``(figure, reference entry, verdict)`` per figure; verdict ``"as expected"``, ``"higher"``,
        ``"lower"``, ``"new"`` (no reference entry), or ``"not measured"`` for a reference figure this
        run did not record (then the figure is rebuilt from the reference)."""
        reference = load_reference(self.notebook, self.profile) if reference is None else reference
        ref_figures = (reference or {}).get("figures", {})
        rows = []
        for key, figure in self.figures.items():
            ref = ref_figures.get(key)
            if ref is None:
                rows.append((figure, None, "new"))
                continue
            gap = figure.value - ref["value"]
            # a hair of slack for the float round trip through JSON
            verdict = (
                "as expected" if abs(gap) <= ref["tolerance"] + 1e-9 else ("higher" if gap > 0 else "lower")
            )
            rows.append((figure, ref, verdict))
        for key, ref in ref_figures.items():
            if key not in self.figures:
                stand_in = Figure(key, ref["label"], ref["value"], ref.get("fmt", ".1%"))
                rows.append((stand_in, ref, "not measured"))
        return rows

    def report(self, reference: dict | None = None, *, check: bool | None = None) -> None:
        """Print every figure next to the reference run, save the figures, and (with ``check``, default
        ``$COURSE_CHECK_EXPECTED == "1"``) raise if any figure is outside its tolerance or the
        reference no longer matches the notebook's figures."""
        check = os.environ.get(CHECK_ENV_VAR, "") == "1" if check is None else check
        reference = load_reference(self.notebook, self.profile) if reference is None else reference
        saved = self.save()
        if reference is None:
            print(
                f"No reference run of notebook {self.notebook} in the {self.profile} profile yet; "
                f"your {len(self.figures)} figures are saved in {saved}."
            )
            for figure in self.figures.values():
                print(f"  {figure.label}: {figure.show()}")
            if check and self.profile in ("quick", "standard"):
                raise AssertionError(
                    f"notebook {self.notebook} has no {self.profile} reference: run "
                    f"tools/expected_results.py --profile {self.profile} --write"
                )
            return
        rows = self.compare(reference)
        print(_header(self.profile, reference))
        width = max(len(f.label) for f, _, _ in rows)
        print(f"{'figure':<{width}}  {'yours':>9}  {'reference':>9}  {'tolerance':>10}")
        for figure, ref, verdict in rows:
            yours = "-" if verdict == "not measured" else figure.show()
            ref_text = "-" if ref is None else figure.show(ref["value"])
            tol = "" if ref is None else "± " + _tolerance_text(figure, ref["tolerance"])
            print(f"{figure.label:<{width}}  {yours:>9}  {ref_text:>9}  {tol:>10}  {verdict}")
        outside = [(f, r, v) for f, r, v in rows if v in ("higher", "lower")]
        stale = [(f, r, v) for f, r, v in rows if v in ("new", "not measured")]
        if not outside and not stale:
            print(f"\nAll {len(rows)} figures are within their tolerance.")
        if outside:
            print(
                f"\n{len(outside)} figure(s) outside the tolerance. If you changed a cell, or run another "
                "seed, that is expected. If not, your machine differs more than the reference seeds did: "
                "the conclusions in the text still hold where the cells' asserts passed."
            )
        if stale:
            print(
                f"\n{len(stale)} figure(s) without a counterpart (marked new / not measured): the reference "
                "is older than this notebook."
            )
        if check and (outside or stale):
            lines = [f"{f.key}: {v}" for f, _, v in outside + stale]
            raise AssertionError(
                f"notebook {self.notebook} ({self.profile}): figures do not match the reference run "
                f"(notebooks/expected/{self.notebook}.json): "
                + "; ".join(lines)
                + ". Fix the notebook, or remake the reference with tools/expected_results.py."
            )


def _header(profile: str, reference: dict) -> str:
    """What the report's table compares, in plain words."""
    seeds = reference.get("seeds", [reference["reference_seed"]])
    where = (
        f"Your figures next to the course's reference run ({profile} profile, seed "
        f"{reference['reference_seed']}, on {reference['machine']}, {reference['date']})."
    )
    if len(seeds) > 1:
        spread = (
            f"how far the course's own runs with seeds {seeds[0]}-{seeds[-1]} spread (times 1.5), or the "
            "sampling error of the images it is measured on, whichever is larger"
        )
    else:
        spread = "the sampling error of the images it is measured on (the spread over seeds was not measured)"
    note = (
        " The quick profile's small models vary a lot from seed to seed, so its tolerances are wide."
        if (profile == "quick")
        else ""
    )
    return f"{where}\nA figure is as expected when it lies within its tolerance: {spread}.{note}\n"


def _tolerance_text(figure: Figure, tol: float) -> str:
    """A tolerance in the figure's units: percentage points for a percentage."""
    if figure.fmt.endswith("%"):
        precision = re.search(r"\.(\d+)", figure.fmt)
        return f"{100 * tol:.{int(precision.group(1)) if precision else 0}f} pt"
    return format(tol, figure.fmt)
