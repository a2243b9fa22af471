"""The engine's state pool (``qgradbench.engine.pool``): reuse without aliasing a live tensor.

The pool only pays on large registers (it ignores tensors under ``MIN_BYTES``), so these tests
lower the threshold to zero: every state of a small circuit then goes through it, and a pool
that handed out a buffer autograd still holds would corrupt the gradients checked here.
"""

from __future__ import annotations

import warnings

import pytest
import torch

import qgradbench
from qgradbench.engine import pool


@pytest.fixture
def pooled(monkeypatch):
    """Every state through a fresh pool (threshold 0)."""
    fresh = pool.StatePool(max_bytes=1 << 30, min_bytes=0)
    monkeypatch.setattr(pool, "POOL", fresh)
    return fresh


def _grads(layer, x):
    layer.zero_grad()
    x = x.clone().requires_grad_()
    layer(x).square().sum().backward()
    return layer.weights.grad.clone(), x.grad.clone()


@pytest.mark.parametrize("method", ["backprop", "adjoint"])
def test_two_live_graphs_keep_their_states(pooled, method):
    """Two forward passes recorded before either backward: each keeps its own saved states.

    With reuse that ignored references, the second forward would write its states into the
    buffers the first graph saved, and the first backward would differentiate the wrong
    circuit (planted: ``_free`` returning ``True`` always makes this test fail).
    """
    torch.manual_seed(0)
    layer = qgradbench.QuantumLayer(8, 3, diff_method=method, seed=1, dtype=torch.complex128)
    x1, x2 = torch.rand(4, 8), torch.rand(4, 8)
    expected1, expected2 = _grads(layer, x1), _grads(layer, x2)
    layer.zero_grad()
    a = x1.clone().requires_grad_()
    b = x2.clone().requires_grad_()
    out1 = layer(a).square().sum()
    out2 = layer(b).square().sum()  # the first graph still holds its states
    out2.backward()
    grad2 = layer.weights.grad.clone()
    layer.zero_grad()
    out1.backward()
    torch.testing.assert_close(layer.weights.grad, expected1[0], rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(a.grad, expected1[1], rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(grad2, expected2[0], rtol=1e-10, atol=1e-12)
    assert pooled.created > 0  # the states did go through the pool


def test_buffers_are_reused_across_calls(pooled):
    """A second identical step allocates no new pooled buffer: the first one's were freed.

    Eight qubits: above the dense regime, so the states go through the fused kernels.
    """
    layer = qgradbench.QuantumLayer(8, 3, diff_method="backprop", seed=1)
    x = torch.rand(4, 8)
    _grads(layer, x)
    created = pooled.created
    assert created > 0
    _grads(layer, x)
    assert pooled.created == created


def test_a_kept_result_is_never_handed_out(pooled):
    """A state the caller still holds (and views of it) is not free; a dropped one is."""
    first = pooled.take((4, 8), torch.complex64, "cpu")
    view = first[1:]
    del first
    second = pooled.take((4, 8), torch.complex64, "cpu")
    assert second.data_ptr() != view.untyped_storage().data_ptr()  # the view keeps the first
    second.fill_(1)
    assert pooled.created == 2
    del view
    third = pooled.take((4, 8), torch.complex64, "cpu")
    assert pooled.created == 2  # the first buffer came back
    assert third.data_ptr() != second.data_ptr()  # second is still held


def test_cap_and_off_switch():
    """Nothing is kept beyond ``max_bytes``; ``max_bytes=0`` keeps nothing; small ones bypass."""
    capped = pool.StatePool(max_bytes=64 * 8, min_bytes=0)
    kept = capped.take((64,), torch.complex64, "cpu")  # 512 bytes: fits
    extra = capped.take((64,), torch.complex64, "cpu")  # in use: a new one, over the cap
    assert capped.kept_bytes == 512 and capped.created == 1
    del kept, extra
    off = pool.StatePool(max_bytes=0, min_bytes=0)
    off.take((64,), torch.complex64, "cpu")
    assert off.created == 0 and off.kept_bytes == 0
    small = pool.StatePool(max_bytes=1 << 20, min_bytes=1 << 10)
    small.take((8,), torch.complex64, "cpu")
    assert small.created == 0
    capped.release()
    assert capped.kept_bytes == 0


def test_outputs_unchanged_by_the_pool(pooled):
    """The pooled engine gives the same values as the plain one (no stale buffer contents)."""
    layer = qgradbench.QuantumLayer(5, 2, diff_method="backprop", seed=3)
    x = torch.rand(3, 5)
    with torch.no_grad():
        pooled_out = [layer(x) for _ in range(2)]
    pooled.release()
    plain = pool.StatePool(max_bytes=0)
    pool.POOL = plain
    with torch.no_grad():
        plain_out = layer(x)
    for out in pooled_out:
        torch.testing.assert_close(out, plain_out, rtol=0, atol=0)


@pytest.mark.parametrize("text", ["lots", "-1", "1.5"])
def test_bad_pool_size_names_the_value(text):
    """``QGRADBENCH_POOL_BYTES`` that is not a byte count: a ValueError naming it."""
    with pytest.raises(ValueError, match=f"QGRADBENCH_POOL_BYTES.*{text!r}"):
        pool._pool_bytes(text)
    assert pool._pool_bytes("0") == 0


def test_buffers_are_bytes_shared_across_dtypes(pooled):
    """A free buffer serves a request of any dtype of half its bytes up to all of them.

    A complex state's buffer then holds the real probabilities of the next one. Planted: a
    pool kept by dtype (the one before) fails the float request, one that serves only
    buffers of exactly the request's size fails the last request.
    """
    state = pooled.take((4, 16), torch.complex64, "cpu")  # 512 bytes
    del state
    probs = pooled.take((4, 32), torch.float32, "cpu")  # 512 bytes, another dtype
    assert pooled.created == 1 and probs.dtype == torch.float32 and probs.shape == (4, 32)
    half = pooled.take((4, 8), torch.complex128, "cpu")  # the first is in use: a new one
    assert pooled.created == 2
    del probs, half
    narrow = pooled.take((2, 8), torch.complex128, "cpu")  # 256 bytes: half a free one serves
    assert pooled.created == 2 and narrow.dtype == torch.complex128


def test_idle_buffers_of_other_sizes_are_dropped(pooled):
    """A new buffer is made only after the free ones that cannot serve it are dropped.

    So the pool's idle memory never adds to the peak of work of another size (a backprop
    step's states, then an adjoint sweep's pairs). Planted: keeping them fails this.
    """
    small = [pooled.take((64,), torch.complex64, "cpu") for _ in range(3)]  # 512 bytes each
    kept = small.pop()  # still in use: must stay
    del small
    big = pooled.take((64,), torch.complex128, "cpu")  # 1024 bytes: a 512 one cannot serve it
    assert pooled.created == 4
    assert pooled.kept_bytes == 512 + 1024  # the two idle small ones are gone
    del kept, big


def _pooled_storage(pooled, tensor) -> bool:
    """Whether ``tensor`` lives in one of the pool's buffers."""
    ptr = tensor.untyped_storage().data_ptr()
    return any(buf.untyped_storage().data_ptr() == ptr for buf in pooled._buffers)


@pytest.mark.parametrize("name", ["z-each", "local-z"])
def test_observable_weights_and_lambda_are_pooled(pooled, monkeypatch, name):
    """The adjoint's ``lambda = O_eff psi`` and a large observable's diagonal are pool buffers.

    Both are state-sized writes of every backward pass; their values are the plain products,
    written without a resize warning (an ``out=`` of the wrong shape would be resized with
    one) and without a detour through a fresh tensor (planted: ``out=None``, or a ``torch.mul``
    that allocates, fails the storage check).
    """
    from qgradbench.backend import Execution
    from qgradbench.circuits import Observable, observables

    monkeypatch.setattr(observables, "TABLE_ENTRIES", 0)  # the factors (large-register) path
    n, gen = 5, torch.Generator().manual_seed(2)
    layer = qgradbench.QuantumLayer(n, 1, observable=name, seed=0, dtype=torch.complex128)
    execution: Execution = layer.execution
    table = Observable(name, n).diagonals(torch.float64, "cpu")
    coeffs = torch.randn(3, execution.observable.n_outputs, generator=gen, dtype=torch.float64)
    state = torch.randn(3, *[2] * n, generator=gen, dtype=torch.complex128)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        diagonal = execution.observable.weights(coeffs)
        lam = execution.apply_observable(state, coeffs)
    torch.testing.assert_close(diagonal, coeffs @ table, rtol=1e-12, atol=1e-12)
    want = state.reshape(3, -1) * (coeffs @ table)
    torch.testing.assert_close(lam.reshape(3, -1), want, rtol=1e-12, atol=1e-12)
    assert lam.shape == state.shape
    assert _pooled_storage(pooled, lam) and _pooled_storage(pooled, diagonal)


def test_observable_products_stay_differentiable(monkeypatch):
    """Recorded for autograd, the same products are plain (differentiable) ones.

    ``gradcheck`` of ``lambda`` in the state and the coefficients, and of the diagonal in the
    coefficients, on the factors path (planted: a product or sum that is not the table's, or
    a result of the wrong shape, fails).
    """
    from qgradbench.circuits import observables

    monkeypatch.setattr(observables, "TABLE_ENTRIES", 0)
    n, gen = 3, torch.Generator().manual_seed(4)
    layer = qgradbench.QuantumLayer(n, 1, observable="local-z", seed=0, dtype=torch.complex128)
    execution = layer.execution
    state = torch.randn(2, *[2] * n, generator=gen, dtype=torch.complex128).requires_grad_()
    coeffs = torch.randn(2, 1, generator=gen, dtype=torch.float64).requires_grad_()
    table = observables.Observable("local-z", n).diagonals(torch.float64, "cpu")
    lam = execution.apply_observable(state, coeffs)
    want = state.reshape(2, -1) * (coeffs @ table)
    torch.testing.assert_close(lam.reshape(2, -1), want)
    assert lam.shape == state.shape
    assert torch.autograd.gradcheck(lambda s, c: execution.apply_observable(s, c), (state, coeffs))
    fixed = coeffs.detach()  # only the state recorded: still the differentiable product
    assert torch.autograd.gradcheck(lambda s: execution.apply_observable(s, fixed), (state,))
    assert torch.autograd.gradcheck(execution.observable.weights, (coeffs,))


def test_adjoint_pair_is_one_pooled_buffer(pooled):
    """The sweep's ``(phi, lambda_k)`` pair: one pooled buffer of ``(B, 1 + K, ...)``.

    Written by one ``torch.cat`` into it, without a resize warning (planted: a wrong pair
    shape, a ``cat`` that allocates, or one along another axis, fails); recorded for
    autograd, a differentiable ``cat`` instead.
    """
    from qgradbench.backend.adjoint import _pair

    gen = torch.Generator().manual_seed(1)
    state = torch.randn(3, 2, 2, 2, generator=gen, dtype=torch.complex128)
    lam = torch.randn(3, 3, 2, 2, 2, generator=gen, dtype=torch.complex128)  # K = 3 outputs
    want = torch.cat([state.unsqueeze(1), lam], dim=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        both = _pair(state, lam)
    assert torch.equal(both, want) and _pooled_storage(pooled, both)
    recorded = _pair(state, lam.clone().requires_grad_())
    assert recorded.requires_grad and torch.equal(recorded.detach(), want)
    assert not _pooled_storage(pooled, recorded)
    traced = _pair(state.clone().requires_grad_(), lam)  # the state alone recorded
    assert traced.requires_grad and torch.equal(traced.detach(), want)
