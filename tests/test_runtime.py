"""The runtime experiment: timings, costs and peak memory of the layer; PennyLane side by side."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from qgradbench.experiments.runtime import RuntimeSpec, runtime


class TestRuntime:
    @pytest.mark.parametrize(
        "method, shots, backward",
        [("backprop", None, 0), ("adjoint", None, 0), ("parameter-shift", 100, 2 * (3 + 9)),
         ("spsa", 100, 2)],
    )  # fmt: skip
    def test_row_costs_and_timings(self, method, shots, backward):
        """Test one row with positive times, the thread count and the method's circuits."""
        (row,) = runtime(RuntimeSpec(method=method, shots=shots, n_qubits=3, n_layers=1,
                                     batch=4, repeats=2))  # fmt: skip
        assert row["implementation"] == "qgradbench" and row["ratio_to_qgradbench"] == 1.0
        assert row["threads"] == torch.get_num_threads()
        assert 0 < row["time_forward"] <= row["time_total"]
        assert row["time_total_min"] <= row["time_total"]
        assert row["forward_circuits"] == 1 and row["backward_circuits"] == backward
        assert row["shots_per_step"] == (1 + backward) * 4 * (shots or 0)
        assert row["peak_memory_bytes"] > 0

    def test_observable_and_circuit_inputs(self):
        """Test a Pauli-sum observable (its groups' circuits) and a circuit's own input count."""
        from qgradbench import plugins
        from qgradbench.circuits.model import CircuitSpec, Gate, w, x

        spec = RuntimeSpec(method="parameter-shift", shots=10, n_qubits=3, n_layers=1, batch=2,
                           repeats=1, observable=["X0 + Z0", "Z1 Z2"])  # fmt: skip
        (row,) = runtime(spec)
        assert row["observable"] == "X0 + Z0; Z1 Z2"
        assert row["forward_circuits"] == 2  # groups {X0} and {Z0, Z1 Z2}
        plugins.register_circuit(
            "one-input", lambda n, layers, seed: CircuitSpec(
                n, [Gate("RY", [0], [x[0]]), Gate("CRX", [0, 1], [w[0]])], n_inputs=1, n_weights=1
            ),
        )  # fmt: skip
        try:
            (row,) = runtime(RuntimeSpec(ansatz="one-input", n_qubits=2, batch=3, repeats=1))
            assert row["ansatz"] == "one-input" and row["time_total"] > 0
        finally:
            plugins.unregister("one-input")

    def test_peak_memory_counts_live_states(self):
        """Test peak memory against what each method must hold, in units of one batch state.

        The adjoint sweep keeps O(1) states whatever the depth (Jones & Gacon): the final state,
        lambda, and the copies one gate application writes, about 9 at 1 layer and 14 at 6
        measured. Backprop saves states for its backward pass, so its peak grows with depth
        (about 8 and 27). Summing nested profiler events counts each allocation once per
        enclosing op (104 and 176 "states" for the adjoint) and fails the first bound.
        """
        state = 4 * 2**12 * 8  # batch 4, 12 qubits, complex64

        def peak(method, layers):
            spec = RuntimeSpec(method=method, n_qubits=12, n_layers=layers, batch=4, repeats=1)
            return runtime(spec)[0]["peak_memory_bytes"] / state

        adjoint = peak("adjoint", 6)
        assert 2 <= adjoint < 24
        assert peak("backprop", 6) > 1.5 * adjoint

    def test_peak_memory_grows_with_the_register(self):
        """Test that 10 qubits need more peak tensor memory than 4 (2^6 x the state)."""
        small, big = (runtime(RuntimeSpec(n_qubits=n, n_layers=1, batch=8, repeats=1))[0]
                      for n in (4, 10))  # fmt: skip
        assert big["peak_memory_bytes"] > 16 * small["peak_memory_bytes"]

    @pytest.mark.parametrize(
        "settings, message",
        [({"compare": "qiskit"}, "compare must be null or 'pennylane'"),
         ({"method": "adjoint", "shots": 5}, "exact and cannot take shots"),
         ({"batch": 0}, "batch must be an integer >= 1"),
         ({"device": "tpu"}, "device must be 'cpu' or 'cuda'"),
         ({"observable": "Z0 Z3", "n_qubits": 3}, r"acts on wire\(s\) \[3\]"),
         ({"observable": "zz", "compare": "pennylane"}, "needs observable 'z-each'")],
    )  # fmt: skip
    def test_bad_specs(self, settings, message):
        """Test that bad runtime specs raise a ValueError naming the problem."""
        with pytest.raises(ValueError, match=message):
            RuntimeSpec(**settings)


@pytest.mark.parametrize(
    "script,args,message",
    [
        ("compare_pennylane", ["--block", "0"], "--block must be a whole number >= 1, got 0"),
        ("compare_pennylane", ["--repeat", "-1"], "--repeat must be a whole number >= 1, got -1"),
        ("autograd_floor", ["--turns", "0"], "--turns must be a whole number >= 1, got 0"),
        ("autograd_floor", ["--per", "-2"], "--per must be a whole number >= 1, got -2"),
        ("adjoint_floor", ["--threads", "0"], "--threads must be a whole number >= 1, got 0"),
        ("adjoint_floor", ["--pl-per", "0"], "--pl_per must be a whole number >= 1, got 0"),
    ],
)
def test_benchmark_scripts_refuse_bad_counts(script, args, message, capsys):
    """Counts below 1: exit code 2 and one line naming the value (not silently taken as 1)."""
    import importlib

    main = importlib.import_module(f"benchmarks.{script}").main
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err.strip().splitlines()[-1]


def test_autograd_floor_circuit_is_the_seed_layer():
    """The hand-written seed circuit of benchmarks/autograd_floor.py is the layer's circuit.

    Values and gradients (inputs and weights) to complex64 rounding on a batch of 32: the
    floor it measures is that of the same computation (planted: ``Rot``'s off-diagonal phases
    swapped gives a difference of 3.5).
    """
    from benchmarks.autograd_floor import HandWrittenSeedCircuit, check_against_layer
    from benchmarks.compare_pennylane import build_seed_model

    layer = build_seed_model("qgradbench", "backprop")[4]
    hand = HandWrittenSeedCircuit(layer.weights.detach().reshape(2, 4, 3))
    x = torch.tanh(torch.randn(32, 4, generator=torch.Generator().manual_seed(1)))
    assert check_against_layer(layer, hand, x) < 1e-5


def test_floor_ratios_pair_each_adam_with_its_own_pennylane_step():
    """PennyLane's step over ours, per Adam variant, from the floor scripts' medians.

    ``default.qubit`` contains "default": matched on that substring, the default-Adam steps
    take whichever PennyLane step comes first, here the fused one (planted, this test fails).
    """
    from benchmarks.autograd_floor import floor_ratios

    medians = {
        "step, PennyLane default.qubit/backprop, fused Adam": 20.0,
        "step, layer, default Adam": 2.0,
        "step, hand-written, default Adam": 1.0,
        "step, PennyLane default.qubit/backprop, default Adam": 10.0,
        "step, layer, fused Adam": 4.0,
        "step, hand-written, fused Adam": 5.0,
    }
    assert floor_ratios(medians) == {
        "PennyLane / layer, default Adam": 5.0,
        "PennyLane / hand-written, default Adam": 10.0,
        "PennyLane / layer, fused Adam": 5.0,
        "PennyLane / hand-written, fused Adam": 4.0,
    }
    assert floor_ratios({"step, layer, default Adam": 1.0}) == {}


def test_adjoint_floor_is_the_seed_layers_adjoint():
    """The hand-written adjoint of benchmarks/adjoint_floor.py is the layer's, values and gradients.

    Against ``QuantumLayer(diff_method="adjoint")``, inputs and weights, to complex64 rounding on
    a batch of 32 (planted: the factor 2 dropped from the inputs' gradient gives a difference of
    1.3, ``d Rot / d omega``'s sign flipped 2.7).
    """
    from benchmarks.adjoint_floor import HandWrittenSeedAdjoint
    from benchmarks.autograd_floor import check_against_layer
    from benchmarks.compare_pennylane import build_seed_model

    layer = build_seed_model("qgradbench", "adjoint")[4]
    hand = HandWrittenSeedAdjoint(layer.weights.detach().reshape(2, 4, 3))
    x = torch.tanh(torch.randn(32, 4, generator=torch.Generator().manual_seed(1)))
    assert check_against_layer(layer, hand, x) < 1e-5


@pytest.mark.pennylane
def test_compare_pennylane_rows():
    """Test that --compare pennylane adds one row per PennyLane counterpart, with ratios."""
    pytest.importorskip("pennylane")
    rows = runtime(RuntimeSpec(method="adjoint", n_qubits=3, n_layers=1, batch=4, repeats=2,
                               compare="pennylane"))  # fmt: skip
    names = [r["implementation"] for r in rows]
    assert names == ["qgradbench", "pennylane lightning.qubit/adjoint",
                     "pennylane default.qubit/adjoint",
                     "pennylane qgradbench.qubit/adjoint",
                     "pennylane qgradbench.qubit/adjoint+vjp"]  # fmt: skip
    base = rows[0]["time_total"]
    for row in rows[1:]:
        assert row["ratio_to_qgradbench"] == pytest.approx(row["time_total"] / base)
        assert row["peak_memory_bytes"] is None


@pytest.mark.pennylane
def test_seed_step_comparison_keeps_every_step_time():
    """Test that a seed-model comparison row keeps every step time of each side.

    Three steps a side (in turns of two): three times each, and the medians and the ratio are
    those of the kept times.
    """
    from benchmarks.compare_pennylane import Case, run_comparison

    case = Case("backprop", None, "default.qubit", "backprop")
    (row,) = run_comparison([case], repeats=3, budget_s=None, block=2)
    for side in ("qgradbench", "pennylane"):
        times = row[f"{side}_steps_ms"]
        assert row[f"{side}_n"] == len(times) == 3
        assert row[f"{side}_ms"] == pytest.approx(sorted(times)[1])
    assert row["ratio"] == pytest.approx(row["pennylane_ms"] / row["qgradbench_ms"])


@pytest.mark.parametrize("warmup_s", [0.0, 0.02])
def test_seed_step_comparison_warms_up_untimed(monkeypatch, warmup_s):
    """Test that the comparison's warm-up turns run before the timed ones and are not timed.

    Stand-in steps of about a millisecond count their calls: with ``warmup_s`` 0 each side runs
    its three timed steps only; with 0.02 s at least one untimed turn (two steps) more, and the
    row still holds three times a side.
    """
    import time

    import benchmarks.compare_pennylane as cmp

    calls = {"qgradbench": 0, "pennylane": 0}

    def prepare(backend, case, seed=0, adam="default"):
        def step():
            calls[backend] += 1
            time.sleep(0.001)

        return step

    monkeypatch.setattr(cmp, "prepare_step", prepare)
    case = cmp.Case("backprop", None, "default.qubit", "backprop")
    (row,) = cmp.run_comparison([case], repeats=3, budget_s=None, block=2, warmup_s=warmup_s)
    assert row["warmup_s"] == warmup_s
    for side, n in calls.items():
        assert row[f"{side}_n"] == len(row[f"{side}_steps_ms"]) == 3
        assert n == 3 if warmup_s == 0 else n >= 3 + 2


@pytest.mark.pennylane
def test_pennylane_layer_computes_the_same_outputs():
    """Test that the PennyLane counterpart gives the qgradbench layer's outputs (1e-5)."""
    pytest.importorskip("pennylane")
    from qgradbench import QuantumLayer
    from qgradbench.peers import pennylane_layer

    layer = QuantumLayer(3, 2, seed=4)
    pl = pennylane_layer(3, 2, layer.weights.detach(), device="default.qubit",
                         diff_method="backprop")  # fmt: skip
    x = torch.rand(5, 3) * 2 - 1
    assert torch.allclose(layer(x), pl(x).float(), atol=1e-5)


@pytest.mark.pennylane
def test_compare_pennylane_rows_on_qgradbench_qubit_with_shots():
    """Test that with shots the qgradbench.qubit rows are the transform and the device rule."""
    pytest.importorskip("pennylane")
    from qgradbench.analysis.summaries import peer_ratios

    spec = RuntimeSpec(method="parameter-shift", shots=100, n_qubits=2, n_layers=1, batch=2,
                       repeats=1, warmup=0, compare="pennylane")  # fmt: skip
    rows = runtime(spec)
    names = [r["implementation"] for r in rows]
    assert names == ["qgradbench", "pennylane default.qubit/parameter-shift+broadcast_expand",
                     "pennylane qgradbench.qubit/parameter-shift+broadcast_expand",
                     "pennylane qgradbench.qubit/device:parameter-shift",
                     "pennylane qgradbench.qubit/device:parameter-shift+vjp"]  # fmt: skip
    assert list(peer_ratios(pd.DataFrame(rows))["implementation"]) == names[1:]


@pytest.mark.pennylane
@pytest.mark.parametrize(
    ("method", "diff_method"),
    [("adjoint", "adjoint"), ("parameter-shift", "parameter-shift"),
     ("parameter-shift", "device:parameter-shift"), ("hadamard", "device:hadamard"),
     ("shot-adjoint", "device:shot-adjoint"), ("adjoint", "adjoint+vjp"),
     ("parameter-shift", "device:parameter-shift+vjp")],
)  # fmt: skip
def test_qgradbench_qubit_qnode_equals_the_layer(method, diff_method):
    """Test that the QNode on qgradbench.qubit gives the layer's outputs and gradients (1e-10)."""
    pytest.importorskip("pennylane")
    from qgradbench import QuantumLayer
    from qgradbench.peers import configs, pennylane_layer

    assert ("qgradbench.qubit", diff_method) in configs(method, None)
    layer = QuantumLayer(3, 2, seed=4, diff_method=method, dtype=torch.complex128)
    pl = pennylane_layer(3, 2, layer.weights.detach(), device="qgradbench.qubit",
                         diff_method=diff_method, dtype=torch.float64)  # fmt: skip
    x = torch.rand(5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 2 - 1
    grads = []
    for module in (layer, pl):
        xx = x.clone().requires_grad_(True)
        out = module(xx)
        (out * torch.arange(1.0, 4.0, dtype=out.dtype)).sum().backward()  # unequal weights
        grads.append((out.detach(), xx.grad, module.weights.grad))
    for ours, theirs in zip(*grads, strict=True):
        assert torch.allclose(ours, theirs, atol=1e-10, rtol=0)


@pytest.mark.pennylane
def test_compare_shot_adjoint_row_takes_the_layers_options(monkeypatch):
    """Test that shot-adjoint's qgradbench.qubit row runs the engine rule with the layer's match."""
    pytest.importorskip("pennylane")
    from qgradbench.device import QgradbenchQubit

    seen = []
    options = QgradbenchQubit._options
    record = staticmethod(lambda c: seen.append(options(c)) or seen[-1])
    monkeypatch.setattr(QgradbenchQubit, "_options", record)
    spec = RuntimeSpec(method="shot-adjoint", shots=100, n_qubits=2, n_layers=1, batch=2,
                       repeats=1, warmup=0, method_options={"match": "parameter-shift"},
                       compare="pennylane")  # fmt: skip
    names = [r["implementation"] for r in runtime(spec)]
    assert names == ["qgradbench", "pennylane qgradbench.qubit/device:shot-adjoint",
                     "pennylane qgradbench.qubit/device:shot-adjoint+vjp"]  # fmt: skip
    assert seen and all(s == {"match": "parameter-shift"} for s in seen)
