"""The built-in ansatzes as circuit-model specs, and the circuits of the field (library.py).

References: the builders the classic ansatzes had before the circuit model (copied below, as
they were at commit 37b95ad) for the compiled circuits; PennyLane (default.qubit, backprop and
adjoint, complex128, tolerance 1e-10) for the new circuits' values and gradients; closed forms
for the TFIM Hamiltonian.
"""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np
import pennylane as qml
import pytest
import torch

from qgradbench import QuantumLayer
from qgradbench.circuits import ANSATZES, draw_axes, get_ansatz, random_pauli
from qgradbench.circuits.ansatz import random_pauli_spec
from qgradbench.circuits.circuit import Block, Circuit, CircuitBuilder
from qgradbench.circuits.library import (
    hardware_efficient,
    iqp,
    reuploading,
    ring_edges,
    tfim_hamiltonian,
    tfim_hva,
)
from qgradbench.engine import PAULIS
from qgradbench.methods import names, shot_methods

CLASSIC = ("strongly-entangling", "basic-entangler", "random-pauli")
NEW = ("reuploading", "iqp", "hardware-efficient", "tfim-hva")
TOL = 1e-10


# ------------------------------------------------------------- the builders before the model


def _legacy_encoded(n: int, name: str) -> CircuitBuilder:
    b = CircuitBuilder(n, name)
    for wire in range(n):
        b.rotation("Y", wire, slot=wire)
    return b


def _legacy_strongly_entangling(n: int, n_layers: int, axes=None) -> Circuit:
    b = _legacy_encoded(n, f"strongly-entangling({n}q, {n_layers}l)")
    for layer in range(n_layers):
        for wire in range(n):
            first = n + 3 * (layer * n + wire)
            b.rot(wire, (first, first + 1, first + 2))
        if n > 1:
            r = layer % (n - 1) + 1
            for wire in range(n):
                b.fixed("CNOT", (wire, (wire + r) % n))
    return b.build(n + 3 * n_layers * n)


def _legacy_basic_entangler(n: int, n_layers: int, axes=None) -> Circuit:
    b = _legacy_encoded(n, f"basic-entangler({n}q, {n_layers}l)")
    for layer in range(n_layers):
        for wire in range(n):
            b.rotation("X", wire, slot=n + layer * n + wire)
        if n == 2:
            b.fixed("CNOT", (0, 1))
        elif n > 2:
            for wire in range(n):
                b.fixed("CNOT", (wire, (wire + 1) % n))
    return b.build(n + n_layers * n)


def _legacy_random_pauli(n: int, n_layers: int, axes) -> Circuit:
    b = _legacy_encoded(n, f"random-pauli({n}q, {n_layers}l)")
    for wire in range(n):
        b.rotation("Y", wire, angle=math.pi / 4)
    for layer in range(n_layers):
        for wire in range(n):
            b.rotation(PAULIS[axes[layer, wire]], wire, slot=n + layer * n + wire)
        for wire in range(n - 1):
            b.fixed("CZ", (wire, wire + 1))
    return b.build(n + n_layers * n)


LEGACY = {
    "strongly-entangling": _legacy_strongly_entangling,
    "basic-entangler": _legacy_basic_entangler,
    "random-pauli": _legacy_random_pauli,
}


def structure(circuit: Circuit) -> tuple:
    """A circuit's slots, rotations and ops (blocks' rotation ids; fixed gates' names)."""
    ops = tuple(
        ("block", op.wire, op.rotations) if isinstance(op, Block) else ("fixed", op.names)
        for op in circuit.ops
    )
    return circuit.n_qubits, circuit.n_params, circuit.name, circuit.rotations, ops


class TestClassicAnsatzes:
    """The classic ansatzes as specs compile to the circuits their builders made."""

    @pytest.mark.parametrize("name", CLASSIC)
    def test_compiled_circuit_is_the_builders(self, name):
        """Test that rotations (pauli, wire, slot, angle, scale), ops and slots are unchanged.

        The slots read theta = [pi x, weights.flatten()], as the builders' circuits did.
        """
        gen = torch.Generator().manual_seed(0)
        for n, n_layers in itertools.product(range(1, 6), range(1, 4)):
            axes = draw_axes(n, n_layers, 11)
            spec = get_ansatz(name).spec(n, n_layers, seed=11)
            new, angle_map = spec.compile()
            assert structure(new) == structure(LEGACY[name](n, n_layers, axes)), (n, n_layers)
            x = torch.rand(2, n, generator=gen, dtype=torch.float64)
            w = torch.rand(spec.n_weights, generator=gen, dtype=torch.float64)
            batched, shared = angle_map(x, w)
            torch.testing.assert_close(batched, math.pi * x, atol=0, rtol=0)
            torch.testing.assert_close(shared, w, atol=0, rtol=0)

    def test_random_pauli_with_given_axes(self):
        """Test that random_pauli(n, L, axes) compiles the builder's circuit for those axes."""
        axes = np.array([[0, 1, 2], [2, 2, 0]])
        assert structure(random_pauli(3, 2, axes)) == structure(_legacy_random_pauli(3, 2, axes))

    def test_random_pauli_axes_come_from_the_seed(self):
        """Test that random-pauli's axes are draw_axes(seed): equal seeds, equal circuits."""
        for seed in (0, 1, 2):
            circuit = get_ansatz("random-pauli").build(4, 3, seed=seed)
            trainable = [circuit.rotations[i].pauli for i in circuit.trainable[4:]]
            assert trainable == [PAULIS[a] for a in draw_axes(4, 3, seed).ravel()]

    def test_bad_axes(self):
        """Test that axes of the wrong shape or values raise a ValueError naming the shape."""
        with pytest.raises(ValueError, match=r"axes must be .* shape \(2, 3\).*got shape \(3, 2\)"):
            random_pauli_spec(3, 2, axes=np.zeros((3, 2), int))
        with pytest.raises(ValueError, match="values in"):
            random_pauli_spec(3, 2, axes=np.full((2, 3), 3))


class TestRegistry:
    """Every registered ansatz is a spec whose weight shape the registry knows."""

    @pytest.mark.parametrize("name", list(ANSATZES))
    def test_weight_shape_agrees_with_spec(self, name):
        """Test that Ansatz.weight_shape(n, L) is the spec's weight_shape and the layer's."""
        for n, n_layers in ((2, 1), (3, 2), (5, 3)):
            spec = get_ansatz(name).spec(n, n_layers, seed=0)
            shape = get_ansatz(name).weight_shape(n, n_layers)
            assert spec.weight_shape == shape and spec.n_weights == math.prod(shape)
            assert spec.n_qubits == n
        assert QuantumLayer(3, 2, ansatz=name).weights.shape == get_ansatz(name).weight_shape(3, 2)

    @pytest.mark.parametrize(
        "name,n_inputs",
        [("reuploading", 3), ("iqp", 3), ("hardware-efficient", 3), ("tfim-hva", 0)],
    )
    def test_inputs(self, name, n_inputs):
        """Test that each new circuit reads the documented number of input features."""
        assert get_ansatz(name).spec(3, 2).n_inputs == n_inputs

    @pytest.mark.parametrize("name", list(ANSATZES))
    def test_bad_sizes(self, name):
        """Test that bad qubit and layer counts raise a ValueError naming the value."""
        with pytest.raises(ValueError, match="n_qubits must be in"):
            get_ansatz(name).spec(0, 1)
        with pytest.raises(ValueError, match="n_layers must be an integer >= 1, got 0"):
            get_ansatz(name).spec(3, 0)

    def test_tfim_hva_needs_two_qubits(self):
        """Test that tfim-hva on one qubit raises a ValueError naming the count."""
        with pytest.raises(ValueError, match="n_qubits >= 2.*got 1"):
            tfim_hva(1, 2)


# ------------------------------------------------------------- the TFIM Hamiltonian


def _pauli_matrix(n: int, ops: dict[int, str]) -> np.ndarray:
    mats = {"X": np.array([[0, 1], [1, 0]]), "Z": np.diag([1, -1]), "I": np.eye(2)}
    return functools.reduce(np.kron, [mats[ops.get(i, "I")] for i in range(n)])


class TestTfimHamiltonian:
    """The Hamiltonian -sum Z_i Z_{i+1} - h sum X_i on a ring."""

    @pytest.mark.parametrize("n,edges", [(2, [(0, 1)]), (3, [(0, 1), (1, 2), (2, 0)])])
    def test_terms(self, n, edges):
        """Test the ring's edges (one for two qubits) and the terms' signs and field."""
        assert ring_edges(n) == edges
        terms = dict((word, c) for c, word in tfim_hamiltonian(n, h=0.7).terms)
        want = {tuple(sorted(((i, "Z"), (j, "Z")))): -1.0 for i, j in edges}
        want.update({((i, "X"),): -0.7 for i in range(n)})
        assert terms == want

    def test_ground_energy_two_qubits(self):
        """Test that at n = 2, h = 1 the ground energy is -sqrt(5), as diagonalising says."""
        h = tfim_hamiltonian(2)
        matrix = sum(c * _pauli_matrix(2, {wire: p for wire, p in word}) for c, word in h.terms)
        # H = -ZZ - X1 - X2 commutes with XX; in the even sector {|00>+|11>, |01>+|10>}
        # it is [[-1, -2], [-2, 1]], eigenvalues -sqrt(5), sqrt(5)
        assert np.linalg.eigvalsh(matrix)[0] == pytest.approx(-math.sqrt(5), abs=1e-12)

    def test_bad_field(self):
        """Test that a non-finite field raises a ValueError naming it."""
        with pytest.raises(ValueError, match="h must be a finite real number, got nan"):
            tfim_hamiltonian(3, h=math.nan)


# ------------------------------------------------------------- PennyLane equivalence


def _pl_reuploading(n, n_layers, x, w):
    for layer in range(n_layers):
        if layer:
            for i in range(n - 1):
                qml.CZ(wires=[i, i + 1])
        for i in range(n):
            p = w[layer, i]
            qml.Rot(p[0] * x[..., i] + p[1], p[2] * x[..., i] + p[3], p[4], wires=i)


def _pl_iqp(n, n_layers, x, w):
    qml.IQPEmbedding(x, wires=range(n), n_repeats=2)
    qml.StronglyEntanglingLayers(w, wires=range(n))


def _pl_hardware_efficient(n, n_layers, x, w):
    for i in range(n):
        qml.RY(math.pi * x[..., i], wires=i)
    for layer in range(n_layers):
        for i in range(n):
            qml.RY(w[layer, i, 0], wires=i)
            qml.RZ(w[layer, i, 1], wires=i)
        for i in range(n - 1):
            qml.CNOT(wires=[i, i + 1])


def _pl_tfim_hva(n, n_layers, x, w):
    for i in range(n):
        qml.Hadamard(wires=i)
    edges = [(0, 1)] if n == 2 else [(i, (i + 1) % n) for i in range(n)]
    for layer in range(n_layers):
        for i, j in edges:
            qml.IsingZZ(w[layer, 0], wires=[i, j])
        for i in range(n):
            qml.RX(w[layer, 1], wires=i)


def _pl_tfim_energy(n):
    edges = [(0, 1)] if n == 2 else [(i, (i + 1) % n) for i in range(n)]
    coeffs = [-1.0] * len(edges) + [-1.0] * n
    ops = [qml.PauliZ(i) @ qml.PauliZ(j) for i, j in edges] + [qml.PauliX(i) for i in range(n)]
    return [qml.expval(qml.Hamiltonian(coeffs, ops))]


PENNYLANE = {
    "reuploading": (_pl_reuploading, None),
    "iqp": (_pl_iqp, None),
    "hardware-efficient": (_pl_hardware_efficient, None),
    "tfim-hva": (_pl_tfim_hva, _pl_tfim_energy),
}


def pennylane_values_and_grads(name, n, n_layers, x, w, probe):
    """PennyLane's outputs and the gradients of ``sum(probe * outputs)`` w.r.t. x and w."""
    gates, measure = PENNYLANE[name]
    dev = qml.device("default.qubit", wires=n)

    @qml.qnode(dev, interface="torch", diff_method="backprop")
    def circuit(x, w):
        gates(n, n_layers, x, w)
        if measure is not None:
            return measure(n)
        return [qml.expval(qml.PauliZ(i)) for i in range(n)]

    x, w = x.clone().requires_grad_(), w.clone().requires_grad_()
    out = torch.stack([torch.stack(list(circuit(x[b], w))) for b in range(x.shape[0])])
    (out * probe).sum().backward()
    x_grad = x.grad if x.grad is not None else torch.zeros_like(x)  # no inputs: nothing flows
    return out.detach(), x_grad, w.grad


def ours_values_and_grads(name, n, n_layers, x, w, probe, method):
    """The library spec's outputs (its own observable) and gradients, by ``method``."""
    spec = get_ansatz(name).spec(n, n_layers)
    layer = QuantumLayer.from_circuit(spec, diff_method=method, dtype=torch.complex128)
    with torch.no_grad():
        layer.weights.copy_(w)
    x = x.clone().requires_grad_()
    out = layer(x)
    (out * probe).sum().backward()
    x_grad = x.grad if x.grad is not None else torch.zeros_like(x)  # no inputs: nothing flows
    return out.detach(), x_grad, layer.weights.grad


@pytest.mark.pennylane
@pytest.mark.parametrize("name", NEW)
@pytest.mark.parametrize("n", [3, 4])
def test_matches_pennylane(name, n):
    """Test that values and gradients (x, w) equal PennyLane's to 1e-10 (backprop, adjoint)."""
    n_layers = 2
    gen = torch.Generator().manual_seed(100 * n + len(name))
    spec = get_ansatz(name).spec(n, n_layers)
    x = 2 * torch.rand(2, spec.n_inputs, generator=gen, dtype=torch.float64) - 1
    w = 2 * math.pi * torch.rand(spec.weight_shape, generator=gen, dtype=torch.float64)
    n_out = n if name != "tfim-hva" else 1
    probe = torch.rand(2, n_out, generator=gen, dtype=torch.float64)
    want = pennylane_values_and_grads(name, n, n_layers, x, w, probe)
    for method in ("backprop", "adjoint"):
        got = ours_values_and_grads(name, n, n_layers, x, w, probe, method)
        for a, b in zip(got, want, strict=True):
            torch.testing.assert_close(a, b, atol=TOL, rtol=0)


# ------------------------------------------------------------- every method on every circuit

SHOTS = 200


def _layer(name, method, shots=None, observable="z-each"):
    if name == "tfim-hva" and observable == "z-each":  # <Z_i> = 0 by the Z2 symmetry of the HVA
        observable = tfim_hamiltonian(3)
    return QuantumLayer(
        3, 2, ansatz=name, diff_method=method, shots=shots, seed=3, dtype=torch.complex128,
        observable=observable,
    )  # fmt: skip


def _run(layer):
    gen = torch.Generator().manual_seed(5)
    x = (2 * torch.rand(4, layer.n_inputs, generator=gen, dtype=torch.float64) - 1).requires_grad_()
    out = layer(x)
    out.sum().backward()
    return out.detach(), x.grad, layer.weights.grad


@pytest.mark.parametrize("name", NEW)
def test_every_method_runs(name):
    """Test that QuantumLayer(ansatz=name) runs every method, exact ones equal to backprop.

    Exact analytic methods to 1e-10; finite differences to 1e-5 (forward stencil with the
    default step, truncation ~ h); SPSA only for shape and finiteness (random directions).
    """
    ref = _run(_layer(name, "backprop"))
    n_out = 1 if name == "tfim-hva" else 3
    assert ref[0].shape == (4, n_out)
    tol = {"finite-diff": 1e-5, "spsa": None}
    for method in names():
        out, x_grad, w_grad = _run(_layer(name, method))
        torch.testing.assert_close(out, ref[0], atol=TOL, rtol=0)
        assert torch.isfinite(w_grad).all() and w_grad.shape == ref[2].shape
        atol = tol.get(method, TOL)
        if atol is not None:
            torch.testing.assert_close(w_grad, ref[2], atol=atol, rtol=0)
            if x_grad is not None and ref[1] is not None:
                torch.testing.assert_close(x_grad, ref[1], atol=atol, rtol=0)


@pytest.mark.parametrize("name", NEW)
def test_every_shot_method_runs(name):
    """Test that every shot method runs with shots: estimates near exact, finite gradients.

    Every output is one Pauli word (tfim-hva: Z0 Z1 and X0, words of its Hamiltonian, two
    measurement groups; shot-adjoint samples single words only), the mean of N_g = SHOTS / G
    outcomes +-1, so its standard deviation is at most 1 / sqrt(SHOTS / G); the test allows 6.
    """
    observable = ["Z0 Z1", "X0"] if name == "tfim-hva" else "z-each"
    exact = _run(_layer(name, "backprop", observable=observable))[0]
    groups = 2 if name == "tfim-hva" else 1
    bound = 6 / math.sqrt(SHOTS / groups)
    shape = get_ansatz(name).weight_shape(3, 2)
    for method in shot_methods():
        out, _, w_grad = _run(_layer(name, method, SHOTS, observable))
        assert out.shape == exact.shape and (out - exact).abs().max() <= bound, method
        assert torch.isfinite(w_grad).all() and w_grad.shape == shape, method


def test_tfim_hva_takes_no_inputs():
    """Test that the tfim-hva layer takes (batch, 0), (0,) and (a, b, 0) inputs."""
    layer = _layer("tfim-hva", "adjoint")
    assert layer(torch.zeros(5, 0)).shape == (5, 1)
    assert layer(torch.zeros(0)).shape == (1,)
    assert layer(torch.zeros(2, 3, 0)).shape == (2, 3, 1)
    assert layer(torch.zeros(0, 0)).shape == (0, 1)


def test_tfim_hva_energy_is_the_spec_default():
    """Test that the spec measures tfim_hamiltonian: |+>^n at zero angles has energy -h n."""
    spec = tfim_hva(4, 1)
    layer = QuantumLayer.from_circuit(spec, dtype=torch.complex128)
    with torch.no_grad():
        layer.weights.zero_()
    assert layer(torch.zeros(1, 0)).item() == pytest.approx(-4.0, abs=1e-12)


def test_library_functions_match_registry():
    """Test that the registry's new names run the library's functions."""
    for name, function in zip(NEW, (reuploading, iqp, hardware_efficient, tfim_hva), strict=True):
        assert get_ansatz(name).function is function


def test_tfim_hva_layer_measures_its_hamiltonian_by_default():
    """Test that QuantumLayer(ansatz="tfim-hva") measures the Hamiltonian, not z-each."""
    layer = QuantumLayer(4, 2, ansatz="tfim-hva", seed=3, dtype=torch.complex128)
    reference = QuantumLayer.from_circuit(tfim_hva(4, 2), seed=3, dtype=torch.complex128)
    x = torch.zeros(1, 0, dtype=torch.float64)
    assert layer.n_outputs == 1
    torch.testing.assert_close(layer(x), reference(x), rtol=0, atol=1e-12)
    assert abs(float(layer(x).detach())) > 1e-3  # <Z_i> would be exactly 0 on this circuit
