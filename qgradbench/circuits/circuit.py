"""Compiled parameterised circuits.

A :class:`Circuit` is a fixed sequence of

* Pauli rotations ``R_P(t) = exp(-i t P / 2)`` on one wire, whose angle ``t`` is either
  ``scale * theta[slot]`` for one entry (a *slot*) of a per-circuit angle vector ``theta`` or a
  constant, and
* fixed monomial gates (CNOT, CZ, ... runs, each compiled to one gather).

A slot is one parameter of one gate of the circuit model (:mod:`qgradbench.circuits.model`),
the quantity PennyLane's gradient transforms differentiate. A gate such as ``RX`` or ``Rot`` is
one rotation per slot; a gate whose generator is not a single-wire Pauli (``CRX``, ``IsingXY``,
``ControlledPhaseShift``, ...) is lowered to several rotations driven by the same slot with
their own scale, between fixed gates. The adjoint sweep and the Hadamard test differentiate one
rotation at a time and sum over a slot's rotations (the chain rule); the shift rules shift the
slot, with the rule its gate's frequencies call for (:attr:`Circuit.slot_frequencies`).

For execution, consecutive rotations on one wire with no fixed gate in between are fused into
one 2x2 *block*; how blocks and fixed gates become batched engine calls (shared gates built once,
a product state for the leading blocks, dense layer unitaries on small registers) is the
circuit's :class:`~qgradbench.circuits.schedule.Schedule`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
import torch

from qgradbench import engine
from qgradbench.circuits import schedule as schedules
from qgradbench.circuits.schedule import Schedule
from qgradbench.engine import Monomial, Unitary


@dataclass(frozen=True)
class Rotation:
    """One Pauli rotation ``exp(-i t P / 2)`` on ``wire``.

    Attributes:
        pauli: ``"X"``, ``"Y"`` or ``"Z"``.
        wire: the wire it acts on.
        slot: index of its angle in ``theta``, or ``None`` for the constant ``angle``.
        angle: the constant angle when ``slot`` is ``None``.
        scale: the rotation's angle is ``scale * theta[slot]``.
    """

    pauli: str
    wire: int
    slot: int | None
    angle: float = 0.0
    scale: float = 1.0


@dataclass(frozen=True)
class Block:
    """Consecutive rotations on one wire, fused into one 2x2 gate for execution."""

    wire: int
    rotations: tuple[int, ...]


Op = Block | Monomial | Unitary


@dataclass(frozen=True, eq=False)
class Circuit:
    """A compiled circuit over an angle vector ``theta`` of ``n_params`` slots.

    Attributes:
        n_qubits: number of qubits.
        n_params: number of slots of ``theta``.
        rotations: all rotations, in circuit order.
        ops: the circuit as blocks and fixed gates, in order.
        name: a short description for display.
        frequencies: per slot, the frequencies of the expectation values along it (the
            positive differences of its gate's generator eigenvalues, as PennyLane's
            ``parameter_frequencies``); empty means ``(1.0,)`` for every slot.
        gate_names: per slot, the gate it belongs to (for error messages); empty means
            ``"rotation"``.
    """

    n_qubits: int
    n_params: int
    rotations: tuple[Rotation, ...]
    ops: tuple[Op, ...]
    name: str = "circuit"
    frequencies: tuple[tuple[float, ...], ...] = ()
    gate_names: tuple[str, ...] = ()
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    # ----------------------------------------------------------------- structure
    @functools.cached_property
    def trainable(self) -> tuple[int, ...]:
        """Indices of the rotations driven by a slot, in circuit order."""
        return tuple(i for i, r in enumerate(self.rotations) if r.slot is not None)

    @functools.cached_property
    def slot_rotations(self) -> tuple[tuple[int, ...], ...]:
        """``slot_rotations[k]``: the indices of the rotations that slot ``k`` drives."""
        out: list[list[int]] = [[] for _ in range(self.n_params)]
        for i in self.trainable:
            out[self.rotations[i].slot].append(i)
        return tuple(map(tuple, out))

    @functools.cached_property
    def slot_frequencies(self) -> tuple[tuple[float, ...], ...]:
        """Per slot, the frequencies of the expectation values along it.

        Given at build time for gates of the circuit model; otherwise a slot that drives one
        rotation ``R(scale * t)`` has the single frequency ``|scale|``.

        Raises:
            ValueError: for a slot that drives several rotations and has no given frequencies.
        """
        if self.frequencies:
            return self.frequencies
        out = []
        for k, rots in enumerate(self.slot_rotations):
            if len(rots) != 1:
                raise ValueError(
                    f"slot {k} drives {len(rots)} rotations; its frequencies must be given"
                )
            out.append((abs(self.rotations[rots[0]].scale),))
        return tuple(out)

    @functools.cached_property
    def slot_gate_names(self) -> tuple[str, ...]:
        """Per slot, the name of the gate it parametrises."""
        return self.gate_names or ("rotation",) * self.n_params

    @functools.cached_property
    def simple_slots(self) -> np.ndarray:
        """Whether each slot drives exactly one rotation with scale 1 (a plain Pauli rotation).

        For those, ``R(t + s) = cos(s/2) R(t) + sin(s/2) R(t + pi)`` holds along the slot, which
        the pi-kicked shortcuts of parameter-shift and the Hadamard test rely on.
        """
        return np.array(
            [len(r) == 1 and self.rotations[r[0]].scale == 1.0 for r in self.slot_rotations],
            dtype=bool,
        )

    @functools.cached_property
    def all_simple(self) -> bool:
        """Whether every slot is simple (:attr:`simple_slots`): the circuits of the seed model."""
        return bool(self.simple_slots.all())

    @functools.cached_property
    def per_rotation(self) -> tuple[Circuit, np.ndarray, np.ndarray]:
        """The same circuit with one slot per trainable rotation, scale 1.

        Returns:
            ``(circuit, slots, scales)``: angle vectors of the new circuit are
            ``theta[..., slots] * scales``; slot ``r`` of it is the ``r``-th trainable rotation
            (:attr:`trainable`). Per-rotation derivatives summed with ``scales`` over each
            original slot's rotations give the slot's derivative (the chain rule).
        """
        rotations = list(self.rotations)
        for position, i in enumerate(self.trainable):
            r = rotations[i]
            rotations[i] = Rotation(r.pauli, r.wire, position, r.angle, 1.0)
        slots = np.array([self.rotations[i].slot for i in self.trainable], dtype=np.int64)
        scales = np.array([self.rotations[i].scale for i in self.trainable], dtype=float)
        circuit = Circuit(self.n_qubits, len(self.trainable), tuple(rotations), self.ops, self.name)
        return circuit, slots, scales

    @functools.cached_property
    def rotation_scales(self) -> np.ndarray:
        """``(R,)``: each rotation's scale (1 for constants)."""
        return np.array([r.scale for r in self.rotations], dtype=float)

    @functools.cached_property
    def sequence(self) -> tuple[tuple[str, object], ...]:
        """The circuit as elementary steps: ``("rot", rotation_index)`` or ``("fixed", gate)``."""
        steps: list[tuple[str, object]] = []
        for op in self.ops:
            if isinstance(op, Block):
                steps.extend(("rot", i) for i in op.rotations)
            else:
                steps.append(("fixed", op))
        return tuple(steps)

    def _tensors(self, dtype: torch.dtype, device: torch.device) -> dict:
        """Constant tensors of the circuit on ``device`` (cached per dtype and device)."""
        key = (dtype, str(device))
        if key not in self._cache:
            consts = [r.angle for r in self.rotations if r.slot is None]
            n_const = len(consts)
            # angles = cat([theta, consts], -1)[..., source]
            source, c = [], 0
            for r in self.rotations:
                if r.slot is None:
                    source.append(self.n_params + c)
                    c += 1
                else:
                    source.append(r.slot)
            self._cache[key] = {
                "consts": torch.tensor(consts, dtype=dtype.to_real(), device=device).reshape(
                    n_const
                ),
                "source": torch.tensor(source, dtype=torch.long, device=device),
                "scales": None
                if np.all(self.rotation_scales == 1.0)
                else torch.tensor(self.rotation_scales, dtype=dtype.to_real(), device=device),
                "paulis": engine.pauli_stack(tuple(r.pauli for r in self.rotations), dtype, device),
            }
        return self._cache[key]

    # ----------------------------------------------------------------- execution
    def rotation_angles(self, theta: torch.Tensor) -> torch.Tensor:
        """Map ``theta`` ``(..., n_params)`` to the angle of every rotation ``(..., R)``."""
        t = self._tensors(_complex_of(theta.dtype), theta.device)
        consts = t["consts"]
        if consts.numel():
            theta = torch.cat([theta, consts.expand(*theta.shape[:-1], -1)], dim=-1)
        angles = theta.index_select(-1, t["source"])
        return angles if t["scales"] is None else angles * t["scales"]

    def rotation_matrices(self, theta: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """Return every rotation's matrix, ``(..., R, 2, 2)``, for angle vectors ``theta``."""
        paulis = self._tensors(dtype, theta.device)["paulis"]
        return engine.rotation_matrices(self.rotation_angles(theta), paulis)

    def schedule(
        self,
        n_batched: int,
        dense_qubits: int = schedules.DENSE_QUBITS,
        block_wires: int | None = None,
    ) -> Schedule:
        """The execution schedule for batches whose first ``n_batched`` slots vary (cached).

        ``dense_qubits`` and ``block_wires`` as in :class:`Schedule` (``None``: this machine's
        width, :func:`qgradbench.circuits.schedule.default_block_wires`).
        """
        if block_wires is None:
            block_wires = schedules.default_block_wires(self.n_qubits, dense_qubits)
        key = ("schedule", n_batched, dense_qubits, block_wires)
        if key not in self._cache:
            self._cache[key] = Schedule(self, n_batched, dense_qubits, block_wires)
        return self._cache[key]

    def run(
        self,
        theta: torch.Tensor,
        dtype: torch.dtype = torch.complex64,
        shared: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Execute the circuit on ``|0...0>`` for every row of ``theta``.

        Args:
            theta: real ``(B, n_params)``, row ``b`` the angle vector of circuit ``b``; or, with
                ``shared``, ``(B, k)``: the first ``k`` slots of each circuit.
            dtype: complex dtype of the simulation.
            shared: real ``(n_params - k,)``: the remaining slots, the same for every circuit
                (a layer's weights). Shared gates are then built once for the whole batch.

        Returns:
            The final states, ``(B, 2, ..., 2)``.
        """
        if shared is None:
            return self.schedule(self.n_params).run(theta, theta.new_zeros(0), dtype)
        return self.schedule(theta.shape[-1]).run(theta, shared, dtype)


def _complex_of(real: torch.dtype) -> torch.dtype:
    return {torch.float32: torch.complex64, torch.float64: torch.complex128}.get(
        real, torch.complex64
    )


class CircuitBuilder:
    """Builds a :class:`Circuit` gate by gate, fusing rotations into blocks as it goes.

    Rotations on one wire stay in one block until a fixed gate closes all open blocks; single-
    qubit gates on different wires commute, so this keeps the circuit's meaning exactly.
    """

    def __init__(self, n_qubits: int, name: str = "circuit"):
        self.n_qubits = engine.check_n_qubits(n_qubits)
        self.name = name
        self._rotations: list[Rotation] = []
        self._ops: list[object] = []  # Block placeholders are lists [wire, [ids]]
        self._open: dict[int, list] = {}
        self._pending: Monomial | None = None
        self._slots: set[int] = set()

    def _wire(self, wire: int) -> int:
        if not 0 <= wire < self.n_qubits:
            raise ValueError(f"wire {wire} out of range for {self.n_qubits} qubits")
        return wire

    def _flush_fixed(self) -> None:
        if self._pending is not None:
            self._ops.append(self._pending)
            self._pending = None

    def rotation(
        self,
        pauli: str,
        wire: int,
        slot: int | None = None,
        angle: float = 0.0,
        scale: float = 1.0,
        shared: bool = False,
    ):
        """Append ``R_pauli(scale * theta[slot])`` (or ``R_pauli(angle)`` when ``slot`` is None).

        A slot drives one rotation unless ``shared`` is set: a gate lowered to several rotations
        of one parameter (``CRX``, ``IsingXY``, ...) passes ``shared=True`` for all but the first.
        """
        if pauli not in engine.PAULIS:
            raise ValueError(f"rotation axis must be one of {engine.PAULIS}, got {pauli!r}")
        if slot is not None:
            if slot in self._slots and not shared:
                raise ValueError(f"slot {slot} already drives a rotation; each slot drives one")
            self._slots.add(slot)
        self._flush_fixed()
        wire = self._wire(wire)
        self._rotations.append(Rotation(pauli, wire, slot, float(angle), float(scale)))
        if wire not in self._open:
            block = [wire, []]
            self._open[wire] = block
            self._ops.append(block)
        self._open[wire][1].append(len(self._rotations) - 1)
        return self

    def rot(self, wire: int, slots: tuple[int, int, int]):
        """Append PennyLane's ``Rot(phi, theta, omega) = RZ(omega) RY(theta) RZ(phi)``."""
        phi, theta, omega = slots
        return self.rotation("Z", wire, phi).rotation("Y", wire, theta).rotation("Z", wire, omega)

    def fixed(self, name: str, wires: tuple[int, ...]):
        """Append a fixed monomial gate (:meth:`Monomial.gate`); runs of them are merged."""
        gate = Monomial.gate(name, tuple(self._wire(w) for w in wires), self.n_qubits)
        self._open.clear()
        self._pending = gate if self._pending is None else self._pending.then(gate)
        return self

    def unitary(self, matrix: np.ndarray, wires: tuple[int, ...]):
        """Append a fixed dense gate (``QubitUnitary`` on several wires)."""
        wires = tuple(self._wire(w) for w in wires)
        self._flush_fixed()
        self._open.clear()
        self._ops.append(Unitary(self.n_qubits, wires, np.asarray(matrix, dtype=complex)))
        return self

    def build(
        self,
        n_params: int,
        frequencies: tuple[tuple[float, ...], ...] = (),
        gate_names: tuple[str, ...] = (),
    ) -> Circuit:
        """Return the compiled circuit over ``n_params`` slots.

        ``frequencies`` and ``gate_names`` as in :class:`Circuit` (one entry per slot, or none).
        """
        missing = set(range(n_params)) - self._slots
        if missing or max(self._slots, default=-1) >= n_params:
            raise ValueError(f"slots must be exactly 0..{n_params - 1}; missing {sorted(missing)}")
        for name, per_slot in (("frequencies", frequencies), ("gate_names", gate_names)):
            if per_slot and len(per_slot) != n_params:
                raise ValueError(f"{name} must have one entry per slot ({n_params})")
        self._flush_fixed()
        ops = tuple(Block(op[0], tuple(op[1])) if isinstance(op, list) else op for op in self._ops)
        return Circuit(
            self.n_qubits,
            n_params,
            tuple(self._rotations),
            ops,
            self.name,
            tuple(tuple(map(float, f)) for f in frequencies),
            tuple(gate_names),
        )
