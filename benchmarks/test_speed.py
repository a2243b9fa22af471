"""pytest-benchmark speed tests: one Adam step of the seed model, qgradbench next to PennyLane.

Not part of the default test run (``testpaths = ["tests"]``, ``--benchmark-disable``); run
explicitly::

    pytest benchmarks/test_speed.py --benchmark-enable

Each benchmark group is one pair (``seed-step <method>``): the qgradbench method and, for
backprop and adjoint, PennyLane's ``default.qubit`` backprop and ``lightning.qubit`` adjoint.
torch and OpenMP run on one thread. Models, data and optimisers are built before timing; each
case is warmed up once.
"""

from __future__ import annotations

import math

import pytest
import torch

from qgradbench.methods import names

from .compare_pennylane import (
    PENNYLANE_PAIRS,
    Case,
    UnavailableError,
    configure_threads,
    prepare_step,
    silence_pennylane_warnings,
)

PENNYLANE_METHODS = ["backprop", "adjoint"]


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    previous = torch.get_num_threads()
    configure_threads(1)
    yield
    torch.set_num_threads(previous)


def _pair(method: str) -> Case:
    device, pl_method = PENNYLANE_PAIRS.get(method, (None, None))
    return Case(method, None, device, pl_method)


def _run(benchmark, backend: str, case: Case, name: str) -> None:
    try:
        step = prepare_step(backend, case)
    except UnavailableError as err:
        pytest.skip(f"{name}: {err}")
    benchmark.group = f"seed-step {case.method}"
    benchmark.name = name
    benchmark.extra_info.update(backend=backend, method=case.method, pennylane=case.pl_label)
    loss = benchmark(step)
    assert math.isfinite(loss)


@pytest.mark.parametrize("method", names())
class TestQgradbenchSeedStep:
    def test_step(self, benchmark, method):
        """Test that one seed-model step with qgradbench's method runs (and time it)."""
        _run(benchmark, "qgradbench", _pair(method), f"qgradbench {method}")


@pytest.mark.pennylane
@pytest.mark.parametrize("method", PENNYLANE_METHODS)
class TestPennyLaneSeedStep:
    def test_step(self, benchmark, method):
        """Test that one seed-model step with PennyLane's paired configuration runs (timed)."""
        pytest.importorskip("pennylane")
        silence_pennylane_warnings()
        case = _pair(method)
        _run(benchmark, "pennylane", case, f"pennylane {case.pl_label}")
