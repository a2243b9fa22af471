"""The quantum layer from a plain script, with and without ``retain_freed_memory()``.

Each case runs in a fresh process (so the malloc setting of one cannot leak into the other),
the two modes alternating: ``QuantumLayer(n, layers)`` on a batch, forward without gradients,
a backprop step and an adjoint step (``loss.backward()``). Per case it reports the median wall
time, the minor page faults per call (``ru_minflt``: each is a fresh page the kernel zeroed),
and the process's peak RSS, as JSON. One torch and OpenMP thread.

    python benchmarks/plain_script.py                  # 20 qubits, batch 8, 4 layers
    python benchmarks/plain_script.py --qubits 16 --repeat 5 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

CASES = ("forward", "backprop", "adjoint")


def _worker(args) -> dict:
    """One mode in this process: time each case, count its page faults."""
    import torch

    import qgradbench

    torch.set_num_threads(1)
    if args.mode == "retained":
        qgradbench.retain_freed_memory()
    torch.manual_seed(0)
    x = torch.rand(args.batch, args.qubits)
    out = {}
    for case in CASES:
        method = "adjoint" if case == "adjoint" else "backprop"
        layer = qgradbench.QuantumLayer(args.qubits, args.layers, diff_method=method, seed=0)

        def call(layer=layer, case=case):
            if case == "forward":
                with torch.no_grad():
                    return layer(x)
            layer.zero_grad()
            layer(x).sum().backward()
            return None

        call()  # warm-up: schedules, caches
        times, faults = [], []
        for _ in range(args.repeat):
            before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            start = time.perf_counter()
            call()
            times.append(time.perf_counter() - start)
            faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
        out[case] = {"seconds": statistics.median(times), "minflt": statistics.median(faults)}
    out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def _spawn(args, mode: str) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env["QGRADBENCH_RETAIN_FREED_MEMORY"] = "0"
    cmd = [sys.executable, __file__, "--worker", mode, "--qubits", str(args.qubits)]
    cmd += ["--batch", str(args.batch), "--layers", str(args.layers), "--repeat", str(args.repeat)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{mode} worker failed ({done.returncode}):\n{done.stderr}")
    return json.loads(done.stdout)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qubits", type=int, default=20)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3, help="calls per case and process")
    parser.add_argument("--rounds", type=int, default=2, help="process pairs, alternating")
    parser.add_argument("--json", help="also write the result here")
    parser.add_argument("--worker", choices=("plain", "retained"), help=argparse.SUPPRESS)
    parser.add_argument("--mode", dest="mode", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        args.mode = args.worker
        print(json.dumps(_worker(args)))
        return 0
    runs = {"plain": [], "retained": []}
    for _ in range(args.rounds):
        for mode in runs:
            runs[mode].append(_spawn(args, mode))
    result = {"qubits": args.qubits, "batch": args.batch, "layers": args.layers}
    for mode, rows in runs.items():
        result[mode] = {
            case: {
                key: statistics.median(row[case][key] for row in rows)
                for key in ("seconds", "minflt")
            }
            for case in CASES
        }
        result[mode]["peak_rss_mib"] = max(row["peak_rss_mib"] for row in rows)
    result["ratio_plain_over_retained"] = {
        case: result["plain"][case]["seconds"] / result["retained"][case]["seconds"]
        for case in CASES
    }
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        with open(args.json, "w") as handle:
            handle.write(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
