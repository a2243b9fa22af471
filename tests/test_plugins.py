"""Circuits from a user module (--plugin), data files and observables in suites, end to end.

The worked example ``examples/custom_circuit/`` (a re-uploading circuit with IsingZZ and CRX
registered by ``mycircuit.py``, a 200-row ``data.csv``, ``suite.yaml``) runs through the CLI;
every mistake a user can make with them is one line on stderr and exit code 2, before anything
runs. The registry is restored after every test, so a circuit registered here is not seen by
other tests.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from qgradbench import plugins
from qgradbench.circuits import ANSATZES
from qgradbench.cli import main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "custom_circuit"
SUITE, PLUGIN, DATA = EXAMPLE / "suite.yaml", EXAMPLE / "mycircuit.py", EXAMPLE / "data.csv"


@pytest.fixture(autouse=True)
def registry():
    """Restore the ansatz registry, the plugins' bookkeeping and sys.modules after each test."""
    ansatzes, registered = dict(ANSATZES), dict(plugins._REGISTERED)
    loaded, modules = dict(plugins._LOADED), set(sys.modules)
    yield
    ANSATZES.clear()
    ANSATZES.update(ansatzes)
    plugins._REGISTERED.clear()
    plugins._REGISTERED.update(registered)
    plugins._LOADED.clear()
    plugins._LOADED.update(loaded)
    for name in set(sys.modules) - modules:
        if name.startswith("qgradbench_plugin_") or name.startswith("myplug"):
            del sys.modules[name]


def run_cli(argv, capsys) -> tuple[int, str]:
    """Exit code and stderr of ``qgradbench ARGV``."""
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


def assert_one_line(code: int, err: str, *fragments: str) -> None:
    """Test helper: exit code 2 and one stderr line holding every fragment."""
    assert code == 2, err
    assert err.count("\n") == 1, err
    for fragment in fragments:
        assert fragment in err, (fragment, err)


def write_plugin(folder: Path, body: str, name: str = "myplug.py") -> Path:
    """A plugin file holding ``body`` (dedented)."""
    path = folder / name
    path.write_text(textwrap.dedent(body))
    return path


def suite_text(experiment: str, **settings) -> str:
    """A one-entry suite file with ``settings`` written as JSON (valid YAML)."""
    return (
        f"suite: t\nexperiments:\n  - experiment: {experiment}\n"
        f"    settings: {json.dumps(settings)}\n"
    )


GOOD_CIRCUIT = """
    import qgradbench
    from qgradbench.circuits.model import CircuitSpec, Gate, w, x

    def build(n_qubits, n_layers, seed):
        gates = [Gate("RY", [i], [w[i] * x[i]]) for i in range(n_qubits)]
        gates += [Gate("CRX", [0, 1], [w[n_qubits]]), Gate("IsingZZ", [0, 1], [2 * w[0]])]
        return CircuitSpec(n_qubits, gates, n_inputs=n_qubits, n_weights=n_qubits + 1)

    qgradbench.register_circuit("tiny", build)
"""


class TestExample:
    def test_example_suite_runs_end_to_end(self, tmp_path, capsys):
        """Test that the README's command runs the example into tables and records the plugin."""
        argv = ["run", "suite", SUITE, "--plugin", PLUGIN, "--out", tmp_path, "--workers", "1",
                "--threads", "1", "--quiet"]  # fmt: skip
        code, err = run_cli(argv, capsys)
        assert code == 0, err
        (run,) = list((tmp_path / "custom-circuit").iterdir())
        train = pd.read_parquet(run / "train.parquet")
        assert len(train) == 10 and set(train["method"]) == {"adjoint", "parameter-shift"}
        first = train.iloc[0]
        assert first["ansatz"] == "mycircuit" and first["observable"] == "Z0; Z1; X0 X1"
        assert first["dataset"] == "data.csv" and first["dataset_path"] == str(DATA)
        assert first["label_column"] == "label" and first["n_features"] == 3
        assert first["n_classes"] == 2 and first["n_test"] == 40
        # the default validation split holds out 20% of the 160 training samples
        assert first["n_train"] == 128 and first["n_val"] == 32
        # two measurement groups ({Z0, Z1} and X0 X1): two circuits per sample and forward
        assert first["forward_circuits"] == 2 * 128
        assert train["loss"].iloc[-1] < train["loss"].iloc[0]
        estimator = pd.read_parquet(run / "estimator.parquet")
        assert len(estimator) == 12 and set(estimator["observable"]) == {"Z0 Z1 + 0.5 X0"}
        meta = json.loads((run / "metadata.json").read_text())
        assert meta["status"] == "complete"
        (record,) = meta["plugins"]
        assert record["file"] == str(PLUGIN) and record["ansatzes"] == ["mycircuit"]
        assert record["sha256"] == hashlib.sha256(PLUGIN.read_bytes()).hexdigest()

    def test_suite_without_its_plugin_is_one_clear_error(self, tmp_path, capsys):
        """Test that naming a plugin's circuit without --plugin exits 2 with one line."""
        code, err = run_cli(["run", "suite", SUITE, "--out", tmp_path / "out"], capsys)
        assert_one_line(code, err, str(SUITE), "unknown ansatz 'mycircuit'",
                        "(circuits from your own module need --plugin MODULE)")  # fmt: skip
        assert not (tmp_path / "out").exists()
        assert "mycircuit" not in ANSATZES  # reading the suite imported nothing

    def test_workers_import_the_plugin(self, tmp_path, capsys):
        """Test that two spawned workers run the plugin's circuit (each imports the plugin)."""
        suite = tmp_path / "s.yaml"
        suite.write_text(
            "suite: w\nexperiments:\n  - experiment: estimator\n"
            "    settings: {ansatz: mycircuit, n_qubits: 2, n_layers: 1, circuits: 2, repeats: 2,\n"
            "               dtype: complex128}\n"
            "    grid: {method: [adjoint, parameter-shift]}\n"
        )
        argv = ["run", "suite", suite, "--plugin", PLUGIN, "--out", tmp_path, "--workers", "2",
                "--threads", "1", "--quiet"]  # fmt: skip
        code, err = run_cli(argv, capsys)
        assert code == 0, err
        (run,) = list((tmp_path / "w").iterdir())
        table = pd.read_parquet(run / "estimator.parquet")
        assert len(table) == 4 and set(table["ansatz"]) == {"mycircuit"}
        # exact parameter-shift (four-term rule for the CRX) equals the adjoint Jacobian
        assert table["mse"].max() < 1e-20, table["mse"]


class TestPluginErrors:
    def test_unknown_gate_in_the_plugin_circuit(self, tmp_path, capsys):
        """Test that an unknown gate in the builder is one line naming gate and circuit."""
        plugin = write_plugin(tmp_path, """
            import qgradbench
            from qgradbench.circuits.model import CircuitSpec, Gate, w

            def build(n_qubits, n_layers, seed):
                return CircuitSpec(n_qubits, [Gate("Foo", [0], [w[0]])], n_weights=1)

            qgradbench.register_circuit("broken", build)
        """)  # fmt: skip
        suite = tmp_path / "s.yaml"
        suite.write_text(suite_text("estimator", ansatz="broken", n_qubits=2, n_layers=1))
        code, err = run_cli(["run", "suite", suite, "--plugin", plugin, "--out", tmp_path], capsys)
        assert_one_line(code, err, "circuit 'broken'", "unknown gate 'Foo'", "IsingZZ")

    @pytest.mark.parametrize(
        "body, fragments",
        [
            ("raise RuntimeError('no GPU here')\n",
             ["importing it raised RuntimeError: no GPU here"]),
            ("import not_a_module_anywhere\n",
             ["importing it raised ModuleNotFoundError", "not_a_module_anywhere"]),
            ("import qgradbench\nqgradbench.register_circuit('iqp2', 3)\n",
             ["builder must be a function"]),
            ("import qgradbench\n"
             "qgradbench.register_circuit('strongly-entangling', lambda n, k, s: None)\n",
             ["'strongly-entangling' is a built-in ansatz"]),
        ],
    )  # fmt: skip
    def test_bad_plugin_module(self, body, fragments, tmp_path, capsys):
        """Test that a plugin whose import fails is one line naming the plugin and the error."""
        plugin = write_plugin(tmp_path, body)
        code, err = run_cli(["run", "suite", "smoke", "--plugin", plugin, "--dry-run"], capsys)
        assert_one_line(code, err, f"--plugin {plugin}", *fragments)

    @pytest.mark.parametrize("plugin", ["missing_file.py", "no_such_module_xyz"])
    def test_missing_plugin(self, plugin, capsys):
        """Test that a missing file or module is one line saying what --plugin accepts."""
        code, err = run_cli(["run", "suite", "smoke", "--plugin", plugin, "--dry-run"], capsys)
        assert_one_line(code, err, f"--plugin {plugin}", "no ")

    def test_plugin_by_module_name_from_the_current_directory(self, tmp_path, monkeypatch):
        """Test that --plugin NAME imports a module of the current directory (once)."""
        write_plugin(tmp_path, GOOD_CIRCUIT, "myplug_cwd.py")
        monkeypatch.chdir(tmp_path)
        monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
        (first,) = plugins.load_plugins(["myplug_cwd"])
        assert first.module == "myplug_cwd" and first.ansatzes == ("tiny",)
        assert plugins.load_plugins(["myplug_cwd"]) == [first]  # imported once
        assert first.worker_spec() == {"module": "myplug_cwd", "path": str(tmp_path)}

    def test_names_are_checked(self):
        """Test built-in clashes, re-registration and bad names."""
        from qgradbench.circuits.model import CircuitSpec

        def build(n_qubits, n_layers):
            return CircuitSpec(n_qubits, [])

        first = plugins.register_circuit("mine", build)
        assert plugins.register_circuit("mine", build) is first  # the same builder again
        with pytest.raises(ValueError, match="'mine' is already registered"):
            plugins.register_circuit("mine", lambda n, layers, seed: None)
        for name in ANSATZES:
            if name not in plugins.registered():
                with pytest.raises(ValueError, match=f"'{name}' is a built-in ansatz"):
                    plugins.register_circuit(name, build)
        with pytest.raises(ValueError, match="must start with a letter"):
            plugins.register_circuit("../up", build)
        assert ANSATZES["mine"].spec(2, 1).n_qubits == 2  # two-argument builders work

    def test_builder_mistakes_are_clear(self):
        """Test a builder that returns no CircuitSpec or one on other qubits."""
        from qgradbench.circuits.model import CircuitSpec

        plugins.register_circuit("wrong-type", lambda n, layers, seed: [])
        plugins.register_circuit("wrong-size", lambda n, layers, seed: CircuitSpec(n + 1, []))
        with pytest.raises(ValueError, match="returned list; it must return a .*CircuitSpec"):
            ANSATZES["wrong-type"].spec(2, 1)
        with pytest.raises(ValueError, match="a circuit on 3 qubits; it must build one on"):
            ANSATZES["wrong-size"].spec(2, 1)


class TestObservableErrors:
    @pytest.mark.parametrize(
        "observable, fragments",
        [
            ("0.5j Z0", ["not Hermitian"]),
            ("X0 Y0", ["wire 0 appears twice"]),
            ("Z0 Z7", ["acts on wire(s) [7]", "wires 0..3"]),
            ("zzz", ["unknown observable 'zzz'", "Pauli sum"]),
        ],
    )
    @pytest.mark.parametrize("experiment", ["train", "estimator", "runtime"])
    def test_bad_observable_in_a_suite(self, experiment, observable, fragments, tmp_path, capsys):
        """Test that a bad observable string is one line naming it, for each experiment."""
        suite = tmp_path / "s.yaml"
        suite.write_text(suite_text(experiment, observable=observable))
        code, err = run_cli(["run", "suite", suite, "--out", tmp_path / "out"], capsys)
        assert_one_line(code, err, str(suite), *fragments)

    def test_bad_observable_on_the_command_line(self, tmp_path, capsys):
        """Test that run train --observable with a complex coefficient is one line."""
        argv = ["run", "train", "--observable", "1j X0", "--out", tmp_path / "run"]
        code, err = run_cli(argv, capsys)
        assert_one_line(code, err, "not Hermitian")
        assert not (tmp_path / "run").exists()


def bad_frames() -> list:
    """``(description, frame writer, settings, fragments)`` for each bad data file."""
    rng = np.random.default_rng(0)
    good = pd.DataFrame({"a": rng.normal(size=20), "b": rng.normal(size=20),
                         "y": ["p", "q"] * 10})  # fmt: skip
    text = good.assign(b=["red"] * 20)
    gap = good.copy()
    gap.loc[5, "a"] = np.nan
    single = good.assign(y=["p"] * 20)
    return [
        ("missing file", None, {}, ["no such file"]),
        ("unknown label", good, {"label": "target"}, ["no label column 'target'", "a, b, y"]),
        ("non-numeric", text, {}, ["feature column 'b' is not numeric", "'red'", "data row 1"]),
        ("nan", gap, {}, ["1 missing value(s)", "column 'a', data row 6"]),
        ("single class", single, {}, ["holds a single value ('p')", "two classes"]),
        ("too few rows", good.iloc[:3], {}, ["3 rows are too few to split", "test_size=0.2"]),
        ("too many features", good, {"n_features": 5}, ["n_features must be between 1 and 2"]),
        ("wrong suffix", good, {"path": "data.txt"}, ["expected a .csv or .parquet file"]),
    ]


@pytest.mark.parametrize("case", bad_frames(), ids=lambda c: c[0])
def test_bad_data_file_is_one_clear_error(case, tmp_path, capsys):
    """Test that each kind of bad data file is one line naming the file and the problem."""
    _, frame, settings, fragments = case
    data = tmp_path / "data" / "data.csv"
    data.parent.mkdir()
    if frame is not None:
        frame.to_csv(data, index=False)
    dataset = {"path": settings.pop("path", "data/data.csv"), "label": settings.pop("label", "y")}
    suite = tmp_path / "s.yaml"
    suite.write_text(suite_text("train", dataset=dataset, **{"n_features": 2, **settings}))
    code, err = run_cli(["run", "suite", suite, "--out", tmp_path / "out"], capsys)
    assert_one_line(code, err, str(suite), *fragments)
    assert not (tmp_path / "out").exists()


def test_data_path_is_relative_to_the_suite_file(tmp_path, monkeypatch):
    """Test that a relative data path is read from the suite's folder, whatever the cwd."""
    from qgradbench.suite.config import load_suite

    folder = tmp_path / "study"
    folder.mkdir()
    pd.read_csv(DATA).to_csv(folder / "mine.csv", index=False)
    (folder / "s.yaml").write_text(
        suite_text("train", dataset={"path": "mine.csv", "label": "label"}, n_features=None)
    )
    monkeypatch.chdir(ROOT)
    (task,) = load_suite(str(folder / "s.yaml")).tasks
    assert task.settings["dataset"] == {"path": str(folder / "mine.csv"), "label": "label"}


class TestChainRule:
    """The variance experiment on any circuit: slots ``c + A w`` and the chain rule."""

    @pytest.mark.parametrize("method", ["adjoint", "parameter-shift", "hadamard"])
    def test_weight_gradients_equal_autograd_through_the_layer(self, method):
        """Test per-sample gradients of scaled and shared weights against torch autograd.

        The circuit reads ``2 w0``, ``w0 + w1`` (shared), ``0.5 w1 + 0.3``, a CRX of ``w2``
        (four-term rule) and a weight times an input (zero at ``x = 0``); the reference is
        autograd of ``QuantumLayer.from_circuit`` at the same weights (complex128, exact).
        """
        from qgradbench.circuits.model import CircuitSpec, Gate, w, x
        from qgradbench.experiments.variance import VarianceSpec, sample_gradients
        from qgradbench.layer import QuantumLayer

        def build(n_qubits, n_layers, seed):
            gates = [Gate("RY", [0], [2 * w[0]]), Gate("RX", [1], [w[0] + w[1]]),
                     Gate("IsingZZ", [0, 1], [0.5 * w[1] + 0.3]), Gate("CRX", [0, 1], [w[2]]),
                     Gate("RY", [1], [w[3] * x[0]]), Gate("H", [0])]  # fmt: skip
            return CircuitSpec(2, gates, n_inputs=1, n_weights=4)

        plugins.register_circuit("chain", build)
        spec = VarianceSpec(n_qubits=2, n_layers=1, ansatz="chain", observable="Z0 Z1 + 0.5 X0",
                            param="all", samples=5, method=method, dtype="complex128")  # fmt: skip
        result = sample_gradients(spec)
        layer = QuantumLayer.from_circuit(build(2, 1, 0), dtype=torch.complex128,
                                          observable="Z0 Z1 + 0.5 X0")  # fmt: skip
        for s in range(5):
            with torch.no_grad():
                layer.weights.copy_(torch.as_tensor(result.draw.weights[s]))
            layer.weights.grad = None
            layer(torch.zeros(1, 1, dtype=torch.float64)).sum().backward()
            want = layer.weights.grad.numpy()
            np.testing.assert_allclose(result.estimates[s], want, rtol=0, atol=1e-10)
        assert np.all(result.estimates[:, 3] == 0)  # w3 scales an input that is zero
        assert not math.isnan(result.seconds)
