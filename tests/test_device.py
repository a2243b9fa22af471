"""The PennyLane device ``qgradbench.qubit`` against ``default.qubit``.

The reference is ``default.qubit`` in complex128 on the same random circuits: values (expval,
var, probs, state, broadcasting) and derivatives (adjoint, device parameter-shift, Hadamard,
shot-adjoint) agree to 1e-10 (float64 rounding of a few dozen gates is ~1e-15). With shots,
estimates agree within 5 standard errors of the estimator (stated per test).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pennylane as qml
import pytest
from pennylane import numpy as pnp

from qgradbench.device import DEVICE_METHODS, QgradbenchQubit, householder

pytestmark = pytest.mark.pennylane

N = 3
TOL = 1e-10
ONE_PARAM = ["RX", "RY", "RZ", "PhaseShift"]
TWO_WIRE = ["IsingXX", "IsingYY", "IsingZZ", "IsingXY", "CRX", "CRY", "CRZ"]
FIXED = ["Hadamard", "S", "T", "SX", "PauliY"]


def random_qfunc(seed: int, n_params: int = 10):
    """A random circuit of ``n_params`` angles from the gate set and fixed gates, plus templates."""
    rng = np.random.default_rng(seed)
    plan = []
    for k in range(n_params):
        kind = rng.integers(3)
        if kind == 0:
            plan.append((str(rng.choice(ONE_PARAM)), [int(rng.integers(N))], k))
        else:
            a, b = (int(v) for v in rng.choice(N, 2, replace=False))
            plan.append((str(rng.choice(TWO_WIRE)), [a, b], k))
        plan.append((str(rng.choice(FIXED)), [int(rng.integers(N))], None))

    def qfunc(t):
        qml.Hadamard(0)
        for name, wires, k in plan:
            getattr(qml, name)(*(() if k is None else (t[..., k],)), wires=wires)
        qml.CNOT([0, 1])
        qml.Rot(t[..., 0], t[..., 1], t[..., 2], wires=2)
        qml.QFT(wires=[0, 1, 2])  # decomposed by PennyLane's preprocessing

    return qfunc


def values_circuit(seed: int):
    """Every analytic measurement of a random circuit."""
    qfunc = random_qfunc(seed)

    def circuit(t):
        qfunc(t)
        return (
            qml.expval(qml.Z(0) @ qml.X(1) + 0.3 * qml.Y(2)),
            qml.expval(qml.Hermitian(np.diag([1.0, 2.0]), wires=1)),
            qml.var(qml.X(0) @ qml.Y(2)),
            qml.probs(wires=[2, 0]),
            qml.state(),
        )

    return circuit


def expval_circuit(seed: int):
    """Expectation values of Pauli sums of a random circuit (what device derivatives take)."""
    qfunc = random_qfunc(seed)

    def circuit(t):
        qfunc(t)
        return qml.expval(qml.Z(0) @ qml.X(1) - 0.5 * qml.Y(2)), qml.expval(qml.Z(1))

    return circuit


def _close(a, b, tol=TOL) -> float:
    for x, y in zip(a, b, strict=True):
        assert np.max(np.abs(np.asarray(x) - np.asarray(y))) < tol


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_values_match_default_qubit(seed):
    """Test that expval, var, probs and the state of random circuits equal default.qubit's."""
    t = np.random.default_rng(100 + seed).uniform(-np.pi, np.pi, 10)
    ours = qml.QNode(values_circuit(seed), qml.device("qgradbench.qubit", wires=N))(t)
    ref = qml.QNode(values_circuit(seed), qml.device("default.qubit", wires=N))(t)
    _close(ours, ref)


def test_broadcasting_matches_default_qubit():
    """Test that a broadcast QNode (one batched simulation) equals default.qubit row by row."""
    t = np.random.default_rng(7).uniform(-np.pi, np.pi, (4, 10))
    ours = qml.QNode(values_circuit(3), qml.device("qgradbench.qubit", wires=N))(t)
    ref = qml.QNode(values_circuit(3), qml.device("default.qubit", wires=N))(t)
    assert np.asarray(ours[0]).shape == (4,)
    _close(ours, ref)


def test_wire_labels_and_unused_wires():
    """Test that string wire labels and a measured wire without gates map as default.qubit's."""

    def circuit(t):
        qml.RX(t, wires="b")
        qml.CNOT(wires=["b", "a"])
        return qml.probs(wires=["a", "c"]), qml.state()

    ours = qml.QNode(circuit, qml.device("qgradbench.qubit", wires=["c", "a", "b"]))(0.4)
    ref = qml.QNode(circuit, qml.device("default.qubit", wires=["c", "a", "b"]))(0.4)
    _close(ours, ref)


def _jacobian(circuit, dev, t, **kwargs):
    qnode = qml.QNode(circuit, dev, **kwargs)
    return np.asarray(qml.jacobian(lambda p: qml.math.stack(qnode(p)))(t))


def _reference_jacobian(circuit, t, wires=N):
    """default.qubit's exact parameter-shift Jacobian (independent of the engine's sweep).

    Not its autograd backprop: PhaseShift's matrix casts the real angle to complex, and
    autograd's backward pass of that cast emits a ComplexWarning (in PennyLane, not here).
    """
    return _jacobian(circuit, qml.device("default.qubit", wires=wires), t,
                     diff_method="parameter-shift")  # fmt: skip


@pytest.mark.parametrize("seed", [0, 1])
def test_adjoint_jacobian_matches_default_qubit(seed):
    """Test that diff_method='adjoint' (the engine's sweep) equals default.qubit's Jacobian."""
    t = pnp.array(np.random.default_rng(seed).uniform(-np.pi, np.pi, 10), requires_grad=True)
    dev = qml.device("qgradbench.qubit", wires=N)
    ref = _reference_jacobian(expval_circuit(seed), t)
    ours = _jacobian(expval_circuit(seed), dev, t, diff_method="adjoint")
    assert ours.shape == (2, 10)
    assert np.max(np.abs(ours - ref)) < TOL


@pytest.mark.parametrize("method", DEVICE_METHODS)
def test_device_methods_exact(method):
    """Test that each diff_method='device' rule, without shots, equals default.qubit's Jacobian."""
    t = pnp.array(np.random.default_rng(5).uniform(-np.pi, np.pi, 10), requires_grad=True)
    dev = qml.device("qgradbench.qubit", wires=N)
    ref = _reference_jacobian(expval_circuit(5), t)
    kwargs = {"diff_method": "device", "gradient_kwargs": {"method": method}}
    assert np.max(np.abs(_jacobian(expval_circuit(5), dev, t, **kwargs) - ref)) < TOL


@pytest.mark.parametrize("method", ["parameter-shift", "hadamard", "shot-adjoint"])
def test_device_methods_with_shots(method):
    """Test that each shot-based device rule is unbiased within 5 standard errors.

    A derivative of ``<Z>``-type outputs (|O| <= 1.5) is a difference of two estimates of
    ``shots`` each: variance <= 2 * 1.5**2 / shots per entry, so 5 sigma at 20000 shots is
    5 * sqrt(4.5 / 20000) = 0.075 (the Hadamard test's ancilla estimate has the same bound).
    """
    t = pnp.array([0.3, 1.1, -0.7], requires_grad=True)

    def circuit(p):
        qml.RX(p[0], 0)
        qml.IsingZZ(p[1], [0, 1])
        qml.RY(p[2], 1)
        qml.CNOT([1, 2])
        return qml.expval(qml.Z(0) + 0.5 * qml.X(2)), qml.expval(qml.Y(1))

    ref = _reference_jacobian(circuit, t)
    dev = qml.device("qgradbench.qubit", wires=N, seed=11)
    kwargs = {"diff_method": "device", "gradient_kwargs": {"method": method}, "shots": 20000}
    ours = _jacobian(circuit, dev, t, **kwargs)
    assert np.max(np.abs(ours - ref)) < 5 * np.sqrt(4.5 / 20000)


def test_shot_measurements_are_seeded_and_shaped():
    """Test that samples, counts and shot vectors have PennyLane's shapes and follow the seed."""

    def circuit():
        qml.Hadamard(0)
        qml.CNOT([0, 1])
        return qml.sample(wires=[0, 1]), qml.counts(qml.Z(0)), qml.expval(qml.Z(1))

    def run(seed):
        dev = qml.device("qgradbench.qubit", wires=2, seed=seed)
        return qml.QNode(circuit, dev, shots=[100, (50, 2)])()

    a, b = run(3), run(3)
    assert len(a) == 3 and np.asarray(a[0][0]).shape == (100, 2)
    assert np.array_equal(a[0][0], b[0][0])
    samples = np.asarray(a[0][0])
    assert np.array_equal(samples[:, 0], samples[:, 1])  # a Bell pair
    assert sum(a[2][1].values()) == 50


def test_shot_expval_is_unbiased():
    """Test that a sampled <Z> of RY(t)|0> is within 5 sqrt((1 - cos^2 t) / shots) of cos t."""
    t, shots = 1.2, 10000

    def circuit():
        qml.RY(t, 0)
        return qml.expval(qml.Z(0))

    value = qml.QNode(circuit, qml.device("qgradbench.qubit", wires=1, seed=0), shots=shots)()
    c = np.cos(t)
    assert abs(value - c) < 5 * np.sqrt((1 - c**2) / shots)


def test_tracker_counts_as_default_qubit():
    """Test that qml.Tracker totals (executions, shots, batches) equal default.qubit's."""

    def circuit(p):
        qml.RX(p[0], 0)
        qml.CNOT([0, 1])
        return qml.expval(qml.Z(1)), qml.expval(qml.X(0))

    def totals(name, **kwargs):
        dev = qml.device(name, wires=2)
        qnode = qml.QNode(circuit, dev, **kwargs)
        with qml.Tracker(dev) as tracker:
            qnode(np.array([0.1]))
            qnode(np.array([[0.1], [0.2]]).T)
        return tracker.totals

    cases = (
        {"diff_method": None},
        {"diff_method": "adjoint"},  # both split the broadcast tape for the sweep
        {"diff_method": None, "shots": 100},
        {"diff_method": None, "shots": [10, 20]},
    )
    for kwargs in cases:
        assert totals("qgradbench.qubit", **kwargs) == totals("default.qubit", **kwargs)


def test_supports_derivatives_says_what_is_supported():
    """Test that supports_derivatives accepts adjoint/device rules on Pauli expvals only."""
    from pennylane.devices import ExecutionConfig

    dev = QgradbenchQubit(wires=1)
    ok = qml.tape.QuantumScript([qml.RX(0.1, 0)], [qml.expval(qml.Z(0))])
    probs = qml.tape.QuantumScript([qml.RX(0.1, 0)], [qml.probs(wires=0)])
    adjoint = ExecutionConfig(gradient_method="adjoint")
    assert dev.supports_derivatives(adjoint, ok)
    assert not dev.supports_derivatives(adjoint, probs)
    assert not dev.supports_derivatives(adjoint, ok.copy(shots=100))
    assert not dev.supports_derivatives(ExecutionConfig(gradient_method="backprop"), ok)
    hadamard = {"method": "hadamard"}
    shift = ExecutionConfig(gradient_method="device", gradient_keyword_arguments=hadamard)
    assert dev.supports_derivatives(shift, ok.copy(shots=100))


def test_bad_seed_and_method_are_refused():
    """Test that a non-integer seed and an unknown device method raise ValueError naming them."""
    with pytest.raises(ValueError, match="seed"):
        qml.device("qgradbench.qubit", wires=1, seed=1.5)
    dev = qml.device("qgradbench.qubit", wires=1)

    @qml.qnode(dev, diff_method="device", gradient_kwargs={"method": "spsa"})
    def circuit(t):
        qml.RX(t, 0)
        return qml.expval(qml.Z(0))

    with pytest.raises(ValueError, match="spsa"):
        qml.grad(circuit)(pnp.array(0.1, requires_grad=True))


def test_householder_maps_zero_to_the_state():
    """Test that householder(psi) is unitary with first column psi (psi_0 = 0 included)."""
    rng = np.random.default_rng(2)
    for psi in (rng.normal(size=8) + 1j * rng.normal(size=8), np.array([0, 1j, 0, 0])):
        psi = psi / np.linalg.norm(psi)
        u = householder(psi)
        assert np.allclose(u @ u.conj().T, np.eye(len(psi)), atol=1e-12)
        assert np.allclose(u[:, 0], psi, atol=1e-12)


@pytest.mark.parametrize("n_prep", [2, 4])
def test_state_preparation_global_phase_and_matrix_ops(n_prep):
    """Test that StatePrep, BasisState, GlobalPhase, BlockEncode and a 4-wire excitation match.

    ``n_prep = 4`` takes the decomposed StatePrep (exact up to a phase: compared on probs and on
    the state up to its global phase); 2 wires run as one unitary (the state exactly).
    """
    rng = np.random.default_rng(n_prep)
    psi = rng.normal(size=2**n_prep) + 1j * rng.normal(size=2**n_prep)
    psi /= np.linalg.norm(psi)

    def circuit(t):
        qml.StatePrep(psi, wires=range(n_prep))
        qml.GlobalPhase(t)
        qml.BlockEncode(np.array([[0.1, 0.2], [0.3, 0.4]]), wires=[0, 1])
        qml.DoubleExcitationPlus(t, wires=[0, 1, 2, 3])
        qml.CNOT([1, 2])
        return qml.probs(wires=[0, 1, 2, 3]), qml.state(), qml.expval(qml.X(0) @ qml.Y(3))

    ours = qml.QNode(circuit, qml.device("qgradbench.qubit", wires=4))(0.7)
    ref = qml.QNode(circuit, qml.device("default.qubit", wires=4))(0.7)
    _close(ours[::2], ref[::2])
    overlap = np.vdot(ours[1], ref[1])
    assert abs(abs(overlap) - 1) < TOL
    if n_prep == 2:
        assert abs(overlap - 1) < TOL

    def basis():
        qml.BasisState(np.array([1, 0, 1]), wires=[0, 1, 2])
        qml.Hadamard(1)
        return qml.state()

    _close(
        [qml.QNode(basis, qml.device("qgradbench.qubit", wires=3))()],
        [qml.QNode(basis, qml.device("default.qubit", wires=3))()],
    )


def test_global_phase_has_zero_derivative():
    """Test that a trainable GlobalPhase gets a zero adjoint derivative next to a real one."""
    dev = qml.device("qgradbench.qubit", wires=1)

    @qml.qnode(dev, diff_method="adjoint")
    def circuit(a, b):
        qml.RX(a, 0)
        qml.GlobalPhase(b)
        return qml.expval(qml.Z(0))

    a, b = pnp.array(0.4, requires_grad=True), pnp.array(0.9, requires_grad=True)
    ga, gb = qml.grad(circuit)(a, b)
    assert abs(ga + np.sin(0.4)) < TOL and gb == 0


def _torch_training(name: str) -> list[float]:
    """The tutorial's hybrid model: Linear, a QNode in qml.qnn.TorchLayer, Linear, Adam."""
    import torch

    torch.manual_seed(0)
    dev = qml.device(name, wires=2)

    @qml.qnode(dev)
    def qnode(inputs, weights):
        qml.AngleEmbedding(inputs, wires=range(2))
        qml.BasicEntanglerLayers(weights, wires=range(2))
        return [qml.expval(qml.Z(i)) for i in range(2)]

    layer = qml.qnn.TorchLayer(qnode, {"weights": (2, 2)})
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), layer, torch.nn.Linear(2, 1))
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    x = torch.randn(8, 3)
    y = x.sum(1, keepdim=True).tanh()
    losses = []
    for _ in range(3):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def test_torch_layer_training_runs_unchanged():
    """Test that a TorchLayer model trained with Adam follows default.qubit's losses (float32)."""
    ours, ref = _torch_training("qgradbench.qubit"), _torch_training("default.qubit")
    assert np.allclose(ours, ref, atol=1e-5)  # torch.nn.Linear works in float32


def _vqe(name: str) -> np.ndarray:
    """The tutorial's VQE: an expval of a Hamiltonian, qml.GradientDescentOptimizer."""
    dev = qml.device(name, wires=2)
    h = qml.Hamiltonian([0.5, -0.8, 0.3], [qml.Z(0) @ qml.Z(1), qml.X(0), qml.Y(1)])

    @qml.qnode(dev)
    def cost(p):
        qml.RY(p[0], 0)
        qml.RY(p[1], 1)
        qml.CNOT([0, 1])
        qml.RX(p[2], 1)
        return qml.expval(h)

    opt = qml.GradientDescentOptimizer(0.2)
    p = pnp.array([0.1, 0.2, 0.3], requires_grad=True)
    for _ in range(5):
        p = opt.step(cost, p)
    return np.append(np.asarray(p), cost(p))


def test_vqe_runs_unchanged():
    """Test that a VQE with GradientDescentOptimizer follows default.qubit's steps to 1e-10."""
    assert np.max(np.abs(_vqe("qgradbench.qubit") - _vqe("default.qubit"))) < TOL


def test_tapes_of_one_structure_run_as_one_batch(monkeypatch):
    """Test that tapes run one engine call per structure and give default.qubit's values."""
    import qgradbench.device as device_module

    calls = []
    run_rows = device_module._run_rows
    monkeypatch.setattr(
        device_module, "_run_rows", lambda c, theta: calls.append(len(theta)) or run_rows(c, theta)
    )

    def tape(t, gate="RY"):
        ops = [qml.RX(t, 0), getattr(qml, gate)(2 * t, 1), qml.CNOT([0, 1])]
        return qml.tape.QuantumScript(ops, [qml.expval(qml.Z(1)), qml.probs(wires=[0])])

    tapes = [tape(0.1), tape(0.2), tape(np.array([0.3, 0.4])), tape(0.5, "RZ")]
    ours = qml.execute(tapes, qml.device("qgradbench.qubit", wires=2), diff_method=None)
    ref = qml.execute(tapes, qml.device("default.qubit", wires=2), diff_method=None)
    assert sorted(calls) == [1, 4]  # three RY tapes (4 rows with the broadcast one), one RZ
    for a, b in zip(ours, ref, strict=True):
        _close(a, b)


@pytest.mark.parametrize("method", ["adjoint", "parameter-shift"])
def test_broadcast_derivatives_in_one_engine_call(monkeypatch, method):
    """Test that a broadcast QNode's Jacobian is one engine call and equals default.qubit's."""
    calls = []
    engine_jacobian = QgradbenchQubit._engine_jacobian

    def counted(self, low, sums, shots, trainable, theta, rule):
        calls.append(len(theta))
        return engine_jacobian(self, low, sums, shots, trainable, theta, rule)

    monkeypatch.setattr(QgradbenchQubit, "_engine_jacobian", counted)
    batch = 4
    t = pnp.array(np.random.default_rng(8).uniform(-np.pi, np.pi, (batch, 10)), requires_grad=True)
    kwargs = {"diff_method": "adjoint"}
    if method != "adjoint":
        kwargs = {"diff_method": "device", "gradient_kwargs": {"method": method}}
    dev = qml.device("qgradbench.qubit", wires=N)
    ours = _jacobian(expval_circuit(8), dev, t, **kwargs)  # (2, B, B, 10): block diagonal
    assert calls == [batch]
    assert ours.shape == (2, batch, batch, 10)
    for b in range(batch):
        ref = _reference_jacobian(expval_circuit(8), pnp.array(t[b], requires_grad=True))
        assert np.max(np.abs(ours[:, b, b] - ref)) < TOL
        assert np.max(np.abs(np.delete(ours[:, b], b, axis=1))) == 0  # rows do not mix


def test_shot_adjoint_matches_parameter_shift_statistics():
    r"""Test that shot-adjoint (match=parameter-shift) has parameter-shift's mean and variance.

    With ``f_pm = <O>(t +- pi/2 e_k)`` (exact, from default.qubit) the two-term parameter-shift
    estimate from ``N`` shots per term of a +-1 observable has mean ``g = (f_+ - f_-) / 2`` and
    variance ``s2 = ((1 - f_+^2) + (1 - f_-^2)) / (4 N)`` (Mitarai et al. 2018; Schuld et al.
    2019). Over ``R = 2000`` independent draws (one engine call: ``R`` tapes of one structure)
    each entry's sample mean is within 5 standard errors ``sqrt(s2 / R)`` of ``g``, and its
    sample variance within 5 ``sqrt((m4 - v^2) / R)`` of ``s2`` (the asymptotic standard error
    of a sample variance ``v``, ``m4`` the sample fourth central moment).
    """
    from pennylane.devices import ExecutionConfig

    t, shots, repeats = np.array([0.4, 1.3, -0.8, 2.1]), 50, 2000

    def ops(p):
        return [qml.RX(p[0], 0), qml.RY(p[1], 1), qml.CNOT([0, 1]), qml.RY(p[2], 0),
                qml.IsingZZ(p[3], [0, 1]), qml.RX(0.7, 1)]  # fmt: skip

    measurements = [qml.expval(qml.Z(0)), qml.expval(qml.Z(1))]
    tape = qml.tape.QuantumScript(ops(t), measurements, shots=shots, trainable_params=[0, 1, 2, 3])
    dev = qml.device("qgradbench.qubit", wires=2, seed=21)
    kwargs = {"method": "shot-adjoint", "match": "parameter-shift"}
    config = dev.setup_execution_config(
        ExecutionConfig(gradient_method="device", gradient_keyword_arguments=kwargs)
    )
    draws = np.array([np.asarray(j) for j in dev.compute_derivatives([tape] * repeats, config)])
    assert draws.shape == (repeats, 2, 4)

    ref = qml.device("default.qubit", wires=2)
    shifted = [t + s * np.pi / 2 * np.eye(4)[k] for k in range(4) for s in (1, -1)]
    f = np.array(qml.execute([qml.tape.QuantumScript(ops(p), measurements) for p in shifted], ref))
    f_plus, f_minus = f[0::2].T, f[1::2].T  # (output, parameter)
    mean, var = (f_plus - f_minus) / 2, ((1 - f_plus**2) + (1 - f_minus**2)) / (4 * shots)
    centred = draws - draws.mean(axis=0)
    v = centred.var(axis=0, ddof=1)
    m4 = (centred**4).mean(axis=0)
    assert np.all(np.abs(draws.mean(axis=0) - mean) < 5 * np.sqrt(var / repeats))
    assert np.all(np.abs(v - var) < 5 * np.sqrt((m4 - v**2) / repeats))


def test_bad_rule_option_is_refused():
    """Test that a device rule's unknown or bad option raises ValueError naming it."""
    from pennylane.devices import ExecutionConfig

    dev = QgradbenchQubit(wires=1)
    for kwargs, name in (({"method": "shot-adjoint", "bogus": 1}, "bogus"),
                         ({"method": "shot-adjoint", "match": "spsa"}, "spsa")):  # fmt: skip
        config = ExecutionConfig(gradient_method="device", gradient_keyword_arguments=kwargs)
        with pytest.raises(ValueError, match=name):
            dev.setup_execution_config(config)


def _vjp_qfunc(inputs, weights):
    """Trainable inputs (broadcast rows) into a template, three measurements, one a Pauli sum."""
    qml.AngleEmbedding(inputs, wires=range(N), rotation="Y")
    qml.StronglyEntanglingLayers(weights, wires=range(N))
    qml.CRX(weights[0, 0, 0] * 0.5, wires=[0, 2])
    h = qml.Hamiltonian([0.7, -0.4], [qml.X(0) @ qml.Z(1), qml.Y(2)])
    return qml.expval(qml.Z(0)), qml.expval(h), qml.expval(qml.Z(1) @ qml.Z(2))


def _torch_model(name: str, **kwargs):
    """Linear (so the QNode's inputs are trainable), the QNode in a TorchLayer, float64."""
    import torch

    torch.manual_seed(3)
    qnode = qml.QNode(_vjp_qfunc, qml.device(name, wires=N), interface="torch", **kwargs)
    layer = qml.qnn.TorchLayer(qnode, {"weights": (2, N, 3)})
    return torch.nn.Sequential(torch.nn.Linear(2, N), layer).double()


def _torch_gradients(model) -> list:
    """Gradients of a nonlinear scalar loss of a batch of 4 w.r.t. every model parameter."""
    import torch

    x = torch.linspace(-1.0, 1.0, 8, dtype=torch.float64).reshape(4, 2)
    out = model(x)
    loss = (out * torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)).sum() + (out**2).sum()
    loss.backward()
    return [p.grad.numpy().copy() for p in model.parameters()]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"diff_method": "adjoint"},
        {"diff_method": "device", "gradient_kwargs": {"method": "parameter-shift"}},
    ],
    ids=["adjoint", "device-parameter-shift"],
)
def test_device_vjp_keeps_broadcast_tape_whole_in_torch_layer(monkeypatch, kwargs):
    """Test that device_vjp=True differentiates an unsplit broadcast tape as default.qubit does."""
    calls = []
    engine_vjp = QgradbenchQubit._engine_vjp

    def counted(self, low, key, theta, dy, rule):
        calls.append((len(theta), low.batch_size))
        return engine_vjp(self, low, key, theta, dy, rule)

    monkeypatch.setattr(QgradbenchQubit, "_engine_vjp", counted)
    model = _torch_model("qgradbench.qubit", device_vjp=True, **kwargs)
    dev = model[1].qnode.device
    with qml.Tracker(dev) as tracker:
        ours = _torch_gradients(model)
    ref = _torch_gradients(_torch_model("default.qubit", diff_method="backprop"))
    assert calls == [(4, 4)]  # one engine call on the broadcast tape's 4 rows
    assert tracker.totals["vjps"] == 1 and tracker.totals["batches"] == 1
    assert [g.shape for g in ours] == [g.shape for g in ref]
    for a, b in zip(ours, ref, strict=True):
        assert np.max(np.abs(a - b)) < TOL


def test_device_vjp_autograd_broadcast_and_scalar_parameters():
    """Test that autograd's device VJPs give a broadcast input per-row and a weight summed."""
    x = pnp.array(np.linspace(-1.0, 1.0, 4 * N).reshape(4, N), requires_grad=True)
    w = pnp.array(np.random.default_rng(5).uniform(-1, 1, (2, N, 3)), requires_grad=True)

    def loss(name, **kwargs):
        qnode = qml.QNode(_vjp_qfunc, qml.device(name, wires=N), **kwargs)

        def f(x, w):
            out = qml.math.stack(qnode(x, w))
            return pnp.sum(out * pnp.array([[1.0], [-2.0], [0.5]])) + pnp.sum(out**2)

        return f

    ours = qml.grad(loss("qgradbench.qubit", diff_method="adjoint", device_vjp=True))(x, w)
    ref = qml.grad(loss("default.qubit", diff_method="backprop"))(x, w)
    for a, b in zip(ours, ref, strict=True):
        assert np.shape(a) == np.shape(b) and np.max(np.abs(a - b)) < TOL


def test_supports_vjp_and_config_keep_device_vjp():
    """Test that supports_vjp follows supports_derivatives and device_vjp survives the setup."""
    dev = qml.device("qgradbench.qubit", wires=2)
    config = dev.setup_execution_config(
        qml.devices.ExecutionConfig(gradient_method="adjoint", use_device_jacobian_product=True)
    )
    assert config.use_device_jacobian_product
    tape = qml.tape.QuantumScript([qml.RX(0.1, 0)], [qml.expval(qml.Z(0))])
    assert dev.supports_vjp(config, tape)
    assert not dev.supports_vjp(config, qml.tape.QuantumScript(tape.operations, [qml.probs()]))
    shot_vector = qml.tape.QuantumScript(tape.operations, tape.measurements, shots=(10, 10))
    device_config = replace(config, gradient_method="device")
    assert not dev.supports_vjp(device_config, shot_vector)
    plain = dev.setup_execution_config(qml.devices.ExecutionConfig(gradient_method="adjoint"))
    assert plain.use_device_jacobian_product is False


@pytest.mark.parametrize("method", ["parameter-shift", "shot-adjoint"])
def test_device_vjp_with_shots_draws_the_split_tapes_jacobian(method):
    """Test that with shots a device VJP of a broadcast tape contracts the split tapes' draws."""
    import torch

    def gradients(device_vjp):
        qnode = qml.QNode(
            _vjp_qfunc,
            qml.device("qgradbench.qubit", wires=N, seed=11),
            interface="torch",
            diff_method="device",
            gradient_kwargs={"method": method},
            shots=100,
            device_vjp=device_vjp,
        )
        x = torch.linspace(-1.0, 1.0, 4 * N, dtype=torch.float64).reshape(4, N)
        w = torch.linspace(-2.0, 2.0, 2 * N * 3, dtype=torch.float64).reshape(2, N, 3)
        x.requires_grad_(), w.requires_grad_()
        torch.stack(qnode(x, w)).sum().backward()  # cotangents 1: independent of the samples
        return x.grad.numpy(), w.grad.numpy()

    # Both draw the Jacobian rows from the device's torch generator in one engine call on the
    # same 4 angle rows, so the products agree to rounding.
    for a, b in zip(gradients(True), gradients(False), strict=True):
        assert np.max(np.abs(a - b)) < TOL and np.max(np.abs(a)) > 0
