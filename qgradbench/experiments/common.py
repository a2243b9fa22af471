"""Helpers shared by the experiments: seed streams, spec validation, batched Jacobians.

Nothing here does I/O. The Jacobian helpers run a differentiation method outside a
:class:`~qgradbench.QuantumLayer`, directly on per-circuit angle vectors, so that experiments
can differentiate any slot (one trainable angle, or all of them) of thousands of circuits in one
batched call, with the method's own estimator and the method's own cost.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable

import numpy as np
import torch

from qgradbench.circuits import Circuit, Observable
from qgradbench.layer import check_shots
from qgradbench.methods import DiffMethod, JacobianMethod, adjoint_jacobian, get_method
from qgradbench.methods.base import Execution

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


def chunk_rows(n_qubits: int, states_per_row: int = 1) -> int:
    """Rows (circuits) per chunk so that a chunk's states hold about CHUNK_AMPLITUDES."""
    return max(1, CHUNK_AMPLITUDES // (2**n_qubits * states_per_row))


def exact_jacobian(execution: Execution, theta: torch.Tensor, slots: np.ndarray) -> torch.Tensor:
    """The exact Jacobian of the columns ``slots``, ``(B, n_out, S)``, by one adjoint sweep."""
    index = torch.as_tensor(slots, device=theta.device)
    return adjoint_jacobian(execution, theta)[..., index]


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
    observable: str,
    dtype: torch.dtype,
    shots: int | None,
    seed: int,
) -> Execution:
    """An :class:`Execution` with its own seeded generator for shots and random directions."""
    generator = torch.Generator().manual_seed(seed)
    return Execution(circuit, Observable(observable, circuit.n_qubits), dtype, shots, generator)


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
