"""Attack results kept on disk, so that the same evaluation is computed once.

An evaluation is the same when the model computes the same function (its Keras architecture and
its weights), the images and labels are the same, every attack setting is the same, and the code
that attacks is the same (the source of the whole ``course_utils`` package, TensorFlow's and
Keras' versions). :func:`key` turns all of that into a file name; :func:`load` and :func:`save`
read and write the per-image results there. :func:`course_utils.robustness.report_card` uses it
with ``cache=True``: notebook 09 then reuses the AutoAttack evaluation notebook 08 ran on the same
robust models, and "Restart Kernel and Run All" does not attack again.

A model is identified only if Keras can describe it: a ``keras.Model`` without ``Lambda`` layers
(whose Python function a config cannot pin down). Anything else is refused with an error that
says to evaluate without the cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from pathlib import Path

import numpy as np

from course_utils.evaluation import AttackResult

FORMAT_VERSION = 1
_PACKAGE = Path(__file__).resolve().parent


class UncacheableModelError(ValueError):
    """The model's function cannot be identified from its config and weights."""


def model_fingerprint(model) -> str:
    """SHA-256 over a Keras model's architecture (its JSON config) and every weight's bytes.

    Raises:
        UncacheableModelError: ``model`` is not a ``keras.Model``, cannot be serialised, or holds a
            ``Lambda`` layer.
    """
    import keras

    advice = "Evaluate it without the cache (cache=False)."
    if not isinstance(model, keras.Model):
        raise UncacheableModelError(
            f"Only a keras.Model can be identified for the evaluation cache, got {type(model).__name__}. "
            + advice
        )
    lambdas = [layer.name for layer in _all_layers(model) if isinstance(layer, keras.layers.Lambda)]
    if lambdas:
        raise UncacheableModelError(
            f"Model {model.name!r} has Lambda layers ({', '.join(lambdas)}), whose Python function its "
            "config does not identify. " + advice
        )
    try:
        architecture = model.to_json()
    except Exception as exc:  # noqa: BLE001 - any failure means: cannot be described
        raise UncacheableModelError(f"Model {model.name!r} cannot be serialised ({exc}). " + advice) from exc
    digest = hashlib.sha256(architecture.encode())
    for weight in model.weights:
        value = np.asarray(weight.numpy())
        digest.update(f"{weight.path}:{value.dtype}:{value.shape}".encode())
        digest.update(np.ascontiguousarray(value).tobytes())
    return digest.hexdigest()


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):  # a nested model
            yield from _all_layers(layer)


def array_fingerprint(array) -> str:
    """SHA-256 over an array's dtype, shape and bytes."""
    array = np.ascontiguousarray(array)
    digest = hashlib.sha256(f"{array.dtype}:{array.shape}".encode())
    digest.update(array.tobytes())
    return digest.hexdigest()


def code_fingerprint() -> str:
    """SHA-256 over the source of every module of ``course_utils`` and the TF and Keras versions:
    any change to the code that builds or attacks models starts a new cache entry."""
    import keras
    import tensorflow as tf

    digest = hashlib.sha256(f"tf {tf.__version__} keras {keras.__version__}".encode())
    for path in sorted(_PACKAGE.rglob("*.py")):
        digest.update(str(path.relative_to(_PACKAGE)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def key(model, x, y, settings: dict) -> str:
    """24 hex digits naming one evaluation: the model, the data, ``settings`` (JSON-serialisable:
    every argument that changes the result) and the code."""
    text = json.dumps(
        {
            "format": FORMAT_VERSION,
            "model": model_fingerprint(model),
            "x": array_fingerprint(np.asarray(x, dtype=np.float32)),
            "y": array_fingerprint(np.asarray(y)),
            "settings": settings,
            "code": code_fingerprint(),
        },
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def part_key(base: str, settings: dict) -> str:
    """24 hex digits naming one part of the evaluation :func:`key` named ``base`` (its model, data
    and code fingerprinted once), told apart by that part's own ``settings``."""
    text = json.dumps({"base": base, "settings": settings}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def load(folder: str | os.PathLike, name: str) -> tuple[list[AttackResult], dict] | None:
    """The results saved under ``name`` and their extra values, or ``None`` when there are none
    (or the file cannot be read: it is then ignored and will be overwritten)."""
    path = Path(folder) / f"{name}.npz"
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as stored:
            meta = json.loads(str(stored["meta"]))
            rows = []
            for i, r in enumerate(meta["rows"]):
                fields = (r["name"], r["eps"], r["accuracy"], stored[f"correct_{i}"], r["seconds"])
                rows.append(AttackResult(*fields, kind=r["kind"]))
    except (OSError, ValueError, KeyError, json.JSONDecodeError):
        return None
    return rows, meta.get("extra", {})


def save(folder: str | os.PathLike, name: str, rows: list[AttackResult], extra: dict | None = None) -> Path:
    """Write ``rows`` (their per-image results, not their adversarial images) and ``extra`` (JSON
    values) under ``name``, atomically: a reader sees the old file or the new one."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    meta = {
        "rows": [
            {"name": r.name, "eps": r.eps, "accuracy": r.accuracy, "seconds": r.seconds, "kind": r.kind}
            for r in rows
        ],
        "extra": extra or {},
    }
    arrays = {f"correct_{i}": np.asarray(r.correct, dtype=bool) for i, r in enumerate(rows)}
    path = folder / f"{name}.npz"
    tmp = folder / f".{name}.{uuid.uuid4().hex}.tmp.npz"
    try:
        np.savez_compressed(tmp, meta=np.array(json.dumps(meta)), **arrays)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
