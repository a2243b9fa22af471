"""Seaborn figures of the experiments' tidy tables, with a fixed colour per method.

Every ``plot_*`` function takes pandas DataFrames (the rows of an experiment, one per
measurement) and returns a :class:`matplotlib.figure.Figure`; nothing is shown and nothing is
written, the caller saves with :func:`save`. Figures are built on
:class:`matplotlib.figure.Figure` directly, not through pyplot, so that they need no display,
no interactive backend and no global figure registry; PNGs are rendered with Agg.

A *run label* (:func:`label`) names what a line stands for: the method and its shots, e.g.
``"parameter-shift (1000 shots)"`` or ``"backprop (exact)"``, or the classical model. Colour
encodes the method (:data:`METHOD_COLOURS`), so that a method looks the same in every figure;
runs of one method at different shot counts share its colour and differ by marker (exact runs
have none). Rows of one label at several seeds are drawn as their mean with a 95% Student-t band
(:func:`qgradbench.analysis.stats.mean_interval`, which holds its coverage at a few seeds).

The style (colours, markers, sizes, :func:`save`) lives in :mod:`qgradbench.analysis.style`,
and run labels, titles and axes (:func:`label`, :func:`describe`, :func:`accuracy_limits`,
:func:`wilson_interval`) in :mod:`qgradbench.analysis.labels`; this module re-exports their
public names, so ``from qgradbench.analysis.figures import label`` still works.

>>> import pandas as pd
>>> from qgradbench.analysis import label, plot_training_curves, save
>>> label({"model": "hybrid", "method": "parameter-shift", "shots": 1000})
'parameter-shift (1000 shots)'
>>> rows = pd.DataFrame({
...     "model": ["hybrid"] * 2, "method": ["backprop"] * 2, "shots": [None] * 2,
...     "epoch": [1, 2], "loss": [0.7, 0.5], "test_loss": [0.7, 0.6],
...     "train_accuracy": [0.6, 0.8], "test_accuracy": [0.5, 0.7], "seed": [0, 0]})
>>> fig = plot_training_curves(rows)
>>> len(fig.axes)
2
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib.colors as mcolors
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from qgradbench.analysis.labels import (
    _accuracy_axis,
    _colour_key,
    _epoch_axis,
    _feature_labels,
    _is_classical,
    _null,
    _seed_note,
    _title,
    accuracy_limits,
    describe,
    label,
    wilson_interval,
)
from qgradbench.analysis.stats import mean_interval
from qgradbench.analysis.style import (
    _BOUNDARY_CMAP,
    _LINE_WIDTH,
    _MARKER_SIZE,
    _N_MARKERS,
    _SHOT_MARKERS,
    _SPLIT_LINESTYLES,
    _SPLIT_MARKERS,
    METHOD_COLOURS,
    _class_colours,
    _finish,
    _new_figure,
    _style,
    method_palette,
    save,
)

__all__ = [
    "METHOD_COLOURS",
    "accuracy_limits",
    "describe",
    "label",
    "method_palette",
    "plot_accuracy_comparison",
    "plot_dataset",
    "plot_decision_boundary",
    "plot_training_curves",
    "save",
    "wilson_interval",
]

_CI_LEVEL = 95.0  # percent, Student-t interval of the mean over seeds

_TRAINING_COLUMNS = ("model", "method", "shots", "epoch", "loss", "train_accuracy")
_TRAINING_COLUMNS += ("test_accuracy",)
_COMPARISON_COLUMNS = ("model", "method", "shots", "epoch", "test_accuracy")
_POINT_COLUMNS = ("x0", "x1", "label", "split")
_GRID_COLUMNS = ("x0", "x1", "p1")


@dataclass(frozen=True)
class _Run:
    """How one run label is drawn."""

    label: str
    colour: str
    marker: str  # "" for exact runs and classical models


def _runs(rows: pd.DataFrame) -> tuple[pd.DataFrame, list[_Run]]:
    """Return ``rows`` with a ``_run`` label column, and the runs' styles in legend order."""
    records = rows[["model", "method", "shots"]].to_dict("records")
    labels = [label(r) for r in records]
    keys = [_colour_key(r["model"], r["method"]) for r in records]
    shots = [
        None if _is_classical(r["model"], r["method"]) or _null(r["shots"]) else int(r["shots"])
        for r in records
    ]
    palette = method_palette(keys)
    levels = sorted(set(shots) - {None})
    markers = {n: _SHOT_MARKERS[i % len(_SHOT_MARKERS)] for i, n in enumerate(levels)}
    known = [k for k in METHOD_COLOURS if not k.startswith("classical")]

    def order(item: tuple[str, str, int | None]) -> tuple:
        _, key, n = item
        if key in known:
            rank = (0, known.index(key), "")
        elif key.startswith("classical"):
            rank = (2, 0, key)
        else:
            rank = (1, 0, key)
        return (*rank, n is not None, n or 0)

    unique = sorted(set(zip(labels, keys, shots, strict=True)), key=order)
    runs = [_Run(lab, palette[key], markers.get(n, "")) for lab, key, n in unique]
    if len({r.label for r in runs}) != len(runs):  # pragma: no cover - labels encode key+shots
        raise ValueError("run labels are not unique")
    return rows.assign(_run=labels), runs


def _t_interval(values: Sequence[float]) -> tuple[float, float]:
    """Return the Student-t interval of the mean of ``values`` (seaborn's ``errorbar``).

    ``x_bar +- t_{n-1, 0.975} s / sqrt(n)`` (:func:`qgradbench.analysis.stats.mean_interval`):
    it holds its 95% coverage at the 3-10 seeds a run has, where a percentile bootstrap of
    so few values is close to ``[min, max]`` and undercovers. One value gives no band.
    """
    interval = mean_interval(values, _CI_LEVEL / 100)
    if interval.n < 2:
        return interval.estimate, interval.estimate
    return interval.low, interval.high


# --------------------------------------------------------------------------------------------
# Validation.
# --------------------------------------------------------------------------------------------


def _require(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    """Raise a ValueError naming the missing columns (and those expected) of ``frame``."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{what} must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{what} is missing column(s) {', '.join(missing)}; expected columns "
            f"{', '.join(columns)} (got {', '.join(map(str, frame.columns)) or 'none'})"
        )
    if frame.empty:
        raise ValueError(f"{what} has no rows")


def _check_one_row_per_epoch(rows: pd.DataFrame) -> None:
    """Raise if a run label has several rows for one (seed, epoch): runs that differ elsewhere."""
    keys = ["_run", "seed", "epoch"] if "seed" in rows.columns else None
    if keys is None:
        return
    dup = rows[keys].astype(str).duplicated()
    if dup.any():
        first = rows.loc[dup, keys].iloc[0]
        raise ValueError(
            f"several rows for run {first['_run']!r}, seed {first['seed']}, epoch "
            f"{first['epoch']}: the rows mix runs that differ in other parameters (data set, "
            "layers, qubits...); filter them to one configuration first"
        )


# --------------------------------------------------------------------------------------------
# Drawing helpers.
# --------------------------------------------------------------------------------------------


def _markevery(rows: pd.DataFrame) -> int:
    return max(1, int(np.ceil(rows["epoch"].nunique() / _N_MARKERS)))


def _line(ax, data: pd.DataFrame, y: str, run: _Run, linestyle: str, split: str, every: int):
    """Draw one run's ``y`` against epoch: the mean over seeds with a 95% CI band."""
    data = data[["epoch", y]].dropna()
    if data.empty:
        return
    sns.lineplot(
        data=data,
        x="epoch",
        y=y,
        ax=ax,
        color=run.colour,
        linestyle=linestyle,
        linewidth=_LINE_WIDTH,
        marker=run.marker or None,
        markersize=_MARKER_SIZE,
        markevery=every,
        errorbar=_t_interval,
        legend=False,
        label=f"{run.label} [{split}]",
    )


def _run_handles(runs: Sequence[_Run]) -> list[Line2D]:
    return [
        Line2D(
            [],
            [],
            color=r.colour,
            marker=r.marker or None,
            markersize=_MARKER_SIZE,
            markeredgecolor="w",
            linewidth=_LINE_WIDTH,
            label=r.label,
        )
        for r in runs
    ]


def _split_handles(splits: Sequence[str]) -> list[Line2D]:
    return [
        Line2D([], [], color="0.3", linestyle=_SPLIT_LINESTYLES[s], linewidth=_LINE_WIDTH, label=s)
        for s in splits
    ]


def _scatter(ax, points: pd.DataFrame, *, edge: str, size: float) -> list[Line2D]:
    """Scatter points by class (colour) and split (marker); return their legend handles."""
    pts = points.assign(label=points["label"].astype(int), split=points["split"].astype(str))
    classes = sorted(pts["label"].unique())
    known = list(_SPLIT_MARKERS)
    splits = sorted(pts["split"].unique(), key=lambda s: (known.index(s) if s in known else 99, s))
    colours = _class_colours(classes)
    markers = {s: _SPLIT_MARKERS.get(s, "s") for s in splits}
    sns.scatterplot(
        data=pts,
        x="x0",
        y="x1",
        hue="label",
        hue_order=classes,
        palette=colours,
        style="split",
        style_order=splits,
        markers=markers,
        s=size,
        edgecolor=edge,
        linewidth=0.6,
        alpha=0.85,
        legend=False,
        ax=ax,
    )
    handles = [
        Line2D(
            [],
            [],
            linestyle="",
            marker="o",
            markersize=7,
            color=colours[c],
            markeredgecolor=edge,
            label=f"class {c}",
        )
        for c in classes
    ]
    handles += [
        Line2D(
            [],
            [],
            linestyle="",
            marker=markers[s],
            markersize=7,
            color="0.55",
            markeredgecolor=edge,
            label=s,
        )
        for s in splits
    ]
    return handles


# --------------------------------------------------------------------------------------------
# Figures.
# --------------------------------------------------------------------------------------------


def plot_dataset(points: pd.DataFrame, *, title: str | None = None) -> Figure:
    """Scatter the data set's first two features, coloured by class, marker by split.

    Args:
        points: one row per sample with columns ``x0``, ``x1`` (the first two features),
            ``label`` (integer class) and ``split`` (``"train"`` or ``"test"``); optionally
            ``dataset`` (named in the title) and ``preprocessing`` (a PCA-reduced set's axes
            are its principal components).
        title: the figure title (default: the data set's name and what is plotted).

    Returns:
        A figure with one axes.

    Raises:
        ValueError: if a column is missing or there are no rows.
    """
    _require(points, _POINT_COLUMNS, "points")
    with _style():
        fig, (ax,) = _new_figure(1, (6.4, 5.0))
        handles = _scatter(ax, points, edge="w", size=28)
        xlabel, ylabel = _feature_labels(points)
        ax.set(xlabel=xlabel, ylabel=ylabel)
        ax.set_aspect("equal", adjustable="datalim")
        pca = xlabel.startswith("principal")
        what = "first two principal components" if pca else "first two features"
        name = ", ".join(dict.fromkeys(points.get("dataset", pd.Series(dtype=str)).astype(str)))
        ax.set_title(title if title is not None else f"{name or 'Data set'} ({what})")
        counts = points["split"].astype(str).value_counts()
        note = ", ".join(f"{counts[s]} {s}" for s in counts.index)
        fig.legend(handles=handles, loc="outside right upper", title=note)
        return _finish(fig)


def plot_training_curves(rows: pd.DataFrame, *, title: str | None = None) -> Figure:
    """Plot loss and accuracy against epoch, one line per run label, train dashed, test solid.

    Args:
        rows: the training experiment's rows, one per epoch per run, with columns ``model``
            (``"hybrid"`` or ``"classical"``), ``method`` (null for classical models),
            ``shots`` (null for exact), ``epoch`` (from 1), ``loss`` (the epoch's mean training
            loss), ``train_accuracy``, ``test_accuracy`` and, optionally, ``test_loss`` and
            ``seed``. Rows of one label at several seeds are averaged (95% CI band); rows must
            otherwise come from one configuration (filter other parameters first).
        title: the figure title (default ``"Training curves"`` and what the rows are runs
            of: data set, model and method, see :func:`describe`).

    Returns:
        A figure with two axes: the cross-entropy loss, and the accuracy.

    Raises:
        ValueError: if a column is missing, there are no rows, or one run label has several
            rows for one seed and epoch.
    """
    _require(rows, _TRAINING_COLUMNS, "rows")
    rows, runs = _runs(rows)
    _check_one_row_per_epoch(rows)
    every = _markevery(rows)
    has_test_loss = "test_loss" in rows.columns and rows["test_loss"].notna().any()
    with _style():
        fig, (ax_loss, ax_acc) = _new_figure(2, (12.0, 4.6))
        for run in runs:
            data = rows[rows["_run"] == run.label]
            _line(ax_loss, data, "loss", run, _SPLIT_LINESTYLES["train"], "train", every)
            if has_test_loss:
                _line(ax_loss, data, "test_loss", run, _SPLIT_LINESTYLES["test"], "test", every)
            for split in ("train", "test"):
                col = f"{split}_accuracy"
                _line(ax_acc, data, col, run, _SPLIT_LINESTYLES[split], split, every)
        ax_loss.set_title("Loss")
        ax_loss.set_ylabel("cross-entropy loss")
        _epoch_axis(ax_loss)
        set_label, fraction = _accuracy_axis(
            ax_acc, pd.concat([rows["train_accuracy"], rows["test_accuracy"]]).dropna()
        )
        set_label("accuracy" if fraction else "accuracy (%)")
        ax_acc.set_title("Accuracy")
        _epoch_axis(ax_acc)
        fig.suptitle(_title(title, "Training curves", rows) + _seed_note(rows))
        spacer = Line2D([], [], linestyle="", label=" ")
        handles = [*_run_handles(runs), spacer, *_split_handles(["train", "test"])]
        fig.legend(handles=handles, loc="outside right upper", title="run")
        return _finish(fig)


def plot_decision_boundary(
    grid: pd.DataFrame, points: pd.DataFrame, *, title: str | None = None
) -> Figure:
    """Draw the model's probability of class 1 over the first two features, with the data.

    Args:
        grid: one row per grid point with columns ``x0``, ``x1`` and ``p1`` (the probability
            of class 1 there, the other features held at zero); a regular grid is drawn as a
            filled contour, scattered points are triangulated.
        points: the data as for :func:`plot_dataset`, drawn on top.
        title: the figure title (default ``"Decision boundary"`` and the data set); give
            the model and method, which the grid does not name.

    Returns:
        A figure with two axes: the map and its colour bar.

    Raises:
        ValueError: if a column is missing or a table has no rows.
    """
    _require(grid, _GRID_COLUMNS, "grid")
    _require(points, _POINT_COLUMNS, "points")
    levels = np.linspace(0.0, 1.0, 21)
    norm = mcolors.TwoSlopeNorm(vcenter=0.5, vmin=0.0, vmax=1.0)
    g = grid[list(_GRID_COLUMNS)].astype(float)
    table = g.pivot_table(index="x1", columns="x0", values="p1", aggfunc="mean")
    with _style():
        fig, (ax,) = _new_figure(1, (7.2, 5.6))
        if table.isna().to_numpy().any():
            args, fill, line = (g["x0"], g["x1"], g["p1"]), ax.tricontourf, ax.tricontour
        else:
            xx, yy = np.meshgrid(table.columns.to_numpy(), table.index.to_numpy())
            args, fill, line = (xx, yy, table.to_numpy()), ax.contourf, ax.contour
        filled = fill(*args, levels=levels, cmap=_BOUNDARY_CMAP, norm=norm, alpha=0.85)
        handles = _scatter(ax, points, edge="k", size=24)
        if g["p1"].min() < 0.5 < g["p1"].max():
            line(*args, levels=[0.5], colors="k", linewidths=1.6)
            handles.append(Line2D([], [], color="k", linewidth=1.6, label="p1 = 0.5"))
        bar = fig.colorbar(filled, ax=ax, ticks=[0, 0.25, 0.5, 0.75, 1.0])
        bar.set_label("P(class 1)")
        xlabel, ylabel = _feature_labels(points)
        ax.set(xlabel=xlabel, ylabel=ylabel)
        ax.set_xlim(g["x0"].min(), g["x0"].max())
        ax.set_ylim(g["x1"].min(), g["x1"].max())
        ax.grid(False)
        name = ", ".join(dict.fromkeys(points.get("dataset", pd.Series(dtype=str)).astype(str)))
        ax.set_title(title if title is not None else f"Decision boundary {name}".strip())
        fig.legend(
            handles=handles,
            loc="outside lower center",
            ncols=len(handles),
            title="other features held at 0",
        )
        return _finish(fig)


def plot_accuracy_comparison(rows: pd.DataFrame, *, title: str | None = None) -> Figure:
    """Compare test accuracy of hybrid and classical runs: per epoch, and at the final epoch.

    The final panel's error bars are what the accuracies can tell apart: with an ``n_test``
    column, the 95% Wilson interval of the (seed-mean) final accuracy on that many test samples
    (pooled over seeds), the uncertainty a finite test set puts on it; without it, the 95%
    Student-t interval of the mean over seeds. Each seed's value is drawn as a dot when there
    are several. Accuracy axes span at least 10 percentage points, with margins.

    Args:
        rows: the training experiment's rows as for :func:`plot_training_curves`; this figure
            needs ``model``, ``method``, ``shots``, ``epoch`` and ``test_accuracy`` (and uses
            ``seed``, ``n_test`` and ``dataset`` when present).
        title: the figure title (default: ``"Test accuracy"`` and what the rows are runs of:
            data set, models and methods, see :func:`describe`).

    Returns:
        A figure with two axes: test accuracy against epoch, and the final epoch's test
        accuracy per run label with its interval.

    Raises:
        ValueError: if a column is missing, there are no rows, or one run label has several
            rows for one seed and epoch.
    """
    _require(rows, _COMPARISON_COLUMNS, "rows")
    rows, runs = _runs(rows)
    _check_one_row_per_epoch(rows)
    every = _markevery(rows)
    per_run = ["_run", "seed"] if "seed" in rows.columns else ["_run"]
    final = rows.dropna(subset=["test_accuracy"]).sort_values("epoch")
    final = final.groupby(per_run, dropna=False, sort=False).tail(1)
    drawn = [r for r in runs if r.label in set(final["_run"])]
    intervals = {r.label: _final_interval(final[final["_run"] == r.label]) for r in drawn}
    wilson = "n_test" in final.columns and final["n_test"].notna().all()
    with _style():
        fig, (ax_line, ax_final) = _new_figure(2, (12.0, 4.6), width_ratios=[1.5, 1.0])
        for run in runs:
            data = rows[rows["_run"] == run.label]
            _line(ax_line, data, "test_accuracy", run, _SPLIT_LINESTYLES["test"], "test", every)
        set_label, fraction = _accuracy_axis(ax_line, rows["test_accuracy"].dropna())
        set_label("test accuracy" if fraction else "test accuracy (%)")
        ax_line.set_title("Test accuracy per epoch")
        _epoch_axis(ax_line)

        for y, run in enumerate(drawn):
            mean, lo, hi = intervals[run.label]
            ax_final.errorbar(
                [mean], [y], xerr=[[mean - lo], [hi - mean]], color=run.colour, marker="D",
                markersize=_MARKER_SIZE + 1, linestyle="none", capsize=5, linewidth=_LINE_WIDTH,
                label=f"{run.label} [final]",
            )  # fmt: skip
            seeds = final.loc[final["_run"] == run.label, "test_accuracy"].to_numpy(float)
            if seeds.size > 1:
                jitter = np.linspace(-0.12, 0.12, seeds.size)
                ax_final.scatter(seeds, y + jitter, color="0.35", s=16, alpha=0.7, zorder=3)
        ax_final.set_yticks(range(len(drawn)), [r.label for r in drawn])
        ax_final.set_ylim(len(drawn) - 0.5, -0.5)  # first run on top
        ax_final.grid(False, axis="y")
        ends = [v for interval in intervals.values() for v in interval]
        ends += final["test_accuracy"].dropna().tolist()
        set_label, fraction = _accuracy_axis(ax_final, ends, axis="x")
        if wilson:
            n = sorted({int(v) for v in final["n_test"]})
            bars = f"95% Wilson interval, {'/'.join(map(str, n))} test samples"
        else:
            bars = "95% t-interval over seeds"
        set_label(f"test accuracy at final epoch{'' if fraction else ' (%)'} ({bars})")
        ax_final.set_ylabel("")
        ax_final.set_title(f"Final test accuracy (epoch {int(rows['epoch'].max())})")
        fig.suptitle(_title(title, "Test accuracy", rows) + _seed_note(rows))
        fig.legend(handles=_run_handles(runs), loc="outside right upper", title="run")
        return _finish(fig)


def _final_interval(final: pd.DataFrame) -> tuple[float, float, float]:
    """Return ``(mean, lo, hi)`` of one run's final test accuracies (one per seed).

    The Wilson interval on the pooled test samples when ``n_test`` is known, else the
    Student-t interval of the mean over seeds.
    """
    acc = final["test_accuracy"].to_numpy(float)
    mean = float(np.mean(acc))
    if "n_test" in final.columns and final["n_test"].notna().all():
        lo, hi = wilson_interval(mean, int(final["n_test"].sum()))
    else:
        lo, hi = _t_interval(acc)
    return mean, min(lo, mean), max(hi, mean)
