"""Gradient variance over random circuits: barren plateaus against closed forms and PennyLane.

Statistical checks use fixed seeds and tolerances derived from the measurement's own standard
errors: ``variance_se`` is the standard error of a sample variance from the fourth central
moment (valid for the heavy-tailed gradients of deep circuits), and slopes come with the
standard error of their weighted least-squares fit.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from qgradbench.analysis import log_slope, two_design_variance
from qgradbench.circuits import random_pauli
from qgradbench.circuits.ensembles import ensemble
from qgradbench.experiments.common import circuit_spec, exact_jacobian, make_execution
from qgradbench.experiments.variance import (
    VarianceSpec,
    layers_for_depth,
    sample_gradients,
    variance,
)


def sweep(qubits, **settings) -> pd.DataFrame:
    """One variance row per qubit count."""
    return pd.DataFrame([variance(VarianceSpec(n_qubits=n, **settings))[0] for n in qubits])


class TestEnsemble:
    def test_basis_angles_reproduce_random_pauli_circuits(self):
        """Test that the ensemble's per-sample axes give exactly McClean et al.'s circuits."""
        n, layers = 3, 4
        ens = ensemble("random-pauli", n, layers)
        draw = ens.draw(6, np.random.default_rng(0))
        theta = torch.as_tensor(draw.theta)
        batch = make_execution(ens.circuit, "zz", torch.complex128, None, 0)
        values, jac = batch.expval(theta), exact_jacobian(batch, theta, np.arange(n, n + n * 4))
        for s in range(6):
            single = make_execution(random_pauli(n, layers, draw.axes[s]), "zz", torch.complex128,
                                    None, 0)  # fmt: skip
            t = torch.as_tensor(np.concatenate([np.zeros(n), draw.weights[s]]))[None]
            ref = exact_jacobian(single, t, np.arange(n, n + n * layers))
            assert torch.allclose(values[s], single.expval(t)[0], atol=1e-12)
            assert torch.allclose(jac[s], ref[0], atol=1e-12)

    def test_axes_are_uniform(self):
        """Test that every axis is drawn about a third of the time (5 standard errors)."""
        draw = ensemble("random-pauli", 4, 50).draw(100, np.random.default_rng(1))
        counts = np.bincount(draw.axes.ravel(), minlength=3)
        m = draw.axes.size
        assert np.all(np.abs(counts - m / 3) <= 5 * math.sqrt(m * (1 / 3) * (2 / 3)))

    @pytest.mark.parametrize("param, expected", [("first", [0]), ("middle", [4]), ("last", [7])])
    def test_param_selectors(self, param, expected):
        """Test that first, middle and last pick indices 0, P/2 and P - 1."""
        assert ensemble("random-pauli", 2, 4).param_indices(param) == expected


@pytest.fixture(scope="module")
def deep():
    """McClean et al.'s setting: random-pauli, Z0 Z1, first parameter, 20 layers per qubit."""
    return sweep((2, 4, 6), layers_per_qubit=20, samples=1000, seed=3)


class TestBarrenPlateau:
    def test_variance_matches_the_two_design_value(self, deep):
        """Test that each variance is within 4 standard errors of N / (3 (N^2 - 1))."""
        expected = two_design_variance(deep["n_qubits"].to_numpy())
        assert np.all(np.abs(deep["variance"] - expected) <= 4 * deep["variance_se"])

    def test_log_slope_is_minus_ln_2(self, deep):
        """Test that the fitted ln-variance slope is -ln 2 (3 SE) and the 2-design slope (2 SE).

        Over n = 2, 4, 6 the 2-design curve itself has slope -0.709 (finite-size correction to
        -ln 2 = -0.693; McClean et al. read -0.685 off their figure).
        """
        fit = log_slope(deep)
        design = log_slope(deep.assign(variance=two_design_variance(deep["n_qubits"])), se=None)
        assert abs(fit.slope + math.log(2)) <= 3 * fit.slope_se
        assert abs(fit.slope - design.slope) <= 2 * fit.slope_se

    def test_one_layer_does_not_decay_exponentially(self):
        """Test that at one layer the Z0 Z1 variance is flat in n (slope > -0.1, 3 SE)."""
        fit = log_slope(sweep((2, 4, 6, 8, 10), n_layers=1, samples=1000, seed=3))
        assert fit.slope - 3 * fit.slope_se > -0.1

    def test_global_cost_decays_exponentially_and_local_polynomially(self):
        """Test Cerezo et al. 2021 on one layer: global-z exponential, local-z a power law.

        The local cost is the mean of n single-qubit terms of which a light cone of two feel
        the first parameter, so its variance falls as n^-2: a power law, not exponential.
        """
        qubits = (2, 4, 6, 8, 10)
        glob = log_slope(sweep(qubits, n_layers=1, observable="global-z", samples=1000, seed=3))
        local_rows = sweep(qubits, n_layers=1, observable="local-z", samples=1000, seed=3)
        power = log_slope(local_rows, log_x=True)
        assert glob.slope + 3 * glob.slope_se < -0.5
        assert abs(power.slope + 2) <= 3 * power.slope_se + 0.2
        assert log_slope(local_rows).slope > glob.slope + 5 * glob.slope_se


@pytest.mark.pennylane
def test_variance_matches_pennylane_on_the_same_circuits():
    """Test that per-circuit gradients and their variance equal PennyLane's to 1e-10."""
    qml = pytest.importorskip("pennylane")
    n, layers = 3, 3
    spec = VarianceSpec(n_qubits=n, n_layers=layers, samples=12, seed=5, dtype="complex128")
    result = sample_gradients(spec)
    dev = qml.device("default.qubit", wires=n)
    gates = (qml.RX, qml.RY, qml.RZ)

    @qml.qnode(dev, interface="torch", diff_method="backprop")
    def circuit(w, axes):
        for i in range(n):
            qml.RY(math.pi / 4, wires=i)
        for layer in range(layers):
            for i in range(n):
                gates[axes[layer, i]](w[layer * n + i], wires=i)
            for i in range(n - 1):
                qml.CZ(wires=[i, i + 1])
        return qml.expval(qml.PauliZ(0) @ qml.PauliZ(1))

    grads = []
    for s in range(spec.samples):
        w = torch.tensor(result.draw.weights[s], dtype=torch.float64, requires_grad=True)
        circuit(w, result.draw.axes[s]).backward()
        grads.append(float(w.grad[0]))
    grads = np.array(grads)
    assert np.allclose(result.estimates[:, 0], grads, atol=1e-10)
    assert abs(result.estimates[:, 0].var(ddof=1) - grads.var(ddof=1)) <= 1e-10


class TestShots:
    @pytest.mark.parametrize(
        "method, options",
        [("parameter-shift", {}), ("shot-adjoint", {}), ("hadamard", {}),
         ("finite-diff", {"strategy": "central", "approx_order": 2})],
    )  # fmt: skip
    def test_landscape_plus_shot_part_is_the_total(self, method, options):
        """Test Var[g_hat] = landscape + shot part within 5 SE of the sample cross-term.

        With g_hat = mu + e, the sample variance of g_hat is the sample variance of mu plus the
        mean of e^2 plus 2 cov(mu, e); the covariance has mean 0 and standard error
        sqrt(Var mu * E e^2 / m).
        """
        spec = VarianceSpec(n_qubits=3, n_layers=3, method=method, shots=100, samples=2000,
                            seed=2, method_options=options)  # fmt: skip
        row = variance(spec)[0]
        split = row["landscape_variance"] + row["shot_variance"]
        tol = 5 * 2 * math.sqrt(row["landscape_variance"] * row["shot_variance"] / spec.samples)
        assert abs(row["variance"] - split) <= tol
        assert row["shot_variance"] > 0 and row["landscape_variance"] > 0

    def test_shot_part_matches_the_parameter_shift_closed_form(self):
        """Test E[Var(g_hat|theta)] = E[(2 - f+^2 - f-^2) / (4N)] within 5 SE."""
        n_shots = 50
        spec = VarianceSpec(n_qubits=2, n_layers=2, method="parameter-shift", shots=n_shots,
                            samples=3000, seed=4, dtype="complex128")  # fmt: skip
        result = sample_gradients(spec)
        ens = spec.ensemble()
        theta = torch.as_tensor(result.draw.theta)
        slot = ens.weight_slot(0)
        exact = make_execution(ens.circuit, "zz", torch.complex128, None, 0)
        shift = torch.zeros_like(theta)
        shift[:, slot] = math.pi / 2
        f_plus, f_minus = exact.expval(theta + shift)[:, 0], exact.expval(theta - shift)[:, 0]
        closed = ((2 - f_plus**2 - f_minus**2) / (4 * n_shots)).numpy()
        noise = (result.estimates[:, 0] - result.means[:, 0]) ** 2
        tol = 5 * noise.std(ddof=1) / math.sqrt(len(noise))
        assert abs(noise.mean() - closed.mean()) <= tol

    def test_rows_of_param_all(self):
        """Test that param=all gives one row per parameter, indices 0..P-1."""
        rows = variance(VarianceSpec(n_qubits=2, n_layers=2, param="all", samples=20))
        assert [r["param_index"] for r in rows] == [0, 1, 2, 3]

    def test_methods_share_circuits(self):
        """Test that adjoint and backprop see the same circuits (paired rows agree)."""
        a = variance(VarianceSpec(n_qubits=3, n_layers=2, samples=50, method="adjoint"))[0]
        b = variance(VarianceSpec(n_qubits=3, n_layers=2, samples=50, method="backprop"))[0]
        assert a["variance"] == pytest.approx(b["variance"], rel=1e-5)


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"samples": 1}, "samples must be an integer >= 2"),
        ({"observable": "z-each"}, "single output"),
        ({"observable": "bogus"}, "single output"),
        ({"param": "sideways"}, "unknown param selector 'sideways'"),
        ({"param": 99}, "parameter index 99 out of range"),
        ({"n_qubits": 1}, "needs at least 2 qubits"),
        ({"shots": 100}, "exact and cannot take shots=100"),
        ({"method": "magic"}, "unknown diff_method 'magic'"),
        ({"n_layers": None}, "exactly one of n_layers, layers_per_qubit and depth"),
        ({"depth": "log"}, "exactly one of n_layers, layers_per_qubit and depth"),
        (
            {"n_layers": None, "depth": "sqrt"},
            "depth must be one of '1', 'log', 'linear', got 'sqrt'",
        ),
    ],
)
def test_bad_specs(settings, message):
    """Test that a bad variance spec raises a ValueError naming the problem."""
    with pytest.raises(ValueError, match=message):
        VarianceSpec(**{"n_qubits": 2, "n_layers": 1, **settings})


class TestDepthRule:
    """Depth as a function of the qubit count (Cerezo et al. 2021's 1, log n and n)."""

    @pytest.mark.parametrize(
        "depth, expected",
        [("1", [1, 1, 1, 1, 1]), (1, [1, 1, 1, 1, 1]), ("log", [1, 2, 2, 3, 4]),
         ("linear", [2, 3, 4, 8, 10])],
    )  # fmt: skip
    def test_layer_counts(self, depth, expected):
        """Test that 1, ceil(log2 n) and n layers are built for n = 2, 3, 4, 8, 10."""
        got = [layers_for_depth(depth, n) for n in (2, 3, 4, 8, 10)]
        assert got == expected
        specs = [VarianceSpec(n_qubits=n, depth=depth, samples=2) for n in (2, 3, 4, 8, 10)]
        assert [s.layers for s in specs] == expected
        weights = [circuit_spec(s.ansatz, s.n_qubits, s.layers, 0).n_weights for s in specs]
        assert weights == [n * k for n, k in zip((2, 3, 4, 8, 10), expected, strict=True)]

    def test_rows_record_the_rule_and_the_layers(self):
        """Test that a row names the depth rule and the layer count it resolved to."""
        (row,) = variance(
            VarianceSpec(
                n_qubits=8,
                depth="log",
                samples=4,
                ansatz="hardware-efficient",
                observable="local-z",
            )
        )
        assert (row["depth"], row["n_layers"], row["layers_per_qubit"]) == ("log", 3, None)

    def test_rows_equal_the_explicit_layer_count(self):
        """Test that depth='linear' at n = 3 measures the circuits of n_layers = 3."""
        a = variance(VarianceSpec(n_qubits=3, depth="linear", samples=20))[0]
        b = variance(VarianceSpec(n_qubits=3, n_layers=3, samples=20))[0]
        assert a["variance"] == b["variance"]


class TestPauliObservables:
    """Pauli-sum observables in the variance experiment (one output)."""

    def test_pauli_sum_equals_the_built_in_observable(self):
        """Test that ``Z0 Z1`` gives zz's estimates and ``0.5 Z0 Z1`` a quarter of its variance.

        Both run on the same random circuits (they depend on seed, ansatz and size only), so the
        exact gradients agree to rounding, and scaling the observable by 0.5 scales the
        variance by 0.25 exactly.
        """
        settings = {"n_qubits": 3, "n_layers": 3, "samples": 40, "dtype": "complex128"}
        zz = sample_gradients(VarianceSpec(**settings, observable="zz")).estimates
        word = sample_gradients(VarianceSpec(**settings, observable="Z0 Z1")).estimates
        np.testing.assert_allclose(word, zz, rtol=0, atol=1e-12)
        (half,) = variance(VarianceSpec(**settings, observable="0.5 Z0 Z1"))
        (full,) = variance(VarianceSpec(**settings, observable="zz"))
        assert half["variance"] == pytest.approx(0.25 * full["variance"], rel=1e-10)
        assert half["observable"] == "0.5 Z0 Z1"

    def test_non_diagonal_sum_with_shots_counts_groups(self):
        """Test that ``X0 + Z0`` runs two circuits per evaluation and keeps the shots."""
        spec = VarianceSpec(n_qubits=2, n_layers=1, samples=4, observable="X0 + Z0",
                            method="parameter-shift", shots=10)  # fmt: skip
        (row,) = variance(spec)
        assert row["gradient_circuits"] == 2 * 2 and row["gradient_shots"] == 2 * 10

    @pytest.mark.parametrize("observable", ["z-each", "local", ["Z0", "Z1"], "Z0 Z5", "1j Z0"])
    def test_bad_observables(self, observable):
        """Test that multi-output, unknown and bad Pauli observables are refused at once."""
        with pytest.raises(ValueError, match="observable|not Hermitian|wire"):
            VarianceSpec(n_qubits=2, n_layers=1, observable=observable)
