"""Keep freed CPU memory in the process, so that a new state does not cost fresh pages.

Where autograd records the circuit (backprop), every gate application writes a new state
tensor; elsewhere the engine reuses two buffers per call (:class:`qgradbench.engine.PingPong`)
and needs none of this. glibc's ``malloc`` serves blocks above its
mmap threshold (at most 32 MiB by its own adaptation) with ``mmap`` and hands them back to the
kernel on ``free``; the next state of the same size then faults every page in again, and the
kernel zeroes each one: one more pass over the state, in system time, per operation. On the
2-core VM a parameter-shift step at 12 qubits (batch 32, 4 layers) faulted in 2.3 GB per step
and spent 1.7 s of its 5.3 s in the kernel; with freed memory retained it faulted in none.

:func:`retain_freed_memory` raises glibc's mmap and trim thresholds (``mallopt``), so freed
blocks stay in the heap and are reused. Peak memory is unchanged; the process keeps its peak
after the work is done instead of returning it. The command line and the suite's workers call it
at start (``QGRADBENCH_RETAIN_FREED_MEMORY=0`` turns it off); library users may call it once
themselves (an option: it speeds up backprop on large registers). Off glibc (macOS, musl) it
does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os

#: ``mallopt`` parameters (glibc ``malloc.h``).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
#: The thresholds set: the largest value ``mallopt`` accepts (an ``int``).
RETAIN_BYTES = 2**31 - 1
#: Environment variable that, set to ``0``, keeps glibc's defaults in the command line.
ENV_SWITCH = "QGRADBENCH_RETAIN_FREED_MEMORY"

_state = {"retained": False}


@functools.lru_cache(maxsize=1)
def _libc():
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        return libc if hasattr(libc, "mallopt") else None
    except OSError:
        return None


def retain_freed_memory() -> bool:
    """Make glibc keep freed blocks of any size for reuse instead of unmapping them.

    Returns:
        ``True`` if both thresholds were set (glibc), ``False`` where ``mallopt`` is missing
        or refused them.
    """
    libc = _libc()
    if libc is None:
        return False
    mmap_ok = libc.mallopt(M_MMAP_THRESHOLD, RETAIN_BYTES) == 1
    trim_ok = libc.mallopt(M_TRIM_THRESHOLD, RETAIN_BYTES) == 1
    _state["retained"] = _state["retained"] or (mmap_ok and trim_ok)
    return mmap_ok and trim_ok


def retained() -> bool:
    """Whether :func:`retain_freed_memory` has succeeded in this process (run metadata)."""
    return _state["retained"]


def retain_unless_disabled() -> bool:
    """:func:`retain_freed_memory`, unless ``QGRADBENCH_RETAIN_FREED_MEMORY=0``; what happened."""
    if os.environ.get(ENV_SWITCH, "1").strip() == "0":
        return False
    return retain_freed_memory()
