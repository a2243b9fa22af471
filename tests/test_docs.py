"""The documentation stands alone and its code sketches run against the actual code."""

from __future__ import annotations

import math
import re
import textwrap
from pathlib import Path

import numpy as np
import torch

import qgradbench.circuits.ansatz as ansatz_module
import qgradbench.circuits.model as model_module
import qgradbench.circuits.observables as observables_module
from qgradbench import QuantumLayer

ROOT = Path(__file__).resolve().parents[1]
ARCHITECTURE = ROOT / "docs" / "architecture.md"


def python_blocks(text: str) -> list[str]:
    """The ```python blocks of a Markdown text, in order."""
    return [textwrap.dedent(b) for b in re.findall(r"```python\n(.*?)```", text, flags=re.S)]


def section(text: str, title: str) -> str:
    """The text of the ``## title`` section."""
    return text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_readme_links_only_files_of_the_repository():
    """Test that README and the docs point at nothing outside the repository."""
    readme = (ROOT / "README.md").read_text()
    assert "docs/architecture.md" in readme
    for text in (readme, ARCHITECTURE.read_text(), (ROOT / "results" / "README.md").read_text()):
        assert "../shared" not in text and "DESIGN.md" not in text


def test_architecture_names_existing_files():
    """Test that every repository path the architecture document names exists."""
    text = ARCHITECTURE.read_text()
    paths = set(re.findall(r"`((?:qgradbench|tests|results|docs)/[\w/.]*\.(?:py|md))", text))
    assert len(paths) >= 10
    missing = sorted(p for p in paths if not (ROOT / p).exists())
    assert not missing, missing


def test_method_sketch_is_a_working_method():
    """Test that the gradient-method sketch computes the gradient backprop does."""
    (code,) = python_blocks(section(ARCHITECTURE.read_text(), "Adding a gradient method"))
    namespace: dict = {}
    exec(code, namespace)
    layer = QuantumLayer(3, 2, seed=0, dtype=torch.complex128)
    reference = QuantumLayer(3, 2, seed=0, dtype=torch.complex128)
    layer.method = namespace["ForwardStep"](h=1e-7)
    x = torch.rand(4, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    for module in (layer, reference):
        module(x).pow(2).sum().backward()
    torch.testing.assert_close(layer.weights.grad, reference.weights.grad, atol=1e-5, rtol=0)
    assert layer.cost.backward_circuits == 4 * 18  # one circuit per weight (x needs no grad)


def test_ansatz_and_observable_sketches_build():
    """Test that the ansatz and observable sketches run in their modules (registries copied)."""
    text = ARCHITECTURE.read_text()
    (code,) = python_blocks(section(text, "Adding an ansatz"))
    namespace = {**vars(ansatz_module), "ANSATZES": dict(ansatz_module.ANSATZES)}
    exec(code, namespace)
    circuit = namespace["ANSATZES"]["ry-ladder"].build(3, 2)
    assert circuit.n_params == 3 + 6 and "ry-ladder" not in ansatz_module.ANSATZES

    (code,) = python_blocks(section(text, "Adding an observable"))
    registries = {k: dict(getattr(observables_module, k)) for k in ("_DIAGONALS", "_FACTORS")}
    namespace = {**vars(observables_module), **registries}
    exec(code, namespace)
    table = namespace["_DIAGONALS"]["parity-01"][0](3)
    np.testing.assert_array_equal(table, observables_module.Observable("zz", 3).table())
    factors = namespace["_FACTORS"]["parity-01"](3)
    assert factors == observables_module._FACTORS["zz"](3)
    assert "parity-01" not in observables_module._FACTORS


def test_circuit_model_sketches_run():
    """Test that the circuit-model sketches of the architecture guide and README run."""
    sketches = [
        python_blocks(section(ARCHITECTURE.read_text(), "The circuit model"))[0],
        python_blocks((ROOT / "README.md").read_text().split("### Any circuit", 1)[1])[0],
    ]
    for code in sketches:
        namespace = {"math": math, "torch": torch, "QuantumLayer": QuantumLayer}
        exec(code, namespace)
        layer = namespace.get("layer")
        out = layer(torch.rand(3, namespace["spec"].n_inputs))
        assert out.shape == (3, 2)


def test_gate_sketch_is_the_gate():
    """Test that the gate sketch of the architecture guide builds the registered CRZ."""
    (code,) = python_blocks(section(ARCHITECTURE.read_text(), "Adding a gate"))
    namespace = dict(vars(model_module))
    gate = eval(code.strip(), namespace)
    crz = model_module.GATES["CRZ"]
    assert (gate.name, gate.n_wires, gate.n_params, gate.frequencies) == (
        crz.name,
        crz.n_wires,
        crz.n_params,
        crz.frequencies,
    )
    np.testing.assert_allclose(gate.matrix([0.3], None), crz.matrix([0.3], None))
