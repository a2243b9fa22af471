r"""The training study: learning-rate selection on validation, costs, survival, findings, figures.

From a ``train`` table (one row per epoch of each run, :mod:`qgradbench.experiments.train`):

* :func:`with_costs`: cumulative training cost per run (shots, circuits, wall time), from the
  per-epoch rows.
* :func:`select_lr`: per configuration, the learning rate with the best mean final
  *validation* accuracy over seeds (ties to the smaller rate); the report's accuracy
  comparisons then read the selected runs' *test* accuracy, which selection never saw.
* :func:`kaplan_meier` and :func:`cost_to_target`: the cost to reach a target validation
  accuracy, survival-style: the fraction of seeds that reached it by cost ``c`` (Kaplan &
  Meier 1958, censored at each run's total cost), the median cost when at least half reached
  it, else "not reached by k of n seeds".
* :func:`versus_baseline`: each hybrid configuration against the parameter-matched classical
  baseline on the same data set, paired over seeds (same seed: same data split and
  validation split), in test accuracy points and in test samples; identical runs (exact
  methods) are one configuration naming all of them; Holm within each family.
* :func:`plot_learning_curves`: equal-cost learning curves, small multiples (one panel per
  data set), mean over seeds with Student-t bands, classical baselines as horizontal lines;
  :func:`learning_curve_data` is the frame it plots.

Uses numpy, pandas, matplotlib and :mod:`qgradbench.analysis.stats`; no torch.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from qgradbench.analysis.labels import label
from qgradbench.analysis.stats import (
    LEVEL,
    Finding,
    collapse_identical,
    mean_interval,
    paired_difference,
)
from qgradbench.analysis.style import _finish, _style, method_palette

#: Columns that identify a training configuration apart from the learning rate and the seed.
CONFIG_KEYS = (
    "dataset", "dataset_options", "model", "method", "shots", "n_qubits", "n_layers", "ansatz",
    "observable", "hidden_size", "epochs", "batch_size", "val_size", "n_features", "n_samples",
)  # fmt: skip
#: What a run adds to its configuration.
RUN_KEYS = ("lr", "seed")
#: Measured columns compared when merging identical configurations: accuracies only, counts of
#: correct samples, which the exact methods reproduce exactly (their losses can differ in the
#: last float bits, the order of the sums differing between methods).
MEASURED = ("train_accuracy", "val_accuracy", "test_accuracy")
#: Cumulative cost columns added by :func:`with_costs` and what they sum.
COSTS = {
    "cum_shots": ("forward_shots", "backward_shots"),
    "cum_circuits": ("forward_circuits", "backward_circuits"),
    "cum_time": ("time_epoch",),
}
#: Columns on which a ``classical-matched`` baseline row must equal the hybrid configuration
#: (recorded since the matched model keeps them; older runs have them null and match any).
MATCHED_BY = ("n_qubits", "n_layers", "ansatz", "observable")
#: The baselines, in order of preference, a hybrid configuration is compared with.
BASELINES = ("classical-matched", "classical")


def _present(frame: pd.DataFrame, columns) -> list[str]:
    return [c for c in columns if c in frame.columns]


def config_keys(frame: pd.DataFrame) -> list[str]:
    """The configuration columns of ``frame`` (:data:`CONFIG_KEYS` that it has)."""
    return _present(frame, CONFIG_KEYS)


def has_validation(train: pd.DataFrame) -> bool:
    """Whether the table has validation accuracies (runs made before the split have none)."""
    return "val_accuracy" in train and bool(train["val_accuracy"].notna().any())


def _groups(frame: pd.DataFrame, keys: list[str]):
    """``(config dict, group)`` per distinct value of ``keys`` (nulls kept as a group)."""
    for key, group in frame.groupby(keys, dropna=False, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        yield dict(zip(keys, key, strict=True)), group


def with_costs(train: pd.DataFrame) -> pd.DataFrame:
    """The table sorted by run and epoch, with each run's cumulative training cost.

    ``cum_shots``, ``cum_circuits`` and ``cum_time`` are the running sums over the run's epochs
    of the training steps' shots (forward + backward), circuits (forward + backward) and the
    epoch's wall time; evaluation (``eval_*``) is not a training cost and is left out. A run
    is a configuration (:func:`config_keys`) with its ``lr`` and ``seed``.
    """
    run = config_keys(train) + _present(train, RUN_KEYS)
    out = train.sort_values([*run, "epoch"], kind="stable").copy()
    grouped = out.groupby(run, dropna=False, sort=False)
    for name, parts in COSTS.items():
        if all(p in out for p in parts):
            total = sum(out[p].astype(float) for p in parts)
            out[name] = total.groupby([out[k] for k in run], dropna=False).cumsum()
    del grouped
    return out


def final_epochs(train: pd.DataFrame) -> pd.DataFrame:
    """The last epoch's row of every run."""
    run = config_keys(train) + _present(train, RUN_KEYS)
    last = train.groupby(run, dropna=False)["epoch"].transform("max")
    return train[train["epoch"] == last].reset_index(drop=True)


def merge_identical(train: pd.DataFrame) -> pd.DataFrame:
    """Hybrid configurations whose runs agree exactly merged into one naming every method.

    Backprop, adjoint, exact parameter-shift and exact shot-adjoint compute the same gradient,
    so their runs agree in every accuracy at every epoch, learning rate and seed;
    :func:`qgradbench.analysis.stats.collapse_identical` keeps one copy whose ``method`` is
    ``"adjoint = backprop"``. Other rows are returned unchanged.
    """
    hybrid = train[train["model"] == "hybrid"]
    measured = _present(hybrid, MEASURED)
    if hybrid.empty or "method" not in hybrid or not measured:
        return train
    within = [c for c in config_keys(hybrid) if c != "method"]
    compared = [*within, "method", *_present(hybrid, RUN_KEYS), "epoch", *measured]
    parts = [
        collapse_identical(part[compared], ["method"], measured)
        if part["method"].nunique() > 1
        else part[compared]
        for _, part in hybrid.groupby(within, dropna=False, sort=False)
    ]
    merged = pd.concat(parts)
    kept = hybrid.loc[merged.index].astype({"method": object})
    kept["method"] = merged["method"]
    return pd.concat([train[train["model"] != "hybrid"], kept]).sort_index(kind="stable")


# ------------------------------------------------------------------------------ selection
def select_lr(train: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Pick each configuration's learning rate on validation accuracy; keep its runs.

    Rule: for each configuration (:func:`config_keys`: data set, model, method, shots, depth,
    ...), the mean over seeds of the final-epoch ``val_accuracy`` is computed for every ``lr``
    tried; the ``lr`` with the highest mean is selected, ties going to the smaller ``lr``.
    Test accuracy plays no part, so the selected runs' test accuracy is an unbiased estimate
    for the selected setting.

    Returns:
        ``(selected, choices)``: the rows of the selected runs (every epoch), and one row per
        configuration with its keys, ``lr`` (selected), ``val_accuracy`` (its mean final
        validation accuracy), ``n`` (seeds) and ``lrs`` (the rates tried, as text).

    Raises:
        ValueError: if the table has no validation accuracy (:func:`has_validation`).
    """
    if not has_validation(train):
        raise ValueError(
            "select_lr needs val_accuracy; this table has no validation split (made with "
            "val_size=0 or before the split existed)"
        )
    final = final_epochs(train)
    keys = config_keys(final)
    chosen, keep = [], []
    for config, group in _groups(final, keys):
        means = group.groupby("lr")["val_accuracy"].mean().sort_index()
        best = float(means.index[int(np.argmax(means.to_numpy()))])  # first max: smaller lr
        chosen.append(
            {
                **config,
                "lr": best,
                "val_accuracy": float(means[best]),
                "n": int((group["lr"] == best).sum()),
                "lrs": ", ".join(f"{v:g}" for v in means.index),
            }
        )
        keep.append({**config, "lr": best})
    choices = pd.DataFrame(chosen)
    wanted = pd.DataFrame(keep).astype(train[[*keys, "lr"]].dtypes.to_dict())
    selected = train.merge(wanted, on=[*keys, "lr"], how="inner")
    return selected, choices


# ------------------------------------------------------------------------------ survival
def kaplan_meier(costs, reached) -> pd.DataFrame:
    r"""Kaplan-Meier estimate of the fraction of runs that reached a target by each cost.

    With ``d_i`` runs reaching the target at cost ``c_i`` and ``n_i`` runs still at risk (not
    yet reached, not yet censored) just before it, the fraction not yet reached is
    ``S(c) = prod_{c_i <= c} (1 - d_i / n_i)`` (Kaplan & Meier 1958); a run that ended
    without reaching the target is censored at its total cost (at risk up to and including
    it). The fraction reached is ``F(c) = 1 - S(c)``. When every run ends at the same cost,
    after every event, ``F`` is the empirical distribution function of the event costs.

    Args:
        costs: per run, the cost at which it reached the target, or its total cost if not.
        reached: per run, whether it reached the target.

    Returns:
        One row per distinct event cost, ``cost`` and ``fraction_reached`` (``F`` just after
        it), sorted; empty when no run reached the target.
    """
    c = np.asarray(costs, dtype=float)
    e = np.asarray(reached, dtype=bool)
    if c.shape != e.shape:
        raise ValueError(f"costs and reached need equal lengths, got {c.shape} and {e.shape}")
    survival, rows = 1.0, []
    for cost in np.unique(c[e]):
        at_risk = int(np.sum(c >= cost))
        events = int(np.sum((c == cost) & e))
        survival *= 1 - events / at_risk
        rows.append({"cost": float(cost), "fraction_reached": 1 - survival})
    return pd.DataFrame(rows, columns=["cost", "fraction_reached"])


def median_cost(curve: pd.DataFrame) -> float:
    """The smallest cost at which the fraction reached is at least 1/2 (NaN if never)."""
    hit = curve[curve["fraction_reached"] >= 0.5 - 1e-12]
    return float(hit["cost"].iloc[0]) if len(hit) else math.nan


def _first_hits(group: pd.DataFrame, target: float, cost: str):
    """Per run: (cost at first epoch with val_accuracy >= target, or total cost; reached)."""
    costs, reached = [], []
    for _, run in group.groupby("seed", sort=True):
        run = run.sort_values("epoch")
        hit = np.flatnonzero(run["val_accuracy"].to_numpy() >= target)
        values = run[cost].to_numpy(dtype=float)
        costs.append(values[hit[0]] if hit.size else values[-1])
        reached.append(bool(hit.size))
    return np.array(costs), np.array(reached)


def cost_to_target(
    train: pd.DataFrame, target: float, costs=("epoch", "cum_circuits", "cum_shots")
) -> pd.DataFrame:
    """The cost to reach ``target`` validation accuracy per configuration, survival-style.

    For each configuration and learning rate (call it on :func:`select_lr`'s rows for the
    selected ones), every seed's run either reaches ``target`` (its cost: the cumulative cost
    at the first epoch whose ``val_accuracy >= target``) or is censored at its total cost;
    :func:`kaplan_meier` gives the fraction reached by each cost and :func:`median_cost` the
    median.

    Returns:
        One row per configuration: its keys and ``lr``, ``target``, ``n`` (seeds),
        ``reached`` (seeds that reached it), ``fraction_reached`` (Kaplan-Meier at the end),
        ``median_<cost>`` per cost (NaN when fewer than half reached it; ``cum_shots`` only
        for shot-based runs) and ``status`` (``"median reached"`` or ``"not reached by k of n
        seeds"``).
    """
    if not has_validation(train):
        raise ValueError("cost_to_target reads val_accuracy; this table has none")
    table = with_costs(train)
    keys = config_keys(table) + _present(table, ("lr",))
    rows = []
    for config, group in _groups(table, keys):
        row = {**config, "target": target}
        for cost in costs:
            if cost not in group:
                continue
            values, reached = _first_hits(group, target, cost)
            curve = kaplan_meier(values, reached)
            shot_less = cost == "cum_shots" and not (group[cost] > 0).any()
            row[f"median_{cost}"] = math.nan if shot_less else median_cost(curve)
            row["n"], row["reached"] = len(values), int(reached.sum())
            row["fraction_reached"] = (
                float(curve["fraction_reached"].iloc[-1]) if len(curve) else 0.0
            )
        missed = row["n"] - row["reached"]
        row["status"] = (
            "median reached"
            if row["fraction_reached"] >= 0.5
            else f"not reached by {missed} of {row['n']} seeds"
        )
        rows.append(row)
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------ findings
def _name(config: dict) -> str:
    parts = [str(config.get("method") or config.get("model"))]
    shots = config.get("shots")
    parts.append("exact" if shots is None or pd.isna(shots) else f"{int(shots)} shots")
    layers = config.get("n_layers")
    if layers is not None and pd.notna(layers):
        parts.append(f"{int(layers)} layer{'' if int(layers) == 1 else 's'}")
    return ", ".join(parts)


def dataset_label(config: dict) -> str:
    """A data set with its options, e.g. ``"hyperplanes {'n_hyperplanes': 3}"``."""
    options = config.get("dataset_options")
    extra = "" if options in (None, "{}") or pd.isna(options) else f" {options}"
    return f"{config['dataset']}{extra}"


def _rows(group: pd.DataFrame) -> str:
    column = "task" if "task" in group else None
    values = group[column] if column else group.index
    return f"{column or 'row'} " + ",".join(str(v) for v in pd.unique(values))


def versus_baseline(train: pd.DataFrame, level: float = LEVEL) -> list[Finding]:
    """Each hybrid configuration minus the classical baseline, paired over seeds.

    Call it on the selected runs (:func:`select_lr`). The baseline is the data set's
    ``classical-matched`` model of the same circuit size (:data:`MATCHED_BY`; about the
    hybrid's parameter count), else ``classical``; the
    pairs are the final-epoch test accuracies of the same seed (the same data, split and
    validation split). Identical configurations are merged first (:func:`merge_identical`).
    Two findings per configuration, in two families that Holm adjusts separately: the
    difference in accuracy points (family ``hybrid minus <baseline> (test accuracy)``) and in
    test samples, ``n_test`` times it (family ``... (test samples)``); the paired t-test
    (:func:`qgradbench.analysis.stats.paired_difference`) is the same, so are the verdicts.
    Each finding carries its data set as ``scope`` and the seeds and the differences' standard
    deviation, from which the findings table computes its detectable effect
    (:func:`resolution` summarises them per data set).
    """
    final = final_epochs(merge_identical(train))
    out: list[Finding] = []
    for kind in BASELINES:
        base = final[final["model"] == kind]
        if base.empty:
            continue
        out += _against(final, base, kind, level)
        break
    return out


def _against(final: pd.DataFrame, base: pd.DataFrame, kind: str, level: float) -> list:
    accuracy, samples = [], []
    hybrid = final[final["model"] == "hybrid"]
    hybrid_keys = config_keys(hybrid)
    for config, group in _groups(hybrid, hybrid_keys):
        ref = base[base["dataset"] == config["dataset"]]
        if "dataset_options" in ref:
            ref = ref[ref["dataset_options"] == config.get("dataset_options")]
        for column in MATCHED_BY:  # the matched baseline of this circuit's size
            if column in ref and ref[column].notna().any():
                ref = ref[ref[column].astype(object) == config.get(column)]
        ref = ref.groupby("seed")["test_accuracy"].mean()
        own = group.groupby("seed")["test_accuracy"].mean()
        seeds = own.index.intersection(ref.index)
        if not len(seeds):
            continue
        test = paired_difference(own[seeds].to_numpy(), ref[seeds].to_numpy(), level)
        n_test = int(group["n_test"].iloc[0]) if "n_test" in group else None
        what = (
            f"hybrid {_name(config)} minus {kind} on {dataset_label(config)} (paired over "
            f"{test.n} seeds"
        )
        rows = f"{_rows(group)}; {kind} {_rows(base)}"
        words = (f"above {kind}", f"below {kind}")
        accuracy.append(
            Finding(
                f"{what}, test accuracy)",
                test.estimate,
                test.low,
                test.high,
                test.p_value,
                rows,
                *words,
                level,
                f"hybrid minus {kind} (test accuracy)",
                dataset_label(config),
                test.n,
                test.sd,
            )  # fmt: skip
        )
        if n_test:
            samples.append(
                Finding(
                    f"{what}, test samples of {n_test})",
                    test.estimate * n_test,
                    test.low * n_test,
                    test.high * n_test,
                    test.p_value,
                    rows,
                    *words,
                    level,
                    f"hybrid minus {kind} (test samples)",
                    dataset_label(config),
                    test.n,
                    test.sd * n_test,
                )  # fmt: skip
            )
    return accuracy + samples


def resolution(table: pd.DataFrame, family: str) -> pd.DataFrame:
    """The study's resolution per data set: the range of detectable effects in one family.

    Args:
        table: a findings table (:func:`qgradbench.analysis.stats.findings_table`).
        family: the family read, e.g. ``"hybrid minus classical-matched (test accuracy)"``.

    Returns:
        One row per ``scope`` (data set), in order: ``scope``, ``n`` (the most seeds of its
        comparisons), ``low`` and ``high`` (smallest and largest ``detectable``, Holm's
        worst case) and ``low_uncorrected``, ``high_uncorrected``; data sets without a
        computable detectable effect are left out.
    """
    rows = table[(table["family"] == family) & table["detectable"].notna()]
    out = [
        {
            "scope": scope,
            "n": int(part["n"].max()),
            "low": float(part["detectable"].min()),
            "high": float(part["detectable"].max()),
            "low_uncorrected": float(part["detectable_uncorrected"].min()),
            "high_uncorrected": float(part["detectable_uncorrected"].max()),
        }
        for scope, part in rows.groupby("scope", sort=False)
    ]
    columns = ["scope", "n", "low", "high", "low_uncorrected", "high_uncorrected"]
    return pd.DataFrame(out, columns=columns)


def accuracy_table(train: pd.DataFrame, level: float = LEVEL) -> pd.DataFrame:
    """Final test accuracy per (merged) configuration: mean and Student-t interval over seeds.

    The interval ``mean +- t_{n-1} s / sqrt(n)`` is clipped to [0, 1] (an accuracy cannot
    leave it; clipping keeps the coverage of the unclipped interval).

    Returns:
        Keys, ``lr``, ``n`` (seeds), ``n_test``, ``mean``, ``t_low``, ``t_high``.
    """
    final = final_epochs(merge_identical(train))
    keys = config_keys(final) + _present(final, ("lr",))
    rows = []
    for config, group in _groups(final, keys):
        iv = mean_interval(group["test_accuracy"].astype(float), level)
        rows.append(
            {
                **config,
                "n": iv.n,
                "n_test": int(group["n_test"].iloc[0]) if "n_test" in group else None,
                "mean": iv.estimate,
                "t_low": max(0.0, iv.low) if not math.isnan(iv.low) else iv.low,
                "t_high": min(1.0, iv.high) if not math.isnan(iv.high) else iv.high,
            }
        )
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------ figures
#: The x axes :func:`plot_learning_curves` draws against, and their labels.
CURVE_AXES = {
    "epoch": "epoch",
    "cum_shots": "training shots (cumulative)",
    "cum_circuits": "training circuits (cumulative)",
    "cum_time": "training wall time (s, cumulative)",
}


def learning_curve_data(
    train: pd.DataFrame, x: str = "cum_shots", y: str = "val_accuracy", level: float = LEVEL
) -> pd.DataFrame:
    """The frame :func:`plot_learning_curves` draws: mean ``y`` per series and epoch.

    Series are the hybrid configurations (merged when identical), drawn in the panel of their
    data set (row) and method (column); at each epoch: ``x`` (the mean over seeds of the
    cumulative cost), ``mean``, ``low`` and ``high`` (Student-t interval over seeds) of ``y``.
    Runs without shots are left out when ``x`` is ``cum_shots`` (no place on a log axis).

    Returns:
        Columns ``panel`` (the data set), ``method``, ``series`` (method, shots and depth),
        ``epoch``, ``x``, ``mean``, ``low``, ``high`` (the interval clipped to [0, 1]), ``n``.
    """
    if x not in CURVE_AXES:
        raise ValueError(f"x must be one of {', '.join(CURVE_AXES)}, got {x!r}")
    if y not in train:
        raise ValueError(f"y {y!r} is not a column of the table")
    table = with_costs(merge_identical(train))
    hybrid = table[table["model"] == "hybrid"]
    if x == "cum_shots":
        hybrid = hybrid[hybrid["shots"].notna()]
    rows = []
    keys = config_keys(hybrid) + _present(hybrid, ("lr",))
    for config, group in _groups(hybrid, keys):
        for epoch, at in group.groupby("epoch", sort=True):
            iv = mean_interval(at[y].astype(float), level)
            rows.append(
                {
                    "panel": dataset_label(config),
                    "method": str(config["method"]),
                    "series": label(config) + _depth(config),
                    "epoch": int(epoch),
                    "x": float(at[x].astype(float).mean()),
                    "mean": iv.estimate,
                    "low": max(0.0, iv.low),
                    "high": min(1.0, iv.high),
                    "n": iv.n,
                }
            )
    columns = ["panel", "method", "series", "epoch", "x", "mean", "low", "high", "n"]
    return pd.DataFrame(rows, columns=columns)


def _depth(config: dict) -> str:
    layers = config.get("n_layers")
    return "" if layers is None or pd.isna(layers) else f", {int(layers)} L"


def baseline_levels(train: pd.DataFrame, y: str = "val_accuracy") -> pd.DataFrame:
    """Mean final ``y`` of each classical baseline per data set panel (the horizontal lines)."""
    final = final_epochs(train[train["model"] != "hybrid"])
    rows = [
        {"panel": dataset_label(config), "model": config["model"], "level": group[y].mean()}
        for config, group in _groups(
            final, _present(final, ("dataset", "dataset_options")) + ["model"]
        )
    ]
    return pd.DataFrame(rows, columns=["panel", "model", "level"])


def plot_learning_curves(
    train: pd.DataFrame, x: str = "cum_shots", y: str = "val_accuracy"
) -> Figure:
    """Equal-cost learning curves: ``y`` against ``x``, small multiples.

    One row of panels per data set, one column per method (merged exact methods are one
    method), so that every series is visible: in each panel the method's shot counts and
    depths as lines (mean over seeds) with their Student-t bands, and the data set's
    classical baselines as dashed horizontal lines at their mean final ``y``; log x for shots
    and circuits; the panels of a row share their y axis.

    Returns:
        The figure; ``fig.curve_data`` is :func:`learning_curve_data`'s frame. Each panel's
        title is ``"<data set> | <method>"``.
    """
    data = learning_curve_data(train, x, y)
    levels = baseline_levels(train, y)
    rows = list(dict.fromkeys(data["panel"])) or ["(no data)"]
    columns = list(dict.fromkeys(data["method"])) or ["(no hybrid run)"]
    palette = method_palette([*columns, *levels["model"]])
    with _style():
        fig = Figure(
            figsize=(3.2 * len(columns) + 2.5, 2.8 * len(rows) + 0.4), layout="constrained"
        )
        grid = fig.subplots(len(rows), len(columns), squeeze=False, sharex=True, sharey="row")
        for i, panel in enumerate(rows):
            for j, method in enumerate(columns):
                ax = grid[i][j]
                part = data[(data["panel"] == panel) & (data["method"] == method)]
                _panel(ax, part, levels[levels["panel"] == panel], palette.get(method), palette, x)
                ax.set_title(f"{panel} | {method}", fontsize="small")
                if i == len(rows) - 1:
                    ax.set_xlabel(CURVE_AXES[x])
            grid[i][0].set_ylabel(y.replace("_", " "))
        fig = _finish(fig)
    fig.curve_data = data
    return fig


_MARKERS = "osD^vPX*<>"


def _panel(ax, data, levels, colour, palette, x) -> None:
    for k, (series, part) in enumerate(data.groupby("series", sort=True)):
        part = part.sort_values("epoch")
        ax.plot(
            part["x"],
            part["mean"],
            color=colour or "#444444",
            label=series,
            marker=_MARKERS[k % len(_MARKERS)],
            markevery=max(1, len(part) // 6),
            markersize=4,
            alpha=0.9,
            linestyle=("-", "--", ":", "-.")[k % 4],
        )
        if part["low"].notna().any():
            ax.fill_between(part["x"], part["low"], part["high"], color=colour, alpha=0.12)
    for row in levels.itertuples():
        style = ":" if row.model == "classical-matched" else "--"
        ax.axhline(
            row.level,
            color=palette.get(row.model, "#222222"),
            linestyle=style,
            linewidth=1.2,
            label=f"{row.model} (final mean)",
        )
    if x in ("cum_shots", "cum_circuits") and len(data) and (data["x"] > 0).all():
        ax.set_xscale("log")
    if len(data) or len(levels):
        ax.legend(fontsize="x-small", loc="lower right")
