"""The quantum layer: a parameterised circuit between classical layers, with a choice of gradient.

>>> import torch
>>> from qgradbench import QuantumLayer
>>> layer = QuantumLayer(4, 2, diff_method="adjoint", seed=0)
>>> y = layer(torch.tanh(torch.randn(32, 4)))
>>> y.shape
torch.Size([32, 4])
"""

from __future__ import annotations

import math

import torch
from torch import nn

from qgradbench.circuits import Observable, get_ansatz
from qgradbench.methods import get_method
from qgradbench.methods.base import Execution
from qgradbench.methods.cost import Cost

_COMPLEX = (torch.complex64, torch.complex128)


def check_shots(shots: object) -> int | None:
    """Validate ``shots`` (``None`` or a positive integer) and return it."""
    if shots is None:
        return None
    if isinstance(shots, bool) or not isinstance(shots, int) or shots < 1:
        raise ValueError(f"shots must be None (exact) or a positive integer, got {shots!r}")
    return shots


class QuantumLayer(nn.Module):
    """A parameterised quantum circuit as a ``torch.nn.Module``.

    The input ``x`` ``(batch, n_qubits)`` is encoded as ``RY(pi * x_i)`` on qubit ``i``, the
    ansatz follows, and the output is ``<Z_i>`` for each qubit ``(batch, n_qubits)`` (or another
    observable, see ``observable``). Gradients flow to ``weights`` and to ``x`` by the chosen
    ``diff_method``. The whole batch is one batched state-vector simulation.

    Args:
        n_qubits: number of qubits (1 to :data:`qgradbench.engine.MAX_QUBITS`).
        n_layers: number of ansatz layers (>= 1).
        ansatz: ``"strongly-entangling"`` (PennyLane's StronglyEntanglingLayers),
            ``"basic-entangler"`` or ``"random-pauli"``.
        diff_method: a name from :func:`qgradbench.methods.names`.
        shots: shots per executed circuit, or ``None`` for exact expectation values. With shots,
            the forward pass samples ``shots`` bitstrings per input and estimates every output
            from the same bitstrings; gradient rules spend ``shots`` per circuit they run.
        seed: seeds the weight initialisation, the ``random-pauli`` axes and the layer's own
            random generator (shots, stochastic rules). ``None`` draws from torch's global seed.
        dtype: ``torch.complex64`` (default) or ``torch.complex128``; weights use the matching
            real dtype. The output has the input's dtype.
        device: where the weights and the simulation live.
        observable: ``"z-each"`` (default) or an experiment observable (see
            :data:`qgradbench.circuits.OBSERVABLES`).
        **method_options: options of the differentiation method (e.g. ``h`` for finite-diff).

    Attributes:
        weights: ``nn.Parameter`` of the ansatz's weight shape, initialised uniformly on
            ``[0, 2 pi)`` as PennyLane's TorchLayer does.
    """

    def __init__(
        self,
        n_qubits: int,
        n_layers: int,
        *,
        ansatz: str = "strongly-entangling",
        diff_method: str = "backprop",
        shots: int | None = None,
        seed: int | None = None,
        dtype: torch.dtype = torch.complex64,
        device: str | torch.device = "cpu",
        observable: str = "z-each",
        **method_options,
    ):
        super().__init__()
        if dtype not in _COMPLEX:
            raise ValueError(f"dtype must be torch.complex64 or torch.complex128, got {dtype!r}")
        spec = get_ansatz(ansatz)
        self.circuit = spec.build(n_qubits, n_layers, seed)
        self.method = get_method(diff_method, **method_options)
        self.n_qubits, self.n_layers, self.ansatz, self.seed = n_qubits, n_layers, ansatz, seed
        device = torch.device(device)
        init = torch.Generator().manual_seed(seed) if seed is not None else None
        weights = torch.rand(spec.weight_shape(n_qubits, n_layers), generator=init)
        self.weights = nn.Parameter((2 * math.pi * weights).to(dtype.to_real()).to(device))
        generator = torch.Generator(device=device)
        stream = seed + 1 if seed is not None else int(torch.randint(2**62, ()).item())
        generator.manual_seed(stream)
        self.execution = Execution(
            self.circuit, Observable(observable, n_qubits), dtype, check_shots(shots), generator
        )
        self.method.validate(self.execution)

    @property
    def diff_method(self) -> str:
        """Name of the differentiation method."""
        return self.method.name

    @property
    def shots(self) -> int | None:
        """Shots per executed circuit (``None``: exact)."""
        return self.execution.shots

    @property
    def dtype(self) -> torch.dtype:
        """Complex dtype of the simulation."""
        return self.execution.dtype

    @property
    def cost(self) -> Cost:
        """Circuits and shots spent so far, forward and backward (see :class:`Cost`)."""
        return self.execution.cost

    def reset_cost(self) -> None:
        """Zero the cost counters."""
        self.execution.cost.reset()

    @property
    def n_outputs(self) -> int:
        """Number of outputs per sample."""
        return self.execution.observable.n_outputs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the observable's expectation values for the inputs ``x`` ``(..., n_qubits)``."""
        x = self._check_input(x)
        batch_shape = x.shape[:-1]
        real = self.weights.dtype
        inputs = (math.pi * x.to(real)).reshape(-1, self.n_qubits)
        out = self.method.forward(self.execution, inputs, self.weights.reshape(-1))
        self.execution.record("forward", inputs.shape[0], 1)
        return out.reshape(*batch_shape, self.n_outputs).to(x.dtype)

    def _check_input(self, x: object) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise ValueError(
                f"input must be a torch.Tensor of shape (batch, {self.n_qubits}), "
                f"got {type(x).__name__}"
            )
        if not x.is_floating_point():
            raise ValueError(
                f"input must be a floating-point tensor (e.g. torch.float32), got dtype {x.dtype}"
            )
        if x.dim() == 0 or x.shape[-1] != self.n_qubits:
            raise ValueError(
                f"input must have shape (batch, {self.n_qubits}) (one feature per qubit), "
                f"got shape {tuple(x.shape)}"
            )
        return x

    def extra_repr(self) -> str:  # noqa: D102
        return (
            f"n_qubits={self.n_qubits}, n_layers={self.n_layers}, ansatz={self.ansatz!r}, "
            f"diff_method={self.method!r}, shots={self.shots}, dtype={self.dtype}"
        )
