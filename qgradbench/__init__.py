"""qgradbench: benchmarks of gradient methods for hybrid quantum-classical neural networks."""

__version__ = "0.1.0"

from qgradbench.layer import QuantumLayer

__all__ = ["QuantumLayer", "__version__"]
