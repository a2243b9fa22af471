"""Retaining freed memory (qgradbench/memory.py): the allocator stops faulting in fresh pages.

The check is the mechanism itself, counted by the kernel: minor page faults while a 64 MiB tensor
is allocated, written and freed ten times, in a fresh interpreter, after ten such rounds of
warm-up. With glibc's defaults every allocation is a new mapping whose 16,384 pages fault in
again (about 164,000 faults); with freed memory retained the heap has settled (posix_memalign's
split-off remainders make it grow by a few blocks first) and nothing faults. A wrong
``mallopt`` parameter number or value leaves the defaults in place and fails the first test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from qgradbench import memory

PROBE = """
import json, resource, sys, torch
from qgradbench import memory
applied = memory.retain_unless_disabled()
for _ in range(10):  # the heap settles: glibc's aligned allocations leave a few holes first
    torch.empty(2**24).fill_(1.0)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    torch.empty(2**24).fill_(1.0)  # 64 MiB
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(json.dumps({"applied": applied, "retained": memory.retained(), "faults": faults}))
"""

PAGES_PER_TENSOR = 2**26 // 4096

glibc = pytest.mark.skipif(
    not sys.platform.startswith("linux") or memory._libc() is None, reason="needs glibc"
)


def _probe(switch: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != memory.ENV_SWITCH}
    if switch is not None:
        env[memory.ENV_SWITCH] = switch
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


@glibc
def test_retained_memory_is_reused_without_page_faults():
    """Test that ten 64 MiB allocations after the first fault in (almost) no pages."""
    result = _probe(None)
    assert result["applied"] and result["retained"]
    assert result["faults"] < PAGES_PER_TENSOR // 4, result


@glibc
def test_switch_off_keeps_the_defaults():
    """Test QGRADBENCH_RETAIN_FREED_MEMORY=0: every allocation faults its pages in again."""
    result = _probe("0")
    assert not result["applied"] and not result["retained"]
    assert result["faults"] > 10 * PAGES_PER_TENSOR // 2, result


LAYER_PROBE = """
import json, resource, torch
import qgradbench
torch.set_num_threads(1)
x, faults = torch.rand(8, 20), {}
for layers in (1, 3):
    layer = qgradbench.QuantumLayer(20, layers, seed=0)
    with torch.no_grad():
        layer(x)  # warm-up: schedules, index tables
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        layer(x)
    faults[layers] = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(json.dumps(faults))
"""


@glibc
def test_plain_forward_faults_do_not_grow_with_depth():
    """Test that a no-grad forward without retained memory faults in a depth-independent amount.

    20 qubits x batch 8 in complex64: 64 MiB per state, above glibc's largest mmap threshold,
    so every state allocated is a fresh mapping faulting in 16,384 pages. A strongly
    entangling layer is 5 passes (4 wire groups, one CNOT ring): a state per pass would add
    about 160,000 faults for two more layers; two reused buffers add none (measured: 57,349
    against 57,636, the constant being the product state, its buffer and the readout).
    """
    env = {k: v for k, v in os.environ.items() if k != memory.ENV_SWITCH}
    env[memory.ENV_SWITCH] = "0"
    env["OMP_NUM_THREADS"] = "1"
    out = subprocess.run(
        [sys.executable, "-c", LAYER_PROBE], env=env, capture_output=True, text=True, check=True
    )
    faults = json.loads(out.stdout)
    assert faults["3"] - faults["1"] < PAGES_PER_TENSOR // 4, faults
    assert faults["1"] < 6 * PAGES_PER_TENSOR, faults
