"""The training experiment: the seed notebook, for real.

A hybrid model (classical layers around a :class:`~qgradbench.QuantumLayer`) or the classical
baseline is trained on a data set with Adam and cross-entropy; every epoch yields one row:
training loss, train, validation and test accuracy, the circuits and shots the quantum layer spent
(training forward and backward, and evaluation), and wall time split into forward, backward,
optimiser step and evaluation.

A stratified fraction ``val_size`` of the training split is held out for validation
(:func:`qgradbench.datasets.validation_split`) and never trained on; selection (learning rate,
cost to a target accuracy) reads the validation columns, and the test split stays untouched.

The experiment is a pure function from a :class:`TrainSpec` to rows; it does no I/O. The
seed fixes the data, the initialisation, the order of the batches and the shots, so the same
spec gives the same rows (wall times aside).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from qgradbench import datasets
from qgradbench.backend.cost import Cost
from qgradbench.datasets import Dataset, load_dataset
from qgradbench.experiments.common import (
    check_method_observable,
    check_observable,
    circuit_shape,
    observable_text,
)
from qgradbench.models import ClassicalModel, HybridModel, count_parameters, matched_classical

MODELS = ("hybrid", "classical", "classical-matched")

#: Settings of the quantum layer; null in the rows and metadata of classical models.
QUANTUM_SETTINGS = (
    "method", "shots", "n_qubits", "n_layers", "ansatz", "observable", "method_options",
)  # fmt: skip

#: Quantum settings a ``classical-matched`` model keeps in its rows: they define the hybrid
#: whose parameter count it matches, so baselines of different depths stay apart.
MATCHED_SETTINGS = ("n_qubits", "n_layers", "ansatz", "observable")

#: Integer columns that can be null (classical rows, exact runs, default sizes): written as
#: pandas' nullable ``Int64``, so they read back as integers, not as floats.
NULLABLE_INTEGERS = ("shots", "n_qubits", "n_layers", "n_samples")


def _stream(seed: int, key: int) -> int:
    """An independent torch seed derived from ``seed`` for purpose ``key`` (SeedSequence)."""
    return int(np.random.SeedSequence([seed, key]).generate_state(1, np.uint64)[0])


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return value


@dataclass(frozen=True)
class TrainSpec:
    """What to train, on what, and how.

    Attributes:
        dataset: a data set name (:func:`qgradbench.datasets.names`), or a data file as
            ``{"path": FILE, "label": COLUMN}`` (``.csv`` or ``.parquet``; features: every
            other column; see :func:`qgradbench.datasets.load_file`). In a suite file, a
            relative path is relative to the suite file's folder.
        model: ``"hybrid"``, ``"classical"`` (the notebook's four-Linear network) or
            ``"classical-matched"`` (classical with about the hybrid's parameter count).
        method: the quantum layer's differentiation method (hybrid only).
        shots: shots per circuit, or ``None`` for exact expectation values (hybrid only).
        n_qubits: qubits of the quantum layer.
        n_layers: ansatz layers.
        ansatz: the ansatz (a name in :data:`qgradbench.circuits.ANSATZES`, built in or
            registered from a plugin, :mod:`qgradbench.plugins`). The hybrid model's second
            Linear layer feeds the circuit's inputs (``n_qubits`` for the built-in encoding).
        observable: what the quantum layer measures: a built-in name (``z-each``, one output
            per qubit; ``zz``, ``local-z`` ...), a Pauli sum such as ``"Z0 Z1 + 0.5 X2"``, or
            a list of them (one output each). The Linear layer after it takes
            ``layer.n_outputs`` inputs.
        hidden_size: width of the classical layers.
        epochs: passes over the training set.
        batch_size: samples per optimiser step.
        lr: Adam's learning rate.
        seed: seeds data, initialisation, batch order and shots.
        n_features: input features (PCA components for real data sets; for a data file, at
            most its feature columns, fewer for PCA components, ``None`` for all of them).
        n_samples: samples of the data set (``None``: its default).
        val_size: fraction of the training split held out for validation, in ``[0, 1)``
            (0: none, the validation columns are NaN).
        dataset_options: options of the data set's maker, e.g. ``{"noise": 0.3}`` for
            ``moons``, ``{"n_hyperplanes": 3}`` for ``hyperplanes`` or
            ``{"manifold_dimension": 6}`` for ``hidden-manifold`` (none for data files).
        method_options: options of the differentiation method (e.g. ``{"h": 0.1}``).
    """

    dataset: str | dict = "circles"
    model: str = "hybrid"
    method: str = "backprop"
    shots: int | None = None
    n_qubits: int = 4
    n_layers: int = 2
    ansatz: str = "strongly-entangling"
    observable: str | list = "z-each"
    hidden_size: int = 16
    epochs: int = 50
    batch_size: int = 32
    lr: float = 0.01
    seed: int = 0
    n_features: int | None = 4
    n_samples: int | None = None
    val_size: float = 0.2
    dataset_options: dict = field(default_factory=dict)
    method_options: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.model not in MODELS:
            raise ValueError(f"unknown model {self.model!r}; expected one of {', '.join(MODELS)}")
        _positive_int("epochs", self.epochs)
        _positive_int("batch_size", self.batch_size)
        if not isinstance(self.lr, int | float) or not self.lr > 0 or math.isinf(self.lr):
            raise ValueError(f"lr must be a positive number, got {self.lr!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {self.seed!r}")
        is_number = isinstance(self.val_size, int | float) and not isinstance(self.val_size, bool)
        if not is_number or not 0 <= self.val_size < 1:
            raise ValueError(
                f"val_size must be a fraction in [0, 1) (0: no validation split), "
                f"got {self.val_size!r}"
            )
        if not isinstance(self.dataset_options, dict):
            raise ValueError(
                f"dataset_options must be a mapping of the data set's options, "
                f"got {self.dataset_options!r}"
            )
        self._check_dataset()
        if self.model != "classical":  # the matched baseline counts a hybrid's parameters
            self._check_quantum()

    def _check_dataset(self) -> None:
        if not isinstance(self.dataset, str):
            if self.dataset_options:
                raise ValueError(
                    f"dataset_options are for the built-in data sets; a data file takes none, "
                    f"got {self.dataset_options!r}"
                )
            path, label = datasets.check_file_dataset(self.dataset)
            datasets.check_file(
                path, label, n_features=self.n_features, seed=self.seed, n_samples=self.n_samples
            )
            return
        datasets.get_spec(self.dataset)
        if self.n_features is None:
            raise ValueError(
                f"n_features: null (every column) is for data files; data set "
                f"{self.dataset!r} needs a number"
            )

    def _check_quantum(self) -> None:
        shape = circuit_shape(self.ansatz, self.n_qubits, self.n_layers, self.seed)
        if shape.n_inputs < 1:
            raise ValueError(
                f"ansatz {self.ansatz!r} reads no inputs; the hybrid model feeds data into the "
                f"circuit, so it needs one that reads x (use it in the variance or estimator "
                f"experiments instead)"
            )
        check_observable(self.observable, shape.n_qubits)
        if self.model == "hybrid":
            check_method_observable(
                self.method, self.shots, self.method_options, self.observable, shape.n_qubits
            )

    @property
    def dataset_name(self) -> str:
        """The data set's name: the registry name, or the data file's name."""
        if isinstance(self.dataset, str):
            return self.dataset
        return Path(self.dataset["path"]).name

    def config(self) -> dict[str, object]:
        """The run's resolved configuration (quantum settings are null for classical runs).

        A ``classical-matched`` run keeps :data:`MATCHED_SETTINGS` (the hybrid it matches).

        This is what ``metadata.json`` records; :meth:`params` is the same as table columns.
        """
        out = dataclasses.asdict(self)
        if self.model != "hybrid":
            kept = MATCHED_SETTINGS if self.model == "classical-matched" else ()
            for key in QUANTUM_SETTINGS:
                if key not in kept:
                    out[key] = None
        return out

    def params(self) -> dict[str, object]:
        """The run's parameters as flat columns (quantum settings are null for classical runs).

        A data file gives ``dataset`` (its file name), ``dataset_path`` and ``label_column``
        (null for the built-in sets).
        """
        out = self.config()
        if out["method_options"] is not None:
            out["method_options"] = repr(dict(sorted(self.method_options.items())))
        out["dataset_options"] = repr(dict(sorted(self.dataset_options.items())))
        if out["observable"] is not None:
            out["observable"] = observable_text(self.observable)
        is_file = not isinstance(self.dataset, str)
        out["dataset"] = self.dataset_name
        out["dataset_path"] = self.dataset["path"] if is_file else None
        out["label_column"] = self.dataset["label"] if is_file else None
        return out


def build_model(spec: TrainSpec, data: Dataset) -> nn.Module:
    """Build the spec's model for ``data`` (seeded)."""
    hybrid_args = dict(
        input_size=data.n_features,
        hidden_size=spec.hidden_size,
        n_qubits=spec.n_qubits,
        output_size=data.n_classes,
        n_layers=spec.n_layers,
        diff_method=spec.method,
        shots=spec.shots,
        seed=spec.seed,
        ansatz=spec.ansatz,
        observable=spec.observable,
        **spec.method_options,
    )
    if spec.model == "hybrid":
        return HybridModel(**hybrid_args)
    if spec.model == "classical":
        return ClassicalModel(data.n_features, spec.hidden_size, data.n_classes, seed=spec.seed)
    return matched_classical(HybridModel(**{**hybrid_args, "shots": None}), seed=spec.seed)


def _cost(model: nn.Module) -> Cost:
    layers = [m for m in model.modules() if hasattr(m, "reset_cost")]
    return layers[0].cost.copy() if layers else Cost()


@dataclass
class _Clock:
    forward: float = 0.0
    backward: float = 0.0
    step: float = 0.0


#: ``on_batch(batch, n_batches)``: called after each optimiser step, ``batch`` from 1.
BatchCallback = Callable[[int, int], None]


def _train_epoch(
    model, data, opt, loss_fn, order: torch.Tensor, batch_size: int, clock: _Clock, on_batch
):
    """One pass over the training set in ``order``; returns the mean training loss."""
    total, seen = 0.0, 0
    n_batches = math.ceil(len(order) / batch_size)
    for batch, start in enumerate(range(0, len(order), batch_size), 1):
        idx = order[start : start + batch_size]
        x, y = data.X_train[idx], data.y_train[idx]
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        opt.step()
        t3 = time.perf_counter()
        clock.forward += t1 - t0
        clock.backward += t2 - t1
        clock.step += t3 - t2
        total += loss.item() * len(idx)
        seen += len(idx)
        if on_batch is not None:
            on_batch(batch, n_batches)
    return total / seen


@torch.no_grad()
def _evaluate(model, X, y, loss_fn) -> tuple[float, float]:
    """Return (loss, accuracy) on ``X, y`` (one batched forward pass)."""
    logits = model(X)
    return loss_fn(logits, y).item(), (logits.argmax(1) == y).double().mean().item()


def iter_train(
    spec: TrainSpec,
    on_model: Callable[[nn.Module, Dataset], None] | None = None,
    on_batch: BatchCallback | None = None,
) -> Iterator[dict]:
    """Train as ``spec`` says and yield one row per epoch as it finishes.

    The data set and the model are built when this is called, so a bad spec raises at once,
    before any training.

    Args:
        spec: the run.
        on_model: called once with the model and the data before training (lets callers keep a
            handle on them, e.g. to draw the decision boundary afterwards).
        on_batch: called as ``on_batch(batch, n_batches)`` after every optimiser step
            (``batch`` counts from 1 in each epoch), for progress within slow epochs.

    Returns:
        An iterator of row dicts: the run's parameters, the data set's sizes (``n_train``: the
        samples trained on, after the validation split; ``n_val``; ``n_test``), ``epoch``,
        ``loss``, ``test_loss``, ``train_accuracy``, ``val_loss`` and ``val_accuracy`` (NaN
        without a validation split), ``test_accuracy``, training ``forward_circuits``,
        ``backward_circuits``, ``forward_shots``, ``backward_shots`` of the epoch,
        ``eval_circuits`` and ``eval_shots`` of its evaluation (train, validation and test),
        ``n_params``, and times in seconds (``time_forward``, ``time_backward``,
        ``time_step``, ``time_eval``, ``time_epoch``).
    """
    data = load_data(spec)
    model = build_model(spec, data)
    if on_model is not None:
        on_model(model, data)
    return _epochs(spec, data, model, on_batch)


def load_data(spec: TrainSpec) -> Dataset:
    """The spec's data set: a registered one, or its data file (:func:`datasets.load_file`)."""
    if isinstance(spec.dataset, str):
        try:
            return load_dataset(
                spec.dataset, n_features=spec.n_features, seed=spec.seed,
                n_samples=spec.n_samples, **spec.dataset_options,
            )  # fmt: skip
        except TypeError as error:  # an option the maker does not take
            raise ValueError(
                f"data set {spec.dataset!r} does not take the option(s) "
                f"{sorted(spec.dataset_options)}: {error}"
            ) from None
    path, label = datasets.check_file_dataset(spec.dataset)
    return datasets.load_file(
        path, label, n_features=spec.n_features, seed=spec.seed, n_samples=spec.n_samples
    )


def adam(params, lr: float) -> torch.optim.Adam:
    """Adam with its fused kernels (one per parameter group) where torch has them.

    The same update as torch's default Adam up to rounding, at a quarter of its time on the
    seed model (57 against 231 us a step on one CPU thread): the default runs several small
    kernels per parameter tensor. Parameters off the CPU and CUDA get the default.
    """
    params = list(params)
    fused = all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params)
    return torch.optim.Adam(params, lr=lr, fused=fused or None)


def _epochs(spec: TrainSpec, data: Dataset, model: nn.Module, on_batch) -> Iterator[dict]:
    data, X_val, y_val = datasets.validation_split(data, spec.val_size, spec.seed)
    opt = adam(model.parameters(), spec.lr)
    loss_fn = nn.CrossEntropyLoss()
    batches = torch.Generator().manual_seed(_stream(spec.seed, 1))
    params = {
        **spec.params(), **data.metadata(), "n_val": len(y_val),
        "n_params": count_parameters(model),
    }  # fmt: skip
    for epoch in range(1, spec.epochs + 1):
        clock, started = _Clock(), time.perf_counter()
        before = _cost(model)
        model.train()
        order = torch.randperm(data.n_train, generator=batches)
        loss = _train_epoch(model, data, opt, loss_fn, order, spec.batch_size, clock, on_batch)
        trained = _cost(model)
        t_eval = time.perf_counter()
        model.eval()
        _, train_acc = _evaluate(model, data.X_train, data.y_train, loss_fn)
        val_loss, val_acc = (
            _evaluate(model, X_val, y_val, loss_fn) if len(y_val) else (math.nan, math.nan)
        )
        test_loss, test_acc = _evaluate(model, data.X_test, data.y_test, loss_fn)
        done = time.perf_counter()
        spent, evaluated = trained - before, _cost(model) - trained
        yield {
            **params,
            "epoch": epoch,
            "loss": loss,
            "test_loss": test_loss,
            "train_accuracy": train_acc,
            "val_loss": val_loss,
            "val_accuracy": val_acc,
            "test_accuracy": test_acc,
            "forward_circuits": spent.forward_circuits,
            "backward_circuits": spent.backward_circuits,
            "forward_shots": spent.forward_shots,
            "backward_shots": spent.backward_shots,
            "eval_circuits": evaluated.forward_circuits,
            "eval_shots": evaluated.forward_shots,
            "time_forward": clock.forward,
            "time_backward": clock.backward,
            "time_step": clock.step,
            "time_eval": done - t_eval,
            "time_epoch": done - started,
        }


def train(spec: TrainSpec) -> list[dict]:
    """Run the training experiment and return one row per epoch (see :func:`iter_train`)."""
    return list(iter_train(spec))


def decision_grid(
    model: nn.Module, data: Dataset, resolution: int = 100, margin: float = 0.1
) -> list[dict]:
    """Class-1 probability on a grid over the first two features, the others held at zero.

    This is how the seed notebook drew its decision boundary. With shots the quantum layer's
    outputs are sampled, so the boundary is drawn as a hardware run would see it.

    Returns:
        Rows with ``x0``, ``x1`` and ``p1``.
    """
    X = torch.cat([data.X_train, data.X_test])
    lo, hi = X[:, :2].min(0).values, X[:, :2].max(0).values
    pad = margin * (hi - lo)
    axes = [torch.linspace(lo[i] - pad[i], hi[i] + pad[i], resolution) for i in range(2)]
    g0, g1 = torch.meshgrid(*axes, indexing="xy")
    grid = torch.zeros(g0.numel(), data.n_features)
    grid[:, 0], grid[:, 1] = g0.reshape(-1), g1.reshape(-1)
    model.eval()
    with torch.no_grad():
        p1 = torch.softmax(model(grid), dim=1)[:, 1]
    return [
        {"x0": float(a), "x1": float(b), "p1": float(p)}
        for a, b, p in zip(grid[:, 0], grid[:, 1], p1, strict=True)
    ]


def data_points(data: Dataset) -> list[dict]:
    """The data set's first two features with label and split, as rows for plotting.

    Rows also carry the set's ``dataset`` name and ``preprocessing`` (so that figures of a
    PCA-reduced set label its axes as principal components).
    """
    about = {"dataset": data.name, "preprocessing": data.preprocessing}
    rows = []
    for split, X, y in (("train", data.X_train, data.y_train), ("test", data.X_test, data.y_test)):
        rows += [
            {"x0": float(a), "x1": float(b), "label": int(c), "split": split, **about}
            for a, b, c in zip(X[:, 0], X[:, 1], y, strict=True)
        ]
    return rows
