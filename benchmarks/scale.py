"""Gate application against memory bandwidth: time per gate in units of one pass over the state.

One *pass* is the time to read and write the batch's state once, taken from a copy of a
512 MiB buffer timed in the same process (so the unit follows the machine's current load).
Gates are counted as PennyLane counts operations: ``n`` encoding RY, then per layer ``n`` Rot and
``n`` CNOT (``n + 2 L n`` for strongly entangling layers).

Each case is run on its own, as a training loop repeats it: ``WARMUP`` untimed runs, then
``--repeat`` timed ones, each right after a timed copy; medians are reported. (Alternating the
cases run by run measured each one in a heap shaped by the others: at 20 qubits the backprop
step then faulted in up to 0.4 GB of fresh pages per run, 1.9 s against 1.6 s on its own.)
::

    python benchmarks/scale.py --qubits 16 18 20 --batch 16 --layers 4 --repeat 5
    python benchmarks/scale.py --device cuda --qubits 26 --batch 1 --cases forward adjoint

Freed memory is retained for reuse as in the command line (``qgradbench/memory.py``);
``QGRADBENCH_RETAIN_FREED_MEMORY=0`` keeps glibc's defaults, to measure what that costs.

Columns: forward without autograd, backprop forward + backward, adjoint forward + backward,
passes per gate of the forward, and the ratios the issue targets.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from qgradbench import QuantumLayer
from qgradbench.memory import retain_unless_disabled

COPY_BYTES = 512 * 2**20
#: Untimed runs before each case's timed ones: the first compiles schedules and fills caches,
#: the next let the heap settle at the case's peak (freed blocks are reused from then on).
WARMUP = 3


CASES = ("forward", "backprop", "adjoint")


def _time(fn, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def measure(
    n: int,
    batch: int,
    layers: int,
    repeat: int,
    dtype=torch.complex64,
    device: str = "cpu",
    cases: tuple[str, ...] = CASES,
) -> dict:
    """Median times of forward / backprop / adjoint and the copy pass at ``n`` qubits.

    On a GPU the copy is a device-to-device copy and every timing waits for the device.
    Ratios of cases left out of ``cases`` are ``None``.
    """
    device = torch.device(device)
    src = torch.ones(COPY_BYTES // 4, device=device)
    dst = torch.empty_like(src)
    state_bytes = batch * 2**n * (8 if dtype == torch.complex64 else 16)
    gen = torch.Generator().manual_seed(0)
    x = (torch.rand(batch, n, generator=gen) * 2 - 1).to(device)
    methods = {"forward": "backprop", "backprop": "backprop", "adjoint": "adjoint"}
    layer = {
        m: QuantumLayer(n, layers, diff_method=m, seed=0, dtype=dtype, device=device)
        for m in {methods[c] for c in cases}
    }

    def forward():
        with torch.no_grad():
            layer["backprop"](x)

    def step(method):
        def run():
            xg = x.clone().requires_grad_()
            layer[method](xg).sum().backward()

        return run

    def copy():
        dst.copy_(src)

    runs = {"forward": forward, "backprop": step("backprop"), "adjoint": step("adjoint")}
    times: dict[str, list[float]] = {"copy": []}
    for name in cases:  # one case at a time, as a training run would repeat it
        for _ in range(WARMUP):
            runs[name]()
        times[name] = []
        for _ in range(repeat):
            times["copy"].append(_time(copy, device))
            times[name].append(_time(runs[name], device))
    med = {k: statistics.median(v) for k, v in times.items()}
    pass_s = med["copy"] * state_bytes / COPY_BYTES
    gates = n + 2 * layers * n

    def ratio(a, b):
        return med[a] / med[b] if a in med and b in med else None

    return {
        "n_qubits": n,
        "batch": batch,
        "layers": layers,
        "gates": gates,
        "device": str(device),
        "copy_gb_s": COPY_BYTES / med["copy"] / 1e9,
        "pass_ms": pass_s * 1e3,
        **{f"{c}_s": med.get(c) for c in CASES},
        "forward_passes_per_gate": med["forward"] / pass_s / gates if "forward" in med else None,
        "backprop_over_forward": ratio("backprop", "forward"),
        "adjoint_over_backprop": ratio("adjoint", "backprop"),
    }


def main() -> None:  # noqa: D103
    def options(parser):
        parser.add_argument("--device", default="cpu", help="cpu or cuda")
        parser.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))

    args = sweep_arguments(__doc__, qubits=[16, 18, 20], batch=16, extra=options)

    def show(row, case, ratio, text):
        if row[f"{case}_s"] is None:
            return f" | {case} n/a"
        part = f" | {case} {row[f'{case}_s']:.3f} s"
        return part if row[ratio] is None else part + text.format(row[ratio])

    def describe(row):
        return (
            f"n={row['n_qubits']:2d} B={row['batch']} {row['device']}"
            f" copy {row['copy_gb_s']:.1f} GB/s pass {row['pass_ms']:.2f} ms"
            + show(row, "forward", "forward_passes_per_gate", " = {:.2f} pass/gate")
            + show(row, "backprop", "backprop_over_forward", " = {:.2f}x fwd")
            + show(row, "adjoint", "adjoint_over_backprop", " = {:.2f}x backprop")
        )

    sweep(
        args.qubits,
        lambda n: measure(
            n, args.batch, args.layers, args.repeat, device=args.device, cases=tuple(args.cases)
        ),
        describe,
        args.threads,
        args.json,
    )


def sweep_arguments(
    doc: str, qubits: list[int], batch: int, extra=None, layers: int = 4
) -> argparse.Namespace:
    """Parse a sweep script's options: qubits, batch, layers, repeat, threads, JSON output.

    ``extra(parser)``, if given, adds the script's own options.
    """
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    if extra is not None:
        extra(parser)
    parser.add_argument("--qubits", type=int, nargs="+", default=qubits)
    parser.add_argument("--batch", type=int, default=batch)
    parser.add_argument("--layers", type=int, default=layers)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", default=None)
    return parser.parse_args()


def sweep(qubits, measure_one, describe, threads=None, json_path=None) -> list[dict]:
    """Measure each register size in turn, print each row, and write them all as JSON.

    Sets the torch threads first (``None``: torch's default) and retains freed memory as the
    command line does (``QGRADBENCH_RETAIN_FREED_MEMORY=0``: glibc's defaults); both are
    printed and recorded with the rows.
    """
    if threads:
        torch.set_num_threads(threads)
    retained = retain_unless_disabled()
    print(f"threads {torch.get_num_threads()}, freed memory retained: {retained}", flush=True)
    rows = []
    for n in qubits:
        rows.append(measure_one(n))
        print(describe(rows[-1]), flush=True)
    if json_path:
        meta = {"threads": torch.get_num_threads(), "retained": retained}
        with open(json_path, "w") as fh:
            json.dump({**meta, "rows": rows}, fh, indent=2)
    return rows


if __name__ == "__main__":
    main()
