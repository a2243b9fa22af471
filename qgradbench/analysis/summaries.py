"""Summaries of result tables: intervals over seeds, paired comparisons, slopes, ratios.

Each function takes an experiment's tidy table (:func:`qgradbench.analysis.load`) and returns
a tidy DataFrame whose columns are documented in its docstring.

The report's summaries (:func:`best_configurations`, :func:`estimator_findings`) use
:mod:`qgradbench.analysis.stats`: Student-t intervals over seeds, paired t-tests on matched
seeds or circuits and Holm-adjusted verdicts; each comparison they make is a
:class:`~qgradbench.analysis.stats.Finding`. The training study's own summaries (learning-rate
selection, costs, survival, hybrid against the matched baseline) are in
:mod:`qgradbench.analysis.training`; the gradient-variance fits, the finite-difference step
sweep and SPSA's split are in :mod:`qgradbench.analysis.landscape`.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from qgradbench.analysis.stats import (
    Finding,
    adjust,
    collapse_identical,
    mean_interval,
    paired_difference,
    tie_text,
    verdict,
)

LEVEL = 0.95

#: Columns that identify a training configuration (besides the seed).
TRAIN_KEYS = (
    "dataset", "dataset_options", "model", "method", "shots", "n_qubits", "n_layers", "ansatz",
    "lr",
)  # fmt: skip


def _keys(frame: pd.DataFrame, wanted) -> list[str]:
    return [k for k in wanted if k in frame.columns]


def final_epochs(train: pd.DataFrame) -> pd.DataFrame:
    """The last epoch's row of every training run."""
    run = _keys(train, ("run_id", "task", *TRAIN_KEYS, "seed"))
    last = train.groupby(run, dropna=False)["epoch"].transform("max")
    return train[train["epoch"] == last].reset_index(drop=True)


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


# ------------------------------------------------------------------ the report's statistics
#: Training columns compared when deciding that two configurations trained the same model:
#: the accuracies the report is about. Losses are left out on purpose: the same gradient
#: computed by different kernels (backprop, adjoint, exact parameter-shift) rounds
#: differently in float32, so their losses drift apart by 1e-6 to 1e-3 over 20 epochs while
#: every accuracy stays equal.
TRAIN_MEASURED = ("train_accuracy", "test_accuracy")
#: Configuration columns merged by :func:`collapsed_final`: only the method, so runs at
#: different shot counts stay apart even when their accuracies happen to agree.
COLLAPSE_KEYS = ("method",)


def _config_name(row) -> str:
    shots = row["shots"] if "shots" in row else None
    parts = [str(row["method"]) if pd.notna(row.get("method")) else str(row["model"])]
    if "shots" in row:
        parts.append("exact" if shots is None or pd.isna(shots) else f"{shots} shots")
    if "n_layers" in row and pd.notna(row["n_layers"]):
        n = int(row["n_layers"])
        parts.append(f"{n} layer{'' if n == 1 else 's'}")
    if "dataset" in row:
        parts.append(str(row["dataset"]))
    return ", ".join(parts)


def collapsed_final(train: pd.DataFrame) -> pd.DataFrame:
    """Final epochs, hybrid configurations that trained identically merged into one.

    Backprop, adjoint and exact parameter-shift (and exact shot-adjoint) compute the same
    gradient, so with the same seeds their runs agree in train and test accuracy
    (:data:`TRAIN_MEASURED`) at every epoch of every seed;
    :func:`qgradbench.analysis.stats.collapse_identical` makes them one configuration whose
    ``method`` names them all (``"adjoint = backprop"``).
    """
    hybrid = train[train["model"] == "hybrid"]
    keys = [c for c in COLLAPSE_KEYS if c in hybrid.columns]
    measured = [c for c in TRAIN_MEASURED if c in hybrid.columns]
    if keys and measured and not hybrid.empty:
        within = [c for c in TRAIN_KEYS if c in hybrid and c not in keys]
        compared = [*within, *keys, *_keys(hybrid, ("seed", "epoch")), *measured]
        parts = [
            collapse_identical(part[compared], keys, measured)
            for _, part in hybrid.groupby(within, dropna=False, sort=False)
        ]
        merged = pd.concat(parts)
        hybrid = hybrid.loc[merged.index].astype(dict.fromkeys(keys, object))
        hybrid[keys] = merged[keys]
    classical = final_epochs(train[train["model"] != "hybrid"])
    parts = [p for p in (classical, final_epochs(hybrid) if len(hybrid) else None) if p is not None]
    return pd.concat(parts, ignore_index=True)


def _groups(final: pd.DataFrame):
    keys = _keys(final, TRAIN_KEYS)
    for key, group in final.groupby(keys, dropna=False, sort=True):
        yield dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True)), group


def _rows_text(group: pd.DataFrame) -> str:
    column = "task" if "task" in group else None
    values = group[column].tolist() if column else group.index.tolist()
    return f"{column or 'row'} " + ",".join(str(v) for v in dict.fromkeys(values))


def best_configurations(train: pd.DataFrame, level: float = LEVEL):
    """The hybrid configuration with the highest mean accuracy and those tied with it.

    Each other configuration is compared with the best by a paired t-test on matched seeds
    (family ``best configuration``). The best is the highest mean; ``tied`` lists every
    configuration with the same mean or whose difference is not significant after Holm's
    correction over the family.

    Returns:
        ``(best_name, tied_names, findings)``; ``(None, [], [])`` without hybrid runs.
    """
    final = collapsed_final(train)
    hybrid = final[final["model"] == "hybrid"]
    if hybrid.empty:
        return None, [], []
    groups = list(_groups(hybrid))
    means = [float(g["test_accuracy"].mean()) for _, g in groups]
    top = int(np.argmax(means))
    config, best = groups[top]
    best = best.set_index("seed")["test_accuracy"].astype(float)
    findings = []
    equal = []
    for i, (other, group) in enumerate(groups):
        if i == top:
            continue
        if means[i] == means[top]:
            equal.append(_config_name(other))
        values = group.set_index("seed")["test_accuracy"].astype(float)
        seeds = best.index.intersection(values.index)
        test = paired_difference(best[seeds].to_numpy(), values[seeds].to_numpy(), level)
        findings.append(
            Finding(
                f"best ({_config_name(config)}) minus {_config_name(other)} (test accuracy, "
                f"paired over {test.n} seeds)",
                test.estimate,
                test.low,
                test.high,
                test.p_value,
                _rows_text(group),
                "best is higher",
                "best is lower",
                level,
                "best configuration",
            )
        )
    adjusted = adjust([f.p_value for f in findings])
    tied = list(equal)
    for f, p, (other, _) in zip(
        findings, adjusted, [g for i, g in enumerate(groups) if i != top], strict=True
    ):
        name = _config_name(other)
        if verdict(f.estimate, p, level) not in ("higher",) and name not in tied:
            tied.append(name)
    return _config_name(config), tied, findings


def estimator_findings(estimator: pd.DataFrame, level: float = LEVEL):
    r"""Bias against the noise floor, and the lowest MSE with its ties, per shot budget.

    The ``bias`` column is ``sqrt(mean_e (mean_r J_hat - J)^2)``, whose expectation for an
    unbiased estimator is the noise floor ``sqrt(variance / repeats)`` (the variance column
    uses ddof 1). Per circuit the excess ``bias^2 - variance / repeats`` has mean
    ``b_true^2`` (0 when unbiased); a t-test over the circuits tests it, and the bias is
    reported as ``sqrt(max(0, excess))`` with the interval's ends treated alike.

    The lowest MSE is compared with every other method at the same budget by a paired t-test
    on the same circuits (family ``lowest MSE``); ties are named.

    Returns:
        ``(table, findings)``: one row per (method, budget or shots) with ``gradient_shots``,
        ``mse`` (mean over circuits), ``mse_low``, ``mse_high`` (t-interval over circuits),
        ``bias``, ``noise_floor``, ``bias_excess`` (estimated true bias), ``cosine``.
    """
    keys = _keys(estimator, ("n_qubits", "n_layers", "method", "budget", "shots"))
    rows, findings = [], []
    for key, group in estimator.groupby(keys, dropna=False, sort=True):
        config = dict(zip(keys, key, strict=True))
        mse = mean_interval(group["mse"], level)
        floor2 = group["variance"].astype(float) / group["repeats"].astype(float)
        excess = group["bias"].astype(float) ** 2 - floor2
        test = paired_difference(excess.to_numpy(), np.zeros(len(excess)), level)
        clip = lambda v: math.sqrt(max(0.0, v)) if not math.isnan(v) else math.nan  # noqa: E731
        rows.append(
            {
                **config,
                "gradient_shots": int(group["gradient_shots"].iloc[0]),
                "mse": mse.estimate,
                "mse_low": mse.low,
                "mse_high": mse.high,
                "bias": float(group["bias"].mean()),
                "noise_floor": float(np.sqrt(floor2).mean()),
                "bias_excess": clip(test.estimate),
                "cosine": float(group["cosine"].mean()),
            }
        )
        name = _estimator_name(config)
        findings.append(
            Finding(
                f"bias of {name} above its noise floor sqrt(variance / repeats) (squared, "
                f"t over {test.n} circuits)",
                test.estimate,
                test.low,
                test.high,
                test.p_value,
                _rows_text(group),
                "biased",
                "below the noise floor",
                level,
                "estimator bias",
            )
        )
    table = pd.DataFrame(rows)
    if "budget" in estimator:
        for budget, part in estimator[estimator["budget"].notna()].groupby("budget"):
            findings += _mse_ties(part, int(budget), level)
    return table, findings


def _estimator_name(config: dict) -> str:
    shots = config.get("shots")
    text = "exact" if shots is None or pd.isna(shots) else f"{int(shots)} shots"
    budget = config.get("budget")
    if budget is not None and not pd.isna(budget):
        text += f", budget {int(budget)}"
    return f"{config['method']} ({text})"


def _mse_ties(part: pd.DataFrame, budget: int, level: float) -> list[Finding]:
    where = f" at {budget} shots per Jacobian"
    return best_with_ties(part, "method", level, f"lowest MSE at {budget}", where=where)[2]


def best_with_ties(
    part: pd.DataFrame, key: str, level: float, family: str, name=str, where: str = ""
) -> tuple[object, list, list[Finding]]:
    """The candidate (value of ``key``) of lowest mean ``mse``, and those it does not beat.

    Every other candidate is compared with the best by a paired t-test over the circuits both
    measured (``circuit`` column); the p-values are Holm-adjusted together. A candidate whose
    adjusted p-value is not below ``1 - level`` is tied with the best.

    Returns:
        ``(best, tied, findings)``: the best value, the tied values (best first) and one
        finding per comparison (``MSE of X minus best``, then ``where``, family ``family``).
    """
    means = part.groupby(key)["mse"].mean().sort_values(kind="stable")
    best = means.index[0]
    ref = part[part[key] == best].groupby("circuit")["mse"].mean()
    findings = []
    for other in means.index[1:]:
        values = part[part[key] == other].groupby("circuit")["mse"].mean()
        common = ref.index.intersection(values.index)
        test = paired_difference(values[common].to_numpy(), ref[common].to_numpy(), level)
        findings.append(
            Finding(
                f"MSE of {name(other)} minus {name(best)}{where} (paired over {test.n} circuits)",
                test.estimate,
                test.low,
                test.high,
                test.p_value,
                _rows_text(part[part[key].isin([best, other])]),
                "higher MSE",
                "lower MSE",
                level,
                family,
            )
        )
    adjusted = adjust([f.p_value for f in findings]) if findings else []
    tied = [best] + [
        other
        for other, f, p in zip(means.index[1:], findings, adjusted, strict=True)
        if verdict(f.estimate, p, level) == tie_text(level)
    ]
    return best, tied, findings
