"""The ``qgradbench`` command: parse arguments, call the library, print.

Errors in the user's input end the program with exit code 2 and one line on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import shlex
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from qgradbench import __version__
from qgradbench.memory import retain_unless_disabled
from qgradbench.progress import progress_bar


class UsageError(Exception):
    """A command-line argument the library or the parser rejected."""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (no usage block) and exit code 2."""

    def error(self, message: str):  # noqa: D102
        raise UsageError(f"{self.prog}: {message}")


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


class _TrainProgress:
    """Progress of ``run train`` on stderr: a bar over the epochs of every run.

    An epoch that takes more than a second (a large register) also gets a bar over its
    batches. Both are silent when stderr is not a terminal or with ``--quiet``.
    """

    def __init__(self, epochs: int, quiet: bool):
        self.quiet, self.rows = quiet, 0
        self.epochs = progress_bar(epochs, "train", quiet=quiet, unit="epoch")
        self.batches = None

    def on_batch(self, batch: int, n_batches: int) -> None:
        if self.batches is None:
            self.batches = progress_bar(
                n_batches, "  batches", quiet=self.quiet, unit="batch", leave=False, delay=1.0
            )
        self.batches.update(1)

    def on_row(self, row: dict) -> None:
        self.rows += 1
        self._close_batches()
        self.epochs.set_postfix_str(
            f"{row['model']}  loss {row['loss']:.3f}  test acc {row['test_accuracy']:.3f}",
            refresh=False,
        )
        self.epochs.update(1)

    def _close_batches(self) -> None:
        if self.batches is not None:
            self.batches.close()
            self.batches = None

    def close(self) -> None:
        self._close_batches()
        self.epochs.close()


def _run_train(args: argparse.Namespace) -> int:
    from qgradbench.experiments.train import TrainSpec
    from qgradbench.suite.runs import TABLE, run_train
    from qgradbench.suite.store import METADATA, RunExistsError, run_id

    spec = TrainSpec(
        dataset=_train_dataset(args),
        model=args.model,
        method=args.method,
        shots=args.shots,
        n_qubits=args.qubits,
        n_layers=args.layers,
        ansatz=args.ansatz,
        observable=args.observable,
        hidden_size=args.hidden,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        n_features=args.features,
        n_samples=args.samples,
        method_options=dict(args.option),
    )
    runs = 2 if args.plots and args.model == "hybrid" else 1
    out = Path(args.out or f"results/train/{run_id(dataclasses.asdict(spec))}")
    progress = _TrainProgress(runs * args.epochs, args.quiet)
    try:
        written = run_train(
            spec,
            out,
            plots=args.plots,
            overwrite=args.overwrite,
            command=shlex.join(["qgradbench", *args.argv]),
            on_row=progress.on_row,
            on_batch=progress.on_batch,
            plugins=[p.record() for p in args.loaded_plugins],
        )
    except RunExistsError as err:
        raise UsageError(
            f"--out {str(err.path)!r} holds another run ({', '.join(err.found)}); "
            "pass --overwrite to replace it, or choose another --out"
        ) from None
    except KeyboardInterrupt as err:
        meta = json.loads((out / METADATA).read_text()) if (out / METADATA).exists() else {}
        if meta.get("status") != "interrupted":  # stopped before the run directory was written
            raise Interrupted(
                _signal_name(err), "before the first epoch; nothing written"
            ) from None
        raise Interrupted(
            _signal_name(err),
            f"kept {meta['rows']} of {runs * args.epochs} epochs' rows in {out / TABLE} "
            f"({out / METADATA} says status 'interrupted')",
        ) from None
    finally:
        progress.close()
    for path in written:
        print(f"wrote {path}")
    return 0


def _train_dataset(args: argparse.Namespace) -> str | dict:
    """``--dataset NAME``, or ``--data FILE --label COLUMN`` as ``{"path", "label"}``."""
    if args.data is None:
        if args.label is not None:
            raise UsageError("qgradbench run train: --label goes with --data FILE")
        return args.dataset or "circles"
    if args.dataset is not None:
        raise UsageError("qgradbench run train: give --dataset or --data, not both")
    if args.label is None:
        raise UsageError("qgradbench run train: --data FILE needs --label COLUMN (the labels)")
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
        help="replace the run already in OUT (its tables, metadata.json and figures/)",
    )  # fmt: skip
    p.add_argument(
        "--plots", action="store_true",
        help="also train the classical baseline and draw the figures into OUT/figures",
    )  # fmt: skip
    p.add_argument(
        "--quiet",
        action="store_true",
        help="no progress bar (it is off when stderr is no terminal)",
    )
    _add_plugin_option(p)
    p.set_defaults(func=_run_train)


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
        raise UsageError("qgradbench run suite: --address goes with --executor ray")
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


def _execute(tasks, path, meta, executor, quiet: bool, desc: str) -> int:
    """Run tasks into ``path`` with a progress bar; print what was written; the exit code."""
    from qgradbench.progress import progress_bar
    from qgradbench.suite.runner import execute

    todo = len(tasks)
    with progress_bar(todo, desc, quiet=quiet, unit="run") as bar:

        def advance(outcome, finished, failed):
            bar.update(1)
            bar.set_postfix(failed=failed, refresh=False)

        meta = execute(tasks, path, meta, executor, on_outcome=advance)
        bar.n = meta["tasks_finished"] + meta["tasks_failed"]
    for table in meta["tables"]:
        print(f"wrote {path / table} ({meta['rows'][table.removesuffix('.parquet')]} rows)")
    print(f"wrote {path / 'metadata.json'}")
    print(f"wrote {path / 'log.txt'}")
    status, done = meta["status"], meta["tasks_finished"]
    if status == "interrupted":
        print(
            f"interrupted: {done} of {meta['tasks']} runs finished and kept in {path}; "
            "run the same command again to resume",
            file=sys.stderr,
        )
        return 130
    if status == "failed":
        for failure in meta["failures"]:
            print(f"failed: task {failure['task']}: {failure['error']}", file=sys.stderr)
        print(
            f"{meta['tasks_failed']} of {meta['tasks']} runs failed (see {path / 'log.txt'})",
            file=sys.stderr,
        )
        return 1
    print(f"{status}: {done} runs in {path}")
    return 0


def _run_suite(args: argparse.Namespace) -> int:
    from qgradbench.suite.config import load_suite
    from qgradbench.suite.runner import base_metadata, suite_run_dir

    suite = load_suite(args.suite)
    if args.dry_run:
        return _dry_run(suite)
    executor = _executor(args)
    path, meta = suite_run_dir(suite, args.out, args.resume)
    if meta.get("status") == "complete":
        print(f"{path}: suite {suite.name} is already complete; nothing to do")
        return 0
    if meta:
        print(f"resuming {path} ({meta.get('tasks_finished', 0)} of {len(suite.tasks)} done)")
    else:
        meta = base_metadata("suite", suite.config, suite.digest)
        meta.update({"suite": suite.name, "source": suite.source})
    meta["command"] = "qgradbench " + shlex.join(args.argv)
    meta["plugins"] = [p.record() for p in args.loaded_plugins]
    return _execute(list(suite.tasks), path, meta, executor, args.quiet, f"suite {suite.name}")


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
    """Run one experiment's tasks into ``--out`` (resumed when it holds the same unfinished run)."""
    import hashlib
    from pathlib import Path

    from qgradbench.suite.runner import LocalExecutor, base_metadata, read_metadata
    from qgradbench.suite.store import prepare_run_dir, run_id

    digest = hashlib.sha1(json.dumps([t.key for t in tasks]).encode()).hexdigest()[:12]
    path = Path(args.out or f"results/{experiment}/{run_id({'digest': digest})}")
    old = read_metadata(path) or {}
    meta = {}
    if old.get("digest") == digest and not args.overwrite:
        if old.get("status") == "complete":
            print(f"{path}: this run is already complete; --overwrite runs it again")
            return 0
        print(f"resuming {path} ({old.get('tasks_finished', 0)} of {len(tasks)} done)")
        meta = old
    else:
        prepare_run_dir(path, args.overwrite)  # refuses another run; --overwrite clears it
    if not meta:
        config = {"experiment": experiment, "runs": [t.settings for t in tasks]}
        meta = {**base_metadata("experiment", config, digest), "experiment": experiment}
    meta["command"] = "qgradbench " + shlex.join(args.argv)
    meta["plugins"] = [p.record() for p in args.loaded_plugins]
    plugins = tuple(p.worker_spec() for p in args.loaded_plugins)
    executor = LocalExecutor(workers=args.workers, threads=args.threads, plugins=plugins)
    return _execute(tasks, path, meta, executor, args.quiet, f"{experiment}")


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
    p.add_argument("--workers", type=int, default=1, help="processes at once (default 1)")
    p.add_argument("--threads", type=int, default=None, help="torch threads per worker")
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
    if (args.layers is None) == (args.layers_per_qubit is None):
        raise UsageError("qgradbench run variance: give --layers or --layers-per-qubit (one)")
    depth = (
        {"n_layers": args.layers} if args.layers else {"layers_per_qubit": args.layers_per_qubit}
    )
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
            raise UsageError("qgradbench run estimator: give --shots or --budget, not both")
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
            print(
                f"warning: {run} is marked {status}: the report covers the runs finished so far",
                file=sys.stderr,
            )
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


class Interrupted(KeyboardInterrupt):
    """The command was stopped by SIGINT (Ctrl-C) or SIGTERM (``kill``, ``timeout``).

    Attributes:
        signal: ``"SIGINT"`` or ``"SIGTERM"``.
        detail: what the command kept, for the one line the user sees.
    """

    def __init__(self, signal_name: str = "SIGINT", detail: str = ""):
        super().__init__(signal_name, detail)
        self.signal, self.detail = signal_name, detail

    def __str__(self) -> str:
        return f"interrupted by {self.signal}" + (f": {self.detail}" if self.detail else "")


def _signal_name(err: BaseException) -> str:
    return err.signal if isinstance(err, Interrupted) else "SIGINT"


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """Raise :class:`Interrupted` on SIGTERM inside the block, as Ctrl-C raises KeyboardInterrupt.

    A run stopped by ``kill`` or ``timeout`` then records its rows and status ``interrupted``
    like one stopped by Ctrl-C. Only the first SIGTERM raises (so that the run can write its
    metadata); the previous handler is restored afterwards. Outside the main thread signals
    cannot be handled and nothing is installed.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    raised = False

    def handler(signum, frame):
        nonlocal raised
        if not raised:
            raised = True
            raise Interrupted("SIGTERM")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


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
    """Run the command line; return the exit code."""
    try:
        argv = list(sys.argv[1:] if argv is None else argv)
        loaded = _preload_plugins(argv)  # before the parser lists the ansatzes
        args = build_parser().parse_args(argv)
        args.argv = argv
        args.loaded_plugins = loaded
        retain_unless_disabled()  # freed states stay in the heap for reuse (qgradbench/memory.py)
        with _sigterm_interrupts():
            return args.func(args)
    except (UsageError, ValueError) as err:
        print(f"error: {err}" if isinstance(err, ValueError) else str(err), file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:
        print(str(err if isinstance(err, Interrupted) else Interrupted()), file=sys.stderr)
        return 130  # for SIGINT and SIGTERM alike: both mean "stopped by the user"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
