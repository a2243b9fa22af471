r"""Hadamard-test gradients: an ancilla and one controlled Pauli per parameter.

Guerreschi & Smelyanskiy, "Practical optimization for hybrid quantum-classical algorithms",
arXiv:1701.01450 (2017); Schuld et al., PRA 99, 032331 (2019), section III.

For a rotation ``U_k = exp(-i t_k P_k / 2)`` the derivative of ``<O>`` is
``Im <lambda_k| P_k |phi_k>`` (see :mod:`qgradbench.methods.adjoint`). The Hadamard test measures
exactly that: prepare an ancilla in ``|+>``, run the circuit, and right after ``U_k`` apply
``P_k`` controlled on the ancilla; at the end measure ``Y`` on the ancilla together with ``O``:

.. math::  \langle Y_a \otimes O \rangle
           = \mathrm{Im}\,\langle\phi_k| U_{>k}^\dagger O U_{>k} P_k |\phi_k\rangle
           = \partial_{t_k} \langle O \rangle .

The ``Y`` measurement is a ``S^dagger`` then ``H`` on the ancilla and a computational-basis
measurement of all ``n + 1`` qubits; with ``N`` shots each entry is the mean of ``N`` products of
``+-1`` outcomes, so for Pauli-word observables ``Var = (1 - g^2) / N``. Every output of a
circuit is estimated from the same bitstrings.

The ``n + 1``-qubit circuits are simulated for real, one per differentiated angle and sample,
all in one batch. Cost: one circuit per differentiated rotation per sample.

On registers of at least :data:`~qgradbench.methods.parameter_shift.KICK_QUBITS` qubits the
simulator shares work between them: the ancilla-0 branch is the plain circuit ``psi`` for every
slot, and the controlled-``P_k`` branch is ``i psi(theta + pi e_k)`` (since ``R(pi) = -i P``), so
after ``H S^dagger`` the ancilla-0 and ancilla-1 halves of the register's amplitudes are
``(psi +- psi(theta + pi e_k)) / 2``: the same pi-kicked states as the parameter-shift rule's,
branched off ``psi`` at the kicked rotation's stage, and ``n``-qubit states instead of ``n + 1``.
The measured distribution is the circuit's own (equal up to rounding).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from qgradbench import engine
from qgradbench.methods.base import MAX_AMPLITUDES_PER_CALL, Execution, HardwareMethod
from qgradbench.methods.parameter_shift import KICK_QUBITS, kicked_probabilities


def hadamard_test(execution: Execution, theta: torch.Tensor, slots) -> torch.Tensor:
    """Run the Hadamard-test circuits of ``slots`` and return ``<Y_a O_j>`` as ``(B, S, n_out)``.

    A slot that drives several rotations (a gate lowered to several Pauli rotations, such as
    ``CRX``) gets one Hadamard-test circuit per rotation, and its entry is their sum weighted
    by the rotations' scales (the chain rule, "by decomposition").
    """
    circuit = execution.circuit
    slots = np.asarray(slots, dtype=np.int64)
    if (
        execution.n_qubits >= KICK_QUBITS
        and execution.observable.diagonal
        and bool(circuit.simple_slots[slots].all())
    ):
        return _kicked_hadamard(execution, theta, slots)
    columns = [(s, r) for s, slot in enumerate(slots) for r in circuit.slot_rotations[slot]]
    values = _hadamard_circuits(execution, theta, [r for _, r in columns])  # (B, C, n_out)
    if len(columns) == len(slots) and circuit.all_simple:
        return values
    scales = torch.as_tensor(
        [circuit.rotations[r].scale for _, r in columns], dtype=values.dtype, device=values.device
    )
    index = torch.as_tensor([s for s, _ in columns], device=values.device)
    out = values.new_zeros(values.shape[0], len(slots), values.shape[-1])
    return out.index_add_(1, index, values * scales[:, None])


def _kicked_hadamard(execution: Execution, theta: torch.Tensor, slots) -> torch.Tensor:
    """The Hadamard test of simple slots from pi-kicked states (module docstring)."""
    batch, n_slots = theta.shape[0], len(slots)
    chosen = torch.as_tensor(slots, dtype=torch.long, device=theta.device)
    half = math.sqrt(0.5)  # |(psi +- psi_pi) / 2|^2 = (c psi +- s psi_pi)^2 / 2, c = s = 1/sqrt2
    probs = 0.5 * kicked_probabilities(execution, theta, chosen, half, half)
    return _measure_y(execution, probs.reshape(batch * n_slots, -1), theta.device).reshape(
        batch, n_slots, -1
    )


def _hadamard_circuits(execution: Execution, theta: torch.Tensor, rotations) -> torch.Tensor:
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


class Hadamard(HardwareMethod):
    """Hadamard-test gradient (Guerreschi & Smelyanskiy 2017): ancilla + controlled Pauli.

    One ``n + 1``-qubit circuit per differentiated rotation (inputs' encoding rotations
    included) per sample, ``shots`` shots each.
    """

    name = "hadamard"
    supports_shots = True
    hardware = "yes"
    summary = "Hadamard test: ancilla + controlled Pauli, 1 circuit per rotation"

    def circuits_per_sample(self, n_slots: int) -> int:
        """One Hadamard-test circuit per differentiated rotation."""
        return n_slots

    def backward_circuits(self, circuit, slots) -> int:
        """One circuit per rotation the slots drive (several for a lowered gate such as CRX)."""
        return sum(len(circuit.slot_rotations[int(s)]) for s in slots)

    def jacobian(self, execution, theta, slots, f0):  # noqa: D102
        # n + 1 qubits, two ancilla branches: chunk the slots to bound memory.
        per_slot = theta.shape[0] * 2 ** (execution.n_qubits + 1)
        chunk = max(1, MAX_AMPLITUDES_PER_CALL // per_slot)
        with torch.no_grad():
            parts = [
                hadamard_test(execution, theta, slots[i : i + chunk])
                for i in range(0, len(slots), chunk)
            ]
        return torch.cat(parts, dim=1).transpose(1, 2)
