"""The circuit model against the outside world: PennyLane, closed-form shot statistics, errors.

* **PennyLane agreement** (marked ``pennylane``): random circuits over the whole gate set
  (:data:`~qgradbench.circuits.model.GATES`, aliases included) with re-uploaded inputs, shared
  weights, trainable input scaling ``w_k x_j``, input products ``x_i x_j``, random
  ``QubitUnitary`` and ``PauliRot`` words, measured on random real Pauli sums, built a second
  time as a PennyLane QNode (default.qubit, torch, backprop) from the same gate list. Values and
  Jacobians with respect to both inputs and weights agree to 1e-10 in complex128 and 1e-5 in
  complex64 for every exact method.
* **Shot statistics**: the four-term rule of a controlled rotation, the two-term rule, the
  Hadamard test of a lowered gate and shot-adjoint, each against its closed-form mean and
  variance; the cost accounting of the general rules.
* **Grouped measurement** (:mod:`qgradbench.circuits.pauli`): the estimate of a Pauli sum
  measured in qubit-wise commuting groups is unbiased with variance ``sum_g Var_g(D_g) / N_g``,
  and the weighted shot split beats the uniform one where the theory says it does.
* **Errors** and **parsing** of the model's inputs.

Statistical tests use fixed seeds and ``R`` repetitions of an estimator of mean ``mu`` and
variance ``s2`` in one batched call: the sample mean must lie within ``5 sqrt(s2 / R)`` of
``mu`` and the sample variance within 5 of its standard errors
(:func:`~qgradbench.experiments.common.variance_se`, from the fourth central moment, which
holds for any distribution to leading order) of ``s2``: a false failure has probability below
``1e-6`` per check.
"""

from __future__ import annotations

import functools
import math
import operator
from dataclasses import dataclass

import numpy as np
import pennylane as qml
import pytest
import torch

from qgradbench import QuantumLayer
from qgradbench.backend import Execution
from qgradbench.circuits.model import ALIASES, GATES, Angle, CircuitSpec, Gate, w, x
from qgradbench.circuits.pauli import PauliObservable, PauliSum
from qgradbench.circuits.schedule import DiagonalStage, FusedStage
from qgradbench.engine.statevector import GATHER_QUBITS
from qgradbench.experiments.common import method_jacobian, variance_se
from qgradbench.methods import adjoint_jacobian
from qgradbench.methods.parameter_shift import KICK_QUBITS

TOL = {torch.complex64: 1e-5, torch.complex128: 1e-10}
EXACT = ("backprop", "adjoint", "parameter-shift", "hadamard", "shot-adjoint")
#: Gates whose every parameter drives one Pauli rotation of scale 1 (the kicked paths' slots).
SIMPLE_GATES = tuple(
    name
    for name in ("RX", "RY", "RZ", "PhaseShift", "U1", "Rot", "U3", "U2", "PauliRot", "MultiRZ")
    + ("IsingXX", "IsingYY", "IsingZZ")
)
FIXED_GATES = tuple(name for name, g in GATES.items() if not g.parametrised)
_ALIAS_OF = {canonical: alias for alias, canonical in ALIASES.items()}
_PL_PAULI = {"X": qml.PauliX, "Y": qml.PauliY, "Z": qml.PauliZ}


# ----------------------------------------------------------------------- random circuits


@dataclass(frozen=True)
class RandomCircuit:
    """A drawn circuit: the spec, and its observables as drawn (for PennyLane).

    Attributes:
        spec: the circuit model's spec.
        sums: per output, ``(coeff, ((wire, pauli), ...))`` terms (the empty word: identity).
    """

    spec: CircuitSpec
    sums: tuple[tuple[tuple[float, tuple[tuple[int, str], ...]], ...], ...]


def haar_unitary(rng: np.random.Generator, dim: int) -> np.ndarray:
    """A Haar-random unitary: QR of a complex Gaussian matrix, phases of R's diagonal fixed."""
    z = rng.normal(size=(dim, dim)) + 1j * rng.normal(size=(dim, dim))
    q, r = np.linalg.qr(z)
    return q * (np.diag(r) / np.abs(np.diag(r)))


def random_angle(rng: np.random.Generator, n_inputs: int, n_weights: int) -> Angle:
    """A constant, ``a x_j + b``, ``w_k``, ``c w_k x_j``, ``x_i x_j`` or ``a x_j + c w_k + b``."""
    j, m = (int(v) for v in rng.integers(n_inputs, size=2))
    k = int(rng.integers(n_weights))
    a, b, c = rng.uniform(-2, 2), rng.uniform(-math.pi, math.pi), rng.uniform(0.5, 1.5)
    kind = int(rng.integers(6))
    return [
        b,
        a * x[j] + b,
        w[k],
        c * w[k] * x[j],
        x[j] * x[m],
        a * x[j] + c * w[k] + b,
    ][kind]


def random_gate(rng: np.random.Generator, names, n_qubits: int, n_inputs: int, n_weights: int):
    """One gate drawn from ``names`` on random wires with random angles."""
    name = str(rng.choice([g for g in names if (GATES[g].n_wires or 1) <= n_qubits]))
    spec = GATES[name]
    n_wires = spec.n_wires or int(rng.integers(1, min(3, n_qubits) + 1))
    wires = [int(v) for v in rng.choice(n_qubits, size=n_wires, replace=False)]
    params = [random_angle(rng, n_inputs, n_weights) for _ in range(spec.n_params)]
    word = "".join(rng.choice(list("IXYZ"), size=n_wires)) if name == "PauliRot" else None
    matrix = haar_unitary(rng, 2**n_wires) if name == "QubitUnitary" else None
    if name in _ALIAS_OF and rng.random() < 0.5:
        name = _ALIAS_OF[name]
    return Gate(name, wires, params, word=word, matrix=matrix)


def random_pauli_sum(rng: np.random.Generator, n_qubits: int, paulis: str):
    """1-3 words on 1-3 random wires with coefficients in [-1, 1], and maybe a constant."""
    terms = []
    for _ in range(int(rng.integers(1, 4))):
        size = int(rng.integers(1, min(3, n_qubits) + 1))
        wires = sorted(int(v) for v in rng.choice(n_qubits, size=size, replace=False))
        word = tuple((v, str(rng.choice(list(paulis)))) for v in wires)
        terms.append((round(float(rng.uniform(-1, 1)), 3), word))
    if rng.random() < 0.5:
        terms.append((round(float(rng.uniform(-1, 1)), 3), ()))
    return tuple(terms)


def pauli_sum_text(terms) -> str:
    """``terms`` written as the parser reads them: ``"0.25 Z0 X2 - 0.5 Y1 + 0.1"``."""
    text = ""
    for coeff, word in terms:
        name = " ".join(f"{p}{v}" for v, p in word)
        text += f" {'-' if coeff < 0 else '+'} {abs(coeff)} {name}"
    return text.strip().removeprefix("+ ")


def random_circuit(
    seed: int,
    n_qubits: int,
    n_gates: int,
    names: tuple[str, ...] = tuple(GATES),
    paulis: str = "XYZ",
) -> RandomCircuit:
    """A random circuit of the model: an encoding layer, then ``n_gates`` gates from ``names``.

    The encoding layer is one ``RX`` or ``RY`` of ``a x_j + b`` per wire (inputs re-uploaded:
    2-3 inputs over all wires); the other gates' angles are drawn by :func:`random_angle` from
    ``max(2, n_gates // 4)`` weights, so weights are shared. Observables: 1-3 random Pauli sums
    over ``paulis``, half of them passed as :class:`PauliSum`, half as strings.
    """
    rng = np.random.default_rng(seed)
    n_inputs, n_weights = int(rng.integers(2, 4)), max(2, n_gates // 4)
    gates = [
        Gate(str(rng.choice(["RX", "RY"])), [v], [rng.uniform(0.5, 2) * x[v % n_inputs] + 0.1])
        for v in range(n_qubits)
    ]
    gates += [random_gate(rng, names, n_qubits, n_inputs, n_weights) for _ in range(n_gates)]
    sums = tuple(random_pauli_sum(rng, n_qubits, paulis) for _ in range(int(rng.integers(1, 4))))
    observables = [
        PauliSum(terms) if i % 2 else pauli_sum_text(terms) for i, terms in enumerate(sums)
    ]
    spec = CircuitSpec(
        n_qubits, gates, n_inputs=n_inputs, n_weights=n_weights, observables=observables
    )
    return RandomCircuit(spec, sums)


# ----------------------------------------------------------------------- PennyLane twin


def angle_value(angle: Angle, xs: torch.Tensor, ws: torch.Tensor) -> torch.Tensor:
    """The angle's value for one sample's inputs ``xs`` and the weights ``ws``."""
    value = torch.tensor(angle.const, dtype=torch.float64)
    for j, a in angle.inputs:
        value = value + a * xs[j]
    for k, b in angle.weights:
        value = value + b * ws[k]
    for j, k, c in angle.products:
        value = value + c * xs[j] * ws[k]
    for j, m, d in angle.input_products:
        value = value + d * xs[j] * xs[m]
    return value


def pennylane_hamiltonian(terms):
    """A :class:`PauliSum`'s drawn ``terms`` as a PennyLane operator."""
    ops = [
        functools.reduce(operator.matmul, [_PL_PAULI[p](v) for v, p in word])
        if word
        else qml.Identity(0)
        for _, word in terms
    ]
    return qml.dot([c for c, _ in terms], ops)


def pennylane_function(rc: RandomCircuit):
    """``f(x (B, n_inputs), w (n_weights,)) -> (B, n_out)``: the circuit as a PennyLane QNode.

    Every gate is PennyLane's own operation of the same name (``getattr(qml, name)``), with
    ``PauliRot``'s word and ``QubitUnitary``'s matrix, at angles evaluated from the gate's
    :class:`Angle` terms; the observables are built from the drawn terms, not the parsed ones.
    """
    spec = rc.spec
    dev = qml.device("default.qubit", wires=spec.n_qubits)
    hamiltonians = [pennylane_hamiltonian(terms) for terms in rc.sums]

    @qml.qnode(dev, interface="torch", diff_method="backprop")
    def circuit(xs, ws):
        for gate in spec.gates:
            values = [angle_value(a, xs, ws) for a in gate.params]
            if gate.name == "PauliRot":
                qml.PauliRot(values[0], gate.word, wires=gate.wires)
            elif gate.name == "QubitUnitary":
                qml.QubitUnitary(gate.matrix, wires=gate.wires)
            else:
                getattr(qml, gate.name)(*values, wires=gate.wires)
        return [qml.expval(h) for h in hamiltonians]

    def f(xb, wv):
        return torch.stack([torch.stack(list(circuit(xs, wv))) for xs in xb])

    return f


@functools.cache
def case(seed: int, n_qubits: int, n_gates: int, names=tuple(GATES), paulis="XYZ", batch=2):
    """A random circuit, inputs, weights, and PennyLane's values and Jacobians (float64)."""
    rc = random_circuit(seed, n_qubits, n_gates, names, paulis)
    gen = torch.Generator().manual_seed(seed)
    xb = 2 * torch.rand(batch, rc.spec.n_inputs, generator=gen, dtype=torch.float64) - 1
    wv = 2 * math.pi * torch.rand(rc.spec.n_weights, generator=gen, dtype=torch.float64)
    f = pennylane_function(rc)
    jac_x, jac_w = torch.autograd.functional.jacobian(f, (xb, wv))
    return rc, xb, wv, (f(xb, wv).detach(), jac_x, jac_w)


def layer_jacobian(layer: QuantumLayer, xb: torch.Tensor):
    """The layer's output and its Jacobians with respect to the inputs and the weights."""
    wv = layer.weights.detach().clone()

    def f(x_, w_):
        return torch.func.functional_call(layer, {"weights": w_}, (x_,))

    jac_x, jac_w = torch.autograd.functional.jacobian(f, (xb, wv))
    return f(xb, wv).detach(), jac_x, jac_w


def assert_agrees(rc, xb, wv, reference, method, dtype, tol, **options):
    """The layer's values and Jacobians (inputs and weights) equal ``reference`` within ``tol``."""
    layer = QuantumLayer.from_circuit(rc.spec, diff_method=method, dtype=dtype, seed=0, **options)
    with torch.no_grad():
        layer.weights.copy_(wv)
    value, jac_x, jac_w = layer_jacobian(layer, xb.to(layer.weights.dtype))
    for ours, theirs in zip((value, jac_x, jac_w), reference, strict=True):
        torch.testing.assert_close(ours.double(), theirs, atol=tol, rtol=0)


# (seed, n_qubits, n_gates): every gate of GATES appears in these circuits (checked below).
RANDOM_CASES = [(0, 2, 20), (1, 3, 40), (2, 3, 30), (3, 4, 35), (4, 5, 25), (5, 6, 20)]


@pytest.mark.pennylane
class TestRandomCircuits:
    """Random circuits over the whole gate set against PennyLane, 2-6 qubits."""

    def test_cases_cover_the_model(self):
        """Test that the drawn circuits use every gate, re-upload inputs and share weights."""
        used = set()
        for seed, n, n_gates in RANDOM_CASES:
            spec = random_circuit(seed, n, n_gates).spec
            used |= {g.name for g in spec.gates}
            angles = [a for g in spec.gates for a in g.params]
            inputs = [j for a in angles for j in _uses(a, "input")]
            weights = [k for a in angles for k in _uses(a, "weight")]
            assert all(inputs.count(j) >= 2 for j in range(spec.n_inputs))  # re-uploaded
            assert max(map(weights.count, weights)) >= 2  # a weight shared by gates
            kinds = {kind for g in spec.gates for a in g.params for kind in _kinds(a)}
            assert kinds == {"const", "inputs", "weights", "products", "input_products"}
        assert used == set(GATES)

    @pytest.mark.parametrize("method", EXACT)
    @pytest.mark.parametrize("dtype", [torch.complex64, torch.complex128], ids=["c64", "c128"])
    @pytest.mark.parametrize("seed,n,n_gates", RANDOM_CASES)
    def test_values_and_jacobians(self, method, dtype, seed, n, n_gates):
        """Test that values and Jacobians (inputs and weights) equal PennyLane's."""
        rc, xb, wv, reference = case(seed, n, n_gates)
        assert_agrees(rc, xb, wv, reference, method, dtype, TOL[dtype])

    @pytest.mark.parametrize("seed,n,n_gates", RANDOM_CASES[:3])
    def test_finite_diff(self, seed, n, n_gates):
        """Test that 4th-order central differences agree within a loose 1e-7 (complex128).

        Their error per slot is ``h^4/30 |f^(5)| + 1.5 eps/h`` (about ``2e-12`` with the default
        ``h = eps^(1/5)``), times the observable's norm (at most 4) and the chain rule's sum
        over the angles a variable enters (below 100 here): under ``1e-9``.
        """
        rc, xb, wv, reference = case(seed, n, n_gates)
        options = {"strategy": "central", "approx_order": 4}
        assert_agrees(rc, xb, wv, reference, "finite-diff", torch.complex128, 1e-7, **options)


def _uses(angle: Angle, kind: str) -> list[int]:
    """The inputs (or weights) an angle reads, once per term."""
    if kind == "input":
        pairs = [j for j, _, _ in angle.input_products] + [m for _, m, _ in angle.input_products]
        return [j for j, _ in angle.inputs] + [j for j, _, _ in angle.products] + pairs
    return [k for k, _ in angle.weights] + [k for _, k, _ in angle.products]


def _kinds(angle: Angle) -> set[str]:
    kinds = {"const"} if angle.is_constant else set()
    return kinds | {
        k for k in ("inputs", "weights", "products", "input_products") if getattr(angle, k)
    }


#: Gates whose lowering is Z rotations between monomials: runs of them are diagonal layers.
DIAGONAL_GATES = (
    "IsingZZ",
    "MultiRZ",
    "CRZ",
    "ControlledPhaseShift",
    "RZ",
    "PhaseShift",
    "U1",
    "CZ",
    "S",
    "T",
    "PauliZ",
)

# (seed, n_qubits, n_gates, gate names, Paulis of the observables)
LARGE_CASES = {
    "kicked": (10, KICK_QUBITS, 14, SIMPLE_GATES + FIXED_GATES, "Z"),
    "mixed-diagonal": (11, KICK_QUBITS, 12, tuple(GATES), "Z"),
    "non-diagonal": (12, KICK_QUBITS, 12, tuple(GATES), "XYZ"),
    "gather": (13, GATHER_QUBITS, 10, tuple(GATES), "XYZ"),
    "diagonal": (14, GATHER_QUBITS, 16, DIAGONAL_GATES + ("RX", "Hadamard", "CRX"), "XZ"),
}


@pytest.mark.pennylane
@pytest.mark.parametrize("method", EXACT[:4])  # shot-adjoint without shots is the adjoint
@pytest.mark.parametrize("name", list(LARGE_CASES))
def test_large_registers(method, name):
    """Test that circuits on 7+ qubits (kicked rules, fused layers, gathers) equal PennyLane's.

    ``kicked``: only plain rotations and a Z-only observable, so parameter-shift and the
    Hadamard test take their pi-kicked paths for every slot; ``mixed-diagonal``: controlled
    rotations too, so parameter-shift splits the slots between the kicked and the general
    rule; ``non-diagonal``: the general paths; ``gather``: monomials by gather; ``diagonal``:
    mostly gates that lower to Z rotations between monomials, which the schedule applies as
    diagonal layers (one phase multiply per run). Every circuit's schedule has fused layers
    (runs of blocks on distinct wires applied by wire groups) or diagonal layers.
    """
    seed, n, n_gates, names, paulis = LARGE_CASES[name]
    rc, xb, wv, reference = case(seed, n, n_gates, names, paulis)
    circuit, angle_map = rc.spec.compiled
    observable = rc.spec.observable()
    stages = circuit.schedule(angle_map.n_batched).stages
    kinds = {type(stage) for stage in stages}
    assert kinds & {FusedStage, DiagonalStage}
    if name == "diagonal":
        assert DiagonalStage in kinds
    if name == "kicked":
        assert circuit.all_simple and observable.diagonal
    if name == "mixed-diagonal":
        assert observable.diagonal and 0 < circuit.simple_slots.sum() < circuit.n_params
    if name == "non-diagonal":
        assert not observable.diagonal
    assert_agrees(rc, xb, wv, reference, method, torch.complex128, TOL[torch.complex128])


# ----------------------------------------------------------------------- shot statistics

R = 4000  # repetitions of each estimator, rows of one batched call
N = 100  # shots per circuit
T = 0.7  # the differentiated angle
#: The four-term rule of a controlled rotation (frequencies 1/2 and 1): Wierichs et al. 2022,
#: Eq. (8) with R = 2, Omega = 1/2: shifts (2 mu - 1) pi / 2 and
#: d_mu = (-1)^(mu - 1) / (8 sin^2((2 mu - 1) pi / 8)) = (sqrt2 +- 1) / (4 sqrt2).
FOUR_TERM_SHIFTS = (math.pi / 2, 3 * math.pi / 2)
FOUR_TERM_COEFFS = (
    (math.sqrt(2) + 1) / (4 * math.sqrt(2)),
    -(math.sqrt(2) - 1) / (4 * math.sqrt(2)),
)


def crx_spec(decomposed: bool = False) -> CircuitSpec:
    """Two qubits around ``CRX(w_0)`` on wires (0, 1), measured on ``X_0 Z_1`` (one group).

    The control is in superposition and measured off its Z axis, so both frequencies 1/2 and
    1 appear along ``w_0``. ``decomposed``: the CRX replaced by its lowering
    ``RX(w_0) CZ RX(w_1) CZ`` on the target (at ``w = (t/2, -t/2)`` the same circuit), whose
    two rotation derivatives the Hadamard test estimates one circuit each.
    """
    middle = (
        [Gate("RX", [1], [w[0]]), Gate("CZ", [0, 1]), Gate("RX", [1], [w[1]]), Gate("CZ", [0, 1])]
        if decomposed
        else [Gate("CRX", [0, 1], [w[0]])]
    )
    gates = [Gate("RY", [0], [1.1]), Gate("RX", [1], [0.4]), *middle, Gate("RY", [1], [0.3])]
    return CircuitSpec(2, gates, n_weights=1 + decomposed, observables=["X0 Z1"])


def rx_spec() -> CircuitSpec:
    """Two entangled qubits with one plain ``RX(w_0)``, measured on ``Z_0 Z_1``."""
    gates = [
        Gate("RY", [0], [0.8]),
        Gate("CNOT", [0, 1]),
        Gate("RX", [1], [w[0]]),
        Gate("RY", [1], [0.5]),
    ]
    return CircuitSpec(2, gates, n_weights=1, observables=["Z0 Z1"])


def ry_spec() -> CircuitSpec:
    """A plain ``RY(w_0)`` between rotations off its axis: ``A = (f(t) + f(t + pi)) / 2 != 0``."""
    gates = [
        Gate("RX", [0], [1.1]),
        Gate("RY", [1], [1.0]),
        Gate("RY", [0], [w[0]]),
        Gate("CNOT", [0, 1]),
        Gate("RX", [0], [0.9]),
    ]
    return CircuitSpec(2, gates, n_weights=1, observables=["Z0"])


def exact_values(spec: CircuitSpec, thetas) -> torch.Tensor:
    """Exact ``<O>`` of the spec's circuit at each angle vector of ``thetas``."""
    circuit, _ = spec.compiled
    theta = torch.as_tensor(thetas, dtype=torch.float64).reshape(-1, circuit.n_params)
    return Execution(circuit, spec.observable(), torch.complex128).expval(theta)[:, 0]


def exact_derivative(spec: CircuitSpec, t: float) -> float:
    """``d<O>/dw_0`` at ``w_0 = t``, by autograd through the simulator (backprop)."""
    theta = torch.tensor([[t]], dtype=torch.float64, requires_grad=True)
    circuit, _ = spec.compiled
    value = Execution(circuit, spec.observable(), torch.complex128).expval(theta)
    return float(torch.autograd.grad(value.sum(), theta)[0])


def sampled_entries(spec: CircuitSpec, method: str, t: float = T, seed: int = 5, **options):
    """``R`` independent shot estimates of ``d<O>/dw_0`` at ``t``, one batched call."""
    layer = QuantumLayer.from_circuit(
        spec, diff_method=method, shots=N, seed=seed, dtype=torch.complex128, **options
    )
    theta = torch.tensor([[t]], dtype=torch.float64).repeat(R, 1)
    jac = method_jacobian(layer.method, layer.execution, theta, np.array([0]))
    return jac[:, 0, 0].numpy()


def assert_statistics(samples: np.ndarray, mean: float, var: float):
    """Sample mean within 5 of its standard errors of ``mean``, sample variance of ``var``."""
    mean_tol = 5 * math.sqrt(var / len(samples))
    assert abs(samples.mean() - mean) <= mean_tol, (samples.mean(), mean, mean_tol)
    var_tol = 5 * variance_se(samples)
    assert abs(samples.var(ddof=1) - var) <= var_tol, (samples.var(ddof=1), var, var_tol)


class TestShotStatistics:
    """Shot estimates of one slot against their closed-form mean and variance."""

    @pytest.mark.parametrize(
        "method,options",
        [("parameter-shift", {}), ("shot-adjoint", {"match": "parameter-shift"})],
    )
    def test_four_term_rule_of_crx(self, method, options):
        """Test that a CRX entry has mean f'(t) and the four-term rule's variance.

        ``g = sum_mu d_mu (f(t + y_mu) - f(t - y_mu))`` from four circuits of ``N`` shots each,
        every ``f`` the mean of ``N`` ``+-1`` outcomes (``Var f = 1 - f^2``), so
        ``Var g = sum_mu d_mu^2 (Var f(t + y_mu) + Var f(t - y_mu)) / N``.
        """
        spec = crx_spec()
        assert spec.compiled[0].slot_frequencies == ((0.5, 1.0),)
        plus = exact_values(spec, [T + y for y in FOUR_TERM_SHIFTS]).numpy()
        minus = exact_values(spec, [T - y for y in FOUR_TERM_SHIFTS]).numpy()
        d = np.array(FOUR_TERM_COEFFS)
        g = exact_derivative(spec, T)
        assert abs(np.sum(d * (plus - minus)) - g) < 1e-12  # the closed-form rule is exact
        var = np.sum(d**2 * ((1 - plus**2) + (1 - minus**2))) / N
        assert_statistics(sampled_entries(spec, method, **options), g, var)

    def test_two_term_rule_of_rx(self):
        """Test that a plain RX entry has mean f'(t), variance (Var f(t+pi/2) + Var f(t-pi/2))/4N.

        The two-term rule ``(f(t + pi/2) - f(t - pi/2)) / 2`` of two circuits of ``N`` shots.
        """
        spec = rx_spec()
        f_plus, f_minus = exact_values(spec, [T + math.pi / 2, T - math.pi / 2]).numpy()
        var = ((1 - f_plus**2) + (1 - f_minus**2)) / (4 * N)
        assert_statistics(sampled_entries(spec, "parameter-shift"), exact_derivative(spec, T), var)

    @pytest.mark.parametrize(
        "method,options", [("hadamard", {}), ("shot-adjoint", {"match": "hadamard"})]
    )
    def test_hadamard_test_of_crx(self, method, options):
        """Test that a CRX entry's Hadamard test is the sum of its two rotations' tests.

        CRX(t) is lowered to ``RX(t/2) CZ RX(-t/2) CZ`` on the target; each rotation ``r`` has
        its Hadamard-test circuit of ``N`` shots, with mean ``g_r = d<O>/d angle_r`` and
        variance ``(1 - g_r^2) / N``, and the entry is ``g_1 / 2 - g_2 / 2``: variance
        ``((1 - g_1^2) + (1 - g_2^2)) / (4N)``. ``g_r`` come from the decomposed circuit.
        """
        spec, decomposed = crx_spec(), crx_spec(decomposed=True)
        angles = torch.tensor([[T / 2, -T / 2]], dtype=torch.float64)
        circuit, _ = decomposed.compiled
        execution = Execution(circuit, decomposed.observable(), torch.complex128)
        torch.testing.assert_close(execution.expval(angles)[:, 0], exact_values(spec, [T]))
        g1, g2 = adjoint_jacobian(execution, angles)[0, 0].tolist()
        assert abs(g1 / 2 - g2 / 2 - exact_derivative(spec, T)) < 1e-12
        var = ((1 - g1**2) + (1 - g2**2)) / (4 * N)
        assert_statistics(sampled_entries(spec, method, **options), g1 / 2 - g2 / 2, var)

    @pytest.mark.parametrize(
        "method,options,match",
        [
            ("hadamard", {}, "hadamard"),
            ("shot-adjoint", {"match": "hadamard"}, "hadamard"),
            ("parameter-shift", {}, "parameter-shift"),
            ("shot-adjoint", {"match": "parameter-shift"}, "parameter-shift"),
        ],
    )
    def test_plain_ry_slot(self, method, options, match):
        """Test that an RY entry follows the estimator's closed form (shot_adjoint.py).

        Hadamard test: mean ``g``, variance ``(1 - g^2) / N``. Two-term rule: ``f(t +- pi/2)
        = A +- g`` with ``A = (f(t) + f(t + pi)) / 2``, variance ``(1 - A^2 - g^2) / (2N)``.
        Shot-adjoint draws its entries from the same distributions.
        """
        spec = ry_spec()
        g = exact_derivative(spec, T)
        if match == "hadamard":
            var = (1 - g**2) / N
        else:
            a = float(exact_values(spec, [T, T + math.pi]).mean())
            assert abs(a) > 0.5  # A^2 is a third of 1 - g^2: far beyond the tolerance
            var = (1 - a**2 - g**2) / (2 * N)
        assert_statistics(sampled_entries(spec, method, **options), g, var)

    @pytest.mark.parametrize(
        "method,options", [("hadamard", {}), ("shot-adjoint", {"match": "hadamard"})]
    )
    def test_hadamard_test_of_a_slot_driving_scaled_rotations(self, method, options):
        """Test an IsingXY entry: its two rotations' Hadamard tests summed with their scales.

        IsingXY(t) is lowered to an XX and a YY rotation, each at angle ``-t/2``. Each rotation
        ``r`` has its own Hadamard-test circuit of ``N`` shots (mean ``g_r``, variance
        ``(1 - g_r^2) / N``); the entry is ``sum_r c_r g_r`` with variance ``sum_r c_r^2
        (1 - g_r^2) / N``. The scales sum to -1, not to 0 as CRX's do, so an offset in the
        per-rotation estimates (``2 p - 1`` written ``2 p + 1``) would show.
        """
        gates = [
            Gate("RY", [0], [0.6]),
            Gate("RX", [1], [1.9]),
            Gate("IsingXY", [0, 1], [w[0]]),
            Gate("RY", [1], [0.3]),
        ]
        spec = CircuitSpec(2, gates, n_weights=1, observables=["Z1"])
        circuit, _ = spec.compiled
        expanded, source, scales = circuit.per_rotation
        assert list(source) == [0, 0] and list(scales) == [-0.5, -0.5]
        angles = torch.tensor([[T * c for c in scales]], dtype=torch.float64)
        per_rotation = Execution(expanded, spec.observable(), torch.complex128)
        g = adjoint_jacobian(per_rotation, angles)[0, 0].numpy()
        mean = float(np.dot(scales, g))
        assert abs(mean - exact_derivative(spec, T)) < 1e-12 and abs(mean) > 0.1
        var = float(np.dot(np.square(scales), 1 - g**2)) / N
        assert_statistics(sampled_entries(spec, method, **options), mean, var)


def cost_spec() -> CircuitSpec:
    """Inputs on plain rotations, a CRX, an RX and an IsingXY; outputs in two groups."""
    gates = [
        Gate("RY", [0], [math.pi * x[0]]),
        Gate("RX", [1], [x[1]]),
        Gate("CRX", [0, 1], [w[0]]),
        Gate("RX", [1], [w[1]]),
        Gate("IsingXY", [0, 1], [w[2]]),
    ]
    return CircuitSpec(2, gates, n_inputs=2, n_weights=3, observables=["Z0 Z1", "X0", "X1"])


@pytest.mark.parametrize(
    "method,options,per_sample_inputs,per_sample_weights",
    [
        # parameter-shift: 2 circuits per plain slot, 4 per CRX / IsingXY slot (frequencies
        # 1/2 and 1); Hadamard: 1 per rotation, the CRX and the IsingXY lowered to 2 each.
        ("parameter-shift", {}, 2 + 2, 4 + 2 + 4),
        ("hadamard", {}, 1 + 1, 2 + 1 + 2),
        ("shot-adjoint", {"match": "parameter-shift"}, 2 + 2, 4 + 2 + 4),
        ("shot-adjoint", {"match": "hadamard"}, 1 + 1, 2 + 1 + 2),
    ],
)
def test_backward_cost(method, options, per_sample_inputs, per_sample_weights):
    """Test that backward circuits per sample are the rule's evaluations x measurement groups.

    The outputs ``Z0 Z1``, ``X0``, ``X1`` form two qubit-wise commuting groups, so each
    evaluation is two circuits, and its ``N`` shots are split between them.
    """
    spec = cost_spec()
    assert spec.observable().n_groups == 2
    batch = 3
    for needs_input, evaluations in [
        (True, per_sample_inputs + per_sample_weights),
        (False, per_sample_weights),
    ]:
        layer = QuantumLayer.from_circuit(spec, diff_method=method, shots=N, seed=0, **options)
        xb = torch.rand(batch, 2, requires_grad=needs_input)
        layer(xb).sum().backward()
        cost = layer.cost
        assert cost.forward_circuits == batch * 2 and cost.forward_shots == batch * N
        assert cost.backward_circuits == batch * evaluations * 2
        assert cost.backward_shots == batch * evaluations * N
        assert cost.circuits_per_sample["backward"] == evaluations * 2


# ----------------------------------------------------------------------- grouped measurement

_PAULI_MATRIX = {
    "I": np.eye(2),
    "X": np.array([[0, 1], [1, 0]]),
    "Y": np.array([[0, -1j], [1j, 0]]),
    "Z": np.diag([1, -1]),
}


def pauli_matrix(n: int, word: str) -> np.ndarray:
    """The dense matrix of ``word`` (``"Z0 Z1"``) on ``n`` qubits, wire 0 most significant."""
    letters = ["I"] * n
    for factor in word.split():
        letters[int(factor[1:])] = factor[0]
    return functools.reduce(np.kron, [_PAULI_MATRIX[p] for p in letters])


def _word_text(word) -> str:
    """A parsed word ``((0, "Z"), (1, "X"))`` as ``"Z0 X1"``."""
    return " ".join(f"{p}{v}" for v, p in word)


def fixed_state(n: int, seed: int) -> np.ndarray:
    """A random normalised state of ``n`` qubits."""
    rng = np.random.default_rng(seed)
    psi = rng.normal(size=2**n) + 1j * rng.normal(size=2**n)
    return psi / np.linalg.norm(psi)


def operator_moments(psi: np.ndarray, operator_: np.ndarray) -> tuple[float, float]:
    """``(<A>, Var A = <A^2> - <A>^2)`` of a Hermitian ``A`` in state ``psi``."""
    mean = float(np.real(psi.conj() @ operator_ @ psi))
    second = float(np.real(psi.conj() @ operator_ @ operator_ @ psi))
    return mean, second - mean**2


def grouped_samples(observable, psi: np.ndarray, shots: int, split: str, seed: int):
    """``R`` estimates of the observable's single output in state ``psi``, one batched call."""
    n = observable.n_qubits
    state = torch.tensor(psi, dtype=torch.complex128).reshape(1, *([2] * n)).repeat(R, *[1] * n)
    generator = torch.Generator().manual_seed(seed)
    return observable.estimate(state, shots, generator, split)[:, 0].numpy()


class TestGroupedMeasurement:
    """Pauli sums measured in qubit-wise commuting groups, each with its own shots."""

    GROUPS = {"Z": ["Z0 Z1", "Z1 Z2"], "X": ["X0", "X1", "X2"]}

    def groups(self):
        """``H = Z0 Z1 + Z1 Z2 + X0 + X1 + X2`` and its two groups' operators, by letter."""
        text = " + ".join(sum(self.GROUPS.values(), []))
        observable = PauliObservable((PauliSum.parse(text),), 3)
        letters = ["X" if "X" in group.basis.values() else "Z" for group in observable.groups]
        assert sorted(letters) == ["X", "Z"]
        for letter, group in zip(letters, observable.groups, strict=True):
            assert {PauliSum.parse(w).terms[0][1] for w in self.GROUPS[letter]} == set(group.words)
        ops = [sum(pauli_matrix(3, word) for word in self.GROUPS[letter]) for letter in letters]
        return observable, ops

    @pytest.mark.parametrize(
        "text", ["Z0 Z1 + Z1 Z2 + X0 + X1 + X2", "Y0 Y1 - 0.5 X2 + 0.7 Y1 X2 + X0 Z1 + 0.2"]
    )
    def test_group_variances_from_rotated_probabilities(self, text):
        """Test that each group's rotated probabilities and table give the moments of its part.

        Measuring group ``g`` in its rotated basis draws the eigenvalues of its part ``A_g``
        (its words, plus the constant in the first group) with the Born probabilities, so
        ``sum_b p_g(b) D_g(b)^k = <A_g^k>``; the parts add up to the observable.
        """
        observable = PauliObservable((PauliSum.parse(text),), 3)
        coeff = {word: c for c, word in observable.sums[0].terms}
        psi = fixed_state(3, 0)
        state = torch.tensor(psi, dtype=torch.complex128).reshape(1, 2, 2, 2)
        total = np.zeros((8, 8), dtype=complex)
        for g, group in enumerate(observable.groups):
            part = sum(coeff[word] * pauli_matrix(3, _word_text(word)) for word in group.words)
            part = part + (coeff.get((), 0.0) * np.eye(8) if g == 0 else 0)
            total = total + part
            probs = (observable.rotate(state, g).abs() ** 2).reshape(-1).numpy()
            mean, var = operator_moments(psi, part)
            assert abs(probs @ group.table[0] - mean) < 1e-12
            assert abs(probs @ group.table[0] ** 2 - (probs @ group.table[0]) ** 2 - var) < 1e-12
        terms = [c * pauli_matrix(3, _word_text(word)) for c, word in observable.sums[0].terms]
        np.testing.assert_allclose(total, sum(terms), atol=1e-14)

    @pytest.mark.parametrize("split", ["uniform", "weighted"])
    def test_unbiased_with_closed_form_variance(self, split):
        """Test that the grouped estimate has mean <H> and variance sum_g Var_g(A_g) / N_g."""
        observable, ops = self.groups()
        psi, shots = fixed_state(3, 0), 60
        per_group = observable.allocate(shots, split)
        moments = [operator_moments(psi, op) for op in ops]
        mean = sum(m for m, _ in moments)
        var = sum(v / n_g for (_, v), n_g in zip(moments, per_group, strict=True))
        assert_statistics(grouped_samples(observable, psi, shots, split, seed=3), mean, var)

    def test_weighted_split_beats_uniform(self):
        """Test that for 10 Z0 + X0 the weighted split has the smaller variance, as theory says.

        Per shot, group ``Z0`` contributes ``100 (1 - <Z>^2)`` and group ``X0`` ``1 - <X>^2``,
        comparable per unit coefficient, so ``N_g`` proportional to ``|c_g|`` (90 and 10 of
        100 shots) lowers ``sum_g c_g^2 Var_g / N_g`` against 50 and 50.
        """
        observable = PauliObservable((PauliSum.parse("10 Z0 + X0"),), 1)
        psi = np.array([math.cos(0.6), math.sin(0.6) * np.exp(0.9j)])
        (mz, vz), (mx, vx) = (operator_moments(psi, pauli_matrix(1, p)) for p in ("Z0", "X0"))
        assert observable.allocate(100, "weighted") == (90, 10)
        assert observable.allocate(100, "uniform") == (50, 50)
        closed = {"weighted": 100 * vz / 90 + vx / 10, "uniform": 100 * vz / 50 + vx / 50}
        assert closed["weighted"] < 0.7 * closed["uniform"]
        samples = {}
        for split, var in closed.items():
            samples[split] = grouped_samples(observable, psi, 100, split, seed=4)
            assert_statistics(samples[split], 10 * mz + mx, var)
        gap = samples["uniform"].var(ddof=1) - samples["weighted"].var(ddof=1)
        se = math.hypot(variance_se(samples["uniform"]), variance_se(samples["weighted"]))
        assert gap > 5 * se

    def test_allocate(self):
        """Test that allocations sum to N, give each group >= 1 shot, and reject too few shots."""
        observable, _ = self.groups()
        skewed = PauliObservable((PauliSum.parse("1000 Z0 + 0.001 X0 + 0.5 Y0"),), 2)
        assert skewed.n_groups == 3
        for obs in (observable, skewed):
            for split in ("uniform", "weighted"):
                for shots in (obs.n_groups, 10, 101):
                    per_group = obs.allocate(shots, split)
                    assert sum(per_group) == shots and min(per_group) >= 1
        assert skewed.allocate(10, "uniform") == (4, 3, 3)
        assert skewed.allocate(10, "weighted") == (8, 1, 1)
        with pytest.raises(ValueError, match="shots=2 cannot cover the 3 measurement groups"):
            skewed.allocate(2)
        with pytest.raises(ValueError, match="shot_split must be one of uniform, weighted"):
            skewed.allocate(10, "greedy")
        with pytest.raises(ValueError, match="shots=1 cannot cover the 2 measurement groups"):
            QuantumLayer.from_circuit(cost_spec(), diff_method="parameter-shift", shots=1)


# ----------------------------------------------------------------------- errors and parsing

_ONE = [Gate("RX", [0], [0.1])]


@pytest.mark.parametrize(
    "build,match",
    [
        (lambda: Gate("RW", [0], [0.1]), "unknown gate 'RW'"),
        (lambda: Gate("CNOT", [0]), r"CNOT acts on 2 wire\(s\), got wires \(0,\)"),
        (lambda: Gate("RX", [0], [0.1, 0.2]), r"RX takes 1 parameter\(s\), got 2"),
        (lambda: Gate("Rot", [0], [0.1]), r"Rot takes 3 parameter\(s\), got 1"),
        (lambda: CircuitSpec(2, [Gate("RX", [3], [0.1])]), r"RX on wire\(s\) \[3\]"),
        (lambda: Gate("RX", [-1], [0.1]), r"wires must be integers >= 0, got \(-1,\)"),
        (
            lambda: Gate("QubitUnitary", [0], matrix=[[1, 1], [0, 1]]),
            "QubitUnitary's matrix is not unitary",
        ),
        (lambda: Gate("QubitUnitary", [0, 1], matrix=np.eye(2)), r"4x4 matrix, got \(2, 2\)"),
        (lambda: Gate("PauliRot", [0, 1], [0.1], word="XQ"), "got 'XQ'"),
        (lambda: Gate("PauliRot", [0, 1], [0.1], word="X"), "2 letter.* got 'X'"),
        (lambda: CircuitSpec(1, [Gate("RX", [0], [x[2]])], n_inputs=1), r"reads x\[2\]"),
        (lambda: CircuitSpec(1, [Gate("RX", [0], [w[3]])], n_weights=2), r"reads w\[3\]"),
        (
            lambda: CircuitSpec(1, [Gate("RX", [0], [w[1] * x[0]])], n_inputs=1, n_weights=1),
            r"reads w\[1\] \* x\[0\]",
        ),
        (lambda: CircuitSpec(1, [Gate("RX", [0], [x[0] * x[4]])], n_inputs=2), r"x\[4\]"),
        (lambda: w[0] * w[1], r"one input times one weight \(w\[0\] \* x\[1\]\)"),
        (lambda: x[-1], "index must be an integer >= 0, got -1"),
        (lambda: Gate("RX", [0], [float("nan")]), "must be finite, got nan"),
        (lambda: PauliSum(((1j, ((0, "X"),)),)), "coefficient 1j is not real"),
        (lambda: PauliSum.parse("Z0 + 1j X1"), "complex coefficient '1j': not Hermitian"),
        (lambda: PauliSum.parse("Z0 + Q1"), "cannot read 'Q1'"),
        (lambda: PauliSum.parse("  "), "non-empty string"),
        (lambda: PauliSum.parse("Z0 Z0"), "wire 0 appears twice"),
        (
            lambda: CircuitSpec(2, _ONE, observables=["Z0 + X5"]).observable(),
            r"acts on wire\(s\) \[5\]; the circuit has wires 0..1",
        ),
        (
            lambda: QuantumLayer.from_circuit(CircuitSpec(2, _ONE, observables="Z-each")),
            "unknown observable 'Z-each'",
        ),
    ],
)
def test_bad_input(build, match):
    """Test that bad input raises a ValueError naming the bad value."""
    with pytest.raises(ValueError, match=match):
        build()


def words(text: str) -> dict:
    """The parsed sum as ``{word: coeff}``."""
    return {word: coeff for coeff, word in PauliSum.parse(text).terms}


@pytest.mark.parametrize(
    "text,expected",
    [
        ("Z0 Z1 + 0.5 X2 - 0.3", {((0, "Z"), (1, "Z")): 1.0, ((2, "X"),): 0.5, (): -0.3}),
        ("2 * X(0) @ Y(1)", {((0, "X"), (1, "Y")): 2.0}),
        ("Z1 Z0 + 2 Z0 @ Z1 - X1 + X1", {((0, "Z"), (1, "Z")): 3.0}),
        ("0.25", {(): 0.25}),
        ("I0 + Z0 I1 + 1", {(): 2.0, ((0, "Z"),): 1.0}),
        ("0.3 I - Z0", {(): 0.3, ((0, "Z"),): -1.0}),
        ("-1.5e-3 Y2 + 2.5E+1 X0", {((2, "Y"),): -1.5e-3, ((0, "X"),): 25.0}),
        ("- Z0 - - X1", {((0, "Z"),): -1.0, ((1, "X"),): 1.0}),
    ],
)
def test_parse_pauli_sum(text, expected):
    """Test that Pauli-sum strings parse to the expected words and real coefficients."""
    assert words(text) == pytest.approx(expected)
    assert set(words(text)) == set(expected)


def test_string_and_terms_agree():
    """Test that a parsed string, its terms and its printed form are the same sum."""
    parsed = PauliSum.parse("0.5 X0 Y2 - Z1 + 0.2")
    built = PauliSum(((0.5, ((2, "Y"), (0, "X"))), (-1.0, "Z1"), (0.2, ())))
    assert dict((w_, c) for c, w_ in parsed.terms) == dict((w_, c) for c, w_ in built.terms)
    assert words(str(parsed)) == pytest.approx(words("0.5 X0 Y2 - Z1 + 0.2"))


@pytest.mark.parametrize("method", ["backprop", "adjoint", "parameter-shift"])
def test_input_angle_with_weight_term(method):
    """Test that RX(0.5 x + w + 0.2) on |0> gives <Z> = cos(0.5 x + w + 0.2) and its gradients.

    A regression test: a slot that depends on an input and on a bare weight term raised in
    the angle map (the weight term was not broadcast over the batch).
    """
    spec = CircuitSpec(
        1, [Gate("RX", [0], [0.5 * x[0] + w[0] + 0.2])], n_inputs=1, n_weights=1, observables="Z0"
    )
    layer = QuantumLayer.from_circuit(spec, diff_method=method, seed=0, dtype=torch.complex128)
    xb = torch.tensor([[-0.4], [0.3], [1.2]], dtype=torch.float64, requires_grad=True)
    out = layer(xb)
    out.sum().backward()
    angle = (0.5 * xb + layer.weights + 0.2).detach()
    torch.testing.assert_close(out.detach(), torch.cos(angle), atol=1e-12, rtol=0)
    torch.testing.assert_close(xb.grad, -0.5 * torch.sin(angle), atol=1e-12, rtol=0)
    expected_w = -torch.sin(angle).sum().reshape(1)
    torch.testing.assert_close(layer.weights.grad, expected_w, atol=1e-12, rtol=0)
