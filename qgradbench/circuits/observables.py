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

from qgradbench.engine.gates import bit


def _z_signs(n: int) -> np.ndarray:
    """``(n, 2**n)``: the eigenvalue of ``Z_w`` on each basis state, +1 for bit 0, -1 for bit 1."""
    idx = np.arange(2**n)
    return np.stack([1.0 - 2.0 * bit(idx, w, n) for w in range(n)])


def _z_each(n: int) -> np.ndarray:
    return _z_signs(n)


def _zz(n: int) -> np.ndarray:
    if n < 2:
        raise ValueError(f"observable 'zz' (Z0 Z1) needs at least 2 qubits, got n_qubits={n}")
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


@dataclass(frozen=True)
class Observable:
    """A diagonal observable on ``n_qubits`` qubits with ``n_outputs`` outputs.

    Attributes:
        name: its registry name (one of :data:`OBSERVABLES`).
        n_qubits: number of qubits.
    """

    name: str
    n_qubits: int

    def __post_init__(self):
        if self.name not in _DIAGONALS:
            raise ValueError(
                f"unknown observable {self.name!r}; expected one of {', '.join(OBSERVABLES)}"
            )
        self.table()  # validates the qubit count for this observable

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
        return self.table().shape[0]

    def diagonals(self, dtype: torch.dtype, device) -> torch.Tensor:
        """Return the eigenvalue table as a real tensor of ``dtype`` on ``device`` (cached)."""
        return _table_tensor(self.name, self.n_qubits, dtype, str(torch.device(device)))


@functools.lru_cache(maxsize=64)
def _table(name: str, n: int) -> np.ndarray:
    table = _DIAGONALS[name][0](n)
    table.setflags(write=False)
    return table


@functools.lru_cache(maxsize=64)
def _table_tensor(name: str, n: int, dtype: torch.dtype, device: str) -> torch.Tensor:
    return torch.tensor(_table(name, n), dtype=dtype, device=device)
