"""qgradbench: benchmarks of gradient methods for hybrid quantum-classical neural networks.

``qgradbench.QuantumLayer`` is imported lazily, so that ``qgradbench.analysis`` (which reads
only DataFrames and files) can be used without importing torch.
"""

__version__ = "0.1.0"

from qgradbench.memory import retain_freed_memory  # noqa: E402 (torch-free)

__all__ = ["QuantumLayer", "__version__", "retain_freed_memory"]


def __getattr__(name: str):
    if name == "QuantumLayer":
        from qgradbench.layer import QuantumLayer

        return QuantumLayer
    raise AttributeError(f"module 'qgradbench' has no attribute {name!r}")
