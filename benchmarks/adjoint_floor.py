#!/usr/bin/env python
r"""How fast can the adjoint method be on the seed model at all? A hand-written floor.

The seed model's quantum layer (4 qubits, ``RY(pi x_i)`` encoding, two strongly entangling
layers, ``<Z_i>`` on every qubit, batch 32, complex64) with its adjoint-method gradient written
out by hand as one ``torch.autograd.Function``, with nothing of qgradbench's engine. It is the
counterpart of ``benchmarks/autograd_floor.py`` for the adjoint method: one circuit's code, not
a simulator (no other circuit, no batching rules, no checks), checked against
``QuantumLayer(diff_method="adjoint")`` first, then timed beside it.

Forward: the encoding and the first layer's ``Rot`` gates as one product state
``|psi_b> = (x)_w c_bw`` with ``c_bw = R1_w RY(pi x_bw)|0>``, the second layer and both CNOT
rings as one dense unitary ``U = P_1 K P_0`` (``K = (x)_w R2_w``, ``P_0``, ``P_1`` the rings'
permutations), the outputs as one product with the ``Z`` table.

Backward: the adjoint method's reverse sweep (Jones & Gacon, arXiv:2009.02823), collapsed for
this circuit. With the incoming gradient ``g``, ``O_b = sum_i g_bi Z_i`` and
``|lambda_b> = O_b U |psi_b>``, every derivative is
``dL/dt = 2 Re <lambda_b| dU/dt |psi_b> + 2 Re <U^dagger lambda_b| d psi_b/dt>``:

* second layer: with ``a_b = P_0 psi_b`` and ``m_b = P_1^T lambda_b``,
  ``dL/dt = 2 Re sum_{x,y} dR2_w[x, y] E_w[x, y]``, where
  ``E_w[x, y] = sum_{s_w = x, s'_w = y} Y[s, s'] prod_{v != w} R2_v[s_v, s'_v]`` and
  ``Y = sum_b conj(m_b) a_b^T`` (the batch contracted first: the weights are shared);
* first layer and inputs: with ``lambda0_b = U^dagger lambda_b`` and
  ``mu_bw[x] = sum_{s_w = x} conj(lambda0_b[s]) prod_{v != w} c_bv[s_v]``,
  ``dL/dt = 2 Re sum_x mu_bw[x] dc_bw[x]/dt``: for ``R1_w``'s angles
  ``2 Re sum_{x,y} dR1_w[x, y] F_w[x, y]`` with ``F_w = sum_b mu_bw e_bw^T``, for ``x_bw``
  ``2 Re mu_bw . R1_w de_bw/dx`` with ``e = (cos(pi x/2), sin(pi x/2))``.

``Rot(phi, theta, omega) = RZ(omega) RY(theta) RZ(phi)`` and its three derivatives are closed
forms. About 50 operations in all. The whole step (classical layers and Adam included) with
this layer is the fastest adjoint step there is on this model in eager PyTorch, to hold against
``lightning.qubit``'s.

Usage::

    python benchmarks/adjoint_floor.py [--turns T] [--per N] [--pl-per M] [--no-pennylane]
                                       [--threads 1] [--json OUT]

PennyLane's step (``lightning.qubit``, adjoint) runs in the same turns (``autograd_floor.py``).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.autograd_floor import (  # noqa: E402
    N_STATES,
    SeedWeights,
    _bits,
    _cnot_ring,
    floor_main,
)
from benchmarks.compare_pennylane import N_QUBITS  # noqa: E402


def _tables() -> dict[str, torch.Tensor]:
    """The circuit's fixed index and selection tables (built once, at import)."""
    bits = _bits()
    n, d = N_QUBITS, N_STATES
    ring0, ring1 = _cnot_ring(0), _cnot_ring(1)
    pair = [(2 * bits[w][:, None] + bits[w][None, :]).flatten() for w in range(n)]  # (s_w, s'_w)
    pick_pair = torch.zeros(n, d * d, 4)  # entry (s, s') of a d x d matrix -> (s_w, s'_w)
    pick_bit = torch.zeros(n, d, 2)  # basis state s -> s_w
    for w in range(n):
        pick_pair[w, torch.arange(d * d), pair[w]] = 1
        pick_bit[w, torch.arange(d), bits[w]] = 1
    minus_half_i = -0.5j
    return {
        "column": (2 * torch.arange(n)[:, None] + bits).flatten(),  # product-state gather
        "kron": torch.stack([4 * w + pair[w] for w in range(n)]).flatten(),  # K's factors
        "ring0": ring0,
        "ring1": ring1,
        "unring0": torch.argsort(ring0),
        "unring1": torch.argsort(ring1),
        "z": (1.0 - 2.0 * bits).T.contiguous(),  # (d, n): Z_i's eigenvalues
        "others": torch.tensor([[v for v in range(n) if v != w] for w in range(n)]),
        "pick_pair": pick_pair.to(torch.complex64),
        "pick_bit": pick_bit.to(torch.complex64),
        # d Rot / d phi = Rot (-i Z / 2), d Rot / d omega = (-i Z / 2) Rot: entries scaled
        "d_phi": torch.tensor([1, -1, 1, -1]) * minus_half_i,
        "d_omega": torch.tensor([1, 1, -1, -1]) * minus_half_i,
    }


TABLES = _tables()


def rot_with_derivatives(weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``Rot`` matrices ``(..., 4)`` and their derivatives ``(..., 3, 4)`` (row-major 2x2).

    Args:
        weights: ``(..., 3)`` angles ``(phi, theta, omega)``.
    """
    half = 0.5 * weights
    phi, theta, omega = half.unbind(-1)
    c, s = torch.cos(theta), torch.sin(theta)
    a = torch.polar(torch.ones_like(phi), -(phi + omega))  # e^{-i(phi+omega)/2}
    b = torch.polar(torch.ones_like(phi), phi - omega)  # e^{ i(phi-omega)/2}
    rot = torch.stack([a * c, -b * s, b.conj() * s, a.conj() * c], -1)
    d_theta = 0.5 * torch.stack([-a * s, -b * c, b.conj() * c, -a.conj() * s], -1)
    return rot, torch.stack([rot * TABLES["d_phi"], d_theta, rot * TABLES["d_omega"]], -2)


class SeedAdjoint(torch.autograd.Function):
    """The seed layer's ``<Z_i>`` with the adjoint method's gradient (module docstring)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:  # noqa: D102
        t, n, d = TABLES, N_QUBITS, N_STATES
        rot, d_rot = rot_with_derivatives(weights)  # (2, n, 4), (2, n, 3, 4)
        first = rot[0].view(n, 2, 2)
        half = (0.5 * math.pi) * x
        e = torch.stack([torch.cos(half), torch.sin(half)], -1).to(torch.complex64)  # RY|0>
        columns = (first * e.unsqueeze(-2)).sum(-1)  # (B, n, 2)
        picked = columns.flatten(-2).index_select(1, t["column"]).view(-1, n, d)
        factors = rot[1].flatten().index_select(0, t["kron"]).view(n, d * d)
        kron = factors.prod(0).view(d, d)
        a = picked.prod(-2).index_select(1, t["ring0"])  # P_0 psi
        final = (a @ kron.T).index_select(1, t["ring1"])  # P_1 K P_0 psi
        ctx.save_for_backward(half, e, first, d_rot, factors, kron, picked, a, final)
        return (final.real.square() + final.imag.square()) @ t["z"]

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # noqa: D102
        t, n = TABLES, N_QUBITS
        half, e, first, d_rot, factors, kron, picked, a, final = ctx.saved_tensors
        m = (final * (grad @ t["z"].T)).index_select(1, t["unring1"])  # P_1^T O U psi
        y = (m.conj().T @ a).flatten()  # Y[s, s'] = sum_b conj(m_b[s]) a_b[s']
        others = factors[t["others"]].prod(1)  # prod_{v != w} R2_v[s_v, s'_v], (n, d * d)
        env2 = torch.bmm((others * y).unsqueeze(1), t["pick_pair"]).view(n, 4)  # E_w
        lam0 = (m @ kron.conj()).index_select(1, t["unring0"])  # U^dagger lambda
        rest = picked[:, t["others"]].prod(2)  # prod_{v != w} c_v[s_v], (B, n, d)
        weighted = (rest * lam0.conj().unsqueeze(1)).transpose(0, 1)  # (n, B, d)
        mu = torch.bmm(weighted, t["pick_bit"]).transpose(0, 1)  # (B, n, 2)
        env1 = torch.einsum("bwx,bwy->wxy", mu, e).view(n, 4)  # F_w
        grad_w = 2 * (d_rot * torch.stack([env1, env2]).unsqueeze(-2)).sum(-1).real
        de = (0.5 * math.pi) * torch.stack([-torch.sin(half), torch.cos(half)], -1)
        grad_x = 2 * (mu * (first * de.to(mu.dtype).unsqueeze(-2)).sum(-1)).sum(-1).real
        return grad_x, grad_w


class HandWrittenSeedAdjoint(SeedWeights):
    """:class:`SeedAdjoint` as a layer.

    Args:
        weights: the layer's weights ``(N_LAYERS, N_QUBITS, 3)`` (``Rot(phi, theta, omega)``).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``<Z_i>`` ``(B, N_QUBITS)`` for inputs ``x`` ``(B, N_QUBITS)``."""
        return SeedAdjoint.apply(x, self.weights)


def main(argv: list[str] | None = None) -> int:  # noqa: D103
    return floor_main(argv, __doc__, "adjoint", HandWrittenSeedAdjoint)


if __name__ == "__main__":
    sys.exit(main())
