"""Experiments: pure functions from a run specification to rows (dicts); no I/O.

:data:`EXPERIMENTS` maps each experiment's name to its spec class and function, which is all a
runner needs: ``rows = EXPERIMENTS[name].run(EXPERIMENTS[name].spec(**settings))``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from qgradbench.experiments.estimator import EstimatorSpec, estimator
from qgradbench.experiments.runtime import RuntimeSpec, runtime
from qgradbench.experiments.train import TrainSpec, iter_train, train
from qgradbench.experiments.variance import VarianceSpec, variance


@dataclass(frozen=True)
class Experiment:
    """A registered experiment: its spec dataclass and the function from a spec to rows."""

    name: str
    spec: type
    run: Callable[..., list[dict]]
    summary: str


EXPERIMENTS: dict[str, Experiment] = {
    e.name: e
    for e in (
        Experiment("train", TrainSpec, train, "train a hybrid or classical model; a row per epoch"),
        Experiment("variance", VarianceSpec, variance, "gradient variance over random circuits"),
        Experiment("estimator", EstimatorSpec, estimator, "gradient estimators against exact"),
        Experiment("runtime", RuntimeSpec, runtime, "forward/backward/step time, peak memory"),
    )
}


def get_experiment(name: str) -> Experiment:
    """Return the experiment ``name``, or raise a ValueError listing the known ones."""
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; expected one of {', '.join(EXPERIMENTS)}")
    return EXPERIMENTS[name]


__all__ = [
    "EXPERIMENTS",
    "EstimatorSpec",
    "Experiment",
    "RuntimeSpec",
    "TrainSpec",
    "VarianceSpec",
    "estimator",
    "get_experiment",
    "iter_train",
    "runtime",
    "train",
    "variance",
]
