"""The state-vector engine against closed forms and explicit matrices."""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np
import pytest
import torch

from qgradbench import engine
from qgradbench.circuits import Observable, observables
from qgradbench.engine import Monomial


def kron_all(mats):
    return functools.reduce(np.kron, mats)


def dense(gate_1q: np.ndarray, wire: int, n: int) -> np.ndarray:
    """The 2**n matrix of a single-qubit gate on ``wire`` (wire 0 most significant)."""
    return kron_all([gate_1q if w == wire else np.eye(2) for w in range(n)])


def monomial_matrix(gate: Monomial) -> np.ndarray:
    """The 2**n matrix of a monomial gate: column s is the image of |s>."""
    eye = torch.eye(2**gate.n_qubits, dtype=torch.complex128)
    images = engine.apply_monomial(eye.reshape(-1, *([2] * gate.n_qubits)), gate)
    return images.reshape(2**gate.n_qubits, -1).T.numpy()


def random_state(batch, n, gen):
    re = torch.randn(batch, 2**n, generator=gen, dtype=torch.float64)
    im = torch.randn(batch, 2**n, generator=gen, dtype=torch.float64)
    psi = torch.complex(re, im)
    psi = psi / psi.norm(dim=-1, keepdim=True)
    return psi.reshape(batch, *([2] * n))


class TestGates:
    """Gate matrices."""

    @pytest.mark.parametrize("pauli", ["X", "Y", "Z"])
    def test_rotation_is_exponential(self, pauli):
        """Test that R_P(t) equals the matrix exponential exp(-i t P / 2)."""
        t = torch.tensor([0.3, -1.7, math.pi])
        p = engine.pauli_matrix(pauli, torch.complex128)
        got = engine.rotation_matrices(t.double().unsqueeze(-1), p.unsqueeze(0))[:, 0]
        want = torch.linalg.matrix_exp(-0.5j * t.double()[:, None, None] * p)
        torch.testing.assert_close(got, want)

    def test_unknown_pauli(self):
        """Test that an unknown Pauli name raises a ValueError naming it."""
        with pytest.raises(ValueError, match="'W'"):
            engine.pauli_matrix("W")

    @pytest.mark.parametrize(
        "name,wires,matrix",
        [
            ("CNOT", (0, 1), np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]])),
            ("CNOT", (1, 0), np.array([[1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0], [0, 1, 0, 0]])),
            ("CZ", (0, 1), np.diag([1, 1, 1, -1])),
            ("SWAP", (0, 1), np.array([[1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1]])),
        ],
    )
    def test_monomial_matrices(self, name, wires, matrix):
        """Test that two-qubit monomial gates equal their textbook matrices."""
        gate = Monomial.gate(name, wires, 2)
        psi = torch.eye(4, dtype=torch.complex128).reshape(4, 2, 2)
        got = engine.apply_monomial(psi, gate).reshape(4, 4).T  # columns: images of |s>
        np.testing.assert_allclose(got.numpy(), matrix)

    @pytest.mark.parametrize("gather_qubits", [64, 0])
    def test_monomial_composition_and_inverse(self, gather_qubits, monkeypatch):
        """Test that composed monomials equal the sequence, and the inverse undoes it.

        With both kernels: ``index_select`` (small registers) and ``gather`` (from
        ``GATHER_QUBITS`` qubits on; forced here by a threshold of 0).
        """
        monkeypatch.setattr(engine.statevector, "GATHER_QUBITS", gather_qubits)
        n, gen = 3, torch.Generator().manual_seed(0)
        gates = [
            Monomial.gate("CNOT", (0, 2), n),
            Monomial.gate("CZ", (1, 2), n),
            Monomial.gate("X", (1,), n),
            Monomial.gate("SWAP", (0, 1), n),
        ]
        psi = random_state(4, n, gen)
        seq = psi
        for g in gates:
            seq = engine.apply_monomial(seq, g)
        fused = functools.reduce(Monomial.then, gates)
        torch.testing.assert_close(engine.apply_monomial(psi, fused), seq)
        torch.testing.assert_close(engine.apply_monomial(seq, fused.inverse), psi)

    def test_permutations_store_no_phases(self):
        """Test that CNOT, SWAP, X and their products, inverses included, keep ``phase=None``.

        A phase array of ones takes 1 GiB per monomial at 26 qubits; with CZ mixed in, the
        phases are kept and the product still equals the explicit matrices (checked above).
        """
        n = 4
        ring = functools.reduce(
            Monomial.then,
            [Monomial.gate("CNOT", (w, (w + 1) % n), n) for w in range(n)]
            + [Monomial.gate("SWAP", (0, 2), n), Monomial.gate("X", (1,), n)],
        )
        assert ring.phase is None and ring.inverse.phase is None and ring.is_permutation
        with_cz = ring.then(Monomial.gate("CZ", (1, 3), n))
        assert with_cz.phase is not None and not with_cz.is_permutation
        np.testing.assert_allclose(
            monomial_matrix(with_cz),
            monomial_matrix(Monomial.gate("CZ", (1, 3), n)) @ monomial_matrix(ring),
        )

    @pytest.mark.parametrize("gather_qubits", [64, 0])
    def test_monomial_gradient_is_the_inverse(self, gather_qubits, monkeypatch):
        """Test that the gradient through a monomial ``U`` is ``U^dagger`` applied to it.

        For ``L = Re <v|U psi>`` torch's gradient is ``dL/dRe psi + i dL/dIm psi = U^dagger v``,
        built here from the explicit matrix of ``U`` (phases included: CZ, S-like monomials).
        """
        monkeypatch.setattr(engine.statevector, "GATHER_QUBITS", gather_qubits)
        n, gen = 4, torch.Generator().manual_seed(6)
        gate = functools.reduce(
            Monomial.then,
            [Monomial.gate("CNOT", (0, 3), n), Monomial.gate("CZ", (1, 2), n)]
            + [Monomial.gate("CNOT", (w, (w + 1) % n), n) for w in range(n)],
        )
        psi = random_state(3, n, gen).requires_grad_()
        v = random_state(3, n, gen).reshape(3, -1)
        out = engine.apply_monomial(psi, gate).reshape(3, -1)
        (grad,) = torch.autograd.grad((v.conj() * out).sum().real, psi)
        want = v.numpy() @ monomial_matrix(gate).conj()  # rows: (U^dagger v)^T
        np.testing.assert_allclose(grad.reshape(3, -1).numpy(), want, atol=1e-12)

    @pytest.mark.parametrize("gather_qubits", [64, 0])
    def test_monomial_of_a_conjugated_view(self, gather_qubits, monkeypatch):
        """Test that a lazily conjugated state gives ``U conj(psi)``, still as a conjugated view.

        The fused groups' backward passes hand such views on. Complex phases here (not those of
        CZ or Z, which are real), so a phase applied unconjugated to the stored data fails.
        """
        monkeypatch.setattr(engine.statevector, "GATHER_QUBITS", gather_qubits)
        n, gen = 3, torch.Generator().manual_seed(10)
        phase = np.exp(1j * np.linspace(0.3, 2.9, 2**n))
        gate = Monomial(n, np.random.default_rng(1).permutation(2**n), phase)
        psi = random_state(2, n, gen)
        got = engine.apply_monomial(psi.conj(), gate)
        assert got.is_conj()
        want = engine.apply_monomial(psi.conj().resolve_conj(), gate)
        np.testing.assert_allclose(got.resolve_conj().numpy(), want.numpy(), atol=1e-12)
        np.testing.assert_allclose(
            want.reshape(2, -1).numpy(), psi.reshape(2, -1).numpy().conj() @ monomial_matrix(gate).T
        )

    def test_unknown_fixed_gate(self):
        """Test that an unknown fixed gate raises a ValueError naming it."""
        with pytest.raises(ValueError, match="'TOFFOLI'"):
            Monomial.gate("TOFFOLI", (0, 1, 2), 3)


class TestStatevector:
    """Applying gates and measuring."""

    def test_zero_state(self):
        """Test that zero_state is |0...0> with the (batch, 2, ..., 2) shape."""
        psi = engine.zero_state(5, 3)
        assert psi.shape == (5, 2, 2, 2) and psi.dtype == torch.complex64
        assert torch.all(psi.reshape(5, -1)[:, 0] == 1) and psi.abs().sum() == 5

    @pytest.mark.parametrize("wire", [0, 1, 2, 3])
    def test_apply_matrix_equals_kron(self, wire):
        """Test that a gate on one wire equals the Kronecker-product matrix on the whole state."""
        n, gen = 4, torch.Generator().manual_seed(wire)
        psi = random_state(3, n, gen)
        u = torch.linalg.qr(torch.randn(3, 2, 2, dtype=torch.complex128, generator=gen))[0]
        got = engine.apply_matrix(psi, u, wire, n).reshape(3, -1)
        for b in range(3):
            want = dense(u[b].numpy(), wire, n) @ psi[b].reshape(-1).numpy()
            np.testing.assert_allclose(got[b].numpy(), want, atol=1e-12)

    def test_apply_matrix_broadcasts_one_matrix(self):
        """Test that one matrix for the whole batch equals one matrix per batch element."""
        n, gen = 3, torch.Generator().manual_seed(1)
        psi = random_state(4, n, gen)
        u = torch.linalg.qr(torch.randn(2, 2, dtype=torch.complex128, generator=gen))[0]
        torch.testing.assert_close(
            engine.apply_matrix(psi, u, 1, n), engine.apply_matrix(psi, u.expand(4, 2, 2), 1, n)
        )

    def test_product_state(self):
        """Test that product_state is the Kronecker product of the single-qubit states."""
        gen = torch.Generator().manual_seed(2)
        cols = torch.randn(2, 3, 2, dtype=torch.complex128, generator=gen)
        got = engine.product_state(cols).reshape(2, -1)
        for b in range(2):
            want = kron_all([c.numpy() for c in cols[b]])
            np.testing.assert_allclose(got[b].numpy(), want)

    def test_product_state_large_register(self, monkeypatch):
        """Test that the outer-product path (large registers) builds the same state."""
        gen = torch.Generator().manual_seed(4)
        cols = torch.randn(2, 5, 2, dtype=torch.complex128, generator=gen)
        cols.requires_grad_()
        weights = torch.randn(2, 2**5, dtype=torch.complex128, generator=gen)

        def state_and_grad():
            state = engine.product_state(cols)
            loss = (weights * state.reshape(2, -1)).sum().real
            return state.detach(), torch.autograd.grad(loss, cols)[0]

        gathered = state_and_grad()
        monkeypatch.setattr(engine.dense, "GATHER_PRODUCT_QUBITS", 2)  # halves 2 + (1 + 2)
        for got, want in zip(state_and_grad(), gathered, strict=True):
            torch.testing.assert_close(got, want)

    @pytest.mark.parametrize("batch", [(2,), (3, 2)])
    def test_product_state_of_a_large_batch(self, monkeypatch, batch):
        """Test the halves path that a large batch takes above SMALL_PRODUCT_QUBITS, with grads.

        7 qubits: above ``SMALL_PRODUCT_QUBITS``; ``GATHER_PRODUCT_AMPLITUDES = 1`` sends the
        batch down the halves path, the default gathers; both against numpy's Kronecker product.
        """
        gen = torch.Generator().manual_seed(8)
        cols = torch.randn(*batch, 7, 2, dtype=torch.complex128, generator=gen).requires_grad_()
        weights = torch.randn(*batch, 2**7, dtype=torch.complex128, generator=gen)
        flat = cols.detach().reshape(-1, 7, 2).numpy()
        want = torch.as_tensor(np.stack([kron_all(list(c)) for c in flat])).reshape(*batch, -1)

        def state_and_grad():
            state = engine.product_state(cols).reshape(*batch, -1)
            loss = (weights * state).sum().real
            return state.detach(), torch.autograd.grad(loss, cols)[0]

        gathered = state_and_grad()
        monkeypatch.setattr(engine.dense, "GATHER_PRODUCT_AMPLITUDES", 1)
        halves = state_and_grad()
        torch.testing.assert_close(gathered[0], want)
        for got, ref in zip(halves, gathered, strict=True):
            torch.testing.assert_close(got, ref)

    def test_product_state_with_zero_entries(self):
        """Test the product state (and its gradient) when columns hold exact zeros, as |0> does."""
        cols = torch.tensor([[[1, 0], [0.6, 0.8j]]], dtype=torch.complex128, requires_grad=True)
        got = engine.product_state(cols).reshape(-1)
        np.testing.assert_allclose(got.detach().numpy(), [0.6, 0.8j, 0, 0])
        (grad,) = torch.autograd.grad(got.real.sum(), cols)
        # L = Re((c00 + c01)(c10 + c11)); torch's gradient of a real L at a complex z is
        # dL/dRe z + i dL/dIm z = conj(c10 + c11) = 0.6 - 0.8j for both c00 and c01 (where the
        # other factor of the product is an exact zero, so a naive result / input would fail)
        np.testing.assert_allclose(grad[0, 0].numpy(), [0.6 - 0.8j, 0.6 - 0.8j])

    @pytest.mark.parametrize("lead", [(), (5,), (2, 3)])
    def test_gather_last_is_indexing_of_the_last_axis(self, lead):
        """Test that gather_last gives ``values[..., index]`` and the same gradient.

        Leading axes of none, one and two (the gather path and the 1-D ``index_select`` path),
        with repeated entries in the index, so that the backward pass must add up the
        gradients of one entry gathered several times.
        """
        gen = torch.Generator().manual_seed(5)
        values = torch.randn(*lead, 6, dtype=torch.complex128, generator=gen).requires_grad_()
        index = torch.tensor([5, 0, 0, 3, 5, 1, 5])
        weights = torch.randn(*lead, 7, dtype=torch.complex128, generator=gen)
        got, want = engine.dense.gather_last(values, index), values[..., index]
        torch.testing.assert_close(got, want, rtol=0, atol=0)
        grads = [torch.autograd.grad((weights * x).sum().real, values)[0] for x in (got, want)]
        torch.testing.assert_close(*grads, rtol=0, atol=0)

    @pytest.mark.parametrize("batch", [1, 40])
    @pytest.mark.parametrize("wires", [3, 5, 6])
    def test_fused_kron_is_the_kronecker_product(self, wires, batch):
        """Test fused.kron (gathered, and pairwise for 40 blocks of 5-6 wires) against numpy.

        Factors in order ``M_0 (x) M_1 (x) ...``: a reversed order or a transposed factor in
        the pairwise products fails against numpy's Kronecker products.
        """
        mats = torch.randn(batch, wires, 2, 2, dtype=torch.complex128)
        got = engine.fused.kron(mats)
        want = np.stack([kron_all(list(m)) for m in mats.numpy()])
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-12, atol=1e-14)
        pairwise = wires >= engine.fused.PAIRWISE_KRON_WIRES and batch * 4**wires >= (
            engine.fused.PAIRWISE_KRON_ENTRIES
        )
        assert pairwise == (batch == 40 and wires >= 5)  # both paths are exercised

    def test_kron_unitaries_batched(self):
        """Test dense unitaries of a batch of gate sets (shifted variants) one set at a time."""
        n, gen = 3, torch.Generator().manual_seed(6)
        post = Monomial.gate("CNOT", (0, 1), n).then(Monomial.gate("CZ", (1, 2), n))
        index, phase = engine.kron_table(n, None, post)
        index = torch.as_tensor(engine.stack_tables([index]))
        phase = torch.as_tensor(phase[None])
        gates = torch.randn(4, 1, n, 2, 2, dtype=torch.complex128, generator=gen)
        got = engine.kron_unitaries(gates, index, phase)
        assert got.shape == (4, 1, 8, 8)
        for b in range(4):
            torch.testing.assert_close(got[b], engine.kron_unitaries(gates[b], index, phase))

    def test_expval_of_rotated_qubit(self):
        """Test that <Z> after RY(t)|0> is cos(t) and <X> is sin(t) (closed form)."""
        t = torch.linspace(-3, 3, 7, dtype=torch.float64)
        ry = engine.rotation_matrices(t[:, None], engine.pauli_matrix("Y", torch.complex128)[None])
        psi = engine.apply_matrix(engine.zero_state(7, 1, torch.complex128), ry[:, 0], 0, 1)
        z = engine.expval_diagonal(psi, torch.tensor([[1.0, -1.0]], dtype=torch.float64), 1)
        torch.testing.assert_close(z[:, 0], torch.cos(t))
        h = engine.pauli_matrix("X", torch.complex128)  # <X> = <psi| X |psi>
        x = (psi.conj() * engine.apply_matrix(psi, h, 0, 1)).sum((-1,)).real
        torch.testing.assert_close(x, torch.sin(t))

    @pytest.mark.parametrize("autograd_amplitudes", [0, 1 << 15])
    def test_expval_gradient(self, monkeypatch, autograd_amplitudes):
        """Test expval_diagonal's gradient against finite differences, both backward passes.

        ``gradcheck`` perturbs the real and imaginary part of every amplitude (complex128,
        central differences): a missing factor 2 or a conjugated state in the written-out
        backward pass (threshold 0: every state takes it) fails it; above, small states take
        autograd's own chain.
        """
        monkeypatch.setattr(engine.statevector, "AUTOGRAD_AMPLITUDES", autograd_amplitudes)
        n, gen = 3, torch.Generator().manual_seed(7)
        psi = random_state(2, n, gen).requires_grad_()
        diagonals = torch.randn(4, 2**n, dtype=torch.float64, generator=gen)
        assert torch.autograd.gradcheck(lambda p: engine.expval_diagonal(p, diagonals, n), psi)

    @pytest.mark.parametrize("pair_sum", [0, 1 << 11])
    def test_recorded_probabilities(self, monkeypatch, pair_sum):
        """Test that probabilities recorded for autograd are |psi_s|^2, by both additions.

        Bit for bit the unrecorded (pooled) values, and a gradient of ``2 w_s psi_s`` for
        ``sum_s w_s p_s`` (torch's convention for a real function of a complex input).
        """
        monkeypatch.setattr(engine.statevector, "PAIR_SUM_AMPLITUDES", pair_sum)
        gen = torch.Generator().manual_seed(8)
        psi = random_state(3, 4, gen).requires_grad_()
        got = engine.probabilities(psi, 4)
        with torch.no_grad():
            want = engine.probabilities(psi, 4)
        torch.testing.assert_close(got, want, rtol=0, atol=0)
        weights = torch.randn(3, 16, dtype=torch.float64, generator=gen)
        (grad,) = torch.autograd.grad((got * weights).sum(), psi)
        torch.testing.assert_close(grad.reshape(3, 16), 2 * weights * psi.detach().reshape(3, 16))

    def test_probabilities_normalised(self):
        """Test that probabilities are |psi_s|^2 and sum to one."""
        psi = random_state(3, 5, torch.Generator().manual_seed(3))
        p = engine.probabilities(psi, 5)
        torch.testing.assert_close(p, psi.reshape(3, -1).abs() ** 2)
        torch.testing.assert_close(p.sum(-1), torch.ones(3, dtype=torch.float64))

    def test_extra_batch_axes(self):
        """Test that several leading batch axes behave like one flattened batch axis."""
        n, gen = 3, torch.Generator().manual_seed(4)
        psi = random_state(6, n, gen).reshape(2, 3, *([2] * n))
        u = torch.linalg.qr(torch.randn(2, 1, 2, 2, dtype=torch.complex128, generator=gen))[0]
        got = engine.apply_matrix(psi, u, 2, n).reshape(6, -1)
        flat = engine.apply_matrix(
            psi.reshape(6, *([2] * n)), u.expand(2, 3, 2, 2).reshape(6, 2, 2), 2, n
        )
        torch.testing.assert_close(got, flat.reshape(6, -1))

    @pytest.mark.parametrize("bad", [0, -1, 27, 2.0, "4", True])
    def test_check_n_qubits(self, bad):
        """Test that qubit counts outside [1, MAX_QUBITS] raise a ValueError naming the value."""
        with pytest.raises(ValueError, match=rf"n_qubits .*{engine.MAX_QUBITS}.*{bad!r}"):
            engine.check_n_qubits(bad)


class TestDenseLayers:
    """One-gather dense unitaries of a layer of single-qubit gates and the fixed gates around it."""

    @pytest.mark.parametrize("with_pre", [False, True])
    @pytest.mark.parametrize("with_post", [False, True])
    def test_kron_unitaries_equal_explicit_products(self, with_pre, with_post):
        """Test U = post (M_0 (x) ... (x) M_{n-1}) pre against Kronecker and monomial matrices."""
        n, gen = 3, torch.Generator().manual_seed(3)
        pre = Monomial.gate("CNOT", (0, 2), n).then(Monomial.gate("CZ", (1, 2), n))
        post = Monomial.gate("CZ", (0, 1), n).then(Monomial.gate("SWAP", (0, 2), n))
        pre, post = (pre if with_pre else None), (post if with_post else None)
        gates = torch.randn(2, n, 2, 2, dtype=torch.complex128, generator=gen)  # two layers
        tables = [engine.kron_table(n, pre, post), engine.kron_table(n, post, pre)]
        index = torch.as_tensor(engine.stack_tables([t[0] for t in tables]))
        phases = [np.ones((8, 8)) if p is None else p for _, p in tables]
        got = engine.kron_unitaries(gates, index, torch.as_tensor(np.stack(phases)))
        for layer, (first, last) in enumerate([(pre, post), (post, pre)]):
            want = kron_all([g.numpy() for g in gates[layer]])
            if first is not None:
                want = want @ monomial_matrix(first)
            if last is not None:
                want = monomial_matrix(last) @ want
            np.testing.assert_allclose(got[layer].numpy(), want, atol=1e-12)

    def test_kron_table_has_no_phase_for_permutations(self):
        """Test that CNOT-only layers need no phase multiply."""
        cnot = Monomial.gate("CNOT", (0, 1), 2)
        assert engine.kron_table(2, cnot, cnot)[1] is None
        assert engine.kron_table(2, Monomial.gate("CZ", (0, 1), 2))[1] is not None


def bits(n: int) -> np.ndarray:
    """``(2**n, n)``: the bits of every basis state, wire 0 the most significant."""
    return np.array(list(itertools.product([0, 1], repeat=n)))


#: Each observable's eigenvalues on the basis states with bits ``b`` ``(2**n, n)``, written from
#: its definition: rows are outputs.
OBSERVABLE_TABLES = {
    "z-each": lambda b: (1 - 2 * b).T,
    "zz": lambda b: ((1 - 2 * b[:, 0]) * (1 - 2 * b[:, 1]))[None],
    "global-z": lambda b: np.prod(1 - 2 * b, axis=1)[None],
    "global-projector": lambda b: np.all(b == 0, axis=1)[None].astype(float),
    "local-projector": lambda b: np.mean(b == 0, axis=1)[None],
    "local-z": lambda b: np.mean(1 - 2 * b, axis=1)[None],
}


@pytest.mark.parametrize("name", list(OBSERVABLE_TABLES))
class TestObservableTables:
    """Observables' eigenvalue tables, which every expectation value and shot estimate uses."""

    @pytest.mark.parametrize("n", [2, 3, 4])
    def test_table_from_definition(self, name, n):
        """Test that the table is each output's eigenvalue on every basis state."""
        obs = Observable(name, n)
        want = OBSERVABLE_TABLES[name](bits(n)).astype(float)
        np.testing.assert_array_equal(obs.table(), want)
        assert obs.n_outputs == want.shape[0]
        assert not obs.table().flags.writeable
        assert obs.description
        for dtype in (torch.float32, torch.float64):
            diag = obs.diagonals(dtype, "cpu")
            assert diag.dtype == dtype and diag.device.type == "cpu"
            np.testing.assert_allclose(diag.numpy(), want, rtol=1e-7, atol=0)

    def test_one_qubit(self, name):
        """Test that one qubit works for every observable but zz, which names the qubit count."""
        if name == "zz":
            with pytest.raises(
                ValueError, match=r"'zz' \(Z0 Z1\) needs at least 2 qubits, got n_qubits=1"
            ):
                Observable(name, 1)
        else:
            want = OBSERVABLE_TABLES[name](bits(1)).astype(float)
            np.testing.assert_array_equal(Observable(name, 1).table(), want)

    @pytest.mark.parametrize("n", [1, 2, 5])
    def test_factored_expectations_and_weights(self, name, n, monkeypatch):
        """Test the table-free path of large registers against the table, on small ones.

        ``TABLE_ENTRIES = 0`` forces the factors (marginals, sums over wires, product vectors)
        that ``expectations`` and ``weights`` use above the table size; extra batch axes too.
        """
        if name == "zz" and n == 1:
            return
        gen = torch.Generator().manual_seed(11)
        obs = Observable(name, n)
        table = obs.diagonals(torch.float64, "cpu")
        probs = torch.rand(2, 3, 2**n, generator=gen, dtype=torch.float64)
        coeffs = torch.randn(2, 3, obs.n_outputs, generator=gen, dtype=torch.float64)
        assert obs.tabulated
        monkeypatch.setattr(observables, "TABLE_ENTRIES", 0)
        assert not obs.tabulated
        torch.testing.assert_close(obs.expectations(probs), probs @ table.T)
        torch.testing.assert_close(obs.weights(coeffs), coeffs @ table)


def test_every_observable_has_factors():
    """Test that the table-free path knows every registered observable."""
    assert set(observables._FACTORS) == set(observables.OBSERVABLES) == set(OBSERVABLE_TABLES)


def test_unknown_observable():
    """Test that an unknown observable name raises a ValueError listing the known ones."""
    with pytest.raises(ValueError, match="unknown observable 'zzz'; expected one of z-each, zz,"):
        Observable("zzz", 2)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu():
    """Test that the engine gives the same states on CUDA as on the CPU."""
    n, gen = 4, torch.Generator().manual_seed(5)
    psi = random_state(8, n, gen)
    u = torch.linalg.qr(torch.randn(8, 2, 2, dtype=torch.complex128, generator=gen))[0]
    gate = Monomial.gate("CNOT", (0, 3), n)
    cpu = engine.apply_monomial(engine.apply_matrix(psi, u, 2, n), gate)
    gpu = engine.apply_monomial(engine.apply_matrix(psi.cuda(), u.cuda(), 2, n), gate)
    torch.testing.assert_close(gpu.cpu(), cpu)
