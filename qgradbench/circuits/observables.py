"""Observables measured at the end of a circuit.

All of them are diagonal in the computational basis, so each is stored as the eigenvalue it
takes on every basis state: a real ``(n_outputs, 2**n)`` table. That is also what makes shot
sampling cheap (every output is estimated from the same bitstrings) and the adjoint method's
``O |psi>`` a single elementwise product.

Local versus global cost functions follow Cerezo et al., "Cost function dependent barren
plateaus in shallow parametrized quantum circuits", Nat. Commun. 12, 1791 (2021).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from qgradbench.engine import pool
from qgradbench.engine.dense import product_contractions, product_state
from qgradbench.engine.gates import bit


def _z_signs(n: int) -> np.ndarray:
    """``(n, 2**n)``: the eigenvalue of ``Z_w`` on each basis state, +1 for bit 0, -1 for bit 1."""
    idx = np.arange(2**n)
    return np.stack([1.0 - 2.0 * bit(idx, w, n) for w in range(n)])


def _z_each(n: int) -> np.ndarray:
    return _z_signs(n)


def _check_zz(n: int) -> None:
    if n < 2:
        raise ValueError(f"observable 'zz' (Z0 Z1) needs at least 2 qubits, got n_qubits={n}")


def _zz(n: int) -> np.ndarray:
    _check_zz(n)
    z = _z_signs(n)
    return (z[0] * z[1])[None]


def _global_z(n: int) -> np.ndarray:
    return np.prod(_z_signs(n), axis=0, keepdims=True)


def _global_projector(n: int) -> np.ndarray:
    out = np.zeros((1, 2**n))
    out[0, 0] = 1.0
    return out


def _local_projector(n: int) -> np.ndarray:
    return ((1.0 + _z_signs(n)) / 2).mean(axis=0, keepdims=True)


def _local_z(n: int) -> np.ndarray:
    return _z_signs(n).mean(axis=0, keepdims=True)


_DIAGONALS: dict[str, tuple[Callable[[int], np.ndarray], str]] = {
    "z-each": (_z_each, "<Z_i> for every qubit i (the layer output)"),
    "zz": (_zz, "<Z_0 Z_1>"),
    "global-z": (_global_z, "<Z_0 Z_1 ... Z_{n-1}>"),
    "global-projector": (_global_projector, "<|0...0><0...0|>"),
    "local-projector": (_local_projector, "mean over j of <|0><0|_j>"),
    "local-z": (_local_z, "mean over j of <Z_j>"),
}

OBSERVABLES: tuple[str, ...] = tuple(_DIAGONALS)

#: Largest table (``n_outputs * 2**n`` entries) that :meth:`Observable.expectations` and
#: :meth:`Observable.weights` multiply by directly. Above it they use the observable's
#: factors (:data:`_FACTORS`) and never build the table: ``z-each`` on 26 qubits is a table of
#: 26 x 2**26 entries, 7 GiB in float32, fourteen times the state it measures.
TABLE_ENTRIES = 2**22

_Z, _ZERO, _ONE = (1.0, -1.0), (1.0, 0.0), (1.0, 1.0)


def _zz_factors(n: int) -> tuple:
    _check_zz(n)
    return "product", [_Z, _Z] + [_ONE] * (n - 2)


#: Every observable as per-wire factors: ``("each", v)``: output ``j`` is ``v`` on wire ``j``
#: (1 on the others); ``("mean", v)``: one output, the mean of those over ``j``;
#: ``("product", [v_0, ..., v_{n-1}])``: one output, the product of ``v_w`` on wire ``w``.
_FACTORS: dict[str, Callable[[int], tuple]] = {
    "z-each": lambda n: ("each", _Z),
    "zz": _zz_factors,
    "global-z": lambda n: ("product", [_Z] * n),
    "global-projector": lambda n: ("product", [_ZERO] * n),
    "local-projector": lambda n: ("mean", _ZERO),
    "local-z": lambda n: ("mean", _Z),
}


@dataclass(frozen=True)
class Observable:
    """A diagonal observable on ``n_qubits`` qubits with ``n_outputs`` outputs.

    Attributes:
        name: its registry name (one of :data:`OBSERVABLES`).
        n_qubits: number of qubits.
    """

    name: str
    n_qubits: int

    #: Diagonal in the computational basis: measured in it, with one eigenvalue table.
    diagonal = True

    def __post_init__(self):
        if self.name not in _DIAGONALS:
            raise ValueError(
                f"unknown observable {self.name!r}; expected one of {', '.join(OBSERVABLES)}"
            )
        _FACTORS[self.name](self.n_qubits)  # validates the qubit count for this observable

    @property
    def description(self) -> str:
        """What it measures, in words."""
        return _DIAGONALS[self.name][1]

    def table(self) -> np.ndarray:
        """Return the eigenvalue table ``(n_outputs, 2**n)`` (float64)."""
        return _table(self.name, self.n_qubits)

    @property
    def n_outputs(self) -> int:
        """Number of expectation values it yields."""
        return self.n_qubits if _FACTORS[self.name](self.n_qubits)[0] == "each" else 1

    def diagonals(self, dtype: torch.dtype, device) -> torch.Tensor:
        """Return the eigenvalue table as a real tensor of ``dtype`` on ``device`` (cached)."""
        return _table_tensor(self.name, self.n_qubits, dtype, str(torch.device(device)))

    @property
    def tabulated(self) -> bool:
        """Whether :meth:`expectations` and :meth:`weights` use the table (``TABLE_ENTRIES``)."""
        return self.n_outputs * 2**self.n_qubits <= TABLE_ENTRIES

    def expectations(self, probs: torch.Tensor) -> torch.Tensor:
        """``probs @ table.T``: ``(..., 2**n)`` real probabilities to ``(..., n_outputs)``.

        From the factors on large registers: every wire's marginal (two reads of ``probs``,
        :func:`qgradbench.engine.product_contractions` with columns of ones) for
        ``each``/``mean`` observables, one contraction with a product vector for ``product``
        ones.
        """
        if self.tabulated:
            return probs @ self.diagonals(probs.dtype, probs.device).T
        kind, factors = _FACTORS[self.name](self.n_qubits)
        if kind == "product":
            return (probs @ _product(factors, probs)).unsqueeze(-1)
        marginals = product_contractions(probs.unsqueeze(-2), probs.new_ones(self.n_qubits, 2))
        per_wire = marginals.squeeze(-3) @ probs.new_tensor(factors)  # (..., n)
        return per_wire if kind == "each" else per_wire.mean(-1, keepdim=True)

    def weights(self, coeffs: torch.Tensor) -> torch.Tensor:
        """``coeffs @ table``: ``(..., n_outputs)`` to the diagonal ``(..., 2**n)`` they weight.

        The eigenvalues of ``sum_j coeffs_j O_j``, what a gradient of the expectation values
        multiplies the state by. From the factors on large registers: a sum over wires
        (:func:`_outer_sum`) or a scaled product vector, one write of ``2**n`` values.
        """
        if self.tabulated:
            return coeffs @ self.diagonals(coeffs.dtype, coeffs.device)
        kind, factors = _FACTORS[self.name](self.n_qubits)
        if kind == "product":
            return coeffs * _product(factors, coeffs)
        if kind == "mean":
            coeffs = (coeffs / self.n_qubits).expand(*coeffs.shape[:-1], self.n_qubits)
        return _outer_sum(coeffs.unsqueeze(-1) * coeffs.new_tensor(factors))


def _product(factors: list, like: torch.Tensor) -> torch.Tensor:
    """``prod_w factors[w][s_w]`` for every basis state ``s``: ``(2**n,)``, as ``like``."""
    return product_state(like.new_tensor(factors)).reshape(-1)


def _outer_sum(per_wire: torch.Tensor) -> torch.Tensor:
    """``sum_w per_wire[..., w, s_w]`` for every basis state: ``(..., n, 2)`` to ``(..., 2**n)``."""
    n = per_wire.shape[-2]
    if n == 1:
        return per_wire[..., 0, :]
    half = n // 2
    top, bottom = _outer_sum(per_wire[..., :half, :]), _outer_sum(per_wire[..., half:, :])
    top, bottom = top.unsqueeze(-1), bottom.unsqueeze(-2)
    if torch.is_grad_enabled() and per_wire.requires_grad:
        return (top + bottom).flatten(-2)
    out = pool.take((*top.shape[:-1], bottom.shape[-1]), top.dtype, top.device)  # (engine.pool)
    return torch.add(top, bottom, out=out).flatten(-2)


@functools.lru_cache(maxsize=64)
def _table(name: str, n: int) -> np.ndarray:
    table = _DIAGONALS[name][0](n)
    table.setflags(write=False)
    return table


@functools.lru_cache(maxsize=64)
def _table_tensor(name: str, n: int, dtype: torch.dtype, device: str) -> torch.Tensor:
    return torch.tensor(_table(name, n), dtype=dtype, device=device)
