r"""A roofline for the engine: measured copy bandwidth and group-product rate, and the group width.

A kernel over a state of ``A`` amplitudes that moves ``bytes`` bytes and performs ``macs``
complex multiply-adds takes at least ``max(bytes / bandwidth, macs / rate)`` (Williams,
Waterman and Patterson, "Roofline: an insightful visual performance model for multicore
architectures", CACM 52(4), 2009). A fused group of ``k`` wires
(:mod:`qgradbench.engine.fused`) reads and writes the state once (``2 c`` bytes per amplitude
for a complex item of ``c`` bytes) and performs ``K = 2**k`` multiply-adds per amplitude, so a
layer of ``n`` single-qubit blocks in groups of at most ``k`` wires takes, per amplitude,

.. math::  t(k) = \sum_{g} \max\left(\frac{2c}{\beta}, \frac{2^{k_g}}{\rho(2^{k_g})}\right)

over its :func:`~qgradbench.engine.fused.wire_groups` ``k_g``, with ``beta`` the copy bandwidth
(bytes/s) and ``rho(K)`` the multiply-add rate of a ``K x K`` group product on data in cache.
Wide groups mean fewer passes (memory) and more arithmetic per pass (compute):
:func:`choose_block_wires` takes the ``k`` that minimises ``t(k)``.

:func:`calibrate` measures ``beta`` and ``rho`` once and caches them in
``$XDG_CACHE_HOME/qgradbench/roofline.json`` (``~/.cache`` by default), keyed by torch version,
CPU model and thread count; :func:`default_block_wires` reads that cache (never measures) and
falls back to :data:`~qgradbench.engine.fused.BLOCK_WIRES` without one. The environment
variable ``QGRADBENCH_GROUP_WIDTH`` overrides both. The width changes how a layer is split
into products, never the state it computes.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import time
from pathlib import Path

import torch

from qgradbench.engine import fused

#: Environment variable that fixes the group width (a positive integer).
WIDTH_VARIABLE = "QGRADBENCH_GROUP_WIDTH"
#: Group widths :func:`calibrate` measures and :func:`choose_block_wires` considers.
WIDTHS = (1, 2, 3, 4, 5, 6, 7)


def cache_path() -> Path:
    """Where the measured rates are kept: ``$XDG_CACHE_HOME/qgradbench/roofline.json``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "qgradbench" / "roofline.json"


@functools.lru_cache(maxsize=1)
def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else :func:`platform.processor`)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def machine_key(threads: int | None = None) -> str:
    """The cache key: torch version, CPU model and torch's thread count."""
    threads = torch.get_num_threads() if threads is None else threads
    return f"torch={torch.__version__}|cpu={cpu_model()}|threads={threads}"


# ----------------------------------------------------------------- the model
def layer_time(n_qubits: int, width: int, bandwidth: float, rates, itemsize: int = 8) -> float:
    """Roofline time per amplitude of one layer of ``n_qubits`` blocks in groups of ``width``.

    Args:
        n_qubits: wires of the layer (one block each).
        width: the widest group (:func:`~qgradbench.engine.fused.wire_groups`).
        bandwidth: copy bandwidth, bytes/s (read plus written).
        rates: complex multiply-adds per second of a group product: one number for every
            width, or a mapping from width (wires) to rate.
        itemsize: bytes per complex amplitude (8 for complex64).

    Returns:
        Seconds per amplitude: the sum over groups of ``max(2 c / bandwidth, K / rate(K))``.
    """
    total = 0.0
    for lo, hi in fused.wire_groups(n_qubits, width):
        k = hi - lo
        rate = rates if isinstance(rates, int | float) else rates[k]
        total += max(2 * itemsize / bandwidth, 2**k / rate)
    return total


def choose_block_wires(
    n_qubits: int, bandwidth: float, rates, itemsize: int = 8, widths=WIDTHS
) -> int:
    """The group width that minimises :func:`layer_time` (ties: the narrower width).

    Args:
        n_qubits: the register.
        bandwidth: copy bandwidth, bytes/s.
        rates: multiply-add rate, one number or a mapping from width to rate.
        itemsize: bytes per complex amplitude.
        widths: the widths to consider (those above ``n_qubits`` are skipped).
    """
    if bandwidth <= 0:
        raise ValueError(f"bandwidth must be positive (bytes/s), got {bandwidth!r}")
    candidates = [w for w in widths if 1 <= w <= max(1, n_qubits)]
    if not isinstance(rates, int | float):
        candidates = [w for w in candidates if w in rates]
    if not candidates:
        raise ValueError(f"no width among {tuple(widths)} has a rate for {n_qubits} qubits")
    times = {w: layer_time(n_qubits, w, bandwidth, rates, itemsize) for w in candidates}
    return min(candidates, key=lambda w: (times[w], w))


# ----------------------------------------------------------------- measurements
def _best_time(call, repeat: int) -> float:
    call()  # warm-up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return min(times)


def measure_bandwidth(nbytes: int = 2**28, repeat: int = 5) -> float:
    """Copy bandwidth in bytes/s: the best of ``repeat`` copies of an ``nbytes`` buffer.

    A copy reads and writes ``nbytes`` each, so the rate counts ``2 nbytes`` per copy.
    """
    source = torch.ones(nbytes // 4, dtype=torch.float32)
    target = torch.empty_like(source)
    return 2 * source.numel() * 4 / _best_time(lambda: target.copy_(source), repeat)


def measure_mac_rate(
    width: int,
    dtype: torch.dtype = torch.complex64,
    amplitudes: int = 2**15,
    repeat: int = 5,
    calls: int = 20,
) -> float:
    """Complex multiply-adds per second of the group product of ``width`` wires, in cache.

    Times :func:`~qgradbench.engine.fused.apply_block_bottom` (the kernel the schedule runs,
    one per-circuit ``2**k x 2**k`` block and a preallocated output) on a state of
    ``amplitudes`` amplitudes split over circuits of 12 qubits, small enough to stay in cache:
    the arithmetic rate without the memory traffic. ``calls`` products per timing.
    """
    n = max(12, width)
    batch = max(1, amplitudes >> n)
    generator = torch.Generator().manual_seed(0)
    state = torch.randn(batch, *([2] * n), dtype=dtype, generator=generator)
    block = torch.randn(batch, 2**width, 2**width, dtype=dtype, generator=generator)
    out = torch.empty_like(state)

    def products():
        for _ in range(calls):
            fused.apply_block_bottom(state, block, n, out)

    seconds = _best_time(products, repeat)
    return calls * batch * 2**n * 2**width / seconds


def measure(dtype: torch.dtype = torch.complex64, widths=WIDTHS) -> dict:
    """Measure the copy bandwidth and each width's multiply-add rate now (a few seconds)."""
    with torch.no_grad():
        return {
            "bandwidth": measure_bandwidth(),
            "rates": {str(w): measure_mac_rate(w, dtype) for w in widths},
            "itemsize": torch.empty(0, dtype=dtype).element_size(),
            "dtype": str(dtype),
            "measured": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }


# ----------------------------------------------------------------- the cache
def _read(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def calibrate(path: Path | str | None = None, dtype: torch.dtype = torch.complex64) -> dict:
    """Measure the rates (:func:`measure`) and store them under this machine's key.

    Args:
        path: the cache file; :func:`cache_path` by default.
        dtype: the complex dtype to measure with.

    Returns:
        The stored entry, with ``block_wires`` chosen for 20 qubits added for reference.
    """
    path = cache_path() if path is None else Path(path)
    entry = measure(dtype)
    rates = {int(w): r for w, r in entry["rates"].items()}
    entry["block_wires_20"] = choose_block_wires(20, entry["bandwidth"], rates, entry["itemsize"])
    data = _read(path)
    data[machine_key()] = entry
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
    tmp.replace(path)
    _cached_entry.cache_clear()
    return entry


def cached_rates(path: Path | str | None = None) -> dict | None:
    """This machine's entry in the cache (:func:`machine_key`), or ``None`` without one."""
    path = cache_path() if path is None else Path(path)
    return _cached_entry(str(path), machine_key())


@functools.lru_cache(maxsize=8)
def _cached_entry(path: str, key: str) -> dict | None:
    entry = _read(Path(path)).get(key)
    if not isinstance(entry, dict) or "bandwidth" not in entry or "rates" not in entry:
        return None
    return entry


def default_block_wires(n_qubits: int) -> int:
    """The group width a schedule uses by default on ``n_qubits`` qubits.

    ``QGRADBENCH_GROUP_WIDTH`` if set; else :func:`choose_block_wires` from this machine's
    cached rates (:func:`calibrate`); else :data:`~qgradbench.engine.fused.BLOCK_WIRES`.
    Nothing is measured here.
    """
    value = os.environ.get(WIDTH_VARIABLE)
    if value is not None:
        try:
            width = int(value)
        except ValueError:
            width = 0
        if width < 1:
            raise ValueError(f"{WIDTH_VARIABLE} must be a positive integer, got {value!r}")
        return width
    entry = cached_rates()
    if entry is None:
        return fused.BLOCK_WIRES
    rates = tuple(sorted((int(w), float(r)) for w, r in entry["rates"].items()))
    return _chosen(n_qubits, float(entry["bandwidth"]), rates, int(entry.get("itemsize", 8)))


@functools.lru_cache(maxsize=64)
def _chosen(n_qubits: int, bandwidth: float, rates: tuple, itemsize: int) -> int:
    return choose_block_wires(n_qubits, bandwidth, dict(rates), itemsize)
