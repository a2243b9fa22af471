"""Helpers shared by the experiments: seed streams, spec validation, batched Jacobians.

Nothing here does I/O. The Jacobian helpers run a differentiation method outside a
:class:`~qgradbench.QuantumLayer`, directly on per-circuit angle vectors, so that experiments
can differentiate any slot (one trainable angle, or all of them) of thousands of circuits in one
batched call, with the method's own estimator and the method's own cost.
"""

from __future__ import annotations

import functools
import json
import math
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch

from qgradbench.backend import Execution
from qgradbench.circuits import Circuit, get_ansatz
from qgradbench.circuits.circuit import CircuitBuilder
from qgradbench.circuits.observables import OBSERVABLES
from qgradbench.circuits.pauli import as_observable
from qgradbench.layer import check_shots
from qgradbench.methods import DiffMethod, JacobianMethod, adjoint_jacobian, get_method

DTYPES = {"complex64": torch.complex64, "complex128": torch.complex128}

#: Amplitudes of one chunk of samples (states of all samples in the chunk, per stored copy).
CHUNK_AMPLITUDES = 2**22


def seed_stream(seed: int, *keys: object) -> int:
    """An independent 63-bit seed for ``seed`` and a purpose ``keys`` (numpy SeedSequence).

    Keys are integers or strings (strings enter through their CRC-32, stable across runs and
    platforms, unlike ``hash``).
    """
    words = [int(seed)]
    for key in keys:
        words.append(zlib.crc32(key.encode()) if isinstance(key, str) else int(key))
    return int(np.random.SeedSequence(words).generate_state(1, np.uint64)[0] >> np.uint64(1))


def positive_int(name: str, value: object, minimum: int = 1) -> int:
    """Validate an integer ``>= minimum`` (bools rejected) and return it as ``int``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_dtype(name: str) -> torch.dtype:
    """Return the complex dtype called ``name`` (``complex64`` or ``complex128``)."""
    if name not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {name!r}")
    return DTYPES[name]


def check_method(method: str, shots: object, options: dict | None = None) -> DiffMethod:
    """Return the configured method, or raise if it is unknown or cannot take ``shots``."""
    instance = get_method(method, **(options or {}))
    instance.check_shots(check_shots(shots))
    return instance


def observable_text(value: str | list[str]) -> str:
    """An observable field as one table column: the text, or a list's texts joined by ``; ``."""
    return value if isinstance(value, str) else "; ".join(value)


def _observable_value(value: object) -> str | list[str]:
    """Check the type of an observable field (JSON-able text) and return it."""
    if isinstance(value, str) and value.strip():
        return value
    if isinstance(value, list | tuple) and value and all(isinstance(v, str) for v in value):
        return list(value)
    raise ValueError(
        f"observable must be a built-in name ({', '.join(OBSERVABLES)}), a Pauli sum such as "
        f"'Z0 Z1 + 0.5 X2', or a list of Pauli sums (one output each); got {value!r}"
    )


@functools.lru_cache(maxsize=512)
def _observable_outputs(text: str, n_qubits: int) -> int:
    return as_observable(json.loads(text), n_qubits).n_outputs


def check_observable(value: object, n_qubits: int) -> int:
    """Validate an observable field for a circuit on ``n_qubits``; return its output count.

    Accepted as :func:`~qgradbench.circuits.pauli.as_observable` accepts them: a built-in name
    (``z-each``, ``zz``, ``local-z`` ...), a Pauli-sum string (``"Z0 Z1 + 0.5 X2"``, one
    output) or a list of them. Pauli sums must be Hermitian: real coefficients, one Pauli per
    wire in a word, wires of the circuit.

    Raises:
        ValueError: naming the bad observable and what is accepted.
    """
    value = _observable_value(value)
    return _observable_outputs(json.dumps(value), int(n_qubits))


def check_method_observable(
    method: str, shots: object, options: dict | None, observable: object, n_qubits: int
) -> None:
    """Raise if ``method`` at ``shots`` cannot measure ``observable`` (e.g. too few shots).

    The method validates a probe execution (an empty circuit on ``n_qubits`` with the
    observable): what it checks needs only the shots and the observable, e.g. ``shot-adjoint``
    with shots wants Pauli-word outputs, and shots must cover the measurement groups.
    """
    instance = check_method(method, shots, options)
    probe = CircuitBuilder(n_qubits, "probe").build(0)
    obs = as_observable(_observable_value(observable), n_qubits)
    instance.validate(Execution(probe, obs, shots=check_shots(shots)))


@dataclass(frozen=True)
class CircuitShape:
    """What an ansatz's circuit takes: qubits, inputs, weights (see :func:`circuit_shape`)."""

    n_qubits: int
    n_inputs: int
    n_weights: int
    n_slots: int


@functools.lru_cache(maxsize=64)
def _circuit_spec(ansatz: str, entry: int, n_qubits: int, n_layers: int, seed):
    return get_ansatz(ansatz).spec(n_qubits, n_layers, seed)


def circuit_spec(ansatz: str, n_qubits: int, n_layers: int, seed: int | None):
    """The ansatz's :class:`~qgradbench.circuits.model.CircuitSpec` (built once, cached).

    A circuit registered from a plugin is built here, so a bad one (an unknown gate, a wrong
    qubit count) is one ValueError when a spec is made, before anything runs. Its compiled
    circuit is ``spec.compiled``. Callers must not change it.
    """
    entry = id(get_ansatz(ansatz))  # a re-registered name is another circuit
    n_qubits, n_layers = positive_int("n_qubits", n_qubits), positive_int("n_layers", n_layers)
    if seed is not None:
        seed = positive_int("seed", seed, minimum=0)
    return _circuit_spec(ansatz, entry, n_qubits, n_layers, seed)


def circuit_shape(ansatz: str, n_qubits: int, n_layers: int, seed: int | None) -> CircuitShape:
    """The sizes of the ansatz's circuit (see :func:`circuit_spec`)."""
    spec = circuit_spec(ansatz, n_qubits, n_layers, seed)
    return CircuitShape(spec.n_qubits, spec.n_inputs, spec.n_weights, spec.compiled[0].n_params)


def chunk_rows(n_qubits: int, states_per_row: int = 1) -> int:
    """Rows (circuits) per chunk so that a chunk's states hold about CHUNK_AMPLITUDES."""
    return max(1, CHUNK_AMPLITUDES // (2**n_qubits * states_per_row))


def exact_jacobian(execution: Execution, theta: torch.Tensor, slots: np.ndarray) -> torch.Tensor:
    """The exact Jacobian of the columns ``slots``, ``(B, n_out, S)``, by one adjoint sweep."""
    return adjoint_jacobian(execution, theta, slots)


def backprop_jacobian(execution: Execution, theta: torch.Tensor, slots: np.ndarray) -> torch.Tensor:
    """The Jacobian of the columns ``slots`` by autograd through the engine, ``(B, n_out, S)``.

    Rows are independent circuits, so the gradient of each output summed over the batch is the
    per-row gradient of that output.
    """
    theta = theta.detach().requires_grad_(True)
    out = execution.expval(theta)
    columns = []
    for j in range(out.shape[1]):
        (grad,) = torch.autograd.grad(out[:, j].sum(), theta, retain_graph=j + 1 < out.shape[1])
        columns.append(grad[:, torch.as_tensor(slots)])
    return torch.stack(columns, dim=1).detach()


def method_jacobian(
    method: DiffMethod, execution: Execution, theta: torch.Tensor, slots: np.ndarray
) -> torch.Tensor:
    """The method's estimate of the Jacobian columns ``slots`` for every row, ``(B, n_out, S)``.

    Exact simulator methods return the exact Jacobian (``backprop`` by autograd, ``adjoint`` by
    its sweep). Every other method runs as in a layer's backward pass: the forward estimate
    ``f0`` (sampled with shots, used by rules that need the unshifted value), then its
    :meth:`~qgradbench.methods.JacobianMethod.jacobian`; randomness comes from
    ``execution.generator``.
    """
    with torch.no_grad():
        if method.name == "backprop":
            with torch.enable_grad():
                return backprop_jacobian(execution, theta, slots)
        if not isinstance(method, JacobianMethod):
            return exact_jacobian(execution, theta, slots)
        f0 = execution.estimate(theta)
        return method.jacobian(execution, theta, np.asarray(slots), f0)


def conditional_mean(
    method: DiffMethod, execution: Execution, theta: torch.Tensor, slots: np.ndarray
) -> torch.Tensor:
    """``E[g_hat | theta]``: the mean of the method's estimate for fixed circuits.

    Shot noise averages out, so this is the method run on exact expectation values: the exact
    gradient for unbiased rules (parameter-shift, Hadamard, shot-adjoint), the noiseless
    difference quotient for ``finite-diff`` (its step's bias included). For ``spsa`` the exact
    gradient stands in: its mean over random directions differs from it by ``O(c^2)``, so the
    spread of SPSA around it counts as estimator noise.
    """
    if method.name == "finite-diff":
        exact = Execution(execution.circuit, execution.observable, execution.dtype)
        return method_jacobian(method, exact, theta, slots)
    return exact_jacobian(execution, theta, slots)


def chunked(tensor: torch.Tensor, rows: int) -> Iterable[torch.Tensor]:
    """Split ``tensor`` along dim 0 into chunks of at most ``rows`` rows."""
    return tensor.split(max(1, rows))


def make_execution(
    circuit: Circuit,
    observable: str | list[str],
    dtype: torch.dtype,
    shots: int | None,
    seed: int,
) -> Execution:
    """An :class:`Execution` with its own seeded generator for shots and random directions.

    ``observable`` is anything :func:`~qgradbench.circuits.pauli.as_observable` accepts.
    """
    generator = torch.Generator().manual_seed(seed)
    observable = as_observable(observable, circuit.n_qubits)
    return Execution(circuit, observable, dtype, shots, generator)


def variance_se(values: np.ndarray) -> float:
    """Standard error of the unbiased sample variance of ``values`` (float64).

    ``Var(s^2) = (m4 - s^4 (m - 3) / (m - 1)) / m`` with ``m4`` the fourth central moment: exact for
    any distribution to leading order, so it holds for the heavy-tailed gradients of deep
    circuits too, where the normal-theory ``s^2 sqrt(2 / (m - 1))`` does not.
    """
    m = len(values)
    centred = values - values.mean()
    s2 = centred.var(ddof=1)
    m4 = float(np.mean(centred**4))
    return math.sqrt(max(m4 - s2**2 * (m - 3) / (m - 1), 0.0) / m)
