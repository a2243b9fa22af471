r"""The seed model's QNode on qgradbench.qubit against default.qubit and lightning.qubit.

The QNode is the seed model's quantum layer as a PennyLane user writes it
(:func:`qgradbench.peers.pennylane_layer`): ``RY(pi x_i)`` on each of 4 qubits, PennyLane's
``StronglyEntanglingLayers`` (2 layers), ``<Z_i>`` on every qubit, in a ``qml.qnn.TorchLayer``.
One step is what training runs: the forward pass of a batch of 32 inputs and a torch backward
of the sum of the outputs (gradients of the 24 weights and the 128 inputs), float64. Cases
(device, ``diff_method``), exact and at 1000 shots:

* ``parameter-shift``: ``default.qubit``, ``qgradbench.qubit`` with the same (PennyLane's)
  transform (the one-line change), and ``qgradbench.qubit`` with ``diff_method="device"``, the
  engine's batched rule (``device:parameter-shift``). Transforms are wrapped in
  ``broadcast_expand`` (PennyLane cannot differentiate a broadcast tape with them).
* ``adjoint`` (exact): ``lightning.qubit``, ``default.qubit``, ``qgradbench.qubit``. At 1000 shots
  PennyLane's adjoint ignores or refuses shots; there ``qgradbench.qubit``'s shot-based adjoint
  (``device:shot-adjoint``, parameter-shift's statistics) is timed against ``lightning.qubit``'s
  and ``default.qubit``'s parameter-shift.

Exact cases are first checked against ``default.qubit`` (largest deviation of outputs and
gradients, recorded per case). Then
``--repeats`` rounds, each timing one step of every case in turn (interleaved, so that load on
a shared machine hits all cases alike), after one warm-up step each; medians and ratios of
medians are reported. One thread (``OMP_NUM_THREADS=1``, ``torch.set_num_threads(1)``).
``adjoint+vjp`` cases set ``device_vjp=True`` on the QNode (the device's vector-Jacobian
products): on ``qgradbench.qubit`` the broadcast batch then stays one tape, forward and backward.
``--cases adjoint`` times only the cases whose name contains ``adjoint`` (a comma-separated
list: any of them). ``--profile`` adds a cProfile of the
``qgradbench.qubit`` cases, its own time split into PennyLane, the device module, qgradbench's
engine, torch and the rest::

    PYTHONPATH=/work/main /work/benchvenv/bin/python benchmarks/device_speed.py \
        --repeats 15 --profile --json benchmarks/results/device-speed-2026-12-06.json
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import cProfile  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import pstats  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402

from qgradbench import QuantumLayer  # noqa: E402
from qgradbench.peers import pennylane_layer  # noqa: E402

N_QUBITS, N_LAYERS, BATCH, SHOTS = 4, 2, 32, 1000
#: (name, device, diff_method, shots); ``None`` shots: exact.
CASES = (
    ("ps/default.qubit", "default.qubit", "parameter-shift", None),
    ("ps/qgradbench.qubit", "qgradbench.qubit", "parameter-shift", None),
    ("device-ps/qgradbench.qubit", "qgradbench.qubit", "device:parameter-shift", None),
    ("device-ps-vjp/qgradbench.qubit", "qgradbench.qubit", "device:parameter-shift+vjp", None),
    ("adjoint/lightning.qubit", "lightning.qubit", "adjoint", None),
    ("adjoint/default.qubit", "default.qubit", "adjoint", None),
    ("adjoint/qgradbench.qubit", "qgradbench.qubit", "adjoint", None),
    ("adjoint-vjp/lightning.qubit", "lightning.qubit", "adjoint+vjp", None),
    ("adjoint-vjp/qgradbench.qubit", "qgradbench.qubit", "adjoint+vjp", None),
    ("ps/default.qubit@1000", "default.qubit", "parameter-shift", SHOTS),
    ("ps/lightning.qubit@1000", "lightning.qubit", "parameter-shift", SHOTS),
    ("ps/qgradbench.qubit@1000", "qgradbench.qubit", "parameter-shift", SHOTS),
    ("device-ps/qgradbench.qubit@1000", "qgradbench.qubit", "device:parameter-shift", SHOTS),
    ("shot-adjoint/qgradbench.qubit@1000", "qgradbench.qubit", "device:shot-adjoint", SHOTS),
    ("device-ps-vjp/qgradbench.qubit@1000", "qgradbench.qubit", "device:parameter-shift+vjp",
     SHOTS),
    ("shot-adjoint-vjp/qgradbench.qubit@1000", "qgradbench.qubit", "device:shot-adjoint+vjp",
     SHOTS),
)  # fmt: skip
#: (ratio name, slower case, faster case): the issue's targets and the one-line-change rows.
RATIOS = (
    ("parameter-shift: default.qubit / qgradbench.qubit device", "ps/default.qubit",
     "device-ps/qgradbench.qubit"),
    ("parameter-shift: default.qubit / qgradbench.qubit same transform", "ps/default.qubit",
     "ps/qgradbench.qubit"),
    ("parameter-shift: default.qubit / qgradbench.qubit device, device_vjp",
     "ps/default.qubit", "device-ps-vjp/qgradbench.qubit"),
    ("1000 shots, parameter-shift: default.qubit / qgradbench.qubit device, device_vjp",
     "ps/default.qubit@1000", "device-ps-vjp/qgradbench.qubit@1000"),
    ("1000 shots: lightning.qubit parameter-shift / qgradbench.qubit shot-adjoint, device_vjp",
     "ps/lightning.qubit@1000", "shot-adjoint-vjp/qgradbench.qubit@1000"),
    ("adjoint: lightning.qubit / qgradbench.qubit", "adjoint/lightning.qubit",
     "adjoint/qgradbench.qubit"),
    ("adjoint: default.qubit / qgradbench.qubit", "adjoint/default.qubit",
     "adjoint/qgradbench.qubit"),
    ("adjoint device_vjp: lightning.qubit / qgradbench.qubit", "adjoint-vjp/lightning.qubit",
     "adjoint-vjp/qgradbench.qubit"),
    ("adjoint: lightning.qubit / qgradbench.qubit device_vjp", "adjoint/lightning.qubit",
     "adjoint-vjp/qgradbench.qubit"),
    ("adjoint: default.qubit / qgradbench.qubit device_vjp", "adjoint/default.qubit",
     "adjoint-vjp/qgradbench.qubit"),
    ("1000 shots, parameter-shift: default.qubit / qgradbench.qubit device",
     "ps/default.qubit@1000", "device-ps/qgradbench.qubit@1000"),
    ("1000 shots, parameter-shift: default.qubit / qgradbench.qubit same transform",
     "ps/default.qubit@1000", "ps/qgradbench.qubit@1000"),
    ("1000 shots, parameter-shift: lightning.qubit / qgradbench.qubit device",
     "ps/lightning.qubit@1000", "device-ps/qgradbench.qubit@1000"),
    ("1000 shots: lightning.qubit parameter-shift / qgradbench.qubit shot-adjoint",
     "ps/lightning.qubit@1000", "shot-adjoint/qgradbench.qubit@1000"),
    ("1000 shots: default.qubit parameter-shift / qgradbench.qubit shot-adjoint",
     "ps/default.qubit@1000", "shot-adjoint/qgradbench.qubit@1000"),
)  # fmt: skip


def build(device: str, diff_method: str, shots: int | None, weights: torch.Tensor):
    """The seed QNode in a TorchLayer on ``device`` (seeded 0), initialised to ``weights``.

    ``"<method>+vjp"``: the QNode with ``device_vjp=True`` (the device's vector-Jacobian
    products; on ``qgradbench.qubit`` the broadcast batch stays one tape).
    """
    vjp = diff_method.endswith("+vjp")
    layer = pennylane_layer(N_QUBITS, N_LAYERS, weights, device=device,
                            diff_method=diff_method.removesuffix("+vjp"), shots=shots, seed=0,
                            dtype=torch.float64)  # fmt: skip
    if vjp:
        layer.qnode = layer.qnode.update(device_vjp=True)
    return layer


def step(layer, x: torch.Tensor) -> tuple[float, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One forward and backward; its wall time, the outputs and the gradients."""
    layer.zero_grad(set_to_none=True)
    xx = x.clone().requires_grad_(True)
    t0 = time.perf_counter()
    out = layer(xx)
    out.sum().backward()
    elapsed = time.perf_counter() - t0
    return elapsed, out.detach(), xx.grad, layer.weights.grad


def check_exact(layers: dict, x: torch.Tensor, weights: torch.Tensor) -> dict[str, float]:
    """Per exact case, the largest deviation of its outputs or gradients from default.qubit's."""
    ref = step(build("default.qubit", "parameter-shift", None, weights), x)[1:]
    out = {}
    for name, _, _, shots in CASES:
        if name in layers and shots is None:
            ours = step(layers[name], x)[1:]
            out[name] = max(float((a - b).abs().max()) for a, b in zip(ours, ref, strict=True))
    return out


def _bucket(filename: str) -> str:
    if "qgradbench/device.py" in filename:
        return "device.py"
    if "/qgradbench/" in filename:
        return "qgradbench engine"
    if "/pennylane/" in filename or "pennylane_lightning" in filename:
        return "pennylane"
    if "/torch/" in filename:
        return "torch"
    if "/numpy/" in filename or "/autoray/" in filename:
        return "numpy/autoray"
    return "other (python, builtins)"


def profile(layer, x: torch.Tensor, steps: int) -> dict:
    """Own time of ``steps`` steps per module bucket (fractions) and the top functions."""
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(steps):
        step(layer, x)
    prof.disable()
    stats = pstats.Stats(prof)
    buckets: dict[str, float] = {}
    rows = []
    for (filename, line, func), (_, _, tottime, cumtime, _) in stats.stats.items():
        buckets[_bucket(filename)] = buckets.get(_bucket(filename), 0.0) + tottime
        rows.append((cumtime, f"{filename.split('site-packages/')[-1]}:{line}({func})"))
    total = sum(buckets.values())
    top = sorted(rows, reverse=True)[:25]
    return {
        "seconds_per_step": total / steps,
        "own_time_fraction": {k: round(v / total, 3) for k, v in sorted(buckets.items())},
        "top_cumulative": [{"function": f, "seconds_per_step": c / steps} for c, f in top],
    }


def main(argv=None) -> dict:
    """Check, time interleaved, optionally profile; print a table and return the results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=15, help="timed rounds (default 15)")
    parser.add_argument("--profile", action="store_true", help="cProfile qgradbench.qubit")
    parser.add_argument("--json", help="write the results here")
    parser.add_argument(
        "--cases", help="only the cases whose name contains one of these (comma-separated)"
    )
    args = parser.parse_args(argv)
    wanted = None if args.cases is None else args.cases.split(",")
    cases = [c for c in CASES if wanted is None or any(part in c[0] for part in wanted)]
    if not cases:
        parser.error(f"--cases {args.cases!r} matches none of {', '.join(c[0] for c in CASES)}")
    torch.set_num_threads(1)
    weights = QuantumLayer(N_QUBITS, N_LAYERS, seed=0).weights.detach().double()
    gen = torch.Generator().manual_seed(0)
    x = 2 * torch.rand(BATCH, N_QUBITS, generator=gen, dtype=torch.float64) - 1
    layers = {name: build(dev, dm, shots, weights) for name, dev, dm, shots in cases}
    deviation = check_exact(layers, x, weights)
    print("exact cases, max deviation from default.qubit:", deviation)
    times: dict[str, list[float]] = {name: [] for name in layers}
    for name in layers:  # warm-up: imports, compilation, caches
        step(layers[name], x)
    for _ in range(args.repeats):
        for name, layer in layers.items():
            times[name].append(step(layer, x)[0])
    medians = {name: statistics.median(t) for name, t in times.items()}
    for name, value in medians.items():
        print(f"{name:40s} {value * 1e3:10.2f} ms")
    ratios = {
        label: medians[slow] / medians[fast]
        for label, slow, fast in RATIOS
        if slow in medians and fast in medians
    }
    for label, value in ratios.items():
        print(f"{label:78s} {value:8.1f}x")
    result = {
        "workflow": "TorchLayer forward of a batch of 32 + torch backward of the outputs' sum",
        "n_qubits": N_QUBITS,
        "n_layers": N_LAYERS,
        "batch": BATCH,
        "threads": torch.get_num_threads(),
        "cases": [name for name, *_ in cases],
        "repeats": args.repeats,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "load_average_after": os.getloadavg(),
        "commit": _commit(),
        "exact_max_deviation_from_default_qubit": deviation,
        "median_seconds": medians,
        "all_seconds": times,
        "ratios_of_medians": ratios,
    }
    if args.profile:
        result["profile"] = {
            name: profile(layers[name], x, 5 if "ps/" in name and "device" not in name else 20)
            for name in layers
            if "qgradbench.qubit" in name
        }
        for name, prof in result["profile"].items():
            print(name, prof["own_time_fraction"])
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=1)
    return result


def _commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, cwd=os.path.dirname(__file__), check=True)  # fmt: skip
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


if __name__ == "__main__":
    main()
