"""Runtime of the quantum layer: forward, backward and optimiser-step time, and peak memory.

One :class:`RuntimeSpec` times one configuration of a :class:`~qgradbench.QuantumLayer`
(method, shots, qubits, layers, batch, ansatz, observable): ``warmup`` untimed steps, then
``repeats`` timed steps of forward (the observable, ``<Z_i>`` by default, of a random batch of
the circuit's inputs), backward (of the sum of the outputs, so the gradient reaches inputs and
weights) and an Adam step, each timed on its own; the row reports the
medians and the minimum of the step total. The thread count torch used is recorded, because
it decides these times: the suite pins it per worker.

Peak memory is measured on one extra, untimed step: on the CPU from PyTorch's profiler's memory
timeline (every tensor allocation and release of the step, in order; the largest total of live
tensor bytes), on CUDA from ``torch.cuda.max_memory_allocated``; both above what was allocated
before the step.

With ``compare="pennylane"`` the same layer (same circuit, same initial weights, same inputs)
is also built with PennyLane in every configuration that computes what the method computes
(:data:`qgradbench.peers.PENNYLANE_CONFIGS`: ``default.qubit`` backprop, ``lightning.qubit``
adjoint, ``default.qubit`` gradient transforms with ``broadcast_expand`` ...) and timed by the
same protocol in the same process, one row each, with ``ratio_to_qgradbench`` = its median step
time over qgradbench's (above 1: qgradbench is faster). Then the same QNode on qgradbench's own
PennyLane device, ``qgradbench.qubit`` (:data:`qgradbench.peers.QGRADBENCH_QUBIT_CONFIGS`: the
matching diff_method, and ``diff_method="device"`` with the engine's rule, implementation
``pennylane qgradbench.qubit/device:<rule>``): what a PennyLane user gets by changing the device
line. Backprop has no such row (:data:`qgradbench.peers.QGRADBENCH_QUBIT_SKIPS`: the device
does not support it). PennyLane rows carry no peak memory (lightning allocates outside torch).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import statistics
import tempfile
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch

from qgradbench.experiments.common import (
    check_dtype,
    check_method,
    check_method_observable,
    check_observable,
    circuit_shape,
    observable_text,
    positive_int,
    seed_stream,
)
from qgradbench.layer import QuantumLayer


@dataclass(frozen=True)
class RuntimeSpec:
    """One runtime measurement.

    Attributes:
        method: the differentiation method.
        shots: shots per circuit, or ``None``.
        n_qubits: qubits.
        n_layers: ansatz layers.
        batch: samples per step.
        ansatz: the ansatz (any registered name, plugins' circuits included).
        observable: what the layer measures: a built-in name (default ``z-each``), a Pauli sum
            such as ``"Z0 Z1 + 0.5 X2"``, or a list of them (one output each).
        repeats: timed steps (the medians are over these).
        warmup: untimed steps first.
        seed: seeds inputs, weights and shots.
        dtype: ``"complex64"`` or ``"complex128"``.
        device: ``"cpu"`` or ``"cuda"``.
        method_options: options of the method.
        compare: ``None``, or ``"pennylane"`` to time PennyLane's counterparts too.
    """

    method: str = "backprop"
    shots: int | None = None
    n_qubits: int = 4
    n_layers: int = 2
    batch: int = 32
    ansatz: str = "strongly-entangling"
    observable: str | list = "z-each"
    repeats: int = 5
    warmup: int = 1
    seed: int = 0
    dtype: str = "complex64"
    device: str = "cpu"
    method_options: dict = field(default_factory=dict)
    compare: str | None = None

    def __post_init__(self):
        positive_int("n_qubits", self.n_qubits)
        positive_int("n_layers", self.n_layers)
        positive_int("batch", self.batch)
        if self.compare not in (None, "pennylane"):
            raise ValueError(f"compare must be null or 'pennylane', got {self.compare!r}")
        if self.compare == "pennylane":
            try:
                import pennylane  # noqa: F401
            except ImportError:
                raise ValueError(
                    "compare='pennylane' needs PennyLane: pip install 'qgradbench[bench]'"
                ) from None
        positive_int("repeats", self.repeats)
        positive_int("warmup", self.warmup, minimum=0)
        positive_int("seed", self.seed, minimum=0)
        check_dtype(self.dtype)
        if self.device not in ("cpu", "cuda"):
            raise ValueError(f"device must be 'cpu' or 'cuda', got {self.device!r}")
        if self.device == "cuda" and not torch.cuda.is_available():
            raise ValueError("device 'cuda' requested but torch sees no CUDA device")
        check_method(self.method, self.shots, self.method_options)
        shape = circuit_shape(self.ansatz, self.n_qubits, self.n_layers, None)
        check_observable(self.observable, shape.n_qubits)
        check_method_observable(
            self.method, self.shots, self.method_options, self.observable, shape.n_qubits
        )
        if self.compare == "pennylane" and self.observable != "z-each":
            raise ValueError(
                f"compare='pennylane' times PennyLane's layer measuring <Z_i> per qubit; it needs "
                f"observable 'z-each', got {self.observable!r}"
            )

    def params(self) -> dict[str, object]:
        """The spec as flat row columns."""
        out = dataclasses.asdict(self)
        out["observable"] = observable_text(self.observable)
        out["method_options"] = repr(dict(sorted(self.method_options.items())))
        return out


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _step(layer, x, opt, device) -> tuple[float, float, float]:
    """One forward, backward and Adam step; their wall times in seconds."""
    _sync(device)
    t0 = time.perf_counter()
    opt.zero_grad(set_to_none=True)
    out = layer(x)
    _sync(device)
    t1 = time.perf_counter()
    out.sum().backward()
    _sync(device)
    t2 = time.perf_counter()
    opt.step()
    _sync(device)
    t3 = time.perf_counter()
    return t1 - t0, t2 - t1, t3 - t2


@contextlib.contextmanager
def _quiet_stderr():
    """Silence file descriptor 2 (the profiler's C++ start/stop log lines) for a moment."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _peak_memory(layer, x, opt, device) -> int:
    """Peak bytes of tensor memory allocated during one step (see the module docstring)."""
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        _step(layer, x, opt, device)
        return int(torch.cuda.max_memory_allocated() - base)
    profiler = torch.profiler.profile(
        activities=[torch.profiler.ProfilerActivity.CPU],
        profile_memory=True,
        record_shapes=True,  # the memory timeline needs both to follow every tensor
        with_stack=True,
    )
    with _quiet_stderr(), profiler as prof:
        _step(layer, x, opt, device)
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # deprecated for CUDA's snapshots
        path = os.path.join(tmp, "timeline.json")
        prof.export_memory_timeline(path, device="cpu")
        with open(path) as fh:
            _, sizes = json.load(fh)
    live = np.asarray(sizes, dtype=np.int64).sum(axis=1)  # bytes live after each event
    return int(live.max()) if live.size else 0


def _time(layer, x, params, spec: RuntimeSpec) -> dict:
    """Time ``layer`` on ``x`` by the module's protocol; the row's timing columns."""
    opt = torch.optim.Adam(params, lr=0.01)
    for _ in range(spec.warmup):
        _step(layer, x, opt, spec.device)
    if hasattr(layer, "reset_cost"):
        layer.reset_cost()
    times = [_step(layer, x, opt, spec.device) for _ in range(spec.repeats)]
    forward, backward, step = (statistics.median(t[i] for t in times) for i in range(3))
    totals = [sum(t) for t in times]
    return {
        "time_forward": forward,
        "time_backward": backward,
        "time_step": step,
        "time_total": statistics.median(totals),
        "time_total_min": min(totals),
        "_opt": opt,
    }


def _pennylane_rows(spec: RuntimeSpec, layer: QuantumLayer, x: torch.Tensor, base: dict):
    """Rows of PennyLane's counterparts of the layer, timed like it."""
    from qgradbench import peers
    from qgradbench.methods.finite_diff import default_step

    rows = []
    for device, diff_method in peers.configs(spec.method, spec.shots):
        kwargs = {}
        if spec.shots is not None and diff_method in ("finite-diff", "spsa"):
            order = 1 if diff_method == "finite-diff" else 2  # qgradbench's defaults
            kwargs["h"] = default_step(order, spec.shots, 0.0)
        if diff_method.startswith(peers.DEVICE_PREFIX):  # the engine rule: the layer's options
            kwargs.update(spec.method_options)
        pl = peers.pennylane_layer(
            spec.n_qubits,
            spec.n_layers,
            layer.weights.detach().cpu(),
            device=device,
            diff_method=diff_method,
            ansatz=spec.ansatz,
            shots=spec.shots,
            seed=spec.seed,
            dtype=x.dtype,
            gradient_kwargs=kwargs,
        )
        timing = _time(pl, x.detach().cpu().requires_grad_(True), pl.parameters(), spec)
        timing.pop("_opt")
        expand = "+broadcast_expand" if diff_method in peers.TRANSFORMS else ""
        rows.append(
            {
                **base,
                "implementation": f"pennylane {device}/{diff_method}{expand}",
                **timing,
                "ratio_to_qgradbench": timing["time_total"] / base["_qgradbench_total"],
                "peak_memory_bytes": None,
            }
        )
    return rows


def runtime(spec: RuntimeSpec) -> list[dict]:
    """Time the spec's layer; one row (plus one per PennyLane counterpart with ``compare``).

    Returns:
        Rows with the spec's parameters, ``implementation`` (``qgradbench``, or the PennyLane
        configuration), ``threads`` (torch's intra-op threads), ``time_forward``,
        ``time_backward``, ``time_step`` (medians, seconds), ``time_total`` (median of their
        sum), ``time_total_min``, ``ratio_to_qgradbench``, ``peak_memory_bytes``,
        ``forward_circuits`` and ``backward_circuits`` per sample, and ``shots_per_step``.
    """
    dtype = check_dtype(spec.dtype)
    layer = QuantumLayer(
        spec.n_qubits,
        spec.n_layers,
        ansatz=spec.ansatz,
        diff_method=spec.method,
        shots=spec.shots,
        seed=seed_stream(spec.seed, "runtime-layer") % 2**31,
        dtype=dtype,
        device=spec.device,
        observable=spec.observable,
        **spec.method_options,
    )
    gen = torch.Generator().manual_seed(seed_stream(spec.seed, "runtime-inputs"))
    real = dtype.to_real()
    x = 2 * torch.rand(spec.batch, layer.n_inputs, generator=gen, dtype=real) - 1
    x = x.to(spec.device)
    x.requires_grad_(True)
    timing = _time(layer, x, layer.parameters(), spec)
    opt = timing.pop("_opt")
    cost = layer.cost.copy()  # before the memory step adds to it
    peak = _peak_memory(layer, x, opt, spec.device)
    per_sample = cost.circuits_per_sample
    base = {
        **spec.params(),
        "threads": torch.get_num_threads(),
        "forward_circuits": per_sample["forward"],
        "backward_circuits": per_sample["backward"],
        "shots_per_step": (cost.forward_shots + cost.backward_shots) // spec.repeats,
    }
    rows = [
        {
            **base,
            "implementation": "qgradbench",
            **timing,
            "ratio_to_qgradbench": 1.0,
            "peak_memory_bytes": peak,
        }
    ]
    if spec.compare == "pennylane":
        extra = _pennylane_rows(spec, layer, x, {**base, "_qgradbench_total": timing["time_total"]})
        rows += [{k: v for k, v in r.items() if k != "_qgradbench_total"} for r in extra]
    return rows
