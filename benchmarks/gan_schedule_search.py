"""Benchmark: which DCGAN schedule reaches the course's quality in the fewest seconds.

    python benchmarks/gan_schedule_search.py --out benchmarks/results/gan_schedule_search [--only NAME ...]

Trains the `standard` unconditional DCGAN (the course's architecture, 60,000 training images) under
each candidate schedule in :data:`CANDIDATES` and records the Fréchet distance after every epoch, in
the `standard` CNN's features on 5,000 generated against 5,000 real test images (as
``benchmarks/gan_quality.py`` and ``zoo.dcgan`` measure it), the class entropy of the last epoch's
samples, and the seconds per epoch. The reference is today's schedule (``adam_2e-4``: Adam 2e-4,
β1 = 0.5, batches of 128, 10 epochs: a Fréchet distance of 44.4 and a class entropy of 2.28 nats in
``benchmarks/results/gan_standard``). Results go to ``DIR/<name>.json``, one file per candidate:
``--resume`` skips those already there. Seconds depend on the machine and its load; compare
candidates by epochs and by their seconds per epoch measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from course_utils.config import use_onednn  # noqa: E402

use_onednn()  # before TensorFlow is imported

import keras  # noqa: E402
import numpy as np  # noqa: E402

from course_utils import config, data, gan, sample_quality, zoo  # noqa: E402

#: name -> (discriminator learning rate, generator learning rate, Adam beta_1, batch size, epochs)
CANDIDATES = {
    "adam_2e-4": (2e-4, 2e-4, 0.5, 128, 10),
    "adam_5e-4_6ep": (5e-4, 5e-4, 0.5, 128, 6),
    "ttur_4e-4_1e-4_6ep": (4e-4, 1e-4, 0.5, 128, 6),
    "adam_1e-3_b256_6ep": (1e-3, 1e-3, 0.5, 256, 6),
}


def run(name, seed, out: Path):
    lr_d, lr_g, beta_1, batch, epochs = CANDIDATES[name]
    profile = config.get_profile("standard")
    classifier, _ = zoo.cnn(profile, seed=seed, verbose=0)
    (x_train, _), (x_test, _) = data.load_fashion_mnist()
    space = sample_quality.FeatureSpace(classifier, x_test, n=profile.gan_fid_images, seed=seed)
    model = gan.GAN(
        gan.build_generator(filters=profile.gan_filters, seed=seed),
        gan.build_discriminator(filters=profile.gan_filters[::-1], seed=seed + 1),
        seed=seed,
    )
    model.compile(
        d_optimizer=keras.optimizers.Adam(lr_d, beta_1=beta_1),
        g_optimizer=keras.optimizers.Adam(lr_g, beta_1=beta_1),
    )
    start = time.perf_counter()
    history, _ = gan.train(model, x_train, epochs=epochs, batch_size=batch, space=space, seed=seed, verbose=0)
    seconds = time.perf_counter() - start
    samples = gan.sample(model.generator, profile.gan_fid_images, seed=seed + 5)
    classes = space.predicted_classes(samples)
    counts, entropy = np.bincount(classes, minlength=10), sample_quality.class_entropy(classes)
    result = {
        "name": name, "lr_d": lr_d, "lr_g": lr_g, "beta_1": beta_1, "batch_size": batch, "epochs": epochs,
        "seed": seed, "fid_per_epoch": [float(v) for v in history["fid"]],
        "epoch_seconds": [float(v) for v in history["epoch_seconds"]], "train_seconds": seconds,
        "class_entropy": entropy, "class_counts": counts.tolist(),
    }  # fmt: skip
    (out / f"{name}.json").write_text(json.dumps(result, indent=1))
    print(
        f"{name}: FID per epoch {[round(v, 1) for v in result['fid_per_epoch']]}, entropy {entropy:.3f}, "
        f"{np.median(result['epoch_seconds']):.0f} s/epoch",
        flush=True,
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--only", nargs="*", choices=list(CANDIDATES), help="candidates (default: all)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--resume", action="store_true", help="skip candidates with a result file")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.only or CANDIDATES:
        if args.resume and (args.out / f"{name}.json").exists():
            print(f"{name}: done already", flush=True)
            continue
        run(name, args.seed, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
