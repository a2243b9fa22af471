"""Experiments: pure functions from a run specification to rows (dicts); no I/O."""

from qgradbench.experiments.train import TrainSpec, iter_train, train

__all__ = ["TrainSpec", "iter_train", "train"]
