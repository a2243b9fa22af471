"""The command line: listings, one way to start a run, the report step, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from qgradbench.cli import EXIT_REPORT, build_parser, main
from qgradbench.methods import names


def test_methods_lists_every_method(capsys):
    """Test that `qgradbench methods` lists every registered method with its properties."""
    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    for name in names():
        assert name in out
    assert "parameter-shift  hardware   yes" in out


def test_unknown_command_is_one_line_exit_2(capsys):
    """Test that an unknown command exits with 2 and one line on stderr."""
    assert main(["frobnicate"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "frobnicate" in err


def test_console_script_no_traceback():
    """Test that the installed module entry point answers bad input without a traceback."""
    proc = subprocess.run(
        [sys.executable, "-m", "qgradbench.cli", "nope"], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1


# ------------------------------------------------------------------ one way to start a run
TINY = """
suite: tiny
experiments:
  - experiment: train
    label: hybrid
    settings: {n_samples: 40, epochs: 2, n_layers: 1, n_qubits: 2, n_features: 2}
    grid: {method: [backprop]}
  - experiment: train
    label: classical
    settings: {n_samples: 40, epochs: 2, model: classical, n_features: 2}
"""

#: The run's own files, listed before the report's.
RUN_FILES = ("train.parquet", "metadata.json", "log.txt")


def tiny_suite(tmp_path: Path, *extra: str) -> tuple[list[str], Path]:
    """The argv of a run of the tiny suite (two one-second training runs) and its results."""
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    out = tmp_path / "results"
    argv = ["run", "suite", str(path), "--out", str(out), "--workers", "1", "--threads", "1",
            "--quiet", *extra]  # fmt: skip
    return argv, out


def only_run(out: Path) -> Path:
    """The run directory of the tiny suite under ``out``."""
    (run,) = list((out / "tiny").iterdir())
    return run


def written(stdout: str) -> list[str]:
    """The paths of the "wrote PATH[ (N rows)]" lines, in order."""
    return [
        line.removeprefix("wrote ").split(" (")[0]
        for line in stdout.splitlines()
        if line.startswith("wrote ")
    ]


class TestReportStep:
    """`run suite` ends with the report; --no-report skips it; a failing report keeps tables."""

    def test_suite_writes_the_report_and_lists_every_file(self, tmp_path, capsys):
        """Test that run suite writes report.md/html, findings and figures and lists them all."""
        argv, out = tiny_suite(tmp_path)
        assert main(argv) == 0
        stdout = capsys.readouterr().out
        run = only_run(out)
        for name in ("report.md", "report.html", "findings.parquet"):
            assert (run / name).is_file(), name
        assert list((run / "figures").glob("*.png"))
        listed = written(stdout)
        assert listed[:3] == [str(run / name) for name in RUN_FILES]
        on_disk = {str(p) for p in run.rglob("*") if p.is_file()}
        assert set(listed) == on_disk and len(listed) == len(on_disk)
        assert stdout.splitlines()[-1] == f"complete: 2 runs in {run}"

    def test_no_report(self, tmp_path, capsys):
        """Test that --no-report writes the run's files only."""
        argv, out = tiny_suite(tmp_path, "--no-report")
        assert main(argv) == 0
        run = only_run(out)
        assert sorted(p.name for p in run.iterdir()) == sorted(RUN_FILES)
        assert written(capsys.readouterr().out) == [str(run / name) for name in RUN_FILES]

    def test_failing_report_keeps_the_tables_and_exits_3(self, tmp_path, capsys, monkeypatch):
        """Test that a report error is one line, exit 3, tables kept; `report` renders it."""
        import qgradbench.analysis.report as report

        def broken(run_dir, *args, **kwargs):
            raise RuntimeError("no colours left")

        monkeypatch.setattr(report, "write_report", broken)
        argv, out = tiny_suite(tmp_path)
        assert main(argv) == EXIT_REPORT == 3
        captured = capsys.readouterr()
        run = only_run(out)
        assert captured.err.count("\n") == 1 and captured.err.startswith("qgradbench: error: ")
        assert "no colours left" in captured.err and f"qgradbench report {run}" in captured.err
        assert len(pd.read_parquet(run / "train.parquet")) == 4
        assert json.loads((run / "metadata.json").read_text())["status"] == "complete"

        def stand_in(run_dir, *args, **kwargs):
            (Path(run_dir) / "report.md").write_text("# report\n")
            return [Path(run_dir) / "report.md"]

        monkeypatch.setattr(report, "write_report", stand_in)
        assert main(["report", str(run)]) == 0  # what the error line says to run
        assert (run / "report.md").read_text() == "# report\n"


class TestSingleRuns:
    """run train/variance/estimator/runtime go through the suite runner."""

    def test_report_of_a_complete_run_is_written_on_request(self, tmp_path, capsys, monkeypatch):
        """Test that --report on a complete run without a report writes it, running nothing."""
        import qgradbench.analysis.report as report

        calls = []

        def stand_in(run_dir, *args, **kwargs):
            calls.append(Path(run_dir))
            (Path(run_dir) / "report.md").write_text("# report\n")
            return [Path(run_dir) / "report.md"]

        monkeypatch.setattr(report, "write_report", stand_in)
        argv = ["run", "variance", "--qubits", "2", "--layers", "1", "--samples", "20", "--quiet",
                "--out", str(tmp_path)]  # fmt: skip
        assert main(argv) == 0 and calls == []
        log = (tmp_path / "log.txt").read_text()
        assert main([*argv, "--report"]) == 0 and calls == [tmp_path]
        out = capsys.readouterr().out
        assert "already complete" in out and f"wrote {tmp_path / 'report.md'}" in out
        assert (tmp_path / "log.txt").read_text() == log  # nothing ran again
        assert main([*argv, "--report"]) == 0 and calls == [tmp_path]  # nothing left to do

    def test_single_run_metadata_has_the_suite_keys(self, tmp_path, capsys):
        """Test that a single run's metadata.json has the keys of a suite run's, and its kind."""
        argv, out = tiny_suite(tmp_path, "--no-report")
        assert main(argv) == 0
        suite_meta = json.loads((only_run(out) / "metadata.json").read_text())
        single = tmp_path / "single"
        argv = ["run", "variance", "--qubits", "2", "--layers", "1", "--samples", "20",
                "--quiet", "--out", str(single)]  # fmt: skip
        assert main(argv) == 0
        meta = json.loads((single / "metadata.json").read_text())
        assert set(meta) == set(suite_meta)
        assert (meta["kind"], suite_meta["kind"]) == ("experiment", "suite")
        assert meta["suite"] == "variance" and meta["experiments"] == ["variance"]
        assert meta["rows"] == {"variance": 1} and meta["tables"] == ["variance.parquet"]
        assert (single / "log.txt").is_file()

    def test_variance_depth_rule_ties_layers_to_qubits(self, tmp_path, capsys):
        """Test that run variance --depth log gives ceil(log2 n) layers per qubit count."""
        out = tmp_path / "depth"
        argv = ["run", "variance", "--qubits", "2", "5", "--depth", "log", "linear",
                "--samples", "4", "--quiet", "--no-report", "--out", str(out)]  # fmt: skip
        assert main(argv) == 0
        rows = pd.read_parquet(out / "variance.parquet")
        got = sorted(zip(rows.n_qubits, rows.depth, rows.n_layers, strict=True))
        assert got == [(2, "linear", 2), (2, "log", 1), (5, "linear", 5), (5, "log", 3)]

    def test_interrupted_training_resumes_from_the_start(self, tmp_path, capsys, monkeypatch):
        """Test that an interrupt keeps finished epochs and a rerun replaces them, no duplicate."""
        from qgradbench.suite.runner import RunState

        real, calls = RunState.add_partial, []

        def record_then_interrupt(self, task, row):
            first = real(self, task, row)
            calls.append(1)
            if len(calls) == 2:
                raise KeyboardInterrupt
            return first

        argv = ["run", "train", "--model", "classical", "--epochs", "4", "--samples", "40",
                "--quiet", "--out", str(tmp_path)]  # fmt: skip
        with monkeypatch.context() as patch:
            patch.setattr(RunState, "add_partial", record_then_interrupt)
            assert main(argv) == 130
        meta = json.loads((tmp_path / "metadata.json").read_text())
        assert meta["status"] == "interrupted" and meta["interrupted_by"] == "SIGINT"
        assert meta["unfinished_tasks"][0]["rows"] == 2
        assert list(pd.read_parquet(tmp_path / "train.parquet")["epoch"]) == [1, 2]
        assert main(argv) == 0
        assert "resuming" in capsys.readouterr().out
        meta = json.loads((tmp_path / "metadata.json").read_text())
        assert meta["status"] == "complete" and meta["unfinished_tasks"] == []
        assert list(pd.read_parquet(tmp_path / "train.parquet")["epoch"]) == [1, 2, 3, 4]

    def test_plots_is_report_for_every_single_run(self, capsys):
        """Test that every single-experiment command accepts --report, --no-report and --plots."""
        for experiment in ("train", "variance", "estimator", "runtime"):
            for flag, value in (("--report", True), ("--no-report", False), ("--plots", True)):
                args = build_parser().parse_args(["run", experiment, flag])
                assert args.report is value, (experiment, flag)
            assert build_parser().parse_args(["run", experiment]).report is False
        assert build_parser().parse_args(["run", "suite"]).report is True


class TestErrorLines:
    """Every error is one stderr line, exit code 2, prefixed 'qgradbench: error: '."""

    @pytest.mark.parametrize(
        "argv, fragment",
        [
            (["frobnicate"], "frobnicate"),
            (["run", "train", "--method", "magic"], "run train: argument --method"),
            (["run", "train", "--epochs", "0"], "epochs must be an integer >= 1"),
            (["run", "train", "--label", "y"], "--label goes with --data"),
            (["run", "variance", "--samples", "5"], "give one of --layers, --layers-per-qubit"),
            (["run", "suite", "nonexistent"], "built-in: default, full, smoke"),
            (["run", "suite", "smoke", "--address", "x"], "--address goes with --executor ray"),
            (["report", "/nonexistent/run"], "not a directory"),
        ],
    )
    def test_one_prefixed_line_exit_2(self, argv, fragment, capsys, tmp_path, monkeypatch):
        """Test that bad input gives exit 2 and one line 'qgradbench: error: ...'."""
        monkeypatch.chdir(tmp_path)  # nothing may be written, even by accident
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("qgradbench: error: "), err
        assert fragment in err, err
        assert not any(tmp_path.iterdir())

    def test_existing_run_names_overwrite(self, tmp_path, capsys):
        """Test that a single run into another run's directory is refused in one prefixed line."""
        argv = ["run", "variance", "--qubits", "2", "--layers", "1", "--samples", "20", "--quiet",
                "--out", str(tmp_path)]  # fmt: skip
        assert main(argv) == 0
        capsys.readouterr()
        assert main([*argv[:-3], "--samples", "30", "--quiet", "--out", str(tmp_path)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("qgradbench: error: --out ") and "--overwrite" in err
        assert err.count("\n") == 1
