"""Your own circuits: register them from a module of yours, then name them like built-in ones.

A *plugin* is a Python module (a file, or a module importable from the current directory or
``sys.path``) that registers circuits when it is imported::

    # mycircuit.py
    import math

    import qgradbench
    from qgradbench.circuits.model import CircuitSpec, Gate, w, x


    def build(n_qubits, n_layers, seed):
        gates = []
        for layer in range(n_layers):
            k = layer * n_qubits
            gates += [Gate("RY", [i], [w[k + i] * x[i]]) for i in range(n_qubits)]
            gates += [Gate("CNOT", [i, (i + 1) % n_qubits]) for i in range(n_qubits)]
        return CircuitSpec(n_qubits, gates, n_inputs=n_qubits, n_weights=n_layers * n_qubits)


    qgradbench.register_circuit("mycircuit", build)

``qgradbench run suite suite.yaml --plugin mycircuit.py`` imports the module before the suite
is read (and in every worker, local processes or Ray), so the suite may name
``ansatz: mycircuit``. A suite file alone never imports code: without ``--plugin`` the name is
unknown, and the suite is refused before anything runs. ``metadata.json`` records every
plugin (its module, file and the SHA-256 of the file, and the circuits it registered).

The registry is :data:`qgradbench.circuits.ANSATZES`; a registered circuit works wherever an
ansatz name does (``QuantumLayer(n_qubits, n_layers, ansatz=name)``, the ``train``,
``estimator``, ``variance`` and ``runtime`` experiments). Names of built-in ansatzes cannot be
taken.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

#: Names a circuit may be registered under (they appear in suite files and paths of figures).
NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")

#: Names registered through this module (every other name in ANSATZES is built in).
_REGISTERED: dict[str, object] = {}
#: Plugins imported in this process, by what identifies them (absolute file or module name).
_LOADED: dict[str, Plugin] = {}


@dataclass(frozen=True, eq=False)
class CircuitAnsatz:
    """A circuit registered from a user module: ``builder(n_qubits, n_layers, seed)``.

    It has the interface of :class:`~qgradbench.circuits.ansatz.Ansatz` that the layer and the
    experiments use: :meth:`spec`, :meth:`build` and :meth:`weight_shape`.

    Attributes:
        name: the registered name.
        builder: ``(n_qubits, n_layers, seed) -> CircuitSpec`` (a builder of two arguments,
            ``(n_qubits, n_layers)``, is called without the seed).
        reference: one line for listings (where the circuit comes from).
    """

    name: str
    builder: Callable[..., object]
    reference: str = ""
    takes_seed: bool = field(default=True, repr=False)

    @property
    def origin(self) -> str:
        """``module.function`` of the builder."""
        module = getattr(self.builder, "__module__", None) or "?"
        return f"{module}.{getattr(self.builder, '__qualname__', repr(self.builder))}"

    def spec(self, n_qubits: int, n_layers: int, seed: int | None = None):
        """The circuit for ``n_qubits`` and ``n_layers`` (a :class:`CircuitSpec`).

        Raises:
            ValueError: the builder raised (its message, naming the circuit), returned
                something other than a ``CircuitSpec``, or a circuit on another qubit count.
        """
        from qgradbench.circuits.model import CircuitSpec

        where = f"circuit {self.name!r} ({self.origin}) with n_qubits={n_qubits!r}, " + (
            f"n_layers={n_layers!r}"
        )
        args = (n_qubits, n_layers, seed) if self.takes_seed else (n_qubits, n_layers)
        try:
            spec = self.builder(*args)
        except Exception as err:  # noqa: BLE001 - user code: any error becomes one clear line
            detail = " ".join(str(err).split()) or type(err).__name__
            kind = "" if isinstance(err, ValueError) else f"{type(err).__name__}: "
            raise ValueError(f"{where}: {kind}{detail}") from None
        if not isinstance(spec, CircuitSpec):
            raise ValueError(
                f"{where}: the builder returned {type(spec).__name__}; it must return a "
                f"qgradbench.circuits.model.CircuitSpec"
            )
        if spec.n_qubits != n_qubits:
            raise ValueError(
                f"{where}: the builder returned a circuit on {spec.n_qubits} qubits; it must "
                f"build one on n_qubits={n_qubits}"
            )
        return spec

    def build(self, n_qubits: int, n_layers: int, seed: int | None = None):
        """The compiled engine circuit (slots as :meth:`CircuitSpec.compile` orders them)."""
        return self.spec(n_qubits, n_layers, seed).compiled[0]

    def weight_shape(self, n_qubits: int, n_layers: int) -> tuple[int, ...]:
        """Shape of the trainable weight tensor."""
        return tuple(self.spec(n_qubits, n_layers, 0).weight_shape)


def _takes_seed(builder: Callable) -> bool:
    """Whether ``builder`` takes a third positional argument (the seed)."""
    try:
        params = list(inspect.signature(builder).parameters.values())
    except (TypeError, ValueError):
        return True
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if any(p.kind == p.VAR_POSITIONAL for p in params):
        return True
    required = [p for p in positional if p.default is p.empty]
    if len(required) > 3 or (len(positional) < 2):
        raise ValueError(
            f"a circuit builder takes (n_qubits, n_layers, seed) or (n_qubits, n_layers); "
            f"{getattr(builder, '__qualname__', builder)!r} takes {len(positional)} argument(s)"
        )
    return len(positional) >= 3


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not NAME.match(name):
        raise ValueError(
            f"a circuit name must start with a letter and hold only letters, digits, '-', '_' "
            f"and '.' (at most 64), got {name!r}"
        )
    return name


def register_ansatz(ansatz: object) -> object:
    """Add ``ansatz`` to :data:`qgradbench.circuits.ANSATZES` under ``ansatz.name``.

    ``ansatz`` is a :class:`CircuitAnsatz` or any object with the interface of
    :class:`~qgradbench.circuits.ansatz.Ansatz` (``name``, ``spec``, ``build``,
    ``weight_shape``). Registering the same builder again under the same name (a module
    imported twice) is allowed and changes nothing.

    Returns:
        The registered object.

    Raises:
        ValueError: for a bad name, a missing method, the name of a built-in ansatz, or a name
            another circuit was already registered under.
    """
    from qgradbench.circuits import ANSATZES

    name = _check_name(getattr(ansatz, "name", None))
    methods = ("spec", "build", "weight_shape")
    missing = [m for m in methods if not callable(getattr(ansatz, m, None))]
    if missing:
        raise ValueError(
            f"ansatz {name!r} lacks {', '.join(missing)}; register a CircuitAnsatz (or use "
            f"register_circuit(name, builder))"
        )
    if name in ANSATZES and name not in _REGISTERED:
        raise ValueError(
            f"{name!r} is a built-in ansatz; register your circuit under another name "
            f"(built-in: {', '.join(n for n in ANSATZES if n not in _REGISTERED)})"
        )
    if name in _REGISTERED:
        old = _REGISTERED[name]
        if _same(old, ansatz):
            return old
        raise ValueError(
            f"a circuit named {name!r} is already registered (by {_origin(old)}); choose "
            f"another name"
        )
    ANSATZES[name] = ansatz
    _REGISTERED[name] = ansatz
    return ansatz


def _origin(ansatz: object) -> str:
    return getattr(ansatz, "origin", type(ansatz).__name__)


def _same(a: object, b: object) -> bool:
    """Whether two registrations are the same circuit (same builder, e.g. a re-imported module)."""
    if a is b:
        return True
    if isinstance(a, CircuitAnsatz) and isinstance(b, CircuitAnsatz):
        return a.origin == b.origin and a.reference == b.reference
    return False


def register_circuit(
    name: str, builder: Callable[..., object], *, reference: str = ""
) -> CircuitAnsatz:
    """Register ``builder(n_qubits, n_layers, seed) -> CircuitSpec`` as the ansatz ``name``.

    The builder is called whenever a layer or an experiment needs the circuit (suite
    validation included), with the run's qubits, layers and seed; it may ignore the seed
    (a builder of two arguments is called without it). It must return a
    :class:`~qgradbench.circuits.model.CircuitSpec` on ``n_qubits`` qubits; its inputs are
    the quantum layer's inputs (``spec.n_inputs``, which need not equal ``n_qubits``).

    Args:
        name: the name suites and ``--ansatz`` use (letters, digits, ``-``, ``_``, ``.``).
        builder: the function that builds the circuit.
        reference: one line saying where the circuit comes from (optional).

    Returns:
        The registered :class:`CircuitAnsatz`.

    Raises:
        ValueError: for a bad name or builder, or a name that is taken (see
            :func:`register_ansatz`).
    """
    if not callable(builder):
        raise ValueError(f"builder must be a function (n_qubits, n_layers, seed), got {builder!r}")
    if not isinstance(reference, str):
        raise ValueError(f"reference must be text, got {reference!r}")
    ansatz = CircuitAnsatz(_check_name(name), builder, reference, _takes_seed(builder))
    return register_ansatz(ansatz)


def registered() -> list[str]:
    """Names of the circuits registered from plugins in this process."""
    return list(_REGISTERED)


def unregister(name: str) -> None:
    """Remove a circuit registered from a plugin (built-in ansatzes cannot be removed)."""
    from qgradbench.circuits import ANSATZES

    if name not in _REGISTERED:
        raise ValueError(f"no circuit {name!r} was registered from a plugin")
    del _REGISTERED[name]
    ANSATZES.pop(name, None)


# ------------------------------------------------------------------------------- plugins


@dataclass(frozen=True)
class Plugin:
    """A user module imported for its circuits.

    Attributes:
        given: as the user named it (``--plugin``).
        module: the imported module's name.
        file: the absolute path of its source file (``None`` for a namespace package).
        sha256: the SHA-256 of that file (what was run).
        ansatzes: the circuits its import registered.
        search_path: for a module imported by name, the folder it was found from (so that
            workers can import it too); ``None`` for a file.
    """

    given: str
    module: str
    file: str | None
    sha256: str | None
    ansatzes: tuple[str, ...]
    search_path: str | None = None

    def record(self) -> dict:
        """What ``metadata.json`` records."""
        return {
            "plugin": self.given,
            "module": self.module,
            "file": self.file,
            "sha256": self.sha256,
            "ansatzes": list(self.ansatzes),
        }

    def worker_spec(self) -> dict:
        """How a worker process imports the same module: ``{"file"}`` or ``{"module", "path"}``."""
        if self.search_path is None:
            return {"file": self.file}
        return {"module": self.module, "path": self.search_path}


def _sha256(path: str | None) -> str | None:
    if path is None or not os.path.isfile(path):
        return None
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _is_file_plugin(text: str) -> bool:
    return text.endswith(".py") or os.sep in text or (os.altsep or os.sep) in text


def _module_name_for(path: Path) -> str:
    """A unique module name for a plugin file (its stem, plus a hash of its folder)."""
    stem = re.sub(r"\W", "_", path.stem) or "plugin"
    digest = hashlib.sha1(str(path.parent).encode()).hexdigest()[:8]
    return f"qgradbench_plugin_{stem}_{digest}"


def _import_file(text: str) -> tuple[str, object]:
    path = Path(text).expanduser()
    if not path.is_file():
        raise ValueError(
            f"--plugin {text}: no such file; give a .py file or the name of a module importable "
            f"from the current directory"
        )
    path = path.resolve()
    key = str(path)
    if key in _LOADED:
        return key, None
    name = _module_name_for(path)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ValueError(f"--plugin {text}: cannot import {path} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return key, module


def _import_module(text: str, path: str | None) -> tuple[str, object]:
    if text in _LOADED:
        return text, None
    folder = path if path is not None else os.getcwd()
    if folder not in sys.path:
        sys.path.insert(0, folder)
    try:
        return text, importlib.import_module(text)
    except ModuleNotFoundError as err:
        if err.name is not None and (text == err.name or text.startswith(err.name + ".")):
            raise ValueError(
                f"--plugin {text}: no module named {text!r} importable from {folder} or "
                f"sys.path; give a module name or the path of a .py file"
            ) from None
        raise


def load_plugin(plugin: str | dict) -> Plugin:
    """Import one plugin (a ``.py`` path or a module name) once per process; return it.

    ``plugin`` may also be a :meth:`Plugin.worker_spec` (how workers import it again).

    Raises:
        ValueError: a missing file or module, or a module whose import raised (one line, with
            the error it raised).
    """
    given, path = plugin, None
    if isinstance(plugin, dict):
        given, path = plugin.get("file") or plugin.get("module"), plugin.get("path")
    if not isinstance(given, str) or not given.strip():
        raise ValueError(f"--plugin needs a module name or a .py file, got {plugin!r}")
    from qgradbench.circuits import ANSATZES

    before = set(ANSATZES)
    try:
        if (isinstance(plugin, dict) and "file" in plugin) or _is_file_plugin(given):
            key, module = _import_file(given)
            search = None
        else:
            key, module = _import_module(given, path)
            search = path if path is not None else os.getcwd()
    except ValueError as err:
        if str(err).startswith("--plugin"):
            raise
        raise ValueError(
            f"--plugin {given}: importing it raised ValueError: {_one_line(err)}"
        ) from None
    except Exception as err:  # noqa: BLE001 - user code: any error becomes one clear line
        raise ValueError(
            f"--plugin {given}: importing it raised {type(err).__name__}: {_one_line(err)}"
        ) from None
    if module is None:
        return _LOADED[key]
    file = getattr(module, "__file__", None)
    file = str(Path(file).resolve()) if file else None
    added = tuple(n for n in ANSATZES if n not in before)
    loaded = Plugin(given, module.__name__, file, _sha256(file), added, search)
    _LOADED[key] = loaded
    return loaded


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


def load_plugins(plugins: Sequence[str | dict] | None) -> list[Plugin]:
    """Import every plugin in order (each once per process); see :func:`load_plugin`."""
    return [load_plugin(p) for p in plugins or ()]


__all__ = [
    "CircuitAnsatz",
    "Plugin",
    "load_plugin",
    "load_plugins",
    "register_ansatz",
    "register_circuit",
    "registered",
    "unregister",
]
