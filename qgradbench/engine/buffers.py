"""Two state buffers that a run without gradients writes into in turn (ping-pong).

Without autograd nothing needs an intermediate state after the next one is computed, so a
whole circuit can run in two buffers: each operation reads one and writes the other
(``torch.bmm(..., out=)``, ``torch.gather(..., out=)``), or updates it in place where that is
exact (a diagonal phase). A new state per operation would cost more than its arithmetic on a
large register: glibc hands blocks above its mmap threshold (at most 32 MiB) back to the kernel
on ``free``, and the kernel zeroes every page of the next one, one more pass over the state per
gate (:mod:`qgradbench.memory`). With two buffers a run allocates a fixed number of states
whatever the depth.

Only for tensors nothing else holds: the run's own product state, the adjoint sweep's stacked
pair. A buffer is never a tensor autograd saved. Buffers come from the engine's pool
(:mod:`qgradbench.engine.pool`), which hands one out again only once nothing references it: the
state a run returns stays the caller's for as long as the caller holds it.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from qgradbench.engine import pool


class PingPong:
    """The current state and a spare buffer of the same shape, swapped after each step.

    Args:
        state: the starting state, owned by the caller and free to overwrite; a view that is
            not contiguous (an ``expand`` of one state over the batch) is copied into a buffer.
    """

    #: Buffers allocated by all instances (for tests that count them).
    allocated = 0

    def __init__(self, state: torch.Tensor):
        if not state.is_contiguous() or state.is_conj():
            own = self._new(state)  # materialised once: a buffer of its own
            own.copy_(state)
            state = own
        self.state = state
        self._spare: torch.Tensor | None = None

    @classmethod
    def _new(cls, like: torch.Tensor) -> torch.Tensor:
        cls.allocated += 1
        return pool.take(like.shape, like.dtype, like.device)

    def step(self, kernel: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """Set the state to ``kernel(state, out)``, which should write into ``out``.

        A kernel that returns a new tensor instead (one with no ``out=`` form) is accepted:
        the old state becomes the spare buffer.
        """
        if self._spare is None:
            self._spare = self._new(self.state)
        out = self._spare
        result = kernel(self.state, out)
        if result.data_ptr() != out.data_ptr() or result.is_conj():
            self.state = result  # a new tensor; out stays the spare
        else:
            old = self.state
            self.state = out.view(old.shape)
            # a kernel's own result (a moved-axes view) is no buffer to write into
            self._spare = old if old.is_contiguous() and not old.is_conj() else None
        return self.state
