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

import functools

import numpy as np
import torch

from qgradbench import engine
from qgradbench.circuits import schedule as schedules
from qgradbench.circuits.schedule import DenseStage
from qgradbench.engine import Monomial
from qgradbench.engine.gates import bit
from qgradbench.methods.base import (
    Execution,
    SimulatorMethod,
    split_grad,
)


def adjoint_sweep(
    execution: Execution,
    batched: torch.Tensor,
    shared: torch.Tensor,
    state: torch.Tensor,
    lam: torch.Tensor,
) -> torch.Tensor:
    """Run the reverse sweep and return ``Im <lambda_k| P_k |phi_k>`` for every slot.

    The sweep walks the circuit's :class:`~qgradbench.circuits.schedule.Schedule` backwards, one
    fused block, dense layer or fixed gate at a time. With ``phi`` and ``lambda`` taken after a
    block ``M = R_k ... R_1`` on wire ``w``, the derivative for each of its rotations is
    ``2 Re <lambda| (A_j (x) 1) |phi> = 2 Re Tr(A_j C)`` where ``A_j = dM/dt_j M^dagger``
    (:meth:`Schedule.gates`) and ``C = Tr_{not w} |phi><lambda|`` is a 2x2 matrix.
    The blocks of a dense layer act on distinct wires and commute, so one pair of states serves
    all of them; then the layer's ``U^dagger`` is applied to both states by one matrix product.
    Still two stored states, one pass over the gates.

    Args:
        execution: circuit and precision.
        batched: the per-circuit slots ``(B, k)``.
        shared: the other slots ``(P - k,)``, the same for every circuit (empty when ``k = P``).
        state: final states ``|psi>`` ``(B, 2, ..., 2)``.
        lam: ``(B, K, 2, ..., 2)``: ``O_j |psi>`` for ``K`` observables.

    Returns:
        ``(B, K, P)``: the derivative of each ``<O_j>`` with respect to each slot.
    """
    circuit, n = execution.circuit, execution.n_qubits
    schedule = circuit.schedule(batched.shape[-1])
    plan = schedule.memo(("adjoint", str(batched.device)), lambda: _plan(schedule, batched.device))
    gates = schedule.gates(batched, shared, execution.dtype, generators=True)
    head_gens, suffix_gens = gates.head_generators, gates.suffix_generators
    unitaries = schedule.dense_unitaries(gates, post=False) if schedule.dense_layers else None
    both = torch.cat([state.unsqueeze(1), lam], dim=1)  # (B, 1 + K, 2, ..., 2)
    parts = []
    steps = zip(reversed(schedule.stages), plan["stages"], strict=True)
    for stage, (heads, suffixes, wires, rows) in steps:
        if isinstance(stage, Monomial):
            both = engine.apply_monomial(both, stage.inverse)
            continue
        if isinstance(stage, DenseStage):
            layer = schedule.dense_layers[stage.layer]
            if layer.post is not None:
                both = engine.apply_monomial(both, layer.post.inverse)
            c = _reduced(both, n, wires).index_select(2, rows)  # (B, K, J, 2, 2)
            parts.append(_trace(suffix_gens.index_select(0, suffixes), c))
            flat = both.reshape(*both.shape[:2], -1) @ unitaries[stage.layer].conj()
            both = flat.reshape(both.shape)
            continue
        c = _reduced(both, n, wires)  # (B, K, 1, 2, 2)
        if heads is not None:
            parts.append(_trace(head_gens.index_select(1, heads).unsqueeze(1), c))
        if suffixes is not None:
            parts.append(_trace(suffix_gens.index_select(0, suffixes), c))
        inverse = schedule.gate_matrix(stage, gates).mH
        inverse = inverse if inverse.dim() == 2 else inverse.unsqueeze(1)  # per circuit: (B, 1)
        both = engine.apply_matrix(both, inverse, stage.wire, n)
    heads, suffixes, wires, head_rows, suffix_rows = plan["lead"]
    if wires:
        c = _reduced(both, n, wires)
        if heads is not None:
            head_c = c.index_select(2, head_rows)
            parts.append(_trace(head_gens.index_select(1, heads).unsqueeze(1), head_c))
        if suffixes is not None:
            suffix_c = c.index_select(2, suffix_rows)
            parts.append(_trace(suffix_gens.index_select(0, suffixes), suffix_c))
    grads = state.real.new_zeros(batched.shape[0], lam.shape[1], circuit.n_params)
    if parts:
        per_rotation = torch.cat(parts, dim=-1)  # (B, K, rotations in sweep order)
        grads[..., plan["slots"]] = per_rotation.index_select(-1, plan["take"])
    return grads


def _trace(gens: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """``2 Re Tr(A_j C_j)`` for generators ``(..., J, 2, 2)`` and ``C`` ``(B, K, J, 2, 2)``."""
    return 2 * (c * gens.transpose(-1, -2)).sum((-2, -1)).real


@functools.lru_cache(maxsize=32)
def _wire_index(n: int, device: str) -> torch.Tensor:
    """``index[w, x, r]``: the basis state with bit ``x`` on wire ``w`` and the others ``r``."""
    s = np.arange(2**n)
    rows = [np.stack([s[bit(s, w, n) == x] for x in (0, 1)]) for w in range(n)]
    return torch.as_tensor(np.stack(rows), device=device)


def _reduced(both: torch.Tensor, n: int, wires: list[int]) -> torch.Tensor:
    """``C_w = Tr_{not w} |phi><lambda_k|`` for each of ``wires``: ``(B, K, len(wires), 2, 2)``.

    ``both`` holds ``phi`` at index 0 of axis 1 and the ``lambda_k`` after it. On a small
    register all wires come from one gather; otherwise one contraction per wire.
    """
    batch, rows = both.shape[:2]
    if len(wires) > 1 and n <= schedules.DENSE_QUBITS:
        index = _wire_index(n, str(both.device))[wires]  # (W, 2, 2**(n-1))
        picked = both.reshape(batch, rows, -1)[..., index]  # (B, 1 + K, W, 2, 2**(n-1))
        return torch.einsum("bwxr,bkwyr->bkwxy", picked[:, 0], picked[:, 1:].conj())
    out = []
    for wire in wires:
        view = both.reshape(batch, rows, 2**wire, 2, -1)
        out.append(torch.einsum("blxr,bklyr->bkxy", view[:, 0], view[:, 1:].conj()))
    return torch.stack(out, dim=2)


def _plan(schedule, device) -> dict:
    """Index tensors of the sweep over ``schedule`` (kept with it, see :meth:`Schedule.memo`).

    For each stage in sweep order: the generators it differentiates, on which wires, and, at the
    end, where each rotation's derivative goes among the slots.
    """
    order: list[int] = []  # rotation ids in the order the sweep emits their derivatives

    def tensor(values):
        return torch.as_tensor(values, dtype=torch.long, device=device)

    def heads_of(chains):
        positions = [p for chain in chains for p in schedule.head_chains[chain]]
        order.extend(schedule.batched_rotations[p] for p in positions)
        return tensor(positions) if positions else None

    def suffixes_of(chains):
        positions = [p for chain in chains for p in schedule.suffix_chains[chain]]
        order.extend(schedule.shared_rotations[p] for p in positions)
        return tensor(positions) if positions else None

    stages = []
    for stage in reversed(schedule.stages):
        if isinstance(stage, Monomial):
            stages.append((None, None, None, None))
        elif isinstance(stage, DenseStage):
            blocks = schedule.dense_layers[stage.layer].blocks
            chains = [schedule.parts[b][1] for b in blocks]
            rows = [k for k, ch in enumerate(chains) for _ in schedule.suffix_chains[ch]]
            stages.append((None, suffixes_of(chains), [b.wire for b in blocks], tensor(rows)))
        else:
            heads = heads_of([stage.head] if stage.head is not None else [])
            suffixes = suffixes_of([stage.suffix] if stage.suffix is not None else [])
            stages.append((heads, suffixes, [stage.wire], None))
    lead = schedule.lead_blocks
    head_chains = [(k, schedule.parts[b][0]) for k, b in enumerate(lead)]
    head_chains = [(k, ch) for k, ch in head_chains if ch is not None]
    suffix_chains = [(k, schedule.parts[b][1]) for k, b in enumerate(lead)]
    suffix_chains = [(k, ch) for k, ch in suffix_chains if ch is not None]
    lead_heads = heads_of([ch for _, ch in head_chains])
    head_rows = [k for k, ch in head_chains for _ in schedule.head_chains[ch]]
    lead_suffixes = suffixes_of([ch for _, ch in suffix_chains])
    suffix_rows = [k for k, ch in suffix_chains for _ in schedule.suffix_chains[ch]]
    lead_wires = [b.wire for b in lead]
    rotations = schedule.circuit.rotations
    take = [k for k, i in enumerate(order) if rotations[i].slot is not None]
    return {
        "stages": stages,
        "lead": (lead_heads, lead_suffixes, lead_wires, tensor(head_rows), tensor(suffix_rows)),
        "take": tensor(take),
        "slots": tensor([rotations[order[k]].slot for k in take]),
    }


def adjoint_jacobian(execution: Execution, theta: torch.Tensor) -> torch.Tensor:
    """Return the exact Jacobian ``d <O_j> / d theta`` ``(B, n_out, P)`` by one adjoint sweep."""
    with torch.no_grad():
        state = execution.state(theta)
        diag = execution.diagonals(theta.device)  # (n_out, 2**n)
        flat = state.reshape(state.shape[0], 1, -1)
        lam = (flat * diag).reshape(state.shape[0], diag.shape[0], *state.shape[1:])
        return adjoint_sweep(execution, theta, theta.new_zeros(0), state, lam)


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
        inputs, weights = inputs.detach(), weights.detach()
        state = execution.state(inputs, weights)
        out = engine.expval_diagonal(state, execution.diagonals(state.device), execution.n_qubits)
        ctx.save_for_backward(inputs, weights, state)
        ctx.execution, ctx.n_inputs = execution, inputs.shape[-1]
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        inputs, weights, state = ctx.saved_tensors
        execution = ctx.execution
        # O_eff = sum_j v_j O_j is diagonal: its eigenvalues are grad_out @ table.
        o_eff = grad_out.to(inputs.dtype) @ execution.diagonals(state.device)  # (B, 2**n)
        lam = (state.reshape(o_eff.shape) * o_eff).reshape(state.shape).unsqueeze(1)
        grad_theta = adjoint_sweep(execution, inputs, weights, state, lam)[:, 0]
        execution.record("backward", inputs.shape[0], 0)
        # The sweep yields every slot at no extra cost; keep those autograd asked for.
        return (*split_grad(grad_theta, ctx.n_inputs, tuple(ctx.needs_input_grad[:2])), None)
