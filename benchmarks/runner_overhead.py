"""Overhead of the suite runner on the smoke suite: wall time minus the tasks' own time.

    OMP_NUM_THREADS=1 python benchmarks/runner_overhead.py

Runs the smoke suite in this process with one worker and one thread (after one tiny warm-up
task, so that imports and first-call costs count on neither side) and prints the runner's
share: grid expansion, table writes, metadata, log and progress callbacks.
"""

from __future__ import annotations

import pathlib
import tempfile
import time

from qgradbench.suite.config import load_suite
from qgradbench.suite.runner import LocalExecutor, execute, run_task


def main() -> None:
    """Measure and print the overhead."""
    run_task("variance", {"n_qubits": 2, "n_layers": 1, "samples": 2}, 1)  # warm-up
    t0 = time.perf_counter()
    suite = load_suite("smoke")
    expand = time.perf_counter() - t0
    seconds: list[float] = []
    with tempfile.TemporaryDirectory() as folder:
        t0 = time.perf_counter()
        execute(
            list(suite.tasks),
            pathlib.Path(folder),
            {},
            LocalExecutor(workers=1, threads=1),
            on_outcome=lambda outcome, done, failed: seconds.append(outcome.seconds),
        )
        wall = time.perf_counter() - t0 + expand
    overhead = wall - sum(seconds)
    print(
        f"smoke: wall {wall:.2f} s, tasks {sum(seconds):.2f} s, runner {overhead * 1e3:.0f} ms "
        f"({100 * overhead / wall:.1f}%), of which loading and expanding the suite "
        f"{expand * 1e3:.1f} ms"
    )


if __name__ == "__main__":
    main()
