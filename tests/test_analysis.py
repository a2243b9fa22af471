"""Analysis of suite runs: loaders, summaries with intervals, study figures, the report."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from qgradbench.analysis import study
from qgradbench.analysis.load import ResultsError, load
from qgradbench.analysis.report import build_report, write_report
from qgradbench.analysis.scaling import TWO_DESIGN_SLOPE, fit_models, slope_verdict
from qgradbench.analysis.stats import FINDING_COLUMNS, tie_text, untested_text
from qgradbench.analysis.summaries import (
    step_times,
)
from qgradbench.cli import main

BUDGETS = (10000, 100000, 1000000)
REFERENCE = Path(__file__).resolve().parents[1] / "results" / "default" / "reference"


@pytest.fixture
def run(smoke, tmp_path):
    """A private copy of the smoke run (reports write into it)."""
    return shutil.copytree(smoke, tmp_path / smoke.name)


def train_rows(
    accuracies: dict[tuple, list[float]], n_test: int = 100, validation: bool = False
) -> pd.DataFrame:
    """Two-epoch train rows: ``{(model, method, shots, n_layers): [final acc per seed]}``.

    With ``validation``, rows also carry ``lr`` and a ``val_accuracy`` equal to the test one.
    """
    rows = []
    for (model, method, shots, layers), finals in accuracies.items():
        for seed, acc in enumerate(finals):
            for epoch, value in ((1, acc / 2), (2, acc)):
                rows.append({
                    "dataset": "circles", "model": model, "method": method, "shots": shots,
                    "n_qubits": 4 if method else None, "n_layers": layers, "ansatz": None,
                    "seed": seed, "epoch": epoch, "loss": 1 - value, "train_accuracy": value,
                    "test_accuracy": value, "n_test": n_test, "forward_shots": 100 * epoch,
                    "backward_shots": 1000 if shots else 0, "forward_circuits": 10,
                    "backward_circuits": 20,
                })  # fmt: skip
                if validation:
                    rows[-1].update(lr=0.01, val_accuracy=value)
    return pd.DataFrame(rows).astype({"shots": "Int64", "n_layers": "Int64"})


class TestLoad:
    def test_loads_every_table_with_run_id_and_integers(self, smoke):
        """Test that load() returns the four tables, a run_id column and Int64 integers."""
        tables = load(smoke)
        assert set(tables) == {"train", "variance", "estimator", "runtime"}
        for frame in tables.values():
            assert frame.columns[0] == "run_id" and (frame["run_id"] == smoke.name).all()
            assert str(frame["task"].dtype) == "Int64"
        assert str(tables["train"]["shots"].dtype) == "Int64"

    def test_glob_concatenates_runs(self, smoke, tmp_path):
        """Test that a glob over two runs concatenates their rows, each with its run id."""
        for name in ("a", "b"):
            shutil.copytree(smoke, tmp_path / name)
        tables = load(str(tmp_path / "*"))
        single = load(smoke)
        assert len(tables["variance"]) == 2 * len(single["variance"])
        assert set(tables["variance"]["run_id"]) == {"a", "b"}

    def test_committed_references_load(self):
        """Test that the committed reference runs load, the default suite's with every table.

        Its report step wrote ``findings.parquet`` too, the report's conclusions as a table.
        """
        assert len(load("results/train/reference")["train"]) > 0
        tables = load("results/default/reference")
        assert set(tables) == {"train", "variance", "estimator", "runtime", "findings"}
        assert {"comparison", "p_adjusted", "verdict"} <= set(tables["findings"].columns)
        assert str(tables["train"]["shots"].dtype) == "Int64"

    def test_nothing_to_load(self, tmp_path):
        """Test that an empty directory raises a ResultsError naming it."""
        with pytest.raises(ResultsError, match="no run directory"):
            load(tmp_path)


class TestSummaries:
    def test_step_time_ratio(self, smoke):
        """Test that the fastest method at each size has ratio 1 and others >= 1."""
        times = step_times(load(smoke)["runtime"])
        for _, group in times.groupby(["n_qubits", "n_layers", "batch"]):
            assert group["ratio_to_fastest"].min() == pytest.approx(1.0)


def _noisy_curve(variance, rel_se=0.05, seed=0):
    """Points with 5% relative standard errors and that much Gaussian noise."""
    n = np.array([2, 4, 6, 8, 10])
    true = variance(n)
    rng = np.random.default_rng(seed)
    se = rel_se * true
    return pd.DataFrame({"n_qubits": n, "variance": true + rng.normal(0, se), "variance_se": se})


class TestModelFits:
    def test_power_law_data_prefer_the_power_law(self):
        """Test that Var = 0.3 n^-2 with 5% noise is a power law with exponent -2 within 3 se."""
        fits = fit_models(_noisy_curve(lambda n: 0.3 * n**-2.0))
        assert fits.preferred == "power law"
        assert abs(fits.power_law.slope + 2) < 3 * fits.power_law.scaled_se
        assert fits.exponential.chi2_dof > 5  # the wrong model fits badly

    def test_exponential_data_prefer_the_exponential(self):
        """Test that Var = 2^-n with 5% noise is exponential with ln-slope -ln 2 within 3 se."""
        fits = fit_models(_noisy_curve(lambda n: 2.0**-n, seed=1))
        assert fits.preferred == "exponential"
        assert abs(fits.exponential.slope - TWO_DESIGN_SLOPE) < 3 * fits.exponential.scaled_se

    def test_chi2_and_scaled_error(self):
        """Test that chi2 sums squared weighted residuals and se scales by sqrt(chi2/dof)."""
        frame = _noisy_curve(lambda n: 0.3 * n**-2.0, seed=2)
        fit = fit_models(frame).exponential
        sigma = frame["variance_se"] / frame["variance"]
        resid = np.log(frame["variance"]) - fit.slope * frame["n_qubits"] - fit.intercept
        assert fit.chi2 == pytest.approx(float(((resid / sigma) ** 2).sum()))
        assert fit.scaled_se == pytest.approx(fit.slope_se * np.sqrt(fit.chi2 / 3))

    def test_verdict_flips_at_five_sigma(self):
        """Test that a slope 5 se off the 2-design value differs, one 1 se off is consistent."""
        se = 0.01
        assert slope_verdict(TWO_DESIGN_SLOPE + 1 * se, se).text.startswith("consistent")
        off = slope_verdict(TWO_DESIGN_SLOPE + 5 * se, se)
        assert off.text.startswith("differs") and off.z == pytest.approx(5.0)
        assert off.p_value == pytest.approx(5.733e-7, rel=1e-3)  # erfc(5 / sqrt 2)
        fits = fit_models(_noisy_curve(lambda n: np.exp((TWO_DESIGN_SLOPE + 0.1) * n), 0.02))
        fit = fits.exponential
        assert slope_verdict(fit.slope, fit.scaled_se).text.startswith("differs")


def texts(ax) -> list[str]:
    """Legend entries of an axis."""
    legend = ax.get_legend()
    return [t.get_text() for t in legend.get_texts()] if legend else []


class TestFigures:
    @pytest.mark.parametrize(
        "plot, table, xlabel, title",
        [
            (study.plot_runtime, "runtime", "qubits", "Runtime"),
        ],
    )
    def test_figures_on_smoke(self, smoke, tmp_path, plot, table, xlabel, title):
        """Test each study figure on the smoke run: labels, title, legend, a non-empty PNG."""
        fig = plot(load(smoke)[table])
        ax = fig.axes[0]
        assert ax.get_xlabel() == xlabel and title in ax.get_title()
        assert ax.get_ylabel() and texts(ax)
        from qgradbench.analysis import save

        path = save(fig, tmp_path / "f.png")
        assert path.stat().st_size > 5000


class TestReport:
    def test_report_writes_markdown_html_and_figures(self, run, capsys):
        """Test that `qgradbench report` writes report.md, report.html and every figure."""
        assert main(["report", str(run)]) == 0
        out = capsys.readouterr().out
        for name in ("report.md", "report.html", "figures/variance.png", "figures/runtime.png"):
            assert (run / name).exists() and f"wrote {run / name}" in out
        html = (run / "report.html").read_text()
        assert html.count("data:image/png;base64,") == len(list((run / "figures").glob("*.png")))
        md = (run / "report.md").read_text()
        assert "## Gradient variance" in md and "torch version" in md

    def test_readings_follow_the_data(self):
        """Test that the report's sentences change when the numbers change."""
        import tempfile
        from pathlib import Path

        readings = []
        for accuracy in (0.81, 0.93):
            rows = train_rows({
                ("hybrid", "parameter-shift", 1000, 2): [accuracy] * 3,
                ("classical", None, None, None): [0.85] * 3,
            }, validation=True)  # fmt: skip
            with tempfile.TemporaryDirectory() as folder:
                rows.to_parquet(Path(folder) / "train.parquet")
                readings.append(build_report(folder, target=0.9).readings())
        assert readings[0] != readings[1]
        assert any("0.810" in r for r in readings[0]) and any("0.930" in r for r in readings[1])
        reached = "hybrid configurations had half their seeds reach 0.90 validation accuracy"
        assert any(f"0 of 1 {reached}" in r for r in readings[0])
        assert any(f"1 of 1 {reached}" in r for r in readings[1])
        chosen = "Learning rate per configuration, chosen on validation"
        assert any(chosen in r for r in readings[1])

    def test_without_validation_the_report_says_so(self):
        """Test that a table without val columns is reported with a note, no selection."""
        import tempfile

        rows = train_rows({
            ("hybrid", "parameter-shift", 1000, 2): [0.9] * 3,
            ("classical", None, None, None): [0.85] * 3,
        })  # fmt: skip
        with tempfile.TemporaryDirectory() as folder:
            rows.to_parquet(Path(folder) / "train.parquet")
            readings = " ".join(build_report(folder, target=0.9).readings())
        assert "This run has no validation split" in readings
        assert "chosen on validation" not in readings
        assert "validation accuracy, survival" not in readings

    def test_findings_are_written_and_ties_reported_as_ties(self, tmp_path, capsys):
        """Test that findings.parquet finds a planted 5-point gain and calls equal runs ties."""
        rng = np.random.default_rng(5)
        base = rng.normal(0.80, 0.02, 10)
        exact = base + np.random.default_rng(6).normal(0, 0.02, 10)  # no effect, own noise
        rows = train_rows({
            ("hybrid", "parameter-shift", 1000, 2): list(base + 0.05 + rng.normal(0, 0.02, 10)),
            ("hybrid", "spsa", 1000, 2): list(base + rng.normal(0, 0.02, 10)),
            ("hybrid", "backprop", None, 2): list(exact),
            ("hybrid", "adjoint", None, 2): list(exact),
            ("classical", None, None, None): list(base),
        })  # fmt: skip
        rows.to_parquet(tmp_path / "train.parquet")
        assert main(["report", str(tmp_path), "--format", "md"]) == 0
        assert f"wrote {tmp_path / 'findings.parquet'}" in capsys.readouterr().out
        findings = pd.read_parquet(tmp_path / "findings.parquet")
        assert tuple(findings.columns) == FINDING_COLUMNS
        family = "hybrid minus classical (test accuracy)"
        versus = findings[findings["family"] == family].set_index("comparison")
        verdicts = {
            c.split(",")[0].removeprefix("hybrid "): v for c, v in versus["verdict"].items()
        }
        # backprop and adjoint trained identically: one configuration naming both
        assert verdicts == {
            "parameter-shift": "above classical",
            "spsa": tie_text(0.95),
            "adjoint = backprop": tie_text(0.95),
        }
        md = (tmp_path / "report.md").read_text()
        assert "1 above the classical baseline, 0 below, 2 ties" in md
        assert "t-interval over 10 seeds" in md
        samples = findings[findings["family"] == "hybrid minus classical (test samples)"]
        np.testing.assert_allclose(samples["estimate"], 100 * versus["estimate"].to_numpy())
        # the conclusions name the one called comparison and count the rest as ties
        conclusions = md[md.index("## Conclusions") :]
        line = next(x for x in conclusions.split("\n\n") if x.startswith(family))
        assert line.startswith(f"{family}: 1 of 3 called, 2 ties. hybrid parameter-shift")
        assert line.endswith("(above classical).") and "spsa" not in line

    def test_one_seed_is_untested_not_a_tie(self, tmp_path):
        """Test that comparisons of one seed (no test possible) are 'untested', never ties."""
        rows = train_rows({
            ("hybrid", "parameter-shift", 1000, 2): [0.95],
            ("classical", None, None, None): [0.80],
        })  # fmt: skip
        rows.to_parquet(tmp_path / "train.parquet")
        report = build_report(tmp_path)
        table = report.findings_table()
        versus = table[table["family"].str.startswith("hybrid minus")]
        assert len(versus) and (versus["verdict"] == untested_text()).all()
        readings = " ".join(report.readings())
        assert "0 below, 0 ties (no difference after correction), 1 untested" in readings
        assert "nothing can be claimed; 1 untested (no test possible)" in readings

    def test_reference_report_is_honest(self, tmp_path):
        """Test that the reference report claims no hybrid gain, a power law and 3-way MSE ties.

        The two calls against the matched baseline are losses, both SPSA's.
        """
        run = shutil.copytree(REFERENCE, tmp_path / "reference")
        readings = " ".join(build_report(run).readings())
        assert "0 above the classical-matched baseline, 2 below, 10 ties" in readings
        assert "hybrid minus classical-matched (test accuracy): 2 of 12 called, 10 ties" in readings
        for data in ("breast-cancer", "hyperplanes"):
            assert f"spsa, 1000 shots, 2 layers minus classical-matched on {data}" in readings
        assert "95% confidence" not in readings
        assert "the data prefer the power law" in readings  # local-z: n^-2.0 at depth 1
        assert "consistent with -0.693 within 1.96 sigma" in readings  # McClean's zz slope
        lowest = [f"At {b} shots per Jacobian the lowest mean MSE is" for b in BUDGETS]
        assert all(sentence in readings for sentence in lowest)
        assert readings.count("tied (paired over circuits, Holm) with") >= 3
        assert "Bias against the noise floor" in readings and "consistent with 0 for 15" in readings
        assert "no difference can be claimed; all 3 comparisons are ties" in readings  # cancer

    def test_no_results_is_exit_2(self, tmp_path, capsys):
        """Test that a directory without results is one line and exit code 2."""
        assert main(["report", str(tmp_path)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "no results" in err

    def test_corrupt_table_is_exit_2(self, run, capsys):
        """Test that a corrupt Parquet file is named in one line, exit code 2."""
        (run / "variance.parquet").write_bytes(b"PAR1 not really")
        assert main(["report", str(run)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "variance.parquet: not a readable Parquet table" in err

    def test_running_run_warns_and_reports(self, run, capsys):
        """Test that a run still marked running gets a warning and a report of what is done."""
        import json

        meta = json.loads((run / "metadata.json").read_text())
        (run / "metadata.json").write_text(json.dumps({**meta, "status": "running"}))
        assert main(["report", str(run), "--format", "md"]) == 0
        assert "warning:" in capsys.readouterr().err
        assert (run / "report.md").exists() and not (run / "report.html").exists()

    def test_formats_are_checked(self, run):
        """Test that an unknown format is refused."""
        with pytest.raises(ValueError, match="unknown report format 'pdf'"):
            write_report(run, ("pdf",))
