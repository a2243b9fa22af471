"""Tests of qgradbench.analysis.figures: colours, labels, figures, saving, validation."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import matplotlib.colors as mcolors
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from scipy.stats import t as t_dist

import qgradbench.analysis
from qgradbench.analysis import (
    METHOD_COLOURS,
    label,
    method_palette,
    plot_accuracy_comparison,
    plot_dataset,
    plot_decision_boundary,
    plot_training_curves,
    save,
    wilson_interval,
)

ANALYSIS_DIR = Path(qgradbench.analysis.__file__).parent
METHODS = (
    "backprop",
    "adjoint",
    "parameter-shift",
    "finite-diff",
    "spsa",
    "hadamard",
    "shot-adjoint",
    "classical",
)
PS_1000 = "parameter-shift (1000 shots)"


def training_rows(epochs: int = 4, runs=None) -> pd.DataFrame:
    """Rows of the training experiment: classical, backprop exact, parameter-shift at 1000 shots.

    The classical and parameter-shift runs have two seeds each.
    """
    runs = runs or [
        ("classical", None, None, (0, 1)),
        ("hybrid", "backprop", None, (0,)),
        ("hybrid", "parameter-shift", 1000, (0, 1)),
    ]
    rng = np.random.default_rng(0)
    rows = []
    for model, method, shots, seeds in runs:
        for seed in seeds:
            for epoch in range(1, epochs + 1):
                progress = 1 - np.exp(-epoch / 2)
                rows.append(
                    {
                        "model": model,
                        "method": method,
                        "shots": shots,
                        "epoch": epoch,
                        "loss": 0.7 - 0.5 * progress + rng.normal(0, 0.01),
                        "test_loss": 0.75 - 0.5 * progress + rng.normal(0, 0.01),
                        "train_accuracy": 0.5 + 0.4 * progress,
                        "test_accuracy": 0.5 + 0.35 * progress + rng.normal(0, 0.01),
                        "seed": seed,
                    }
                )
    return pd.DataFrame(rows)


def dataset_points() -> pd.DataFrame:
    """Two rings of points, the first 40 for training and the last 10 for testing."""
    rng = np.random.default_rng(1)
    y = np.arange(50) % 2
    radius = np.where(y == 1, 0.7, 0.3) + rng.normal(0, 0.05, 50)
    angle = rng.uniform(0, 2 * np.pi, 50)
    return pd.DataFrame(
        {
            "x0": radius * np.cos(angle),
            "x1": radius * np.sin(angle),
            "label": y,
            "split": ["train"] * 40 + ["test"] * 10,
        }
    )


def boundary_grid(resolution: int = 25) -> pd.DataFrame:
    """p1 on a regular grid, rising across the circle of radius 0.5."""
    g = np.linspace(-1, 1, resolution)
    xx, yy = np.meshgrid(g, g)
    p1 = 1 / (1 + np.exp(-10 * (np.hypot(xx, yy) - 0.5)))
    return pd.DataFrame({"x0": xx.ravel(), "x1": yy.ravel(), "p1": p1.ravel()})


def legend_texts(fig: Figure) -> list[str]:
    """All legend entries of a figure (figure legends and axes legends)."""
    legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend())]
    return [text.get_text() for legend in legends for text in legend.get_texts()]


def legend_colours(fig: Figure) -> dict[str, tuple[float, float, float]]:
    """The colour of each legend entry's line, by its text."""
    out = {}
    for legend in fig.legends:
        for handle, text in zip(legend.legend_handles, legend.get_texts(), strict=True):
            out[text.get_text()] = mcolors.to_rgb(handle.get_color())
    return out


def line_colours(fig: Figure, run: str) -> list[tuple[float, float, float]]:
    """The colours of the data lines drawn for ``run`` in all axes."""
    return [
        mcolors.to_rgb(line.get_color())
        for ax in fig.axes
        for line in ax.get_lines()
        if line.get_label().startswith(f"{run} [")
    ]


def line(fig: Figure, axes: int, run: str, split: str):
    """The single data line drawn for ``run`` and ``split`` in ``fig.axes[axes]``."""
    found = [ln for ln in fig.axes[axes].get_lines() if ln.get_label() == f"{run} [{split}]"]
    assert len(found) == 1, f"{len(found)} lines for {run} [{split}]"
    return found[0]


def mean_over_seeds(rows: pd.DataFrame, run: str, column: str) -> pd.Series:
    """The table's mean of ``column`` over seeds for ``run``, indexed by epoch."""
    labels = [label(r) for r in rows[["model", "method", "shots"]].to_dict("records")]
    return rows[np.array(labels) == run].groupby("epoch")[column].mean()


def final_per_seed(rows: pd.DataFrame, run: str, column: str = "test_accuracy") -> np.ndarray:
    """Each seed's ``column`` at its last epoch for ``run``, sorted."""
    labels = [label(r) for r in rows[["model", "method", "shots"]].to_dict("records")]
    own = rows[np.array(labels) == run]
    return np.sort(own.sort_values("epoch").groupby("seed").tail(1)[column].to_numpy())


def rgb(name: str) -> tuple[float, float, float]:
    return mcolors.to_rgb(METHOD_COLOURS[name])


@pytest.fixture(scope="module")
def curves() -> Figure:
    return plot_training_curves(training_rows())


@pytest.fixture(scope="module")
def comparison() -> Figure:
    return plot_accuracy_comparison(training_rows())


class TestColours:
    def test_every_method_has_a_distinct_colour(self):
        """Test that each method and the classical model have their own valid colour."""
        assert set(METHODS) <= set(METHOD_COLOURS)
        colours = [rgb(name) for name in METHODS]
        assert len(set(colours)) == len(colours)

    def test_palette_gives_fixed_colours_to_known_methods(self):
        """Test that method_palette returns METHOD_COLOURS for known names, in given order."""
        palette = method_palette(["spsa", "backprop", "spsa", "classical"])
        assert list(palette) == ["spsa", "backprop", "classical"]
        assert palette == {name: METHOD_COLOURS[name] for name in palette}

    def test_palette_fallback_is_deterministic(self):
        """Test that unknown names get the same distinct colours whatever their order."""
        first = method_palette(["zeta-rule", "backprop", "alpha-rule"])
        second = method_palette(["alpha-rule", "zeta-rule", "backprop"])
        assert first == second
        assert first == method_palette(["zeta-rule", "backprop", "alpha-rule"])
        unknown = {first["alpha-rule"], first["zeta-rule"]}
        assert len(unknown) == 2
        assert not {mcolors.to_rgb(c) for c in unknown} & {rgb(m) for m in METHOD_COLOURS}


class TestLabel:
    @pytest.mark.parametrize(
        ("row", "expected"),
        [
            ({"model": "hybrid", "method": "parameter-shift", "shots": 1000}, PS_1000),
            ({"model": "hybrid", "method": "parameter-shift", "shots": 1000.0}, PS_1000),
            ({"model": "hybrid", "method": "backprop", "shots": None}, "backprop (exact)"),
            ({"model": "hybrid", "method": "backprop", "shots": np.nan}, "backprop (exact)"),
            ({"model": "hybrid", "method": "backprop", "shots": pd.NA}, "backprop (exact)"),
            ({"model": "classical", "method": None, "shots": None}, "classical"),
            ({"model": "classical", "method": np.nan, "shots": np.nan}, "classical"),
            ({"method": None, "shots": None}, "classical"),
            (pd.Series({"model": "hybrid", "method": "spsa", "shots": 1}), "spsa (1 shot)"),
            (("finite-diff", 100), "finite-diff (100 shots)"),
            (("hybrid", "adjoint", None), "adjoint (exact)"),
            ("hadamard", "hadamard (exact)"),
        ],
    )
    def test_label(self, row, expected):
        """Test that a run is labelled by its method and shots, or as classical."""
        assert label(row) == expected

    def test_label_of_itertuples_row(self):
        """Test that rows from DataFrame.itertuples are labelled like dicts."""
        frame = pd.DataFrame({"model": ["hybrid"], "method": ["spsa"], "shots": [100]})
        assert label(next(frame.itertuples(index=False))) == "spsa (100 shots)"

    def test_label_rejects_other_values(self):
        """Test that label raises a TypeError for values it cannot read."""
        with pytest.raises(TypeError, match="label"):
            label(3.5)


class TestTrainingCurves:
    def test_panels_and_titles(self, curves):
        """Test that the figure has a loss panel and an accuracy panel with axis labels."""
        assert isinstance(curves, Figure)
        assert len(curves.axes) == 2
        loss, acc = curves.axes
        assert (loss.get_xlabel(), acc.get_xlabel()) == ("epoch", "epoch")
        assert "loss" in loss.get_ylabel()
        assert "accuracy" in acc.get_ylabel()
        assert "2 seeds" in curves.get_suptitle()

    def test_legend_names_every_run_and_split(self, curves):
        """Test that the legend names each run label and the train/test line styles."""
        texts = legend_texts(curves)
        for expected in ("backprop (exact)", PS_1000, "classical", "train", "test"):
            assert expected in texts

    @pytest.mark.parametrize(
        ("run", "method"),
        [
            (PS_1000, "parameter-shift"),
            ("backprop (exact)", "backprop"),
            ("classical", "classical"),
        ],
    )
    def test_lines_have_the_method_colour(self, curves, run, method):
        """Test that a run's lines and legend entry have its method's fixed colour."""
        colours = line_colours(curves, run)
        assert len(colours) == 4  # loss and test loss, train and test accuracy
        assert set(colours) == {rgb(method)}
        assert legend_colours(curves)[run] == rgb(method)

    def test_train_dashed_test_solid(self, curves):
        """Test that train lines are dashed and test lines solid."""
        for ax in curves.axes:
            for line in ax.get_lines():
                if line.get_label().endswith("[train]"):
                    assert line.get_linestyle() == "--"
                elif line.get_label().endswith("[test]"):
                    assert line.get_linestyle() == "-"

    def test_colours_are_stable(self):
        """Test that two figures of the same rows, even reordered, use the same colours."""
        rows = training_rows(
            epochs=2,
            runs=[("hybrid", "new-rule", None, (0,)), ("hybrid", "other-rule", 100, (0,))],
        )
        first = legend_colours(plot_training_curves(rows))
        second = legend_colours(plot_training_curves(rows.iloc[::-1]))
        assert first == second
        assert first["new-rule (exact)"] != first["other-rule (100 shots)"]
        assert first["new-rule (exact)"] == mcolors.to_rgb(method_palette(["new-rule"])["new-rule"])

    def test_nullable_shots_dtype(self):
        """Test that shots as a nullable Int64 column with pd.NA gives the same labels."""
        rows = training_rows(epochs=2)
        rows["shots"] = rows["shots"].astype("Int64")
        texts = legend_texts(plot_training_curves(rows))
        assert {PS_1000, "backprop (exact)", "classical"} <= set(texts)

    def test_rows_mixing_configurations_raise(self):
        """Test that two rows of one label, seed and epoch raise a ValueError."""
        rows = training_rows(epochs=2)
        with pytest.raises(ValueError, match="filter"):
            plot_training_curves(pd.concat([rows, rows]))


class TestAccuracyComparison:
    def test_panels(self, comparison):
        """Test that the figure has a per-epoch panel and a final-epoch panel."""
        assert isinstance(comparison, Figure)
        assert len(comparison.axes) == 2
        assert comparison.axes[0].get_xlabel() == "epoch"
        assert "final" in comparison.axes[1].get_xlabel()

    def test_labels(self, comparison):
        """Test that the legend and the final panel name every run, classical last."""
        assert {PS_1000, "backprop (exact)", "classical"} <= set(legend_texts(comparison))
        ticks = [t.get_text() for t in comparison.axes[1].get_yticklabels()]
        assert ticks == ["backprop (exact)", PS_1000, "classical"]

    def test_colours(self, comparison):
        """Test that lines and legend entries use the methods' fixed colours."""
        assert set(line_colours(comparison, PS_1000)) == {rgb("parameter-shift")}
        assert set(line_colours(comparison, "classical")) == {rgb("classical")}
        assert legend_colours(comparison)["backprop (exact)"] == rgb("backprop")


def close_run(final=(0.95, 0.96), n_test=100, epochs=5) -> pd.DataFrame:
    """A hybrid and a classical run whose final test accuracies are one test sample apart."""
    rows = []
    for (model, method, shots), last in zip(
        [("hybrid", "parameter-shift", 1000), ("classical", None, None)], final, strict=True
    ):
        for epoch in range(1, epochs + 1):
            acc = last if epoch == epochs else last - 0.01 * (epochs - epoch)
            rows.append(
                {"dataset": "circles", "model": model, "method": method, "shots": shots,
                 "epoch": epoch, "loss": 0.3, "train_accuracy": acc, "test_accuracy": acc,
                 "seed": 0, "n_test": n_test}
            )  # fmt: skip
    return pd.DataFrame(rows)


def visible_ticks(ax, axis: str) -> np.ndarray:
    """Major tick positions inside the axis limits."""
    target = ax.xaxis if axis == "x" else ax.yaxis
    lo, hi = sorted(ax.get_xlim() if axis == "x" else ax.get_ylim())
    ticks = np.asarray(target.get_majorticklocs())
    return ticks[(ticks >= lo - 1e-12) & (ticks <= hi + 1e-12)]


def assert_readable_accuracy_axis(ax, axis: str, values) -> None:
    """Assert that an accuracy axis is readable.

    It spans >= 10 points, has 3 to 7 ticks at least 1/8 of the span apart (so that labels
    never overlap), and holds every value with a margin of >= 3% of the span on both sides.
    """
    lo, hi = sorted(ax.get_xlim() if axis == "x" else ax.get_ylim())
    span = hi - lo
    assert span >= 0.10
    ticks = visible_ticks(ax, axis)
    assert 3 <= len(ticks) <= 7, ticks
    assert np.diff(ticks).min() >= span / 8, ticks
    values = np.asarray(values, dtype=float)
    assert values.min() - lo >= 0.03 * span and hi - values.max() >= 0.03 * span


class TestReadableAccuracyAxes:
    """Accuracy axes stay readable whatever the values, and one test sample is not dramatic."""

    @pytest.mark.parametrize("final", [(0.95, 0.96), (1.0, 1.0), (0.5, 0.5), (0.0, 0.02)])
    def test_final_panel(self, final):
        """Test the final-accuracy axis: min span, few spaced ticks, markers inside the frame."""
        fig = plot_accuracy_comparison(close_run(final))
        ax = fig.axes[1]
        markers = [x for line in ax.get_lines() for x in line.get_xdata()]
        assert set(np.round(final, 6)) <= set(np.round(markers, 6))
        assert_readable_accuracy_axis(ax, "x", markers)
        labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
        assert len(labels) == len(set(labels))  # no two ticks print the same

    def test_one_sample_difference_has_overlapping_intervals(self):
        """Test that 0.95 vs 0.96 on 100 test samples have overlapping Wilson error bars.

        The axis label names the interval and the test-set size.
        """
        fig = plot_accuracy_comparison(close_run((0.95, 0.96)))
        ax = fig.axes[1]
        (lo_a, hi_a), (lo_b, hi_b) = wilson_interval(0.95, 100), wilson_interval(0.96, 100)
        assert lo_b < hi_a  # they overlap
        ends = {round(x, 6) for line in ax.get_lines() for x in line.get_xdata()}
        assert {round(v, 6) for v in (lo_a, hi_a, lo_b, hi_b)} <= ends  # the error-bar caps
        assert "Wilson" in ax.get_xlabel() and "100 test samples" in ax.get_xlabel()

    def test_wilson_interval(self):
        """Test the Wilson interval against its closed form's known values (scipy agrees)."""
        np.testing.assert_allclose(wilson_interval(0.95, 100), (0.888250, 0.978456), atol=1e-6)
        assert wilson_interval(1.0, 100)[1] == 1.0 and wilson_interval(0.0, 100)[0] < 1e-12

    def test_per_epoch_and_training_axes(self):
        """Test the per-epoch and training-curve accuracy axes the same way."""
        rows = close_run((0.95, 0.96), epochs=2)
        for fig, ax in ((plot_accuracy_comparison(rows), 0), (plot_training_curves(rows), 1)):
            assert_readable_accuracy_axis(fig.axes[ax], "y", rows["test_accuracy"])

    def test_titles_name_data_set_model_and_method(self):
        """Test that the default titles name the data set, the models and the method."""
        rows = close_run()
        for fig in (plot_accuracy_comparison(rows), plot_training_curves(rows)):
            title = fig.get_suptitle()
            for word in ("circles", "hybrid", "parameter-shift (1000 shots)", "classical"):
                assert word in title, title


class TestTrainingCurvesData:
    """The plotted values, read back from the lines, equal the table they were drawn from."""

    RUNS = ("backprop (exact)", PS_1000, "classical")

    @pytest.mark.parametrize("run", RUNS)
    @pytest.mark.parametrize(
        ("axes", "split", "column"),
        [
            (0, "train", "loss"),
            (0, "test", "test_loss"),
            (1, "train", "train_accuracy"),
            (1, "test", "test_accuracy"),
        ],
    )
    def test_lines_are_means_over_seeds(self, curves, run, axes, split, column):
        """Test that each line's y-data is its column's mean over seeds at every epoch."""
        want = mean_over_seeds(training_rows(), run, column)
        drawn = line(curves, axes, run, split)
        np.testing.assert_array_equal(drawn.get_xdata(), want.index.to_numpy())
        np.testing.assert_allclose(drawn.get_ydata(), want.to_numpy(), rtol=0, atol=1e-12)

    def test_markers_only_on_shot_runs(self):
        """Test that shot runs carry markers at every k-th epoch (at most 10), exact runs none."""
        fig = plot_training_curves(training_rows(epochs=40))
        for split in ("train", "test"):
            assert line(fig, 1, PS_1000, split).get_marker() == "o"
            assert line(fig, 1, PS_1000, split).get_markevery() == 4
            assert line(fig, 1, "backprop (exact)", split).get_marker() in (None, "None", "")


class TestAccuracyComparisonData:
    """The comparison figure plots test accuracy: per epoch, and each run's final epoch."""

    RUNS = ("backprop (exact)", PS_1000, "classical")

    @pytest.mark.parametrize("run", RUNS)
    def test_line_is_test_accuracy(self, comparison, run):
        """Test that the per-epoch line is the mean test accuracy over seeds (not train)."""
        want = mean_over_seeds(training_rows(), run, "test_accuracy")
        drawn = line(comparison, 0, run, "test")
        np.testing.assert_array_equal(drawn.get_xdata(), want.index.to_numpy())
        np.testing.assert_allclose(drawn.get_ydata(), want.to_numpy(), rtol=0, atol=1e-12)

    def test_final_markers_are_mean_final_test_accuracy(self, comparison):
        """Test that each run's diamond sits at its mean final test accuracy, in its own row."""
        ax = comparison.axes[1]
        ticks = [t.get_text() for t in ax.get_yticklabels()]
        points = {}
        for ln in ax.get_lines():
            if ln.get_marker() != "D":
                continue
            for x, y in zip(ln.get_xdata(), ln.get_ydata(), strict=True):
                if not np.isnan(x):
                    points[ticks[int(round(y))]] = x
        assert set(points) == set(self.RUNS)
        for run in self.RUNS:
            want = final_per_seed(training_rows(), run).mean()
            assert points[run] == pytest.approx(want, abs=1e-12)

    def test_seed_points_are_final_test_accuracies(self, comparison):
        """Test that the strip points are each seed's final test accuracy, in its run's row."""
        ax = comparison.axes[1]
        ticks = [t.get_text() for t in ax.get_yticklabels()]
        xs = {run: [] for run in self.RUNS}
        for collection in ax.collections:
            for x, y in collection.get_offsets():
                xs[ticks[int(round(y))]].append(x)
        for run in ("classical", PS_1000):  # two seeds each: drawn as points
            np.testing.assert_allclose(
                np.sort(xs[run]), final_per_seed(training_rows(), run), rtol=0, atol=1e-12
            )

    def test_error_bars_bracket_the_mean(self, comparison):
        """Test that each run's error bar is the 95% t-interval of its seeds' mean (n - 1 dof)."""
        ax = comparison.axes[1]
        ticks = [t.get_text() for t in ax.get_yticklabels()]
        caps: dict[str, list[float]] = {}
        for ln in ax.get_lines():  # error-bar caps: marker "|", one line per side
            if ln.get_marker() != "|":
                continue
            for x, y in zip(ln.get_xdata(), ln.get_ydata(), strict=True):
                caps.setdefault(ticks[int(round(y))], []).append(float(x))
        assert sorted(caps) == sorted(ticks)
        for run, ends in caps.items():
            seeds = final_per_seed(training_rows(), run)
            lo, hi = min(ends), max(ends)
            # closed form, independent of the library: mean +- t_{n-1, 0.975} s / sqrt(n)
            n = len(seeds)
            half = t_dist.ppf(0.975, n - 1) * seeds.std(ddof=1) / np.sqrt(n) if n > 1 else 0.0
            assert (lo, hi) == pytest.approx((seeds.mean() - half, seeds.mean() + half))


class TestScatterData:
    def test_dataset_points_are_the_table(self):
        """Test that the scattered positions are the table's (x0, x1), one per row."""
        points = dataset_points()
        fig = plot_dataset(points)
        drawn = np.concatenate([c.get_offsets() for c in fig.axes[0].collections])
        want = points[["x0", "x1"]].to_numpy()
        np.testing.assert_allclose(
            drawn[np.lexsort(drawn.T)], want[np.lexsort(want.T)], rtol=0, atol=1e-12
        )

    def test_boundary_contour_is_at_half(self):
        """Test that the p1 = 0.5 line lies on the circle where the grid's p1 crosses 0.5."""
        fig = plot_decision_boundary(boundary_grid(resolution=41), dataset_points())
        half = [c for c in fig.axes[0].collections if list(getattr(c, "levels", [])) == [0.5]]
        assert len(half) == 1
        vertices = np.concatenate([p.vertices for p in half[0].get_paths()])
        # p1 = sigmoid(10 (r - 0.5)): the crossing is r = 0.5, linear interpolation on a grid
        # of spacing 0.05 is off by far less than a spacing
        np.testing.assert_allclose(np.hypot(*vertices.T), 0.5, atol=0.01)


class TestDataAndBoundary:
    def test_pca_axes_are_principal_components(self):
        """Test that a PCA-reduced set's axes say principal component, and titles its name."""
        points = dataset_points().assign(dataset="wine", preprocessing="standardise+pca")
        for fig in (plot_dataset(points), plot_decision_boundary(boundary_grid(), points)):
            ax = fig.axes[0]
            assert ax.get_xlabel() == "principal component 1"
            assert ax.get_ylabel() == "principal component 2"
            assert "wine" in ax.get_title()
        raw = dataset_points().assign(dataset="circles", preprocessing="raw")
        assert plot_dataset(raw).axes[0].get_xlabel() == "feature x0"

    def test_dataset(self):
        """Test that the data set figure has one axes and names classes and splits."""
        fig = plot_dataset(dataset_points())
        assert len(fig.axes) == 1
        assert {"class 0", "class 1", "train", "test"} <= set(legend_texts(fig))
        assert fig.axes[0].get_xlabel() == "feature x0"

    def test_decision_boundary(self):
        """Test that the boundary figure has the map and a colour bar, title and 0.5 line."""
        fig = plot_decision_boundary(boundary_grid(), dataset_points(), title="Hybrid, backprop")
        assert len(fig.axes) == 2
        assert fig.axes[0].get_title() == "Hybrid, backprop"
        assert "P(class 1)" in fig.axes[1].get_ylabel()
        assert {"class 0", "class 1", "p1 = 0.5"} <= set(legend_texts(fig))

    def test_decision_boundary_on_scattered_grid(self):
        """Test that a grid that is not regular is drawn by triangulation."""
        grid = boundary_grid().sample(frac=0.7, random_state=0)
        assert len(plot_decision_boundary(grid, dataset_points()).axes) == 2


class TestSave:
    def test_writes_png_and_closes(self, tmp_path):
        """Test that save writes a non-empty PNG in new directories and clears the figure."""
        fig = plot_dataset(dataset_points())
        path = save(fig, tmp_path / "a" / "b" / "data.png")
        data = path.read_bytes()
        assert path == tmp_path / "a" / "b" / "data.png"
        assert len(data) > 1000
        assert data.startswith(b"\x89PNG\r\n\x1a\n")
        assert fig.axes == []

    def test_rejects_other_suffixes(self, tmp_path):
        """Test that save refuses a path that does not end in .png."""
        with pytest.raises(ValueError, match=r"\.png"):
            save(Figure(), tmp_path / "figure.svg")


class TestValidation:
    @pytest.mark.parametrize(
        ("plot", "frame", "column"),
        [
            (plot_training_curves, training_rows, "test_accuracy"),
            (plot_training_curves, training_rows, "shots"),
            (plot_accuracy_comparison, training_rows, "model"),
            (plot_dataset, dataset_points, "split"),
            (lambda grid: plot_decision_boundary(grid, dataset_points()), boundary_grid, "p1"),
            (lambda points: plot_decision_boundary(boundary_grid(), points), dataset_points, "x1"),
        ],
    )
    def test_missing_column(self, plot, frame, column):
        """Test that a missing column raises a ValueError naming it and the expected columns."""
        with pytest.raises(ValueError, match=rf"missing column\(s\) {column};.*expected columns"):
            plot(frame().drop(columns=column))

    def test_missing_columns_are_all_named(self):
        """Test that every missing column is named."""
        rows = training_rows().drop(columns=["epoch", "loss"])
        with pytest.raises(ValueError, match=r"missing column\(s\) epoch, loss;"):
            plot_training_curves(rows)

    def test_empty_rows(self):
        """Test that a table without rows raises a ValueError."""
        with pytest.raises(ValueError, match="no rows"):
            plot_training_curves(training_rows().iloc[:0])


class TestImports:
    def test_analysis_imports_nothing_of_torch_or_the_simulator(self):
        """Test that importing the analysis package loads neither torch nor other subpackages.

        The parent package is stubbed so that only ``qgradbench.analysis``'s own imports are
        checked: ``qgradbench/__init__.py`` itself imports the quantum layer.
        """
        code = textwrap.dedent(
            f"""
            import sys, types
            parent = types.ModuleType("qgradbench")
            parent.__path__ = [{str(ANALYSIS_DIR.parent)!r}]
            sys.modules["qgradbench"] = parent
            import qgradbench.analysis
            bad = sorted(
                name for name in sys.modules
                if name.split(".")[0] == "torch"
                or (name.startswith("qgradbench.") and not name.startswith("qgradbench.analysis"))
            )
            print(bad)
            sys.exit(1 if bad else 0)
            """
        )
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr

    def test_import_does_not_load_torch(self):
        """Test that `import qgradbench.analysis` in a fresh interpreter does not load torch."""
        code = "import sys, qgradbench.analysis; sys.exit(int('torch' in sys.modules))"
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr

    def test_source_imports_only_allowed_modules(self):
        """Test that no analysis module (even inside a function) imports torch or qgradbench."""
        for path in ANALYSIS_DIR.glob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom):
                    names = [node.module or ""]
                else:
                    continue
                for name in names:
                    assert name.split(".")[0] != "torch", f"{path.name} imports {name}"
                    if name.startswith("qgradbench"):
                        assert name.startswith("qgradbench.analysis"), f"{path.name}: {name}"
