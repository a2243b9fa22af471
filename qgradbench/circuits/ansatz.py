"""Ansatzes: the trainable part of the quantum layer, each preceded by the angle encoding.

Every circuit built here reads the angle vector ``theta = [encoding angles, weights.flatten()]``:
slots ``0..n-1`` are the encoding angles (``RY(theta_i)`` on wire ``i``; the layer passes
``theta_i = pi * x_i``) and the weights follow in row-major order of the ansatz's weight tensor.

* ``strongly-entangling``: PennyLane's ``StronglyEntanglingLayers`` with its defaults
  (Schuld et al., "Circuit-centric quantum classifiers", PRA 101, 032308, 2020): per layer
  ``Rot(w[l,i,0], w[l,i,1], w[l,i,2])`` on every wire, then ``CNOT(i, (i + r_l) mod n)`` for every
  ``i`` with range ``r_l = (l mod (n - 1)) + 1`` (no CNOTs for one qubit).
* ``basic-entangler``: PennyLane's ``BasicEntanglerLayers``: per layer ``RX(w[l,i])`` on every
  wire, then a CNOT ring (a single CNOT(0, 1) for two qubits, none for one).
* ``random-pauli``: McClean et al., "Barren plateaus in quantum neural network training
  landscapes", Nat. Commun. 9, 4812 (2018): a fixed ``RY(pi/4)`` on every wire, then per layer a
  rotation about a random axis in {X, Y, Z} on every wire and a nearest-neighbour CZ ladder.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from qgradbench.circuits.circuit import Circuit, CircuitBuilder
from qgradbench.engine import PAULIS, check_n_qubits


def _encoded(n_qubits: int, name: str) -> CircuitBuilder:
    builder = CircuitBuilder(n_qubits, name)
    for wire in range(n_qubits):
        builder.rotation("Y", wire, slot=wire)
    return builder


def strongly_entangling(n_qubits: int, n_layers: int) -> Circuit:
    """Encoding + PennyLane's ``StronglyEntanglingLayers`` (default ranges, CNOT)."""
    b = _encoded(n_qubits, f"strongly-entangling({n_qubits}q, {n_layers}l)")
    for layer in range(n_layers):
        for wire in range(n_qubits):
            first = n_qubits + 3 * (layer * n_qubits + wire)
            b.rot(wire, (first, first + 1, first + 2))
        if n_qubits > 1:
            r = layer % (n_qubits - 1) + 1
            for wire in range(n_qubits):
                b.fixed("CNOT", (wire, (wire + r) % n_qubits))
    return b.build(n_qubits + 3 * n_layers * n_qubits)


def basic_entangler(n_qubits: int, n_layers: int) -> Circuit:
    """Encoding + PennyLane's ``BasicEntanglerLayers`` (RX rotations, CNOT ring)."""
    b = _encoded(n_qubits, f"basic-entangler({n_qubits}q, {n_layers}l)")
    for layer in range(n_layers):
        for wire in range(n_qubits):
            b.rotation("X", wire, slot=n_qubits + layer * n_qubits + wire)
        if n_qubits == 2:
            b.fixed("CNOT", (0, 1))
        elif n_qubits > 2:
            for wire in range(n_qubits):
                b.fixed("CNOT", (wire, (wire + 1) % n_qubits))
    return b.build(n_qubits + n_layers * n_qubits)


def random_pauli(n_qubits: int, n_layers: int, axes: np.ndarray) -> Circuit:
    """Encoding + McClean et al.'s random Pauli-rotation circuit.

    Args:
        n_qubits: number of qubits.
        n_layers: number of layers.
        axes: integer array ``(n_layers, n_qubits)`` with values in {0, 1, 2} for X, Y, Z.
    """
    axes = np.asarray(axes)
    if axes.shape != (n_layers, n_qubits) or not np.isin(axes, (0, 1, 2)).all():
        raise ValueError(
            f"axes must be an integer array of shape ({n_layers}, {n_qubits}) with values in "
            f"{{0, 1, 2}}, got shape {axes.shape}"
        )
    b = _encoded(n_qubits, f"random-pauli({n_qubits}q, {n_layers}l)")
    for wire in range(n_qubits):
        b.rotation("Y", wire, angle=math.pi / 4)
    for layer in range(n_layers):
        for wire in range(n_qubits):
            b.rotation(PAULIS[axes[layer, wire]], wire, slot=n_qubits + layer * n_qubits + wire)
        for wire in range(n_qubits - 1):
            b.fixed("CZ", (wire, wire + 1))
    return b.build(n_qubits + n_layers * n_qubits)


def draw_axes(n_qubits: int, n_layers: int, seed: int | None) -> np.ndarray:
    """Draw the rotation axes of a ``random-pauli`` circuit from ``seed`` (uniform over X, Y, Z)."""
    return np.random.default_rng(seed).integers(0, 3, size=(n_layers, n_qubits))


@dataclass(frozen=True)
class Ansatz:
    """A registered ansatz: its weight shape and how to build it."""

    name: str
    weights_per_qubit: int  # trailing weight dimension: 3 for Rot, 1 for a single rotation
    builder: Callable[..., Circuit]
    reference: str

    def weight_shape(self, n_qubits: int, n_layers: int) -> tuple[int, ...]:
        """Shape of the trainable weight tensor."""
        if self.weights_per_qubit == 1:
            return (n_layers, n_qubits)
        return (n_layers, n_qubits, self.weights_per_qubit)

    def build(self, n_qubits: int, n_layers: int, seed: int | None = None) -> Circuit:
        """Build the encoded circuit (``seed`` draws the axes of ``random-pauli``)."""
        check_n_qubits(n_qubits)
        check_n_layers(n_layers)
        if self.name == "random-pauli":
            return self.builder(n_qubits, n_layers, draw_axes(n_qubits, n_layers, seed))
        return self.builder(n_qubits, n_layers)

    def spec(self, n_qubits: int, n_layers: int, seed: int | None = None):
        """The encoded circuit in the circuit model: ``RY(pi x_i)`` on wire ``i``, then the ansatz.

        Its compiled circuit is :meth:`build`'s, slot for slot (inputs first, then the weights in
        row-major order).
        """
        from qgradbench.circuits.model import CircuitSpec, Gate, w, x

        circuit = self.build(n_qubits, n_layers, seed)
        n_weights = circuit.n_params - n_qubits
        gates = []
        for kind, item in circuit.sequence:
            if kind == "fixed":
                gates.extend(_fixed_gates(item))
                continue
            rot = circuit.rotations[item]
            if rot.slot is None:
                angle = rot.angle
            elif rot.slot < n_qubits:
                angle = math.pi * x[rot.slot]
            else:
                angle = w[rot.slot - n_qubits]
            gates.append(Gate(f"R{rot.pauli}", [rot.wire], [angle]))
        return CircuitSpec(
            n_qubits,
            gates,
            n_inputs=n_qubits,
            n_weights=n_weights,
            weight_shape=self.weight_shape(n_qubits, n_layers),
            name=circuit.name,
        )


def _fixed_gates(monomial) -> list:
    """The named gates a fixed run of the built-in ansatzes was compiled from."""
    from qgradbench.circuits.model import Gate

    out = []
    for label in monomial.names:
        name, wires = label.rstrip(")").split("(")
        out.append(Gate(name, [int(v) for v in wires.split(",")]))
    return out


ANSATZES: dict[str, Ansatz] = {
    a.name: a
    for a in (
        Ansatz("strongly-entangling", 3, strongly_entangling, "Schuld et al. 2020; PennyLane"),
        Ansatz("basic-entangler", 1, basic_entangler, "PennyLane BasicEntanglerLayers"),
        Ansatz("random-pauli", 1, random_pauli, "McClean et al. 2018"),
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


def check_n_layers(n_layers: object) -> int:
    """Validate a layer count (an integer >= 1) and return it."""
    if isinstance(n_layers, bool) or not isinstance(n_layers, int) or n_layers < 1:
        raise ValueError(f"n_layers must be an integer >= 1, got {n_layers!r}")
    return n_layers
