"""Tests of the hybrid and classical models and the parameter-matched baseline."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from qgradbench import QuantumLayer
from qgradbench.models import ClassicalModel, HybridModel, count_parameters, matched_classical


def _same_parameters(a: nn.Module, b: nn.Module) -> bool:
    return all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


class TestHybridModel:
    """The seed notebook's hybrid architecture."""

    def test_layer_sequence(self):
        """Test that the layers are exactly the notebook's, with their sizes."""
        model = HybridModel(input_size=5, hidden_size=7, n_qubits=3, output_size=4, n_layers=2)
        kinds = [type(layer) for layer in model]
        assert kinds == [
            nn.Linear, nn.ReLU, nn.Linear, nn.Tanh, QuantumLayer, nn.Linear, nn.ReLU, nn.Linear,
        ]  # fmt: skip
        linear = [(m.in_features, m.out_features) for m in model if isinstance(m, nn.Linear)]
        assert linear == [(5, 7), (7, 3), (3, 7), (7, 4)]
        assert model.quantum is model[4]
        assert (model.quantum.n_qubits, model.quantum.n_layers) == (3, 2)
        assert tuple(model.quantum.weights.shape) == (2, 3, 3)

    def test_default_parameter_count(self):
        """Test that the default model has 80 + 68 + 24 + 80 + 34 = 286 trainable parameters."""
        assert count_parameters(HybridModel(seed=0)) == 286

    def test_forward_shape_and_dtype(self):
        """Test that a batch of inputs gives float32 logits of shape (batch, output_size)."""
        model = HybridModel(seed=0, output_size=3)
        out = model(torch.randn(6, 4, generator=torch.Generator().manual_seed(0)))
        assert out.shape == (6, 3)
        assert out.dtype == torch.float32
        assert torch.isfinite(out).all()

    @pytest.mark.parametrize("diff_method", ["backprop", "adjoint", "parameter-shift"])
    def test_gradients_reach_classical_and_quantum_weights(self, diff_method):
        """Test that a loss's gradient is nonzero on every classical and quantum parameter."""
        model = HybridModel(seed=1, diff_method=diff_method)
        x = torch.randn(16, 4, generator=torch.Generator().manual_seed(1))
        y = torch.arange(16) % 2
        nn.functional.cross_entropy(model(x), y).backward()
        for name, parameter in model.named_parameters():
            assert parameter.grad is not None, name
            assert parameter.grad.abs().sum() > 0, name
        assert model.quantum.weights.grad is not None

    def test_options_reach_quantum_layer(self):
        """Test that method, ansatz, dtype and method options are passed to the quantum layer."""
        model = HybridModel(
            seed=0, diff_method="finite-diff", ansatz="basic-entangler", dtype=torch.complex128,
            n_layers=3, h=0.05,
        )  # fmt: skip
        layer = model.quantum
        assert (layer.diff_method, layer.ansatz, layer.dtype) == (
            "finite-diff", "basic-entangler", torch.complex128,
        )  # fmt: skip
        assert layer.method.config["h"] == 0.05
        assert tuple(layer.weights.shape) == (3, 4)

    def test_same_seed_same_initialisation(self):
        """Test that the same seed gives identical classical and quantum weights."""
        assert _same_parameters(HybridModel(seed=3), HybridModel(seed=3))

    def test_different_seed_different_initialisation(self):
        """Test that different seeds give different classical and quantum weights."""
        a, b = HybridModel(seed=3), HybridModel(seed=4)
        assert not torch.equal(a.fc1.weight, b.fc1.weight)
        assert not torch.equal(a.fc4.weight, b.fc4.weight)
        assert not torch.equal(a.quantum.weights, b.quantum.weights)

    def test_classical_and_quantum_streams_are_independent(self):
        """Test that quantum weights are not a function of fc1's weights (distinct streams).

        With a shared stream the two would be affinely related (correlation 1); for independent
        uniforms the sample correlation of 24 pairs has standard deviation about 0.2.
        """
        model = HybridModel(seed=0)
        quantum = model.quantum.weights.detach().flatten()
        classical = model.fc1.weight.detach().flatten()[: quantum.numel()]
        correlation = torch.corrcoef(torch.stack([quantum, classical]))[0, 1]
        assert abs(correlation.item()) < 0.8

    def test_quantum_layer_seeded_like_standalone(self):
        """Test that the quantum weights equal those of QuantumLayer(seed=seed) on its own."""
        model = HybridModel(seed=4)
        torch.testing.assert_close(model.quantum.weights, QuantumLayer(4, 2, seed=4).weights)

    def test_seed_leaves_global_rng_unchanged(self):
        """Test that seeded construction leaves torch's global RNG state unchanged."""
        torch.manual_seed(123)
        before = torch.random.get_rng_state()
        HybridModel(seed=3)
        assert torch.equal(torch.random.get_rng_state(), before)

    def test_seed_is_independent_of_global_rng(self):
        """Test that a seeded model does not depend on the global RNG state."""
        torch.manual_seed(1)
        a = HybridModel(seed=3)
        torch.manual_seed(2)
        b = HybridModel(seed=3)
        assert _same_parameters(a, b)

    def test_numpy_integer_sizes_and_seed(self):
        """Test that numpy integers are accepted as sizes and seed, equal to Python ints."""
        a = HybridModel(hidden_size=np.int64(8), seed=np.int64(2))
        assert _same_parameters(a, HybridModel(hidden_size=8, seed=2))

    def test_unseeded_draws_from_global_rng(self):
        """Test that seed=None initialises from (and advances) torch's global generator."""
        torch.manual_seed(9)
        a = HybridModel()
        torch.manual_seed(9)
        b = HybridModel()
        assert _same_parameters(a, b)
        assert not _same_parameters(a, HybridModel())


class TestClassicalModel:
    """The notebook's four-Linear classical baseline."""

    def test_layer_sequence(self):
        """Test that the layers are four Linear of width hidden_size with ReLUs between."""
        model = ClassicalModel(input_size=5, hidden_size=8, output_size=3)
        kinds = [type(layer) for layer in model]
        assert kinds == [nn.Linear, nn.ReLU] * 3 + [nn.Linear]
        linear = [(m.in_features, m.out_features) for m in model if isinstance(m, nn.Linear)]
        assert linear == [(5, 8), (8, 8), (8, 8), (8, 3)]

    def test_forward_shape(self):
        """Test that the output has shape (batch, output_size)."""
        model = ClassicalModel(seed=0)
        assert model(torch.zeros(10, 4)).shape == (10, 2)

    def test_default_parameter_count(self):
        """Test that the default network has 80 + 272 + 272 + 34 = 658 parameters."""
        assert count_parameters(ClassicalModel(seed=0)) == 658

    @pytest.mark.parametrize(("n_in", "h", "n_out"), [(4, 16, 2), (1, 1, 1), (7, 13, 5)])
    def test_parameter_count_formula(self, n_in, h, n_out):
        """Test that parameter_count matches the built model's count."""
        model = ClassicalModel(n_in, h, n_out)
        assert ClassicalModel.parameter_count(n_in, h, n_out) == count_parameters(model)

    def test_seed_determinism_and_global_rng(self):
        """Test that a seed fixes the weights and leaves the global RNG state unchanged."""
        torch.manual_seed(0)
        before = torch.random.get_rng_state()
        a, b, c = ClassicalModel(seed=5), ClassicalModel(seed=5), ClassicalModel(seed=6)
        assert torch.equal(torch.random.get_rng_state(), before)
        assert _same_parameters(a, b)
        assert not _same_parameters(a, c)


class TestMatchedClassical:
    """The parameter-matched classical baseline."""

    def test_default_hybrid(self):
        """Test that the default hybrid (286) is matched by width 10 (292 parameters)."""
        classical = matched_classical(HybridModel(seed=0))
        assert classical.hidden_size == 10
        assert count_parameters(classical) == 292

    @pytest.mark.parametrize(
        "sizes",
        [
            {},
            {"n_qubits": 2, "n_layers": 1},
            {"n_qubits": 6, "n_layers": 8, "hidden_size": 32},
            {"input_size": 10, "output_size": 3, "hidden_size": 5},
        ],
    )
    def test_count_within_half_a_width_step(self, sizes):
        """Test that the match is within (4h + in + out + 5)/2 and no other width is closer."""
        hybrid = HybridModel(seed=0, **sizes)
        classical = matched_classical(hybrid)
        target, h = count_parameters(hybrid), classical.hidden_size
        n_in, n_out = hybrid.input_size, hybrid.output_size
        difference = abs(count_parameters(classical) - target)
        assert difference <= (4 * h + n_in + n_out + 5) / 2
        for other in range(1, 4 * h + 2):
            assert difference <= abs(ClassicalModel.parameter_count(n_in, other, n_out) - target)
        assert (classical.input_size, classical.output_size) == (n_in, n_out)

    def test_seed_defaults_to_hybrid_seed(self):
        """Test that the matched model's seed is the hybrid's unless given."""
        hybrid = HybridModel(seed=7)
        assert matched_classical(hybrid).seed == 7
        assert matched_classical(hybrid, seed=8).seed == 8
        assert _same_parameters(matched_classical(hybrid), ClassicalModel(4, 10, 2, seed=7))

    def test_rejects_non_hybrid(self):
        """Test that a model other than HybridModel is rejected."""
        with pytest.raises(ValueError, match=r"hybrid must be a HybridModel, got ClassicalModel"):
            matched_classical(ClassicalModel())


class TestErrors:
    """Bad sizes and seeds are ValueErrors naming the value and what is accepted."""

    @pytest.mark.parametrize(
        "name", ["input_size", "hidden_size", "n_qubits", "output_size", "n_layers"]
    )
    @pytest.mark.parametrize("value", [0, -1, 2.0, True])
    def test_hybrid_bad_size(self, name, value):
        """Test that a hybrid size that is not an integer >= 1 is rejected."""
        with pytest.raises(ValueError, match=rf"{name} must be an integer >= 1, got {value!r}"):
            HybridModel(**{name: value})

    @pytest.mark.parametrize("name", ["input_size", "hidden_size", "output_size"])
    @pytest.mark.parametrize("value", [0, -2, "4"])
    def test_classical_bad_size(self, name, value):
        """Test that a classical size that is not an integer >= 1 is rejected."""
        with pytest.raises(ValueError, match=rf"{name} must be an integer >= 1, got {value!r}"):
            ClassicalModel(**{name: value})

    @pytest.mark.parametrize("model", [HybridModel, ClassicalModel])
    @pytest.mark.parametrize("seed", [-1, 1.5, "0"])
    def test_bad_seed(self, model, seed):
        """Test that a seed that is not None or an integer >= 0 is rejected."""
        message = rf"seed must be None or an integer >= 0, got {seed!r}"
        with pytest.raises(ValueError, match=message):
            model(seed=seed)

    def test_bad_quantum_options_propagate(self):
        """Test that the quantum layer's own ValueErrors (method, ansatz) reach the caller."""
        with pytest.raises(ValueError, match=r"unknown diff_method 'magic'"):
            HybridModel(diff_method="magic")
        with pytest.raises(ValueError, match=r"unknown ansatz 'bogus'"):
            HybridModel(ansatz="bogus")
