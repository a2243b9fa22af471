"""Labels and axes of the figures: run labels, titles, accuracy and epoch axes.

A *run label* (:func:`label`) names what a line stands for: the method and its shots, e.g.
``"parameter-shift (1000 shots)"`` or ``"backprop (exact)"``, or the classical model;
:func:`describe` names what a table's rows are runs of, for titles. Accuracy axes span at least
10 percentage points (:func:`accuracy_limits`), and :func:`wilson_interval` is the uncertainty a
finite test set puts on an accuracy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator, PercentFormatter

#: An accuracy axis spans at least this fraction of [0, 1] (10 percentage points: ten test
#: samples of the seed notebook's 100), so that one sample's difference never fills the axis.
_MIN_ACCURACY_SPAN = 0.10
_AXIS_PADDING = 0.06  # of the span, on each side, so that markers sit inside the frame
_ACCURACY_TICKS = 6  # at most this many ticks on an accuracy axis
_WILSON_Z = 1.959963984540054  # 95% two-sided normal quantile


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
