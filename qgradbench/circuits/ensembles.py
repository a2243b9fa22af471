r"""Ensembles of random circuits, every member a fresh circuit, all run as one batch.

Landscape statistics (gradient variance, barren plateaus) average over random circuits: new
angles for every sample and, for McClean et al.'s ``random-pauli`` ansatz, new rotation axes.
Circuits with different axes are different circuits, yet the samples of one measurement must
run as one batched simulation. An :class:`Ensemble` makes that possible with one compiled
circuit whose every random-axis rotation is written in a fixed basis:

.. math::  R_X(t) = R_Y(\tfrac{\pi}{2})\, R_Z(t)\, R_Y(-\tfrac{\pi}{2}), \qquad
           R_Y(t) = R_X(-\tfrac{\pi}{2})\, R_Z(t)\, R_X(\tfrac{\pi}{2}),

so the rotation about axis ``a`` is ``R_Y(y_post) R_X(x_post) R_Z(t) R_X(x_pre) R_Y(y_pre)`` with
per-sample basis angles (all zero for ``Z``). The basis angles are slots of the angle vector like
any other, drawn per sample from the axes; the trainable angle ``t`` keeps one slot whatever the
axis, so every gradient rule differentiates the same slot in every sample. The five rotations
on a wire are fused into one 2x2 block, so the state sees exactly as many passes as the plain
circuit. The generator of ``t`` is ``Z`` in the rotated frame, i.e. the chosen Pauli: parameter
shift, the Hadamard test and the adjoint sweep are exact for it, as for the plain circuit.

For the other ansatzes an ensemble is the ansatz itself with uniform random weights. Ensembles
have no data inputs: the encoding slots are zero (``RY(0) = 1``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from qgradbench.circuits.ansatz import _encoded, check_n_layers, get_ansatz
from qgradbench.circuits.circuit import Circuit
from qgradbench.engine import check_n_qubits

PARAM_SELECTORS = ("first", "middle", "last", "all")

# Basis angles (y_pre, x_pre, x_post, y_post) that turn R_Z(t) into R_X(t), R_Y(t), R_Z(t).
_BASIS = np.array(
    [
        [-math.pi / 2, 0.0, 0.0, math.pi / 2],  # X
        [0.0, math.pi / 2, -math.pi / 2, 0.0],  # Y
        [0.0, 0.0, 0.0, 0.0],  # Z
    ]
)


def random_axis_circuit(n_qubits: int, n_layers: int) -> Circuit:
    """McClean et al.'s circuit with every rotation axis a per-sample input.

    Slots: ``0..n-1`` encoding, then the ``n_layers * n_qubits`` trainable angles (row-major
    ``(layer, wire)``, as in :func:`~qgradbench.circuits.random_pauli`), then four basis angles
    per rotation (``(layer, wire, 4)``, see the module docstring).
    """
    b = _encoded(n_qubits, f"random-pauli-ensemble({n_qubits}q, {n_layers}l)")
    for wire in range(n_qubits):
        b.rotation("Y", wire, angle=math.pi / 4)
    n_weights = n_layers * n_qubits
    for layer in range(n_layers):
        for wire in range(n_qubits):
            k = layer * n_qubits + wire
            basis = n_qubits + n_weights + 4 * k
            b.rotation("Y", wire, slot=basis)
            b.rotation("X", wire, slot=basis + 1)
            b.rotation("Z", wire, slot=n_qubits + k)
            b.rotation("X", wire, slot=basis + 2)
            b.rotation("Y", wire, slot=basis + 3)
        for wire in range(n_qubits - 1):
            b.fixed("CZ", (wire, wire + 1))
    return b.build(n_qubits + 5 * n_weights)


@dataclass(frozen=True)
class Draw:
    """Angle vectors of a batch of random circuits.

    Attributes:
        theta: ``(samples, n_params)`` float64 angle vectors of the ensemble's circuit.
        weights: ``(samples, n_weights)`` the trainable angles (uniform on ``[0, 2 pi)``).
        axes: ``(samples, n_layers, n_qubits)`` axes in {0, 1, 2} = X, Y, Z (``random-pauli``),
            else ``None``.
    """

    theta: np.ndarray
    weights: np.ndarray
    axes: np.ndarray | None


@dataclass(frozen=True, eq=False)
class Ensemble:
    """Random circuits of one ansatz, size and depth, as one compiled batched circuit.

    Attributes:
        ansatz: the ansatz name.
        n_qubits: qubits.
        n_layers: layers.
        circuit: the compiled circuit every sample runs.
        n_weights: trainable angles per circuit.
    """

    ansatz: str
    n_qubits: int
    n_layers: int
    circuit: Circuit
    n_weights: int

    def weight_slot(self, index: int) -> int:
        """The slot of trainable angle ``index`` (row-major over the ansatz's weight shape)."""
        if not 0 <= index < self.n_weights:
            raise ValueError(
                f"parameter index {index} out of range: this circuit has {self.n_weights} "
                f"trainable parameters (0..{self.n_weights - 1})"
            )
        return self.n_qubits + index

    def param_indices(self, param: str | int) -> list[int]:
        """Resolve a selector (``first``, ``middle``, ``last``, ``all`` or an index) to indices."""
        return param_indices(param, self.n_weights)

    def draw(self, samples: int, rng: np.random.Generator) -> Draw:
        """Draw ``samples`` fresh circuits: uniform angles on ``[0, 2 pi)``, uniform axes."""
        n, L = self.n_qubits, self.n_layers
        weights = rng.uniform(0.0, 2 * math.pi, size=(samples, self.n_weights))
        encoding = np.zeros((samples, n))
        if self.ansatz != "random-pauli":
            return Draw(np.concatenate([encoding, weights], axis=1), weights, None)
        axes = rng.integers(0, 3, size=(samples, L, n))
        basis = _BASIS[axes].reshape(samples, -1)
        return Draw(np.concatenate([encoding, weights, basis], axis=1), weights, axes)


def param_indices(param: str | int, n_weights: int) -> list[int]:
    """Resolve a selector (``first``, ``middle``, ``last``, ``all`` or an index) to indices.

    Raises:
        ValueError: for an unknown selector or an index outside ``0..n_weights - 1``.
    """
    if isinstance(param, bool):
        raise ValueError(f"param must be one of {', '.join(PARAM_SELECTORS)} or an index")
    if isinstance(param, int | np.integer):
        if not 0 <= param < n_weights:
            raise ValueError(
                f"parameter index {param} out of range: this circuit has {n_weights} "
                f"trainable parameters (0..{n_weights - 1})"
            )
        return [int(param)]
    chosen = {
        "first": [0],
        "middle": [n_weights // 2],
        "last": [n_weights - 1],
        "all": list(range(n_weights)),
    }.get(param)
    if chosen is None:
        raise ValueError(
            f"unknown param selector {param!r}; expected one of "
            f"{', '.join(PARAM_SELECTORS)} or a parameter index"
        )
    return chosen


def n_weights_of(ansatz: str, n_qubits: int, n_layers: int) -> int:
    """Trainable angles of ``ansatz`` on ``n_qubits`` with ``n_layers`` (validated)."""
    check_n_qubits(n_qubits)
    check_n_layers(n_layers)
    return math.prod(get_ansatz(ansatz).weight_shape(n_qubits, n_layers))


def ensemble(ansatz: str, n_qubits: int, n_layers: int) -> Ensemble:
    """Return the ensemble of random ``ansatz`` circuits on ``n_qubits`` with ``n_layers``."""
    spec = get_ansatz(ansatz)
    n_weights = n_weights_of(ansatz, n_qubits, n_layers)
    if ansatz == "random-pauli":
        circuit = random_axis_circuit(n_qubits, n_layers)
    else:
        circuit = spec.build(n_qubits, n_layers)
    return Ensemble(ansatz, n_qubits, n_layers, circuit, n_weights)


__all__ = [
    "PARAM_SELECTORS",
    "Draw",
    "Ensemble",
    "ensemble",
    "n_weights_of",
    "param_indices",
    "random_axis_circuit",
]
