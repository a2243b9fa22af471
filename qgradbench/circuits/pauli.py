r"""Observables as real sums of Pauli words, measured in qubit-wise commuting groups.

A :class:`PauliSum` is ``sum_t c_t P_t`` with real ``c_t`` and Pauli words ``P_t`` (``"Z0 Z1"``,
``"0.5 X2"``, ``"-1.2 Y0 X3"``): every Hermitian observable on qubits is one. A layer measures a
list of them (one output each, as a QNode returning several ``qml.expval``).

**Measurement.** Words that commute qubit by qubit (on every wire they share, the same Pauli)
are measured together: rotate each wire of the group into the eigenbasis of its Pauli
(``RY(-pi/2)`` for X, ``RX(pi/2)`` for Y), measure in the computational basis, and every word of
the group is a product of ``+-1`` outcomes. :class:`PauliObservable` groups the words of all
outputs greedily (largest coefficient first) into such groups; each group is one circuit on
hardware with its own shots. With ``N`` shots per evaluation split among the groups as ``N_g``,

.. math:: \hat{O} = \sum_g \frac{1}{N_g} \sum_{s=1}^{N_g} D_g(b_s), \qquad
          \mathrm{Var}\,\hat{O} = \sum_g \mathrm{Var}_g(D_g) / N_g,

where ``D_g`` is the group's part of the observable, diagonal after the rotation. The split is
``"uniform"`` (``N / G`` each) or ``"weighted"``, proportional to the group's coefficient weight
``sum |c_t|`` (the deterministic counterpart of the weighted random sampling of Arrasmith et al.,
"Operator sampling for shot-frugal optimization in variational algorithms", arXiv:2004.06252,
2020; optimal when each group's standard deviation is proportional to its weight). Every group
gets at least one shot.

Exact expectation values and the adjoint's ``O |psi>`` use the same groups:
``<O> = sum_g <U_g psi| D_g |U_g psi>`` and ``O psi = sum_g U_g^dagger D_g U_g psi``.
"""

from __future__ import annotations

import functools
import math
import numbers
import re
from dataclasses import dataclass

import numpy as np
import torch

from qgradbench import engine
from qgradbench.circuits.observables import OBSERVABLES, Observable

#: Shot splits among measurement groups.
SHOT_SPLITS = ("uniform", "weighted")

_TERM = re.compile(r"^([XYZI])\(?(\d+)\)?$")


@dataclass(frozen=True)
class PauliSum:
    """A real linear combination of Pauli words.

    Attributes:
        terms: ``(coeff, word)`` pairs; a word is a tuple of ``(wire, "X" | "Y" | "Z")`` sorted by
            wire (the empty word is the identity). Like words are combined.
    """

    terms: tuple[tuple[float, tuple[tuple[int, str], ...]], ...]

    def __post_init__(self):
        combined: dict[tuple, float] = {}
        for coeff, word in self.terms:
            if isinstance(coeff, complex) or not isinstance(coeff, numbers.Real):
                if isinstance(coeff, numbers.Complex) and coeff.imag == 0:
                    coeff = coeff.real
                else:
                    raise ValueError(
                        f"observable coefficient {coeff!r} is not real: a sum of Pauli words "
                        f"with complex coefficients is not Hermitian"
                    )
            if not math.isfinite(coeff):
                raise ValueError(f"observable coefficient must be finite, got {coeff!r}")
            word = _check_word(word)
            combined[word] = combined.get(word, 0.0) + float(coeff)
        terms = tuple((c, word) for word, c in combined.items() if c != 0.0)
        object.__setattr__(self, "terms", terms)

    @classmethod
    def parse(cls, text: str) -> PauliSum:
        """Parse ``"Z0 Z1 + 0.5 X2 - 1.5 * Y0 @ Y1 + 0.3"`` (a bare number is the identity)."""
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"an observable must be a non-empty string, got {text!r}")
        body = text.replace("**", "^").strip()
        tokens = re.split(r"(?<![eE])([+-])", body)
        terms, sign = [], 1.0
        for token in tokens:
            token = token.strip()
            if token in ("+", "-"):
                sign = sign * (-1.0 if token == "-" else 1.0)
                continue
            if not token:
                continue
            terms.append(_parse_term(token, sign, text))
            sign = 1.0
        if not terms:
            raise ValueError(f"no terms in observable {text!r}")
        return cls(tuple(terms))

    @property
    def wires(self) -> set[int]:
        """Wires any word acts on."""
        return {wire for _, word in self.terms for wire, _ in word}

    def __str__(self) -> str:
        parts = []
        for coeff, word in self.terms:
            name = " ".join(f"{p}{wire}" for wire, p in word) or "I"
            parts.append(f"{coeff:+g} {name}")
        return " ".join(parts) if parts else "0"


def _check_word(word) -> tuple[tuple[int, str], ...]:
    if isinstance(word, str):
        word = [_split_factor(f, word) for f in word.replace("@", " ").split()]
    out = {}
    for wire, pauli in word:
        if pauli not in ("I", "X", "Y", "Z"):
            raise ValueError(f"Pauli must be one of I, X, Y, Z, got {pauli!r}")
        if isinstance(wire, bool) or not isinstance(wire, numbers.Integral) or wire < 0:
            raise ValueError(f"Pauli wire must be an integer >= 0, got {wire!r}")
        if pauli == "I":
            continue
        if wire in out:
            raise ValueError(f"wire {wire} appears twice in one Pauli word {word!r}")
        out[int(wire)] = pauli
    return tuple(sorted(out.items()))


def _split_factor(factor: str, text: str) -> tuple[int, str]:
    m = _TERM.match(factor)
    if not m:
        raise ValueError(
            f"cannot read {factor!r} in observable {text!r}: expected Pauli factors such as Z0, "
            f"X(3), an optional real coefficient, joined by + and -"
        )
    return int(m.group(2)), m.group(1)


def _parse_term(token: str, sign: float, text: str):
    factors = token.replace("@", " ").replace("*", " ").split()
    coeff, word = sign, []
    for factor in factors:
        if factor == "I":  # the identity, as str(PauliSum) writes a constant
            continue
        try:
            value = float(factor)
        except ValueError:
            if not _is_complex(factor):
                word.append(_split_factor(factor, text))
                continue
            raise ValueError(
                f"observable {text!r} has a complex coefficient {factor!r}: not Hermitian"
            ) from None
        coeff *= value
    return coeff, tuple(word)


def _is_complex(factor: str) -> bool:
    try:
        complex(factor)
    except ValueError:
        return False
    return True


def as_pauli_sum(value: object) -> PauliSum:
    """Return ``value`` (a :class:`PauliSum` or a string) as a :class:`PauliSum`."""
    if isinstance(value, PauliSum):
        return value
    if isinstance(value, str):
        return PauliSum.parse(value)
    raise ValueError(
        f"an observable must be a PauliSum or a string such as 'Z0 Z1 + 0.5 X2', got {value!r}"
    )


def as_observable(value: object, n_qubits: int):
    """The engine's observable for ``value``.

    Accepted: a built-in name (:data:`~qgradbench.circuits.OBSERVABLES`), a
    :class:`PauliSum` or Pauli-sum string (one output), or a list of those (one output each).
    """
    if isinstance(value, Observable | PauliObservable):
        return value
    if isinstance(value, str) and value in OBSERVABLES:
        return Observable(value, n_qubits)
    if isinstance(value, str) and not any(c.isdigit() for c in value):
        raise ValueError(
            f"unknown observable {value!r}; expected one of {', '.join(OBSERVABLES)}, or a Pauli "
            f"sum such as 'Z0 Z1 + 0.5 X2'"
        )
    if isinstance(value, str | PauliSum):
        value = [value]
    if isinstance(value, list | tuple) and value:
        return PauliObservable(tuple(as_pauli_sum(v) for v in value), n_qubits)
    raise ValueError(
        f"observable must be one of {', '.join(OBSERVABLES)}, a Pauli sum such as "
        f"'Z0 Z1 + 0.5 X2', or a non-empty list of them; got {value!r}"
    )


def _z_signs(n: int, wires) -> np.ndarray:
    """``prod_{w in wires} (+-1)``: the eigenvalue of ``Z_wires`` on every basis state."""
    idx = np.arange(2**n)
    out = np.ones(2**n)
    for wire in wires:
        out = out * (1.0 - 2.0 * ((idx >> (n - 1 - wire)) & 1))
    return out


def _qwc(a: dict, b: dict) -> bool:
    return all(b.get(wire, p) == p for wire, p in a.items())


_BASIS = {"X": ("Y", -math.pi / 2), "Y": ("X", math.pi / 2)}  # V P V^dagger = Z


@dataclass(frozen=True, eq=False)
class MeasurementGroup:
    """Qubit-wise commuting words measured together in one basis.

    Attributes:
        basis: ``{wire: "X" | "Y" | "Z"}``, the Pauli measured on each wire.
        table: ``(n_out, 2**n)``: each output's part ``D_g`` in the rotated basis.
        weight: ``sum |c_t|`` of its words over all outputs (the weighted split's share).
        words: the words it measures.
    """

    basis: dict
    table: np.ndarray
    weight: float
    words: tuple


class PauliObservable:
    """Outputs that are real sums of Pauli words (:class:`PauliSum`), measured by groups.

    Args:
        sums: one :class:`PauliSum` per output.
        n_qubits: number of qubits.
    """

    def __init__(self, sums: tuple[PauliSum, ...], n_qubits: int):
        self.sums, self.n_qubits = tuple(sums), n_qubits
        for s in self.sums:
            bad = sorted(w for w in s.wires if w >= n_qubits)
            if bad:
                raise ValueError(
                    f"observable {s} acts on wire(s) {bad}; the circuit has wires 0..{n_qubits - 1}"
                )
        self.name = " ; ".join(str(s) for s in self.sums)
        self.groups = self._group()
        self.diagonal = len(self.groups) == 1 and all(
            p == "Z" for p in self.groups[0].basis.values()
        )
        self._cache: dict = {}

    # ----------------------------------------------------------------- structure
    @property
    def n_outputs(self) -> int:
        """Number of outputs."""
        return len(self.sums)

    @property
    def n_groups(self) -> int:
        """Circuits one evaluation runs on hardware: one per measurement group."""
        return len(self.groups)

    @property
    def description(self) -> str:
        """What it measures."""
        return self.name

    @property
    def tabulated(self) -> bool:
        """Tables are always built (one per group)."""
        return True

    def _group(self) -> tuple[MeasurementGroup, ...]:
        n = self.n_qubits
        words = {}
        for j, s in enumerate(self.sums):
            for coeff, word in s.terms:
                words.setdefault(word, []).append((j, coeff))
        constant = words.pop((), [])
        order = sorted(words, key=lambda wd: -max(abs(c) for _, c in words[wd]))
        bases: list[dict] = []
        members: list[list] = []
        for word in order:
            as_dict = dict(word)
            for basis, group in zip(bases, members, strict=True):
                if _qwc(as_dict, basis):
                    basis.update(as_dict)
                    group.append(word)
                    break
            else:
                bases.append(dict(as_dict))
                members.append([word])
        if not bases:
            bases, members = [{}], [[]]
        groups = []
        for g, (basis, group) in enumerate(zip(bases, members, strict=True)):
            table = np.zeros((self.n_outputs, 2**n))
            weight = 0.0
            for word in group:
                signs = _z_signs(n, [wire for wire, _ in word])
                for j, coeff in words[word]:
                    table[j] += coeff * signs
                    weight += abs(coeff)
            if g == 0:
                for j, coeff in constant:
                    table[j] += coeff
            table.setflags(write=False)
            groups.append(MeasurementGroup(basis, table, weight, tuple(group)))
        return tuple(groups)

    def table(self) -> np.ndarray:
        """The eigenvalue table ``(n_out, 2**n)`` of a diagonal observable."""
        if not self.diagonal:
            raise ValueError(f"observable {self.name} is not diagonal: it has no single table")
        return self.groups[0].table

    def diagonals(self, dtype: torch.dtype, device) -> torch.Tensor:
        """The eigenvalue table as a tensor (diagonal observables only)."""
        return self._group_table(0, dtype, device)

    def _group_table(self, g: int, dtype, device) -> torch.Tensor:
        key = ("table", g, dtype, str(torch.device(device)))
        if key not in self._cache:
            self._cache[key] = torch.tensor(self.groups[g].table, dtype=dtype, device=device)
        return self._cache[key]

    def expectations(self, probs: torch.Tensor) -> torch.Tensor:
        """``probs @ table.T`` (diagonal observables only)."""
        return probs @ self.diagonals(probs.dtype, probs.device).T

    def weights(self, coeffs: torch.Tensor) -> torch.Tensor:
        """``coeffs @ table`` (diagonal observables only)."""
        return coeffs @ self.diagonals(coeffs.dtype, coeffs.device)

    # ----------------------------------------------------------------- shots
    def allocate(self, shots: int, split: str = "uniform") -> tuple[int, ...]:
        """Split ``shots`` among the groups, ``"uniform"`` or ``"weighted"``.

        Weighted shares follow the groups' coefficient weights; every group gets at least one
        shot, and the rest go by largest remainders.

        Raises:
            ValueError: for fewer shots than groups, or an unknown split.
        """
        if split not in SHOT_SPLITS:
            raise ValueError(f"shot_split must be one of {', '.join(SHOT_SPLITS)}, got {split!r}")
        n_groups = self.n_groups
        if shots < n_groups:
            raise ValueError(
                f"shots={shots} cannot cover the {n_groups} measurement groups of {self.name}"
            )
        return _allocate(shots, tuple(g.weight for g in self.groups), split)

    # ----------------------------------------------------------------- on states
    def rotate(self, state: torch.Tensor, g: int, offset: int = 0) -> torch.Tensor:
        """``U_g psi``: each wire of group ``g`` rotated into its Pauli's eigenbasis.

        ``offset`` shifts the wires (``1`` for a state with an ancilla as its first wire).
        """
        n = self.n_qubits + offset
        for wire, pauli in sorted(self.groups[g].basis.items()):
            if pauli != "Z":
                state = engine.apply_matrix(
                    state, self._basis(pauli, state.dtype, state.device), wire + offset, n
                )
        return state

    def unrotate(self, state: torch.Tensor, g: int) -> torch.Tensor:
        """``U_g^dagger psi``."""
        for wire, pauli in sorted(self.groups[g].basis.items()):
            if pauli != "Z":
                matrix = self._basis(pauli, state.dtype, state.device).mH
                state = engine.apply_matrix(state, matrix, wire, self.n_qubits)
        return state

    def _basis(self, pauli: str, dtype, device) -> torch.Tensor:
        key = ("basis", pauli, dtype, str(device))
        if key not in self._cache:
            axis, angle = _BASIS[pauli]
            paulis = engine.pauli_stack((axis,), dtype, device)
            angles = torch.tensor([angle], dtype=dtype.to_real(), device=device)
            self._cache[key] = engine.rotation_matrices(angles, paulis)[0]
        return self._cache[key]

    def expval(self, state: torch.Tensor) -> torch.Tensor:
        """Exact ``<O_j>`` ``(*batch, n_out)`` of states ``(*batch, 2, ..., 2)``; differentiable."""
        n = self.n_qubits
        out = None
        for g in range(self.n_groups):
            probs = engine.probabilities(self.rotate(state, g), n)
            part = probs @ self._group_table(g, probs.dtype, probs.device).T
            out = part if out is None else out + part
        return out

    def apply(self, state: torch.Tensor, coeffs: torch.Tensor) -> torch.Tensor:
        """``sum_j coeffs_j O_j |psi>`` for states ``(B, 2, ..., 2)``, ``coeffs`` ``(B, n_out)``."""
        n = self.n_qubits
        batch = state.shape[0]
        out = None
        for g in range(self.n_groups):
            table = self._group_table(g, coeffs.dtype, coeffs.device)
            rotated = self.rotate(state, g).reshape(batch, -1)
            part = (rotated * (coeffs @ table)).reshape(state.shape)
            part = self.unrotate(part, g)
            out = part if out is None else out + part
        return out.reshape(batch, *([2] * n))

    def estimate(
        self,
        state: torch.Tensor,
        shots: int | None,
        generator: torch.Generator | None,
        split: str = "uniform",
        ancilla: bool = False,
    ) -> torch.Tensor:
        """Estimate every output from each group's own shots (exact for ``shots=None``).

        Args:
            state: ``(M, 2, ..., 2)``.
            shots: shots per evaluation, split among the groups (:meth:`allocate`).
            generator: the random generator.
            split: the shot split.
            ancilla: the state has an ancilla as its first wire, and what is estimated is
                ``<Y_a O_j>`` after the ancilla's ``Y`` rotation (the Hadamard test).

        Returns:
            ``(M, n_out)``.
        """
        offset = 1 if ancilla else 0
        n = self.n_qubits + offset
        per_group = [None] * self.n_groups if shots is None else self.allocate(shots, split)
        out = None
        for g in range(self.n_groups):
            probs = engine.probabilities(self.rotate(state, g, offset), n).reshape(
                state.shape[0], -1
            )
            table = self._group_table(g, probs.dtype, probs.device)
            if ancilla:
                table = torch.cat([table, -table], dim=-1)
            part = engine.estimate_expvals(probs, table, per_group[g], generator)
            out = part if out is None else out + part
        return out


@functools.lru_cache(maxsize=256)
def _allocate(shots: int, weights: tuple[float, ...], split: str) -> tuple[int, ...]:
    n = len(weights)
    share = np.ones(n) if split == "uniform" or sum(weights) == 0 else np.asarray(weights)
    ideal = (shots - n) * share / share.sum()
    base = np.floor(ideal).astype(int)
    rest = shots - n - int(base.sum())
    order = np.argsort(-(ideal - base), kind="stable")
    base[order[:rest]] += 1
    return tuple(int(b) + 1 for b in base)
