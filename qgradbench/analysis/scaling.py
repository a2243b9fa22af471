r"""Scaling fits for gradient variance: exponential decay with qubits, and the 2-design line.

Barren plateaus show as ``Var[d_k <O>] ~ b^(-n)``: a straight line of ``ln Var`` against ``n``
(McClean et al. 2018). :func:`log_slope` fits that line by weighted least squares, each point
weighted by the inverse square of its standard error on the log scale
(``se(ln v) ~ se(v) / v``), and returns the slope with its standard error. For
``random-pauli`` circuits deep enough to be unitary 2-designs the variance of the first
parameter's gradient with ``O = Z_0 Z_1`` approaches :func:`two_design_variance`,
``N / (3 (N^2 - 1))`` with ``N = 2^n``, whose slope tends to ``-ln 2`` (about -0.709 over
``n = 2, 4, 6``; McClean et al. read -0.685 off their figure).

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
    """

    slope: float
    slope_se: float
    intercept: float
    points: int

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
    return Slope(float(slope), float(math.sqrt(cov[0, 0])), float(intercept), len(x))


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


def two_design_variance(n_qubits: int | np.ndarray) -> float | np.ndarray:
    """``N / (3 (N^2 - 1))`` with ``N = 2^n``: the first-parameter ``Z_0 Z_1`` 2-design value."""
    dim = np.power(2.0, n_qubits)
    return dim / (3 * (dim**2 - 1))
