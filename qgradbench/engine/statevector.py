"""Batched state vectors and the operations on them.

A state of ``n`` qubits is a complex tensor of shape ``(*batch, 2, ..., 2)`` with ``n`` trailing
axes of size two; axis ``-n + w`` is wire ``w``. Any number of leading batch axes is allowed, and
every gate takes its matrix per batch element (or broadcast over the batch), so one call runs a
whole batch of *different* circuits: inputs, shifted copies, perturbed copies.

Every function here is differentiable with ``torch.autograd`` and runs on whatever device the
state lives on. None of them loops over batch elements.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from qgradbench.engine import pool
from qgradbench.engine.gates import Monomial, Unitary

#: Largest register the engine accepts. One complex64 state of 26 qubits takes 512 MiB, so a
#: batch of a few dozen already fills a workstation; gradient rules multiply the batch further.
MAX_QUBITS = 26


def check_n_qubits(n_qubits: object) -> int:
    """Validate a qubit count and return it.

    Raises:
        ValueError: if ``n_qubits`` is not an integer in ``[1, MAX_QUBITS]``.
    """
    if isinstance(n_qubits, bool) or not isinstance(n_qubits, int):
        raise ValueError(f"n_qubits must be an integer in [1, {MAX_QUBITS}], got {n_qubits!r}")
    if not 1 <= n_qubits <= MAX_QUBITS:
        raise ValueError(
            f"n_qubits must be in [1, {MAX_QUBITS}] (a {MAX_QUBITS}-qubit complex64 state takes "
            f"{2**MAX_QUBITS * 8 // 2**20} MiB per sample), got {n_qubits}"
        )
    return n_qubits


def zero_state(
    batch: int | tuple[int, ...],
    n_qubits: int,
    dtype: torch.dtype = torch.complex64,
    device: str | torch.device = "cpu",
) -> torch.Tensor:
    """Return ``|0...0>`` for every batch element, shape ``(*batch, 2, ..., 2)``."""
    batch = (batch,) if isinstance(batch, int) else tuple(batch)
    state = torch.zeros((*batch, 2**n_qubits), dtype=dtype, device=device)
    state[..., 0] = 1
    return state.reshape(*batch, *([2] * n_qubits))


def apply_matrix(
    state: torch.Tensor,
    matrix: torch.Tensor,
    wire: int,
    n_qubits: int,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """Apply a single-qubit gate to ``wire``.

    Args:
        state: ``(*batch, 2, ..., 2)``.
        matrix: ``(*batch', 2, 2)`` with ``batch'`` broadcastable to ``batch``: one matrix per
            circuit, or one for all.
        wire: the wire it acts on.
        n_qubits: number of qubits of the state.
        out: a contiguous tensor of ``state``'s shape to write the result into (no gradient
            flows through it; see :class:`qgradbench.engine.PingPong`), or ``None``.

    Returns:
        The new state, same shape (``out`` when given).
    """
    shape = state.shape
    batch = shape[: len(shape) - n_qubits]
    psi = state.reshape(*batch, 2**wire, 2, 2 ** (n_qubits - wire - 1))
    if out is not None:
        torch.matmul(matrix.unsqueeze(-3), psi, out=out.view(psi.shape))
        return out
    return torch.matmul(matrix.unsqueeze(-3), psi).reshape(shape)


def apply_unitary(
    state: torch.Tensor, matrix: torch.Tensor, wires: tuple[int, ...], n_qubits: int
) -> torch.Tensor:
    """Apply a ``k``-qubit gate ``matrix`` ``(2**k, 2**k)`` to ``wires`` (differentiable)."""
    k = len(wires)
    lead = state.dim() - n_qubits
    axes = [lead + w for w in wires]
    moved = torch.movedim(state, axes, list(range(lead, lead + k)))
    shape = moved.shape
    flat = moved.reshape(*shape[:lead], 2**k, -1)
    out = torch.matmul(matrix, flat).reshape(shape)
    return torch.movedim(out, list(range(lead, lead + k)), axes)


@functools.lru_cache(maxsize=64)
def _unitary_tensor(gate: Unitary, dtype: torch.dtype, device: str) -> torch.Tensor:
    return torch.tensor(np.array(gate.matrix), dtype=dtype, device=device)


def apply_fixed(
    state: torch.Tensor, gate: Monomial | Unitary, out: torch.Tensor | None = None
) -> torch.Tensor:
    """Apply a fixed gate: a :class:`Monomial` run or a dense :class:`Unitary`.

    ``out``: as in :func:`apply_monomial` (a :class:`Unitary` ignores it: a new state).
    """
    if isinstance(gate, Monomial):
        return apply_monomial(state, gate, out)
    if state.is_conj():
        state = state.resolve_conj()
    matrix = _unitary_tensor(gate, state.dtype, str(state.device))
    return apply_unitary(state, matrix, gate.wires, gate.n_qubits)


@functools.lru_cache(maxsize=256)
def _monomial_tensors(gate: Monomial, dtype: torch.dtype, device: str):
    source = torch.as_tensor(gate.source, dtype=torch.long, device=device)
    phase = None if gate.is_permutation else torch.as_tensor(gate.phase, dtype=dtype, device=device)
    return source, phase


def apply_monomial(
    state: torch.Tensor, gate: Monomial, out: torch.Tensor | None = None
) -> torch.Tensor:
    """Apply a fixed monomial gate (a compiled run of CNOT, CZ, ...): one gather, one product.

    Differentiable; the backward pass applies the inverse monomial to the gradient (a gather
    too, where autograd's own would zero a buffer and scatter into it).

    Args:
        state: ``(*batch, 2, ..., 2)``.
        gate: the monomial.
        out: without gradients, a contiguous tensor of ``state``'s shape to gather into
            (ignored for a conjugated view, which gets a new one), or ``None``.
    """
    if torch.is_grad_enabled() and state.requires_grad:
        return _MonomialFunction.apply(state, gate)
    return _monomial(state, gate, out)


#: From this many qubits on, :func:`apply_monomial` gathers with ``torch.gather`` (one index
#: per amplitude, broadcast over the batch) instead of ``index_select``. Measured on the 2-core
#: VM (complex64, 2 threads, the CNOT ring's permutation): ``gather`` took 2.0 copies' time at
#: 20 qubits x batch 16 against 6.5 for ``index_select``, 3.6 against 7.3 at 24 qubits x batch
#: 1, and was already faster at 8 qubits; at 4 qubits (where dense layers absorb most
#: monomials anyway) ``index_select`` was faster.
GATHER_QUBITS = 8


def _monomial(state: torch.Tensor, gate: Monomial, into: torch.Tensor | None = None):
    lazy = state.is_conj()  # a conjugated view (fused groups' gradients) stays one: no copy
    if lazy:
        state, into = state.conj(), None
    n = gate.n_qubits
    shape = state.shape
    flat = state.reshape(-1, 2**n)  # one batch axis: a 3-D gather is far slower on CPU
    source, phase = _monomial_tensors(gate, state.dtype, str(state.device))
    if into is None:  # a pooled buffer: no fresh pages for a large state (engine.pool)
        into = pool.take(shape, state.dtype, state.device)
    target = into.view(flat.shape)
    if n >= GATHER_QUBITS:
        out = torch.gather(flat, 1, source.expand(flat.shape[0], -1), out=target)
    else:
        out = torch.index_select(flat, -1, source, out=target)
    if phase is not None:
        out.mul_(phase.conj() if lazy else phase)  # out is new: no second state
    out = out.reshape(shape)
    return out.conj() if lazy else out


class _MonomialFunction(torch.autograd.Function):
    """``U psi`` for a monomial ``U``; the gradient is ``U^dagger grad``, the inverse monomial."""

    @staticmethod
    def forward(ctx, state, gate):
        ctx.gate = gate
        return _monomial(state, gate)

    @staticmethod
    def backward(ctx, grad):
        return apply_monomial(grad, ctx.gate.inverse), None


def probabilities(state: torch.Tensor, n_qubits: int) -> torch.Tensor:
    """Return the basis-state probabilities ``|psi_s|^2``, shape ``(*batch, 2**n)`` (real).

    Computed as ``Re^2`` plus ``Im^2`` over the real view: two passes, where a reduction over the
    view's last axis of two (``.sum(-1)``) took five times as long on the CPU. Differentiable;
    recorded for autograd, states of at most :data:`PAIR_SUM_AMPLITUDES` amplitudes take the
    reduction, the same additions with one cheaper node in the backward pass.
    """
    flat = state.reshape(*state.shape[: state.dim() - n_qubits], 2**n_qubits)
    parts = torch.view_as_real(flat)
    if torch.is_grad_enabled() and state.requires_grad:
        squares = parts.square()
        if flat.numel() <= PAIR_SUM_AMPLITUDES:
            return squares.sum(-1)
        return squares[..., 0] + squares[..., 1]
    real = parts.dtype  # not recorded: both passes write pooled buffers (engine.pool)
    squares = torch.square(parts, out=pool.take(parts.shape, real, state.device))
    out = pool.take(flat.shape, real, state.device)
    return torch.add(squares[..., 0], squares[..., 1], out=out)


#: Up to this many amplitudes (batch included) :func:`probabilities`, recorded for autograd,
#: adds each amplitude's two squares by ``.sum(-1)`` (a sum of two terms: the same value as
#: ``+``); above, by two selections and ``+``. Measured (complex64, one thread, forward and
#: backward through ``probs @ table.T``): 84 against 102 us at 32 x 16 amplitudes (the seed
#: model), 99 against 111 at 32 x 64, 147 against 135 at 32 x 256, 340 against 238 at 32 x 1024.
PAIR_SUM_AMPLITUDES = 1 << 11

#: Up to this many amplitudes (batch included) :func:`expval` leaves its backward pass to
#: autograd's chain: a Python ``autograd.Function`` costs more per call than that chain's few
#: tiny kernels. Measured (complex64, one thread, forward and backward): 128 against 159 us at
#: 32 x 16 amplitudes (the seed model), 284 against 299 us at 32 x 2**10, and 1189 against
#: 835 us at 32 x 2**12, where the passes over the state decide.
AUTOGRAD_AMPLITUDES = 1 << 15


def expval(state: torch.Tensor, observable, n_qubits: int) -> torch.Tensor:
    """Expectation values of a diagonal observable, ``sum_s |psi_s|^2 O_j[s]``.

    Differentiable, with the backward pass written out (:class:`_Expval`) above
    :data:`AUTOGRAD_AMPLITUDES`: one product and one elementwise pass over the state, where
    autograd's chain through :func:`probabilities` takes several.

    Args:
        state: ``(*batch, 2, ..., 2)``.
        observable: what is measured: an object with ``expectations(probs)``, probabilities
            ``(..., 2**n)`` to values ``(..., n_obs)``, and ``weights(coeffs)``, ``(..., n_obs)``
            to the diagonal ``sum_j coeffs_j O_j`` ``(..., 2**n)``
            (:class:`qgradbench.circuits.Observable`, or a table via :func:`expval_diagonal`).
        n_qubits: number of qubits.

    Returns:
        ``(*batch, n_obs)``.
    """
    if torch.is_grad_enabled() and state.requires_grad and state.numel() > AUTOGRAD_AMPLITUDES:
        return _Expval.apply(state, observable, n_qubits)
    return observable.expectations(probabilities(state, n_qubits))


def expval_diagonal(state: torch.Tensor, diagonals: torch.Tensor, n_qubits: int) -> torch.Tensor:
    """Expectation values of observables given as a table of their eigenvalues (:func:`expval`).

    Args:
        state: ``(*batch, 2, ..., 2)``.
        diagonals: real ``(n_obs, 2**n)``; row ``j`` holds the eigenvalue of observable ``j`` on
            each basis state.
        n_qubits: number of qubits.

    Returns:
        ``(*batch, n_obs)`` with ``<psi| O_j |psi> = sum_s |psi_s|^2 O_j[s]``.
    """
    if diagonals.requires_grad:  # autograd's own chain, which differentiates the table too
        return probabilities(state, n_qubits) @ diagonals.T
    return expval(state, _Table(diagonals), n_qubits)


class _Table:
    """A table of eigenvalues ``(n_obs, 2**n)`` as the observable :func:`expval` expects."""

    def __init__(self, diagonals: torch.Tensor):
        self.diagonals = diagonals

    def expectations(self, probs: torch.Tensor) -> torch.Tensor:
        return probs @ self.diagonals.T

    def weights(self, coeffs: torch.Tensor) -> torch.Tensor:
        return coeffs @ self.diagonals


class _Expval(torch.autograd.Function):
    r"""``<O_j> = sum_s |psi_s|^2 O_j[s]`` and its gradient with respect to ``psi``.

    With ``w_s = sum_j g_j O_j[s]`` for the incoming gradient ``g`` (the observable's
    ``weights``), the gradient is ``2 w_s psi_s`` (PyTorch's convention for a complex input of
    a real function, :math:`\partial/\partial \mathrm{Re} + i\,\partial/\partial \mathrm{Im}`).
    """

    @staticmethod
    def forward(ctx, state, observable, n_qubits):
        ctx.save_for_backward(state)
        ctx.observable, ctx.n_qubits = observable, n_qubits
        return observable.expectations(probabilities(state, n_qubits))

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        (state,) = ctx.saved_tensors
        return _expval_backward(state, ctx.observable, ctx.n_qubits, grad), None, None


def _expval_backward(state, observable, n_qubits, grad):
    """``2 w_s psi_s`` of :class:`_Expval` (undecorated, so mutation testing sees it)."""
    lead = state.shape[: state.dim() - n_qubits]
    weights = observable.weights(2 * grad)  # (*batch, 2**n), real
    return scale_by_real(state.reshape(*lead, 2**n_qubits), weights).reshape(state.shape)


def scale_by_real(flat: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``flat * weights`` for a complex state and real weights, into a pooled buffer.

    Not recorded for autograd. Written over the real view (both parts times the weight, the
    same rounding): a product of a complex and a real tensor with ``out=`` first converts the
    real operand to a complex copy on the CPU, a transient state's worth of memory.

    Args:
        flat: complex ``(..., 2**n)``.
        weights: real, broadcastable to ``flat``.
    """
    out = pool.take(flat.shape, flat.dtype, flat.device)
    parts = torch.view_as_real(flat.resolve_conj())
    torch.mul(parts, weights.unsqueeze(-1), out=torch.view_as_real(out))
    return out
