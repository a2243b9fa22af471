r"""The two-term parameter-shift rule.

Mitarai et al., "Quantum circuit learning", PRA 98, 032309 (2018); Schuld et al., "Evaluating
analytic gradients on quantum hardware", PRA 99, 032331 (2019).

Along the angle of a Pauli rotation ``exp(-i t P / 2)`` every expectation value is
``f(t) = A + B cos t + C sin t``, hence, exactly for every shift ``s`` with ``sin s != 0``,

.. math::  \partial_t f = \frac{f(t + s) - f(t - s)}{2 \sin s},

with ``s = pi/2`` the usual choice (it maximises the denominator, so it minimises shot noise:
with ``N`` shots per circuit and ``+-1`` outcomes an entry has variance
``(1 - A^2 - g^2) / (2N)`` at ``s = pi/2``, where ``A = (f(t) + f(t + pi))/2``).

Cost: two circuits per differentiated rotation per sample (inputs' encoding rotations included).
All ``2 P`` shifted circuits of a whole batch run as one batched engine call.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from qgradbench.methods.base import Recipe, ShiftRuleMethod


@functools.lru_cache(maxsize=128)
def shift_recipe(n_params: int, slots: tuple[int, ...], shift: float) -> Recipe:
    """Return the two-term recipe for ``slots``: rows ``+s e_k, -s e_k`` for each slot ``k``."""
    n = len(slots)
    offsets = np.zeros((2 * n, n_params))
    offsets[2 * np.arange(n), slots] = shift
    offsets[2 * np.arange(n) + 1, slots] = -shift
    coeffs = np.zeros((n, 2 * n))
    coeffs[np.arange(n), 2 * np.arange(n)] = 1 / (2 * math.sin(shift))
    coeffs[np.arange(n), 2 * np.arange(n) + 1] = -1 / (2 * math.sin(shift))
    return Recipe(offsets, coeffs, np.zeros(n))


class ParameterShift(ShiftRuleMethod):
    """Two-term parameter-shift rule (Mitarai et al. 2018; Schuld et al. 2019).

    Options:
        shift: the shift ``s`` (default ``pi/2``); any ``s`` with ``sin s != 0`` is exact.
    """

    name = "parameter-shift"
    supports_shots = True
    hardware = "yes"
    summary = "two-term rule, shift pi/2; 2 circuits per rotation"
    options = {"shift": math.pi / 2}

    def __init__(self, **options):
        super().__init__(**options)
        shift = self.config["shift"]
        if not isinstance(shift, int | float) or abs(math.sin(shift)) < 1e-6:
            raise ValueError(f"shift must be a real number with sin(shift) != 0, got {shift!r}")
        self.config["shift"] = float(shift)

    def circuits_per_slot(self) -> int:  # noqa: D102
        return 2

    def recipe(self, execution, slots):  # noqa: D102
        return shift_recipe(
            execution.circuit.n_params, tuple(int(s) for s in slots), self.config["shift"]
        )
