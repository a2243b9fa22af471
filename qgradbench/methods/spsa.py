r"""Simultaneous perturbation stochastic approximation (SPSA) of the gradient.

Spall, "Multivariate stochastic approximation using a simultaneous perturbation gradient
approximation", IEEE Trans. Autom. Control 37, 332 (1992).

For random directions ``Delta_d`` with independent Rademacher (``+-1``) entries, the estimate

.. math::  \hat g = \frac{1}{D} \sum_{d=1}^{D} \Delta_d \, \frac{1}{c} \sum_j c_j
           f(\theta + s_j c \Delta_d)

takes the finite-difference stencil ``(s_j, c_j)`` along each direction (central by default:
``(f(theta + c Delta) - f(theta - c Delta)) / (2c)``) and projects it back onto the slots. Since
``E[Delta_k Delta_l] = delta_kl``, it is unbiased up to the stencil's ``O(c^p)`` truncation, with a
variance that grows with the number of differentiated slots. Each sample of a batch draws its
own directions from the layer's generator (hardware runs each input separately).

Cost: ``num_directions`` times the nonzero stencil shifts circuits per sample (2 per direction for
central differences), independent of the number of parameters. As in PennyLane's
``gradients/spsa_gradient.py``, the stencils are the finite-difference ones and the direction
sampler is injectable.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from qgradbench.methods.base import HardwareMethod
from qgradbench.methods.finite_diff import FiniteDiff


def rademacher(shape: tuple[int, ...], generator, dtype, device) -> torch.Tensor:
    """Independent uniform ``+-1`` entries of ``shape``."""
    bits = torch.randint(0, 2, shape, generator=generator, device=device)
    return (2 * bits - 1).to(dtype)


class SPSA(HardwareMethod):
    """SPSA gradient (Spall 1992) along random Rademacher directions.

    Options:
        num_directions: directions averaged per gradient (default 1).
        c: the perturbation size; ``None`` (default) picks the finite-difference error-balancing
            step for the precision or shot count (see :mod:`qgradbench.methods.finite_diff`).
        strategy: stencil along each direction, ``"central"`` (default), ``"forward"``,
            ``"backward"``.
        approx_order: the stencil's order (default 2).
        sampler: ``sampler(shape, generator, dtype, device) -> directions``; default
            :func:`rademacher`.
    """

    name = "spsa"
    supports_shots = True
    hardware = "yes"
    summary = "simultaneous perturbation along random +-1 directions; 2 circuits per direction"
    options = {
        "num_directions": 1,
        "c": None,
        "strategy": "central",
        "approx_order": 2,
        "sampler": None,
    }

    def __init__(self, **options):
        super().__init__(**options)
        d = self.config["num_directions"]
        if isinstance(d, bool) or not isinstance(d, int) or d < 1:
            raise ValueError(f"num_directions must be an integer >= 1, got {d!r}")
        c = self.config["c"]
        # The stencil and step rules are the finite-difference ones; reuse their validation.
        self._differences = FiniteDiff(
            h=c, strategy=self.config["strategy"], approx_order=self.config["approx_order"]
        )
        sampler = self.config["sampler"]
        if sampler is not None and not callable(sampler):
            raise ValueError(f"sampler must be callable or None, got {sampler!r}")
        self._sampler: Callable = sampler or rademacher

    def circuits_per_sample(self, n_slots: int) -> int:
        """``num_directions`` x nonzero stencil shifts, whatever the number of slots."""
        return self.config["num_directions"] * self._differences.circuits_per_slot()

    def jacobian(self, execution, theta, slots, f0):  # noqa: D102
        batch, n_params = theta.shape
        n_dir = self.config["num_directions"]
        stencil = self._differences.stencil(execution.shots, theta.dtype)
        steps = torch.as_tensor(stencil.steps, dtype=theta.dtype, device=theta.device)
        weights = torch.as_tensor(stencil.weights, dtype=theta.dtype, device=theta.device)
        delta = self._sampler(
            (batch, n_dir, len(slots)), execution.generator, theta.dtype, theta.device
        )
        directions = theta.new_zeros(batch, n_dir, n_params)
        directions[..., torch.as_tensor(slots, device=theta.device)] = delta
        shifted = theta[:, None, None, :] + steps[:, None] * directions[:, :, None, :]
        f = execution.estimate(shifted.reshape(-1, n_params))
        f = f.reshape(batch, n_dir, len(steps), -1)
        # directional derivative estimates along each Delta_d, (B, D, n_out)
        slope = torch.einsum("j,bdjo->bdo", weights, f) + stencil.f0_weight * f0[:, None, :]
        return torch.einsum("bdo,bds->bos", slope, delta) / n_dir
