"""Benchmark: speed and strength of ``course_utils.attacks.pgd`` against cleverhans 4.0.0's tf2 PGD,
and the time the report card saves by running restarts only on surviving images.

    python benchmarks/attack_speed.py [--profile standard] [--out benchmarks/results]

The same trained CNN (``course_utils.zoo.cnn`` of the profile, from the model cache), L∞ PGD with
ε = 0.1, 20 steps of 0.0125 and a random start, on the first N test images for N in
``--sizes`` (2,000 is the headline). cleverhans attacks the N images in one eager batch; ours is
given ``batch_size=N`` so both see the same batches. Ours runs twice: as called by default (each
image stops at its first adversarial iterate, ``early_stop=True``) and with all 20 steps on every
image (``early_stop=False``, the same algorithm as cleverhans). Each timing is the median of
``--repeats`` runs, taken in turn, after one warm-up run each (the warm-up is where our step is
traced and compiled).

cleverhans is installed on first use with ``pip install --no-deps cleverhans==4.0.0`` (its tf2
attacks need only TensorFlow and NumPy). Prints a table; with ``--out`` writes
``attack_speed.json``. Aim (issue 3): ours at least as fast at every size, and not weaker.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from course_utils.config import use_onednn  # noqa: E402

use_onednn()  # before TensorFlow is imported

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from course_utils import attacks, config, data, evaluation, robustness, zoo  # noqa: E402

EPS, STEPS, STEP_SIZE = 0.1, 20, 0.0125


def cleverhans_pgd():
    try:
        from cleverhans.tf2.attacks.projected_gradient_descent import projected_gradient_descent
    except ImportError:
        print("installing cleverhans==4.0.0 (--no-deps) for the comparison ...", flush=True)
        subprocess.check_call(
            [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "cleverhans==4.0.0"]
        )
        from cleverhans.tf2.attacks.projected_gradient_descent import projected_gradient_descent
    return projected_gradient_descent


def timed_group(fns, repeats):
    """Run the functions in turn (a, b, c, a, b, c, ...) so that drifts of the machine's speed hit all
    alike. Returns ``(results, first-call seconds, median seconds)``, one entry per function; the
    first call (where tracing and compilation happen) is timed separately and not in the median.
    """
    results, first, times = [None] * len(fns), [0.0] * len(fns), [[] for _ in fns]
    for i, fn in enumerate(fns):
        start = time.perf_counter()
        results[i] = fn()
        first[i] = time.perf_counter() - start
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            results[i] = fn()
            times[i].append(time.perf_counter() - start)
    return results, first, [statistics.median(t) for t in times]


def speed(model, x_test, y_test, sizes, repeats):
    projected_gradient_descent = cleverhans_pgd()
    rows = []
    for n in sizes:
        x, y = x_test[:n], y_test[:n]

        def ours(x=x, y=y, n=n, early_stop=True):
            return attacks.pgd(
                model,
                x,
                y,
                eps=EPS,
                step_size=STEP_SIZE,
                num_steps=STEPS,
                seed=0,
                batch_size=n,
                early_stop=early_stop,
            )

        def ours_all_steps(x=x, y=y, n=n):
            return ours(x, y, n, early_stop=False)

        def theirs(x=x, y=y):
            adv = projected_gradient_descent(
                model, tf.constant(x), EPS, STEP_SIZE, STEPS, np.inf,
                clip_min=0.0, clip_max=1.0, y=tf.constant(y), rand_init=True,
            )  # fmt: skip
            return np.asarray(adv)

        (adv_ours, adv_all, adv_theirs), first, (t_ours, t_all, t_theirs) = timed_group(
            [ours, ours_all_steps, theirs], repeats
        )
        row = {
            "images": n,
            "ours_seconds": t_ours,
            "ours_all_steps_seconds": t_all,
            "cleverhans_seconds": t_theirs,
            "ours_first_call_seconds": first[0],
            "speedup_ours_vs_cleverhans": t_theirs / t_ours,
            "speedup_ours_all_steps_vs_cleverhans": t_theirs / t_all,
            "ours_robust_accuracy": evaluation.accuracy(model, adv_ours, y),
            "ours_all_steps_robust_accuracy": evaluation.accuracy(model, adv_all, y),
            "cleverhans_robust_accuracy": evaluation.accuracy(model, adv_theirs, y),
            "clean_accuracy": evaluation.accuracy(model, x, y),
        }
        rows.append(row)
        print(
            f"N={n:5d}  ours {t_ours:6.2f} s | ours, all steps {t_all:6.2f} s | cleverhans {t_theirs:6.2f} s"
            f" | speed-up {t_theirs / t_ours:.2f}x / {t_theirs / t_all:.2f}x | robust acc "
            f"{row['ours_robust_accuracy']:.2%} / {row['ours_all_steps_robust_accuracy']:.2%}"
            f" / {row['cleverhans_robust_accuracy']:.2%}",
            flush=True,
        )
    return rows


def card_times(model, x_test, y_test, n, eps_list, restarts):
    x, y = data.take_subset(x_test, y_test, n, seed=0)
    out = {}
    for on_survivors in (True, False):
        start = time.perf_counter()
        card = robustness.report_card(
            model, x, y, eps_list=eps_list, pgd_steps=STEPS, restarts=restarts,
            restarts_on_survivors=on_survivors, masking_checks=False, progress=False,
            model_name="standard CNN",
        )  # fmt: skip
        key = "survivors" if on_survivors else "all_images"
        out[key] = {
            "card_seconds": time.perf_counter() - start,
            "restart_seconds": card.restart_seconds,
            "worst_case_accuracy": {str(e): card.accuracy(card.worst_case, e) for e in eps_list},
        }
        print(card, flush=True)
    return {"images": n, "eps": eps_list, "restarts": restarts, "pgd_steps": STEPS, **out}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--profile", default="standard", help="whose cached CNN to attack (default: standard)"
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 500, 2000])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--card-images", type=int, default=1000)
    parser.add_argument("--out", type=Path, help="folder for attack_speed.json")
    args = parser.parse_args(argv)

    profile = config.get_profile(args.profile)
    model, _ = zoo.cnn(profile, verbose=2)
    (_, _), (x_test, y_test) = data.load_fashion_mnist()
    print(
        f"PGD-{STEPS}, eps={EPS}, step {STEP_SIZE}, {profile.name} CNN, {config.device_summary()}", flush=True
    )
    result = {
        "profile": profile.name,
        "attack": {"norm": "inf", "eps": EPS, "steps": STEPS, "step_size": STEP_SIZE, "rand_init": True},
        "speed": speed(model, x_test, y_test, args.sizes, args.repeats),
        "report_card": card_times(model, x_test, y_test, args.card_images, [0.02, 0.05, 0.1], restarts=5),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, {config.device_summary()}",
        "versions": {
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "python": platform.python_version(),
        },
    }
    card = result["report_card"]
    print(
        f"report card ({card['images']} images, eps {card['eps']}, {card['restarts']} restarts): "
        f"restarts on survivors {card['survivors']['card_seconds']:.1f} s in total "
        f"({card['survivors']['restart_seconds']:.1f} s of restarts), on all images "
        f"{card['all_images']['card_seconds']:.1f} s "
        f"({card['all_images']['restart_seconds']:.1f} s of restarts)"
    )
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "attack_speed.json").write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.out / 'attack_speed.json'}")


if __name__ == "__main__":
    main()
