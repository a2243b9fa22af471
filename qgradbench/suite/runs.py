"""A training run from Python, through the suite runner (what ``qgradbench run train`` does).

``run_train`` turns a :class:`~qgradbench.experiments.train.TrainSpec` into a one-task suite
(two with its classical baseline) and runs it with :func:`qgradbench.suite.runner.execute`
in this process: the same run directory, ``metadata.json``, ``log.txt`` and table writer as
``run suite``, every epoch's row written as it finishes (an interrupt keeps them, status
``interrupted``). With ``plots=True`` it also trains the classical baseline on the same data
and seed and writes the report (:func:`qgradbench.analysis.report.write_report`) and the
model's figures (the data set and the decision boundary) into ``figures/``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from qgradbench.experiments.train import QUANTUM_SETTINGS, BatchCallback, TrainSpec
from qgradbench.suite.config import Task, _check
from qgradbench.suite.store import FIGURES, METADATA, prepare_run_dir

TABLE = "train.parquet"


def train_tasks(settings: dict, baseline: bool = False) -> list[Task]:
    """The tasks of one training run (validated), and of its classical baseline if asked.

    Args:
        settings: keyword arguments of :class:`TrainSpec`.
        baseline: also train the classical model on the same data and seed (only for a
            hybrid model); its settings drop the quantum ones, which it does not use.

    Raises:
        ValueError: a setting the training experiment rejects (its data and model are built
            once to check them, before anything is written).
    """
    runs = [dict(settings)]
    if baseline and settings.get("model", "hybrid") == "hybrid":
        classical = {k: v for k, v in settings.items() if k not in QUANTUM_SETTINGS}
        runs.append({**classical, "model": "classical"})
    tasks = []
    for run in runs:
        _check("train", run, "run train")
        _set_up(TrainSpec(**run))
        tasks.append(Task(len(tasks), "train", "train", run))
    return tasks


def _set_up(spec: TrainSpec) -> None:
    """Load the data and build the model, so that what only they check fails before a run.

    (A data set's feature count, for one, is checked when it is loaded.)
    """
    from qgradbench.experiments.train import build_model, load_data

    build_model(spec, load_data(spec))


def _settings(spec: TrainSpec) -> dict:
    """A spec's settings as a task holds them (every field, method options as a dict)."""
    return {f.name: getattr(spec, f.name) for f in dataclasses.fields(spec)}


def run_train(
    spec: TrainSpec,
    out: str | Path,
    *,
    plots: bool = False,
    overwrite: bool = False,
    command: str | None = None,
    on_row: Callable[[dict], None] | None = None,
    on_batch: BatchCallback | None = None,
    plugins: list[dict] | None = None,
) -> list[Path]:
    """Run the training experiment into the directory ``out`` through the suite runner.

    Args:
        spec: the run.
        out: the run directory (created; must not be a file, nor hold another run unless
            ``overwrite``: see :func:`~qgradbench.suite.store.prepare_run_dir`).
        plots: also train the classical baseline and write the report and figures.
        overwrite: replace the outputs of a run already in ``out``.
        command: the command line that started the run, recorded in the metadata.
        on_row: called with every row as it is written (progress display).
        on_batch: called as ``on_batch(batch, n_batches)`` after every optimiser step.
        plugins: the plugins imported for the run (:meth:`Plugin.record` of each), recorded in
            the metadata.

    Returns:
        The files written: the table, ``metadata.json``, ``log.txt``, then (with ``plots``)
        the report's files and the model's figures.

    Raises:
        ValueError: for a bad spec or output directory (before anything is trained);
            :class:`~qgradbench.suite.store.RunExistsError` if ``out`` holds another run.
        RuntimeError: the training raised (its error is recorded in the metadata and log).
        KeyboardInterrupt: re-raised after the finished rows and the metadata are written.
    """
    import torch

    from qgradbench.suite.runner import (
        Hooks,
        LocalExecutor,
        execute,
        experiment_suite,
        run_metadata,
    )

    tasks = train_tasks(_settings(spec), baseline=plots)
    suite = experiment_suite("train", tasks)
    out = prepare_run_dir(out, overwrite)
    meta = {**run_metadata("experiment", suite), "command": command, "plugins": plugins or []}
    models: dict[int, tuple] = {}
    hooks = Hooks(
        on_row=None if on_row is None else (lambda task, row: on_row(row)),
        on_batch=on_batch,
        on_model=lambda task, model, data: models.setdefault(task.index, (model, data)),
    )
    executor = LocalExecutor(workers=1, threads=torch.get_num_threads())
    meta = execute(tasks, out, meta, executor, hooks=hooks)
    if meta["status"] == "interrupted":
        raise KeyboardInterrupt
    if meta["status"] == "failed":
        raise RuntimeError(f"training failed: {meta['failures'][0]['error']}")
    written = [out / TABLE, out / METADATA, out / "log.txt"]
    if plots:
        from qgradbench.analysis.report import write_report

        written += write_report(out)
        written += draw_model_figures(models.get(0), out)
    return written


def draw_model_figures(handle: tuple | None, run_dir: Path) -> list[Path]:
    """Draw the data set and the trained model's decision boundary into ``run_dir/figures``.

    Args:
        handle: ``(model, data)`` of the run's first task after training (kept by
            :class:`~qgradbench.suite.runner.Hooks` ``on_model``), or ``None`` when the run
            was not trained in this process (nothing is drawn).
        run_dir: the run directory; its ``train.parquet`` names the model in the titles.

    Returns:
        The files written.
    """
    if handle is None:
        return []
    import pandas as pd

    from qgradbench.analysis import figures
    from qgradbench.experiments.train import data_points, decision_grid

    model, data = handle
    table = pd.read_parquet(run_dir / TABLE)
    first = table[table["task"] == table["task"].min()]
    grid, points = pd.DataFrame(decision_grid(model, data)), pd.DataFrame(data_points(data))
    folder = run_dir / FIGURES
    dataset = figures.plot_dataset(points, title=f"Data set \N{EM DASH} {figures.describe(table)}")
    boundary = figures.plot_decision_boundary(
        grid, points, title=f"Decision boundary \N{EM DASH} {figures.describe(first)}"
    )
    return [
        figures.save(dataset, folder / "dataset.png"),
        figures.save(boundary, folder / "decision_boundary.png"),
    ]
