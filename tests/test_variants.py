"""Shifted circuits that share their weights' gates, against plain runs of each circuit.

``Schedule.run_variants`` and ``Execution.estimate_shifted``.

A gradient rule over a layer shifts one slot per circuit: a shifted weight changes the same
gates for every circuit of the batch, a shifted input leaves the weights' gates alone. The
shortcut must give the states, values and shot samples of the plain runs, in their order.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from qgradbench.backend import Execution
from qgradbench.circuits import CircuitBuilder
from qgradbench.circuits.pauli import as_observable
from qgradbench.circuits.schedule import Schedule
from qgradbench.methods.parameter_shift import shift_recipe
from tests.test_schedule import reference_states

N_ENCODED = 3


def encoded_circuit(n_qubits: int, seed: int, *, lead_suffix: bool, unitary: bool, bare: bool):
    """Encoding rotations first (slots ``0..N_ENCODED-1``), then only shared slots and fixed gates.

    Args:
        n_qubits: the register.
        seed: picks the rotations' axes (and the dense gate).
        lead_suffix: the encoded wires get more (shared and constant) rotations before the
            first fixed gate, so the leading blocks end in shared gates.
        unitary: a fixed dense two-qubit gate sits between the layers.
        bare: the last wire has no encoding rotation (its leading column is ``|0>``).
    """
    rng = np.random.default_rng(seed)
    builder = CircuitBuilder(n_qubits, f"encoded({seed})")
    encoded = range(n_qubits - 1) if bare else range(n_qubits)
    slot = 0
    for wire in list(encoded)[:N_ENCODED]:  # X or Y: a Z rotation of |0> is only a phase
        builder.rotation("XY"[rng.integers(2)], wire, slot=slot)
        slot += 1
    n_batched = slot
    if lead_suffix:
        for wire in range(n_qubits):
            builder.rotation("XYZ"[rng.integers(3)], wire, slot=slot)
            builder.rotation("Z", wire, angle=0.3)
            slot += 1
    for layer in range(2):
        for wire in range(n_qubits - 1):
            builder.fixed("CNOT", (wire, wire + 1))
        if unitary and layer == 0:
            q, _ = np.linalg.qr(rng.normal(size=(4, 4)) + 1j * rng.normal(size=(4, 4)))
            builder.unitary(q, (0, n_qubits - 1))
        for wire in range(n_qubits):
            builder.rotation("XYZ"[rng.integers(3)], wire, slot=slot)
            slot += 1
    return builder.build(slot), n_batched


CIRCUITS = [
    dict(lead_suffix=True, unitary=False, bare=False),
    dict(lead_suffix=False, unitary=False, bare=False),
    dict(lead_suffix=True, unitary=True, bare=True),
    dict(lead_suffix=False, unitary=True, bare=True),
]


def angles(batch: int, n_params: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return 4 * torch.rand(batch, n_params, generator=gen, dtype=torch.float64) - 2


@pytest.mark.parametrize("shape", CIRCUITS)
@pytest.mark.parametrize("n_qubits", [3, 4])
def test_variant_states_equal_plain_runs(shape, n_qubits):
    """Test every (variant, circuit) state against the circuit run gate by gate."""
    circuit, k = encoded_circuit(n_qubits, n_qubits, **shape)
    schedule = Schedule(circuit, k)
    assert schedule.runs_variants
    batched = angles(5, k, 0)
    variants = angles(4, circuit.n_params - k, 1)
    got = schedule.run_variants(batched, variants, torch.complex128)
    assert got.shape == (4, 5, *[2] * n_qubits)
    for m in range(4):
        full = torch.cat([batched, variants[m].expand(5, -1)], dim=-1)
        torch.testing.assert_close(got[m], reference_states(circuit, full), rtol=0, atol=1e-12)


def test_variants_without_per_circuit_slots():
    """Test ``n_batched = 0``: every slot shared, the encodings all ``|0...0>``."""
    circuit, _ = encoded_circuit(3, 0, lead_suffix=True, unitary=False, bare=False)
    schedule = Schedule(circuit, 0)
    variants = angles(3, circuit.n_params, 2)
    got = schedule.run_variants(variants.new_zeros(2, 0), variants, torch.complex128)
    torch.testing.assert_close(got[:, 0], reference_states(circuit, variants), rtol=0, atol=1e-12)
    torch.testing.assert_close(got[:, 1], got[:, 0], rtol=0, atol=0)


def test_schedules_that_cannot_share_refuse():
    """Test that re-uploading, wide registers and all-batched slots are not served."""
    circuit, k = encoded_circuit(4, 0, lead_suffix=False, unitary=False, bare=False)
    assert not Schedule(circuit, k, dense_qubits=0).runs_variants  # gate by gate: per circuit
    assert not Schedule(circuit, circuit.n_params).runs_variants  # nothing shared
    builder = CircuitBuilder(2, "reuploading")
    builder.rotation("Y", 0, slot=0).fixed("CNOT", (0, 1)).rotation("Y", 1, slot=1)
    builder.rotation("X", 0, slot=2)
    schedule = Schedule(builder.build(3), 2)  # slot 1 is per circuit, after a fixed gate
    assert not schedule.runs_variants
    with pytest.raises(ValueError, match="leading blocks only"):
        schedule.run_variants(torch.zeros(1, 2), torch.zeros(1, 1))


def layer_rows(circuit, k: int, batch: int, seed: int) -> torch.Tensor:
    """Angle vectors of a layer's batch: per-circuit first ``k`` slots, the rest shared."""
    theta = angles(batch, circuit.n_params, seed)
    theta[:, k:] = theta[0, k:]
    return theta


def shift_offsets(n_params: int, slots) -> torch.Tensor:
    recipe = shift_recipe(n_params, tuple(slots), math.pi / 2)
    return torch.as_tensor(recipe.offsets)


OBSERVABLES = ["z-each", ["X0 X1 + 0.5 Z2", "Y3"]]


@pytest.mark.parametrize("observable", OBSERVABLES)
@pytest.mark.parametrize("shape", CIRCUITS[:3])
def test_estimate_shifted_equals_plain_estimates(shape, observable):
    """Test the exact values of a layer's parameter-shift rows against plain runs."""
    circuit, k = encoded_circuit(4, 7, **shape)
    execution = Execution(circuit, as_observable(observable, 4), torch.complex128)
    assert Schedule(circuit, k).runs_variants
    theta = layer_rows(circuit, k, 6, 4)
    offsets = shift_offsets(circuit.n_params, range(circuit.n_params))
    got = execution.estimate_shifted(theta, offsets)
    want = execution.estimate((theta.unsqueeze(1) + offsets).reshape(-1, circuit.n_params))
    torch.testing.assert_close(got, want.reshape(got.shape), rtol=0, atol=1e-12)


@pytest.mark.parametrize("observable", OBSERVABLES)
def test_estimate_shifted_samples_each_row_from_its_circuit(observable):
    """Test shot estimates of the shifted rows against the exact values of the same rows.

    Statistical, fixed seed: an output ``sum_w c_w P_w`` averaged over ``N`` shots has a
    variance of at most ``(sum_w |c_w|)^2 / N`` (1.5 for ``X0 X1 + 0.5 Z2``, 1 otherwise;
    one measurement group gets all ``N``). With ``N = 20000`` every entry of 6 circuits x 34
    rows is within 6 of those standard deviations (a miss has probability about 2e-9 per
    entry). Rows measured out of order (another circuit's or another shift's values, which
    differ by about 0.1 to 1 here) fail.
    """
    shots = 20_000
    circuit, k = encoded_circuit(4, 7, lead_suffix=True, unitary=True, bare=False)
    sampled = Execution(
        circuit,
        as_observable(observable, 4),
        torch.complex128,
        shots,
        torch.Generator().manual_seed(3),
    )
    exact = Execution(circuit, as_observable(observable, 4), torch.complex128)
    theta = layer_rows(circuit, k, 6, 4)
    offsets = shift_offsets(circuit.n_params, range(circuit.n_params))
    got = sampled.estimate_shifted(theta, offsets)
    want = exact.estimate((theta.unsqueeze(1) + offsets).reshape(-1, circuit.n_params))
    want = want.reshape(got.shape)
    bound = 1.5 if observable != "z-each" else 1.0
    assert (got - want).abs().max() < 6 * bound / math.sqrt(shots)
    # and they are shot estimates: eigenvalues in halves, averaged over the shots
    on_grid = got * 2 * shots
    torch.testing.assert_close(on_grid, on_grid.round(), rtol=0, atol=1e-6)
    assert not torch.equal(got, want)


def test_estimate_shifted_mixed_rows_and_one_circuit():
    """Test rows that shift a per-circuit and a shared slot at once, and a batch of one.

    Mixed rows (SPSA's) run every circuit in full; a batch of one shares every slot, so its
    input shifts become variants too. Both must give the plain estimates.
    """
    circuit, k = encoded_circuit(4, 1, lead_suffix=True, unitary=False, bare=False)
    execution = Execution(circuit, as_observable("z-each", 4), torch.complex128)
    theta = layer_rows(circuit, k, 4, 5)
    offsets = torch.zeros(3, circuit.n_params, dtype=torch.float64)
    offsets[0, [0, k + 1]] = 0.3  # both kinds in one row
    offsets[1, k] = -0.2
    offsets[2, 1] = 0.7
    for rows in (theta, theta[:1]):
        got = execution.estimate_shifted(rows, offsets)
        want = execution.estimate((rows.unsqueeze(1) + offsets).reshape(-1, circuit.n_params))
        torch.testing.assert_close(got, want.reshape(got.shape), rtol=0, atol=1e-12)
        got = execution.estimate_shifted(rows, offsets[1:])
        want = execution.estimate((rows.unsqueeze(1) + offsets[1:]).reshape(-1, circuit.n_params))
        torch.testing.assert_close(got, want.reshape(got.shape), rtol=0, atol=1e-12)


def test_estimate_shifted_in_chunks(monkeypatch):
    """Test that a batch too large for one call runs in chunks of circuits, same values."""
    import qgradbench.backend.execution as backend

    circuit, k = encoded_circuit(3, 2, lead_suffix=True, unitary=False, bare=False)
    execution = Execution(circuit, as_observable("z-each", 3), torch.complex128)
    theta = layer_rows(circuit, k, 5, 6)
    offsets = shift_offsets(circuit.n_params, range(circuit.n_params))
    whole = execution.estimate_shifted(theta, offsets)
    calls = []
    original = Schedule.run_variants

    def counting(schedule, batched, variants, dtype):
        calls.append(batched.shape[0])
        return original(schedule, batched, variants, dtype)

    monkeypatch.setattr(Schedule, "run_variants", counting)
    # room for 2 circuits' rows at a time: 2 * len(offsets) states of 2**3 amplitudes
    monkeypatch.setattr(backend, "MAX_AMPLITUDES_PER_CALL", 2 * len(offsets) * 2**3)
    torch.testing.assert_close(execution.estimate_shifted(theta, offsets), whole, rtol=0, atol=0)
    assert calls == [2, 2, 1]
    calls.clear()  # room for less than one circuit's rows: one circuit at a time
    monkeypatch.setattr(backend, "MAX_AMPLITUDES_PER_CALL", len(offsets) * 2**3 - 1)
    torch.testing.assert_close(execution.estimate_shifted(theta, offsets), whole, rtol=0, atol=0)
    assert calls == [1] * 5


@pytest.mark.parametrize("shape", CIRCUITS[:3])
def test_estimate_shifted_inputs_only(shape, monkeypatch):
    """Shifts of the per-circuit slots only (a layer whose weights are frozen).

    The rows share the weights' gates: one run of ``B M`` circuits with the shared slots as
    they are, no variants and no run of every slot per circuit. Exact values equal the plain
    runs'. Running these rows every slot per circuit gives the same values, so the test also
    records how they ran (planted: the rule before, which did so, fails the count).
    """
    circuit, k = encoded_circuit(4, 3, **shape)
    execution = Execution(circuit, as_observable("z-each", 4), torch.complex128)
    theta = layer_rows(circuit, k, 5, 8)
    offsets = shift_offsets(circuit.n_params, range(k))
    want = execution.estimate((theta.unsqueeze(1) + offsets).reshape(-1, circuit.n_params))
    runs = []
    original = Execution.state

    def counting(self, rows, shared=None):
        runs.append((rows.shape, shared is None))
        return original(self, rows, shared)

    monkeypatch.setattr(Execution, "state", counting)
    got = execution.estimate_shifted(theta, offsets)
    torch.testing.assert_close(got, want.reshape(got.shape), rtol=0, atol=1e-12)
    assert runs == [((5 * len(offsets), k), False)]  # one run, the weights shared
