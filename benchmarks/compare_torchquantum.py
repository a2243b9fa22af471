"""Backprop training step of the layer, qgradbench against TorchQuantum 0.1.8, side by side.

The same circuit on both sides (encoding ``RY(pi x_i)``, then ``L`` strongly entangling
layers: ``Rot`` on every wire and a ring of CNOTs at range ``l mod (n - 1) + 1``, then
``<Z_i>`` of every wire), the same weights and inputs: the script first checks that outputs
and weight gradients agree (complex64: to 1e-4), then times one training step (zero_grad,
forward, mean-squared loss, backward, Adam step) alternately on each side, ``--repeat`` times,
and reports medians and the ratio TorchQuantum / qgradbench (above 1: qgradbench is faster)::

    python benchmarks/compare_torchquantum.py --qubits 12 16 --batch 32 --layers 4 --threads 2

TorchQuantum is not a dependency: install it beside torch 2.13 without its pins (``pip install
--no-deps torchquantum==0.1.8`` plus the modules it imports; its torchvision import only needs
a stub). Freed memory is retained for both sides alike, as in the command line.
"""

from __future__ import annotations

import math
import statistics
import sys
import time
from pathlib import Path

import torch

from qgradbench import QuantumLayer

sys.path.insert(0, str(Path(__file__).parent))
from scale import sweep, sweep_arguments  # noqa: E402 (a script beside this one)


def torchquantum_layer(n: int, layers: int):
    """The layer's circuit as a TorchQuantum module (backprop through its state vector)."""
    import torchquantum as tq
    import torchquantum.functional as tqf

    class Layer(tq.QuantumModule):
        def __init__(self):
            super().__init__()
            self.rots = tq.QuantumModuleList(
                [tq.Rot(has_params=True, trainable=True) for _ in range(n * layers)]
            )

        def forward(self, x):
            qdev = tq.QuantumDevice(n_wires=n, bsz=x.shape[0], device=x.device)
            for wire in range(n):
                tqf.ry(qdev, wires=wire, params=math.pi * x[:, wire])
            for layer in range(layers):
                for wire in range(n):
                    self.rots[layer * n + wire](qdev, wires=wire)
                if n > 1:
                    r = layer % (n - 1) + 1
                    for wire in range(n):
                        tqf.cnot(qdev, wires=[wire, (wire + r) % n])
            return tq.expval(qdev, list(range(n)), [tq.PauliZ()] * n)

        def load(self, weights: torch.Tensor) -> None:
            """Copy qgradbench's weights ``(L, n, 3)`` (phi, theta, omega per Rot)."""
            with torch.no_grad():
                for k, rot in enumerate(self.rots):
                    rot.params.copy_(weights.reshape(-1, 3)[k].reshape(rot.params.shape))

        def weight_grad(self) -> torch.Tensor:
            return torch.stack([rot.params.grad.reshape(3) for rot in self.rots])

    return Layer()


def _step(model, x, target, opt):
    opt.zero_grad()
    loss = torch.nn.functional.mse_loss(model(x), target)
    loss.backward()
    opt.step()


def agreement(ours: QuantumLayer, theirs, x: torch.Tensor) -> dict:
    """Largest differences of outputs and of the weights' gradients (of the outputs' sum)."""
    theirs.load(ours.weights.detach())
    out_ours, out_theirs = ours(x), theirs(x)
    out_ours.sum().backward()
    out_theirs.sum().backward()
    grad_ours = ours.weights.grad.reshape(-1, 3)
    diff = {
        "output": (out_ours - out_theirs).abs().max().item(),
        "weight_grad": (grad_ours - theirs.weight_grad()).abs().max().item(),
    }
    ours.zero_grad()
    theirs.zero_grad()
    return diff


def measure(n: int, layers: int, batch: int, repeat: int) -> dict:
    """Check agreement, then time alternating steps; medians in seconds."""
    gen = torch.Generator().manual_seed(n)
    x = torch.rand(batch, n, generator=gen) * 2 - 1
    target = torch.rand(batch, n, generator=gen) * 2 - 1
    ours = QuantumLayer(n, layers, diff_method="backprop", seed=0)
    theirs = torchquantum_layer(n, layers)
    diff = agreement(ours, theirs, x)
    if max(diff.values()) > 1e-4:
        raise SystemExit(f"the two layers disagree at {n} qubits: {diff}")
    sides = {
        "qgradbench": (ours, torch.optim.Adam(ours.parameters(), lr=0.01)),
        "torchquantum": (theirs, torch.optim.Adam(theirs.parameters(), lr=0.01)),
    }
    times: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(repeat + 1):  # the first round warms up
        for name, (model, opt) in sides.items():
            start = time.perf_counter()
            _step(model, x, target, opt)
            times[name].append(time.perf_counter() - start)
    med = {name: statistics.median(t[1:]) for name, t in times.items()}
    return {
        "n_qubits": n,
        "layers": layers,
        "batch": batch,
        "qgradbench_s": med["qgradbench"],
        "torchquantum_s": med["torchquantum"],
        "ratio": med["torchquantum"] / med["qgradbench"],
        "max_output_diff": diff["output"],
        "max_weight_grad_diff": diff["weight_grad"],
    }


def main() -> None:  # noqa: D103
    args = sweep_arguments(__doc__, qubits=[4, 12, 16], batch=32)

    def describe(row):
        return (
            f"n={row['n_qubits']:2d} L={row['layers']} B={row['batch']}:"
            f" qgradbench {row['qgradbench_s'] * 1e3:.1f} ms,"
            f" TorchQuantum {row['torchquantum_s'] * 1e3:.1f} ms, ratio {row['ratio']:.1f}x"
            f" (outputs agree to {row['max_output_diff']:.1e})"
        )

    sweep(
        args.qubits,
        lambda n: measure(n, args.layers, args.batch, args.repeat),
        describe,
        args.threads,
        args.json,
    )


if __name__ == "__main__":
    main()
