r"""Estimator quality: how close each gradient method comes to the exact gradient, at what cost.

On ``circuits`` fixed random circuits of the training layer (its ansatz, random inputs
``x ~ U[-1, 1]^n_inputs``, random weights on ``[0, 2 pi)``, and its observable: ``<Z_i>`` per
qubit by default), each method estimates the full Jacobian ``J`` ``repeats`` times: every output
by every gate parameter (*slot*) of the compiled circuit. For the built-in encoding + ansatz
circuits the slots are the encoding angles ``pi x_i`` and the weights; for a circuit that
re-uploads its inputs or shares a weight, each gate's parameter is its own slot (what the
hardware rules estimate; the layer's gradients are linear combinations of them). For one circuit
with exact Jacobian ``J`` and estimates ``J_hat_r`` over the ``E`` entries ``e``:

* ``bias``: root mean square over entries of ``mean_r J_hat_r[e] - J[e]``;
* ``variance``: mean over entries of the per-entry sample variance over repeats;
* ``mse``: mean over entries and repeats of ``(J_hat_r[e] - J[e])^2`` (``~ bias^2 + variance``);
* ``cosine``: mean over repeats of the cosine similarity between ``J_hat_r`` and ``J``;
* ``gradient_circuits`` / ``gradient_shots``: what one Jacobian estimate costs per circuit
  (the forward pass's circuit not included; an observable measured in ``G`` qubit-wise
  commuting groups runs ``G`` circuits per evaluation, sharing its shots).

``budget`` compares methods at equal cost: each method's shots per circuit are set to
``budget // evaluations``, so every method spends (at most) ``budget`` shots on one
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

from qgradbench.experiments.common import (
    check_dtype,
    check_method,
    check_method_observable,
    check_observable,
    chunk_rows,
    chunked,
    circuit_spec,
    exact_jacobian,
    make_execution,
    method_jacobian,
    observable_text,
    positive_int,
    seed_stream,
)
from qgradbench.layer import check_shots
from qgradbench.methods import get_method
from qgradbench.methods.finite_diff import FiniteDiff


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
        ansatz: the ansatz (default ``strongly-entangling``, the training layer's); any name in
            :data:`qgradbench.circuits.ANSATZES`, plugins' circuits included.
        observable: what is measured: a built-in name (default ``z-each``), a Pauli sum such as
            ``"Z0 Z1 + 0.5 X2"``, or a list of them (one output each).
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
    observable: str | list = "z-each"
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
        check_observable(self.observable, self.circuit().n_qubits)
        if self.budget is not None:
            positive_int("budget", self.budget)
            if self.shots is not None:
                raise ValueError("give shots or budget, not both")
        check_method_observable(
            self.method, self.resolved_shots(), self.method_options, self.observable,
            self.n_qubits,
        )  # fmt: skip

    def circuit(self):
        """The ansatz's circuit (:class:`~qgradbench.circuits.model.CircuitSpec`, cached)."""
        return circuit_spec(self.ansatz, self.n_qubits, self.n_layers, self.seed)

    @property
    def n_params(self) -> int:
        """Slots of the compiled circuit (for the built-in ansatzes: encoding angles, weights)."""
        return self.circuit().compiled[0].n_params

    def evaluations(self) -> int:
        """Expectation values one Jacobian estimate evaluates per circuit (each ``shots``)."""
        method = get_method(self.method, **self.method_options)
        return method.backward_circuits(self.circuit().compiled[0], np.arange(self.n_params))

    def resolved_shots(self) -> int | None:
        """Shots per circuit: ``shots``, or ``budget // evaluations``."""
        if self.budget is None:
            return check_shots(self.shots)
        method = get_method(self.method, **self.method_options)
        if not method.supports_shots:
            raise ValueError(f"budget applies to methods that take shots; {self.method!r} is exact")
        circuits = self.evaluations()
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
        out["observable"] = observable_text(self.observable)
        out["method_options"] = repr(dict(sorted(self.method_options.items())))
        return out


def draw_circuits(spec: EstimatorSpec) -> tuple[object, torch.Tensor]:
    """The spec's fixed circuits: the compiled layer circuit and angle vectors ``(C, P)``.

    Inputs ``x ~ U[-1, 1]^n_inputs`` and weights ``~ U[0, 2 pi)^n_weights`` are drawn per
    circuit and mapped to the slots by the circuit's angle map (for the built-in encoding:
    ``[pi x, weights]``). They depend on ``(seed, ansatz, n_qubits, n_layers)`` only, so every
    method and observable of a comparison sees the same circuits.
    """
    circuit_spec = spec.circuit()
    circuit, angle_map = circuit_spec.compiled
    key = (spec.ansatz, spec.n_qubits, spec.n_layers)
    rng = np.random.default_rng(seed_stream(spec.seed, "estimator-circuits", *key))
    x = rng.uniform(-1.0, 1.0, size=(spec.circuits, circuit_spec.n_inputs))
    weights = rng.uniform(0.0, 2 * math.pi, size=(spec.circuits, circuit_spec.n_weights))
    x, weights = torch.as_tensor(x), torch.as_tensor(weights)
    rows = []
    for c in range(spec.circuits):  # one weight vector per circuit
        batched, shared = angle_map(x[c : c + 1], weights[c])
        rows.append(torch.cat([batched[0], shared]))
    theta = torch.stack(rows) if rows else torch.zeros(0, circuit.n_params, dtype=torch.float64)
    return circuit, theta.to(check_dtype(spec.dtype).to_real())


def resolved_step(method, shots: int | None, real_dtype) -> float | None:
    """The difference step a method uses: ``h`` of ``finite-diff``, ``c`` of ``spsa``, else None.

    When the option is ``None`` this is the error-balancing default at ``shots`` (see
    :mod:`qgradbench.methods.finite_diff`), so rows name the step actually used.
    """
    if method.name == "finite-diff":
        return method.step(shots, real_dtype)
    if method.name == "spsa":
        keys = ("strategy", "approx_order")
        rule = FiniteDiff(h=method.config["c"], **{k: method.config[k] for k in keys})
        return rule.step(shots, real_dtype)
    return None


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
        Rows with the spec's parameters (``shots`` resolved), ``step`` (the difference step of
        ``finite-diff`` / ``spsa``, :func:`resolved_step`; else null), ``circuit`` (its index),
        ``entries`` (outputs x slots), ``bias``, ``variance``, ``mse``, ``cosine``,
        ``exact_norm``,
        ``gradient_circuits``, ``gradient_shots`` and ``time_seconds`` (all repeats of all
        circuits; the same in each row of the spec).
    """
    shots = spec.resolved_shots()
    dtype = check_dtype(spec.dtype)
    method = check_method(spec.method, shots, spec.method_options)
    circuit, theta = draw_circuits(spec)
    key = (spec.method, shots or 0, spec.ansatz, spec.n_qubits, spec.n_layers)
    if spec.observable != "z-each":  # z-each keeps the stream it always had
        key = (*key, observable_text(spec.observable))
    execution = make_execution(circuit, spec.observable, dtype, shots, seed_stream(spec.seed, *key))
    method.validate(execution)
    slots = np.arange(theta.shape[1])
    exact = torch.cat([exact_jacobian(execution, t, slots) for t in chunked(theta, 256)])
    repeated = theta.repeat(spec.repeats, 1)  # row r * C + c is repeat r of circuit c
    per_row = max(4, method.backward_circuits(circuit, slots))
    rows = min(chunk_rows(spec.n_qubits, per_row), max(1, 2**24 // (per_row * max(1, len(slots)))))
    started = time.perf_counter()
    estimates = torch.cat(
        [method_jacobian(method, execution, t, slots) for t in chunked(repeated, rows)]
    )
    seconds = time.perf_counter() - started
    estimates = estimates.reshape(spec.repeats, spec.circuits, -1)
    evaluations = method.backward_circuits(circuit, slots)
    circuits = evaluations * execution.n_groups
    params = spec.params()
    params["step"] = resolved_step(method, shots, dtype.to_real())
    out = []
    for c in range(spec.circuits):
        out.append(
            {
                **params,
                "circuit": c,
                "entries": int(exact[c].numel()),
                **_metrics(estimates[:, c], exact[c].reshape(-1)),
                "gradient_circuits": circuits,
                "gradient_shots": evaluations * (shots or 0),
                "time_seconds": seconds,
            }
        )
    return out
