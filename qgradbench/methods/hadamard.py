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

On registers of at least :data:`~qgradbench.backend.branching.HADAMARD_KICK_QUBITS` qubits
(plain Pauli rotations, a diagonal observable) the simulator shares work between them: the
ancilla-0 branch is the plain circuit ``psi`` for every slot, and the controlled-``P_k``
branch is ``i psi(theta + pi e_k)`` (since ``R(pi) = -i P``), so after ``H S^dagger`` the
ancilla-0 and ancilla-1 halves of the register's amplitudes are
``(psi +- psi(theta + pi e_k)) / 2``: the same pi-kicked states as the parameter-shift rule's,
branched off ``psi`` at the kicked rotation's stage, and ``n``-qubit states instead of ``n + 1``.
The measured distribution is the circuit's own (equal up to rounding).
"""

from __future__ import annotations

import numpy as np
import torch

from qgradbench.backend.branching import HADAMARD_KICK_QUBITS
from qgradbench.methods.base import MAX_AMPLITUDES_PER_CALL, Execution, HardwareMethod


def hadamard_test(execution: Execution, theta: torch.Tensor, slots) -> torch.Tensor:
    """Run the Hadamard-test circuits of ``slots`` and return ``<Y_a O_j>`` as ``(B, S, n_out)``.

    A slot that drives several rotations (a gate lowered to several Pauli rotations, such as
    ``CRX``) gets one Hadamard-test circuit per rotation, and its entry is their sum weighted
    by the rotations' scales (the chain rule, "by decomposition").
    """
    circuit = execution.circuit
    slots = np.asarray(slots, dtype=np.int64)
    if bool(execution.kickable(slots, min_qubits=HADAMARD_KICK_QUBITS).all()):
        return execution.kicked_hadamard(theta, slots)
    columns = [(s, r) for s, slot in enumerate(slots) for r in circuit.slot_rotations[slot]]
    values = execution.hadamard_circuits(theta, [r for _, r in columns])  # (B, C, n_out)
    if len(columns) == len(slots) and circuit.all_simple:
        return values
    scales = torch.as_tensor(
        [circuit.rotations[r].scale for _, r in columns], dtype=values.dtype, device=values.device
    )
    index = torch.as_tensor([s for s, _ in columns], device=values.device)
    out = values.new_zeros(values.shape[0], len(slots), values.shape[-1])
    return out.index_add_(1, index, values * scales[:, None])


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
