"""Pi-kicked branching: shifted circuits' distributions from one prefix and one kick.

For every plain Pauli rotation, ``R(t + s) = cos(s/2) R(t) + sin(s/2) R(t + pi)``, so the states
of the circuits shifted by ``+-s`` along slot ``k`` are ``cos(s/2) psi +- sin(s/2) psi_k`` with
``psi_k`` the circuit kicked by ``pi`` along ``k``
(:mod:`qgradbench.methods.parameter_shift`). The kicked circuits share the unshifted one's
state up to the kicked rotation's stage
(:meth:`~qgradbench.circuits.schedule.Schedule.run_branched`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from qgradbench.backend.execution import Execution

#: Smallest register on which the shifted circuits come from pi-kicked ones (module docstring):
#: half the simulated circuits. Below, a step is bound by per-call overhead, not by the size of
#: the states, and the recipe runs as one plain batch of ``2 P`` circuits.
KICK_QUBITS = 7

#: The same for the Hadamard test, whose circuits otherwise run gate by gate on ``n + 1``
#: qubits with both ancilla branches (:func:`qgradbench.backend.hadamard.hadamard_circuits`):
#: the kicked states win from 3 qubits on. Measured on the 2-core VM (complex64, one thread,
#: every slot of a layer, exact): 32 rows sharing their weights, 3 qubits 2.6 against 2.2 ms
#: kicked, 4 qubits 6.7 against 3.4 ms, 6 qubits 41 against 8.5 ms; 1000 rows of 4 qubits with
#: their own weights 165 against 74 ms; at 2 qubits and 32 rows 1.3 against 1.6 ms.
HADAMARD_KICK_QUBITS = 3


def pi_kicks(theta: torch.Tensor, slots) -> torch.Tensor:
    """Offsets ``(S, P)`` kicking slot ``slots[j]`` by ``pi`` in row ``j``: ``theta + pi e_k``.

    As :meth:`~qgradbench.backend.execution.Execution.estimate_shifted` and
    :meth:`~qgradbench.backend.execution.Execution.shifted_states` take them.
    """
    kicks = theta.new_zeros(len(slots), theta.shape[-1])
    rows = torch.arange(len(slots), device=theta.device)
    kicks[rows, torch.as_tensor(slots, device=theta.device)] = math.pi
    return kicks


def kicked_probabilities(
    execution: Execution, theta: torch.Tensor, slots: torch.Tensor, c: float, s: float
) -> torch.Tensor:
    """Probabilities of ``c psi(theta) +- s psi(theta + pi e_k)`` for each of ``slots``.

    Returns:
        ``(B, S, 2, 2**n)``: the ``+`` and ``-`` combinations' ``|amplitude|^2`` (for
        ``c = cos(t/2)``, ``s = sin(t/2)`` those of the circuits shifted by ``+-t``).
    """
    batch, n_params = theta.shape
    kick = torch.zeros(len(slots), n_params, dtype=theta.dtype, device=theta.device)
    kick[torch.arange(len(slots)), slots] = math.pi
    schedule = execution.circuit.schedule(n_params)
    psi, phi = schedule.run_branched(theta, theta.unsqueeze(1) + kick, execution.dtype)
    psi, phi = psi.reshape(batch, 1, -1), phi.reshape(batch, len(slots), -1)
    # elementwise on the real and imaginary parts (a sum over view_as_real's pairs is slow)
    common = _abs2(phi).mul_(s * s).add_(_abs2(psi), alpha=c * c)
    cross = (phi.real * psi.real).add_(phi.imag * psi.imag).mul_(2 * c * s)  # 2cs Re(psi* phi)
    probs = torch.stack([common + cross, common.sub_(cross)], dim=2)
    return probs.clamp_(min=0)


def _abs2(z: torch.Tensor) -> torch.Tensor:
    """``|z|^2`` as a new real tensor."""
    return (z.real * z.real).addcmul_(z.imag, z.imag)
