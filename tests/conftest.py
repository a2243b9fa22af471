"""Shared fixtures: PennyLane reference circuits for the comparison tests.

PennyLane is an outside reference, not an optional one: it is pinned in the ``test`` extra and
imported directly, so a missing install is an error, not a skip. Under CI (``CI`` set to a
true value, as ``.ci/run`` and hosted runners do), a test marked ``pennylane`` that is skipped
for any other reason fails instead, so the agreement checks cannot vanish silently.
"""

from __future__ import annotations

import functools
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from qgradbench.circuits import draw_axes

# The fused group width is per machine (a calibration cache, qgradbench.engine.roofline); tests
# run with the constant whatever this machine calibrated, so counts do not depend on it.
os.environ.setdefault("QGRADBENCH_GROUP_WIDTH", "5")
from qgradbench.engine import PAULIS


def pennylane_circuit(ansatz: str, n: int, n_layers: int, observable: str = "z-each", seed=None):
    """Return ``f(x, w) -> (batch, n_out)`` built with PennyLane's default.qubit, torch backprop.

    The circuit is written with PennyLane's own templates wherever one exists, so that it checks
    our compilation of them rather than repeating it.
    """
    import pennylane as qml

    dev = qml.device("default.qubit", wires=n)
    axes = draw_axes(n, n_layers, seed) if ansatz == "random-pauli" else None
    rotation = {"X": qml.RX, "Y": qml.RY, "Z": qml.RZ}

    def measurements():
        z = [qml.PauliZ(i) for i in range(n)]
        if observable == "z-each":
            return [qml.expval(op) for op in z]
        if observable == "zz":
            return [qml.expval(z[0] @ z[1])]
        if observable == "global-z":
            return [qml.expval(functools.reduce(lambda a, b: a @ b, z))]
        if observable == "global-projector":
            return [qml.expval(qml.Projector([0] * n, wires=range(n)))]
        if observable == "local-projector":
            return [qml.expval(qml.Projector([0], wires=[j])) for j in range(n)]
        if observable == "local-z":
            return [qml.expval(op) for op in z]
        raise ValueError(observable)

    @qml.qnode(dev, interface="torch", diff_method="backprop")
    def circuit(x, w):
        for i in range(n):
            qml.RY(math.pi * x[..., i], wires=i)
        if ansatz == "strongly-entangling":
            qml.StronglyEntanglingLayers(w, wires=range(n))
        elif ansatz == "basic-entangler":
            qml.BasicEntanglerLayers(w, wires=range(n))
        else:  # McClean et al. 2018, written out gate by gate
            for i in range(n):
                qml.RY(math.pi / 4, wires=i)
            for layer in range(n_layers):
                for i in range(n):
                    rotation[PAULIS[axes[layer, i]]](w[..., layer, i], wires=i)
                for i in range(n - 1):
                    qml.CZ(wires=[i, i + 1])
        return measurements()

    def f(x, w):
        out = torch.stack(list(circuit(x, w)), dim=-1)
        if observable in ("local-projector", "local-z"):
            out = out.mean(-1, keepdim=True)
        return out

    return f


def pennylane_reference(ansatz, n, n_layers, x, w, observable="z-each", seed=None):
    """Return PennyLane's values and Jacobians (w.r.t. x and w) in float64."""
    f = pennylane_circuit(ansatz, n, n_layers, observable, seed)
    x, w = x.double(), w.double()
    jac_x, jac_w = torch.autograd.functional.jacobian(f, (x, w))
    return f(x, w).detach(), jac_x, jac_w


def in_ci() -> bool:
    """Whether the run is a CI run (``CI`` set to anything but empty, 0, false or no)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under CI, turn the skip of a ``pennylane``-marked test into a failure that says why."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and in_ci() and item.get_closest_marker("pennylane") is not None:
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = (
            f"{item.nodeid} compares against PennyLane and must run in CI, but was skipped: "
            f"{reason}"
        )


@pytest.fixture
def rng():
    """A seeded numpy generator."""
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def smoke(tmp_path_factory):
    """One run of the built-in smoke suite, as CI runs it (its run directory, no report)."""
    from qgradbench.cli import main

    out = tmp_path_factory.mktemp("smoke")
    code = main(["run", "suite", "smoke", "--out", str(out), "--workers", "1", "--threads", "1",
                 "--quiet", "--no-report"])  # fmt: skip
    assert code == 0
    (run,) = list((out / "smoke").iterdir())
    return run


def pytest_collection_modifyitems(config, items):
    """Under mutmut (``tools/mutation.sh``), run a mutant's tests fastest first.

    mutmut runs, for each mutant, every selected test that covers the mutated function, in no
    particular order, and stops at the first failure; the durations it recorded while
    collecting coverage (``mutmut-stats.json``, in the directory it runs from) put the cheap
    tests first, so a killed mutant dies sooner. Outside a mutant run nothing changes.
    """
    mutant = os.environ.get("MUTANT_UNDER_TEST", "")
    stats = Path("mutmut-stats.json")
    if mutant in ("", "stats", "fail") or not stats.is_file():
        return
    durations = json.loads(stats.read_text())["duration_by_test"]
    items.sort(key=lambda item: durations.get(item.nodeid, math.inf))
