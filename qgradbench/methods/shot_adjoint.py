r"""Shot-based adjoint: exact adjoint entries, sampled with a hardware estimator's statistics.

No other library offers this: PennyLane's adjoint method raises with shots (PennyLane issue
1418 asks for it) and pyqtorch/qadence return exact gradients silently. Here one adjoint sweep
(Jones & Gacon 2020) gives every Jacobian entry ``g_k = d<O>/dt_k`` exactly, and each entry is
then drawn from the *exact* distribution of a hardware estimator of it with ``N`` shots.

Along ``t_k`` every expectation value is ``f(t_k + s) = A_k + B_k cos s + g_k sin s`` with
``A_k = (f(t) + f(t + pi e_k)) / 2``. With ``+-1``-valued observables (Pauli words):

* ``match="hadamard"``: ``g_hat = 2 Bin(N, (1 + g_k)/2) / N - 1`` is exactly the Hadamard-test
  estimate (:mod:`qgradbench.methods.hadamard`); mean ``g_k``, ``Var = (1 - g_k^2) / N``.
  Cost of the simulation: one forward and one backward sweep.
* ``match="parameter-shift"``: ``f(t +- pi/2) = A_k +- g_k``, so
  ``g_hat = (Bin(N, (1 + A_k + g_k)/2) - Bin(N, (1 + A_k - g_k)/2)) / N`` is exactly the
  two-term parameter-shift estimate; mean ``g_k``, ``Var = (1 - A_k^2 - g_k^2) / (2N)``. It
  needs ``f(t + pi e_k)`` for every ``k``: ``P`` extra "pi-kicked" exact evaluations, about half of
  what simulating parameter-shift costs.

Entries for different outputs (and different slots) are sampled independently, i.e. as if each
``<O_j>`` were measured in its own ungrouped set of shots; the real ``hadamard`` and
``parameter-shift`` methods estimate all outputs of one circuit from the same bitstrings, so
their entries of different outputs are correlated while every single entry has the same
distribution. For the encoding rotations ``RY(pi x)`` the chain factor ``pi`` applies to the
sampled entry, as it does on hardware.

Cost accounting reports the emulated estimator's circuits and shots: ``P`` (hadamard) or
``2P`` (parameter-shift) circuits of ``N`` shots per sample.
"""

from __future__ import annotations

import math

import torch

from qgradbench.methods.adjoint import adjoint_jacobian
from qgradbench.methods.base import JacobianMethod

MATCHES = ("hadamard", "parameter-shift")
PAULI_OBSERVABLES = ("z-each", "zz", "global-z")


def _binomial_mean(shots: int, p: torch.Tensor, generator) -> torch.Tensor:
    """``Bin(shots, p) / shots`` elementwise, with ``p`` clipped to [0, 1] (rounding)."""
    p = p.to(torch.float64).clamp(0, 1)
    return torch.binomial(torch.full_like(p, float(shots)), p, generator=generator) / shots


class ShotAdjoint(JacobianMethod):
    """Adjoint sweep, then each Jacobian entry sampled like a hardware estimator.

    Options:
        match: ``"hadamard"`` (default) or ``"parameter-shift"``, the estimator whose
            distribution every entry follows.
    """

    name = "shot-adjoint"
    family = "simulator"
    supports_shots = True
    hardware = "emulates"
    summary = "adjoint sweep, entries sampled as the hadamard or parameter-shift estimator"
    options = {"match": "hadamard"}

    def __init__(self, **options):
        super().__init__(**options)
        if self.config["match"] not in MATCHES:
            raise ValueError(
                f"match must be one of {', '.join(MATCHES)}, got {self.config['match']!r}"
            )

    def circuits_per_sample(self, n_slots: int) -> int:
        """Circuits of the emulated estimator: ``P`` (hadamard) or ``2P`` (parameter-shift)."""
        return n_slots * (1 if self.config["match"] == "hadamard" else 2)

    def validate(self, execution):
        """With shots, the sampled entries need ``+-1`` outcomes: a Pauli-word observable."""
        super().validate(execution)
        if execution.shots is not None and execution.observable.name not in PAULI_OBSERVABLES:
            raise ValueError(
                f"shot-adjoint with shots samples +-1 outcomes and needs a Pauli-word observable "
                f"({', '.join(PAULI_OBSERVABLES)}), got {execution.observable.name!r}"
            )

    def jacobian(self, execution, theta, slots, f0):  # noqa: D102
        index = torch.as_tensor(slots, device=theta.device)
        g = adjoint_jacobian(execution, theta)[..., index]  # (B, n_out, S), exact
        shots, gen = execution.shots, execution.generator
        if shots is None:
            return g
        if self.config["match"] == "hadamard":
            return (2 * _binomial_mean(shots, (1 + g) / 2, gen) - 1).to(g.dtype)
        a = self._offsets(execution, theta, slots)
        plus = _binomial_mean(shots, (1 + a + g) / 2, gen)
        minus = _binomial_mean(shots, (1 + a - g) / 2, gen)
        return (plus - minus).to(g.dtype)

    @staticmethod
    def _offsets(execution, theta, slots) -> torch.Tensor:
        """``A_k = (f(theta) + f(theta + pi e_k)) / 2`` for every slot, exact, ``(B, n_out, S)``."""
        with torch.no_grad():
            kicked = theta.unsqueeze(1).repeat(1, len(slots), 1)
            kicked[:, torch.arange(len(slots)), torch.as_tensor(slots)] += math.pi
            f_kicked = execution.expval(kicked.reshape(-1, theta.shape[-1]))
            f_kicked = f_kicked.reshape(theta.shape[0], len(slots), -1).transpose(1, 2)
            f0 = execution.expval(theta).unsqueeze(-1)
        return (f0 + f_kicked) / 2
