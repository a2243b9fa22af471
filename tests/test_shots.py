"""Shot noise: sampled forward passes and shot-based gradient estimators.

Statistical tests use fixed seeds and tolerances derived from each estimator's own variance:
with ``R`` independent repetitions of an estimator of mean ``mu`` and variance ``s2``,

* the sample mean is within ``5 sqrt(s2 / R)`` of ``mu`` (5 standard errors), and
* the sample variance is within ``5 s2 sqrt(2 / (R - 1))`` of ``s2`` (5 standard errors of a
  sample variance; the estimators here are scaled binomials with ``N >= 100``, near normal).

Repetitions are independent rows of one batch: every row of a batch is sampled separately.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from qgradbench import QuantumLayer, engine
from qgradbench.backend.cost import Cost
from qgradbench.engine import sample_counts
from qgradbench.methods import adjoint_jacobian, get_method, shot_methods
from qgradbench.methods.base import Execution, assemble

R = 2000  # repetitions
N = 200  # shots


def assert_mean(samples: torch.Tensor, mu: torch.Tensor, var: torch.Tensor):
    """Sample means over dim 0 within 5 standard errors of ``mu`` (see the module docstring)."""
    tol = 5 * torch.sqrt(var / samples.shape[0]) + 1e-12
    err = (samples.mean(0) - mu).abs()
    assert torch.all(err <= tol), f"max error/tolerance {float((err / tol).max()):.2f}"


def assert_variance(samples: torch.Tensor, var: torch.Tensor):
    """Sample variances over dim 0 within 5 standard errors of ``var``."""
    tol = 5 * var * math.sqrt(2 / (samples.shape[0] - 1)) + 1e-12
    err = (samples.var(0) - var).abs()
    assert torch.all(err <= tol), f"max error/tolerance {float((err / tol).max()):.2f}"


def setup(method="parameter-shift", n=3, n_layers=2, shots=N, seed=11, **options):
    """A layer and ``R`` repetitions of two random angle vectors, in complex128."""
    layer = QuantumLayer(
        n,
        n_layers,
        diff_method=method,
        shots=shots,
        seed=seed,
        dtype=torch.complex128,
        **options,
    )
    gen = torch.Generator().manual_seed(seed)
    x = 2 * torch.rand(2, n, generator=gen, dtype=torch.float64) - 1
    theta = assemble(math.pi * x, layer.weights.detach().reshape(-1))
    return layer, theta


def exact(layer, theta):
    """Exact values ``(B, n_out)`` and Jacobian ``(B, n_out, P)`` of the layer's circuit."""
    ex = Execution(layer.circuit, layer.execution.observable, layer.dtype)
    return ex.expval(theta), adjoint_jacobian(ex, theta)


def sampled_jacobians(layer, theta, reps=R):
    """``reps`` independent Jacobian estimates of every entry, ``(reps, B, n_out, P)``."""
    batch, n_params = theta.shape
    rep = theta.repeat(reps, 1)
    f0 = layer.execution.estimate(rep)
    jac = layer.method.jacobian(layer.execution, rep, np.arange(n_params), f0)
    return jac.reshape(reps, batch, *jac.shape[1:])


def pi_kick_offsets(layer, theta):
    """``A_k = (f(theta) + f(theta + pi e_k)) / 2`` for every slot, ``(B, n_out, P)``."""
    ex = Execution(layer.circuit, layer.execution.observable, layer.dtype)
    n_params = theta.shape[-1]
    kicked = theta[:, None, :] + math.pi * torch.eye(n_params, dtype=theta.dtype)
    f_kicked = ex.expval(kicked.reshape(-1, n_params)).reshape(theta.shape[0], n_params, -1)
    return (ex.expval(theta)[..., None] + f_kicked.transpose(1, 2)) / 2


class TestSampling:
    """Multinomial counts and the sampled forward pass."""

    def test_counts_are_multinomial(self):
        """Test that counts have multinomial means N p and variances N p (1 - p)."""
        p = torch.tensor([0.05, 0.15, 0.3, 0.0, 0.1, 0.2, 0.15, 0.05], dtype=torch.float64)
        counts = sample_counts(p.expand(R, 8), 100, torch.Generator().manual_seed(0))
        assert torch.all(counts.sum(1) == 100)
        assert torch.all(counts[:, 3] == 0)
        assert_mean(counts, 100 * p, 100 * p * (1 - p))
        assert_variance(counts[:, p > 0], (100 * p * (1 - p))[p > 0])

    def test_counts_of_basis_states_and_zero_branches(self):
        """Test that a basis state gets every shot, even when whole prefixes have probability 0."""
        gen = torch.Generator().manual_seed(1)
        probs = torch.eye(8, dtype=torch.float64)[[0, 5, 7]]
        for shots in (1, 37):
            counts = sample_counts(probs, shots, gen)
            torch.testing.assert_close(counts, shots * probs, atol=0, rtol=0)
        bell = torch.tensor([[0.5, 0.0, 0.0, 0.5]], dtype=torch.float64).expand(R, 4)
        counts = sample_counts(bell, 10, gen)
        assert torch.all(counts[:, 1:3] == 0) and torch.all(counts.sum(1) == 10)
        assert_mean(counts[:, 0], torch.tensor(5.0, dtype=torch.float64), torch.tensor(2.5))

    def test_counts_of_unnormalised_rows(self):
        """Test that rows off by rounding or a scale, or with tiny negatives, sample their shape."""
        p = torch.tensor([0.2, 0.0, 0.5, 0.3], dtype=torch.float64)
        rows = torch.stack([2 * p, p - torch.tensor([0.0, 1e-12, 0.0, 0.0])]).repeat(R, 1)
        counts = sample_counts(rows, 100, torch.Generator().manual_seed(2)).reshape(R, 2, 4)
        assert counts.dtype == torch.float64
        assert torch.all(counts >= 0) and torch.all(counts.sum(-1) == 100)
        assert torch.all(counts[..., 1] == 0)
        assert_mean(counts, 100 * p, 100 * p * (1 - p))
        assert_variance(counts[..., p > 0], (100 * p * (1 - p))[p > 0])

    def test_counts_need_a_power_of_two(self):
        """Test that a row length that is not a power of two raises a ValueError naming it."""
        with pytest.raises(ValueError, match="probs must have 2\\*\\*n columns, got 6"):
            sample_counts(torch.full((2, 6), 1 / 6), 10)

    def test_exact_estimate_is_the_expectation(self):
        """Test that without shots the estimate is probs @ table.T, in the table's dtype."""
        gen = torch.Generator().manual_seed(3)
        probs = torch.rand(5, 8, generator=gen, dtype=torch.float64).softmax(-1)
        table = torch.randn(3, 8, generator=gen, dtype=torch.float64)
        out = engine.estimate_expvals(probs, table, None)
        torch.testing.assert_close(out, probs @ table.T, atol=1e-15, rtol=0)
        sampled = engine.estimate_expvals(probs, table.float(), 10, gen)
        assert sampled.dtype == torch.float32 and sampled.shape == (5, 3)

    def test_estimates_are_means_of_table_entries(self):
        """Test that shot estimates are count-weighted means of the table over the shots."""
        probs = torch.tensor([[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]], dtype=torch.float64)
        table = torch.tensor([[1.0, -1.0, 1.0, -1.0], [0.5, 0.25, 2.0, -3.0]], dtype=torch.float64)
        out = engine.estimate_expvals(probs, table, 7, torch.Generator().manual_seed(0))
        torch.testing.assert_close(out, table[:, [1, 3]].T, atol=1e-15, rtol=0)

    @pytest.mark.parametrize("method", shot_methods())
    def test_forward_mean_and_variance(self, method):
        """Test that sampled <Z_i> have mean <Z_i> and variance (1 - <Z_i>^2) / N."""
        layer, theta = setup(method)
        x = (theta[:, :3] / math.pi).repeat(R, 1)
        with torch.no_grad():
            out = layer(x).reshape(R, 2, 3)
        f, _ = exact(layer, theta)
        assert_mean(out, f, (1 - f**2) / N)
        assert_variance(out, (1 - f**2) / N)

    def test_outputs_share_bitstrings(self):
        """Test that all outputs come from the same shots: with 1 shot every <Z_i> is +-1."""
        layer = QuantumLayer(3, 1, diff_method="parameter-shift", shots=1, seed=0)
        out = layer(torch.rand(50, 3))
        assert torch.all(out.abs() == 1)
        ghz_like = QuantumLayer(
            2, 1, shots=1, diff_method="parameter-shift", observable="global-z", seed=0
        )
        assert torch.all(ghz_like(torch.rand(20, 2)).abs() == 1)

    @pytest.mark.parametrize("shots", [1, N])
    def test_correlated_qubits_agree_shot_by_shot(self, shots):
        """Test that perfectly correlated qubits give equal estimates from the same bitstrings.

        Basic-entangler with zero weights on 2 qubits is ``CNOT(0, 1) RY(pi x_0)``, so with
        ``x_1 = 0`` the state is ``cos(a)|00> + sin(a)|11>``: every bitstring has equal bits,
        and ``Z_0``, ``Z_1`` estimated from the same bitstrings are equal whatever the shots.
        Estimated from independent shots they would differ in most rows.
        """
        layer = QuantumLayer(
            2, 1, ansatz="basic-entangler", diff_method="parameter-shift", shots=shots, seed=0
        )
        with torch.no_grad():
            layer.weights.zero_()
            x = torch.stack([torch.linspace(0.2, 0.8, 200), torch.zeros(200)], dim=-1)
            out = layer(x)
        assert torch.equal(out[:, 0], out[:, 1])
        assert len(out[:, 0].unique()) > 1  # not trivially equal

    def test_output_covariance(self):
        """Test that two outputs' sample covariance is (<Z_i Z_j> - <Z_i><Z_j>) / N.

        From the same ``N`` bitstrings, ``Cov(Z_i_hat, Z_j_hat) = (<Z_i Z_j> - <Z_i><Z_j>) / N``
        (0 for independent shots). For near-normal pairs the sample covariance of ``R``
        repetitions has standard error ``sqrt((s_ii s_jj + s_ij^2) / (R - 1))``; the tolerance
        is 5 of them, with the exact (co)variances.
        """
        layer, theta = setup("parameter-shift", n=3, n_layers=2)  # |<Z_i Z_j>_c| >= 0.2
        probs = engine.probabilities(layer.execution.state(theta), 3)  # (B, 8)
        z = torch.tensor([[1.0 - 2.0 * ((s >> (2 - w)) & 1) for s in range(8)] for w in range(3)])
        mean = probs @ z.T.double()  # (B, 3)
        second = torch.einsum("bs,is,js->bij", probs, z.double(), z.double())
        cov = (second - mean[:, :, None] * mean[:, None, :]) / N  # (B, 3, 3)
        out = layer.execution.estimate(theta.repeat(R, 1)).reshape(R, 2, 3)
        centred = out - out.mean(0)
        sample_cov = torch.einsum("rbi,rbj->bij", centred, centred) / (R - 1)
        diag = torch.diagonal(cov, dim1=1, dim2=2)
        se = torch.sqrt((diag[:, :, None] * diag[:, None, :] + cov**2) / (R - 1))
        assert torch.all((sample_cov - cov).abs() <= 5 * se + 1e-12)
        off = ~torch.eye(3, dtype=torch.bool)
        assert torch.all(cov[:, off].abs() > 5 * se[:, off])  # correlations far from zero

    @pytest.mark.parametrize(
        "method,options",
        [(m, {}) for m in shot_methods()] + [("shot-adjoint", {"match": "parameter-shift"})],
    )
    def test_same_seed_same_numbers(self, method, options):
        """Test that two layers with the same seed give identical outputs and gradients."""
        global_seeds = itertools.count(1000)

        def run(seed):
            torch.manual_seed(next(global_seeds))  # a different global state on every run
            layer = QuantumLayer(3, 2, diff_method=method, shots=100, seed=seed, **options)
            x = torch.linspace(-1, 1, 12).reshape(4, 3).requires_grad_()
            out = layer(x)
            torch.manual_seed(next(global_seeds))
            out.sum().backward()
            return out.detach(), x.grad, layer.weights.grad

        for a, b in zip(run(4), run(4), strict=True):
            assert torch.equal(a, b)
        first, other = run(4), run(5)
        assert not torch.equal(first[0], other[0])
        assert not torch.equal(first[2], other[2])


@pytest.mark.parametrize(
    "method,options",
    [
        ("parameter-shift", {}),
        ("finite-diff", {}),
        ("spsa", {"num_directions": 2}),
        ("hadamard", {}),
        ("shot-adjoint", {"match": "hadamard"}),
        ("shot-adjoint", {"match": "parameter-shift"}),
    ],
)
class TestJacobianShape:
    """Every shot method's Jacobian: shape and dtype of the angles, for the slots asked."""

    @pytest.mark.parametrize("dtype", [torch.complex64, torch.complex128])
    def test_shape_and_dtype(self, method, options, dtype):
        """Test that the Jacobian is (B, n_out, S) in the angles' real dtype, with shots."""
        layer = QuantumLayer(3, 1, diff_method=method, shots=50, seed=0, dtype=dtype, **options)
        real = torch.float32 if dtype == torch.complex64 else torch.float64
        theta = torch.rand(4, layer.circuit.n_params, dtype=real)
        slots = np.array([0, 2, 7])
        f0 = layer.execution.estimate(theta)
        jac = layer.method.jacobian(layer.execution, theta, slots, f0)
        assert jac.shape == (4, 3, 3) and jac.dtype == real


class TestEstimators:
    """Every Jacobian entry (inputs' and weights') has the estimator's mean and variance."""

    def test_parameter_shift(self):
        """Test that parameter-shift entries have mean g and variance (1 - A^2 - g^2) / (2N)."""
        layer, theta = setup("parameter-shift")
        _, g = exact(layer, theta)
        var = (1 - pi_kick_offsets(layer, theta) ** 2 - g**2) / (2 * N)
        jac = sampled_jacobians(layer, theta)
        assert_mean(jac, g, var)
        assert_variance(jac, var)

    def test_hadamard(self):
        """Test that Hadamard-test entries have mean g and variance (1 - g^2) / N."""
        layer, theta = setup("hadamard")
        _, g = exact(layer, theta)
        jac = sampled_jacobians(layer, theta)
        assert_mean(jac, g, (1 - g**2) / N)
        assert_variance(jac, (1 - g**2) / N)

    @pytest.mark.parametrize("match", ["hadamard", "parameter-shift"])
    def test_shot_adjoint(self, match):
        """Test that shot-adjoint entries have the mean and variance of the matched estimator."""
        layer, theta = setup("shot-adjoint", match=match)
        _, g = exact(layer, theta)
        if match == "hadamard":
            var = (1 - g**2) / N
        else:
            var = (1 - pi_kick_offsets(layer, theta) ** 2 - g**2) / (2 * N)
        jac = sampled_jacobians(layer, theta)
        assert_mean(jac, g, var)
        assert_variance(jac, var)

    @pytest.mark.parametrize(
        "method,twin", [("hadamard", "hadamard"), ("parameter-shift", "parameter-shift")]
    )
    def test_shot_adjoint_agrees_with_simulated_estimator(self, method, twin):
        """Test that shot-adjoint and the simulated estimator agree in mean and variance.

        Two-sample check on random circuits: means within 5 standard errors of their
        difference, sample variances within 5 standard errors of each other.
        """
        for seed, ansatz in [(21, "strongly-entangling"), (22, "random-pauli")]:
            real, theta = setup(method, seed=seed, ansatz=ansatz)
            emulated, _ = setup("shot-adjoint", seed=seed, ansatz=ansatz, match=twin)
            a, b = sampled_jacobians(real, theta), sampled_jacobians(emulated, theta)
            va, vb = a.var(0), b.var(0)
            mean_tol = 5 * torch.sqrt((va + vb) / R) + 1e-12
            assert torch.all((a.mean(0) - b.mean(0)).abs() <= mean_tol)
            var_tol = 5 * (va + vb) / 2 * math.sqrt(4 / (R - 1)) + 1e-12
            assert torch.all((va - vb).abs() <= var_tol)

    def test_input_entries_carry_chain_factor(self):
        """Test that input gradients are pi times the sampled encoding entries (both estimators)."""
        for method, options in [("hadamard", {}), ("shot-adjoint", {"match": "hadamard"})]:
            layer, theta = setup(method, n=2, n_layers=1, **options)
            _, g = exact(layer, theta)
            x = (theta[:, :2] / math.pi).repeat(R, 1).requires_grad_()
            layer(x)[:, 0].sum().backward()
            grads = x.grad.reshape(R, 2, 2)
            var = math.pi**2 * (1 - g[:, 0, :2] ** 2) / N
            assert_mean(grads, math.pi * g[:, 0, :2], var)
            assert_variance(grads, var)

    def test_central_finite_diff(self):
        """Test that central differences have mean g sin(h)/h and their closed-form variance.

        ``E = (f(t+h) - f(t-h)) / (2h) = g sin(h) / h`` for a sinusoid, and
        ``Var = ((1 - f(t+h)^2) + (1 - f(t-h)^2)) / (4 h^2 N)``.
        """
        layer, theta = setup("finite-diff", strategy="central", approx_order=2, h=0.4)
        ex = Execution(layer.circuit, layer.execution.observable, layer.dtype)
        _, g = exact(layer, theta)
        eye = 0.4 * torch.eye(theta.shape[-1], dtype=theta.dtype)
        plus = ex.expval((theta[:, None] + eye).reshape(-1, theta.shape[-1]))
        minus = ex.expval((theta[:, None] - eye).reshape(-1, theta.shape[-1]))
        plus = plus.reshape(2, -1, 3).transpose(1, 2)
        minus = minus.reshape(2, -1, 3).transpose(1, 2)
        var = (2 - plus**2 - minus**2) / (4 * 0.4**2 * N)
        jac = sampled_jacobians(layer, theta)
        assert_mean(jac, g * math.sin(0.4) / 0.4, var)
        assert_variance(jac, var)


#: Textbook first-derivative stencils ``(shifts, coefficients)`` (Fornberg 1988), written out
#: here rather than taken from the code under test.
STENCILS = {
    "forward": (1, [0, 1], [-1.0, 1.0]),
    "backward": (1, [-1, 0], [-1.0, 1.0]),
    "central": (2, [-1, 1], [-0.5, 0.5]),
}


def assert_variance_of_mixture(samples: torch.Tensor, var: torch.Tensor):
    """Sample variances over dim 0 within 5 standard errors of ``var``, for any distribution.

    The standard error of a sample variance is ``sqrt((mu4 - var^2) / R)``, with ``mu4`` the
    fourth central moment, here estimated from the samples: SPSA estimates are mixtures over
    directions, far from normal, so the normal-theory ``var sqrt(2 / (R - 1))`` does not apply.
    """
    centred = samples - samples.mean(0)
    mu4 = (centred**4).mean(0)
    tol = 5 * torch.sqrt((mu4 - var**2).clamp_min(0) / samples.shape[0]) + 1e-12
    err = (samples.var(0) - var).abs()
    assert torch.all(err <= tol), f"max error/tolerance {float((err / tol).max()):.2f}"


@pytest.mark.parametrize("strategy", list(STENCILS))
@pytest.mark.parametrize("num_directions", [1, 3, 4])
class TestSPSA:
    """SPSA's mean and variance per entry, from enumerating every direction in closed form.

    For one Rademacher direction ``Delta`` and the stencil ``(s_j, c_j)`` at step ``c``, the
    estimate of entry ``k`` is ``X = Delta_k (sum_{s_j != 0} (c_j / c) F_j + (c_0 / c) F_0)``
    with ``F_j`` the ``N``-shot estimate of ``f(theta + s_j c Delta)`` and ``F_0`` the forward
    pass's estimate of ``f(theta)``, shared by all directions. Directions are uniform over
    ``{+-1}^P``, so with ``F_0`` replaced by its exact value ``f_0``:

    * ``E[X] = mean over Delta of mu(Delta)``, where
      ``mu(Delta) = Delta_k sum_j (c_j / c) f(theta + s_j c Delta)``;
    * ``V_1 = mean over Delta of sum_{s_j != 0} (c_j / c)^2 (1 - f_j^2) / N + Var_Delta[mu]``.

    Averaging ``D`` independent directions divides ``V_1`` by ``D``; the shared ``F_0`` adds
    ``(c_0 / c)^2 (1 - f_0^2) / N * E[(sum_d Delta_dk / D)^2] = (c_0 / c)^2 (1 - f_0^2) / (N D)``.
    """

    C = 0.3  # the perturbation size
    REPS = 4 * R

    def moments(self, layer, theta, strategy, num_directions):
        """Exact mean and variance ``(B, n_out, P)`` of the SPSA estimate (class docstring)."""
        _, shifts, coeffs = STENCILS[strategy]
        ex = Execution(layer.circuit, layer.execution.observable, layer.dtype)
        batch, n_params = theta.shape
        deltas = torch.tensor(
            list(itertools.product([-1.0, 1.0], repeat=n_params)), dtype=torch.float64
        )  # (2^P, P)
        f0 = ex.expval(theta)  # (B, n_out)
        slope = torch.zeros(batch, len(deltas), f0.shape[-1], dtype=torch.float64)
        shot_var = torch.zeros_like(slope)
        f0_weight = 0.0
        for shift, coeff in zip(shifts, coeffs, strict=True):
            weight = coeff / self.C
            if shift == 0:
                f0_weight = weight
                slope += weight * f0[:, None, :]
                continue
            f = ex.expval((theta[:, None] + shift * self.C * deltas).reshape(-1, n_params))
            f = f.reshape(batch, len(deltas), -1)
            slope += weight * f
            shot_var += weight**2 * (1 - f**2) / N
        est = slope[..., None] * deltas[None, :, None, :]  # (B, 2^P, n_out, P)
        var_one = shot_var.mean(1)[..., None] + est.var(1, unbiased=False)
        f0_var = (f0_weight**2 * (1 - f0**2) / N)[..., None]
        return est.mean(1), (var_one + f0_var) / num_directions

    def test_mean_and_variance(self, strategy, num_directions):
        """Test that every SPSA entry has the mean and variance of all directions enumerated."""
        order, _, _ = STENCILS[strategy]
        layer, theta = setup(
            "spsa",
            n=2,
            n_layers=1,
            c=self.C,
            strategy=strategy,
            approx_order=order,
            num_directions=num_directions,
        )
        mean, var = self.moments(layer, theta, strategy, num_directions)
        jac = sampled_jacobians(layer, theta, reps=self.REPS)
        assert_mean(jac, mean, var)
        assert_variance_of_mixture(jac, var)


@pytest.mark.pennylane
def test_parameter_shift_matches_pennylane_with_shots():
    """Test that parameter-shift with shots agrees in mean with PennyLane's, same circuit.

    Both estimate the same Jacobian from 1000 shots per circuit; their means over repetitions
    must be within 5 standard errors of the difference (variances from the closed form).
    """
    import pennylane as qml

    n, n_layers, shots, reps = 2, 1, 1000, 40
    layer = QuantumLayer(
        n, n_layers, diff_method="parameter-shift", shots=shots, seed=3, dtype=torch.complex128
    )
    w = layer.weights.detach().clone()
    x = torch.tensor([0.3, -0.6], dtype=torch.float64)
    dev = qml.device("default.qubit", wires=n, seed=1234)

    @qml.set_shots(shots)
    @qml.qnode(dev, interface="torch", diff_method="parameter-shift")
    def circuit(weights):
        for i in range(n):
            qml.RY(math.pi * x[i], wires=i)
        qml.StronglyEntanglingLayers(weights, wires=range(n))
        return qml.expval(qml.PauliZ(0))

    ref = torch.stack([torch.autograd.functional.jacobian(circuit, w) for _ in range(reps)])
    ours = []
    for _ in range(reps):
        layer.weights.grad = None
        layer(x[None].float().double())[0, 0].backward()
        ours.append(layer.weights.grad.clone())
    ours = torch.stack(ours)
    theta = assemble(math.pi * x[None], w.reshape(-1))
    _, g = exact(layer, theta)
    var = (1 - pi_kick_offsets(layer, theta) ** 2 - g**2)[0, 0, n:].reshape(w.shape) / (2 * shots)
    tol = 5 * torch.sqrt(2 * var / reps) + 1e-12
    assert torch.all((ours.mean(0) - ref.mean(0)).abs() <= tol)
    torch.testing.assert_close(
        ref.mean(0),
        g[0, 0, n:].reshape(w.shape),
        atol=float(5 * torch.sqrt(var.max() / reps)),
        rtol=0,
    )


class TestCost:
    """Circuits and shots per sample reported by the cost counters."""

    @pytest.mark.parametrize(
        "method,options,per_slot,fixed",
        [
            ("parameter-shift", {}, 2, None),
            ("finite-diff", {}, 1, None),
            ("finite-diff", {"strategy": "central", "approx_order": 4}, 4, None),
            ("hadamard", {}, 1, None),
            ("shot-adjoint", {"match": "hadamard"}, 1, None),
            ("shot-adjoint", {"match": "parameter-shift"}, 2, None),
            ("spsa", {}, None, 2),
            ("spsa", {"num_directions": 5}, None, 10),
        ],
    )
    def test_backward_circuits_per_sample(self, method, options, per_slot, fixed):
        """Test that a backward pass costs 2P (shift), P (hadamard), 2 x directions (spsa)."""
        layer = QuantumLayer(3, 2, diff_method=method, shots=100, seed=0, **options)
        n_slots = 3 + 2 * 3 * 3  # encoding rotations + weights
        x = torch.rand(8, 3, requires_grad=True)
        layer(x).sum().backward()
        expected = fixed if fixed is not None else per_slot * n_slots
        cost = layer.cost
        assert cost.circuits_per_sample == {"forward": 1.0, "backward": float(expected)}
        assert cost.forward_circuits == 8 and cost.forward_shots == 800
        assert cost.backward_circuits == 8 * expected
        assert cost.backward_shots == 8 * expected * 100
        assert cost.forward_passes == cost.backward_passes == 1

    def test_exact_methods_and_reset(self):
        """Test that exact simulator gradients cost no circuits and reset_cost zeroes counters."""
        for method in ("backprop", "adjoint"):
            layer = QuantumLayer(2, 1, diff_method=method)
            layer(torch.rand(4, 2, requires_grad=True)).sum().backward()
            assert layer.cost.forward_circuits == 4 and layer.cost.backward_circuits == 0
            assert layer.cost.forward_shots == 0 and layer.cost.backward_shots == 0
            assert layer.cost.backward_passes == 1 and layer.cost.backward_samples == 4
            layer.reset_cost()
            assert all(v == 0 for v in layer.cost.as_dict().values())

    def test_snapshots_and_differences(self):
        """Test that a snapshot is independent and subtracting it gives what was spent since."""
        layer = QuantumLayer(2, 1, diff_method="parameter-shift", shots=10, seed=0)
        x = torch.rand(3, 2, requires_grad=True)
        layer(x).sum().backward()
        before = layer.cost.copy()
        layer(x[:2]).sum().backward()
        assert before.forward_samples == 3 and layer.cost.forward_samples == 5
        spent = layer.cost - before
        n_slots = 2 + 2 * 3
        assert spent.as_dict() == {
            "forward_passes": 1,
            "forward_samples": 2,
            "forward_circuits": 2,
            "forward_shots": 20,
            "backward_passes": 1,
            "backward_samples": 2,
            "backward_circuits": 2 * 2 * n_slots,
            "backward_shots": 2 * 2 * n_slots * 10,
        }

    def test_bad_phase(self):
        """Test that recording a phase other than forward or backward raises a ValueError."""
        with pytest.raises(
            ValueError, match="phase must be 'forward' or 'backward', got 'sideways'"
        ):
            Cost().record("sideways", 1, 1, None)

    def test_record_counts_one_group_by_default(self):
        """Test that a pass recorded without ``groups`` counts its circuits once (one group).

        Planted: a default of two groups doubles the circuits and fails.
        """
        cost = Cost()
        cost.record("forward", 4, 3, 100)
        assert (cost.forward_passes, cost.forward_samples) == (1, 4)
        assert (cost.forward_circuits, cost.forward_shots) == (3, 300)
        cost.record("backward", 4, 3, None, groups=2)
        assert (cost.backward_circuits, cost.backward_shots) == (6, 0)

    @pytest.mark.parametrize(
        "name,options,per_slot",
        [
            ("parameter-shift", {}, 2),
            ("shot-adjoint", {"match": "parameter-shift"}, 2),
            ("shot-adjoint", {"match": "hadamard"}, 1),
            ("hadamard", {}, 1),
        ],
    )
    def test_declared_circuits_per_sample(self, name, options, per_slot):
        """Test the circuits per sample each hardware rule declares for plain rotations.

        What ``qgradbench methods`` and the cost model read without running a circuit: two
        per slot for the two-term rule (and shot-adjoint emulating it), one per slot for the
        Hadamard test (and shot-adjoint emulating that).
        """
        assert get_method(name, **options).circuits_per_sample(7) == 7 * per_slot

    def test_simulator_methods_run_no_circuits(self):
        """Test that exact simulator methods declare no circuits per sample."""
        for name in ("backprop", "adjoint"):
            assert get_method(name).circuits_per_sample(12) == 0

    def test_eval_costs_no_gradient(self):
        """Test that a forward pass without gradients runs one circuit per sample only."""
        layer = QuantumLayer(3, 1, diff_method="parameter-shift", shots=50)
        with torch.no_grad():
            layer(torch.rand(6, 3))
        assert layer.cost.backward_circuits == 0 and layer.cost.forward_shots == 300


class TestBadInput:
    """Bad shot settings raise a ValueError that names the value and what is accepted."""

    @pytest.mark.parametrize("shots", [0, -5, 2.5, "100", True])
    def test_bad_shots(self, shots):
        """Test that shots must be None or a positive integer."""
        match = f"shots must be None .* positive integer, got {shots!r}"
        with pytest.raises(ValueError, match=match):
            QuantumLayer(2, 1, diff_method="parameter-shift", shots=shots)

    @pytest.mark.parametrize("method", ["backprop", "adjoint"])
    def test_exact_method_with_shots(self, method):
        """Test that exact methods with shots name the methods that support shots."""
        supported = "parameter-shift, finite-diff, spsa, hadamard, shot-adjoint"
        match = f"'{method}' is exact .*shots=100; methods that support shots: {supported}$"
        with pytest.raises(ValueError, match=match):
            QuantumLayer(2, 1, diff_method=method, shots=100)

    @pytest.mark.parametrize(
        "method,options,match",
        [
            ("shot-adjoint", {"match": "spsa"}, "match must be one of hadamard, parameter-shift"),
            ("spsa", {"num_directions": 0}, "num_directions must be an integer >= 1, got 0"),
            ("spsa", {"num_directions": True}, "num_directions must be an integer >= 1, got True"),
            ("spsa", {"num_directions": 2.0}, "num_directions must be an integer >= 1, got 2.0"),
            (
                "finite-diff",
                {"approx_order": True},
                "approx_order must be an integer >= 1, got True",
            ),
            ("finite-diff", {"approx_order": 1.0}, "approx_order must be an integer >= 1, got 1.0"),
            ("finite-diff", {"h": float("inf")}, "h must be a positive number, got inf"),
            ("parameter-shift", {"shift": "pi"}, "sin\\(shift\\) != 0, got 'pi'"),
            ("parameter-shift", {"shift": math.pi}, "sin\\(shift\\) != 0, got 3.14"),
            ("spsa", {"c": -0.1}, "must be a positive number, got -0.1"),
            ("spsa", {"sampler": 3}, "sampler must be callable or None, got 3"),
            ("finite-diff", {"h": 0}, "h must be a positive number, got 0"),
        ],
    )
    def test_bad_options(self, method, options, match):
        """Test that invalid method options raise a ValueError naming the value."""
        with pytest.raises(ValueError, match=match):
            get_method(method, **options)

    def test_shot_adjoint_needs_pauli_observable(self):
        """Test that shot-adjoint on a projector observable says which observables it takes."""
        match = r"single Pauli words .*\(z-each, zz, global-z, .*\), got 'global-projector'"
        with pytest.raises(ValueError, match=match):
            QuantumLayer(2, 1, diff_method="shot-adjoint", shots=10, observable="global-projector")


class TestGroupCost:
    """Cost per measurement group: circuits and shots of each qubit-wise commuting group."""

    def test_groups_split_shots_and_add_up(self):
        """Test that the groups' circuits and shots add up to the layer's cost (weighted split)."""
        from qgradbench.circuits.model import CircuitSpec, Gate, w

        spec = CircuitSpec(
            2,
            [Gate("RY", [0], [w[0]]), Gate("CNOT", [0, 1]), Gate("RX", [1], [w[1]])],
            n_weights=2,
            observables=["3 Z0 Z1 + X0", "Z1"],
        )
        layer = QuantumLayer.from_circuit(
            spec, diff_method="parameter-shift", shots=100, seed=1, shot_split="weighted"
        )
        layer(torch.zeros(5, 0)).sum().backward()
        groups = layer.group_cost()
        assert [g["basis"] for g in groups] == ["Z0 Z1", "X0"]
        # weights 4 (3 Z0Z1 + Z1) and 1 (X0): 1 + floor(98 * 4/5) = 79, 1 + 19 + 1 (remainder)
        assert [g["shots_per_evaluation"] for g in groups] == [79, 21]
        cost = layer.cost
        for phase in ("forward", "backward"):
            assert sum(g[f"{phase}_circuits"] for g in groups) == getattr(cost, f"{phase}_circuits")
            assert sum(g[f"{phase}_shots"] for g in groups) == getattr(cost, f"{phase}_shots")
        assert groups[0]["forward_circuits"] == 5 and groups[0]["backward_circuits"] == 5 * 4

    def test_bad_shot_split_names_the_choices(self):
        """Test that an unknown shot split is a ValueError naming it and the accepted ones."""
        layer = QuantumLayer(2, 1, seed=0)
        match = "shot_split must be one of uniform, weighted, got 'x'"
        with pytest.raises(ValueError, match=match):
            Execution(layer.circuit, layer.execution.observable, shots=10, shot_split="x")

    def test_groups_sample_their_own_shots_reproducibly(self):
        """Test that each group's outputs come from its own shots, drawn from the generator.

        With ``3 Z0 Z1 + X0`` and ``Z1`` at 100 shots split by weight, the Z0 Z1 group gets 79
        shots and X0 21 (``test_groups_split_shots_and_add_up``), so the ``Z1`` output is a
        multiple of ``2 / 79``. Two executions seeded alike draw the same estimates.
        """
        from qgradbench.circuits.model import CircuitSpec, Gate, w
        from qgradbench.circuits.pauli import as_observable

        spec = CircuitSpec(
            2, [Gate("RY", [0], [w[0]]), Gate("CNOT", [0, 1]), Gate("RX", [1], [w[1]])],
            n_weights=2, observables=["3 Z0 Z1 + X0", "Z1"],
        )  # fmt: skip
        circuit = QuantumLayer.from_circuit(spec, seed=1).circuit
        theta = torch.rand(20, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
        outs = []
        for seed in (5, 5, 6):
            execution = Execution(
                circuit, as_observable(["3 Z0 Z1 + X0", "Z1"], 2), torch.complex128, 100,
                torch.Generator().manual_seed(seed), shot_split="weighted",
            )  # fmt: skip
            outs.append(execution.estimate(theta))
        z1 = outs[0][:, 1] * 79
        torch.testing.assert_close(z1, z1.round(), rtol=0, atol=1e-9)
        assert torch.equal(outs[0], outs[1]) and not torch.equal(outs[0], outs[2])

    def test_non_diagonal_observable_is_not_kicked(self):
        """Test parameter-shift on 7 qubits (pi-kick size) with an X observable against adjoint.

        The pi-kicked rule measures probabilities in the computational basis, so it must not
        serve an observable measured in another basis.
        """
        from qgradbench.backend.branching import KICK_QUBITS

        x = torch.rand(2, KICK_QUBITS, dtype=torch.float64)
        grads = []
        for method in ("adjoint", "parameter-shift"):
            layer = QuantumLayer(
                KICK_QUBITS, 1, diff_method=method, seed=3, dtype=torch.complex128,
                observable=["X0", "X3 Y5"],
            )  # fmt: skip
            layer(x).sum().backward()
            grads.append(layer.weights.grad)
        torch.testing.assert_close(grads[1], grads[0], rtol=0, atol=1e-10)

    def test_diagonal_and_exact_rows(self):
        """Test the rows of a diagonal observable (one group, basis Z) and of an exact layer.

        Whole rows are compared, with their types: counts are integers, an exact layer spends
        no shots, a diagonal observable has no words to count.
        """
        from qgradbench.circuits.model import CircuitSpec, Gate, w

        layer = QuantumLayer(2, 1, diff_method="parameter-shift", shots=50, seed=0)
        layer(torch.rand(3, 2)).sum().backward()
        (row,) = layer.group_cost()
        n_slots = layer.weights.numel()  # the inputs need no gradient
        assert row == {
            "group": 0, "basis": "Z", "words": None, "shots_per_evaluation": 50,
            "forward_circuits": 3, "forward_shots": 150,
            "backward_circuits": 3 * 2 * n_slots, "backward_shots": 3 * 2 * n_slots * 50,
        }  # fmt: skip
        assert all(type(row[k]) is int for k in row if k not in ("basis", "words"))
        spec = CircuitSpec(
            2, [Gate("RY", [0], [w[0]]), Gate("CNOT", [0, 1])], n_weights=1,
            observables=["Z0 Z1 + Z1", "X0"],
        )  # fmt: skip
        exact = QuantumLayer.from_circuit(spec, diff_method="parameter-shift", seed=1)
        exact(torch.zeros(4, 0)).sum().backward()
        rows = exact.group_cost()
        assert [(r["basis"], r["words"], r["shots_per_evaluation"]) for r in rows] == [
            ("Z0 Z1", 2, None),
            ("X0", 1, None),
        ]
        assert [(r["forward_circuits"], r["forward_shots"], r["backward_shots"]) for r in rows] == [
            (4, 0, 0),
            (4, 0, 0),
        ]


class TestShotAdjointHelpers:
    """The shot-adjoint's bookkeeping of outputs: shots behind each, and whether it is +-1."""

    def test_output_shots_follow_the_layer_split(self):
        """Test that each output's shots are its group's share under the execution's split.

        Three groups (X0 X1, Z0, Y1) weighted 3 : 1 : 0.5: the weighted and the uniform split
        differ, and each output reads its own group's share, as float64 ``(n_out, 1)``.
        """
        from qgradbench.backend import Execution
        from qgradbench.circuits.pauli import as_observable
        from qgradbench.methods.shot_adjoint import output_shots

        layer = QuantumLayer(2, 1, ansatz="random-pauli", seed=1)
        observable = as_observable(["3 X0 X1", "Z0", "0.5 Y1"], 2)
        shares = {}
        for split in ("uniform", "weighted"):
            ex = Execution(layer.circuit, observable, shots=100, shot_split=split)
            got = output_shots(ex)
            assert got.dtype == torch.float64 and got.shape == (3, 1)
            group_of = {w: g for g, grp in enumerate(observable.groups) for w in grp.words}
            share = observable.allocate(100, split)
            want = [share[group_of[s.terms[0][1]]] for s in observable.sums]
            assert got[:, 0].tolist() == want
            shares[split] = want
        assert shares["uniform"] != shares["weighted"]

    @pytest.mark.parametrize(
        "outputs,expected",
        [
            (["Z0", "-1 X0 Y1"], True),
            (["Z0", "0.5 Z1"], False),  # a coefficient other than +-1: not +-1 outcomes
            (["Z0 + Z1"], False),  # a sum of words
            (["1 Z0 + 0.5 X1"], False),  # a sum whose first coefficient is 1
        ],
    )
    def test_pauli_word_outputs(self, outputs, expected):
        """Test which observables give +-1 outcomes per shot (one word, coefficient +-1)."""
        from qgradbench.circuits.pauli import as_observable
        from qgradbench.methods.shot_adjoint import _pauli_word_outputs

        assert _pauli_word_outputs(as_observable(outputs, 2)) is expected

    @pytest.mark.parametrize("n", [3, 7])  # shared variants of a dense schedule; fused groups
    def test_offsets_of_a_batch_sharing_its_weights(self, n):
        """Test the pi-kicked offsets ``A_k`` (match="parameter-shift") against full circuits.

        The rows share their weights, so the kicks run as shifted circuits that share the
        weights' gates; slots in an order of their own. Planted: a kick on the wrong slot, or
        the offsets' axes swapped, fails.
        """
        from qgradbench.methods.shot_adjoint import ShotAdjoint

        layer, theta = setup("shot-adjoint", n=n, n_layers=1)
        slots = np.array([theta.shape[1] - 1, 0, n + 1, 2])
        got = ShotAdjoint._offsets(layer.execution, theta, slots)
        torch.testing.assert_close(got, pi_kick_offsets(layer, theta)[..., slots])


class TestShotAdjointGeneralRule:
    """Shot-adjoint emulating parameter-shift on slots with several frequencies (CRX)."""

    @staticmethod
    def spec(observables):
        """Two CRX slots (four-term rule each) around a plain RY slot, on two qubits."""
        from qgradbench.circuits.model import CircuitSpec, Gate, w

        gates = [
            Gate("RY", [0], [1.1]),
            Gate("RX", [1], [0.4]),
            Gate("CRX", [0, 1], [w[0]]),
            Gate("RY", [1], [w[1]]),
            Gate("CRX", [1, 0], [w[2]]),
            Gate("RY", [0], [0.3]),
        ]
        return CircuitSpec(2, gates, n_weights=3, observables=observables)

    @pytest.mark.parametrize("slots", [[0, 1, 2], [2, 0]], ids=["all-slots", "two-slots"])
    @pytest.mark.parametrize("match", ["parameter-shift", "hadamard"])
    @pytest.mark.parametrize("observables", [["X0 Z1", "Z1"], ["Z0", "Z0 Z1"]])
    def test_entries_unbiased_and_reproducible(self, observables, match, slots):
        """Test the sampled Jacobian's mean, dtype and reproducibility per seed (complex64).

        ``R`` rows of the same circuit: each entry's mean over the rows lies within 5 of its
        standard errors (from the rows' own spread) of the exact Jacobian, plus float32
        rounding. Two outputs, in one or two measurement groups (shots per output an integer,
        or a tensor), and several multi-frequency slots in one call, emulating the general
        shift rule or the Hadamard tests of the CRX's two rotations; all slots, or two of them
        in another order (four of the five rotations). The same seed gives the same draws; the
        layer's generator, not the global one, drives them.
        """
        from qgradbench.experiments.common import method_jacobian

        spec, rows, shots = self.spec(observables), 2000, 100
        estimates = []
        for run in range(2):
            torch.manual_seed(run)  # the global generator differs between the runs
            layer = QuantumLayer.from_circuit(
                spec, diff_method="shot-adjoint", match=match, shots=shots, seed=5
            )
            theta = torch.tensor([[0.7, -0.4, 1.3]]).repeat(rows, 1)
            estimates.append(method_jacobian(layer.method, layer.execution, theta, np.array(slots)))
        got, again = estimates
        assert got.dtype == torch.float32 and got.shape == (rows, 2, len(slots))
        torch.testing.assert_close(got, again, rtol=0, atol=0)
        exact = adjoint_jacobian(layer.execution, theta[:1].double())[0][:, slots]
        mean, se = got.double().mean(0), got.double().std(0) / math.sqrt(rows)
        assert torch.all((mean - exact).abs() <= 5 * se + 1e-5), (mean, exact, se)
        assert torch.all(se > 0)  # every entry is sampled

    def test_backward_circuits(self):
        """Test the emulated estimator's circuits per slot of each match.

        Two-term: 4 per CRX (two frequencies) and 2 per plain slot; Hadamard test: one per
        rotation (CRX lowers to two).
        """
        circuit, _ = self.spec(["Z0"]).compiled
        assert circuit.slot_frequencies == ((0.5, 1.0), (1.0,), (0.5, 1.0))
        shift = get_method("shot-adjoint", match="parameter-shift")
        hadamard = get_method("shot-adjoint", match="hadamard")
        assert shift.backward_circuits(circuit, [0, 1, 2]) == 4 + 2 + 4
        assert hadamard.backward_circuits(circuit, [0, 1, 2]) == 2 + 1 + 2
