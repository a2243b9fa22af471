"""Figures of a whole study (a suite run).

Gradient variance against qubits, estimator error against shots, runtime. The training
figures (equal-cost learning curves, small multiples) are in
:mod:`qgradbench.analysis.training`.

Like :mod:`qgradbench.analysis.figures`, every function takes DataFrames (the experiment's
table, or its summary) and returns a :class:`~matplotlib.figure.Figure`; colours are the fixed
method colours and markers the fixed shot markers of that module, so a method looks the same
in every figure. Quantities that span decades (variance, MSE, shots, time) are drawn on log
axes, and each point carries its 95% interval.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import LogLocator, MaxNLocator

from qgradbench.analysis.figures import _require
from qgradbench.analysis.labels import label
from qgradbench.analysis.scaling import log_slope, two_design_variance
from qgradbench.analysis.style import (
    _LINE_WIDTH,
    _MARKER_SIZE,
    _SHOT_MARKERS,
    _finish,
    _new_figure,
    _style,
    method_palette,
)
from qgradbench.analysis.summaries import (
    estimator_summary,
    step_times,
)

_EXACT = "exact"


def _shot_text(shots) -> str:
    return _EXACT if shots is None or pd.isna(shots) else f"{int(shots)}"


def _markers(shots_values) -> dict:
    levels = sorted({int(s) for s in shots_values if s is not None and not pd.isna(s)})
    out = {n: _SHOT_MARKERS[i % len(_SHOT_MARKERS)] for i, n in enumerate(levels)}
    return out


def _marker(markers: dict, shots) -> str:
    return "o" if shots is None or pd.isna(shots) else markers[int(shots)]


def _interval_line(ax, x, y, low, high, colour: str, label: str, **style) -> None:
    """A line of medians with their intervals as error bars (the figures' common mark)."""
    style = {"marker": "o", "linewidth": _LINE_WIDTH, **style}
    ax.errorbar(
        x,
        y,
        yerr=[y - low, high - y],
        color=colour,
        markersize=_MARKER_SIZE,
        capsize=3,
        label=label,
        **style,
    )


def _title(ax, text: str, train: pd.DataFrame | None = None) -> None:
    if train is not None and "dataset" in train and train["dataset"].nunique() == 1:
        text = f"{text}: {train['dataset'].iloc[0]}"
    ax.set_title(text)


def plot_variance_scaling(variance: pd.DataFrame) -> Figure:
    """Gradient variance against qubits (log scale) with fitted slopes and the 2-design line.

    Colour is the method's; each (observable, depth) curve has its own marker and line style,
    and its legend entry gives the fitted decay ``2^(exponent n)``.
    """
    _require(variance, ["n_qubits", "variance", "variance_se", "observable", "method"], "variance")
    frame = variance.copy()
    per_qubit = frame["layers_per_qubit"] if "layers_per_qubit" in frame else [None] * len(frame)
    frame["_depth"] = [
        f"{int(k)} layers/qubit" if pd.notna(k) else f"{int(n)} layer{'' if n == 1 else 's'}"
        for k, n in zip(per_qubit, frame["n_layers"], strict=True)
    ]
    frame["_shots"] = [_shot_text(s) for s in frame["shots"]]
    groups = frame.groupby(["observable", "_depth", "method", "_shots"], sort=True)
    palette = method_palette(frame["method"])
    styles = ["-", "--", ":", "-."]
    curves = sorted(set(zip(frame["observable"], frame["_depth"], strict=True)))
    handles, names = [], []
    with _style():
        fig, (ax,) = _new_figure(1, (8.4, 4.6))
        for (obs, depth, method, shots), group in groups:
            points = group.groupby("n_qubits", as_index=False)[["variance", "variance_se"]].mean()
            curve = curves.index((obs, depth))
            style, marker = styles[curve % len(styles)], _SHOT_MARKERS[curve % len(_SHOT_MARKERS)]
            name = f"{obs}, {depth}, {method}" + ("" if shots == _EXACT else f" ({shots} shots)")
            if len(points) >= 2:
                fit = log_slope(points)
                name += f": 2^({fit.slope / math.log(2):.2f} n)"
                xs = np.linspace(points["n_qubits"].min(), points["n_qubits"].max(), 50)
                ax.plot(
                    xs,
                    np.exp(fit.intercept + fit.slope * xs),
                    color=palette[method],
                    linestyle=style,
                    linewidth=1.2,
                    alpha=0.9,
                )
            ax.errorbar(
                points["n_qubits"],
                points["variance"],
                yerr=points["variance_se"],
                color=palette[method],
                marker=marker,
                linestyle="none",
                markersize=_MARKER_SIZE,
                capsize=2,
            )
            handles.append(
                Line2D(
                    [],
                    [],
                    color=palette[method],
                    marker=marker,
                    linestyle=style,
                    markersize=_MARKER_SIZE,
                )
            )
            names.append(name)
        qubits = np.arange(frame["n_qubits"].min(), frame["n_qubits"].max() + 1)
        (design,) = ax.plot(
            qubits,
            two_design_variance(qubits),
            color="#222222",
            linewidth=1.2,
            linestyle=(0, (1, 1)),
            label="2-design N/(3(N^2-1))",
        )
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(base=10, numticks=8))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("qubits n")
        ax.set_ylabel("Var[d<O>/d theta_k] over random circuits")
        ax.set_title("Gradient variance against qubits (barren plateaus)")
        ax.legend(
            [*handles, design],
            [*names, design.get_label()],
            fontsize="x-small",
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
        )
    return _finish(fig)


def plot_estimator_mse(estimator: pd.DataFrame) -> Figure:
    """Estimator MSE against the shots one Jacobian costs (log-log), one line per method."""
    _require(estimator, ["method", "mse", "gradient_shots"], "estimator")
    summary = estimator_summary(estimator)
    summary = summary[summary["gradient_shots"] > 0]
    palette = method_palette(summary["method"])
    with _style():
        fig, (ax,) = _new_figure(1, (8.0, 4.2))
        for method, group in summary.groupby("method", sort=False):
            group = group.sort_values("gradient_shots")
            _interval_line(
                ax,
                group["gradient_shots"],
                group["mse"],
                group["mse_ci_low"],
                group["mse_ci_high"],
                palette[method],
                method,
            )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("shots per Jacobian estimate")
        ax.set_ylabel("MSE against the exact Jacobian\n(median over circuits, 95% CI)")
        ax.set_title("Gradient estimators: error against shot budget")
        ax.legend(title="method", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _finish(fig)


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
