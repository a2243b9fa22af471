"""The contract every differentiation method follows, over two families.

A method maps the layer's encoding angles ``(B, n)`` and flat weights ``(P_w,)`` to expectation
values ``(B, n_out)`` in a way that ``torch.autograd`` can differentiate. Internally every
method works on the per-circuit angle vector ``theta = [encoding angles, weights]`` of
``P = n + P_w`` slots; gradients for the inputs and weights are read off its slots (the
weights' gradient summed over the batch, the inputs' scaled by the encoding's chain factor by
autograd).

* ``family = "simulator"`` (backprop, adjoint, shot-adjoint): differentiates the simulated
  state itself; nothing a quantum computer could run (shot-adjoint emulates a hardware
  estimator's statistics).
* ``family = "hardware"`` (parameter-shift, finite-diff, spsa, hadamard): estimates the
  Jacobian from expectation values of other circuits. The linear shift rules
  (:class:`ShiftRuleMethod`: parameter-shift, finite-diff) are each a pure *recipe*
  (:class:`Recipe`: which shifted angle vectors to evaluate and how to combine them, as in
  PennyLane's ``gradients/general_shift_rules.py``); SPSA draws its shifts at random and the
  Hadamard test runs other circuits, so they implement :meth:`JacobianMethod.jacobian`
  themselves. Execution folds every shifted circuit of the batch into one engine call. The
  Jacobian is only computed in the backward pass, as PennyLane does, so evaluation without
  gradients costs one circuit per sample.

Methods that produce a whole Jacobian in the backward pass (the hardware family and
shot-adjoint) share one autograd Function, :class:`JacobianMethod`, which contracts it with the
incoming gradient. This mirrors PennyLane's ``workflow/jacobian_products.py`` split between
device derivatives and transform-based derivatives.

Each method declares what a gradient costs, :meth:`DiffMethod.circuits_per_sample`, and every
pass is recorded in the layer's :class:`~qgradbench.backend.cost.Cost`.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from qgradbench.backend import MAX_AMPLITUDES_PER_CALL, Execution
from qgradbench.circuits import Circuit

__all__ = ["MAX_AMPLITUDES_PER_CALL", "Execution"]  # the backend's, as the methods see it


def assemble(inputs: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Return ``theta = [inputs, weights]`` per circuit, ``(B, n + P_w)``."""
    return torch.cat([inputs, weights.expand(inputs.shape[0], -1)], dim=-1)


def split_grad(
    grad_theta: torch.Tensor, n_inputs: int, needs: tuple[bool, bool]
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Split a per-circuit gradient ``(B, P)`` into the inputs' ``(B, n)`` and weights' parts."""
    g_in = grad_theta[:, :n_inputs] if needs[0] else None
    g_w = grad_theta[:, n_inputs:].sum(0) if needs[1] else None
    return g_in, g_w


def needed_slots(n_inputs: int, n_params: int, needs: tuple[bool, bool]) -> np.ndarray:
    """Slots of ``theta`` whose gradient autograd asks for (inputs first, then weights)."""
    parts = []
    if needs[0]:
        parts.append(np.arange(n_inputs))
    if needs[1]:
        parts.append(np.arange(n_inputs, n_params))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


class DiffMethod(abc.ABC):
    """A differentiation method of the quantum layer.

    Class attributes describe it for the registry and the ``qgradbench methods`` listing.

    Attributes:
        name: kebab-case registry name.
        family: ``"simulator"`` or ``"hardware"``.
        supports_shots: whether it accepts ``shots=N``.
        hardware: ``"yes"`` if a quantum computer can run it, ``"no"``, or ``"emulates"``.
        summary: one line for listings.
        options: accepted keyword options and their defaults.
    """

    name: ClassVar[str]
    family: ClassVar[str]
    supports_shots: ClassVar[bool]
    hardware: ClassVar[str]
    summary: ClassVar[str]
    options: ClassVar[dict[str, object]] = {}

    def __init__(self, **options):
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            accepted = ", ".join(self.options) or "none"
            raise ValueError(
                f"unknown option(s) {', '.join(map(repr, unknown))} for diff_method "
                f"{self.name!r}; accepted: {accepted}"
            )
        self.config = {**self.options, **options}

    def validate(self, execution: Execution) -> None:
        """Raise a ValueError if this method cannot run ``execution`` (its shots, observable)."""
        self.check_shots(execution.shots)

    def check_shots(self, shots: int | None) -> None:
        """Raise if this method cannot take ``shots``."""
        if shots is not None and not self.supports_shots:
            from qgradbench.methods import shot_methods

            raise ValueError(
                f"diff_method {self.name!r} is exact and cannot take shots={shots}; "
                f"methods that support shots: {', '.join(shot_methods())}"
            )

    @abc.abstractmethod
    def forward(
        self, execution: Execution, inputs: torch.Tensor, weights: torch.Tensor
    ) -> torch.Tensor:
        """Return ``(B, n_out)`` expectation values that autograd differentiates by this method.

        Implementations record their backward passes in ``execution.cost``; the layer records
        the forward pass.

        Args:
            execution: the circuit, observable, precision, shots and generator.
            inputs: encoding angles ``(B, n)``.
            weights: flat weights ``(P_w,)``, shared by the batch.
        """

    @abc.abstractmethod
    def circuits_per_sample(self, n_slots: int) -> int:
        """Circuits a backward pass executes (or emulates) per sample for ``n_slots`` angles."""

    def backward_circuits(self, circuit: Circuit, slots) -> int:
        """Circuits a backward pass over ``slots`` of ``circuit`` executes per sample.

        :meth:`circuits_per_sample` of their number, unless the rule's cost depends on the
        gates (parameter-shift's general rules, the Hadamard test of a lowered gate).
        """
        return self.circuits_per_sample(len(slots))

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.config.items())
        return f"{type(self).__name__}({opts})"


class SimulatorMethod(DiffMethod):
    """An exact method that differentiates the simulated state (not runnable on hardware)."""

    family = "simulator"

    def circuits_per_sample(self, n_slots: int) -> int:
        """Exact simulator gradients execute no circuits."""
        return 0


@dataclass(frozen=True)
class Recipe:
    """A linear gradient recipe: which circuits to run and how to combine their results.

    For angle vectors ``theta`` ``(B, P)`` and differentiated slots ``s = 0..S-1``::

        f_m = E[theta + offsets[m]]                         (M shifted circuits per sample)
        J[:, :, s] = sum_m coeffs[s, m] f_m + f0_coeffs[s] E[theta]

    ``E[theta]`` is the forward pass's own result, reused as hardware pipelines do, so a rule
    that needs the unshifted value costs no extra circuit.

    Attributes:
        offsets: ``(M, P)`` shifts of the angle vector.
        coeffs: ``(S, M)`` combination coefficients.
        f0_coeffs: ``(S,)`` coefficient of the unshifted value.
    """

    offsets: np.ndarray
    coeffs: np.ndarray
    f0_coeffs: np.ndarray

    @property
    def n_circuits(self) -> int:
        """Circuits per sample this recipe executes."""
        return self.offsets.shape[0]


class JacobianMethod(DiffMethod):
    """A method whose backward pass estimates the Jacobian and contracts it with ``grad_out``.

    The forward pass returns :meth:`Execution.estimate` (sampled when the layer has shots); the
    Jacobian is only computed when autograd asks for it, and only for the inputs or weights
    that require a gradient.
    """

    def forward(self, execution, inputs, weights):  # noqa: D102 (documented in the base)
        return _JacobianProduct.apply(inputs, weights, self, execution)

    @abc.abstractmethod
    def jacobian(
        self, execution: Execution, theta: torch.Tensor, slots: np.ndarray, f0: torch.Tensor
    ) -> torch.Tensor:
        """Estimate ``d E / d theta[:, slots]`` as ``(B, n_out, S)``.

        Args:
            execution: what to run and how.
            theta: angle vectors ``(B, P)``.
            slots: the differentiated slots.
            f0: the forward pass's results ``(B, n_out)`` for ``theta``.
        """


class HardwareMethod(JacobianMethod):
    """A method that estimates the Jacobian from other circuits' expectation values.

    Subclasses implement :meth:`jacobian` and :meth:`circuits_per_sample`; linear shift rules
    derive from :class:`ShiftRuleMethod`, which implements both from a :class:`Recipe`.
    """

    family = "hardware"


class ShiftRuleMethod(HardwareMethod):
    """A linear rule: a fixed :class:`Recipe` of shifted circuits per differentiated slot.

    Parameter-shift and finite differences are such rules. Subclasses give :meth:`recipe` and
    :meth:`circuits_per_slot`; execution and cost follow from them.
    """

    def circuits_per_sample(self, n_slots: int) -> int:
        """Circuits of the recipe per sample: ``n_slots`` x :meth:`circuits_per_slot`."""
        return n_slots * self.circuits_per_slot()

    @abc.abstractmethod
    def circuits_per_slot(self) -> int:
        """Circuits per differentiated angle per sample."""

    @abc.abstractmethod
    def recipe(self, execution: Execution, slots: np.ndarray) -> Recipe:
        """Return the recipe for the Jacobian columns ``slots``."""

    def jacobian(
        self, execution: Execution, theta: torch.Tensor, slots: np.ndarray, f0: torch.Tensor
    ) -> torch.Tensor:
        """Execute :meth:`recipe` for the whole batch (:meth:`Execution.estimate_shifted`).

        What the shifted circuits share (a layer's weights) is simulated once.
        """
        rec = self.recipe(execution, slots)
        real = theta.dtype
        offsets = torch.as_tensor(rec.offsets, dtype=real, device=theta.device)
        coeffs = torch.as_tensor(rec.coeffs, dtype=real, device=theta.device)
        f = execution.estimate_shifted(theta, offsets)  # (B, M, n_out)
        jac = torch.einsum("sm,bmo->bos", coeffs, f)
        if np.any(rec.f0_coeffs):
            f0c = torch.as_tensor(rec.f0_coeffs, dtype=real, device=theta.device)
            jac = jac + f0.unsqueeze(-1) * f0c
        return jac


class _JacobianProduct(torch.autograd.Function):
    """Forward: estimate the outputs. Backward: estimate the Jacobian, contract with grad_out."""

    @staticmethod
    def forward(ctx, inputs, weights, method: JacobianMethod, execution: Execution):
        inputs, weights = inputs.detach(), weights.detach()
        out = execution.estimate(inputs, weights)
        theta = assemble(inputs, weights)
        ctx.save_for_backward(theta, out)
        ctx.method, ctx.execution, ctx.n_inputs = method, execution, inputs.shape[-1]
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        return _jacobian_product_backward(ctx, grad_out)


def _jacobian_product_backward(ctx, grad_out):
    """The backward pass of :class:`_JacobianProduct` (undecorated: mutation testing sees it)."""
    theta, out = ctx.saved_tensors
    needs = tuple(ctx.needs_input_grad[:2])
    slots = needed_slots(ctx.n_inputs, theta.shape[-1], needs)
    jac = ctx.method.jacobian(ctx.execution, theta, slots, out)
    circuits = ctx.method.backward_circuits(ctx.execution.circuit, slots)
    ctx.execution.record("backward", theta.shape[0], circuits)
    grad_theta = theta.new_zeros(theta.shape)
    grad_theta[:, torch.as_tensor(slots, device=theta.device)] = torch.einsum(
        "bo,bos->bs", grad_out.to(jac.dtype), jac
    )
    return (*split_grad(grad_theta, ctx.n_inputs, needs), None, None)
