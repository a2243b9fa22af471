"""The seed notebook's hybrid network, its classical baseline, and a parameter-matched baseline.

>>> import torch
>>> from qgradbench.models import HybridModel, count_parameters, matched_classical
>>> model = HybridModel(seed=0)
>>> model(torch.zeros(8, 4)).shape
torch.Size([8, 2])
>>> count_parameters(model), count_parameters(matched_classical(model))
(286, 292)
"""

from __future__ import annotations

import contextlib
import numbers
from collections import OrderedDict
from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch import nn

from qgradbench.circuits import get_ansatz
from qgradbench.layer import QuantumLayer

#: Spawn key separating the classical initialisation stream from the quantum layer's seed.
_CLASSICAL_KEY = 0x6C617373


def _check_size(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def _check_seed(seed: object) -> int | None:
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be None or an integer >= 0, got {seed!r}")
    return int(seed)


@contextlib.contextmanager
def _seeded(seed: int | None) -> Iterator[None]:
    """Seed torch's CPU generator inside the block and restore the global state afterwards.

    The generator is seeded with :func:`_classical_stream` of ``seed``.

    With ``seed=None`` nothing is forked: initialisation draws from (and advances) torch's
    global generator, as ``nn.Linear`` normally does.
    """
    if seed is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(_classical_stream(seed))
        yield


def _classical_stream(seed: int) -> int:
    """Return the torch seed of the classical initialisation, derived from ``seed``.

    The quantum layer seeds its own generator with ``seed`` itself; seeding the classical layers
    with the same number would make their first weights a deterministic function of the quantum
    weights (the same uniform stream), so they get a stream spawned by ``numpy``'s
    ``SeedSequence`` instead.
    """
    return int(np.random.SeedSequence([seed, _CLASSICAL_KEY]).generate_state(1, np.uint64)[0])


def count_parameters(module: nn.Module, trainable_only: bool = True) -> int:
    """Return the number of (by default only trainable) parameter entries of ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


class HybridModel(nn.Sequential):
    """The seed notebook's hybrid quantum-classical classifier.

    ``Linear(input_size, hidden_size), ReLU, Linear(hidden_size, n_qubits), Tanh,
    QuantumLayer(n_qubits, n_layers), Linear(n_qubits, hidden_size), ReLU,
    Linear(hidden_size, output_size)``. The Tanh puts the quantum inputs in ``[-1, 1]``, encoded
    as ``RY(pi x)``; the layer returns ``<Z_i>`` per qubit. The output is the logits. With
    another ansatz the second Linear feeds the circuit's inputs (``spec.n_inputs``), and with
    another observable the third takes the layer's ``n_outputs``.

    The layers are named ``fc1, relu1, fc2, tanh, quantum, fc3, relu2, fc4``; ``model.quantum``
    is the :class:`~qgradbench.QuantumLayer` and ``model[4]`` the same.

    Args:
        input_size: features per sample (>= 1).
        hidden_size: width of the classical hidden layers (>= 1).
        n_qubits: qubits of the quantum layer (>= 1).
        output_size: number of classes (>= 1).
        n_layers: ansatz layers of the quantum layer (>= 1).
        diff_method: the quantum layer's differentiation method.
        shots: shots per circuit, or ``None`` for exact expectation values.
        seed: seeds the quantum layer (``QuantumLayer(seed=seed)``) and the classical layers'
            initialisation (a forked torch generator on a stream derived from ``seed``,
            independent of the quantum layer's; the global RNG state is left unchanged).
            ``None`` draws from torch's global generator.
        ansatz: the quantum layer's ansatz.
        dtype: complex dtype of the simulation.
        observable: what the quantum layer measures (``QuantumLayer(observable=...)``; default
            ``"z-each"``, one output per qubit).
        **method_options: passed on to :class:`~qgradbench.QuantumLayer` (options of the
            differentiation method, e.g. ``h`` for ``finite-diff``).

    Raises:
        ValueError: for a size < 1, a bad seed, or a bad quantum-layer argument.
    """

    def __init__(
        self,
        input_size: int = 4,
        hidden_size: int = 16,
        n_qubits: int = 4,
        output_size: int = 2,
        n_layers: int = 2,
        diff_method: str = "backprop",
        shots: int | None = None,
        seed: int | None = None,
        ansatz: str = "strongly-entangling",
        dtype: torch.dtype = torch.complex64,
        observable: object = "z-each",
        **method_options,
    ):
        sizes = {
            "input_size": input_size,
            "hidden_size": hidden_size,
            "n_qubits": n_qubits,
            "output_size": output_size,
            "n_layers": n_layers,
        }
        input_size, hidden_size, n_qubits, output_size, n_layers = (
            _check_size(name, value) for name, value in sizes.items()
        )
        seed = _check_seed(seed)
        n_inputs = _circuit_inputs(ansatz, n_qubits, n_layers, seed)
        with _seeded(seed):
            fc1 = nn.Linear(input_size, hidden_size)
            fc2 = nn.Linear(hidden_size, n_inputs)
            quantum = QuantumLayer(
                n_qubits, n_layers, ansatz=ansatz, diff_method=diff_method, shots=shots,
                seed=seed, dtype=dtype, observable=observable, **method_options,
            )  # fmt: skip
            fc3 = nn.Linear(quantum.n_outputs, hidden_size)
            fc4 = nn.Linear(hidden_size, output_size)
        super().__init__(
            OrderedDict(
                [
                    ("fc1", fc1),
                    ("relu1", nn.ReLU()),
                    ("fc2", fc2),
                    ("tanh", nn.Tanh()),
                    ("quantum", quantum),
                    ("fc3", fc3),
                    ("relu2", nn.ReLU()),
                    ("fc4", fc4),
                ]
            )
        )
        self.input_size, self.hidden_size, self.output_size = input_size, hidden_size, output_size
        self.seed = seed


def _circuit_inputs(ansatz: str, n_qubits: int, n_layers: int, seed: int | None) -> int:
    """Inputs of the ansatz's circuit (``n_qubits`` for the built-in encoding).

    Read from the circuit before any layer is made, so the order in which the layers draw
    their initial values (from torch's global generator when ``seed`` is ``None``) is unchanged.
    """
    return get_ansatz(ansatz).spec(n_qubits, n_layers, seed).n_inputs


class ClassicalModel(nn.Sequential):
    """The seed notebook's classical baseline: four ``Linear`` layers of width ``hidden_size``.

    ``Linear(input_size, h), ReLU, Linear(h, h), ReLU, Linear(h, h), ReLU,
    Linear(h, output_size)``, named ``fc1, relu1, fc2, relu2, fc3, relu3, fc4``. It has
    ``2 h^2 + (input_size + output_size + 3) h + output_size`` trainable parameters.

    Args:
        input_size: features per sample (>= 1).
        hidden_size: width ``h`` of the hidden layers (>= 1).
        output_size: number of classes (>= 1).
        seed: seeds the initialisation (via a forked torch generator; the global RNG state is
            left unchanged). ``None`` draws from torch's global generator.

    Raises:
        ValueError: for a size < 1 or a bad seed.
    """

    def __init__(
        self,
        input_size: int = 4,
        hidden_size: int = 16,
        output_size: int = 2,
        seed: int | None = None,
    ):
        input_size = _check_size("input_size", input_size)
        hidden_size = _check_size("hidden_size", hidden_size)
        output_size = _check_size("output_size", output_size)
        seed = _check_seed(seed)
        widths = [input_size, hidden_size, hidden_size, hidden_size, output_size]
        layers: list[tuple[str, nn.Module]] = []
        with _seeded(seed):
            for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:], strict=True), 1):
                if i > 1:
                    layers.append((f"relu{i - 1}", nn.ReLU()))
                layers.append((f"fc{i}", nn.Linear(n_in, n_out)))
        super().__init__(OrderedDict(layers))
        self.input_size, self.hidden_size, self.output_size = input_size, hidden_size, output_size
        self.seed = seed

    @staticmethod
    def parameter_count(input_size: int, hidden_size: int, output_size: int) -> int:
        """Return the trainable parameter count of a model of these sizes, without building it."""
        h = hidden_size
        return 2 * h * h + (input_size + output_size + 3) * h + output_size


def _closest_width(target: int, count: Callable[[int], int]) -> int:
    """Return the width ``h >= 1`` whose increasing ``count(h)`` is closest to ``target``.

    Ties go to the smaller width.
    """
    h = 1
    while count(h + 1) <= target:
        h += 1
    return h if target - count(h) <= count(h + 1) - target else h + 1


def matched_classical(hybrid: HybridModel, *, seed: int | None = None) -> ClassicalModel:
    """Return a :class:`ClassicalModel` with about as many trainable parameters as ``hybrid``.

    The input and output sizes are the hybrid's; the hidden width ``h`` is the one that makes
    the count ``2 h^2 + (input + output + 3) h + output`` closest to the hybrid's (quantum
    weights included). Because the count grows by ``4 h + input + output + 5`` from ``h`` to
    ``h + 1``, the match is within half that step: ``|difference| <= (4 h + input + output +
    5) / 2`` parameters (e.g. 292 against the default hybrid's 286, ``h = 10``). Only when the
    hybrid has fewer parameters than the narrowest network (``h = 1``) is the difference larger.

    Args:
        hybrid: the model to match.
        seed: seeds the classical initialisation; ``None`` uses the hybrid's seed.

    Returns:
        The parameter-matched :class:`ClassicalModel`.

    Raises:
        ValueError: if ``hybrid`` is not a :class:`HybridModel`, or for a bad seed.
    """
    if not isinstance(hybrid, HybridModel):
        raise ValueError(f"hybrid must be a HybridModel, got {type(hybrid).__name__}")
    n_in, n_out = hybrid.input_size, hybrid.output_size
    width = _closest_width(
        count_parameters(hybrid),
        lambda h: ClassicalModel.parameter_count(n_in, h, n_out),
    )
    return ClassicalModel(n_in, width, n_out, seed=hybrid.seed if seed is None else seed)


__all__ = ["ClassicalModel", "HybridModel", "count_parameters", "matched_classical"]
