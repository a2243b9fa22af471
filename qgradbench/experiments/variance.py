r"""Gradient variance over random circuits: barren plateaus, measured.

McClean et al., "Barren plateaus in quantum neural network training landscapes", Nat. Commun.
9, 4812 (2018): for random parameterised circuits deep enough to form a unitary 2-design, the
variance of any gradient component vanishes exponentially with the number of qubits,
``Var[d_k <O>] -> N / (3 (N^2 - 1))`` for ``N = 2^n`` (their observable ``Z_0 Z_1``). Cerezo et
al., Nat. Commun. 12, 1791 (2021): on shallow circuits a global cost (``Z`` on every qubit) has
the same exponential decay while a local one (mean of single-qubit ``Z``) decays at most
polynomially.

One :class:`VarianceSpec` is one measurement: ``samples`` fresh circuits of an ansatz (new angles
on ``[0, 2 pi)`` and, for ``random-pauli``, new axes; see :mod:`qgradbench.circuits.ensembles`),
no data inputs, and the chosen method's estimate of one gradient component ``d<O>/dt_k`` of each.
All samples run as one batched simulation, in chunks bounded by memory. Every method works: exact
ones give the landscape's own variance, the hardware-style rules and shot-adjoint add their shot
noise, and with shots each row splits the variance by the law of total variance,

.. math::  \mathrm{Var}[\hat g] = \mathrm{Var}_\theta\big[\mathrm{E}[\hat g|\theta]\big]
           + \mathrm{E}_\theta\big[\mathrm{Var}[\hat g|\theta]\big],

into a *landscape* part (the variance over circuits of the estimator's conditional mean, exactly
computed on the same circuits) and a *shot* part (the mean over circuits of
``(g_hat - E[g_hat|theta])^2``). See :func:`~qgradbench.experiments.common.conditional_mean`
for what the conditional mean is per method.

The circuits depend only on ``(seed, ansatz, n_qubits, n_layers)``, so rows that differ in
method, shots, observable or parameter are measured on the same circuits (paired comparisons).

The observable is one of :data:`SCALAR_OBSERVABLES` or any Pauli sum (``"Z0 Z1"``,
``"0.5 X0 X1 + Z2"``; one output). Any registered ansatz works, plugins' circuits included: an
ansatz whose circuit reads the built-in encoding and its weights directly (slots
``[pi x, w]``) is measured as above; for any other circuit (re-uploaded inputs, shared or
scaled weights) the inputs are zero, the slots are the affine function ``c + A w`` of the
weights that the circuit's angle map gives at ``x = 0``, and the gradient of weight ``k`` is the
chain rule ``sum_s A[s, k] d<O>/d theta_s`` over the method's estimates of the slots it drives.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from qgradbench.circuits import Observable
from qgradbench.circuits.ensembles import Draw, Ensemble, ensemble, param_indices
from qgradbench.circuits.observables import OBSERVABLES
from qgradbench.experiments.common import (
    check_dtype,
    check_method,
    check_method_observable,
    check_observable,
    chunk_rows,
    chunked,
    circuit_spec,
    conditional_mean,
    make_execution,
    method_jacobian,
    positive_int,
    seed_stream,
    variance_se,
)
from qgradbench.layer import check_shots

#: Observables whose gradient variance is measured (one output each).
SCALAR_OBSERVABLES = ("zz", "global-z", "local-z", "global-projector", "local-projector")

#: Depths as a function of the qubit count (Cerezo et al. 2021): constant, logarithmic, linear.
DEPTHS = ("1", "log", "linear")


def layers_for_depth(depth: object, n_qubits: int) -> int:
    """Layers for a depth rule: ``"1"``: 1, ``"log"``: ``max(1, ceil(log2 n))``, ``"linear"``: n.

    Cerezo et al., "Cost function dependent barren plateaus in shallow parametrized quantum
    circuits", Nat. Commun. 12, 1791 (2021): a local cost keeps a polynomially vanishing
    gradient variance up to depth ``O(log n)``, a global cost vanishes exponentially at any
    depth. The logarithm is base 2 and rounded up (2 qubits: 1 layer; 8: 3; 10: 4).

    Raises:
        ValueError: for a rule other than :data:`DEPTHS` (the integer 1 is accepted as ``"1"``).
    """
    n = positive_int("n_qubits", n_qubits)
    rule = "1" if depth == 1 and not isinstance(depth, bool) else depth
    if rule not in DEPTHS:
        raise ValueError(f"depth must be one of {', '.join(map(repr, DEPTHS))}, got {depth!r}")
    if rule == "1":
        return 1
    if rule == "log":
        return max(1, math.ceil(math.log2(n)))
    return n


@dataclass(frozen=True)
class VarianceSpec:
    """One gradient-variance measurement.

    Attributes:
        n_qubits: qubits ``n``.
        n_layers: ansatz layers; or ``None`` with ``layers_per_qubit`` or ``depth`` set.
        layers_per_qubit: ``n_layers = layers_per_qubit * n_qubits`` (McClean et al.'s depth
            scaling); ``None`` when ``n_layers`` is given.
        depth: the depth as a function of ``n``, Cerezo et al. (2021)'s three regimes: ``"1"``
            (one layer), ``"log"`` (``ceil(log2 n)`` layers, at least 1) or ``"linear"``
            (``n`` layers); see :func:`layers_for_depth`. Exclusive with the other two.
        ansatz: the ansatz (default ``random-pauli``); any registered name.
        observable: a single-output observable: one of :data:`SCALAR_OBSERVABLES` (default
            ``zz``) or a Pauli sum such as ``"Z0 Z1"`` or ``"0.5 X0 X1 + Z2"``.
        param: ``"first"``, ``"middle"``, ``"last"``, ``"all"`` (one row per parameter) or a
            parameter index (row-major over the ansatz's weight shape).
        method: the differentiation method.
        shots: shots per circuit, or ``None`` for exact expectation values.
        samples: random circuits (``>= 2``).
        seed: seeds the circuits (axes, angles) and the shots.
        dtype: ``"complex64"`` or ``"complex128"``.
        method_options: options of the method (e.g. ``{"h": 0.1}``).
    """

    n_qubits: int = 4
    n_layers: int | None = None
    layers_per_qubit: int | None = None
    depth: str | None = None
    ansatz: str = "random-pauli"
    observable: str = "zz"
    param: str | int = "first"
    method: str = "adjoint"
    shots: int | None = None
    samples: int = 2000
    seed: int = 0
    dtype: str = "complex64"
    method_options: dict = field(default_factory=dict)

    def __post_init__(self):
        positive_int("n_qubits", self.n_qubits)
        given = [self.n_layers, self.layers_per_qubit, self.depth]
        if sum(v is not None for v in given) != 1:
            raise ValueError(
                "give exactly one of n_layers, layers_per_qubit and depth, got n_layers="
                f"{self.n_layers!r}, layers_per_qubit={self.layers_per_qubit!r}, "
                f"depth={self.depth!r}"
            )
        if self.n_layers is not None:
            positive_int("n_layers", self.n_layers)
        elif self.layers_per_qubit is not None:
            positive_int("layers_per_qubit", self.layers_per_qubit)
        else:
            layers_for_depth(self.depth, self.n_qubits)
        positive_int("samples", self.samples, minimum=2)
        positive_int("seed", self.seed, minimum=0)
        check_dtype(self.dtype)
        check_shots(self.shots)
        self._check_observable()
        check_method(self.method, self.shots, self.method_options)
        circuit = circuit_spec(self.ansatz, self.n_qubits, self.layers, self.seed)
        check_method_observable(
            self.method, self.shots, self.method_options, self.observable, circuit.n_qubits
        )
        param_indices(self.param, circuit.n_weights)

    def _check_observable(self) -> None:
        scalar = isinstance(self.observable, str) and self.observable in SCALAR_OBSERVABLES
        pauli = (
            isinstance(self.observable, str)
            and self.observable not in OBSERVABLES
            and any(c.isdigit() for c in self.observable)
        )
        if not (scalar or pauli):
            raise ValueError(
                f"observable {self.observable!r} cannot be used for gradient variance; expected "
                f"one of {', '.join(SCALAR_OBSERVABLES)} or a Pauli sum such as 'Z0 Z1' or "
                f"'0.5 X0 X1 + Z2' (a single output)"
            )
        if scalar:
            Observable(self.observable, self.n_qubits)  # e.g. zz needs two qubits
        else:
            check_observable(self.observable, self.n_qubits)

    @property
    def layers(self) -> int:
        """The number of layers: direct, ``layers_per_qubit * n_qubits`` or by ``depth``."""
        if self.n_layers is not None:
            return self.n_layers
        if self.layers_per_qubit is not None:
            return self.layers_per_qubit * self.n_qubits
        return layers_for_depth(self.depth, self.n_qubits)

    def ensemble(self) -> Ensemble:
        """The ensemble of random circuits this spec measures."""
        return ensemble(self.ansatz, self.n_qubits, self.layers)

    def params(self) -> dict[str, object]:
        """The spec as flat row columns."""
        out = dataclasses.asdict(self)
        out["n_layers"] = self.layers
        out["depth"] = None if self.depth is None else str(self.depth)
        out["param"] = str(self.param)
        out["method_options"] = repr(dict(sorted(self.method_options.items())))
        return out


@dataclass(frozen=True)
class VarianceSamples:
    """Per-circuit gradients of one measurement.

    Attributes:
        draw: the random circuits.
        indices: the measured parameter indices ``(S,)``.
        estimates: the method's estimates ``(samples, S)``.
        means: the conditional means ``E[g_hat | theta]`` ``(samples, S)``, or ``None`` when
            exact (no shots: the estimate is its own mean).
        gradient_circuits: circuits the method runs per circuit for these ``S`` components
            (``evaluations`` times the observable's measurement groups).
        seconds: wall time of the estimates.
        evaluations: expectation values the method evaluates per circuit (each ``shots``).
    """

    draw: Draw
    indices: list[int]
    estimates: np.ndarray
    means: np.ndarray | None
    gradient_circuits: int
    seconds: float
    evaluations: int | None = None


def _standard_layout(spec: VarianceSpec) -> bool:
    """Whether the circuit's slots are ``[a x, w]``: the ensembles of :mod:`ensembles` apply."""
    circuit = circuit_spec(spec.ansatz, spec.n_qubits, spec.layers, spec.seed)
    angle_map = circuit.compiled[1]
    return (
        angle_map.input_scale is not None
        and angle_map.weights_direct
        and circuit.n_inputs == angle_map.n_batched == circuit.n_qubits
    )


def sample_gradients(spec: VarianceSpec) -> VarianceSamples:
    """Draw the spec's circuits and estimate the chosen gradient components of each."""
    if not _standard_layout(spec):
        return _sample_affine(spec)
    ens = spec.ensemble()
    dtype = check_dtype(spec.dtype)
    method = check_method(spec.method, spec.shots, spec.method_options)
    indices = ens.param_indices(spec.param)
    slots = np.array([ens.weight_slot(i) for i in indices])
    key = (spec.ansatz, spec.n_qubits, spec.layers)
    draw = ens.draw(spec.samples, np.random.default_rng(seed_stream(spec.seed, "circuits", *key)))
    shots_key = ("shots", spec.method, spec.shots or 0, spec.observable, *key)
    shots_seed = seed_stream(spec.seed, *shots_key)
    execution = make_execution(ens.circuit, spec.observable, dtype, spec.shots, shots_seed)
    method.validate(execution)
    theta = torch.as_tensor(draw.theta, dtype=dtype.to_real())
    per_row = max(4, method.circuits_per_sample(len(slots)))
    # Bound the states of a chunk and the shifted angle vectors ``(rows, circuits, P)`` alike.
    rows = min(chunk_rows(spec.n_qubits, per_row), max(1, 2**24 // (per_row * theta.shape[1])))
    started = time.perf_counter()
    estimates = torch.cat(
        [method_jacobian(method, execution, t, slots)[:, 0] for t in chunked(theta, rows)]
    )
    seconds = time.perf_counter() - started
    means = None
    if spec.shots is not None:
        means = torch.cat(
            [conditional_mean(method, execution, t, slots)[:, 0] for t in chunked(theta, rows)]
        )
        means = means.double().numpy()
    evaluations = method.circuits_per_sample(len(slots))
    circuits = evaluations * execution.n_groups
    return VarianceSamples(
        draw, indices, estimates.double().numpy(), means, circuits, seconds, evaluations
    )


def _affine_map(circuit) -> tuple[np.ndarray, np.ndarray]:
    """``(c, A)``: the circuit's slots at ``x = 0`` are ``c + A w`` (exact: affine in ``w``)."""
    _, angle_map = circuit.compiled
    zeros = torch.zeros(1, circuit.n_inputs, dtype=torch.float64)

    def slots(weights: torch.Tensor) -> np.ndarray:
        batched, shared = angle_map(zeros, weights)
        return torch.cat([batched[0], shared]).numpy()

    c = slots(torch.zeros(circuit.n_weights, dtype=torch.float64))
    eye = torch.eye(circuit.n_weights, dtype=torch.float64)
    A = np.stack([slots(eye[k]) - c for k in range(circuit.n_weights)], axis=1)
    return c, A.reshape(len(c), circuit.n_weights)


def _sample_affine(spec: VarianceSpec) -> VarianceSamples:
    """:func:`sample_gradients` for any circuit: slots ``c + A w``, gradients by the chain rule."""
    circuit = circuit_spec(spec.ansatz, spec.n_qubits, spec.layers, spec.seed)
    compiled = circuit.compiled[0]
    dtype = check_dtype(spec.dtype)
    method = check_method(spec.method, spec.shots, spec.method_options)
    indices = param_indices(spec.param, circuit.n_weights)
    c, A = _affine_map(circuit)
    slots = np.flatnonzero(np.any(A[:, indices] != 0, axis=1))
    chain = torch.as_tensor(A[np.ix_(slots, indices)], dtype=torch.float64)  # (S_used, S)
    key = (spec.ansatz, spec.n_qubits, spec.layers)
    rng = np.random.default_rng(seed_stream(spec.seed, "circuits", *key))
    weights = rng.uniform(0.0, 2 * math.pi, size=(spec.samples, circuit.n_weights))
    draw = Draw(c + weights @ A.T, weights, None)
    shots_key = ("shots", spec.method, spec.shots or 0, spec.observable, *key)
    execution = make_execution(
        compiled, spec.observable, dtype, spec.shots, seed_stream(spec.seed, *shots_key)
    )
    method.validate(execution)
    theta = torch.as_tensor(draw.theta, dtype=dtype.to_real())
    per_row = max(4, method.backward_circuits(compiled, slots))
    rows = min(chunk_rows(spec.n_qubits, per_row), max(1, 2**24 // (per_row * theta.shape[1])))

    def weight_gradients(jacobian) -> torch.Tensor:
        if len(slots) == 0:  # a weight that drives no gate at x = 0
            return torch.zeros(spec.samples, len(indices), dtype=torch.float64)
        parts = [jacobian(method, execution, t, slots)[:, 0].double() for t in chunked(theta, rows)]
        return torch.cat(parts) @ chain

    started = time.perf_counter()
    estimates = weight_gradients(method_jacobian)
    seconds = time.perf_counter() - started
    means = None
    if spec.shots is not None:
        means = weight_gradients(conditional_mean).numpy()
    evaluations = method.backward_circuits(compiled, slots) if len(slots) else 0
    circuits = evaluations * execution.n_groups
    return VarianceSamples(draw, indices, estimates.numpy(), means, circuits, seconds, evaluations)


def summarize(values: np.ndarray) -> dict[str, float]:
    """Mean and variance of ``values`` with their standard errors."""
    m = len(values)
    return {
        "mean": float(values.mean()),
        "mean_se": float(values.std(ddof=1) / math.sqrt(m)),
        "variance": float(values.var(ddof=1)),
        "variance_se": variance_se(values),
    }


def _split(estimates: np.ndarray, means: np.ndarray | None) -> dict[str, float | None]:
    """The landscape and shot parts of the variance (``None`` without shots)."""
    if means is None:
        return dict.fromkeys(
            ("landscape_variance", "landscape_variance_se", "shot_variance", "shot_variance_se")
        )
    noise = (estimates - means) ** 2
    return {
        "landscape_variance": float(means.var(ddof=1)),
        "landscape_variance_se": variance_se(means),
        "shot_variance": float(noise.mean()),
        "shot_variance_se": float(noise.std(ddof=1) / math.sqrt(len(noise))),
    }


def variance(spec: VarianceSpec) -> list[dict]:
    """Measure the spec: one row per measured parameter.

    Returns:
        Rows with the spec's parameters (``n_layers`` resolved), ``param_index``, ``mean``,
        ``mean_se``, ``variance``, ``variance_se`` (standard errors over circuits), with shots
        ``landscape_variance``, ``landscape_variance_se``, ``shot_variance``,
        ``shot_variance_se`` (else null), ``gradient_circuits`` and ``gradient_shots`` (per
        circuit, for all measured components together) and ``time_seconds``.
    """
    result = sample_gradients(spec)
    params = spec.params()
    shots = spec.shots or 0
    evaluations = result.evaluations if result.evaluations is not None else result.gradient_circuits
    rows = []
    for s, index in enumerate(result.indices):
        means = None if result.means is None else result.means[:, s]
        rows.append(
            {
                **params,
                "param_index": index,
                **summarize(result.estimates[:, s]),
                **_split(result.estimates[:, s], means),
                "gradient_circuits": result.gradient_circuits,
                "gradient_shots": evaluations * shots,
                "time_seconds": result.seconds,
            }
        )
    return rows
