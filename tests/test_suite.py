"""The main job: suite files, validation, the runner, resume after interrupts, executors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from qgradbench.cli import main
from qgradbench.suite.config import MAX_TASKS, SuiteError, builtin_names, load_suite, parse_suite
from qgradbench.suite.runner import LocalExecutor, execute, suite_run_dir

ROOT = Path(__file__).resolve().parents[1]

# A small suite of quick runs (about 0.3 s each) for interrupt and executor tests.
QUICK = """
suite: quick
experiments:
  - experiment: train
    settings: {n_samples: 60, epochs: 2, n_layers: 1}
    grid:
      - {method: [backprop]}
      - {method: [parameter-shift], shots: [50]}
    vary: {seed: [0, 1]}
  - experiment: variance
    settings: {n_layers: 2, samples: 50}
    grid:
      - {method: [adjoint]}
      - {method: [parameter-shift], shots: [50]}
    vary: {n_qubits: [2, 3]}
"""

# The quick suite with three times the training runs (about 8 s in all), for the interrupt
# tests: after the two finished runs they wait for, enough work is left that the signal
# lands mid-suite even when the machine is busy.
LONGER = QUICK.replace("suite: quick", "suite: longer").replace(
    "vary: {seed: [0, 1]}", "vary: {seed: [0, 1, 2, 3, 4, 5]}"
)

TIMING = ("time_", "peak_memory_bytes", "threads")


def measured(frame: pd.DataFrame) -> pd.DataFrame:
    """The columns that do not depend on timing."""
    return frame[[c for c in frame.columns if not c.startswith(TIMING)]]


def tables(run_dir: Path) -> dict[str, pd.DataFrame]:
    """Every result table of a run directory (not the report's findings), timing dropped."""
    paths = [p for p in sorted(run_dir.glob("*.parquet")) if p.stem != "findings"]
    return {p.stem: measured(pd.read_parquet(p)) for p in paths}


def only_run(out: Path, suite: str) -> Path:
    """The single run directory of ``suite`` under ``out``."""
    (run,) = list((out / suite).iterdir())
    return run


def assert_same_tables(a: dict, b: dict) -> None:
    """Test helper: the same tables with the same rows."""
    assert a.keys() == b.keys()
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], check_exact=False, rtol=1e-12)


def _suite_file(tmp_path_factory, name: str, text: str) -> Path:
    path = tmp_path_factory.mktemp("suites") / f"{name}.yaml"
    path.write_text(text)
    return path


def _reference(path: Path, tmp_path_factory, name: str) -> dict:
    """A suite's tables from one uninterrupted run with one worker."""
    out = tmp_path_factory.mktemp(f"{name}-ref")
    code = main(["run", "suite", str(path), "--out", str(out), "--workers", "1",
                 "--threads", "1", "--quiet", "--no-report"])  # fmt: skip
    assert code == 0
    return tables(only_run(out, name))


@pytest.fixture(scope="module")
def quick_file(tmp_path_factory) -> Path:
    """The quick suite as a file."""
    return _suite_file(tmp_path_factory, "quick", QUICK)


@pytest.fixture(scope="module")
def quick_reference(quick_file, tmp_path_factory) -> dict:
    """The quick suite's tables from one uninterrupted run with one worker."""
    return _reference(quick_file, tmp_path_factory, "quick")


@pytest.fixture(scope="module")
def longer_file(tmp_path_factory) -> Path:
    """The longer suite as a file (the interrupt tests)."""
    return _suite_file(tmp_path_factory, "longer", LONGER)


@pytest.fixture(scope="module")
def longer_reference(longer_file, tmp_path_factory) -> dict:
    """The longer suite's tables from one uninterrupted run with one worker."""
    return _reference(longer_file, tmp_path_factory, "longer")


class TestSmoke:
    def test_every_experiment_has_a_table(self, smoke):
        """Test that the smoke run writes the four tables, metadata and log."""
        names = sorted(p.name for p in smoke.iterdir())
        assert names == ["estimator.parquet", "log.txt", "metadata.json", "runtime.parquet",
                         "train.parquet", "variance.parquet"]  # fmt: skip

    @pytest.mark.parametrize(
        "table, columns",
        [
            ("train", ["task", "method", "shots", "n_layers", "seed", "epoch", "test_accuracy",
                       "backward_shots"]),
            ("variance", ["task", "n_qubits", "n_layers", "method", "shots", "variance",
                          "variance_se", "landscape_variance", "shot_variance"]),
            ("estimator", ["task", "method", "shots", "budget", "bias", "variance", "mse",
                           "cosine", "gradient_shots"]),
            ("runtime", ["task", "method", "shots", "n_qubits", "threads", "time_forward",
                         "time_backward", "peak_memory_bytes"]),
        ],
    )  # fmt: skip
    def test_tables_have_documented_columns_and_integer_dtypes(self, smoke, table, columns):
        """Test that columns exist and integer ones (nullable or not) read back as Int64."""
        frame = pd.read_parquet(smoke / f"{table}.parquet")
        assert set(columns) <= set(frame.columns)
        for column in ("task", "shots", "n_qubits", "n_layers", "seed"):
            if column in frame:
                assert str(frame[column].dtype) == "Int64", column
        assert len(frame) > 0 and frame["task_key"].notna().all()

    def test_classical_rows_have_null_method_and_shots(self, smoke):
        """Test that the classical baseline's rows carry null quantum columns."""
        train = pd.read_parquet(smoke / "train.parquet")
        classical = train[train["model"] == "classical"]
        assert (
            len(classical) and classical["method"].isna().all() and classical["shots"].isna().all()
        )

    def test_metadata_is_complete(self, smoke):
        """Test that metadata.json records the suite, environment, threads and status."""
        meta = json.loads((smoke / "metadata.json").read_text())
        assert meta["status"] == "complete"
        assert meta["suite"] == "smoke" and meta["tasks"] == meta["tasks_finished"] == 19
        assert meta["config"]["experiments"] and meta["digest"] == load_suite("smoke").digest
        for key in ("versions", "machine", "python", "git_commit", "started", "finished",
                    "threads_per_worker", "workers", "executor", "rows"):  # fmt: skip
            assert key in meta, key
        assert meta["versions"]["torch"] and meta["failures"] == []
        assert meta["command"].startswith("qgradbench run suite smoke --out ")

    def test_same_out_resumes_unfinished_and_leaves_complete_runs(self, smoke, tmp_path):
        """Test that --out resumes the latest unfinished run and never reopens a complete one."""
        suite = load_suite("smoke")
        path, meta = suite_run_dir(suite, smoke.parent.parent)
        assert path != smoke and meta == {} and path.parent == smoke.parent
        path.rmdir()
        fresh, _ = suite_run_dir(suite, tmp_path)
        (fresh / "metadata.json").write_text(json.dumps({"digest": suite.digest,
                                                         "status": "interrupted"}))  # fmt: skip
        again, meta = suite_run_dir(suite, tmp_path)
        assert again == fresh and meta["status"] == "interrupted"


class TestBuiltins:
    @pytest.mark.parametrize("name", ["smoke", "default", "full"])
    def test_builtin_suites_validate(self, name):
        """Test that each shipped suite loads and expands."""
        assert name in builtin_names()
        assert len(load_suite(name).tasks) > 0

    def test_default_covers_the_study(self):
        """Test that default crosses data sets, methods, baselines, lrs and seeds as described."""
        tasks = load_suite("default").tasks
        runs = [t.settings for t in tasks if t.experiment == "train"]
        train = [s for s in runs if "method" in s]
        assert {s["method"] for s in train} == {"backprop", "parameter-shift", "spsa",
                                                "shot-adjoint"}  # fmt: skip
        assert {s.get("shots") for s in train} == {None, 1000}
        assert {s["dataset"] for s in runs} == {"moons", "breast-cancer", "hyperplanes"}
        assert {s.get("model") for s in runs} == {None, "classical", "classical-matched"}
        assert {s["seed"] for s in runs} == set(range(12))
        assert {s["lr"] for s in runs} == {0.01, 0.03}
        test_sizes = {(s["dataset"], s["n_samples"], s["dataset_options"]["test_size"])
                      for s in runs}  # fmt: skip
        assert test_sizes == {("moons", 2000, 0.8), ("hyperplanes", 2000, 0.8),
                              ("breast-cancer", 569, 0.3)}  # fmt: skip
        assert {t.experiment for t in tasks} == {"train", "variance", "estimator", "runtime"}

    def test_suites_command_lists_them(self, capsys):
        """Test that `qgradbench suites` names every built-in suite with its size."""
        assert main(["suites"]) == 0
        out = capsys.readouterr().out
        assert all(name in out for name in ("smoke", "default", "full"))

    def test_dry_run_lists_runs_and_runs_nothing(self, tmp_path, capsys):
        """Test that --dry-run prints every run and writes nothing."""
        assert main(["run", "suite", "smoke", "--dry-run", "--out", str(tmp_path)]) == 0
        out = capsys.readouterr().out
        assert out.count("\n") == 20 and "19 runs" in out
        assert not any(tmp_path.iterdir())


class TestInterrupt:
    @pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
    def test_interrupt_then_rerun_equals_uninterrupted(self, sig, longer_file, longer_reference,
                                                       tmp_path):  # fmt: skip
        """Test that an interrupted suite keeps finished runs and resumes to the same tables.

        The resumed run then writes the report (checked once, for SIGINT).
        """
        command = [sys.executable, "-m", "qgradbench.cli", "run", "suite", str(longer_file),
                   "--out", str(tmp_path), "--workers", "1", "--threads", "1",
                   "--quiet"] + (["--no-report"] if sig == signal.SIGTERM else [])  # fmt: skip
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)  # fmt: skip
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            logs = list(tmp_path.glob("longer/*/log.txt"))
            if logs and logs[0].read_text().count("done task") >= 2:
                break
            time.sleep(0.05)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
        run = only_run(tmp_path, "longer")
        meta = json.loads((run / "metadata.json").read_text())
        assert proc.returncode == 130, err
        assert meta["status"] == "interrupted" and 2 <= meta["tasks_finished"] < meta["tasks"]
        assert err.startswith(f"qgradbench: interrupted by {sig.name}: ") and "resume" in err
        assert err.count("\n") == 1 and not (run / "report.md").exists()
        partial = tables(run)
        assert sum(len(t) for t in partial.values()) == sum(meta["rows"].values())
        rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        assert rerun.returncode == 0, rerun.stderr
        assert "resuming" in rerun.stdout
        assert json.loads((run / "metadata.json").read_text())["status"] == "complete"
        assert (run / "report.md").exists() == (sig == signal.SIGINT)
        assert_same_tables(tables(run), longer_reference)


class TestExecutors:
    def test_two_workers_give_the_same_rows(self, quick_file, quick_reference, tmp_path):
        """Test that two worker processes produce exactly the one-worker tables."""
        code = main(["run", "suite", str(quick_file), "--out", str(tmp_path), "--workers", "2",
                     "--threads", "1", "--quiet"])  # fmt: skip
        assert code == 0
        run = only_run(tmp_path, "quick")
        assert json.loads((run / "metadata.json").read_text())["workers"] == 2
        assert_same_tables(tables(run), quick_reference)

    def test_ray_gives_the_same_rows(self, quick_file, quick_reference, tmp_path):
        """Test that the Ray executor (local instance) produces the one-worker tables."""
        pytest.importorskip("ray")
        code = main(["run", "suite", str(quick_file), "--out", str(tmp_path), "--executor", "ray",
                     "--workers", "2", "--threads", "1", "--quiet"])  # fmt: skip
        assert code == 0
        run = only_run(tmp_path, "quick")
        assert json.loads((run / "metadata.json").read_text())["executor"] == "ray"
        assert_same_tables(tables(run), quick_reference)

    def test_a_failing_run_is_recorded_and_the_suite_goes_on(self, tmp_path, monkeypatch):
        """Test that a task that raises is logged, the others finish, the status says failed."""
        suite = parse_suite(QUICK)
        broken = dict(suite.tasks[1].settings, n_samples=-5)  # load_dataset raises at run time
        tasks = list(suite.tasks[:4])
        tasks[1] = type(tasks[1])(1, "train", "train", broken)
        meta = execute(tasks, tmp_path, {}, LocalExecutor(workers=1, threads=1))
        assert meta["status"] == "failed" and meta["tasks_failed"] == 1
        assert meta["tasks_finished"] == 3 and "n_samples" in meta["failures"][0]["error"]
        assert "FAILED task 1" in (tmp_path / "log.txt").read_text()

    def test_resume_skips_done_tasks_without_duplicates(self, tmp_path):
        """Test that executing the same tasks twice adds no row."""
        tasks = list(parse_suite(QUICK).tasks[:2])
        execute(tasks, tmp_path, {}, LocalExecutor(workers=1, threads=1))
        first = pd.read_parquet(tmp_path / "train.parquet")
        meta = execute(tasks, tmp_path, {}, LocalExecutor(workers=1, threads=1))
        assert meta["tasks_done_before"] == 2
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "train.parquet"), first)


BAD_SUITES = [
    ("[1, 2]", "a suite is a mapping"),
    ("suite: x\nexperiments: []\n", "experiments: must be a non-empty list"),
    ("suite: x\nbogus: 1\nexperiments: [{experiment: train}]\n", "unknown key 'bogus'"),
    ("suite: x\nexperiments: [{experiment: quantum-magic}]\n", "unknown 'quantum-magic'"),
    ("suite: x\nexperiments: [{experiment: train, settings: {epochz: 3}}]\n",
     "unknown key 'epochz'"),
    ("suite: x\nexperiments: [{experiment: train, grid: {method: []}}]\n", "an empty list"),
    ("suite: x\nexperiments: [{experiment: train, grid: {method: backprop}}]\n",
     "must be a list of values"),
    ("suite: x\nexperiments: [{experiment: train, grid: {method: [warp]}}]\n",
     "method: unknown 'warp'"),
    ("suite: x\nexperiments: [{experiment: train, settings: {dataset: mnist}}]\n",
     "dataset: unknown 'mnist'"),
    ("suite: x\nexperiments: [{experiment: variance, settings: {n_layers: 1, observable: yy}}]\n",
     "observable 'yy' cannot be used"),
    ("suite: x\nexperiments: [{experiment: train, settings: {method: adjoint, shots: 100}}]\n",
     "exact and cannot take shots=100"),
    ("suite: x\nexperiments: [{experiment: train, settings: {epochs: three}}]\n",
     "epochs must be an integer"),
    ("suite: x\nexperiments: [{experiment: train, settings: {ansatz: cube}}]\n",
     "ansatz: unknown ansatz 'cube'"),
    ("suite: x\nexperiments: [{experiment: train, settings: {ansatz: cube}}]\n",
     "(circuits from your own module need --plugin MODULE)"),
    ("suite: x\nexperiments: [{experiment: train, settings: {dataset: data.csv}}]\n",
     "or a data file as {path: FILE.csv, label: COLUMN}"),
    ("suite: x\nexperiments: [{experiment: train, settings: {dataset: {path: d.csv}}}]\n",
     "a data file is given as {path: FILE.csv or FILE.parquet, label: COLUMN}"),
    ("suite: x\nexperiments: [{experiment: variance, settings: {n_layers: 1, "
     "observable: z-each}}]\n", "observable 'z-each' cannot be used"),
    ("suite: x\nexperiments: [{experiment: estimator, settings: {observable: [Z0, Y0 Y0]}}]\n",
     "wire 0 appears twice"),
    ("suite: ../../escape\nexperiments: [{experiment: train}]\n", "suite: must be a plain name"),
    ("suite: /etc\nexperiments: [{experiment: train}]\n", "suite: must be a plain name"),
    ("suite: x\nexperiments: [{experiment: train, label: ../up}]\n", "label: must be a plain"),
    ("suite: !!python/object/apply:os.system [echo pwned]\nexperiments: []\n",
     "not valid suite YAML"),
    ("suite: x\nexperiments: [{experiment: train, settings: {seed: -1}}]\n",
     "seed must be an integer >= 0"),
    ("a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
     "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n", "aliases"),
    ("suite: x\nexperiments:\n  - experiment: train\n    vary: {seed: " + str(list(range(200)))
     + ", epochs: " + str(list(range(1, 201))) + "}\n", f"at most {MAX_TASKS}"),
    ("suite: x\nexperiments: [{experiment: train\n", "not valid suite YAML"),
]  # fmt: skip


class TestValidation:
    @pytest.mark.parametrize("text, message", BAD_SUITES)
    def test_bad_suite_is_one_line_with_exit_code_2(self, text, message, tmp_path, capsys):
        """Test that a bad suite file exits 2 with one stderr line naming file and problem."""
        path = tmp_path / "bad.yaml"
        path.write_text(text)
        assert main(["run", "suite", str(path), "--out", str(tmp_path / "out")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and str(path) in err and message in err, err
        assert not (tmp_path / "out").exists()

    def test_oversized_file_is_refused(self):
        """Test that a suite file over the byte limit is refused before parsing."""
        with pytest.raises(SuiteError, match="limited to"):
            parse_suite("#" * 2_000_000, "big.yaml")

    def test_missing_suite_names_the_builtins(self, capsys):
        """Test that an unknown suite name lists the built-in suites."""
        assert main(["run", "suite", "nonexistent"]) == 2
        assert "built-in: default, full, smoke" in capsys.readouterr().err

    def test_resume_into_another_suite_is_refused(self, smoke, quick_file, capsys):
        """Test that --resume with a different suite is refused, naming both."""
        assert main(["run", "suite", str(quick_file), "--resume", str(smoke)]) == 2
        err = capsys.readouterr().err
        assert "refusing to mix suite 'quick'" in err and "'smoke'" in err
