"""The pip route (pyproject.toml) and the conda route (environment.yml) describe one environment."""

import re
import sys
import tomllib
from pathlib import Path

import pytest

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
        if in_pip and line.strip().startswith("- ") and not line.strip().startswith(("- -e", "- -c")):
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


# constraints.txt: the exact versions that `make venv` installs and CI tests (tools/lock.py writes it).
CONSTRAINTS = ROOT / "constraints.txt"
# Not pinned (as `pip freeze` leaves them out): the installer and the build tools, whose versions come with
# the interpreter that made the environment, and this checkout itself.
NOT_PINNED = {"pip", "setuptools", "wheel", "course-utils"}
# Installed by hand on first use, outside the lock: benchmarks/attack_speed.py's second opinion, with
# --no-deps and an exact version of its own, so it brings nothing else.
OUTSIDE_THE_LOCK = {"cleverhans"}


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins() -> dict[str, str]:
    """{canonical name: version} of constraints.txt's lines that apply here (their markers evaluated)."""
    from packaging.requirements import Requirement

    pins = {}
    for line in CONSTRAINTS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        requirement = Requirement(line)
        (spec,) = requirement.specifier  # one exact pin a line
        assert spec.operator == "==" and "*" not in spec.version, f"constraints.txt: {line!r} is not a pin"
        if requirement.marker is None or requirement.marker.evaluate():
            assert _canonical(requirement.name) not in pins, f"constraints.txt pins {requirement.name} twice"
            pins[_canonical(requirement.name)] = spec.version
    return pins


def test_installed_versions_are_the_pinned_ones():
    """The environment running the tests is the one in constraints.txt: every installed distribution at
    its pinned version. On Linux x86-64 with Python 3.11 (CI's, where the lock was resolved) nothing may
    be installed that the lock does not pin; elsewhere a platform may need a package more (appnope on
    macOS, say)."""
    import platform
    from importlib import metadata

    pins = _pins()
    here = (platform.system(), platform.machine(), sys.version_info[:2])
    lock_platform = here == ("Linux", "x86_64", (3, 11))
    wrong, unpinned = [], []
    for dist in metadata.distributions():
        name = _canonical(dist.metadata["Name"])
        if name in NOT_PINNED or name in OUTSIDE_THE_LOCK:
            continue
        if name not in pins:
            if lock_platform:
                unpinned.append(f"{name}=={dist.version}")
        elif dist.version != pins[name]:
            wrong.append(f"{name} {dist.version} installed, constraints.txt pins {pins[name]}")
    assert not wrong and not unpinned, (
        "The environment is not the one CI tests (constraints.txt). Re-install it: rm -rf .venv && make venv "
        "(or pip install -c constraints.txt -e '.[dev,cpu]' and uninstall what constraints.txt does not pin)."
        f"\nOther versions: {sorted(set(wrong))}\nNot in constraints.txt: {sorted(set(unpinned))}"
    )


def test_every_dependency_in_pyproject_is_pinned_within_its_range():
    """Each package that pyproject.toml names (base, every extra) has a pin in constraints.txt, and the pin
    is allowed by pyproject's range: a bumped range without a new lock fails here."""
    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = _pins()
    requirements = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        requirements += [r for r in extra if not r.startswith("course-utils")]
    missing, outside = [], []
    for line in requirements:
        requirement = Requirement(line)
        name = _canonical(requirement.name)
        if name not in pins:
            missing.append(name)
        elif not requirement.specifier.contains(pins[name], prereleases=True):
            outside.append(f"{name}=={pins[name]} (pyproject.toml: {requirement.specifier})")
    assert not missing and not outside, (
        f"constraints.txt is older than pyproject.toml: run make lock. No pin: {missing}; outside the range: "
        f"{outside}"
    )


def test_make_venv_and_the_conda_route_install_the_pinned_versions():
    """make venv installs with -c constraints.txt and again when the file changes; environment.yml's pip
    section takes it too."""
    import shutil
    import subprocess

    assert re.search(r"^ +- -c constraints\.txt +#", (ROOT / "environment.yml").read_text(), re.M)
    if shutil.which("make") is None:
        pytest.skip("needs make")
    # -n: print the commands only; -W: as if constraints.txt had just changed.
    commands = subprocess.run(
        ["make", "--no-print-directory", "-n", "-W", "constraints.txt", "venv"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    installs = [line for line in commands.splitlines() if "pip install" in line and " -e " in line]
    assert installs and all("-c constraints.txt" in line for line in installs), commands
