"""Estimator quality against closed forms: exact methods, 1/N shot variance, FD bias, SPSA.

Statistical checks use fixed seeds and tolerances derived from the estimator's variance: the
sample variance of R repeats is within 5 standard errors ``5 s2 sqrt(2 / (R - 1))`` of its
expectation ``s2`` (near-normal scaled binomials, N >= 100).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from qgradbench.experiments.common import exact_jacobian, make_execution, method_jacobian
from qgradbench.experiments.estimator import EstimatorSpec, draw_circuits, estimator
from qgradbench.methods import get_method


def repeated_estimates(spec: EstimatorSpec):
    """``(R, C, n_out, P)`` estimates and the exact ``(C, n_out, P)`` Jacobian of the spec."""
    circuit, theta = draw_circuits(spec)
    execution = make_execution(circuit, "z-each", torch.complex128, spec.resolved_shots(), 7)
    method = get_method(spec.method, **spec.method_options)
    slots = np.arange(theta.shape[1])
    est = method_jacobian(method, execution, theta.repeat(spec.repeats, 1), slots)
    return (
        est.reshape(spec.repeats, spec.circuits, *est.shape[1:]),
        exact_jacobian(execution, theta, slots),
        (circuit, theta),
    )


class TestExact:
    @pytest.mark.parametrize("method", ["backprop", "adjoint"])
    def test_exact_methods_have_no_bias_or_variance(self, method):
        """Test that backprop and adjoint rows report zero bias and variance (complex128)."""
        rows = estimator(EstimatorSpec(method=method, circuits=2, repeats=3, dtype="complex128"))
        for row in rows:
            assert row["bias"] < 1e-12 and row["variance"] < 1e-24 and row["mse"] < 1e-24
            assert row["cosine"] == pytest.approx(1.0, abs=1e-12)
            assert row["gradient_shots"] == 0


class TestShotVariance:
    @pytest.mark.parametrize("shots", [100, 1000])
    def test_parameter_shift_variance_is_closed_form_over_n(self, shots):
        """Test Var = ((1 - f+^2) + (1 - f-^2)) / (4N) per entry, mean over entries, 5 SE."""
        spec = EstimatorSpec(method="parameter-shift", shots=shots, n_qubits=3, circuits=2,
                             repeats=400, dtype="complex128")  # fmt: skip
        est, _, (circuit, theta) = repeated_estimates(spec)
        exact = make_execution(circuit, "z-each", torch.complex128, None, 0)
        n_params = theta.shape[1]
        shift = torch.eye(n_params, dtype=theta.dtype) * (math.pi / 2)
        plus = exact.expval((theta[:, None] + shift).reshape(-1, n_params))
        minus = exact.expval((theta[:, None] - shift).reshape(-1, n_params))
        plus, minus = (
            v.reshape(spec.circuits, n_params, -1).transpose(1, 2) for v in (plus, minus)
        )
        closed = (2 - plus**2 - minus**2) / (4 * shots)
        sample = est.var(0)
        tol = 5 * closed.mean() * math.sqrt(2 / (spec.repeats - 1))
        assert abs(sample.mean() - closed.mean()) <= tol

    @pytest.mark.parametrize("shots", [100, 1000])
    def test_shot_adjoint_variance_is_closed_form_over_n(self, shots):
        """Test Var = (1 - g^2) / N per entry (the Hadamard-test distribution), 5 SE."""
        spec = EstimatorSpec(method="shot-adjoint", shots=shots, n_qubits=3, circuits=2,
                             repeats=400, dtype="complex128")  # fmt: skip
        est, exact, _ = repeated_estimates(spec)
        closed = (1 - exact**2) / shots
        tol = 5 * closed.mean() * math.sqrt(2 / (spec.repeats - 1))
        assert abs(est.var(0).mean() - closed.mean()) <= tol

    def test_variance_falls_as_one_over_shots(self):
        """Test that ten times the shots gives a tenth of the variance (5 SE of each)."""
        rows = {
            shots: estimator(
                EstimatorSpec(
                    method="parameter-shift",
                    shots=shots,
                    circuits=3,
                    repeats=300,
                    dtype="complex128",
                )
            )  # fmt: skip
            for shots in (100, 1000)
        }
        low, high = (np.mean([r["variance"] for r in rows[s]]) for s in (100, 1000))
        rel = 5 * math.sqrt(2 / 299)
        assert abs(low / high - 10) <= 10 * 2 * rel


class TestFiniteDifferenceBias:
    def test_bias_grows_linearly_with_h(self):
        """Test that forward differences have bias ~ |f''| h / 2: ten times h, ten times bias."""
        bias = {
            h: estimator(EstimatorSpec(method="finite-diff", circuits=2, repeats=2,
                                       dtype="complex128", method_options={"h": h}))[0]["bias"]
            for h in (1e-3, 1e-2, 1e-1)
        }  # fmt: skip
        assert bias[1e-3] < bias[1e-2] < bias[1e-1]
        assert bias[1e-2] / bias[1e-3] == pytest.approx(10, rel=0.05)


@pytest.fixture
def one_qubit_ry():
    """The one-qubit circuit ``<Z>`` after ``RY(t)``, ``f(t) = cos t``, registered as ``ry-1q``."""
    from qgradbench import plugins
    from qgradbench.circuits.model import CircuitSpec, Gate, w

    def build(n_qubits, n_layers):
        return CircuitSpec(1, (Gate("RY", [0], [w[0]]),), n_weights=1, observables=["Z0"])

    plugins.register_circuit("ry-1q", build)
    yield "ry-1q"
    plugins.unregister("ry-1q")


def _fd_rows(ansatz, h, strategy, order):
    spec = EstimatorSpec(method="finite-diff", n_qubits=1, n_layers=1, ansatz=ansatz,
                         observable="Z0", circuits=6, repeats=2, dtype="complex128",
                         method_options={"h": h, "strategy": strategy,
                                         "approx_order": order})  # fmt: skip
    _, theta = draw_circuits(spec)
    return estimator(spec), theta[:, 0].double().numpy()


class TestFiniteDifferenceClosedForm:
    """Finite differences of ``f(t) = cos t`` (``<Z>`` after ``RY(t)``) at large steps.

    Any gate generated by a Pauli word has ``f(t) = A cos t + B sin t + C`` in its angle, so
    ``f(t + h) - f(t - h) = 2 f'(t) sin h``: central differences return ``f'(t) sin(h) / h``,
    a bias ``f'(t) (sin(h)/h - 1)`` (``-h^2/6 f'`` for small h); forward differences add
    ``f''(t) (1 - cos h) / h`` (``h f''/2``). Mari, Bromley & Killoran, PRA 103, 012405 (2021).
    """

    @pytest.mark.parametrize("h", [0.3, 1.0, math.pi / 2, 2.5])
    def test_central_bias_is_sin_h_over_h(self, one_qubit_ry, h):
        """Test that the central-difference bias is |sin t| |sin(h)/h - 1| (exact values)."""
        rows, t = _fd_rows(one_qubit_ry, h, "central", 2)
        expected = np.abs(np.sin(t)) * abs(math.sin(h) / h - 1)
        got = np.array([r["bias"] for r in rows])
        assert got == pytest.approx(expected, abs=1e-12)
        assert all(r["variance"] < 1e-24 for r in rows)

    @pytest.mark.parametrize("h", [0.3, 1.0, 2.5])
    def test_forward_bias_adds_the_curvature_term(self, one_qubit_ry, h):
        """Test that the forward bias is |-sin t (sin(h)/h - 1) - cos t (1 - cos h)/h|."""
        rows, t = _fd_rows(one_qubit_ry, h, "forward", 1)
        expected = np.abs(-np.sin(t) * (math.sin(h) / h - 1) - np.cos(t) * (1 - math.cos(h)) / h)
        got = np.array([r["bias"] for r in rows])
        assert got == pytest.approx(expected, abs=1e-12)

    def test_parameter_shift_is_central_differences_at_half_pi_rescaled(self):
        """Test that (pi/2) x central FD at h = pi/2 is parameter-shift's exact gradient."""
        settings = {"n_qubits": 3, "circuits": 2, "repeats": 2, "dtype": "complex128"}
        fd = EstimatorSpec(method="finite-diff", **settings,
                           method_options={"h": math.pi / 2, "strategy": "central",
                                           "approx_order": 2})  # fmt: skip
        est, exact, _ = repeated_estimates(fd)
        assert torch.allclose(est * (math.pi / 2), exact, atol=1e-12)


class TestStepColumn:
    @pytest.mark.parametrize(
        "method, options, expected",
        [("finite-diff", {}, 1000**-0.25), ("finite-diff", {"h": 0.3}, 0.3),
         ("finite-diff", {"strategy": "central", "approx_order": 2}, 1000 ** (-1 / 6)),
         ("spsa", {}, 1000 ** (-1 / 6)), ("spsa", {"c": 0.2}, 0.2),
         ("parameter-shift", {}, None)],
    )  # fmt: skip
    def test_rows_carry_the_step_used(self, method, options, expected):
        """Test that rows name the step: the option, or the N^(-1/(2(p+1))) default at N shots."""
        spec = EstimatorSpec(method=method, shots=1000, n_qubits=2, n_layers=1, circuits=1,
                             repeats=2, method_options=options)  # fmt: skip
        (row, *_) = estimator(spec)
        assert row["step"] == (None if expected is None else pytest.approx(expected))


class TestSPSA:
    @pytest.mark.parametrize("directions", [1, 4])
    def test_variance_is_the_cross_term(self, directions):
        """Test Var[g_s] = sum_{j != s} J_j^2 / D per entry (exact values, tiny c), 5 SE.

        With delta Rademacher, g_hat_s = delta_s (delta . J) = J_s + sum_{j != s} delta_s
        delta_j J_j; the cross terms are uncorrelated with unit variance, and D directions
        average them.
        """
        spec = EstimatorSpec(method="spsa", n_qubits=3, circuits=1, repeats=2000,
                             dtype="complex128",
                             method_options={"num_directions": directions, "c": 1e-4})  # fmt: skip
        est, exact, _ = repeated_estimates(spec)
        sq = exact**2
        closed = (sq.sum(-1, keepdim=True) - sq) / directions
        sample = est.var(0)
        # Rademacher sums have excess kurtosis <= 0, so the normal-theory SE bounds the true one.
        tol = 5 * closed * math.sqrt(2 / (spec.repeats - 1)) + 1e-9
        assert torch.all((sample - closed).abs() <= tol)
        mean_tol = 5 * torch.sqrt(closed / spec.repeats) + 1e-6
        assert torch.all((est.mean(0) - exact).abs() <= mean_tol)


class TestBudget:
    def test_methods_spend_at_most_the_budget(self):
        """Test that the budget sets shots so each method spends at most that many."""
        for method in ("parameter-shift", "spsa", "shot-adjoint", "hadamard", "finite-diff"):
            row = estimator(EstimatorSpec(method=method, budget=20000, circuits=1, repeats=2))[0]
            assert 20000 - row["gradient_circuits"] < row["gradient_shots"] <= 20000

    @pytest.mark.parametrize(
        "settings, message",
        [
            ({"method": "adjoint", "budget": 1000}, "budget applies to methods that take shots"),
            ({"method": "parameter-shift", "budget": 3}, "use budget >= 56"),
            ({"shots": 10, "budget": 1000}, "give shots or budget, not both"),
            ({"repeats": 1}, "repeats must be an integer >= 2"),
            ({"method": "adjoint", "shots": 10}, "exact and cannot take shots"),
        ],
    )
    def test_bad_specs(self, settings, message):
        """Test that bad estimator specs raise a ValueError naming the problem."""
        with pytest.raises(ValueError, match=message):
            EstimatorSpec(**settings)


class TestObservable:
    """The estimator's observable: built-in names, Pauli sums, measurement groups."""

    def test_exact_norm_follows_the_observable(self):
        """Test that ``Z0 + 2 Z1`` has the exact Jacobian ``J_0 + 2 J_1`` of z-each's outputs."""
        spec = EstimatorSpec(method="adjoint", circuits=3, repeats=2, dtype="complex128",
                             observable="Z0 + 2 Z1")  # fmt: skip
        rows = estimator(spec)
        circuit, theta = draw_circuits(spec)
        execution = make_execution(circuit, "z-each", torch.complex128, None, 0)
        jac = exact_jacobian(execution, theta, np.arange(theta.shape[1]))
        want = (jac[:, 0] + 2 * jac[:, 1]).norm(dim=-1)
        got = torch.tensor([r["exact_norm"] for r in rows], dtype=torch.float64)
        assert torch.allclose(got, want, rtol=1e-12, atol=0)
        assert all(r["observable"] == "Z0 + 2 Z1" and r["entries"] == 28 for r in rows)

    def test_exact_parameter_shift_on_a_non_diagonal_observable(self):
        """Test that parameter-shift without shots equals the exact Jacobian for a Pauli sum."""
        spec = EstimatorSpec(method="parameter-shift", circuits=2, repeats=2, dtype="complex128",
                             observable=["X0 X1 + 0.5 Y2", "Z3"])  # fmt: skip
        for row in estimator(spec):
            assert row["bias"] < 1e-12 and row["mse"] < 1e-24 and row["entries"] == 2 * 28

    def test_circuits_count_measurement_groups(self):
        """Test that ``X0 + Z0`` (two groups) doubles the circuits, not the shots."""
        one, two = (estimator(EstimatorSpec(method="parameter-shift", shots=10, circuits=1,
                                            repeats=2, observable=obs))[0]
                    for obs in ("Z0 + Z1", "X0 + Z0"))  # fmt: skip
        assert one["gradient_circuits"] == 56 and two["gradient_circuits"] == 2 * 56
        assert one["gradient_shots"] == two["gradient_shots"] == 56 * 10

    def test_default_rows_are_unchanged(self):
        """Test that naming z-each gives the rows of the default spec (same shot stream)."""
        settings = {"method": "spsa", "shots": 20, "circuits": 2, "repeats": 3}
        a = estimator(EstimatorSpec(**settings))
        b = estimator(EstimatorSpec(**settings, observable="z-each"))
        drop = ("time_seconds",)
        assert [{k: v for k, v in r.items() if k not in drop} for r in a] == [
            {k: v for k, v in r.items() if k not in drop} for r in b
        ]

    @pytest.mark.parametrize(
        "observable, message",
        [("Z0 Z4", r"acts on wire\(s\) \[4\]"), ("2j Z0", "not Hermitian"), ([], "observable")],
    )
    def test_bad_observables(self, observable, message):
        """Test that a bad observable raises when the spec is made."""
        with pytest.raises(ValueError, match=message):
            EstimatorSpec(observable=observable)
