r"""A circuit of your own for qgradbench: data re-uploading with IsingZZ and CRX entanglers.

Import it with ``--plugin`` (a suite file never imports code by itself), from the repository::

    qgradbench run suite examples/custom_circuit/suite.yaml \
        --plugin examples/custom_circuit/mycircuit.py

It registers the ansatz ``mycircuit``: per layer ``l``, on every wire ``i``

* ``RY(a_li * x_i + b_li)``: the input ``x_i`` uploaded again in every layer, with a trainable
  scale and offset (Pérez-Salinas et al., "Data re-uploading for a universal quantum
  classifier", Quantum 4, 226, 2020);
* ``IsingZZ(c)`` on every neighbouring pair ``(i, i + 1 mod n)``: ``exp(-i c Z_i Z_j / 2)``;
* ``CRX(d)`` from wire ``i`` to wire ``i + 1 mod n`` (a controlled rotation: its shift rule
  has four terms, which qgradbench applies by itself).

Weights: per layer, ``(a, b)`` of every wire, then ``(c, d)`` of every pair; the weight tensor
has the shape ``(n_layers, 2 n_qubits + 2 n_pairs)`` (``n_pairs`` is ``n_qubits`` on a ring of
three or more wires, one for two wires). The circuit reads ``n_qubits`` inputs, one per wire.
"""

from __future__ import annotations

import qgradbench
from qgradbench.circuits.model import CircuitSpec, Gate, w, x


def ring(n_qubits: int) -> list[tuple[int, int]]:
    """Neighbouring pairs ``(i, i + 1 mod n)``: a ring, a single pair on two wires."""
    if n_qubits < 2:
        return []
    return [(i, (i + 1) % n_qubits) for i in range(n_qubits if n_qubits > 2 else 1)]


def reuploading_zz(n_qubits: int, n_layers: int, seed: int | None = None) -> CircuitSpec:
    """The circuit on ``n_qubits`` wires with ``n_layers`` layers (``seed`` is not used)."""
    pairs = ring(n_qubits)
    per_layer = 2 * n_qubits + 2 * len(pairs)
    gates = []
    for layer in range(n_layers):
        first = layer * per_layer
        for i in range(n_qubits):
            a, b = w[first + 2 * i], w[first + 2 * i + 1]
            gates.append(Gate("RY", [i], [a * x[i] + b]))
        for p, (i, j) in enumerate(pairs):
            k = first + 2 * n_qubits + 2 * p
            gates.append(Gate("IsingZZ", [i, j], [w[k]]))
            gates.append(Gate("CRX", [i, j], [w[k + 1]]))
    return CircuitSpec(
        n_qubits,
        gates,
        n_inputs=n_qubits,
        n_weights=n_layers * per_layer,
        weight_shape=(n_layers, per_layer),
        name=f"mycircuit({n_qubits}q, {n_layers}l)",
    )


qgradbench.register_circuit(
    "mycircuit", reuploading_zz, reference="examples/custom_circuit: re-uploading + IsingZZ + CRX"
)
