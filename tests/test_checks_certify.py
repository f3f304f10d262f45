"""Notebook 11's exercise checks: interval bounds through a small ReLU network, the Clopper-Pearson lower
bound by bisection, and CERTIFY from vote counts. A correct answer passes, each classic mistake gets its
own advice, odd answers get words."""

import math
import statistics
from decimal import Decimal, getcontext

import numpy as np

from course_utils import checks
from course_utils.certify import smoothing


def interval_network(layers, lower, upper, *, mistake=None):
    for i, (w, b) in enumerate(layers):
        pos, neg = np.maximum(w, 0), np.minimum(w, 0)
        if mistake == "ends":
            low, high = lower @ w + b, upper @ w + b
        elif mistake == "W for |W|":
            mid, rad = (lower + upper) / 2, (upper - lower) / 2
            low, high = mid @ w + b - rad @ w, mid @ w + b + rad @ w
        elif mistake == "swapped":
            low, high = upper @ pos + lower @ neg + b, lower @ pos + upper @ neg + b
        elif mistake == "sequential":
            lower = lower @ pos + upper @ neg + b  # overwritten before the upper bound uses it
            low, high = lower, upper @ pos + lower @ neg + b
        elif mistake == "no bias":
            low, high = lower @ pos + upper @ neg, upper @ pos + lower @ neg
        else:
            low, high = lower @ pos + upper @ neg + b, upper @ pos + lower @ neg + b
        if i < len(layers) - 1 or mistake == "relu on logits":
            if mistake != "no relu":
                high = np.maximum(high, 0)
                low = low if mistake == "relu upper only" else np.maximum(low, 0)
        lower, upper = low, high
    return lower, upper


def test_the_right_interval_network_passes(capsys):
    assert checks.check_interval_network(interval_network)
    out = capsys.readouterr().out
    assert "equal to ibp.interval_bounds" in out and "16 corners" in out


def test_the_centre_radius_form_passes_too(capsys):
    def centre_radius(layers, lower, upper):
        for i, (w, b) in enumerate(layers):
            mid, rad = (lower + upper) / 2, (upper - lower) / 2
            lower, upper = mid @ w + b - rad @ np.abs(w), mid @ w + b + rad @ np.abs(w)
            if i < len(layers) - 1:
                lower, upper = np.maximum(lower, 0), np.maximum(upper, 0)
        return lower, upper

    assert checks.check_interval_network(centre_radius)


def test_each_interval_mistake_gets_its_own_advice(capsys):
    cases = {
        "ends": "A negative weight swaps the ends",
        "W for |W|": "instead of |W|",
        "swapped": "You swapped the ends",
        "sequential": "from the *new* lower bound",
        "no bias": "left out the bias",
        "relu upper only": "Apply the ReLU to the lower bound as well",
        "relu on logits": "No ReLU after the last layer",
        "no relu": "left out the ReLU between the layers",
    }
    for mistake, advice in cases.items():
        assert not checks.check_interval_network(
            lambda l, lo, up, m=mistake: interval_network(l, lo, up, mistake=m)
        )
        out = capsys.readouterr().out
        assert advice in out, (mistake, out)


def test_unsound_or_loose_interval_bounds_are_named(capsys):
    def shrunk(layers, lower, upper):
        low, high = interval_network(layers, lower, upper)
        return low + 0.3 * (high - low), high - 0.3 * (high - low)

    def widened(layers, lower, upper):
        low, high = interval_network(layers, lower, upper)
        return low - 1.0, high + 1.0

    assert not checks.check_interval_network(shrunk)
    assert "not sound" in capsys.readouterr().out
    assert not checks.check_interval_network(widened)
    assert "contain every output but are not the interval bounds" in capsys.readouterr().out


def test_odd_interval_answers_get_advice_never_a_traceback(capsys):
    def unwritten(layers, lower, upper):
        raise NotImplementedError

    def elementwise(layers, lower, upper):
        return lower * layers[0][0], upper * layers[0][0]

    answers = {
        "Not written yet": unwritten,
        "forget `return`": lambda l, lo, up: None,
        "Return a pair": lambda l, lo, up: interval_network(l, lo, up)[0],
        "one row per box": lambda l, lo, up: tuple(v.T for v in interval_network(l, lo, up)),
        "(N, K); use @": elementwise,
    }
    for advice, fn in answers.items():
        assert not checks.check_interval_network(fn)
        out = capsys.readouterr().out
        assert advice in out and "Traceback" not in out, (advice, out)


def test_updating_the_bounds_one_after_the_other_is_named_even_when_shapes_clash(capsys):
    def sequential(layers, lower, upper):
        for i, (w, b) in enumerate(layers):
            pos, neg = np.maximum(w, 0), np.minimum(w, 0)
            lower = lower @ pos + upper @ neg + b
            upper = upper @ pos + lower @ neg + b  # uses the new lower bound: a shape error if D != K
            if i < len(layers) - 1:
                lower, upper = np.maximum(lower, 0), np.maximum(upper, 0)
        return lower, upper

    assert not checks.check_interval_network(sequential)
    assert "Compute both from the previous bounds at once" in capsys.readouterr().out


# ---------------------------------------------------------------------------- Clopper-Pearson bound
def lower_bound(k, n, alpha, *, mistake=None):
    if mistake == "p hat":
        return k / n
    if mistake == "normal":
        p = k / n
        return p - statistics.NormalDist().inv_cdf(1 - alpha) * math.sqrt(p * (1 - p) / n)
    if k == 0:
        return 0.0
    level = alpha / 2 if mistake == "two-sided" else (1 - alpha if mistake == "1 - alpha" else alpha)
    start = k + 1 if mistake == "strict tail" else k
    if start > n:
        return 1.0
    i = np.arange(start, n + 1)
    log_comb = math.lgamma(n + 1) - np.array([math.lgamma(j + 1) + math.lgamma(n - j + 1) for j in i])

    def log_tail(p):
        terms = log_comb + i * np.log(p) + (n - i) * np.log1p(-p)
        return terms.max() + np.log(np.exp(terms - terms.max()).sum())

    low, high = 0.0, 1.0
    for _ in range(60 if mistake != "coarse" else 12):
        mid = (low + high) / 2
        low, high = (mid, high) if log_tail(mid) < math.log(level) else (low, mid)
    return low


def test_the_right_bound_passes_and_matches_an_exact_computation(capsys):
    assert checks.check_clopper_pearson(lower_bound)
    out = capsys.readouterr().out
    assert "All 7 cases" in out and "n = 10,000" in out
    # The reference the check uses for n = 1,000 agrees with an exact computation in 60-digit decimals.
    getcontext().prec = 60

    def tail(k, n, p):
        return sum(Decimal(math.comb(n, i)) * p**i * (1 - p) ** (n - i) for i in range(k, n + 1))

    low, high = Decimal(0), Decimal(980) / 1000
    for _ in range(60):
        mid = (low + high) / 2
        low, high = (mid, high) if tail(980, 1000, mid) < Decimal("0.001") else (low, mid)
    assert math.isclose(float(low), smoothing.clopper_pearson_lower(980, 1000, 0.001), rel_tol=1e-9)


def test_each_bound_mistake_gets_its_own_advice(capsys):
    cases = {
        "p hat": "That is the estimate",
        "normal": "normal approximation",
        "two-sided": "two-sided interval",
        "strict tail": "P(X > k) = alpha",
        "1 - alpha": "P(X >= k) = 1 - alpha",
        "coarse": "bisect longer",
    }
    for mistake, advice in cases.items():
        assert not checks.check_clopper_pearson(lambda k, n, a, m=mistake: lower_bound(k, n, a, mistake=m))
        out = capsys.readouterr().out
        assert advice in out, (mistake, out)


def test_the_upper_end_is_named(capsys):
    def upper_end(k, n, alpha):
        return 1 - lower_bound(n - k, n, alpha)

    assert not checks.check_clopper_pearson(upper_end)
    assert "You found the upper end" in capsys.readouterr().out


def test_odd_bound_answers_get_advice_never_a_traceback(capsys):
    def unwritten(k, n, alpha):
        raise NotImplementedError

    def with_comb(k, n, alpha):  # float binomial coefficients: right for small n, overflow for n = 10,000
        if n > 1000:
            return float(math.comb(n, k)) * 0.5**n
        return lower_bound(k, n, alpha)

    answers = {
        "Not written yet": unwritten,
        "forget `return`": lambda k, n, a: None,
        "log space": with_comb,
        "plain number": lambda k, n, a: "about a half",
        "should be one number": lambda k, n, a: np.array([0.1, 0.2]),
    }
    for advice, fn in answers.items():
        assert not checks.check_clopper_pearson(fn)
        out = capsys.readouterr().out
        assert advice in out and "Traceback" not in out, (advice, out)


# ------------------------------------------------------------------------------ CERTIFY from counts
NORMAL = statistics.NormalDist()


def certify_from_counts(counts0, counts, sigma, alpha, *, mistake=None):
    c = int(np.argmax(counts if mistake == "selected on the estimate" else counts0))
    n = int(np.sum(counts))
    if mistake == "p hat":
        p = counts[c] / n
    else:
        p = smoothing.clopper_pearson_lower(int(counts[c]), n, alpha / 2 if mistake == "two-sided" else alpha)
    if p <= 0.5 and mistake != "no abstain":
        return -1, 0.0
    if mistake == "sigma squared":
        return c, sigma**2 * NORMAL.inv_cdf(p)
    if mistake == "cdf":
        return c, sigma * NORMAL.cdf(p)
    return c, sigma * NORMAL.inv_cdf(p)


def test_the_right_certify_passes(capsys):
    assert checks.check_certify_from_counts(certify_from_counts)
    out = capsys.readouterr().out
    assert "Correct" in out and "abstain" in out


def test_each_certify_mistake_gets_its_own_advice(capsys):
    cases = {
        "p hat": "Clopper-Pearson lower bound",
        "selected on the estimate": "biases the estimate upwards",
        "two-sided": "one-sided lower bound",
        "sigma squared": "the variance",
        "cdf": "its inverse",
        "no abstain": "abstain, return (-1, 0.0)",
    }
    for mistake, advice in cases.items():
        fn = lambda c0, c, s, a, m=mistake: certify_from_counts(c0, c, s, a, mistake=m)  # noqa: E731
        assert not checks.check_certify_from_counts(fn)
        out = capsys.readouterr().out
        assert advice in out, (mistake, out)


def test_a_fixed_n_and_n_from_the_selection_votes_are_named(capsys):
    def fixed_n(counts0, counts, sigma, alpha):
        c = int(np.argmax(counts0))
        p = smoothing.clopper_pearson_lower(int(min(counts[c], 1000)), 1000, alpha)
        return (c, sigma * NORMAL.inv_cdf(p)) if p > 0.5 else (-1, 0.0)

    def n_from_counts0(counts0, counts, sigma, alpha):
        c = int(np.argmax(counts0))
        p = smoothing.clopper_pearson_lower(int(counts[c]), int(counts0.sum()), alpha)
        return (c, sigma * NORMAL.inv_cdf(p)) if p > 0.5 else (-1, 0.0)

    assert not checks.check_certify_from_counts(fixed_n)
    assert "not a constant" in capsys.readouterr().out
    assert not checks.check_certify_from_counts(n_from_counts0)
    out = capsys.readouterr().out
    assert "not counts0.sum()" in out and "28" not in out, out


def test_abstaining_needs_exactly_minus_one_and_zero(capsys):
    def abstain_with(value):
        def fn(counts0, counts, sigma, alpha):
            answer = certify_from_counts(counts0, counts, sigma, alpha)
            return value if answer[0] == -1 else answer

        return fn

    for value in [(-1, 0.3), (None, 0.0), (-1, None), None]:
        assert not checks.check_certify_from_counts(abstain_with(value))
        out = capsys.readouterr().out
        assert "return exactly (-1, 0.0)" in out and "nan" not in out.lower(), (value, out)


def test_estimating_on_the_selection_votes_is_named(capsys):
    def on_selection(counts0, counts, sigma, alpha):
        return certify_from_counts(counts0, counts0, sigma, alpha)

    assert not checks.check_certify_from_counts(on_selection)
    assert "estimated p_A from `counts0`" in capsys.readouterr().out


def test_odd_certify_answers_get_advice_never_a_traceback(capsys):
    def unwritten(counts0, counts, sigma, alpha):
        raise NotImplementedError

    answers = {
        "Not written yet": unwritten,
        "forget `return`": lambda c0, c, s, a: None,
        "Return a pair": lambda c0, c, s, a: certify_from_counts(c0, c, s, a)[1],
        "whole number": lambda c0, c, s, a: (0.5, 0.1),
        "plain number": lambda c0, c, s, a: ("one", 0.2),
        "Clopper-Pearson": lambda c0, c, s, a: (int(np.argmax(c0)), s * NORMAL.inv_cdf(c.max() / c.sum())),
    }
    for advice, fn in answers.items():
        assert not checks.check_certify_from_counts(fn)
        out = capsys.readouterr().out
        assert advice in out and "Traceback" not in out, (advice, out)
