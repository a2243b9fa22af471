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
from qgradbench.backend.branching import KICK_QUBITS, kicked_probabilities, pi_kicks

if TYPE_CHECKING:
    from qgradbench.backend.execution import Execution


def kicked_hadamard(execution: Execution, theta: torch.Tensor, slots) -> torch.Tensor:
    """The Hadamard test of simple slots from pi-kicked states (module docstring).

    Below :data:`~qgradbench.backend.branching.KICK_QUBITS` the kicked states are run as
    shifted circuits that share a batch's weights (:func:`_kicked_by_variants`); from there on
    they branch off ``psi`` (:func:`~qgradbench.backend.branching.kicked_probabilities`).
    """
    batch, n_slots = theta.shape[0], len(slots)
    chosen = torch.as_tensor(slots, dtype=torch.long, device=theta.device)
    if execution.n_qubits < KICK_QUBITS:
        probs = _kicked_by_variants(execution, theta, chosen)
    else:
        half = math.sqrt(0.5)  # |(psi +- psi_pi) / 2|^2 = (c psi +- s psi_pi)^2 / 2, c = s
        probs = 0.5 * kicked_probabilities(execution, theta, chosen, half, half)
    return _measure_y(execution, probs.reshape(batch * n_slots, -1), theta.device).reshape(
        batch, n_slots, -1
    )


def _kicked_by_variants(execution: Execution, theta: torch.Tensor, chosen) -> torch.Tensor:
    """``|psi +- psi(theta + pi e_k)|^2 / 4`` ``(B, S, 2, 2**n)`` for the slots ``chosen``.

    The kicked circuits run as :meth:`~qgradbench.backend.execution.Execution.shifted_states`
    runs a gradient rule's shifted circuits. Measured on the 2-core VM (the seed layer, 32 rows,
    all 28 slots, complex64, one thread): 0.8 ms for the kicked states and their measurement,
    against 3.1 ms for :func:`~qgradbench.backend.branching.kicked_probabilities`.
    """
    with torch.no_grad():
        psi = execution.state(*execution.split_shared(theta)).reshape(theta.shape[0], 1, -1)
        kicked = execution.shifted_states(theta, pi_kicks(theta, chosen))  # (B, S, 2**n)
    both = torch.stack([psi + kicked, psi - kicked], dim=2)  # (B, S, 2, 2**n)
    n = execution.n_qubits
    return engine.probabilities(both.reshape(-1, *[2] * n), n).reshape(both.shape) / 4


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
