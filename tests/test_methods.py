"""Differentiation methods: registry, rules against closed forms, batching of gradient circuits."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from qgradbench import QuantumLayer
from qgradbench.backend import Execution
from qgradbench.circuits import CircuitBuilder, Observable
from qgradbench.methods import (
    adjoint_jacobian,
    available,
    finite_diff_coeffs,
    get_method,
    names,
)
from qgradbench.methods.base import HardwareMethod, ShiftRuleMethod, assemble
from qgradbench.methods.parameter_shift import (
    build_frequency_rule,
    build_general_recipe,
    shift_recipe,
)


def autograd_jacobian(ex: Execution, theta: torch.Tensor) -> torch.Tensor:
    """``d <O_j> / d theta`` ``(B, n_out, P)`` by autograd through the simulation."""
    return torch.stack(
        [torch.autograd.functional.jacobian(lambda t: ex.expval(t[None])[0], row) for row in theta]
    )


def one_qubit_gradient(method: str, **options) -> tuple[float, float]:
    """One qubit: along the Rot's theta ``t``, ``<Z> = cos a cos t - sin a cos phi sin t``.

    Returns the method's estimate of ``d<Z>/dt`` and the exact value.
    """
    layer = QuantumLayer(1, 1, diff_method=method, dtype=torch.complex128, **options)
    a, phi, t, omega = 0.4 * math.pi, 0.7, 1.1, -0.3
    with torch.no_grad():
        layer.weights.copy_(torch.tensor([[[phi, t, omega]]], dtype=torch.float64))
    layer(torch.tensor([[0.4]], dtype=torch.float64)).sum().backward()
    exact = -math.cos(a) * math.sin(t) - math.sin(a) * math.cos(phi) * math.cos(t)
    return layer.weights.grad[0, 0, 1].item(), exact


def count_engine_calls(layer: QuantumLayer, monkeypatch) -> list[int]:
    """Record the circuits of every engine call from now on; return the list.

    A ``Circuit.run`` call counts its batch; a ``Schedule.run_variants`` call (a gradient
    rule's weight shifts of a whole batch) counts variants times circuits.
    """
    from qgradbench.circuits.schedule import Schedule

    calls = []
    original, variants = type(layer.circuit).run, Schedule.run_variants

    def counting_run(circuit, theta, dtype=torch.complex64, shared=None):
        calls.append(theta.shape[0])
        return original(circuit, theta, dtype, shared)

    def counting_variants(schedule, batched, shifted, dtype=torch.complex64):
        calls.append(shifted.shape[0] * batched.shape[0])
        return variants(schedule, batched, shifted, dtype)

    monkeypatch.setattr(type(layer.circuit), "run", counting_run)
    monkeypatch.setattr(Schedule, "run_variants", counting_variants)
    return calls


class TestRegistry:
    """The method registry."""

    def test_names_and_properties(self):
        """Test that the exact methods are registered with their properties."""
        props = {m.name: (m.supports_shots, m.hardware, m.family) for m in available()}
        assert props["backprop"] == (False, "no", "simulator")
        assert props["adjoint"] == (False, "no", "simulator")
        assert props["parameter-shift"] == (True, "yes", "hardware")
        assert props["finite-diff"] == (True, "yes", "hardware")

    def test_only_linear_rules_have_recipes(self):
        """Test that parameter-shift and finite-diff are the shift rules, with a recipe each."""
        hardware = {m.name for m in available() if issubclass(m, HardwareMethod)}
        rules = {m.name for m in available() if issubclass(m, ShiftRuleMethod)}
        assert hardware == {"parameter-shift", "finite-diff", "spsa", "hadamard"}
        assert rules == {"parameter-shift", "finite-diff"}
        for name in hardware - rules:
            assert not hasattr(get_method(name), "recipe")

    def test_register_refuses_a_taken_name(self):
        """Test that registering a second method under a taken name raises a ValueError."""
        from qgradbench.methods import register

        class Twin(type(get_method("adjoint"))):
            pass

        with pytest.raises(ValueError, match="'adjoint' is already registered"):
            register(Twin)
        assert names().count("adjoint") == 1

    def test_registered_method_is_found_by_name(self, monkeypatch):
        """Test that a newly registered method is listed and constructed by its name."""
        import qgradbench.methods as methods

        monkeypatch.setattr(methods, "_REGISTRY", dict(methods._REGISTRY))

        class Twin(type(get_method("adjoint"))):
            name = "twin-adjoint"

        assert methods.register(Twin) is Twin
        assert names()[-1] == "twin-adjoint" and available()[-1] is Twin
        assert isinstance(get_method("twin-adjoint"), Twin)

    def test_repr_shows_options(self):
        """Test that a method's repr names its class and every option with its value."""
        fd = get_method("finite-diff", h=0.1, strategy="central", approx_order=2)
        assert repr(fd) == "FiniteDiff(h=0.1, strategy='central', approx_order=2)"
        assert repr(get_method("hadamard")) == "Hadamard()"
        assert repr(get_method("parameter-shift", shift=1)) == "ParameterShift(shift=1.0)"

    def test_unknown_method_lists_known(self):
        """Test that an unknown method name raises a ValueError listing the known ones."""
        with pytest.raises(ValueError, match="'nope'.*backprop, adjoint, parameter-shift"):
            get_method("nope")

    def test_unknown_option(self):
        """Test that an option a method does not take raises a ValueError naming it."""
        with pytest.raises(ValueError, match="'h'.*'parameter-shift'.*accepted: shift"):
            get_method("parameter-shift", h=0.1)
        with pytest.raises(
            ValueError, match="'c'.*'finite-diff'; accepted: h, strategy, approx_order$"
        ):
            get_method("finite-diff", c=0.1)
        with pytest.raises(
            ValueError, match="'h', 'shift' for diff_method 'hadamard'; accepted: none$"
        ):
            get_method("hadamard", shift=1.0, h=0.1)

    def test_every_method_has_summary(self):
        """Test that every registered method describes itself for the listing."""
        for m in available():
            assert m.summary and m.hardware in ("yes", "no", "emulates")
        assert names() == [m.name for m in available()]


class TestFiniteDiffRule:
    """Finite-difference stencils and their convergence, against closed forms."""

    @pytest.mark.parametrize(
        "order,strategy,shifts,coeffs",
        [
            (1, "forward", [0, 1], [-1, 1]),
            (1, "backward", [-1, 0], [-1, 1]),
            (2, "central", [-1, 1], [-0.5, 0.5]),
            (2, "forward", [0, 1, 2], [-1.5, 2, -0.5]),
            (4, "central", [-2, -1, 1, 2], [1 / 12, -2 / 3, 2 / 3, -1 / 12]),
        ],
    )
    def test_coefficients(self, order, strategy, shifts, coeffs):
        """Test that the stencils equal the textbook (Fornberg 1988) coefficients."""
        got_shifts, got_coeffs = finite_diff_coeffs(order, strategy)
        np.testing.assert_array_equal(got_shifts, shifts)
        np.testing.assert_allclose(got_coeffs, coeffs, atol=1e-12)

    def test_central_error_shrinks_as_h_squared(self):
        """Test that halving h divides the central-difference error by 4 (error ~ g h^2 / 6)."""
        steps = [0.4, 0.2, 0.1, 0.05]
        errors = []
        for h in steps:
            est, exact = one_qubit_gradient("finite-diff", h=h, strategy="central", approx_order=2)
            errors.append(abs(est - exact))
            # exactly g sin(h)/h for a sinusoid: the error is g (1 - sin(h)/h) ~ g h^2 / 6
            assert est == pytest.approx(exact * math.sin(h) / h, abs=1e-12)
        ratios = np.array(errors[:-1]) / np.array(errors[1:])
        np.testing.assert_allclose(ratios, 4.0, rtol=0.02)
        slope = np.polyfit(np.log(steps), np.log(errors), 1)[0]
        assert slope == pytest.approx(2.0, abs=0.02)

    def test_forward_error_shrinks_as_h(self):
        """Test that the forward-difference error is first order in h."""
        steps = [0.04, 0.02, 0.01, 0.005]
        errors = [abs(np.subtract(*one_qubit_gradient("finite-diff", h=h))) for h in steps]
        slope = np.polyfit(np.log(steps), np.log(errors), 1)[0]
        assert slope == pytest.approx(1.0, abs=0.05)

    def test_default_steps(self):
        """Test that the default step balances truncation against precision or shot noise."""
        fd = get_method("finite-diff")
        assert fd.step(None, torch.float64) == pytest.approx(np.finfo(np.float64).eps ** 0.5)
        assert fd.step(1000, torch.float32) == pytest.approx(1000 ** (-1 / 4))
        central = get_method("finite-diff", strategy="central", approx_order=2)
        assert central.step(None, torch.float32) == pytest.approx(
            np.finfo(np.float32).eps ** (1 / 3)
        )
        assert get_method("finite-diff", h=0.3).step(100, torch.float32) == 0.3

    @pytest.mark.parametrize(
        "shots,h", [(None, np.finfo(np.float32).eps ** 0.5), (100, 100**-0.25), (10_000, 0.1)]
    )
    def test_recipe_uses_the_step_for_its_shots(self, shots, h):
        """Test that the recipe's offsets are the default step for the layer's shots (float32)."""
        layer = QuantumLayer(2, 1, diff_method="finite-diff", shots=shots, seed=0)
        recipe = layer.method.recipe(layer.execution, np.array([0, 3]))
        np.testing.assert_allclose(np.abs(recipe.offsets).max(), h, rtol=1e-6)
        np.testing.assert_allclose(recipe.f0_coeffs, -1 / h, rtol=1e-6)

    @pytest.mark.parametrize(
        "options,match",
        [
            ({"h": 0.0}, "h must be a positive number, got 0.0"),
            ({"h": -0.1}, "h must be a positive number, got -0.1"),
            ({"h": "big"}, "h must be a positive number, got 'big'"),
            ({"strategy": "sideways"}, "must be one of forward, backward, central, got 'sideways'"),
            ({"approx_order": 0}, "approx_order must be an integer >= 1, got 0"),
            ({"strategy": "central", "approx_order": 3}, "even approx_order, got 3"),
        ],
    )
    def test_bad_options(self, options, match):
        """Test that invalid finite-difference options raise a ValueError naming the value."""
        with pytest.raises(ValueError, match=match):
            get_method("finite-diff", **options)


@pytest.mark.parametrize(
    "strategy,order,shifts,coeffs",
    [
        ("forward", 1, [0, 1], [-1.0, 1.0]),
        ("backward", 1, [-1, 0], [-1.0, 1.0]),
        ("central", 2, [-1, 1], [-0.5, 0.5]),
        ("forward", 2, [0, 1, 2], [-1.5, 2.0, -0.5]),
    ],
)
class TestSPSARule:
    """SPSA along given directions (an injected sampler), without shots, against closed forms."""

    C = 0.2

    @staticmethod
    def fixed_directions(directions: torch.Tensor):
        """A sampler that returns ``directions`` ``(D, S)`` for every sample of the batch."""

        def sampler(shape, generator, dtype, device):
            assert shape[1:] == directions.shape
            return directions.to(dtype).expand(shape).clone()

        return sampler

    def test_average_of_stencils_along_directions(self, strategy, order, shifts, coeffs):
        """Test that SPSA is (1/D) sum_d Delta_d sum_j (c_j / c) f(theta + s_j c Delta_d)."""
        layer = QuantumLayer(2, 1, dtype=torch.complex128, seed=5)
        ex = Execution(layer.circuit, layer.execution.observable, torch.complex128)
        gen = torch.Generator().manual_seed(2)
        theta = assemble(
            math.pi * torch.rand(3, 2, generator=gen, dtype=torch.float64),
            layer.weights.detach().reshape(-1),
        )
        n_params = theta.shape[-1]
        directions = 2 * torch.randint(0, 2, (4, n_params), generator=gen).double() - 1
        directions[0] = 1.0  # one direction of all +1 at least
        for n_dir in (1, 3, 4):
            spsa = get_method(
                "spsa",
                c=self.C,
                strategy=strategy,
                approx_order=order,
                num_directions=n_dir,
                sampler=self.fixed_directions(directions[:n_dir]),
            )
            slots = np.arange(n_params)
            jac = spsa.jacobian(ex, theta, slots, ex.expval(theta))
            want = torch.zeros_like(jac)
            for delta in directions[:n_dir]:
                slope = sum(
                    c / self.C * ex.expval(theta + s * self.C * delta)
                    for s, c in zip(shifts, coeffs, strict=True)
                )
                want += slope[..., None] * delta / n_dir
            torch.testing.assert_close(jac, want, atol=1e-12, rtol=0)

    def test_fewer_slots_use_fewer_direction_entries(self, strategy, order, shifts, coeffs):
        """Test that SPSA over a subset of slots perturbs only those slots."""
        layer = QuantumLayer(2, 1, dtype=torch.complex128, seed=5)
        ex = Execution(layer.circuit, layer.execution.observable, torch.complex128)
        theta = assemble(
            torch.tensor([[0.3, -0.8]], dtype=torch.float64), layer.weights.detach().reshape(-1)
        )
        slots = np.array([1, 4, 5])
        delta = torch.tensor([1.0, -1.0, 1.0], dtype=torch.float64)
        spsa = get_method(
            "spsa",
            c=self.C,
            strategy=strategy,
            approx_order=order,
            sampler=self.fixed_directions(delta[None]),
        )
        full = torch.zeros(theta.shape[-1], dtype=torch.float64)
        full[slots] = delta
        slope = sum(
            c / self.C * ex.expval(theta + s * self.C * full)
            for s, c in zip(shifts, coeffs, strict=True)
        )
        jac = spsa.jacobian(ex, theta, slots, ex.expval(theta))
        torch.testing.assert_close(jac, slope[..., None] * delta, atol=1e-12, rtol=0)


@pytest.mark.parametrize(
    "method,options,tol",
    [
        ("parameter-shift", {}, 1e-12),
        ("parameter-shift", {"shift": 0.7}, 1e-12),
        ("hadamard", {}, 1e-12),
        # central 4th order at h = 1e-2: truncation <= h^4 / 30 per entry (sinusoids)
        ("finite-diff", {"strategy": "central", "approx_order": 4, "h": 1e-2}, 1e-9),
    ],
)
class TestExactRules:
    """Without shots, every hardware rule gives the adjoint Jacobian of a random circuit."""

    def test_jacobian_equals_adjoint(self, method, options, tol):
        """Test that the rule's Jacobian over all slots equals the adjoint Jacobian."""
        layer = QuantumLayer(3, 2, ansatz="random-pauli", dtype=torch.complex128, seed=4)
        ex = Execution(layer.circuit, layer.execution.observable, torch.complex128)
        gen = torch.Generator().manual_seed(4)
        x = 2 * torch.rand(5, 3, generator=gen, dtype=torch.float64) - 1
        theta = assemble(math.pi * x, layer.weights.detach().reshape(-1))
        slots = np.arange(theta.shape[-1])
        jac = get_method(method, **options).jacobian(ex, theta, slots, ex.expval(theta))
        torch.testing.assert_close(jac, adjoint_jacobian(ex, theta), atol=tol, rtol=0)

    def test_subset_of_slots(self, method, options, tol):
        """Test that asking for some slots gives exactly those columns of the Jacobian."""
        layer = QuantumLayer(2, 2, dtype=torch.complex128, seed=8)
        ex = Execution(layer.circuit, layer.execution.observable, torch.complex128)
        theta = assemble(
            torch.tensor([[0.4, -1.1], [2.0, 0.3]], dtype=torch.float64),
            layer.weights.detach().reshape(-1),
        )
        slots = np.array([1, 3, 10])
        jac = get_method(method, **options).jacobian(ex, theta, slots, ex.expval(theta))
        want = adjoint_jacobian(ex, theta)[..., slots]
        torch.testing.assert_close(jac, want, atol=tol, rtol=0)


class TestSPSADefaults:
    """SPSA's default perturbation size follows the finite-difference step rule."""

    @pytest.mark.parametrize("shots", [None, 100, 10_000])
    def test_default_perturbation_for_shots(self, shots, monkeypatch):
        """Test that the default c is the central-difference step for the shots (float32)."""
        layer = QuantumLayer(2, 1, diff_method="spsa", shots=shots, seed=0)
        executed = []
        original = type(layer.execution).estimate

        def recording_estimate(execution, theta, shared=None):
            executed.append(theta.clone())
            return original(execution, theta, shared)

        monkeypatch.setattr(type(layer.execution), "estimate", recording_estimate)
        x = torch.tensor([[0.3, -0.4]], requires_grad=True)
        layer(x).sum().backward()
        _, shifted = executed  # the forward pass, then the two SPSA circuits
        theta = assemble(math.pi * x.detach(), layer.weights.detach().reshape(-1))
        c = get_method("finite-diff", strategy="central", approx_order=2).step(shots, torch.float32)
        torch.testing.assert_close(
            (shifted - theta).abs(), torch.full_like(shifted, c), rtol=1e-4, atol=0
        )


class TestParameterShiftRule:
    """The two-term rule."""

    @pytest.mark.parametrize("shift", [math.pi / 2, 0.3, 2.0])
    def test_exact_for_any_shift(self, shift):
        """Test that (f(t+s) - f(t-s)) / (2 sin s) is exact for any shift s (closed form)."""
        est, exact = one_qubit_gradient("parameter-shift", shift=shift)
        assert est == pytest.approx(exact, abs=1e-12)

    def test_recipe(self):
        """Test the recipe's rows ``+-s e_k``, weights ``+-1/(2 sin s)`` and no unshifted term."""
        shift = 0.7
        rec = shift_recipe(5, (1, 3), shift)
        want_offsets = np.zeros((4, 5))
        want_offsets[[0, 1], 1] = [shift, -shift]
        want_offsets[[2, 3], 3] = [shift, -shift]
        w = 1 / (2 * math.sin(shift))
        np.testing.assert_array_equal(rec.offsets, want_offsets)
        np.testing.assert_allclose(rec.coeffs, [[w, -w, 0, 0], [0, 0, w, -w]], rtol=1e-15)
        np.testing.assert_array_equal(rec.f0_coeffs, np.zeros(2))

    def test_bad_shift(self):
        """Test that a shift with sin(s) = 0 raises a ValueError naming it."""
        with pytest.raises(ValueError, match="sin\\(shift\\) != 0, got 0"):
            get_method("parameter-shift", shift=0)


class TestBatching:
    """Gradient circuits are folded into the batch: no loop over samples or parameters."""

    @pytest.mark.parametrize("method", ["parameter-shift", "finite-diff"])
    def test_backward_is_two_engine_calls(self, method, monkeypatch):
        """Test that the shifted circuits of a batch run in two engine calls, 2P x B in all.

        The inputs' shifts are one batch of circuits; the weights' shifts are one call of
        weight variants times the batch (``Schedule.run_variants``).
        """
        layer = QuantumLayer(4, 2, diff_method=method, seed=0)
        x = torch.rand(8, 4, requires_grad=True)
        out = layer(x)
        calls = count_engine_calls(layer, monkeypatch)
        out.sum().backward()
        per_param = 2 if method == "parameter-shift" else 1
        assert calls == [8 * per_param * 4, 8 * per_param * 2 * 4 * 3]

    def test_only_requested_gradients(self, monkeypatch):
        """Test that inputs without requires_grad are not differentiated (fewer circuits)."""
        layer = QuantumLayer(3, 1, diff_method="parameter-shift", seed=0)
        calls = count_engine_calls(layer, monkeypatch)
        layer(torch.rand(5, 3)).sum().backward()  # x does not require grad
        assert calls == [5, 5 * 2 * 9]  # forward, then 2 variants for each of the 9 weights
        assert layer.weights.grad is not None


class TestSlots:
    """Which angle slots a backward pass differentiates, and how their gradient is split."""

    @pytest.mark.parametrize(
        "needs,want",
        [
            ((True, True), list(range(10))),
            ((True, False), [0, 1, 2]),
            ((False, True), list(range(3, 10))),
            ((False, False), []),
        ],
    )
    def test_needed_slots(self, needs, want):
        """Test that the slots are the inputs' then the weights', as autograd asks for them."""
        from qgradbench.methods.base import needed_slots

        slots = needed_slots(3, 10, needs)
        assert slots.dtype == np.int64
        np.testing.assert_array_equal(slots, want)

    def test_split_grad(self):
        """Test that the inputs' gradient is per sample and the weights' summed over the batch."""
        from qgradbench.methods.base import split_grad

        grad = torch.arange(12.0).reshape(3, 4)
        g_in, g_w = split_grad(grad, 1, (True, True))
        torch.testing.assert_close(g_in, grad[:, :1])
        torch.testing.assert_close(g_w, torch.tensor([15.0, 18.0, 21.0]))
        assert split_grad(grad, 1, (False, True))[0] is None
        assert split_grad(grad, 1, (True, False))[1] is None


class TestChunking:
    """Large batches run in chunks of at most MAX_AMPLITUDES_PER_CALL amplitudes, same results."""

    def test_estimate_in_chunks(self, monkeypatch):
        """Test that 10 (8) rows of 3 qubits, room for 32 amplitudes, run as 4 + 4 + 2 (4 + 4)."""
        import qgradbench.backend.execution as base

        layer = QuantumLayer(3, 1, dtype=torch.complex128, seed=0)
        ex = Execution(layer.circuit, layer.execution.observable, torch.complex128)
        theta = torch.rand(10, layer.circuit.n_params, dtype=torch.float64)
        whole = ex.estimate(theta)
        calls = count_engine_calls(layer, monkeypatch)
        monkeypatch.setattr(base, "MAX_AMPLITUDES_PER_CALL", 2**5)
        torch.testing.assert_close(ex.estimate(theta), whole, atol=1e-15, rtol=0)
        assert calls == [4, 4, 2]
        calls.clear()
        torch.testing.assert_close(ex.estimate(theta[:8]), whole[:8], atol=1e-15, rtol=0)
        assert calls == [4, 4]
        calls.clear()
        monkeypatch.setattr(base, "MAX_AMPLITUDES_PER_CALL", 2**2)  # less than one state
        torch.testing.assert_close(ex.estimate(theta[:3]), whole[:3], atol=1e-15, rtol=0)
        assert calls == [1, 1, 1]

    def test_hadamard_in_chunks_of_slots(self, monkeypatch):
        """Test that Hadamard-test circuits (n + 1 qubits, B rows per slot) are chunked by slot."""
        import qgradbench.methods.hadamard as hadamard

        layer = QuantumLayer(2, 1, dtype=torch.complex128, seed=0)
        ex = Execution(layer.circuit, layer.execution.observable, torch.complex128)
        theta = torch.rand(3, layer.circuit.n_params, dtype=torch.float64)
        slots = np.arange(5)
        method = get_method("hadamard")
        whole = method.jacobian(ex, theta, slots, ex.expval(theta))
        sizes = []
        original = hadamard.hadamard_test

        def counting_test(execution, theta, slots):
            sizes.append(len(slots))
            return original(execution, theta, slots)

        monkeypatch.setattr(hadamard, "hadamard_test", counting_test)
        monkeypatch.setattr(hadamard, "MAX_AMPLITUDES_PER_CALL", 64)  # 3 rows x 2^3: 2 slots
        torch.testing.assert_close(method.jacobian(ex, theta, slots, None), whole)
        assert sizes == [2, 2, 1]
        sizes.clear()
        monkeypatch.setattr(hadamard, "MAX_AMPLITUDES_PER_CALL", 8)  # less than one slot
        torch.testing.assert_close(method.jacobian(ex, theta, slots[:2], None), whole[..., :2])
        assert sizes == [1, 1]


class TestAdjoint:
    """The adjoint method is a reverse sweep, not autograd in disguise."""

    def test_custom_function(self):
        """Test that the adjoint output comes from the custom autograd Function."""
        layer = QuantumLayer(3, 2, diff_method="adjoint", seed=0)
        out = layer(torch.rand(2, 3, requires_grad=True))
        assert "AdjointVJP" in type(out.grad_fn).__name__ or any(
            "AdjointVJP" in type(f[0]).__name__ for f in out.grad_fn.next_functions if f[0]
        )

    @staticmethod
    def graph_size(out: torch.Tensor) -> int:
        """Number of autograd nodes behind ``out``."""
        nodes, stack = set(), [out.grad_fn]
        while stack:
            fn = stack.pop()
            if fn is None or fn in nodes:
                continue
            nodes.add(fn)
            stack.extend(f for f, _ in fn.next_functions)
        return len(nodes)

    def test_no_graph_in_forward(self):
        """Test that the adjoint forward records no autograd graph through the gates."""
        x = torch.rand(2, 4, requires_grad=True)
        adjoint = QuantumLayer(4, 3, diff_method="adjoint", seed=0)(x)
        backprop = QuantumLayer(4, 3, diff_method="backprop", seed=0)(x)
        # backprop's graph holds one node per engine op; the adjoint's holds a handful.
        assert self.graph_size(adjoint) < 10 < self.graph_size(backprop)

    def test_shot_adjoint_without_shots_is_adjoint(self):
        """Test that shot-adjoint without shots returns the adjoint Jacobian, bit for bit."""
        layer = QuantumLayer(3, 2, ansatz="random-pauli", dtype=torch.complex128, seed=3)
        ex = Execution(layer.circuit, layer.execution.observable, torch.complex128)
        theta = assemble(torch.rand(4, 3, dtype=torch.float64), layer.weights.detach().reshape(-1))
        slots = np.array([0, 2, 5, 7])
        jac = get_method("shot-adjoint").jacobian(ex, theta, slots, ex.expval(theta))
        assert torch.equal(jac, adjoint_jacobian(ex, theta)[..., slots])

    @pytest.mark.parametrize("n", [3, 8])  # a dense schedule, and fused wire groups
    def test_jacobian_with_constants_and_fractional_eigenvalues(self, n):
        """Test adjoint_jacobian against autograd where constants and eigenvalues matter.

        Constant rotations that do not commute with their neighbours (RX before RY(0.3) before
        RZ on every wire) make the sweep's carried generators depend on the constants' angles,
        and ``local-z`` (the mean of the ``<Z_j>``, eigenvalues in ``{-1, -1 + 2/n, ..., 1}``,
        0 among them) is not its own inverse: ``O |psi>`` must multiply by the eigenvalues.
        """
        b = CircuitBuilder(n, "constants")
        for layer in range(2):
            for wire in range(n):
                b.rotation("X", wire, slot=2 * n * layer + wire)
                b.rotation("Y", wire, angle=0.3 + 0.1 * wire)
                b.rotation("Z", wire, slot=2 * n * layer + n + wire)
            for wire in range(n - 1):
                b.fixed("CNOT", (wire, wire + 1))
        circuit = b.build(4 * n)
        ex = Execution(circuit, Observable("local-z", n), torch.complex128)
        theta = torch.rand(
            3, 4 * n, dtype=torch.float64, generator=torch.Generator().manual_seed(5)
        )
        torch.testing.assert_close(adjoint_jacobian(ex, theta), autograd_jacobian(ex, theta))

    @pytest.mark.parametrize(("n", "rows"), [(3, 4), (3, 1), (7, 3)])
    def test_jacobian_runs_shared_weights_shared(self, n, rows):
        """Test adjoint_jacobian of rows that share their weights against autograd.

        The weights (the last slots, the same in every row) are run as shared, the inputs per
        row: a dense schedule at 3 qubits, fused wire groups at 7; one row shares every slot.
        Planted: the split one slot early (the last input taken from row 0),
        or the weights' derivatives summed over the rows, fails.
        """
        layer = QuantumLayer(n, 2, dtype=torch.complex128, seed=2)
        ex = Execution(layer.circuit, layer.execution.observable, torch.complex128)
        x = torch.rand(rows, n, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
        theta = assemble(math.pi * x, layer.weights.detach().reshape(-1))
        assert ex.per_circuit_slots(theta) == (n if rows > 1 else 0)
        got = adjoint_jacobian(ex, theta)
        assert got.shape == (rows, n, theta.shape[1])
        torch.testing.assert_close(got, autograd_jacobian(ex, theta))

    def test_jacobian_equals_backprop(self):
        """Test that adjoint_jacobian equals autograd's Jacobian of the same circuit."""
        layer = QuantumLayer(3, 2, ansatz="random-pauli", dtype=torch.complex128, seed=3)
        ex = Execution(layer.circuit, layer.execution.observable, torch.complex128)
        x = torch.rand(4, 3, dtype=torch.float64)
        theta = assemble(math.pi * x, layer.weights.detach().reshape(-1))
        torch.testing.assert_close(adjoint_jacobian(ex, theta), autograd_jacobian(ex, theta))


@pytest.mark.parametrize(
    ("slots", "dtype"),
    [([0, 1, 2, 3], torch.complex128), ([2, 0], torch.complex128), ([1, 0], torch.complex128),
     ([0, 1, 2, 3], torch.complex64)],
)  # fmt: skip
def test_hadamard_and_adjoint_by_decomposition(slots, dtype):
    """Test slots that drive scaled and several rotations against autograd's Jacobian.

    Slot 1 drives ``RX(0.3 t)``, slot 2 two rotations ``RX(t/2)`` and ``RX(-t/2)`` around a
    CNOT (how ``CRX`` is lowered): the Hadamard test runs one circuit per rotation and sums
    them with the scales (the chain rule), the adjoint sweep scales each rotation's
    derivative. Subsets in another order check where each sum lands, ``[1, 0]`` one circuit
    per slot that still needs its scale. Planted: a division by the scales, sums into the
    wrong slot, an unscaled shortcut, or scales rounded to float32 (0.3 is not a float32; the
    adjoint's were, a 4e-8 relative error this test found), fails at 1e-12.
    """
    from qgradbench.methods.hadamard import Hadamard

    b = CircuitBuilder(3, "lowered")
    b.rotation("Y", 0, slot=0)
    b.rotation("X", 1, slot=1, scale=0.3)
    b.rotation("X", 2, slot=2, scale=0.5)
    b.fixed("CNOT", (1, 2))
    b.rotation("X", 2, slot=2, scale=-0.5, shared=True)
    b.fixed("CNOT", (1, 2))
    b.rotation("Z", 0, slot=3)
    b.fixed("CNOT", (0, 1))
    circuit = b.build(4)
    ex = Execution(circuit, Observable("z-each", 3), dtype)
    real = dtype.to_real()
    theta = torch.rand(5, 4, dtype=real, generator=torch.Generator().manual_seed(6))
    tol = 1e-12 if dtype == torch.complex128 else 1e-5
    want = autograd_jacobian(ex, theta)[..., slots]  # (B, n_out, S)
    got = Hadamard().jacobian(ex, theta, np.array(slots), ex.expval(theta))
    torch.testing.assert_close(got, want, rtol=tol, atol=tol)
    adjoint = adjoint_jacobian(ex, theta)[..., slots]
    torch.testing.assert_close(adjoint, want, rtol=tol, atol=tol)


def _leading_weights_layer(n: int) -> QuantumLayer:
    """Weights in leading RY gates, ZZ phases of the inputs (diagonal layers on 7+), then RX."""
    from qgradbench.circuits.model import CircuitSpec, Gate, w, x

    gates = [Gate("RY", [q], [w[q]]) for q in range(n)]
    gates += [Gate("IsingZZ", [q, q + 1], [x[q]]) for q in range(n - 1)]
    gates += [Gate("RX", [q], [w[n + q]]) for q in range(n)]
    spec = CircuitSpec(n, gates, n_inputs=n - 1, n_weights=2 * n, observables="z-each")
    return QuantumLayer.from_circuit(spec, dtype=torch.complex128, seed=5)


def _reused_slot_execution(slots):
    """Slot 0 drives a leading rotation and a later one; slot 1 a leading rotation only.

    Wire 2 has no leading rotation (its column in the leading product state is ``|0>``).
    """
    b = CircuitBuilder(3, "reused")
    b.rotation("Y", 0, slot=0)
    b.rotation("Y", 1, slot=1)
    b.fixed("CNOT", (0, 1))
    b.rotation("Y", 1, slot=0, scale=0.5, shared=True)
    b.rotation("Z", 0, slot=2)
    b.fixed("CNOT", (1, 0))
    b.fixed("CNOT", (1, 2))
    b.rotation("X", 1, slot=3)
    b.rotation("Y", 2, slot=4)
    ex = Execution(b.build(5), Observable("z-each", 3), torch.complex128)
    theta = torch.rand(6, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(6))
    return ex, theta, slots


def _diagonal_reused_slot_execution(slots):
    """Seven qubits: leading RY gates (slots 0-6), ZZ phases, then RX gates.

    The ZZ phases are one diagonal layer; slot 0 drives the first of them too, and the later
    slots are the same in every row (shared weights).
    """
    n = 7
    b = CircuitBuilder(n, "diagonal-reused")
    for q in range(n):
        b.rotation("Y", q, slot=q)
    for q in range(n - 1):
        b.fixed("CNOT", (q, q + 1))
        b.rotation("Z", q + 1, slot=n + q - 1 if q else 0, shared=q == 0)
        b.fixed("CNOT", (q, q + 1))
    for q in range(n):
        b.rotation("X", q, slot=2 * n - 2 + q)
    ex = Execution(b.build(3 * n - 2), Observable("z-each", n), torch.complex128)
    gen = torch.Generator().manual_seed(6)
    theta = torch.rand(5, 3 * n - 2, dtype=torch.float64, generator=gen)
    theta[:, n:] = theta[0, n:]  # the same in every row: the phases' other slots are shared
    assert ex.circuit.schedule(n).diagonal_layers
    return ex, theta, slots


def _random_pauli_execution(n: int):
    """A barren-plateau ensemble's circuit (random Pauli rotations per circuit) and its draw."""
    from qgradbench.experiments.common import make_execution
    from qgradbench.experiments.variance import VarianceSpec

    ens = VarianceSpec(n_qubits=n, n_layers=6, samples=2).ensemble()
    theta = torch.as_tensor(ens.draw(5, np.random.default_rng(7)).theta)
    first = [ens.weight_slot(i) for i in ens.param_indices("first")]
    return make_execution(ens.circuit, "zz", torch.complex128, None, 0), theta, first


def _layer_theta(layer: QuantumLayer) -> torch.Tensor:
    x = torch.rand(
        5, layer.n_inputs, dtype=torch.float64, generator=torch.Generator().manual_seed(9)
    )
    batched, shared = layer.angle_map(x, layer.weights.detach().reshape(-1))
    return torch.cat([batched, shared.expand(len(x), -1)], dim=-1)


def _lead_only_cases():
    """``(name, build, lead_only)``: ``build()`` gives ``(execution, theta, slots)``."""

    def layer_case(make, pick):
        def build():
            layer = make()
            return layer.execution, _layer_theta(layer), pick(layer)

        return build

    seed_layer = lambda n: lambda: QuantumLayer(n, 2, dtype=torch.complex128, seed=5)  # noqa: E731
    return [
        ("random-pauli-4-first", lambda: _random_pauli_execution(4), True),  # dense layers
        ("random-pauli-8-first", lambda: _random_pauli_execution(8), True),  # fused groups
        # the encoding's RY (heads) and the first Rot layer (suffixes of the leading blocks)
        ("seed-4-inputs", layer_case(seed_layer(4), lambda ly: [0, 2, 3]), True),
        ("seed-7-first-rot", layer_case(seed_layer(7), lambda ly: [7, 8, 9, 13]), True),
        ("diagonal-7", layer_case(lambda: _leading_weights_layer(7), lambda ly: [6, 9]), True),
        (
            "diagonal-7-all",
            layer_case(lambda: _leading_weights_layer(7), lambda ly: [*range(6, 13)]),
            True,
        ),
        ("seed-4-last-rot", layer_case(seed_layer(4), lambda ly: [26]), False),
        ("seed-4-mixed", layer_case(seed_layer(4), lambda ly: [0, 26]), False),
        ("reused-slot-0", lambda: _reused_slot_execution([0]), False),
        ("reused-slot-1", lambda: _reused_slot_execution([1]), True),
        ("diagonal-reused-slot-0", lambda: _diagonal_reused_slot_execution([0]), False),
        ("diagonal-leading-slots", lambda: _diagonal_reused_slot_execution([1, 5]), True),
    ]


@pytest.mark.parametrize(
    ("build", "lead_only"),
    [case[1:] for case in _lead_only_cases()],
    ids=[case[0] for case in _lead_only_cases()],
)
def test_adjoint_jacobian_of_chosen_slots(build, lead_only, monkeypatch):
    """``adjoint_jacobian(..., slots)`` gives the full Jacobian's columns ``slots``.

    Slots whose rotations are all in the leading blocks (the first weight of a barren-plateau
    ensemble; a layer's encoding and its first ``Rot`` layer, fused into the leading blocks)
    sweep ``lambda`` alone: no stage's reduced matrices (they would need ``phi``) are taken,
    which the test enforces by refusing them, across dense layers (4 qubits), fused groups and
    diagonal layers (7-8). Any other slot set runs the full sweep: a slot that also drives a
    later rotation or a diagonal layer's phase, a later layer's slot, or a mix. complex128, to
    1e-12. Planted: a lead-only test that ignores a slot's later rotations or phases, or a
    sweep that still takes the stages' matrices, fails.
    """
    from qgradbench.backend import adjoint

    ex, theta, slots = build()
    want = adjoint_jacobian(ex, theta)[..., slots]
    if lead_only:
        for name in ("_reduced", "_group_reduced", "_diagonal_derivatives"):
            monkeypatch.setattr(adjoint, name, _refuse(name))
    got = adjoint_jacobian(ex, theta, slots)
    assert got.shape == want.shape == (theta.shape[0], ex.observable.n_outputs, len(slots))
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    assert want.abs().amax() > 1e-3  # the columns are not all zero


def test_adjoint_sweep_of_leading_slots_leaves_lambda_alone():
    """The sweep of leading slots alone undoes the gates on a copy of ``lambda``, not on it.

    With autograd on and ``lambda`` not requiring a gradient the sweep runs in its buffers;
    the caller's ``lambda`` stays as it was, and the wanted columns are the full sweep's.
    Planted: sweeping the caller's tensor in place fails.
    """
    from qgradbench.methods import adjoint_sweep

    ex, theta, slots = _random_pauli_execution(4)
    batched, shared = ex.split_shared(theta)
    ones = torch.ones(5, ex.observable.n_outputs, dtype=theta.dtype)
    with torch.no_grad():
        state = ex.state(batched, shared)
        lam = ex.apply_observable(state, ones).unsqueeze(1)
    before = lam.clone()
    got = adjoint_sweep(ex, batched, shared, state, lam, slots=slots)
    torch.testing.assert_close(lam, before, rtol=0, atol=0)
    want = adjoint_sweep(ex, batched, shared, state, lam)
    torch.testing.assert_close(got[..., slots], want[..., slots], rtol=1e-12, atol=1e-12)


def _refuse(name):
    def refuse(*args, **kwargs):
        raise AssertionError(f"{name} called by a sweep of the leading blocks' slots alone")

    return refuse


def test_adjoint_jacobian_of_several_non_diagonal_outputs():
    """Test one ``lambda`` per output of a non-diagonal observable against autograd.

    Two outputs, ``X0 X1 + 0.5 Z2`` and ``Y1``: each gets its own row of the identity as
    coefficients (planted: coefficients of the wrong shape, or one output's lambda for both,
    fails).
    """
    from qgradbench.circuits.pauli import as_observable

    layer = QuantumLayer(3, 2, ansatz="random-pauli", dtype=torch.complex128, seed=4)
    ex = Execution(layer.circuit, as_observable(["X0 X1 + 0.5 Z2", "Y1"], 3), torch.complex128)
    theta = torch.rand(3, layer.circuit.n_params, dtype=torch.float64)
    torch.testing.assert_close(adjoint_jacobian(ex, theta), autograd_jacobian(ex, theta))


SHARED_WEIGHT_CASES = [("tfim-hva", 4), ("tfim-hva", 7), ("basic-entangler", 7)]


@pytest.mark.parametrize(("ansatz", "n"), SHARED_WEIGHT_CASES)
def test_adjoint_layer_gradients_with_shared_weights(ansatz, n):
    """Test the adjoint layer against backprop where the weights are shared by the batch.

    Shared weights give shared gates: a diagonal layer's phases ``(2**n,)`` instead of one row
    per circuit (tfim-hva's ZZ layers), dense layers on 4 qubits, fused groups and gate stages
    on 7 (planted: a shared phase vector unsqueezed like a per-circuit one, fails).
    """
    grads = {}
    for method in ("adjoint", "backprop"):
        layer = QuantumLayer(
            n, 2, ansatz=ansatz, diff_method=method, dtype=torch.complex128, seed=2
        )
        gen = torch.Generator().manual_seed(3)  # tfim-hva has no inputs: (3, 0)
        xin = torch.rand(3, layer.n_inputs, dtype=torch.float64, generator=gen).requires_grad_()
        (layer(xin) * torch.linspace(0.5, 1.5, layer.n_outputs)).sum().backward()
        grads[method] = (xin.grad if layer.n_inputs else None, layer.weights.grad)
    for got, want in zip(grads["adjoint"], grads["backprop"], strict=True):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)


def zz_encoding_layer(n: int) -> QuantumLayer:
    """Inputs in ZZ phases (a diagonal layer with per-circuit angles on 7+ qubits), then weights."""
    from qgradbench.circuits.model import CircuitSpec, Gate, w, x

    gates = [Gate("Hadamard", [q]) for q in range(n)]
    gates += [Gate("IsingZZ", [q, q + 1], [x[q]]) for q in range(n - 1)]
    gates += [Gate("RX", [q], [w[q]]) for q in range(n)]
    gates += [Gate("IsingZZ", [q, q + 1], [w[n + q]]) for q in range(n - 1)]
    gates += [Gate("RY", [q], [w[2 * n - 1 + q]]) for q in range(n)]
    spec = CircuitSpec(n, gates, n_inputs=n - 1, n_weights=3 * n - 1, observables="z-each")
    return QuantumLayer.from_circuit(spec, dtype=torch.complex128, seed=5)


@pytest.mark.parametrize(
    ("ansatz", "n"),
    [("tfim-hva", 4), ("tfim-hva", 7), ("strongly-entangling", 7), ("zz-encoding", 7)],
)
def test_adjoint_sweep_with_the_forward_passes_gates(ansatz, n):
    """The sweep given the forward pass's gates (:meth:`Execution.state_for_sweep`) is exact.

    Bit for bit the sweep that builds its own gates; the gates kept between the passes hold no
    diagonal layer's phases (one state's worth each, per circuit: the sweep keeps ``O(1)``
    states; tfim-hva's shared ZZ layers on 7 qubits, and ZZ phases of the inputs), which the
    sweep rebuilds from both kinds of slots (planted: kept, not rebuilt, or rebuilt without
    the per-circuit slots, fails).
    """
    if ansatz == "zz-encoding":
        layer = zz_encoding_layer(n)
    else:
        layer = QuantumLayer(n, 2, ansatz=ansatz, dtype=torch.complex128, seed=5)
    ex = layer.execution
    diagonal = bool(ex.circuit.schedule(layer.n_inputs).diagonal_layers)
    assert diagonal == (n == 7 and ansatz != "strongly-entangling")
    gen = torch.Generator().manual_seed(6)
    x = torch.rand(3, layer.n_inputs, dtype=torch.float64, generator=gen)
    with torch.no_grad():
        batched, shared = layer.angle_map(x, layer.weights.reshape(-1))  # the circuit's slots
        state, gates = ex.state_for_sweep(batched, shared)
        torch.testing.assert_close(state, ex.state(batched, shared), rtol=0, atol=0)
        assert gates.diagonals is None
        lam = ex.apply_observable(state, torch.rand(3, layer.n_outputs, dtype=torch.float64))
        got = ex.vjp(batched, shared, state, lam.unsqueeze(1), gates)
        want = ex.vjp(batched, shared, state, lam.unsqueeze(1))
    torch.testing.assert_close(got, want, rtol=0, atol=0)


@pytest.mark.parametrize(("ansatz", "n"), [("strongly-entangling", 4), ("tfim-hva", 7)])
def test_adjoint_forward_without_a_gradient_to_come(ansatz, n, monkeypatch):
    """Adjoint's forward pass with no gradient to come skips the sweep's gates, same outputs.

    Under ``torch.no_grad()``, and with nothing requiring a gradient (frozen weights, plain
    inputs), the outputs equal the recorded forward pass's bit for bit (dense layers on 4
    qubits; fused groups and diagonal layers on 7), are not attached to a graph, and
    :meth:`Execution.state_for_sweep` (the carried generators) is not called. Planted: the
    plain path with the weights left out, or still recording, fails.
    """
    layer = QuantumLayer(n, 2, ansatz=ansatz, diff_method="adjoint", seed=3)
    x = torch.rand(5, layer.n_inputs, generator=torch.Generator().manual_seed(4))
    recorded = layer(x)
    assert recorded.requires_grad

    def refuse(*args, **kwargs):
        raise AssertionError("state_for_sweep called without a gradient to come")

    monkeypatch.setattr(Execution, "state_for_sweep", refuse)
    with torch.no_grad():
        plain = layer(x)
    layer.weights.requires_grad_(False)
    frozen = layer(x)
    for out in (plain, frozen):
        assert not out.requires_grad and out.grad_fn is None
        torch.testing.assert_close(out, recorded.detach(), rtol=0, atol=0)


@pytest.mark.parametrize(
    ("ansatz", "n"), [("tfim-hva", 4), ("tfim-hva", 7), ("strongly-entangling", 7)]
)
def test_adjoint_sweep_recorded_for_autograd(ansatz, n):
    """The sweep run under autograd (each inverse a new tensor) equals the buffered sweep.

    ``adjoint_sweep`` is public; recorded, it is differentiable in ``lambda`` (linear in it:
    ``gradcheck`` against finite differences, complex128). Dense layers on 4 qubits, diagonal
    layers, fused groups and gate stages on 7. Planted: a wrong argument in the recorded
    path's inverses, phases or pair, or a pooled ``out=`` under autograd (which the fused
    inverse had: a RuntimeError this test found), fails.
    """
    from qgradbench.methods import adjoint_sweep

    layer = QuantumLayer(n, 1, ansatz=ansatz, dtype=torch.complex128, seed=5)
    ex = layer.execution
    gen = torch.Generator().manual_seed(8)
    x = torch.rand(2, layer.n_inputs, dtype=torch.float64, generator=gen)
    batched, shared = layer.angle_map(x, layer.weights.detach().reshape(-1))
    with torch.no_grad():
        state = ex.state(batched, shared)
        lam = ex.apply_observable(state, torch.ones(2, layer.n_outputs, dtype=torch.float64))
        buffered = adjoint_sweep(ex, batched, shared, state, lam.unsqueeze(1).clone())
    lam = lam.unsqueeze(1).clone().requires_grad_()
    recorded = adjoint_sweep(ex, batched, shared, state, lam)
    assert recorded.requires_grad
    torch.testing.assert_close(recorded, buffered, rtol=1e-12, atol=1e-12)
    assert torch.autograd.gradcheck(
        lambda lam_: adjoint_sweep(ex, batched, shared, state, lam_)[..., :3], (lam,)
    )


@pytest.mark.parametrize("shots", [None, 20_000])
def test_hadamard_with_non_diagonal_outputs(shots):
    """Test the Hadamard test of non-diagonal outputs ``X0 X1`` and ``0.5 Y1`` against adjoint.

    Exact: to 1e-12. With ``N`` shots: each output is a mean of ``+-c`` products (ancilla ``Y``
    times one Pauli word of coefficient ``c``, at most 1) over its group's share of the shots,
    at least ``N / 3`` under either split, so its standard deviation is at most ``sqrt(3 / N)``,
    0.012; every entry lies within 6 of those (about 2e-9 per entry to miss), the largest
    deviation is far from 0 (shot noise, not the exact value), the same seed gives the same
    estimates, and the weighted split (2/3 and 1/3 of the shots) gives other ones than the
    uniform split. Planted: no shots, another generator, the split not passed on, or an
    estimate of the wrong shape, fails.
    """
    from qgradbench.circuits.pauli import as_observable
    from qgradbench.methods.hadamard import Hadamard

    layer = QuantumLayer(3, 2, ansatz="random-pauli", dtype=torch.complex128, seed=4)
    observable = as_observable(["X0 X1", "0.5 Y1"], 3)
    exact = Execution(layer.circuit, observable, torch.complex128)
    theta = torch.rand(3, layer.circuit.n_params, dtype=torch.float64)
    slots = np.arange(layer.circuit.n_params)
    want = adjoint_jacobian(exact, theta)

    def estimate(split="weighted"):
        gen = torch.Generator().manual_seed(1)
        ex = Execution(layer.circuit, observable, torch.complex128, shots, gen, shot_split=split)
        return Hadamard().jacobian(ex, theta, slots, None)

    got = estimate()
    if shots is None:
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
        return
    assert got.shape == want.shape
    deviation = (got - want).abs().max()
    assert 1e-3 < deviation < 6 * math.sqrt(3 / shots)
    assert torch.equal(estimate(), got)
    assert not torch.equal(estimate("uniform"), got)


FREQUENCY_SETS = [(1.0,), (0.5,), (0.5, 1.0), (1.0, 2.0, 3.0), (1.0, 1.05), (0.25, 0.5, 0.75, 1.0)]


@pytest.mark.parametrize("frequencies", FREQUENCY_SETS)
def test_frequency_rule_is_exact_with_wierichs_shifts(frequencies):
    """Test the general shift rule against trigonometric polynomials of those frequencies.

    ``sum_mu d_mu (f(t + y_mu) - f(t - y_mu)) = f'(t)`` for random ``f = a_0 + sum_l a_l
    cos(Omega_l t) + b_l sin(Omega_l t)`` at several ``t`` (closed form), with Wierichs et
    al.'s shifts ``y_mu = (2 mu - 1) pi / (2 R Omega_min)`` (Eq. (8)) for several frequencies
    and ``s / Omega`` for one (``s = pi/2``, and 0.7). (1.0, 1.05) is ill-conditioned (the
    system's determinant is 0.33), but solvable.
    """
    omegas = np.array(frequencies)
    rng = np.random.default_rng(3)
    a, b, a0 = rng.normal(size=len(omegas)), rng.normal(size=len(omegas)), rng.normal()

    def f(t):
        return a0 + np.sum(a * np.cos(omegas * t) + b * np.sin(omegas * t))

    def df(t):
        return np.sum(omegas * (b * np.cos(omegas * t) - a * np.sin(omegas * t)))

    for shift in (math.pi / 2, 0.7):
        y, d = build_frequency_rule(frequencies, shift)
        r = len(omegas)
        if r == 1:
            np.testing.assert_allclose(y, [shift / omegas[0]])
        else:
            mu = np.arange(1, r + 1)
            np.testing.assert_allclose(y, (2 * mu - 1) * math.pi / (2 * r * omegas.min()))
        for t in (-1.3, 0.0, 0.4, 2.9):
            got = sum(d_mu * (f(t + y_mu) - f(t - y_mu)) for y_mu, d_mu in zip(y, d, strict=True))
            assert abs(got - df(t)) < 1e-9


def test_frequency_rule_of_a_controlled_rotation_is_the_four_term_rule():
    """Test CRX's frequencies (1/2, 1): shifts pi/2, 3pi/2, coefficients (sqrt2 +- 1)/(4 sqrt2)."""
    y, d = build_frequency_rule((0.5, 1.0))
    np.testing.assert_allclose(y, [math.pi / 2, 3 * math.pi / 2])
    root2 = math.sqrt(2)
    np.testing.assert_allclose(d, [(root2 + 1) / (4 * root2), -(root2 - 1) / (4 * root2)])


@pytest.mark.parametrize(
    "frequencies,message",
    [
        ((), "frequencies must be positive numbers, got ()"),
        ((0.0,), "frequencies must be positive numbers, got (0.0,)"),
        ((-1.0, 1.0), "frequencies must be positive numbers, got (-1.0, 1.0)"),
        ((1.0, 3.0), "no shift rule with Wierichs et al.'s shifts for frequencies (1.0, 3.0)"),
    ],
)
def test_frequency_rule_refuses(frequencies, message):
    """Test a clear ValueError for no, zero or negative frequencies, and a singular system.

    For (1, 3) the equidistant shifts pi/4, 3pi/4 give both frequencies the same row.
    """
    with pytest.raises(ValueError) as err:
        build_frequency_rule(frequencies)
    assert str(err.value) == message


def test_general_recipe_rows_in_slot_order():
    """Test the general recipe's rows: +-y_mu e_k per shift of each slot, in slot order.

    Two four-term slots around a two-term one: each slot's rows sit after the previous
    slot's, with its own coefficients, and no unshifted term.
    """
    frequencies = ((0.5, 1.0), (1.0,), (0.5, 1.0), (1.0,))
    rec = build_general_recipe(4, (2, 1, 0), frequencies, math.pi / 2)
    (y0, y1), (d0, d1) = build_frequency_rule((0.5, 1.0))  # pi/2, 3pi/2
    c = 1 / (2 * math.sin(math.pi / 2))
    rows = [  # (output slot s, parameter k, shift, coefficient), each shift as + then -
        (0, 2, y0, d0), (0, 2, y1, d1), (1, 1, math.pi / 2, c), (2, 0, y0, d0), (2, 0, y1, d1)
    ]  # fmt: skip
    n_rows = 2 * len(rows)
    assert rec.offsets.shape == (n_rows, 4) and rec.coeffs.shape == (3, n_rows)
    want_offsets, want_coeffs = np.zeros((n_rows, 4)), np.zeros((3, n_rows))
    for i, (slot, k, y, d) in enumerate(rows):
        want_offsets[2 * i : 2 * i + 2, k] = y, -y
        want_coeffs[slot, 2 * i : 2 * i + 2] = d, -d
    np.testing.assert_array_equal(rec.offsets, want_offsets)
    np.testing.assert_array_equal(rec.coeffs, want_coeffs)
    np.testing.assert_array_equal(rec.f0_coeffs, np.zeros(3))


def test_parameter_shift_declares_two_circuits_per_slot():
    """Test the two-term rule's declared cost: two circuits per plain rotation."""
    method = get_method("parameter-shift")
    assert method.circuits_per_slot() == 2 and method.circuits_per_sample(5) == 10


def test_parameter_shift_splits_kicked_and_general_slots():
    """At the pi-kick size, plain slots take the kicked rule and a CRX slot the general one.

    ``ParameterShift.jacobian`` fills one Jacobian from both (exact, complex128): it equals
    the adjoint Jacobian for every slot, the CRX's column included, and each half alone.
    """
    from qgradbench.backend.branching import KICK_QUBITS
    from qgradbench.circuits.model import CircuitSpec, Gate, w

    n = KICK_QUBITS
    gates = [Gate("RY", [q], [w[q]]) for q in range(n)]
    gates += [Gate("CNOT", [q, q + 1]) for q in range(n - 1)]
    gates += [Gate("CRX", [0, 1], [w[n]]), Gate("RX", [2], [w[n + 1]])]
    spec = CircuitSpec(n, gates, n_weights=n + 2, observables=["Z0", "Z1 Z2"])
    circuit, _ = spec.compiled
    execution = Execution(circuit, spec.observable(), torch.complex128)
    slots = np.arange(circuit.n_params)
    simple = execution.kickable(slots)
    assert simple.any() and not simple.all()  # both rules in one call
    theta = torch.rand(
        3, circuit.n_params, dtype=torch.float64, generator=torch.Generator().manual_seed(2)
    )
    method = get_method("parameter-shift")
    want = adjoint_jacobian(execution, theta)
    with torch.no_grad():
        got = method.jacobian(execution, theta, slots, execution.estimate(theta))
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
        for part in (slots[simple], slots[~simple]):
            alone = method.jacobian(execution, theta, part, None)
            torch.testing.assert_close(alone, want[..., part], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("n", [3, 7])  # shared variants of a dense schedule; fused groups
def test_shifted_states_are_the_shifted_circuits_states(n):
    """Test Execution.shifted_states against each shifted circuit run in full (complex128).

    A batch sharing its weights: rows that shift an input, a weight, nothing, and both an
    input and a weight (which sends the batch down the full path), in (circuit, shift) order.
    Planted: the input-shifted rows' states copied to each other's places fails at 3 qubits.
    """
    layer = QuantumLayer(n, 2, dtype=torch.complex128, seed=5)
    ex = Execution(layer.circuit, layer.execution.observable, torch.complex128)
    x = torch.rand(3, n, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    theta = assemble(math.pi * x, layer.weights.detach().reshape(-1))
    offsets = torch.zeros(4, theta.shape[1], dtype=torch.float64)
    offsets[0, 1] = 0.7  # an input
    offsets[1, -1] = -1.3  # a weight
    offsets[3, n + 2] = math.pi  # another weight
    for rows in (offsets, torch.cat([offsets, offsets[:1] + offsets[1:2]])):
        got = ex.shifted_states(theta, rows)
        full = ex.state((theta.unsqueeze(1) + rows).reshape(-1, theta.shape[1]))
        assert got.shape == (3, len(rows), 2**n)
        torch.testing.assert_close(got, full.reshape(got.shape), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("n", [2, 4])
def test_hadamard_kicks_from_its_own_register_size(n):
    """Test where the Hadamard test takes the pi-kicked states, and that they give its circuits.

    From ``HADAMARD_KICK_QUBITS`` (3) qubits on, below parameter-shift's ``KICK_QUBITS``, the
    entries come from pi-kicked states; at 2 qubits from the ``n + 1``-qubit circuits. Either
    way they equal the circuits' values (exact, complex128). Planted: the Hadamard test asking
    parameter-shift's threshold (4 qubits back on the circuits) fails.
    """
    from qgradbench.backend.branching import HADAMARD_KICK_QUBITS, KICK_QUBITS
    from qgradbench.methods.hadamard import hadamard_test

    assert HADAMARD_KICK_QUBITS <= 4 < KICK_QUBITS
    layer = QuantumLayer(n, 2, dtype=torch.complex128, seed=4)
    ex = Execution(layer.circuit, layer.execution.observable, torch.complex128)
    x = torch.rand(3, n, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    theta = assemble(math.pi * x, layer.weights.detach().reshape(-1))
    slots = np.arange(theta.shape[1])
    kicked = ex.kickable(slots, min_qubits=HADAMARD_KICK_QUBITS)
    assert kicked.all() == (n >= HADAMARD_KICK_QUBITS) and not ex.kickable(slots).any()
    calls = []
    ex.kicked_hadamard = lambda *a, f=ex.kicked_hadamard: calls.append(1) or f(*a)
    with torch.no_grad():
        got = hadamard_test(ex, theta, slots)
        want = ex.hadamard_circuits(theta, [layer.circuit.slot_rotations[k][0] for k in slots])
    assert len(calls) == (n >= HADAMARD_KICK_QUBITS)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_parameter_shift_general_recipe_with_plain_slots():
    """Test exact parameter-shift on CRX and plain slots below the pi-kick size, against adjoint.

    Every slot goes through the general recipe (one circuit holds a CRX): the plain slot's
    two-term rule comes from it with the method's shift (0.9 here, any shift is exact), the
    CRX slots' four-term rules with Wierichs et al.'s shifts.
    """
    from qgradbench.circuits.model import CircuitSpec, Gate, w

    gates = [
        Gate("RY", [0], [1.1]),
        Gate("CRX", [0, 1], [w[0]]),
        Gate("RY", [1], [w[1]]),
        Gate("CRX", [1, 0], [w[2]]),
    ]
    spec = CircuitSpec(2, gates, n_weights=3, observables=["X0 Z1", "Z1"])
    circuit, _ = spec.compiled
    execution = Execution(circuit, spec.observable(), torch.complex128)
    theta = torch.tensor([[0.7, -0.4, 1.3], [0.1, 2.0, -0.6]], dtype=torch.float64)
    method = get_method("parameter-shift", shift=0.9)
    with torch.no_grad():
        got = method.jacobian(execution, theta, np.arange(3), None)
    torch.testing.assert_close(got, adjoint_jacobian(execution, theta), rtol=1e-10, atol=1e-12)
