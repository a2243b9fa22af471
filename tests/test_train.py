"""The training experiment and `qgradbench run train`."""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import torch

from qgradbench.cli import main
from qgradbench.experiments import TrainSpec, iter_train, train
from qgradbench.suite.runs import run_train

TIMES = ["time_forward", "time_backward", "time_step", "time_eval", "time_epoch"]


def without_times(rows):
    return [{k: v for k, v in row.items() if k not in TIMES} for row in rows]


@pytest.fixture(scope="module")
def notebook_backprop():
    """The seed notebook's setting: circles, 4 qubits, 2 layers, hidden 16, Adam 0.01, batch 32."""
    return train(TrainSpec(method="backprop", epochs=50, seed=0))


@pytest.fixture(scope="module")
def with_baseline(tmp_path_factory):
    """A run directory: parameter-shift at 20 shots with its classical baseline, one epoch."""
    out = tmp_path_factory.mktemp("with_baseline")
    spec = TrainSpec(method="parameter-shift", shots=20, epochs=1, n_samples=40)
    run_train(spec, out, plots=True)
    return out


class TestNotebookSetting:
    """The notebook's run, for real."""

    def test_hybrid_backprop_reaches_90_percent(self, notebook_backprop):
        """Test that the hybrid model with backprop reaches test accuracy >= 0.9 in 50 epochs."""
        assert len(notebook_backprop) == 50
        assert notebook_backprop[-1]["test_accuracy"] >= 0.9

    def test_classical_reaches_90_percent(self):
        """Test that the classical baseline reaches test accuracy >= 0.9 in 50 epochs."""
        rows = train(TrainSpec(model="classical", epochs=50, seed=0))
        assert rows[-1]["test_accuracy"] >= 0.9
        assert rows[-1]["forward_circuits"] == 0 and rows[-1]["method"] is None

    @pytest.mark.slow
    def test_parameter_shift_1000_shots_reaches_85_percent(self):
        """Test that parameter-shift with 1000 shots per circuit reaches >= 0.85."""
        rows = train(TrainSpec(method="parameter-shift", shots=1000, epochs=50, seed=0))
        assert rows[-1]["test_accuracy"] >= 0.85
        # 28 rotations (24 weights + 4 encodings): 56 circuits of 1000 shots per sample, on
        # the 320 samples left after the validation split (80 of the 400).
        assert rows[-1]["backward_circuits"] == 320 * 56
        assert rows[-1]["backward_shots"] == 320 * 56 * 1000

    def test_rows(self, notebook_backprop):
        """Test that rows carry parameters, metrics, costs and times as flat columns."""
        row = notebook_backprop[0]
        assert row["epoch"] == 1 and row["dataset"] == "circles" and row["n_qubits"] == 4
        assert (row["n_train"], row["n_val"], row["n_test"]) == (320, 80, 100)
        assert row["n_params"] == 286 and row["val_size"] == 0.2
        assert row["forward_circuits"] == 320 and row["backward_circuits"] == 0
        assert row["eval_circuits"] == 500
        assert all(row[t] >= 0 for t in TIMES)
        assert row["time_epoch"] >= row["time_forward"] + row["time_backward"] + row["time_step"]
        assert 0 < row["loss"] < 2 and 0 <= row["test_accuracy"] <= 1


class TestReproducibility:
    """Seeds fix data, initialisation, batches and shots."""

    @pytest.mark.parametrize("method,shots", [("backprop", None), ("spsa", 100)])
    def test_same_seed_same_rows(self, method, shots):
        """Test that the same seed gives identical rows, wall times aside."""
        spec = TrainSpec(method=method, shots=shots, epochs=3, seed=4)
        assert without_times(train(spec)) == without_times(train(spec))

    def test_different_seed_different_rows(self):
        """Test that different seeds give different rows."""
        a = train(TrainSpec(epochs=2, seed=1))
        b = train(TrainSpec(epochs=2, seed=2))
        assert [r["loss"] for r in a] != [r["loss"] for r in b]


class TestBadInput:
    """Bad input: ValueError in the library, exit code 2 and one line in the CLI."""

    @pytest.mark.parametrize(
        "kwargs,match",
        [
            ({"dataset": "mnist"}, "unknown data set 'mnist'.*circles"),
            ({"model": "quantum"}, "unknown model 'quantum'.*hybrid, classical"),
            ({"epochs": 0}, "epochs must be an integer >= 1, got 0"),
            ({"batch_size": 0}, "batch_size must be an integer >= 1, got 0"),
            ({"dataset": "iris", "n_features": 9}, "n_features .*'iris'.*4 features.*got 9"),
            ({"lr": -1.0}, "lr must be a positive number, got -1.0"),
            ({"method": "magic"}, "unknown diff_method 'magic'"),
        ],
    )
    def test_library(self, kwargs, match):
        """Test that a bad spec raises a ValueError naming the value when the run is set up."""
        with pytest.raises(ValueError, match=match):
            iter_train(TrainSpec(**kwargs))

    @pytest.mark.parametrize(
        "argv,match",
        [
            (["--dataset", "mnist"], "--dataset: invalid choice: 'mnist'.*'circles'"),
            (["--model", "quantum"], "--model: invalid choice: 'quantum'.*'hybrid'"),
            (["--method", "magic"], "--method: invalid choice: 'magic'.*'parameter-shift'"),
            (["--ansatz", "qaoa"], "--ansatz: invalid choice: 'qaoa'.*'basic-entangler'"),
            (["--epochs", "0"], "epochs must be an integer >= 1, got 0"),
            (["--batch-size", "0"], "batch_size must be an integer >= 1, got 0"),
            (["--dataset", "wine", "--features", "99"], "n_features .*'wine'"),
            (["--shots", "many"], "shots must be a positive integer or 'exact'"),
            (["--shots", "0", "--method", "spsa"], "shots must be None .*got 0"),
            (["--option", "oops"], "expected KEY=VALUE"),
        ],
    )
    def test_cli(self, argv, match, tmp_path, capsys):
        """Test that the CLI answers bad arguments with exit code 2 and one line on stderr."""
        assert main(["run", "train", "--out", str(tmp_path / "run"), *argv]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1
        assert pytest.importorskip("re").search(match, err), err
        assert not (tmp_path / "run").exists()  # nothing written for a rejected run

    def test_out_is_a_file(self, tmp_path, capsys):
        """Test that an output directory that is a file is rejected in one line."""
        target = tmp_path / "file"
        target.write_text("x")
        assert main(["run", "train", "--epochs", "1", "--out", str(target)]) == 2
        assert "exists and is a file" in capsys.readouterr().err
        with pytest.raises(ValueError, match="exists and is a file"):
            run_train(TrainSpec(epochs=1), target)


class TestRunDirectory:
    """What `qgradbench run train` writes."""

    def test_table_and_metadata(self, tmp_path):
        """Test that the CLI writes a Parquet table and metadata with config and versions."""
        out = tmp_path / "run"
        argv = ["run", "train", "--epochs", "2", "--method", "parameter-shift", "--shots", "50"]
        assert main([*argv, "--option", "shift=1.2", "--out", str(out)]) == 0
        table = pd.read_parquet(out / "train.parquet")
        assert len(table) == 2 and list(table["epoch"]) == [1, 2]
        assert set(table["method"]) == {"parameter-shift"} and set(table["shots"]) == {50}
        assert table["method_options"].iloc[0] == "{'shift': 1.2}"
        meta = json.loads((out / "metadata.json").read_text())
        assert meta["status"] == "complete" and meta["rows"] == {"train": 2}
        assert meta["config"]["runs"][0]["method_options"] == {"shift": 1.2}
        assert meta["versions"]["torch"] and meta["started"] <= meta["finished"]
        assert meta["command"] == "qgradbench " + " ".join(
            [*argv, "--option", "shift=1.2", "--out", str(out)]
        )
        assert meta["machine"]["cpu_model"] and meta["machine"]["torch_threads"] >= 1

    def test_integer_columns_read_back_as_integers(self, with_baseline, tmp_path):
        """Test that shots, n_qubits, n_layers stay integers (nullable Int64) next to nulls."""
        table = pd.read_parquet(with_baseline / "train.parquet")
        for column in ("shots", "n_qubits", "n_layers"):
            assert str(table[column].dtype) == "Int64", column
        assert table["shots"].tolist()[0] == 20 and table["shots"].isna().tolist() == [False, True]
        exact = tmp_path / "exact"
        run_train(TrainSpec(epochs=1, n_samples=40), exact)
        assert str(pd.read_parquet(exact / "train.parquet")["shots"].dtype) == "Int64"

    def test_metadata_nulls_quantum_settings_of_classical_runs(self, with_baseline):
        """Test that metadata.json's config of the classical baseline has no quantum settings."""
        meta = json.loads((with_baseline / "metadata.json").read_text())
        hybrid, classical = meta["config"]["runs"]
        assert hybrid["method"] == "parameter-shift" and hybrid["shots"] == 20
        assert classical["model"] == "classical"
        for key in ("method", "shots", "n_qubits", "n_layers", "ansatz", "method_options"):
            assert classical.get(key) is None, key

    def test_existing_run_is_refused(self, tmp_path, capsys):
        """Test that a run into a directory holding another run exits 2 and changes nothing."""
        argv = ["run", "train", "--model", "classical", "--samples", "40", "--out", str(tmp_path)]
        assert main([*argv, "--epochs", "3", "--plots"]) == 0
        before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")}
        capsys.readouterr()
        assert main([*argv, "--epochs", "1"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "--overwrite" in err and "metadata.json" in err
        assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")} == before
        assert len(pd.read_parquet(tmp_path / "train.parquet")) == 3

    def test_overwrite_clears_the_old_outputs_only(self, tmp_path):
        """Test that --overwrite removes the old tables, metadata and figures, nothing else."""
        argv = ["run", "train", "--model", "classical", "--samples", "40", "--out", str(tmp_path)]
        (tmp_path / "figures").mkdir()
        (tmp_path / "figures" / "old.png").write_bytes(b"")
        (tmp_path / "other.parquet").write_bytes(b"")
        (tmp_path / "notes.txt").write_text("mine")
        assert main([*argv, "--epochs", "1"]) == 2
        assert main([*argv, "--epochs", "2", "--overwrite"]) == 0
        assert sorted(p.name for p in tmp_path.iterdir()) == [
            "log.txt", "metadata.json", "notes.txt", "train.parquet",
        ]  # fmt: skip
        assert json.loads((tmp_path / "metadata.json").read_text())["rows"] == {"train": 2}

    def test_prepare_run_dir(self, tmp_path):
        """Test the store's check: empty or unrelated directories pass, runs need overwrite."""
        from qgradbench.suite.store import RunExistsError, prepare_run_dir

        assert prepare_run_dir(tmp_path / "new") == tmp_path / "new"
        (tmp_path / "new" / "readme.txt").write_text("x")
        prepare_run_dir(tmp_path / "new")
        (tmp_path / "new" / "metadata.json").write_text("{}")
        with pytest.raises(RunExistsError, match="holds another run"):
            prepare_run_dir(tmp_path / "new")
        prepare_run_dir(tmp_path / "new", overwrite=True)
        assert [p.name for p in (tmp_path / "new").iterdir()] == ["readme.txt"]

    def test_interrupted_run_keeps_finished_epochs(self, tmp_path):
        """Test that an interrupt after two epochs leaves both rows and status 'interrupted'."""
        seen = []

        def interrupt(row):
            seen.append(row)
            if len(seen) == 2:
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            run_train(TrainSpec(epochs=5), tmp_path, on_row=interrupt)
        assert len(pd.read_parquet(tmp_path / "train.parquet")) == 2
        meta = json.loads((tmp_path / "metadata.json").read_text())
        assert meta["status"] == "interrupted" and meta["rows"] == {"train": 2}

    def test_plots(self, tmp_path):
        """Test that --plots trains the classical baseline too and writes the report."""
        pytest.importorskip("qgradbench.analysis.figures")
        assert main(["run", "train", "--epochs", "2", "--plots", "--out", str(tmp_path)]) == 0
        table = pd.read_parquet(tmp_path / "train.parquet")
        assert list(table["model"]) == ["hybrid"] * 2 + ["classical"] * 2
        assert (tmp_path / "report.md").is_file() and (tmp_path / "report.html").is_file()
        pngs = {p.stem: p for p in (tmp_path / "figures").glob("*.png")}
        assert {"dataset", "decision_boundary"} < set(pngs)  # and the report's figures
        for png in pngs.values():
            assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    def test_console_script(self, tmp_path):
        """Test that the installed command runs quietly (no progress bar) when not on a TTY."""
        proc = subprocess.run(
            [sys.executable, "-m", "qgradbench.cli", "run", "train", "--epochs", "1",
             "--model", "classical", "--out", str(tmp_path)],
            capture_output=True, text=True,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        assert proc.stderr == "" and "train.parquet" in proc.stdout


class TestHelp:
    """`run train --help` says what each option accepts and its default."""

    def test_help_lists_choices_and_defaults(self, capsys):
        """Test that the help lists methods, data sets, ansatzes, models and their defaults."""
        from qgradbench.circuits import ANSATZES
        from qgradbench.datasets import names as dataset_names
        from qgradbench.experiments.train import MODELS
        from qgradbench.methods import names as method_names

        with pytest.raises(SystemExit) as exit_:
            main(["run", "train", "--help"])
        assert exit_.value.code == 0
        text = " ".join(capsys.readouterr().out.split())  # undo argparse's line wrapping
        for name in [*method_names(), *dataset_names(), *ANSATZES, *MODELS]:
            assert name.replace("-", "- ") in text or name in text, name
        assert "(default: backprop)" in text and "(default: circles)" in text
        assert "(default: hybrid)" in text and "(default: strongly-entangling)" in text

    def test_unknown_method_names_the_option(self, capsys):
        """Test that an unknown method is reported against --method, not diff_method."""
        assert main(["run", "train", "--method", "magic"]) == 2
        err = capsys.readouterr().err
        assert "--method" in err and "diff_method" not in err and err.count("\n") == 1


class TestProgress:
    """Progress: per-batch hook, a bar on a terminal only, and the files written."""

    def test_on_batch_is_called_after_every_step(self, tmp_path):
        """Test that run_train reports every batch of every epoch as (batch, n_batches)."""
        calls = []
        spec = TrainSpec(model="classical", epochs=2, n_samples=100, batch_size=32)
        run_train(spec, tmp_path, on_batch=lambda *call: calls.append(call))
        n = math.ceil(64 / 32)  # 80 training samples, 16 of them held out for validation
        assert calls == [(b, n) for b in range(1, n + 1)] * 2

    def test_wrote_lines_name_every_file(self, tmp_path, capsys):
        """Test that the output names the table, metadata, log and every report file written."""
        pytest.importorskip("qgradbench.analysis.figures")
        argv = ["run", "train", "--epochs", "1", "--samples", "60", "--plots"]
        assert main([*argv, "--out", str(tmp_path)]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert lines[:3] == [
            f"wrote {tmp_path / 'train.parquet'} (2 rows)",
            f"wrote {tmp_path / 'metadata.json'}",
            f"wrote {tmp_path / 'log.txt'}",
        ]
        assert lines[-1] == f"complete: 2 runs in {tmp_path}"
        listed = {line.removeprefix("wrote ") for line in lines[3:-1]}
        on_disk = {str(p) for p in tmp_path.rglob("*") if p.is_file()} - {
            str(tmp_path / n) for n in ("train.parquet", "metadata.json", "log.txt")
        }
        assert listed == on_disk and {"report.md", "report.html", "findings.parquet"} <= {
            p.rpartition("/")[2] for p in listed
        }  # fmt: skip

    @pytest.mark.parametrize("quiet", [False, True])
    def test_bar_on_a_terminal_unless_quiet(self, tmp_path, capsys, monkeypatch, quiet):
        """Test that a terminal's stderr shows an epoch bar, and --quiet silences it."""
        monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
        argv = ["run", "train", "--model", "classical", "--epochs", "3", "--samples", "40"]
        assert main([*argv, *(["--quiet"] if quiet else []), "--out", str(tmp_path)]) == 0
        err = capsys.readouterr().err
        if quiet:
            assert err == ""
        else:
            assert "train" in err and "3/3" in err and "epoch" in err


class TestSigterm:
    """SIGTERM (kill, timeout) ends a run as Ctrl-C does: rows kept, status interrupted."""

    def test_sigterm_mid_run_records_interrupted(self, tmp_path):
        """Test that SIGTERM after the first epoch leaves the rows, the status and one line."""
        out = tmp_path / "run"
        proc = subprocess.Popen(
            [sys.executable, "-m", "qgradbench.cli", "run", "train", "--epochs", "100000",
             "--model", "classical", "--out", str(out)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 120
            while not (out / "train.parquet").exists():
                assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
                time.sleep(0.05)
            proc.send_signal(signal.SIGTERM)
            stdout, stderr = proc.communicate(timeout=60)
        finally:
            proc.kill()
        assert proc.returncode == 130, stderr  # as for Ctrl-C
        meta = json.loads((out / "metadata.json").read_text())
        rows = len(pd.read_parquet(out / "train.parquet"))
        assert meta["status"] == "interrupted" and meta["rows"] == {"train": rows} and rows >= 1
        assert stderr.count("\n") == 1 and "Traceback" not in stderr
        assert stderr.startswith("qgradbench: interrupted by SIGTERM: 0 of 1 runs finished")
        assert f"{rows} epoch rows of the unfinished run" in stderr
        assert str(out / "train.parquet") in stderr

    def test_handler_is_restored(self, tmp_path):
        """Test that the CLI puts the previous SIGTERM handler back after a run."""
        before = signal.getsignal(signal.SIGTERM)
        argv = ["run", "train", "--model", "classical", "--epochs", "1", "--samples", "40"]
        assert main([*argv, "--out", str(tmp_path)]) == 0
        assert signal.getsignal(signal.SIGTERM) is before

    def test_ctrl_c_says_what_was_kept(self, tmp_path, capsys, monkeypatch):
        """Test that Ctrl-C in the CLI prints one line with the rows kept and exits 130."""
        from qgradbench.suite.runner import RunState

        real = RunState.add_partial
        calls = []

        def record_then_interrupt(self, task, row):
            first = real(self, task, row)
            calls.append(1)
            if len(calls) == 2:
                raise KeyboardInterrupt
            return first

        monkeypatch.setattr(RunState, "add_partial", record_then_interrupt)
        argv = ["run", "train", "--model", "classical", "--epochs", "5", "--samples", "40"]
        assert main([*argv, "--out", str(tmp_path)]) == 130
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "interrupted by SIGINT: 0 of 1 runs finished" in err
        assert "with 2 epoch rows of the unfinished run" in err
        assert len(pd.read_parquet(tmp_path / "train.parquet")) == 2


class TestObservableAndData:
    """The quantum layer's observable, circuits with other input counts, and data files."""

    def test_observable_sets_the_layer_outputs(self):
        """Test that the observable reaches the layer and the next Linear takes its outputs."""
        from qgradbench.experiments.train import build_model, load_data

        spec = TrainSpec(observable=["Z0 Z1", "0.5 X0 + Y3"], epochs=1, n_samples=40)
        model = build_model(spec, load_data(spec))
        assert model.quantum.n_outputs == 2 and model.fc3.in_features == 2
        (row,) = train(spec)
        assert row["observable"] == "Z0 Z1; 0.5 X0 + Y3"
        # groups {Z0 Z1, Y3} and {X0}, per sample: 25 of the 32 training samples (7 validate)
        assert row["forward_circuits"] == 2 * 25
        default = build_model(TrainSpec(), load_data(TrainSpec(n_samples=40)))
        assert default.quantum.n_outputs == 4 and default.fc3.in_features == 4
        assert default.quantum.execution.observable.name == "z-each"

    def test_classical_rows_have_null_observable(self):
        """Test that the observable is a quantum setting, null for the classical model."""
        (row,) = train(TrainSpec(model="classical", observable="Z0", epochs=1, n_samples=40))
        assert row["observable"] is None and row["dataset_path"] is None

    def test_second_linear_feeds_the_circuit_inputs(self):
        """Test a registered circuit with 3 inputs on 2 qubits: fc2 has 3 outputs."""
        from qgradbench import plugins
        from qgradbench.circuits.model import CircuitSpec, Gate, w, x
        from qgradbench.experiments.train import build_model, load_data

        def build(n_qubits, n_layers, seed):
            gates = [Gate("RY", [0], [x[0] + x[2]]), Gate("RX", [1], [x[1] * w[0]]),
                     Gate("CRX", [0, 1], [w[1]])]  # fmt: skip
            return CircuitSpec(n_qubits, gates, n_inputs=3, n_weights=2)

        plugins.register_circuit("three-inputs", build)
        try:
            spec = TrainSpec(ansatz="three-inputs", n_qubits=2, epochs=1, n_samples=40)
            model = build_model(spec, load_data(spec))
            assert model.fc2.out_features == 3 and model.quantum.n_inputs == 3
            (row,) = train(spec)
            assert row["ansatz"] == "three-inputs" and math.isfinite(row["loss"])
        finally:
            plugins.unregister("three-inputs")

    @pytest.mark.parametrize(
        "kwargs, match",
        [
            ({"n_features": None}, "n_features: null .* is for data files"),
            ({"observable": "Z0 Z9"}, r"acts on wire\(s\) \[9\]"),
            ({"observable": 3}, "observable must be a built-in name"),
            ({"method": "shot-adjoint", "shots": 10, "observable": "0.5 Z0"}, "shot-adjoint"),
            ({"dataset": {"path": "x.csv"}}, "a data file is given as"),
            ({"val_size": 1.0}, r"val_size must be a fraction in \[0, 1\).*got 1.0"),
            ({"val_size": -0.1}, r"val_size must be a fraction in \[0, 1\).*got -0.1"),
            ({"dataset_options": 3}, "dataset_options must be a mapping.*got 3"),
        ],
    )
    def test_bad_spec(self, kwargs, match):
        """Test that bad observables and data settings raise when the spec is made."""
        with pytest.raises(ValueError, match=match):
            TrainSpec(**kwargs)

    def test_cli_trains_on_a_data_file(self, tmp_path, capsys):
        """Test run train --data FILE --label COLUMN --features all --observable."""
        rng = np.random.default_rng(0)
        u = rng.uniform(-1, 1, size=(60, 2))
        frame = pd.DataFrame({"a": u[:, 0], "b": u[:, 1], "y": np.where(u[:, 0] > 0, "r", "l")})
        frame.to_parquet(tmp_path / "d.parquet")
        out = tmp_path / "run"
        argv = [
            "run",
            "train",
            "--data",
            str(tmp_path / "d.parquet"),
            "--label",
            "y",
            "--features",
            "all",
            "--observable",
            "Z0 Z1",
            "--epochs",
            "1",
            "--out",
            str(out),
        ]
        assert main(argv) == 0, capsys.readouterr().err
        row = pd.read_parquet(out / "train.parquet").iloc[0]
        assert row["dataset"] == "d.parquet" and row["label_column"] == "y"
        assert row["n_features"] == 2 and row["observable"] == "Z0 Z1"
        meta = json.loads((out / "metadata.json").read_text())
        (config,) = meta["config"]["runs"]
        assert config["dataset"] == {"path": str(tmp_path / "d.parquet"), "label": "y"}
        assert meta["plugins"] == []

    @pytest.mark.parametrize(
        "argv, match",
        [
            (["--data", "d.csv"], "--data FILE needs --label COLUMN"),
            (["--label", "y"], "--label goes with --data FILE"),
            (["--data", "d.csv", "--label", "y", "--dataset", "moons"], "not both"),
            (["--features", "many"], "features must be an integer or 'all'"),
        ],
    )
    def test_cli_data_options(self, argv, match, tmp_path, capsys):
        """Test that misused --data, --label and --features are one line, exit code 2."""
        assert main(["run", "train", "--out", str(tmp_path / "run"), *argv]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and match in err, err


class TestValidationSplit:
    """The validation split: held out of the training split, stratified, never trained on."""

    def test_rows_carry_validation_metrics_and_sizes(self):
        """Test that rows report n_train + n_val = the training split and val metrics in [0, 1]."""
        (row,) = train(TrainSpec(epochs=1, n_samples=100, model="classical"))
        assert (row["n_train"], row["n_val"], row["n_test"]) == (64, 16, 20)
        assert 0 <= row["val_accuracy"] <= 1 and row["val_loss"] > 0
        # one test sample is 1/20 of accuracy, one validation sample 1/16
        assert round(row["val_accuracy"] * 16) == pytest.approx(row["val_accuracy"] * 16)

    def test_split_is_disjoint_stratified_and_seeded(self):
        """Test that validation and fit samples partition the training split, by class."""
        from qgradbench.datasets import load_dataset, validation_split

        data = load_dataset("moons", seed=5)
        fit, X_val, y_val = validation_split(data, 0.25, seed=5)
        assert fit.n_train + len(y_val) == data.n_train == 400 and len(y_val) == 100

        def by_first(X):
            return X[X[:, 0].argsort()]

        assert torch.equal(by_first(torch.cat([fit.X_train, X_val])), by_first(data.X_train))
        assert abs(int(y_val.sum()) - int(data.y_train.sum()) / 4) <= 1  # stratified
        assert torch.equal(fit.X_test, data.X_test)  # the test split is untouched
        assert torch.equal(validation_split(data, 0.25, seed=5)[1], X_val)
        assert not torch.equal(validation_split(data, 0.25, seed=6)[1], X_val)

    def test_val_size_zero_trains_on_everything(self):
        """Test that val_size=0 keeps every training sample and leaves the val columns NaN."""
        (row,) = train(TrainSpec(epochs=1, n_samples=100, model="classical", val_size=0))
        assert (row["n_train"], row["n_val"]) == (80, 0)
        assert math.isnan(row["val_accuracy"]) and math.isnan(row["val_loss"])

    def test_dataset_options_reach_the_maker(self):
        """Test that dataset_options set the difficulty knob and are recorded as a column."""
        spec = TrainSpec(
            dataset="hyperplanes", dataset_options={"n_hyperplanes": 3}, model="classical",
            epochs=1, n_samples=60,
        )  # fmt: skip
        (row,) = train(spec)
        assert row["dataset"] == "hyperplanes" and row["dataset_options"] == "{'n_hyperplanes': 3}"
        with pytest.raises(ValueError, match="does not take the option.*'noise'"):
            iter_train(TrainSpec(dataset="hyperplanes", dataset_options={"noise": 1}))


def test_matched_baseline_keeps_the_circuit_it_matches():
    """Test that classical-matched rows keep n_qubits/n_layers (not method or shots)."""
    spec = TrainSpec(model="classical-matched", n_layers=3, epochs=1, n_samples=40, shots=100)
    (row,) = train(spec)
    assert (row["n_qubits"], row["n_layers"], row["ansatz"]) == (4, 3, "strongly-entangling")
    assert row["method"] is None and row["shots"] is None


def test_adam_is_fused_and_equals_the_default_update():
    """Test that the trainer's Adam is torch's fused one and steps as the default one does.

    Five steps on a small network from the same weights and gradients: the two updates differ
    only in rounding (float32, relative 1e-6); a wrong learning rate or a missing step would not.
    """
    import copy

    from qgradbench.experiments.train import adam

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    nets = [net, copy.deepcopy(net)]
    x, y = torch.rand(8, 3), torch.randint(0, 2, (8,))
    optimizers = [adam(nets[0].parameters(), 0.05), torch.optim.Adam(nets[1].parameters(), 0.05)]
    assert optimizers[0].defaults["fused"] is True
    for _ in range(5):
        for net, opt in zip(nets, optimizers, strict=True):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(x), y).backward()
            opt.step()
    for got, want in zip(nets[0].parameters(), nets[1].parameters(), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-7)
