"""Barren-plateau and estimator analyses on synthetic tables with known answers.

Synthetic variance curves carry their standard errors, and noise is drawn with a fixed seed
at those standard errors, so a model that is right fits with ``chi2/dof ~ 1`` and one that is
wrong does not. Figure tests read the plotted data back from the axes: a figure that plots
the wrong column fails them.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from qgradbench.analysis import landscape as ls
from qgradbench.analysis.report import Report
from qgradbench.analysis.scaling import two_design_variance
from qgradbench.analysis.stats import findings_table, tie_text


def _variance_rows(qubits, values, rel_se=0.05, seed=0, **columns) -> pd.DataFrame:
    """Rows of one exact variance curve: ``values[i]`` at ``qubits[i]`` with noise at ``se``."""
    rng = np.random.default_rng(seed)
    values = np.asarray(values, dtype=float)
    se = rel_se * values
    base = {"label": "v", "ansatz": "random-pauli", "observable": "zz", "param": "first",
            "method": "adjoint", "shots": None, "seed": 0, "samples": 1000,
            "layers_per_qubit": None, "depth": None}  # fmt: skip
    base.update(columns)
    rows = []
    for i, n in enumerate(qubits):
        row = {**base, "n_qubits": n, "variance": values[i] + rng.normal(0, se[i]),
               "variance_se": se[i], "task": i}  # fmt: skip
        if "n_layers" not in columns:
            row["n_layers"] = n
        rows.append(row)
    return pd.DataFrame(rows)


class TestLayerSweep:
    def _sweep(self, deep_factor=1.0) -> pd.DataFrame:
        parts = []
        for n in (2, 4):
            design = two_design_variance(n)
            for layers, factor in ((1, 3.0), (10, 1.5), (100, deep_factor)):
                parts.append(_variance_rows([n], [factor * design], rel_se=0.02, n_layers=layers,
                                            seed=layers + n))  # fmt: skip
        return pd.concat(parts, ignore_index=True)

    def test_ratio_is_variance_over_the_two_design_value(self):
        """Test that ratio = variance / (N/(3(N^2-1))) with interval (var +- 1.96 se) / value."""
        frame = self._sweep()
        sweep = ls.layer_sweep(frame)
        assert len(sweep) == 6
        design = two_design_variance(sweep["n_qubits"].to_numpy(float))
        assert sweep["ratio"].to_numpy() == pytest.approx(sweep["variance"] / design)
        half = 1.959964 * sweep["variance_se"] / design
        assert (sweep["ratio_high"] - sweep["ratio"]).to_numpy() == pytest.approx(half, rel=1e-5)

    def test_deepest_depth_at_the_two_design_value_is_consistent(self):
        """Test that variance at the 2-design value (noise 2%) is a tie at the deepest depth."""
        found = ls.layer_sweep_findings(df := self._sweep(), ls.layer_sweep(df))
        table = findings_table(found)
        assert len(table) == 2 and "100 layers" in table["comparison"].iloc[0]
        assert (table["verdict"] == tie_text(0.95)).all()

    def test_deepest_depth_above_the_two_design_value_is_found(self):
        """Test that 1.5 times the 2-design value (se 2%) is called above it."""
        found = ls.layer_sweep_findings(df := self._sweep(1.5), ls.layer_sweep(df))
        assert (findings_table(found)["verdict"] == "above the 2-design value").all()
        assert found[0].estimate == pytest.approx(0.5, abs=0.1)

    def test_qubit_curves_are_not_layer_sweeps(self):
        """Test that a fixed-layer curve over n (one layer count per n) is no layer sweep."""
        frame = _variance_rows([2, 4, 6], [0.1, 0.05, 0.02], n_layers=1)
        assert ls.layer_sweep(frame).empty

    def test_figure_plots_the_variance_and_the_two_design_levels(self):
        """Test that each n's line is its variance by layers and its dashed level the 2-design."""
        sweep = ls.layer_sweep(self._sweep())
        fig = ls.plot_layer_sweep(sweep)
        (ax,) = fig.axes
        solid = [line for line in ax.lines if line.get_linestyle() == "-"]
        levels = sorted(line.get_ydata()[0] for line in ax.lines if line.get_linestyle() == "--")
        for n, line in zip((2, 4), solid, strict=True):
            rows = sweep[sweep["n_qubits"] == n].sort_values("n_layers")
            assert list(line.get_xdata()) == list(rows["n_layers"])
            assert np.allclose(line.get_ydata(), rows["variance"])
        assert levels == pytest.approx(sorted(two_design_variance(np.array([2.0, 4.0]))))


class TestScaling:
    def _cerezo(self) -> pd.DataFrame:
        """Local cost falling as n^-2, global as 2^-n, at depth log n (5% errors)."""
        qubits = np.array([2, 4, 6, 8, 10, 12])
        layers = [max(1, math.ceil(math.log2(n))) for n in qubits]
        local = _variance_rows(qubits, 0.25 * qubits**-2.0, observable="local-z", depth="log",
                               seed=1)  # fmt: skip
        glob = _variance_rows(qubits, 0.5 * 2.0**-qubits, observable="global-z", depth="log",
                              seed=2)  # fmt: skip
        frame = pd.concat([local, glob], ignore_index=True)
        frame["n_layers"] = layers * 2
        return frame

    def test_depth_rule_rows_form_one_curve_per_observable(self):
        """Test that depth='log' rows with different n_layers are fitted as one curve each."""
        fits, _ = ls.scaling_fits(self._cerezo())
        assert list(fits["observable"]) == ["global-z", "local-z"]
        assert (fits["depth"] == "depth ceil(log2 n)").all()
        assert (fits["qubits"] == "2-12").all()

    def test_power_law_and_exponential_are_told_apart(self):
        """Test that local n^-2 prefers the power law (p = -2, 3 se), global 2^-n exponential."""
        fits, found = ls.scaling_fits(self._cerezo())
        glob, local = fits.iloc[0], fits.iloc[1]
        assert glob["preferred"] == "exponential" and local["preferred"] == "power law"
        assert abs(local["power_exponent"] + 2) < 3 * local["power_se"]
        assert abs(glob["exp_slope"] + math.log(2)) < 3 * glob["exp_se"]
        table = findings_table(found)
        verdicts = dict(zip(table["comparison"], table["verdict"], strict=True))
        wrong = [
            v
            for c, v in verdicts.items()
            if ("exponential model to local" in c) or ("power law model to global" in c)
        ]
        right = [
            v
            for c, v in verdicts.items()
            if ("power law model to local" in c) or ("exponential model to global" in c)
        ]
        assert wrong == ["does not fit"] * 2
        assert right == [tie_text(0.95)] * 2

    def test_deep_zz_curve_gets_a_two_design_verdict(self):
        """Test that 10 layers/qubit zz at the 2-design values is consistent with ln(1/2)."""
        qubits = np.array([2, 4, 6, 8, 10])
        frame = _variance_rows(qubits, two_design_variance(qubits), layers_per_qubit=10,
                               rel_se=0.03)  # fmt: skip
        fits, found = ls.scaling_fits(frame)
        assert fits["two_design"].iloc[0].startswith("consistent")
        slope = findings_table(found).query("family == '2-design slope'")
        assert len(slope) == 1 and slope["verdict"].iloc[0] == tie_text(0.95)

    def test_identically_zero_gradients_are_reported_not_fitted(self):
        """Test that a curve with Var = 0 at some n is a 'not fitted' row, not a silent gap."""
        frame = _variance_rows([2, 4, 6], [0.0, 0.0, 1e-3], observable="global-z", depth="1")
        frame["variance"] = [0.0, 0.0, 1e-3]
        fits, found = ls.scaling_fits(frame)
        assert list(fits["preferred"]) == ["not fitted: variance 0 at n = 2, 4"]
        assert found == []

    def test_figure_plots_each_curve_in_its_depth_panel(self):
        """Test that the local-z markers in the panel are the local-z variances."""
        frame = self._cerezo()
        fig = ls.plot_scaling(frame)
        (ax,) = fig.axes
        local = frame[frame["observable"] == "local-z"]
        markers = [line for line in ax.lines if line.get_linestyle() == "None"]
        ys = [list(line.get_ydata()) for line in markers]
        assert list(local["variance"]) in ys


class TestShots:
    def _frame(self, landscape=0.01, shot_part=(0.005, 0.0005)) -> pd.DataFrame:
        exact = _variance_rows([2, 4], [landscape, landscape / 4], rel_se=1e-9,
                               layers_per_qubit=10)  # fmt: skip
        rows = [exact]
        for shots, part in zip((100, 1000), shot_part, strict=True):
            noisy = exact.copy()
            noisy["method"], noisy["shots"] = "parameter-shift", shots
            noisy["shot_variance"] = part
            noisy["shot_variance_se"] = part * 0.02
            noisy["landscape_variance"] = noisy["variance"]
            noisy["variance"] = noisy["variance"] + part
            noisy["variance_se"] = 0.03 * noisy["variance"]
            rows.append(noisy)
        return pd.concat(rows, ignore_index=True)

    def test_expected_is_exact_plus_shot_part(self):
        """Test that expected = the exact row's variance + shot part, resolved = var - shot."""
        table = ls.shot_inflation(self._frame())
        assert len(table) == 4
        assert table["exact_variance"].tolist() == pytest.approx([0.01, 0.0025, 0.01, 0.0025])
        assert np.allclose(table["expected"], table["exact_variance"] + table["shot_variance"])
        assert np.allclose(table["resolved"], table["variance"] - table["shot_variance"])
        assert np.allclose(table["inflation"], table["variance"] / table["exact_variance"])

    def test_landscape_resolved_unless_shot_noise_swamps_it(self):
        """Test that 0.0025 + 0.0005 is resolved and 0.0025 under a 0.5 shot part is not."""
        table = ls.shot_inflation(self._frame(shot_part=(0.5, 0.0005)))
        verdicts = findings_table(ls.shot_findings(table))["verdict"].tolist()
        resolved = "resolved above the shot noise"
        assert verdicts == [tie_text(0.95), tie_text(0.95), resolved, resolved]

    def test_figure_plots_measured_expected_and_shot_part(self):
        """Test that markers are measured variances and dashed lines exact + shot part."""
        table = ls.shot_inflation(self._frame())
        (ax,) = ls.plot_shot_inflation(table).axes
        for shots in (100, 1000):
            rows = table[table["shots"] == shots]
            [measured] = [c for c in ax.containers if c.get_label().startswith(f"{shots} ")]
            assert np.allclose(measured.lines[0].get_ydata(), rows["variance"])
            [dashed] = [line for line in ax.lines if line.get_label() == f"{shots} shots: "
                        "exact + shot part"]  # fmt: skip
            assert np.allclose(dashed.get_ydata(), rows["expected"])


def _estimator_rows(configs, circuits=8, seed=0) -> pd.DataFrame:
    """Rows per config ``(method, budget, shots, options, mse_mean)``.

    The MSE is lognormal: a circuit's factor (sd 30%, shared by every config, as on the same
    circuits) times independent noise (sd 2%).
    """
    rng = np.random.default_rng(seed)
    circuit_factor = np.exp(rng.normal(0, 0.3, circuits))
    rows, task = [], 0
    for method, budget, shots, options, mse in configs:
        for c in range(circuits):
            value = mse * circuit_factor[c] * math.exp(rng.normal(0, 0.02))
            rows.append({"label": "sweep", "method": method, "budget": budget, "shots": shots,
                         "method_options": repr(options), "n_qubits": 4, "n_layers": 2,
                         "circuit": c, "repeats": 100, "mse": value, "variance": 0.6 * value,
                         "bias": math.sqrt(0.4 * value), "cosine": 0.9, "step": options.get("h"),
                         "gradient_shots": budget, "task": task})  # fmt: skip
        task += 1
    return pd.DataFrame(rows)


class TestBestWithTies:
    def test_close_candidates_tie_and_a_worse_one_does_not(self):
        """Test that a candidate equal to the best on average ties and a doubled one is higher."""
        frame = _estimator_rows([("spsa", 1000, 10, {"num_directions": d}, m)
                                 for d, m in ((1, 1.0), (2, 1.0), (5, 2.0))])  # fmt: skip
        frame["directions"] = [ls.options(o)["num_directions"] for o in frame["method_options"]]
        # the second: the first's values times 1 +- 2% alternately (mean difference exactly 0)
        first = frame.loc[frame["directions"] == 1, "mse"].to_numpy()
        frame.loc[frame["directions"] == 2, "mse"] = first * (1 + 0.02 * (-1) ** np.arange(8))
        best, tied, found = ls.best_with_ties(frame, "directions", 0.95, "f")
        assert best in (1, 2) and sorted(tied) == [1, 2]
        assert "higher MSE" in findings_table(found)["verdict"].tolist()

    def test_ties_use_holm_adjusted_p_values(self):
        """Test that two candidates each at raw p ~ 0.03 tie after Holm (adjusted p ~ 0.06)."""
        frame = _estimator_rows([("spsa", 1000, 10, {"num_directions": d}, 1.0)
                                 for d in (1, 2, 3)])  # fmt: skip
        frame["directions"] = [ls.options(o)["num_directions"] for o in frame["method_options"]]
        best = frame.loc[frame["directions"] == 1, "mse"].to_numpy()
        sign = (-1.0) ** np.arange(8)  # mean 0, sd 1.069: t = 0.1028 / (0.1069 / sqrt 8) = 2.72
        for d, pattern in ((2, sign), (3, -sign)):
            frame.loc[frame["directions"] == d, "mse"] = best + 0.1028 + 0.1 * pattern
        _, tied, found = ls.best_with_ties(frame, "directions", 0.95, "f")
        assert all(0.025 < f.p_value < 0.05 for f in found)
        assert sorted(tied) == [1, 2, 3]


def _fd_configs(a=0.5, c=2.0, order=1, strategy="forward"):
    """Noiseless MSE(h) = a h^(2p) + c/(N h^2) at N = budget/10 over a step grid."""
    configs = []
    for budget in (10_000, 1_000_000):
        shots = budget // 10
        for h in (0.05, 0.1, 0.2, 0.4, 0.8, 1.6):
            mse = a * h ** (2 * order) + c / (shots * h**2)
            opts = {"strategy": strategy, "h": h}
            if order == 2:
                opts["approx_order"] = 2
            configs.append(("finite-diff", budget, shots, opts, mse))
    return configs


class TestFiniteDifferenceStep:
    def test_optimal_step_recovers_the_model_minimum(self):
        """Test that noiseless a h^2p + c/h^2 gives h* = (c/(p a))^(1/(2p+2)) exactly."""
        h = np.geomspace(0.01, 1, 9)
        for order in (1, 2):
            mse = 0.3 * h ** (2 * order) + 1e-4 / h**2
            expected = (1e-4 / (order * 0.3)) ** (1 / (2 * order + 2))
            assert ls.optimal_step(h, mse, order) == pytest.approx(expected, rel=1e-6)

    @pytest.mark.parametrize("order, strategy", [(1, "forward"), (2, "central")])
    def test_best_step_per_budget_and_its_scaling(self, order, strategy):
        """Test that the best grid step is the one nearest h*, shrinking as N^(-1/(2p+2))."""
        frame = _estimator_rows(_fd_configs(order=order, strategy=strategy))
        steps = ls.fd_steps(frame)
        best, found = ls.fd_best(steps, frame)
        assert list(best["budget"]) == [10_000, 1_000_000]
        for r in best.itertuples():
            grid = np.array([0.05, 0.1, 0.2, 0.4, 0.8, 1.6])
            h_star = (2.0 / r.shots / (order * 0.5)) ** (1 / (2 * order + 2))
            model = 0.5 * grid ** (2 * order) + 2.0 / (r.shots * grid**2)
            assert r.best_step == grid[np.argmin(model)]
            assert r.model_step == pytest.approx(h_star, rel=0.1)
            assert str(r.best_step) in r.tied_steps.split(", ")[0]
        assert best["theory_exponent"].iloc[0] == pytest.approx(-1 / (2 * order + 2))
        assert all(f.family.startswith(f"best FD step, {strategy}") for f in found)

    def test_rows_without_a_step_column_read_h_from_the_options(self):
        """Test that older tables (no step column) take h from method_options."""
        frame = _estimator_rows(_fd_configs()).drop(columns="step")
        assert sorted(ls.fd_steps(frame)["step"].unique()) == [0.05, 0.1, 0.2, 0.4, 0.8, 1.6]

    def test_figure_plots_mse_bias_and_variance_of_each_step(self):
        """Test that each panel's MSE, bias^2 and variance lines are the table's columns."""
        frame = _estimator_rows(_fd_configs())
        steps = ls.fd_steps(frame)
        best, _ = ls.fd_best(steps, frame)
        fig = ls.plot_fd_steps(steps, best)
        for ax, budget in zip(fig.axes, (10_000, 1_000_000), strict=True):
            part = steps[steps["budget"] == budget].sort_values("step")
            lines = {line.get_label(): line for line in ax.lines}
            [mse] = [c for c in ax.containers if c.get_label() == "MSE"]
            assert np.allclose(mse.lines[0].get_ydata(), part["mse"])
            assert np.allclose(lines["bias^2 (incl. noise floor)"].get_ydata(), part["bias2"])
            assert np.allclose(lines["variance"].get_ydata(), part["variance"])


class TestSPSASplit:
    def test_best_split_per_budget(self):
        """Test that directions come from method_options and the lowest MSE split wins."""
        configs = [("spsa", b, b // (2 * d), {"num_directions": d}, m)
                   for b in (1000, 10000) for d, m in ((1, 3.0), (5, 1.0), (20, 2.0))]  # fmt: skip
        frame = _estimator_rows(configs)
        splits = ls.spsa_splits(frame)
        assert list(splits["directions"]) == [1, 5, 20, 1, 5, 20]
        assert list(splits["shots"]) == [500, 100, 25, 5000, 1000, 250]
        best, _ = ls.spsa_best(frame)
        assert list(best["best_directions"]) == [5, 5]
        assert list(best["tied_directions"]) == ["5", "5"]

    def test_figure_plots_the_mse_of_each_split(self):
        """Test that each budget's line is its MSE by directions."""
        configs = [("spsa", 1000, 1000 // (2 * d), {"num_directions": d}, 1.0 / d)
                   for d in (1, 2, 4)]  # fmt: skip
        splits = ls.spsa_splits(_estimator_rows(configs))
        (ax,) = ls.plot_spsa_split(splits).axes
        (line,) = ax.containers
        assert np.allclose(line.lines[0].get_ydata(), splits["mse"])
        assert list(line.lines[0].get_xdata()) == [1, 2, 4]


class TestEstimatorBudgets:
    def test_each_method_has_its_panel_with_its_mse(self):
        """Test that each panel's error-bar line is that method's mean MSE by shots."""
        from qgradbench.analysis.summaries import estimator_findings

        configs = [(m, b, b // 10, {}, f / b) for m, f in (("hadamard", 50.0),
                   ("parameter-shift", 50.0), ("spsa", 900.0)) for b in (1000, 10000)]  # fmt: skip
        frame = _estimator_rows(configs)
        frame["gradient_shots"] = frame["budget"]
        summary, _ = estimator_findings(frame)
        fig = ls.plot_estimator_budgets(summary)
        assert [ax.get_title() for ax in fig.axes] == ["hadamard", "parameter-shift", "spsa"]
        for ax in fig.axes:
            rows = summary[summary["method"] == ax.get_title()].sort_values("gradient_shots")
            (bars,) = ax.containers
            assert np.allclose(bars.lines[0].get_ydata(), rows["mse"])
            assert list(bars.lines[0].get_xdata()) == list(rows["gradient_shots"])


@pytest.fixture
def no_png(monkeypatch):
    """Record the figures' paths without laying out or rendering them (the slow part)."""

    def save(fig, path):
        return path

    monkeypatch.setattr(ls.figures, "save", save)
    monkeypatch.setattr(ls, "_finish", lambda fig: fig)


@pytest.mark.usefixtures("no_png")
class TestSections:
    def test_variance_section_writes_figures_and_findings(self, tmp_path):
        """Test that every part of the variance section adds its table, figure and findings."""
        sweep = TestLayerSweep()._sweep()
        cerezo = TestScaling()._cerezo()
        shots = TestShots()._frame()
        shots["label"] = "shots"
        frame = pd.concat([sweep, cerezo, shots], ignore_index=True)
        report = Report("t")
        ls.variance_section(report, frame, tmp_path)
        names = sorted(p.name for kind, p in report.blocks if kind == "img")
        assert names == ["variance.png", "variance_layers.png", "variance_shots.png"]
        families = set(findings_table(report.findings)["family"])
        assert {"variance at depth against the 2-design", "variance decay model fit",
                "landscape variance resolved at 100 shots"} <= families  # fmt: skip

    def test_estimator_section_separates_sweeps_from_the_comparison(self, tmp_path):
        """Test that FD and SPSA sweep labels stay out of the method comparison."""
        fd = _estimator_rows(_fd_configs())
        fd["label"] = "fd-step"
        spsa = _estimator_rows([("spsa", 1000, 1000 // (2 * d), {"num_directions": d}, 1.0)
                                for d in (1, 2)])  # fmt: skip
        spsa["label"] = "spsa-split"
        main = _estimator_rows([(m, 1000, 10, {}, 1.0) for m in ("parameter-shift", "spsa")])
        main["label"] = "estimator"
        frame = pd.concat([fd, spsa, main], ignore_index=True)
        report = Report("t")
        ls.estimator_section(report, frame, tmp_path)
        names = sorted(p.name for kind, p in report.blocks if kind == "img")
        assert names == ["estimator_fd_step.png", "estimator_mse.png", "estimator_spsa_split.png"]
        table = findings_table(report.findings)
        bias = table[table["family"] == "estimator bias"]["comparison"]
        assert len(bias) == 2 and not bias.str.contains("finite-diff").any()


class TestRealRows:
    def test_depth_rule_and_step_rows_flow_through(self):
        """Test that real depth-rule variance rows and FD rows with their step are analysed."""
        from qgradbench.experiments.estimator import EstimatorSpec, estimator
        from qgradbench.experiments.variance import VarianceSpec, variance

        rows = [r for n in (2, 3, 4) for obs in ("local-z", "global-z")
                for r in variance(VarianceSpec(n_qubits=n, depth="log", observable=obs,
                                               samples=64))]  # fmt: skip
        fits, _ = ls.scaling_fits(pd.DataFrame(rows))
        assert list(fits["observable"]) == ["global-z", "local-z"]
        assert (fits["qubits"] == "2-4").all()
        spec = {"method": "finite-diff", "budget": 2000, "n_qubits": 2, "n_layers": 1,
                "circuits": 2, "repeats": 3}  # fmt: skip
        est = [{**r, "label": "fd"} for h in (0.1, 0.5)
               for r in estimator(EstimatorSpec(**spec, method_options={"h": h}))]  # fmt: skip
        steps = ls.fd_steps(pd.DataFrame(est))
        assert list(steps["step"]) == [0.1, 0.5]
        assert (steps["shots"] == 2000 // 8).all()  # 2 encoding + 6 weight slots, 1 circuit each
