r"""Honest statistics for the report: intervals, paired tests, multiplicity, ties, findings.

Every comparison the report prints is computed here and becomes one row of the findings
table (:func:`findings_table`), with its estimate, interval, raw and adjusted p-value and a
verdict that calls a difference only when the adjusted p-value is below ``1 - level``.

* :func:`mean_interval`: Student's t interval on a mean, ``x_bar +- t_{n-1} s / sqrt(n)``.
* :func:`proportion_interval`: the exact Clopper-Pearson interval on a proportion
  (Clopper & Pearson 1934), from Beta quantiles.
* :func:`paired_difference`: the paired t-test on matched seeds (Student 1908).
* :func:`adjust`: Holm's step-down (Holm 1979, family-wise error) and Benjamini-Hochberg's
  step-up (Benjamini & Hochberg 1995, false discovery rate) adjusted p-values.
* :func:`detectable_effect`: the minimum detectable effect of the paired two-sided t-test at
  the sample size used (power from the noncentral t distribution; Cohen 1988, ch. 2), the
  resolution that gives a tie its meaning.
* :func:`collapse_identical`: configurations whose measurements are identical (backprop,
  adjoint and exact parameter-shift train the same model) become one row naming them all.

Uses numpy, pandas and scipy (``scipy.stats`` for the t, Beta and chi-square quantiles).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as _st

LEVEL = 0.95
#: Power at which :func:`detectable_effect` states a comparison's resolution.
POWER = 0.8

#: Columns of :func:`findings_table`, in order.
FINDING_COLUMNS = (
    "comparison", "estimate", "low", "high", "level", "p_value", "p_adjusted", "verdict", "rows",
    "family", "scope", "n", "sd", "detectable", "detectable_uncorrected",
)  # fmt: skip


def _check_level(level: float) -> float:
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    return float(level)


def _clean(values) -> np.ndarray:
    v = np.asarray(pd.Series(values, dtype="Float64").to_numpy(dtype=float, na_value=np.nan))
    return v[~np.isnan(v)]


@dataclass(frozen=True)
class Interval:
    """An estimate with a two-sided interval.

    Attributes:
        estimate: the point estimate.
        low: lower end (NaN when there is no interval, e.g. one value).
        high: upper end.
        n: the sample size it rests on.
        level: the nominal coverage.
    """

    estimate: float
    low: float
    high: float
    n: int
    level: float


def mean_interval(values, level: float = LEVEL) -> Interval:
    r"""Student's t interval on the mean: ``x_bar +- t_{n-1, (1+level)/2} s / sqrt(n)``.

    Holds (exact coverage) when the values are independent draws from a normal distribution,
    and approximately when their mean is close to normal; it is built for small ``n`` (3 to 10
    seeds), where the normal quantile would undercover. With n = 3 the t quantile is 4.30, so
    the interval is wide: that is the honest width of three seeds. NaNs are dropped.

    Args:
        values: the sample (e.g. one final accuracy per seed).
        level: nominal coverage in (0, 1).

    Returns:
        An :class:`Interval`; ``low`` and ``high`` are NaN for fewer than two values, and equal
        the mean when the values do not vary.
    """
    level = _check_level(level)
    v = _clean(values)
    n = int(v.size)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0, level)
    mean = float(v.mean())
    if n == 1:
        return Interval(mean, math.nan, math.nan, 1, level)
    half = float(_st.t.ppf((1 + level) / 2, n - 1) * v.std(ddof=1) / math.sqrt(n))
    return Interval(mean, mean - half, mean + half, n, level)


def proportion_interval(k: int, n: int, level: float = LEVEL) -> Interval:
    r"""Exact Clopper-Pearson interval for ``k`` successes in ``n`` trials (e.g. an accuracy).

    ``low = Beta^{-1}((1-level)/2; k, n-k+1)`` and ``high = Beta^{-1}((1+level)/2; k+1, n-k)``
    (Clopper & Pearson 1934), with ``low = 0`` for ``k = 0`` and ``high = 1`` for ``k = n``.
    Its coverage is at least ``level`` for every true proportion (it is conservative).

    Raises:
        ValueError: unless ``0 <= k <= n`` are integers and ``n >= 1``.
    """
    level = _check_level(level)
    if int(n) != n or int(k) != k or n < 1 or not 0 <= k <= n:
        raise ValueError(f"need integers 0 <= k <= n with n >= 1, got k={k!r}, n={n!r}")
    k, n = int(k), int(n)
    alpha = 1 - level
    low = 0.0 if k == 0 else float(_st.beta.ppf(alpha / 2, k, n - k + 1))
    high = 1.0 if k == n else float(_st.beta.ppf(1 - alpha / 2, k + 1, n - k))
    return Interval(k / n, low, high, n, level)


@dataclass(frozen=True)
class Test:
    """An estimate, its interval and a two-sided p-value against no difference."""

    estimate: float
    low: float
    high: float
    p_value: float
    n: int
    level: float
    sd: float = math.nan


def paired_difference(a, b, level: float = LEVEL) -> Test:
    r"""Paired t-test of ``a - b`` on matched units (same seeds, same data).

    The returned :class:`Test` also carries ``sd``, the sample standard deviation ``s_d`` of
    the differences (NaN for fewer than two), from which :func:`detectable_effect` gives the
    test's resolution.

    With ``d_i = a_i - b_i``: ``t = d_bar / (s_d / sqrt(n))`` on ``n - 1`` degrees of freedom,
    the interval ``d_bar +- t_{n-1} s_d / sqrt(n)`` (Student 1908). Holds when the
    differences are independent across seeds and close to normal. When every difference is
    the same the test is undefined: the p-value is 1 if they are all 0 and NaN otherwise
    (reported as no evidence, never as a certainty).

    Raises:
        ValueError: if ``a`` and ``b`` differ in length.
    """
    level = _check_level(level)
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired samples need equal lengths, got {a.shape} and {b.shape}")
    d = a - b
    d = d[~np.isnan(d)]
    interval = mean_interval(d, level)
    n = interval.n
    if n < 2:
        return Test(interval.estimate, math.nan, math.nan, math.nan, n, level)
    sd = float(d.std(ddof=1))
    if sd == 0:
        p = 1.0 if interval.estimate == 0 else math.nan
    else:
        t = interval.estimate / (sd / math.sqrt(n))
        p = float(2 * _st.t.sf(abs(t), n - 1))
    return Test(interval.estimate, interval.low, interval.high, p, n, level, sd)


def adjust(p_values, method: str = "holm") -> np.ndarray:
    r"""Adjusted p-values for multiple comparisons; NaNs are left out of the family and kept.

    * ``holm`` (Holm 1979): sorted ``p_(1) <= ... <= p_(m)``,
      ``p~_(i) = max_{j<=i} min(1, (m - j + 1) p_(j))``; controls the family-wise error.
    * ``bh`` (Benjamini & Hochberg 1995): ``p~_(i) = min_{j>=i} min(1, m p_(j) / j)``;
      controls the false discovery rate (independent or positively dependent tests).

    Raises:
        ValueError: for another method or a p-value outside [0, 1].
    """
    if method not in ("holm", "bh"):
        raise ValueError(f"unknown adjustment {method!r}; expected 'holm' or 'bh'")
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    if np.any((p[ok] < 0) | (p[ok] > 1)):
        raise ValueError(f"p-values must lie in [0, 1], got {p[ok].tolist()}")
    q = p[ok]
    m = q.size
    if m == 0:
        return out
    order = np.argsort(q, kind="stable")
    ranked = q[order]
    i = np.arange(1, m + 1)
    if method == "holm":
        adj = np.maximum.accumulate(np.minimum(1.0, (m - i + 1) * ranked))
    else:
        adj = np.minimum.accumulate(np.minimum(1.0, m * ranked / i)[::-1])[::-1]
    result = np.empty(m)
    result[order] = adj
    out[ok] = result
    return out


def _check_fraction(name: str, value: float) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 < value < 1:
        raise ValueError(f"{name} must be a number in (0, 1), got {value!r}")
    return float(value)


def paired_power(effect_size: float, n: int, alpha: float = 1 - LEVEL) -> float:
    r"""Power of the two-sided paired (one-sample) t-test at standardised effect ``d_z``.

    With ``n`` pairs the statistic ``T = d_bar / (s_d / sqrt(n))`` follows the noncentral t
    distribution with ``n - 1`` degrees of freedom and noncentrality ``lambda = d_z sqrt(n)``,
    ``d_z = delta / sigma_d`` (Cohen 1988, ch. 2): the test rejects when ``|T| > t_{1 -
    alpha/2, n-1}``, so the power is
    ``P(T > t_c) + P(T < -t_c)`` with ``T ~ t'_{n-1}(lambda)`` (``scipy.stats.nct``; the
    lower tail as ``P(T' > t_c)`` with ``T' ~ t'_{n-1}(-lambda)``, which stays finite where
    scipy's lower-tail cdf returns NaN for large ``lambda``).

    Raises:
        ValueError: for ``n < 2`` or ``alpha`` outside (0, 1).
    """
    alpha = _check_fraction("alpha", alpha)
    if isinstance(n, bool) or int(n) != n or n < 2:
        raise ValueError(f"n must be an integer >= 2 (pairs), got {n!r}")
    df, lam = int(n) - 1, float(effect_size) * math.sqrt(n)
    crit = float(_st.t.ppf(1 - alpha / 2, df))
    return float(_st.nct.sf(crit, df, lam) + _st.nct.sf(crit, df, -lam))


def detectable_effect_size(n: int, alpha: float = 1 - LEVEL, power: float = POWER) -> float:
    r"""The smallest standardised effect ``d_z = delta / sigma_d`` detected with ``power``.

    Solves ``paired_power(d_z, n, alpha) = power`` for ``d_z > 0`` (the power rises with
    ``d_z``; Brent's root finder on the exact noncentral-t power). For large ``n`` it tends to
    ``(z_{1-alpha/2} + z_{power}) / sqrt(n)``; Cohen's (1988) sample sizes for the paired test
    follow from it (``d_z = 0.5`` needs 34 pairs at alpha 0.05 and 80% power).

    Returns:
        ``d_z``; NaN for ``n < 2`` (no test).

    Raises:
        ValueError: for ``alpha`` or ``power`` outside (0, 1), or ``power <= alpha``.
    """
    alpha = _check_fraction("alpha", alpha)
    power = _check_fraction("power", power)
    if power <= alpha:
        raise ValueError(f"power must exceed alpha ({alpha:g}), got {power!r}")
    if isinstance(n, bool) or int(n) != n:
        raise ValueError(f"n must be an integer (pairs), got {n!r}")
    if n < 2:
        return math.nan
    from scipy.optimize import brentq

    normal = float(_st.norm.ppf(1 - alpha / 2) + _st.norm.ppf(power)) / math.sqrt(n)
    high = 2 * normal + 1.0
    while paired_power(high, n, alpha) < power:
        high *= 2
    return float(brentq(lambda d: paired_power(d, n, alpha) - power, 0.0, high, xtol=1e-10))


def detectable_effect(sd: float, n: int, alpha: float = 1 - LEVEL, power: float = POWER) -> float:
    r"""Minimum detectable effect of the paired two-sided t-test, in the differences' units.

    ``delta_min = d_z(n, alpha, power) * s_d`` (:func:`detectable_effect_size`): the smallest
    true mean difference the test at level ``alpha`` rejects with probability ``power`` when
    the differences' standard deviation is ``s_d`` (the sample value plugged in). For a family
    of ``m`` comparisons under Holm's correction, ``alpha / m`` is the worst case (the first
    step of the step-down) and ``alpha`` the best. A tie says only that the true difference is
    likely below this.

    Returns:
        ``delta_min``; NaN for ``n < 2`` or a NaN ``sd``; 0 when ``sd`` is 0 (every
        difference equal: no spread, no resolution limit from the seeds).

    Raises:
        ValueError: for a negative ``sd`` or a bad ``alpha`` / ``power``.
    """
    sd = float(sd)
    if sd < 0:
        raise ValueError(f"sd must be >= 0 (a standard deviation), got {sd!r}")
    size = detectable_effect_size(n, alpha, power)
    if math.isnan(sd) or math.isnan(size):
        return math.nan
    return size * sd


def tie_reading(
    detectable: float, n: int, *, scale: float = 100, unit: str = "points", power: float = POWER
) -> str:
    """A tie with its resolution: ``tie: effects below X points not detectable at 80% ...``.

    ``detectable`` (e.g. :func:`detectable_effect` of an accuracy difference) is multiplied
    by ``scale`` (100: accuracy to points) and printed to 2 significant digits. A tie is
    never "no difference": it is a difference this study cannot see.
    """
    if detectable is None or math.isnan(detectable):
        return "tie (no detectable effect computable)"
    if detectable == 0:
        return f"tie (every paired difference is 0 over {n} seeds: no spread)"
    return (
        f"tie: effects below {detectable * scale:.2g} {unit} not detectable at {power:.0%} "
        f"power with {n} seeds"
    )


def tie_text(level: float) -> str:
    """The verdict for a difference not found: ``tie (no difference at level L ...)``."""
    return f"tie (no difference at level {level:g} after correction)"


def untested_text() -> str:
    """The verdict where no test was possible (one seed; no spread): neither difference nor tie."""
    return "untested (no test possible: too few values, or no spread)"


def is_called(verdict_text: str, level: float = LEVEL) -> bool:
    """Whether a verdict claims a difference: neither a tie nor untested."""
    return verdict_text not in (tie_text(level), untested_text())


def verdict(
    estimate: float,
    p_adjusted: float,
    level: float = LEVEL,
    higher: str = "higher",
    lower: str = "lower",
) -> str:
    """``higher`` / ``lower`` when ``p_adjusted < 1 - level``, by the estimate's sign; else a tie.

    A NaN p-value (no test possible, e.g. one seed) is :func:`untested_text`: absence of
    evidence is never called a difference, nor reported as a tie it was never tested for.
    """
    level = _check_level(level)
    if p_adjusted is None or math.isnan(p_adjusted):
        return untested_text()
    if p_adjusted >= 1 - level or estimate == 0:
        return tie_text(level)
    return higher if estimate > 0 else lower


def collapse_identical(
    frame: pd.DataFrame, keys, value_columns, *, sep: str = " = "
) -> pd.DataFrame:
    """Merge configurations whose rows are identical in every measured column.

    A configuration is a group of ``frame`` by ``keys`` (e.g. method and shots); its rows are
    compared, after sorting by the remaining columns (seed, epoch, ...), on those columns and
    ``value_columns``. Configurations that match exactly become one: its first member's rows,
    with each key column that differs among the members replaced by the members' values
    joined with ``sep`` (e.g. ``"adjoint = backprop = parameter-shift"``).

    Returns:
        The frame with one set of rows per distinct configuration, in the original order.
    """
    keys = list(keys)
    values = list(value_columns)
    missing = [c for c in [*keys, *values] if c not in frame.columns]
    if missing:
        raise ValueError(f"columns {missing} are not in the frame; it has {list(frame.columns)}")
    context = [c for c in frame.columns if c not in keys and c not in values]
    groups: dict[tuple, list] = {}
    order = []
    for key, group in frame.groupby(keys, dropna=False, sort=False):
        sub = group[[*context, *values]]
        if context:
            sub = sub.sort_values(context, kind="stable")
        signature = tuple(map(tuple, sub.astype(object).where(sub.notna(), None).to_numpy()))
        if signature not in groups:
            groups[signature] = []
            order.append(signature)
        groups[signature].append((key if isinstance(key, tuple) else (key,), group))
    parts = []
    for signature in order:
        members = groups[signature]
        first = members[0][1].copy()
        for j, column in enumerate(keys):
            names = []
            for key, _ in members:
                text = "" if pd.isna(key[j]) else str(key[j])
                if text not in names:
                    names.append(text)
            if len(names) > 1:
                first[column] = sep.join(sorted(names))
        parts.append(first)
    return pd.concat(parts).sort_index(kind="stable") if parts else frame.iloc[0:0]


@dataclass
class Finding:
    """One comparison the report makes (see :func:`findings_table`).

    Attributes:
        comparison: what is compared, in words.
        estimate, low, high: the estimate and its interval.
        p_value: two-sided p-value against no difference (NaN: no test).
        rows: the row indices or task keys it was computed from, as text.
        higher, lower: the verdict words for a positive / negative estimate.
        level: nominal level.
        family: the comparisons adjusted together (e.g. ``hybrid minus classical``).
        scope: what the comparison is within (e.g. the data set), for per-scope summaries.
        n: the pairs (seeds) of a paired t-test, 0 when not one.
        sd: the standard deviation of its paired differences (NaN: not a paired t-test);
            with ``n`` it gives the comparison's detectable effect (:func:`findings_table`).
    """

    comparison: str
    estimate: float
    low: float
    high: float
    p_value: float
    rows: str
    higher: str = "higher"
    lower: str = "lower"
    level: float = LEVEL
    family: str = "all"
    scope: str = ""
    n: int = 0
    sd: float = math.nan


def _detectable(finding: Finding, alpha: float) -> float:
    if finding.n < 2 or math.isnan(finding.sd):
        return math.nan
    return detectable_effect(finding.sd, finding.n, alpha)


def findings_table(findings: list[Finding], method: str = "holm") -> pd.DataFrame:
    """The findings as a table, p-values adjusted within each family of comparisons.

    A family is the set of comparisons one reading of the report rests on (all hybrid
    configurations against classical; every configuration against the best; ...); Holm's
    correction within it bounds the chance of any false "higher"/"lower" in that reading.

    For a paired t-test (a finding with ``n`` and ``sd``), ``detectable`` is its minimum
    detectable effect (:func:`detectable_effect`, :data:`POWER`) at Holm's worst-case level
    ``alpha / m`` (``m``: the tested comparisons of its family), ``detectable_uncorrected``
    at ``alpha = 1 - level``: a tie means the true difference is likely below them, not zero.

    Returns:
        Columns ``comparison, estimate, low, high, level, p_value, p_adjusted, verdict, rows,
        family, scope, n, sd, detectable, detectable_uncorrected`` (:data:`FINDING_COLUMNS`),
        one row per finding, in order.
    """
    if not findings:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in FINDING_COLUMNS})
    families = np.array([f.family for f in findings], dtype=object)
    adjusted = np.full(len(findings), np.nan)
    tested = np.zeros(len(findings), dtype=int)
    for family in dict.fromkeys(families):
        mask = families == family
        p = [f.p_value for f, m in zip(findings, mask, strict=True) if m]
        adjusted[mask] = adjust(p, method)
        tested[mask] = max(1, int(np.sum(~np.isnan(np.asarray(p, dtype=float)))))
    rows = [
        {
            "comparison": f.comparison,
            "estimate": float(f.estimate),
            "low": float(f.low),
            "high": float(f.high),
            "level": float(f.level),
            "p_value": float(f.p_value),
            "p_adjusted": float(p),
            "verdict": verdict(f.estimate, p, f.level, f.higher, f.lower),
            "rows": f.rows,
            "family": f.family,
            "scope": f.scope,
            "n": int(f.n),
            "sd": float(f.sd),
            "detectable": _detectable(f, (1 - f.level) / m),
            "detectable_uncorrected": _detectable(f, 1 - f.level),
        }
        for f, p, m in zip(findings, adjusted, tested, strict=True)
    ]
    return pd.DataFrame(rows, columns=list(FINDING_COLUMNS))
