"""Checks for the certification exercises of notebook 11: interval bounds through a small network of
dense and ReLU layers, the one-sided Clopper-Pearson lower bound by bisection, and Cohen et al.'s
CERTIFY from vote counts (randomized smoothing). The single-layer check ``check_interval_dense`` lives
here too."""

from __future__ import annotations

import math
import statistics

import numpy as np

from course_utils.checks._core import (
    _array,
    _call,
    _never_raises,
    _Problem,
    _say,
    _scalar,
)


# -------------------------------------------------------------- interval bounds of a layer (11)
@_never_raises
def check_interval_dense(fn) -> bool:
    """Check ``fn(lower, upper, W, b)``: the lower and upper bounds of ``x @ W + b`` over every ``x``
    with ``lower <= x <= upper``, as a pair of arrays ``(N, K)``."""
    from course_utils.certify import ibp

    rng = np.random.default_rng(5)
    x = rng.uniform(0, 1, (3, 4))
    lower, upper = x - 0.7 * rng.uniform(0, 1, x.shape), x + 0.7 * rng.uniform(0, 1, x.shape)
    w = rng.normal(size=(4, 5))  # both signs
    b = rng.normal(size=5)
    result = _call(fn, lower.copy(), upper.copy(), w.copy(), b.copy())
    if not (isinstance(result, tuple | list) and len(result) == 2):
        raise _Problem("Return a pair (lower, upper): two arrays of shape (N, K), here (3, 5).")
    low, high = _array(result[0], "your lower bound"), _array(result[1], "your upper bound")
    if low.shape != (3, 5) or high.shape != (3, 5):
        raise _Problem(
            f"Your bounds have shapes {low.shape} and {high.shape}; each should be (3, 5): (N, K)."
        )
    ref_low, ref_high = (np.asarray(v) for v in ibp.interval_dense(lower, upper, w, b))
    if np.allclose(low, ref_low, atol=1e-6) and np.allclose(high, ref_high, atol=1e-6):
        return _say(True, ["Your bounds are exact: each equals the extreme value over the box's 16 corners."])
    if np.allclose(low, lower @ w + b) and np.allclose(high, upper @ w + b):
        raise _Problem(
            "You mapped the two ends (lower @ W + b, upper @ W + b). A negative weight swaps them: the "
            "smallest output takes the *upper* end of an input with a negative weight. Use the centre "
            "m = (l + u) / 2 and radius r = (u - l) / 2: W m + b ± |W| r."
        )
    if np.allclose(low, np.minimum(lower @ w, upper @ w) + b):
        raise _Problem(
            "Taking the smaller of lower @ W and upper @ W mixes the inputs wrongly: each input must pick "
            "its own end depending on the sign of its weight. Use W m + b ± |W| r."
        )
    if np.any(low > high + 1e-9):
        raise _Problem("Some of your lower bounds exceed your upper bounds: check the signs of ± |W| r.")
    corners = np.array(np.meshgrid(*[[0, 1]] * 4)).reshape(4, -1).T  # the 16 corners of the box
    values = np.stack([np.where(c, upper, lower) @ w + b for c in corners])
    if np.any(values.min(0) < low - 1e-9) or np.any(values.max(0) > high + 1e-9):
        raise _Problem(
            "Your bounds are not sound: some corner of the box gives an output outside them. Did you "
            "forget the bias, or use W instead of |W| for the radius?"
        )
    raise _Problem(
        "Your bounds contain every output but are looser than needed: use exactly W m + b ± |W| r."
    )


# ------------------------------------------------------ interval bounds through a small network (11)
def _propagate(layers, lower, upper, mistake=None):
    """Interval bounds through ``layers`` [(W, b), ...], a ReLU after each but the last, with the sign
    split of W; ``mistake`` names one classic slip, to recognise it in a student's answer."""
    last = len(layers) - 1
    for i, (w, b) in enumerate(layers):
        pos, neg = np.maximum(w, 0), np.minimum(w, 0)
        bias = 0.0 if mistake == "no bias" else b
        if mistake == "ends":  # the same as W m + b ± W r: W instead of |W| for the radius
            low, high = lower @ w + bias, upper @ w + bias
        elif mistake == "swapped":
            low, high = upper @ pos + lower @ neg + bias, lower @ pos + upper @ neg + bias
        elif mistake == "sequential":  # the new upper bound computed from the *new* lower bound
            low = lower @ pos + upper @ neg + bias
            high = upper @ pos + low @ neg + bias
        else:
            low, high = lower @ pos + upper @ neg + bias, upper @ pos + lower @ neg + bias
        relu = (i < last and mistake != "no ReLU") or mistake == "ReLU on the logits"
        if relu:
            low = low if mistake == "ReLU on the upper bound only" else np.maximum(low, 0)
            high = np.maximum(high, 0)
        lower, upper = low, high
    return lower, upper


def forward(layers, x):
    for i, (w, b) in enumerate(layers):
        x = x @ w + b
        if i < len(layers) - 1:
            x = np.maximum(x, 0)
    return x


_NETWORK_ADVICE = {
    "ends": "You mapped the two ends, lower @ W + b and upper @ W + b (the same as W m + b ± W r: W "
    "instead of |W| for the radius). A negative weight swaps the ends: the lowest output takes an input's "
    "*upper* end where its weight is negative. Split W = W⁺ + W⁻ (np.maximum(W, 0), np.minimum(W, 0)): "
    "lower' = lower @ W⁺ + upper @ W⁻ + b, upper' = upper @ W⁺ + lower @ W⁻ + b.",
    "swapped": "You swapped the ends in the sign split: the *lower* bound pairs lower with W⁺ and upper "
    "with W⁻ (lower @ W⁺ + upper @ W⁻ + b), the upper bound the other way round.",
    "sequential": "You computed the new upper bound from the *new* lower bound (lower was overwritten "
    "first). Compute both from the previous bounds at once: lower, upper = (lower @ W⁺ + upper @ W⁻ + b, "
    "upper @ W⁺ + lower @ W⁻ + b).",
    "no bias": "You left out the bias b: add it to both ends.",
    "ReLU on the upper bound only": "Apply the ReLU to the lower bound as well: ReLU is monotone, so "
    "[l, u] maps to [relu(l), relu(u)]. A negative lower bound after a ReLU is impossible and loosens "
    "every later layer.",
    "ReLU on the logits": "No ReLU after the last layer: the network's outputs are logits, which can be "
    "negative. Apply it after every layer but the last.",
    "no ReLU": "You left out the ReLU between the layers: apply np.maximum(., 0) to both ends after every "
    "layer but the last.",
}


def _network_case(rng):
    """A 3 -> 5 -> 4 -> 2 ReLU network with weights of both signs, and boxes inside [0, 1]."""
    sizes = [3, 5, 4, 2]
    layers = [
        (rng.normal(0, 1, (m, k)), rng.normal(0, 0.3, k)) for m, k in zip(sizes[:-1], sizes[1:], strict=True)
    ]
    centres = rng.uniform(0.3, 0.7, (4, 3))
    return layers, centres, 0.2


@_never_raises
def check_interval_network(fn) -> bool:
    """Check ``fn(layers, lower, upper)``: interval bounds of a network's outputs over the box
    ``lower <= x <= upper`` (arrays ``(N, D)``), for ``layers = [(W, b), ...]`` computing
    ``x @ W + b`` (``W`` of shape ``(D, K)``) with a ReLU after every layer but the last. Returns
    ``(lower, upper)``, each ``(N, K)``: exact for one layer, equal to interval bound propagation
    (``ibp.interval_bounds``) for several, and containing every output the box can produce."""
    import keras

    from course_utils.certify import ibp

    rng = np.random.default_rng(12)  # a network on which every slip below gives different bounds
    hints = {
        "ValueError": "check the shapes: lower and upper are (N, D), each W is (D, K), so lower @ W is "
        "(N, K); use @ (matrix product), not * (elementwise). And compute the new lower and upper bounds "
        "from the previous ones at once: the new upper bound must not use the new lower one.",
    }
    # Case 1: one square affine layer (no ReLU: it is the last), exact: the extremes over the box's
    # corners. Square, so that updating the bounds one after the other gives numbers, not a shape error.
    w, b = rng.normal(0, 1, (4, 4)), rng.normal(0, 1, 4)
    centre = rng.uniform(0, 1, (2, 4))
    lower, upper = centre - 0.7 * rng.uniform(0, 1, (2, 4)), centre + 0.7 * rng.uniform(0, 1, (2, 4))
    # Case 2: three layers with ReLUs between them.
    layers2, centres, eps = _network_case(rng)
    cases = [([(w, b)], lower, upper, "one-layer"), (layers2, centres - eps, centres + eps, "three-layer")]
    for layers, lower, upper, name in cases:
        n, k = len(lower), layers[-1][0].shape[1]
        copies = [(wi.copy(), bi.copy()) for wi, bi in layers]
        result = _call(fn, copies, lower.copy(), upper.copy(), hints=hints)
        if not (isinstance(result, tuple | list) and len(result) == 2):
            raise _Problem(f"Return a pair (lower, upper): two arrays of shape (N, K), here ({n}, {k}).")
        low, high = _array(result[0], "your lower bound"), _array(result[1], "your upper bound")
        if low.shape != (n, k) or high.shape != (n, k):
            raise _Problem(
                f"In the {name} case your bounds have shapes {low.shape} and {high.shape}; each should be "
                f"({n}, {k}): one row per box, one column per output."
            )
        right = _propagate(layers, lower, upper)
        if len(layers) == 1:  # one affine layer: exactly the extremes over the box's corners
            corners = np.array(np.meshgrid(*[[0, 1]] * lower.shape[1])).reshape(lower.shape[1], -1).T
            values = np.stack([np.where(c, upper, lower) @ layers[0][0] + layers[0][1] for c in corners])
            right = (values.min(axis=0), values.max(axis=0))
        if np.allclose(low, right[0], atol=1e-6) and np.allclose(high, right[1], atol=1e-6):
            continue
        for mistake, advice in _NETWORK_ADVICE.items():
            try:
                wrong = _propagate(layers, lower, upper, mistake)
            except ValueError:  # a slip that only runs on square layers
                continue
            if np.allclose(low, wrong[0], atol=1e-6) and np.allclose(high, wrong[1], atol=1e-6):
                raise _Problem(f"In the {name} case: {advice}")
        if np.any(low > high + 1e-9):
            raise _Problem(
                f"In the {name} case some of your lower bounds exceed your upper bounds: check which end "
                "goes with W⁺ and which with W⁻."
            )
        points = lower[:, None] + (upper - lower)[:, None] * rng.uniform(0, 1, (1, 4000, lower.shape[1]))
        outputs = np.stack([forward(layers, p) for p in points])  # (N, samples, K)
        if np.any(outputs.min(axis=1) < low - 1e-9) or np.any(outputs.max(axis=1) > high + 1e-9):
            raise _Problem(
                f"In the {name} case your bounds are not sound: some input inside the box gives an output "
                "outside them. Each layer must map the whole interval: lower @ W⁺ + upper @ W⁻ + b and "
                "upper @ W⁺ + lower @ W⁻ + b, then the ReLU on both ends."
            )
        raise _Problem(
            f"In the {name} case your bounds contain every output but are not the interval bounds: "
            "each layer's bounds should be exactly lower @ W⁺ + upper @ W⁻ + b and "
            "upper @ W⁺ + lower @ W⁻ + b."
        )
    # The package's IBP on the same network as a Keras model.
    model = keras.Sequential(
        [keras.Input((3,))]
        + [keras.layers.Dense(wi.shape[1], activation="relu") for wi, _ in layers2[:-1]]
        + [keras.layers.Dense(layers2[-1][0].shape[1])]
    )
    for layer, (wi, bi) in zip(model.layers, layers2, strict=True):
        layer.set_weights([wi.astype("float32"), bi.astype("float32")])
    package = ibp.interval_bounds(model, centres.astype("float32"), eps)
    same = np.allclose(package[0], low, atol=1e-4) and np.allclose(package[1], high, atol=1e-4)
    return _say(
        True,
        [
            "One layer: exact (the extremes over the box's 16 corners). Three layers: "
            + ("equal to ibp.interval_bounds" if same else "sound")
            + ", and every one of 4,000 sampled inputs per box lands inside your bounds."
        ],
    )


# ------------------------------------------------------------ the Clopper-Pearson lower bound (11)
_NORMAL = statistics.NormalDist()


def _log_tail(k: int, n: int, p: float) -> float:
    """log P(Binomial(n, p) >= k), in log space (the checks' own, independent of ``smoothing``)."""
    if k <= 0:
        return 0.0
    if p <= 0.0:
        return -math.inf
    if p >= 1.0:
        return 0.0
    i = np.arange(k, n + 1)
    log_comb = math.lgamma(n + 1) - np.array([math.lgamma(j + 1) + math.lgamma(n - j + 1) for j in i])
    terms = log_comb + i * math.log(p) + (n - i) * math.log1p(-p)
    top = terms.max()
    return float(top + math.log(np.exp(terms - top).sum()))


def _solve_tail(k: int, n: int, level: float) -> float:
    """The ``p`` at which ``P(Binomial(n, p) >= k) = level`` (the tail grows with ``p``), by bisection."""
    if k <= 0:
        return 0.0
    low, high, target = 0.0, 1.0, math.log(level)
    for _ in range(200):
        mid = (low + high) / 2
        if _log_tail(k, n, mid) < target:
            low = mid
        else:
            high = mid
        if high - low < 1e-15:
            break
    return low


def _lower_bound(k, n, alpha, mistake=None):
    """The one-sided Clopper-Pearson lower bound, or one classic slip of it (``mistake``)."""
    if mistake == "p hat":
        return k / n
    if mistake == "normal":
        p = k / n
        return p - _NORMAL.inv_cdf(1 - alpha) * math.sqrt(p * (1 - p) / n)
    if mistake == "two-sided":
        return _solve_tail(k, n, alpha / 2)
    if mistake == "strict tail":
        return _solve_tail(k + 1, n, alpha) if k < n else 1.0
    if mistake == "1 - alpha":
        return _solve_tail(k, n, 1 - alpha)
    if mistake == "upper bound":  # P(X <= k) = alpha, the upper end: 1 - (lower bound of n - k)
        return 1.0 - _solve_tail(n - k, n, alpha)
    return _solve_tail(k, n, alpha)


_BOUND_ADVICE = {
    "p hat": "You returned the share k / n. That is the estimate; the certificate needs a bound that is "
    "below the true p_A with probability 1 - alpha: the p at which k or more successes have probability "
    "alpha.",
    "normal": "You used the normal approximation p̂ - z·sqrt(p̂(1 - p̂)/n). It fails near k = n, exactly "
    "where certificates live (at k = n it gives 1): bisect on the exact binomial tail instead.",
    "two-sided": "You used alpha / 2 (a two-sided interval). CERTIFY needs only the lower side: solve "
    "P(X >= k) = alpha.",
    "strict tail": "You solved P(X > k) = alpha: the tail starts one term too late. Sum from i = k: "
    "P(X >= k) = sum over i = k..n.",
    "1 - alpha": "You solved P(X >= k) = 1 - alpha. The lower bound is where observing k or more would be "
    "*unlikely*: P(X >= k) = alpha, a p below k / n.",
    "upper bound": "You found the upper end, P(X <= k) = alpha. The lower bound solves P(X >= k) = alpha "
    "and lies below k / n.",
}


def _bound_cases():
    """(k, n, alpha, reference, what): closed forms first, then the package's function."""
    from course_utils.certify import smoothing

    alpha = 0.05
    return [
        (20, 20, alpha, alpha ** (1 / 20), "k = n = 20: alpha^(1/n)"),
        (0, 15, alpha, 0.0, "k = 0: 0"),
        (1, 10, alpha, 1 - (1 - alpha) ** (1 / 10), "k = 1, n = 10: 1 - (1 - alpha)^(1/n)"),
        (9, 10, alpha, _solve_tail(9, 10, alpha), "k = 9, n = 10: p^10 + 10 p^9 (1 - p) = alpha"),
        (980, 1000, 0.001, smoothing.clopper_pearson_lower(980, 1000, 0.001), "k = 980, n = 1,000"),
        (520, 1000, 0.001, smoothing.clopper_pearson_lower(520, 1000, 0.001), "k = 520, n = 1,000"),
        (6000, 10_000, 0.001, smoothing.clopper_pearson_lower(6000, 10_000, 0.001), "k = 6,000, n = 10,000"),
    ]


@_never_raises
def check_clopper_pearson(fn) -> bool:
    """Check ``fn(k, n, alpha)``: the one-sided Clopper-Pearson lower bound on a probability after ``k``
    successes in ``n`` trials, the ``p`` at which ``P(Binomial(n, p) >= k) = alpha`` (0 for ``k = 0``),
    on closed forms (``k`` = 0, 1, n - 1, n) and on three cases up to ``n`` = 10,000, where the binomial
    coefficients overflow a float unless the tail is summed in log space."""
    hints = {
        "OverflowError": "a binomial coefficient (math.comb(n, i)) or a power is too large for a float. Sum "
        "the tail in log space: log C(n, i) = lgamma(n + 1) - lgamma(i + 1) - lgamma(n - i + 1) "
        "(math.lgamma), subtract the largest log term before exponentiating.",
        "ValueError": "math.log of 0? p**i underflows to 0 for large n: work with logs throughout (i * "
        "log(p) + (n - i) * log(1 - p)), and keep p strictly between 0 and 1 during the bisection.",
        "ZeroDivisionError": "a division by zero: keep p strictly between 0 and 1 during the bisection, and "
        "return 0 directly when k = 0.",
    }
    cases = _bound_cases()
    values = [_scalar(_call(fn, k, n, alpha, hints=hints), "your bound") for k, n, alpha, _, _ in cases]
    wrong = [
        (case, value)
        for case, value in zip(cases, values, strict=True)
        if not math.isclose(value, case[3], rel_tol=1e-6, abs_tol=1e-9)
    ]
    if not wrong:
        return _say(True, [f"All {len(cases)} cases: " + "; ".join(case[4] for case in cases) + "."])
    for mistake, advice in _BOUND_ADVICE.items():  # a slip that explains every case you got wrong
        if all(
            math.isclose(value, _lower_bound(k, n, alpha, mistake), rel_tol=1e-6, abs_tol=1e-9)
            for (k, n, alpha, _, _), value in wrong
        ):
            (k, n, alpha, _, what), _ = wrong[0]
            raise _Problem(f"Case {what} (alpha {alpha}): {advice}")
    for (_, _, _, right, what), value in wrong:
        if math.isclose(value, right, rel_tol=1e-3, abs_tol=1e-6):
            raise _Problem(
                f"Case {what}: {value:.8f}, close to the answer {right:.8f} but not within 1e-6: bisect "
                "longer (about 50 halvings of [0, 1] reach the limit of a float)."
            )
    (k, n, alpha, right, what), value = wrong[0]
    side = "above k / n: a lower bound lies below it" if value > k / n + 1e-12 else "below the answer"
    raise _Problem(
        f"Case {what} (alpha {alpha}): the bound is {right:.6f}; you returned {value:.6f}, {side}. "
        "Bisect on p in [0, k / n]: move the lower end up while P(X >= k) < alpha, the upper end down "
        "otherwise."
    )


# ------------------------------------------------------------ CERTIFY from vote counts (11)
def _certify_counts(counts0, counts, sigma, alpha, mistake=None):
    """Cohen et al.'s CERTIFY on given counts, or one classic slip of it (``mistake``)."""
    from course_utils.certify import smoothing

    c = int(np.argmax(counts if mistake == "selected on the estimate" else counts0))
    votes, n = (counts0, counts0.sum()) if mistake == "estimated on the selection" else (counts, counts.sum())
    n = 1000 if mistake == "n fixed" else n
    k = int(votes[c])
    level = alpha / 2 if mistake == "two-sided" else alpha
    p = k / n if mistake == "p hat" else smoothing.clopper_pearson_lower(k, int(n), level)
    if p <= 0.5 and mistake not in ("no abstain", "p hat"):
        return -1, 0.0
    if mistake == "p hat" and p >= 1:
        return c, math.inf
    if mistake == "p hat" and p <= 0.5:
        return -1, 0.0
    scale = sigma**2 if mistake == "sigma squared" else (1.0 if mistake == "no sigma" else sigma)
    return c, scale * (_NORMAL.cdf(p) if mistake == "cdf" else _NORMAL.inv_cdf(p))


_CERTIFY_ADVICE = {
    "p hat": "You used the share of votes k / n as p_A. It is only an estimate: use its Clopper-Pearson "
    "lower bound (your clopper_pearson_lower, or smoothing.clopper_pearson_lower(k, n, alpha)), so that "
    "the certificate holds with probability 1 - alpha.",
    "selected on the estimate": "You chose the class from `counts`, the votes that then estimate its "
    "probability: choosing on the same votes biases the estimate upwards. Choose c_A = argmax of "
    "`counts0`, then count its votes in `counts`.",
    "estimated on the selection": "You estimated p_A from `counts0`, the selection votes: estimate it from "
    "`counts`, the n fresh copies.",
    "n fixed": "n is the number of fresh copies, counts.sum(), not a constant: the cases have different n.",
    "two-sided": "You used alpha / 2 (a two-sided interval). CERTIFY needs only a one-sided lower bound: "
    "clopper_pearson_lower(k, n, alpha).",
    "sigma squared": "You multiplied by sigma² (the variance): the radius is sigma * Φ⁻¹(p_lower), sigma the "
    "standard deviation.",
    "no sigma": "The radius scales with the noise: multiply Φ⁻¹(p_lower) by sigma.",
    "cdf": "You used Φ, the normal CDF; the radius uses its inverse, Φ⁻¹ (statistics.NormalDist().inv_cdf).",
    "no abstain": "When p_lower <= 1/2 the vote proves nothing: abstain, return (-1, 0.0).",
}
_ABSTAIN = (
    "To abstain, return exactly (-1, 0.0): -1 is the class that means 'no class' (not None), and an "
    "abstention certifies no radius."
)


@_never_raises
def check_certify_from_counts(fn) -> bool:
    """Check ``fn(counts0, counts, sigma, alpha)``: Cohen et al.'s CERTIFY from vote counts. ``counts0``
    (``n0`` selection copies) and ``counts`` (``n`` fresh copies) are ``(K,)`` integer votes per class.
    Return ``(c_A, radius)``: ``c_A = argmax counts0``, ``p_lower`` the one-sided Clopper-Pearson lower
    bound of ``counts[c_A]`` out of ``n`` at level ``alpha``, the radius ``sigma Φ⁻¹(p_lower)``; or
    exactly ``(-1, 0.0)`` (abstain) when ``p_lower <= 1/2``. The cases have different ``n``."""
    sigma, alpha = 0.5, 0.01
    cases = [  # (counts0, counts, what it is): n = 1,000, 300, 500, 2,000, 250
        ([3, 92, 5, 0], [8, 980, 12, 0], "a sure vote for class 1"),
        ([1, 48, 1, 0], [5, 290, 5, 0], "a sure vote from 300 copies"),
        ([55, 45, 0, 0], [150, 350, 0, 0], "selection and estimate disagree"),
        ([0, 0, 100, 0], [0, 0, 2000, 0], "every vote for class 2"),
        ([10, 0, 0, 90], [120, 0, 0, 130], "a vote too close to certify"),
    ]
    hints = {
        "StatisticsError": "Φ⁻¹ is infinite at p = 1 (every vote agrees) and undefined outside (0, 1): use "
        "the Clopper-Pearson lower bound of p_A, which stays below 1.",
        "ValueError": "is k larger than n? k = counts[c_A] counts the fresh votes, and n is their total, "
        "counts.sum(), not counts0.sum().",
    }
    lines = []
    for counts0, counts, what in cases:
        counts0, counts = np.array(counts0), np.array(counts)
        right = _certify_counts(counts0, counts, sigma, alpha)
        try:
            answer = _call(fn, counts0.copy(), counts.copy(), sigma, alpha, hints=hints)
        except _Problem as problem:
            if right[0] == -1 and "returned None" in str(problem):
                raise _Problem(f"Case '{what}': the right answer is to abstain. {_ABSTAIN}") from None
            raise
        if not (isinstance(answer, tuple | list) and len(answer) == 2):
            raise _Problem("Return a pair (class, radius), e.g. (1, 0.93), or (-1, 0.0) to abstain.")
        if right[0] == -1 and (answer[0] is None or answer[1] is None):
            raise _Problem(f"Case '{what}': the right answer is to abstain. {_ABSTAIN}")
        label = _scalar(answer[0], "your class")
        radius = _scalar(answer[1], "your radius")
        if label != int(label):
            raise _Problem(f"The class should be a whole number (a class index or -1); yours is {label}.")
        if int(label) == -1 == right[0]:
            if radius != 0.0:
                raise _Problem(f"Case '{what}': you abstained with radius {radius:.4f}. {_ABSTAIN}")
            lines.append(f"{what}: abstain")
            continue
        if int(label) == right[0] and math.isclose(radius, right[1], rel_tol=1e-6):
            lines.append(f"{what}: class {right[0]}, radius {right[1]:.4f}")
            continue
        for mistake, advice in _CERTIFY_ADVICE.items():
            try:
                wrong = _certify_counts(counts0, counts, sigma, alpha, mistake)
            except ValueError:  # e.g. n fixed at 1,000 below the votes counted
                continue
            if wrong == right:
                continue
            if int(label) == wrong[0] and (
                wrong[0] == -1 or math.isclose(radius, wrong[1], rel_tol=1e-6) or (mistake == "no abstain")
            ):
                raise _Problem(
                    f"Case '{what}' (counts0 {counts0.tolist()}, counts {counts.tolist()}): {advice}"
                )
        expected = "abstain, (-1, 0.0)" if right[0] == -1 else f"({right[0]}, {right[1]:.4f})"
        raise _Problem(
            f"Case '{what}' (counts0 {counts0.tolist()}, counts {counts.tolist()}, sigma {sigma}, alpha "
            f"{alpha}): expected {expected}, you returned ({int(label)}, {radius:.4f})."
        )
    return _say(True, [f"CERTIFY on all {len(cases)} cases: " + "; ".join(lines) + "."])
