"""Agreement with PennyLane (default.qubit, backprop) on the same circuits: DESIGN.md section 8.

Tolerances: 1e-5 in complex64 and 1e-10 in complex128 for every analytic method. Finite
differences carry a truncation and a rounding error of their own, so they get the bound of
their stencil instead (see ``TestFiniteDiffAgreement``).
"""

from __future__ import annotations

import functools
import itertools
import math
import re
from pathlib import Path

import pennylane as qml
import pytest
import torch

from qgradbench import QuantumLayer
from qgradbench.circuits import OBSERVABLES
from tests.conftest import pennylane_reference

pytestmark = pytest.mark.pennylane

# Exact with shots=None: the Hadamard test then returns exact expectations. shot-adjoint is not
# listed: without shots it returns the adjoint Jacobian itself (test_methods.py checks that), so
# here it would only repeat adjoint; its sampled entries are checked in test_shots.py.
ANALYTIC = ("backprop", "adjoint", "parameter-shift", "hadamard")
TOL = {torch.complex64: 1e-5, torch.complex128: 1e-10}
SIZES = list(itertools.product(range(2, 7), range(1, 5)))  # 2..6 qubits x 1..4 layers


def test_pennylane_is_the_pinned_reference():
    """Test that the PennyLane compared against is the version pinned in the test extra."""
    pyproject = (Path(__file__).parents[1] / "pyproject.toml").read_text()
    extra = re.search(r"^test = \[(.*?)^\]", pyproject, re.S | re.M).group(1)
    assert qml.version() == re.search(r'"pennylane==([^"]+)"', extra).group(1)


def layer_jacobian(layer: QuantumLayer, x: torch.Tensor):
    """Return the layer's output and its Jacobians w.r.t. the inputs and the weights."""
    w = layer.weights.detach().clone()

    def f(x_, w_):
        return torch.func.functional_call(layer, {"weights": w_}, (x_,))

    jac_x, jac_w = torch.autograd.functional.jacobian(f, (x, w))
    return f(x, w).detach(), jac_x, jac_w


@functools.cache
def case(ansatz: str, n: int, n_layers: int, observable: str = "z-each", seed: int = 7):
    """Random inputs and weights for one circuit, with PennyLane's values and Jacobians."""
    gen = torch.Generator().manual_seed(1000 * n + 10 * n_layers + seed)
    template = QuantumLayer(n, n_layers, ansatz=ansatz, seed=seed, observable=observable)
    x = 2 * torch.rand(3, n, generator=gen, dtype=torch.float64) - 1
    w = 2 * math.pi * torch.rand(template.weights.shape, generator=gen, dtype=torch.float64)
    return x, w, pennylane_reference(ansatz, n, n_layers, x, w, observable, seed)


def make_layer(ansatz, n, n_layers, method, dtype, w, observable="z-each", seed=7, **options):
    layer = QuantumLayer(
        n,
        n_layers,
        ansatz=ansatz,
        diff_method=method,
        dtype=dtype,
        observable=observable,
        seed=seed,
        **options,
    )
    with torch.no_grad():
        layer.weights.copy_(w)
    return layer


def assert_agrees(layer, x, reference, tol):
    value, jac_x, jac_w = layer_jacobian(layer, x.to(layer.weights.dtype))
    ref_value, ref_jac_x, ref_jac_w = reference
    torch.testing.assert_close(value.double(), ref_value, atol=tol, rtol=0)
    torch.testing.assert_close(jac_x.double(), ref_jac_x, atol=tol, rtol=0)
    torch.testing.assert_close(jac_w.double(), ref_jac_w, atol=tol, rtol=0)


@pytest.mark.parametrize("method", ANALYTIC)
@pytest.mark.parametrize("dtype", [torch.complex64, torch.complex128], ids=["c64", "c128"])
class TestStronglyEntangling:
    """Analytic methods against PennyLane's StronglyEntanglingLayers, 2-6 qubits, 1-4 layers."""

    @pytest.mark.parametrize("n,n_layers", SIZES)
    def test_values_and_jacobians(self, method, dtype, n, n_layers):
        """Test that values and Jacobians (inputs and weights) equal PennyLane's."""
        x, w, reference = case("strongly-entangling", n, n_layers)
        layer = make_layer("strongly-entangling", n, n_layers, method, dtype, w)
        assert_agrees(layer, x, reference, TOL[dtype])


@pytest.mark.parametrize("method", ANALYTIC)
class TestOtherAnsatzes:
    """The other ansatzes and the experiment observables against PennyLane, complex128."""

    @pytest.mark.parametrize("ansatz", ["basic-entangler", "random-pauli"])
    @pytest.mark.parametrize("n,n_layers", [(2, 1), (3, 2), (5, 3)])
    def test_ansatz(self, method, ansatz, n, n_layers):
        """Test that the ansatz's values and Jacobians equal PennyLane's."""
        x, w, reference = case(ansatz, n, n_layers)
        layer = make_layer(ansatz, n, n_layers, method, torch.complex128, w)
        assert_agrees(layer, x, reference, 1e-10)

    @pytest.mark.parametrize("observable", OBSERVABLES)
    def test_observable(self, method, observable):
        """Test that each experiment observable and its gradient equal PennyLane's."""
        x, w, reference = case("random-pauli", 4, 2, observable)
        layer = make_layer("random-pauli", 4, 2, method, torch.complex128, w, observable)
        assert_agrees(layer, x, reference, 1e-10)


@pytest.mark.parametrize("dtype", [torch.complex64, torch.complex128], ids=["c64", "c128"])
class TestFiniteDiffAgreement:
    """Finite differences against PennyLane, within the error bound of the stencil.

    A 4th-order central stencil with the default step ``h = eps^(1/5)`` has truncation error
    ``<= h^4 max|f^(5)| / 30 <= h^4 / 30`` (every expectation is a sinusoid of amplitude <= 1 in
    each slot) and rounding error ``<= sum|c_j| delta / h = 1.5 delta / h``, with ``delta`` the
    error of one expectation value (``~3e-7`` in float32, ``~1e-15`` in float64). Input columns
    carry the encoding's chain factor ``pi``. Bound: ``pi * (h^4/30 + 1.5 delta/h)``:
    complex128 ``~ 7e-12`` (under the 1e-10 of the analytic methods); complex64 ``~ 4e-5``.
    """

    @pytest.mark.parametrize("n,n_layers", [(2, 1), (3, 2), (4, 2), (6, 4)])
    def test_values_and_jacobians(self, dtype, n, n_layers):
        """Test that central 4th-order finite differences agree within their error bound."""
        x, w, reference = case("strongly-entangling", n, n_layers)
        layer = make_layer(
            "strongly-entangling",
            n,
            n_layers,
            "finite-diff",
            dtype,
            w,
            strategy="central",
            approx_order=4,
        )
        delta = 3e-7 if dtype == torch.complex64 else 1e-15
        h = layer.method.step(None, layer.weights.dtype)
        bound = math.pi * (h**4 / 30 + 1.5 * delta / h)
        assert_agrees(layer, x, reference, bound)
