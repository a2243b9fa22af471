r"""Circuits of the field, written in the circuit model (:mod:`qgradbench.circuits.model`).

Each function returns a :class:`~qgradbench.circuits.model.CircuitSpec` for ``n_qubits`` and
``n_layers``; the ones registered as ansatzes (``ANSATZES`` in
:mod:`qgradbench.circuits.ansatz`) work as ``QuantumLayer(n_qubits, n_layers, ansatz=name)``,
whose input is then ``(batch, spec.n_inputs)``. Weights are read in row-major order of
``spec.weight_shape``: weight ``w[l, i, j]`` of a ``(n_layers, n_qubits, k)`` shape is
``w[k * (l * n_qubits + i) + j]`` of the flat vector.

* :func:`reuploading` (``reuploading``): the data re-uploading classifier of Pérez-Salinas
  et al. (2020), with trainable input scaling.
* :func:`iqp` (``iqp``): Havlíček et al.'s (2019) IQP feature map (PennyLane's
  ``IQPEmbedding``, two repeats) followed by ``StronglyEntanglingLayers``.
* :func:`hardware_efficient` (``hardware-efficient``): Kandala et al.'s (2017)
  hardware-efficient ansatz: RY and RZ on every qubit, then a CNOT ladder.
* :func:`tfim_hva` (``tfim-hva``): the Hamiltonian variational ansatz of the transverse-field
  Ising model (Wiersema et al. 2020), no inputs, measuring :func:`tfim_hamiltonian`.

Building blocks, lists of :class:`~qgradbench.circuits.model.Gate`: :func:`ry_encoding`,
:func:`strongly_entangling_layers`, :func:`iqp_embedding`.
"""

from __future__ import annotations

import itertools
import math
import numbers

from qgradbench.circuits.model import CircuitSpec, Gate, w, x
from qgradbench.circuits.pauli import PauliSum
from qgradbench.engine import check_n_qubits


def check_n_layers(n_layers: object) -> int:
    """Validate a layer count (an integer >= 1) and return it."""
    if isinstance(n_layers, bool) or not isinstance(n_layers, int) or n_layers < 1:
        raise ValueError(f"n_layers must be an integer >= 1, got {n_layers!r}")
    return n_layers


def _check(n_qubits: object, n_layers: object) -> None:
    check_n_qubits(n_qubits)
    check_n_layers(n_layers)


# ---------------------------------------------------------------------------- building blocks


def ry_encoding(n_qubits: int) -> list[Gate]:
    """``RY(pi * x_i)`` on wire ``i``: the angle encoding of the built-in layer."""
    return [Gate("RY", [i], [math.pi * x[i]]) for i in range(n_qubits)]


def strongly_entangling_layers(n_qubits: int, n_layers: int, first: int = 0) -> list[Gate]:
    """PennyLane's ``StronglyEntanglingLayers`` (default ranges, CNOT) on weights from ``first``.

    Schuld et al., "Circuit-centric quantum classifiers", PRA 101, 032308 (2020): per layer
    ``l``, ``Rot(w[l,i,0], w[l,i,1], w[l,i,2])`` on every wire ``i``, then
    ``CNOT(i, (i + r) mod n)`` for every ``i`` with range ``r = (l mod (n - 1)) + 1`` (no CNOT
    for one qubit). Weight ``w[l,i,j]`` is ``w[first + 3 (l n + i) + j]``.
    """
    gates = []
    for layer in range(n_layers):
        for wire in range(n_qubits):
            k = first + 3 * (layer * n_qubits + wire)
            gates.append(Gate("Rot", [wire], [w[k], w[k + 1], w[k + 2]]))
        if n_qubits > 1:
            r = layer % (n_qubits - 1) + 1
            gates.extend(Gate("CNOT", [i, (i + r) % n_qubits]) for i in range(n_qubits))
    return gates


def iqp_embedding(n_qubits: int, n_repeats: int = 2) -> list[Gate]:
    r"""PennyLane's ``IQPEmbedding(x, wires=range(n), n_repeats)`` with its default pattern.

    Havlíček et al., "Supervised learning with quantum-enhanced feature spaces", Nature 567, 209
    (2019): ``U_Phi(x) = exp(i sum_S phi_S(x) prod_{i in S} Z_i)`` after Hadamards, repeated.
    PennyLane's form, repeated ``n_repeats`` times: ``H`` then ``RZ(x_i)`` on every wire ``i``,
    then ``MultiRZ(x_i x_j)`` on every pair ``i < j`` (``MultiRZ(t) = exp(-i t Z_i Z_j / 2)``).
    """
    if isinstance(n_repeats, bool) or not isinstance(n_repeats, int) or n_repeats < 1:
        raise ValueError(f"n_repeats must be an integer >= 1, got {n_repeats!r}")
    gates = []
    for _ in range(n_repeats):
        for i in range(n_qubits):
            gates.append(Gate("Hadamard", [i]))
            gates.append(Gate("RZ", [i], [x[i]]))
        for i, j in itertools.combinations(range(n_qubits), 2):
            gates.append(Gate("MultiRZ", [i, j], [x[i] * x[j]]))
    return gates


def _ladder(name: str, n_qubits: int) -> list[Gate]:
    """``name(i, i + 1)`` for ``i = 0..n-2``: a nearest-neighbour ladder (none for one qubit)."""
    return [Gate(name, [i, i + 1]) for i in range(n_qubits - 1)]


# ---------------------------------------------------------------------------- circuits


def reuploading(n_qubits: int, n_layers: int) -> CircuitSpec:
    r"""The data re-uploading classifier with trainable input scaling, one feature per qubit.

    Pérez-Salinas et al., "Data re-uploading for a universal quantum classifier", Quantum 4, 226
    (2020): layer ``i`` is ``L(i) = U(theta_i + w_i o x)`` (the fused form of
    ``U(phi_i) U(x)``, with ``o`` the elementwise product), ``U`` a general rotation, and the
    data ``x`` padded to three angles as ``(x_1, x_2, 0)``; the multi-qubit classifier applies
    ``L(i)`` on every qubit and CZ gates between layers. Here qubit ``i`` reads feature ``x_i``
    in both data angles, so per layer ``l`` and qubit ``i``

    .. math:: \mathrm{Rot}(w_{li0} x_i + w_{li1},\; w_{li2} x_i + w_{li3},\; w_{li4})

    (PennyLane's ``Rot(phi, theta, omega) = RZ(omega) RY(theta) RZ(phi)``), followed, between
    layers (not after the last), by ``CZ(i, i + 1)`` for ``i = 0..n-2``. The data enters raw (no
    factor pi; the weights scale it). No separate encoding: inputs ``n_qubits`` features,
    weights ``(n_layers, n_qubits, 5)``.
    """
    _check(n_qubits, n_layers)
    gates = []
    for layer in range(n_layers):
        if layer:
            gates.extend(_ladder("CZ", n_qubits))
        for i in range(n_qubits):
            k = 5 * (layer * n_qubits + i)
            angles = [w[k] * x[i] + w[k + 1], w[k + 2] * x[i] + w[k + 3], w[k + 4]]
            gates.append(Gate("Rot", [i], angles))
    return CircuitSpec(
        n_qubits,
        gates,
        n_inputs=n_qubits,
        n_weights=5 * n_layers * n_qubits,
        weight_shape=(n_layers, n_qubits, 5),
        name=f"reuploading({n_qubits}q, {n_layers}l)",
    )


def iqp(n_qubits: int, n_layers: int) -> CircuitSpec:
    """Havlíček et al.'s IQP feature map, then trainable ``StronglyEntanglingLayers``.

    Havlíček et al., "Supervised learning with quantum-enhanced feature spaces", Nature 567, 209
    (2019), as PennyLane's ``IQPEmbedding(x, wires, n_repeats=2)`` (:func:`iqp_embedding`; the
    features enter raw, ``RZ(x_i)`` and ``MultiRZ(x_i x_j)``), followed by
    ``StronglyEntanglingLayers(w, wires)`` with weights ``(n_layers, n_qubits, 3)``
    (:func:`strongly_entangling_layers`). Inputs: ``n_qubits`` features.
    """
    _check(n_qubits, n_layers)
    gates = iqp_embedding(n_qubits, 2) + strongly_entangling_layers(n_qubits, n_layers)
    return CircuitSpec(
        n_qubits,
        gates,
        n_inputs=n_qubits,
        n_weights=3 * n_layers * n_qubits,
        weight_shape=(n_layers, n_qubits, 3),
        name=f"iqp({n_qubits}q, {n_layers}l)",
    )


def hardware_efficient(n_qubits: int, n_layers: int) -> CircuitSpec:
    """Encoding, then per layer ``RY``, ``RZ`` on every qubit and a CNOT ladder.

    Kandala et al., "Hardware-efficient variational quantum eigensolver for small molecules and
    quantum magnets", Nature 549, 242 (2017): layers of single-qubit rotations on every qubit
    alternating with an entangler native to the device. Here: ``RY(pi x_i)`` on qubit ``i``, then
    per layer ``l`` ``RY(w[l,i,0])`` and ``RZ(w[l,i,1])`` on every qubit ``i`` and
    ``CNOT(i, i + 1)`` for ``i = 0..n-2``. Inputs ``n_qubits``, weights ``(n_layers, n_qubits,
    2)``; the compiled slots are the inputs, then the weights in row-major order.
    """
    _check(n_qubits, n_layers)
    gates = ry_encoding(n_qubits)
    for layer in range(n_layers):
        for i in range(n_qubits):
            k = n_qubits * 2 * layer + 2 * i
            gates.append(Gate("RY", [i], [w[k]]))
            gates.append(Gate("RZ", [i], [w[k + 1]]))
        gates.extend(_ladder("CNOT", n_qubits))
    return CircuitSpec(
        n_qubits,
        gates,
        n_inputs=n_qubits,
        n_weights=2 * n_layers * n_qubits,
        weight_shape=(n_layers, n_qubits, 2),
        name=f"hardware-efficient({n_qubits}q, {n_layers}l)",
    )


def ring_edges(n_qubits: int) -> list[tuple[int, int]]:
    """Edges ``(i, (i + 1) mod n)`` of a ring; a single edge ``(0, 1)`` for two qubits."""
    if n_qubits == 2:
        return [(0, 1)]
    if n_qubits < 2:
        return []
    return [(i, (i + 1) % n_qubits) for i in range(n_qubits)]


def tfim_hamiltonian(n_qubits: int, h: float = 1.0) -> PauliSum:
    r"""The transverse-field Ising Hamiltonian on a ring, as a Pauli sum.

    .. math:: H = -\sum_{(i, j)} Z_i Z_j - h \sum_i X_i,

    over the ring's edges ``(i, (i + 1) mod n)`` (:func:`ring_edges`: one edge for two qubits,
    none for one): ferromagnetic coupling ``J = 1`` and transverse field ``h``; the critical
    point is ``h = 1``. This is the sign convention of Wiersema et al. (PRX Quantum 1, 020319,
    2020).

    Raises:
        ValueError: for a bad qubit count or a field that is not a finite real number.
    """
    check_n_qubits(n_qubits)
    if isinstance(h, bool) or not isinstance(h, numbers.Real) or not math.isfinite(h):
        raise ValueError(f"h must be a finite real number, got {h!r}")
    terms = [(-1.0, ((i, "Z"), (j, "Z"))) for i, j in ring_edges(n_qubits)]
    terms += [(-float(h), ((i, "X"),)) for i in range(n_qubits)]
    return PauliSum(tuple(terms))


def tfim_hva(n_qubits: int, n_layers: int) -> CircuitSpec:
    r"""The Hamiltonian variational ansatz of the transverse-field Ising model on a ring.

    Wiersema et al., "Exploring entanglement and optimization within the Hamiltonian variational
    ansatz", PRX Quantum 1, 020319 (2020): starting from ``|+>^n`` (the ground state of the field
    term), per layer ``l`` the exponentials of the two parts of :func:`tfim_hamiltonian`,

    .. math:: \prod_{(i,j)} \mathrm{IsingZZ}_{ij}(w_{l0}) \;\text{then}\;
              \prod_i \mathrm{RX}_i(w_{l1}),

    ``IsingZZ(t) = exp(-i t Z Z / 2)`` on every ring edge (one weight per layer shared by all
    of them) and ``RX(t) = exp(-i t X / 2)`` on every qubit (one shared weight per layer).
    No inputs (``n_inputs = 0``), weights ``(n_layers, 2)``, observable
    ``tfim_hamiltonian(n_qubits)`` (one output: the energy).

    Raises:
        ValueError: for fewer than two qubits (no coupling).
    """
    _check(n_qubits, n_layers)
    if n_qubits < 2:
        raise ValueError(f"tfim-hva needs n_qubits >= 2 (a ring of ZZ couplings), got {n_qubits}")
    gates = [Gate("Hadamard", [i]) for i in range(n_qubits)]
    for layer in range(n_layers):
        gates.extend(Gate("IsingZZ", list(edge), [w[2 * layer]]) for edge in ring_edges(n_qubits))
        gates.extend(Gate("RX", [i], [w[2 * layer + 1]]) for i in range(n_qubits))
    return CircuitSpec(
        n_qubits,
        gates,
        n_inputs=0,
        n_weights=2 * n_layers,
        observables=[tfim_hamiltonian(n_qubits)],
        weight_shape=(n_layers, 2),
        name=f"tfim-hva({n_qubits}q, {n_layers}l)",
    )


__all__ = [
    "check_n_layers",
    "hardware_efficient",
    "iqp",
    "iqp_embedding",
    "reuploading",
    "ring_edges",
    "ry_encoding",
    "strongly_entangling_layers",
    "tfim_hamiltonian",
    "tfim_hva",
]
