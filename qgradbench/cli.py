"""The ``qgradbench`` command: parse arguments, call the library, print.

Every run command (``run suite``, ``run train``, ``run variance``, ``run estimator``,
``run runtime``) goes through one path: a suite of tasks (a single-experiment command is a
suite of one experiment), one run-directory rule, :func:`qgradbench.suite.runner.execute`,
one progress bar, the report, and a final listing of every file written.

Everything the command says on stderr is one line starting ``qgradbench: ``. Exit codes:

* 0: done;
* 1: some runs failed (the others' rows are kept; see the run's ``log.txt``);
* 2: bad input (``qgradbench: error: ...``); nothing was run;
* 3: the runs finished and their tables are kept, but the report could not be written
  (``qgradbench report RUN_DIR`` renders it again);
* 130: interrupted by SIGINT (Ctrl-C) or SIGTERM; the finished rows are kept and the same
  command resumes.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from qgradbench import __version__
from qgradbench.memory import retain_unless_disabled

#: What every line the command writes to stderr starts with.
PREFIX = "qgradbench: "
EXIT_FAILED_RUNS, EXIT_USAGE, EXIT_REPORT, EXIT_INTERRUPTED = 1, 2, 3, 130


def _say(message: str) -> None:
    """Write one line to stderr, with the command's prefix."""
    print(PREFIX + " ".join(str(message).split()), file=sys.stderr)


class UsageError(Exception):
    """A command-line argument the library or the parser rejected."""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (no usage block) and exit code 2."""

    def error(self, message: str):  # noqa: D102
        where = self.prog.removeprefix("qgradbench").strip()
        raise UsageError(f"{where}: {message}" if where else message)


def _methods(args: argparse.Namespace) -> int:
    from qgradbench.methods import available

    rows = [("method", "family", "shots", "hardware", "description")]
    for m in available():
        rows.append((m.name, m.family, "yes" if m.supports_shots else "no", m.hardware, m.summary))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row[:4], widths, strict=True)) + "  " + row[4])
    return 0


def _option(text: str) -> tuple[str, object]:
    """Parse ``KEY=VALUE`` (the value as a YAML scalar: 0.1, 4, central, null)."""
    import yaml

    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip(), yaml.safe_load(value)


def _shots(text: str) -> int | None:
    if text.lower() in ("none", "exact"):
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"shots must be a positive integer or 'exact', got {text!r}"
        ) from None


def _run_train(args: argparse.Namespace) -> int:
    from qgradbench.suite.runs import train_tasks

    settings = {
        "dataset": _train_dataset(args),
        "model": args.model,
        "method": args.method,
        "shots": args.shots,
        "n_qubits": args.qubits,
        "n_layers": args.layers,
        "ansatz": args.ansatz,
        "observable": args.observable,
        "hidden_size": args.hidden,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "seed": args.seed,
        "n_features": args.features,
        "n_samples": args.samples,
        "method_options": dict(args.option),
    }
    return _single_run("train", train_tasks(settings, baseline=args.report), args)


def _train_dataset(args: argparse.Namespace) -> str | dict:
    """``--dataset NAME``, or ``--data FILE --label COLUMN`` as ``{"path", "label"}``."""
    if args.data is None:
        if args.label is not None:
            raise UsageError("run train: --label goes with --data FILE")
        return args.dataset or "circles"
    if args.dataset is not None:
        raise UsageError("run train: give --dataset or --data, not both")
    if args.label is None:
        raise UsageError("run train: --data FILE needs --label COLUMN (the labels)")
    return {"path": args.data, "label": args.label}


def _features(text: str) -> int | None:
    if text.lower() in ("all", "none", "null"):
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"features must be an integer or 'all' (every column of --data), got {text!r}"
        ) from None


def _add_plugin_option(p) -> None:
    p.add_argument(
        "--plugin",
        action="append",
        default=[],
        metavar="MODULE",
        help="import MODULE (a .py file, or a module importable from the current directory) "
        "first: circuits it registers (qgradbench.register_circuit) can be named as ansatzes "
        "(repeatable)",
    )


def _choices(values: Sequence[str], default: str | None = None) -> str:
    """Help text listing accepted values (and the default)."""
    text = "one of " + ", ".join(values)
    return text + (f" (default: {default})" if default is not None else "")


def _add_train(commands) -> None:
    from qgradbench.circuits import ANSATZES
    from qgradbench.datasets import names as dataset_names
    from qgradbench.experiments.train import MODELS
    from qgradbench.methods import names as method_names

    p = commands.add_parser(
        "train",
        help="train a hybrid (or classical) model and record one row per epoch",
        description="Train the seed notebook's hybrid model (or the classical baseline) and "
        "write one row per epoch to OUT/train.parquet.",
    )
    methods, datasets, ansatzes = method_names(), dataset_names(), list(ANSATZES)
    p.add_argument(
        "--method", default="backprop", choices=methods, metavar="METHOD",
        help="differentiation method of the quantum layer: " + _choices(methods, "backprop"),
    )  # fmt: skip
    p.add_argument(
        "--shots", type=_shots, default=None, metavar="N",
        help="shots per circuit, or 'exact' (default: exact)",
    )  # fmt: skip
    p.add_argument("--layers", type=int, default=2, help="ansatz layers (default: %(default)s)")
    p.add_argument("--qubits", type=int, default=4, help="qubits (default: %(default)s)")
    p.add_argument(
        "--ansatz", default="strongly-entangling", choices=ansatzes, metavar="ANSATZ",
        help=_choices(ansatzes, "strongly-entangling") + "; circuits of your own need --plugin",
    )  # fmt: skip
    p.add_argument(
        "--observable", default="z-each", metavar="OBS",
        help="what the quantum layer measures: a built-in name (z-each, zz, local-z, ...) or a "
        "Pauli sum such as 'Z0 Z1 + 0.5 X2' (default: z-each, one output per qubit)",
    )  # fmt: skip
    p.add_argument(
        "--dataset", default=None, choices=datasets, metavar="DATASET",
        help=_choices(datasets, "circles"),
    )  # fmt: skip
    p.add_argument(
        "--data", default=None, metavar="FILE",
        help="train on a .csv or .parquet file instead (with --label): features are its other "
        "numeric columns, standardised",
    )  # fmt: skip
    p.add_argument("--label", default=None, metavar="COLUMN", help="the label column of --data")
    p.add_argument(
        "--features", type=_features, default=4,
        help="input features; with --data at most its feature columns, or 'all' "
        "(default: %(default)s)",
    )  # fmt: skip
    p.add_argument("--samples", type=int, default=None, help="samples (default: the set's)")
    p.add_argument(
        "--model", default="hybrid", choices=MODELS, metavar="MODEL",
        help=_choices(MODELS, "hybrid") + "; classical-matched has about the hybrid's "
        "parameter count",
    )  # fmt: skip
    p.add_argument("--hidden", type=int, default=16, help="classical width (default: %(default)s)")
    p.add_argument("--epochs", type=int, default=50, help="epochs (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=32, help="batch size (default: %(default)s)")
    p.add_argument(
        "--lr", type=float, default=0.01, help="Adam learning rate (default: %(default)s)"
    )
    p.add_argument(
        "--seed", type=int, default=0,
        help="seed of data, init, batches, shots (default: %(default)s)",
    )  # fmt: skip
    p.add_argument(
        "--option", type=_option, action="append", default=[], metavar="KEY=VALUE",
        help="a method option, e.g. --option h=0.1 (repeatable)",
    )  # fmt: skip
    p.add_argument("--out", default=None, help="run directory (default: results/train/RUN_ID)")
    p.add_argument(
        "--overwrite", action="store_true",
        help="replace the run already in OUT (its tables, metadata.json, log.txt, figures/ "
        "and report)",
    )  # fmt: skip
    _add_report_option(
        p, default=False,
        help="also train the classical baseline (for a hybrid model) and write the report "
        "(report.md, report.html, findings.parquet, figures/ with the data set and the "
        "decision boundary)",
    )  # fmt: skip
    _add_workers_options(p)
    p.add_argument(
        "--quiet",
        action="store_true",
        help="no progress bar (it is off when stderr is no terminal)",
    )
    _add_plugin_option(p)
    p.set_defaults(func=_run_train)


def _add_report_option(p, default: bool, help: str) -> None:
    """``--report`` / ``--no-report`` (and ``--plots``, the older name of ``--report``)."""
    p.add_argument(
        "--report", action=argparse.BooleanOptionalAction, default=default,
        help=help + (" (the default; --no-report skips it)" if default else ""),
    )  # fmt: skip
    p.add_argument("--plots", dest="report", action="store_true", help="the same as --report")


def _add_workers_options(p) -> None:
    p.add_argument("--workers", type=int, default=1, help="processes at once (default 1)")
    p.add_argument("--threads", type=int, default=None, help="torch threads per worker")


# ----------------------------------------------------------------------------- suites
def _suites(args: argparse.Namespace) -> int:
    from qgradbench.suite.config import builtin_names, load_suite

    for name in builtin_names():
        suite = load_suite(name)
        print(f"{name:<8} {len(suite.tasks):>5} runs  {suite.description}")
    return 0


def _executor(args: argparse.Namespace):
    from qgradbench.suite.runner import LocalExecutor, RayExecutor

    plugins = tuple(p.worker_spec() for p in args.loaded_plugins)
    if args.executor == "ray":
        return RayExecutor(
            address=args.address, threads=args.threads or 1, workers=args.workers, plugins=plugins
        )
    if args.address is not None:
        raise UsageError("run suite: --address goes with --executor ray")
    workers = args.workers if args.workers is not None else os.cpu_count() or 1
    return LocalExecutor(workers=workers, threads=args.threads, plugins=plugins)


def _dry_run(suite) -> int:
    from collections import Counter

    for task in suite.tasks:
        print(f"{task.index:>5}  {task.describe()}")
    counts = Counter(t.experiment for t in suite.tasks)
    summary = ", ".join(f"{n} {name}" for name, n in counts.items())
    print(f"suite {suite.name}: {len(suite.tasks)} runs ({summary}); nothing was run")
    return 0


class _Progress:
    """The progress bar of a run on stderr: over epochs or over runs.

    Training runs in this process (one worker) advance it every epoch (the bar of a single
    long training run); other runs advance it as each run finishes. Silent when stderr is not
    a terminal or with ``--quiet``.
    """

    def __init__(self, desc: str, by_epoch: bool, quiet: bool):
        from qgradbench.progress import progress_bar

        self.by_epoch = by_epoch
        self.bar = progress_bar(None, desc, quiet=quiet, unit="epoch" if by_epoch else "run")

    def start(self, todo: list) -> None:
        """Set the total once the runner knows which tasks are left."""
        from qgradbench.experiments.train import TrainSpec

        if self.by_epoch:
            self.bar.total = sum(t.settings.get("epochs", TrainSpec.epochs) for t in todo)
        else:
            self.bar.total = len(todo)
        self.bar.refresh()

    def row(self, task, row: dict) -> None:
        """One epoch of a training run finished."""
        self.bar.set_postfix_str(
            f"{row['model']}  loss {row['loss']:.3f}  test acc {row['test_accuracy']:.3f}",
            refresh=False,
        )
        self.bar.update(1)

    def outcome(self, outcome, finished: int, failed: int) -> None:
        """One run finished (or failed)."""
        if not self.by_epoch:
            self.bar.update(1)
        if failed:
            self.bar.set_postfix(failed=failed, refresh=False)


def _execute(suite, path: Path, meta: dict, executor, args: argparse.Namespace) -> int:
    """Run the suite's tasks into ``path``, write the report, list every file; the exit code."""
    from qgradbench.suite.runner import Hooks, execute

    in_process = getattr(executor, "in_process", False)
    by_epoch = in_process and all(t.experiment == "train" for t in suite.tasks)
    single = meta.get("kind") == "experiment"
    progress = _Progress(suite.name if single else f"suite {suite.name}", by_epoch, args.quiet)
    models: dict[int, tuple] = {}
    hooks = Hooks(
        on_row=progress.row if by_epoch else None,
        on_model=lambda task, model, data: models.setdefault(task.index, (model, data)),
    )
    with progress.bar:
        meta = execute(list(suite.tasks), path, meta, executor, on_outcome=progress.outcome,
                       on_start=progress.start, hooks=hooks)  # fmt: skip
    for table in meta["tables"]:
        print(f"wrote {path / table} ({meta['rows'][table.removesuffix('.parquet')]} rows)")
    print(f"wrote {path / 'metadata.json'}")
    print(f"wrote {path / 'log.txt'}")
    status, done = meta["status"], meta["tasks_finished"]
    if status == "interrupted":
        _say(f"interrupted by {meta.get('interrupted_by', 'SIGINT')}: {_kept(meta, path)}; run "
             "the same command again to resume")  # fmt: skip
        return EXIT_INTERRUPTED
    if status == "failed":
        for failure in meta["failures"]:
            _say(f"run {failure['task']} failed: {failure['error']}")
        _say(f"error: {meta['tasks_failed']} of {meta['tasks']} runs failed (see "
             f"{path / 'log.txt'}); no report was written")  # fmt: skip
        return EXIT_FAILED_RUNS
    code = _report_step(path, args, models.get(0) if single else None)
    print(f"{status}: {done} runs in {path}")
    return code


def _kept(meta: dict, path: Path) -> str:
    """What an interrupted run kept, for its one line on stderr."""
    text = f"{meta['tasks_finished']} of {meta['tasks']} runs finished and kept in {path}"
    unfinished = meta.get("unfinished_tasks") or []
    if unfinished:
        rows = sum(u["rows"] for u in unfinished)
        tables = ", ".join(str(path / t) for t in meta["tables"])
        text += (f", with {rows} epoch rows of the unfinished run{'s' * (len(unfinished) > 1)} "
                 f"in {tables} (a resume runs it again from the start)")  # fmt: skip
    return text


def _report_step(path: Path, args: argparse.Namespace, model=None) -> int:
    """Write the run's report (unless ``--no-report``) and list its files; the exit code.

    A failing report keeps the tables: one line on stderr and exit code 3, and ``qgradbench
    report RUN_DIR`` renders it again.
    """
    if not args.report:
        return 0
    from qgradbench.analysis.report import write_report
    from qgradbench.suite.runner import signal_name
    from qgradbench.suite.runs import draw_model_figures

    try:
        written = write_report(path)
        written += draw_model_figures(model, path)
    except Exception as err:  # noqa: BLE001 - any failure: the tables are kept regardless
        detail = f"{type(err).__name__}: {err}"
        _say(f"error: the report failed ({detail}); the run's tables are kept in {path}; "
             f"render it again with: qgradbench report {shlex.quote(str(path))}")  # fmt: skip
        return EXIT_REPORT
    except KeyboardInterrupt as err:
        _say(
            f"interrupted by {signal_name(err)} while writing the report; the run's tables "
            f"are kept in {path}; render it with: qgradbench report {shlex.quote(str(path))}"
        )
        return EXIT_INTERRUPTED
    for file in written:
        print(f"wrote {file}")
    return 0


def _start(suite, path: Path, meta: dict, executor, args: argparse.Namespace, kind: str) -> int:
    """Run (or resume) ``suite`` in ``path``: what every ``run`` command ends with."""
    from qgradbench.suite.runner import run_metadata

    if meta.get("status") == "complete":
        print(f"{path}: {suite.name} is already complete; nothing to run"
              + ("; --overwrite runs it again" if kind == "experiment" else ""))  # fmt: skip
        if args.report and not (path / "report.md").exists():
            return _report_step(path, args)
        return 0
    if meta:
        print(f"resuming {path} ({meta.get('tasks_finished', 0)} of {len(suite.tasks)} done)")
    else:
        meta = run_metadata(kind, suite)
    meta["command"] = "qgradbench " + shlex.join(args.argv)
    meta["plugins"] = [p.record() for p in args.loaded_plugins]
    return _execute(suite, path, meta, executor, args)


def _run_suite(args: argparse.Namespace) -> int:
    from qgradbench.suite.config import load_suite
    from qgradbench.suite.runner import suite_run_dir

    suite = load_suite(args.suite)
    if args.dry_run:
        return _dry_run(suite)
    executor = _executor(args)
    path, meta = suite_run_dir(suite, args.out, args.resume)
    return _start(suite, path, meta, executor, args, "suite")


def _add_suite(commands) -> None:
    p = commands.add_parser(
        "suite",
        help="run a suite of experiments (the main job)",
        description="Expand a suite's grids and run every experiment in it, in parallel, into "
        "OUT/SUITE/RUN_ID/: one Parquet table per experiment, metadata.json and log.txt. An "
        "interrupted run resumes when the same command is run again.",
    )
    p.add_argument(
        "suite",
        nargs="?",
        default="default",
        help="a built-in suite (see `qgradbench suites`) or a YAML file (default: default)",
    )
    p.add_argument("--out", default="results", help="results folder (default results)")
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="processes running at once (default: the CPU count)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads per worker (default: CPUs / workers)",
    )
    p.add_argument(
        "--executor",
        choices=("local", "ray"),
        default="local",
        help="local processes (default) or Ray",
    )
    p.add_argument("--address", default=None, help="Ray cluster address (with --executor ray)")
    p.add_argument("--resume", default=None, metavar="RUN_DIR", help="resume this run directory")
    p.add_argument("--dry-run", action="store_true", help="list the runs; run nothing")
    _add_report_option(
        p, default=True,
        help="when every run is finished, write the report: figures/, report.md, report.html "
        "and findings.parquet in the run directory",
    )  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_plugin_option(p)
    p.set_defaults(func=_run_suite)


# ------------------------------------------------------------ single experiments
def _grid_tasks(experiment: str, fixed: dict, grid: dict[str, list]) -> list:
    """Tasks for every combination of ``grid`` over the ``fixed`` settings (validated)."""
    import itertools

    from qgradbench.suite.config import Task, _check

    keys = list(grid)
    tasks = []
    for values in itertools.product(*(grid[k] for k in keys)):
        settings = {**fixed, **dict(zip(keys, values, strict=True))}
        _check(experiment, settings, f"run {experiment}")
        tasks.append(Task(len(tasks), experiment, experiment, settings))
    return tasks


def _single_run(experiment: str, tasks: list, args: argparse.Namespace) -> int:
    """Run one experiment's tasks as a suite of their own (see :func:`_start`).

    The run directory is ``--out`` (resumed when it holds the same unfinished run) or a new
    ``results/<experiment>/<run-id>/``.
    """
    from qgradbench.suite.runner import LocalExecutor, experiment_run_dir, experiment_suite
    from qgradbench.suite.store import RunExistsError

    suite = experiment_suite(experiment, tasks)
    try:
        path, meta = experiment_run_dir(suite, args.out, args.overwrite)
    except RunExistsError as err:
        raise UsageError(
            f"--out {str(err.path)!r} holds another run ({', '.join(err.found)}); "
            "pass --overwrite to replace it, or choose another --out"
        ) from None
    plugins = tuple(p.worker_spec() for p in args.loaded_plugins)
    executor = LocalExecutor(workers=args.workers, threads=args.threads, plugins=plugins)
    return _start(suite, path, meta, executor, args, "experiment")


def _common_run_options(p, experiment: str) -> None:
    p.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    p.add_argument(
        "--dtype",
        choices=("complex64", "complex128"),
        default="complex64",
        help="simulation precision (default complex64)",
    )
    p.add_argument(
        "--option",
        type=_option,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a method option, e.g. --option h=0.1 (repeatable)",
    )
    p.add_argument("--out", default=None, help=f"run directory (default results/{experiment}/ID)")
    p.add_argument("--overwrite", action="store_true", help="replace a run already in --out")
    _add_workers_options(p)
    _add_report_option(
        p, default=False,
        help="write the report: figures/, report.md, report.html and findings.parquet",
    )  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_plugin_option(p)


def _observable_option(p) -> None:
    p.add_argument(
        "--observable",
        nargs="+",
        default=["z-each"],
        metavar="OBS",
        help="observables, one run each: built-in names (z-each, zz, local-z, ...) or Pauli "
        "sums such as 'Z0 Z1 + 0.5 X2' (default z-each)",
    )


def _method_grid(args: argparse.Namespace) -> dict[str, list]:
    return {"method": args.method, "shots": args.shots}


def _run_variance(args: argparse.Namespace) -> int:
    given = {
        "n_layers": args.layers,
        "layers_per_qubit": args.layers_per_qubit,
        "depth": args.depth,
    }
    given = {key: value for key, value in given.items() if value is not None}
    if len(given) != 1:
        raise UsageError("run variance: give one of --layers, --layers-per-qubit or --depth")
    depth = given
    param = int(args.param) if args.param.lstrip("-").isdigit() else args.param
    fixed = {
        "ansatz": args.ansatz,
        "param": param,
        "samples": args.samples,
        "seed": args.seed,
        "dtype": args.dtype,
        "method_options": dict(args.option),
    }
    grid = {"n_qubits": args.qubits, **depth, "observable": args.observable, **_method_grid(args)}
    return _single_run("variance", _grid_tasks("variance", fixed, grid), args)


def _add_variance(commands) -> None:
    from qgradbench.circuits import ANSATZES
    from qgradbench.experiments.variance import SCALAR_OBSERVABLES

    p = commands.add_parser(
        "variance",
        help="gradient variance over random circuits (barren plateaus)",
        description="Mean and variance of one gradient component over SAMPLES random circuits "
        "(fresh angles and, for random-pauli, axes), one row per qubits x layers x observable x "
        "method x shots (x parameter with --param all), written to OUT/variance.parquet.",
    )
    p.add_argument("--qubits", type=int, nargs="+", default=[2, 4, 6, 8], help="qubit counts")
    p.add_argument("--layers", type=int, nargs="+", default=None, help="layer counts")
    p.add_argument(
        "--layers-per-qubit",
        type=int,
        nargs="+",
        default=None,
        help="layers = K x qubits (McClean et al.'s scaling)",
    )
    p.add_argument(
        "--depth",
        nargs="+",
        choices=["1", "log", "linear"],
        default=None,
        help="depth rules: 1 layer, ceil(log2 n) or n layers (Cerezo et al.'s regimes)",
    )
    p.add_argument(
        "--ansatz",
        default="random-pauli",
        choices=list(ANSATZES),
        help="ansatz (default random-pauli); circuits of your own need --plugin",
    )
    p.add_argument(
        "--observable",
        nargs="+",
        default=["zz"],
        metavar="OBS",
        help=f"one or more of {', '.join(SCALAR_OBSERVABLES)}, or Pauli sums such as "
        "'Z0 Z1' (one output each; default zz)",
    )
    p.add_argument(
        "--param",
        default="first",
        help="first, middle, last, all, or a parameter index (default first)",
    )
    p.add_argument("--samples", type=int, default=2000, help="random circuits (default 2000)")
    p.add_argument("--method", nargs="+", default=["adjoint"], help="methods (default adjoint)")
    p.add_argument(
        "--shots",
        type=_shots,
        nargs="+",
        default=[None],
        help="shots per circuit, or exact (default exact)",
    )
    _common_run_options(p, "variance")
    p.set_defaults(func=_run_variance)


def _run_estimator(args: argparse.Namespace) -> int:
    fixed = {
        "n_qubits": args.qubits,
        "n_layers": args.layers,
        "ansatz": args.ansatz,
        "circuits": args.circuits,
        "repeats": args.repeats,
        "seed": args.seed,
        "dtype": args.dtype,
        "method_options": dict(args.option),
    }
    if args.budget is not None:
        if args.shots != [None]:
            raise UsageError("run estimator: give --shots or --budget, not both")
        grid = {"method": args.method, "budget": args.budget}
    else:
        grid = _method_grid(args)
    grid["observable"] = args.observable
    return _single_run("estimator", _grid_tasks("estimator", fixed, grid), args)


def _add_estimator(commands) -> None:
    p = commands.add_parser(
        "estimator",
        help="gradient estimators against the exact gradient (bias, variance, MSE, cost)",
        description="On CIRCUITS fixed random circuits of the training layer, each method's "
        "Jacobian estimated REPEATS times against the exact one: bias, variance, MSE, cosine "
        "similarity, circuits and shots; one row per method x shots x circuit.",
    )
    p.add_argument("--method", nargs="+", default=["parameter-shift"], help="methods")
    p.add_argument("--shots", type=_shots, nargs="+", default=[None], help="shots per circuit")
    p.add_argument(
        "--budget",
        type=int,
        nargs="+",
        default=None,
        help="shots per Jacobian, the same for every method (sets their shots)",
    )
    p.add_argument("--qubits", type=int, default=4, help="qubits (default 4)")
    p.add_argument("--layers", type=int, default=2, help="layers (default 2)")
    p.add_argument("--ansatz", default="strongly-entangling", help="ansatz (default %(default)s)")
    _observable_option(p)
    p.add_argument("--circuits", type=int, default=10, help="random circuits (default 10)")
    p.add_argument("--repeats", type=int, default=100, help="estimates per circuit (default 100)")
    _common_run_options(p, "estimator")
    p.set_defaults(func=_run_estimator)


def _run_runtime(args: argparse.Namespace) -> int:
    fixed = {
        "ansatz": args.ansatz,
        "repeats": args.repeats,
        "seed": args.seed,
        "dtype": args.dtype,
        "device": args.device,
        "compare": args.compare,
        "method_options": dict(args.option),
    }
    grid = {
        "n_qubits": args.qubits,
        "n_layers": args.layers,
        "batch": args.batch,
        **_method_grid(args),
        "observable": args.observable,
    }
    return _single_run("runtime", _grid_tasks("runtime", fixed, grid), args)


def _add_runtime(commands) -> None:
    p = commands.add_parser(
        "runtime",
        help="forward, backward and step time and peak memory of the quantum layer",
        description="Time the quantum layer (median of REPEATS steps) by method, shots, qubits, "
        "layers and batch; one row each, with the torch thread count.",
    )
    p.add_argument("--method", nargs="+", default=["backprop", "adjoint"], help="methods")
    p.add_argument("--shots", type=_shots, nargs="+", default=[None], help="shots per circuit")
    p.add_argument("--qubits", type=int, nargs="+", default=[4], help="qubit counts")
    p.add_argument("--layers", type=int, nargs="+", default=[2], help="layer counts")
    p.add_argument("--batch", type=int, nargs="+", default=[32], help="batch sizes")
    p.add_argument("--ansatz", default="strongly-entangling", help="ansatz (default %(default)s)")
    _observable_option(p)
    p.add_argument("--repeats", type=int, default=5, help="timed steps (default 5)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="device")
    p.add_argument(
        "--compare",
        choices=("pennylane",),
        default=None,
        help="also time PennyLane's counterparts of each method (default.qubit, "
        "lightning.qubit) in the same process and write their ratios",
    )
    _common_run_options(p, "runtime")
    p.set_defaults(func=_run_runtime)


# ----------------------------------------------------------------------------- report
def _report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from qgradbench.analysis.load import ResultsError, metadata
    from qgradbench.analysis.report import write_report

    formats = ("md", "html") if args.format == "html" else ("md",)
    run = Path(args.run_dir)
    if not run.is_dir():
        raise ValueError(f"{args.run_dir}: not a directory; give a run directory (RUN_DIR)")
    try:
        status = metadata(run).get("status")
        if status in ("running", "interrupted"):
            _say(f"warning: {run} is marked {status}: the report covers the runs finished so far")
        written = write_report(run, formats, target=args.target)
    except ResultsError as err:
        raise ValueError(str(err)) from None
    for path in written:
        print(f"wrote {path}")
    return 0


def _add_report(commands) -> None:
    p = commands.add_parser(
        "report",
        help="write report.md (and report.html) with tables and figures for a run directory",
        description="Summaries, figures and readings of a run directory: RUN_DIR/report.md, "
        "RUN_DIR/report.html (self-contained, with --format html) and RUN_DIR/figures/*.png.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory (results/SUITE/RUN_ID)")
    p.add_argument(
        "--format",
        choices=("md", "html"),
        default="html",
        help="md: report.md only; html (default): report.md and report.html",
    )
    p.add_argument(
        "--target",
        type=float,
        default=0.9,
        help="test accuracy whose cost in shots is reported (default 0.9)",
    )
    p.set_defaults(func=_report)


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of the ``qgradbench`` command."""
    parser = _Parser(
        prog="qgradbench",
        description="Benchmark gradient methods of hybrid quantum-classical neural networks.",
    )
    parser.add_argument("--version", action="version", version=f"qgradbench {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    methods = commands.add_parser("methods", help="list the differentiation methods")
    methods.set_defaults(func=_methods)
    suites = commands.add_parser("suites", help="list the built-in suites")
    suites.set_defaults(func=_suites)
    _add_report(commands)
    run = commands.add_parser("run", help="run an experiment")
    experiments = run.add_subparsers(dest="experiment", required=True, parser_class=_Parser)
    _add_train(experiments)
    _add_suite(experiments)
    _add_variance(experiments)
    _add_estimator(experiments)
    _add_runtime(experiments)
    return parser


def _preload_plugins(argv: list[str]) -> list:
    """Import the ``--plugin`` modules of a ``run`` command (see :mod:`qgradbench.plugins`).

    They are imported before the parser is built, so that the circuits they register are
    accepted by ``--ansatz``, and before a suite is read, so that it may name them.
    """
    if not argv or argv[0] != "run":
        return []
    pre = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    pre.add_argument("--plugin", action="append", default=[])
    known, _ = pre.parse_known_args(argv[1:])
    if not known.plugin:
        return []
    from qgradbench.plugins import load_plugins

    return load_plugins(known.plugin)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code (see the module docstring)."""
    from qgradbench.suite.runner import interrupts, signal_name

    try:
        argv = list(sys.argv[1:] if argv is None else argv)
        loaded = _preload_plugins(argv)  # before the parser lists the ansatzes
        args = build_parser().parse_args(argv)
        args.argv = argv
        args.loaded_plugins = loaded
        retain_unless_disabled()  # freed states stay in the heap for reuse (qgradbench/memory.py)
        with interrupts():  # SIGTERM as Ctrl-C, here and in the runner (one mechanism)
            return args.func(args)
    except (UsageError, ValueError) as err:
        _say(f"error: {err}")
        return EXIT_USAGE
    except KeyboardInterrupt as err:  # before the runner started: nothing was written
        _say(f"interrupted by {signal_name(err)} before any run started; nothing was written")
        return EXIT_INTERRUPTED  # for SIGINT and SIGTERM alike: both mean "stopped by the user"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
