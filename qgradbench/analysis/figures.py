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
have none). Rows of one label at several seeds are drawn as their mean with a 95% bootstrap
confidence band (seaborn's estimator, seeded, so figures are reproducible).

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

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib.colors as mcolors
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator, PercentFormatter

# --------------------------------------------------------------------------------------------
# Styling: every colour, marker, size and rc setting of the figures lives here.
# --------------------------------------------------------------------------------------------

#: The fixed colour of each differentiation method (and of the classical baselines), from the
#: Okabe-Ito colour-blind-safe palette where it has enough colours. Order is legend order.
METHOD_COLOURS: dict[str, str] = {
    "backprop": "#0072B2",  # blue
    "adjoint": "#56B4E9",  # sky blue
    "parameter-shift": "#E69F00",  # orange
    "finite-diff": "#D55E00",  # vermilion
    "spsa": "#CC79A7",  # reddish purple
    "hadamard": "#8C564B",  # brown
    "shot-adjoint": "#009E73",  # bluish green
    "classical": "#222222",  # near black
    "classical-matched": "#888888",  # grey
}

#: Colours handed to names not in METHOD_COLOURS, in sorted name order (cycled if needed).
_EXTRA_COLOURS: tuple[str, ...] = (
    "#9467BD",  # purple
    "#BCBD22",  # olive
    "#17BECF",  # cyan
    "#E377C2",  # pink
    "#D62728",  # red
    "#2CA02C",  # green
    "#7F7F7F",  # mid grey
    "#1F3A93",  # navy
)

#: Markers for shot counts, assigned in increasing order of shots within a figure.
_SHOT_MARKERS: tuple[str, ...] = ("o", "s", "^", "D", "v", "P", "X", "*")

#: Class colours of the data points: the first two are the ends of the boundary colormap.
_CLASS_COLOURS: tuple[str, ...] = ("#2166AC", "#B2182B", "#1B7837", "#762A83", "#E08214")
_SPLIT_MARKERS: dict[str, str] = {"train": "o", "test": "^"}
_SPLIT_LINESTYLES: dict[str, str] = {"train": "--", "test": "-"}
_BOUNDARY_CMAP = "RdBu_r"

_SEABORN_STYLE = "whitegrid"
_SEABORN_CONTEXT = "notebook"
_FONT_SCALE = 0.9
_RC: dict[str, object] = {"axes.titleweight": "bold", "legend.frameon": False}
_LINE_WIDTH = 1.8
_MARKER_SIZE = 5.5
_N_MARKERS = 10  # markers per line, at most
_CI_LEVEL = 95.0  # percent, bootstrap confidence interval of the mean over seeds
_N_BOOT = 1000
_BOOT_SEED = 0
_DPI = 120
#: An accuracy axis spans at least this fraction of [0, 1] (10 percentage points: ten test
#: samples of the seed notebook's 100), so that one sample's difference never fills the axis.
_MIN_ACCURACY_SPAN = 0.10
_AXIS_PADDING = 0.06  # of the span, on each side, so that markers sit inside the frame
_ACCURACY_TICKS = 6  # at most this many ticks on an accuracy axis
_WILSON_Z = 1.959963984540054  # 95% two-sided normal quantile

_TRAINING_COLUMNS = ("model", "method", "shots", "epoch", "loss", "train_accuracy")
_TRAINING_COLUMNS += ("test_accuracy",)
_COMPARISON_COLUMNS = ("model", "method", "shots", "epoch", "test_accuracy")
_POINT_COLUMNS = ("x0", "x1", "label", "split")
_GRID_COLUMNS = ("x0", "x1", "p1")


@contextlib.contextmanager
def _style() -> Iterator[None]:
    """Apply the figures' seaborn style for the duration of the block (restored afterwards)."""
    with (
        sns.axes_style(_SEABORN_STYLE, rc=_RC),
        sns.plotting_context(_SEABORN_CONTEXT, font_scale=_FONT_SCALE),
    ):
        yield


def _new_figure(ncols: int, figsize: tuple[float, float], **gridspec) -> tuple[Figure, list]:
    """Return a constrained-layout Figure (not registered with pyplot) and its axes."""
    fig = Figure(figsize=figsize, layout="constrained")
    axes = fig.subplots(1, ncols, squeeze=False, gridspec_kw=gridspec or None)[0]
    return fig, list(axes)


def _finish(fig: Figure) -> Figure:
    """Lay the figure out inside the style, so that ticks keep its fonts when saved later."""
    fig.draw_without_rendering()
    return fig


# --------------------------------------------------------------------------------------------
# Colours and labels.
# --------------------------------------------------------------------------------------------


def method_palette(names: Iterable[str]) -> dict[str, str]:
    """Return a colour (hex string) for each distinct name, fixed for known methods.

    Known names get :data:`METHOD_COLOURS`. Unknown names get colours from a fixed extra
    palette in sorted name order, so the result depends only on the set of names given: never
    on their order or on chance.

    Args:
        names: method names (``"classical"`` for the classical model); repeats are ignored.

    Returns:
        ``{name: colour}`` in the order the names first appear.
    """
    unique = list(dict.fromkeys(str(name) for name in names))
    unknown = sorted(name for name in unique if name not in METHOD_COLOURS)
    extra = {name: _EXTRA_COLOURS[i % len(_EXTRA_COLOURS)] for i, name in enumerate(unknown)}
    return {name: METHOD_COLOURS.get(name, extra.get(name)) for name in unique}


def _null(value: object) -> bool:
    """Return whether a cell is missing (None, NaN, pd.NA, NaT)."""
    return value is None or (np.ndim(value) == 0 and bool(pd.isna(value)))


def _fields(row_or_values: object) -> tuple[object, object, object]:
    """Return ``(model, method, shots)`` of a row, a mapping, a tuple or a method name."""
    if isinstance(row_or_values, str):
        return None, row_or_values, None
    if isinstance(row_or_values, Mapping | pd.Series):
        get = row_or_values.get
        return get("model"), get("method"), get("shots")
    if hasattr(row_or_values, "_asdict"):  # a namedtuple from DataFrame.itertuples()
        return _fields(row_or_values._asdict())
    if isinstance(row_or_values, Sequence) and len(row_or_values) in (2, 3):
        values = tuple(row_or_values)
        return (None, *values) if len(values) == 2 else values
    raise TypeError(
        "label() takes a row or mapping with 'model', 'method' and 'shots', a tuple "
        f"(method, shots) or (model, method, shots), or a method name; got {row_or_values!r}"
    )


def _is_classical(model: object, method: object) -> bool:
    return _null(method) or (not _null(model) and str(model) != "hybrid")


def label(row_or_values: object) -> str:
    """Return how a run is named in legends: its method and shots, or its classical model.

    Args:
        row_or_values: a row (``pandas.Series``, mapping or ``itertuples`` tuple) with
            ``method``, ``shots`` and optionally ``model``; or a tuple ``(method, shots)`` or
            ``(model, method, shots)``; or a method name (exact).

    Returns:
        ``"<method> (<shots> shots)"``, ``"<method> (exact)"`` when shots is null, or the model
        name (``"classical"`` when it is null) for a run without a quantum layer.

    Examples:
        >>> label({"model": "hybrid", "method": "parameter-shift", "shots": 1000})
        'parameter-shift (1000 shots)'
        >>> label(("backprop", None))
        'backprop (exact)'
        >>> label({"model": "classical", "method": None, "shots": None})
        'classical'
    """
    model, method, shots = _fields(row_or_values)
    if _is_classical(model, method):
        return "classical" if _null(model) else str(model)
    if _null(shots):
        return f"{method} (exact)"
    n = int(shots)
    return f"{method} ({n} shot{'' if n == 1 else 's'})"


def _colour_key(model: object, method: object) -> str:
    """Return the METHOD_COLOURS key of a run: its method, or its classical model."""
    if _is_classical(model, method):
        return "classical" if _null(model) else str(model)
    return str(method)


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


def _bootstrap_ci(values: Sequence[float]) -> tuple[float, float]:
    """Return the percentile bootstrap confidence interval of the mean of ``values``.

    Used as seaborn's ``errorbar``: the same interval as ``("ci", 95)``, resampled in one
    vectorised draw (seaborn's own loop is slow for hundreds of epochs) from a generator seeded
    afresh on each call, so the figure does not depend on what was drawn before.
    """
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    if v.size < 2:
        return (float(v[0]), float(v[0])) if v.size else (np.nan, np.nan)
    rng = np.random.default_rng(_BOOT_SEED)
    means = v[rng.integers(0, v.size, size=(_N_BOOT, v.size))].mean(axis=1)
    tail = (100.0 - _CI_LEVEL) / 2
    lo, hi = np.percentile(means, [tail, 100.0 - tail])
    return float(lo), float(hi)


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
        errorbar=_bootstrap_ci,
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


def accuracy_limits(values: Iterable[float], full: float = 1.0) -> tuple[float, float]:
    """Return readable axis limits for accuracies (fractions of ``full``: 1, or 100 for %).

    The limits span at least :data:`_MIN_ACCURACY_SPAN` of ``full`` (centred on the values,
    shifted to stay within ``[0, full]``), plus a margin on each side so that markers at the
    extremes are inside the frame. Accuracies of 0.95 and 0.96 give about 90% to 100.6%, not
    95% to 96%.
    """
    v = np.asarray([x for x in values if np.isfinite(x)], dtype=float)
    if v.size == 0:
        lo, hi = 0.0, full
    else:
        lo, hi = float(v.min()), float(v.max())
    span = max(hi - lo, _MIN_ACCURACY_SPAN * full)
    mid = (lo + hi) / 2
    lo, hi = mid - span / 2, mid + span / 2
    if hi > full >= mid:
        lo, hi = lo - (hi - full), full
    if lo < 0 <= mid:
        lo, hi = 0.0, hi - lo
    pad = _AXIS_PADDING * (hi - lo)
    return lo - pad, hi + pad


def _accuracy_axis(ax, values: Iterable[float], axis: str = "y") -> tuple[Callable, bool]:
    """Format an accuracy axis and set its limits; return its label setter and fraction flag.

    Accuracies in [0, 1] are shown as percentages; others are taken to be percentages already.
    ``values`` are all the values drawn on the axis (interval ends included).
    """
    v = pd.to_numeric(pd.Series(list(values), dtype=float), errors="coerce").dropna()
    fraction = v.empty or (v.min() >= 0 and v.max() <= 1)
    target = ax.yaxis if axis == "y" else ax.xaxis
    # at most a few ticks on 1-2-5 steps, so every label is exact (2.5% steps printed without
    # decimals read 78%, 80%, 82%, 85%) and labels never crowd; the formatter picks decimals
    target.set_major_locator(MaxNLocator(nbins=_ACCURACY_TICKS, steps=[1, 2, 5, 10]))
    if fraction:
        target.set_major_formatter(PercentFormatter(xmax=1.0, decimals=None))
    limits = accuracy_limits(v, 1.0 if fraction else 100.0)
    (ax.set_ylim if axis == "y" else ax.set_xlim)(*limits)
    set_label = ax.set_ylabel if axis == "y" else ax.set_xlabel
    return set_label, fraction


def wilson_interval(accuracy: float, n: int, z: float = _WILSON_Z) -> tuple[float, float]:
    """Return the Wilson score interval (95% by default) of an accuracy measured on ``n`` samples.

    It is the uncertainty a finite test set puts on an accuracy: on 100 test samples, 0.95
    has the interval [0.888, 0.978], so 0.95 and 0.96 (one sample apart) are not different.
    """
    if n <= 0:
        return (np.nan, np.nan)
    centre = (accuracy + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(accuracy * (1 - accuracy) / n + z * z / (4 * n * n))
    return (float(max(0.0, centre - half)), float(min(1.0, centre + half)))


def _epoch_axis(ax) -> None:
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


#: At most this many runs are named in a title; more are counted.
_TITLE_RUNS = 3


def describe(rows: pd.DataFrame) -> str:
    """Name what the rows are runs of: the data set, then each run's model and method.

    >>> describe(pd.DataFrame({"dataset": ["circles"] * 2, "model": ["hybrid", "classical"],
    ...                        "method": ["spsa", None], "shots": [100, None]}))
    'circles: hybrid spsa (100 shots) vs classical'
    """
    records = rows[[c for c in ("model", "method", "shots") if c in rows.columns]]
    names = []
    for record in records.drop_duplicates().to_dict("records"):
        name = label(record)
        if not _is_classical(record.get("model"), record.get("method")):
            name = f"{'hybrid' if _null(record.get('model')) else record['model']} {name}"
        names.append(name)
    names = list(dict.fromkeys(names))
    runs = " vs ".join(names)
    if len(names) > _TITLE_RUNS:  # a legend names them; a title of a dozen runs is unreadable
        runs = f"{len(names)} runs"
    if "dataset" not in rows.columns:
        return runs
    datasets = ", ".join(dict.fromkeys(str(d) for d in rows["dataset"].dropna()))
    return f"{datasets}: {runs}" if datasets else runs


def _title(given: str | None, default: str, rows: pd.DataFrame | None = None) -> str:
    """The caller's title, or ``default`` followed by what the rows are runs of."""
    if given is not None:
        return given
    return f"{default} \N{EM DASH} {describe(rows)}" if rows is not None else default


def _feature_labels(points: pd.DataFrame) -> tuple[str, str]:
    """Axis labels of the first two features: principal components for PCA-reduced sets."""
    if (
        "preprocessing" in points.columns
        and points["preprocessing"].astype(str).str.contains("pca", case=False).any()
    ):
        return ("principal component 1", "principal component 2")
    return ("feature x0", "feature x1")


def _seed_note(rows: pd.DataFrame) -> str:
    if "seed" not in rows.columns:
        return ""
    n = rows.groupby("_run")["seed"].nunique().max()
    return f" (mean over {n} seeds, 95% CI band)" if n > 1 else ""


def _class_colours(classes: Sequence[int]) -> dict[int, str]:
    return {c: _CLASS_COLOURS[i % len(_CLASS_COLOURS)] for i, c in enumerate(classes)}


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
    bootstrap interval of the mean over seeds. Each seed's value is drawn as a dot when there
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
            bars = "95% bootstrap CI over seeds"
        set_label(f"test accuracy at final epoch{'' if fraction else ' (%)'} ({bars})")
        ax_final.set_ylabel("")
        ax_final.set_title(f"Final test accuracy (epoch {int(rows['epoch'].max())})")
        fig.suptitle(_title(title, "Test accuracy", rows) + _seed_note(rows))
        fig.legend(handles=_run_handles(runs), loc="outside right upper", title="run")
        return _finish(fig)


def _final_interval(final: pd.DataFrame) -> tuple[float, float, float]:
    """Return ``(mean, lo, hi)`` of one run's final test accuracies (one per seed).

    The Wilson interval on the pooled test samples when ``n_test`` is known, else the
    bootstrap interval of the mean over seeds.
    """
    acc = final["test_accuracy"].to_numpy(float)
    mean = float(np.mean(acc))
    if "n_test" in final.columns and final["n_test"].notna().all():
        lo, hi = wilson_interval(mean, int(final["n_test"].sum()))
    else:
        lo, hi = _bootstrap_ci(acc)
    return mean, min(lo, mean), max(hi, mean)


# --------------------------------------------------------------------------------------------
# Output.
# --------------------------------------------------------------------------------------------


def save(fig: Figure, path: str | Path) -> Path:
    """Save ``fig`` as a PNG (120 dpi, tight bounding box) and close it.

    Args:
        fig: a figure from one of the ``plot_*`` functions (or any matplotlib figure).
        path: where to write; parent directories are created. The suffix must be ``.png``.

    Returns:
        The path written.

    Raises:
        ValueError: if ``path`` does not end in ``.png``.
    """
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"save writes PNG files; give a path ending in .png, got {str(path)!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fig.savefig(path, format="png", dpi=_DPI, bbox_inches="tight")
    finally:
        _close(fig)
    return path


def _close(fig: Figure) -> None:
    """Free the figure: drop it from pyplot's registry if it is there, and clear it."""
    import matplotlib.pyplot as plt  # already imported by seaborn; no backend is chosen here

    plt.close(fig)
    fig.clear()
