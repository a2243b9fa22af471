"""Figures of a whole study (a suite run): the layer's runtime by method and qubits.

The training figures (equal-cost learning curves, small multiples) are in
:mod:`qgradbench.analysis.training`; the gradient-variance and estimator figures in
:mod:`qgradbench.analysis.landscape`.

Like :mod:`qgradbench.analysis.figures`, every function takes DataFrames (the experiment's
table, or its summary) and returns a :class:`~matplotlib.figure.Figure`; colours are the fixed
method colours and markers the fixed shot markers of that module, so a method looks the same
in every figure. Quantities that span decades (variance, MSE, shots, time) are drawn on log
axes, and each point carries its 95% interval.
"""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from qgradbench.analysis.figures import _require
from qgradbench.analysis.labels import label
from qgradbench.analysis.style import (
    _LINE_WIDTH,
    _MARKER_SIZE,
    _SHOT_MARKERS,
    _finish,
    _new_figure,
    _style,
    method_palette,
)
from qgradbench.analysis.summaries import step_times


def _markers(shots_values) -> dict:
    levels = sorted({int(s) for s in shots_values if s is not None and not pd.isna(s)})
    out = {n: _SHOT_MARKERS[i % len(_SHOT_MARKERS)] for i, n in enumerate(levels)}
    return out


def _marker(markers: dict, shots) -> str:
    return "o" if shots is None or pd.isna(shots) else markers[int(shots)]


def plot_runtime(runtime: pd.DataFrame) -> Figure:
    """Layer step time (forward + backward + Adam) against qubits, one line per method."""
    _require(runtime, ["method", "shots", "n_qubits", "time_total"], "runtime")
    times = step_times(runtime)
    palette = method_palette(times["method"])
    markers = _markers(times["shots"])
    with _style():
        fig, (ax,) = _new_figure(1, (8.0, 4.2))
        for (method, shots), group in times.groupby(["method", "shots"], dropna=False, sort=False):
            group = group.groupby("n_qubits", as_index=False)["time_total"].median()
            ax.plot(
                group["n_qubits"],
                group["time_total"] * 1e3,
                color=palette[method],
                marker=_marker(markers, shots),
                markersize=_MARKER_SIZE,
                linewidth=_LINE_WIDTH,
                label=label((method, None if pd.isna(shots) else shots)),
            )
        ax.set_yscale("log")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("qubits")
        ax.set_ylabel("time per step (ms, median)")
        ax.set_title("Runtime of the quantum layer by method")
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _finish(fig)
