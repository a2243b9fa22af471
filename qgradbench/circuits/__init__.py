"""Ansatz and observable definitions, compiled to circuits the engine executes."""

from qgradbench.circuits.ansatz import (
    ANSATZES,
    Ansatz,
    basic_entangler,
    check_n_layers,
    draw_axes,
    get_ansatz,
    random_pauli,
    strongly_entangling,
)
from qgradbench.circuits.circuit import Block, Circuit, CircuitBuilder, Rotation
from qgradbench.circuits.observables import OBSERVABLES, Observable

__all__ = [
    "ANSATZES",
    "OBSERVABLES",
    "Ansatz",
    "Block",
    "Circuit",
    "CircuitBuilder",
    "Observable",
    "Rotation",
    "basic_entangler",
    "check_n_layers",
    "draw_axes",
    "get_ansatz",
    "random_pauli",
    "strongly_entangling",
]
