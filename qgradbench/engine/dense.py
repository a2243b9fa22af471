r"""Dense unitaries of one layer of single-qubit gates and the fixed gates around it.

On a small register a layer of 2x2 gates, one per wire, plus the monomial gates just before and
after it is cheaper to apply as one ``2**n x 2**n`` matrix than gate by gate: what costs on a
few qubits is the number of operations, not their size. The matrix is built without a chain of
Kronecker products. With ``pre`` and ``post`` monomials (``(U psi)[s] = ph[s] psi[src[s]]``,
:class:`~qgradbench.engine.Monomial`) and gates ``M_w`` on the wires,

.. math::
    U = \mathrm{post}\,(M_0 \otimes \dots \otimes M_{n-1})\,\mathrm{pre},\qquad
    U[r, c] = \mathrm{ph_{post}}[r]\;\mathrm{ph_{pre}}[p(c)]\;
              \prod_w M_w\big[\mathrm{bit}_w(\mathrm{src_{post}}[r]),\ \mathrm{bit}_w(p(c))\big],

where ``p = src_pre^{-1}``: every entry is a product of one entry of each ``M_w``, so ``U`` is
one gather from the stacked gates and one product over the wires (:func:`kron_unitaries`).
The same gather with a column vector per wire builds a product state (:func:`product_state`).
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from qgradbench.engine import pool
from qgradbench.engine.gates import Monomial, bit


@functools.lru_cache(maxsize=64)
def _product_index(n_qubits: int, device: str) -> torch.Tensor:
    s = np.arange(2**n_qubits)
    index = np.stack([2 * w + bit(s, w, n_qubits) for w in range(n_qubits)])
    return torch.as_tensor(index, device=device)


#: Up to this many qubits :func:`product_state` gathers all factors at once (``n`` times the
#: state's memory); above, it builds the top and bottom halves of the wires that way and joins
#: them by one outer product.
GATHER_PRODUCT_QUBITS = 10

#: ... and above :data:`SMALL_PRODUCT_QUBITS` only while the batch's states hold fewer
#: amplitudes than this: ``n`` factors of a large batch leave the caches. Measured on the
#: 2-core VM (complex64, one thread), gather against halves: 1000 states of 10 qubits 46 ms
#: against 1.1 ms, 64 of 10 qubits 542 against 173 us, 1000 of 8 qubits 2.4 against 1.1 ms,
#: 100 of 8 qubits 180 against 201 us, 30 of 8 qubits 63 against 136 us; at 6 qubits and
#: fewer the two are within 1.4x either way (1792 states of 4 qubits: 145 against 235 us).
GATHER_PRODUCT_AMPLITUDES = 2**15
SMALL_PRODUCT_QUBITS = 6


def product_state(columns: torch.Tensor) -> torch.Tensor:
    """Return the product state ``(x)_w columns[..., w, :]`` over the wires.

    Amplitude ``s`` is ``prod_w columns[w, bit_w(s)]``: on small registers one gather and one
    product. On larger ones (more than :data:`GATHER_PRODUCT_QUBITS`, or a large batch of more
    than :data:`SMALL_PRODUCT_QUBITS`) the state is ``top (x) bottom`` for the product states of
    the top and bottom halves of the wires, written by one batched outer product (a matrix
    product with an inner dimension of one): one pass over the state, and a backward pass of two
    matrix-vector products, where a chain of per-wire outer products costs about two passes
    forward and autograd's backward of each broadcast product several more.

    Args:
        columns: complex tensor ``(*batch, n, 2)``; row ``w`` is the single-qubit state of wire w.

    Returns:
        The state ``(*batch, 2, ..., 2)``.
    """
    n, batch = columns.shape[-2], columns.shape[:-2]
    if n <= SMALL_PRODUCT_QUBITS or (
        n <= GATHER_PRODUCT_QUBITS and batch.numel() << n < GATHER_PRODUCT_AMPLITUDES
    ):
        index = _product_index(n, str(columns.device))
        state = gather_last(columns.flatten(-2), index.flatten()).unflatten(-1, index.shape)
        state = state.prod(-2)
    else:
        half = n // 2
        top = product_state(columns[..., :half, :]).reshape(*batch, 2**half, 1)
        bottom = product_state(columns[..., half:, :]).reshape(*batch, 1, 2 ** (n - half))
        if torch.is_grad_enabled() and columns.requires_grad:
            state = top @ bottom
        else:  # not recorded: into a pooled buffer (engine.pool)
            out = pool.take((*batch, 2**half, 2 ** (n - half)), top.dtype, top.device)
            state = torch.matmul(top, bottom, out=out)
    return state.reshape(*batch, *([2] * n))


def gather_last(values: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``values[..., index]`` for a 1-D ``index``: the same entries, gathered faster.

    On the CPU ``torch.gather`` with the index broadcast over the leading axes took a third to
    a half of the time of advanced indexing (or ``index_select``) on the last axis when there
    are leading axes (48 x 16 to 48 x 1024 complex: 45 against 103 us; 1792 x 8 to 1792 x 64:
    70 against 254 us), and as long without; the backward pass (a scatter-add) as well.
    """
    if values.dim() == 1:
        return values.index_select(0, index)
    return values.gather(-1, index.expand(*values.shape[:-1], -1))


def product_contractions(values: torch.Tensor, columns: torch.Tensor) -> torch.Tensor:
    """``mu_w[y] = sum_r conj(prod_{v != w} c_v[r_v]) values[y on w, r]`` for every wire ``w``.

    ``values`` contracted against the product state of every wire but one: with ``values`` a
    state ``lambda``, its overlaps with ``(x)_{v != w} c_v`` (the adjoint's leading blocks);
    with columns of ones and ``values`` probabilities, every wire's marginal. Halves the wires
    recursively: ``values`` as ``(top, bottom)`` contracted with the bottom half's product state
    gives the top half's problem, and the other way round (two matrix-vector products, each one
    read of ``values``).

    Args:
        values: ``(*lead, K, 2**n)``.
        columns: ``(*lead, n, 2)``, or ``(n, 2)`` for all.

    Returns:
        ``(*lead, K, n, 2)``.
    """
    n = columns.shape[-2]
    if n == 1:
        return values.unsqueeze(-2)
    half = n // 2
    top, bottom = columns[..., :half, :], columns[..., half:, :]
    grid = values.unflatten(-1, (2**half, 2 ** (n - half)))  # (..., K, T, D)
    top_state = product_state(top).reshape(*columns.shape[:-2], 1, 1, 2**half)
    bottom_state = product_state(bottom).reshape(*columns.shape[:-2], 1, 2 ** (n - half), 1)
    on_top = (grid @ bottom_state.conj()).squeeze(-1)  # (..., K, T)
    on_bottom = (top_state.conj() @ grid).squeeze(-2)  # (..., K, D)
    return torch.cat(
        [product_contractions(on_top, top), product_contractions(on_bottom, bottom)], dim=-2
    )


def kron_table(
    n_qubits: int, pre: Monomial | None = None, post: Monomial | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Gather table and phases of ``post (M_0 (x) ... (x) M_{n-1}) pre`` (module docstring).

    Args:
        n_qubits: number of qubits.
        pre: monomial applied before the layer, or ``None``.
        post: monomial applied after the layer, or ``None``.

    Returns:
        ``(index, phase)``: ``index`` ``(n, 2**n, 2**n)`` into the flattened gates ``(n * 4,)``
        (entry ``4 w + 2 i + j`` is ``M_w[i, j]``), and the phase ``(2**n, 2**n)`` to multiply
        onto ``U``, or ``None`` when every phase is 1.
    """
    dim = 2**n_qubits
    rows, cols = np.arange(dim), np.arange(dim)
    row_phase, col_phase = np.ones(dim, complex), np.ones(dim, complex)
    if post is not None:
        rows, row_phase = post.source, post.phases()
    if pre is not None:
        cols = pre.inverse.source
        col_phase = pre.phases()[cols]
    index = np.stack(
        [
            4 * w + 2 * bit(rows, w, n_qubits)[:, None] + bit(cols, w, n_qubits)[None, :]
            for w in range(n_qubits)
        ]
    )
    phase = np.outer(row_phase, col_phase)
    return index, None if np.all(phase == 1) else phase


def stack_tables(indices: list[np.ndarray]) -> np.ndarray:
    """Stack the :func:`kron_table` indices of ``L`` layers into one table over all their gates.

    Table ``l`` is offset by ``4 n l`` so that it reads layer ``l``'s gates from the gates of all
    layers flattened together, as :func:`kron_unitaries` expects.
    """
    return np.stack([index + 4 * index.shape[0] * layer for layer, index in enumerate(indices)])


def kron_unitaries(
    gates: torch.Tensor, index: torch.Tensor, phase: torch.Tensor | None = None
) -> torch.Tensor:
    """Build dense layer unitaries from per-wire gates by one gather and one product.

    Args:
        gates: ``(*batch, L, n, 2, 2)``: the gate on each wire of each of ``L`` layers.
        index: ``(L, n, 2**n, 2**n)`` from :func:`stack_tables`.
        phase: ``(L, 2**n, 2**n)`` phases (see :func:`kron_table`), or ``None``.

    Returns:
        ``(*batch, L, 2**n, 2**n)``.
    """
    picked = gather_last(gates.flatten(-4), index.flatten()).unflatten(-1, index.shape)
    unitaries = picked.prod(-3)
    return unitaries if phase is None else unitaries * phase
