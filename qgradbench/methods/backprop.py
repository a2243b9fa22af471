"""Backpropagation through the state-vector simulation."""

from __future__ import annotations

from qgradbench.methods.base import SimulatorMethod


class Backprop(SimulatorMethod):
    """Reverse-mode automatic differentiation through every engine operation.

    The whole simulation is recorded by ``torch.autograd``; memory grows with the number of
    gates (every intermediate state is stored). Exact, simulator only, no shots. This is
    PennyLane's ``diff_method="backprop"`` on ``default.qubit``.
    """

    name = "backprop"
    supports_shots = False
    hardware = "no"
    summary = "autograd through the simulator; stores every intermediate state"

    def forward(self, execution, inputs, weights):  # noqa: D102
        out = execution.expval(inputs, weights)
        if out.requires_grad:
            out.register_hook(lambda grad: execution.record("backward", grad.shape[0], 0))
        return out
