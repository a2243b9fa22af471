r"""Layers of single-qubit gates applied a few wires at a time, one matrix product per group.

On a large register every pass over the state costs its full size in memory traffic, so what
matters is passes per gate. A layer of single-qubit gates ``M_0 (x) ... (x) M_{n-1}`` is split
into groups of ``k`` adjacent wires; each group's gates form one ``2**k x 2**k`` block (their
Kronecker product, :func:`kron`), applied by one matrix product over the state: ``k`` gates per
pass (qsim and cuStateVec fuse the same way).

Each product reads the state as ``(batch, M, K)`` with the group's ``K = 2**k`` amplitudes last
(its wires at the bottom) and writes ``U psi^T`` as ``(batch, K, M)``: one large GEMM with no
transposing copy, which leaves the group's wires at the *top*. Applying the groups bottom-up,
each to the wires now at the bottom, rotates the wire order by ``n`` in all, back to where it
started (:func:`apply_groups`). The inverse runs the other way round: top group first, written
back to the bottom (:func:`apply_groups_inverse`).
"""

from __future__ import annotations

import functools

import torch

from qgradbench.engine import dense, pool

#: Widest group of wires fused into one block. A block of ``k`` wires costs ``2**k`` complex
#: multiply-adds per amplitude for ``k`` gates; measured on a 2-core VM at 20 qubits (products
#: into preallocated memory, complex64), ``k = 4`` and ``k = 5`` reached about 0.5-0.7 passes'
#: time per gate, ``k = 1`` (one 2x2 gate per product) 2.4, and ``k = 6`` 0.6-1.0.
BLOCK_WIRES = 5


def wire_groups(n_qubits: int, max_wires: int = BLOCK_WIRES) -> tuple[tuple[int, int], ...]:
    """Split ``n`` wires into near-equal groups of at most ``max_wires``, bottom group first.

    Returns:
        ``(lo, hi)`` wire ranges in the order :func:`apply_groups` applies them.
    """
    count = -(-n_qubits // max(1, max_wires))
    sizes = [n_qubits // count + (g < n_qubits % count) for g in range(count)]
    groups, hi = [], n_qubits
    for size in sizes:
        groups.append((hi - size, hi))
        hi -= size
    return tuple(groups)


@functools.lru_cache(maxsize=32)
def _kron_index(k: int, device: str) -> torch.Tensor:
    index, _ = dense.kron_table(k)
    return torch.as_tensor(dense.stack_tables([index]), device=device)


#: :func:`kron` builds blocks of at least this many wires pairwise once the blocks have
#: :data:`PAIRWISE_KRON_ENTRIES` entries in all. Measured on the 2-core VM (complex64, one
#: thread): one gather and one product over the ``k`` factors built 1000 blocks of 5 wires in
#: 24 ms, pairwise in 3.1 ms (the gathered ``(1000, 5, 1024)`` factors, 41 MB, leave the
#: caches); 100 blocks 430 against 346 us, 32 blocks a tie (246 against 237 us), 10 blocks 77
#: against 106 us. At 4 wires and fewer the gather stays faster (1000 blocks of 3 wires: 0.20
#: against 0.45 ms; of 4: 0.96 against 1.18 ms).
PAIRWISE_KRON_WIRES = 5
PAIRWISE_KRON_ENTRIES = 2**15


def kron(mats: torch.Tensor) -> torch.Tensor:
    """Return ``mats[..., 0, :, :] (x) ... (x) mats[..., k-1, :, :]``, ``(..., 2**k, 2**k)``.

    Many wide blocks (one per circuit of a batch, :data:`PAIRWISE_KRON_ENTRIES`) are built
    pairwise, ``((M_0 (x) M_1) (x) M_2) ...``: the factors are multiplied in the same order.
    """
    k = mats.shape[-3]
    if k >= PAIRWISE_KRON_WIRES and mats[..., 0, 0, 0].numel() * 4**k >= PAIRWISE_KRON_ENTRIES:
        return _kron_pairwise(mats)
    index = _kron_index(k, str(mats.device))
    return dense.kron_unitaries(mats.unsqueeze(-4), index)[..., 0, :, :]


def _kron_pairwise(mats: torch.Tensor) -> torch.Tensor:
    """:func:`kron` by ``k - 1`` broadcast products, each doubling the block's side."""
    out = mats[..., 0, :, :]
    for w in range(1, mats.shape[-3]):
        side = out.shape[-1]
        factor = mats[..., w, None, :, None, :]  # (..., 1, 2, 1, 2)
        out = (out[..., :, None, :, None] * factor).reshape(*out.shape[:-2], 2 * side, 2 * side)
    return out


#: From this inner dimension on, :func:`batched_matmul` multiplies one matrix pair at a time.
#: Measured on the 2-core VM (complex64, 2 threads), for ``(K x M) @ (M x K)`` products with a
#: conjugated operand: at 20 qubits (``K = 32``, batch 16) 56 ms one at a time against 70 ms for
#: ``bmm``, at 16 qubits 2.9 against 3.4 ms; at ``M = 256`` and batch 1024, 44 against 14 ms.
LOOP_INNER = 2048


def batched_matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``torch.bmm(a, b)``, without copying an operand that is a conjugated view.

    ``bmm`` on the CPU materialises a conjugated operand (``x.mH``, ``x.conj()``) before the
    product: one more pass over a state. ``mm`` hands a conjugated *transposed* operand to BLAS
    as is (its ``'c'`` operation), so for long inner dimensions (``LOOP_INNER``), where the
    per-call overhead is small, the pairs are multiplied one at a time into one output.

    Args:
        a: ``(b, I, M)``.
        b: ``(b, M, J)``.

    Returns:
        ``(b, I, J)``.
    """
    if a.shape[-1] < LOOP_INNER or not (a.is_conj() or b.is_conj()) or a.device.type != "cpu":
        return torch.bmm(a, b)
    out = a.new_empty(a.shape[0], a.shape[1], b.shape[2])
    for i in range(a.shape[0]):
        torch.mm(a[i], b[i], out=out[i])
    return out


def _per_product(unitary: torch.Tensor, lead: torch.Size, count: int) -> torch.Tensor:
    """``unitary`` ``(K, K)`` or broadcastable to ``(*lead, K, K)`` as ``(count, K, K)``."""
    size = unitary.shape[-1]
    if unitary.dim() == 2:
        return unitary.expand(count, size, size)
    return unitary.expand(*lead, size, size).reshape(count, size, size)


def apply_block_bottom(
    state: torch.Tensor, unitary: torch.Tensor, n_qubits: int, out: torch.Tensor | None = None
) -> torch.Tensor:
    """Apply ``unitary`` to the bottom ``k`` wires and move them to the top.

    Differentiable; the backward pass is the same kind of product (:class:`_BlockBottom`).

    Args:
        state: ``(*batch, 2, ..., 2)`` with ``n_qubits`` wire axes.
        unitary: ``(K, K)`` for all circuits, or one per circuit, broadcastable to
            ``(*batch, K, K)``.
        n_qubits: number of wire axes.
        out: without gradients, a contiguous tensor of ``state``'s shape to write the result
            into (:class:`qgradbench.engine.PingPong`), or ``None``.

    Returns:
        The state with wire order ``[bottom k, the rest]``, same shape.
    """
    if torch.is_grad_enabled() and (state.requires_grad or unitary.requires_grad):
        return _BlockBottom.apply(state, unitary, n_qubits)
    return _block_bottom(state, unitary, n_qubits, out)


def _block_bottom(
    state: torch.Tensor, unitary: torch.Tensor, n_qubits: int, out: torch.Tensor | None = None
) -> torch.Tensor:
    shape = state.shape
    lead = shape[: len(shape) - n_qubits]
    size = unitary.shape[-1]
    flat = state.reshape(-1, 2**n_qubits // size, size)  # (b, M, K)
    u = _per_product(unitary, lead, flat.shape[0])
    if out is None:  # a pooled buffer: no fresh pages for a large state (engine.pool)
        out = pool.take(shape, torch.promote_types(state.dtype, unitary.dtype), state.device)
    torch.bmm(u, flat.transpose(1, 2), out=out.view(flat.shape[0], size, -1))
    return out


class _BlockBottom(torch.autograd.Function):
    """:func:`apply_block_bottom` with a backward pass of two large products, no copies.

    With ``out = U X`` for ``X = psi^T`` ``(K, M)`` and incoming gradient ``g``:
    ``grad_psi = (U^dagger g)^T`` and ``grad_U = g X^dagger``, summed over the circuits that
    share ``U``. One of the two factors of ``grad_U`` is conjugated, and a product with a
    conjugated state costs a copy of it (``bmm``) or a slower BLAS path. So the backward pass
    works with ``h = conj(g)`` instead: ``conj(grad_U) = h X^T`` is a plain product of the
    stored layouts, and ``conj(grad_psi) = (U^T h)^T`` is :func:`apply_block_top_inverse` with
    ``conj(U)``. It returns ``grad_psi`` as a lazily conjugated view of that result, so the
    next group's (and fixed gate's, :func:`qgradbench.engine.apply_monomial`) backward pass
    finds ``h`` without a pass over the state: one conjugating copy per backward sweep, where
    the gradient enters the first group.
    """

    @staticmethod
    def forward(ctx, state, unitary, n_qubits):
        ctx.save_for_backward(state, unitary)
        ctx.n_qubits = n_qubits
        return _block_bottom(state, unitary, n_qubits)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        state, unitary = ctx.saved_tensors
        return (
            *_block_bottom_backward(state, unitary, ctx.n_qubits, grad, ctx.needs_input_grad),
            None,
        )


def _block_bottom_backward(state, unitary, n, grad, needs):
    """Gradients of :class:`_BlockBottom` (undecorated, so that mutation testing reaches it)."""
    h = grad.conj().resolve_conj()  # no copy when grad is a conjugated view (the usual case)
    grad_state = grad_unitary = None
    if needs[0]:
        grad_state = apply_block_top_inverse(h, unitary.conj(), n).conj()
    if needs[1]:
        size = unitary.shape[-1]
        flat = state.reshape(-1, 2**n // size, size)  # (b, M, K)
        per = torch.bmm(h.reshape(-1, size, 2**n // size), flat).conj()  # (b, K, K)
        lead = grad.shape[: grad.dim() - n]
        grad_unitary = per.reshape(*lead, size, size).sum_to_size(unitary.shape)
    return grad_state, grad_unitary


def apply_block_top_inverse(
    state: torch.Tensor, unitary: torch.Tensor, n_qubits: int, out: torch.Tensor | None = None
) -> torch.Tensor:
    """Apply ``unitary^dagger`` to the top ``k`` wires and move them to the bottom.

    The inverse of :func:`apply_block_bottom`; ``unitary`` and ``out`` as there. Recorded for
    autograd (an adjoint sweep run under it), the product is a new tensor.
    """
    shape = state.shape
    lead = shape[: len(shape) - n_qubits]
    size = unitary.shape[-1]
    flat = state.reshape(-1, size, 2**n_qubits // size)  # (b, K, M)
    u = _per_product(unitary, lead, flat.shape[0])
    # (U^dagger psi)^T = psi^T conj(U)
    if torch.is_grad_enabled() and (state.requires_grad or unitary.requires_grad):
        return torch.bmm(flat.transpose(1, 2), u.conj()).reshape(shape)
    if out is None:
        out = pool.take(shape, torch.promote_types(state.dtype, unitary.dtype), state.device)
    torch.bmm(flat.transpose(1, 2), u.conj(), out=out.view(flat.shape[0], -1, size))
    return out


def apply_groups(state: torch.Tensor, unitaries: list[torch.Tensor], n_qubits: int) -> torch.Tensor:
    """Apply a layer's group blocks (in :func:`wire_groups` order); the wire order is restored."""
    for unitary in unitaries:
        state = apply_block_bottom(state, unitary, n_qubits)
    return state


def apply_groups_inverse(
    state: torch.Tensor, unitaries: list[torch.Tensor], n_qubits: int
) -> torch.Tensor:
    """Undo :func:`apply_groups`: the blocks' inverses, last group first."""
    for unitary in reversed(unitaries):
        state = apply_block_top_inverse(state, unitary, n_qubits)
    return state
