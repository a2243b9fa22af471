#!/usr/bin/env python
"""How fast can autograd backprop the seed circuit at all? A hand-written floor for the layer.

The seed model's quantum layer (4 qubits, ``RY(pi x_i)`` encoding, two strongly entangling
layers, ``<Z_i>`` on every qubit, batch 32, complex64) written out by hand in a few PyTorch
operations, with nothing of qgradbench's engine: the encoding and the first layer's ``Rot``
gates as one product state, the second layer's ``Rot`` gates as one dense ``16 x 16`` Kronecker
product, both CNOT rings as fixed permutations, the outputs as one product with the ``Z``
table. Its values and gradients are checked against ``QuantumLayer`` first. It is one circuit's
code, not a simulator: no other circuit, no batching rules, no checks. Timing it beside the
layer (forward and backward through autograd, in alternating turns) says how much of the
layer's time is the engine's and how much autograd's own cost per operation, and so bounds
what backprop can reach on this model with autograd: the whole step (classical layers and
Adam included) with the hand-written circuit is the fastest autograd-backprop step there is to
compare with PennyLane's.

Usage::

    python benchmarks/autograd_floor.py [--turns T] [--per N] [--pl-per M] [--no-pennylane]
                                        [--threads 1] [--json OUT]

PennyLane's step (``default.qubit``, backprop) runs in the same turns, ``M`` steps a turn, so
that the floor's ratio to it comes from one run.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.compare_pennylane import (  # noqa: E402
    ADAM_VARIANTS,
    N_LAYERS,
    N_QUBITS,
    PENNYLANE_PAIRS,
    build_seed_model,
    configure_threads,
    make_batch,
    make_step,
    refuse_counts_below_one,
)

N_STATES = 2**N_QUBITS


def _bits() -> torch.Tensor:
    """``bits[w, s]``: wire ``w``'s bit of basis state ``s`` (wire 0 the most significant)."""
    s = torch.arange(N_STATES)
    return torch.stack([(s >> (N_QUBITS - 1 - w)) & 1 for w in range(N_QUBITS)])


def _cnot_ring(layer: int) -> torch.Tensor:
    """Gather index of the CNOT ring ``CNOT(i, i + r mod n)`` of ``StronglyEntanglingLayers``.

    ``(U psi)[s] = psi[source[s]]`` for the whole ring (each CNOT is its own inverse).
    """
    r = layer % (N_QUBITS - 1) + 1
    source = torch.arange(N_STATES)
    for control in reversed(range(N_QUBITS)):  # the ring's inverse, applied to the index
        target = (control + r) % N_QUBITS
        c_bit = (source >> (N_QUBITS - 1 - control)) & 1
        source = source ^ (c_bit << (N_QUBITS - 1 - target))
    return source


class SeedWeights(nn.Module):
    """A hand-written seed layer's weights, a copy of the layer's.

    Args:
        weights: the layer's weights ``(N_LAYERS, N_QUBITS, 3)`` (``Rot(phi, theta, omega)``).
    """

    def __init__(self, weights: torch.Tensor):
        super().__init__()
        if N_LAYERS != 2:
            raise ValueError(f"written for 2 layers, got N_LAYERS = {N_LAYERS}")
        self.weights = nn.Parameter(weights.detach().clone())


class HandWrittenSeedCircuit(SeedWeights):
    """The seed layer's circuit in a handful of autograd operations (module docstring).

    Args:
        weights: the layer's weights ``(N_LAYERS, N_QUBITS, 3)`` (``Rot(phi, theta, omega)``).
    """

    def __init__(self, weights: torch.Tensor):
        super().__init__(weights)
        bits = _bits()
        self.register_buffer("column", (2 * torch.arange(N_QUBITS)[:, None] + bits).flatten())
        kron = torch.stack(
            [4 * w + 2 * bits[w][:, None] + bits[w][None, :] for w in range(N_QUBITS)]
        )
        ring0, ring1 = _cnot_ring(0), _cnot_ring(1)
        # U = ring1 . (Rot_0 (x) ... (x) Rot_3) . ring0 as one gather of the gates' entries
        self.register_buffer("kron", kron[:, ring1][:, :, torch.argsort(ring0)].flatten())
        self.register_buffer("z", (1.0 - 2.0 * bits).repeat_interleave(2, 1).T.contiguous())

    @staticmethod
    def rot(w: torch.Tensor) -> torch.Tensor:
        """``Rot(phi, theta, omega) = RZ(omega) RY(theta) RZ(phi)``, ``(..., 2, 2)`` complex64."""
        phi, theta, omega = w.unbind(-1)
        c, s = torch.cos(theta / 2), torch.sin(theta / 2)
        a = torch.polar(torch.ones_like(phi), -(phi + omega) / 2)  # e^{-i(phi+omega)/2}
        b = torch.polar(torch.ones_like(phi), (phi - omega) / 2)  # e^{ i(phi-omega)/2}
        return torch.stack([a * c, -b * s, b.conj() * s, a.conj() * c], -1).unflatten(-1, (2, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``<Z_i>`` ``(B, N_QUBITS)`` for inputs ``x`` ``(B, N_QUBITS)``."""
        half = (0.5 * math.pi) * x
        ry0 = torch.complex(torch.cos(half), torch.zeros_like(half))
        ry1 = torch.complex(torch.sin(half), torch.zeros_like(half))
        encoded = torch.stack([ry0, ry1], -1)  # RY(pi x)|0> per wire, (B, n, 2)
        gates = self.rot(self.weights)  # (2, n, 2, 2)
        columns = (gates[0] * encoded.unsqueeze(-2)).sum(-1)  # Rot_1 RY|0>, (B, n, 2)
        state = columns.flatten(-2)[:, self.column].unflatten(-1, (N_QUBITS, -1)).prod(-2)
        unitary = gates[1].flatten()[self.kron].unflatten(0, (N_QUBITS, N_STATES, -1)).prod(0)
        state = state @ unitary.T
        parts = torch.view_as_real(state).flatten(-2)
        return (parts * parts) @ self.z


def check_against_layer(layer: nn.Module, hand: nn.Module, x: torch.Tensor) -> float:
    """Largest difference of values and gradients (inputs and weights) between the two."""
    worst = 0.0
    xs = [x.clone().requires_grad_(), x.clone().requires_grad_()]
    outs = [module(xi) for module, xi in zip((layer, hand), xs, strict=True)]
    probe = torch.linspace(0.5, 1.5, N_QUBITS)
    grads = []
    for module, xi, out in zip((layer, hand), xs, outs, strict=True):
        weights = module.weights
        grads.append(torch.autograd.grad((out * probe).sum(), (xi, weights)))
    worst = max(worst, float((outs[0] - outs[1]).detach().abs().max()))
    for a, b in zip(*grads, strict=True):
        worst = max(worst, float((a - b.reshape(a.shape)).abs().max()))
    return worst


def time_turns(cases: dict, turns: int, per: int | dict) -> dict:
    """Median per-call seconds of each case, the cases in alternating turns of ``per`` calls.

    ``per``: calls per turn, for every case or by case name (a PennyLane step takes ten to a
    hundred times ours: fewer of them keep its turns about as long).
    """
    counts = per if isinstance(per, dict) else dict.fromkeys(cases, per)
    times = {name: [] for name in cases}
    for f in cases.values():
        for _ in range(min(20, max(counts.values()))):
            f()
    for _ in range(turns):
        for name, f in cases.items():
            start = time.perf_counter()
            for _ in range(counts[name]):
                f()
            times[name].append((time.perf_counter() - start) / counts[name])
    return {name: statistics.median(values) for name, values in times.items()}


def floor_cases(
    method: str, model: nn.Module, hand: nn.Module, x: torch.Tensor, per: int, pl_per: int | None
) -> tuple[dict, dict]:
    """The timed cases of a floor run of ``method`` and their calls per turn.

    The layer's (``model[4]``) and ``hand``'s forward and backward alone on inputs ``x``; then
    for each Adam variant one step of the seed ``model``, of it with ``hand`` in the layer's
    place, with the classical layers only, and (``pl_per`` calls a turn, unless ``None``) with
    PennyLane's counterpart of ``method`` (``PENNYLANE_PAIRS``), so that the floor's ratio to
    PennyLane is measured in the same turns as the layer's.
    """
    layer = model[4]
    hand_model = build_seed_model("qgradbench", method)
    hand_model[4] = hand
    classical = build_seed_model("qgradbench", method)
    classical[4] = nn.Identity()
    X, y = make_batch(0)
    xg = x.clone().requires_grad_()
    cases = {
        "layer forward+backward": lambda: layer(xg).sum().backward(),
        "hand-written forward+backward": lambda: hand(xg).sum().backward(),
    }
    counts = dict.fromkeys(cases, per)
    device, pl_method = PENNYLANE_PAIRS[method]
    for adam in ADAM_VARIANTS:
        steps = {
            f"step, layer, {adam} Adam": make_step(model, X, y, adam=adam),
            f"step, hand-written, {adam} Adam": make_step(hand_model, X, y, adam=adam),
            f"step, classical only, {adam} Adam": make_step(classical, X, y, adam=adam),
        }
        counts.update(dict.fromkeys(steps, per))
        if pl_per is not None:
            pl_model = build_seed_model("pennylane", pl_method, pl_device=device)
            name = f"step, PennyLane {device}/{pl_method}, {adam} Adam"
            steps[name] = make_step(pl_model, X, y, adam=adam)
            counts[name] = pl_per
        cases.update(steps)
    return cases, counts


def floor_main(argv, description: str, method: str, make_hand) -> int:
    """The command line of a floor script (this one, ``adjoint_floor.py``) for ``method``.

    ``make_hand(weights)`` builds the hand-written layer from the layer's weights
    ``(N_LAYERS, N_QUBITS, 3)``; it is checked against the layer before anything is timed.
    """
    parser = argparse.ArgumentParser(description=description.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=15)
    parser.add_argument("--per", type=int, default=100)
    parser.add_argument("--pl-per", type=int, default=5, help="PennyLane steps per turn")
    parser.add_argument(
        "--pennylane",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also time PennyLane's step in the same turns (default: yes)",
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    refuse_counts_below_one(parser, args, ("turns", "per", "pl_per", "threads"))
    configure_threads(args.threads)

    model = build_seed_model("qgradbench", method)
    layer = model[4]
    hand = make_hand(layer.weights.detach().reshape(N_LAYERS, N_QUBITS, 3))
    x = torch.tanh(torch.randn(32, N_QUBITS, generator=torch.Generator().manual_seed(1)))
    worst = check_against_layer(layer, hand, x)
    if worst > 1e-5:
        print(f"the hand-written layer disagrees with the layer by {worst:.2e}", file=sys.stderr)
        return 1
    pl_per = args.pl_per if args.pennylane else None
    cases, counts = floor_cases(method, model, hand, x, args.per, pl_per)
    medians = time_turns(cases, args.turns, counts)

    print(f"values and gradients agree to {worst:.1e}; torch threads {args.threads}")
    for name, seconds in medians.items():
        print(f"  {name:52s} {seconds * 1e6:10.1f} us")
    ratios = floor_ratios(medians)
    for name, ratio in ratios.items():
        print(f"  {name:52s} {ratio:10.1f}x")
    if args.json:
        record = {
            "machine": platform.platform(),
            "torch": torch.__version__,
            "method": method,
            "threads": args.threads,
            "turns": args.turns,
            "per_turn": counts,
            "max_difference": worst,
            "median_us": {k: v * 1e6 for k, v in medians.items()},
            "pennylane_ratio": ratios,
        }
        args.json.write_text(json.dumps(record, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


def floor_ratios(medians: dict) -> dict:
    """PennyLane's step over the layer's and the hand-written one's, per Adam variant."""
    ratios = {}
    for adam in ADAM_VARIANTS:
        pl = [
            v
            for k, v in medians.items()
            if k.startswith("step, PennyLane") and k.endswith(f", {adam} Adam")
        ]
        if pl:
            for side in ("layer", "hand-written"):
                ratios[f"PennyLane / {side}, {adam} Adam"] = (
                    pl[0] / medians[f"step, {side}, {adam} Adam"]
                )
    return ratios


def main(argv: list[str] | None = None) -> int:  # noqa: D103
    return floor_main(argv, __doc__, "backprop", HandWrittenSeedCircuit)


if __name__ == "__main__":
    sys.exit(main())
