"""Benchmark: how good are the DCGAN's samples, measured and drawn.

    python benchmarks/gan_quality.py --profile standard --out benchmarks/results/gan_standard

Trains the course's DCGAN (:func:`course_utils.zoo.dcgan`: the profile's training images, filters
and epochs; ``--conditional`` for the class-conditional variant) from scratch, and stores it in the
course's model cache too, so that notebooks 03–05 load it instead of training it. Writes:

* ``DIR/generator.keras``: the generator; input ``(N, latent_dim)`` noise (N(0, I)), plus integer
  labels ``(N,)`` if conditional; output ``(N, 28, 28, 1)`` in ``[-1, 1]`` (tanh): convert with
  ``course_utils.gan.to_pixel_range``, or draw with ``course_utils.gan.sample``;
* ``DIR/results.json``: the Fréchet distance after every epoch (in the features of the course's
  CNN, :func:`course_utils.zoo.cnn`, on ``gan_fid_images`` images against as many real test images),
  its floor (two disjoint halves of real test images) and ceiling (uniform noise), the entropy of
  the classifier's predicted classes on generated images, the training time, and the targets;
* ``DIR/samples.png``: 100 samples, and ``DIR/evolution.png``: the same 16 noise vectors after
  every epoch.

``--feature-profile standard`` measures the distances in the `standard` CNN's features instead of
the profile's own (a `full` run on a CPU then skips training the `full` CNN, about an hour).

Targets (issue 5): the distance falls during training; ``full`` ends within 10× the floor with a
class entropy of at least 0.9 · ln 10; ``standard`` draws recognisable garments of every class
(look at ``samples.png``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import time
from pathlib import Path

from course_utils.config import use_onednn  # noqa: E402

use_onednn()  # before TensorFlow is imported

import keras  # noqa: E402
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from course_utils import config, data, evaluation, gan, plotting, sample_quality, zoo  # noqa: E402

TARGETS = {
    "any": "the Fréchet distance falls during training (last epoch below the first)",
    "full": "final Fréchet distance <= 10 x the floor, class entropy >= 0.9 ln 10 = 2.072 nats",
    "standard": "recognisable garments of every class (look at samples.png)",
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default=None, help="quick, standard or full (default: $COURSE_PROFILE)")
    parser.add_argument(
        "--out", required=True, type=Path, help="folder for the generator, results and figures"
    )
    parser.add_argument("--conditional", action="store_true", help="the class-conditional DCGAN")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--feature-profile",
        default=None,
        help="profile of the CNN whose features measure the distance (default: --profile); "
        "e.g. standard for a full run on a CPU, to skip training the full CNN",
    )
    args = parser.parse_args(argv)

    profile = config.get_profile(args.profile)
    feature_profile = config.get_profile(args.feature_profile or profile.name)
    args.out.mkdir(parents=True, exist_ok=True)
    device = config.device_summary()
    print(f"{profile.name}: DCGAN {profile.gan_filters}, {profile.gan_epochs} epochs | {device}")
    classifier, classifier_record = zoo.cnn(feature_profile, seed=args.seed, verbose=2)
    (_, _), (x_test, y_test) = data.load_fashion_mnist()
    x_test, y_test = data.take_subset(x_test, y_test, profile.test_size, seed=args.seed)
    accuracy = evaluation.accuracy(classifier, x_test, y_test)
    print(f"feature classifier: {classifier_record.path.name}, {accuracy:.2%} test accuracy")

    start = time.perf_counter()
    generator, record = zoo.dcgan(
        profile,
        conditional=args.conditional,
        feature_profile=feature_profile,
        seed=args.seed,
        retrain=True,
        verbose=2,
    )
    seconds = time.perf_counter() - start
    generator.save(args.out / "generator.keras")
    shutil.copy(record.path.with_suffix(".npz"), args.out / "evolution.npz")

    space = sample_quality.FeatureSpace(classifier, x_test, n=profile.gan_fid_images, seed=args.seed)
    labels = np.arange(space.n) % 10 if args.conditional else None
    images = gan.sample(generator, space.n, labels=labels, seed=args.seed)
    report = space.report(images)
    predicted = space.predicted_classes(images)
    fids = record.history["fid"]
    checks = {"fid_falls": fids[-1] < fids[0]}
    if profile.name == "full":
        checks["full_within_10x_floor"] = report.fid <= 10 * report.floor
        checks["full_class_entropy"] = report.class_entropy >= 0.9 * math.log(10)

    results = {
        "profile": profile.name,
        "conditional": args.conditional,
        "latent_dim": gan.latent_dim_of(generator),
        "generator_input": "noise (N, latent_dim) ~ N(0, I)"
        + (" and integer labels (N,)" if args.conditional else ""),
        "output_pixel_range": [-1.0, 1.0],
        "output_note": "tanh output; convert with course_utils.gan.to_pixel_range, or draw with gan.sample",
        "filters": list(profile.gan_filters),
        "epochs": profile.gan_epochs,
        "train_images": profile.train_size or 60_000,
        "fid_images": space.n,
        "feature_model": f"{classifier_record.path.name} (course CNN of the {feature_profile.name} profile, "
        "penultimate 'features' layer)",
        "fid_per_epoch": fids,
        "floor": report.floor,
        "ceiling": report.ceiling,
        "final": {
            "fid": report.fid,
            "fid_over_floor": report.fid / report.floor,
            "class_entropy": report.class_entropy,
            "real_class_entropy": report.real_class_entropy,
            "max_entropy": math.log(10),
            "predicted_class_counts": np.bincount(predicted, minlength=10).tolist(),
        },
        "history": record.history,
        "train_seconds": seconds,
        "seconds_per_epoch": float(np.median(record.history["epoch_seconds"])),
        "targets": TARGETS,
        "checks": checks,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, {config.device_summary()}",
        "versions": {
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "python": platform.python_version(),
        },
        "command": f"python benchmarks/gan_quality.py --profile {profile.name} --out {args.out}"
        + (" --conditional" if args.conditional else "")
        + (f" --feature-profile {args.feature_profile}" if args.feature_profile else ""),
    }
    (args.out / "results.json").write_text(json.dumps(results, indent=1))

    grid_labels = np.repeat(np.arange(10), 10) if args.conditional else None
    grid = gan.sample(generator, 100, labels=grid_labels, seed=args.seed + 1)
    names = [data.CLASS_NAMES[c] for c in space.predicted_classes(grid)]
    fig = plotting.image_grid(grid, ncols=10, titles=names, size=1.0,
                              suptitle=f"DCGAN, {profile.name} profile, {profile.gan_epochs} epochs "
                              "(titles: what the course's CNN sees)")  # fmt: skip
    fig.savefig(args.out / "samples.png", dpi=90)
    plt.close(fig)
    fig = plotting.plot_gan_evolution(record.arrays["samples"], fids)
    fig.savefig(args.out / "evolution.png", dpi=90)
    plt.close(fig)

    print("\nFréchet distance per epoch: " + ", ".join(f"{v:.2f}" for v in fids))
    print(report)
    print(
        "predicted classes of the samples:",
        dict(zip(data.CLASS_NAMES, np.bincount(predicted, minlength=10).tolist(), strict=True)),
    )
    print(f"training: {seconds:.0f} s ({results['seconds_per_epoch']:.1f} s per epoch)")
    for name, ok in checks.items():
        print(f"target {name}: {'met' if ok else 'NOT met'}")
    print(f"wrote {args.out / 'results.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
