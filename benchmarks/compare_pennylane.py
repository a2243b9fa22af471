#!/usr/bin/env python
"""Race qgradbench's ``QuantumLayer`` against PennyLane's ``qml.qnn.TorchLayer`` on the seed model.

The seed model is ``Linear(4, 16), ReLU, Linear(16, 4), Tanh, <quantum layer: 4 qubits, 2
layers>, Linear(4, 16), ReLU, Linear(16, 2)``, trained on batches of 32 with cross-entropy and
``Adam(lr=0.01)``. One *step* is ``zero_grad`` + forward + loss + backward + ``optimizer.step``.
Both sides run the same circuit: ``RY(pi * x_i)`` on qubit ``i``, then
``qml.StronglyEntanglingLayers`` (default ranges), measuring ``<Z_i>`` on every qubit, in
float32 / complex64, with the same classical weights and the same initial quantum weights.

Pairs (qgradbench method vs PennyLane configuration)::

    backprop                 default.qubit    diff_method="backprop"
    adjoint                  lightning.qubit  diff_method="adjoint"
    parameter-shift          default.qubit    diff_method="parameter-shift"  (+ broadcast_expand)
    finite-diff              default.qubit    diff_method="finite-diff"      (+ broadcast_expand)
    <method> @ shots=N       default.qubit    QNode(shots=N), for parameter-shift, finite-diff, spsa

PennyLane 0.45 cannot differentiate a *broadcasted* tape (a batch of inputs fed as one tape)
with respect to the broadcasted parameters by a gradient transform (parameter-shift,
finite-diff, spsa, hadamard raise ``NotImplementedError``, PennyLane issue #4462), so those
QNodes are wrapped in ``qml.transforms.broadcast_expand``, which splits the batch into one tape
per sample. Shots are set with the QNode's ``shots=`` keyword (equivalently
``qml.set_shots(qnode, shots=N)``; a device-level ``shots=`` is deprecated), and the device is
seeded. For the shot finite-diff and spsa cases PennyLane gets qgradbench's default step
(``N**(-1/(2(p+1)))``: 0.18 for forward differences, 0.32 for SPSA's central ones at 1000 shots)
instead of its exact-mode ``h`` of ``1e-7`` / ``1e-5``: the cost is the same, but the gradients
stay sane for Adam. Both sides' SPSA is central (order 2) with one Rademacher direction.

Usage::

    python benchmarks/compare_pennylane.py [--repeat R] [--shots N] [--threads T]
                                           [--budget SECONDS] [--json OUT]

Each case runs one warm-up step, then up to ``R`` timed steps, stopping early once the case has
spent ``--budget`` seconds (at least one timed step always runs); the median is reported.
The functions here (:func:`build_seed_model`, :func:`make_step`, :func:`measure_steps`, ...) are
reused by the asv suite (``bench_layer.py``) and the pytest-benchmark file (``test_speed.py``).
Nothing here is named ``time_*`` / ``track_*`` / ``peakmem_*``, so asv does not mistake it for a
benchmark.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from qgradbench.memory import retain_unless_disabled

N_QUBITS = 4
N_LAYERS = 2
BATCH = 32
LR = 0.01
DEFAULT_SHOTS = 1000
DEFAULT_REPEAT = 25
DEFAULT_BUDGET_S = 15.0

#: PennyLane configuration paired with each qgradbench method: (device, diff_method).
PENNYLANE_PAIRS: dict[str, tuple[str, str]] = {
    "backprop": ("default.qubit", "backprop"),
    "adjoint": ("lightning.qubit", "adjoint"),
    "parameter-shift": ("default.qubit", "parameter-shift"),
    "finite-diff": ("default.qubit", "finite-diff"),
    "spsa": ("default.qubit", "spsa"),
    "hadamard": ("default.qubit", "hadamard"),
}

#: PennyLane diff_methods that are gradient transforms: they need ``broadcast_expand``.
_TRANSFORM_METHODS = ("parameter-shift", "finite-diff", "spsa", "hadamard")

#: Pairs always shown, available in qgradbench or not (the brief's list).
_EXACT_CASES = ("backprop", "adjoint", "parameter-shift", "finite-diff")
_SHOT_CASES = ("parameter-shift", "finite-diff", "spsa")


class UnavailableError(Exception):
    """A case that cannot run here (method not registered, shots not implemented, ...)."""


@dataclass(frozen=True)
class Case:
    """One row of the comparison.

    Attributes:
        method: qgradbench ``diff_method``.
        shots: shots per circuit, or ``None`` for exact.
        pl_device: PennyLane device name, or ``None`` when PennyLane has no counterpart.
        pl_method: PennyLane ``diff_method``.
    """

    method: str
    shots: int | None = None
    pl_device: str | None = None
    pl_method: str | None = None

    @property
    def label(self) -> str:
        """Row label, e.g. ``"parameter-shift @ 1000 shots"``."""
        return self.method if self.shots is None else f"{self.method} @ {self.shots} shots"

    @property
    def pl_label(self) -> str:
        """PennyLane configuration, e.g. ``"lightning.qubit/adjoint"``."""
        if self.pl_device is None:
            return "-"
        expand = "+broadcast_expand" if self.pl_method in _TRANSFORM_METHODS else ""
        return f"{self.pl_device}/{self.pl_method}{expand}"


def qgradbench_methods() -> list[str]:
    """Return the registered qgradbench method names (read at call time, not import time)."""
    from qgradbench.methods import names

    return names()


def qgradbench_shot_methods() -> list[str]:
    """Return the registered qgradbench methods that accept shots."""
    from qgradbench.methods import shot_methods

    return shot_methods()


def comparison_cases(shots: int | None = DEFAULT_SHOTS) -> list[Case]:
    """Return the cases of the comparison table.

    The brief's pairs are always listed (a qgradbench method not registered yet shows "n/a");
    any other registered method is appended, paired with PennyLane where PennyLane has it.

    Args:
        shots: shots for the shot cases; ``None`` or ``0`` leaves them out.
    """
    registered = qgradbench_methods()
    exact = list(_EXACT_CASES) + [m for m in registered if m not in _EXACT_CASES]
    cases = [Case(m, None, *PENNYLANE_PAIRS.get(m, (None, None))) for m in exact]
    if shots:
        shot = list(_SHOT_CASES) + [m for m in qgradbench_shot_methods() if m not in _SHOT_CASES]
        for m in shot:
            device, pl_method = PENNYLANE_PAIRS.get(m, (None, None))
            if pl_method in ("backprop", "adjoint"):  # exact-only in PennyLane too
                device = pl_method = None
            cases.append(Case(m, shots, device, pl_method))
    return cases


def refuse_counts_below_one(parser: argparse.ArgumentParser, args, names) -> None:
    """Exit 2 with one line naming the value when one of the count options ``names`` is below 1.

    A count of 0 or less would otherwise be taken as 1 (or time nothing) without a word.
    """
    for name in names:
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be a whole number >= 1, got {getattr(args, name)}")


def configure_threads(threads: int) -> None:
    """Pin torch (and OpenMP, for PennyLane-Lightning, if not loaded yet) to ``threads``.

    Also retains freed memory for reuse, as the command line does (``qgradbench/memory.py``),
    for both sides of the comparison alike.
    """
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    torch.set_num_threads(threads)
    retain_unless_disabled()


def make_batch(seed: int = 0, batch: int = BATCH, n_features: int = N_QUBITS):
    """Return a fixed batch ``(X, y)`` of the seed task (two concentric circles + noise features).

    Args:
        seed: seeds the draw.
        batch: number of samples.
        n_features: features per sample (the first two are the circle coordinates).
    """
    gen = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (batch,), generator=gen)
    radius = torch.where(y == 1, 0.7, 0.3) + 0.1 * torch.randn(batch, generator=gen)
    angle = 2 * math.pi * torch.rand(batch, generator=gen)
    X = 0.1 * torch.randn(batch, n_features, generator=gen)
    X[:, 0] = radius * torch.cos(angle)
    X[:, 1] = radius * torch.sin(angle)
    return X, y


def _quantum_init(seed: int, n_qubits: int, n_layers: int) -> torch.Tensor:
    """The initial quantum weights qgradbench draws for ``seed`` (uniform on [0, 2 pi))."""
    gen = torch.Generator().manual_seed(seed)
    return 2 * math.pi * torch.rand((n_layers, n_qubits, 3), generator=gen)


def pennylane_layer(
    pl_method: str,
    device: str | None = None,
    shots: int | None = None,
    seed: int = 0,
    n_qubits: int = N_QUBITS,
    n_layers: int = N_LAYERS,
    gradient_kwargs: dict | None = None,
) -> nn.Module:
    """Return PennyLane's ``TorchLayer`` for the seed circuit (via ``qgradbench.peers``).

    Args:
        pl_method: PennyLane ``diff_method``.
        device: PennyLane device; default ``lightning.qubit`` for ``adjoint``, else
            ``default.qubit``.
        shots: shots per circuit (set on the QNode), or ``None`` for exact.
        seed: seeds the device's sampler and the initial weights.
        n_qubits: number of qubits.
        n_layers: number of ``StronglyEntanglingLayers``.
        gradient_kwargs: extra options of the gradient transform (e.g. ``h``).
    """
    from qgradbench.peers import pennylane_layer as build

    if device is None:
        device = "lightning.qubit" if pl_method == "adjoint" else "default.qubit"
    weights = _quantum_init(seed, n_qubits, n_layers)
    return build(
        n_qubits,
        n_layers,
        weights,
        device=device,
        diff_method=pl_method,
        shots=shots,
        seed=seed,
        gradient_kwargs=gradient_kwargs,
    )


def build_seed_model(
    backend: str,
    method: str,
    shots: int | None = None,
    seed: int = 0,
    *,
    pl_device: str | None = None,
    n_qubits: int = N_QUBITS,
    n_layers: int = N_LAYERS,
) -> nn.Sequential:
    """Return the seed model with a qgradbench or a PennyLane quantum layer.

    Both backends get identical classical weights and identical initial quantum weights for the
    same ``seed``.

    Args:
        backend: ``"qgradbench"`` or ``"pennylane"``.
        method: the backend's ``diff_method``.
        shots: shots per circuit, or ``None`` for exact.
        seed: seeds every initialisation and the shot sampler.
        pl_device: PennyLane device (see :func:`pennylane_layer`).
        n_qubits: width of the quantum layer.
        n_layers: ansatz layers.

    Raises:
        UnavailableError: if qgradbench does not accept this method / shots combination (yet).
    """
    torch.manual_seed(seed)
    pre = [nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, n_qubits), nn.Tanh()]
    post = [nn.Linear(n_qubits, 16), nn.ReLU(), nn.Linear(16, 2)]
    if backend == "qgradbench":
        from qgradbench import QuantumLayer

        try:
            quantum = QuantumLayer(n_qubits, n_layers, diff_method=method, shots=shots, seed=seed)
        except ValueError as err:
            raise UnavailableError(str(err)) from err
    elif backend == "pennylane":
        gradient_kwargs = {}
        if method == "spsa":
            gradient_kwargs["sampler_rng"] = seed
        if shots is not None and method in ("finite-diff", "spsa"):
            # PennyLane's stencils: forward order 1 (finite-diff), central order 2 (spsa).
            gradient_kwargs["h"] = shot_step(shots, 2 if method == "spsa" else 1)
        quantum = pennylane_layer(
            method, pl_device, shots, seed, n_qubits, n_layers, gradient_kwargs
        )
    else:
        raise ValueError(f"backend must be 'qgradbench' or 'pennylane', got {backend!r}")
    return nn.Sequential(*pre, quantum, *post)


def shot_step(shots: int, approx_order: int = 1) -> float:
    """Return qgradbench's default step ``shots**(-1/(2(p+1)))`` for a stencil of order ``p``."""
    from qgradbench.methods.finite_diff import default_step

    return default_step(approx_order, shots, float("nan"))


#: Adam implementations a step may use (``--adam``): torch's default (one small kernel per
#: operation and parameter on the CPU) or ``fused=True`` (one kernel per parameter group, the
#: same update up to rounding). Both sides of a comparison use the same one.
ADAM_VARIANTS = ("default", "fused")


def make_step(
    model: nn.Module, X: torch.Tensor, y: torch.Tensor, lr: float = LR, adam: str = "default"
) -> Callable:
    """Return a closure doing one training step; the optimiser is built here, not in the timing.

    ``adam``: one of :data:`ADAM_VARIANTS`.

    Returns:
        ``step()``: ``zero_grad``, forward, cross-entropy loss, backward, ``Adam.step``; returns
        the loss as a float.
    """
    if adam not in ADAM_VARIANTS:
        raise ValueError(f"adam must be one of {', '.join(ADAM_VARIANTS)}, got {adam!r}")
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, fused=adam == "fused" or None)
    loss_fn = nn.CrossEntropyLoss()

    def step() -> float:
        optimizer.zero_grad()
        loss = loss_fn(model(X), y)
        loss.backward()
        optimizer.step()
        return loss.item()

    return step


def prepare_step(backend: str, case: Case, seed: int = 0, adam: str = "default") -> Callable:
    """Build the seed model of ``case`` for ``backend`` and return its step, warmed up once.

    The warm-up step doubles as the availability probe.

    Raises:
        UnavailableError: the method is not registered, or its shots are not implemented yet.
    """
    if backend == "qgradbench":
        model = build_seed_model("qgradbench", case.method, case.shots, seed)
    else:
        if case.pl_device is None:
            raise UnavailableError("PennyLane has no counterpart")
        model = build_seed_model(
            "pennylane", case.pl_method, case.shots, seed, pl_device=case.pl_device
        )
    X, y = make_batch(seed)
    step = make_step(model, X, y, adam=adam)
    try:
        step()
    except NotImplementedError as err:
        raise UnavailableError(str(err)) from err
    return step


def measure_steps(
    step: Callable, repeats: int = DEFAULT_REPEAT, budget_s: float | None = None
) -> list[float]:
    """Return the wall times (seconds, ``time.perf_counter``) of up to ``repeats`` calls.

    Args:
        step: the (already warmed-up) step to time.
        repeats: maximum number of timed calls.
        budget_s: stop once this much time has been spent (at least one call always runs).
    """
    times: list[float] = []
    start = time.perf_counter()
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        step()
        t1 = time.perf_counter()
        times.append(t1 - t0)
        if budget_s is not None and t1 - start >= budget_s:
            break
    return times


def median_step_time(
    backend: str,
    case: Case,
    repeats: int = DEFAULT_REPEAT,
    budget_s: float | None = DEFAULT_BUDGET_S,
    seed: int = 0,
) -> tuple[float, int]:
    """Return ``(median seconds, number of timed steps)`` of one Adam step of ``case``.

    Raises:
        UnavailableError: see :func:`prepare_step`.
    """
    step = prepare_step(backend, case, seed)
    times = measure_steps(step, repeats, budget_s)
    return statistics.median(times), len(times)


#: Consecutive steps a side runs per turn of :func:`interleaved_times`.
DEFAULT_BLOCK = 10

#: Seconds each side spends in untimed turns before the timed ones (:func:`run_comparison`).
#: One warm-up step was not enough: on 2026-12-07 (1 thread, turns of 10, 200 steps) the first
#: case's qgradbench steps took 2.4-5.0 ms for their first 40 steps and 1.6-2.0 ms after (the
#: later cases' first one or two turns, 2.3-4.1 against 1.8-2.4 ms): backprop's median was
#: 1.83 ms over all 200 steps and 1.73 ms over the last 160, adjoint's 2.02 and 1.88 ms;
#: PennyLane's, ten times longer, 14.31 and 14.00 ms. Training runs thousands of steps: the
#: timed steps should be its steady ones, on both sides.
DEFAULT_WARMUP_S = 1.0


def interleaved_times(
    steps: dict[str, Callable], repeats: int, budget_s: float | None, block: int = DEFAULT_BLOCK
) -> dict[str, list[float]]:
    """Wall times of the (warmed-up) ``steps``, in turns of ``block`` consecutive steps each.

    Blocks, not single steps, because training runs its steps back to back: with one step per
    turn every step of the faster side ran just after a PennyLane step had evicted its caches,
    which timed a situation training never meets: on 2026-12-06 (1 thread, 60 steps, two runs
    each) the seed model's adjoint step took 2.77 and 2.70 ms that way against 2.12 and
    1.84 ms in turns of 10, backprop 2.00 and 2.05 against 1.60 and 2.03 ms; PennyLane's
    steps were unchanged. Turns still alternate every few steps, so both sides see the same
    machine load. A side stops after ``repeats`` steps or once it has spent ``budget_s``
    seconds (at least one step each); the others go on alone.
    """
    times: dict[str, list[float]] = {name: [] for name in steps}
    spent = dict.fromkeys(steps, 0.0)
    active = list(steps)

    def done(name: str) -> bool:
        over = budget_s is not None and spent[name] >= budget_s
        return len(times[name]) >= max(1, repeats) or over

    while active:
        for name in list(active):
            for _ in range(max(1, block)):
                t0 = time.perf_counter()
                steps[name]()
                took = time.perf_counter() - t0
                times[name].append(took)
                spent[name] += took
                if done(name):
                    active.remove(name)
                    break
    return times


def count_step_ops(step: Callable) -> int:
    """Number of ATen operations (``aten::*`` profiler events, nested ones too) in one step."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    return sum(event.name.startswith("aten::") for event in prof.events())


def speed_ratio(method: str, repeats: int = 7, seed: int = 0) -> float:
    """Return PennyLane time / qgradbench time for one exact step of ``method`` (its pair)."""
    device, pl_method = PENNYLANE_PAIRS[method]
    case = Case(method, None, device, pl_method)
    qgb, _ = median_step_time("qgradbench", case, repeats, None, seed)
    pl, _ = median_step_time("pennylane", case, repeats, None, seed)
    return pl / qgb


def environment() -> dict:
    """Return the machine and library versions for the report."""
    import qgradbench

    versions = {"python": platform.python_version(), "torch": torch.__version__}
    versions["qgradbench"] = qgradbench.__version__
    try:
        import pennylane as qml

        versions["pennylane"] = qml.__version__
        from importlib.metadata import version

        versions["pennylane-lightning"] = version("pennylane_lightning")
    except ImportError:  # pragma: no cover - reported, not fatal
        versions["pennylane"] = "not installed"
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "versions": versions,
    }


def run_comparison(
    cases: list[Case],
    repeats: int = DEFAULT_REPEAT,
    budget_s: float = DEFAULT_BUDGET_S,
    seed: int = 0,
    log: Callable[[str], None] | None = None,
    adam: str = "default",
    count_ops: bool = False,
    block: int = DEFAULT_BLOCK,
    warmup_s: float = 0.0,
) -> list[dict]:
    """Time every case on both backends and return one row (dict) per case.

    The two sides of a case are prepared first (one step each), warmed up in untimed turns
    until each has spent ``warmup_s`` seconds (at least one turn each; none for 0), and then
    timed *interleaved*, ``block`` consecutive steps each in turn (qgradbench, PennyLane,
    qgradbench, ...), so that both see the same machine load (:func:`interleaved_times`); each
    side stops at ``repeats`` steps or once it has spent ``budget_s`` seconds.

    Row keys: ``case``, ``method``, ``shots``, ``pennylane_config``, ``qgradbench_ms``,
    ``pennylane_ms`` (medians; ``None`` when n/a), ``ratio`` (PennyLane / qgradbench), the
    number of timed steps on each side and every step's time in the order they ran
    (``qgradbench_steps_ms``, ``pennylane_steps_ms``: a turn's first steps after the other
    side's show there), for n/a entries the reason, and with ``count_ops`` the ATen
    operations one qgradbench step dispatches (``qgradbench_ops``, :func:`count_step_ops`).
    """
    rows = []
    for case in cases:
        row = {
            "case": case.label,
            "method": case.method,
            "shots": case.shots,
            "pennylane_config": case.pl_label,
            "adam": adam,
            "block": block,
        }
        steps = {}
        for backend in ("qgradbench", "pennylane"):
            if log:
                log(f"  {case.label}: {backend} ...")
            try:
                steps[backend] = prepare_step(backend, case, seed, adam)
            except UnavailableError as err:
                row[f"{backend}_ms"], row[f"{backend}_n"] = None, 0
                row[f"{backend}_na"] = str(err).splitlines()[0]
        if warmup_s > 0:  # untimed: the turns' start-up transient (DEFAULT_WARMUP_S)
            interleaved_times(steps, 10**9, warmup_s, block)
        row["warmup_s"] = warmup_s
        for backend, times in interleaved_times(steps, repeats, budget_s, block).items():
            row[f"{backend}_ms"], row[f"{backend}_n"] = 1e3 * statistics.median(times), len(times)
            row[f"{backend}_steps_ms"] = [1e3 * t for t in times]  # in the order they ran
        if count_ops and "qgradbench" in steps:
            row["qgradbench_ops"] = count_step_ops(steps["qgradbench"])
        qgb, pl = row["qgradbench_ms"], row["pennylane_ms"]
        row["ratio"] = pl / qgb if qgb and pl else None
        rows.append(row)
    return rows


def format_table(rows: list[dict]) -> str:
    """Return the rows as a fixed-width text table."""

    def ms(value, n):
        return "n/a" if value is None else f"{value:.2f} (n={n})"

    header = ("case", "qgradbench ms", "PennyLane ms", "ratio PL/qgb", "PennyLane config")
    body = [
        (
            r["case"],
            ms(r["qgradbench_ms"], r["qgradbench_n"]),
            ms(r["pennylane_ms"], r["pennylane_n"]),
            "n/a" if r["ratio"] is None else f"{r['ratio']:.1f}x",
            r["pennylane_config"]
            + (f", qgb {r['qgradbench_ops']} ops" if "qgradbench_ops" in r else ""),
        )
        for r in rows
    ]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    aligns = ("<", ">", ">", ">", "<")

    def fmt(line):
        cells = zip(line, aligns, widths, strict=True)
        return "  ".join(f"{c:{a}{w}}" for c, a, w in cells).rstrip()

    lines = [fmt(header), "  ".join("-" * w for w in widths), *map(fmt, body)]
    notes = [
        f"  {r['case']} [{side}]: n/a ({r[f'{side}_na']})"
        for r in rows
        for side in ("qgradbench", "pennylane")
        if f"{side}_na" in r
    ]
    if notes:
        lines += ["", "n/a:", *notes]
    return "\n".join(lines)


def silence_pennylane_warnings() -> None:
    """Ignore PennyLane's float32 finite-difference and deprecation warnings (noise in timings)."""
    warnings.filterwarnings("ignore", message="Finite differences with float32")
    try:
        from pennylane.exceptions import PennyLaneDeprecationWarning

        warnings.filterwarnings("ignore", category=PennyLaneDeprecationWarning)
    except ImportError:  # pragma: no cover
        pass


def main(argv: list[str] | None = None) -> int:
    """Run the comparison from the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=DEFAULT_REPEAT, help="max timed steps")
    parser.add_argument(
        "--budget",
        type=float,
        default=DEFAULT_BUDGET_S,
        help="seconds per case and side after which timing stops early (default %(default)s)",
    )
    parser.add_argument(
        "--shots", type=int, default=DEFAULT_SHOTS, help="shots of the shot cases; 0: none"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch/OpenMP threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", metavar="OUT", help="also write the results as JSON")
    parser.add_argument(
        "--adam", choices=ADAM_VARIANTS, default="default", help="Adam on both sides (%(default)s)"
    )
    parser.add_argument(
        "--methods", nargs="+", metavar="M", help="only these qgradbench methods' cases"
    )
    parser.add_argument(
        "--ops", action="store_true", help="also count the ATen operations of a qgradbench step"
    )
    parser.add_argument(
        "--block",
        type=int,
        default=DEFAULT_BLOCK,
        help="consecutive steps per side and turn (default %(default)s; 1: strict alternation)",
    )
    parser.add_argument(
        "--warmup",
        type=float,
        default=DEFAULT_WARMUP_S,
        help="seconds of untimed turns per side before timing (default %(default)s; 0: none)",
    )
    args = parser.parse_args(argv)
    refuse_counts_below_one(parser, args, ("repeat", "block"))
    if not (math.isfinite(args.warmup) and args.warmup >= 0):
        parser.error(f"--warmup must be a finite number of seconds >= 0, got {args.warmup}")

    configure_threads(args.threads)
    silence_pennylane_warnings()
    env = environment()
    cases = comparison_cases(args.shots or None)
    if args.methods:
        cases = [case for case in cases if case.method in args.methods]
    print(
        f"seed model step ({N_QUBITS} qubits, {N_LAYERS} layers, batch {BATCH}, Adam), "
        f"median over up to {args.repeat} steps after 1 warm-up step and {args.warmup:g} s of "
        f"untimed turns, budget {args.budget:g} s per case and side, turns of {args.block} steps",
        flush=True,
    )
    print(
        f"machine: {env['processor']}, {env['cpu_count']} CPUs, {env['platform']}; "
        f"torch threads {env['torch_threads']}, OMP_NUM_THREADS={env['omp_num_threads']}",
        flush=True,
    )
    print("versions: " + ", ".join(f"{k} {v}" for k, v in env["versions"].items()), flush=True)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    rows = run_comparison(
        cases,
        args.repeat,
        args.budget,
        args.seed,
        log,
        args.adam,
        args.ops,
        args.block,
        warmup_s=args.warmup,
    )
    print()
    print(format_table(rows))
    if args.json:
        payload = {
            "benchmark": "seed-model Adam step, qgradbench vs PennyLane",
            "model": {"n_qubits": N_QUBITS, "n_layers": N_LAYERS, "batch": BATCH, "lr": LR},
            "repeat": args.repeat,
            "budget_s": args.budget,
            "warmup_s": args.warmup,
            "block": args.block,
            "shots": args.shots,
            "seed": args.seed,
            "threads": args.threads,
            "adam": args.adam,
            "environment": env,
            "rows": rows,
        }
        with open(args.json, "w") as fh:
            json.dump(payload, fh, indent=2)
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
