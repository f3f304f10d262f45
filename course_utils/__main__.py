"""The course's command line: ``python -m course_utils COMMAND``.

    python -m course_utils pretrain [--profile NAME] [MODEL ...]
    python -m course_utils doctor [--profile NAME] [--no-speed]

``pretrain`` trains the course's models into the cache ahead of time (before a class, or in the
background while you read), so that the notebooks load them in seconds. Models already in the
cache are only loaded. It first says which models it will train and how long each took on the
reference 2-core CPU.

``doctor`` checks this machine for the course (versions, device, profile, data, model cache) and
estimates each notebook's running time from a short speed measurement.
"""

from __future__ import annotations

import argparse
import sys
import time

from course_utils import config


def training_plan_line(profile_name: str, to_train: list[str]) -> str:
    """One line saying how long training ``to_train`` took on the reference machine, e.g. "To train:
    cnn_pgd (about 8 min), cnn_fast (about 5 min); about 13 min in all on the reference 2-core CPU
    ..."; empty when nothing is to be trained or there is no reference for the profile."""
    from course_utils import doctor

    seconds = doctor.TRAINING_SECONDS.get(profile_name, {})
    if not to_train or not all(m in seconds for m in to_train):
        return ""
    parts = ", ".join(f"{m} (about {doctor.duration(seconds[m])})" for m in to_train)
    total = sum(seconds[m] for m in to_train)
    return (
        f"To train: {parts}; about {doctor.duration(total)} in all on the reference 2-core CPU "
        "(`python -m course_utils doctor` says how fast this machine is)."
    )


def pretrain(args) -> int:
    from course_utils import zoo

    args.models = args.models or list(zoo.MODELS)
    unknown = [m for m in args.models if m not in zoo.MODELS]
    if unknown:
        print(f"Unknown model(s) {', '.join(unknown)}; choose from {', '.join(zoo.MODELS)}.", file=sys.stderr)
        return 2
    profile = config.get_profile(args.profile)
    print(f"profile {profile.name}: {', '.join(args.models)} | {config.device_summary()}", flush=True)
    status = zoo.cache_status(profile)
    plan = training_plan_line(profile.name, [m for m in args.models if not status[m]])
    if plan:
        print(plan, flush=True)
    for name in args.models:
        start = time.perf_counter()
        _, record = zoo.MODELS[name](profile)
        how = "loaded from the cache" if record.from_cache else "trained"
        print(f"{name}: {how} in {time.perf_counter() - start:.0f} s -> {record.path}", flush=True)
    return 0


def doctor(args) -> int:
    from course_utils import doctor as doctor_lib

    return doctor_lib.run(args.profile, probe=not args.no_speed)


def main(argv=None) -> int:
    config.use_onednn()  # before TensorFlow is imported
    parser = argparse.ArgumentParser(prog="python -m course_utils", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("pretrain", help="train the course's models into the cache ahead of time")
    p.add_argument(
        "models",
        nargs="*",
        default=[],
        help="mlp, cnn, cnn_pgd, cnn_fast, dcgan, dcgan_conditional, mlp_ibp, cnn_noise, cnn_next_seed, "
        "dcgan_sn (default: all)",
    )
    p.add_argument(
        "--profile",
        default=None,
        help="quick, standard or full (default: $COURSE_PROFILE, else standard)",
    )
    p.set_defaults(run=pretrain)
    p = commands.add_parser("doctor", help="check this machine for the course and estimate notebook times")
    p.add_argument(
        "--profile", default=None, help="profile to check (default: $COURSE_PROFILE or the device's)"
    )
    p.add_argument("--no-speed", action="store_true", help="skip the speed measurement (a few seconds)")
    p.set_defaults(run=doctor)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
