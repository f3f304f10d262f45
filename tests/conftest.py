"""Shared test set-up: a non-interactive plotting backend and fast CPU kernels, before any import
of matplotlib or TensorFlow; a model cache of the suite's own; fixtures for tiny fake datasets.

The suite never writes into the user's model cache: every test runs with ``$COURSE_CACHE_DIR``
pointing into a temporary folder (a test may still point it elsewhere), and the session fails if
the user's cache changed all the same (``pytest_sessionfinish``).
"""

import os
import shutil
import tempfile
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")
from course_utils.config import use_onednn  # noqa: E402

use_onednn()  # before TensorFlow is imported
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

from course_utils import config as course_config  # noqa: E402

USER_CACHE = course_config.cache_dir()  # where the user's models are (their $COURSE_CACHE_DIR or the repo's)
SUITE_CACHE = Path(tempfile.mkdtemp(prefix="course-test-cache-"))


def _listing(folder):
    """Every file under ``folder`` with its size and modification time (empty if it does not exist)."""
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


USER_CACHE_BEFORE = _listing(USER_CACHE)
os.environ[course_config.CACHE_ENV_VAR] = str(SUITE_CACHE)


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(SUITE_CACHE, ignore_errors=True)
    after = _listing(USER_CACHE)
    if after != USER_CACHE_BEFORE:
        changed = sorted(set(after) ^ set(USER_CACHE_BEFORE)) or sorted(
            k for k in after if after[k] != USER_CACHE_BEFORE.get(k)
        )
        print(f"\nThe test suite changed the user's model cache {USER_CACHE}: {changed[:5]}")
        session.exitstatus = 1


@pytest.fixture
def isolated_data_env(tmp_path, monkeypatch):
    """No real dataset location is visible: HOME, KERAS_HOME, the repo's data/ and the Debian
    folder all point into ``tmp_path``; downloads fail as they do offline."""
    from course_utils import config, data

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.delenv(data.DATA_ENV_VAR, raising=False)
    repo = tmp_path / "repo"
    (repo / "data").mkdir(parents=True)
    monkeypatch.setattr(config, "repo_root", lambda: repo)
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "debian")
    monkeypatch.setattr(data, "_keras_cache_dirs", lambda sub: [tmp_path / "keras_home" / "datasets" / sub])
    monkeypatch.setattr(
        data, "_download_with_keras", lambda files, sub: (None, "URLError: no network in this test")
    )
    return tmp_path
