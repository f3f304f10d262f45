"""Fashion-MNIST (and MNIST) from local files, without internet, plus subsets and ``tf.data`` pipelines.

:func:`load_fashion_mnist` looks for the four original files
(``train-images-idx3-ubyte.gz`` ...) in this order and uses the first folder that has all four
with the right SHA-256:

1. the ``data_dir`` argument;
2. ``$COURSE_DATA_DIR``;
3. the course's ``data/`` folder;
4. ``/usr/share/datasets/fashion-mnist`` (Debian: ``apt-get install dataset-fashion-mnist``);
5. the Keras cache, ``$KERAS_HOME/datasets/fashion-mnist`` or ``~/.keras/datasets/fashion-mnist``
   (where ``keras.datasets.fashion_mnist.load_data()`` puts them).

Only then, if ``download=True``, does it ask Keras to download them (which needs internet once).
When everything fails it raises :class:`DatasetNotFoundError`, listing every place it looked.

Dataset: Xiao, Rasul & Vollgraf (2017), "Fashion-MNIST: a Novel Image Dataset for Benchmarking
Machine Learning Algorithms", arXiv:1708.07747. MIT licence, (c) Zalando SE.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import warnings
from pathlib import Path

import numpy as np

DATA_ENV_VAR = "COURSE_DATA_DIR"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")

CLASS_NAMES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

#: The four original Fashion-MNIST files and their SHA-256 (identical in Debian's package,
#: the Zalando repository and the Keras mirror).
FASHION_MNIST_FILES: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
    "train-labels-idx1-ubyte.gz": "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
    "t10k-images-idx3-ubyte.gz": "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
    "t10k-labels-idx1-ubyte.gz": "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
}


class DatasetNotFoundError(FileNotFoundError):
    """No folder holds the dataset's files with the right checksums, and download failed or was off."""


def _keras_cache_dirs(subdir: str) -> list[Path]:
    """Folders where ``keras.utils.get_file`` would have cached ``datasets/<subdir>``."""
    homes = []
    if os.environ.get("KERAS_HOME"):
        homes.append(Path(os.environ["KERAS_HOME"]).expanduser())
    homes.append(Path.home() / ".keras")
    homes.append(Path("/tmp/.keras"))  # Keras's fallback when the home folder is read-only
    return [h / "datasets" / subdir for h in homes]


def candidate_dirs(
    data_dir: str | os.PathLike | None = None, *, keras_subdir: str = "fashion-mnist", debian: bool = True
) -> list[tuple[str, Path]]:
    """The folders searched, in order, as ``(label, path)`` pairs (duplicates removed)."""
    from course_utils import config

    found: list[tuple[str, Path]] = []
    if data_dir is not None:
        found.append(("data_dir argument", Path(data_dir).expanduser()))
    if os.environ.get(DATA_ENV_VAR):
        found.append((f"${DATA_ENV_VAR}", Path(os.environ[DATA_ENV_VAR]).expanduser()))
    root = config.repo_root()
    if root is not None:
        found.append(("course data/ folder", root / "data" / keras_subdir))
        found.append(("course data/ folder", root / "data"))
    if debian:
        found.append(("Debian package", DEBIAN_DIR))
    found += [("Keras cache", d) for d in _keras_cache_dirs(keras_subdir)]
    unique, seen = [], set()
    for label, path in found:
        if path not in seen:
            unique.append((label, path))
            seen.add(path)
    return unique


def sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _check_folder(folder: Path, files: dict[str, str]) -> str | None:
    """``None`` if ``folder`` has every file with its checksum, else why not (for the error)."""
    missing = [name for name in files if not (folder / name).is_file()]
    if len(missing) == len(files):
        return "not there" if not folder.is_dir() else "no dataset files"
    if missing:
        return "missing " + ", ".join(missing)
    bad = [name for name, digest in files.items() if sha256(folder / name) != digest]
    if bad:
        message = f"checksum mismatch (damaged or different file): {', '.join(bad)}"
        warnings.warn(f"Skipping {folder}: {message}. Delete or replace those files.", stacklevel=3)
        return message
    return None


def find_dataset_dir(
    files: dict[str, str], data_dir=None, *, keras_subdir: str = "fashion-mnist", debian: bool = True
) -> tuple[Path | None, list[str]]:
    """First folder holding all ``files`` with matching SHA-256, and a log of every folder tried."""
    log = []
    for label, folder in candidate_dirs(data_dir, keras_subdir=keras_subdir, debian=debian):
        problem = _check_folder(folder, files)
        if problem is None:
            return folder, log
        log.append(f"  - {folder}  [{label}]: {problem}")
    return None, log


def _download_with_keras(files: dict[str, str], keras_subdir: str) -> tuple[Path | None, str]:
    """Ask Keras to download ``files`` into its cache; returns (folder, error message)."""
    import keras

    origin = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
    try:
        paths = [
            keras.utils.get_file(
                name, origin=origin + name, file_hash=digest, cache_subdir=f"datasets/{keras_subdir}"
            )
            for name, digest in files.items()
        ]
    except Exception as exc:  # noqa: BLE001 - any network or disk failure ends up in one clear message
        return None, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return Path(paths[0]).parent, ""


def _not_found(dataset: str, log: list[str], download_note: str, fixes: str) -> DatasetNotFoundError:
    return DatasetNotFoundError(
        f"Could not find the {dataset} files. Looked in:\n" + "\n".join(log) + f"\n{download_note}\n{fixes}"
    )


def _read_idx(path: Path, offset: int) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)


def _to_float_images(x_uint8: np.ndarray) -> np.ndarray:
    """uint8 ``(N, 28, 28)`` in 0..255 -> float32 ``(N, 28, 28, 1)`` in [0, 1]."""
    return (x_uint8.astype(np.float32) / 255.0)[..., np.newaxis]


def locate_fashion_mnist(data_dir=None, *, download: bool = True) -> Path:
    """Folder holding verified Fashion-MNIST files (see the module docstring for the search order).

    Raises:
        DatasetNotFoundError: nothing found (the message lists every folder tried and the fixes).
    """
    folder, log = find_dataset_dir(FASHION_MNIST_FILES, data_dir)
    if folder is not None:
        return folder
    note = "Download: not attempted (download=False)."
    if download:
        folder, error = _download_with_keras(FASHION_MNIST_FILES, "fashion-mnist")
        if folder is not None:
            return folder
        note = f"Download through keras.datasets failed (offline?): {error}"
    raise _not_found(
        "Fashion-MNIST",
        log,
        note,
        "Fix it in one of two ways:\n"
        "  1. Debian/Ubuntu: sudo apt-get update && sudo apt-get install dataset-fashion-mnist\n"
        '  2. Once, with internet: python -c "import keras; keras.datasets.fashion_mnist.load_data()"\n'
        f"Or copy the four *-ubyte.gz files into the course's data/ folder or set ${DATA_ENV_VAR}.",
    )


def load_fashion_mnist(data_dir=None, *, download: bool = True):
    """Load Fashion-MNIST: 60,000 training and 10,000 test images of 10 kinds of clothing.

    Args:
        data_dir: a folder to try first (optional).
        download: try ``keras.datasets`` when no local copy exists (needs internet).

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: images float32 ``(N, 28, 28, 1)`` in [0, 1],
        labels int64 ``(N,)`` in 0..9 (names in :data:`CLASS_NAMES`).

    Raises:
        DatasetNotFoundError: no verified copy found and download failed or was disabled.
    """
    folder = locate_fashion_mnist(data_dir, download=download)
    parts = []
    for split in ("train", "t10k"):
        labels = _read_idx(folder / f"{split}-labels-idx1-ubyte.gz", offset=8).astype(np.int64)
        images = _read_idx(folder / f"{split}-images-idx3-ubyte.gz", offset=16)
        parts.append((_to_float_images(images.reshape(len(labels), 28, 28)), labels))
    return parts[0], parts[1]


def take_subset(x: np.ndarray, y: np.ndarray, size: int | None, *, seed: int = 0):
    """A class-balanced random subset of ``size`` examples, the same for the same seed.

    Args:
        x: ``(N, ...)`` array; y: ``(N,)`` integer labels.
        size: examples wanted; ``None`` or ``>= N`` returns the inputs unchanged.
        seed: seed of the sampling (independent of the global seed).

    Returns:
        ``(x_subset, y_subset)`` in a shuffled order, with each class as equally represented as
        ``size`` allows.
    """
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} examples but y has {len(y)} labels; pass matching arrays.")
    if size is None or size >= len(x):
        return x, y
    if size < 1:
        raise ValueError(f"size must be a positive integer or None, got {size}.")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y))
    # Round-robin over classes, each in its own random order, gives a balanced subset.
    rank = np.empty(len(y), dtype=np.int64)
    for c in np.unique(y):
        members = order[y[order] == c]
        rank[members] = np.arange(len(members))
    chosen = order[np.argsort(rank[order], kind="stable")[:size]]
    chosen = rng.permutation(chosen)
    return x[chosen], y[chosen]


def make_dataset(x, y, *, batch_size: int = 128, shuffle: bool = True, seed: int = 0, repeat: bool = False):
    """A ``tf.data`` pipeline: (seeded shuffle) -> batch -> prefetch.

    Args:
        x: float32 images ``(N, H, W, C)``; y: integer labels ``(N,)``.
        batch_size: examples per batch (the last batch may be smaller).
        shuffle: reshuffle every epoch, in an order fixed by ``seed``.
        seed: shuffle seed.
        repeat: repeat forever (then pass ``steps_per_epoch`` to ``fit``).

    Returns:
        ``tf.data.Dataset`` of ``(images, labels)`` batches.
    """
    import tensorflow as tf

    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} examples but y has {len(y)} labels; pass matching arrays.")
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)
