"""Run the tasks of a suite into a run directory: in parallel, resumable, interrupt-safe.

A run directory holds one Parquet table per experiment (``train.parquet``, ``variance.parquet``
...), ``metadata.json`` and ``log.txt``. Every row carries ``task`` (its index in the expanded
suite) and ``task_key`` (a hash of what it computes). Finished tasks' rows are added to their
experiment's table, rewritten atomically (temporary file, then rename) and ordered by ``task``,
at most every :data:`FLUSH_SECONDS` while tasks finish and always when the run ends or is
interrupted, so:

* an interrupt (SIGINT or SIGTERM) loses only the tasks in flight; the status becomes
  ``interrupted`` and the tables hold every finished task (a SIGKILL loses at most the
  tasks of the last FLUSH_SECONDS, which a resume runs again);
* resuming skips every task whose key is already in a table and never duplicates a row;
* the tables do not depend on the order in which tasks finish, so 1 worker, K workers and Ray
  give the same rows (timing columns aside).

A task that raises is recorded (metadata ``failures`` and the log) and the others go on.

Executors: :class:`LocalExecutor` (in this process for one worker, else a pool of spawned
processes, each pinned to its share of the cores) and :class:`RayExecutor` (Ray tasks; results
are written by the driver only). Workers pin torch's threads because the small circuits of this
project run 10-100x slower when threads outnumber free cores. Both executors take ``plugins``
(:meth:`qgradbench.plugins.Plugin.worker_spec` of each): every worker imports them before its
first task, so circuits registered from a user module exist in every process (on a Ray
cluster, the plugin's file or module must be importable on every node).
"""

from __future__ import annotations

import os
import signal
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from qgradbench.suite import tables
from qgradbench.suite.config import Task
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


def run_task(
    experiment: str, settings: dict, threads: int | None = None, plugins: tuple = ()
) -> list[dict]:
    """Run one experiment spec and return its rows (what every executor calls).

    ``plugins`` are imported first (once per process; see :mod:`qgradbench.plugins`).
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
    return exp.run(exp.spec(**settings))


def _run_indexed(args: tuple) -> tuple:
    """Worker entry: run a task; return ``(index, rows, error, seconds)`` (one of rows/error).

    ``args`` is ``(index, experiment, settings, threads[, plugins])``.
    """
    index, experiment, settings, threads, *rest = args
    plugins = rest[0] if rest else ()
    started = time.perf_counter()
    try:
        rows = run_task(experiment, settings, threads, plugins)
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

    def run(self, tasks: list[Task]) -> Iterator[Outcome]:
        """Yield each task's outcome as it finishes."""
        by_index = {t.index: t for t in tasks}
        jobs = [(t.index, t.experiment, t.settings, self.threads, self.plugins) for t in tasks]
        if self.workers == 1 or len(tasks) <= 1:
            import torch

            previous = torch.get_num_threads()
            try:
                for job in jobs:
                    index, rows, error, seconds = _run_indexed(job)
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

    def run(self, tasks: list[Task]) -> Iterator[Outcome]:
        """Yield each task's outcome as it finishes."""
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


class InterruptedRunError(BaseException):
    """SIGTERM, raised like KeyboardInterrupt (a BaseException): no task handler catches it."""


def _raise_interrupted(signum, frame):
    raise InterruptedRunError(signal.Signals(signum).name)


@dataclass
class RunState:
    """Tables, failures and counters of one run directory.

    Attributes:
        path: the run directory.
        frames: per experiment, the rows written so far.
        failures: the tasks that raised, with their errors.
        pending: per experiment, finished tasks' rows not written yet.
    """

    path: Path
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)
    failures: list[dict] = field(default_factory=list)
    pending: dict[str, list[dict]] = field(default_factory=dict)

    def table_path(self, experiment: str) -> Path:
        """Where the experiment's table lives."""
        return self.path / f"{experiment}.parquet"

    def load(self, experiments: set[str]) -> set[str]:
        """Read the existing tables; return the keys of the tasks they hold."""
        done: set[str] = set()
        for experiment in experiments:
            path = self.table_path(experiment)
            if path.exists():
                frame = pd.read_parquet(path)
                self.frames[experiment] = frame
                done.update(frame["task_key"].unique())
        return done

    def add(self, outcome: Outcome) -> None:
        """Add a finished task's rows (written by the next :meth:`flush`)."""
        task = outcome.task
        rows = [
            {"task": task.index, "task_key": task.key, "label": task.label, **row}
            for row in outcome.rows
        ]
        self.pending.setdefault(task.experiment, []).extend(rows)

    def flush(self) -> None:
        """Rewrite the tables that have new rows, each atomically (temporary file, rename).

        SIGINT and SIGTERM are held back while it runs (and delivered right after), so an
        interrupt never leaves the tables and the pending rows out of step.
        """
        if not self.pending:
            return
        signals = {signal.SIGINT, signal.SIGTERM}
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, signals)
        try:
            self._write_pending()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)

    def _write_pending(self) -> None:
        for experiment, new in self.pending.items():
            old = self.frames.get(experiment)
            new = tables.frame(new)
            merged = tables.concat([new] if old is None else [old, new])
            merged = merged.sort_values("task", kind="stable").reset_index(drop=True)
            path = self.table_path(experiment)
            tmp = path.with_suffix(".parquet.tmp")
            merged.to_parquet(tmp, index=False)
            os.replace(tmp, path)
            self.frames[experiment] = merged
        self.pending.clear()

    def rows(self) -> dict[str, int]:
        """Rows per table."""
        return {name: len(frame) for name, frame in self.frames.items()}


def _log(path: Path, line: str) -> None:
    with open(path / LOG, "a") as log:
        log.write(f"{now()} {line}\n")


def execute(
    tasks: list[Task],
    path: Path,
    meta: dict,
    executor,
    *,
    on_outcome: Callable[[Outcome, int, int], None] | None = None,
) -> dict:
    """Run the tasks not yet in ``path``'s tables and keep ``metadata.json`` up to date.

    Args:
        tasks: every task of the run (finished ones are skipped).
        path: the run directory (exists).
        meta: metadata to write (status, counts and times are added).
        executor: a :class:`LocalExecutor` or :class:`RayExecutor`.
        on_outcome: called after each task with ``(outcome, finished, failed)``.

    Returns:
        The final metadata (``status`` ``complete``, ``failed`` or ``interrupted``).
    """
    state = RunState(path)
    done = state.load({t.experiment for t in tasks})
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
        }
    )
    meta.setdefault("started", now())
    meta.setdefault("runs", []).append({"started": now()})
    write_json(path / METADATA, meta)
    _log(path, f"start: {len(todo)} of {len(tasks)} tasks to run ({executor.name})")
    finished, failed = len(tasks) - len(todo), 0
    previous = signal.signal(signal.SIGTERM, _raise_interrupted)
    try:
        flushed = time.monotonic()
        for outcome in executor.run(todo):
            if outcome.error is None:
                state.add(outcome)
                finished += 1
                _log(path, f"done task {outcome.task.index} ({outcome.seconds:.2f} s)")
                if time.monotonic() - flushed >= FLUSH_SECONDS:
                    state.flush()
                    flushed = time.monotonic()
            else:
                failed += 1
                state.failures.append(
                    {"task": outcome.task.index, "key": outcome.task.key,
                     "run": outcome.task.describe(), "error": outcome.error}
                )  # fmt: skip
                _log(path, f"FAILED task {outcome.task.index}: {outcome.error}")
            if on_outcome is not None:
                on_outcome(outcome, finished, failed)
        meta["status"] = "failed" if failed else "complete"
    except (KeyboardInterrupt, InterruptedRunError) as err:
        executor.shutdown()
        meta["status"] = "interrupted"
        _log(path, f"interrupted ({type(err).__name__} {err})")
    finally:
        signal.signal(signal.SIGTERM, previous)
        try:
            state.flush()  # finished tasks are never lost to an interrupt
        finally:
            meta.update(
                {
                    "finished": now(),
                    "tasks_finished": finished,
                    "tasks_failed": failed,
                    "failures": state.failures,
                    "rows": state.rows(),
                    "tables": sorted(state.table_path(e).name for e in state.frames),
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
