"""Cost accounting: circuits and shots a layer spent, forward and backward.

Counts are what a quantum computer would have executed: one circuit per input sample for a
forward pass, and per sample whatever the gradient rule needs in the backward pass (for
``shot-adjoint``, the circuits of the hardware estimator it emulates). Exact simulator methods
(``backprop``, ``adjoint``) execute no circuits in their backward pass.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields


@dataclass
class Cost:
    """Counters of one layer; ``layer.cost`` reads them, ``layer.reset_cost()`` zeroes them.

    Attributes:
        forward_passes: forward calls.
        forward_samples: input samples that went through them.
        forward_circuits: circuits executed in them (one per sample).
        forward_shots: shots consumed in them (0 when exact).
        backward_passes: backward calls.
        backward_samples: input samples whose gradient was estimated.
        backward_circuits: circuits executed (or emulated) for those gradients.
        backward_shots: shots consumed (or emulated) for them.
    """

    forward_passes: int = 0
    forward_samples: int = 0
    forward_circuits: int = 0
    forward_shots: int = 0
    backward_passes: int = 0
    backward_samples: int = 0
    backward_circuits: int = 0
    backward_shots: int = 0

    def record(
        self, phase: str, samples: int, circuits: int, shots: int | None, groups: int = 1
    ) -> None:
        """Add one pass of ``phase`` ("forward" or "backward") over ``samples`` samples.

        ``circuits`` counts evaluations of expectation values; an observable measured in
        ``groups`` qubit-wise commuting groups runs one circuit per group for each, and the
        evaluation's ``shots`` are split among them.
        """
        if phase not in ("forward", "backward"):
            raise ValueError(f"phase must be 'forward' or 'backward', got {phase!r}")
        setattr(self, f"{phase}_passes", getattr(self, f"{phase}_passes") + 1)
        setattr(self, f"{phase}_samples", getattr(self, f"{phase}_samples") + samples)
        setattr(self, f"{phase}_circuits", getattr(self, f"{phase}_circuits") + circuits * groups)
        setattr(self, f"{phase}_shots", getattr(self, f"{phase}_shots") + circuits * (shots or 0))

    def reset(self) -> None:
        """Zero every counter."""
        for f in fields(self):
            setattr(self, f.name, 0)

    def copy(self) -> Cost:
        """Return a snapshot of the counters."""
        return Cost(**asdict(self))

    def __sub__(self, other: Cost) -> Cost:
        """Counters spent since the snapshot ``other``."""
        diff = {f.name: getattr(self, f.name) - getattr(other, f.name) for f in fields(self)}
        return Cost(**diff)

    @property
    def circuits_per_sample(self) -> dict[str, float]:
        """Mean circuits per sample of a forward and of a backward pass."""
        return {
            phase: getattr(self, f"{phase}_circuits") / max(getattr(self, f"{phase}_samples"), 1)
            for phase in ("forward", "backward")
        }

    def as_dict(self) -> dict[str, int]:
        """The counters as a flat dict (for result rows)."""
        return asdict(self)
