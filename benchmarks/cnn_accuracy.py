"""Benchmark: clean test accuracy and training time of the course's CNN, per profile.

    python benchmarks/cnn_accuracy.py --profile standard [--out benchmarks/results]

Trains the CNN of ``course_utils.zoo.cnn`` from scratch (the cache is not used) on the profile's
training set and measures accuracy on the **full** 10,000-image test set. Prints a table and, with
``--out``, writes ``cnn_<profile>.json``. Targets (issue 2): standard >= 91 %, full >= 93.5 %.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

from course_utils.config import use_onednn  # noqa: E402

use_onednn()  # before TensorFlow is imported

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from course_utils import config, data, evaluation, zoo  # noqa: E402

TARGETS = {"quick": None, "standard": 0.91, "full": 0.935}


def run(profile_name: str, seed: int) -> dict:
    profile = config.get_profile(profile_name)
    (_, _), (x_test, y_test) = data.load_fashion_mnist()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:  # train from scratch, never from the cache
        model, record = zoo.cnn(profile, seed=seed, cache_dir=tmp, verbose=2)
    seconds = time.perf_counter() - start
    acc = evaluation.accuracy(model, x_test, y_test)
    return {
        "profile": profile.name,
        "seed": seed,
        "test_images": len(x_test),
        "train_images": profile.train_size or 60_000,
        "epochs": profile.cnn_epochs,
        "clean_test_accuracy": acc,
        "train_seconds": seconds,
        "seconds_per_epoch": seconds / profile.cnn_epochs,
        "params": model.count_params(),
        "target": TARGETS[profile.name],
        "meets_target": None if TARGETS[profile.name] is None else acc >= TARGETS[profile.name],
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, "
        f"{len(tf.config.list_physical_devices('GPU'))} GPU",
        "versions": {
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "python": platform.python_version(),
        },
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--profile",
        action="append",
        choices=list(config.PROFILES),
        help="profile(s) to run (repeatable; default: standard)",
    )
    parser.add_argument("--seed", type=int, default=config.DEFAULT_SEED)
    parser.add_argument("--out", type=Path, help="folder for cnn_<profile>.json")
    args = parser.parse_args(argv)
    rows = []
    for name in args.profile or ["standard"]:
        result = run(name, args.seed)
        rows.append(result)
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / f"cnn_{name}.json").write_text(json.dumps(result, indent=1))
    print(f"\n{'profile':<9} {'epochs':>6} {'train s':>8} {'s/epoch':>8} {'test acc':>9} {'target':>7}")
    for r in rows:
        target = "-" if r["target"] is None else f"{r['target']:.1%}"
        print(
            f"{r['profile']:<9} {r['epochs']:>6} {r['train_seconds']:>8.0f} "
            f"{r['seconds_per_epoch']:>8.1f} {r['clean_test_accuracy']:>9.2%} {target:>7}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
