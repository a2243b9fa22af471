"""Large state buffers kept for reuse across calls, so a plain script gets no page-fault tax.

glibc hands blocks above its mmap threshold (at most 32 MiB) back to the kernel on ``free``,
and the kernel zeroes every page of the next such block: one more pass over the state for each
new one. A 20-qubit batch of 8 is 128 MiB, so every state a step allocates costs a pass before
its first write. :func:`qgradbench.retain_freed_memory` avoids that process-wide; this pool
avoids it for the engine's own states without touching the allocator.

The pool keeps the large buffers it hands out (:func:`take`) and hands one out again only when
nothing else references its storage: not a tensor autograd saved, not a gradient in flight, not
a state a caller kept, not a view of any of these (the storage's use count, which every tensor
and view on it raises, is back to the pool's own). So a buffer can never alias a live tensor;
buffers become free exactly when autograd or the caller drops the last reference.

Buffers are raw bytes: a request of any dtype is served by a free buffer of at least its size
and at most twice it (a prefix, viewed as the dtype), so a free complex state can hold the real
probabilities computed from the next one. A new buffer is made only when none is free, and then
the free buffers that cannot serve the request are dropped: the pool holds what the current work
reuses, so the peak memory is that of the work itself. The pool holds at most
:data:`POOL_BYTES` (``QGRADBENCH_POOL_BYTES``, bytes; ``0`` turns it off); :func:`release`
gives everything back.

Tensors under :data:`MIN_BYTES`, non-CPU tensors (CUDA has its own caching allocator), and a
PyTorch without ``torch._C._storage_Use_Count`` get plain ``torch.empty``.
"""

from __future__ import annotations

import math
import os
import threading

import torch

#: Smallest buffer the pool keeps (bytes): below glibc's mmap threshold ``free`` keeps blocks.
MIN_BYTES = 1 << 22


def _pool_bytes(text: str) -> int:
    """``QGRADBENCH_POOL_BYTES`` as a byte count; a clear error for anything else."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise ValueError(
            f"QGRADBENCH_POOL_BYTES must be a non-negative number of bytes (0: no pool), "
            f"got {text!r}"
        )
    return value


#: Most bytes the pool keeps, from ``QGRADBENCH_POOL_BYTES`` (default 8 GiB; ``0``: off).
POOL_BYTES = _pool_bytes(os.environ.get("QGRADBENCH_POOL_BYTES", str(8 << 30)))

_use_count = getattr(torch._C, "_storage_Use_Count", None)


class StatePool:
    """Byte buffers by size; :meth:`take` returns a free one or a new one, viewed as asked.

    A free buffer serves a request of any dtype from half its size up to its size (a prefix).

    Args:
        max_bytes: the most bytes kept (new buffers beyond it are not kept).
        min_bytes: requests below this size get ``torch.empty``.
    """

    def __init__(self, max_bytes: int = POOL_BYTES, min_bytes: int = MIN_BYTES):
        self.max_bytes, self.min_bytes = max_bytes, min_bytes
        self._buffers: list[torch.Tensor] = []  # flat buffers, oldest first
        self._lock = threading.Lock()
        self.created = 0  # buffers allocated for the pool (tests count them)

    @property
    def kept_bytes(self) -> int:
        """Bytes the pool holds now."""
        return sum(b.numel() for b in self._buffers)

    def take(self, shape, dtype: torch.dtype, device) -> torch.Tensor:
        """An uninitialised tensor of ``shape``: a free pooled buffer, else a new one."""
        device = torch.device(device)
        size = math.prod(shape)
        nbytes = size * dtype.itemsize
        pooled = _use_count is not None and device.type == "cpu" and self.max_bytes > 0
        if not pooled or nbytes < self.min_bytes:
            return torch.empty(shape, dtype=dtype, device=device)
        with self._lock:
            fits = [b for b in self._buffers if _serves(b, nbytes) and _free(b)]
            if fits:
                buf = min(fits, key=torch.Tensor.numel)
                self._buffers = [b for b in self._buffers if b is not buf] + [buf]  # LRU last
            else:
                self._drop_other_sizes(nbytes)
                buf = torch.empty(nbytes, dtype=torch.uint8, device=device)
                self._make_room(nbytes)
                if self.kept_bytes + nbytes <= self.max_bytes:
                    self._buffers.append(buf)
                    self.created += 1
            return buf[:nbytes].view(dtype).view(shape)

    def _drop_other_sizes(self, nbytes: int) -> None:
        """Drop the free buffers that cannot serve ``nbytes`` before a new one is made.

        Idle buffers of a size no longer asked for would otherwise add to the peak memory of
        the work that follows (an adjoint sweep's state pairs after a backprop step's states):
        the pool keeps what the current work reuses, not every size it has seen.
        """
        self._buffers = [b for b in self._buffers if _serves(b, nbytes) or not _free(b)]

    def _make_room(self, nbytes: int) -> None:
        """Drop free buffers, least recently used first, until ``nbytes`` more fit."""
        for buf in list(self._buffers):
            if self.kept_bytes + nbytes <= self.max_bytes:
                return
            if _free(buf):
                self._buffers = [b for b in self._buffers if b is not buf]

    def release(self) -> None:
        """Forget every buffer (those still in use stay alive with their users)."""
        with self._lock:
            self._buffers.clear()


def _serves(buf: torch.Tensor, nbytes: int) -> bool:
    """Whether the byte buffer ``buf`` can hold a request of ``nbytes``: at most twice as big.

    A state pair (an adjoint sweep's ``phi`` and ``lambda``) can so reuse the buffer of two
    states, a single state the buffer of a pair, and a state's real probabilities the buffer
    of a complex state, without a buffer per size.
    """
    return nbytes <= buf.numel() <= 2 * nbytes


def _free(buf: torch.Tensor) -> bool:
    """Whether only the pool references ``buf``'s storage.

    The pool's flat tensor holds one reference and the temporary storage object made to ask
    holds another; any other tensor or view on the storage adds its own.
    """
    return _use_count(buf.untyped_storage()._cdata) <= 2


#: The engine's pool.
POOL = StatePool()


def take(shape, dtype: torch.dtype, device) -> torch.Tensor:
    """:meth:`StatePool.take` on the engine's pool."""
    return POOL.take(shape, dtype, device)


def release() -> None:
    """Give the engine's pooled buffers back (they are freed once nothing uses them)."""
    POOL.release()
