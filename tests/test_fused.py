"""Fused wire groups (``engine.fused``) against gate-by-gate execution on larger registers.

The schedule applies a run of single-qubit blocks a group of wires at a time on registers above
``dense_qubits``. These tests compare states, autograd gradients through them and adjoint
Jacobians with the same circuits applied one 2x2 gate at a time (``block_wires=1``), in both
precisions, for the three ansatzes and for random circuits.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from qgradbench import engine
from qgradbench.backend import Execution
from qgradbench.backend.adjoint import adjoint_sweep
from qgradbench.circuits import Observable, get_ansatz
from qgradbench.circuits.schedule import FusedStage, GateStage, Schedule
from qgradbench.engine import fused
from tests.test_schedule import random_circuit

TOL = {torch.complex64: 2e-5, torch.complex128: 1e-11}
ANSATZES = ("strongly-entangling", "basic-entangler", "random-pauli")


def ansatz_circuit(ansatz: str, n: int, n_layers: int):
    """The layer circuit of ``ansatz`` (encoding RYs, then the layers)."""
    return get_ansatz(ansatz).build(n, n_layers, seed=5)


def angles(circuit, batch: int, k: int, dtype: torch.dtype, seed: int = 0):
    """Random per-circuit slots ``(B, k)`` and shared slots, requiring grad."""
    gen = torch.Generator().manual_seed(seed)
    real = dtype.to_real()
    theta = 2 * math.pi * torch.rand(batch, circuit.n_params, generator=gen, dtype=real)
    return theta[:, :k].clone().requires_grad_(), theta[0, k:].clone().requires_grad_()


@pytest.mark.parametrize("dtype", [torch.complex64, torch.complex128])
@pytest.mark.parametrize("ansatz", ANSATZES)
@pytest.mark.parametrize("n,block_wires", [(7, 3), (9, 5), (8, 2)])
def test_fused_matches_gates_with_gradients(dtype, ansatz, n, block_wires):
    """Test fused states and their autograd gradients against gate by gate, shared and batched."""
    circuit = ansatz_circuit(ansatz, n, 2)
    for k in (n, circuit.n_params):  # a layer's split, and every slot per circuit
        fused_schedule = Schedule(circuit, k, dense_qubits=0, block_wires=block_wires)
        assert any(isinstance(s, FusedStage) for s in fused_schedule.stages)
        reference = Schedule(circuit, k, dense_qubits=0, block_wires=1)
        assert not any(isinstance(s, FusedStage) for s in reference.stages)
        results = []
        for schedule in (fused_schedule, reference):
            batched, shared = angles(circuit, 3, k, dtype)
            state = schedule.run(batched, shared, dtype)
            weights = torch.linspace(-1, 1, 2**n, dtype=dtype.to_real())
            loss = (engine.probabilities(state, n) * weights).sum()
            grads = torch.autograd.grad(loss, (batched, shared), allow_unused=True)
            grads = [torch.zeros(0) if g is None else g for g in grads]
            results.append((state.detach(), *grads))
        for got, want in zip(*results, strict=True):
            torch.testing.assert_close(got, want, rtol=0, atol=TOL[dtype])


@pytest.mark.parametrize("dtype", [torch.complex64, torch.complex128])
@pytest.mark.parametrize("ansatz", ANSATZES)
def test_fused_adjoint_matches_gates(dtype, ansatz):
    """Test the adjoint Jacobian over fused groups against the gate-by-gate sweep."""
    n = 8
    circuit = ansatz_circuit(ansatz, n, 3)
    execution = Execution(circuit, Observable("z-each", n), dtype)
    diag = execution.diagonals("cpu")
    for k in (n, circuit.n_params):
        jacobians = []
        for block_wires in (3, 1):
            schedule = Schedule(circuit, k, dense_qubits=0, block_wires=block_wires)
            batched, shared = angles(circuit, 2, k, dtype, seed=1)
            batched, shared = batched.detach(), shared.detach()
            state = schedule.run(batched, shared, dtype)
            lam = (state.reshape(2, 1, -1) * diag).reshape(2, n, *state.shape[1:])
            jacobians.append(adjoint_sweep(execution, batched, shared, state, lam, schedule))
        torch.testing.assert_close(*jacobians, rtol=0, atol=10 * TOL[dtype])


@pytest.mark.parametrize("seed", range(4))
def test_random_circuits_on_larger_registers(seed):
    """Test fused random circuits (every gate kind) at 7 qubits against gate by gate."""
    circuit = random_circuit(7, 80, seed)
    for k in (0, circuit.n_params // 2, circuit.n_params):
        batched, shared = angles(circuit, 2, k, torch.complex128, seed)
        states = [
            Schedule(circuit, k, 0, bw).run(batched, shared, torch.complex128) for bw in (4, 1)
        ]
        torch.testing.assert_close(*states, rtol=0, atol=1e-12)


def test_layer_schedule_is_fused_above_dense():
    """Test that a 12-qubit layer runs its weights' layers as fused groups, not gate by gate."""
    circuit = ansatz_circuit("strongly-entangling", 12, 4)
    schedule = circuit.schedule(12)
    assert sum(isinstance(s, FusedStage) for s in schedule.stages) == 3  # layers 2-4
    assert not any(isinstance(s, GateStage) for s in schedule.stages)
    assert fused.wire_groups(12) == ((8, 12), (4, 8), (0, 4))


@pytest.mark.parametrize("n,k", [(20, 5), (16, 5), (18, 5), (7, 3), (3, 5)])
def test_wire_groups_cover_the_register(n, k):
    """Test that wire groups are near-equal, at most k wide, and cover the wires bottom-up."""
    groups = fused.wire_groups(n, k)
    sizes = [hi - lo for lo, hi in groups]
    assert max(sizes) <= k and max(sizes) - min(sizes) <= 1
    assert groups[0][1] == n and groups[-1][0] == 0
    assert all(a[0] == b[1] for a, b in zip(groups, groups[1:], strict=False))


def test_block_products_rotate_and_restore():
    """Test that a block on the bottom wires moves them to the top and its inverse undoes it."""
    n, gen = 6, torch.Generator().manual_seed(0)
    psi = torch.randn(2, *[2] * n, dtype=torch.complex128, generator=gen)
    u = torch.linalg.qr(torch.randn(8, 8, dtype=torch.complex128, generator=gen))[0]
    moved = fused.apply_block_bottom(psi, u, n)
    want = torch.einsum("ij,bmj->bim", u, psi.reshape(2, 8, 8)).reshape(psi.shape)
    torch.testing.assert_close(moved, want)
    torch.testing.assert_close(fused.apply_block_top_inverse(moved, u, n), psi)


class TestBranchedRuns:
    """``Schedule.run_branched`` and the pi-kicked parameter-shift rule built on it."""

    @pytest.mark.parametrize("seed", range(3))
    @pytest.mark.parametrize("block_wires", [1, 3])
    def test_branched_states_equal_plain_runs(self, seed, block_wires):
        """Test that variants differing in one or more slots get the states of plain runs."""
        circuit = random_circuit(7, 70, seed)
        schedule = Schedule(circuit, circuit.n_params, 0, block_wires)
        theta, _ = angles(circuit, 2, circuit.n_params, torch.complex128, seed)
        theta = theta.detach()
        gen = torch.Generator().manual_seed(seed)
        count = 6
        change = torch.zeros(count, circuit.n_params, dtype=torch.float64)
        stage_of_slot = schedule.rotation_stage[[r[0] for r in circuit.slot_rotations]]
        for j in range(count - 1):  # the last variant changes nothing
            slot = int(torch.randint(circuit.n_params, (1,), generator=gen))
            same_stage = np.flatnonzero(stage_of_slot == stage_of_slot[slot])
            change[j, same_stage[: 1 + j % 2]] = 0.9  # one slot, or two of one stage
        variants = theta.unsqueeze(1) + change
        psi, states = schedule.run_branched(theta, variants, torch.complex128)
        torch.testing.assert_close(psi, schedule.run(theta, theta.new_zeros(0), torch.complex128))
        want = schedule.run(
            variants.reshape(-1, circuit.n_params), theta.new_zeros(0), torch.complex128
        )
        torch.testing.assert_close(states.reshape(want.shape), want, rtol=0, atol=1e-12)
        with pytest.raises(ValueError, match="within one stage"):
            far = np.flatnonzero(stage_of_slot != stage_of_slot[0])[0]
            change[0, [0, far]] = 0.5
            schedule.run_branched(theta, theta.unsqueeze(1) + change, torch.complex128)

    @pytest.mark.parametrize("block_wires", [1, 3])
    def test_buffered_branches_equal_recorded_ones(self, block_wires):
        """Test that branched runs without autograd (buffer pairs) equal the recorded run."""
        circuit = random_circuit(7, 70, 0)
        schedule = Schedule(circuit, circuit.n_params, 0, block_wires)
        theta, _ = angles(circuit, 2, circuit.n_params, torch.complex128, 0)
        theta = theta.detach()
        stage_of_slot = schedule.rotation_stage[[r[0] for r in circuit.slot_rotations]]
        change = torch.zeros(4, circuit.n_params, dtype=torch.float64)
        for j, stage in enumerate(sorted(set(stage_of_slot.tolist()))[:3]):  # 3 branch points
            change[j, int(np.flatnonzero(stage_of_slot == stage)[0])] = 0.9
        variants = theta.unsqueeze(1) + change
        before = engine.PingPong.allocated
        psi, states = schedule.run_branched(theta, variants, torch.complex128)
        assert engine.PingPong.allocated - before <= 2 * 4  # two per running state at most
        got_psi, got = schedule.run_branched(theta.requires_grad_(), variants, torch.complex128)
        assert got.requires_grad
        torch.testing.assert_close(psi, got_psi.detach(), rtol=0, atol=1e-15)
        torch.testing.assert_close(states, got.detach(), rtol=0, atol=1e-15)

    @pytest.mark.parametrize("ansatz", ANSATZES)
    def test_kicked_parameter_shift_is_exact(self, ansatz):
        """Test parameter-shift (any shift) and Hadamard on 8 qubits (pi-kicked) against adjoint."""
        from qgradbench import QuantumLayer
        from qgradbench.methods.parameter_shift import KICK_QUBITS

        assert KICK_QUBITS <= 8
        x = torch.rand(3, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
        grads = []
        for method, options in [
            ("adjoint", {}),
            ("parameter-shift", {}),
            ("parameter-shift", {"shift": 0.4}),
            ("hadamard", {}),
        ]:
            layer = QuantumLayer(
                8, 2, ansatz=ansatz, diff_method=method, seed=1, dtype=torch.complex128, **options
            )
            xg = x.clone().requires_grad_()
            (layer(xg) * torch.arange(8.0, dtype=torch.float64)).sum().backward()
            grads.append((xg.grad, layer.weights.grad))
        for other in grads[1:]:
            for got, want in zip(other, grads[0], strict=True):
                torch.testing.assert_close(got, want, rtol=0, atol=1e-10)

    @staticmethod
    def _kicked_setup(batch: int = 2, shots: int | None = None, seed: int = 7):
        """A 7-qubit layer's execution and angle vectors, for calling the kicked rule directly."""
        from qgradbench import QuantumLayer
        from qgradbench.backend import Execution
        from qgradbench.methods.base import assemble

        layer = QuantumLayer(7, 1, seed=2, dtype=torch.complex128)
        generator = None if shots is None else torch.Generator().manual_seed(seed)
        ex = Execution(
            layer.circuit, layer.execution.observable, torch.complex128, shots, generator
        )
        x = torch.rand(batch, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
        return ex, assemble(x, layer.weights.detach().reshape(-1))

    @pytest.mark.parametrize("per_chunk", [1, 3])
    def test_kicked_chunks_cover_every_slot(self, per_chunk, monkeypatch):
        """Test the kicked rule in chunks of ``per_chunk`` slots (its memory bound) against adjoint.

        The amplitude budget is set to ``per_chunk`` slots' kicked states of the batch: every
        chunk but the last holds exactly that many slots, and the chunks' columns join in slot
        order into the exact Jacobian.
        """
        import qgradbench.backend.branching as branching
        import qgradbench.methods.parameter_shift as ps
        from qgradbench.methods import adjoint_jacobian

        batch = 2
        ex, theta = self._kicked_setup(batch)
        slots = np.arange(theta.shape[1])
        monkeypatch.setattr(ps, "MAX_AMPLITUDES_PER_CALL", per_chunk * batch * 2**7)
        sizes, real = [], branching.kicked_probabilities

        def spy(execution, theta, chunk, c, s):
            sizes.append(len(chunk))
            return real(execution, theta, chunk, c, s)

        monkeypatch.setattr(branching, "kicked_probabilities", spy)
        jac = ps.kicked_shift_jacobian(ex, theta, slots, math.pi / 2)
        full, rest = divmod(len(slots), per_chunk)
        assert sizes == [per_chunk] * full + ([rest] if rest else [])
        torch.testing.assert_close(jac, adjoint_jacobian(ex, theta), rtol=0, atol=1e-10)

    def test_kicked_shots_come_from_the_execution_generator(self):
        """Test that the kicked rule draws its shots from the execution's generator alone.

        Two runs with equally seeded generators agree bit for bit whatever torch's global seed.
        """
        from qgradbench.methods.parameter_shift import kicked_shift_jacobian

        runs = []
        for global_seed in (0, 1):
            torch.manual_seed(global_seed)
            ex, theta = self._kicked_setup(shots=100)
            runs.append(kicked_shift_jacobian(ex, theta, np.arange(theta.shape[1]), math.pi / 2))
        assert torch.equal(*runs)

    def test_kicked_parameter_shift_shot_statistics(self):
        """Test 7-qubit (pi-kicked) parameter-shift entries: mean g, variance (1-A^2-g^2)/(2N)."""
        from tests.test_shots import (
            N,
            assert_mean,
            assert_variance,
            exact,
            pi_kick_offsets,
            sampled_jacobians,
            setup,
        )

        layer, theta = setup("parameter-shift", n=7, n_layers=1)
        _, g = exact(layer, theta)
        var = (1 - pi_kick_offsets(layer, theta) ** 2 - g**2) / (2 * N)
        jac = sampled_jacobians(layer, theta, reps=1000)
        assert_mean(jac, g, var)
        assert_variance(jac, var)

    def test_kicked_hadamard_shot_statistics(self):
        """Test 7-qubit (pi-kicked) Hadamard-test entries: mean g and variance (1 - g^2) / N."""
        from tests.test_shots import (
            N,
            assert_mean,
            assert_variance,
            exact,
            sampled_jacobians,
            setup,
        )

        layer, theta = setup("hadamard", n=7, n_layers=1)
        _, g = exact(layer, theta)
        jac = sampled_jacobians(layer, theta, reps=1000)
        assert_mean(jac, g, (1 - g**2) / N)
        assert_variance(jac, (1 - g**2) / N)


@pytest.mark.parametrize("conjugated", ["first", "second"])
def test_batched_matmul_with_conjugated_operands(conjugated, monkeypatch):
    """Test that the pair-by-pair products (long inner dimensions) equal ``bmm``.

    Forced here by ``LOOP_INNER = 1``, on a conjugated transposed operand (how the fused
    layer's backward pass and the adjoint sweep call it) and on a plain conjugated one.
    """
    monkeypatch.setattr(fused, "LOOP_INNER", 1)
    gen = torch.Generator().manual_seed(8)
    a = torch.randn(3, 6, 4, dtype=torch.complex128, generator=gen)
    b = torch.randn(3, 5, 6, dtype=torch.complex128, generator=gen)
    if conjugated == "first":
        a, b = a.mH, b.mH  # (3, 4, 6) @ (3, 6, 5), the first conjugated and transposed
        want = torch.bmm(a.resolve_conj(), b.resolve_conj())
    else:
        a, b = a.transpose(1, 2), b.conj().transpose(1, 2)
        want = torch.bmm(a, b.resolve_conj())
    got = fused.batched_matmul(a, b)
    np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-12)


@pytest.mark.parametrize("batched", [True, False])
def test_lead_reduced_matrices_of_a_product_state(batched):
    """Test the adjoint's leading-block matrices against the per-wire partial trace.

    ``_lead_reduced`` uses that ``phi`` is the product of the columns; ``_reduced`` contracts
    an arbitrary ``phi`` wire by wire. Columns per circuit and shared, odd register size (the
    halves differ), a subset of wires in arbitrary order.
    """
    from qgradbench.backend.adjoint import _lead_reduced, _reduced

    n, batch, rows, gen = 5, 3, 2, torch.Generator().manual_seed(9)
    shape = (batch, n, 2) if batched else (n, 2)
    columns = torch.randn(*shape, dtype=torch.complex128, generator=gen)
    phi = engine.product_state(columns).expand(batch, *([2] * n))
    lam = torch.randn(batch, rows, *([2] * n), dtype=torch.complex128, generator=gen)
    wires = (3, 0, 4, 1)
    want = _reduced(torch.cat([phi.unsqueeze(1), lam], dim=1), n, wires, gather_qubits=0)
    np.testing.assert_allclose(_lead_reduced(lam, columns, wires).numpy(), want.numpy(), atol=1e-12)


class TestGroupWidth:
    """The group width from the roofline model (``engine.roofline``), its cache and override."""

    def test_chooser_picks_the_analytic_optimum(self):
        """Test the width against ``t(k) = sum_g max(2c/bw, 2**k_g/rate)`` worked by hand.

        20 qubits, complex64 (``2c = 16`` bytes), bandwidth 16 and rate 8 (arbitrary units): a
        group costs ``max(1, 2**k / 8)``. Widths 1..5 give 20, 10, 7 (six groups of 3, one of
        2), 10 (5 x 2), 16 (4 x 4): the optimum is 3.
        """
        from qgradbench.engine import roofline

        times = [roofline.layer_time(20, k, 16.0, 8.0) for k in (1, 2, 3, 4, 5)]
        assert times == [20.0, 10.0, 7.0, 10.0, 16.0]
        assert roofline.choose_block_wires(20, 16.0, 8.0, widths=(1, 2, 3, 4, 5)) == 3
        # compute free: memory alone, fewest groups (ceil(20/7) = 3 at the widest width, 7)
        assert roofline.choose_block_wires(20, 16.0, 1e30) == 7
        # compute only: n 2**k / k is least at k = 1 and 2 (tie): the narrower
        assert roofline.choose_block_wires(20, 1e30, 1.0) == 1
        # one rate per width: a slow 3-wire product (8/2 = 4 a group) makes width 3 cost
        # 6 x 4 + 1 = 25; widths 2 and 4 tie at 10, and the narrower wins
        rates = {1: 8.0, 2: 8.0, 3: 2.0, 4: 8.0, 5: 8.0}
        assert roofline.layer_time(20, 3, 16.0, rates) == 25.0
        assert roofline.choose_block_wires(20, 16.0, rates) == 2

    def test_default_without_cache_is_the_constant(self, tmp_path, monkeypatch):
        """Test that with no cache and no variable the width is ``fused.BLOCK_WIRES``."""
        from qgradbench.engine import roofline

        monkeypatch.delenv(roofline.WIDTH_VARIABLE, raising=False)
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
        assert roofline.cached_rates() is None
        assert roofline.default_block_wires(20) == fused.BLOCK_WIRES

    def test_cache_is_used_and_invalidated_by_its_key(self, tmp_path, monkeypatch):
        """Test that calibrate()'s entry sets the width, and a changed machine key drops it."""
        from qgradbench.engine import roofline

        monkeypatch.delenv(roofline.WIDTH_VARIABLE, raising=False)
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
        fake = {"bandwidth": 16.0, "rates": {str(k): 8.0 for k in roofline.WIDTHS}, "itemsize": 8}
        monkeypatch.setattr(roofline, "measure", lambda dtype=None: dict(fake))
        entry = roofline.calibrate()
        assert entry["block_wires_20"] == 3  # the optimum of the test above
        assert roofline.cache_path().is_file()
        assert roofline.default_block_wires(20) == 3
        monkeypatch.setattr(roofline, "machine_key", lambda threads=None: "torch=0|cpu=x|threads=9")
        assert roofline.cached_rates() is None
        assert roofline.default_block_wires(20) == fused.BLOCK_WIRES

    def test_environment_variable_overrides(self, monkeypatch):
        """Test QGRADBENCH_GROUP_WIDTH: it sets the schedule's width; a bad value is rejected."""
        from qgradbench.engine import roofline

        circuit = ansatz_circuit("strongly-entangling", 9, 2)
        monkeypatch.setenv(roofline.WIDTH_VARIABLE, "3")
        assert circuit.schedule(9).block_wires == 3
        assert Schedule(circuit, 9).fused_layers[0].groups == ((6, 9), (3, 6), (0, 3))
        assert circuit.schedule(9, dense_qubits=9).block_wires == fused.BLOCK_WIRES  # dense
        monkeypatch.setenv(roofline.WIDTH_VARIABLE, "wide")
        with pytest.raises(ValueError, match="QGRADBENCH_GROUP_WIDTH.*'wide'"):
            roofline.default_block_wires(9)

    def test_width_does_not_change_the_state(self, monkeypatch):
        """Test that the default schedules at widths 2 and 5 give the same states (1e-12)."""
        from qgradbench.engine import roofline

        circuit = ansatz_circuit("strongly-entangling", 8, 2)
        batched, shared = angles(circuit, 3, 8, torch.complex128)
        states = []
        for width in ("2", "5"):
            monkeypatch.setenv(roofline.WIDTH_VARIABLE, width)
            with torch.no_grad():
                states.append(circuit.schedule(8).run(batched, shared, torch.complex128))
        torch.testing.assert_close(states[0], states[1], rtol=0, atol=1e-12)
