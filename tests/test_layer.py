"""QuantumLayer: its contract, bad input, and training inside a hybrid network."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from qgradbench import QuantumLayer
from qgradbench.engine import MAX_QUBITS
from qgradbench.methods import names, shot_methods

EXACT_METHODS = ["backprop", "adjoint", "parameter-shift", "finite-diff"]


class TestContract:
    """Shapes, dtypes, devices and seeds."""

    def test_shapes(self):
        """Test that (batch, n) inputs give (batch, n) outputs and weights are (L, n, 3)."""
        layer = QuantumLayer(4, 2, seed=0)
        assert layer.weights.shape == (2, 4, 3)
        assert layer(torch.rand(7, 4)).shape == (7, 4)

    def test_weight_shapes_per_ansatz(self):
        """Test that single-rotation ansatzes have (L, n) weights."""
        assert QuantumLayer(3, 2, ansatz="basic-entangler").weights.shape == (2, 3)
        assert QuantumLayer(3, 2, ansatz="random-pauli").weights.shape == (2, 3)

    def test_unbatched_and_extra_batch_axes(self):
        """Test that (n,) and (a, b, n) inputs work like their flattened batch."""
        layer = QuantumLayer(3, 1, seed=0)
        x = torch.rand(2, 5, 3)
        torch.testing.assert_close(layer(x).reshape(10, 3), layer(x.reshape(10, 3)))
        torch.testing.assert_close(layer(x[0, 0]), layer(x[0, :1])[0])

    @pytest.mark.parametrize("dtype", [torch.complex64, torch.complex128])
    def test_output_has_input_dtype(self, dtype):
        """Test that weights use the layer's real dtype and the output the input's dtype."""
        layer = QuantumLayer(2, 1, dtype=dtype)
        assert layer.weights.dtype == dtype.to_real()
        assert layer(torch.rand(3, 2)).dtype == torch.float32
        assert layer(torch.rand(3, 2, dtype=torch.float64)).dtype == torch.float64

    def test_seed_reproducible(self):
        """Test that equal seeds give equal weights, different seeds different ones."""
        a, b, c = (QuantumLayer(3, 2, seed=s) for s in (5, 5, 6))
        torch.testing.assert_close(a.weights, b.weights)
        assert not torch.equal(a.weights, c.weights)

    def test_weights_in_range(self):
        """Test that weights are initialised on [0, 2 pi) as PennyLane's TorchLayer does."""
        w = QuantumLayer(6, 4, seed=0).weights
        assert w.min() >= 0 and w.max() < 2 * torch.pi

    def test_random_pauli_axes_from_seed(self):
        """Test that random-pauli circuits are fixed by the seed and differ between seeds."""

        def axes(seed):
            layer = QuantumLayer(4, 3, ansatz="random-pauli", seed=seed)
            return [r.pauli for r in layer.circuit.rotations]

        assert axes(1) == axes(1) and axes(1) != axes(2)

    def test_observable_outputs(self):
        """Test that a single-output observable gives (batch, 1)."""
        assert QuantumLayer(3, 1, observable="global-z")(torch.rand(4, 3)).shape == (4, 1)

    def test_repr_names_method(self):
        """Test that the module's repr shows the method and its options."""
        assert "FiniteDiff(h=0.1" in repr(QuantumLayer(2, 1, diff_method="finite-diff", h=0.1))

    @pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
    @pytest.mark.parametrize("method", [*EXACT_METHODS, "hadamard"])
    def test_cuda_matches_cpu(self, method):
        """Test that outputs and gradients on CUDA equal those on the CPU."""
        x = torch.rand(6, 4, dtype=torch.float64)
        results = []
        for device in ("cpu", "cuda"):
            layer = QuantumLayer(
                4, 2, diff_method=method, seed=0, dtype=torch.complex128, device=device
            )
            # a fresh leaf per device: x.to("cpu") is x itself, so requires_grad_() on it would
            # make the CUDA copy a non-leaf without .grad
            xd = x.detach().to(device).requires_grad_()
            layer(xd).square().sum().backward()
            results.append((layer(xd).cpu(), xd.grad.cpu(), layer.weights.grad.cpu()))
        for a, b in zip(*results, strict=True):
            torch.testing.assert_close(a, b)


class TestBadInput:
    """Bad input raises a ValueError that names the value and what is accepted."""

    @pytest.mark.parametrize(
        "kwargs,match",
        [
            ({"n_qubits": 0}, r"n_qubits must be in \[1, \d+\].*got 0"),
            ({"n_qubits": -3}, r"n_qubits must be in \[1, \d+\].*got -3"),
            ({"n_qubits": MAX_QUBITS + 1}, rf"n_qubits must be in \[1, {MAX_QUBITS}\].*MiB"),
            ({"n_qubits": 2.5}, r"n_qubits must be an integer .*got 2.5"),
            ({"n_layers": 0}, "n_layers must be an integer >= 1, got 0"),
            ({"n_layers": -1}, "n_layers must be an integer >= 1, got -1"),
            ({"ansatz": "no-such-ansatz"}, "unknown ansatz 'no-such-ansatz'.*strongly"),
            ({"diff_method": "magic"}, "unknown diff_method 'magic'.*backprop"),
            ({"observable": "zzz"}, "unknown observable 'zzz'.*z-each"),
            ({"dtype": torch.float32}, "dtype must be torch.complex64 or torch.complex128"),
            ({"diff_method": "adjoint", "shift": 1.0}, "unknown option.*'shift'.*'adjoint'"),
            ({"n_qubits": 1, "observable": "zz"}, "needs at least 2 qubits, got n_qubits=1"),
        ],
    )
    def test_constructor(self, kwargs, match):
        """Test that invalid constructor arguments raise a ValueError naming them."""
        args = {"n_qubits": 3, "n_layers": 1, **kwargs}
        with pytest.raises(ValueError, match=match):
            QuantumLayer(args.pop("n_qubits"), args.pop("n_layers"), **args)

    @pytest.mark.parametrize(
        "x,match",
        [
            (torch.rand(5, 3), r"shape \(batch, 4\).*got shape \(5, 3\)"),
            (torch.rand(5, 4, 1), r"shape \(batch, 4\).*got shape \(5, 4, 1\)"),
            (torch.tensor(1.0), r"shape \(batch, 4\).*got shape \(\)"),
            (torch.ones(5, 4, dtype=torch.int64), "floating-point tensor.*torch.int64"),
            (torch.ones(5, 4, dtype=torch.bool), "floating-point tensor.*torch.bool"),
            ([[0.1, 0.2, 0.3, 0.4]], "must be a torch.Tensor.*got list"),
        ],
    )
    def test_forward_input(self, x, match):
        """Test that wrong input widths, non-float inputs and non-tensors are rejected."""
        with pytest.raises(ValueError, match=match):
            QuantumLayer(4, 1)(x)


MODES = [(m, None) for m in names()] + [(m, 100) for m in shot_methods()]


@pytest.mark.parametrize("method,shots", MODES, ids=[f"{m}-{s or 'exact'}" for m, s in MODES])
class TestEdgeInputs:
    """NaN and infinite inputs, and empty batches, in every method and mode."""

    def test_non_finite_inputs_give_nan(self, method, shots):
        """Test that a row with NaN or inf gives NaN outputs and gradients; others are intact."""
        layer = QuantumLayer(3, 1, diff_method=method, shots=shots, seed=0)
        x = torch.rand(4, 3)
        x[1, 0], x[2, 2] = float("nan"), float("inf")
        x.requires_grad_(True)
        out = layer(x)
        assert out[[1, 2]].isnan().all() and out[[0, 3]].isfinite().all()
        if shots is None:  # the finite rows are what they are without the others
            clean = layer(x.detach()[[0, 3]])
            torch.testing.assert_close(out[[0, 3]], clean)
        out.sum().backward()
        assert layer.weights.grad.isnan().any()
        assert x.grad[[1, 2]].isnan().any(1).all() and x.grad[[0, 3]].isfinite().all()

    def test_empty_batch(self, method, shots):
        """Test that (0, n) gives (0, n_out), an empty input gradient and a zero weight one."""
        layer = QuantumLayer(3, 1, diff_method=method, shots=shots, seed=0)
        x = torch.zeros(0, 3, requires_grad=True)
        out = layer(x)
        assert out.shape == (0, 3) and out.dtype == torch.float32
        out.sum().backward()
        assert x.grad.shape == (0, 3)
        assert torch.count_nonzero(layer.weights.grad) == 0
        assert layer.cost.forward_circuits == 0 and layer.cost.backward_circuits == 0
        assert layer(torch.zeros(2, 0, 3)).shape == (2, 0, 3)

    def test_unbatched_input_and_gradient(self, method, shots):
        """Test that a (n,) input gives (n_out,) outputs and an (n,) input gradient."""
        layer = QuantumLayer(3, 1, diff_method=method, shots=shots, seed=0)
        x = torch.rand(3, requires_grad=True)
        out = layer(x)
        assert out.shape == (3,)
        out.sum().backward()
        assert x.grad.shape == (3,) and layer.weights.grad.shape == layer.weights.shape


class TestShotsArgument:
    """`shots` takes any integral number >= 1."""

    @pytest.mark.parametrize("shots", [np.int64(100), np.int32(100), np.uint16(100), 100])
    def test_integral_types(self, shots):
        """Test that numpy integers are accepted and stored as a Python int."""
        layer = QuantumLayer(2, 1, diff_method="parameter-shift", shots=shots)
        assert layer.shots == 100 and type(layer.shots) is int
        assert layer(torch.rand(3, 2)).shape == (3, 2)

    @pytest.mark.parametrize("shots", [True, np.bool_(True), 100.0, np.float64(100), 0, -5])
    def test_rejected(self, shots):
        """Test that bools, floats and values below 1 are rejected."""
        with pytest.raises(ValueError, match="shots must be None .* positive integer"):
            QuantumLayer(2, 1, diff_method="parameter-shift", shots=shots)


def separable_data(seed=0, n=64):
    """Two Gaussian blobs in 2-D, separated along the first axis."""
    gen = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    x = torch.randn(n, 2, generator=gen) * 0.4
    x[:, 0] += torch.where(y == 1, 1.5, -1.5)
    return x, y


@pytest.mark.parametrize("method", names())
class TestTraining:
    """A HybridModel-shaped network trains with every method."""

    def test_loss_falls(self, method):
        """Test that Linear -> Tanh -> QuantumLayer -> Linear cuts its loss by a clear margin."""
        torch.manual_seed(0)
        options = {"shots": 1000} if method in ("spsa", "hadamard", "shot-adjoint") else {}
        net = nn.Sequential(
            nn.Linear(2, 2),
            nn.Tanh(),
            QuantumLayer(2, 1, diff_method=method, seed=0, **options),
            nn.Linear(2, 2),
        )
        x, y = separable_data()
        opt = torch.optim.Adam(net.parameters(), lr=0.05)
        loss_fn = nn.CrossEntropyLoss()
        losses = []
        for _ in range(40):
            opt.zero_grad()
            loss = loss_fn(net(x), y)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        assert losses[-1] < 0.5 * losses[0], losses
        accuracy = (net(x).argmax(1) == y).float().mean().item()
        assert accuracy >= 0.9


@pytest.mark.parametrize("method", ["backprop", "adjoint"])
@pytest.mark.parametrize("observable", ["z-each", "zz", "local-projector"])
def test_table_free_observables_give_the_same_gradients(method, observable, monkeypatch):
    """Test outputs and gradients with the observables' factors against their tables.

    Large registers never build the eigenvalue table (``TABLE_ENTRIES``); forced here on 7
    qubits (fused groups), complex128, for the expectation, its written-out backward pass
    and the adjoint's ``O_eff``.
    """
    from qgradbench.circuits import observables

    x = torch.rand(3, 7, generator=torch.Generator().manual_seed(12), dtype=torch.float64)
    results = []
    for entries in (observables.TABLE_ENTRIES, 0):
        monkeypatch.setattr(observables, "TABLE_ENTRIES", entries)
        layer = QuantumLayer(
            7, 2, diff_method=method, observable=observable, seed=0, dtype=torch.complex128
        )
        xg = x.clone().requires_grad_()
        out = layer(xg)
        (out * torch.linspace(-1, 1, out.shape[-1], dtype=out.dtype)).sum().backward()
        results.append((out.detach(), xg.grad, layer.weights.grad))
    for got, want in zip(results[1], results[0], strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-12)


def test_finite_check_survives_an_overflowing_sum():
    """Finite angles whose sum overflows are finite; a NaN or an infinity is not.

    The layer first tests the angles' sum (one reduction); planted: without the
    element-wise fallback, the first case fails.
    """
    from qgradbench.layer import _all_finite

    assert _all_finite(torch.tensor([[3e38, 3e38]], dtype=torch.float32))
    assert not _all_finite(torch.tensor([[1.0, float("nan")]]))
    assert not _all_finite(torch.tensor([[float("inf"), -1.0]]))
