"""Batched state-vector simulator in PyTorch: states, gates, measurement. No training, no I/O."""

from qgradbench.engine import pool
from qgradbench.engine.buffers import PingPong
from qgradbench.engine.dense import (
    kron_table,
    kron_unitaries,
    product_contractions,
    product_state,
    stack_tables,
)
from qgradbench.engine.gates import (
    MONOMIAL_GATES,
    PAULIS,
    Monomial,
    Unitary,
    pauli_matrix,
    pauli_stack,
    rotation_matrices,
)
from qgradbench.engine.roofline import calibrate
from qgradbench.engine.sampling import estimate_expvals, sample_counts
from qgradbench.engine.statevector import (
    MAX_QUBITS,
    apply_fixed,
    apply_matrix,
    apply_monomial,
    apply_unitary,
    check_n_qubits,
    expval,
    expval_diagonal,
    probabilities,
    scale_by_real,
    zero_state,
)

__all__ = [
    "MAX_QUBITS",
    "MONOMIAL_GATES",
    "PAULIS",
    "Monomial",
    "PingPong",
    "Unitary",
    "apply_fixed",
    "apply_matrix",
    "apply_monomial",
    "apply_unitary",
    "calibrate",
    "check_n_qubits",
    "estimate_expvals",
    "expval",
    "expval_diagonal",
    "kron_table",
    "kron_unitaries",
    "pauli_matrix",
    "pauli_stack",
    "pool",
    "probabilities",
    "product_contractions",
    "product_state",
    "rotation_matrices",
    "sample_counts",
    "scale_by_real",
    "stack_tables",
    "zero_state",
]
