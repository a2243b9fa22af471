r"""Execution schedules: how a compiled circuit becomes a few batched engine calls.

A layer's batch of ``B`` circuits differs only in a few *batched* slots (the encoding angles);
every weight is shared by the whole batch. A gradient rule's shifted circuits differ in every
slot. A :class:`Schedule` is compiled once per circuit and number of batched slots, and exploits
whatever is shared:

* Rotations driven by a batched slot are built per circuit; rotations driven by a shared slot or
  a constant are built once, unbatched, and broadcast.
* Each block (consecutive rotations on one wire) is fused as ``suffix @ head``. The *head* runs
  up to the block's last batched rotation and is fused per circuit; the *suffix* after it is
  fused once. For a layer this leaves only the encoding rotation per circuit.
* The leading blocks (one per wire, before any fixed gate) act on ``|0...0>``: their first
  columns give a product state directly (:func:`qgradbench.engine.product_state`).
* On a small register (at most ``dense_qubits`` qubits), a run of shared blocks between two
  fixed gates acts on distinct wires, so it and the fixed gates around it form one dense
  ``2**n x 2**n`` unitary (:mod:`qgradbench.engine.dense`), built once for the batch and applied
  by one matrix product.
* On a larger register, a run of blocks on distinct wires (shared or per circuit) is applied a
  group of up to ``block_wires`` adjacent wires at a time, each group one ``2**k x 2**k`` block
  and one matrix product over the state (:mod:`qgradbench.engine.fused`): a few passes over the
  state per layer instead of one per wire. Everything else is applied gate by gate.

* On a larger register, a run of fixed monomial gates and blocks of Z rotations (what the
  lowering makes of ``IsingZZ``, ``MultiRZ``, ``CRZ``, ``ControlledPhaseShift`` and IQP
  feature maps: CNOT ladders around ``RZ``) is one *diagonal layer*. Moving every monomial to
  the end, ``... R_2 M_1 R_1 = M_total prod_r (P_r^dagger R_r P_r)`` with ``P_r`` the monomials
  before rotation ``r``: a conjugated Z rotation is diagonal, ``exp(-i a_r t_r / 2)`` with the
  sign table ``t_r(b) = z_w(pi_r(b))``, and they all commute. The layer is one phase multiply,
  ``exp(-i/2 sum_k theta_k T_k(b))`` with one table per slot (``T_k = sum scale_r t_r`` over the
  slot's rotations; constants folded into one more), then ``M_total`` if it is not the
  identity: one pass where the lowering took two per gate.

The result is the same state as applying every gate in order (tests compare both against
PennyLane); only the number of operations differs, which is what costs on small registers and
in autograd's backward pass.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from qgradbench import engine
from qgradbench.engine import Monomial, Unitary, dense, fused, roofline
from qgradbench.engine.gates import rotations_of_generators

#: Largest register on which runs of shared blocks are applied as dense unitaries. Building a
#: layer's unitary reads ``n 4**n`` gate entries and applying it costs ``B 4**n`` products,
#: against ``2 n B 2**n`` gate by gate, but each gate is several operations for autograd to
#: record and replay. Measured with asv (``ScheduleDenseVsGates`` in
#: ``benchmarks/bench_layer.py``: backprop through the state, 4 layers, one thread), dense was
#: faster at batch 32 up to 6 qubits (1.6x at 4, 1.07x at 6) and at batch 1024 up to 8 (2.5x at
#: 4, 2.2x at 6), and 2.2x slower at 7 qubits and batch 32.
DENSE_QUBITS = 6


#: Largest sign table one diagonal layer may hold (rows x ``2**n`` entries): longer runs are
#: split into several layers. 2**24 float32 entries are 64 MiB. Every slot of a diagonal layer
#: keeps one row of ``2**n`` entries (4 MiB at 20 qubits in float32), built once per schedule.
DIAGONAL_ENTRIES = 2**24
#: Largest number of table entries all diagonal layers of one schedule may hold together (1 GiB
#: in float32): past it, runs stay gate by gate. The 20-qubit TFIM ansatz of depth 10 (200
#: slots) fits; at 24 qubits about 16 slots do.
DIAGONAL_BUDGET = 2**28


def default_block_wires(n_qubits: int, dense_qubits: int = DENSE_QUBITS) -> int:
    """The group width for a schedule on ``n_qubits`` qubits.

    Registers of at most ``dense_qubits`` qubits fuse no wire groups, so they get
    :data:`qgradbench.engine.fused.BLOCK_WIRES` without a look at the environment or the
    cache; larger ones :func:`qgradbench.engine.roofline.default_block_wires`.
    """
    if n_qubits <= dense_qubits:
        return fused.BLOCK_WIRES
    return roofline.default_block_wires(n_qubits)


@dataclass(frozen=True)
class Traffic:
    """Memory traffic and arithmetic of a computation (:meth:`Schedule.traffic`).

    Attributes:
        bytes: bytes read plus bytes written in main memory.
        macs: complex multiply-adds.
    """

    bytes: int = 0
    macs: int = 0

    def __add__(self, other: Traffic) -> Traffic:
        return Traffic(self.bytes + other.bytes, self.macs + other.macs)

    def seconds(self, bandwidth: float, rate: float) -> tuple[float, float]:
        """``(memory-bound time, compute-bound time)`` at ``bandwidth`` bytes/s, ``rate`` MAC/s."""
        return self.bytes / bandwidth, self.macs / rate


TRAFFIC_MODES = ("forward", "backprop", "adjoint")


@dataclass(frozen=True)
class DiagonalStage:
    """Apply diagonal layer number ``layer`` (:class:`DiagonalLayer`)."""

    layer: int


@dataclass(frozen=True, eq=False)
class DiagonalLayer:
    """A run of monomials and Z-rotation blocks as one phase multiply (module docstring).

    Attributes:
        blocks: the blocks it absorbs.
        rotations: their rotations.
        slots: the slot of each row of ``tables``.
        tables: ``(len(slots), 2**n)``: ``T_k(b) = sum_r scale_r t_r(b)`` over slot ``k``'s
            rotations.
        constant: ``sum_r angle_r t_r(b)`` over the constant rotations, or ``None``.
        total: the product of its monomials, applied after the phases, or ``None`` (identity).
    """

    blocks: tuple
    rotations: tuple[int, ...]
    slots: tuple[int, ...]
    tables: np.ndarray
    constant: np.ndarray | None
    total: Monomial | None


@dataclass(frozen=True)
class GateStage:
    """Apply one block as a 2x2 gate: ``suffix @ head`` (either may be absent)."""

    wire: int
    head: int | None
    suffix: int | None


@dataclass(frozen=True)
class DenseStage:
    """Apply dense unitary number ``layer`` (a run of shared blocks and its fixed gates)."""

    layer: int


@dataclass(frozen=True)
class FusedStage:
    """Apply fused layer number ``layer``: its wire groups, one block product each."""

    layer: int


@dataclass(frozen=True)
class FusedLayer:
    """A run of blocks on distinct wires, applied group by group (:mod:`qgradbench.engine.fused`).

    Attributes:
        blocks: the run's blocks.
        groups: wire ranges ``(lo, hi)`` in the order they are applied (bottom group first).
        members: for each group, the :class:`GateStage` of each of its wires (``None``: no gate).
    """

    blocks: tuple
    groups: tuple[tuple[int, int], ...]
    members: tuple[tuple[GateStage | None, ...], ...]


@dataclass(frozen=True)
class DenseLayer:
    """A run of shared blocks on distinct wires and the fixed gates folded around it."""

    pre: Monomial | None
    post: Monomial | None
    blocks: tuple


@dataclass
class Gates:
    """The gates of one batch of circuits, as a :class:`Schedule` builds them.

    Attributes:
        heads: the fused heads ``(B, H, 2, 2)``, or ``None``.
        suffixes: the fused suffixes ``(S, 2, 2)``, or ``None``.
        pool: the suffixes for gathers, with the identity appended (index ``S``) where a gather
            needs it.
        head_generators: with ``generators=True``, each per-circuit rotation's generator carried
            to the end of its block ``(B, R_h, 2, 2)`` (see :meth:`Schedule.gates`), else ``None``.
        suffix_generators: the same for the shared rotations ``(R_s, 2, 2)``, or ``None``.
        diagonals: each diagonal layer's phases, ``(B, 2**n)`` or ``(2**n,)`` when shared.
    """

    heads: torch.Tensor | None
    suffixes: torch.Tensor | None
    pool: torch.Tensor
    head_generators: torch.Tensor | None = None
    suffix_generators: torch.Tensor | None = None
    diagonals: list | None = None


class _Fusion:
    """Fuses chains of rotation matrices (``R_k ... R_1`` for a chain ``(1, ..., k)``) in bulk.

    Chains are grouped by length, so a group is ``length`` gathers and ``length - 1`` batched
    products whatever the number of chains.
    """

    def __init__(self, chains: list[tuple[int, ...]]):
        by_len: dict[int, list[int]] = {}
        for c, chain in enumerate(chains):
            by_len.setdefault(len(chain), []).append(c)
        members = [by_len[length] for length in sorted(by_len)]
        self.groups = [np.array([chains[c] for c in group]) for group in members]
        order = np.concatenate(members) if members else np.zeros(0, int)
        position = np.argsort(order)
        # chains of single rotations in order: the rotation matrices are the fused chains
        self.identity = all(len(chain) == 1 for chain in chains)
        self.position = None if np.array_equal(position, np.arange(len(chains))) else position

    def __call__(self, mats: torch.Tensor, tensors: dict) -> torch.Tensor:
        """Return the fused chains ``(..., C, 2, 2)`` from rotation matrices ``(..., R, 2, 2)``."""
        if self.identity:
            return mats
        parts = []
        for columns in tensors["columns"]:  # each group's ids[:, j], split once
            fused = mats.index_select(-3, columns[0])
            for column in columns[1:]:
                fused = mats.index_select(-3, column) @ fused
            parts.append(fused)
        return self._in_chain_order(parts, tensors)

    def carried(
        self, mats: torch.Tensor, gens: torch.Tensor, tensors: dict
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Each rotation's generator carried to the end of its chain, and the fused chains.

        With a chain ``M = R_k ... R_1`` and ``S_j = R_k ... R_{j+1}``, returns
        ``A_j = S_j G_j S_j^dagger``, so that ``dM/dt_j M^dagger = A_j`` for ``G_j = -i P_j / 2``:
        the derivative of the chain as a gate applied *after* it (used by the adjoint sweep).
        The chains come out of the same call, multiplied as :meth:`__call__` multiplies them.

        Args:
            mats: rotation matrices ``(..., R, 2, 2)``.
            gens: generators ``G_j`` ``(R, 2, 2)``.
            tensors: :meth:`tensors` of this fusion.

        Returns:
            ``(A, M)``: ``A`` ``(..., R, 2, 2)`` in the rotations' order, and the fused chains
            ``(..., C, 2, 2)`` as :meth:`__call__` returns them.
        """
        batch = mats.shape[:-3]
        parts, chains = [], []
        constant = tensors.get("generators")
        for g, ids in enumerate(tensors["groups"]):
            length = ids.shape[1]
            flat = tensors["flat"][g]  # None: the group's rotations are all of them, in order
            rots = mats if flat is None else mats.index_select(-3, flat)
            rots = rots.unflatten(-3, ids.shape)  # (..., G, k)
            carried = [None] * length
            suffix = None  # S_j
            for j in range(length - 1, -1, -1):
                gen = gens[ids[:, j]] if constant is None else constant[g][j]  # (G, 2, 2)
                if suffix is None:
                    carried[j] = gen.expand(*batch, *gen.shape)
                    suffix = rots[..., j, :, :]
                else:
                    carried[j] = suffix @ gen @ suffix.mH
                    suffix = suffix @ rots[..., j, :, :] if j else None
            stacked = carried[0] if length == 1 else torch.stack(carried, dim=-3).flatten(-4, -3)
            parts.append(stacked)  # (..., G * k)
            # R_k ... R_1, multiplied in the order of __call__: the same rounding, so a forward
            # pass run with these gates gives the states every other method's gives, bit for bit
            chain = rots[..., 0, :, :]
            for j in range(1, length):
                chain = rots[..., j, :, :] @ chain
            chains.append(chain)
        generators = parts[0] if len(parts) == 1 else torch.cat(parts, dim=-3)
        if tensors["carry_position"] is not None:
            generators = generators.index_select(-3, tensors["carry_position"])
        return generators, self._in_chain_order(chains, tensors)

    def _in_chain_order(self, parts: list[torch.Tensor], tensors: dict) -> torch.Tensor:
        """Concatenate per-group results ``(..., G, 2, 2)`` back into chain order."""
        fused = parts[0] if len(parts) == 1 else torch.cat(parts, dim=-3)
        if self.position is not None:
            fused = fused.index_select(-3, tensors["position"])
        return fused

    @staticmethod
    def chain_generators(gens: torch.Tensor, groups: list) -> list:
        """``gens[ids[:, j]]`` for every group ``ids`` and position ``j`` (:meth:`carried`)."""
        return [[gens.index_select(0, ids[:, j]) for j in range(ids.shape[1])] for ids in groups]

    def tensors(self, device) -> dict:
        """The index tensors on ``device``."""
        out = {"groups": [torch.as_tensor(g, device=device) for g in self.groups]}
        total = sum(g.size for g in self.groups)
        out["flat"] = [  # None: the group is every rotation, in order (no gather needed)
            None if np.array_equal(g.ravel(), np.arange(total)) else ids.flatten()
            for g, ids in zip(self.groups, out["groups"], strict=True)
        ]
        out["columns"] = [
            [ids[:, j].contiguous() for j in range(ids.shape[1])] for ids in out["groups"]
        ]
        if self.position is not None:
            out["position"] = torch.as_tensor(self.position, device=device)
        order = np.concatenate([g.ravel() for g in self.groups]) if self.groups else []
        carry = np.argsort(order)
        identity = np.array_equal(carry, np.arange(len(carry)))
        out["carry_position"] = None if identity else torch.as_tensor(carry, device=device)
        return out


class Schedule:
    """A circuit compiled for circuits whose first ``n_batched`` slots vary per circuit.

    Args:
        circuit: the compiled circuit.
        n_batched: number of leading slots that differ between the circuits of a batch; the
            other ``n_params - n_batched`` are shared. ``circuit.n_params`` makes every slot
            per circuit.
        dense_qubits: largest register that uses dense layer unitaries.
        block_wires: on larger registers, the widest group of wires fused into one block;
            ``1`` applies every block alone. ``None``: this machine's width
            (:func:`qgradbench.engine.roofline.default_block_wires`: the environment variable
            ``QGRADBENCH_GROUP_WIDTH``, else the calibrated choice, else
            :data:`qgradbench.engine.fused.BLOCK_WIRES`).
    """

    def __init__(
        self,
        circuit,
        n_batched: int,
        dense_qubits: int = DENSE_QUBITS,
        block_wires: int | None = None,
    ):
        self.circuit, self.n_batched = circuit, n_batched
        self.n_qubits = n = circuit.n_qubits
        if block_wires is None:
            block_wires = default_block_wires(n, dense_qubits)
        rotations = circuit.rotations
        batched = [r.slot is not None and r.slot < n_batched for r in rotations]
        self.dense_qubits, self.block_wires = dense_qubits, block_wires
        lead = _leading(circuit.ops)
        self.segments = {} if n <= dense_qubits else _diagonal_segments(circuit, lead)
        absorbed = {id(b) for _, layer in self.segments.values() for b in layer.blocks}
        heads, suffixes, parts = [], [], {}
        for op in circuit.ops:
            if isinstance(op, Monomial | Unitary) or id(op) in absorbed:
                continue
            last = max((k for k, i in enumerate(op.rotations) if batched[i]), default=-1)
            head, suffix = op.rotations[: last + 1], op.rotations[last + 1 :]
            parts[op] = (
                _append(heads, head) if head else None,
                _append(suffixes, suffix) if suffix else None,
            )
        self.batched_rotations = [i for chain in heads for i in chain]
        self.shared_rotations = [i for chain in suffixes for i in chain]
        self.head_chains, self.suffix_chains = _local(heads), _local(suffixes)
        self._head_fusion = _Fusion(self.head_chains)
        self._suffix_fusion = _Fusion(self.suffix_chains)
        self.n_heads, self.n_suffixes = len(heads), len(suffixes)
        self.parts = parts  # block -> (head chain or None, suffix chain or None)
        self._compile_stages(parts, n <= self.dense_qubits)
        self._cache: dict = {}

    # ----------------------------------------------------------------- compilation
    def _compile_stages(self, parts: dict, allow_dense: bool) -> None:
        n, ops = self.n_qubits, self.circuit.ops
        lead = _leading(ops)
        self.lead_blocks = ops[:lead]
        lead_heads = np.full(n, self.n_heads)  # index n_heads: |0> (no head on that wire)
        lead_suffixes = np.full(n, self.n_suffixes)  # index n_suffixes: identity
        for op in ops[:lead]:
            head, suffix = parts[op]
            lead_heads[op.wire] = self.n_heads if head is None else head
            lead_suffixes[op.wire] = self.n_suffixes if suffix is None else suffix
        self.lead_heads, self.lead_suffixes = lead_heads, lead_suffixes
        self.lead_batched = bool(np.any(lead_heads < self.n_heads))
        self.lead_missing_head = bool(np.any(lead_heads == self.n_heads))
        self.lead_reorder = not np.array_equal(lead_heads, np.arange(self.n_heads))
        self.lead_suffixed = bool(np.any(lead_suffixes < self.n_suffixes))

        stages: list = []
        block_stage = {b: -1 for b in ops[:lead]}  # block -> index of its stage (-1: lead)
        dense_gates, dense_tables, fused_layers = [], [], []
        groups = fused.wire_groups(n, self.block_wires)
        allow_fused = not allow_dense and self.block_wires > 1 and len(groups) < n
        diagonal_layers = []
        diagonal_rotations: dict[int, int] = {}  # rotation -> stage
        pending: Monomial | None = None
        rest = list(ops[lead:])
        k = 0
        while k < len(rest):
            op = rest[k]
            if lead + k in self.segments:  # a run of monomials and Z blocks: one phase multiply
                end, layer = self.segments[lead + k]
                if pending is not None:
                    stages.append(pending)
                diagonal_rotations.update((r, len(stages)) for r in layer.rotations)
                stages.append(DiagonalStage(len(diagonal_layers)))
                diagonal_layers.append(layer)
                pending = layer.total
                k = end - lead
                continue
            if isinstance(op, Unitary):  # a dense fixed gate: a stage of its own
                if pending is not None:
                    stages.append(pending)
                    pending = None
                stages.append(op)
                k += 1
                continue
            if isinstance(op, Monomial):
                last = stages[-1] if stages else None
                if isinstance(last, DenseStage) and dense_tables[last.layer][1] is None:
                    dense_tables[last.layer][1] = op  # fold into the preceding dense layer
                else:  # after a diagonal layer, its total monomial may be pending
                    pending = op if pending is None else pending.then(op)
                k += 1
                continue
            run = []
            while (
                k < len(rest)
                and not isinstance(rest[k], Monomial | Unitary)
                and (not run or lead + k not in self.segments)
            ):
                run.append(rest[k])
                k += 1
            if allow_dense and all(parts[b][0] is None for b in run):
                gates = np.full(n, self.n_suffixes)
                for b in run:
                    gates[b.wire] = parts[b][1]
                block_stage.update((b, len(stages)) for b in run)
                stages.append(DenseStage(len(dense_tables)))
                dense_gates.append(gates)
                dense_tables.append([pending, None, tuple(run)])
            else:
                if pending is not None:
                    stages.append(pending)
                if allow_fused and len(run) > 1 and len(run) >= len(groups):
                    on_wire = {b.wire: GateStage(b.wire, *parts[b]) for b in run}
                    members = tuple(
                        tuple(on_wire.get(w) for w in range(lo, hi)) for lo, hi in groups
                    )
                    block_stage.update((b, len(stages)) for b in run)
                    stages.append(FusedStage(len(fused_layers)))
                    fused_layers.append(FusedLayer(tuple(run), groups, members))
                else:
                    for b in run:
                        block_stage[b] = len(stages)
                        stages.append(GateStage(b.wire, *parts[b]))
            pending = None
        if pending is not None:
            stages.append(pending)
        self.stages = tuple(stages)
        self.rotation_stage = np.full(len(self.circuit.rotations), -1)
        for b, stage in block_stage.items():
            self.rotation_stage[list(b.rotations)] = stage
        for r, stage in diagonal_rotations.items():
            self.rotation_stage[r] = stage
        self.diagonal_layers = tuple(diagonal_layers)
        self.dense_gates = np.concatenate(dense_gates) if dense_gates else np.zeros(0, int)
        self.needs_identity = bool(
            self.lead_suffixed and np.any(self.lead_suffixes == self.n_suffixes)
        ) or bool(np.any(self.dense_gates == self.n_suffixes))
        self.dense_layers = tuple(DenseLayer(*layer) for layer in dense_tables)
        self.fused_layers = tuple(fused_layers)

    def _tensors(self, dtype: torch.dtype, device: torch.device) -> dict:
        key = (dtype, str(device))
        if key not in self._cache:
            circuit, k = self.circuit, self.n_batched
            n_shared = circuit.n_params - k
            consts = [r.angle for r in circuit.rotations if r.slot is None]
            const_of = {}
            for i, r in enumerate(circuit.rotations):
                if r.slot is None:
                    const_of[i] = len(const_of)

            def source(i: int, offset: int, base: int) -> int:
                r = circuit.rotations[i]
                return r.slot - offset if r.slot is not None else base + const_of[i]

            # head angles read [batched, shared, consts]; suffix angles read [shared, consts]
            head_src = [source(i, 0, circuit.n_params) for i in self.batched_rotations]
            suffix_src = [source(i, k, n_shared) for i in self.shared_rotations]
            real = dtype.to_real()
            paulis = [r.pauli for r in circuit.rotations]
            scales = circuit.rotation_scales

            def scale_of(rotations):
                picked = scales[list(rotations)]
                return (
                    None
                    if np.all(picked == 1.0)
                    else torch.tensor(picked, dtype=real, device=device)
                )

            t = {
                "head_scale": scale_of(self.batched_rotations),
                "suffix_scale": scale_of(self.shared_rotations),
                "consts": torch.tensor(consts, dtype=real, device=device).reshape(len(consts)),
                "head_src": torch.as_tensor(head_src, dtype=torch.long, device=device),
                "head_wide": bool(head_src) and max(head_src) >= k,
                "head_direct": head_src == list(range(k)),
                "suffix_src": torch.as_tensor(suffix_src, dtype=torch.long, device=device),
                "suffix_consts": bool(suffix_src) and max(suffix_src) >= n_shared,
                "head_paulis": engine.pauli_stack(
                    tuple(paulis[i] for i in self.batched_rotations), dtype, device
                ),
                "suffix_paulis": engine.pauli_stack(
                    tuple(paulis[i] for i in self.shared_rotations), dtype, device
                ),
                "head_fusion": self._head_fusion.tensors(device),
                "suffix_fusion": self._suffix_fusion.tensors(device),
                "lead_heads": torch.as_tensor(self.lead_heads, device=device),
                "lead_suffixes": torch.as_tensor(self.lead_suffixes, device=device),
                "dense_gates": torch.as_tensor(self.dense_gates, device=device),
                "eye": torch.eye(2, dtype=dtype, device=device).unsqueeze(0),
                "ket0": torch.tensor([[1, 0]], dtype=dtype, device=device),
            }
            t["head_minus_i"] = -1j * t["head_paulis"]  # for the rotation matrices
            t["suffix_minus_i"] = -1j * t["suffix_paulis"]
            t["head_generators"] = -0.5j * t["head_paulis"]
            t["suffix_generators"] = -0.5j * t["suffix_paulis"]
            for name in ("head", "suffix"):  # constants of :meth:`_Fusion.carried`, gathered once
                fusion = t[f"{name}_fusion"]
                fusion["generators"] = _Fusion.chain_generators(
                    t[f"{name}_generators"], fusion["groups"]
                )
            head_suffix = np.full(len(self.batched_rotations), self.n_suffixes)
            for head, suffix in self.parts.values():
                if head is not None and suffix is not None:
                    head_suffix[list(self.head_chains[head])] = suffix
            t["head_suffix"] = torch.as_tensor(head_suffix, device=device)
            t.update(self._dense_tensors(dtype, device))
            t["diagonal"] = [self._diagonal_tensors(d, real, device) for d in self.diagonal_layers]
            self._cache[key] = t
        return self._cache[key]

    def _diagonal_tensors(self, layer: DiagonalLayer, real: torch.dtype, device) -> dict:
        """A diagonal layer's tables, per-circuit slots' rows first, then the shared ones.

        Slots are sorted, so both are views of one tensor, which shares the layer's array
        where dtype and device allow.
        """
        slots = np.asarray(layer.slots, dtype=np.int64)
        split = int(np.sum(slots < self.n_batched))
        tables = torch.as_tensor(layer.tables, dtype=real, device=device)
        return {
            "batched": torch.as_tensor(slots[:split], device=device),
            "batched_tables": tables[:split],
            "shared": torch.as_tensor(slots[split:] - self.n_batched, device=device),
            "shared_tables": tables[split:],
            "constant": None
            if layer.constant is None
            else torch.as_tensor(layer.constant, dtype=real, device=device),
            "slots": torch.as_tensor(slots, device=device),
            "tables": tables,
        }

    def with_diagonals(self, gates: Gates, batched: torch.Tensor, shared: torch.Tensor) -> Gates:
        """``gates`` with every diagonal layer's phases, built here where they were not kept.

        A forward pass run for a later sweep drops them (a state's worth each, per circuit;
        :meth:`~qgradbench.backend.execution.Execution.state_for_sweep`).
        """
        if gates.diagonals is not None or not self.diagonal_layers:
            return gates
        t = self._tensors(gates.pool.dtype, gates.pool.device)
        return replace(gates, diagonals=self.diagonal_phases(batched, shared, t))

    def diagonal_tables(self, layer: int, dtype: torch.dtype, device) -> tuple:
        """Diagonal layer ``layer``'s tables ``T_k`` ``(rows, 2**n)`` and each row's slot.

        The layer is ``exp(-i/2 sum_k theta_k T_k)`` (:meth:`diagonal_phases`).
        """
        t = self._tensors(dtype, device)["diagonal"][layer]
        return t["tables"], t["slots"]

    def diagonal_phases(self, batched: torch.Tensor, shared: torch.Tensor, t: dict) -> list:
        """Each diagonal layer's ``exp(-i/2 sum_k theta_k T_k)``: ``(B, 2**n)`` or ``(2**n,)``."""
        out = []
        for d in t["diagonal"]:
            angle = None
            if d["batched"].numel():
                angle = batched.index_select(-1, d["batched"]) @ d["batched_tables"]
            if d["shared"].numel():
                part = shared.index_select(-1, d["shared"]) @ d["shared_tables"]
                angle = part if angle is None else angle + part
            if d["constant"] is not None:
                angle = d["constant"] if angle is None else angle + d["constant"]
            half = -0.5 * angle
            out.append(torch.complex(torch.cos(half), torch.sin(half)))
        return out

    def traffic(
        self,
        batch: int,
        dtype: torch.dtype = torch.complex64,
        mode: str = "forward",
        outputs: int = 1,
    ) -> Traffic:
        """Bytes moved and complex multiply-adds of a run, measured and differentiated.

        A model of the kernels the schedule launches, for a roofline (``benchmarks/roofline.py``),
        not a trace: index and gate construction (``O(2**n)`` or ``O(batch K**2)``) and
        allocator effects are left out. With ``A = batch 2**n`` amplitudes of ``c`` bytes and
        ``S = c A`` (one pass over the state):

        * ``forward``: the product state is written once (``S``, ``A`` MACs); every matrix
          product with ``K x K`` blocks (a fused group ``K = 2**k``, a 2x2 gate ``K = 2``, a
          dense layer ``K = 2**n``, a fixed dense gate on ``k`` wires) reads and writes the
          state (``2 S``, ``A K`` MACs); a diagonal layer multiplies in place (``2 S`` plus its
          phases: ``2**n c``, or ``S`` when they are per circuit; ``A`` MACs); a monomial is a
          gather (``2 S`` plus an 8-byte index per basis state, and ``2**n c`` phases with
          ``A`` MACs unless it is a permutation). Then ``outputs`` diagonal observables are
          measured: the state read, the probabilities written and read (``c A / 2`` each),
          ``A (1 + outputs / 4)`` MACs (a real multiply-add is a quarter of a complex one).
        * ``backprop``: the forward, then the measurement's backward (weights written and read,
          state read, gradient written: ``3 S``, ``A (1 + outputs / 4)``); per product ``4 S``
          (the gradient read twice, the saved state read, the state's gradient written) and
          ``2 A K``; per diagonal layer ``4 S`` and its phases (and ``S`` more for the phases'
          gradient when they are per circuit), ``2 A``; per monomial its forward's traffic; one
          conjugating copy (``2 S``) if there is a fused layer; the product state's backward,
          two matrix-vector products (``2 S``, ``2 A``).
        * ``adjoint``: the forward without autograd, then ``lambda = O psi`` (``3 S``,
          ``A (1 + outputs / 4)``), the pair ``(psi, lambda)`` stacked (``4 S``), and the sweep
          over the stages in reverse, every inverse on the pair: per product the reduced
          matrices (the pair read, ``A K``; a dense layer one contraction per wire, ``2 S`` and
          ``2 A`` each, its folded monomials not counted) and the inverse (``4 S``,
          ``2 A K``); per diagonal layer the overlap (the pair read, ``c A / 2`` written and
          read by the table product, ``A (1 + rows / 4)``) and the in-place inverse (``4 S``
          and its phases, ``2 A``); per monomial twice its forward's traffic; the leading
          blocks, ``lambda`` read twice (``2 S``, ``2 A``).

        Args:
            batch: circuits run together.
            dtype: complex dtype of the simulation.
            mode: ``"forward"``, ``"backprop"`` or ``"adjoint"``.
            outputs: number of diagonal observables measured.

        Returns:
            The :class:`Traffic` of one call.
        """
        if mode not in TRAFFIC_MODES:
            raise ValueError(f"mode must be one of {', '.join(TRAFFIC_MODES)}, got {mode!r}")
        if batch < 1 or outputs < 1:
            raise ValueError(f"batch and outputs must be positive, got {batch} and {outputs}")
        c = torch.empty(0, dtype=dtype).element_size()
        basis = 2**self.n_qubits
        amps = batch * basis
        state = c * amps
        measure = Traffic(2 * state, amps + amps * outputs // 4)
        total = Traffic(state, amps) + measure  # product state, measurement
        kernels = list(self._kernels(batch, c))
        for kind, value, extra in kernels:
            total += _forward_kernel(kind, value, extra, amps, state)
        if mode == "backprop":
            total += Traffic(3 * state, amps + amps * outputs // 4) + Traffic(2 * state, 2 * amps)
            if self.fused_layers:
                total += Traffic(2 * state, 0)
            for kind, value, extra in kernels:
                total += _backprop_kernel(kind, value, extra, amps, state)
        elif mode == "adjoint":
            total += Traffic(3 * state, amps + amps * outputs // 4) + Traffic(4 * state, 0)
            for kind, value, extra in kernels:
                total += _adjoint_kernel(kind, value, extra, amps, state)
            if self.lead_blocks:
                total += Traffic(2 * state, 2 * amps)
        return total

    def _kernels(self, batch: int, itemsize: int):
        """The run's kernels in order: ``(kind, value, extra)`` (:meth:`traffic`).

        ``("product", K, wires)`` for a matrix product with ``K x K`` blocks (``wires``: the
        wires whose reduced matrices the adjoint takes one by one, 0 for a group's single
        product); ``("diagonal", rows, phase bytes)`` (``rows`` negative for per-circuit
        phases); ``("gather", phased, index and phase bytes)``.
        """
        n = self.n_qubits
        basis = 2**n

        def gather(monomial):
            phased = not monomial.is_permutation
            return ("gather", int(phased), 8 * basis + phased * itemsize * basis)

        for stage in self.stages:
            if isinstance(stage, FusedStage):
                for lo, hi in self.fused_layers[stage.layer].groups:
                    yield ("product", 2 ** (hi - lo), 0)
            elif isinstance(stage, GateStage):
                yield ("product", 2, 1)
            elif isinstance(stage, DenseStage):
                layer = self.dense_layers[stage.layer]
                yield ("product", basis, len(layer.blocks))
            elif isinstance(stage, DiagonalStage):
                layer = self.diagonal_layers[stage.layer]
                per_circuit = any(slot < self.n_batched for slot in layer.slots)
                rows = len(layer.slots) + (layer.constant is not None)
                phases = itemsize * basis * (batch if per_circuit else 1)
                yield ("diagonal", -rows if per_circuit else rows, phases)
            elif isinstance(stage, Monomial):
                yield gather(stage)
            else:  # a dense fixed gate on a few wires
                yield ("product", 2 ** len(stage.wires), 0)

    def memo(self, key, build):
        """Return ``build()``, computed once per ``key`` and kept with the schedule.

        For what other modules derive from a schedule (the adjoint sweep's index plan).
        """
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    def _dense_tensors(self, dtype: torch.dtype, device: torch.device) -> dict:
        """Gather tables (and phases) of the dense layers, with and without their ``post``."""
        out, n = {}, self.n_qubits
        without_post = [DenseLayer(d.pre, None, d.blocks) for d in self.dense_layers]
        for name, layers in (("dense", self.dense_layers), ("dense_pre", without_post)):
            if not layers:
                continue
            tables = [dense.kron_table(n, layer.pre, layer.post) for layer in layers]
            index = dense.stack_tables([index for index, _ in tables])
            out[f"{name}_index"] = torch.as_tensor(index, device=device)
            if any(phase is not None for _, phase in tables):
                ones = np.ones((2**n, 2**n))
                phases = np.stack([ones if phase is None else phase for _, phase in tables])
                out[f"{name}_phase"] = torch.as_tensor(phases, dtype=dtype, device=device)
        return out

    # ----------------------------------------------------------------- execution
    def run(
        self,
        batched: torch.Tensor,
        shared: torch.Tensor,
        dtype: torch.dtype = torch.complex64,
        gates: Gates | None = None,
    ) -> torch.Tensor:
        """Execute the circuit on ``|0...0>`` for a batch of circuits.

        Args:
            batched: real ``(B, n_batched)``: the per-circuit slots.
            shared: real ``(n_params - n_batched,)``: the slots every circuit shares.
            dtype: complex dtype of the simulation.
            gates: :meth:`gates` of ``batched`` and ``shared`` if the caller built them already
                (with generators, for an adjoint sweep later); by default built here.

        Returns:
            The final states ``(B, 2, ..., 2)``.
        """
        t = self._tensors(dtype, batched.device)
        if gates is None:
            gates = self.gates(batched, shared, dtype)
        batch = batched.shape[0]
        state = self._product_state(gates, t, batch)
        unitaries = self.dense_unitaries(gates) if self.dense_layers else None
        recorded = batched.requires_grad or shared.requires_grad or state.requires_grad
        if not (torch.is_grad_enabled() and recorded):  # nothing to save: two buffers suffice
            return self._run_buffered(state, gates, unitaries)
        for stage in self.stages:  # inline: on small registers the per-stage overhead shows
            if isinstance(stage, DenseStage):
                flat = state.reshape(batch, -1) @ unitaries[stage.layer].T
                state = flat.reshape(state.shape)
            elif isinstance(stage, GateStage):
                matrix = self.gate_matrix(stage, gates)
                state = engine.apply_matrix(state, matrix, stage.wire, self.n_qubits)
            elif isinstance(stage, FusedStage):
                blocks = self.fused_blocks(stage, gates)
                state = fused.apply_groups(state, blocks, self.n_qubits)
            elif isinstance(stage, DiagonalStage):
                state = apply_phases(state, gates.diagonals[stage.layer], self.n_qubits)
            else:
                state = engine.apply_fixed(state, stage)
        return state

    def _run_buffered(self, state: torch.Tensor, gates: Gates, unitaries) -> torch.Tensor:
        """:meth:`run`'s stages without autograd, in two state buffers (:class:`engine.PingPong`).

        The same kernels as the recorded path, writing into the buffer that is not the input
        (a diagonal layer multiplies in place), so a run allocates a fixed number of states.
        ``state``, the product state, is the run's own and becomes one of the buffers.
        """
        buffers = engine.PingPong(state)
        for stage in self.stages:
            self._apply_buffered(stage, buffers, gates, unitaries)
        return buffers.state

    def _apply_buffered(
        self, stage, buffers, gates: Gates, unitaries, branches: bool = False
    ) -> None:
        """Apply one stage to ``buffers.state`` without autograd (``branches``: :meth:`_apply`)."""
        n = self.n_qubits

        def per_branch(matrix):
            return matrix.unsqueeze(1) if branches and matrix.dim() > 2 else matrix

        if isinstance(stage, DenseStage):
            unitary = unitaries[stage.layer].T

            def dense_product(state, out):
                flat = state.reshape(*state.shape[: state.dim() - n], -1)
                return torch.matmul(flat, unitary, out=out.view(flat.shape))

            buffers.step(dense_product)
        elif isinstance(stage, DiagonalStage):
            state, phases = buffers.state, gates.diagonals[stage.layer]  # (B, 2**n) or (2**n,)
            phases = phases.unsqueeze(1) if branches and phases.dim() > 1 else phases
            flat = state.reshape(*state.shape[: state.dim() - n], 2**n)
            flat.mul_(phases)  # elementwise: exact in place
        elif isinstance(stage, FusedStage):
            for block in self.fused_blocks(stage, gates):
                block = per_branch(block)
                buffers.step(lambda state, out, b=block: fused.apply_block_bottom(state, b, n, out))
        elif isinstance(stage, GateStage):
            matrix = per_branch(self.gate_matrix(stage, gates))
            buffers.step(lambda state, out: engine.apply_matrix(state, matrix, stage.wire, n, out))
        else:
            buffers.step(lambda state, out: engine.apply_fixed(state, stage, out))

    def _apply(self, stage, state, gates: Gates, unitaries, branches: bool = False):
        """Apply one stage to ``state`` ``(B, 2, ..., 2)``.

        With ``branches``, ``state`` is ``(B, m, 2, ..., 2)`` and circuit ``b``'s gates act on
        all its ``m`` branches (:meth:`run_branched`).
        """
        n = self.n_qubits

        def per_branch(matrix):
            return matrix.unsqueeze(1) if branches and matrix.dim() > 2 else matrix

        if isinstance(stage, DenseStage):
            flat = state.reshape(*state.shape[: state.dim() - n], -1) @ unitaries[stage.layer].T
            return flat.reshape(state.shape)
        if isinstance(stage, DiagonalStage):
            phases = gates.diagonals[stage.layer]  # (B, 2**n) per circuit, or (2**n,)
            return apply_phases(
                state, phases.unsqueeze(1) if branches and phases.dim() > 1 else phases, n
            )
        if isinstance(stage, FusedStage):
            blocks = [per_branch(b) for b in self.fused_blocks(stage, gates)]
            return fused.apply_groups(state, blocks, n)
        if isinstance(stage, GateStage):
            return engine.apply_matrix(
                state, per_branch(self.gate_matrix(stage, gates)), stage.wire, n
            )
        return engine.apply_fixed(state, stage)

    def run_branched(
        self, theta: torch.Tensor, variants: torch.Tensor, dtype: torch.dtype = torch.complex64
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Execute circuits and variants of them that differ in one stage, sharing the prefix.

        Variant ``j`` of circuit ``b`` equals ``theta[b]`` except in slots driving rotations of
        one stage ``s_j`` (for all ``b``). Its state is computed from circuit ``b``'s state before
        stage ``s_j`` (computed once), with its own gates at stage ``s_j`` only, and ``b``'s
        gates, built once per circuit, afterwards. For the variants of a gradient rule (each
        one slot shifted) that saves about a third of the work on layered circuits.
        Needs a schedule with every slot per circuit (``n_batched = n_params``).

        Args:
            theta: ``(B, P)``, the circuits.
            variants: ``(B, S, P)``, their variants.
            dtype: complex dtype of the simulation.

        Returns:
            ``(psi, states)``: the circuits' states ``(B, 2, ..., 2)`` and the variants'
            ``(B, S, 2, ..., 2)``.
        """
        if self.n_batched != self.circuit.n_params:
            raise ValueError("run_branched needs a schedule with every slot per circuit")
        batch, count, n_params = variants.shape
        empty = theta.new_zeros(0)
        t = self._tensors(dtype, theta.device)
        differ = (variants != theta.unsqueeze(1)).any(0).cpu().numpy()  # (S, P)
        rotations_of = self.circuit.slot_rotations
        stages_hit = [
            {self.rotation_stage[r] for k in np.flatnonzero(row) for r in rotations_of[k]}
            for row in differ
        ]
        if any(len(hit) > 1 for hit in stages_hit):
            raise ValueError("each variant must differ from its circuit within one stage")
        start = [int(hit.pop()) if hit else None for hit in stages_hit]
        gates = self.gates(theta, empty, dtype)
        unitaries = self.dense_unitaries(gates) if self.dense_layers else None
        # without autograd every running state (the circuits', each cohort's) is a buffer pair
        buffered = not (torch.is_grad_enabled() and (theta.requires_grad or variants.requires_grad))
        main = self._product_state(gates, t, batch)
        main = engine.PingPong(main) if buffered else main
        cohorts = []  # (members, states (B, m, ...)) of variants that branched off already

        def value(current):
            return current.state if buffered else current

        def advance(current, stage, branches=False):
            if not buffered:
                return self._apply(stage, current, gates, unitaries, branches)
            self._apply_buffered(stage, current, gates, unitaries, branches)
            return current

        def branch(members, first_stage):
            rows = variants[:, members].reshape(-1, n_params)
            own = self.gates(rows, empty, dtype)
            state = value(main)
            if first_stage == -1:
                states = self._product_state(own, t, rows.shape[0])
            else:
                states = state.unsqueeze(1).expand(batch, len(members), *state.shape[1:])
                own_unitaries = self.dense_unitaries(own) if self.dense_layers else None
                states = states.reshape(rows.shape[0], *state.shape[1:])
                states = self._apply(self.stages[first_stage], states, own, own_unitaries)
            states = states.reshape(batch, len(members), *state.shape[1:])  # new: owned here
            cohorts.append((members, engine.PingPong(states) if buffered else states))

        def members_from(stage):
            return [j for j in range(count) if start[j] == stage]

        if members_from(-1):
            branch(members_from(-1), -1)
        for i, stage in enumerate(self.stages):
            cohorts = [(m, advance(s, stage, True)) for m, s in cohorts]
            if members_from(i):
                branch(members_from(i), i)
            main = advance(main, stage)
        state = value(main)
        cohorts = [(m, value(s)) for m, s in cohorts]
        unchanged = members_from(None)
        if unchanged:
            cohorts.append(
                (unchanged, state.unsqueeze(1).expand(-1, len(unchanged), *state.shape[1:]))
            )
        if len(cohorts) == 1 and cohorts[0][0] == list(range(count)):
            return state, cohorts[0][1]
        states = state.new_empty(batch, count, *state.shape[1:])
        for members, part in cohorts:  # one write each, in variant order
            states.index_copy_(1, torch.as_tensor(members, device=states.device), part)
        return state, states

    @property
    def runs_variants(self) -> bool:
        """Whether :meth:`run_variants` serves this schedule.

        It does where every per-circuit slot acts in the leading blocks and everything after
        them is shared: dense layers and fixed gates (a small register, a circuit that encodes
        its inputs first), and some slots are shared.
        """
        rotations, k = self.circuit.rotations, self.n_batched
        heads_batched_only = all(  # no head reads a shared slot or a constant
            rotations[i].slot is not None and rotations[i].slot < k for i in self.batched_rotations
        )
        return (
            k < self.circuit.n_params
            and heads_batched_only
            and all(isinstance(s, DenseStage | Monomial | Unitary) for s in self.stages)
        )

    def run_variants(
        self, batched: torch.Tensor, variants: torch.Tensor, dtype: torch.dtype = torch.complex64
    ) -> torch.Tensor:
        """The states of every circuit with every variant of the shared slots, without autograd.

        For a gradient rule's shifts of the weights: ``M`` weight vectors, each run with all
        ``B`` circuits' encodings. The shared gates and dense unitaries are built once per
        variant (``M`` times, not ``M B``) and the encodings once per circuit; the states are
        one batched matrix product per dense layer. Needs :attr:`runs_variants`.

        Args:
            batched: real ``(B, n_batched)``: the per-circuit slots.
            variants: real ``(M, n_params - n_batched)``: the shared slots of each variant.
            dtype: complex dtype of the simulation.

        Returns:
            ``(M, B, 2, ..., 2)``: variant ``m`` of circuit ``b``.
        """
        if not self.runs_variants:
            raise ValueError(
                "run_variants needs per-circuit slots in the leading blocks only, followed by "
                "dense layers and fixed gates (a register of at most dense_qubits qubits)"
            )
        t = self._tensors(dtype, batched.device)
        count, batch, n = variants.shape[0], batched.shape[0], self.n_qubits
        gates = self.gates(batched, variants, dtype)  # pool (M, S, 2, 2): suffixes per variant
        heads_state = dense.product_state(self._head_columns(gates, t, batch)).reshape(-1, 2**n)
        # each variant's operators in order: its leading suffixes (one Kronecker product), then
        # the stages; a dense layer right after the leading blocks absorbs the suffixes
        operators = []
        if self.lead_suffixed:
            per_wire = gates.pool.index_select(-3, t["lead_suffixes"]).unsqueeze(-4)  # (M,1,n,2,2)
            operators.append(dense.kron_unitaries(per_wire, self._plain_kron(t))[:, 0])
        unitaries = self.dense_unitaries(gates) if self.dense_layers else None
        for stage in self.stages:
            op = unitaries[:, stage.layer] if isinstance(stage, DenseStage) else stage
            dense_pair = isinstance(op, torch.Tensor) and operators
            if dense_pair and isinstance(operators[-1], torch.Tensor):
                operators[-1] = op @ operators[-1]
            else:
                operators.append(op)
        state = heads_state.expand(count, *heads_state.shape)  # (M, B or 1, 2**n)
        for op in operators:
            if isinstance(op, torch.Tensor):
                state = state @ op.mT
            else:
                rows = state.expand(count, batch, 2**n).reshape(-1, *[2] * n)
                state = engine.apply_fixed(rows, op).reshape(count, batch, 2**n)
        return state.expand(count, batch, 2**n).reshape(count, batch, *[2] * n)

    def _plain_kron(self, t: dict) -> torch.Tensor:
        """The :func:`~qgradbench.engine.dense.kron_table` of one layer without fixed gates."""
        if "plain_kron" not in t:
            index, _ = dense.kron_table(self.n_qubits)
            t["plain_kron"] = torch.as_tensor(index[None], device=t["eye"].device)
        return t["plain_kron"]

    def gates(
        self,
        batched: torch.Tensor,
        shared: torch.Tensor,
        dtype: torch.dtype,
        generators: bool = False,
    ) -> Gates:
        """Build the batch's rotation matrices and fuse them into heads and suffixes.

        Args:
            batched: the per-circuit slots ``(B, n_batched)``.
            shared: the shared slots ``(n_params - n_batched,)``; or ``(M, n_params -
                n_batched)``, ``M`` variants of them (:meth:`run_variants`), which gives the
                suffixes and pool a leading axis of ``M``.
            dtype: complex dtype of the simulation.
            generators: also return every rotation's generator carried to the end of its block,
                ``A_j`` with ``dM/dt_j M^dagger = A_j`` for the block ``M = suffix @ head`` (head
                rotations are carried through their suffix too); computed in the same pass as
                the fused blocks (:meth:`_Fusion.carried`), for the adjoint sweep.
        """
        t = self._tensors(dtype, batched.device)
        heads = suffixes = head_gens = suffix_gens = None
        if self.n_heads:
            mats = self._head_rotations(batched, shared, t)
            if generators:
                head_gens, heads = self._head_fusion.carried(
                    mats, t["head_generators"], t["head_fusion"]
                )
            else:
                heads = self._head_fusion(mats, t["head_fusion"])
        pool = t["eye"].expand(*shared.shape[:-1], 1, 2, 2)
        if self.n_suffixes:
            mats = self._suffix_rotations(shared, t)
            if generators:
                suffix_gens, suffixes = self._suffix_fusion.carried(
                    mats, t["suffix_generators"], t["suffix_fusion"]
                )
            else:
                suffixes = self._suffix_fusion(mats, t["suffix_fusion"])
            pool = torch.cat([suffixes, pool], dim=-3) if self.needs_identity else suffixes
        if head_gens is not None and suffixes is not None:
            through = torch.cat([suffixes, t["eye"]]).index_select(0, t["head_suffix"])
            head_gens = through @ head_gens @ through.mH  # (R_h, 2, 2) suffix of each head
        diagonals = self.diagonal_phases(batched, shared, t) if self.diagonal_layers else None
        return Gates(heads, suffixes, pool, head_gens, suffix_gens, diagonals)

    def gate_matrix(self, stage: GateStage, gates: Gates) -> torch.Tensor:
        """The 2x2 matrix of a gate stage: ``(B, 2, 2)``, or ``(2, 2)`` when shared."""
        if stage.head is None:
            return gates.suffixes[stage.suffix]
        head = gates.heads[:, stage.head]
        return head if stage.suffix is None else gates.suffixes[stage.suffix] @ head

    def fused_blocks(self, stage: FusedStage, gates: Gates) -> list[torch.Tensor]:
        """Each group's block of a fused layer: ``(K, K)``, or ``(B, K, K)`` when per circuit."""
        eye = gates.pool.new_ones(2).diag()
        blocks = []
        for members in self.fused_layers[stage.layer].members:
            mats = [eye if m is None else self.gate_matrix(m, gates) for m in members]
            if any(m.dim() == 3 for m in mats):
                batch = next(m.shape[0] for m in mats if m.dim() == 3)
                mats = [m.expand(batch, 2, 2) for m in mats]
            blocks.append(fused.kron(torch.stack(mats, dim=-3)))
        return blocks

    def dense_unitaries(self, gates: Gates, post: bool = True) -> torch.Tensor:
        """The dense layers' unitaries ``(L, 2**n, 2**n)`` (module docstring).

        Args:
            gates: the batch's gates.
            post: include the fixed gates folded in after each layer; ``False`` gives
                ``M_0 (x) ... (x) M_{n-1}`` times the ``pre`` gates only (for the adjoint sweep).
        """
        t = self._tensors(gates.pool.dtype, gates.pool.device)
        per_wire = gates.pool.index_select(-3, t["dense_gates"]).unflatten(-3, (-1, self.n_qubits))
        key = "dense" if post else "dense_pre"
        return dense.kron_unitaries(per_wire, t[f"{key}_index"], t.get(f"{key}_phase"))

    def _head_rotations(self, batched, shared, t) -> torch.Tensor:
        theta = batched
        if t["head_wide"]:
            parts = [batched, shared.expand(batched.shape[0], -1)]
            if t["consts"].numel():
                parts.append(t["consts"].expand(batched.shape[0], -1))
            theta = torch.cat(parts, dim=-1)
        angles = theta if t["head_direct"] else theta.index_select(-1, t["head_src"])
        if t["head_scale"] is not None:
            angles = angles * t["head_scale"]
        return rotations_of_generators(angles, t["head_minus_i"])

    def _suffix_rotations(self, shared, t) -> torch.Tensor:
        if t["suffix_consts"]:  # shared: (P_s,), or (M, P_s) for variants
            shared = torch.cat([shared, t["consts"].expand(*shared.shape[:-1], -1)], dim=-1)
        angles = shared.index_select(-1, t["suffix_src"])
        if t["suffix_scale"] is not None:
            angles = angles * t["suffix_scale"]
        return rotations_of_generators(angles, t["suffix_minus_i"])

    def _product_state(self, gates: Gates, t: dict, batch: int) -> torch.Tensor:
        """The state after the leading blocks: the product of their first columns."""
        state = dense.product_state(self._lead_columns(gates, t, batch))
        return state if self.lead_batched else state.expand(batch, *state.shape)

    def lead_columns(self, gates: Gates, batch: int) -> torch.Tensor:
        """Each wire's state after the leading blocks: ``(B, n, 2)``, or ``(n, 2)`` if shared.

        The state after them is the product of these columns (``|0>`` on a wire without one).
        """
        return self._lead_columns(gates, self._tensors(gates.pool.dtype, gates.pool.device), batch)

    def _lead_columns(self, gates: Gates, t: dict, batch: int) -> torch.Tensor:
        columns = self._head_columns(gates, t, batch)
        if self.lead_suffixed:
            # (n, 2, 2) @ (..., n, 2) as a broadcast product: cheaper than matmul at this size
            suffix = gates.pool.index_select(-3, t["lead_suffixes"])
            columns = (suffix * columns.unsqueeze(-2)).sum(-1)
        return columns

    def _head_columns(self, gates: Gates, t: dict, batch: int) -> torch.Tensor:
        """Each wire's state after its leading head: ``(B, n, 2)``, or ``(n, 2)`` if shared."""
        if not self.lead_batched:
            return t["ket0"].expand(self.n_qubits, 2)
        columns = gates.heads[..., 0]  # first columns (B, H, 2)
        if self.lead_missing_head:
            columns = torch.cat([columns, t["ket0"].expand(batch, 1, 2)], dim=-2)
        if self.lead_reorder:
            columns = columns.index_select(-2, t["lead_heads"])
        return columns


def _forward_kernel(kind: str, value: int, extra: int, amps: int, state: int) -> Traffic:
    """One kernel's forward :class:`Traffic` (:meth:`Schedule.traffic`)."""
    if kind == "product":
        return Traffic(2 * state, amps * value)
    if kind == "diagonal":
        return Traffic(2 * state + extra, amps)
    return Traffic(2 * state + extra, amps * value)  # gather; value: 1 if phased


def _backprop_kernel(kind: str, value: int, extra: int, amps: int, state: int) -> Traffic:
    """One kernel's backward :class:`Traffic` under autograd (:meth:`Schedule.traffic`)."""
    if kind == "product":
        return Traffic(4 * state, 2 * amps * value)
    if kind == "diagonal":
        return Traffic(4 * state + extra + (state if value < 0 else 0), 2 * amps)
    return Traffic(2 * state + extra, amps * value)


def _adjoint_kernel(kind: str, value: int, extra: int, amps: int, state: int) -> Traffic:
    """One kernel's :class:`Traffic` in the adjoint sweep over ``(psi, lambda)``."""
    if kind == "product":
        wires = extra
        reduced = (
            Traffic(2 * state * wires, 2 * amps * wires)
            if wires
            else Traffic(2 * state, amps * value)
        )
        return reduced + Traffic(4 * state, 2 * amps * value)
    if kind == "diagonal":
        rows = abs(value)
        overlap = Traffic(2 * state + state // 2 * 2, amps + amps * rows // 4)
        return overlap + Traffic(4 * state + extra, 2 * amps)
    return Traffic(4 * state + extra, 2 * amps * value)


def _append(chains: list, chain: tuple[int, ...]) -> int:
    chains.append(chain)
    return len(chains) - 1


def _local(chains: list[tuple[int, ...]]) -> list[tuple[int, ...]]:
    """Renumber chains' rotation ids to positions in their concatenation."""
    out, k = [], 0
    for chain in chains:
        out.append(tuple(range(k, k + len(chain))))
        k += len(chain)
    return out


def _leading(ops) -> int:
    """Number of leading blocks that act on distinct wires before any fixed gate."""
    seen: set[int] = set()
    for i, op in enumerate(ops):
        if isinstance(op, Monomial | Unitary) or op.wire in seen:
            return i
        seen.add(op.wire)
    return len(ops)


def apply_phases(state: torch.Tensor, phases: torch.Tensor, n_qubits: int) -> torch.Tensor:
    """``phases * state`` elementwise over the basis.

    ``phases`` ``(..., 2**n)`` broadcast to ``state`` ``(*batch, 2, ..., 2)``.
    """
    lead = state.shape[: state.dim() - n_qubits]
    return (state.reshape(*lead, 2**n_qubits) * phases).reshape(state.shape)


def _is_z_block(op, rotations) -> bool:
    return not isinstance(op, Monomial | Unitary) and all(
        rotations[i].pauli == "Z" for i in op.rotations
    )


def _diagonal_segments(circuit, lead: int) -> dict:
    """Runs of monomials and Z blocks after the leading blocks, as diagonal layers.

    A run holds at least two Z blocks, with the monomials between them and the one just before
    and just after, and is cut where its tables would exceed :data:`DIAGONAL_ENTRIES`; all the
    layers together hold at most :data:`DIAGONAL_BUDGET` entries.
    Returns ``{start: (end, DiagonalLayer)}`` with op indices into ``circuit.ops`` (``end``
    exclusive).
    """
    ops, rotations = circuit.ops, circuit.rotations
    max_rows = max(1, DIAGONAL_ENTRIES >> circuit.n_qubits)
    budget = DIAGONAL_BUDGET >> circuit.n_qubits  # rows left for the whole schedule
    out, k, floor = {}, lead, lead  # floor: the first op not in a layer yet
    while k < len(ops):
        if not _is_z_block(ops[k], rotations):
            k += 1
            continue
        end, last, slots = k, k, set()
        while end < len(ops) and (
            isinstance(ops[end], Monomial) or _is_z_block(ops[end], rotations)
        ):
            if not isinstance(ops[end], Monomial):
                new = {rotations[i].slot for i in ops[end].rotations} - {None} - slots
                if len(slots | new) + 1 > max_rows:
                    break
                slots |= new
                last = end
            end += 1
        blocks = [op for op in ops[k : last + 1] if not isinstance(op, Monomial)]
        if len(blocks) >= 2:  # the monomials just before and after join (a CNOT ring closes)
            before = k - 1 >= floor and isinstance(ops[k - 1], Monomial)
            after = last + 1 < len(ops) and isinstance(ops[last + 1], Monomial)
            start, stop = k - before, last + 1 + after
            passes = _passes(ops, start, stop)
            layer = _diagonal_layer(circuit, ops[start:stop]) if passes > 1 else None
            rows = 0 if layer is None else len(layer.slots) + (layer.constant is not None)
            if layer is not None and passes > 1 + (layer.total is not None) and rows <= budget:
                out[start] = (stop, layer)
                budget -= rows
                k = floor = stop
                continue
        k = last + 1
    return out


def _passes(ops, start: int, stop: int) -> int:
    """Passes over the state that ``ops[start:stop]`` take without a diagonal layer.

    Each monomial is a pass, and so is each Z block between two non-blocks (one next to other
    blocks rides in their fused layer almost for free). A diagonal layer is one pass, two with
    a total monomial: a Z rotation next to a layer of other rotations stays with them.
    """

    def isolated(i: int) -> bool:
        return all(
            j < 0 or j >= len(ops) or isinstance(ops[j], Monomial | Unitary) for j in (i - 1, i + 1)
        )

    return sum(1 if isinstance(ops[i], Monomial) else isolated(i) for i in range(start, stop))


def _diagonal_layer(circuit, run) -> DiagonalLayer:
    """The phases and total monomial of a run (module docstring)."""
    n, rotations = circuit.n_qubits, circuit.rotations
    index = np.arange(2**n)
    moved = Monomial.identity(n)  # the monomials so far, P
    image = index  # P|b> = phase |pi(b)>: pi, kept up to date; P^dagger Z_w P = z_w(pi(b))
    tables: dict[int, np.ndarray] = {}
    constant = None
    blocks, members = [], []
    for op in run:
        if isinstance(op, Monomial):
            moved = moved.then(op)
            image = op.image(image)
            continue
        blocks.append(op)
        bits = (image >> (n - 1 - op.wire)) & 1  # z_w = 1 - 2 bit: add c (1 - 2 bit)
        for i in op.rotations:
            r = rotations[i]
            members.append(i)
            if r.slot is None:
                constant = np.zeros(2**n) if constant is None else constant
                row, c = constant, r.angle
            else:
                row, c = tables.setdefault(r.slot, np.zeros(2**n)), r.scale
            row += c
            row -= (2 * c) * bits
    slots = tuple(sorted(tables))
    stacked = np.stack([tables[k] for k in slots]) if slots else np.zeros((0, 2**n))
    if np.array_equal(stacked.astype(np.float32), stacked):  # sums of +-1/2, +-1: exact
        stacked = stacked.astype(np.float32)  # half the memory of one row per slot
    total = None
    if not np.array_equal(image, index):
        total = moved
    elif moved.has_phases and not moved.is_permutation:  # diagonal (CZ): fold its phases in
        folded = -2.0 * np.angle(moved.phase)  # exp(-i/2 * folded) = phase
        constant = folded if constant is None else constant + folded
    return DiagonalLayer(tuple(blocks), tuple(members), slots, stacked, constant, total)
