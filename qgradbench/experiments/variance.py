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
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from qgradbench.circuits import Observable
from qgradbench.circuits.ensembles import Draw, Ensemble, ensemble, n_weights_of, param_indices
from qgradbench.experiments.common import (
    check_dtype,
    check_method,
    chunk_rows,
    chunked,
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


@dataclass(frozen=True)
class VarianceSpec:
    """One gradient-variance measurement.

    Attributes:
        n_qubits: qubits ``n``.
        n_layers: ansatz layers; or ``None`` with ``layers_per_qubit`` set.
        layers_per_qubit: ``n_layers = layers_per_qubit * n_qubits`` (McClean et al.'s depth
            scaling); ``None`` when ``n_layers`` is given.
        ansatz: the ansatz (default ``random-pauli``).
        observable: a single-output observable (:data:`SCALAR_OBSERVABLES`, default ``zz``).
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
        if (self.n_layers is None) == (self.layers_per_qubit is None):
            raise ValueError("give exactly one of n_layers and layers_per_qubit")
        if self.n_layers is not None:
            positive_int("n_layers", self.n_layers)
        else:
            positive_int("layers_per_qubit", self.layers_per_qubit)
        positive_int("samples", self.samples, minimum=2)
        positive_int("seed", self.seed, minimum=0)
        check_dtype(self.dtype)
        check_shots(self.shots)
        if self.observable not in SCALAR_OBSERVABLES:
            raise ValueError(
                f"observable {self.observable!r} cannot be used for gradient variance; expected "
                f"one of {', '.join(SCALAR_OBSERVABLES)} (a single output)"
            )
        Observable(self.observable, self.n_qubits)  # e.g. zz needs two qubits
        check_method(self.method, self.shots, self.method_options)
        param_indices(self.param, n_weights_of(self.ansatz, self.n_qubits, self.layers))

    @property
    def layers(self) -> int:
        """The number of layers, direct or ``layers_per_qubit * n_qubits``."""
        return self.n_layers if self.n_layers is not None else self.layers_per_qubit * self.n_qubits

    def ensemble(self) -> Ensemble:
        """The ensemble of random circuits this spec measures."""
        return ensemble(self.ansatz, self.n_qubits, self.layers)

    def params(self) -> dict[str, object]:
        """The spec as flat row columns."""
        out = dataclasses.asdict(self)
        out["n_layers"] = self.layers
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
        gradient_circuits: circuits the method runs per circuit for these ``S`` components.
        seconds: wall time of the estimates.
    """

    draw: Draw
    indices: list[int]
    estimates: np.ndarray
    means: np.ndarray | None
    gradient_circuits: int
    seconds: float


def sample_gradients(spec: VarianceSpec) -> VarianceSamples:
    """Draw the spec's circuits and estimate the chosen gradient components of each."""
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
    circuits = method.circuits_per_sample(len(slots))
    return VarianceSamples(draw, indices, estimates.double().numpy(), means, circuits, seconds)


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
                "gradient_shots": result.gradient_circuits * shots,
                "time_seconds": result.seconds,
            }
        )
    return rows
