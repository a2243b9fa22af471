"""Tests of the training study's analysis: selection, costs, survival, findings and figures."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from qgradbench.analysis import training
from qgradbench.analysis.stats import LEVEL, findings_table, tie_text

N_TEST = 100


def synthetic(
    rng: np.random.Generator,
    *,
    methods=(("spsa", 1000),),
    datasets=("moons",),
    seeds=range(5),
    lrs=(0.01,),
    epochs=3,
    effect=0.0,
    val_bonus=None,
    baseline="classical-matched",
    sd=0.03,
) -> pd.DataFrame:
    """A train table: every run's accuracies drawn from one distribution (plus ``effect``).

    Accuracies are counts out of :data:`N_TEST` samples, mean 0.8 and per-run standard
    deviation ``sd``; hybrid runs get ``effect`` added; ``val_bonus`` maps an lr to what is
    added to its validation (not test) accuracy.
    """
    rows = []
    runs = [("hybrid", m, s) for m, s in methods] + [(baseline, None, None)]
    for dataset in datasets:
        for model, method, shots in runs:
            for lr in lrs:
                for seed in seeds:
                    shift = effect if model == "hybrid" else 0.0
                    bonus = (val_bonus or {}).get(lr, 0.0) if model == "hybrid" else 0.0
                    for epoch in range(1, epochs + 1):
                        test = np.clip(rng.normal(0.8 + shift, sd), 0, 1)
                        val = np.clip(rng.normal(0.8 + bonus, sd), 0, 1)
                        rows.append(
                            {
                                "dataset": dataset, "dataset_options": "{}", "model": model,
                                "method": method, "shots": shots,
                                "n_layers": 2 if model == "hybrid" else None, "lr": lr,
                                "seed": seed, "epoch": epoch, "loss": rng.uniform(),
                                "train_accuracy": rng.uniform(),
                                "val_accuracy": round(val * 80) / 80,
                                "test_accuracy": round(test * N_TEST) / N_TEST,
                                "n_test": N_TEST, "forward_shots": (shots or 0) * 10,
                                "backward_shots": (shots or 0) * 20,
                                "forward_circuits": 10 if model == "hybrid" else 0,
                                "backward_circuits": 20 if model == "hybrid" else 0,
                                "time_epoch": 0.5,
                            }
                        )  # fmt: skip
    frame = pd.DataFrame(rows)
    frame["shots"] = frame["shots"].astype("Int64")
    frame["n_layers"] = frame["n_layers"].astype("Int64")
    return frame


# ------------------------------------------------------------------------------ selection
def test_select_lr_picks_by_validation_not_test():
    """Test that select_lr picks the lr with the best validation accuracy, blind to test.

    Planted swap: lr 0.1 has validation accuracy 0.15 higher (5 standard deviations of a
    run), lr 0.01 has the higher test accuracy; the selection must be 0.1.
    """
    frame = synthetic(np.random.default_rng(0), lrs=(0.01, 0.1), val_bonus={0.1: 0.15})
    frame.loc[frame["lr"] == 0.01, "test_accuracy"] += 0.1
    selected, choices = training.select_lr(frame)
    hybrid = choices[choices["model"] == "hybrid"]
    assert hybrid["lr"].tolist() == [0.1]
    assert set(selected.loc[selected["model"] == "hybrid", "lr"]) == {0.1}
    assert hybrid["lrs"].iloc[0] == "0.01, 0.1" and hybrid["n"].iloc[0] == 5
    assert len(selected) == len(frame) / 2


def test_select_lr_ties_go_to_the_smaller_rate():
    """Test that equal mean validation accuracies select the smaller learning rate."""
    frame = synthetic(np.random.default_rng(1), lrs=(0.1, 0.01, 0.03))
    frame["val_accuracy"] = 0.75
    _, choices = training.select_lr(frame)
    assert set(choices["lr"]) == {0.01}


def test_select_lr_needs_a_validation_split():
    """Test that a table without val_accuracy is refused with a ValueError saying so."""
    frame = synthetic(np.random.default_rng(2)).drop(columns="val_accuracy")
    with pytest.raises(ValueError, match="no validation split"):
        training.select_lr(frame)


# ------------------------------------------------------------------------------ costs
def test_cumulative_costs_are_running_sums_per_run():
    """Test that cum_shots / cum_circuits / cum_time are per-run running sums of the epochs."""
    frame = synthetic(np.random.default_rng(3), seeds=range(2), epochs=4)
    costs = training.with_costs(frame)
    hybrid = costs[(costs["model"] == "hybrid") & (costs["seed"] == 1)].sort_values("epoch")
    assert hybrid["cum_shots"].tolist() == [30_000, 60_000, 90_000, 120_000]
    assert hybrid["cum_circuits"].tolist() == [30, 60, 90, 120]
    assert hybrid["cum_time"].tolist() == [0.5, 1.0, 1.5, 2.0]


# ------------------------------------------------------------------------------ survival
def test_kaplan_meier_against_a_hand_computed_example():
    """Test the Kaplan-Meier estimate on 5 runs with a censored one, computed by hand.

    Runs reach the target at costs 2, 3, 3 and 7; one run ends unreached at cost 5.
    S(2) = 1 - 1/5 = 0.8; S(3) = 0.8 (1 - 2/4) = 0.4; at 5 the censored run leaves the risk
    set; S(7) = 0.4 (1 - 1/1) = 0. Fractions reached: 0.2, 0.6, 1.0; median cost 3.
    """
    curve = training.kaplan_meier([3, 2, 7, 5, 3], [True, True, True, False, True])
    assert curve["cost"].tolist() == [2.0, 3.0, 7.0]
    np.testing.assert_allclose(curve["fraction_reached"], [0.2, 0.6, 1.0], atol=1e-12)
    assert training.median_cost(curve) == 3.0


def test_kaplan_meier_without_censoring_is_the_empirical_cdf():
    """Test that with every run censored at the end, KM is the ECDF of the event costs."""
    curve = training.kaplan_meier([1, 4, 4, 9, 9], [True, True, False, False, False])
    np.testing.assert_allclose(curve["fraction_reached"], [0.2, 0.4], atol=1e-12)
    assert math.isnan(training.median_cost(curve))


def test_cost_to_target_reports_unreached_configurations():
    """Test that a configuration reached in 2 of 5 seeds gets no median and says so."""
    frame = synthetic(np.random.default_rng(4), epochs=3)
    frame["val_accuracy"] = 0.5
    hybrid = (frame["model"] == "hybrid") & (frame["seed"] < 2) & (frame["epoch"] >= 2)
    frame.loc[hybrid, "val_accuracy"] = 0.95
    table = training.cost_to_target(frame, 0.9)
    row = table[table["model"] == "hybrid"].iloc[0]
    assert (row["n"], row["reached"]) == (5, 2) and math.isnan(row["median_cum_shots"])
    assert row["status"] == "not reached by 3 of 5 seeds"
    frame.loc[(frame["model"] == "hybrid") & (frame["epoch"] >= 2), "val_accuracy"] = 0.95
    row = training.cost_to_target(frame, 0.9).query("model == 'hybrid'").iloc[0]
    assert row["status"] == "median reached" and row["median_cum_shots"] == 60_000
    assert row["median_epoch"] == 2


# ------------------------------------------------------------------------------ findings
def _table(frame: pd.DataFrame) -> pd.DataFrame:
    return findings_table(training.versus_baseline(frame))


def test_no_difference_is_called_when_every_configuration_has_one_distribution():
    """Test that null data give false calls in at most the level's share of families.

    100 synthetic studies of 4 configurations x 2 data sets, 5 seeds, every accuracy drawn
    from one distribution. Holm bounds the family-wise error at 1 - level = 0.05; over 100
    families the count of families with any call is binomial (100, <= 0.05): mean <= 5,
    standard deviation <= 2.2, so at most 5 + 3 * 2.2, i.e. 11, are allowed (measured: 3).
    """
    rng = np.random.default_rng(5)
    methods = (("spsa", 1000), ("spsa", 100), ("parameter-shift", 1000), ("backprop", None))
    false_families = 0
    for _ in range(100):
        frame = synthetic(rng, methods=methods, datasets=("moons", "wine"), epochs=1)
        table = _table(frame)
        accuracy = table[table["family"].str.endswith("(test accuracy)")]
        assert len(accuracy) == 8
        false_families += int((accuracy["verdict"] != tie_text(LEVEL)).any())
    assert false_families <= 11


def test_a_planted_five_point_effect_over_ten_seeds_is_found():
    """Test that +5 points over 10 seeds (paired sd 0.03 * sqrt 2 = 0.042) is called above.

    t = 0.05 / (0.042 / sqrt(10)) = 3.7 on 9 dof: p about 0.005, below 0.05 / 2 (Holm over
    two configurations), so the call is made in all but a few percent of draws; fixed seed.
    """
    frame = synthetic(
        np.random.default_rng(6), seeds=range(10), effect=0.05, epochs=1,
        methods=(("spsa", 1000), ("parameter-shift", 1000)),
    )  # fmt: skip
    table = _table(frame)
    accuracy = table[table["family"] == "hybrid minus classical-matched (test accuracy)"]
    assert (accuracy["verdict"] == "above classical-matched").all()
    samples = table[table["family"] == "hybrid minus classical-matched (test samples)"]
    np.testing.assert_allclose(samples["estimate"], accuracy["estimate"] * N_TEST)
    assert samples["verdict"].tolist() == accuracy["verdict"].tolist()


def test_identical_exact_runs_are_one_finding_naming_every_method():
    """Test that backprop and adjoint with identical rows become one 'adjoint = backprop' row."""
    frame = synthetic(np.random.default_rng(7), methods=(("backprop", None),), epochs=2)
    twin = frame[frame["model"] == "hybrid"].copy()
    twin["method"] = "adjoint"
    table = _table(pd.concat([frame, twin], ignore_index=True))
    assert len(table) == 2  # one per family
    assert table["comparison"].str.contains("hybrid adjoint = backprop, exact").all()


def test_baseline_prefers_the_matched_classical_model():
    """Test that the matched classical baseline is used when both baselines are present."""
    rng = np.random.default_rng(8)
    frame = synthetic(rng, epochs=1)
    plain = synthetic(rng, epochs=1, baseline="classical")
    both = pd.concat([frame, plain[plain["model"] == "classical"]], ignore_index=True)
    assert set(_table(both)["family"]) == {
        "hybrid minus classical-matched (test accuracy)",
        "hybrid minus classical-matched (test samples)",
    }


# ------------------------------------------------------------------------------ figures
def test_curve_data_plots_validation_means_against_cumulative_shots():
    """Test that the plotted frame is the seed mean of val_accuracy at each cumulative cost."""
    frame = synthetic(np.random.default_rng(9), epochs=3, methods=(("spsa", 1000),))
    data = training.learning_curve_data(frame, "cum_shots", "val_accuracy")
    hybrid = frame[frame["model"] == "hybrid"]
    expected = hybrid.groupby("epoch")["val_accuracy"].mean().to_numpy()
    np.testing.assert_allclose(data["mean"], expected)
    np.testing.assert_allclose(data["x"], [30_000, 60_000, 90_000])
    assert (data["low"] <= data["mean"]).all() and (data["mean"] <= data["high"]).all()


def test_learning_curve_figure_draws_the_plotted_frame_and_baselines():
    """Test that each panel's Line2D data are the curve frame's and the baseline is its mean."""
    frame = synthetic(
        np.random.default_rng(10), datasets=("moons", "wine"), epochs=3,
        methods=(("spsa", 1000), ("parameter-shift", 100)),
    )  # fmt: skip
    fig = training.plot_learning_curves(frame, "cum_shots", "test_accuracy")
    data = fig.curve_data
    assert len(fig.axes) == 4  # 2 data sets x 2 methods
    for ax in fig.axes:
        panel, method = ax.get_title().split(" | ")
        lines = {line.get_label(): line for line in ax.get_lines()}
        mine = data[(data["panel"] == panel) & (data["method"] == method)]
        assert len(mine) == 3
        for series, part in mine.groupby("series"):
            np.testing.assert_allclose(lines[series].get_xdata(), part["x"])
            np.testing.assert_allclose(lines[series].get_ydata(), part["mean"])
        final = frame[(frame["model"] != "hybrid") & (frame["dataset"] == panel)]
        level = final[final["epoch"] == 3]["test_accuracy"].mean()
        baseline = lines["classical-matched (final mean)"]
        np.testing.assert_allclose(baseline.get_ydata(), [level, level])
        assert ax.get_xscale() == "log"
    hybrid = frame[(frame["model"] == "hybrid") & (frame["dataset"] == "wine")]
    spsa = hybrid[hybrid["method"] == "spsa"].groupby("epoch")["test_accuracy"].mean()
    wine = data[(data["panel"] == "wine") & data["series"].str.startswith("spsa")]
    np.testing.assert_allclose(wine["mean"], spsa.to_numpy())  # test, not validation


def test_learning_curves_against_epochs_keep_exact_runs():
    """Test that against epochs the exact runs are drawn (they are left out of the shot axis)."""
    frame = synthetic(
        np.random.default_rng(11), epochs=2, methods=(("backprop", None), ("spsa", 100))
    )
    assert set(training.learning_curve_data(frame, "epoch")["series"]) == {
        "backprop (exact), 2 L",
        "spsa (100 shots), 2 L",
    }
    assert set(training.learning_curve_data(frame, "cum_shots")["series"]) == {
        "spsa (100 shots), 2 L"
    }


def test_matched_baseline_is_the_one_of_the_same_depth():
    """Test that each depth is compared with the matched baseline of that depth, not a mix.

    Planted: the 1-layer hybrid equals its 1-layer baseline, the 4-layer baseline is 0.2
    lower; pooling the two baselines would show a 0.1 gain.
    """
    rows = []
    for layers, base in ((1, 0.8), (4, 0.6)):
        for model in ("hybrid", "classical-matched"):
            for seed in range(4):
                acc = 0.8 + 0.01 * seed if model == "hybrid" else base + 0.01 * seed
                rows.append({
                    "dataset": "moons", "model": model, "method": "backprop" if model ==
                    "hybrid" else None, "shots": None, "n_layers": layers, "lr": 0.01,
                    "seed": seed, "epoch": 1, "train_accuracy": acc, "test_accuracy": acc,
                    "n_test": N_TEST,
                })  # fmt: skip
    frame = pd.DataFrame(rows)
    frame = frame[~((frame["model"] == "hybrid") & (frame["n_layers"] == 4))]
    (accuracy, _) = training.versus_baseline(frame)
    assert accuracy.estimate == pytest.approx(0.0)
