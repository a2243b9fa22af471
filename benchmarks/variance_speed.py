"""Speed of the barren-plateau sweep against the memory-bandwidth bound of the same machine.

For each qubit count n, one subprocess (so that its peak resident memory is its own) runs the
variance measurement of ``qgradbench run variance --layers-per-qubit K --samples S --param
first --method adjoint`` and reports its wall time and peak RSS. In the same run the machine's
copy bandwidth is measured (``torch`` copy of a 512 MiB buffer, best of 5), and the time it
would take to move the batch's states through every gate at that bandwidth is the bound:

    passes = forward stages + sweep stages   (the first weight is in the leading blocks:
                                              the adjoint sweep carries lambda alone)
    bound  = passes x 2 x (samples x 2^n x bytes per amplitude) / bandwidth

(each pass reads and writes the states once; a stage is a fused block layer, a CZ ladder, or a
single block, as the engine's schedule runs them). ``ratio = time / bound``: 1 would be one
pass per stage at the copy bandwidth.

    python benchmarks/variance_speed.py --qubits 2 4 6 8 10 --layers-per-qubit 10 --samples 2000
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import torch


def copy_bandwidth(mib: int = 512, repeats: int = 5) -> float:
    """Bytes per second of ``dst.copy_(src)`` (read + write counted), best of ``repeats``."""
    src = torch.empty(mib * 2**20 // 4, dtype=torch.float32).fill_(1.0)
    dst = torch.empty_like(src)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        dst.copy_(src)
        best = min(best, time.perf_counter() - t0)
    return 2 * src.numel() * 4 / best


def one(n: int, layers_per_qubit: int, samples: int, threads: int) -> dict:
    """Time one variance row in this process; return time, stages and peak RSS."""
    torch.set_num_threads(threads)
    from qgradbench.experiments.variance import VarianceSpec, sample_gradients
    from qgradbench.memory import retain_unless_disabled

    retain_unless_disabled()  # as the command line does

    spec = VarianceSpec(n_qubits=n, layers_per_qubit=layers_per_qubit, samples=samples)
    sample_gradients(VarianceSpec(n_qubits=n, n_layers=1, samples=2))  # warm-up
    t0 = time.perf_counter()
    result = sample_gradients(spec)
    seconds = time.perf_counter() - t0
    schedule = spec.ensemble().circuit.schedule(spec.ensemble().circuit.n_params)
    stages = len(schedule.stages)
    return {
        "n_qubits": n,
        "n_layers": spec.layers,
        "samples": samples,
        "seconds": seconds,
        "estimate_seconds": result.seconds,
        "stages": stages,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "threads": torch.get_num_threads(),
    }


def main() -> None:
    """Run the sweep and print one JSON line per qubit count, then the summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qubits", type=int, nargs="+", default=[2, 4, 6, 8, 10])
    parser.add_argument("--layers-per-qubit", type=int, default=10)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(one(args.one, args.layers_per_qubit, args.samples, args.threads)))
        return
    torch.set_num_threads(args.threads)
    bandwidth = copy_bandwidth()
    rows = []
    for n in args.qubits:
        out = subprocess.run(
            [sys.executable, __file__, "--one", str(n), "--layers-per-qubit",
             str(args.layers_per_qubit), "--samples", str(args.samples), "--threads",
             str(args.threads)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        row = json.loads(out.stdout.strip().splitlines()[-1])
        state_bytes = args.samples * 2**n * 8  # complex64
        passes = 2 * row["stages"]  # forward + lambda alone through the sweep
        row["bound_seconds"] = passes * 2 * state_bytes / bandwidth
        row["ratio_to_bound"] = row["estimate_seconds"] / row["bound_seconds"]
        row["copy_bandwidth_gb_s"] = bandwidth / 1e9
        rows.append(row)
        print(json.dumps(row), flush=True)
    total = sum(r["seconds"] for r in rows)
    print(f"total {total:.1f} s over n = {args.qubits}; copy bandwidth {bandwidth / 1e9:.1f} GB/s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "total_seconds": total}, f, indent=2)


if __name__ == "__main__":
    main()
