r"""Parameter-shift rules: the two-term rule, and the general rules for other generators.

Mitarai et al., "Quantum circuit learning", PRA 98, 032309 (2018); Schuld et al., "Evaluating
analytic gradients on quantum hardware", PRA 99, 032331 (2019); Wierichs, Izaac, Wang & Lin,
"General parameter-shift rules for quantum gradients", Quantum 6, 677 (2022).

**General rules.** A gate ``exp(-i t G)`` whose generator ``G`` has the positive eigenvalue
differences ``Omega_1 < ... < Omega_R`` (its *frequencies*) makes every expectation value a
trigonometric polynomial ``f(t) = a_0 + sum_l a_l cos(Omega_l t) + b_l sin(Omega_l t)``. With
``R`` shifts ``y_mu`` and ``f'(t) = sum_mu d_mu (f(t + y_mu) - f(t - y_mu))``, exactness for
every such ``f`` is the ``R x R`` linear system ``2 sum_mu d_mu sin(Omega_l y_mu) = Omega_l``.
For equidistant frequencies ``Omega_l = l Omega`` Wierichs et al. (Eq. (8)) take
``y_mu = (2 mu - 1) pi / (2 R Omega)``; for controlled rotations (``Omega = 1/2, 1``) that is
the four-term rule with shifts ``pi/2, 3 pi/2`` and ``d = (sqrt2 +- 1) / (4 sqrt2)``.
A single frequency ``Omega`` gives the two-term rule with shift ``s / Omega`` and
coefficient ``Omega / (2 sin s)``.

Along the angle of a Pauli rotation ``exp(-i t P / 2)`` every expectation value is
``f(t) = A + B cos t + C sin t``, hence, exactly for every shift ``s`` with ``sin s != 0``,

.. math::  \partial_t f = \frac{f(t + s) - f(t - s)}{2 \sin s},

with ``s = pi/2`` the usual choice (it maximises the denominator, so it minimises shot noise:
with ``N`` shots per circuit and ``+-1`` outcomes an entry has variance
``(1 - A^2 - g^2) / (2N)`` at ``s = pi/2``, where ``A = (f(t) + f(t + pi))/2``).

Cost: two circuits per differentiated rotation per sample (inputs' encoding rotations included).
All ``2 P`` shifted circuits of a whole batch run as one batched engine call.

On larger registers (at least :data:`KICK_QUBITS` qubits) the simulator shares the work of the
two shifted circuits of each slot. Since ``R(t + s) = R(t) R(s)`` and
``R(s) = cos(s/2) I + sin(s/2) R(pi)`` for every Pauli rotation,

.. math::  \psi(\theta \pm s e_k) = \cos\tfrac{s}{2}\,\psi(\theta)
           \pm \sin\tfrac{s}{2}\,\psi(\theta + \pi e_k)

exactly: one "pi-kicked" circuit per slot and the unshifted one give both shifted states, and
their probabilities are ``c^2 |psi|^2 + s^2 |psi_pi|^2 +- 2 c s Re(conj(psi) psi_pi)``. Those are
the shifted circuits' own output distributions (equal up to rounding), measured and sampled as
before; the cost accounting stays that of the hardware rule (two circuits per slot).
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

from qgradbench.backend.branching import KICK_QUBITS
from qgradbench.methods.base import MAX_AMPLITUDES_PER_CALL, Execution, Recipe, ShiftRuleMethod

__all__ = ["KICK_QUBITS", "ParameterShift", "kicked_shift_jacobian"]


@functools.lru_cache(maxsize=128)
def shift_recipe(n_params: int, slots: tuple[int, ...], shift: float) -> Recipe:
    """:func:`build_shift_recipe`, cached (mutmut skips decorated functions' bodies)."""
    return build_shift_recipe(n_params, slots, shift)


def build_shift_recipe(n_params: int, slots: tuple[int, ...], shift: float) -> Recipe:
    """Return the two-term recipe for ``slots``: rows ``+s e_k, -s e_k`` for each slot ``k``."""
    n = len(slots)
    offsets = np.zeros((2 * n, n_params))
    offsets[2 * np.arange(n), slots] = shift
    offsets[2 * np.arange(n) + 1, slots] = -shift
    coeffs = np.zeros((n, 2 * n))
    coeffs[np.arange(n), 2 * np.arange(n)] = 1 / (2 * math.sin(shift))
    coeffs[np.arange(n), 2 * np.arange(n) + 1] = -1 / (2 * math.sin(shift))
    return Recipe(offsets, coeffs, np.zeros(n))


@functools.lru_cache(maxsize=128)
def frequency_rule(frequencies: tuple[float, ...], shift: float) -> tuple[np.ndarray, np.ndarray]:
    """:func:`build_frequency_rule`, cached."""
    return build_frequency_rule(frequencies, shift)


def build_frequency_rule(
    frequencies: tuple[float, ...], shift: float = math.pi / 2
) -> tuple[np.ndarray, np.ndarray]:
    """Shifts ``y`` and coefficients ``d``: ``f'(t) = sum_mu d_mu (f(t + y_mu) - f(t - y_mu))``.

    Args:
        frequencies: the positive frequencies ``Omega_l`` of ``f`` along the parameter.
        shift: for a single frequency ``Omega``, the shift in units of ``1 / Omega`` (the
            two-term rule's ``s``); the general rules use Wierichs et al.'s shifts.

    Returns:
        ``(y, d)``, each ``(R,)``.

    Raises:
        ValueError: for no frequencies, a non-positive one, or shifts that leave the system
            singular.
    """
    omegas = np.sort(np.asarray(frequencies, dtype=float))
    if omegas.size == 0 or np.any(omegas <= 0):
        raise ValueError(f"frequencies must be positive numbers, got {frequencies!r}")
    if omegas.size == 1:
        return np.array([shift / omegas[0]]), np.array([omegas[0] / (2 * math.sin(shift))])
    r = omegas.size
    base = omegas[0]
    y = (2 * np.arange(1, r + 1) - 1) * math.pi / (2 * r * base)
    system = 2 * np.sin(np.outer(omegas, y))  # (R frequencies, R shifts)
    if abs(np.linalg.det(system)) < 1e-9:
        raise ValueError(
            f"no shift rule with Wierichs et al.'s shifts for frequencies {frequencies}"
        )
    return y, np.linalg.solve(system, omegas)


def build_general_recipe(
    n_params: int, slots: tuple[int, ...], frequencies: tuple[tuple[float, ...], ...], shift: float
) -> Recipe:
    """The recipe for ``slots`` with each slot's own rule (:func:`build_frequency_rule`).

    Rows ``+y_mu e_k, -y_mu e_k`` for each shift of each slot, in slot order.
    """
    rules = [frequency_rule(frequencies[k], shift) for k in slots]
    n_rows = sum(2 * len(y) for y, _ in rules)
    offsets = np.zeros((n_rows, n_params))
    coeffs = np.zeros((len(slots), n_rows))
    row = 0
    for s, (k, (y, d)) in enumerate(zip(slots, rules, strict=True)):
        for y_mu, d_mu in zip(y, d, strict=True):
            offsets[row, k], offsets[row + 1, k] = y_mu, -y_mu
            coeffs[s, row], coeffs[s, row + 1] = d_mu, -d_mu
            row += 2
    return Recipe(offsets, coeffs, np.zeros(len(slots)))


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

    def backward_circuits(self, circuit, slots) -> int:
        """``2 R`` circuits per slot with ``R`` frequencies (4 for a controlled rotation)."""
        return sum(2 * len(circuit.slot_frequencies[int(s)]) for s in slots)

    def recipe(self, execution, slots):  # noqa: D102
        circuit = execution.circuit
        slots = tuple(int(s) for s in slots)
        if circuit.all_simple or all(circuit.slot_frequencies[k] == (1.0,) for k in slots):
            return shift_recipe(circuit.n_params, slots, self.config["shift"])
        return build_general_recipe(
            circuit.n_params, slots, circuit.slot_frequencies, self.config["shift"]
        )

    def jacobian(self, execution, theta, slots, f0):  # noqa: D102
        slots = np.asarray(slots, dtype=np.int64)
        simple = execution.kickable(slots)
        if not simple.any():
            return super().jacobian(execution, theta, slots, f0)
        if simple.all():
            return kicked_shift_jacobian(execution, theta, slots, self.config["shift"])
        jac = theta.new_zeros(theta.shape[0], execution.observable.n_outputs, len(slots))
        rest = np.flatnonzero(~simple)
        jac[..., rest] = super().jacobian(execution, theta, slots[rest], f0)
        kicked = np.flatnonzero(simple)
        jac[..., kicked] = kicked_shift_jacobian(
            execution, theta, slots[kicked], self.config["shift"]
        )
        return jac


def kicked_shift_jacobian(
    execution: Execution, theta: torch.Tensor, slots: np.ndarray, shift: float
) -> torch.Tensor:
    """The two-term rule from pi-kicked circuits (module docstring), ``(B, n_out, S)``.

    The ``2 S`` shifted distributions of each sample are built from its unshifted state and
    ``S`` kicked states, which share the unshifted circuit's state up to the kicked rotation's
    stage (:meth:`~qgradbench.backend.Execution.kicked_probabilities`). Slots go a chunk at
    a time, so that the kicked states of a chunk hold at most
    :data:`~qgradbench.methods.base.MAX_AMPLITUDES_PER_CALL` amplitudes (with their shifted
    probabilities and the branches' shared prefixes, about four times that: 0.5 GiB in
    complex64). Rows are measured in the recipe's order (sample, slot, +/-), with shots as each
    shifted circuit would be.
    """
    batch, n_params = theta.shape
    n = execution.n_qubits
    c, s = math.cos(shift / 2), math.sin(shift / 2)
    slots_t = torch.as_tensor(np.asarray(slots), dtype=torch.long, device=theta.device)
    per_chunk = max(1, (MAX_AMPLITUDES_PER_CALL >> n) // batch)
    parts = []
    with torch.no_grad():
        for chunk in slots_t.split(per_chunk):
            probs = execution.kicked_probabilities(theta, chunk, c, s)
            values = execution.measure_probabilities(probs.reshape(-1, 2**n))
            values = values.reshape(batch, len(chunk), 2, -1)
            parts.append((values[:, :, 0] - values[:, :, 1]) / (2 * math.sin(shift)))
    return torch.cat(parts, dim=1).transpose(1, 2)
