"""asv benchmarks of the quantum layer and the seed model, and their race with PennyLane.

Style as scipy's ``benchmarks/README.rst``: everything is built in ``setup`` (which also runs one
warm-up call where that doubles as the availability probe), the ``time_*`` / ``peakmem_*``
bodies only run the measured call, and cases that cannot run here raise
``NotImplementedError`` in ``setup`` so asv marks them skipped: methods not registered yet,
shots not implemented yet, PennyLane not installed, and PennyLane cases that take more than a few
seconds per call (set ``QGRADBENCH_BENCH_SLOW=1`` to run those too).

Every benchmark runs torch (and OpenMP) on one thread, so numbers are comparable between runs.
"""

from __future__ import annotations

import math
import os

import torch

from qgradbench import QuantumLayer
from qgradbench.circuits.schedule import Schedule
from qgradbench.methods import names, shot_methods

from .compare_pennylane import (
    BATCH,
    DEFAULT_SHOTS,
    PENNYLANE_PAIRS,
    Case,
    UnavailableError,
    configure_threads,
    prepare_step,
    silence_pennylane_warnings,
    speed_ratio,
)

THREADS = 1
METHODS = names()
#: Shot methods of the comparison, whether registered in qgradbench yet or not.
SHOT_METHODS = ["parameter-shift", "finite-diff", "spsa"] + [
    m for m in shot_methods() if m not in ("parameter-shift", "finite-diff", "spsa")
]
#: PennyLane cases that take about 3-4 s per step of the seed model (one tape per sample, two or
#: more circuits per parameter): skipped unless QGRADBENCH_BENCH_SLOW=1.
PENNYLANE_SLOW = ("parameter-shift", "hadamard")
#: (method, n_qubits, n_layers) of LayerForwardBackward whose forward + backward takes close to
#: a minute (hadamard at 12 qubits x 4 layers: 32 x 156 13-qubit circuits): skipped unless
#: QGRADBENCH_BENCH_SLOW=1. Parameter-shift / finite-diff there take ~13 s / ~6 s and run.
LAYER_SLOW = {("hadamard", 12, 4)}


def _prepare(backend: str, case: Case):
    """Return the warmed-up seed-model step, or raise NotImplementedError to skip."""
    configure_threads(THREADS)
    if backend == "pennylane":
        if case.pl_device is None:
            raise NotImplementedError(f"PennyLane has no counterpart of {case.label}")
        if case.pl_method in PENNYLANE_SLOW and not os.environ.get("QGRADBENCH_BENCH_SLOW"):
            raise NotImplementedError(f"PennyLane {case.pl_label} is slow (QGRADBENCH_BENCH_SLOW)")
        silence_pennylane_warnings()
    try:
        return prepare_step(backend, case)
    except (UnavailableError, ImportError) as err:
        raise NotImplementedError(str(err)) from err


def _pair(method: str, shots: int | None = None) -> Case:
    device, pl_method = PENNYLANE_PAIRS.get(method, (None, None))
    return Case(method, shots, device, pl_method)


class SeedModelStep:
    """One Adam step (zero_grad, forward, loss, backward, step) of the seed model, exact."""

    params = [METHODS]
    param_names = ["method"]

    def setup(self, method):
        self.step = _prepare("qgradbench", _pair(method))

    def time_step(self, method):
        self.step()


class SeedModelStepShots:
    """One Adam step of the seed model with a shot-based method."""

    params = [SHOT_METHODS, [DEFAULT_SHOTS]]
    param_names = ["method", "shots"]

    def setup(self, method, shots):
        self.step = _prepare("qgradbench", _pair(method, shots))

    def time_step(self, method, shots):
        self.step()


class LayerForwardBackward:
    """The quantum layer alone (batch 32, strongly entangling): forward, and forward + backward.

    ``time_forward`` runs with autograd recording, as in training. The backward pass asks for the
    gradients of both the inputs and the weights with a ones cotangent (``torch.autograd.grad``,
    so nothing accumulates between calls).
    """

    params = [METHODS, [4, 8, 12], [1, 4]]
    param_names = ["method", "n_qubits", "n_layers"]
    timeout = 300  # hardware-style rules at 12 qubits x 4 layers take ~10 s per call

    def setup(self, method, n_qubits, n_layers):
        configure_threads(THREADS)
        if (method, n_qubits, n_layers) in LAYER_SLOW and not os.environ.get(
            "QGRADBENCH_BENCH_SLOW"
        ):
            raise NotImplementedError("slow case (QGRADBENCH_BENCH_SLOW=1 runs it)")
        try:
            self.layer = QuantumLayer(n_qubits, n_layers, diff_method=method, seed=0)
        except ValueError as err:
            raise NotImplementedError(str(err)) from err
        gen = torch.Generator().manual_seed(1)
        self.x = torch.tanh(torch.randn(BATCH, n_qubits, generator=gen)).requires_grad_()
        self.wrt = (self.x, self.layer.weights)
        self.cotangent = torch.ones(BATCH, self.layer.n_outputs)
        # Warm-up on one sample: starts autograd's engine and fills the rule caches (the first
        # backward of a process costs ~0.2 s), without paying for a whole batch of a slow rule.
        out = self.layer(self.x[:1])
        torch.autograd.grad(out, self.wrt, torch.ones_like(out))

    def time_forward(self, method, n_qubits, n_layers):
        self.layer(self.x)

    def time_forward_backward(self, method, n_qubits, n_layers):
        torch.autograd.grad(self.layer(self.x), self.wrt, self.cotangent)

    def peakmem_forward_backward(self, method, n_qubits, n_layers):
        torch.autograd.grad(self.layer(self.x), self.wrt, self.cotangent)


class LayerAtScale:
    """Forward + backward of the layer from 4 to 20 qubits (batch 8, 4 strongly entangling layers).

    The large-register regime of ``benchmarks/scale.py`` (fused wire groups, the adjoint sweep
    over groups, pi-kicked hardware rules), for every method and on the CPU or a CUDA device.
    Skipped: ``cuda`` without a GPU, and the hardware-style rules (one or two circuits per
    parameter and sample) above 12 qubits, which take minutes (``QGRADBENCH_BENCH_SLOW=1``).
    Torch runs on this suite's one thread on the CPU.
    """

    params = [METHODS, [4, 8, 12, 16, 20], ["cpu", "cuda"]]
    param_names = ["method", "n_qubits", "device"]
    timeout = 600

    def setup(self, method, n_qubits, device):
        configure_threads(THREADS)
        if device == "cuda" and not torch.cuda.is_available():
            raise NotImplementedError("no CUDA device")
        try:
            self.layer = QuantumLayer(n_qubits, 4, diff_method=method, seed=0, device=device)
        except ValueError as err:
            raise NotImplementedError(str(err)) from err
        if (
            self.layer.method.family == "hardware"
            and n_qubits > 12
            and not os.environ.get("QGRADBENCH_BENCH_SLOW")
        ):
            raise NotImplementedError("slow case (QGRADBENCH_BENCH_SLOW=1 runs it)")
        gen = torch.Generator().manual_seed(1)
        x = torch.tanh(torch.randn(8, n_qubits, generator=gen))
        self.x = x.to(device).requires_grad_()
        self.wrt = (self.x, self.layer.weights)
        self.device = device
        out = self.layer(self.x[:1])  # warm-up: schedules, caches, autograd's engine
        torch.autograd.grad(out, self.wrt, torch.ones_like(out))

    def time_forward_backward(self, method, n_qubits, device):
        out = self.layer(self.x)
        torch.autograd.grad(out, self.wrt, torch.ones_like(out))
        if self.device == "cuda":
            torch.cuda.synchronize()


class ScheduleDenseVsGates:
    """Backprop through the layer's state with dense layer unitaries or gate by gate.

    The evidence behind :data:`qgradbench.circuits.schedule.DENSE_QUBITS`: the dense form wins
    where both columns are timed, up to the threshold, at small and large batches.
    """

    params = [[3, 4, 5, 6, 7, 8], [32, 1024], ["dense", "gates"]]
    param_names = ["n_qubits", "batch", "schedule"]

    def setup(self, n_qubits, batch, schedule):
        configure_threads(THREADS)
        layer = QuantumLayer(n_qubits, 4, seed=0)
        self.schedule = Schedule(layer.circuit, n_qubits, 64 if schedule == "dense" else 0)
        gen = torch.Generator().manual_seed(1)
        self.x = (math.pi * torch.rand(batch, n_qubits, generator=gen)).requires_grad_()
        self.weights = layer.weights.detach().reshape(-1).requires_grad_()

    def time_forward_backward(self, n_qubits, batch, schedule):
        state = self.schedule.run(self.x, self.weights)
        torch.autograd.grad(torch.view_as_real(state).sum(), (self.x, self.weights))


class PennyLaneSeedModelStep:
    """PennyLane's side of each pair (``TorchLayer``), same seed model and step, exact.

    The parameter is the qgradbench method the PennyLane configuration is paired with (see
    ``compare_pennylane.PENNYLANE_PAIRS``), so results line up with :class:`SeedModelStep`.
    """

    params = [list(PENNYLANE_PAIRS)]
    param_names = ["method"]
    timeout = 180

    def setup(self, method):
        self.step = _prepare("pennylane", _pair(method))

    def time_step(self, method):
        self.step()


class PennyLaneSeedModelStepShots:
    """PennyLane's side of the shot pairs (``QNode(shots=N)`` on a seeded ``default.qubit``)."""

    params = [[m for m in SHOT_METHODS if m in PENNYLANE_PAIRS], [DEFAULT_SHOTS]]
    param_names = ["method", "shots"]
    timeout = 180

    def setup(self, method, shots):
        self.step = _prepare("pennylane", _pair(method, shots))

    def time_step(self, method, shots):
        self.step()


class PennyLaneRatio:
    """PennyLane time / qgradbench time of one seed-model step, both measured in ``setup``.

    Medians over 7 steps each after a warm-up, in the same process; a ratio above 1 means
    qgradbench is faster.
    """

    params = [["backprop", "adjoint"]]
    param_names = ["method"]
    unit = "PennyLane/qgradbench"
    timeout = 120

    def setup(self, method):
        configure_threads(THREADS)
        silence_pennylane_warnings()
        try:
            self.ratio = speed_ratio(method, repeats=7)
        except (UnavailableError, ImportError) as err:
            raise NotImplementedError(str(err)) from err

    def track_step_ratio(self, method):
        return self.ratio
