"""The pip route (pyproject.toml) and the conda route (environment.yml) describe one environment."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ]", requirement.strip(), maxsplit=1)[0].lower()


def test_pip_and_conda_requirements_match():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pip_reqs = list(project["dependencies"])
    for name, extra in project["optional-dependencies"].items():
        if name in ("gpu", "bench"):  # a platform option (CUDA wheels) and the benchmarks' second
            continue  # opinions, both documented in environment.yml's header
        pip_reqs += [r for r in extra if not r.startswith("course-utils")]
    pip_reqs = {_name(r): r.replace(" ", "") for r in pip_reqs}
    conda = {}
    in_pip = False
    for line in (ROOT / "environment.yml").read_text().splitlines():
        if line.strip() == "- pip:":
            in_pip = True
            continue
        if in_pip and line.strip().startswith("- ") and not line.strip().startswith("- -e"):
            requirement = line.strip()[2:].split("#")[0].strip()
            conda[_name(requirement)] = requirement.replace(" ", "")
            assert "#" in line, f"environment.yml: say which notebook needs {requirement!r}"
    assert conda == pip_reqs


def test_python_version_agrees():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    from packaging.specifiers import SpecifierSet

    supported = SpecifierSet(project["requires-python"])
    conda_python = re.search(r"^\s*-\s*python=(\d+\.\d+)", (ROOT / "environment.yml").read_text(), re.M)
    assert conda_python, "environment.yml must pin python=X.Y"
    assert conda_python.group(1) in supported, (conda_python.group(1), str(supported))
    assert "3.11" in supported  # the version the course is tested with (CI, README)


def test_one_tensorflow_build_at_a_time():
    """TensorFlow's CPU-only and CUDA builds share their files, so only the `cpu` or the `gpu` extra may
    bring one: the base dependencies and the other extras name neither."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    flavours = {"cpu", "gpu"}
    assert flavours <= set(extras)
    for name, requirements in [("dependencies", project["dependencies"])] + [
        (k, v) for k, v in extras.items() if k not in flavours
    ]:
        builds = [r for r in requirements if _name(r).startswith("tensorflow")]
        assert not builds, f"{name} pulls in {builds}: TensorFlow belongs in the cpu or gpu extra only"
    assert all(_name(r).startswith("tensorflow") for r in extras["cpu"] + extras["gpu"])
    # Every platform gets exactly one build from `cpu`: the markers split them, none left out.
    from packaging.requirements import Requirement

    for env in (
        {"sys_platform": "linux", "platform_machine": "x86_64"},
        {"sys_platform": "linux", "platform_machine": "aarch64"},
        {"sys_platform": "darwin", "platform_machine": "arm64"},
        {"sys_platform": "win32", "platform_machine": "AMD64"},
    ):
        chosen = [Requirement(r).name for r in extras["cpu"] if Requirement(r).marker.evaluate(env)]
        assert len(chosen) == 1, (env, chosen)
    linux = {"sys_platform": "linux", "platform_machine": "x86_64"}
    assert [Requirement(r).name for r in extras["cpu"] if Requirement(r).marker.evaluate(linux)] == [
        "tensorflow-cpu"
    ]


def test_supported_python_is_pyprojects_range():
    """config.SUPPORTED_PYTHON (what notebook 00 and doctor check) admits exactly the minor versions that
    pyproject.toml's requires-python admits."""
    from packaging.specifiers import SpecifierSet

    from course_utils import config

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    supported = SpecifierSet(project["requires-python"])
    for minor in range(6, 20):
        assert (f"3.{minor}.0" in supported) == config.python_supported((3, minor)), f"Python 3.{minor}"


def test_no_version_statement_outside_the_range():
    """Every 'Python 3.N' a user reads (README, environment.yml, notebooks, the package's messages) names a
    supported version, and no notebook tests the interpreter's version by hand (config.check_python does)."""
    from course_utils import config

    (_, low), (_, high) = config.SUPPORTED_PYTHON
    files = [ROOT / "README.md", ROOT / "environment.yml", *sorted((ROOT / "docs").glob("*.md"))]
    files += sorted((ROOT / "notebooks").glob("*.ipynb"))
    files += sorted((ROOT / "course_utils").rglob("*.py"))
    bad = []
    for path in files:
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(r"(?:Python|python=)\s?3\.(\d+)", text):
            if not low <= int(match.group(1)) <= high:
                bad.append(f"{path.relative_to(ROOT)}: {match.group(0)!r}")
        if path.suffix == ".ipynb" and re.search(r"python_version_tuple|sys\.version_info", text):
            bad.append(f"{path.relative_to(ROOT)}: checks the version by hand; call config.check_python()")
    assert not bad, bad
