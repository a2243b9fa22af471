r"""Barren plateaus and gradient estimators: summaries, findings, figures and report sections.

Gradient variance (the ``variance`` table):

* **Variance against layers** (McClean et al., Nat. Commun. 9, 4812 (2018), Fig. 4): at fixed
  ``n`` the variance of ``d<Z_0 Z_1>/d theta_1`` over random circuits approaches the 2-design
  value ``N / (3 (N^2 - 1))``, ``N = 2^n``
  (:func:`~qgradbench.analysis.scaling.two_design_variance`) as the circuits deepen.
  :func:`layer_sweep` tabulates the ratio ``Var / Var_2design`` with its normal interval
  ``(Var +- z se) / Var_2design``; :func:`layer_sweep_findings` tests it against 1 at the
  deepest depth of each ``n``.
* **Variance against qubits** (McClean et al. 2018; Cerezo et al., Nat. Commun. 12, 1791
  (2021)): :func:`scaling_fits` fits ``Var = a b^n`` and ``Var = a n^p`` to every curve
  (:func:`~qgradbench.analysis.scaling.fit_models`) and tests each model's lack of fit,
  ``P(chi2_dof > chi2)`` (a model that fits within the standard errors has ``chi2 ~ dof``);
  for ``Z_0 Z_1`` curves of linearly growing depth, the exponential slope against the 2-design
  ``ln(1/2)`` (:func:`~qgradbench.analysis.scaling.slope_verdict`).
* **Variance with shots**: a shot-based estimator's variance over random circuits is, by the
  law of total variance, the landscape variance plus the mean shot variance,
  ``Var[g_hat] = Var_theta[E(g_hat|theta)] + E_theta[Var(g_hat|theta)]``.
  :func:`shot_inflation` sets the measured variance beside ``exact + shot part`` and tests
  whether the landscape part ``Var[g_hat] - shot part`` is resolved above 0.

Gradient estimators (the ``estimator`` table):

* **Finite-difference step** (Mari, Bromley & Killoran, PRA 103, 012405 (2021)): for an
  expectation value measured with ``N`` shots, forward differences have
  ``MSE(h) ~ (h f''/2)^2 + 2 sigma^2 / (N h^2)`` (best ``h* ~ N^(-1/4)``) and central
  differences ``(h^2 f'''/6)^2 + sigma^2 / (2 N h^2)`` (``h* ~ N^(-1/6)``); in general
  ``a h^(2p) + c / h^2`` for a stencil of order ``p``, whose minimum is at
  ``h* = (c / (p a))^(1 / (2p + 2))``. :func:`fd_steps` and :func:`fd_best` give the best
  measured step per shot budget with its ties, the least-squares fit of that model and the
  theory's exponent. Parameter-shift is the ``h = pi/2`` reference (central differences at
  ``pi/2`` rescaled by ``pi/2``).
* **SPSA's budget split** (Spall 1992): at a fixed budget ``B`` shots per Jacobian, ``D``
  directions leave ``B / (2D)`` shots per circuit. :func:`spsa_splits` and :func:`spsa_best`
  give the MSE per split and the best split with its ties.

Bests are chosen with ties: the lowest mean MSE over the same circuits is compared with every
other candidate by a paired t-test over circuits, Holm-adjusted within the comparison's family
(:func:`best_with_ties`). Every reading is a :class:`~qgradbench.analysis.stats.Finding`.
:func:`variance_section` and :func:`estimator_section` write them into a
:class:`~qgradbench.analysis.report.Report`. Pure numpy, pandas, scipy and matplotlib.
"""

from __future__ import annotations

import ast
import math
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from scipy import stats as _st

from qgradbench.analysis import figures
from qgradbench.analysis.scaling import (
    MODELS,
    TWO_DESIGN_SLOPE,
    fit_models,
    slope_verdict,
    two_design_variance,
)
from qgradbench.analysis.stats import (
    LEVEL,
    Finding,
    findings_table,
    mean_interval,
    tie_text,
)
from qgradbench.analysis.style import (
    _EXTRA_COLOURS,
    _MARKER_SIZE,
    _finish,
    _style,
    method_palette,
)
from qgradbench.analysis.summaries import _rows_text, best_with_ties, estimator_findings

#: Depth rules of the variance experiment as text.
DEPTH_NAMES = {"1": "depth 1", "log": "depth ceil(log2 n)", "linear": "depth n"}

#: Columns that name one gradient-variance curve (with ``_depth``).
CURVE_KEYS = ("label", "ansatz", "observable", "param", "method", "shots")

#: Stencil order of the finite-difference strategies' defaults.
DEFAULT_ORDER = {"forward": 1, "backward": 1, "central": 2}


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _z(level: float) -> float:
    return NormalDist().inv_cdf((1 + level) / 2)


def _normal_p(z: float) -> float:
    return math.erfc(abs(z) / math.sqrt(2)) if math.isfinite(z) else math.nan


def _null(value: object) -> bool:
    return value is None or (not isinstance(value, str | dict) and bool(pd.isna(value)))


def options(value: object) -> dict:
    """A row's ``method_options`` (its ``repr`` text, or a dict) as a dict; ``{}`` when empty."""
    if _null(value) or value == "":
        return {}
    if isinstance(value, dict):
        return value
    parsed = ast.literal_eval(str(value))
    if not isinstance(parsed, dict):
        raise ValueError(f"method_options must be a dict's repr, got {value!r}")
    return parsed


def depth_text(row) -> str:
    """The depth of a variance row: ``depth ceil(log2 n)``, ``10 layers/qubit`` or ``5 layers``."""
    rule = row.get("depth")
    if not _null(rule):
        return DEPTH_NAMES.get(str(rule), f"depth {rule}")
    per_qubit = row.get("layers_per_qubit")
    if not _null(per_qubit):
        return f"{int(per_qubit)} layers/qubit"
    n = int(row["n_layers"])
    return f"{n} layer{'' if n == 1 else 's'}"


def _keys(frame: pd.DataFrame, wanted) -> list[str]:
    return [k for k in wanted if k in frame.columns]


def _key_dict(keys: list[str], key) -> dict:
    return dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True))


def _exact(frame: pd.DataFrame) -> pd.Series:
    return frame["shots"].isna() if "shots" in frame else pd.Series(True, index=frame.index)


def _with_depth(variance: pd.DataFrame) -> pd.DataFrame:
    frame = variance.copy()
    frame["_depth"] = [depth_text(r) for r in frame.to_dict("records")]
    fixed = pd.Series(True, index=frame.index)
    for column in ("depth", "layers_per_qubit"):
        if column in frame:
            fixed &= frame[column].isna()
    frame["_fixed"] = fixed
    return frame


def _shots_text(value: object) -> str:
    return "exact" if _null(value) else f"{int(value)} shots"


def _curve_name(key: dict) -> str:
    parts = [str(key[k]) for k in ("observable", "_depth", "ansatz") if key.get(k, "") != ""]
    name = ", ".join(parts) + f", {key.get('method', '')}"
    if "shots" in key and not _null(key["shots"]):
        name += f" ({int(key['shots'])} shots)"
    return name


# --------------------------------------------------------------------------------------------
# Variance against layers (McClean et al. 2018, Fig. 4)
# --------------------------------------------------------------------------------------------

SWEEP_KEYS = ("label", "ansatz", "observable", "param", "method", "n_qubits")


def _layer_sweep_rows(frame: pd.DataFrame) -> pd.Series:
    """Rows of exact, fixed-depth curves that vary ``n_layers`` at one ``n`` (a layer sweep)."""
    mask = pd.Series(False, index=frame.index)
    candidates = frame[frame["_fixed"] & _exact(frame)]
    keys = _keys(candidates, SWEEP_KEYS)
    for _, group in candidates.groupby(keys, dropna=False):
        if group["n_layers"].nunique() >= 2:
            mask[group.index] = True
    return mask


def layer_sweep(variance: pd.DataFrame, level: float = LEVEL) -> pd.DataFrame:
    """Variance against the number of layers at fixed ``n``, beside the 2-design value.

    Returns:
        One row per (curve, ``n_qubits``, ``n_layers``) of the exact fixed-depth rows that vary
        ``n_layers`` at one ``n``: ``variance``, ``variance_se``, and for ``zz`` first-parameter
        curves ``two_design`` (``N / (3 (N^2 - 1))``), ``ratio = variance / two_design`` and its
        normal interval ``ratio_low``, ``ratio_high`` (``(variance +- z se) / two_design``);
        else NaN.
    """
    frame = _with_depth(variance)
    rows = frame[_layer_sweep_rows(frame)]
    columns = [*SWEEP_KEYS, "n_layers", "variance", "variance_se", "two_design", "ratio"]
    if rows.empty:
        return pd.DataFrame(columns=[*columns, "ratio_low", "ratio_high"])
    keys = _keys(rows, (*SWEEP_KEYS, "n_layers"))
    out = rows.groupby(keys, dropna=False, as_index=False)[["variance", "variance_se"]].mean()
    mcclean = (out["observable"] == "zz") & (out["param"].astype(str) == "first")
    design = two_design_variance(out["n_qubits"].to_numpy(dtype=float))
    out["two_design"] = np.where(mcclean, design, np.nan)
    z = _z(level)
    out["ratio"] = out["variance"] / out["two_design"]
    out["ratio_low"] = (out["variance"] - z * out["variance_se"]) / out["two_design"]
    out["ratio_high"] = (out["variance"] + z * out["variance_se"]) / out["two_design"]
    return out


def layer_sweep_findings(
    variance: pd.DataFrame, sweep: pd.DataFrame, level: float = LEVEL
) -> list[Finding]:
    """At the deepest depth of each ``n``: the variance against the 2-design value.

    The estimate is ``ratio - 1`` with the normal interval of the variance (its standard error
    from the fourth moment) and the two-sided normal p-value of
    ``z = (variance - two_design) / se``; family ``variance at depth against the 2-design``.
    """
    findings = []
    keys = [k for k in SWEEP_KEYS if k in sweep]
    for key, group in sweep[sweep["two_design"].notna()].groupby(keys, dropna=False):
        key = _key_dict(keys, key)
        deepest = group.loc[group["n_layers"].idxmax()]
        z = (deepest["variance"] - deepest["two_design"]) / deepest["variance_se"]
        source = variance
        for k, v in {**key, "n_layers": deepest["n_layers"]}.items():
            source = source[source[k] == v] if k in source else source
        findings.append(
            Finding(
                f"{key['observable']} variance at {int(deepest['n_layers'])} layers, "
                f"{int(key['n_qubits'])} qubits ({key.get('ansatz', '')}) over the 2-design "
                "value N/(3(N^2-1)), minus 1 (McClean et al. 2018)",
                deepest["ratio"] - 1,
                deepest["ratio_low"] - 1,
                deepest["ratio_high"] - 1,
                _normal_p(z),
                _rows_text(source),
                "above the 2-design value",
                "below the 2-design value",
                level,
                "variance at depth against the 2-design",
            )
        )
    return findings


# --------------------------------------------------------------------------------------------
# Variance against qubits: exponential or power law (McClean 2018, Cerezo 2021)
# --------------------------------------------------------------------------------------------


#: Variances at or below this are numerically zero (a gradient that vanishes identically).
ZERO_VARIANCE = 1e-12


def _zero_qubits(points: pd.DataFrame) -> list[int]:
    """Qubit counts whose variance is numerically zero (:data:`ZERO_VARIANCE`)."""
    return [int(n) for n, v in zip(points["n_qubits"], points["variance"], strict=True)
            if not v > ZERO_VARIANCE]  # fmt: skip


def _scaling_curves(variance: pd.DataFrame, zero: bool = False):
    """``(key, points, rows)`` per exact curve of at least two qubit counts (no layer sweeps).

    Curves with a numerically zero variance (or standard error) at some ``n`` cannot be
    fitted on a log scale; they are yielded only with ``zero=True`` (and then only they).
    """
    frame = _with_depth(variance)
    frame = frame[_exact(frame) & ~_layer_sweep_rows(frame)]
    keys = [*_keys(frame, CURVE_KEYS), "_depth"]
    for key, group in frame.groupby(keys, dropna=False, sort=True):
        points = group.groupby("n_qubits", as_index=False)[["variance", "variance_se"]].mean()
        if len(points) >= 2 and zero and _zero_qubits(points):
            yield _key_dict(keys, key), points, group
            continue
        if zero or _zero_qubits(points):
            continue
        if (
            len(points) < 2
            or (points["variance"] <= 0).any()
            or not (points["variance_se"] > 0).all()
        ):
            continue
        yield _key_dict(keys, key), points, group


def _deep(key: dict) -> bool:
    return "layers/qubit" in key["_depth"] or key["_depth"] == DEPTH_NAMES["linear"]


def _fit_p(fit) -> float:
    """Lack-of-fit p-value ``P(chi2_dof > chi2)`` (NaN without degrees of freedom)."""
    return float(_st.chi2.sf(fit.chi2, fit.dof)) if fit.dof > 0 else math.nan


def scaling_fits(variance: pd.DataFrame, level: float = LEVEL):
    """Both decay models fitted to every exact variance curve, with lack-of-fit tests.

    A curve is a group of exact rows by :data:`CURVE_KEYS` and depth (``k layers/qubit``, a
    depth rule, or a fixed layer count), over at least two qubit counts; layer sweeps (fixed
    ``n`` varying layers) are left to :func:`layer_sweep`.

    Returns:
        ``(table, findings)``: per curve ``depth``, ``qubits``, ``exp_slope`` (``ln b`` per
        qubit), ``exp_se`` (scaled by ``sqrt(chi2/dof)`` above 1), ``exp_chi2_dof``, ``exp_p``
        (lack of fit), ``power_exponent``, ``power_se``, ``power_chi2_dof``, ``power_p``,
        ``preferred`` (lower ``chi2/dof``) and ``two_design`` (for deep ``zz`` first-parameter
        curves, the exponential slope against ``ln(1/2)``). Findings: each model's lack of fit
        (family ``variance decay model fit``) and the 2-design slope verdicts (family
        ``2-design slope``).
    """
    rows, findings = [], []
    z = _z(level)
    for key, points, group in _scaling_curves(variance):
        fits = fit_models(points)
        e, p = fits.exponential, fits.power_law
        n = points["n_qubits"]
        name = _curve_name(key)
        row = {
            **{k: v for k, v in key.items() if k != "_depth"},
            "depth": key["_depth"],
            "qubits": f"{int(n.min())}-{int(n.max())}",
            "exp_slope": e.slope,
            "exp_se": e.scaled_se,
            "exp_chi2_dof": e.chi2_dof,
            "exp_p": _fit_p(e),
            "power_exponent": p.slope,
            "power_se": p.scaled_se,
            "power_chi2_dof": p.chi2_dof,
            "power_p": _fit_p(p),
            "preferred": fits.preferred,
            "two_design": "",
        }
        for model, fit in zip(MODELS, (e, p), strict=True):
            if fit.dof > 0:
                findings.append(
                    Finding(
                        f"lack of fit of the {model} model to {name}, {row['qubits']} qubits "
                        f"(chi2/dof = {fit.chi2_dof:.3g} on {fit.dof} dof)",
                        fit.chi2_dof,
                        math.nan,
                        math.nan,
                        _fit_p(fit),
                        _rows_text(group),
                        "does not fit",
                        "does not fit",
                        level,
                        "variance decay model fit",
                    )
                )
        if key.get("observable") == "zz" and str(key.get("param")) == "first" and _deep(key):
            v = slope_verdict(e.slope, e.scaled_se, TWO_DESIGN_SLOPE, k=z)
            row["two_design"] = v.text
            diff = e.slope - TWO_DESIGN_SLOPE
            findings.append(
                Finding(
                    f"{name} exponential ln-slope minus the 2-design ln(1/2) (McClean et al. "
                    "2018; se scaled by sqrt(chi2/dof))",
                    diff,
                    diff - z * e.scaled_se,
                    diff + z * e.scaled_se,
                    v.p_value,
                    _rows_text(group),
                    "shallower than 2-design",
                    "steeper than 2-design",
                    level,
                    "2-design slope",
                )
            )
        rows.append(row)
    for key, points, _ in _scaling_curves(variance, zero=True):
        n = points["n_qubits"]
        zeros = ", ".join(map(str, _zero_qubits(points)))
        rows.append(
            {
                **{k: v for k, v in key.items() if k != "_depth"},
                "depth": key["_depth"],
                "qubits": f"{int(n.min())}-{int(n.max())}",
                "preferred": f"not fitted: variance 0 at n = {zeros}",
                "two_design": "",
            }
        )
    return pd.DataFrame(rows), findings


# --------------------------------------------------------------------------------------------
# Variance with shots
# --------------------------------------------------------------------------------------------

PAIR_KEYS = ("ansatz", "observable", "param", "_depth", "n_qubits", "seed", "samples")


def shot_inflation(variance: pd.DataFrame, level: float = LEVEL) -> pd.DataFrame:
    r"""The variance of shot-based estimates against the exact landscape variance.

    For every row with shots: ``exact_variance`` is the exact-method variance on the same
    circuits (the row of the same ansatz, observable, parameter, depth, ``n``, seed and
    samples without shots; else the row's own ``landscape_variance``), ``expected`` is
    ``exact_variance + shot_variance`` (the law of total variance), and ``resolved`` is
    ``variance - shot_variance``, the landscape part left after subtracting the shot part,
    with ``resolved_se = sqrt(variance_se^2 + shot_variance_se^2)`` (the two are positively
    correlated, so this errs wide) and its normal interval.

    Returns:
        One row per shot row: curve keys, ``depth``, ``n_qubits``, ``shots``, ``variance``,
        ``variance_se``, ``exact_variance``, ``shot_variance``, ``expected``, ``inflation``
        (``variance / exact_variance``), ``resolved``, ``resolved_se``, ``resolved_low``,
        ``resolved_high``, ``rows``.
    """
    frame = _with_depth(variance)
    if "landscape_variance" not in frame or "shots" not in frame:
        return pd.DataFrame()
    shot_rows = frame[frame["shots"].notna() & frame["landscape_variance"].notna()]
    exact = frame[_exact(frame)]
    pair = _keys(frame, PAIR_KEYS)
    lookup = exact.groupby(pair, dropna=False)["variance"].mean().to_dict() if len(exact) else {}
    z = _z(level)
    out = []
    for index, r in shot_rows.iterrows():
        key = tuple(r[k] for k in pair)
        exact_variance = lookup.get(key if len(pair) > 1 else key[0], r["landscape_variance"])
        se = math.hypot(r["variance_se"], r["shot_variance_se"])
        resolved = r["variance"] - r["shot_variance"]
        out.append(
            {
                **{k: r[k] for k in _keys(frame, CURVE_KEYS)},
                "depth": r["_depth"],
                "n_qubits": int(r["n_qubits"]),
                "variance": r["variance"],
                "variance_se": r["variance_se"],
                "exact_variance": exact_variance,
                "shot_variance": r["shot_variance"],
                "expected": exact_variance + r["shot_variance"],
                "inflation": r["variance"] / exact_variance,
                "resolved": resolved,
                "resolved_se": se,
                "resolved_low": resolved - z * se,
                "resolved_high": resolved + z * se,
                "rows": _rows_text(frame.loc[[index]]),
            }
        )
    return pd.DataFrame(out)


def shot_findings(inflation: pd.DataFrame, level: float = LEVEL) -> list[Finding]:
    """Per shot level and ``n``: is the landscape variance resolved above the shot part?

    Estimate ``variance - shot_variance`` with its normal interval and two-sided p-value;
    family ``landscape variance resolved at N shots`` (Holm over the qubit counts).
    """
    findings = []
    for r in inflation.itertuples():
        shots = int(r.shots)
        findings.append(
            Finding(
                f"landscape part (variance - shot part) of {r.method} at {shots} shots, "
                f"{r.observable}, {r.depth}, {r.n_qubits} qubits",
                r.resolved,
                r.resolved_low,
                r.resolved_high,
                _normal_p(r.resolved / r.resolved_se) if r.resolved_se > 0 else math.nan,
                r.rows,
                "resolved above the shot noise",
                "below the shot part",
                level,
                f"landscape variance resolved at {shots} shots",
            )
        )
    return findings


# --------------------------------------------------------------------------------------------
# Bests with ties (paired over circuits)
# --------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------
# Finite-difference step sweep (Mari, Bromley & Killoran 2021)
# --------------------------------------------------------------------------------------------

FD_KEYS = ("label", "n_qubits", "n_layers", "strategy", "approx_order", "budget")


def _fd_rows(estimator: pd.DataFrame) -> pd.DataFrame:
    """Finite-difference rows at a budget with ``step``, ``strategy`` and ``approx_order``."""
    if "budget" not in estimator:
        return estimator.iloc[0:0]
    rows = estimator[(estimator["method"] == "finite-diff") & estimator["budget"].notna()].copy()
    if rows.empty:
        return rows
    opts = [options(v) for v in rows.get("method_options", pd.Series([None] * len(rows)))]
    rows["strategy"] = [o.get("strategy", "forward") for o in opts]
    rows["approx_order"] = [
        int(o.get("approx_order", DEFAULT_ORDER[s])) for o, s in zip(opts, rows["strategy"],
                                                                     strict=True)
    ]  # fmt: skip
    if "step" not in rows or rows["step"].isna().any():
        given = [o.get("h") for o in opts]
        old = rows["step"] if "step" in rows else pd.Series([None] * len(rows), index=rows.index)
        rows["step"] = [s if not _null(s) else g for s, g in zip(old, given, strict=True)]
    return rows[rows["step"].notna()].astype({"step": float})


def _swept(rows: pd.DataFrame, keys, column: str) -> pd.DataFrame:
    """Rows of groups (by ``keys``) with at least two distinct values of ``column``."""
    keys = _keys(rows, keys)
    keep = [g for _, g in rows.groupby(keys, dropna=False) if g[column].nunique() >= 2]
    return pd.concat(keep) if keep else rows.iloc[0:0]


def _point_summary(group: pd.DataFrame, level: float) -> dict:
    mse = mean_interval(group["mse"], level)
    floor2 = group["variance"].astype(float) / group["repeats"].astype(float)
    return {
        "shots": int(group["shots"].iloc[0]),
        "mse": mse.estimate,
        "mse_low": mse.low,
        "mse_high": mse.high,
        "bias2": float((group["bias"].astype(float) ** 2).mean()),
        "bias2_excess": float((group["bias"].astype(float) ** 2 - floor2).mean()),
        "variance": float(group["variance"].astype(float).mean()),
        "circuits": int(group["circuit"].nunique()),
    }


def _sweep_points(rows: pd.DataFrame, base: tuple, swept: str, level: float) -> pd.DataFrame:
    """One summary row (:func:`_point_summary`) per value of ``swept`` in the swept groups."""
    rows = _swept(rows, base, swept)
    keys = _keys(rows, (*base, swept))
    out = [
        {**_key_dict(keys, key), **_point_summary(group, level)}
        for key, group in rows.groupby(keys, dropna=False, sort=True)
    ]
    return pd.DataFrame(out)


def fd_steps(estimator: pd.DataFrame, level: float = LEVEL) -> pd.DataFrame:
    """MSE, squared bias and variance of finite differences against the step, per budget.

    Returns:
        One row per (label, n_qubits, n_layers, strategy, approx_order, budget, step) of the
        groups that sweep the step: ``shots`` (per circuit), ``mse`` (mean over circuits) with
        its t-interval ``mse_low``, ``mse_high``; ``bias2`` (mean squared error of the mean
        over repeats, noise floor included), ``bias2_excess`` (``bias^2 - variance/repeats``,
        the squared bias with the noise floor removed; mean over circuits), ``variance``,
        ``circuits``.
    """
    return _sweep_points(_fd_rows(estimator), FD_KEYS, "step", level)


def optimal_step(steps, mse, order: int) -> float:
    r"""The minimum ``(c / (p a))^(1/(2p+2))`` of ``a h^(2p) + c / h^2`` fitted to the sweep.

    Least squares on the relative error (weights ``1 / mse``), so that every decade of the
    sweep counts alike; NaN when a fitted coefficient is not positive. The model is the
    small-step truncation (``a h^(2p)``, bias squared) plus the shot noise (``c / h^2``) of a
    stencil of order ``p`` (Mari, Bromley & Killoran 2021).
    """
    h, y = np.asarray(steps, dtype=float), np.asarray(mse, dtype=float)
    design = np.stack([h ** (2 * order), h**-2.0], axis=1) / y[:, None]
    (a, c), *_ = np.linalg.lstsq(design, np.ones_like(y), rcond=None)
    if not (a > 0 and c > 0):
        return math.nan
    return float((c / (order * a)) ** (1 / (2 * order + 2)))


def fd_best(steps: pd.DataFrame, estimator: pd.DataFrame, level: float = LEVEL):
    """The best step per (strategy, budget), with ties, against the theory.

    Returns:
        ``(table, findings)``: per (label, n_qubits, n_layers, strategy, approx_order, budget):
        ``shots``, ``best_step`` (lowest mean MSE), ``tied_steps`` (steps not worse after
        Holm, best first), ``best_mse``, ``model_step`` (:func:`optimal_step` of the sweep),
        ``theory_exponent`` (``-1/(2p+2)``: ``h* ~ N^(-1/4)`` forward, ``N^(-1/6)`` central)
        and ``measured_exponent`` (least-squares slope of ``ln best_step`` on ``ln shots``
        over the budgets; NaN for one budget); ``ps_mse``, parameter-shift's mean MSE at the
        same budget (``h = pi/2`` reference), when measured. Findings: the paired comparisons
        of each budget (family ``best FD step, STRATEGY at BUDGET``).
    """
    rows = _swept(_fd_rows(estimator), FD_KEYS, "step")
    keys = _keys(rows, FD_KEYS)
    out, findings = [], []
    for key, part in rows.groupby(keys, dropna=False, sort=True):
        key = _key_dict(keys, key)
        family = f"best FD step, {key['strategy']} at {int(key['budget'])}"
        best, tied, found = best_with_ties(part, "step", level, family, lambda h: f"h = {h:g}")
        findings += found
        summary = steps
        for k, v in key.items():
            summary = summary[summary[k] == v]
        out.append(
            {
                **key,
                "shots": int(part["shots"].iloc[0]),
                "best_step": best,
                "tied_steps": ", ".join(f"{h:g}" for h in tied),
                "best_mse": float(part[part["step"] == best]["mse"].mean()),
                "model_step": optimal_step(
                    summary["step"], summary["mse"], int(key["approx_order"])
                ),
                "theory_exponent": -1 / (2 * int(key["approx_order"]) + 2),
                "ps_mse": _reference_mse(estimator, key),
            }
        )
    table = pd.DataFrame(out)
    if not table.empty:
        table["measured_exponent"] = np.nan
        by = _keys(table, ("label", "n_qubits", "n_layers", "strategy", "approx_order"))
        for _, group in table.groupby(by, dropna=False):
            if group["shots"].nunique() >= 2:
                slope = np.polyfit(np.log(group["shots"]), np.log(group["best_step"]), 1)[0]
                table.loc[group.index, "measured_exponent"] = slope
    return table, findings


def _reference_mse(estimator: pd.DataFrame, key: dict) -> float:
    """Parameter-shift's mean MSE at the budget, qubits and layers of ``key`` (NaN if none)."""
    ps = estimator[
        (estimator["method"] == "parameter-shift") & (estimator["budget"] == key["budget"])
    ]
    for k in ("n_qubits", "n_layers"):
        ps = ps[ps[k] == key[k]]
    return float(ps["mse"].mean()) if len(ps) else math.nan


# --------------------------------------------------------------------------------------------
# SPSA's budget split
# --------------------------------------------------------------------------------------------

SPSA_KEYS = ("label", "n_qubits", "n_layers", "budget")


def _spsa_rows(estimator: pd.DataFrame) -> pd.DataFrame:
    if "budget" not in estimator:
        return estimator.iloc[0:0]
    rows = estimator[(estimator["method"] == "spsa") & estimator["budget"].notna()].copy()
    opts = [options(v) for v in rows.get("method_options", pd.Series([None] * len(rows)))]
    rows["directions"] = [int(o.get("num_directions", 1)) for o in opts]
    return rows


def spsa_splits(estimator: pd.DataFrame, level: float = LEVEL) -> pd.DataFrame:
    """SPSA's MSE against the number of directions at fixed budgets.

    Returns:
        One row per (label, n_qubits, n_layers, budget, directions) of the groups that vary the
        directions: ``shots`` per circuit (``budget // (2 directions)`` for central
        differences), ``mse`` with its t-interval, ``bias2``, ``bias2_excess``, ``variance``,
        ``circuits`` (as :func:`fd_steps`).
    """
    return _sweep_points(_spsa_rows(estimator), SPSA_KEYS, "directions", level)


def spsa_best(estimator: pd.DataFrame, level: float = LEVEL):
    """The best split (directions) per budget, with ties.

    Returns:
        ``(table, findings)``: per (label, n_qubits, n_layers, budget) ``best_directions``,
        ``shots`` (per circuit at the best), ``tied_directions`` and ``best_mse``; findings of
        family ``best SPSA split at BUDGET``.
    """
    rows = _swept(_spsa_rows(estimator), SPSA_KEYS, "directions")
    keys = _keys(rows, SPSA_KEYS)
    out, findings = [], []
    for key, part in rows.groupby(keys, dropna=False, sort=True):
        key = _key_dict(keys, key)
        family = f"best SPSA split at {int(key['budget'])}"
        best, tied, found = best_with_ties(
            part, "directions", level, family, lambda d: f"{d} direction{'' if d == 1 else 's'}"
        )
        findings += found
        at_best = part[part["directions"] == best]
        out.append(
            {
                **key,
                "best_directions": int(best),
                "shots": int(at_best["shots"].iloc[0]),
                "tied_directions": ", ".join(str(int(d)) for d in tied),
                "best_mse": float(at_best["mse"].mean()),
            }
        )
    return pd.DataFrame(out), findings


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------

_DESIGN_STYLE = {"linestyle": (0, (4, 2)), "linewidth": 1.0}


def _grid(nrows: int, ncols: int, width: float, height: float) -> tuple[Figure, np.ndarray]:
    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    return fig, fig.subplots(nrows, ncols, squeeze=False)


def _colours(values) -> dict:
    palette = _EXTRA_COLOURS + ("#1F77B4", "#FF7F0E", "#8C564B")
    return {v: palette[i % len(palette)] for i, v in enumerate(sorted(values))}


def plot_layer_sweep(sweep: pd.DataFrame) -> Figure:
    """Variance against layers (log-log), one line per ``n``, dashed 2-design level per ``n``.

    One panel per curve (label, ansatz, observable, parameter, method); McClean et al. (2018)
    Fig. 4.
    """
    keys = [k for k in SWEEP_KEYS if k in sweep and k != "n_qubits"]
    panels = list(sweep.groupby(keys, dropna=False, sort=True))
    with _style():
        fig, axes = _grid(1, len(panels), 5.2, 4.0)
        for ax, (key, part) in zip(axes[0], panels, strict=True):
            key = _key_dict(keys, key)
            colours = _colours(part["n_qubits"].unique())
            for n, line in part.groupby("n_qubits", sort=True):
                line = line.sort_values("n_layers")
                ax.errorbar(
                    line["n_layers"], line["variance"], yerr=line["variance_se"],
                    color=colours[n], marker="o", markersize=_MARKER_SIZE, capsize=2,
                    label=f"n = {int(n)}",
                )  # fmt: skip
                design = line["two_design"].iloc[0]
                if pd.notna(design):
                    ax.axhline(design, color=colours[n], **_DESIGN_STYLE)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("layers")
            ax.set_ylabel("Var[d<O>/d theta_1] over random circuits")
            ax.set_title(f"{key.get('observable')}, {key.get('ansatz')}", fontsize="small")
            ax.legend(title="dashed: 2-design N/(3(N^2-1))", fontsize="x-small",
                      title_fontsize="x-small")  # fmt: skip
    return _finish(fig)


def _fit_line(ax, points: pd.DataFrame, model: str, fit, colour: str) -> None:
    xs = np.linspace(points["n_qubits"].min(), points["n_qubits"].max(), 50)
    arg = xs if model == MODELS[0] else np.log(xs)
    ax.plot(xs, np.exp(fit.intercept + fit.slope * arg), color=colour, linestyle="--",
            linewidth=1.0)  # fmt: skip


def plot_scaling(variance: pd.DataFrame) -> Figure:
    """Variance against qubits (log y), one panel per depth, the preferred fit dashed.

    Each curve (:func:`scaling_fits`) is drawn with its standard errors and its preferred
    model (exponential or power law, lower ``chi2/dof``) as a dashed line; panels holding a
    deep ``zz`` curve show the 2-design ``N/(3(N^2-1))`` in black.
    """
    curves = list(_scaling_curves(variance))
    depths = sorted({k["_depth"] for k, _, _ in curves})
    names = sorted({_curve_name({**k, "_depth": ""}) for k, _, _ in curves})
    colours = _colours(names)
    with _style():
        fig, axes = _grid(1, max(1, len(depths)), 4.6, 4.0)
        for ax, depth in zip(axes[0], depths, strict=False):
            for key, points, _ in (c for c in curves if c[0]["_depth"] == depth):
                name = _curve_name({**key, "_depth": ""})
                fits = fit_models(points)
                model = fits.preferred if fits.preferred in MODELS else MODELS[0]
                fit = fits.exponential if model == MODELS[0] else fits.power_law
                ax.errorbar(
                    points["n_qubits"], points["variance"], yerr=points["variance_se"],
                    color=colours[name], marker="o", markersize=_MARKER_SIZE, capsize=2,
                    linestyle="none", label=f"{name}: {model}",
                )  # fmt: skip
                _fit_line(ax, points, model, fit, colours[name])
                if key.get("observable") == "zz" and _deep(key):
                    qubits = np.arange(points["n_qubits"].min(), points["n_qubits"].max() + 1)
                    ax.plot(qubits, two_design_variance(qubits), color="#222222",
                            label="2-design", **_DESIGN_STYLE)  # fmt: skip
            ax.set_yscale("log")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_xlabel("qubits n")
            ax.set_ylabel("gradient variance")
            ax.set_title(depth, fontsize="small")
            ax.legend(fontsize="xx-small", title="dashed: preferred fit",
                      title_fontsize="xx-small")  # fmt: skip
    return _finish(fig)


def plot_shot_inflation(inflation: pd.DataFrame) -> Figure:
    """Variance against qubits: exact, and measured at each shot level with its expected level.

    One panel per curve; black: the exact landscape variance; per shot level (colour): the
    measured variance with standard errors (markers), ``exact + shot part`` (dashed, the law
    of total variance) and the shot part alone (dotted).
    """
    keys = _keys(inflation, ("label", "ansatz", "observable", "param", "method", "depth"))
    panels = list(inflation.groupby(keys, dropna=False, sort=True))
    with _style():
        fig, axes = _grid(1, len(panels), 5.2, 4.0)
        for ax, (key, part) in zip(axes[0], panels, strict=True):
            key = _key_dict(keys, key)
            exact = part.groupby("n_qubits", as_index=False)["exact_variance"].first()
            ax.plot(exact["n_qubits"], exact["exact_variance"], color="#222222", marker="o",
                    markersize=_MARKER_SIZE, label="exact")  # fmt: skip
            colours = _colours(part["shots"].unique())
            for shots, line in part.groupby("shots", sort=True):
                line = line.sort_values("n_qubits")
                colour = colours[shots]
                ax.errorbar(
                    line["n_qubits"], line["variance"], yerr=line["variance_se"], color=colour,
                    marker="s", markersize=_MARKER_SIZE, capsize=2, linestyle="none",
                    label=f"{int(shots)} shots: measured",
                )  # fmt: skip
                ax.plot(line["n_qubits"], line["expected"], color=colour, linestyle="--",
                        label=f"{int(shots)} shots: exact + shot part")  # fmt: skip
                ax.plot(line["n_qubits"], line["shot_variance"], color=colour, linestyle=":",
                        label=f"{int(shots)} shots: shot part")  # fmt: skip
            ax.set_yscale("log")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_xlabel("qubits n")
            ax.set_ylabel("gradient variance over random circuits")
            ax.set_title(f"{key.get('observable')}, {key.get('depth')}, {key.get('method')}",
                         fontsize="small")  # fmt: skip
            ax.legend(fontsize="xx-small")
    return _finish(fig)


def _reference_slope(ax, h: np.ndarray, anchor: float, at: float, power: float, text: str):
    """A grey reference line ``anchor (h / at)^power`` over ``h``."""
    ax.plot(h, anchor * (h / at) ** power, color="#999999", linewidth=0.8, linestyle="-.",
            label=text)  # fmt: skip


def plot_fd_steps(steps: pd.DataFrame, best: pd.DataFrame) -> Figure:
    """MSE, squared bias and variance of finite differences against the step (log-log).

    Rows: strategy (and order); columns: shot budget. Each panel: mean MSE with its t-interval
    (solid), the squared bias of the mean over repeats (dashed; it includes the noise floor
    ``variance / repeats``), the variance (dotted), reference slopes ``h^(2p)`` and ``h^-2``
    (grey), parameter-shift's MSE at the same budget (black, the ``h = pi/2`` rule) and a star
    at the best step.
    """
    rows = sorted(steps.groupby(["strategy", "approx_order"]).groups)
    budgets = sorted(steps["budget"].unique())
    with _style():
        fig, axes = _grid(len(rows), len(budgets), 4.0, 3.4)
        for i, (strategy, order) in enumerate(rows):
            for j, budget in enumerate(budgets):
                ax = axes[i, j]
                part = steps[(steps["strategy"] == strategy) & (steps["approx_order"] == order)
                             & (steps["budget"] == budget)].sort_values("step")  # fmt: skip
                if part.empty:
                    ax.set_visible(False)
                    continue
                h = part["step"].to_numpy(dtype=float)
                ax.errorbar(
                    h, part["mse"], yerr=[part["mse"] - part["mse_low"],
                                          part["mse_high"] - part["mse"]],
                    color="#1F77B4", marker="o", markersize=_MARKER_SIZE, capsize=2, label="MSE",
                )  # fmt: skip
                ax.plot(h, part["bias2"], color="#D62728", linestyle="--", marker="^",
                        label="bias^2 (incl. noise floor)")  # fmt: skip
                ax.plot(h, part["variance"], color="#2CA02C", linestyle=":", marker="v",
                        label="variance")  # fmt: skip
                mid = len(h) // 2
                _reference_slope(ax, h[: mid + 1], part["variance"].iloc[0], h[0], -2.0, "h^-2")
                _reference_slope(ax, h[mid:], part["bias2"].iloc[mid], h[mid], 2.0 * order,
                                 f"h^{2 * order}")  # fmt: skip
                pick = best[(best["strategy"] == strategy) & (best["budget"] == budget)]
                if len(pick):
                    ps = pick["ps_mse"].iloc[0]
                    if pd.notna(ps):
                        ax.axhline(ps, color="#222222", linewidth=1.0, label="parameter-shift")
                    star = part[part["step"] == pick["best_step"].iloc[0]]
                    ax.plot(star["step"], star["mse"], marker="*", color="#FF7F0E",
                            markersize=12, linestyle="none", label="best step")  # fmt: skip
                ax.set_xscale("log")
                ax.set_yscale("log")
                ax.set_xlabel("step h")
                ax.set_ylabel(f"{strategy} (order {order})")
                ax.set_title(f"budget {int(budget)} shots, N = {int(part['shots'].iloc[0])}",
                             fontsize="small")  # fmt: skip
                if i == 0 and j == 0:
                    ax.legend(fontsize="xx-small")
    return _finish(fig)


def plot_estimator_budgets(summary: pd.DataFrame) -> Figure:
    """MSE against shots per Jacobian (log-log), one panel per method, shared axes.

    ``summary`` is :func:`~qgradbench.analysis.summaries.estimator_findings`' table (mean MSE
    over circuits with its t-interval). Each method has its own panel so that no method hides
    under another; the other methods' means are drawn faintly in grey for comparison, and a
    dash-dotted ``1/shots`` slope (an unbiased estimator's MSE) from the method's first point.
    """
    rows = summary[summary["gradient_shots"] > 0].sort_values("gradient_shots")
    methods = sorted(rows["method"].unique())
    colours = method_palette(methods)
    with _style():
        fig, axes = _grid(1, max(1, len(methods)), 3.2, 3.2)
        for ax, method in zip(axes[0], methods, strict=False):
            for other in methods:
                if other != method:
                    part = rows[rows["method"] == other]
                    ax.plot(part["gradient_shots"], part["mse"], color="#BBBBBB",
                            linewidth=0.8)  # fmt: skip
            part = rows[rows["method"] == method]
            ax.errorbar(
                part["gradient_shots"], part["mse"],
                yerr=[part["mse"] - part["mse_low"], part["mse_high"] - part["mse"]],
                color=colours[method], marker="o", markersize=_MARKER_SIZE, capsize=2,
                label=method,
            )  # fmt: skip
            if len(part):
                x = part["gradient_shots"].to_numpy(dtype=float)
                _reference_slope(ax, x, part["mse"].iloc[0], x[0], -1.0, "1/shots")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_title(method, fontsize="small")
            ax.set_xlabel("shots per Jacobian")
        axes[0, 0].set_ylabel("MSE against the exact Jacobian\n(mean over circuits, t-interval)")
        for ax in axes[0, 1:]:
            ax.sharey(axes[0, 0])
    return _finish(fig)


def plot_spsa_split(splits: pd.DataFrame) -> Figure:
    """SPSA's MSE against directions per estimate at fixed budgets (log-log), one line each.

    The dash-dotted grey line is ``1/directions`` from the first point: the rate at which
    averaging directions shrinks SPSA's cross-term variance (Spall 1992) while shots per
    circuit, and with them the shot noise of each direction, shrink in turn.
    """
    budgets = sorted(splits["budget"].unique())
    colours = _colours(budgets)
    with _style():
        fig, axes = _grid(1, 1, 6.0, 4.0)
        ax = axes[0, 0]
        for budget in budgets:
            part = splits[splits["budget"] == budget].sort_values("directions")
            ax.errorbar(
                part["directions"], part["mse"],
                yerr=[part["mse"] - part["mse_low"], part["mse_high"] - part["mse"]],
                color=colours[budget], marker="o", markersize=_MARKER_SIZE, capsize=2,
                label=f"budget {int(budget)}",
            )  # fmt: skip
        first = splits[splits["budget"] == budgets[0]].sort_values("directions")
        if len(first):
            d = first["directions"].to_numpy(dtype=float)
            _reference_slope(ax, d, first["mse"].iloc[0], d[0], -1.0, "1/directions")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("directions per estimate (shots per circuit = budget / (2 directions))")
        ax.set_ylabel("MSE against the exact Jacobian\n(mean over circuits, t-interval)")
        ax.set_title("SPSA: directions against shots at a fixed budget", fontsize="small")
        ax.legend(fontsize="x-small")
    return _finish(fig)


# --------------------------------------------------------------------------------------------
# Report sections
# --------------------------------------------------------------------------------------------


def _verdicts(findings: list[Finding]) -> pd.DataFrame:
    return findings_table(findings)


def _sweep_text(table: pd.DataFrame, findings: list[Finding]) -> list[str]:
    verdicts = _verdicts(findings)
    out = []
    for f, v in zip(findings, verdicts.itertuples(), strict=True):
        ratio = f.estimate + 1
        word = "consistent with" if v.verdict == tie_text(f.level) else v.verdict
        out.append(
            f"{f.comparison.split(' over the 2-design')[0]}: {ratio:.3g} times the 2-design "
            f"value (interval {f.low + 1:.3g} to {f.high + 1:.3g}, Holm-adjusted p = "
            f"{v.p_adjusted:.2g}): {word}"
            + (" the 2-design value." if word == "consistent with" else ".")
        )
    return out


def variance_section(report, variance: pd.DataFrame, folder: Path) -> None:
    """The gradient-variance section: layer sweep, qubit scaling, shots (tables, figures, findings).

    A drop-in for the report's ``_variance(report, variance, folder)``: adds blocks and
    findings to ``report`` and writes the figures into ``folder``.
    """
    report.heading("Gradient variance (barren plateaus)")
    sweep = layer_sweep(variance)
    if not sweep.empty:
        report.heading("Variance against layers (McClean et al. 2018, Fig. 4)")
        found = layer_sweep_findings(variance, sweep)
        report.findings += found
        report.table(sweep)
        for line in _sweep_text(sweep, found):
            report.text(line)
        fig = plot_layer_sweep(sweep)
        report.image(figures.save(fig, folder / "variance_layers.png"))
    fits, found = scaling_fits(variance)
    if not fits.empty:
        report.heading("Variance against qubits: exponential or power law")
        report.findings += found
        report.table(fits)
        report.text(
            "Each curve is fitted by weighted least squares on ln Var: exponential Var = a b^n "
            "(exp_slope = ln b per qubit) and power law Var = a n^p (power_exponent = p); "
            "exp_p and power_p are the chi-square lack-of-fit p-values (small: the model does "
            "not fit within the standard errors); standard errors are scaled by sqrt(chi2/dof) "
            "above 1; preferred is the lower chi2/dof."
        )
        table = _verdicts(found)
        for r in fits.itertuples():
            name = f"{_curve_name({**r._asdict(), '_depth': r.depth})}, {r.qubits} qubits"
            if r.preferred.startswith("not fitted"):
                report.text(f"{name}: {r.preferred} (the gradient vanishes identically there).")
                continue
            fit_rows = table[table["comparison"].str.contains(name, regex=False)
                             & (table["family"] == "variance decay model fit")]  # fmt: skip
            fits_text = "; ".join(
                f"{m}: {'does not fit' if v == 'does not fit' else 'fits'} (chi2/dof "
                f"{e:.2g}, adjusted p = {p:.2g})"
                for m, v, e, p in zip(MODELS, fit_rows["verdict"], fit_rows["estimate"],
                                      fit_rows["p_adjusted"], strict=False)
            )  # fmt: skip
            text = (
                f"{name}: exponential ln-slope {r.exp_slope:.3f} +- {r.exp_se:.3f}, power-law "
                f"exponent {r.power_exponent:.2f} +- {r.power_se:.2f}; "
                + (f"the data prefer the {r.preferred}" if r.preferred != "undecided"
                   else "two qubit counts leave no degrees of freedom to choose a model")
            )  # fmt: skip
            if fits_text:
                text += f" ({fits_text})"
            if r.two_design:
                text += f"; against the 2-design ln(1/2) the exponential slope is {r.two_design}"
            report.text(text + ".")
        report.image(figures.save(plot_scaling(variance), folder / "variance.png"))
    inflation = shot_inflation(variance)
    if not inflation.empty:
        report.heading("Variance with shots")
        found = shot_findings(inflation)
        report.findings += found
        columns = ["method", "observable", "depth", "n_qubits", "shots", "variance",
                   "exact_variance", "shot_variance", "expected", "inflation", "resolved",
                   "resolved_low", "resolved_high"]  # fmt: skip
        report.table(inflation[[c for c in columns if c in inflation]])
        table = _verdicts(found)
        for shots, group in table.groupby(inflation["shots"].to_numpy(), sort=True):
            rows = inflation[inflation["shots"] == shots]
            resolved = rows["n_qubits"][(group["verdict"] == found[0].higher).to_numpy()]
            lost = sorted(set(rows["n_qubits"]) - set(resolved))
            report.text(
                f"At {int(shots)} shots the measured variance is {rows['inflation'].min():.3g} "
                f"to {rows['inflation'].max():.3g} times the exact landscape variance; the "
                "landscape part (measured variance minus the shot part) is resolved above 0 "
                f"(Holm over {len(rows)} qubit counts) at n = "
                f"{', '.join(str(int(n)) for n in sorted(resolved)) or 'none'}"
                + (f" and not at n = {', '.join(str(int(n)) for n in lost)}." if lost else ".")
            )
        report.image(figures.save(plot_shot_inflation(inflation), folder / "variance_shots.png"))


def _sweep_labels(estimator: pd.DataFrame) -> set:
    """Labels of the FD-step and SPSA-split sweeps (kept out of the method comparison)."""
    if "label" not in estimator:
        return set()
    labels = set()
    for rows, column, keys in (
        (_fd_rows(estimator), "step", FD_KEYS),
        (_spsa_rows(estimator), "directions", SPSA_KEYS),
    ):
        swept = _swept(rows, keys, column)
        labels |= set(swept["label"]) if len(swept) else set()
    return labels


def _comparison(report, estimator: pd.DataFrame, folder: Path) -> None:
    """The methods at equal budgets: bias against the noise floor and the lowest MSE."""
    summary, found = estimator_findings(estimator)
    report.findings += found
    report.table(summary)
    report.text(
        "mse: mean over the circuits with its t-interval (mse_low-mse_high); bias: the "
        "measured root-mean-square error of the mean over repeats, which for an unbiased "
        "estimator is the noise floor sqrt(variance / repeats) (noise_floor), not 0; "
        "bias_excess: the bias left after removing the noise floor."
    )
    table = _verdicts(found)
    bias = table[table["family"] == "estimator bias"]
    names = [c.split(" above")[0].removeprefix("bias of ") for c in bias["comparison"]]
    biased = [n for n, v in zip(names, bias["verdict"], strict=True) if v == "biased"]
    if len(bias):
        report.text(
            f"Bias against the noise floor (t-test over circuits, Holm over {len(bias)} "
            f"estimators): consistent with 0 for {len(bias) - len(biased)}; biased: "
            + (", ".join(biased) if biased else "none")
            + "."
        )
    for family, part in table[table["family"].str.startswith("lowest MSE at")].groupby(
        "family", sort=False
    ):
        best = part["comparison"].iloc[0].split(" minus ")[1].split(" at ")[0]
        tied = [c.split(" minus ")[0].removeprefix("MSE of ")
                for c, v in zip(part["comparison"], part["verdict"], strict=True)
                if v == tie_text(LEVEL)]  # fmt: skip
        budget = family.removeprefix("lowest MSE at ")
        report.text(
            f"At {budget} shots per Jacobian the lowest mean MSE is {best}'s"
            + (f", tied (paired over circuits, Holm) with {', '.join(tied)}." if tied
               else ", lower than every other method after Holm's correction.")
        )  # fmt: skip
    fig = plot_estimator_budgets(summary)
    report.image(figures.save(fig, folder / "estimator_mse.png"))


def estimator_section(report, estimator: pd.DataFrame, folder: Path) -> None:
    """The estimator section: methods at equal budgets, the FD step sweep and SPSA's split.

    A drop-in for the report's ``_estimator(report, estimator, folder)``. Rows of a label
    that sweeps the finite-difference step or SPSA's directions are analysed in their own
    subsections, not in the method comparison.
    """
    report.heading("Gradient estimators at equal shot budgets")
    sweeps = _sweep_labels(estimator)
    main = estimator[~estimator["label"].isin(sweeps)] if sweeps else estimator
    if len(main):
        _comparison(report, main, folder)
    steps = fd_steps(estimator)
    if not steps.empty:
        report.heading("Finite-difference step (Mari, Bromley & Killoran 2021)")
        best, found = fd_best(steps, estimator)
        report.findings += found
        report.table(steps)
        report.table(best)
        for r in best.itertuples():
            tied = r.tied_steps.split(", ")
            report.text(
                f"{r.strategy} differences at {int(r.budget)} shots per Jacobian ({r.shots} per "
                f"circuit): the lowest mean MSE is at h = {r.best_step:g} ({r.best_mse:.3g})"
                + (f", tied (paired over circuits, Holm) with h = {', '.join(tied[1:])}"
                   if len(tied) > 1 else ", lower than every other step after Holm")
                + f"; the fitted a h^{2 * r.approx_order} + c/h^2 has its minimum at "
                f"h = {r.model_step:.3g}"
                + (f"; parameter-shift's MSE at this budget is {r.ps_mse:.3g}"
                   if pd.notna(r.ps_mse) else "")
                + (f"; over the budgets the best step scales as N^{r.measured_exponent:.2f} "
                   f"(theory N^{r.theory_exponent:.3f})" if pd.notna(r.measured_exponent)
                   else "")
                + "."
            )  # fmt: skip
        report.image(figures.save(plot_fd_steps(steps, best), folder / "estimator_fd_step.png"))
    splits = spsa_splits(estimator)
    if not splits.empty:
        report.heading("SPSA: directions against shots at a fixed budget")
        best, found = spsa_best(estimator)
        report.findings += found
        report.table(splits)
        for r in best.itertuples():
            tied = r.tied_directions.split(", ")
            report.text(
                f"At {int(r.budget)} shots per Jacobian the lowest mean MSE is with "
                f"{r.best_directions} direction(s) ({r.shots} shots per circuit, MSE "
                f"{r.best_mse:.3g})"
                + (f", tied (paired over circuits, Holm) with {', '.join(tied[1:])}."
                   if len(tied) > 1 else ", lower than every other split after Holm.")
            )  # fmt: skip
        report.image(figures.save(plot_spsa_split(splits), folder / "estimator_spsa_split.png"))
