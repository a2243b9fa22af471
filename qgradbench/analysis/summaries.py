"""Summaries of result tables: medians with bootstrap intervals over seeds, slopes, ratios.

Each function takes an experiment's tidy table (:func:`qgradbench.analysis.load`) and returns
a tidy DataFrame whose columns are documented in its docstring. Intervals are percentile
bootstrap intervals of the median over seeds (or circuits), from a seeded generator, so a
summary is reproducible.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from qgradbench.analysis.scaling import log_slope, two_design_variance

LEVEL = 0.95
N_BOOT = 2000

#: Columns that identify a training configuration (besides the seed).
TRAIN_KEYS = ("dataset", "model", "method", "shots", "n_qubits", "n_layers", "ansatz")


def bootstrap_ci(
    values, level: float = LEVEL, n_boot: int = N_BOOT, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the median of ``values`` (NaNs dropped).

    Args:
        values: the sample (e.g. one final accuracy per seed).
        level: coverage of the interval.
        n_boot: bootstrap resamples.
        seed: seeds the resampling, so the interval is reproducible.

    Returns:
        ``(low, high)``; both equal the value for a single value, NaN for none.
    """
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    if v.size == 0:
        return math.nan, math.nan
    if v.size == 1:
        return float(v[0]), float(v[0])
    rng = np.random.default_rng(seed)
    medians = np.median(v[rng.integers(0, v.size, size=(n_boot, v.size))], axis=1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(medians, [tail, 100 - tail])
    return float(low), float(high)


def _median_ci(frame: pd.DataFrame, keys: list[str], value: str, seed: int = 0) -> pd.DataFrame:
    """Median, interval and count of ``value`` per group of ``keys`` (nulls kept as groups)."""
    rows = []
    for key, group in frame.groupby(keys, dropna=False, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        low, high = bootstrap_ci(group[value], seed=seed)
        rows.append(
            {
                **dict(zip(keys, key, strict=True)),
                "median": float(group[value].median()),
                "ci_low": low,
                "ci_high": high,
                "n": int(group[value].notna().sum()),
            }
        )
    return pd.DataFrame(rows)


def _keys(frame: pd.DataFrame, wanted) -> list[str]:
    return [k for k in wanted if k in frame.columns]


def final_epochs(train: pd.DataFrame) -> pd.DataFrame:
    """The last epoch's row of every training run."""
    run = _keys(train, ("run_id", "task", *TRAIN_KEYS, "seed"))
    last = train.groupby(run, dropna=False)["epoch"].transform("max")
    return train[train["epoch"] == last].reset_index(drop=True)


def final_accuracy(train: pd.DataFrame) -> pd.DataFrame:
    """Final test accuracy by configuration: median over seeds with a 95% bootstrap interval.

    Returns:
        One row per (dataset, model, method, shots, n_qubits, n_layers, ansatz) with
        ``median``, ``ci_low``, ``ci_high``, ``n`` (seeds) and ``n_test`` (test-set size: one
        test sample is ``1 / n_test`` of accuracy).
    """
    final = final_epochs(train)
    keys = _keys(final, TRAIN_KEYS)
    out = _median_ci(final, keys, "test_accuracy")
    if "n_test" in final:
        sizes = final.groupby(keys, dropna=False, sort=True)["n_test"].first().to_numpy()
        out["n_test"] = sizes
    return out


def hybrid_minus_classical(train: pd.DataFrame) -> pd.DataFrame:
    """Hybrid minus classical final test accuracy, paired by data set and seed.

    Returns:
        One row per hybrid configuration with ``median``, ``ci_low``, ``ci_high`` of the
        paired differences and ``n`` (seeds with both runs). Empty when there is no classical
        run.
    """
    final = final_epochs(train)
    classical = final[final["model"] == "classical"][["dataset", "seed", "test_accuracy"]]
    if classical.empty:
        return pd.DataFrame()
    classical = classical.groupby(["dataset", "seed"], as_index=False)["test_accuracy"].mean()
    hybrid = final[final["model"] == "hybrid"]
    paired = hybrid.merge(classical, on=["dataset", "seed"], suffixes=("", "_classical"))
    paired["difference"] = paired["test_accuracy"] - paired["test_accuracy_classical"]
    return _median_ci(paired, _keys(paired, TRAIN_KEYS), "difference")


def shots_to_target(train: pd.DataFrame, target: float) -> pd.DataFrame:
    """Shots and circuits spent in training until the test accuracy first reaches ``target``.

    Returns:
        One row per hybrid configuration: ``reached`` (fraction of seeds that reached it),
        ``median_epoch``, ``median_shots`` and ``median_circuits`` (training forward and
        backward, cumulative, over the seeds that reached it; NaN when none did).
    """
    hybrid = train[train["model"] == "hybrid"].sort_values("epoch")
    keys = _keys(hybrid, TRAIN_KEYS)
    run_keys = _keys(hybrid, ("run_id", "task", *TRAIN_KEYS, "seed"))
    rows = []
    for config, group in hybrid.groupby(keys, dropna=False, sort=True):
        config = config if isinstance(config, tuple) else (config,)
        hits = []
        for _, run in group.groupby(run_keys, dropna=False):
            shots = (run["forward_shots"] + run["backward_shots"]).astype(float).cumsum()
            circuits = (run["forward_circuits"] + run["backward_circuits"]).astype(float).cumsum()
            reached = np.flatnonzero(run["test_accuracy"].to_numpy() >= target)
            if reached.size:
                i = reached[0]
                hits.append((run["epoch"].iloc[i], shots.iloc[i], circuits.iloc[i]))
        n_seeds = group.groupby(run_keys, dropna=False).ngroups
        med = np.median(np.array(hits, dtype=float), axis=0) if hits else [math.nan] * 3
        rows.append(
            {
                **dict(zip(keys, config, strict=True)),
                "target": target,
                "reached": len(hits) / n_seeds,
                "median_epoch": float(med[0]),
                "median_shots": float(med[1]),
                "median_circuits": float(med[2]),
            }
        )
    return pd.DataFrame(rows)


VARIANCE_KEYS = ("label", "ansatz", "observable", "param", "method", "shots", "layers_per_qubit")


def variance_slopes(variance: pd.DataFrame) -> pd.DataFrame:
    """Fitted decay of the gradient variance with qubits, beside the 2-design line.

    Rows are grouped by label, ansatz, observable, parameter selector, method, shots and depth
    rule (``layers_per_qubit``, or ``n_layers`` when that is fixed); each group with at least
    two qubit counts gets a weighted least-squares fit of ``ln variance`` against ``n``.

    Returns:
        One row per group: ``qubits`` (as text, e.g. ``"2-10"``), ``slope`` and ``slope_se``
        (per qubit, natural log), ``base2_exponent`` (``slope / ln 2``: the variance falls as
        ``2^(exponent n)``) and ``two_design_slope`` (the 2-design curve's slope over the same
        qubits; meaningful for the ``zz`` first-parameter case).
    """
    frame = variance.copy()
    if "layers_per_qubit" in frame and frame["layers_per_qubit"].isna().any():
        depth = frame["layers_per_qubit"].astype("Float64")
        frame["depth"] = [
            f"{int(d)} per qubit" if pd.notna(d) else f"{int(n)} layer{'' if n == 1 else 's'}"
            for d, n in zip(depth, frame["n_layers"], strict=True)
        ]
    else:
        frame["depth"] = [f"{int(d)} per qubit" for d in frame["layers_per_qubit"]]
    keys = [*_keys(frame, VARIANCE_KEYS[:-1]), "depth"]
    rows = []
    for key, group in frame.groupby(keys, dropna=False, sort=True):
        points = group.groupby("n_qubits", as_index=False)[["variance", "variance_se"]].mean()
        if len(points) < 2 or (points["variance"] <= 0).any():
            continue
        fit = log_slope(points)
        design = pd.DataFrame(
            {"n_qubits": points["n_qubits"], "variance": two_design_variance(points["n_qubits"])}
        )
        n = points["n_qubits"]
        rows.append(
            {
                **dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True)),
                "qubits": f"{int(n.min())}-{int(n.max())}",
                "slope": fit.slope,
                "slope_se": fit.slope_se,
                "base2_exponent": fit.slope / math.log(2),
                "two_design_slope": log_slope(design, se=None).slope,
            }
        )
    return pd.DataFrame(rows)


def estimator_summary(estimator: pd.DataFrame) -> pd.DataFrame:
    """Estimator quality by method and budget (or shots): medians over circuits.

    Returns:
        One row per (n_qubits, n_layers, method, budget, shots) with ``gradient_shots`` and the
        medians of ``mse``, ``bias``, ``variance`` and ``cosine`` over the circuits, plus
        ``mse_ci_low`` and ``mse_ci_high`` (bootstrap over circuits).
    """
    keys = _keys(estimator, ("n_qubits", "n_layers", "method", "budget", "shots"))
    rows = []
    for key, group in estimator.groupby(keys, dropna=False, sort=True):
        low, high = bootstrap_ci(group["mse"])
        rows.append(
            {
                **dict(zip(keys, key, strict=True)),
                "gradient_shots": int(group["gradient_shots"].iloc[0]),
                "mse": float(group["mse"].median()),
                "mse_ci_low": low,
                "mse_ci_high": high,
                "bias": float(group["bias"].median()),
                "variance": float(group["variance"].median()),
                "cosine": float(group["cosine"].median()),
            }
        )
    return pd.DataFrame(rows)


def step_times(runtime: pd.DataFrame) -> pd.DataFrame:
    """Time per layer step by method, with the ratio to the fastest at the same size.

    Returns:
        The qgradbench rows' configuration, ``time_total`` (median step, seconds),
        ``peak_memory_bytes`` and ``ratio_to_fastest`` (1 for the fastest method at that
        qubit count, layer count and batch).
    """
    if "implementation" in runtime:  # PennyLane rows of --compare are compared separately
        runtime = runtime[runtime["implementation"] == "qgradbench"]
    keys = _keys(runtime, ("n_qubits", "n_layers", "batch", "method", "shots", "threads"))
    out = runtime[[*keys, "time_total", "peak_memory_bytes"]].copy()
    size = _keys(out, ("n_qubits", "n_layers", "batch"))
    out["ratio_to_fastest"] = out["time_total"] / out.groupby(size)["time_total"].transform("min")
    return out.sort_values([*size, "time_total"]).reset_index(drop=True)


def peer_ratios(runtime: pd.DataFrame) -> pd.DataFrame:
    """PennyLane's step time over qgradbench's, per configuration (``run runtime --compare``).

    Returns:
        One row per PennyLane row: the configuration, ``implementation``, ``time_total`` and
        ``ratio_to_qgradbench``; empty when nothing was compared.
    """
    if "implementation" not in runtime:
        return pd.DataFrame()
    peers = runtime[runtime["implementation"] != "qgradbench"]
    keys = _keys(peers, ("n_qubits", "n_layers", "batch", "method", "shots", "implementation"))
    return peers[[*keys, "time_total", "ratio_to_qgradbench"]].reset_index(drop=True)
