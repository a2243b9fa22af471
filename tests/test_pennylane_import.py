"""PennyLane circuits in: ``from_pennylane`` and the ``TorchLayer`` drop-in, against PennyLane.

The reference is PennyLane itself: ``qml.qnn.TorchLayer`` and QNodes on ``default.qubit`` in
complex128, on the same weights. Agreement is to 1e-10 (float64 rounding of a few hundred
operations is ~1e-14).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pennylane as qml
import pytest
import torch

import qgradbench
from qgradbench.circuits.model import Angle
from qgradbench.layer import QuantumLayer
from qgradbench.pennylane_import import TorchLayer, from_pennylane

pytestmark = pytest.mark.pennylane

N = 3
SHAPES = {"weights": (2, N, 3), "scale": (2, N), "extra": 2}


def reuploading_qnode(diff_method: str = "backprop"):
    """A data re-uploading circuit: trainable input scaling, templates, IsingZZ, CRX, Pauli sums."""
    dev = qml.device("default.qubit", wires=N)

    @qml.qnode(dev, interface="torch", diff_method=diff_method)
    def circuit(inputs, weights, scale, extra):
        for layer in range(2):
            qml.AngleEmbedding(inputs * scale[layer], wires=range(N))
            qml.StronglyEntanglingLayers(weights[layer : layer + 1], wires=range(N))
        qml.IsingZZ(extra[0], wires=[0, 2])
        qml.CRX(extra[1] + 0.3, wires=[1, 0])
        return [
            qml.expval(qml.Z(0) @ qml.Z(1)),
            qml.expval(0.5 * qml.X(1) - 0.3 * qml.Y(2) + qml.Z(0)),
            qml.expval(qml.Hamiltonian([0.7, -1.1], [qml.X(0) @ qml.Y(1), qml.Z(2)])),
        ]

    return circuit


def both_layers(diff_method: str, seed: int = 7):
    """PennyLane's TorchLayer and ours on the same QNode, built after the same seed (float64)."""
    torch.manual_seed(seed)
    ref = qml.qnn.TorchLayer(reuploading_qnode(diff_method), SHAPES).double()
    torch.manual_seed(seed)
    ours = TorchLayer(
        reuploading_qnode(diff_method), SHAPES, diff_method=diff_method, dtype=torch.complex128
    )
    return ref, ours


def values_and_grads(layer, x, per_sample=False):
    """Outputs, and the gradients of a nonlinear loss for the inputs and every weight."""
    x = x.clone().requires_grad_(True)
    out = torch.stack([layer(row) for row in x]) if per_sample else layer(x)
    loss = (out * torch.arange(1.0, out.shape[-1] + 1, dtype=out.dtype)).sum() + (out**2).sum()
    grads = torch.autograd.grad(loss, [x, *(getattr(layer, n) for n in SHAPES)])
    return out.detach(), grads


def test_weights_initialised_as_pennylane():
    """Test that a seed gives PennyLane's named weights and leaves torch's RNG as PennyLane's."""
    for init in (None, torch.nn.init.normal_):
        torch.manual_seed(3)
        ref = qml.qnn.TorchLayer(reuploading_qnode(), SHAPES, init_method=init)
        after_ref = torch.rand(3)
        torch.manual_seed(3)
        ours = TorchLayer(reuploading_qnode(), SHAPES, init_method=init, n_inputs=N)
        after_ours = torch.rand(3)
        assert list(ours.state_dict()) == list(ref.state_dict()) == list(SHAPES)
        for name in SHAPES:
            assert torch.equal(getattr(ours, name), getattr(ref, name))
        assert ours.extra.shape == (2,)
        assert torch.equal(after_ours, after_ref)  # compiling drew nothing from torch's RNG


@pytest.mark.parametrize("diff_method", ["backprop", "adjoint", "parameter-shift"])
def test_torchlayer_matches_pennylane(diff_method):
    """Test that outputs and input and weight gradients equal qml.qnn.TorchLayer's to 1e-10."""
    ref, ours = both_layers(diff_method)
    x = torch.tensor([[0.3, -1.2, 0.8], [1.5, 0.1, -0.4]], dtype=torch.float64)
    # PennyLane's parameter-shift cannot differentiate broadcast (batched) trainable parameters
    want, want_grads = values_and_grads(ref, x, per_sample=diff_method == "parameter-shift")
    got, got_grads = values_and_grads(ours, x)
    assert got.shape == want.shape == (2, 3)
    torch.testing.assert_close(got, want, atol=1e-10, rtol=0)
    for g, h in zip(got_grads, want_grads, strict=True):
        torch.testing.assert_close(g, h, atol=1e-10, rtol=0)


def test_hybrid_training_matches_pennylane():
    """Test that 20 Adam steps of Linear -> TorchLayer -> Linear give PennyLane's losses to 1e-8."""
    gen = torch.Generator().manual_seed(0)
    data = torch.rand(12, 2, generator=gen, dtype=torch.float64) * 2 - 1
    target = torch.sin(data.sum(-1, keepdim=True))

    def losses(layer_class, **kwargs):
        torch.manual_seed(11)
        model = torch.nn.Sequential(
            torch.nn.Linear(2, N),
            layer_class(reuploading_qnode(), SHAPES, **kwargs),
            torch.nn.Linear(3, 1),
        ).double()
        opt = torch.optim.Adam(model.parameters(), lr=0.05)
        out = []
        for _ in range(20):
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(model(data), target)
            loss.backward()
            opt.step()
            out.append(loss.item())
        return np.array(out)

    want = losses(qml.qnn.TorchLayer)
    got = losses(TorchLayer, dtype=torch.complex128)
    assert want[-1] < want[0]  # it trains
    np.testing.assert_allclose(got, want, atol=1e-8, rtol=0)


def test_single_expval_and_batch_shapes():
    """Test that one expval gives no output axis and leading batch axes are kept, as PennyLane."""
    dev = qml.device("default.qubit", wires=2)

    @qml.qnode(dev, interface="torch")
    def circuit(inputs, w):
        qml.AngleEmbedding(inputs, wires=[0, 1], rotation="Y")
        qml.CRX(w, wires=[0, 1])
        return qml.expval(qml.X(1) @ qml.Z(0))

    torch.manual_seed(0)
    ref = qml.qnn.TorchLayer(circuit, {"w": 1}).double()
    torch.manual_seed(0)
    ours = TorchLayer(circuit, {"w": 1}, dtype=torch.complex128)
    assert ours.w.shape == ref.w.shape == ()
    for shape in [(2,), (4, 2), (2, 3, 2)]:
        x = torch.rand(shape, dtype=torch.float64)
        want, got = ref(x), ours(x)
        assert got.shape == want.shape == shape[:-1]
        torch.testing.assert_close(got, want, atol=1e-12, rtol=0)


def assert_angles(got, want):
    """Same terms, coefficients equal to 1e-12 (autograd's rounding)."""
    assert len(got) == len(want)
    for a, b in zip(got, want, strict=True):
        assert a.const == pytest.approx(b.const, abs=1e-12)
        for kind in ("inputs", "weights", "products", "input_products"):
            ta, tb = getattr(a, kind), getattr(b, kind)
            assert [t[:-1] for t in ta] == [t[:-1] for t in tb], kind
            assert [t[-1] for t in ta] == pytest.approx([t[-1] for t in tb], abs=1e-12), kind


def test_angles_recovered_exactly():
    """Test that affine, scaled and product angles give their Angle terms in the weight layout."""

    def circuit(inputs, a, weights):
        qml.RX(0.5 * inputs[0] * weights[1, 0] + 2 * inputs[1] - weights[0, 2] + 0.3, wires=0)
        qml.RY(1.5 * inputs[0] * inputs[1] + inputs[1] ** 2, wires=1)
        qml.RZ(-a, wires=0)
        qml.Rot(*weights[1], wires=1)
        return qml.expval(qml.Z(0))

    spec = from_pennylane(circuit, n_inputs=2, weight_shapes={"a": 1, "weights": (2, 3)})
    assert spec.n_weights == 7 and spec.weight_shape == (7,) and spec.single_output
    w_10, w_02 = 1 + 3, 1 + 2  # "a" first, then weights row-major
    rx, ry, rz, rot = (g.params for g in spec.gates)
    assert_angles(
        rx, [Angle(0.3, inputs=((1, 2.0),), weights=((w_02, -1.0),), products=((0, w_10, 0.5),))]
    )
    assert_angles(ry, [Angle(input_products=((0, 1, 1.5), (1, 1, 1.0)))])
    assert_angles(rz, [Angle(weights=((0, -1.0),))])
    assert_angles(rot, [Angle(weights=((k, 1.0),)) for k in (4, 5, 6)])
    flat = torch.arange(7.0)
    parts = spec.weight_layout.split(flat)
    assert parts["a"].shape == () and torch.equal(parts["weights"], torch.arange(1.0, 7).view(2, 3))


def test_templates_match_pennylane():
    """Test that templates, adjoints, controlled ops, PauliRot, QubitUnitary match PennyLane."""
    wires = ["a", "b", "c"]
    dev = qml.device("default.qubit", wires=wires)
    unitary = qml.math.convert_like(
        qml.matrix(qml.Rot(0.3, 1.1, -0.4, wires=0) @ qml.IsingXY(0.7, wires=[0, 1])), 1.0
    )

    @qml.qnode(dev, interface="torch", diff_method="backprop")
    def circuit(inputs, sel, basic):
        qml.IQPEmbedding(inputs, wires=wires)
        qml.adjoint(qml.StronglyEntanglingLayers)(sel, wires=wires)
        qml.BasicEntanglerLayers(basic, wires=wires, rotation=qml.RY)
        qml.ctrl(qml.RY(basic[0, 1] - inputs[2], wires="c"), control="a")
        qml.PauliRot(basic[0, 0], "XIY", wires=wires)
        qml.QubitUnitary(unitary, wires=["c", "b"])
        qml.MultiRZ(inputs[0], wires=["b", "c"])
        qml.adjoint(qml.S("b"))
        qml.Toffoli(wires=wires)
        qml.U3(basic[0, 2], 0.5 * inputs[0], inputs[1] - 0.2, wires="a")
        return [qml.expval(qml.X("a") @ qml.Y("c")), qml.expval(qml.Z("b") - 0.4 * qml.X("c"))]

    shapes = {"sel": (1, 3, 3), "basic": (1, 3)}
    spec = from_pennylane(circuit, n_inputs=3, weight_shapes=shapes)
    assert spec.wire_labels == tuple(wires) and not spec.single_output
    assert {"PauliRot", "QubitUnitary", "CRY", "MultiRZ", "Toffoli", "U3"} <= {
        g.name for g in spec.gates
    }
    layer = QuantumLayer.from_circuit(spec, dtype=torch.complex128)
    gen = torch.Generator().manual_seed(5)
    x = torch.rand(2, 3, generator=gen, dtype=torch.float64)
    w = torch.rand(spec.n_weights, generator=gen, dtype=torch.float64)

    def ours(x, w):
        return layer.forward_with(x, w)

    def reference(x, w):
        parts = spec.weight_layout.split(w)
        return torch.stack([torch.stack(list(circuit(row, **parts))) for row in x])

    torch.testing.assert_close(ours(x, w), reference(x, w), atol=1e-10, rtol=0)
    jac = torch.autograd.functional.jacobian(ours, (x, w))
    want = torch.autograd.functional.jacobian(reference, (x, w))
    for g, h in zip(jac, want, strict=True):
        torch.testing.assert_close(g, h, atol=1e-10, rtol=0)


def test_tape_compiles_with_constants():
    """Test that a QuantumScript compiles with constant angles and gives default.qubit's values."""
    ops = [
        qml.Hadamard(0),
        qml.StronglyEntanglingLayers(np.full((1, 2, 3), 0.4), wires=[0, 1]),
        qml.CRZ(torch.tensor(0.9), wires=[1, 0]),
    ]
    tape = qml.tape.QuantumScript(ops, [qml.expval(qml.Y(0) @ qml.X(1)), qml.expval(qml.Z(1))])
    spec = from_pennylane(tape)
    assert spec.n_inputs == spec.n_weights == 0
    assert all(a.is_constant for g in spec.gates for a in g.params)
    layer = QuantumLayer.from_circuit(spec, dtype=torch.complex128)
    got = layer(torch.zeros(1, 0, dtype=torch.float64))[0].detach()
    want = qml.execute([tape], qml.device("default.qubit"))[0]
    np.testing.assert_allclose(got.numpy(), np.array(want, dtype=float), atol=1e-12)
    with pytest.raises(ValueError, match="tape has constant parameters"):
        from_pennylane(tape, n_inputs=2)


class Mystery(qml.operation.Operation):
    """An operation without a decomposition."""

    num_wires = 1
    num_params = 0


class Wrapper(qml.operation.Operation):
    """A template whose decomposition holds a Mystery."""

    num_wires = 2
    num_params = 1

    @staticmethod
    def compute_decomposition(theta, wires):  # noqa: D102
        return [qml.RX(theta, wires=wires[0]), Mystery(wires=wires[1])]


def _hermitian():
    return qml.expval(qml.Hermitian(np.diag([1.0, -1.0]), wires=0))


def _unitary_of(w):
    c, s = torch.cos(w), torch.sin(w)
    return torch.stack([torch.stack([c, -s]), torch.stack([s, c])])


ERRORS = {
    "unsupported op": (lambda w: Mystery(wires=0), None, r"Mystery.*supported gates: RX, RY"),
    "op in a template": (
        lambda w: Wrapper(w[0], wires=[0, 1]),
        None,
        r"Mystery on wires \[1\] \(in Wrapper\)",
    ),
    "sin(w)": (
        lambda w: qml.RY(torch.sin(w[0]), wires=0),
        None,
        r"RY on wires \[0\].*angle is not of the supported form",
    ),
    "w * w": (
        lambda w: qml.IsingXX(w[0] * w[1], wires=[0, 1]),
        None,
        r"IsingXX.*not of the supported form",
    ),
    "probs": (lambda w: None, lambda: qml.probs(wires=0), r"ProbabilityMP"),
    "var": (lambda w: None, lambda: qml.var(qml.Z(0)), r"VarianceMP"),
    "Hermitian": (lambda w: None, _hermitian, r"Hermitian.*not a sum of Pauli words"),
    "complex coefficient": (
        lambda w: None,
        lambda: qml.expval(qml.s_prod(1j, qml.Z(1))),
        r"coefficient 1j is complex.*not Hermitian",
    ),
    "non-Hermitian product": (
        lambda w: None,
        lambda: qml.expval(qml.X(0) @ qml.Y(0)),
        r"not Hermitian",
    ),
    "weight-dependent matrix": (
        lambda w: qml.QubitUnitary(_unitary_of(w[0]), wires=0),
        None,
        r"QubitUnitary.*depends on the inputs or weights",
    ),
    "mid-circuit measurement": (lambda w: qml.measure(0), None, r"MidMeasureMP"),
}


@pytest.mark.parametrize("case", list(ERRORS))
def test_errors_name_the_culprit(case):
    """Test that what cannot be compiled gives a ValueError naming the operation or measurement."""
    body, measure, message = ERRORS[case]

    def circuit(inputs, w):
        qml.RX(inputs[0], wires=0)
        body(w)
        return measure() if measure else qml.expval(qml.Z(0))

    with pytest.raises(ValueError, match=message):
        from_pennylane(circuit, n_inputs=1, weight_shapes={"w": 2})


def test_lazy_exports():
    """Test that qgradbench exports TorchLayer and from_pennylane lazily."""
    assert qgradbench.TorchLayer is TorchLayer
    assert qgradbench.from_pennylane is from_pennylane


def test_shots_and_shot_split_reach_the_engine():
    """Test that shots, seed and shot_split reach the engine and estimates lie within 5 sigma."""
    dev = qml.device("default.qubit", wires=2)

    @qml.qnode(dev, interface="torch")
    def circuit(inputs, w):
        qml.RY(inputs[0], wires=0)
        qml.IsingXY(w[0], wires=[0, 1])
        return [qml.expval(qml.Z(0) @ qml.Z(1)), qml.expval(qml.X(1))]

    x = torch.tensor([[0.7], [-1.9]], dtype=torch.float64)
    exact = TorchLayer(circuit, {"w": 2}, dtype=torch.complex128)
    kwargs = {"shots": 4000, "seed": 3, "shot_split": "weighted", "dtype": torch.complex128}
    with pytest.raises(ValueError, match="'backprop' is exact and cannot take shots=4000"):
        TorchLayer(circuit, {"w": 2}, **kwargs)
    kwargs["diff_method"] = "parameter-shift"
    noisy = [TorchLayer(circuit, {"w": 2}, **kwargs) for _ in range(2)]
    for layer in noisy:
        layer.load_state_dict(exact.state_dict())
    mean = exact(x).detach()
    got = [layer(x).detach() for layer in noisy]
    torch.testing.assert_close(got[0], got[1], atol=0, rtol=0)  # the seed fixes the shots
    assert noisy[0].engine.execution.shot_split == "weighted"
    # two words in two groups, 2000 shots each (equal weights); Var of a +-1 outcome is 1 - m^2
    sigma = torch.sqrt((1 - mean**2) / 2000)
    assert torch.all((got[0] - mean).abs() <= 5 * sigma + 1e-12)


def test_readme_example_runs():
    """Test that the README's PennyLane example runs and prints the shape it claims."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    text = readme.split("### PennyLane circuits in\n", 1)[1].split("\n#", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    printed = []
    exec(code, {"print": printed.append})
    assert printed == [torch.Size([8, 2])]
