"""Run the tasks of a suite into a run directory: in parallel, resumable, interrupt-safe.

A run directory holds one Parquet table per experiment (``train.parquet``, ``variance.parquet``
...), ``metadata.json`` and ``log.txt``. Every row carries ``task`` (its index in the expanded
suite) and ``task_key`` (a hash of what it computes). Finished tasks' rows are added to their
experiment's table, rewritten atomically (temporary file, then rename) and ordered by ``task``,
at most every :data:`FLUSH_SECONDS` while tasks finish and always when the run ends or is
interrupted, so:

* an interrupt (SIGINT or SIGTERM, :func:`interrupts`: the one mechanism of every command)
  loses only the tasks in flight; the status becomes ``interrupted`` and the tables hold every
  finished task (a SIGKILL loses at most the tasks of the last FLUSH_SECONDS, which a resume
  runs again);
* a training task run in this process (one worker: a single ``run train``) hands each epoch's
  row to the runner as it finishes; those rows are written with the tables too, so an
  interrupt keeps the finished epochs. ``unfinished_tasks`` in the metadata names such a task
  (before its rows reach a table), and a resume drops its rows and runs it from the start;
* resuming skips every task whose key is already in a table and never duplicates a row;
* the tables do not depend on the order in which tasks finish, so 1 worker, K workers and Ray
  give the same rows (timing columns aside).

A task that raises is recorded (metadata ``failures`` and the log) and the others go on.

Every run is a suite: ``qgradbench run train`` (``variance``, ``estimator``, ``runtime``) is
a suite of one experiment (:func:`experiment_suite`, :func:`experiment_run_dir`), with the
same metadata keys (:func:`run_metadata`), tables, log and interrupt handling as ``run suite``.

Executors: :class:`LocalExecutor` (in this process for one worker, else a pool of spawned
processes, each pinned to its share of the cores) and :class:`RayExecutor` (Ray tasks; results
are written by the driver only). Workers pin torch's threads because the small circuits of this
project run 10-100x slower when threads outnumber free cores. Both executors take ``plugins``
(:meth:`qgradbench.plugins.Plugin.worker_spec` of each): every worker imports them before its
first task, so circuits registered from a user module exist in every process (on a Ray
cluster, the plugin's file or module must be importable on every node).
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from qgradbench.suite import tables
from qgradbench.suite.config import Suite, Task
from qgradbench.suite.store import environment, now, write_json

METADATA = "metadata.json"
LOG = "log.txt"

#: Tables are rewritten at most this often while tasks finish (and always at the end or on an
#: interrupt), so that many quick tasks do not spend their time rewriting Parquet files.
FLUSH_SECONDS = 2.0


@dataclass
class Outcome:
    """What became of one task: its rows, or its error."""

    task: Task
    rows: list[dict] | None
    error: str | None
    seconds: float


@dataclass
class Hooks:
    """Callbacks of a task run in this process (the per-epoch progress of a training run).

    Attributes:
        on_row: called as ``on_row(task, row)`` with every row of a training run as its epoch
            finishes (the runner records it at once, so an interrupt keeps finished epochs).
        on_batch: called as ``on_batch(batch, n_batches)`` after every optimiser step.
        on_model: called as ``on_model(task, model, data)`` before a training run starts (a
            handle on the model, e.g. to draw its decision boundary afterwards).
    """

    on_row: Callable[[Task, dict], None] | None = None
    on_batch: Callable[[int, int], None] | None = None
    on_model: Callable[[Task, object, object], None] | None = None


def run_task(
    experiment: str,
    settings: dict,
    threads: int | None = None,
    plugins: tuple = (),
    hooks: Hooks | None = None,
    task: Task | None = None,
) -> list[dict]:
    """Run one experiment spec and return its rows (what every executor calls).

    ``plugins`` are imported first (once per process; see :mod:`qgradbench.plugins`). With
    ``hooks`` (in-process runs only), a training run reports each epoch's row as it finishes.
    """
    import torch

    from qgradbench.experiments import get_experiment
    from qgradbench.memory import retain_unless_disabled
    from qgradbench.plugins import load_plugins

    retain_unless_disabled()  # in every worker, local or Ray (qgradbench/memory.py)
    load_plugins(plugins)
    if threads is not None:
        torch.set_num_threads(threads)
    exp = get_experiment(experiment)
    spec = exp.spec(**settings)
    if hooks is None or experiment != "train":
        return exp.run(spec)
    return _stream_train(spec, hooks, task)


def _stream_train(spec, hooks: Hooks, task: Task | None) -> list[dict]:
    """Train, handing every epoch's row to ``hooks.on_row`` as it finishes."""
    from qgradbench.experiments.train import iter_train

    def keep(model, data):
        if hooks.on_model is not None:
            hooks.on_model(task, model, data)

    rows = []
    for row in iter_train(spec, on_model=keep, on_batch=hooks.on_batch):
        rows.append(row)
        if hooks.on_row is not None:
            hooks.on_row(task, row)
    return rows


def _run_indexed(args: tuple, hooks: Hooks | None = None, task: Task | None = None) -> tuple:
    """Worker entry: run a task; return ``(index, rows, error, seconds)`` (one of rows/error).

    ``args`` is ``(index, experiment, settings, threads[, plugins])``; ``hooks`` and ``task``
    are for in-process runs only.
    """
    index, experiment, settings, threads, *rest = args
    plugins = rest[0] if rest else ()
    started = time.perf_counter()
    try:
        rows = run_task(experiment, settings, threads, plugins, hooks, task)
        return index, rows, None, time.perf_counter() - started
    except Exception as err:  # noqa: BLE001 - recorded and reported, the suite goes on
        detail = "".join(traceback.format_exception_only(type(err), err)).strip()
        return index, None, detail, time.perf_counter() - started


def _init_worker(threads: int) -> None:
    """Pin a pool worker's threads; let the parent alone handle Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ["OMP_NUM_THREADS"] = str(threads)
    import torch

    torch.set_num_threads(threads)


@dataclass
class LocalExecutor:
    """Tasks in this process (``workers=1``) or a pool of ``workers`` spawned processes.

    Attributes:
        workers: processes running tasks at once.
        threads: torch threads per worker (default: the cores divided among the workers).
        plugins: modules every worker imports first (:meth:`Plugin.worker_spec` of each).
    """

    workers: int = 1
    threads: int | None = None
    plugins: tuple = ()
    name: str = field(default="local", init=False)
    _pool: object = field(default=None, init=False, repr=False)

    def __post_init__(self):
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 1:
            raise ValueError(f"workers must be an integer >= 1, got {self.workers!r}")
        if self.threads is None:
            self.threads = max(1, (os.cpu_count() or 1) // self.workers)
        elif isinstance(self.threads, bool) or self.threads < 1:
            raise ValueError(f"threads must be an integer >= 1, got {self.threads!r}")

    @property
    def in_process(self) -> bool:
        """Whether tasks run in this process (one worker): only then do hooks see epochs."""
        return self.workers == 1

    def run(self, tasks: list[Task], hooks: Hooks | None = None) -> Iterator[Outcome]:
        """Yield each task's outcome as it finishes (``hooks`` serve in-process runs only)."""
        by_index = {t.index: t for t in tasks}
        jobs = [(t.index, t.experiment, t.settings, self.threads, self.plugins) for t in tasks]
        if self.workers == 1 or len(tasks) <= 1:
            import torch

            previous = torch.get_num_threads()
            try:
                for job, task in zip(jobs, tasks, strict=True):
                    index, rows, error, seconds = _run_indexed(job, hooks, task)
                    yield Outcome(by_index[index], rows, error, seconds)
            finally:
                torch.set_num_threads(previous)
            return
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        self._pool = context.Pool(min(self.workers, len(tasks)), _init_worker, (self.threads,))
        try:
            for index, rows, error, seconds in self._pool.imap_unordered(_run_indexed, jobs):
                yield Outcome(by_index[index], rows, error, seconds)
            self._pool.close()
        finally:
            self.shutdown()

    def shutdown(self) -> None:
        """Stop the workers (tasks in flight are lost)."""
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None


@dataclass
class RayExecutor:
    """Tasks as Ray tasks on a cluster (``address``) or a local Ray instance.

    Attributes:
        address: the cluster's address (``ray.init(address=...)``), or ``None`` for a local one.
        threads: CPUs (and torch threads) per task.
        workers: tasks in flight at once on a local instance (its CPUs: ``workers * threads``).
        plugins: modules every task imports first (:meth:`Plugin.worker_spec` of each).
    """

    address: str | None = None
    threads: int = 1
    workers: int | None = None
    plugins: tuple = ()
    name: str = field(default="ray", init=False)
    in_process: bool = field(default=False, init=False)

    def run(self, tasks: list[Task], hooks: Hooks | None = None) -> Iterator[Outcome]:
        """Yield each task's outcome as it finishes (``hooks`` are not called: rows come whole)."""
        try:
            import ray
        except ImportError:
            raise ValueError("the Ray executor needs Ray: pip install 'qgradbench[ray]'") from None
        if not ray.is_initialized():
            options = {"include_dashboard": False, "log_to_driver": False}
            if self.address:
                ray.init(address=self.address, **options)
            else:
                cpus = (self.workers or os.cpu_count() or 1) * self.threads
                ray.init(num_cpus=cpus, **options)
        remote = ray.remote(num_cpus=self.threads, max_retries=0)(_run_indexed)
        by_index = {t.index: t for t in tasks}
        pending = [
            remote.remote((t.index, t.experiment, t.settings, self.threads, self.plugins))
            for t in tasks
        ]
        self._pending = pending
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            self._pending = pending
            index, rows, error, seconds = ray.get(ready[0])
            yield Outcome(by_index[index], rows, error, seconds)

    def shutdown(self) -> None:
        """Cancel the tasks in flight."""
        import ray

        for ref in getattr(self, "_pending", []):
            ray.cancel(ref, force=True)


class Interrupted(KeyboardInterrupt):
    """A run stopped by SIGINT (Ctrl-C) or SIGTERM (``kill``, ``timeout``).

    It is a KeyboardInterrupt, so no task's ``except Exception`` catches it, and SIGTERM
    ends a run exactly as Ctrl-C does (see :func:`interrupts`).

    Attributes:
        signal: ``"SIGINT"`` or ``"SIGTERM"``.
        detail: what the command kept, for the one line the user sees.
    """

    def __init__(self, signal_name: str = "SIGINT", detail: str = ""):
        super().__init__(signal_name, detail)
        self.signal, self.detail = signal_name, detail

    def __str__(self) -> str:
        return f"interrupted by {self.signal}" + (f": {self.detail}" if self.detail else "")


def signal_name(err: BaseException) -> str:
    """``"SIGTERM"`` for an :class:`Interrupted` by SIGTERM, else ``"SIGINT"`` (Ctrl-C)."""
    return err.signal if isinstance(err, Interrupted) else "SIGINT"


class _SigtermHandler:
    """A SIGTERM handler: the first SIGTERM raises :class:`Interrupted`.

    Later ones are ignored, so that the run can write its tables and metadata.
    """

    def __init__(self):
        self.raised = False

    def __call__(self, signum, frame):
        if not self.raised:
            self.raised = True
            raise Interrupted("SIGTERM")


@contextlib.contextmanager
def interrupts() -> Iterator[None]:
    """Inside the block, SIGTERM raises :class:`Interrupted` as Ctrl-C raises KeyboardInterrupt.

    The one interrupt mechanism of every run (``run suite`` and the single-experiment commands,
    the CLI and :func:`execute`): a run stopped by ``kill`` or ``timeout`` records its rows and
    status ``interrupted`` like one stopped by Ctrl-C. Nested blocks keep the outer handler;
    the previous handler is restored when the outermost block ends. Outside the main thread
    signals cannot be handled and nothing is installed.
    """
    main = threading.current_thread() is threading.main_thread()
    if not main or isinstance(signal.getsignal(signal.SIGTERM), _SigtermHandler):
        yield
        return
    previous = signal.signal(signal.SIGTERM, _SigtermHandler())
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@dataclass
class RunState:
    """Tables, failures and counters of one run directory.

    Attributes:
        path: the run directory.
        frames: per experiment, the finished tasks' rows written so far.
        failures: the tasks that raised, with their errors.
        pending: per experiment, finished tasks' rows not written yet.
        partial: per task key, the task and the rows of a task still running (the epochs of a
            training run so far); written with the tables, so that an interrupt keeps them,
            and dropped when the run resumes (the task starts over).
        dirty: the experiments whose tables must be rewritten.
        flushed: when the tables were last written (``time.monotonic``).
    """

    path: Path
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)
    failures: list[dict] = field(default_factory=list)
    pending: dict[str, list[dict]] = field(default_factory=dict)
    partial: dict[str, tuple[Task, list[dict]]] = field(default_factory=dict)
    dirty: set[str] = field(default_factory=set)
    flushed: float = -math.inf

    def table_path(self, experiment: str) -> Path:
        """Where the experiment's table lives."""
        return self.path / f"{experiment}.parquet"

    def load(self, experiments: set[str], drop: set[str] = frozenset()) -> set[str]:
        """Read the existing tables; return the keys of the tasks they hold.

        Rows of the tasks in ``drop`` (unfinished when the run stopped) are removed.
        """
        done: set[str] = set()
        for experiment in experiments:
            path = self.table_path(experiment)
            if path.exists():
                frame = pd.read_parquet(path)
                unfinished = frame["task_key"].isin(drop)
                if unfinished.any():
                    frame = frame[~unfinished].reset_index(drop=True)
                    self.dirty.add(experiment)
                self.frames[experiment] = frame
                done.update(frame["task_key"].unique())
        return done

    @staticmethod
    def _labelled(task: Task, rows: list[dict]) -> list[dict]:
        return [{"task": task.index, "task_key": task.key, "label": task.label, **r} for r in rows]

    def add(self, outcome: Outcome) -> None:
        """Add a finished task's rows (written by the next :meth:`flush`)."""
        task = outcome.task
        self.partial.pop(task.key, None)
        self.pending.setdefault(task.experiment, []).extend(self._labelled(task, outcome.rows))
        self.dirty.add(task.experiment)

    def add_partial(self, task: Task, row: dict) -> None:
        """Add one row of a task still running (written by the next :meth:`flush`)."""
        self.partial.setdefault(task.key, (task, []))[1].append(row)
        self.dirty.add(task.experiment)

    def discard_partial(self, task: Task) -> None:
        """Forget the rows of a task that failed (its table is rewritten without them)."""
        if self.partial.pop(task.key, None) is not None:
            self.dirty.add(task.experiment)

    def unfinished(self) -> list[dict]:
        """The tasks whose rows so far are in the tables: index, key and rows."""
        return [
            {"task": task.index, "key": key, "rows": len(rows)}
            for key, (task, rows) in self.partial.items()
        ]

    def flush(self) -> None:
        """Rewrite the tables that have new rows, each atomically (temporary file, rename).

        SIGINT and SIGTERM are held back while it runs (and delivered right after), so an
        interrupt never leaves the tables and the pending rows out of step.
        """
        if not self.dirty:
            return
        signals = {signal.SIGINT, signal.SIGTERM}
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, signals)
        try:
            self._write_pending()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)

    def _write_pending(self) -> None:
        for experiment in sorted(self.dirty):
            parts = [self.frames.get(experiment), tables.frame(self.pending.pop(experiment, []))]
            committed = tables.concat([p for p in parts if p is not None])
            running = [
                row
                for task, rows in self.partial.values()
                if task.experiment == experiment
                for row in self._labelled(task, rows)
            ]
            merged = tables.concat([committed, tables.frame(running)])
            path = self.table_path(experiment)
            if not len(merged):
                self.frames.pop(experiment, None)
                path.unlink(missing_ok=True)
                continue
            self.frames[experiment] = committed if len(committed) else committed.iloc[:0]
            merged = merged.sort_values("task", kind="stable").reset_index(drop=True)
            merged = tables.nullable_integers(merged)
            tmp = path.with_suffix(".parquet.tmp")
            merged.to_parquet(tmp, index=False)
            os.replace(tmp, path)
        self.dirty.clear()
        self.flushed = time.monotonic()

    def rows(self) -> dict[str, int]:
        """Rows per table (an unfinished task's rows included)."""
        counts = {name: len(frame) for name, frame in self.frames.items()}
        for task, rows in self.partial.values():
            counts[task.experiment] = counts.get(task.experiment, 0) + len(rows)
        return counts


def _log(path: Path, line: str) -> None:
    with open(path / LOG, "a") as log:
        log.write(f"{now()} {line}\n")


def _record_unfinished(state: RunState, meta: dict) -> None:
    """Name the unfinished tasks in ``metadata.json`` before their rows reach a table.

    So that even after a SIGKILL a resume knows which rows belong to a task cut short.
    """
    unfinished = state.unfinished()
    if {u["key"] for u in unfinished} - {u["key"] for u in meta.get("unfinished_tasks", [])}:
        meta["unfinished_tasks"] = unfinished
        write_json(state.path / METADATA, meta)


def _recording_hooks(state: RunState, meta: dict, hooks: Hooks | None) -> Hooks:
    """Hooks that record each training epoch's row as it finishes, then call ``hooks``'.

    The rows are written with the tables (at most every :data:`FLUSH_SECONDS`, and at once
    for the first row of a run), the task named in the metadata first.
    """
    user = hooks or Hooks()

    def on_row(task: Task, row: dict) -> None:
        state.add_partial(task, row)
        if time.monotonic() - state.flushed >= FLUSH_SECONDS:
            _record_unfinished(state, meta)
            state.flush()
        if user.on_row is not None:
            user.on_row(task, row)

    return Hooks(on_row=on_row, on_batch=user.on_batch, on_model=user.on_model)


def execute(
    tasks: list[Task],
    path: Path,
    meta: dict,
    executor,
    *,
    on_outcome: Callable[[Outcome, int, int], None] | None = None,
    on_start: Callable[[list[Task]], None] | None = None,
    hooks: Hooks | None = None,
) -> dict:
    """Run the tasks not yet in ``path``'s tables and keep ``metadata.json`` up to date.

    A task run in this process (one worker) that trains a model records every epoch's row as
    it finishes, so an interrupt keeps them (``unfinished_tasks`` in the metadata names such
    a task; a resume drops its rows and runs it again from the start).

    Args:
        tasks: every task of the run (finished ones are skipped).
        path: the run directory (exists).
        meta: metadata to write (status, counts and times are added).
        executor: a :class:`LocalExecutor` or :class:`RayExecutor`.
        on_outcome: called after each task with ``(outcome, finished, failed)``.
        on_start: called with the tasks left to run, before the first starts.
        hooks: per-epoch callbacks of in-process training runs (:class:`Hooks`).

    Returns:
        The final metadata (``status`` ``complete``, ``failed`` or ``interrupted``; with
        ``interrupted_by``, the signal, when interrupted).
    """
    state = RunState(path)
    unfinished = {u["key"] for u in meta.get("unfinished_tasks", [])}
    done = state.load({t.experiment for t in tasks}, drop=unfinished)
    todo = [t for t in tasks if t.key not in done]
    meta.update(
        {
            "status": "running",
            "tasks": len(tasks),
            "tasks_done_before": len(tasks) - len(todo),
            "executor": executor.name,
            "workers": getattr(executor, "workers", None),
            "threads_per_worker": executor.threads,
            "resumed": meta.get("resumed", False) or len(todo) < len(tasks),
            "unfinished_tasks": [],
        }
    )
    meta.pop("interrupted_by", None)
    meta.setdefault("started", now())
    meta.setdefault("runs", []).append({"started": now()})
    write_json(path / METADATA, meta)
    _log(path, f"start: {len(todo)} of {len(tasks)} tasks to run ({executor.name})")
    finished, failed = len(tasks) - len(todo), 0
    try:
        with interrupts():
            if on_start is not None:
                on_start(todo)
            for outcome in executor.run(todo, _recording_hooks(state, meta, hooks)):
                if outcome.error is None:
                    state.add(outcome)
                    finished += 1
                    _log(path, f"done task {outcome.task.index} ({outcome.seconds:.2f} s)")
                    if time.monotonic() - state.flushed >= FLUSH_SECONDS:
                        _record_unfinished(state, meta)
                        state.flush()
                else:
                    failed += 1
                    state.discard_partial(outcome.task)
                    state.failures.append(
                        {"task": outcome.task.index, "key": outcome.task.key,
                         "run": outcome.task.describe(), "error": outcome.error}
                    )  # fmt: skip
                    _log(path, f"FAILED task {outcome.task.index}: {outcome.error}")
                if on_outcome is not None:
                    on_outcome(outcome, finished, failed)
        meta["status"] = "failed" if failed else "complete"
    except KeyboardInterrupt as err:
        executor.shutdown()
        meta["status"] = "interrupted"
        meta["interrupted_by"] = signal_name(err)
        _log(path, f"interrupted ({signal_name(err)})")
    finally:
        try:
            _record_unfinished(state, meta)
            state.flush()  # finished tasks (and finished epochs) are never lost to an interrupt
        finally:
            meta.update(
                {
                    "finished": now(),
                    "tasks_finished": finished,
                    "tasks_failed": failed,
                    "failures": state.failures,
                    "rows": state.rows(),
                    "tables": sorted(state.table_path(e).name for e in state.rows()),
                    "unfinished_tasks": state.unfinished(),
                }
            )
            meta["runs"][-1]["finished"] = meta["finished"]
            write_json(path / METADATA, meta)
    return meta


def base_metadata(kind: str, config: dict, digest: str) -> dict:
    """Metadata common to suite and single-experiment runs."""
    import torch

    return {
        "kind": kind,
        "config": config,
        "digest": digest,
        "torch_threads_main": torch.get_num_threads(),
        **environment(),
    }


def run_metadata(kind: str, suite: Suite) -> dict:
    """The metadata of a new run of ``suite``: the same keys for every kind of run.

    Args:
        kind: ``"suite"`` (``run suite``) or ``"experiment"`` (``run train``, ``run variance``
            ... : a suite of one experiment, :func:`experiment_suite`).
        suite: what the run computes.
    """
    meta = base_metadata(kind, suite.config, suite.digest)
    experiments = sorted({t.experiment for t in suite.tasks})
    meta.update({"suite": suite.name, "source": suite.source, "experiments": experiments})
    return meta


def experiment_suite(experiment: str, tasks: list[Task]) -> Suite:
    """The suite of a single-experiment command: its tasks, named after the experiment.

    ``qgradbench run train`` (and ``variance``, ``estimator``, ``runtime``) run through the same
    runner, metadata and tables as ``run suite``; their suite's config is
    ``{"experiment": NAME, "runs": [settings of each task]}``.
    """
    config = {"experiment": experiment, "runs": [t.settings for t in tasks]}
    return Suite(experiment, f"qgradbench run {experiment}", "command line", config, tuple(tasks))


def experiment_run_dir(
    suite: Suite, out: str | os.PathLike | None, overwrite: bool = False
) -> tuple[Path, dict]:
    """The run directory of a single-experiment run (see :func:`experiment_suite`).

    Without ``out`` it is :func:`suite_run_dir` under ``results/``: ``results/<experiment>/
    <run-id>/``, or the latest unfinished run of the same tasks there. With ``out`` it is that
    directory: resumed if it holds the same tasks (its metadata is returned, ``complete`` or
    not), else prepared for a new run (:func:`~qgradbench.suite.store.prepare_run_dir`).

    Returns:
        The directory and its metadata (``{}`` for a new run).

    Raises:
        RunExistsError: ``out`` holds another run and ``overwrite`` is false.
        ValueError: ``out`` is a file or cannot be created.
    """
    from qgradbench.suite.store import prepare_run_dir

    if out is None:  # a fresh directory per run (``overwrite`` has nothing to replace)
        return suite_run_dir(suite, "results")
    path = Path(out)
    old = read_metadata(path) or {}
    if old.get("digest") == suite.digest and not overwrite:
        return path, old
    return prepare_run_dir(path, overwrite), {}


def read_metadata(path: Path) -> dict | None:
    """The run directory's ``metadata.json``, or ``None`` when missing or unreadable."""
    import json

    try:
        return json.loads((path / METADATA).read_text())
    except (OSError, ValueError):
        return None


def suite_run_dir(suite, out: str | os.PathLike, resume: str | None = None) -> tuple[Path, dict]:
    """The run directory of ``suite``: resumed, or new under ``out/<suite>/<run-id>/``.

    With ``resume`` that directory is resumed and must hold the same suite (same expanded runs).
    Without it, the latest unfinished run of the same suite under ``out/<suite>/`` is resumed,
    or a new run directory is made.

    Returns:
        The directory and its metadata (``{}`` for a new run).

    Raises:
        ValueError: a ``resume`` directory that holds no run or another suite.
    """
    from qgradbench.suite.store import check_out_dir, run_id

    if resume is not None:
        path = Path(resume)
        meta = read_metadata(path)
        if meta is None:
            raise ValueError(f"--resume {resume}: no suite run there (no readable {METADATA})")
        if meta.get("digest") != suite.digest:
            raise ValueError(
                f"--resume {resume}: that directory holds suite {meta.get('suite')!r} with other "
                f"runs (digest {meta.get('digest')}); refusing to mix suite {suite.name!r} "
                f"(digest {suite.digest}) into it"
            )
        return path, meta
    base = check_out_dir(Path(out) / suite.name)
    candidates = []
    for child in base.iterdir():
        meta = read_metadata(child) if child.is_dir() else None
        if meta and meta.get("digest") == suite.digest and meta.get("status") != "complete":
            candidates.append((meta.get("started", ""), child, meta))
    if candidates:
        _, path, meta = max(candidates, key=lambda c: (c[0], str(c[1])))
        return path, meta
    path = base / run_id({"suite": suite.name, "digest": suite.digest})
    while path.exists():  # two runs in one second
        path = path.with_name(path.name + "-1")
    path.mkdir(parents=True)
    return path, {}
