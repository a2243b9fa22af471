r"""Scaling fits for gradient variance: exponential decay with qubits, and the 2-design line.

Barren plateaus show as ``Var[d_k <O>] ~ b^(-n)``: a straight line of ``ln Var`` against ``n``
(McClean et al. 2018). :func:`log_slope` fits that line by weighted least squares, each point
weighted by the inverse square of its standard error on the log scale
(``se(ln v) ~ se(v) / v``), and returns the slope with its standard error. For
``random-pauli`` circuits deep enough to be unitary 2-designs the variance of the first
parameter's gradient with ``O = Z_0 Z_1`` approaches :func:`two_design_variance`,
``N / (3 (N^2 - 1))`` with ``N = 2^n``, whose slope tends to ``-ln 2`` (about -0.709 over
``n = 2, 4, 6``; McClean et al. read -0.685 off their figure).

Not every variance decays exponentially: a local cost on a shallow circuit falls as a power
of ``n`` (Cerezo et al. 2021). :func:`fit_models` fits both ``Var = a b^n`` (``ln Var`` linear
in ``n``) and ``Var = a n^p`` (``ln Var`` linear in ``ln n``) with the same weights, reports each
fit's ``chi2 / dof`` and prefers the lower one (both have two parameters, so this is the same
choice as the lower chi-square, AIC or BIC). When ``chi2 / dof > 1`` the model does not fit
within the errors and its slope's standard error is scaled by ``sqrt(chi2 / dof)`` (the
Birge ratio). :func:`slope_verdict` sets a measured exponential slope against the 2-design
value ``ln(1/2) = -0.693`` per qubit (McClean et al. 2018).

Pure numpy and pandas, like the rest of :mod:`qgradbench.analysis`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Slope:
    """A weighted least-squares line ``y = slope * x + intercept``.

    Attributes:
        slope: the fitted slope.
        slope_se: its standard error.
        intercept: the fitted intercept.
        points: the number of points fitted.
        chi2: ``sum(((y - fit) / sigma)^2)`` of the weighted fit (NaN for equal weights).
    """

    slope: float
    slope_se: float
    intercept: float
    points: int
    chi2: float = math.nan

    @property
    def dof(self) -> int:
        """Degrees of freedom of the fit: points less the two parameters."""
        return self.points - 2

    @property
    def chi2_dof(self) -> float:
        """``chi2 / dof`` (NaN without degrees of freedom)."""
        return self.chi2 / self.dof if self.dof > 0 else math.nan

    @property
    def scaled_se(self) -> float:
        """``slope_se * sqrt(chi2 / dof)`` when that exceeds 1 (lack of fit), else ``slope_se``."""
        ratio = self.chi2_dof
        return self.slope_se * math.sqrt(ratio) if ratio > 1 else self.slope_se

    @property
    def base(self) -> float:
        """The decay base ``b`` of ``y ~ b^(-x)`` for a natural-log fit: ``exp(-slope)``."""
        return math.exp(-self.slope)


def _wls(x: np.ndarray, y: np.ndarray, sigma: np.ndarray) -> Slope:
    if len(x) < 2 or len(np.unique(x)) < 2:
        raise ValueError(f"a slope needs at least two distinct x values, got {list(x)}")
    w = 1.0 / sigma**2
    design = np.stack([x, np.ones_like(x)], axis=1)
    cov = np.linalg.inv(design.T @ (design * w[:, None]))
    slope, intercept = cov @ design.T @ (w * y)
    chi2 = float(np.sum(w * (y - slope * x - intercept) ** 2))
    return Slope(float(slope), float(math.sqrt(cov[0, 0])), float(intercept), len(x), chi2)


def log_slope(
    frame: pd.DataFrame,
    x: str = "n_qubits",
    y: str = "variance",
    se: str | None = "variance_se",
    log_x: bool = False,
) -> Slope:
    """Fit ``ln y`` against ``x`` (or ``ln x`` with ``log_x``, a power law) by weighted LS.

    Args:
        frame: one row per point (e.g. one variance row per qubit count).
        x: the column on the horizontal axis.
        y: the positive quantity whose logarithm is fitted.
        se: its standard error column (weights ``(y / se)^2``), or ``None`` for equal weights.
        log_x: fit against ``ln x`` (the slope is then a power-law exponent).

    Raises:
        ValueError: for fewer than two distinct ``x`` values or a non-positive ``y``.
    """
    values = frame[y].to_numpy(dtype=float)
    if np.any(~(values > 0)):
        raise ValueError(f"column {y!r} must be positive to take its logarithm")
    xs = frame[x].to_numpy(dtype=float)
    xs = np.log(xs) if log_x else xs
    sigma = np.ones_like(values) if se is None else frame[se].to_numpy(dtype=float) / values
    return _wls(xs, np.log(values), sigma)


#: The 2-design slope of ``ln Var`` per qubit for large ``n``: ``ln(1/2)`` (McClean et al. 2018).
TWO_DESIGN_SLOPE = -math.log(2)

MODELS = ("exponential", "power law")


@dataclass(frozen=True)
class ModelFits:
    """Both decay models fitted to one variance curve.

    Attributes:
        exponential: ``ln Var = ln a + n ln b``: its ``slope`` is ``ln b`` per qubit.
        power_law: ``ln Var = ln a + p ln n``: its ``slope`` is the exponent ``p``.
        preferred: ``"exponential"`` or ``"power law"``, the lower ``chi2 / dof`` (equal
            parameter counts, so also the lower AIC); with no degrees of freedom, neither
            (``"undecided"``).
    """

    exponential: Slope
    power_law: Slope
    preferred: str


def fit_models(
    frame: pd.DataFrame, x: str = "n_qubits", y: str = "variance", se: str = "variance_se"
) -> ModelFits:
    """Fit ``Var = a b^n`` and ``Var = a n^p`` by weighted least squares and pick one.

    Weights are ``(y / se)^2`` on the log scale, as in :func:`log_slope`. ``chi2 / dof`` is
    about 1 for a model that fits within the standard errors; the preferred model has the
    lower one.

    Raises:
        ValueError: as :func:`log_slope` (fewer than two points, non-positive values).
    """
    exponential = log_slope(frame, x, y, se)
    power = log_slope(frame, x, y, se, log_x=True)
    if exponential.dof <= 0:
        preferred = "undecided"
    else:
        preferred = MODELS[0] if exponential.chi2_dof <= power.chi2_dof else MODELS[1]
    return ModelFits(exponential, power, preferred)


@dataclass(frozen=True)
class SlopeVerdict:
    """A measured slope against a reference value.

    Attributes:
        z: ``(slope - reference) / se``.
        p_value: two-sided normal p-value of ``z``.
        text: ``"consistent with ... within k sigma (z = ...)"`` or ``"differs ... by z sigma"``.
    """

    z: float
    p_value: float
    text: str


def slope_verdict(
    slope: float, se: float, reference: float = TWO_DESIGN_SLOPE, k: float = 2.0
) -> SlopeVerdict:
    r"""Compare a slope with a reference: ``z = (slope - reference) / se``, normal two-sided.

    Consistent when ``|z| <= k`` (``k = 2``: about a 95% two-sided level). Use the slope's
    scaled standard error (:attr:`Slope.scaled_se`) so a poor fit cannot look precise.

    Raises:
        ValueError: for a standard error that is not positive.
    """
    if not se > 0:
        raise ValueError(f"a verdict needs a positive standard error, got {se!r}")
    z = (slope - reference) / se
    p = math.erfc(abs(z) / math.sqrt(2))
    if abs(z) <= k:
        text = f"consistent with {reference:.3f} within {k:.3g} sigma (z = {z:+.1f})"
    else:
        text = f"differs from {reference:.3f} by {abs(z):.1f} sigma"
    return SlopeVerdict(float(z), float(p), text)


def two_design_variance(n_qubits: int | np.ndarray) -> float | np.ndarray:
    """``N / (3 (N^2 - 1))`` with ``N = 2^n``: the first-parameter ``Z_0 Z_1`` 2-design value."""
    dim = np.power(2.0, n_qubits)
    return dim / (3 * (dim**2 - 1))
