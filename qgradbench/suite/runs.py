"""Single experiment runs written to a run directory (what ``qgradbench run train`` does).

``run_train`` trains one model, rewriting ``train.parquet`` after every epoch so that an
interrupted run keeps every finished epoch, and records ``metadata.json`` (status ``running``,
then ``complete`` or ``interrupted``). With ``plots=True`` it also trains the classical
baseline on the same data and seed, for the hybrid-versus-classical figure, and draws the
figures into ``figures/``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from qgradbench.experiments.train import (
    NULLABLE_INTEGERS,
    BatchCallback,
    TrainSpec,
    data_points,
    decision_grid,
    iter_train,
)
from qgradbench.suite.store import (
    FIGURES,
    METADATA,
    environment,
    now,
    prepare_run_dir,
    write_json,
    write_table,
)

TABLE = "train.parquet"


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
    """Run the training experiment into the directory ``out``.

    Args:
        spec: the run.
        out: the run directory (created; must not be a file, nor hold another run unless
            ``overwrite``: see :func:`~qgradbench.suite.store.prepare_run_dir`).
        plots: also train the classical baseline and draw the figures.
        overwrite: replace the outputs of a run already in ``out``.
        command: the command line that started the run, recorded in the metadata.
        on_row: called with every row as it is written (progress display).
        on_batch: called as ``on_batch(batch, n_batches)`` after every optimiser step.
        plugins: the plugins imported for the run (:meth:`Plugin.record` of each), recorded in
            the metadata.

    Returns:
        The files written: the table, ``metadata.json``, then the figures (if ``plots``).

    Raises:
        ValueError: for a bad spec or output directory (before anything is trained);
            :class:`~qgradbench.suite.store.RunExistsError` if ``out`` holds another run.
        KeyboardInterrupt: re-raised after the finished rows and the metadata are written.
    """
    specs = [spec]
    if plots and spec.model == "hybrid":
        specs.append(dataclasses.replace(spec, model="classical"))
    handles: dict[str, tuple] = {}

    def keep(model, data):
        handles[len(handles)] = (model, data)

    # building the iterators validates every spec before anything is written
    epochs = [iter_train(s, on_model=keep, on_batch=on_batch) for s in specs]
    out = prepare_run_dir(out, overwrite)
    meta = {
        "experiment": "train",
        "config": [s.config() for s in specs],
        "plots": plots,
        "plugins": list(plugins or []),
        "started": now(),
        "status": "running",
        **environment(command),
    }
    write_json(out / METADATA, meta)
    rows: list[dict] = []
    saved = 0
    try:
        for run in epochs:
            for row in run:
                rows.append(row)
                write_table(rows, out / TABLE, NULLABLE_INTEGERS)
                saved = len(rows)
                if on_row is not None:
                    on_row(row)
        meta["status"] = "complete"
    except KeyboardInterrupt:
        meta["status"] = "interrupted"
        raise
    except Exception:
        meta["status"] = "failed"
        raise
    finally:
        if saved < len(rows):  # interrupted between a finished epoch and its write
            write_table(rows, out / TABLE, NULLABLE_INTEGERS)
        meta["finished"] = now()
        meta["rows"] = len(rows)
        write_json(out / METADATA, meta)
    written = [out / TABLE, out / METADATA]
    if plots:
        model, data = handles[0]
        grid, points = decision_grid(model, data), data_points(data)
        written += draw_train_figures(rows, grid, points, out / FIGURES)
    return written


def draw_train_figures(
    rows: list[dict], grid: list[dict], points: list[dict], folder: Path
) -> list[Path]:
    """Draw the training figures from rows into ``folder``; return the files written."""
    import pandas as pd

    from qgradbench.analysis import figures

    table, grid, points = pd.DataFrame(rows), pd.DataFrame(grid), pd.DataFrame(points)
    first = table[table["model"] == table["model"].iloc[0]]  # the model the grid is of
    data = figures.plot_dataset(points, title=f"Data set \N{EM DASH} {figures.describe(table)}")
    boundary = figures.plot_decision_boundary(
        grid, points, title=f"Decision boundary \N{EM DASH} {figures.describe(first)}"
    )
    return [
        figures.save(data, folder / "dataset.png"),
        figures.save(figures.plot_training_curves(table), folder / "training_curves.png"),
        figures.save(boundary, folder / "decision_boundary.png"),
        figures.save(figures.plot_accuracy_comparison(table), folder / "hybrid_vs_classical.png"),
    ]
