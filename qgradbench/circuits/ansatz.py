"""Ansatzes: the trainable circuits of the built-in quantum layer, in the circuit model.

An ansatz is a function ``(n_qubits, n_layers[, seed]) -> CircuitSpec`` (the circuit model,
:mod:`qgradbench.circuits.model`) registered in :data:`ANSATZES` with its weight shape;
``QuantumLayer(n_qubits, n_layers, ansatz=name)`` runs its spec, with input
``(batch, spec.n_inputs)`` and weights ``spec.weight_shape``. :meth:`Ansatz.build` gives the
compiled circuit.

The classic three read the angle encoding ``RY(pi x_i)`` on wire ``i``, then the ansatz; their
compiled circuits read ``theta = [pi x, weights.flatten()]`` (slots ``0..n-1`` the encoding
angles, then the weights in row-major order of the weight tensor):

* ``strongly-entangling``: PennyLane's ``StronglyEntanglingLayers`` with its defaults
  (Schuld et al., "Circuit-centric quantum classifiers", PRA 101, 032308, 2020): per layer
  ``Rot(w[l,i,0], w[l,i,1], w[l,i,2])`` on every wire, then ``CNOT(i, (i + r_l) mod n)`` for every
  ``i`` with range ``r_l = (l mod (n - 1)) + 1`` (no CNOTs for one qubit).
* ``basic-entangler``: PennyLane's ``BasicEntanglerLayers``: per layer ``RX(w[l,i])`` on every
  wire, then a CNOT ring (a single CNOT(0, 1) for two qubits, none for one).
* ``random-pauli``: McClean et al., "Barren plateaus in quantum neural network training
  landscapes", Nat. Commun. 9, 4812 (2018): a fixed ``RY(pi/4)`` on every wire, then per layer a
  rotation about a random axis in {X, Y, Z} on every wire (drawn from ``seed``) and a
  nearest-neighbour CZ ladder.

Circuits of the field (:mod:`qgradbench.circuits.library`): ``reuploading``, ``iqp``,
``hardware-efficient`` and ``tfim-hva``; see there for their inputs and weights.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from qgradbench.circuits.circuit import Circuit, CircuitBuilder
from qgradbench.circuits.library import (
    check_n_layers,
    hardware_efficient,
    iqp,
    reuploading,
    ry_encoding,
    strongly_entangling_layers,
    tfim_hva,
)
from qgradbench.circuits.model import CircuitSpec, Gate, w
from qgradbench.engine import PAULIS, check_n_qubits


def _encoded(n_qubits: int, name: str) -> CircuitBuilder:
    """A builder holding the encoding ``RY(theta_i)`` on wire ``i`` on slots ``0..n-1``.

    For circuits written directly on the engine's builder (the random-axis ensemble of
    :mod:`qgradbench.circuits.ensembles`); the ansatzes themselves are circuit-model specs.
    """
    builder = CircuitBuilder(n_qubits, name)
    for wire in range(n_qubits):
        builder.rotation("Y", wire, slot=wire)
    return builder


def _encoded_spec(n_qubits: int, n_layers: int, name: str, gates: list, n_weights: int, shape):
    return CircuitSpec(
        n_qubits,
        ry_encoding(n_qubits) + gates,
        n_inputs=n_qubits,
        n_weights=n_weights,
        weight_shape=shape,
        name=f"{name}({n_qubits}q, {n_layers}l)",
    )


def strongly_entangling_spec(n_qubits: int, n_layers: int) -> CircuitSpec:
    """Encoding + PennyLane's ``StronglyEntanglingLayers`` (default ranges, CNOT)."""
    gates = strongly_entangling_layers(n_qubits, n_layers)
    shape = (n_layers, n_qubits, 3)
    return _encoded_spec(n_qubits, n_layers, "strongly-entangling", gates, math.prod(shape), shape)


def basic_entangler_spec(n_qubits: int, n_layers: int) -> CircuitSpec:
    """Encoding + PennyLane's ``BasicEntanglerLayers`` (RX rotations, CNOT ring)."""
    gates = []
    for layer in range(n_layers):
        gates.extend(Gate("RX", [i], [w[layer * n_qubits + i]]) for i in range(n_qubits))
        if n_qubits == 2:
            gates.append(Gate("CNOT", [0, 1]))
        elif n_qubits > 2:
            gates.extend(Gate("CNOT", [i, (i + 1) % n_qubits]) for i in range(n_qubits))
    shape = (n_layers, n_qubits)
    return _encoded_spec(n_qubits, n_layers, "basic-entangler", gates, math.prod(shape), shape)


def random_pauli_spec(
    n_qubits: int, n_layers: int, seed: int | None = None, *, axes: np.ndarray | None = None
) -> CircuitSpec:
    """Encoding + McClean et al.'s random Pauli-rotation circuit.

    Args:
        n_qubits: number of qubits.
        n_layers: number of layers.
        seed: draws the axes (:func:`draw_axes`) when ``axes`` is not given.
        axes: integer array ``(n_layers, n_qubits)`` with values in {0, 1, 2} for X, Y, Z.
    """
    axes = draw_axes(n_qubits, n_layers, seed) if axes is None else np.asarray(axes)
    if axes.shape != (n_layers, n_qubits) or not np.isin(axes, (0, 1, 2)).all():
        raise ValueError(
            f"axes must be an integer array of shape ({n_layers}, {n_qubits}) with values in "
            f"{{0, 1, 2}}, got shape {axes.shape}"
        )
    gates = [Gate("RY", [i], [math.pi / 4]) for i in range(n_qubits)]
    for layer in range(n_layers):
        for i in range(n_qubits):
            gates.append(Gate(f"R{PAULIS[axes[layer, i]]}", [i], [w[layer * n_qubits + i]]))
        gates.extend(Gate("CZ", [i, i + 1]) for i in range(n_qubits - 1))
    shape = (n_layers, n_qubits)
    return _encoded_spec(n_qubits, n_layers, "random-pauli", gates, math.prod(shape), shape)


def draw_axes(n_qubits: int, n_layers: int, seed: int | None) -> np.ndarray:
    """Draw the rotation axes of a ``random-pauli`` circuit from ``seed`` (uniform over X, Y, Z)."""
    return np.random.default_rng(seed).integers(0, 3, size=(n_layers, n_qubits))


# The compiled circuits under the names of the builders they replace.
def strongly_entangling(n_qubits: int, n_layers: int) -> Circuit:
    """The compiled circuit of :func:`strongly_entangling_spec`."""
    return strongly_entangling_spec(n_qubits, n_layers).compile()[0]


def basic_entangler(n_qubits: int, n_layers: int) -> Circuit:
    """The compiled circuit of :func:`basic_entangler_spec`."""
    return basic_entangler_spec(n_qubits, n_layers).compile()[0]


def random_pauli(n_qubits: int, n_layers: int, axes: np.ndarray) -> Circuit:
    """The compiled circuit of :func:`random_pauli_spec` with the given ``axes``."""
    return random_pauli_spec(n_qubits, n_layers, axes=axes).compile()[0]


def per_qubit(k: int) -> Callable[[int, int], tuple[int, ...]]:
    """Weight shape ``(n_layers, n_qubits)`` for ``k = 1``, else ``(n_layers, n_qubits, k)``."""
    return lambda n_qubits, n_layers: (n_layers, n_qubits) + ((k,) if k > 1 else ())


def per_layer(k: int) -> Callable[[int, int], tuple[int, ...]]:
    """Weight shape ``(n_layers, k)``: weights shared by every qubit of a layer."""
    return lambda n_qubits, n_layers: (n_layers, k)


@dataclass(frozen=True)
class Ansatz:
    """A registered ansatz: its circuit and weight shape.

    Attributes:
        name: the registry name.
        shape: ``(n_qubits, n_layers) -> weight shape`` (:func:`per_qubit`, :func:`per_layer`).
        function: ``(n_qubits, n_layers) -> CircuitSpec``, or ``(n_qubits, n_layers, seed)`` if
            ``seeded``.
        reference: where it comes from.
        seeded: whether the circuit itself is drawn from the seed (``random-pauli``).
    """

    name: str
    shape: Callable[[int, int], tuple[int, ...]]
    function: Callable[..., CircuitSpec]
    reference: str
    seeded: bool = False

    def weight_shape(self, n_qubits: int, n_layers: int) -> tuple[int, ...]:
        """Shape of the trainable weight tensor (the spec's ``weight_shape``)."""
        return tuple(self.shape(n_qubits, n_layers))

    def spec(self, n_qubits: int, n_layers: int, seed: int | None = None) -> CircuitSpec:
        """The circuit in the circuit model (``seed`` draws the ``random-pauli`` axes)."""
        check_n_qubits(n_qubits)
        check_n_layers(n_layers)
        if self.seeded:
            return self.function(n_qubits, n_layers, seed)
        return self.function(n_qubits, n_layers)

    def build(self, n_qubits: int, n_layers: int, seed: int | None = None) -> Circuit:
        """The compiled circuit of :meth:`spec` (``seed`` draws the ``random-pauli`` axes)."""
        return self.spec(n_qubits, n_layers, seed).compiled[0]


_SCHULD = "Schuld et al. 2020; PennyLane"
_BASIC = "PennyLane BasicEntanglerLayers"

ANSATZES: dict[str, Ansatz] = {
    a.name: a
    for a in (
        Ansatz("strongly-entangling", per_qubit(3), strongly_entangling_spec, _SCHULD),
        Ansatz("basic-entangler", per_qubit(1), basic_entangler_spec, _BASIC),
        Ansatz("random-pauli", per_qubit(1), random_pauli_spec, "McClean et al. 2018", seeded=True),
        Ansatz("reuploading", per_qubit(5), reuploading, "Pérez-Salinas et al. 2020"),
        Ansatz("iqp", per_qubit(3), iqp, "Havlíček et al. 2019; PennyLane IQPEmbedding"),
        Ansatz("hardware-efficient", per_qubit(2), hardware_efficient, "Kandala et al. 2017"),
        Ansatz("tfim-hva", per_layer(2), tfim_hva, "Wiersema et al. 2020"),
    )
}


def get_ansatz(name: str) -> Ansatz:
    """Return the registered ansatz ``name``.

    Raises:
        ValueError: for an unknown name, listing the known ones.
    """
    if name not in ANSATZES:
        raise ValueError(f"unknown ansatz {name!r}; expected one of {', '.join(ANSATZES)}")
    return ANSATZES[name]


__all__ = [
    "ANSATZES",
    "Ansatz",
    "basic_entangler",
    "basic_entangler_spec",
    "check_n_layers",
    "draw_axes",
    "get_ansatz",
    "per_layer",
    "per_qubit",
    "random_pauli",
    "random_pauli_spec",
    "strongly_entangling",
    "strongly_entangling_spec",
]
