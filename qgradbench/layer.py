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
import numbers

import numpy as np
import torch
from torch import nn

from qgradbench.backend import Execution
from qgradbench.backend.cost import Cost
from qgradbench.circuits import get_ansatz
from qgradbench.circuits.model import CircuitSpec
from qgradbench.circuits.pauli import as_observable
from qgradbench.methods import get_method

_COMPLEX = (torch.complex64, torch.complex128)


def check_shots(shots: object) -> int | None:
    """Validate ``shots`` and return it as ``None`` or a Python ``int``.

    Any integral number is accepted (``int``, ``numpy.int64``...) and converted to ``int``;
    booleans, floats and values below 1 are rejected.
    """
    if shots is None:
        return None
    if isinstance(shots, bool | np.bool_) or not isinstance(shots, numbers.Integral) or shots < 1:
        raise ValueError(f"shots must be None (exact) or a positive integer, got {shots!r}")
    return int(shots)


class QuantumLayer(nn.Module):
    """A parameterised quantum circuit as a ``torch.nn.Module``.

    The input ``x`` ``(batch, n_qubits)`` is encoded as ``RY(pi * x_i)`` on qubit ``i``, the
    ansatz follows, and the output is ``<Z_i>`` for each qubit ``(batch, n_qubits)`` (or another
    observable, see ``observable``). Gradients flow to ``weights`` and to ``x`` by the chosen
    ``diff_method``. The whole batch is one batched state-vector simulation.

    Inputs of any leading shape are accepted: ``(n_qubits,)`` gives ``(n_outputs,)``, and
    ``(..., n_qubits)`` gives ``(..., n_outputs)`` (the leading axes are one flattened batch).
    An empty batch gives an empty output (and empty or zero gradients). A sample with a NaN or
    infinite input gives NaN outputs in every mode, exact or with shots, never a number.

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
        observable: ``None`` (default: the ansatz's own, ``"z-each"`` for every ansatz but
            ``tfim-hva``, whose default is its Hamiltonian), an experiment observable (see
            :data:`qgradbench.circuits.OBSERVABLES`), a Pauli sum such as
            ``"Z0 Z1 + 0.5 X2"``, or a list of them (one output each). Non-diagonal words are
            measured in qubit-wise commuting groups (:mod:`qgradbench.circuits.pauli`).
        shot_split: how ``shots`` are split among the observable's measurement groups:
            ``"uniform"`` or ``"weighted"`` (by the groups' coefficient weight).
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
        observable: object = None,
        shot_split: str = "uniform",
        **method_options,
    ):
        super().__init__()
        circuit = get_ansatz(ansatz).spec(n_qubits, n_layers, seed)
        self.n_layers, self.ansatz = n_layers, ansatz
        self._setup(
            circuit,
            diff_method,
            shots,
            seed,
            dtype,
            device,
            observable,
            shot_split,
            method_options,
        )

    @classmethod
    def from_circuit(
        cls,
        circuit: CircuitSpec,
        *,
        diff_method: str = "backprop",
        shots: int | None = None,
        seed: int | None = None,
        dtype: torch.dtype = torch.complex64,
        device: str | torch.device = "cpu",
        observable: object = None,
        shot_split: str = "uniform",
        **method_options,
    ) -> QuantumLayer:
        """A layer over any circuit of the circuit model (:class:`CircuitSpec`).

        The input ``x`` has shape ``(..., circuit.n_inputs)`` and the gate angles are the
        circuit's affine functions of ``x`` and the weights (``circuit.weight_shape``). The
        output is one expectation value per observable (``observable`` overrides the circuit's
        own). Other arguments as in :class:`QuantumLayer`.
        """
        if not isinstance(circuit, CircuitSpec):
            raise ValueError(f"circuit must be a CircuitSpec, got {type(circuit).__name__}")
        layer = cls.__new__(cls)
        nn.Module.__init__(layer)
        layer.n_layers, layer.ansatz = None, None
        layer._setup(
            circuit,
            diff_method,
            shots,
            seed,
            dtype,
            device,
            observable,
            shot_split,
            method_options,
        )
        return layer

    def _setup(
        self, spec, diff_method, shots, seed, dtype, device, observable, shot_split, options
    ) -> None:
        if dtype not in _COMPLEX:
            raise ValueError(f"dtype must be torch.complex64 or torch.complex128, got {dtype!r}")
        self.spec = spec
        self.circuit, self.angle_map = spec.compiled
        self.method = get_method(diff_method, **options)
        self.n_qubits, self.n_inputs, self.seed = spec.n_qubits, spec.n_inputs, seed
        device = torch.device(device)
        init = torch.Generator().manual_seed(seed) if seed is not None else None
        weights = torch.rand(spec.weight_shape, generator=init)
        self.weights = nn.Parameter((2 * math.pi * weights).to(dtype.to_real()).to(device))
        generator = torch.Generator(device=device)
        stream = seed + 1 if seed is not None else int(torch.randint(2**62, ()).item())
        generator.manual_seed(stream)
        self.execution = Execution(
            self.circuit,
            as_observable(spec.observables if observable is None else observable, spec.n_qubits),
            dtype,
            check_shots(shots),
            generator,
            shot_split=shot_split,
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

    def group_cost(self) -> list[dict]:
        """What each measurement group of the observable spent (:meth:`Execution.group_cost`)."""
        return self.execution.group_cost()

    def reset_cost(self) -> None:
        """Zero the cost counters."""
        self.execution.cost.reset()

    @property
    def n_outputs(self) -> int:
        """Number of outputs per sample."""
        return self.execution.observable.n_outputs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the observable's expectation values for the inputs ``x`` ``(..., n_qubits)``.

        ``(n_qubits,)`` gives ``(n_outputs,)``; ``(..., n_qubits)`` gives ``(..., n_outputs)``.
        """
        return self.forward_with(x, self.weights)

    def forward_with(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` with the given ``weights`` (any shape of ``n_weights`` entries).

        A hook for modules that hold the circuit's weights themselves (e.g.
        :class:`qgradbench.pennylane_import.TorchLayer`, one tensor per name); the weights'
        dtype is the simulation's real dtype.
        """
        x = self._check_input(x)
        batch_shape = x.shape[:-1]
        # the batch size is explicit: with no inputs (n_inputs = 0), -1 would be ambiguous
        flat = x.to(weights.dtype).reshape(math.prod(batch_shape), self.n_inputs)
        inputs, weights = self.angle_map(flat, weights.reshape(-1))
        if inputs.shape[0] == 0:
            out = self._empty(inputs, weights)
        else:
            if _all_finite(inputs):
                out = self.method.forward(self.execution, inputs, weights)
            else:
                out = self._nan_rows(inputs, weights, torch.isfinite(inputs).all(-1, keepdim=True))
            self.execution.record("forward", inputs.shape[0], 1)
        return out.reshape(*batch_shape, self.n_outputs).to(x.dtype)

    def _empty(self, inputs: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """The ``(0, n_out)`` output of an empty batch; no circuit runs.

        It is attached to the graph, so that ``backward`` gives an empty input gradient and a
        zero weight gradient.
        """
        zero = inputs.sum(-1, keepdim=True) * 0 + weights.sum() * 0  # (0, 1), differentiable
        return zero.expand(0, self.n_outputs)

    def _nan_rows(
        self, inputs: torch.Tensor, weights: torch.Tensor, finite: torch.Tensor
    ) -> torch.Tensor:
        """Run the finite rows; the rows with a NaN or infinite angle give NaN.

        Non-finite angles never reach the simulator (sampling would turn their NaN
        probabilities into a plausible -1): those circuits run at angle 0 and their outputs are
        multiplied by NaN. Gradients through a NaN output are NaN, for the weights and for the
        row's inputs, as they are when NaN flows through the exact simulation.
        """
        zero = torch.zeros((), dtype=inputs.dtype, device=inputs.device)
        out = self.method.forward(self.execution, torch.where(finite, inputs, zero), weights)
        # 0 in value (NaN in the NaN rows); ties the NaN rows' inputs to their outputs' gradient
        tie = torch.where(finite, zero, inputs - inputs.detach()).sum(-1, keepdim=True)
        scale = torch.where(finite, 1.0, math.nan).to(out.dtype)
        return (out + tie.to(out.dtype)) * scale

    def _check_input(self, x: object) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise ValueError(
                f"input must be a torch.Tensor of shape (batch, {self.n_inputs}), "
                f"got {type(x).__name__}"
            )
        if not x.is_floating_point():
            raise ValueError(
                f"input must be a floating-point tensor (e.g. torch.float32), got dtype {x.dtype}"
            )
        if x.dim() == 0 or x.shape[-1] != self.n_inputs:
            raise ValueError(
                f"input must have shape (batch, {self.n_inputs}) (the circuit's inputs), "
                f"got shape {tuple(x.shape)}"
            )
        return x

    def extra_repr(self) -> str:  # noqa: D102
        circuit = (
            f"n_layers={self.n_layers}, ansatz={self.ansatz!r}"
            if self.ansatz is not None
            else f"circuit={self.spec.name!r}, n_inputs={self.n_inputs}"
        )
        return (
            f"n_qubits={self.n_qubits}, {circuit}, "
            f"diff_method={self.method!r}, shots={self.shots}, dtype={self.dtype}"
        )


def _all_finite(inputs: torch.Tensor) -> bool:
    """Whether every angle is finite.

    Their sum is finite (one reduction: a NaN or an infinity makes it NaN or infinite), or,
    where a sum of finite angles overflows, the element-wise test says so.
    """
    return math.isfinite(float(inputs.detach().sum())) or bool(torch.isfinite(inputs).all())
