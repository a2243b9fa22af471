r"""Finite differences.

For a stencil of shifts ``s_j`` and coefficients ``c_j`` (Fornberg, "Generation of finite
difference formulas on arbitrarily spaced grids", Math. Comp. 51, 699 (1988)),

.. math::  \partial_t f \approx \frac{1}{h} \sum_j c_j f(t + s_j h),

accurate to ``O(h^p)`` with ``p = approx_order``. ``strategy="forward"`` uses shifts
``0..p``, ``"backward"`` ``-p..0`` and ``"central"`` ``-p/2..p/2`` (``p`` even). The default is
PennyLane's: forward differences of order 1.

**Default step.** The error of the estimate is a truncation term ``~ h^p`` plus noise ``~ e/h``,
where ``e`` is the error of each expectation value: the machine epsilon for exact simulation and
``1/sqrt(N)`` for ``N`` shots (a ``+-1`` outcome has standard deviation at most 1). Balancing the
two gives ``h* = e^(1/(p+1))``, which is the default:

* exact: ``eps^(1/(p+1))``, e.g. ``3.5e-4`` (float32) / ``1.5e-8`` (float64) for forward
  differences and ``4.9e-3`` / ``6.1e-6`` for central ones;
* ``N`` shots: ``N^(-1/(2(p+1)))``, e.g. ``0.18`` (forward) and ``0.32`` (central) at
  ``N = 1000``. A step like PennyLane's exact-mode ``1e-7`` would turn 1000 shots into noise of
  standard deviation ``~3e5``.

Cost: one circuit per nonzero stencil shift per differentiated rotation per sample; the
unshifted value (shift 0) is the forward pass's own result and costs nothing.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from qgradbench.methods.base import Recipe, ShiftRuleMethod

STRATEGIES = ("forward", "backward", "central")


@functools.lru_cache(maxsize=64)
def finite_diff_coeffs(approx_order: int, strategy: str) -> tuple[np.ndarray, np.ndarray]:
    """:func:`solve_stencil`, cached (the body stays undecorated, so mutation testing sees it)."""
    return solve_stencil(approx_order, strategy)


def solve_stencil(approx_order: int, strategy: str) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(shifts, coeffs)`` of a first-derivative stencil (solves the Vandermonde system).

    Args:
        approx_order: accuracy order ``p`` (even for ``central``).
        strategy: ``"forward"``, ``"backward"`` or ``"central"``.

    Returns:
        Integer shifts and their coefficients; terms with zero coefficient are dropped.
    """
    if strategy == "forward":
        shifts = np.arange(approx_order + 1)
    elif strategy == "backward":
        shifts = np.arange(-approx_order, 1)
    else:
        half = approx_order // 2
        shifts = np.arange(-half, half + 1)
    vander = np.vander(shifts.astype(float), increasing=True).T  # rows: powers 0..len-1
    rhs = np.zeros(len(shifts))
    rhs[1] = 1.0
    coeffs = np.linalg.solve(vander, rhs)
    keep = np.abs(coeffs) > 1e-12
    return shifts[keep], coeffs[keep]


def default_step(approx_order: int, shots: int | None, eps: float) -> float:
    """Return the error-balancing step ``e^(1/(p+1))`` (see the module docstring)."""
    noise = eps if shots is None else 1 / math.sqrt(shots)
    return noise ** (1 / (approx_order + 1))


@dataclass(frozen=True)
class Stencil:
    """A first-derivative stencil at step ``h``, split into shifted terms and the unshifted one.

    Along a direction ``u`` (a unit vector ``e_k`` for finite differences, a random ``+-1``
    vector for SPSA), ``d/dt f(theta + t u) ~ sum_j weights[j] f(theta + steps[j] u)
    + f0_weight f(theta)``; only the ``steps`` cost circuits, ``f(theta)`` is the forward
    pass's own result.

    Attributes:
        steps: ``(M,)`` the nonzero shifts ``s_j h``.
        weights: ``(M,)`` their coefficients ``c_j / h``.
        f0_weight: the coefficient ``c_0 / h`` of the unshifted value (0 for central stencils).
    """

    steps: np.ndarray
    weights: np.ndarray
    f0_weight: float

    @property
    def n_circuits(self) -> int:
        """Circuits per direction: the nonzero shifts."""
        return len(self.steps)


@functools.lru_cache(maxsize=128)
def difference_stencil(h: float, approx_order: int, strategy: str) -> Stencil:
    """:func:`scaled_stencil`, cached."""
    return scaled_stencil(h, approx_order, strategy)


def scaled_stencil(h: float, approx_order: int, strategy: str) -> Stencil:
    """Return the :class:`Stencil` of :func:`finite_diff_coeffs` scaled to step ``h``."""
    shifts, coeffs = finite_diff_coeffs(approx_order, strategy)
    nonzero = shifts != 0
    return Stencil(shifts[nonzero] * h, coeffs[nonzero] / h, float(coeffs[~nonzero].sum() / h))


@functools.lru_cache(maxsize=128)
def difference_recipe(
    n_params: int, slots: tuple[int, ...], h: float, approx_order: int, strategy: str
) -> Recipe:
    """:func:`build_difference_recipe`, cached."""
    return build_difference_recipe(n_params, slots, h, approx_order, strategy)


def build_difference_recipe(
    n_params: int, slots: tuple[int, ...], h: float, approx_order: int, strategy: str
) -> Recipe:
    """Return the finite-difference recipe for ``slots``: the stencil along each ``e_k``."""
    stencil = difference_stencil(h, approx_order, strategy)
    n, m = len(slots), stencil.n_circuits
    offsets = np.zeros((n * m, n_params))
    combine = np.zeros((n, n * m))
    for i, slot in enumerate(slots):
        offsets[i * m : (i + 1) * m, slot] = stencil.steps
        combine[i, i * m : (i + 1) * m] = stencil.weights
    return Recipe(offsets, combine, np.full(n, stencil.f0_weight))


class FiniteDiff(ShiftRuleMethod):
    """Finite-difference gradients (forward, backward or central; any accuracy order).

    Options:
        h: the step; ``None`` (default) picks the error-balancing step for the precision or the
            shot count (module docstring).
        strategy: ``"forward"`` (default, as PennyLane), ``"backward"`` or ``"central"``.
        approx_order: accuracy order ``p`` (default 1; must be even for ``"central"``).
    """

    name = "finite-diff"
    supports_shots = True
    hardware = "yes"
    summary = "forward/central/backward differences, step h"
    options = {"h": None, "strategy": "forward", "approx_order": 1}

    def __init__(self, **options):
        super().__init__(**options)
        h, strategy, order = (self.config[k] for k in ("h", "strategy", "approx_order"))
        if h is not None and (not isinstance(h, int | float) or not h > 0 or math.isinf(h)):
            raise ValueError(f"finite-difference step h must be a positive number, got {h!r}")
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
        if isinstance(order, bool) or not isinstance(order, int) or order < 1:
            raise ValueError(f"approx_order must be an integer >= 1, got {order!r}")
        if strategy == "central" and order % 2:
            raise ValueError(f"central differences need an even approx_order, got {order}")

    def step(self, shots: int | None, real_dtype) -> float:
        """The step used at ``shots`` and precision ``real_dtype``."""
        if self.config["h"] is not None:
            return float(self.config["h"])
        eps = float(np.finfo(str(real_dtype).removeprefix("torch.")).eps)
        return default_step(self.config["approx_order"], shots, eps)

    def stencil(self, shots: int | None, real_dtype) -> Stencil:
        """The stencil at the step used for ``shots`` and ``real_dtype``."""
        return difference_stencil(
            self.step(shots, real_dtype), self.config["approx_order"], self.config["strategy"]
        )

    def circuits_per_slot(self) -> int:
        """Nonzero stencil shifts: the unshifted value is the forward pass's result."""
        shifts, _ = finite_diff_coeffs(self.config["approx_order"], self.config["strategy"])
        return int(np.count_nonzero(shifts))

    def recipe(self, execution, slots):  # noqa: D102
        h = self.step(execution.shots, execution.dtype.to_real())
        return difference_recipe(
            execution.circuit.n_params,
            tuple(int(s) for s in slots),
            h,
            self.config["approx_order"],
            self.config["strategy"],
        )
