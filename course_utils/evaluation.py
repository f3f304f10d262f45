"""Measuring classifiers: batched predictions, accuracy, confusion matrices, confident mistakes;
robust accuracy under attack, the robustness report card and the gradient-masking checks."""

from __future__ import annotations

import dataclasses
import os
import time

import numpy as np

from course_utils import attacks


def predict_logits(model, x, *, batch_size: int = 1024) -> np.ndarray:
    """Logits ``(N, num_classes)`` of ``model`` on float32 images ``x`` ``(N, H, W, C)``,
    computed in inference mode (dropout off, BatchNorm using its moving averages)."""
    x = np.asarray(x, dtype=np.float32)
    out = [np.asarray(model(x[i : i + batch_size], training=False)) for i in range(0, len(x), batch_size)]
    if not out:
        return np.zeros((0, model.output_shape[-1]), dtype=np.float32)
    return np.concatenate(out)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of ``(N, K)`` logits, computed stably (max subtracted)."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


def accuracy(model, x, y, *, batch_size: int = 1024) -> float:
    """Fraction of ``x`` whose arg-max logit equals the integer label in ``y``."""
    y = np.asarray(y)
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} images but y has {len(y)} labels; pass matching arrays.")
    return float(np.mean(predict_logits(model, x, batch_size=batch_size).argmax(axis=1) == y))


def confusion_matrix(y_true, y_pred, num_classes: int = 10) -> np.ndarray:
    """``(K, K)`` int64 counts: row = true class, column = predicted class."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true {y_true.shape} and y_pred {y_pred.shape} must have the same shape.")
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (y_true, y_pred), 1)
    return matrix


def most_confident_mistakes(probs, y_true, k: int = 10) -> np.ndarray:
    """Indices of the ``k`` misclassified examples with the highest predicted probability,
    most confident first.

    Args:
        probs: ``(N, K)`` class probabilities; y_true: ``(N,)`` integer labels.
    """
    probs, y_true = np.asarray(probs), np.asarray(y_true)
    pred = probs.argmax(axis=1)
    wrong = np.flatnonzero(pred != y_true)
    confidence = probs[wrong, pred[wrong]]
    return wrong[np.argsort(-confidence, kind="stable")[:k]]


# ------------------------------------------------------------------------ robust accuracy


def _progress(total: int, desc: str, enabled: bool | None):
    """A text progress bar on stderr that appears after a second and is erased when done.

    ``enabled=None`` shows it unless ``$TQDM_DISABLE`` is set (the headless builds set it, so that
    executed notebooks do not store progress bars).
    """
    from tqdm.std import tqdm

    if enabled is None:
        enabled = os.environ.get("TQDM_DISABLE", "").strip().lower() not in ("1", "true", "yes")
    return tqdm(
        total=total, desc=desc, disable=not enabled, leave=False, delay=1.0, mininterval=0.5, unit="img"
    )


def check_adversarial(x, x_adv, *, eps, norm="inf", clip_min=0.0, clip_max=1.0, atol=1e-6) -> None:
    """Check that ``x_adv`` is a valid adversarial batch for ``x`` (the checks of the MNIST
    challenge's ``run_attack.py``): same shape, float32, finite, every pixel in
    ``[clip_min, clip_max]`` and every perturbation ``‖x_adv − x‖ ≤ eps + atol`` in ``norm``.

    Raises:
        ValueError: listing every check that failed and how many images fail it.
    """
    x, x_adv = np.asarray(x), np.asarray(x_adv)
    problems = []
    if x_adv.shape != x.shape:
        raise ValueError(f"Invalid adversarial batch: shape {x_adv.shape}, expected {x.shape}.")
    if x_adv.dtype != np.float32:
        problems.append(f"dtype is {x_adv.dtype}, expected float32")
    finite = np.isfinite(x_adv.reshape(len(x_adv), -1)).all(axis=1)
    if not finite.all():
        problems.append(f"{int((~finite).sum())} image(s) contain NaN or infinite values")
    flat = x_adv.reshape(len(x_adv), -1)
    outside = ((flat < clip_min) | (flat > clip_max)).any(axis=1)
    if outside.any():
        problems.append(f"{int(outside.sum())} image(s) have pixels outside [{clip_min}, {clip_max}]")
    sizes = attacks.perturbation_norms(np.where(np.isfinite(x_adv), x_adv, x), x, norm)
    too_far = sizes > eps + atol
    if too_far.any():
        problems.append(
            f"{int(too_far.sum())} perturbation(s) exceed eps={eps} in the {norm} norm "
            f"(largest {sizes.max():.6g})"
        )
    if problems:
        raise ValueError("Invalid adversarial batch: " + "; ".join(problems) + ".")


@dataclasses.dataclass
class AttackResult:
    """Accuracy of a model under one attack.

    Attributes:
        name: e.g. ``"PGD-20"``; eps: the budget (0 for clean); accuracy: in [0, 1];
        correct: ``(N,)`` bool, image still classified correctly; seconds: wall time.
    """

    name: str
    eps: float
    accuracy: float
    correct: np.ndarray
    seconds: float


def robust_accuracy(
    model,
    x,
    y,
    attack=None,
    *,
    eps=None,
    norm="inf",
    clip_min=0.0,
    clip_max=1.0,
    batch_size: int = 512,
    name: str = "attack",
    progress: bool | None = None,
) -> AttackResult:
    """Accuracy of ``model`` on ``attack(x_batch, y_batch)``, batch by batch, with a progress bar.

    Args:
        model: maps images to logits.
        x: float32 images ``(N, H, W, C)``; y: integer labels ``(N,)``.
        attack: ``attack(x_batch, y_batch) -> x_adv_batch``, e.g.
            ``lambda xb, yb: attacks.pgd(model, xb, yb, eps=0.1, step_size=0.01, num_steps=20)``.
            ``None`` measures clean accuracy.
        eps, norm, clip_min, clip_max: when ``eps`` is given, every adversarial batch is checked
            with :func:`check_adversarial` before it is scored.
        batch_size: images per call of ``attack``.
        name: label of the result and the progress bar.
        progress: show a progress bar (on stderr, erased when done); default: yes, unless
            ``$TQDM_DISABLE`` is set.
    """
    x, y = np.asarray(x, dtype=np.float32), np.asarray(y)
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} images but y has {len(y)} labels; pass matching arrays.")
    correct = np.zeros(len(x), dtype=bool)
    start_time = time.perf_counter()
    with _progress(len(x), name, progress) as bar:
        for start in range(0, len(x), batch_size):
            xb, yb = x[start : start + batch_size], y[start : start + batch_size]
            if attack is not None:
                x_adv = attack(xb, yb)
                if eps is not None:
                    check_adversarial(xb, x_adv, eps=eps, norm=norm, clip_min=clip_min, clip_max=clip_max)
                xb = np.asarray(x_adv, dtype=np.float32)
            correct[start : start + len(xb)] = (
                predict_logits(model, xb, batch_size=batch_size).argmax(1) == yb
            )
            bar.update(len(xb))
    seconds = time.perf_counter() - start_time
    accuracy_value = float(correct.mean()) if len(correct) else float("nan")
    return AttackResult(name, 0.0 if eps is None else float(eps), accuracy_value, correct, seconds)


# ---------------------------------------------------------------------------- report card


@dataclasses.dataclass
class MaskingFlag:
    """One gradient-masking check: ``raised`` is True when the check found a warning sign."""

    name: str
    raised: bool
    detail: str


@dataclasses.dataclass
class ReportCard:
    """Robustness of one model: accuracy under each attack at each ε, and the masking checks.

    ``rows`` holds one :class:`AttackResult` per (attack, ε). The restarts row is the *worst case*:
    an image counts as robust only if it survived the clean test, FGSM, PGD and every restart.
    """

    model_name: str
    norm: str | int
    n: int
    clean: AttackResult
    rows: list[AttackResult]
    flags: list[MaskingFlag]
    restart_seconds: float
    restart_seconds_all: float
    restarts_on_survivors: bool

    # restart_seconds: time spent on restarts. restart_seconds_all: the same if restarts had run on
    # every image (measured when restarts_on_survivors is False, else estimated as the measured time
    # plus one PGD run per skipped image; benchmarks/attack_speed.py measures both).

    def attacks(self) -> list[str]:
        """Attack names in the order they were run."""
        return list(dict.fromkeys(r.name for r in self.rows))

    def curves(self) -> dict[str, tuple[list[float], list[float]]]:
        """``{attack: (eps values, accuracies)}`` including ε = 0 (clean accuracy), for plotting."""
        out = {}
        for name in self.attacks():
            rows = [r for r in self.rows if r.name == name]
            out[name] = ([0.0] + [r.eps for r in rows], [self.clean.accuracy] + [r.accuracy for r in rows])
        return out

    def accuracy(self, attack: str, eps: float) -> float:
        """Accuracy under ``attack`` (a name from :meth:`attacks`) at ``eps``."""
        for r in self.rows:
            if r.name == attack and np.isclose(r.eps, eps):
                return r.accuracy
        raise KeyError(f"No row for {attack!r} at eps={eps}; attacks: {self.attacks()}.")

    @property
    def worst_case(self) -> str:
        """Name of the last (strongest, per-example worst-case) attack."""
        return self.attacks()[-1]

    def to_dict(self) -> dict:
        """JSON-friendly summary (no per-image arrays)."""
        return {
            "model": self.model_name,
            "norm": str(self.norm),
            "n": self.n,
            "clean_accuracy": self.clean.accuracy,
            "rows": [
                {"attack": r.name, "eps": r.eps, "accuracy": r.accuracy, "seconds": r.seconds}
                for r in self.rows
            ],
            "flags": [dataclasses.asdict(f) for f in self.flags],
            "restart_seconds": self.restart_seconds,
            "restart_seconds_all_examples": self.restart_seconds_all,
            "restarts_on_survivors": self.restarts_on_survivors,
        }

    def __str__(self) -> str:
        names = self.attacks()
        eps_values = sorted({r.eps for r in self.rows})
        width = max(len(n) for n in names + ["accuracy under attack"]) + 2
        lines = [f"Robustness report card: {self.model_name} ({self.n} test images, L{self.norm} norm)"]
        lines.append(f"clean accuracy: {100 * self.clean.accuracy:.2f}%")
        lines.append(
            "accuracy under attack".ljust(width)
            + "".join(f"{'eps=' + format(e, 'g'):>11}" for e in eps_values)
        )
        for name in names:
            cells = "".join(f"{100 * self.accuracy(name, e):10.2f}%" for e in eps_values)
            lines.append(name.ljust(width) + cells)
        lines.append("The last row is the per-image worst case: an image counts as robust only if it")
        lines.append("survived every attack above and every restart.")
        if self.restarts_on_survivors:
            lines.append(
                "Restarts ran only on the images that survived every earlier attack: "
                f"{self.restart_seconds:.1f} s instead of about {self.restart_seconds_all:.1f} s "
                "(estimated) on all images."
            )
        else:
            lines.append(f"Restarts ran on all images: {self.restart_seconds:.1f} s.")
        lines.append("Gradient-masking checks:" + ("" if self.flags else " not run"))
        for flag in self.flags:
            lines.append(f"  [{'WARNING' if flag.raised else 'ok'}] {flag.name}: {flag.detail}")
        if any(f.raised for f in self.flags):
            lines.append(
                "  A warning means these numbers may overstate robustness: try stronger or different attacks."
            )
        return "\n".join(lines)


def report_card(
    model,
    x,
    y,
    *,
    eps_list,
    norm="inf",
    pgd_steps: int = 20,
    restarts: int = 5,
    step_size_factor: float = 2.5,
    loss_fn=None,
    clip_min: float = 0.0,
    clip_max: float = 1.0,
    seed: int = 0,
    batch_size: int = 512,
    restarts_on_survivors: bool = True,
    masking_checks: bool = True,
    model_name: str = "model",
    progress: bool | None = None,
) -> ReportCard:
    """Evaluate ``model`` with clean accuracy, FGSM, PGD-k and PGD-k with restarts at every ε.

    The PGD step size is ``step_size_factor * eps / pgd_steps``; 2.5 is a common rule of thumb,
    enough to cross the ball from any random start. The last row, named
    ``"worst case, +PGD-k xR"``, adds ``restarts`` random restarts of PGD-k and is the per-image
    worst case over all the attacks. Random starts are drawn from ``seed`` batch by batch, so the
    PGD numbers can differ slightly from one ``attacks.pgd`` call on all images with that seed.
    Restarts cannot repair an image that is already misclassified, so with
    ``restarts_on_survivors=True`` they run only on the images that survived the clean test,
    FGSM and PGD-k; the card reports the time this saved (``False`` runs them on every image,
    to measure the difference). Every adversarial batch is checked with :func:`check_adversarial`.

    With ``masking_checks=True`` the card also runs :func:`gradient_masking_checks`.

    Args:
        model: maps images ``(N, H, W, C)`` in ``[clip_min, clip_max]`` to logits.
        x, y: test images (float32) and integer labels.
        eps_list: budgets to test, in the pixel scale, e.g. ``[0.05, 0.1, 0.2]``.
        norm: ``"inf"`` or ``2``.
        pgd_steps, restarts: PGD iterations and number of random restarts (``restarts >= 2``).
        loss_fn: loss for every attack (default cross-entropy; try ``attacks.margin_loss``).
        seed: seeds every random start: the same seed gives the same card.
    """
    if restarts < 2:
        raise ValueError(f"restarts must be >= 2 for the restarts row, got {restarts}.")
    eps_list = sorted(float(e) for e in eps_list)
    if not eps_list or eps_list[0] <= 0:
        raise ValueError(f"eps_list must hold positive budgets, got {eps_list}.")
    x, y = np.asarray(x, dtype=np.float32), np.asarray(y)
    norm_key = attacks._norm_name(norm)
    common = dict(norm=norm_key, loss_fn=loss_fn, clip_min=clip_min, clip_max=clip_max)
    check = dict(
        norm=norm_key, clip_min=clip_min, clip_max=clip_max, batch_size=batch_size, progress=progress
    )

    clean = robust_accuracy(model, x, y, name="clean", batch_size=batch_size, progress=progress)
    rows, restart_seconds, restart_seconds_all = [], 0.0, 0.0
    for eps in eps_list:
        step = step_size_factor * eps / pgd_steps
        fgsm_result = robust_accuracy(
            model,
            x,
            y,
            lambda xb, yb, e=eps: attacks.fgsm(model, xb, yb, eps=e, **common),
            eps=eps,
            name="FGSM",
            **check,
        )
        pgd_name = f"PGD-{pgd_steps}"

        def run_pgd(xb, yb, e=eps, s=step, n_runs=1, run_seed=seed):
            return attacks.pgd(
                model,
                xb,
                yb,
                eps=e,
                step_size=s,
                num_steps=pgd_steps,
                restarts=n_runs,
                seed=run_seed,
                **common,
            )

        pgd_result = robust_accuracy(model, x, y, run_pgd, eps=eps, name=pgd_name, **check)
        survived = clean.correct & fgsm_result.correct & pgd_result.correct
        todo = np.flatnonzero(survived) if restarts_on_survivors else np.arange(len(x))

        def run_restarts(xb, yb, e=eps, s=step):
            return run_pgd(xb, yb, e, s, n_runs=restarts, run_seed=seed + 1)

        restart_result = robust_accuracy(
            model,
            x[todo],
            y[todo],
            run_restarts,
            eps=eps,
            name=f"worst case, +{pgd_name} x{restarts}",
            **check,
        )
        worst = survived.copy()
        worst[todo] &= restart_result.correct
        restart_seconds += restart_result.seconds
        if restarts_on_survivors:
            # Run on all images, restarts would also attack the images broken already; most of them
            # fall in the first run and are then skipped by attacks.pgd: about one PGD run each.
            skipped = len(x) - len(todo)
            restart_seconds_all += restart_result.seconds + skipped * pgd_result.seconds / max(len(x), 1)
        else:
            restart_seconds_all += restart_result.seconds
        restart_row = AttackResult(
            restart_result.name, eps, float(worst.mean()), worst, restart_result.seconds
        )
        rows += [fgsm_result, pgd_result, restart_row]

    flags = []
    if masking_checks:
        flags = gradient_masking_checks(
            model,
            x,
            y,
            rows,
            clean,
            norm=norm_key,
            pgd_steps=pgd_steps,
            loss_fn=loss_fn,
            clip_min=clip_min,
            clip_max=clip_max,
            seed=seed,
            batch_size=batch_size,
            progress=progress,
        )
    return ReportCard(
        model_name,
        norm_key,
        len(x),
        clean,
        rows,
        flags,
        restart_seconds,
        restart_seconds_all,
        restarts_on_survivors,
    )


def gradient_masking_checks(
    model,
    x,
    y,
    rows,
    clean,
    *,
    norm="inf",
    pgd_steps: int = 20,
    loss_fn=None,
    clip_min: float = 0.0,
    clip_max: float = 1.0,
    seed: int = 0,
    batch_size: int = 512,
    tolerance: float = 0.01,
    max_images: int = 500,
    progress: bool | None = None,
) -> list[MaskingFlag]:
    """Warning signs that gradient attacks are failing rather than the model being robust.

    In the spirit of AutoAttack's checks (Croce & Hein, 2020) and of Carlini et al., "On evaluating
    adversarial robustness" (2019). Five checks, each a :class:`MaskingFlag`:

    1. *FGSM stronger than PGD*: one step that uses the whole ball should not beat many steps.
    2. *Accuracy not falling as ε grows*, for any attack: a bigger ball contains the smaller one,
       and an attack should never leave more images correct than no attack at all.
    3. *Random noise stronger than PGD*: noise of the same size (on the ball's surface) should
       never beat a gradient attack.
    4. *Zero or non-finite input gradients* on up to ``max_images`` correctly classified images.
    5. *Accuracy not near zero at a very large ε*: with ε as large as the whole pixel range, the
       ball contains every image, so an attack that works must reach (almost) 0% accuracy.

    Args:
        rows: the :class:`AttackResult` rows of a report card (FGSM, ``PGD-k`` and restarts at each ε).
        clean: the clean :class:`AttackResult`.
        tolerance: accuracy differences smaller than this are ignored (noise of a finite test set).
    """
    x, y = np.asarray(x, dtype=np.float32), np.asarray(y)
    pgd_name = f"PGD-{pgd_steps}"
    fgsm_rows = {r.eps: r for r in rows if r.name == "FGSM"}
    pgd_rows = {r.eps: r for r in rows if r.name == pgd_name}
    flags = []

    bad = [e for e in pgd_rows if e in fgsm_rows and fgsm_rows[e].accuracy < pgd_rows[e].accuracy - tolerance]
    flags.append(
        MaskingFlag(
            "FGSM stronger than PGD",
            bool(bad),
            "at eps "
            + ", ".join(
                f"{e:g} (FGSM {fgsm_rows[e].accuracy:.1%} < PGD {pgd_rows[e].accuracy:.1%})" for e in bad
            )
            if bad
            else "PGD is at least as strong as FGSM at every eps",
        )
    )

    rises = []
    for name in dict.fromkeys(r.name for r in rows):  # every attack's curve, starting at eps=0 (clean)
        curve = [(0.0, clean.accuracy)] + sorted((r.eps, r.accuracy) for r in rows if r.name == name)
        rises += [(name, a, b) for a, b in zip(curve, curve[1:], strict=False) if b[1] > a[1] + tolerance]
    flags.append(
        MaskingFlag(
            "accuracy not falling as eps grows",
            bool(rises),
            "; ".join(f"{n}: {a[1]:.1%} at eps={a[0]:g} but {b[1]:.1%} at eps={b[0]:g}" for n, a, b in rises)
            if rises
            else "no attack's accuracy rises with eps (or above the clean accuracy)",
        )
    )

    noisier = []
    for i, (eps, row) in enumerate(sorted(pgd_rows.items())):
        x_noise = attacks.random_perturbation(
            x, eps=eps, norm=norm, seed=seed + 100 + i, clip_min=clip_min, clip_max=clip_max, surface=True
        )
        noise_acc = float(np.mean(predict_logits(model, x_noise, batch_size=batch_size).argmax(1) == y))
        if noise_acc < row.accuracy - tolerance:
            noisier.append(f"eps={eps:g}: noise {noise_acc:.1%} < PGD {row.accuracy:.1%}")
    flags.append(
        MaskingFlag(
            "random noise stronger than PGD",
            bool(noisier),
            "; ".join(noisier) if noisier else "random noise of the same size never beats PGD",
        )
    )

    idx = np.flatnonzero(clean.correct)[:max_images]
    if len(idx):
        grads = attacks.input_gradients(model, x[idx], y[idx], loss_fn=loss_fn, batch_size=batch_size)
        flat = grads.reshape(len(idx), -1)
        nonfinite = int((~np.isfinite(flat).all(axis=1)).sum())
        zero = int((np.abs(np.nan_to_num(flat)).max(axis=1) == 0).sum())
        raised = nonfinite > 0 or zero > tolerance * len(idx)
        detail = f"{zero} of {len(idx)} correctly classified images have an all-zero input gradient"
        detail += f", {nonfinite} a non-finite one" if nonfinite else ""
    else:
        raised, detail = False, "no correctly classified image to check"
    flags.append(MaskingFlag("zero or non-finite input gradients", raised, detail))

    big = attacks.max_eps(norm, x.shape[1:], clip_min, clip_max)
    sub = np.flatnonzero(clean.correct)[:max_images]
    if len(sub):
        result = robust_accuracy(
            model,
            x[sub],
            y[sub],
            lambda xb, yb: attacks.pgd(
                model,
                xb,
                yb,
                eps=big,
                step_size=2.5 * big / pgd_steps,
                num_steps=pgd_steps,
                norm=norm,
                loss_fn=loss_fn,
                clip_min=clip_min,
                clip_max=clip_max,
                seed=seed,
            ),
            eps=big,
            norm=norm,
            clip_min=clip_min,
            clip_max=clip_max,
            batch_size=batch_size,
            name=f"PGD at eps={big:g}",
            progress=progress,
        )
        raised = result.accuracy > 0.05
        detail = (
            f"{result.accuracy:.1%} of {len(sub)} images survive PGD at eps={big:g}, which allows any image"
        )
    else:
        raised, detail = False, "no correctly classified image to check"
    flags.append(MaskingFlag("accuracy not near zero at a very large eps", raised, detail))
    return flags
