"""The circuit model: circuits as plain data, compiled to the engine.

A :class:`CircuitSpec` is what a researcher writes down: gates on wires whose angles are affine
functions of the inputs ``x`` (one sample's features) and the trainable weights ``w``, followed by
a list of observables (real sums of Pauli words, :class:`~qgradbench.circuits.pauli.PauliSum`)::

    from qgradbench.circuits.model import CircuitSpec, Gate, x, w

    spec = CircuitSpec(
        n_qubits=2, n_inputs=2, n_weights=3,
        gates=[
            Gate("RY", [0], [math.pi * x[0]]),
            Gate("RY", [1], [w[2] * x[1] + 0.5]),    # trainable scaling: re-uploading
            Gate("IsingZZ", [0, 1], [w[0]]),
            Gate("CRX", [1, 0], [w[1]]),
            Gate("RY", [0], [math.pi * x[0]]),       # an input may appear again
        ],
        observables=["Z0 Z1", "0.5 X0 + Z1"],
    )

An :class:`Angle` is ``c + sum_j a_j x_j + sum_k b_k w_k + sum c_jk x_j w_k + sum d_jl x_j x_l``:
affine in the weights, with trainable input scaling (``w_k x_j``) and products of two inputs
(the IQP feature maps' ``x_i x_j``). Inputs may appear
in several gates (data re-uploading) and a weight may be shared by several gates; every gradient
method differentiates each gate's parameters with its own rule and the chain rule sums them, as
PennyLane's gradient transforms do on a tape.

Compilation (:meth:`CircuitSpec.compile`) gives a :class:`~qgradbench.circuits.circuit.Circuit`
over *slots* (one per non-constant gate parameter, those that depend on an input first) and an
:class:`AngleMap` that computes the slots from ``x`` and ``w`` in torch, differentiably. Each
gate is lowered to single-wire Pauli rotations and fixed gates (:data:`GATES`), with the
frequencies of its generator recorded per slot for the parameter-shift rules.
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from qgradbench.circuits.circuit import Circuit, CircuitBuilder
from qgradbench.engine import check_n_qubits

# ---------------------------------------------------------------------------------- angles


@dataclass(frozen=True)
class Angle:
    """A gate angle ``const + sum a_j x_j + sum b_k w_k + sum c x_j w_k + sum d x_j x_l``.

    Build them from :data:`x` and :data:`w` with ``+``, ``-`` and ``*`` (``math.pi * x[0]``,
    ``w[3] * x[1] + 0.5``), or directly.

    Attributes:
        const: the constant term.
        inputs: ``(j, a_j)`` pairs.
        weights: ``(k, b_k)`` pairs.
        products: ``(j, k, c)`` triples, ``c x_j w_k`` (trainable input scaling).
        input_products: ``(j, l, d)`` triples, ``d x_j x_l`` (IQP feature maps).
    """

    const: float = 0.0
    inputs: tuple[tuple[int, float], ...] = ()
    weights: tuple[tuple[int, float], ...] = ()
    products: tuple[tuple[int, int, float], ...] = ()
    input_products: tuple[tuple[int, int, float], ...] = ()

    @classmethod
    def of(cls, value: object) -> Angle:
        """Return ``value`` as an :class:`Angle` (a real number becomes a constant)."""
        if isinstance(value, Angle):
            return value
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise ValueError(f"a gate angle must be finite, got {value!r}")
            return cls(float(value))
        raise ValueError(
            f"a gate angle must be a real number or an Angle built from x[j] and w[k], "
            f"got {value!r}"
        )

    @property
    def is_constant(self) -> bool:
        """Whether it depends on neither inputs nor weights."""
        return not (self.inputs or self.weights or self.products or self.input_products)

    @property
    def depends_on_inputs(self) -> bool:
        """Whether it changes from sample to sample."""
        return bool(self.inputs or self.products or self.input_products)

    def _scaled(self, c: float) -> Angle:
        return Angle(
            self.const * c,
            tuple((j, a * c) for j, a in self.inputs),
            tuple((k, b * c) for k, b in self.weights),
            tuple((j, k, p * c) for j, k, p in self.products),
            tuple((j, m, p * c) for j, m, p in self.input_products),
        )

    def __add__(self, other: object) -> Angle:
        o = Angle.of(other)
        return Angle(
            self.const + o.const,
            self.inputs + o.inputs,
            self.weights + o.weights,
            self.products + o.products,
            self.input_products + o.input_products,
        )

    __radd__ = __add__

    def __neg__(self) -> Angle:
        return self._scaled(-1.0)

    def __sub__(self, other: object) -> Angle:
        return self + (-Angle.of(other))

    def __rsub__(self, other: object) -> Angle:
        return Angle.of(other) + (-self)

    def __mul__(self, other: object) -> Angle:
        if isinstance(other, Angle):
            return _product(self, other)
        return self._scaled(Angle.of(other).const)

    __rmul__ = __mul__

    def __truediv__(self, other: object) -> Angle:
        return self._scaled(1.0 / Angle.of(other).const)


def _one_term(angle: Angle, kind: str):
    """``(index, coeff)`` if ``angle`` is ``coeff`` times one input (or weight), else None."""
    terms = angle.inputs if kind == "input" else angle.weights
    others = (angle.weights if kind == "input" else angle.inputs) or angle.products
    if len(terms) != 1 or others or angle.input_products or angle.const:
        return None
    return terms[0]


def _product(a: Angle, b: Angle) -> Angle:
    """``(p x_j) * (q w_k)`` or ``(p x_j) * (q x_l)``: the products of angles the model has."""
    for first, second in ((a, b), (b, a)):
        left, right = _one_term(first, "input"), _one_term(second, "weight")
        if left and right:
            return Angle(products=((left[0], right[0], left[1] * right[1]),))
    left, right = _one_term(a, "input"), _one_term(b, "input")
    if left and right:
        return Angle(input_products=((left[0], right[0], left[1] * right[1]),))
    raise ValueError(
        "a product of angles must be one input times one weight (w[0] * x[1]) or two inputs "
        "(x[0] * x[1])"
    )


class _Variables:
    """``x[j]`` or ``w[k]``: the angle of one input or one weight."""

    def __init__(self, kind: str):
        self.kind = kind

    def __getitem__(self, index: int) -> Angle:
        if isinstance(index, bool) or not isinstance(index, numbers.Integral) or index < 0:
            raise ValueError(f"{self.kind} index must be an integer >= 0, got {index!r}")
        if self.kind == "input":
            return Angle(inputs=((int(index), 1.0),))
        return Angle(weights=((int(index), 1.0),))

    def __repr__(self) -> str:
        return "x" if self.kind == "input" else "w"


#: ``x[j]``: input ``j`` of a sample, as a gate angle.
x = _Variables("input")
#: ``w[k]``: trainable weight ``k``, as a gate angle.
w = _Variables("weight")


# ---------------------------------------------------------------------------------- gates


class _Lowering:
    """Emits a gate's rotations and fixed gates into a :class:`CircuitBuilder`.

    ``params`` are the gate's parameters as ``("slot", k)`` or ``("const", value)``.
    """

    def __init__(self, builder: CircuitBuilder, used: set[int]):
        self.builder, self.used = builder, used

    def rot(self, pauli: str, wire: int, param, scale: float = 1.0) -> None:
        kind, value = param
        if kind == "const":
            self.builder.rotation(pauli, wire, angle=scale * value)
        else:
            self.builder.rotation(pauli, wire, slot=value, scale=scale, shared=value in self.used)
            self.used.add(value)

    def const(self, pauli: str, wire: int, angle: float) -> None:
        self.builder.rotation(pauli, wire, angle=angle)

    def fixed(self, name: str, wires: Sequence[int]) -> None:
        self.builder.fixed(name, tuple(wires))

    def unitary(self, matrix: np.ndarray, wires: Sequence[int]) -> None:
        if len(wires) == 1:
            for pauli, angle in zyz(matrix):
                self.const(pauli, wires[0], angle)
        else:
            self.builder.unitary(matrix, tuple(wires))

    # -- composite rotations
    def pauli_rot(self, word: str, wires: Sequence[int], param, scale: float = 1.0) -> None:
        """``exp(-i scale t P / 2)`` for a Pauli word: basis changes, a CNOT ladder, one RZ."""
        active = [(p, wire) for p, wire in zip(word, wires, strict=True) if p != "I"]
        if not active:
            return  # a global phase
        for p, wire in active:  # V P V^dagger = Z
            if p == "X":
                self.const("Y", wire, -math.pi / 2)
            elif p == "Y":
                self.const("X", wire, math.pi / 2)
        ladder = [(wire, active[-1][1]) for _, wire in active[:-1]]
        for pair in ladder:
            self.fixed("CNOT", pair)
        self.rot("Z", active[-1][1], param, scale)
        for pair in reversed(ladder):
            self.fixed("CNOT", pair)
        for p, wire in active:
            if p == "X":
                self.const("Y", wire, math.pi / 2)
            elif p == "Y":
                self.const("X", wire, -math.pi / 2)

    def controlled_rot(self, pauli: str, control: int, target: int, param) -> None:
        """``|0><0| (x) 1 + |1><1| (x) R_P(t)`` as ``R(t/2)``, a flip, ``R(-t/2)``, a flip."""
        flip = "CZ" if pauli == "X" else "CNOT"
        self.rot(pauli, target, param, 0.5)
        self.fixed(flip, (control, target))
        self.rot(pauli, target, param, -0.5)
        self.fixed(flip, (control, target))


@dataclass(frozen=True)
class GateDef:
    """A gate of the model: its shape, how to lower it, and its generator's frequencies.

    Attributes:
        name: PennyLane's name of the gate.
        n_wires: number of wires, or ``None`` for any (``PauliRot``, ``MultiRZ``).
        n_params: number of parameters.
        frequencies: per parameter, the positive differences of its generator's eigenvalues.
        lower: ``(lowering, wires, params, gate) -> None``.
        matrix: ``(params, gate) -> unitary``: the gate's matrix, for checks and ``QubitUnitary``.
    """

    name: str
    n_wires: int | None
    n_params: int
    frequencies: tuple[tuple[float, ...], ...]
    lower: Callable
    matrix: Callable = field(repr=False, default=None)

    @property
    def parametrised(self) -> bool:
        """Whether it has parameters."""
        return self.n_params > 0


def _rx(t):
    c, s = math.cos(t / 2), math.sin(t / 2)
    return np.array([[c, -1j * s], [-1j * s, c]])


def _ry(t):
    c, s = math.cos(t / 2), math.sin(t / 2)
    return np.array([[c, -s], [s, c]], dtype=complex)


def _rz(t):
    return np.diag([np.exp(-0.5j * t), np.exp(0.5j * t)])


def zyz(matrix: np.ndarray) -> list[tuple[str, float]]:
    """Rotations ``RZ(d), RY(g), RZ(b)`` (in order of application) equal to ``matrix`` up to phase.

    ``U = e^{i a} RZ(b) RY(g) RZ(d)``, the Euler decomposition of a single-qubit unitary.
    """
    u = np.asarray(matrix, dtype=complex)
    u = u / np.sqrt(np.linalg.det(u))  # SU(2): [[p, -conj(q)], [q, conj(p)]]
    p, q = u[0, 0], u[1, 0]
    g = 2 * math.atan2(abs(q), abs(p))
    plus = -2 * np.angle(p) if abs(p) > 1e-12 else 0.0  # b + d
    minus = 2 * np.angle(q) if abs(q) > 1e-12 else 0.0  # b - d
    b, d = (plus + minus) / 2, (plus - minus) / 2
    return [("Z", float(d)), ("Y", float(g)), ("Z", float(b))]


_ONE_FREQ = ((1.0,),)
_CONTROLLED = (0.5, 1.0)


def _single(pauli):
    return lambda lo, wires, params, gate: lo.rot(pauli, wires[0], params[0])


def _lower_rot(lo, wires, params, gate):
    phi, theta, omega = params
    lo.rot("Z", wires[0], phi)
    lo.rot("Y", wires[0], theta)
    lo.rot("Z", wires[0], omega)


def _lower_u3(lo, wires, params, gate):
    theta, phi, delta = params  # U3 = e^{i(phi + delta)/2} RZ(phi) RY(theta) RZ(delta)
    lo.rot("Z", wires[0], delta)
    lo.rot("Y", wires[0], theta)
    lo.rot("Z", wires[0], phi)


def _lower_u2(lo, wires, params, gate):
    phi, delta = params  # U2(phi, delta) = U3(pi/2, phi, delta)
    lo.rot("Z", wires[0], delta)
    lo.const("Y", wires[0], math.pi / 2)
    lo.rot("Z", wires[0], phi)


def _lower_pauli_rot(lo, wires, params, gate):
    lo.pauli_rot(gate.word, wires, params[0])


def _lower_multi_rz(lo, wires, params, gate):
    lo.pauli_rot("Z" * len(wires), wires, params[0])


def _ising(word):
    return lambda lo, wires, params, gate: lo.pauli_rot(word, wires, params[0])


def _lower_ising_xy(lo, wires, params, gate):
    # IsingXY(t) = exp(i t (XX + YY) / 4) = RXX(-t/2) RYY(-t/2) (XX and YY commute)
    lo.pauli_rot("XX", wires, params[0], -0.5)
    lo.pauli_rot("YY", wires, params[0], -0.5)


def _controlled(pauli):
    return lambda lo, wires, params, gate: lo.controlled_rot(pauli, wires[0], wires[1], params[0])


def _lower_crot(lo, wires, params, gate):
    phi, theta, omega = params
    lo.controlled_rot("Z", wires[0], wires[1], phi)
    lo.controlled_rot("Y", wires[0], wires[1], theta)
    lo.controlled_rot("Z", wires[0], wires[1], omega)


def _lower_cphase(lo, wires, params, gate):
    # diag(1, 1, 1, e^{it}) = e^{it/4} RZ_a(t/2) RZ_b(t/2) RZZ(-t/2)
    a, b = wires
    lo.rot("Z", a, params[0], 0.5)
    lo.rot("Z", b, params[0], 0.5)
    lo.pauli_rot("ZZ", wires, params[0], -0.5)


def _const_rotations(*steps):
    def lower(lo, wires, params, gate):
        for pauli, angle in steps:
            lo.const(pauli, wires[0], angle)

    return lower


def _monomial(name):
    return lambda lo, wires, params, gate: lo.fixed(name, wires)


def _lower_unitary(lo, wires, params, gate):
    lo.unitary(gate.matrix, wires)


# Matrices (PennyLane's conventions), used by the tests and by QubitUnitary checks.
_I2 = np.eye(2)
_X = np.array([[0, 1], [1, 0]], dtype=complex)
_Y = np.array([[0, -1j], [1j, 0]])
_Z = np.diag([1.0 + 0j, -1.0])
_PAULI = {"I": _I2, "X": _X, "Y": _Y, "Z": _Z}


def _kron(*ms):
    return functools.reduce(np.kron, ms)


def _pauli_word_matrix(word: str) -> np.ndarray:
    return _kron(*(_PAULI[p] for p in word))


def _exp_pauli(word: str, t: float) -> np.ndarray:
    p = _pauli_word_matrix(word)
    return math.cos(t / 2) * np.eye(len(p)) - 1j * math.sin(t / 2) * p


def _controlled_matrix(u: np.ndarray) -> np.ndarray:
    out = np.eye(2 * len(u), dtype=complex)
    out[len(u) :, len(u) :] = u
    return out


_GATE_LIST = [
    GateDef("RX", 1, 1, _ONE_FREQ, _single("X"), lambda p, g: _rx(p[0])),
    GateDef("RY", 1, 1, _ONE_FREQ, _single("Y"), lambda p, g: _ry(p[0])),
    GateDef("RZ", 1, 1, _ONE_FREQ, _single("Z"), lambda p, g: _rz(p[0])),
    GateDef(
        "PhaseShift", 1, 1, _ONE_FREQ, _single("Z"), lambda p, g: np.diag([1, np.exp(1j * p[0])])
    ),
    GateDef("U1", 1, 1, _ONE_FREQ, _single("Z"), lambda p, g: np.diag([1, np.exp(1j * p[0])])),
    GateDef("Rot", 1, 3, _ONE_FREQ * 3, _lower_rot, lambda p, g: _rz(p[2]) @ _ry(p[1]) @ _rz(p[0])),
    GateDef(
        "U3",
        1,
        3,
        _ONE_FREQ * 3,
        _lower_u3,
        lambda p, g: np.exp(0.5j * (p[1] + p[2])) * _rz(p[1]) @ _ry(p[0]) @ _rz(p[2]),
    ),
    GateDef(
        "U2",
        1,
        2,
        _ONE_FREQ * 2,
        _lower_u2,
        lambda p, g: np.exp(0.5j * (p[0] + p[1])) * _rz(p[0]) @ _ry(math.pi / 2) @ _rz(p[1]),
    ),
    GateDef(
        "PauliRot", None, 1, _ONE_FREQ, _lower_pauli_rot, lambda p, g: _exp_pauli(g.word, p[0])
    ),
    GateDef(
        "MultiRZ",
        None,
        1,
        _ONE_FREQ,
        _lower_multi_rz,
        lambda p, g: _exp_pauli("Z" * len(g.wires), p[0]),
    ),
    GateDef("IsingXX", 2, 1, _ONE_FREQ, _ising("XX"), lambda p, g: _exp_pauli("XX", p[0])),
    GateDef("IsingYY", 2, 1, _ONE_FREQ, _ising("YY"), lambda p, g: _exp_pauli("YY", p[0])),
    GateDef("IsingZZ", 2, 1, _ONE_FREQ, _ising("ZZ"), lambda p, g: _exp_pauli("ZZ", p[0])),
    GateDef(
        "IsingXY",
        2,
        1,
        (_CONTROLLED,),
        _lower_ising_xy,
        lambda p, g: _exp_pauli("XX", -p[0] / 2) @ _exp_pauli("YY", -p[0] / 2),
    ),
    GateDef(
        "CRX", 2, 1, (_CONTROLLED,), _controlled("X"), lambda p, g: _controlled_matrix(_rx(p[0]))
    ),
    GateDef(
        "CRY", 2, 1, (_CONTROLLED,), _controlled("Y"), lambda p, g: _controlled_matrix(_ry(p[0]))
    ),
    GateDef(
        "CRZ", 2, 1, (_CONTROLLED,), _controlled("Z"), lambda p, g: _controlled_matrix(_rz(p[0]))
    ),
    GateDef(
        "CRot",
        2,
        3,
        (_CONTROLLED,) * 3,
        _lower_crot,
        lambda p, g: _controlled_matrix(_rz(p[2]) @ _ry(p[1]) @ _rz(p[0])),
    ),
    GateDef(
        "ControlledPhaseShift",
        2,
        1,
        _ONE_FREQ,
        _lower_cphase,
        lambda p, g: np.diag([1, 1, 1, np.exp(1j * p[0])]),
    ),
    # fixed gates: single-qubit ones as constant rotations (equal up to a global phase)
    GateDef(
        "Hadamard",
        1,
        0,
        (),
        _const_rotations(("Z", math.pi), ("Y", math.pi / 2)),
        lambda p, g: np.array([[1, 1], [1, -1]]) / math.sqrt(2),
    ),
    GateDef("PauliX", 1, 0, (), _const_rotations(("X", math.pi)), lambda p, g: _X),
    GateDef("PauliY", 1, 0, (), _const_rotations(("Y", math.pi)), lambda p, g: _Y),
    GateDef("PauliZ", 1, 0, (), _const_rotations(("Z", math.pi)), lambda p, g: _Z),
    GateDef("S", 1, 0, (), _const_rotations(("Z", math.pi / 2)), lambda p, g: np.diag([1, 1j])),
    GateDef(
        "T",
        1,
        0,
        (),
        _const_rotations(("Z", math.pi / 4)),
        lambda p, g: np.diag([1, np.exp(0.25j * math.pi)]),
    ),
    GateDef(
        "SX",
        1,
        0,
        (),
        _const_rotations(("X", math.pi / 2)),
        lambda p, g: np.array([[1 + 1j, 1 - 1j], [1 - 1j, 1 + 1j]]) / 2,
    ),
    GateDef("CNOT", 2, 0, (), _monomial("CNOT"), lambda p, g: _controlled_matrix(_X)),
    GateDef("CZ", 2, 0, (), _monomial("CZ"), lambda p, g: _controlled_matrix(_Z)),
    GateDef("CY", 2, 0, (), _monomial("CY"), lambda p, g: _controlled_matrix(_Y)),
    GateDef(
        "SWAP", 2, 0, (), _monomial("SWAP"), lambda p, g: np.eye(4)[[0, 2, 1, 3]].astype(complex)
    ),
    GateDef(
        "ISWAP",
        2,
        0,
        (),
        _monomial("ISWAP"),
        lambda p, g: np.array([[1, 0, 0, 0], [0, 0, 1j, 0], [0, 1j, 0, 0], [0, 0, 0, 1]]),
    ),
    GateDef(
        "Toffoli",
        3,
        0,
        (),
        _monomial("Toffoli"),
        lambda p, g: _controlled_matrix(_controlled_matrix(_X)),
    ),
    GateDef(
        "CSWAP",
        3,
        0,
        (),
        _monomial("CSWAP"),
        lambda p, g: _controlled_matrix(np.eye(4)[[0, 2, 1, 3]].astype(complex)),
    ),
    GateDef("QubitUnitary", None, 0, (), _lower_unitary, lambda p, g: g.matrix),
]

#: The gate set of the circuit model, by PennyLane's names.
GATES: dict[str, GateDef] = {g.name: g for g in _GATE_LIST}
#: Other names PennyLane and Qiskit users write for the same gates.
ALIASES = {"H": "Hadamard", "X": "PauliX", "Y": "PauliY", "Z": "PauliZ", "CX": "CNOT"}


def gate_names() -> tuple[str, ...]:
    """Names of the gates of the model."""
    return tuple(GATES)


@dataclass(frozen=True, eq=False)
class Gate:
    """One gate of a circuit: a name from :data:`GATES`, its wires and its parameters.

    Args:
        name: the gate (PennyLane's name, or an alias such as ``"H"`` or ``"CX"``).
        wires: the wires it acts on.
        params: its angles: numbers, or :class:`Angle` built from :data:`x` and :data:`w`.
        word: the Pauli word of ``PauliRot`` (one letter of I, X, Y, Z per wire).
        matrix: the unitary of ``QubitUnitary`` (1 to 3 wires).
    """

    name: str
    wires: tuple[int, ...]
    params: tuple[Angle, ...] = ()
    word: str | None = None
    matrix: np.ndarray | None = field(default=None, repr=False)

    def __init__(self, name, wires, params=(), word=None, matrix=None):
        name = ALIASES.get(name, name)
        if name not in GATES:
            raise ValueError(f"unknown gate {name!r}; the circuit model has {', '.join(GATES)}")
        spec = GATES[name]
        if isinstance(wires, numbers.Integral):
            wires = (wires,)
        wires = tuple(wires)
        if not wires or not all(
            isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 0 for v in wires
        ):
            raise ValueError(f"{name}: wires must be integers >= 0, got {wires!r}")
        wires = tuple(int(v) for v in wires)
        if len(set(wires)) != len(wires):
            raise ValueError(f"{name}: wires must be distinct, got {wires}")
        if spec.n_wires is not None and len(wires) != spec.n_wires:
            raise ValueError(f"{name} acts on {spec.n_wires} wire(s), got wires {wires}")
        params = (params,) if isinstance(params, Angle | numbers.Real) else tuple(params)
        if len(params) != spec.n_params:
            raise ValueError(f"{name} takes {spec.n_params} parameter(s), got {len(params)}")
        params = tuple(Angle.of(p) for p in params)
        if name == "PauliRot":
            if not isinstance(word, str) or len(word) != len(wires) or set(word) - set("IXYZ"):
                raise ValueError(
                    f"PauliRot needs a Pauli word of {len(wires)} letter(s) from I, X, Y, Z, "
                    f"got {word!r}"
                )
        elif word is not None:
            raise ValueError(f"{name} takes no Pauli word")
        if name == "QubitUnitary":
            matrix = _check_unitary(matrix, len(wires))
        elif matrix is not None:
            raise ValueError(f"{name} takes no matrix")
        for attr, value in (
            ("name", name),
            ("wires", wires),
            ("params", params),
            ("word", word),
            ("matrix", matrix),
        ):
            object.__setattr__(self, attr, value)

    def unitary(self, values: Sequence[float]) -> np.ndarray:
        """The gate's matrix at parameter values ``values`` (PennyLane's conventions)."""
        return np.asarray(GATES[self.name].matrix(list(values), self), dtype=complex)

    def __repr__(self) -> str:
        extra = f", word={self.word!r}" if self.word else ""
        return f"Gate({self.name!r}, {list(self.wires)}, {list(self.params)}{extra})"


def _check_unitary(matrix: object, n_wires: int) -> np.ndarray:
    if not 1 <= n_wires <= 3:
        raise ValueError(f"QubitUnitary acts on 1 to 3 wires, got {n_wires}")
    try:
        u = np.asarray(matrix, dtype=complex)
    except (TypeError, ValueError):
        raise ValueError(f"QubitUnitary needs a matrix, got {type(matrix).__name__}") from None
    dim = 2**n_wires
    if u.shape != (dim, dim):
        raise ValueError(
            f"QubitUnitary on {n_wires} wire(s) needs a {dim}x{dim} matrix, got {u.shape}"
        )
    if not np.allclose(u @ u.conj().T, np.eye(dim), atol=1e-8):
        raise ValueError("QubitUnitary's matrix is not unitary (U U^dagger != 1 to 1e-8)")
    u = u.copy()
    u.setflags(write=False)
    return u


# ---------------------------------------------------------------------------------- circuits


@dataclass(frozen=True, eq=False)
class CircuitSpec:
    """A parameterised circuit as plain data: gates, their affine angles, and observables.

    Args:
        n_qubits: number of qubits.
        gates: the gates, in order.
        n_inputs: number of input features per sample (``x`` has shape ``(batch, n_inputs)``).
        n_weights: number of trainable weights (``w`` is flat; see ``weight_shape``).
        observables: what is measured: a list of observables, each a
            :class:`~qgradbench.circuits.pauli.PauliSum` or a string such as ``"Z0 Z1 + 0.5 X2"``;
            a single string or the name of a built-in observable (``"z-each"``...) also works.
            Default: ``"z-each"``.
        weight_shape: the shape of the trainable weight tensor (its size is ``n_weights``);
            default ``(n_weights,)``.
        name: a short description.
    """

    n_qubits: int
    gates: tuple[Gate, ...]
    n_inputs: int = 0
    n_weights: int = 0
    observables: object = "z-each"
    weight_shape: tuple[int, ...] | None = None
    name: str = "circuit"

    def __post_init__(self):
        check_n_qubits(self.n_qubits)
        for attr in ("n_inputs", "n_weights"):
            value = getattr(self, attr)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
                raise ValueError(f"{attr} must be an integer >= 0, got {value!r}")
        gates = tuple(self.gates)
        for gate in gates:
            if not isinstance(gate, Gate):
                raise ValueError(f"gates must be Gate objects, got {gate!r}")
            bad = [v for v in gate.wires if v >= self.n_qubits]
            if bad:
                raise ValueError(
                    f"{gate.name} on wire(s) {bad}: the circuit has wires 0..{self.n_qubits - 1}"
                )
            for angle in gate.params:
                self._check_angle(gate, angle)
        shape = (self.n_weights,) if self.weight_shape is None else tuple(self.weight_shape)
        if math.prod(shape) != self.n_weights:
            raise ValueError(f"weight_shape {shape} does not hold n_weights={self.n_weights}")
        object.__setattr__(self, "gates", gates)
        object.__setattr__(self, "weight_shape", shape)

    def _check_angle(self, gate: Gate, angle: Angle) -> None:
        for j, _ in angle.inputs:
            if j >= self.n_inputs:
                raise ValueError(
                    f"{gate.name} reads x[{j}]; the circuit has {self.n_inputs} inputs"
                )
        for k, _ in angle.weights:
            if k >= self.n_weights:
                raise ValueError(
                    f"{gate.name} reads w[{k}]; the circuit has {self.n_weights} weights"
                )
        for j, m, _ in angle.input_products:
            if max(j, m) >= self.n_inputs:
                raise ValueError(
                    f"{gate.name} reads x[{j}] * x[{m}]; the circuit has {self.n_inputs} inputs"
                )
        for j, k, _ in angle.products:
            if j >= self.n_inputs or k >= self.n_weights:
                raise ValueError(
                    f"{gate.name} reads w[{k}] * x[{j}]; the circuit has {self.n_inputs} inputs "
                    f"and {self.n_weights} weights"
                )

    def observable(self):
        """The measured observable as the engine's object (cached)."""
        from qgradbench.circuits.pauli import as_observable

        return as_observable(self.observables, self.n_qubits)

    @functools.cached_property
    def compiled(self) -> tuple[Circuit, AngleMap]:
        """:meth:`compile`'s result, computed once."""
        return self.compile()

    def compile(self) -> tuple[Circuit, AngleMap]:
        """Lower the gates to the engine's circuit and the map from ``(x, w)`` to its slots.

        Every non-constant gate parameter is a slot; slots that depend on an input come first
        (they are built per sample), then those of the weights alone (built once per batch).
        """
        params = [(g, i, a) for g in self.gates for i, a in enumerate(g.params)]
        variable = [(g, i, a) for g, i, a in params if not a.is_constant]
        order = [p for p in variable if p[2].depends_on_inputs] + [
            p for p in variable if not p[2].depends_on_inputs
        ]
        slot_of = {(id(g), i): s for s, (g, i, _) in enumerate(order)}
        builder = CircuitBuilder(self.n_qubits, self.name)
        lowering = _Lowering(builder, set())
        for gate in self.gates:
            refs = [
                ("const", a.const) if a.is_constant else ("slot", slot_of[(id(gate), i)])
                for i, a in enumerate(gate.params)
            ]
            GATES[gate.name].lower(lowering, gate.wires, refs, gate)
        frequencies = tuple(GATES[g.name].frequencies[i] for g, i, _ in order)
        names = tuple(g.name for g, _, _ in order)
        circuit = builder.build(len(order), frequencies, names)
        n_batched = sum(1 for _, _, a in order if a.depends_on_inputs)
        angle_map = AngleMap([a for _, _, a in order], n_batched, self.n_inputs, self.n_weights)
        return circuit, angle_map


class AngleMap:
    """Computes a circuit's slots from inputs ``x`` ``(B, n_inputs)`` and weights ``w``.

    ``batched`` ``(B, k)`` are the slots that depend on an input, ``shared`` ``(P - k,)`` the
    others; both are torch expressions of ``x`` and ``w``, so autograd carries the methods'
    slot gradients back to the inputs and weights (summing over shared and re-uploaded uses).
    """

    def __init__(self, angles: list[Angle], n_batched: int, n_inputs: int, n_weights: int):
        self.n_batched, self.n_params = n_batched, len(angles)
        self.n_inputs, self.n_weights = n_inputs, n_weights
        self.tables = [_terms(angles[:n_batched]), _terms(angles[n_batched:])]
        self._cache: dict = {}
        # The built-in ansatzes: batched slot j = a * x[j] and shared slot k = w[k].
        b_in, s_w = self.tables[0], self.tables[1]
        n_shared = self.n_params - n_batched
        self.input_scale = None
        slots, index, coeffs = b_in["inputs"]
        if (
            b_in["products"][0].size == 0
            and b_in["input_products"][0].size == 0
            and b_in["weights"][0].size == 0
            and not np.any(b_in["const"])
            and n_batched == n_inputs
            and np.array_equal(slots, np.arange(n_batched))
            and np.array_equal(index, np.arange(n_batched))
            and np.unique(coeffs).size <= 1
        ):
            self.input_scale = float(coeffs[0]) if n_batched else 1.0
        slots, index, coeffs = s_w["weights"]
        self.weights_direct = bool(
            s_w["products"][0].size == 0
            and s_w["inputs"][0].size == 0
            and not np.any(s_w["const"])
            and n_shared == n_weights
            and np.array_equal(slots, np.arange(n_shared))
            and np.array_equal(index, np.arange(n_shared))
            and np.all(coeffs == 1.0)
        )

    def __call__(self, x: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(batched (B, k), shared (P - k,))`` for inputs ``x`` and flat weights ``w``."""
        if self.input_scale is not None:
            batched = x * self.input_scale
        else:
            batched = self._evaluate(self.tables[0], x, w, x.shape[0])
        if self.weights_direct:
            shared = w
        else:
            shared = self._evaluate(self.tables[1], None, w, None)
        return batched, shared

    def _tensors(self, table: dict, like: torch.Tensor) -> dict:
        key = (id(table), like.dtype, str(like.device))
        if key not in self._cache:

            def tensor(a: np.ndarray) -> torch.Tensor:
                dtype = like.dtype if a.dtype.kind == "f" else torch.long
                return torch.as_tensor(a, dtype=dtype, device=like.device)

            self._cache[key] = {
                name: tuple(map(tensor, value)) if isinstance(value, tuple) else tensor(value)
                for name, value in table.items()
            }
        return self._cache[key]

    def _evaluate(self, table, x, w, batch) -> torch.Tensor:
        t = self._tensors(table, w)
        n = table["const"].shape[0]
        shape = (n,) if batch is None else (batch, n)
        out = t["const"].expand(shape)
        slot, index, coeff = t["weights"]
        if slot.numel():
            terms = w.index_select(0, index) * coeff
            out = out.index_add(-1, slot, terms if batch is None else terms.expand(batch, -1))
        if batch is not None:
            slot, index, coeff = t["inputs"]
            if slot.numel():
                out = out.index_add(-1, slot, x.index_select(-1, index) * coeff)
            slot, j, k, coeff = t["products"]
            if slot.numel():
                terms = x.index_select(-1, j) * (w.index_select(0, k) * coeff)
                out = out.index_add(-1, slot, terms)
            slot, j, m, coeff = t["input_products"]
            if slot.numel():
                terms = x.index_select(-1, j) * x.index_select(-1, m) * coeff
                out = out.index_add(-1, slot, terms)
        return out


def _terms(angles: list[Angle]) -> dict:
    """Index arrays of the angles' terms: ``(slot, index, coeff)`` per kind."""
    inputs = [(s, j, a) for s, ang in enumerate(angles) for j, a in ang.inputs]
    weights = [(s, k, b) for s, ang in enumerate(angles) for k, b in ang.weights]
    products = [(s, j, k, c) for s, ang in enumerate(angles) for j, k, c in ang.products]
    squares = [(s, j, m, d) for s, ang in enumerate(angles) for j, m, d in ang.input_products]

    def arrays(rows, width):
        cols = list(zip(*rows, strict=True)) if rows else [()] * width
        out = [np.asarray(c, dtype=np.int64) for c in cols[:-1]]
        return (*out, np.asarray(cols[-1], dtype=float))

    return {
        "const": np.array([a.const for a in angles], dtype=float),
        "inputs": arrays(inputs, 3),
        "weights": arrays(weights, 3),
        "products": arrays(products, 4),
        "input_products": arrays(squares, 4),
    }
