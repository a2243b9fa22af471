"""CUDA variants of the method-agreement and shot-statistics tests (skipped without a GPU).

Agreement: every exact method on CUDA equals the same method on the CPU (complex128, 1e-10) for
every ansatz, inputs' and weights' gradients included, at sizes on both sides of the dense-path
threshold. Shot statistics: the estimators sampled on CUDA have the means and variances of
``tests/test_shots.py`` (same tolerances: 5 standard errors).
"""

from __future__ import annotations

import math

import pytest
import torch

from qgradbench import QuantumLayer
from qgradbench.backend import Execution
from qgradbench.methods.base import assemble
from tests.test_shots import N, R, assert_mean, assert_variance, exact, sampled_jacobians

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

EXACT = ("backprop", "adjoint", "parameter-shift", "hadamard", "shot-adjoint")
ANSATZES = ("strongly-entangling", "basic-entangler", "random-pauli")


def outputs_and_grads(method, ansatz, n, n_layers, device, x, w):
    """Output and gradients (inputs, weights) of one layer on ``device``, complex128."""
    layer = QuantumLayer(
        n,
        n_layers,
        ansatz=ansatz,
        diff_method=method,
        seed=3,
        dtype=torch.complex128,
        device=device,
    )
    with torch.no_grad():
        layer.weights.copy_(w)
    xd = x.detach().to(device).requires_grad_()
    out = layer(xd)
    (out * torch.linspace(-1, 1, out.shape[-1], dtype=out.dtype, device=device)).sum().backward()
    return out.detach().cpu(), xd.grad.cpu(), layer.weights.grad.cpu()


@pytest.mark.parametrize("method", EXACT)
class TestCudaAgreement:
    """Each exact method gives the CPU's values and gradients on CUDA."""

    @pytest.mark.parametrize("ansatz", ANSATZES)
    @pytest.mark.parametrize("n,n_layers", [(3, 2), (8, 2)])
    def test_matches_cpu(self, method, ansatz, n, n_layers):
        """Test that values and input/weight gradients on CUDA equal the CPU's to 1e-10."""
        gen = torch.Generator().manual_seed(10 * n + n_layers)
        x = 2 * torch.rand(4, n, generator=gen, dtype=torch.float64) - 1
        shape = QuantumLayer(n, n_layers, ansatz=ansatz, seed=3).weights.shape
        w = 2 * math.pi * torch.rand(shape, generator=gen, dtype=torch.float64)
        cpu = outputs_and_grads(method, ansatz, n, n_layers, "cpu", x, w)
        gpu = outputs_and_grads(method, ansatz, n, n_layers, "cuda", x, w)
        for a, b in zip(cpu, gpu, strict=True):
            torch.testing.assert_close(b, a, atol=1e-10, rtol=0)


def cuda_setup(method, seed=11, **options):
    """A CUDA layer of 3 qubits, 2 layers, ``N`` shots, and two random angle vectors."""
    layer = QuantumLayer(
        3,
        2,
        diff_method=method,
        shots=N,
        seed=seed,
        dtype=torch.complex128,
        device="cuda",
        **options,
    )
    gen = torch.Generator().manual_seed(seed)
    x = 2 * torch.rand(2, 3, generator=gen, dtype=torch.float64) - 1
    theta = assemble(math.pi * x.cuda(), layer.weights.detach().reshape(-1))
    return layer, theta


class TestCudaShotStatistics:
    """Sampled forward passes and shot estimators on CUDA: mean and variance within 5 SE."""

    @pytest.mark.parametrize("method", ["parameter-shift", "finite-diff", "spsa", "hadamard"])
    def test_forward(self, method):
        """Test that sampled <Z_i> on CUDA have mean <Z_i> and variance (1 - <Z_i>^2) / N."""
        layer, theta = cuda_setup(method)
        x = (theta[:, :3] / math.pi).repeat(R, 1)
        with torch.no_grad():
            out = layer(x).reshape(R, 2, 3)
        f, _ = exact(layer, theta)
        assert_mean(out, f, (1 - f**2) / N)
        assert_variance(out, (1 - f**2) / N)

    def test_hadamard(self):
        """Test that Hadamard-test entries on CUDA have mean g and variance (1 - g^2) / N."""
        layer, theta = cuda_setup("hadamard")
        _, g = exact(layer, theta)
        jac = sampled_jacobians(layer, theta)
        assert_mean(jac, g, (1 - g**2) / N)
        assert_variance(jac, (1 - g**2) / N)

    def test_shot_adjoint(self):
        """Test that shot-adjoint entries on CUDA match the Hadamard-test distribution."""
        layer, theta = cuda_setup("shot-adjoint", match="hadamard")
        _, g = exact(layer, theta)
        jac = sampled_jacobians(layer, theta)
        assert_mean(jac, g, (1 - g**2) / N)
        assert_variance(jac, (1 - g**2) / N)

    def test_parameter_shift(self):
        """Test that parameter-shift entries on CUDA have mean g and the two-term variance."""
        layer, theta = cuda_setup("parameter-shift")
        ex = Execution(layer.circuit, layer.execution.observable, layer.dtype)
        f, g = exact(layer, theta)
        kicked = theta[:, None, :] + math.pi * torch.eye(
            theta.shape[-1], dtype=theta.dtype, device=theta.device
        )
        f_kicked = ex.expval(kicked.reshape(-1, theta.shape[-1])).reshape(
            theta.shape[0], theta.shape[-1], -1
        )
        a = (f[..., None] + f_kicked.transpose(1, 2)) / 2
        var = (1 - a**2 - g**2) / (2 * N)
        jac = sampled_jacobians(layer, theta)
        assert_mean(jac, g, var)
        assert_variance(jac, var)
