"""qgradbench: benchmarks of gradient methods for hybrid quantum-classical neural networks.

``qgradbench.QuantumLayer``, ``qgradbench.TorchLayer`` and ``qgradbench.from_pennylane`` are
imported lazily, so that ``qgradbench.analysis`` (which reads only DataFrames and files) can be
used without importing torch (and PennyLane is needed only for the last two).
``qgradbench.register_circuit`` and ``qgradbench.register_ansatz`` add circuits of your own to
the ansatz registry (:mod:`qgradbench.plugins`).
"""

__version__ = "0.1.0"

from qgradbench.memory import retain_freed_memory  # noqa: E402 (torch-free)

__all__ = [
    "QuantumLayer",
    "TorchLayer",
    "__version__",
    "from_pennylane",
    "register_ansatz",
    "register_circuit",
    "retain_freed_memory",
]


def __getattr__(name: str):
    if name == "QuantumLayer":
        from qgradbench.layer import QuantumLayer

        return QuantumLayer
    if name in ("TorchLayer", "from_pennylane"):
        from qgradbench import pennylane_import

        return getattr(pennylane_import, name)
    if name in ("register_circuit", "register_ansatz"):
        from qgradbench import plugins

        return getattr(plugins, name)
    raise AttributeError(f"module 'qgradbench' has no attribute {name!r}")
