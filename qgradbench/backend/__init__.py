"""The state-vector backend: circuit execution and the derivatives only a simulator has.

Methods (:mod:`qgradbench.methods`) see an :class:`Execution` and nothing below it.
"""

from qgradbench.backend.cost import Cost
from qgradbench.backend.execution import MAX_AMPLITUDES_PER_CALL, Execution

__all__ = ["MAX_AMPLITUDES_PER_CALL", "Cost", "Execution"]
