"""Execution schedules against plain gate-by-gate simulation, on random circuits.

The schedule changes how a circuit is executed (shared gates built once, product states, dense
layer unitaries), never what it computes. These tests build random circuits with every kind of
rotation and fixed gate, batched slots scattered anywhere in the blocks, and compare states and
adjoint Jacobians with a reference that applies every gate of ``Circuit.sequence`` in order.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qgradbench import engine
from qgradbench.backend import Execution
from qgradbench.backend.adjoint import adjoint_sweep
from qgradbench.circuits import CircuitBuilder, Observable
from qgradbench.circuits.schedule import DenseStage, GateStage, Schedule

FIXED = (("CNOT", 2), ("CZ", 2), ("SWAP", 2), ("X", 1), ("Z", 1))
BATCH = 3


def random_circuit(n_qubits: int, n_ops: int, seed: int):
    """A random circuit: Pauli rotations (trainable or constant) and fixed gates, any order.

    Slots are numbered in a random order, so the first ``k`` (the batched ones) sit anywhere.
    Seed 3 opens with fixed gates, so no block acts on ``|0...0>`` directly.
    """
    rng = np.random.default_rng(seed)
    builder = CircuitBuilder(n_qubits, f"random({seed})")
    if seed == 3 and n_qubits > 1:  # no leading blocks: the product state is |0...0>
        builder.fixed("CNOT", (0, 1)).fixed("X", (0,))
    kinds = rng.random(n_ops)
    trainable = int(np.sum(kinds < 0.7))
    slots = iter(rng.permutation(trainable))
    for kind in kinds:
        if kind < 0.7:
            pauli, wire = "XYZ"[rng.integers(3)], int(rng.integers(n_qubits))
            builder.rotation(pauli, wire, slot=int(next(slots)))
        elif kind < 0.8:
            builder.rotation("XYZ"[rng.integers(3)], int(rng.integers(n_qubits)), angle=0.7)
        elif n_qubits > 1:
            name, arity = FIXED[rng.integers(len(FIXED))]
            wires = tuple(int(w) for w in rng.choice(n_qubits, arity, replace=False))
            builder.fixed(name, wires)
    return builder.build(trainable)


def reference_states(circuit, theta: torch.Tensor) -> torch.Tensor:
    """Apply every rotation and fixed gate of ``circuit.sequence`` in order, one at a time."""
    n = circuit.n_qubits
    angles = circuit.rotation_angles(theta)
    state = engine.zero_state(theta.shape[0], n, torch.complex128)
    for kind, item in circuit.sequence:
        if kind == "fixed":  # a monomial, or a dense Unitary
            state = engine.apply_fixed(state, item)
            continue
        rotation = circuit.rotations[item]
        pauli = engine.pauli_matrix(rotation.pauli, torch.complex128)[None]
        matrix = engine.rotation_matrices(angles[:, item : item + 1], pauli)[:, 0]
        state = engine.apply_matrix(state, matrix, rotation.wire, n)
    return state


def cases():
    """(n_qubits, n_ops, seed) of the random circuits; seed 3 opens with a fixed gate."""
    return [(n, 6 * n + 4, seed) for n in (1, 2, 3, 4, 5) for seed in range(4)]


def split(theta: torch.Tensor, k: int):
    """The batched first k slots of every row and the shared rest (taken from row 0)."""
    shared = theta[0, k:]
    return theta[:, :k], shared, torch.cat([theta[:, :k], shared.expand(len(theta), -1)], -1)


#: (dense_qubits, block_wires): gate by gate, dense layers, fused wire groups of 2 and 3.
SHORTCUTS = [(0, 1), (6, 1), (0, 2), (0, 3)]


@pytest.mark.parametrize("n_qubits,n_ops,seed", cases())
@pytest.mark.parametrize("dense_qubits,block_wires", SHORTCUTS)
def test_schedule_matches_gate_sequence(n_qubits, n_ops, seed, dense_qubits, block_wires):
    """Test states for every split of slots into batched and shared, every shortcut on and off."""
    circuit = random_circuit(n_qubits, n_ops, seed)
    gen = torch.Generator().manual_seed(seed)
    theta = 4 * torch.rand(BATCH, circuit.n_params, generator=gen, dtype=torch.float64) - 2
    for k in sorted({0, circuit.n_params // 3, circuit.n_params}):
        batched, shared, full = split(theta, k)
        schedule = Schedule(circuit, k, dense_qubits, block_wires)
        got = schedule.run(batched, shared, torch.complex128)
        want = reference_states(circuit, full)
        torch.testing.assert_close(got, want, rtol=0, atol=1e-12)


def test_schedules_use_their_shortcuts():
    """Test that the layer schedule of the seed circuit is dense and the per-circuit one is not.

    Guards the speed-ups themselves: a change that silently fell back to gate by gate would still
    pass the state comparisons above.
    """
    from qgradbench.circuits import strongly_entangling

    circuit = strongly_entangling(4, 2)
    layer = Schedule(circuit, 4)  # inputs batched, weights shared
    assert [type(s) for s in layer.stages] == [DenseStage]
    assert layer.batched_rotations == [0, 1, 2, 3]  # only the encoding RYs per circuit
    per_circuit = Schedule(circuit, circuit.n_params)
    assert any(isinstance(s, GateStage) for s in per_circuit.stages)
    assert not any(isinstance(s, DenseStage) for s in per_circuit.stages)


@pytest.mark.parametrize("n_qubits,n_ops,seed", cases())
@pytest.mark.parametrize("dense_qubits,block_wires", SHORTCUTS)
def test_adjoint_sweep_matches_autograd(n_qubits, n_ops, seed, dense_qubits, block_wires):
    """Test the adjoint Jacobian on schedules of every shape against autograd on the reference."""
    circuit = random_circuit(n_qubits, n_ops, seed)
    if circuit.n_params == 0:
        pytest.skip("no trainable rotation drawn")
    execution = Execution(circuit, Observable("z-each", n_qubits), torch.complex128)
    diag = execution.diagonals("cpu")
    gen = torch.Generator().manual_seed(seed)
    theta = 4 * torch.rand(BATCH, circuit.n_params, generator=gen, dtype=torch.float64) - 2

    def expval(row):
        state = reference_states(circuit, row[None]).reshape(1, -1)
        return (state.abs() ** 2 @ diag.T)[0]

    for k in sorted({0, circuit.n_params // 2, circuit.n_params}):
        batched, shared, full = split(theta, k)
        want = torch.stack([torch.autograd.functional.jacobian(expval, row) for row in full])
        schedule = Schedule(circuit, k, dense_qubits, block_wires)
        state = schedule.run(batched, shared, torch.complex128)
        flat = state.reshape(BATCH, 1, -1)
        lam = (flat * diag).reshape(BATCH, n_qubits, *state.shape[1:])
        got = adjoint_sweep(execution, batched, shared, state, lam, schedule)
        torch.testing.assert_close(got, want, rtol=0, atol=1e-10)


class TestDiagonalLayers:
    """Runs of monomials and Z blocks become one phase multiply only where that saves passes."""

    @staticmethod
    def _ring(n: int, layers: int, rz_layer: bool) -> object:
        """IsingZZ rings (CNOT, RZ, CNOT per edge) and RX layers; or RX/RZ layers + CZ ladders."""
        from qgradbench.circuits.model import CircuitSpec, Gate, w

        gates, k = [Gate("Hadamard", [i]) for i in range(n)], 0
        for _ in range(layers):
            if rz_layer:  # RX and RZ on alternate wires, then a CZ ladder
                gates += [Gate("RZ" if i % 2 else "RX", [i], [w[k + i]]) for i in range(n)]
                gates += [Gate("CZ", [i, i + 1]) for i in range(n - 1)]
                k += n
            else:
                gates += [Gate("IsingZZ", [i, (i + 1) % n], [w[k + i]]) for i in range(n)]
                gates += [Gate("RX", [i], [w[k + n + i]]) for i in range(n)]
                k += 2 * n
        return CircuitSpec(n, gates, n_weights=k, observables="Z0 Z1 + X2")

    def test_ising_rings_are_one_stage_each(self):
        """Test that each ring of IsingZZ is one diagonal stage, with no gather after it."""
        from qgradbench.circuits.schedule import DiagonalStage, FusedStage

        circuit, _ = self._ring(8, 3, rz_layer=False).compile()
        kinds = [type(stage) for stage in circuit.schedule(0).stages]
        assert kinds == [DiagonalStage, FusedStage] * 3

    def test_rz_next_to_rotations_stays_fused(self):
        """Test that RZ beside other rotations stays in their fused layers (no pass saved)."""
        from qgradbench.circuits.schedule import DiagonalStage

        circuit, _ = self._ring(8, 3, rz_layer=True).compile()
        assert DiagonalStage not in {type(stage) for stage in circuit.schedule(0).stages}

    def test_cz_ladders_fold_into_the_phases(self):
        """Test that RZ layers between CZ ladders are one diagonal stage, CZ's signs folded in."""
        from qgradbench.circuits.model import CircuitSpec, Gate, w
        from qgradbench.circuits.schedule import DiagonalStage

        gates = [Gate("Hadamard", [i]) for i in range(8)] + [Gate("CZ", [0, 1])]
        for layer in range(3):
            gates += [Gate("RZ", [i], [w[8 * layer + i]]) for i in range(8)]
            gates += [Gate("CZ", [i, i + 1]) for i in range(7)]
        circuit, _ = CircuitSpec(8, gates, n_weights=24).compile()
        assert [type(s) for s in circuit.schedule(0).stages] == [DiagonalStage]
        self.check_states(CircuitSpec(8, gates, n_weights=24, observables="X0 + Z1 Z2"))

    @pytest.mark.parametrize("rz_layer", [False, True])
    def test_states_equal_gate_by_gate(self, rz_layer):
        """Test that diagonal layers give the gate-by-gate state and the adjoint's gradient."""
        self.check_states(self._ring(8, 2, rz_layer=rz_layer))

    @staticmethod
    def check_states(spec):
        """The schedule's states and adjoint Jacobian against gate by gate and autograd."""
        circuit, angle_map = spec.compile()
        shared = torch.rand(spec.n_weights, dtype=torch.float64) * 6
        batched = torch.zeros(BATCH, 0, dtype=torch.float64)
        state = circuit.schedule(0).run(batched, shared, torch.complex128)
        reference = reference_states(circuit, shared.expand(BATCH, -1))
        torch.testing.assert_close(state, reference, rtol=0, atol=1e-12)
        execution = Execution(circuit, spec.observable(), torch.complex128)
        theta = shared.expand(BATCH, -1).clone().requires_grad_()
        execution.expval(theta).sum().backward()
        torch.testing.assert_close(
            execution.jacobian(theta.detach()).sum(1), theta.grad, rtol=0, atol=1e-10
        )

    def test_budget_leaves_the_rest_gate_by_gate(self, monkeypatch):
        """Test that past DIAGONAL_BUDGET runs stay gate by gate, with the same states."""
        from qgradbench.circuits import schedule as schedules
        from qgradbench.circuits.schedule import DiagonalStage

        spec = self._ring(8, 3, rz_layer=False)  # 8 slots per ring
        monkeypatch.setattr(schedules, "DIAGONAL_BUDGET", 2 * 8 * 2**8)  # room for two rings
        circuit, _ = spec.compile()
        kinds = [type(stage) for stage in circuit.schedule(0).stages]
        assert kinds.count(DiagonalStage) == 2
        self.check_states(spec)


class TestBufferedRuns:
    """Without autograd a run reuses two state buffers (:class:`qgradbench.engine.PingPong`)."""

    @pytest.mark.parametrize("dense_qubits,block_wires", SHORTCUTS)
    def test_states_equal_the_recorded_run(self, dense_qubits, block_wires):
        """Test that the buffered run gives the recorded (autograd) run's states.

        The same kernels, but on the recorded path the first stage may read a broadcast view of
        one product state, where the buffered one reads a copy: BLAS may round differently
        (seen: 7e-17), so the tolerance is a few complex128 ulps of a unit-norm amplitude.
        """
        for n_qubits, seed in ((4, 0), (5, 3)):
            circuit = random_circuit(n_qubits, 6 * n_qubits + 4, seed)
            gen = torch.Generator().manual_seed(seed)
            theta = 4 * torch.rand(BATCH, circuit.n_params, generator=gen, dtype=torch.float64)
            batched, shared, _ = split(theta, circuit.n_params // 3)
            schedule = Schedule(circuit, batched.shape[1], dense_qubits, block_wires)
            buffered = schedule.run(batched, shared, torch.complex128)
            recorded = schedule.run(batched, shared.clone().requires_grad_(), torch.complex128)
            assert recorded.requires_grad
            torch.testing.assert_close(buffered, recorded.detach(), rtol=0, atol=1e-15)

    def test_diagonal_layers_equal_the_recorded_run(self):
        """Test that a diagonal layer multiplied in place gives the recorded run's state."""
        spec = TestDiagonalLayers._ring(8, 2, rz_layer=False)
        circuit, _ = spec.compile()
        shared = torch.rand(spec.n_weights, dtype=torch.float64) * 6
        batched = torch.zeros(BATCH, 0, dtype=torch.float64)
        buffered = circuit.schedule(0).run(batched, shared, torch.complex128)
        recorded = circuit.schedule(0).run(batched, shared.requires_grad_(), torch.complex128)
        torch.testing.assert_close(buffered, recorded.detach(), rtol=0, atol=1e-15)

    @staticmethod
    def _allocated(layers: int, no_grad: bool) -> int:
        """States PingPong allocates for one 8-qubit layer run of ``layers`` layers."""
        from qgradbench.circuits import strongly_entangling

        circuit = strongly_entangling(8, layers)
        x = torch.rand(BATCH, 8)
        weights = torch.rand(circuit.n_params - 8)
        schedule = Schedule(circuit, 8)
        before = engine.PingPong.allocated
        with torch.set_grad_enabled(not no_grad):
            schedule.run(x, weights.requires_grad_(not no_grad))
        return engine.PingPong.allocated - before

    def test_allocations_do_not_grow_with_depth(self):
        """Test that a run without autograd allocates at most two states at any depth."""
        assert self._allocated(2, no_grad=True) <= 2
        assert self._allocated(8, no_grad=True) <= 2
        assert self._allocated(8, no_grad=False) == 0  # the recorded path keeps every state

    def test_returned_states_are_not_overwritten(self):
        """Test that a state a run returned is unchanged by later runs (buffers are per call)."""
        empty = torch.zeros(BATCH, 0, dtype=torch.float64)
        for seed, block_wires in ((0, 3), (0, 1), (1, 1), (2, 2)):  # odd and even step counts
            circuit = random_circuit(5, 34, seed)
            schedule = Schedule(circuit, 0, 0, block_wires)
            first = schedule.run(empty, torch.zeros(circuit.n_params, dtype=torch.float64))
            kept = first.clone()
            for draw in range(2):
                gen = torch.Generator().manual_seed(draw)
                schedule.run(empty, torch.rand(circuit.n_params, generator=gen).double())
            assert torch.equal(first, kept)


@pytest.mark.parametrize("method", ["backprop", "adjoint"])
def test_no_grad_runs_leave_saved_tensors_alone(method):
    """Test that no-grad forwards between a forward and its backward leave the gradient exact.

    A buffer of a no-grad run that aliased a tensor autograd saved (the state the adjoint
    sweep starts from, a state backprop keeps) would change the interleaved gradient.
    """
    from qgradbench import QuantumLayer

    torch.manual_seed(0)
    x, other = torch.rand(BATCH, 8), torch.rand(BATCH, 8)
    layer = QuantumLayer(8, 3, diff_method=method, seed=0)
    layer(x).sum().backward()
    want = [p.grad.clone() for p in layer.parameters()]
    layer.zero_grad()
    out = layer(x)
    with torch.no_grad():
        for _ in range(2):
            layer(other)
    out.sum().backward()
    for param, grad in zip(layer.parameters(), want, strict=True):
        assert torch.equal(param.grad, grad)


class TestTraffic:
    """``Schedule.traffic``: bytes and multiply-adds of a tiny schedule, counted by hand."""

    @staticmethod
    def tiny():
        """3 qubits: RY per wire (product state), CNOT(0,1) CNOT(1,2) (one gather), RX per wire.

        With ``dense_qubits=0, block_wires=2`` the RX layer is one fused stage of two groups,
        wires 1-2 (``K = 4``) then wire 0 (``K = 2``).
        """
        from qgradbench.circuits.schedule import FusedStage
        from qgradbench.engine import Monomial

        builder = CircuitBuilder(3, "tiny")
        for wire in range(3):
            builder.rotation("Y", wire, slot=wire)
        builder.fixed("CNOT", (0, 1)).fixed("CNOT", (1, 2))
        for wire in range(3):
            builder.rotation("X", wire, slot=3 + wire)
        schedule = Schedule(builder.build(6), 3, dense_qubits=0, block_wires=2)
        assert [type(s) for s in schedule.stages] == [Monomial, FusedStage]
        assert schedule.fused_layers[0].groups == ((1, 3), (0, 1))
        return schedule

    # batch 2, complex64: A = 16 amplitudes, S = 128 bytes (one pass), 3 outputs.
    # forward: product state S, 16 MACs; measurement 2S, 16 + 16*3//4 = 28; gather 2S + 8*8
    # index bytes; group K=4 2S, 64; group K=2 2S, 32.
    FORWARD = (128 + 256 + 320 + 256 + 256, 16 + 28 + 64 + 32)
    # backprop adds: measurement backward 3S, 28; product state backward 2S, 32; one
    # conjugating copy 2S; gather backward 2S + 64; groups 4S each, 2*16*4 and 2*16*2.
    BACKPROP = (FORWARD[0] + 384 + 256 + 256 + 320 + 512 + 512, FORWARD[1] + 28 + 32 + 128 + 64)
    # adjoint adds: lambda 3S, 28; the stacked pair 4S; gather on the pair 4S + 64; groups:
    # reduced matrices 2S and 16K, inverse 4S and 2*16K; leading blocks 2S, 32.
    ADJOINT = (
        FORWARD[0] + 384 + 512 + 576 + (256 + 512) * 2 + 256,
        FORWARD[1] + 28 + (64 + 128) + (32 + 64) + 32,
    )

    @pytest.mark.parametrize(
        "mode,want", [("forward", FORWARD), ("backprop", BACKPROP), ("adjoint", ADJOINT)]
    )
    def test_hand_count(self, mode, want):
        """Test the bytes and MACs of each mode against the hand count in the comments."""
        got = self.tiny().traffic(2, torch.complex64, mode, outputs=3)
        assert (got.bytes, got.macs) == want

    def test_scales_with_batch_and_itemsize(self):
        """Test that complex128 doubles the bytes and batch 4 doubles bytes and MACs."""
        schedule = self.tiny()
        base = schedule.traffic(2, torch.complex64, "backprop", outputs=4)
        wide = schedule.traffic(2, torch.complex128, "backprop", outputs=4)
        assert wide.macs == base.macs
        # the gather's index (8 bytes a basis state, 64 in all) does not depend on the dtype
        assert wide.bytes - 2 * 64 == 2 * (base.bytes - 2 * 64)
        double = schedule.traffic(4, torch.complex64, "backprop", outputs=4)
        assert double.macs == 2 * base.macs
        assert double.bytes - 2 * 64 == 2 * (base.bytes - 2 * 64)

    def test_bad_mode(self):
        """Test that an unknown mode is a ValueError naming the accepted ones."""
        with pytest.raises(ValueError, match="forward, backprop, adjoint"):
            self.tiny().traffic(2, mode="sideways")
