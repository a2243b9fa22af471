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
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from qgradbench import engine
from qgradbench.circuits.schedule import (
    DenseStage,
    DiagonalStage,
    FusedStage,
    Gates,
    GateStage,
    Schedule,
    apply_phases,
)
from qgradbench.engine import Monomial, Unitary, fused
from qgradbench.engine.dense import gather_last
from qgradbench.engine.gates import bit

if TYPE_CHECKING:
    from qgradbench.backend.execution import Execution


@dataclass(frozen=True)
class StagePlan:
    """What the sweep differentiates at one stage: which generators, on which wires.

    Attributes:
        heads: positions of the per-circuit rotations among the schedule's head rotations
            (``Gates.head_generators``), or ``None``.
        suffixes: positions of the shared rotations among its suffix rotations, or ``None``.
        wires: the wires whose reduced matrices ``C_w`` the stage needs, in row order.
        head_rows: for each of ``heads``, its row in ``wires``; ``None`` for a single wire.
        suffix_rows: the same for ``suffixes``.
    """

    heads: torch.Tensor | None = None
    suffixes: torch.Tensor | None = None
    wires: tuple[int, ...] = ()
    head_rows: torch.Tensor | None = None
    suffix_rows: torch.Tensor | None = None


@dataclass(frozen=True)
class SweepPlan:
    """Index tensors of the sweep over one schedule (kept with it, see :meth:`Schedule.memo`).

    Attributes:
        stages: one entry per stage, in sweep order (the schedule's stages reversed): a
            :class:`StagePlan`, for a fused layer a tuple of them (one per wire group, in the
            order the sweep undoes the groups), ``None`` for a fixed gate.
        lead: the leading blocks (the product state), differentiated last.
        take: which of the emitted derivatives (in emission order) belong to a slot.
        slots: the slot each of ``take`` belongs to.
        scales: the scale of each of ``take``'s rotations (``d angle / d slot``), or ``None``
            when every rotation is its slot's only one, with scale 1.
        lead_start: the number of derivatives the stages emit before the leading blocks'.
        lead_slots: the slots of the leading blocks' rotations.
        swept_slots: the slots of every other rotation and of the diagonal layers.
    """

    stages: tuple[StagePlan | tuple[StagePlan, ...] | None, ...]
    lead: StagePlan
    take: torch.Tensor
    slots: torch.Tensor
    scales: torch.Tensor | None = None
    lead_start: int = 0
    lead_slots: frozenset = frozenset()
    swept_slots: frozenset = frozenset()

    def lead_only(self, slots) -> bool:
        """Whether every rotation of ``slots`` (non-empty) is in the leading blocks."""
        wanted = {int(s) for s in slots}
        return bool(wanted) and wanted <= self.lead_slots and not wanted & self.swept_slots


def adjoint_sweep(
    execution: Execution,
    batched: torch.Tensor,
    shared: torch.Tensor,
    state: torch.Tensor,
    lam: torch.Tensor,
    schedule: Schedule | None = None,
    gates: Gates | None = None,
    slots=None,
) -> torch.Tensor:
    """Run the reverse sweep and return ``Im <lambda_k| P_k |phi_k>`` for every slot.

    The sweep walks the circuit's :class:`~qgradbench.circuits.schedule.Schedule` backwards, one
    fused block, dense layer, group of wires or fixed gate at a time. With ``phi`` and
    ``lambda`` taken after a block ``M = R_k ... R_1`` on wire ``w``, the derivative for each of
    its rotations is ``2 Re <lambda| (A_j (x) 1) |phi> = 2 Re Tr(A_j C)`` where
    ``A_j = dM/dt_j M^dagger`` (:meth:`Schedule.gates`) and ``C = Tr_{not w} |phi><lambda|`` is
    a 2x2 matrix. The blocks of a dense or fused layer act on distinct wires and commute, so
    one pair of states serves all of them. A dense layer's ``U^dagger`` is then applied to both
    states by one matrix product; a fused layer is undone group by group, and each group's
    ``C_w`` come from one product ``Tr_{not group} |phi><lambda|`` (``2**k x 2**k``) taken just
    before its inverse: per group, one read of both states and one read and write.
    Still two stored states, one pass over the gates.

    When only the leading blocks' slots are wanted (``slots``: a circuit's first rotations, as
    for McClean et al.'s gradient of the first weight), ``phi`` is not swept at all: it is
    needed only at the start, where it is the product state of the leading blocks'
    columns (:func:`_lead_reduced`). ``lambda`` alone is swept back, with no derivative taken on
    the way: half the states to undo, and none of the stages' reduced matrices.

    Args:
        execution: circuit and precision.
        batched: the per-circuit slots ``(B, k)``.
        shared: the other slots ``(P - k,)``, the same for every circuit (empty when ``k = P``).
        state: final states ``|psi>`` ``(B, 2, ..., 2)``.
        lam: ``(B, K, 2, ..., 2)``: ``O_j |psi>`` for ``K`` observables.
        schedule: the schedule ``state`` was computed with; by default the circuit's own for
            ``k`` batched slots.
        gates: that schedule's :meth:`~qgradbench.circuits.schedule.Schedule.gates` of
            ``batched`` and ``shared`` with ``generators=True``, if the forward pass kept them
            (:meth:`Execution.state_for_sweep`); by default built here.
        slots: the slots whose derivatives are wanted, or ``None`` for every slot. The others
            may come out as zero.

    Returns:
        ``(B, K, P)``: the derivative of each ``<O_j>`` with respect to each slot.
    """
    circuit, n = execution.circuit, execution.n_qubits
    if schedule is None:
        schedule = circuit.schedule(batched.shape[-1])
    plan = schedule.memo(("adjoint", str(batched.device)), lambda: _plan(schedule, batched.device))
    if gates is None:
        gates = schedule.gates(batched, shared, execution.dtype, generators=True)
    else:  # the forward pass's gates: its diagonal layers' phases were not kept
        gates = schedule.with_diagonals(gates, batched, shared)
    head_gens, suffix_gens = gates.head_generators, gates.suffix_generators
    unitaries = schedule.dense_unitaries(gates, post=False) if schedule.dense_layers else None
    lead_only = slots is not None and plan.lead_only(slots)
    both = _own(lam) if lead_only else _pair(state, lam)  # (B, [1 +] K, 2, ..., 2)
    parts = []

    def differentiate(step: StagePlan, c: torch.Tensor) -> None:
        """Emit ``2 Re Tr(A_j C)`` for the stage's rotations, ``c`` ``(B, K, W, 2, 2)``."""
        if step.heads is not None:
            rows = c if step.head_rows is None else c.index_select(2, step.head_rows)
            parts.append(_trace(head_gens.index_select(1, step.heads).unsqueeze(1), rows))
        if step.suffixes is not None:
            rows = c if step.suffix_rows is None else c.index_select(2, step.suffix_rows)
            parts.append(_trace(suffix_gens.index_select(0, step.suffixes), rows))

    per_slot = []  # (values (B, K, rows), slots): the diagonal layers' derivatives

    buffers = None if torch.is_grad_enabled() and both.requires_grad else engine.PingPong(both)
    emit = None if lead_only else differentiate
    for stage, step in zip(reversed(schedule.stages), plan.stages, strict=True):
        both = _undo_stage(stage, step, both, buffers, schedule, gates, unitaries, emit)
        per_slot.extend(both[1:])
        both = both[0]
    if lead_only:  # both: the lambda_k at the start
        parts.append(state.real.new_zeros(batched.shape[0], lam.shape[1], plan.lead_start))
        columns = schedule.lead_columns(gates, batched.shape[0])
        differentiate(plan.lead, _lead_reduced(both, columns, plan.lead.wires))
    elif plan.lead.wires:
        if n > schedule.dense_qubits and len(plan.lead.wires) > 1:
            columns = schedule.lead_columns(gates, batched.shape[0])
            c = _lead_reduced(both[:, 1:], columns, plan.lead.wires)
        else:
            c = _reduced(both, n, plan.lead.wires, schedule.dense_qubits)
        differentiate(plan.lead, c)
    grads = state.real.new_zeros(batched.shape[0], lam.shape[1], circuit.n_params)
    if parts:
        per_rotation = torch.cat(parts, dim=-1)  # (B, K, rotations in sweep order)
        taken = per_rotation.index_select(-1, plan.take)
        if plan.scales is None and not per_slot:
            grads[..., plan.slots] = taken
        elif plan.scales is None:
            grads.index_add_(-1, plan.slots, taken)
        else:  # chain rule over a slot's rotations: d/dslot = sum_r scale_r d/dangle_r
            grads.index_add_(-1, plan.slots, taken * plan.scales.to(taken.dtype))
    for values, slots in per_slot:
        grads.index_add_(-1, slots, values)
    return grads


def _pair(state: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
    """``phi`` and the ``lambda_k`` stacked as ``(B, 1 + K, 2, ..., 2)``, in a pooled buffer."""
    parts = [state.unsqueeze(1), lam]
    if torch.is_grad_enabled() and (state.requires_grad or lam.requires_grad):
        return torch.cat(parts, dim=1)
    shape = (state.shape[0], 1 + lam.shape[1], *state.shape[1:])
    return torch.cat(parts, dim=1, out=engine.pool.take(shape, state.dtype, state.device))


def _own(lam: torch.Tensor) -> torch.Tensor:
    """``lam`` to sweep back alone: a pooled copy (the sweep's buffers are overwritten)."""
    if torch.is_grad_enabled() and lam.requires_grad:
        return lam
    return engine.pool.take(lam.shape, lam.dtype, lam.device).copy_(lam)


def _undo_stage(stage, step, both, buffers, schedule, gates, unitaries, differentiate):
    """Emit one stage's derivatives and apply its inverse to ``both`` (:func:`adjoint_sweep`).

    With ``buffers`` (:class:`qgradbench.engine.PingPong` holding ``both``, when nothing is
    recorded for autograd) each inverse writes into the spare buffer, or in place for a
    diagonal layer: the sweep allocates a fixed number of state pairs. Without, each inverse
    returns a new tensor (differentiable).

    ``differentiate`` ``None``: only the inverse (``both`` holds the ``lambda_k`` alone).

    Returns:
        ``(both, *per_slot)``: the new pair, then a diagonal layer's ``(values, slots)``.
    """
    n = schedule.n_qubits

    def emit(step_, reduced):  # reduced() -> C: taken only when derivatives are
        if differentiate is not None:
            differentiate(step_, reduced())

    def apply(kernel):  # kernel(state, out) -> new state; out None: allocate
        return kernel(both, None) if buffers is None else buffers.step(kernel)

    if isinstance(stage, Monomial | Unitary):
        return (apply(lambda s, out: engine.apply_fixed(s, stage.inverse, out)),)
    if isinstance(stage, DiagonalStage):
        found = []
        if differentiate is not None:
            found.append(_diagonal_derivatives(both, schedule, stage.layer, n))
        phases = gates.diagonals[stage.layer]
        phases = phases.unsqueeze(1) if phases.dim() > 1 else phases  # (B, 1, 2**n)
        if buffers is None:
            return apply_phases(both, phases.conj(), n), *found
        both.reshape(*both.shape[:2], 2**n).mul_(phases.conj())  # exact in place
        return both, *found
    if isinstance(stage, DenseStage):
        layer = schedule.dense_layers[stage.layer]
        if layer.post is not None:
            both = apply(lambda s, out: engine.apply_monomial(s, layer.post.inverse, out))
        emit(step, lambda: _reduced(both, n, step.wires, schedule.dense_qubits))
        unitary = unitaries[stage.layer].conj()

        def product(state, out):
            flat = state.reshape(*state.shape[:2], -1)
            if out is None:
                return (flat @ unitary).reshape(state.shape)
            return torch.matmul(flat, unitary, out=out.view(flat.shape))

        return (apply(product),)
    if isinstance(stage, FusedStage):
        blocks = schedule.fused_blocks(stage, gates)
        for block, group_step in zip(reversed(blocks), step, strict=True):
            emit(group_step, lambda b=both, size=block.shape[-1]: _group_reduced(b, size))
            block = block if block.dim() == 2 else block.unsqueeze(1)  # per circuit: (B, 1)
            both = apply(lambda s, out, b=block: fused.apply_block_top_inverse(s, b, n, out))
        return (both,)
    emit(step, lambda: _reduced(both, n, step.wires, schedule.dense_qubits))
    inverse = schedule.gate_matrix(stage, gates).mH
    inverse = inverse if inverse.dim() == 2 else inverse.unsqueeze(1)  # per circuit: (B, 1)
    return (apply(lambda s, out: engine.apply_matrix(s, inverse, stage.wire, n, out)),)


def _diagonal_derivatives(both: torch.Tensor, schedule: Schedule, layer: int, n: int):
    r"""A diagonal layer's slot derivatives from ``phi`` and ``lambda`` after it.

    The layer is ``D = exp(-i/2 sum_k theta_k T_k)``, so
    ``d<O>/d theta_k = 2 Re <lambda| (-i/2 T_k) |phi> = sum_b T_k(b) Im(conj(lambda_b) phi_b)``:
    one elementwise pass and one product with the tables.

    Returns:
        ``(values (B, K, rows), slots)``.
    """
    tables, slots = schedule.diagonal_tables(layer, both.dtype, both.device)
    flat = both.reshape(*both.shape[:2], 2**n)
    phi, lam = flat[:, :1], flat[:, 1:]
    overlap = lam.real * phi.imag - lam.imag * phi.real  # Im(conj(lambda) phi)
    return overlap @ tables.T, slots


def _trace(gens: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """``2 Re Tr(A_j C_j)`` for generators ``(..., J, 2, 2)`` and ``C`` ``(B, K, J, 2, 2)``."""
    return 2 * (c * gens.transpose(-1, -2)).sum((-2, -1)).real


@functools.lru_cache(maxsize=32)
def _wire_index(n: int, device: str) -> torch.Tensor:
    """:func:`_build_wire_index`, cached."""
    return _build_wire_index(n, device)


@functools.lru_cache(maxsize=256)
def _wires_index(n: int, device: str, wires: tuple[int, ...]) -> torch.Tensor:
    """:func:`_wire_index` rows ``wires``, cached (one gather per sweep stage, no indexing)."""
    return _wire_index(n, device)[list(wires)]


def _build_wire_index(n: int, device: str) -> torch.Tensor:
    """``index[w, x, r]``: the basis state with bit ``x`` on wire ``w`` and the others ``r``."""
    s = np.arange(2**n)
    rows = [np.stack([s[bit(s, w, n) == x] for x in (0, 1)]) for w in range(n)]
    return torch.as_tensor(np.stack(rows), device=device)


def _reduced(
    both: torch.Tensor, n: int, wires: tuple[int, ...], gather_qubits: int
) -> torch.Tensor:
    """``C_w = Tr_{not w} |phi><lambda_k|`` for each of ``wires``: ``(B, K, len(wires), 2, 2)``.

    ``both`` holds ``phi`` at index 0 of axis 1 and the ``lambda_k`` after it. On a register of
    at most ``gather_qubits`` qubits all wires come from one gather; otherwise one contraction
    per wire.
    """
    batch, rows = both.shape[:2]
    if len(wires) > 1 and n <= gather_qubits:
        index = _wires_index(n, str(both.device), tuple(wires))  # (W, 2, 2**(n-1))
        flat = both.reshape(batch, rows, -1)
        picked = gather_last(flat, index.flatten()).unflatten(-1, index.shape)
        # (B, 1, W, 2, R) @ (B, K, W, R, 2): C[b, k, w] = phi_w lambda_{k, w}^dagger
        return picked[:, :1] @ picked[:, 1:].conj().transpose(-1, -2)
    out = []
    for wire in wires:
        view = both.reshape(batch, rows, 2**wire, 2, -1)
        out.append(torch.einsum("blxr,bklyr->bkxy", view[:, 0], view[:, 1:].conj()))
    return torch.stack(out, dim=2)


def _group_reduced(both: torch.Tensor, size: int) -> torch.Tensor:
    """``C_w`` for each wire of the ``log2(size)`` wires at the top: ``(B, K, k, 2, 2)``.

    One product gives the group's ``Tr_{not group} |phi><lambda_k|`` (``size x size``, reading
    each state once); the single wires' matrices are its partial traces.
    """
    batch, rows = both.shape[:2]
    k = size.bit_length() - 1
    phi = both[:, 0].reshape(batch, size, -1)  # (B, K, M)
    lam = both[:, 1:].reshape(batch, (rows - 1) * size, -1)  # (B, L K, M)
    group = fused.batched_matmul(phi, lam.mH).unflatten(-1, (rows - 1, size)).transpose(1, 2)
    out = []
    for j in range(k):
        c = group.reshape(batch, rows - 1, 2**j, 2, 2 ** (k - j - 1), 2**j, 2, 2 ** (k - j - 1))
        out.append(torch.einsum("bkaxcayc->bkxy", c))
    return torch.stack(out, dim=2)


def _lead_reduced(lam: torch.Tensor, columns: torch.Tensor, wires: tuple[int, ...]) -> torch.Tensor:
    """``C_w`` of the leading blocks, whose ``phi`` is the product state ``(x)_v c_v``.

    ``C_w[x, y] = sum_r phi[x, r] conj(lambda[y, r]) = c_w[x] conj(mu_w[y])`` with
    ``mu_w = <(x)_{v != w} c_v | lambda>`` contracted over every wire but ``w``
    (:func:`qgradbench.engine.product_contractions`): two reads of ``lambda``, where the reduced
    matrices of an
    arbitrary ``phi`` would need one transposing copy of both states per wire group.

    Args:
        lam: ``(B, K, 2, ..., 2)``, the ``lambda_k`` swept back to the start.
        columns: the wires' states after the leading blocks, ``(B, n, 2)`` or ``(n, 2)``.
        wires: the wires with a leading block to differentiate.

    Returns:
        ``(B, K, len(wires), 2, 2)``.
    """
    batch, rows = lam.shape[:2]
    mu = engine.product_contractions(lam.reshape(batch, rows, -1), columns)  # (B, K, n, 2)
    index = torch.as_tensor(wires, device=lam.device)
    picked = columns.index_select(-2, index).unsqueeze(-3)  # (B, 1, W, 2) or (1, W, 2)
    return picked.unsqueeze(-1) * mu.index_select(2, index).conj().unsqueeze(-2)


def _plan(schedule: Schedule, device) -> SweepPlan:
    """Return the :class:`SweepPlan` of ``schedule``.

    For each stage in sweep order: the generators it differentiates and on which wires; at the
    end, where each rotation's derivative goes among the slots.
    """
    order: list[int] = []  # rotation ids in the order the sweep emits their derivatives

    def tensor(values):
        return torch.as_tensor(values, dtype=torch.long, device=device)

    def blocks_plan(blocks, rows: bool, n_rows: int | None = None) -> StagePlan:
        """The rotations of ``(row, GateStage)`` pairs, heads first, then suffixes."""
        heads = [
            (r, p) for r, b in blocks if b.head is not None for p in schedule.head_chains[b.head]
        ]
        suffixes = [
            (r, p)
            for r, b in blocks
            if b.suffix is not None
            for p in schedule.suffix_chains[b.suffix]
        ]
        order.extend(schedule.batched_rotations[p] for _, p in heads)
        order.extend(schedule.shared_rotations[p] for _, p in suffixes)
        wires = tuple(b.wire for _, b in blocks)

        every = list(range(len(wires) if n_rows is None else n_rows))  # the rows of C

        def picks(items):  # row indices, or None where they are every row of C in order
            picked = [r for r, _ in items]
            return None if not rows or not items or picked == every else (tensor(picked))

        return StagePlan(
            heads=tensor([p for _, p in heads]) if heads else None,
            suffixes=tensor([p for _, p in suffixes]) if suffixes else None,
            wires=wires,
            head_rows=picks(heads),
            suffix_rows=picks(suffixes),
        )

    def as_gate(block) -> GateStage:
        return GateStage(block.wire, *schedule.parts[block])

    stages = []
    for stage in reversed(schedule.stages):
        if isinstance(stage, Monomial | Unitary | DiagonalStage):
            stages.append(None)
        elif isinstance(stage, DenseStage):
            blocks = schedule.dense_layers[stage.layer].blocks
            stages.append(blocks_plan(list(enumerate(map(as_gate, blocks))), rows=True))
        elif isinstance(stage, FusedStage):
            members = reversed(schedule.fused_layers[stage.layer].members)  # top group first
            stages.append(
                tuple(
                    blocks_plan(
                        [(r, m) for r, m in enumerate(group) if m is not None],
                        rows=True,
                        n_rows=len(group),  # _group_reduced: one row per wire of the group
                    )
                    for group in members
                )
            )
        else:
            stages.append(blocks_plan([(0, stage)], rows=False))
    lead_start = len(order)
    lead = blocks_plan(list(enumerate(map(as_gate, schedule.lead_blocks))), rows=True)
    circuit = schedule.circuit
    rotations = circuit.rotations

    def slots_of(ids) -> frozenset:
        return frozenset(rotations[i].slot for i in ids if rotations[i].slot is not None)

    diagonal = {int(k) for layer in schedule.diagonal_layers for k in layer.slots}
    take = [k for k, i in enumerate(order) if rotations[i].slot is not None]
    scales = None
    if not circuit.all_simple:
        scales = torch.as_tensor(  # float64: cast to each sweep's dtype, not rounded first
            [rotations[order[k]].scale for k in take], dtype=torch.float64, device=device
        )
    return SweepPlan(
        stages=tuple(stages),
        lead=lead,
        take=tensor(take),
        slots=tensor([rotations[order[k]].slot for k in take]),
        scales=scales,
        lead_start=lead_start,
        lead_slots=slots_of(order[lead_start:]),
        swept_slots=slots_of(order[:lead_start]) | diagonal,
    )


def adjoint_jacobian(execution: Execution, theta: torch.Tensor, slots=None) -> torch.Tensor:
    """Return the exact Jacobian ``d <O_j> / d theta`` ``(B, n_out, P)`` by one adjoint sweep.

    Slots that are the same in every row (a layer's weights) are run as shared
    (:meth:`Execution.split_shared`): their gates are built once, and fused as the adjoint
    method's sweep fuses them; the forward run's gates serve the sweep
    (:meth:`Execution.state_for_sweep`).

    With ``slots`` (a sequence of slot indices), only those columns ``(B, n_out, len(slots))``:
    the sweep skips what they do not need (:func:`adjoint_sweep`).
    """
    batched, shared = execution.split_shared(theta)
    with torch.no_grad():
        state, gates = execution.state_for_sweep(batched, shared)
        n_out = execution.observable.n_outputs
        if execution.observable.diagonal:
            diag = execution.diagonals(theta.device)  # (n_out, 2**n)
            flat = state.reshape(state.shape[0], 1, -1)
            lam = (flat * diag).reshape(state.shape[0], n_out, *state.shape[1:])
        else:
            eye = torch.eye(n_out, dtype=theta.dtype, device=theta.device)
            lam = torch.stack(
                [execution.apply_observable(state, row.expand(state.shape[0], -1)) for row in eye],
                dim=1,
            )
        if slots is None:
            return adjoint_sweep(execution, batched, shared, state, lam, gates=gates)
        wanted = torch.as_tensor(np.asarray(slots, dtype=np.int64), device=theta.device)
        jac = adjoint_sweep(execution, batched, shared, state, lam, gates=gates, slots=slots)
        return jac.index_select(-1, wanted)
