"""Benchmark: natural training vs PGD adversarial training vs the course's fast robust training.

    python benchmarks/adversarial_training.py --profile standard --out benchmarks/results/at_standard

Trains three CNNs of the profile's architecture and schedule from scratch on Fashion-MNIST (the
profile's training images minus 1,000 held out for the catastrophic-overfitting guard), at L∞
ε = 0.1 (``--eps``):

* ``natural``: :func:`course_utils.training.train_classifier`;
* ``pgd_at``: PGD adversarial training (Madry et al., 2018) with the profile's ``at_pgd_steps``
  and adversarial-training schedule (``zoo.robust_cnn``);
* ``fast``: the profile's fast robust model (``zoo.fast_robust_cnn``: in ``standard`` PGD-2 for half
  the epochs), watched by a :class:`~course_utils.adversarial_training.RobustAccuracyGuard` on the
  held-out images (its per-epoch PGD-10 accuracy shows catastrophic overfitting if it happens);
* ``fgsm_rs`` (only when named in ``--models``): FGSM with random start, step 1.25 ε (Wong, Rice &
  Kolter, 2020), with the guard;
* ``trades`` (only when named in ``--models``): TRADES (Zhang et al., 2019), β = 6, with the
  profile's ``at_pgd_steps``.

Saves ``DIR/NAME.keras`` and writes ``DIR/results.json``: for each model the clean, FGSM, PGD-20 and
AutoAttack accuracy (``course_utils.autoattack``, the profile's version or ``--autoattack``) on the
full 10,000-image test set, the per-image worst case of all of them with its 95 % interval, the
training time and seconds per epoch. Prints the table and every target of ``TARGETS`` with its
measured value. ``--with-pgd50x10`` adds PGD-50 with 10 restarts, the course's strongest attack
before AutoAttack: on the earlier standard models it took 1,407 s per model and broke one image of
10,000 that AutoAttack had not (``benchmarks/results/at_standard``), so it is no longer run by default.

Training and evaluation are separate stages: ``--train-only`` trains and saves the models;
``--reevaluate`` evaluates the saved models again (keeping their training records), e.g. after a
stronger attack was added.

The cost of an adversarial epoch in natural epochs is measured separately, by
:func:`course_utils.timing.time_training_steps` (the three methods train on the same batches,
interleaved, median of repeats), because whole epochs timed hours apart on a shared machine are not
comparable. The same measurement times a hand-written ``tf.function`` training step of each method
(:func:`course_utils.timing.reference_step`) on the same batches and prints the framework's
overhead over it. ``--models`` with no names runs only that measurement:

    python benchmarks/adversarial_training.py --profile standard --out DIR --models

How long will a run take here? ``--estimate`` trains nothing: it measures the step costs of the
named models' methods and the cost of one input gradient of the profile's CNN against the standard
CNN's, side by side, and projects the hours of training and of evaluation (the committed standard
run's attack times, scaled), e.g. for the ``full`` profile before committing a machine to it:

    python benchmarks/adversarial_training.py --profile full --out DIR \
        --models natural pgd_at fast trades --estimate

Long runs (the ``full`` profile takes many hours on a CPU) can be interrupted and resumed: with
``--resume`` every epoch is backed up (``DIR/backup/NAME``, Keras ``BackupAndRestore``) and logged
(``DIR/NAME_epochs.csv``); the same command run again continues from the last finished epoch of
the model it was training. Models already in ``results.json`` are skipped. (A resumed run differs
slightly from an uninterrupted one: the shuffling order restarts, and the guard forgets its best
weights.)
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shlex
import statistics
import sys
import time
from pathlib import Path

from course_utils.config import use_onednn  # noqa: E402

use_onednn()  # before TensorFlow is imported
os.environ.setdefault("TQDM_DISABLE", "1")  # a log file, not a terminal

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from course_utils import (  # noqa: E402
    adversarial_training,
    attacks,
    autoattack,
    config,
    data,
    evaluation,
    timing,
    training,
    zoo,
)

TARGETS = {
    "full": "PGD-AT clean >= 88 %, PGD-20 >= 72 %, PGD-50x10 >= 70 %; FGSM-RS within 3 points of PGD-AT's "
    "robust accuracy in at most a third of its training time",
    "standard": "natural >= 92.5 % clean; PGD-AT >= 86 % clean and >= 75 % worst case in <= 2x the natural "
    "CNN's training time; the fast model >= 86 % clean and >= 73 % worst case in <= 1x (issue 13)",
    "any": "an epoch of PGD-k training costs <= 1.1 * (k + 1) natural epochs; Keras fit costs <= 1.10x "
    "(natural) and <= 1.05x (PGD-k) a hand-written tf.function step",
}

# (model, measure, lower bound or upper bound, value): the standard profile's targets, checked at the end.
STANDARD_CHECKS = [
    ("natural", "clean", ">=", 0.925),
    ("pgd_at", "clean", ">=", 0.86),
    ("pgd_at", "worst_case", ">=", 0.75),
    ("pgd_at", "time_ratio", "<=", 2.0),
    ("fast", "clean", ">=", 0.86),
    ("fast", "worst_case", ">=", 0.73),
    ("fast", "time_ratio", "<=", 1.0),
]
METHODS = {"pgd_at": "pgd", "fgsm_rs": "fgsm_rs", "trades": "trades"}


def schedule(name, profile):
    """``train_adversarial``'s method, steps and schedule for model ``name`` under ``profile``."""
    return profile.fast_at_settings() if name == "fast" else profile.at_settings(METHODS[name])


def method_key(name, profile):
    """The name model ``name``'s training step is timed under (``"natural"``, ``"pgd2"``, ...)."""
    return "natural" if name == "natural" else timing.method_key(schedule(name, profile))


def step_seconds(profile, args, x_fit, y_fit, reference=False):
    """Seconds per training batch of natural training and of each named model's method, measured
    side by side with the profile's CNN (:func:`course_utils.timing.time_training_steps`); with
    ``reference``, each next to its hand-written step."""
    methods = {"natural": None}
    for name in args.models:
        if name != "natural":
            settings = schedule(name, profile)
            methods[method_key(name, profile)] = {"method": settings["method"], "steps": settings["steps"]}
    batches = min(args.cost_batches, len(x_fit) // profile.batch_size)  # quick has 5,000 images
    print(
        f"== step cost: {', '.join(methods)}, {batches} batches, {args.cost_repeats} repeats, interleaved"
        + (", each next to a hand-written step" if reference else ""),
        flush=True,
    )
    return timing.time_training_steps(
        lambda: zoo.cnn_architecture(profile, seed=args.seed), x_fit, y_fit, methods=methods, eps=args.eps,
        batches=batches, batch_size=profile.batch_size, repeats=args.cost_repeats, seed=args.seed,
        reference=reference,
    )  # fmt: skip


TRAINING_KEYS = ("train_seconds", "epochs_run", "median_epoch_seconds", "history")


def resumable(name, out):
    """Callbacks that back up every epoch and log it, and the CSV log's path."""
    backup, log = out / "backup" / name, out / f"{name}_epochs.csv"
    if not backup.exists() and log.exists():
        log.unlink()  # a fresh start: no backup to resume from
    return [
        keras.callbacks.BackupAndRestore(str(backup)),
        keras.callbacks.CSVLogger(str(log), append=True),
    ], log


def logged_history(log):
    """The per-epoch history of all sessions of a resumed run, from its CSV log."""
    rows = list(csv.DictReader(log.open()))
    keys = [k for k in rows[0] if k != "epoch" and all(row[k] != "NA" for row in rows)]  # NA: no such metric
    return {key: [float(row[key]) for row in rows] for key in keys}


def train(name, profile, x, y, held_out, eps, seed, out=None):
    config.set_seed(seed)
    model = zoo.cnn_architecture(profile, seed=seed)
    callbacks, log = resumable(name, out) if out is not None else ([], None)
    start = time.perf_counter()
    if name == "natural":
        history = training.train_classifier(
            model, x, y, seed=seed, verbose=2, callbacks=callbacks, **profile.cnn_schedule_settings()
        )
    else:
        settings = schedule(name, profile)
        if settings["method"] in ("fgsm_rs", "n_fgsm") or name == "fast":
            callbacks = [
                adversarial_training.RobustAccuracyGuard(*held_out, eps=eps, steps=10, seed=seed),
                *callbacks,
            ]
        history = adversarial_training.train_adversarial(
            model, x, y, eps=eps, seed=seed, verbose=2, callbacks=callbacks, **settings
        )
    seconds = time.perf_counter() - start
    if log is None:
        return model, history.history, seconds
    logged = logged_history(log)  # every session's epochs; the time excludes the interruptions
    return model, logged, float(sum(logged["epoch_seconds"]))


def evaluate(model, x, y, eps, seed, version, with_pgd50x10=False):
    def pgd(steps, restarts):
        return lambda xb, yb: attacks.pgd(
            model, xb, yb, eps=eps, step_size=2.5 * eps / steps, num_steps=steps, restarts=restarts, seed=seed
        )

    runs = {
        "clean": evaluation.robust_accuracy(model, x, y, progress=False),
        "fgsm": evaluation.robust_accuracy(
            model, x, y, lambda xb, yb: attacks.fgsm(model, xb, yb, eps=eps), eps=eps, progress=False
        ),
        "pgd20": evaluation.robust_accuracy(model, x, y, pgd(20, 1), eps=eps, progress=False),
    }
    if with_pgd50x10:
        runs["pgd50x10"] = evaluation.robust_accuracy(model, x, y, pgd(50, 10), eps=eps, progress=False)
    aa = autoattack.autoattack(model, x, y, eps=eps, version=version, seed=seed, progress=False)
    print(aa, flush=True)
    worst = aa.correct.copy()
    for r in runs.values():
        worst &= r.correct
    out = {k: r.accuracy for k, r in runs.items()}
    out["autoattack"] = aa.accuracy
    out["autoattack_version"] = aa.version.name
    out["autoattack_stages"] = aa.to_dict()["stages"]
    out["worst_case"] = float(worst.mean())
    out["intervals"] = {k: list(r.interval) for k, r in runs.items()}
    out["intervals"]["autoattack"] = list(aa.interval)
    out["intervals"]["worst_case"] = list(evaluation.confidence_interval(int(worst.sum()), len(worst)))
    out["eval_seconds"] = {k: r.seconds for k, r in runs.items()}
    out["eval_seconds"]["autoattack"] = aa.seconds
    return out


#: The committed run whose attack times :func:`estimate` scales, and which of its models stands in
#: for each model of another run (TRADES is attacked like PGD-AT, FGSM-RS like the fast model).
REFERENCE_RUN = Path(__file__).parent / "results" / "at_standard" / "results.json"
REFERENCE_MODEL = {
    "natural": "natural",
    "pgd_at": "pgd_at",
    "trades": "pgd_at",
    "fast": "fast",
    "fgsm_rs": "fast",
}


def estimate(profile, args, x_fit, y_fit, x_test, y_test, command):
    """Project the hours of this run on this machine, training nothing: training from the step costs
    measured here side by side, times the reference run's whole epoch over its steps; evaluation
    from the committed ``standard`` run's attack times (:data:`REFERENCE_RUN`), scaled by the cost
    of one input gradient of this profile's CNN over the standard CNN's (measured here side by
    side), by the AutoAttack budget, and by the test images. The evaluation figure assumes that as
    many images survive each attack as in the reference run (a more robust model keeps more images
    under attack, and costs more)."""
    step = step_seconds(profile, args, x_fit, y_fit)
    standard = config.get_profile("standard")
    print("== one input gradient: this profile's CNN against the standard CNN", flush=True)
    grad = timing.time_input_gradients(
        {"this": lambda: zoo.cnn_architecture(profile, seed=args.seed),
         "standard": lambda: zoo.cnn_architecture(standard, seed=args.seed)},
        x_test, y_test, repeats=args.cost_repeats,
    )  # fmt: skip
    reference = json.loads(REFERENCE_RUN.read_text())
    stored = reference["models"]["pgd_at"]["autoattack_version"]
    ref_version = autoattack.get_version(autoattack.RENAMED.get(stored, stored))  # stored under an old name
    version = autoattack.get_version(args.autoattack or profile.autoattack)

    def budget(v, targets=False):  # gradient passes per image still attacked
        return v.apgd_steps * v.apgd_restarts * (v.targets if targets else 1)

    work = {  # each stage's work relative to the reference run's: iterations (and targets) or queries
        "APGD-CE": budget(version) / budget(ref_version),
        "APGD-T": budget(version, True) / budget(ref_version, True),
        "Square": version.square_queries / ref_version.square_queries,
    }  # fmt: skip
    scale = grad["this"] / grad["standard"] * len(x_test) / reference["test_images"]
    per_epoch = -(-len(x_fit) // profile.batch_size)
    ref_batches = -(-reference["train_images"] // standard.batch_size)
    rows = {}
    for name in args.models:
        key = method_key(name, profile)
        epochs = profile.cnn_epochs if name == "natural" else schedule(name, profile)["epochs"]
        ref_name = REFERENCE_MODEL[name]
        ref = reference["models"][ref_name]
        # A whole epoch costs more than its training steps (the validation pass, the guard): the
        # reference run's median epoch over its steps' measured cost.
        ref_key = method_key(ref_name, standard)
        epoch_factor = ref["median_epoch_seconds"] / (ref_batches * reference["step_seconds"][ref_key])
        attack_seconds = sum(v for k, v in ref["eval_seconds"].items() if k != "autoattack")
        for stage in ref["autoattack_stages"]:
            attack_seconds += stage["seconds"] * work[stage["attack"].split(" ")[0]]
        rows[name] = {
            "method": key,
            "epochs": epochs,
            "step_cost_in_natural_steps": step[key] / step["natural"],
            "epoch_over_steps": epoch_factor,
            "train_hours": epochs * per_epoch * step[key] * epoch_factor / 3600,
            "eval_hours": attack_seconds * scale / 3600,
        }
    print(
        f"\nProjected for `--profile {profile.name}` on this machine ({config.device_summary()}); "
        f"one input gradient of its CNN costs {grad['this'] / grad['standard']:.2f}x the standard CNN's; "
        f"AutoAttack {version.name}:"
    )
    print(
        f"{'model':<10}{'method':>10}{'epochs':>8}{'step cost':>11}{'epoch/steps':>13}{'train h':>9}"
        f"{'eval h':>8}{'total h':>9}"
    )
    for name, r in rows.items():
        print(
            f"{name:<10}{r['method']:>10}{r['epochs']:>8}{r['step_cost_in_natural_steps']:>10.2f}x"
            f"{r['epoch_over_steps']:>12.2f}x{r['train_hours']:>9.2f}{r['eval_hours']:>8.2f}"
            f"{r['train_hours'] + r['eval_hours']:>9.2f}"
        )
    total = sum(r["train_hours"] + r["eval_hours"] for r in rows.values())
    print(f"{'all':<10}{'':>51}{total:>9.2f}")
    print(
        "epoch/steps: a whole epoch over its training steps in the reference run (validation, guard). "
        "Evaluation assumes as many survivors per attack as the reference run "
        f"({REFERENCE_RUN.parent.name}); a more robust model costs more."
    )
    record = {
        "profile": profile.name, "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, "
        f"{config.device_summary()}", "step_seconds": step, "input_gradient_seconds": grad,
        "autoattack": version.name, "reference_run": str(REFERENCE_RUN.relative_to(Path(__file__).parent)),
        "models": rows, "total_hours": total, "date": time.strftime("%Y-%m-%d"),
        "command": command,
    }  # fmt: skip
    path = args.out / "estimate.json"
    path.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {path}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", default="standard")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--eps", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=config.DEFAULT_SEED)
    parser.add_argument(
        "--models",
        nargs="*",
        default=["natural", "pgd_at", "fast"],
        choices=["natural", "pgd_at", "fast", "fgsm_rs", "trades"],
    )
    parser.add_argument(
        "--resume", action="store_true", help="back up every epoch; continue an interrupted run"
    )
    parser.add_argument(
        "--train-only", action="store_true", help="train and save the models, do not evaluate"
    )
    parser.add_argument(
        "--reevaluate",
        action="store_true",
        help="evaluate the saved models again (DIR/NAME.keras), keep training records",
    )
    parser.add_argument("--autoattack", default=None, help="AutoAttack version (default: the profile's)")
    parser.add_argument(
        "--with-pgd50x10", action="store_true", help="also run PGD-50 with 10 restarts (slow; see above)"
    )
    parser.add_argument(
        "--cost-batches",
        type=int,
        default=120,
        help="batches per step-cost measurement (enough that fit's per-call set-up is amortised)",
    )
    parser.add_argument("--cost-repeats", type=int, default=3, help="interleaved repeats of it")
    parser.add_argument(
        "--estimate",
        action="store_true",
        help="train nothing: measure step costs here and project the run's training and evaluation hours",
    )
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)

    profile = config.get_profile(args.profile)
    (x_train, y_train), (x_test, y_test) = data.load_fashion_mnist()
    x_train, y_train = data.take_subset(x_train, y_train, profile.train_size, seed=args.seed)
    held_out = (x_train[-1000:], y_train[-1000:])
    x_fit, y_fit = x_train[:-1000], y_train[:-1000]
    args.out.mkdir(parents=True, exist_ok=True)
    results_path = args.out / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {"models": {}}
    results.update(
        profile=profile.name, eps=args.eps, train_images=len(x_fit), test_images=len(x_test), targets=TARGETS,
        machine=f"{platform.machine()}, {os.cpu_count()} CPU cores, {config.device_summary()}",
        versions={"tensorflow": tf.__version__, "keras": keras.__version__,
                  "python": platform.python_version()},
        command=f"python benchmarks/adversarial_training.py --profile {profile.name} --out {args.out}",
    )  # fmt: skip
    print(
        f"{profile.name}: {len(x_fit):,} training images, eps={args.eps}, {config.device_summary()}",
        flush=True,
    )
    if args.estimate:
        estimate(
            profile,
            args,
            x_fit,
            y_fit,
            x_test,
            y_test,
            f"python benchmarks/{Path(__file__).name} {shlex.join(argv)}",
        )
        return
    for name in args.models:
        record = results["models"].get(name, {})
        model_path = args.out / f"{name}.keras"
        if args.resume and "clean" in record and not args.reevaluate:
            print(f"== {name}: already in {results_path}, skipped", flush=True)
            continue
        if (args.resume or args.reevaluate) and model_path.exists() and "train_seconds" in record:
            print(f"== {name}: trained model loaded from {model_path}", flush=True)
            model = keras.models.load_model(model_path, compile=False)  # evaluated only: no optimizer state
        else:
            print(f"== training {name}", flush=True)
            out = args.out if args.resume else None
            model, history, seconds = train(name, profile, x_fit, y_fit, held_out, args.eps, args.seed, out)
            model.save(model_path)
            record = {
                "train_seconds": seconds,
                "epochs_run": len(history["epoch_seconds"]),
                "median_epoch_seconds": statistics.median(history["epoch_seconds"]),
                "history": {k: [float(v) for v in vals] for k, vals in history.items()},
            }
            results["models"][name] = record
            results_path.write_text(json.dumps(results, indent=1) + "\n")  # nothing is lost
        if args.train_only:
            continue
        print(f"== evaluating {name} on {len(x_test):,} test images", flush=True)
        scores = evaluate(
            model, x_test, y_test, args.eps, args.seed, args.autoattack or profile.autoattack,
            with_pgd50x10=args.with_pgd50x10,
        )  # fmt: skip
        results["models"][name] = {**scores, **{k: record[k] for k in TRAINING_KEYS}}
        results_path.write_text(json.dumps(results, indent=1) + "\n")  # after every model: nothing is lost
        print(json.dumps({k: v for k, v in results["models"][name].items() if k != "history"}), flush=True)
    if args.train_only:
        return

    seconds = step_seconds(profile, args, x_fit, y_fit, reference=True)
    results["step_seconds"] = seconds
    cost = {name: s / seconds["natural"] for name, s in seconds.items() if "hand-written" not in name}
    results["step_cost_in_natural_steps"] = cost
    overhead = {  # TRADES has no hand-written step to compare with
        name: s / seconds[f"{name} (hand-written)"]
        for name, s in seconds.items()
        if f"{name} (hand-written)" in seconds
    }
    results["framework_overhead"] = overhead

    models = results["models"]
    attacks_run = [
        "clean",
        "fgsm",
        "pgd20",
        *(["pgd50x10"] if any("pgd50x10" in m for m in models.values()) else []),
        "autoattack",
    ]
    labels = {
        "clean": "clean",
        "fgsm": "FGSM",
        "pgd20": "PGD-20",
        "pgd50x10": "PGD-50x10",
        "autoattack": "AutoAttack",
    }
    header = [labels[k] for k in attacks_run] + ["worst", "95% CI", "train s", "nat. epochs"]
    print("\n" + f"{'model':<10}" + "".join(f"{h:>12}" for h in header))
    natural_epochs = {}
    for name, m in models.items():
        if name == "natural":
            natural_epochs[name] = float(m.get("epochs_run", profile.cnn_epochs))
        else:
            key = method_key(name, profile)
            if key in cost:
                natural_epochs[name] = m.get("epochs_run", 0) * cost[key]
        if "clean" not in m:
            continue
        low, high = m["intervals"]["worst_case"]
        print(
            f"{name:<10}"
            + "".join(f"{m[k]:>12.2%}" if k in m else f"{'-':>12}" for k in attacks_run)
            + f"{m['worst_case']:>12.2%}{f'{100 * low:.1f}-{100 * high:.1f}':>12}"
            + f"{m['train_seconds']:>12.0f}{natural_epochs.get(name, float('nan')):>12.1f}"
        )
    results["cost_in_natural_epochs"] = natural_epochs
    print(
        "step cost in natural steps (side by side): "
        + ", ".join(f"{name} {c:.2f}" for name, c in cost.items() if name != "natural")
    )
    print(
        "framework overhead (Keras fit over a hand-written tf.function loop, same batches; targets: "
        "natural <= 1.10x, PGD-k <= 1.05x): " + ", ".join(f"{name} {o:.2f}x" for name, o in overhead.items())
    )
    if profile.name == "standard" and "natural" in natural_epochs:
        print(f"\ntargets ({TARGETS['standard']}):")
        checks = []
        for name, measure, op, bound in STANDARD_CHECKS:
            m = models.get(name, {})
            if measure == "time_ratio":
                value = natural_epochs.get(name)
                value = None if value is None else value / natural_epochs["natural"]
                wall = m.get("train_seconds", 0) / models["natural"]["train_seconds"]
                shown = "-" if value is None else f"{value:.2f}x (wall clock {wall:.2f}x)"
                wanted = f"{op} {bound:.1f}x"
            else:
                value = m.get(measure)
                shown = "-" if value is None else f"{value:.2%}"
                wanted = f"{op} {bound:.1%}"
            met = None if value is None else (value >= bound if op == ">=" else value <= bound)
            verdict = {None: "not measured", True: "met", False: "MISSED"}[met]
            checks.append(
                {"model": name, "measure": measure, "target": f"{op} {bound}", "value": value, "met": met}
            )
            print(f"  {name:<8} {measure:<11} {shown:>28}  (target {wanted}): {verdict}")
        results["target_checks"] = checks
    results_path.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {results_path}")


if __name__ == "__main__":
    main()
