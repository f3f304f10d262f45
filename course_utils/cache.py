"""A cache of trained models, so later notebooks reuse what earlier ones trained.

A cached model is two files in :func:`course_utils.config.cache_dir`:

* ``<name>-<key>.keras``: the model in Keras's native format, loaded with ``safe_mode=True``
  (no arbitrary code is deserialised);
* ``<name>-<key>.json``: a record of the settings, the training history, the training time, the
  Keras version and the SHA-256 of the ``.keras`` file. It is written last, so a model without
  its record was never finished;
* optionally ``<name>-<key>.npz``: arrays recorded while training (a GAN's samples after every
  epoch, say), checksummed in the record like the model.

``key`` is a hash of the model's name and the settings that define it (architecture, epochs,
data size, ...): change a setting and a new model is trained, never a wrong one loaded.
Files are written to a temporary name and renamed, so an interrupted run leaves no half file
under the real name. A damaged or stale entry (bad checksum, unreadable file, missing record,
other Keras major version) is reported, moved to ``quarantine/`` beside the cache (nothing is
deleted) and retrained.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import os
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np

from course_utils import config
from course_utils.data import sha256

FORMAT_VERSION = 1


@dataclasses.dataclass
class CacheRecord:
    """What the cache knows about one trained model.

    Attributes:
        name: model name, e.g. ``"cnn"``.
        key: 12 hex digits identifying ``name`` + ``settings``.
        settings: the settings that define the model (JSON-serialisable).
        history: per-epoch training metrics (``History.history``), for learning curves.
        train_seconds: wall-clock training time of the run that produced the file.
        created: ISO timestamp of that run.
        path: the ``.keras`` file.
        from_cache: ``True`` when this call loaded the model instead of training it.
        arrays: NumPy arrays saved with the model (``{}`` when none).
    """

    name: str
    key: str
    settings: dict
    history: dict
    train_seconds: float
    created: str
    path: Path
    from_cache: bool = False
    arrays: dict = dataclasses.field(default_factory=dict)


class CacheEntryError(Exception):
    """A cache entry exists but cannot be trusted (damaged, incomplete or stale)."""


def model_key(name: str, settings: dict) -> str:
    """12 hex digits of SHA-256 over ``name`` and the canonical JSON of ``settings``."""
    try:
        text = json.dumps({"name": name, "settings": settings, "format": FORMAT_VERSION}, sort_keys=True)
    except TypeError as exc:
        raise ValueError(
            f"Cache settings must be JSON-serialisable (numbers, strings, lists, dicts): {exc}"
        ) from exc
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _paths(name: str, settings: dict, cache_dir: Path) -> tuple[str, Path, Path]:
    if not name or not all(ch.isalnum() or ch in "-_" for ch in name):
        raise ValueError(f"Model name must be letters, digits, '-' or '_', got {name!r}.")
    key = model_key(name, settings)
    stem = cache_dir / f"{name}-{key}"
    return key, stem.with_suffix(".keras"), stem.with_suffix(".json")


def _read_entry(name: str, settings: dict, model_path: Path, record_path: Path):
    """Load and verify one entry; raises CacheEntryError saying what is wrong."""
    if not record_path.is_file():
        raise CacheEntryError("its record file is missing (an interrupted save?)")
    try:
        meta = json.loads(record_path.read_text())
    except (OSError, ValueError) as exc:
        raise CacheEntryError(f"its record file is unreadable ({exc})") from exc
    if meta.get("format") != FORMAT_VERSION or meta.get("settings") != settings:
        raise CacheEntryError("it was written by another version of the course (stale)")
    saved_major = str(meta.get("keras_version", "")).split(".")[0]
    if saved_major != keras.__version__.split(".")[0]:
        raise CacheEntryError(
            f"it was saved by Keras {meta.get('keras_version')} and this is Keras {keras.__version__} (stale)"
        )
    if sha256(model_path) != meta.get("sha256"):
        raise CacheEntryError("its checksum does not match (the file is damaged or was changed)")
    arrays = {}
    if meta.get("arrays_sha256"):
        arrays_path = model_path.with_suffix(".npz")
        if not arrays_path.is_file() or sha256(arrays_path) != meta["arrays_sha256"]:
            raise CacheEntryError(f"its arrays file {arrays_path.name} is missing or damaged")
        with np.load(arrays_path, allow_pickle=False) as saved:
            arrays = {k: saved[k] for k in saved.files}
    try:
        model = keras.saving.load_model(model_path, compile=False, safe_mode=True)
    except Exception as exc:  # noqa: BLE001 - any failure to deserialise means "retrain"
        raise CacheEntryError(f"Keras cannot load it ({type(exc).__name__}: {exc})") from exc
    record = CacheRecord(
        name=name,
        key=meta["key"],
        settings=settings,
        history=meta["history"],
        train_seconds=meta["train_seconds"],
        created=meta["created"],
        path=model_path,
        from_cache=True,
        arrays=arrays,
    )
    return model, record


def _quarantine(paths: list[Path], cache_dir: Path) -> Path:
    """Move suspicious files aside (never delete a user's file)."""
    target = cache_dir / "quarantine" / _dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    target.mkdir(parents=True, exist_ok=True)
    for path in paths:
        if path.exists():
            os.replace(path, target / path.name)
    return target


def _history_dict(result) -> dict:
    history = getattr(result, "history", result)
    if history is None:
        return {}
    if not isinstance(history, dict):
        raise TypeError("train_fn must return a keras History, a dict of lists, or None.")
    return {k: [float(v) for v in vals] for k, vals in history.items()}


def save(
    model: keras.Model,
    name: str,
    settings: dict,
    *,
    history=None,
    train_seconds: float = 0.0,
    arrays: dict | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> CacheRecord:
    """Write ``model``, its record (and ``arrays``, a dict of NumPy arrays) atomically."""
    cache_dir = Path(cache_dir) if cache_dir is not None else config.cache_dir()
    cache_dir.mkdir(parents=True, exist_ok=True)
    key, model_path, record_path = _paths(name, settings, cache_dir)
    token = f"{os.getpid()}-{time.monotonic_ns()}"
    tmp_model = cache_dir / f".{model_path.stem}.{token}.tmp.keras"
    tmp_record = cache_dir / f".{record_path.stem}.{token}.tmp.json"
    tmp_arrays = cache_dir / f".{model_path.stem}.{token}.tmp.npz"
    arrays = {k: np.asarray(v) for k, v in (arrays or {}).items()}
    created = _dt.datetime.now().isoformat(timespec="seconds")
    history = _history_dict(history)
    try:
        with warnings.catch_warnings():
            # Keras saves each tf.Variable through np.array(variable), and TF 2.21's
            # ResourceVariable.__array__ has no `copy` argument: NumPy 2 warns once per weight.
            warnings.filterwarnings(
                "ignore", "__array__ implementation doesn't accept a copy keyword", DeprecationWarning
            )
            model.save(tmp_model)
        if arrays:
            np.savez_compressed(tmp_arrays, **arrays)
        meta = {
            "format": FORMAT_VERSION,
            "name": name,
            "key": key,
            "settings": settings,
            "history": history,
            "train_seconds": float(train_seconds),
            "created": created,
            "keras_version": keras.__version__,
            "sha256": sha256(tmp_model),
            "arrays_sha256": sha256(tmp_arrays) if arrays else None,
        }
        tmp_record.write_text(json.dumps(meta, indent=1, sort_keys=True))
        os.replace(tmp_model, model_path)
        if arrays:
            os.replace(tmp_arrays, model_path.with_suffix(".npz"))
        os.replace(tmp_record, record_path)  # the record last: it marks the entry complete
    finally:
        for tmp in (tmp_model, tmp_record, tmp_arrays):
            tmp.unlink(missing_ok=True)
    return CacheRecord(
        name=name,
        key=key,
        settings=settings,
        history=history,
        train_seconds=float(train_seconds),
        created=created,
        path=model_path,
        arrays=arrays,
    )


def load(name: str, settings: dict, *, cache_dir: str | os.PathLike | None = None):
    """The cached ``(model, record)`` for ``name`` + ``settings``, or ``None`` if absent.

    Raises:
        CacheEntryError: an entry exists but is damaged or stale (the message says why).
    """
    cache_dir = Path(cache_dir) if cache_dir is not None else config.cache_dir()
    _, model_path, record_path = _paths(name, settings, cache_dir)
    if not model_path.exists():
        return None
    return _read_entry(name, settings, model_path, record_path)


def load_or_train(
    name: str,
    settings: dict,
    build_fn: Callable[[], keras.Model],
    train_fn: Callable[[keras.Model], object],
    *,
    cache_dir: str | os.PathLike | None = None,
    retrain: bool = False,
    verbose: bool = True,
):
    """Return a trained model from the cache, training (and caching) it only when needed.

    Args:
        name: model name (letters, digits, ``-``, ``_``).
        settings: JSON-serialisable dict of everything that defines the trained model.
        build_fn: ``() -> keras.Model``, builds the untrained model.
        train_fn: ``(model) -> History | dict | None``, trains it in place; it may also return
            ``(history, arrays)`` with a dict of NumPy arrays to keep beside the model.
        cache_dir: cache folder (default :func:`course_utils.config.cache_dir`).
        retrain: ignore (and replace) any cached copy.
        verbose: print one line saying what happened.

    Returns:
        ``(model, record)``; ``record.from_cache`` tells whether training was skipped.
        A loaded model is not compiled: compile it if you want ``fit``/``evaluate``.
    """
    cache_dir = Path(cache_dir) if cache_dir is not None else config.cache_dir()
    _, model_path, record_path = _paths(name, settings, cache_dir)
    if _locating:
        raise _Located(model_path)
    if not retrain:
        try:
            found = load(name, settings, cache_dir=cache_dir)
        except CacheEntryError as exc:
            moved = _quarantine([model_path, record_path, model_path.with_suffix(".npz")], cache_dir)
            warnings.warn(
                f"Cached model {model_path.name} cannot be used: {exc}. Moved it to "
                f"{moved} and training a fresh one.",
                stacklevel=2,
            )
            found = None
        if found is not None:
            model, record = found
            if verbose:
                print(
                    f"Loaded cached model {model_path.name} (trained {record.created}, "
                    f"{record.train_seconds:.0f} s). Delete it or pass retrain=True to retrain."
                )
            return model, record
    if verbose:
        print(f"Training {name} (cache file {model_path.name} in {cache_dir}) ...")
    model = build_fn()
    start = time.perf_counter()
    result = train_fn(model)
    seconds = time.perf_counter() - start
    history, arrays = result if isinstance(result, tuple) else (result, None)
    record = save(
        model, name, settings, history=history, train_seconds=seconds, arrays=arrays, cache_dir=cache_dir
    )
    return model, record


class _Located(Exception):  # noqa: N818 - a signal, not an error
    """Stops a builder at its cache lookup (see :func:`locate`)."""

    def __init__(self, path: Path):
        super().__init__(str(path))
        self.path = path


_locating = False


def locate(builder: Callable, *args, **kwargs) -> Path:
    """The cache file that ``builder(*args, **kwargs)`` would load or train into, found without loading
    or training anything: ``builder`` is any function that ends in :func:`load_or_train`, such as the
    :mod:`course_utils.zoo` models. ``locate(zoo.cnn, profile).exists()`` says whether it is cached."""
    global _locating
    _locating = True
    try:
        builder(*args, **kwargs)
    except _Located as found:
        return found.path
    finally:
        _locating = False
    raise ValueError(f"{getattr(builder, '__name__', builder)!r} returned without a cache lookup.")
