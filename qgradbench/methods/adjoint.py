r"""Adjoint differentiation: one reverse sweep over the gates.

Jones & Gacon, "Efficient calculation of gradients in classical simulations of variational
quantum algorithms", arXiv:2009.02823 (2020).

With ``|phi_k> = U_k ... U_1 |0>`` and ``<lambda_k| = <psi| O U_N ... U_{k+1}``, the derivative of
``<O> = <psi|O|psi>`` with respect to the angle of a Pauli rotation ``U_k = exp(-i t_k P_k / 2)`` is

.. math::  \partial_{t_k} \langle O \rangle = 2\,\mathrm{Re}\,\langle\lambda_k|(-\tfrac{i}{2}P_k)
           |\phi_k\rangle = \mathrm{Im}\,\langle\lambda_k|P_k|\phi_k\rangle .

The sweep starts from ``|phi_N> = |psi>`` (kept from the forward pass) and ``|lambda_N> = O|psi>``,
and walks the circuit backwards, applying ``U_k^dagger`` to both: two stored states, whatever the
depth, and one backward pass over the gates. Consecutive rotations on one wire are handled as
one fused block (:func:`adjoint_sweep`), which is the same computation with fewer passes.

For a vector-Jacobian product the observable is ``O = sum_j v_j O_j`` with ``v`` the incoming
gradient, so one sweep gives the gradient of all outputs at once; :func:`adjoint_jacobian` runs
one ``lambda`` per output instead (folded into the batch).
"""

from __future__ import annotations

import torch

from qgradbench import engine
from qgradbench.circuits import Block
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

    The sweep moves backwards one fused block (consecutive rotations on one wire) at a time.
    With ``phi`` and ``lambda`` taken after a block ``M = R_k ... R_1`` on wire ``w``, the
    derivative for each of its rotations is ``2 Re <lambda| (A_j (x) 1) |phi> = 2 Re Tr(A_j C)``
    where ``A_j = dM/dt_j M^dagger`` (:meth:`Circuit.block_generators`) and
    ``C = Tr_{not w} |phi><lambda|`` is a 2x2 matrix: one contraction per block, then
    ``M^dagger`` is applied to both states. Still two stored states, one pass over the gates.

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
    gens = circuit.block_generators(mats)  # (B, R, 2, 2)
    blocks = circuit.block_matrices(mats)
    both = torch.cat([state.unsqueeze(1), lam], dim=1)  # (B, 1 + K, 2, ..., 2)
    per_rotation = theta.new_zeros(batch, k, len(circuit.rotations))
    for op in reversed(circuit.ops):
        if not isinstance(op, Block):
            both = engine.apply_monomial(both, op.inverse)
            continue
        view = both.reshape(batch, 1 + k, 2**op.wire, 2, -1)
        # C[b, k] = sum over the other wires of phi (x) conj(lambda_k): (B, K, 2, 2)
        c = torch.einsum("blxr,bklyr->bkxy", view[:, 0], view[:, 1:].conj())
        ids = list(op.rotations)
        # Tr(A_j C) = sum_xy A_j[y, x] C[x, y], for every rotation j of the block at once
        a = gens[:, ids].transpose(-1, -2).reshape(batch, len(ids), 4)
        per_rotation[:, :, ids] = 2 * torch.bmm(c.reshape(batch, k, 4), a.transpose(1, 2)).real
        inverse = blocks[op].conj().transpose(-1, -2).unsqueeze(1)
        both = engine.apply_matrix(both, inverse, op.wire, n)
    grads = theta.new_zeros(batch, k, circuit.n_params)
    trainable = list(circuit.trainable)
    slots = [circuit.rotations[i].slot for i in trainable]
    grads[:, :, slots] = per_rotation[:, :, trainable]
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
