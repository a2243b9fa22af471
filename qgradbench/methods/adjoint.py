r"""Adjoint differentiation: one reverse sweep over the gates.

Jones & Gacon, "Efficient calculation of gradients in classical simulations of variational
quantum algorithms", arXiv:2009.02823 (2020).

With ``|phi_k> = U_k ... U_1 |0>`` and ``<lambda_k| = <psi| O U_N ... U_{k+1}``, the derivative of
``<O> = <psi|O|psi>`` with respect to the angle of a Pauli rotation ``U_k = exp(-i t_k P_k / 2)`` is

.. math::  \partial_{t_k} \langle O \rangle = 2\,\mathrm{Re}\,\langle\lambda_k|(-\tfrac{i}{2}P_k)
           |\phi_k\rangle = \mathrm{Im}\,\langle\lambda_k|P_k|\phi_k\rangle .

The sweep starts from ``|phi_N> = |psi>`` (kept from the forward pass) and ``|lambda_N> = O|psi>``,
and walks the circuit backwards, applying ``U_k^dagger`` to both: two stored states, whatever the
depth, and one backward pass over the gates.

For a vector-Jacobian product the observable is ``O = sum_j v_j O_j`` with ``v`` the incoming
gradient, so one sweep gives the gradient of all outputs at once; :func:`adjoint_jacobian` runs
one ``lambda`` per output instead (folded into the batch).
"""

from __future__ import annotations

import torch

from qgradbench import engine
from qgradbench.methods.base import (
    Execution,
    SimulatorMethod,
    assemble,
    split_grad,
)


def adjoint_sweep(
    execution: Execution, theta: torch.Tensor, state: torch.Tensor, lam: torch.Tensor
) -> torch.Tensor:
    """Run the reverse sweep and return ``Im <lambda_k| P_k |phi_k>`` for every slot.

    Args:
        execution: circuit and precision.
        theta: angle vectors ``(B, P)``.
        state: final states ``|psi>`` ``(B, 2, ..., 2)``.
        lam: ``(B, K, 2, ..., 2)``: ``O_j |psi>`` for ``K`` observables.

    Returns:
        ``(B, K, P)``: the derivative of each ``<O_j>`` with respect to each slot.
    """
    circuit, n = execution.circuit, execution.n_qubits
    batch, k = lam.shape[:2]
    mats = circuit.rotation_matrices(theta, execution.dtype)  # (B, R, 2, 2)
    inverse = mats.conj().transpose(-1, -2).unsqueeze(1)  # broadcast over phi and the lambdas
    paulis = engine.pauli_stack(
        tuple(r.pauli for r in circuit.rotations), execution.dtype, theta.device
    )
    both = torch.cat([state.unsqueeze(1), lam], dim=1)  # (B, 1 + K, 2, ..., 2)
    grads = theta.new_zeros(batch, k, circuit.n_params)
    for kind, item in reversed(circuit.sequence):
        if kind == "fixed":
            both = engine.apply_monomial(both, item.inverse)
            continue
        rot = circuit.rotations[item]
        if rot.slot is not None:
            p_phi = engine.apply_matrix(both[:, :1], paulis[item], rot.wire, n)
            overlap = torch.matmul(
                both[:, 1:].reshape(batch, k, -1).conj(), p_phi.reshape(batch, -1, 1)
            )
            grads[:, :, rot.slot] = overlap[..., 0].imag
        both = engine.apply_matrix(both, inverse[:, :, item], rot.wire, n)
    return grads


def adjoint_jacobian(execution: Execution, theta: torch.Tensor) -> torch.Tensor:
    """Return the exact Jacobian ``d <O_j> / d theta`` ``(B, n_out, P)`` by one adjoint sweep."""
    with torch.no_grad():
        state = execution.state(theta)
        diag = execution.diagonals(theta.device)  # (n_out, 2**n)
        flat = state.reshape(state.shape[0], 1, -1)
        lam = (flat * diag).reshape(state.shape[0], diag.shape[0], *state.shape[1:])
        return adjoint_sweep(execution, theta, state, lam)


class Adjoint(SimulatorMethod):
    """Adjoint differentiation (Jones & Gacon 2020), a custom ``torch.autograd.Function``.

    Forward: simulate once, keep the final state. Backward: one reverse sweep with
    ``|lambda> = (sum_j v_j O_j)|psi>`` (``v`` the incoming gradient) gives the vector-Jacobian
    product for inputs and weights in ``O(1)`` stored states. Exact, simulator only, no shots.
    """

    name = "adjoint"
    supports_shots = False
    hardware = "no"
    summary = "Jones & Gacon reverse sweep: one forward, one backward pass, O(1) states"

    def forward(self, execution, inputs, weights):  # noqa: D102
        return _AdjointVJP.apply(inputs, weights, execution)


class _AdjointVJP(torch.autograd.Function):
    @staticmethod
    def forward(ctx, inputs, weights, execution: Execution):
        theta = assemble(inputs.detach(), weights.detach())
        state = execution.state(theta)
        out = engine.expval_diagonal(state, execution.diagonals(theta.device), execution.n_qubits)
        ctx.save_for_backward(theta, state)
        ctx.execution, ctx.n_inputs = execution, inputs.shape[-1]
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        theta, state = ctx.saved_tensors
        execution = ctx.execution
        # O_eff = sum_j v_j O_j is diagonal: its eigenvalues are grad_out @ table.
        o_eff = grad_out.to(theta.dtype) @ execution.diagonals(theta.device)  # (B, 2**n)
        lam = (state.reshape(o_eff.shape) * o_eff).reshape(state.shape).unsqueeze(1)
        grad_theta = adjoint_sweep(execution, theta, state, lam)[:, 0]
        execution.record("backward", theta.shape[0], 0)
        # The sweep yields every slot at no extra cost; keep those autograd asked for.
        return (*split_grad(grad_theta, ctx.n_inputs, tuple(ctx.needs_input_grad[:2])), None)
