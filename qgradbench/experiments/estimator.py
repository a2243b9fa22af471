r"""Estimator quality: how close each gradient method comes to the exact gradient, at what cost.

On ``circuits`` fixed random circuits of the training layer (its ansatz, random inputs
``x ~ U[-1, 1]^n`` encoded as ``RY(pi x)``, random weights on ``[0, 2 pi)``, output ``<Z_i>`` per
qubit), each method estimates the full Jacobian ``J`` (every output, every input and weight)
``repeats`` times. For one circuit with exact Jacobian ``J`` and estimates ``J_hat_r`` over the
``E`` entries ``e``:

* ``bias``: root mean square over entries of ``mean_r J_hat_r[e] - J[e]``;
* ``variance``: mean over entries of the per-entry sample variance over repeats;
* ``mse``: mean over entries and repeats of ``(J_hat_r[e] - J[e])^2`` (``~ bias^2 + variance``);
* ``cosine``: mean over repeats of the cosine similarity between ``J_hat_r`` and ``J``;
* ``gradient_circuits`` / ``gradient_shots``: what one Jacobian estimate costs per circuit
  (the forward pass's circuit not included).

``budget`` compares methods at equal cost: each method's shots per circuit are set to
``budget // gradient_circuits``, so every method spends (at most) ``budget`` shots on one
Jacobian. All repeats of all circuits run as one batch (rows of one engine call); exact methods
(``backprop``, ``adjoint``) have zero bias and variance up to rounding.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from qgradbench.circuits import get_ansatz
from qgradbench.experiments.common import (
    check_dtype,
    check_method,
    chunk_rows,
    chunked,
    exact_jacobian,
    make_execution,
    method_jacobian,
    positive_int,
    seed_stream,
)
from qgradbench.layer import check_shots
from qgradbench.methods import get_method


@dataclass(frozen=True)
class EstimatorSpec:
    """One estimator-quality measurement: a method at a shot count (or a budget).

    Attributes:
        method: the differentiation method.
        shots: shots per circuit, or ``None`` (exact, or set from ``budget``).
        budget: shots for one whole Jacobian estimate; sets ``shots`` per method (exclusive
            with ``shots``).
        n_qubits: qubits.
        n_layers: ansatz layers.
        ansatz: the ansatz (default ``strongly-entangling``, the training layer's).
        circuits: fixed random circuits.
        repeats: estimates per circuit (``>= 2``).
        seed: seeds the circuits and the estimates.
        dtype: ``"complex64"`` or ``"complex128"``.
        method_options: options of the method.
    """

    method: str = "parameter-shift"
    shots: int | None = None
    budget: int | None = None
    n_qubits: int = 4
    n_layers: int = 2
    ansatz: str = "strongly-entangling"
    circuits: int = 10
    repeats: int = 100
    seed: int = 0
    dtype: str = "complex64"
    method_options: dict = field(default_factory=dict)

    def __post_init__(self):
        positive_int("n_qubits", self.n_qubits)
        positive_int("n_layers", self.n_layers)
        positive_int("circuits", self.circuits)
        positive_int("repeats", self.repeats, minimum=2)
        positive_int("seed", self.seed, minimum=0)
        check_dtype(self.dtype)
        get_ansatz(self.ansatz)
        if self.budget is not None:
            positive_int("budget", self.budget)
            if self.shots is not None:
                raise ValueError("give shots or budget, not both")
        check_method(self.method, self.resolved_shots(), self.method_options)

    @property
    def n_params(self) -> int:
        """Slots of the circuit: encoding angles and weights."""
        spec = get_ansatz(self.ansatz)
        return self.n_qubits + math.prod(spec.weight_shape(self.n_qubits, self.n_layers))

    def resolved_shots(self) -> int | None:
        """Shots per circuit: ``shots``, or ``budget // gradient_circuits``."""
        if self.budget is None:
            return check_shots(self.shots)
        method = get_method(self.method, **self.method_options)
        if not method.supports_shots:
            raise ValueError(f"budget applies to methods that take shots; {self.method!r} is exact")
        circuits = method.circuits_per_sample(self.n_params)
        if self.budget < circuits:
            raise ValueError(
                f"budget {self.budget} is below one shot per circuit for {self.method!r}, "
                f"which runs {circuits} circuits per Jacobian; use budget >= {circuits}"
            )
        return self.budget // circuits

    def params(self) -> dict[str, object]:
        """The spec as flat row columns (``shots`` resolved)."""
        out = dataclasses.asdict(self)
        out["shots"] = self.resolved_shots()
        out["method_options"] = repr(dict(sorted(self.method_options.items())))
        return out


def draw_circuits(spec: EstimatorSpec) -> tuple[object, torch.Tensor]:
    """The spec's fixed circuits: the compiled layer circuit and angle vectors ``(C, P)``.

    They depend on ``(seed, ansatz, n_qubits, n_layers)`` only, so every method of a comparison
    sees the same circuits.
    """
    ansatz = get_ansatz(spec.ansatz)
    circuit = ansatz.build(spec.n_qubits, spec.n_layers, seed=spec.seed)
    key = (spec.ansatz, spec.n_qubits, spec.n_layers)
    rng = np.random.default_rng(seed_stream(spec.seed, "estimator-circuits", *key))
    x = rng.uniform(-1.0, 1.0, size=(spec.circuits, spec.n_qubits))
    weights = rng.uniform(0.0, 2 * math.pi, size=(spec.circuits, spec.n_params - spec.n_qubits))
    theta = np.concatenate([math.pi * x, weights], axis=1)
    return circuit, torch.as_tensor(theta, dtype=check_dtype(spec.dtype).to_real())


def _metrics(estimates: torch.Tensor, exact: torch.Tensor) -> dict[str, float]:
    """Quality of ``estimates`` ``(R, E)`` of ``exact`` ``(E,)``."""
    est, ref = estimates.double(), exact.double()
    err = est - ref
    cos = torch.nn.functional.cosine_similarity(est, ref.expand_as(est), dim=1, eps=1e-300)
    return {
        "bias": float(err.mean(0).pow(2).mean().sqrt()),
        "variance": float(est.var(0).mean()),
        "mse": float(err.pow(2).mean()),
        "cosine": float(cos.mean()),
        "exact_norm": float(ref.norm()),
    }


def estimator(spec: EstimatorSpec) -> list[dict]:
    """Measure the spec: one row per circuit.

    Returns:
        Rows with the spec's parameters (``shots`` resolved), ``circuit`` (its index),
        ``entries``, ``bias``, ``variance``, ``mse``, ``cosine``, ``exact_norm``,
        ``gradient_circuits``, ``gradient_shots`` and ``time_seconds`` (all repeats of all
        circuits; the same in each row of the spec).
    """
    shots = spec.resolved_shots()
    dtype = check_dtype(spec.dtype)
    method = check_method(spec.method, shots, spec.method_options)
    circuit, theta = draw_circuits(spec)
    key = (spec.method, shots or 0, spec.ansatz, spec.n_qubits, spec.n_layers)
    execution = make_execution(circuit, "z-each", dtype, shots, seed_stream(spec.seed, *key))
    method.validate(execution)
    slots = np.arange(theta.shape[1])
    exact = torch.cat([exact_jacobian(execution, t, slots) for t in chunked(theta, 256)])
    repeated = theta.repeat(spec.repeats, 1)  # row r * C + c is repeat r of circuit c
    per_row = max(4, method.circuits_per_sample(len(slots)))
    rows = min(chunk_rows(spec.n_qubits, per_row), max(1, 2**24 // (per_row * len(slots))))
    started = time.perf_counter()
    estimates = torch.cat(
        [method_jacobian(method, execution, t, slots) for t in chunked(repeated, rows)]
    )
    seconds = time.perf_counter() - started
    estimates = estimates.reshape(spec.repeats, spec.circuits, -1)
    circuits = method.circuits_per_sample(len(slots))
    params = spec.params()
    out = []
    for c in range(spec.circuits):
        out.append(
            {
                **params,
                "circuit": c,
                "entries": int(exact[c].numel()),
                **_metrics(estimates[:, c], exact[c].reshape(-1)),
                "gradient_circuits": circuits,
                "gradient_shots": circuits * (shots or 0),
                "time_seconds": seconds,
            }
        )
    return out
