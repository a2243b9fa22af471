"""The Hadamard test's circuits, simulated: an ancilla, a controlled Pauli, a ``Y`` measurement.

See :mod:`qgradbench.methods.hadamard` for the rule. :func:`hadamard_circuits` simulates the
``n + 1``-qubit circuits for real, one per rotation, all in one batch; :func:`kicked_hadamard`
gives the same distributions from the pi-kicked states of :mod:`qgradbench.backend.branching`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch

from qgradbench import engine
from qgradbench.backend.branching import kicked_probabilities

if TYPE_CHECKING:
    from qgradbench.backend.execution import Execution


def kicked_hadamard(execution: Execution, theta: torch.Tensor, slots) -> torch.Tensor:
    """The Hadamard test of simple slots from pi-kicked states (module docstring)."""
    batch, n_slots = theta.shape[0], len(slots)
    chosen = torch.as_tensor(slots, dtype=torch.long, device=theta.device)
    half = math.sqrt(0.5)  # |(psi +- psi_pi) / 2|^2 = (c psi +- s psi_pi)^2 / 2, c = s = 1/sqrt2
    probs = 0.5 * kicked_probabilities(execution, theta, chosen, half, half)
    return _measure_y(execution, probs.reshape(batch * n_slots, -1), theta.device).reshape(
        batch, n_slots, -1
    )


def hadamard_circuits(execution: Execution, theta: torch.Tensor, rotations) -> torch.Tensor:
    """``<Y_a O_j>`` of the Hadamard test of each of ``rotations``: ``(B, C, n_out)``.

    The ancilla is the most significant qubit and is held as a leading axis of the state
    ``(B, C, 2, 2, ..., 2)``, so every gate of the circuit acts on both ancilla branches and the
    controlled Pauli acts on the ancilla-1 branch alone.
    """
    circuit, n, dtype = execution.circuit, execution.n_qubits, execution.dtype
    batch, count = theta.shape[0], len(rotations)
    column: dict[int, list[int]] = {}
    for c, r in enumerate(rotations):
        column.setdefault(int(r), []).append(c)
    mats = circuit.rotation_matrices(theta, dtype)[:, None, None]  # (B, 1, 1, R, 2, 2)
    paulis = engine.pauli_stack(tuple(r.pauli for r in circuit.rotations), dtype, theta.device)
    state = torch.zeros(batch, count, 2, 2**n, dtype=dtype, device=theta.device)
    state[..., 0] = 1 / math.sqrt(2)  # ancilla |+>, system |0...0>
    state = state.reshape(batch, count, 2, *([2] * n))
    for kind, item in circuit.sequence:
        if kind == "fixed":
            state = engine.apply_fixed(state, item)
            continue
        rot = circuit.rotations[item]
        state = engine.apply_matrix(state, mats[..., item, :, :], rot.wire, n)
        for c in column.get(item, ()):  # controlled-P_k, control = ancilla, in circuit c only
            state[:, c, 1] = engine.apply_matrix(state[:, c, 1], paulis[item], rot.wire, n)
    # Measure Y on the ancilla: rotate by H S^dagger, then measure Z.
    zero, one = state[:, :, 0], state[:, :, 1]
    state = torch.stack([zero - 1j * one, zero + 1j * one], dim=2) / math.sqrt(2)
    state = state.reshape(batch * count, *([2] * (n + 1)))
    if not execution.observable.diagonal:  # each measurement group in its own basis
        values = execution.observable.estimate(
            state, execution.shots, execution.generator, execution.shot_split, ancilla=True
        )
        return values.reshape(batch, count, -1)
    probs = engine.probabilities(state, n + 1)
    return _measure_y(execution, probs, theta.device).reshape(batch, count, -1)


def _measure_y(execution: Execution, probs: torch.Tensor, device) -> torch.Tensor:
    """``<Y_a O_j>`` from the ``n + 1``-qubit probabilities (ancilla most significant)."""
    table = execution.diagonals(device)
    y_times_o = torch.cat([table, -table], dim=-1)  # ancilla outcome +1 / -1 times O
    return engine.estimate_expvals(probs, y_times_o, execution.shots, execution.generator)
