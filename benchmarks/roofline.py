"""Forward, backprop and adjoint against both roofline limits, measured in the same run.

Limits (Williams, Waterman and Patterson, CACM 2009): *memory*, the bytes the fused schedule
must move (:meth:`qgradbench.circuits.schedule.Schedule.traffic`) over the machine's copy
bandwidth; *compute*, its complex multiply-adds over the rate of the group products (the
schedule's widest group, ``2**k x 2**k`` blocks, measured on data in cache). Both rates are
measured in this process before the cases (:mod:`qgradbench.engine.roofline`) and again after
them, and the larger of each pair is the limit (the attainable peak; the two show the load's
drift). A case is bound by the larger of its two limits; ``measured / bound`` says how far from
it the engine runs. The strongly entangling layer (encoding RY, ``--layers`` layers of Rot and a
CNOT ring), ``z-each`` measured, complex64, cases timed as ``scale.py`` times them (one at a
time, warm-up runs first, medians). ::

    python benchmarks/roofline.py --qubits 16 18 20 --batch 8 --threads 1 --json roofline.json
    python benchmarks/roofline.py --qubits 20 --widths 2 3 4 5 6   # forward per group width

``--widths`` also times the no-grad forward at each group width (``Circuit.schedule(...,
block_wires=k)``) next to the model's time for it, and prints the width the model chooses
(:func:`qgradbench.engine.roofline.choose_block_wires`) from the rates just measured.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from scale import measure as time_cases  # noqa: E402 (a script beside this one)
from scale import sweep, sweep_arguments  # noqa: E402

from qgradbench import QuantumLayer  # noqa: E402
from qgradbench.engine import roofline  # noqa: E402

CASES = ("forward", "backprop", "adjoint")


def machine_rates() -> dict:
    """Copy bandwidth (bytes/s) and each width's group-product rate (MAC/s), measured now."""
    with torch.no_grad():
        return {
            "bandwidth": roofline.measure_bandwidth(),
            "rates": {w: roofline.measure_mac_rate(w) for w in roofline.WIDTHS},
        }


def peak(first: dict, second: dict) -> dict:
    """The larger of two measurements of each rate."""
    return {
        "bandwidth": max(first["bandwidth"], second["bandwidth"]),
        "rates": {w: max(first["rates"][w], second["rates"][w]) for w in first["rates"]},
    }


def width_sweep(layer, x, widths, rates, repeat: int) -> list[dict]:
    """No-grad forward (the run) at each group width, with the model's time for its layers."""
    circuit = layer.execution.circuit
    n = circuit.n_qubits
    with torch.no_grad():
        x, weights = layer.angle_map(x, layer.weights.detach().reshape(-1))
    rows = []
    for width in widths:
        schedule = circuit.schedule(x.shape[-1], block_wires=width)
        traffic = schedule.traffic(x.shape[0], torch.complex64, "forward", 1)
        times = []
        with torch.no_grad():
            schedule.run(x, weights)
            for _ in range(repeat):
                start = time.perf_counter()
                schedule.run(x, weights)
                times.append(time.perf_counter() - start)
        layers = len(schedule.fused_layers)
        model = (
            layers
            * x.shape[0]
            * 2**n
            * roofline.layer_time(n, width, rates["bandwidth"], rates["rates"])
        )
        rows.append(
            {
                "width": width,
                "run_s": statistics.median(times),
                "fused_layers": layers,
                "fused_model_s": model,
                "traffic_gb": traffic.bytes / 1e9,
                "gmac": traffic.macs / 1e9,
            }
        )
    return rows


def measure(n: int, batch: int, layers: int, repeat: int, widths) -> dict:
    """Both limits and the measured time of each case at ``n`` qubits."""
    before = machine_rates()
    timed = time_cases(n, batch, layers, repeat)
    layer = QuantumLayer(n, layers, seed=0)
    schedule = layer.execution.circuit.schedule(n)
    after = machine_rates()
    rates = peak(before, after)
    width = schedule.block_wires
    rate = rates["rates"][min(width, max(rates["rates"]))]
    cases = {}
    for case in CASES:
        traffic = schedule.traffic(batch, torch.complex64, case, layer.n_outputs)
        memory, compute = traffic.seconds(rates["bandwidth"], rate)
        measured = timed[f"{case}_s"]
        cases[case] = {
            "measured_s": measured,
            "bytes": traffic.bytes,
            "macs": traffic.macs,
            "memory_s": memory,
            "compute_s": compute,
            "binds": "memory" if memory >= compute else "compute",
            "over_bound": measured / max(memory, compute),
        }
    out = {
        "n_qubits": n,
        "batch": batch,
        "layers": layers,
        "block_wires": width,
        "bandwidth_gb_s": [before["bandwidth"] / 1e9, after["bandwidth"] / 1e9],
        "rate_gmac_s": {
            str(w): [before["rates"][w] / 1e9, after["rates"][w] / 1e9] for w in roofline.WIDTHS
        },
        "chosen_width": roofline.choose_block_wires(n, rates["bandwidth"], rates["rates"]),
        "cases": cases,
    }
    if widths:
        gen = torch.Generator().manual_seed(0)
        x = torch.rand(batch, n, generator=gen) * 2 - 1
        out["widths"] = width_sweep(layer, x, widths, rates, repeat)
    return out


def describe(row: dict) -> str:  # noqa: D103
    bw = row["bandwidth_gb_s"]
    rate = row["rate_gmac_s"][str(row["block_wires"])]
    lines = [
        f"n={row['n_qubits']} B={row['batch']} L={row['layers']}: copy {bw[0]:.1f}/{bw[1]:.1f} "
        f"GB/s, {row['block_wires']}-wire group product {rate[0]:.2f}/{rate[1]:.2f} GMAC/s "
        f"(before/after); model's width {row['chosen_width']}",
        "  case      measured   memory-bound (GB)    compute-bound (GMAC)  binds    measured/bound",
    ]
    for case, c in row["cases"].items():
        lines.append(
            f"  {case:9s} {c['measured_s']:7.3f} s  {c['memory_s']:7.3f} s"
            f" ({c['bytes'] / 1e9:6.2f})  {c['compute_s']:7.3f} s ({c['macs'] / 1e9:6.2f})"
            f"   {c['binds']:8s} "
            f"{c['over_bound']:5.2f}"
        )
    for w in row.get("widths", []):
        lines.append(
            f"  width {w['width']}: run {w['run_s']:.3f} s, its {w['fused_layers']} fused layers "
            f"by the model {w['fused_model_s']:.3f} s"
        )
    return "\n".join(lines)


def main() -> None:  # noqa: D103
    def options(parser):
        parser.add_argument("--widths", type=int, nargs="*", default=[])

    args = sweep_arguments(__doc__, qubits=[16, 18, 20], batch=8, extra=options, layers=4)
    sweep(
        args.qubits,
        lambda n: measure(n, args.batch, args.layers, args.repeat, args.widths),
        describe,
        args.threads,
        args.json,
    )


if __name__ == "__main__":
    main()
