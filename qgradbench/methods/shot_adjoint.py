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
from dataclasses import replace

import numpy as np
import torch

from qgradbench.backend.branching import pi_kicks
from qgradbench.methods.base import JacobianMethod
from qgradbench.methods.parameter_shift import build_general_recipe

MATCHES = ("hadamard", "parameter-shift")
PAULI_OBSERVABLES = ("z-each", "zz", "global-z")


def _binomial_mean(shots, p: torch.Tensor, generator) -> torch.Tensor:
    """``Bin(shots, p) / shots`` elementwise, with ``p`` clipped to [0, 1] (rounding).

    ``shots`` is an integer, or a tensor broadcastable to ``p`` (per-output shots).
    """
    p = p.to(torch.float64).clamp(0, 1)
    count = torch.as_tensor(shots, dtype=torch.float64, device=p.device).expand_as(p)
    return torch.binomial(count.contiguous(), p, generator=generator) / count


def output_shots(execution) -> torch.Tensor | int:
    """Shots behind each output's estimate: ``shots``, or its measurement group's share.

    Returns an integer when every output gets all the shots, else a ``(n_out, 1)`` tensor.
    """
    observable, shots = execution.observable, execution.shots
    if observable.diagonal:
        return shots
    share = observable.allocate(shots, execution.shot_split)
    group_of = {word: g for g, group in enumerate(observable.groups) for word in group.words}
    per_output = [share[group_of[s.terms[0][1]]] for s in observable.sums]
    return torch.tensor(per_output, dtype=torch.float64).unsqueeze(-1)


def _pauli_word_outputs(observable) -> bool:
    """Whether every output is one Pauli word with coefficient +-1 (``+-1`` outcomes)."""
    if getattr(observable, "sums", None) is None:
        return observable.name in PAULI_OBSERVABLES
    return all(
        len(s.terms) == 1 and s.terms[0][1] and abs(s.terms[0][0]) == 1.0 for s in observable.sums
    )


class ShotAdjoint(JacobianMethod):
    """Adjoint sweep, then each Jacobian entry sampled like a hardware estimator.

    A slot that drives several rotations (a gate lowered to several Pauli rotations, such as
    ``CRX``) is sampled as the real rules treat it: with ``match="hadamard"`` as the sum of its
    rotations' Hadamard tests weighted by their scales; with ``match="parameter-shift"``, when
    its gate has other frequencies than one, as the general shift rule's estimate from the
    exact values of its shifted circuits (:mod:`qgradbench.methods.parameter_shift`).

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

    def backward_circuits(self, circuit, slots) -> int:
        """The emulated estimator's circuits: one per rotation, or ``2 R`` per slot."""
        if self.config["match"] == "hadamard":
            return sum(len(circuit.slot_rotations[int(s)]) for s in slots)
        return sum(2 * len(circuit.slot_frequencies[int(s)]) for s in slots)

    def validate(self, execution):
        """With shots, the sampled entries need ``+-1`` outcomes: Pauli-word outputs."""
        super().validate(execution)
        if execution.shots is not None and not _pauli_word_outputs(execution.observable):
            raise ValueError(
                f"shot-adjoint with shots samples +-1 outcomes and needs outputs that are single "
                f"Pauli words with coefficient +-1 ({', '.join(PAULI_OBSERVABLES)}, or e.g. "
                f"['Z0', 'X1 X2']), got {execution.observable.name!r}"
            )

    def jacobian(self, execution, theta, slots, f0):  # noqa: D102
        shots = execution.shots
        if shots is None:
            return execution.jacobian(theta, slots)  # (B, n_out, S), exact
        slots = np.asarray(slots, dtype=np.int64)
        if self.config["match"] == "hadamard":
            return self._hadamard(execution, theta, slots)
        circuit = execution.circuit
        two_term = np.array([circuit.slot_frequencies[k] == (1.0,) for k in slots], dtype=bool)
        jac = theta.new_zeros(theta.shape[0], execution.observable.n_outputs, len(slots))
        if two_term.any():
            chosen = slots[two_term]
            g = execution.jacobian(theta, chosen)
            a = self._offsets(execution, theta, chosen)
            n = output_shots(execution)
            plus = _binomial_mean(n, (1 + a + g) / 2, execution.generator)
            minus = _binomial_mean(n, (1 + a - g) / 2, execution.generator)
            jac[..., np.flatnonzero(two_term)] = (plus - minus).to(g.dtype)
        if not two_term.all():
            rest = np.flatnonzero(~two_term)
            jac[..., rest] = _sampled_recipe(execution, theta, slots[rest])
        return jac

    @staticmethod
    def _hadamard(execution, theta, slots) -> torch.Tensor:
        """Every rotation's Hadamard-test estimate, summed over each slot's rotations."""
        n = output_shots(execution)
        circuit = execution.circuit
        if circuit.all_simple:
            g = execution.jacobian(theta, slots)
            return (2 * _binomial_mean(n, (1 + g) / 2, execution.generator) - 1).to(g.dtype)
        expanded, source, scales = circuit.per_rotation
        wanted = np.flatnonzero(np.isin(source, slots))
        per_rotation = replace(execution, circuit=expanded)
        scale_t = torch.as_tensor(scales, dtype=theta.dtype, device=theta.device)
        angles = theta.index_select(-1, torch.as_tensor(source, device=theta.device)) * scale_t
        g = per_rotation.jacobian(angles, wanted)
        sampled = (2 * _binomial_mean(n, (1 + g) / 2, execution.generator) - 1).to(g.dtype)
        column = {int(k): c for c, k in enumerate(slots)}
        index = torch.as_tensor([column[int(source[r])] for r in wanted], device=theta.device)
        out = g.new_zeros(*g.shape[:2], len(slots))
        return out.index_add_(-1, index, sampled * scale_t[torch.as_tensor(wanted)])

    @staticmethod
    def _offsets(execution, theta, slots) -> torch.Tensor:
        """``A_k = (f(theta) + f(theta + pi e_k)) / 2`` for every slot, exact, ``(B, n_out, S)``.

        The kicked circuits run as a gradient rule's shifted circuits
        (:meth:`~qgradbench.backend.execution.Execution.estimate_shifted`, exact): a kick of a
        weight shared by the batch changes the same gates for every row.
        """
        exact = replace(execution, shots=None)
        with torch.no_grad():
            kicked = exact.estimate_shifted(theta, pi_kicks(theta, slots))
            f_kicked = kicked.transpose(1, 2)  # (B, n_out, S)
            f0 = execution.expval(theta).unsqueeze(-1)
        return (f0 + f_kicked) / 2


def _sampled_recipe(execution, theta: torch.Tensor, slots: np.ndarray) -> torch.Tensor:
    """The general shift rule's estimate of ``slots``: exact shifted values, each sampled.

    Every shifted value ``f_m`` is drawn as the mean of ``N`` ``+-1`` outcomes,
    ``2 Bin(N, (1 + f_m) / 2) / N - 1``, exactly what measuring the shifted circuit gives, and
    combined with the rule's coefficients. ``(B, n_out, S)``. The shifted circuits run as
    :meth:`~qgradbench.backend.execution.Execution.estimate_shifted` runs them (exact).
    """
    circuit = execution.circuit
    recipe = build_general_recipe(
        circuit.n_params, tuple(int(k) for k in slots), circuit.slot_frequencies, math.pi / 2
    )
    offsets = torch.as_tensor(recipe.offsets, dtype=theta.dtype, device=theta.device)
    coeffs = torch.as_tensor(recipe.coeffs, dtype=theta.dtype, device=theta.device)
    with torch.no_grad():  # exact values of the shifted circuits, (B, M, n_out)
        f = replace(execution, shots=None).estimate_shifted(theta, offsets)
    n = output_shots(execution)
    n = n if isinstance(n, int) else n.T.unsqueeze(0)  # (1, 1, n_out) against (B, M, n_out)
    sampled = (2 * _binomial_mean(n, (1 + f) / 2, execution.generator) - 1).to(f.dtype)
    return torch.einsum("sm,bmo->bos", coeffs, sampled)
