"""Gate matrices and the fixed (monomial) gates of the engine.

Conventions follow PennyLane: wire 0 is the most significant bit of a basis index, and a
rotation about the Pauli axis ``P`` is ``R_P(t) = exp(-i t P / 2) = cos(t/2) I - i sin(t/2) P``.
``Rot(phi, theta, omega) = RZ(omega) RY(theta) RZ(phi)``.

Fixed gates that map basis states to basis states up to a phase (CNOT, CZ, X, Z, SWAP) are
*monomial*: ``U|s> = phase[s] |perm(s)>``. A run of them compiles to one gather and one
multiply, whatever its length (see :class:`Monomial`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch

PAULIS = ("X", "Y", "Z")

_PAULI_NP = {
    "I": np.array([[1, 0], [0, 1]], dtype=np.complex128),
    "X": np.array([[0, 1], [1, 0]], dtype=np.complex128),
    "Y": np.array([[0, -1j], [1j, 0]], dtype=np.complex128),
    "Z": np.array([[1, 0], [0, -1]], dtype=np.complex128),
}


def pauli_matrix(name: str, dtype: torch.dtype = torch.complex64, device="cpu") -> torch.Tensor:
    """Return the 2x2 matrix of the Pauli operator ``name`` ("I", "X", "Y" or "Z")."""
    if name not in _PAULI_NP:
        raise ValueError(f"unknown Pauli {name!r}; expected one of 'I', 'X', 'Y', 'Z'")
    return torch.as_tensor(_PAULI_NP[name], dtype=dtype, device=device)


@functools.lru_cache(maxsize=64)
def _pauli_stack_cached(names: tuple[str, ...], dtype: torch.dtype, device: str) -> torch.Tensor:
    stacked = np.stack([_PAULI_NP[p] for p in names]) if names else np.zeros((0, 2, 2))
    return torch.as_tensor(stacked, dtype=dtype, device=device)


def pauli_stack(names: tuple[str, ...], dtype: torch.dtype, device) -> torch.Tensor:
    """Return the Pauli matrices ``names`` stacked into a ``(len(names), 2, 2)`` tensor (cached)."""
    return _pauli_stack_cached(tuple(names), dtype, str(torch.device(device)))


def rotation_matrices(angles: torch.Tensor, paulis: torch.Tensor) -> torch.Tensor:
    """Matrices of Pauli rotations ``exp(-i t P / 2)``, batched.

    Args:
        angles: real tensor ``(..., R)`` of rotation angles ``t``.
        paulis: complex tensor ``(R, 2, 2)``, the generator ``P`` of each rotation.

    Returns:
        Complex tensor ``(..., R, 2, 2)`` with ``cos(t/2) I - i sin(t/2) P``.
    """
    return rotations_of_generators(angles, -1j * paulis)


@functools.lru_cache(maxsize=16)
def _eye_parts(dtype: torch.dtype, device: str) -> torch.Tensor:
    """The 2x2 identity as real and imaginary parts, ``(2, 2, 2)`` of the real ``dtype``."""
    return torch.view_as_real(torch.eye(2, dtype=dtype.to_complex(), device=device)).contiguous()


def rotations_of_generators(angles: torch.Tensor, minus_i_paulis: torch.Tensor) -> torch.Tensor:
    """:func:`rotation_matrices` from ``-i P`` ``(R, 2, 2)``, computed once by the caller.

    ``cos(t/2) I + sin(t/2) (-i P)`` over the real and imaginary parts: the same matrices as the
    complex products (a real factor times a complex entry), without promoting the real factors
    to complex first: 22 against 25 us at 32 x 24 rotations, 161 against 178 us with the
    backward pass (complex64, one thread), whose sums round differently in the last bit.
    """
    real = minus_i_paulis.dtype.to_real()
    half = 0.5 * angles.to(real).reshape(*angles.shape, 1, 1, 1)
    eye = _eye_parts(real, str(minus_i_paulis.device))
    parts = torch.cos(half) * eye + torch.sin(half) * torch.view_as_real(minus_i_paulis)
    return torch.view_as_complex(parts)


def bit(index: np.ndarray, wire: int, n_qubits: int) -> np.ndarray:
    """Value of ``wire``'s bit in basis index ``index`` (wire 0 is the most significant bit)."""
    return (index >> (n_qubits - 1 - wire)) & 1


#: Named gates :meth:`Monomial.gate` compiles.
MONOMIAL_GATES = ("CNOT", "CZ", "SWAP", "X", "Z", "CY", "ISWAP", "Toffoli", "CSWAP")


@dataclass(frozen=True, eq=False)
class Unitary:
    """A fixed dense gate: a constant ``2**k x 2**k`` unitary on ``k`` wires (``QubitUnitary``).

    Attributes:
        n_qubits: number of qubits of the register.
        wires: the wires it acts on (the first is the most significant bit of ``matrix``).
        matrix: the unitary, complex ``(2**k, 2**k)``.
    """

    n_qubits: int
    wires: tuple[int, ...]
    matrix: np.ndarray
    names: tuple[str, ...] = ("QubitUnitary",)

    @functools.cached_property
    def inverse(self) -> Unitary:
        """The inverse gate."""
        return Unitary(self.n_qubits, self.wires, self.matrix.conj().T, self.names)


def _elementary(name: str, wires: tuple[int, ...], n_qubits: int, idx: np.ndarray):
    """One named monomial gate's gather index and phases at the basis states ``idx``.

    Every permutation here is its own inverse, so the gather index ``source`` is also the map
    of basis states (``U|b>`` is proportional to ``|source(b)>``).

    Returns:
        ``(source, phase)``: ``phase`` is ``None`` for a permutation.
    """
    phase = None
    if name == "CNOT":
        control, target = wires
        source = idx ^ (bit(idx, control, n_qubits) << (n_qubits - 1 - target))
    elif name == "CZ":
        a, b = wires
        source = idx
        phase = np.where(bit(idx, a, n_qubits) & bit(idx, b, n_qubits), -1.0, 1.0) + 0j
    elif name == "SWAP":
        a, b = wires
        differ = bit(idx, a, n_qubits) ^ bit(idx, b, n_qubits)
        flip = (1 << (n_qubits - 1 - a)) | (1 << (n_qubits - 1 - b))
        source = np.where(differ == 1, idx ^ flip, idx)
    elif name == "X":
        (a,) = wires
        source = idx ^ (1 << (n_qubits - 1 - a))
    elif name == "Z":
        (a,) = wires
        source = idx
        phase = np.where(bit(idx, a, n_qubits), -1.0, 1.0) + 0j
    elif name == "CY":  # Y|0> = i|1>, Y|1> = -i|0> on the target when the control is 1
        control, target = wires
        on = bit(idx, control, n_qubits)
        source = idx ^ (on << (n_qubits - 1 - target))
        # output amplitude s comes from s with the target flipped: phase i if s has target 1
        phase = np.where(on == 1, np.where(bit(idx, target, n_qubits) == 1, 1j, -1j), 1.0)
    elif name == "ISWAP":
        a, b = wires
        differ = bit(idx, a, n_qubits) ^ bit(idx, b, n_qubits)
        flip = (1 << (n_qubits - 1 - a)) | (1 << (n_qubits - 1 - b))
        source = np.where(differ == 1, idx ^ flip, idx)
        phase = np.where(differ == 1, 1j, 1.0)
    elif name == "Toffoli":
        c1, c2, target = wires
        on = bit(idx, c1, n_qubits) & bit(idx, c2, n_qubits)
        source = idx ^ (on << (n_qubits - 1 - target))
    else:  # CSWAP
        control, a, b = wires
        differ = bit(idx, a, n_qubits) ^ bit(idx, b, n_qubits)
        flip = (1 << (n_qubits - 1 - a)) | (1 << (n_qubits - 1 - b))
        on = bit(idx, control, n_qubits) & differ
        source = np.where(on == 1, idx ^ flip, idx)
    return source, None if phase is None else np.asarray(phase, dtype=complex)


#: The named monomials with phases other than 1.
_PHASED = ("CZ", "Z", "CY", "ISWAP")


class Monomial:
    """A fixed gate sequence that acts as ``U|s> = phase[s] |perm(s)>``.

    Stored as the gather form used by the engine: ``(U psi)[s] = phase[s] * psi[source[s]]``.
    A monomial built from named gates (:meth:`gate`, :meth:`then`) keeps only their names
    until its arrays are first read: a lowered circuit has many runs of CNOTs, and the ones a
    diagonal layer absorbs (:mod:`qgradbench.circuits.schedule`) are never applied, while a
    ``2**n`` index each would hold 8 MiB at 20 qubits.

    Attributes:
        n_qubits: number of qubits.
        source: integer array ``(2**n,)``; amplitude ``s`` of the output comes from ``source[s]``.
        phase: complex array ``(2**n,)``; the phase multiplied onto output amplitude ``s``, or
            ``None`` when every phase is 1 (CNOT, SWAP, X and their products). At 26 qubits a
            phase array takes 1 GiB, twice the index; the CNOT rings of a layered circuit and
            their inverses would hold 8 GiB of ones.
        names: the gates it was compiled from, for display.
    """

    def __init__(
        self,
        n_qubits: int,
        source: np.ndarray | None = None,
        phase: np.ndarray | None = None,
        names: tuple[str, ...] = (),
        parts: tuple[tuple[str, tuple[int, ...]], ...] | None = None,
    ):
        if source is None and parts is None:
            raise ValueError("a Monomial needs its source array or the gates it is made of")
        self.n_qubits, self.names = n_qubits, tuple(names)
        self._source, self._phase, self._parts = source, phase, parts

    @classmethod
    def identity(cls, n_qubits: int) -> Monomial:
        """Return the identity on ``n_qubits`` qubits."""
        return cls(n_qubits, parts=())

    @classmethod
    def gate(cls, name: str, wires: tuple[int, ...], n_qubits: int) -> Monomial:
        """Return the monomial of one named gate (:data:`MONOMIAL_GATES`)."""
        if name not in MONOMIAL_GATES:
            raise ValueError(
                f"unknown fixed gate {name!r}; expected one of {', '.join(MONOMIAL_GATES)}"
            )
        label = f"{name}({','.join(map(str, wires))})"
        return cls(n_qubits, names=(label,), parts=((name, tuple(wires)),))

    def _arrays(self) -> None:
        """Compose the named gates into the gather index and phases (once)."""
        if self._source is not None:
            return
        n = self.n_qubits
        source, phase = np.arange(2**n), None
        for name, wires in self._parts:
            g_source, g_phase = _elementary(name, wires, n, np.arange(2**n))
            phase = _composed_phase(phase, g_source, g_phase)
            source = source[g_source]
        self._source, self._phase = source, phase

    @property
    def source(self) -> np.ndarray:
        """The gather index (see the class docstring)."""
        self._arrays()
        return self._source

    @property
    def phase(self) -> np.ndarray | None:
        """The phases, or ``None`` for a permutation (see the class docstring)."""
        self._arrays()
        return self._phase

    @property
    def has_phases(self) -> bool:
        """Whether any phase may differ from 1 (without building the arrays of named gates)."""
        if self._source is None:
            return any(name in _PHASED for name, _ in self._parts)
        return self._phase is not None

    def image(self, states: np.ndarray) -> np.ndarray:
        """Where the monomial sends basis states: ``U|b>`` is proportional to ``|image(b)>``.

        Computed gate by gate for a monomial still held as named gates, without building (and
        keeping) its ``2**n`` arrays.
        """
        if self._source is not None:
            return self.inverse.source[states]
        for name, wires in self._parts:  # each named permutation is an involution
            states = _elementary(name, wires, self.n_qubits, states)[0]
        return states

    def then(self, other: Monomial) -> Monomial:
        """Return the monomial of applying ``self`` first and ``other`` second."""
        names = self.names + other.names
        if self._source is None and other._source is None:
            return Monomial(self.n_qubits, names=names, parts=self._parts + other._parts)
        # (other (self psi))[s] = ph2[s] * ph1[src2[s]] * psi[src1[src2[s]]]
        phase = _composed_phase(self.phase, other.source, other.phase)
        return Monomial(self.n_qubits, self.source[other.source], phase, names)

    @functools.cached_property
    def inverse(self) -> Monomial:
        """The inverse gate (a monomial too)."""
        inv = np.empty_like(self.source)
        inv[self.source] = np.arange(self.source.size)
        # U psi = ph * psi[src]  =>  psi[t] = conj(ph[inv[t]]) * (U psi)[inv[t]]
        phase = None if self.phase is None else np.conj(self.phase[inv])
        return Monomial(self.n_qubits, inv, phase, self.names[::-1])

    def phases(self) -> np.ndarray:
        """The phases as an array (ones for a permutation)."""
        return np.ones(self.source.size, complex) if self.phase is None else self.phase

    @property
    def is_permutation(self) -> bool:
        """Whether all phases are 1 (a pure permutation of basis states)."""
        return self.phase is None or bool(np.all(self.phase == 1))


def _composed_phase(first: np.ndarray | None, source: np.ndarray, second: np.ndarray | None):
    """Phases of ``first``'s monomial followed by one with gather ``source`` and ``second``."""
    if first is None:
        return second
    phase = first[source]
    return phase if second is None else second * phase
