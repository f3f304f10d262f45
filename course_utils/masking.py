"""Gradient-masking checks: warning signs that the attacks, not the model, are failing.

After Athalye, Carlini & Wagner, "Obfuscated gradients give a false sense of security" (ICML 2018,
§3.1) and Carlini et al., "On evaluating adversarial robustness" (2019). The checks read the rows of
a report card (:mod:`course_utils.robustness`) by what they measure (their ``kind``), never by name,
and say ``not run`` when a row they need is missing: a check that could not look never says ``ok``.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from course_utils import attacks, evaluation
from course_utils.evaluation import AttackResult, robust_accuracy

OK, WARNING, NOT_RUN = "ok", "WARNING", "not run"
CUMULATIVE_KINDS = ("restarts", "apgd-ce", "apgd-t", "square")  # rows that are a worst case so far


@dataclasses.dataclass
class MaskingFlag:
    """One gradient-masking check: ``status`` is ``"ok"``, ``"WARNING"`` or ``"not run"``."""

    name: str
    status: str
    detail: str

    @property
    def raised(self) -> bool:
        """True when the check found a warning sign."""
        return self.status == WARNING


def _by_eps(rows, kind):
    return {r.eps: r for r in rows if r.kind == kind}


def _half_width(row: AttackResult) -> float:
    low, high = row.interval
    return (high - low) / 2


def _check_fgsm_vs_pgd(rows, tolerance) -> MaskingFlag:
    name = "FGSM stronger than PGD"
    fgsm, pgd = _by_eps(rows, "fgsm"), _by_eps(rows, "pgd")
    both = sorted(set(fgsm) & set(pgd))
    if not both:
        return MaskingFlag(name, NOT_RUN, "the card has no FGSM and PGD rows at the same eps")
    bad = [e for e in both if fgsm[e].accuracy < pgd[e].accuracy - tolerance]
    if not bad:
        return MaskingFlag(name, OK, "PGD is at least as strong as FGSM at every eps")
    text = ", ".join(f"{e:g} (FGSM {fgsm[e].accuracy:.1%} < PGD {pgd[e].accuracy:.1%})" for e in bad)
    return MaskingFlag(name, WARNING, "at eps " + text)


def _check_monotone(rows, clean, tolerance) -> MaskingFlag:
    name = "accuracy not falling as eps grows"
    if not rows:
        return MaskingFlag(name, NOT_RUN, "the card has no attack rows")
    rises = []
    for attack in dict.fromkeys(r.name for r in rows):  # every attack's curve, from eps=0 (clean)
        curve = [(0.0, clean.accuracy)] + sorted((r.eps, r.accuracy) for r in rows if r.name == attack)
        rises += [(attack, a, b) for a, b in zip(curve, curve[1:], strict=False) if b[1] > a[1] + tolerance]
    if not rises:
        return MaskingFlag(name, OK, "no attack's accuracy rises with eps (or above the clean accuracy)")
    text = "; ".join(f"{n}: {a[1]:.1%} at eps={a[0]:g} but {b[1]:.1%} at eps={b[0]:g}" for n, a, b in rises)
    return MaskingFlag(name, WARNING, text)


def _check_noise(model, x, y, rows, norm, clip_min, clip_max, seed, batch_size, tolerance) -> MaskingFlag:
    name = "random noise stronger than PGD"
    pgd = _by_eps(rows, "pgd")
    if not pgd:
        return MaskingFlag(name, NOT_RUN, "the card has no PGD row to compare the noise with")
    noisier = []
    for i, (eps, row) in enumerate(sorted(pgd.items())):
        x_noise = attacks.random_perturbation(
            x, eps=eps, norm=norm, seed=seed + 100 + i, clip_min=clip_min, clip_max=clip_max, surface=True
        )
        noise_acc = float(
            np.mean(evaluation.predict_logits(model, x_noise, batch_size=batch_size).argmax(1) == y)
        )
        if noise_acc < row.accuracy - tolerance:
            noisier.append(f"eps={eps:g}: noise {noise_acc:.1%} < {row.name} {row.accuracy:.1%}")
    if not noisier:
        return MaskingFlag(name, OK, "random noise of the same size never beats PGD")
    return MaskingFlag(name, WARNING, "; ".join(noisier))


def _check_gradients(model, x, y, clean, loss, batch_size, tolerance, max_images) -> MaskingFlag:
    name = "zero or non-finite input gradients"
    idx = np.flatnonzero(clean.correct)[:max_images]
    if not len(idx):
        return MaskingFlag(name, NOT_RUN, "no correctly classified image to check")
    grads = attacks.input_gradients(model, x[idx], y[idx], loss=loss, batch_size=batch_size)
    flat = grads.reshape(len(idx), -1)
    nonfinite = int((~np.isfinite(flat).all(axis=1)).sum())
    zero = int((np.abs(np.nan_to_num(flat)).max(axis=1) == 0).sum())
    detail = f"{zero} of {len(idx)} correctly classified images have an all-zero input gradient"
    detail += f", {nonfinite} a non-finite one" if nonfinite else ""
    return MaskingFlag(name, WARNING if nonfinite > 0 or zero > tolerance * len(idx) else OK, detail)


def _check_huge_eps(model, x, y, clean, norm, pgd_steps, loss, clip_min, clip_max, seed, batch_size,
                    max_images, progress) -> MaskingFlag:  # fmt: skip
    name = "accuracy not near zero at a very large eps"
    sub = np.flatnonzero(clean.correct)[:max_images]
    if not len(sub):
        return MaskingFlag(name, NOT_RUN, "no correctly classified image to check")
    big = attacks.max_eps(norm, x.shape[1:], clip_min, clip_max)

    def attack(xb, yb):
        step = 2.5 * big / pgd_steps
        return attacks.pgd(model, xb, yb, eps=big, step_size=step, num_steps=pgd_steps, norm=norm,
                           loss=loss, clip_min=clip_min, clip_max=clip_max, seed=seed)  # fmt: skip

    result = robust_accuracy(
        model, x[sub], y[sub], attack, eps=big, norm=norm, clip_min=clip_min, clip_max=clip_max,
        batch_size=batch_size, name=f"PGD at eps={big:g}", progress=progress,
    )  # fmt: skip
    detail = f"{result.accuracy:.1%} of {len(sub)} images survive PGD at eps={big:g}, which allows any image"
    return MaskingFlag(name, WARNING if result.accuracy > 0.05 else OK, detail)


def _check_black_box(rows, tolerance) -> MaskingFlag:
    name = "black-box attack stronger than the white-box ones"
    found = []
    for i, row in enumerate(rows):
        if (
            row.kind == "square"
            and i > 0
            and rows[i - 1].kind in CUMULATIVE_KINDS
            and rows[i - 1].eps == row.eps
        ):
            found.append((rows[i - 1], row))
    if not found:
        return MaskingFlag(name, NOT_RUN, "no Square row (pass autoattack= with an L∞ norm)")
    bad = [(w, s) for w, s in found if s.accuracy < w.accuracy - tolerance]
    if not bad:
        return MaskingFlag(
            name, OK, "the gradient-free Square attack found (almost) nothing the gradient attacks missed"
        )
    text = "; ".join(
        f"eps={s.eps:g}: white-box worst case {w.accuracy:.1%}, Square took it to {s.accuracy:.1%}"
        for w, s in bad
    )
    return MaskingFlag(name, WARNING, text + ": the gradients mislead the white-box attacks")


def _check_converged(rows) -> MaskingFlag:
    name = "stronger attacks move the result (not converged)"
    pgd = _by_eps(rows, "pgd")
    last = {}
    for r in rows:
        if r.kind in CUMULATIVE_KINDS:
            last[r.eps] = r  # the final worst case at each eps
    both = sorted(set(pgd) & set(last))
    if not both:
        return MaskingFlag(
            name, NOT_RUN, "no PGD row and no stronger (restarts or AutoAttack) row to compare"
        )
    moved = [(e, pgd[e], last[e]) for e in both if pgd[e].accuracy - last[e].accuracy > _half_width(pgd[e])]
    if not moved:
        return MaskingFlag(name, OK, "restarts and stronger attacks stay within the 95 % interval of PGD")
    parts = []
    for e, p, w in moved:
        extra, gap = int((p.correct & ~w.correct).sum()), 100 * (p.accuracy - w.accuracy)
        parts.append(
            f"eps={e:g}: {p.name} {p.accuracy:.1%}, worst case {w.accuracy:.1%}: {extra} images broken that "
            f"{p.name} missed ({gap:.1f} points, more than the ±{100 * _half_width(p):.1f} interval)"
        )
    text = "; ".join(parts)
    return MaskingFlag(
        name, WARNING, text + ": the single PGD run overstates robustness; report the worst case"
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
    loss="ce",
    clip_min: float = 0.0,
    clip_max: float = 1.0,
    seed: int = 0,
    batch_size: int = 512,
    tolerance: float = 0.01,
    max_images: int = 500,
    progress: bool | None = None,
) -> list[MaskingFlag]:
    """Warning signs that the attacks are failing rather than the model being robust.

    After Athalye, Carlini & Wagner (2018, §3.1) and Carlini et al. (2019). Seven checks, each a
    :class:`MaskingFlag` (``ok``, ``WARNING``, or ``not run`` when the rows it needs are missing):

    1. *FGSM stronger than PGD*: one step that uses the whole ball should not beat many steps.
    2. *Accuracy not falling as ε grows*, for any attack: a bigger ball contains the smaller one,
       and an attack should never leave more images correct than no attack at all.
    3. *Random noise stronger than PGD*: noise of the same size (on the ball's surface) should
       never beat a gradient attack.
    4. *Zero or non-finite input gradients* on up to ``max_images`` correctly classified images.
    5. *Accuracy not near zero at a very large ε*: with ε as large as the whole pixel range, the
       ball contains every image, so an attack that works must reach (almost) 0 % accuracy.
    6. *Black-box attack stronger than the white-box ones*: the Square attack, which never looks at
       a gradient, should not break images that every gradient attack failed on.
    7. *Stronger attacks move the result*: restarts and AutoAttack lower the accuracy of the single
       PGD run by more than its 95 % interval: PGD had not converged.

    Args:
        rows: the :class:`~course_utils.evaluation.AttackResult` rows of a report card; they are
            found by their ``kind`` (``"fgsm"``, ``"pgd"``, ``"restarts"``, ``"apgd-ce"``, ...).
        clean: the clean :class:`~course_utils.evaluation.AttackResult`.
        pgd_steps: steps of the large-ε PGD of check 5.
        tolerance: accuracy differences smaller than this are ignored in checks 1-3 and 6.
    """
    x, y = np.asarray(x, dtype=np.float32), np.asarray(y)
    norm = attacks.norm_name(norm)
    return [
        _check_fgsm_vs_pgd(rows, tolerance),
        _check_monotone(rows, clean, tolerance),
        _check_noise(model, x, y, rows, norm, clip_min, clip_max, seed, batch_size, tolerance),
        _check_gradients(model, x, y, clean, loss, batch_size, tolerance, max_images),
        _check_huge_eps(
            model,
            x,
            y,
            clean,
            norm,
            pgd_steps,
            loss,
            clip_min,
            clip_max,
            seed,
            batch_size,
            max_images,
            progress,
        ),  # fmt: skip
        _check_black_box(rows, tolerance),
        _check_converged(rows),
    ]
