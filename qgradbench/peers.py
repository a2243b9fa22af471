"""The same quantum layer built with PennyLane, for side-by-side timing (`run runtime --compare`).

:func:`pennylane_layer` returns PennyLane's ``qml.qnn.TorchLayer`` running exactly the circuit
of :class:`~qgradbench.QuantumLayer`: ``RY(pi * x_i)`` on qubit ``i``, then PennyLane's own
``StronglyEntanglingLayers`` or ``BasicEntanglerLayers`` template, measuring ``<Z_i>`` on every
qubit, with the same initial weights. :data:`PENNYLANE_CONFIGS` lists the PennyLane
(device, diff_method) pairs that compute what each qgradbench method computes, and
:data:`QGRADBENCH_QUBIT_CONFIGS` the same QNode on qgradbench's own PennyLane device
``qgradbench.qubit`` (:data:`QGRADBENCH_QUBIT_SKIPS`: the methods it has no row for, and why).

PennyLane 0.45 cannot differentiate a broadcasted tape (a batch of inputs as one tape) with a
gradient transform (parameter-shift, finite-diff, spsa, hadamard raise; PennyLane issue 4462),
so those QNodes are wrapped in ``qml.transforms.broadcast_expand``: one tape per sample. Shots
are set on the QNode (``shots=N``). PennyLane is an optional dependency (the ``test`` and
``bench`` extras).
"""

from __future__ import annotations

import math

import torch
from torch import nn

#: PennyLane configurations that compute what each qgradbench method computes.
PENNYLANE_CONFIGS: dict[str, tuple[tuple[str, str], ...]] = {
    "backprop": (("default.qubit", "backprop"),),
    "adjoint": (("lightning.qubit", "adjoint"), ("default.qubit", "adjoint")),
    "parameter-shift": (("default.qubit", "parameter-shift"),),
    "finite-diff": (("default.qubit", "finite-diff"),),
    "spsa": (("default.qubit", "spsa"),),
    "hadamard": (("default.qubit", "hadamard"),),
}

#: The same QNode on ``qgradbench.qubit`` (what a PennyLane user gets by changing the device
#: line): PennyLane's own diff_method, and ``"device:<rule>"`` for ``diff_method="device"``
#: with ``gradient_kwargs={"method": rule}`` (the engine's batched rule through the device).
#: A trailing ``"+vjp"`` sets the QNode's ``device_vjp=True``: PennyLane then asks the device
#: for vector-Jacobian products and keeps the broadcast batch one tape (not split).
QGRADBENCH_QUBIT_CONFIGS: dict[str, tuple[tuple[str, str], ...]] = {
    "adjoint": (("qgradbench.qubit", "adjoint"), ("qgradbench.qubit", "adjoint+vjp")),
    "parameter-shift": (
        ("qgradbench.qubit", "parameter-shift"),
        ("qgradbench.qubit", "device:parameter-shift"),
        ("qgradbench.qubit", "device:parameter-shift+vjp"),
    ),
    "finite-diff": (("qgradbench.qubit", "finite-diff"),),
    "spsa": (("qgradbench.qubit", "spsa"),),
    "hadamard": (("qgradbench.qubit", "hadamard"), ("qgradbench.qubit", "device:hadamard")),
    "shot-adjoint": (
        ("qgradbench.qubit", "device:shot-adjoint"),
        ("qgradbench.qubit", "device:shot-adjoint+vjp"),
    ),
}

#: Methods with no ``qgradbench.qubit`` row, and why.
QGRADBENCH_QUBIT_SKIPS: dict[str, str] = {
    "backprop": (
        "qgradbench.qubit does not support diff_method='backprop': it runs tapes on the engine "
        "outside PennyLane's torch interface (supports_derivatives is False for backprop); its "
        "exact equivalent is the adjoint row"
    ),
}

#: PennyLane diff_methods that are gradient transforms (they need ``broadcast_expand``).
TRANSFORMS = ("parameter-shift", "finite-diff", "spsa", "hadamard")
#: Prefix of a ``diff_method="device"`` configuration: ``"device:<engine rule>"``.
DEVICE_PREFIX = "device:"
#: Suffix of a configuration run with ``device_vjp=True``.
VJP_SUFFIX = "+vjp"

_TEMPLATES = {
    "strongly-entangling": "StronglyEntanglingLayers",
    "basic-entangler": "BasicEntanglerLayers",
}


def configs(method: str, shots: int | None) -> tuple[tuple[str, str], ...]:
    """The PennyLane configurations for ``method`` at ``shots``, ``qgradbench.qubit``'s last.

    With shots, only those that take shots: gradient transforms and the device rules other
    than the (shot-free) adjoint.
    """
    pairs = PENNYLANE_CONFIGS.get(method, ()) + QGRADBENCH_QUBIT_CONFIGS.get(method, ())
    if shots is not None:
        pairs = tuple(p for p in pairs if p[1] in TRANSFORMS or p[1].startswith(DEVICE_PREFIX))
    return pairs


def pennylane_layer(
    n_qubits: int,
    n_layers: int,
    weights: torch.Tensor,
    *,
    device: str,
    diff_method: str,
    ansatz: str = "strongly-entangling",
    shots: int | None = None,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
    gradient_kwargs: dict | None = None,
) -> nn.Module:
    """PennyLane's ``TorchLayer`` of the qgradbench layer's circuit, initialised to ``weights``.

    ``diff_method`` is PennyLane's, or ``"device:<rule>"`` for ``diff_method="device"`` with
    ``gradient_kwargs["method"] = rule`` (``qgradbench.qubit``'s engine rules); a trailing
    ``"+vjp"`` builds the QNode with ``device_vjp=True``.

    Raises:
        ValueError: for an ansatz PennyLane has no template for here.
    """
    import pennylane as qml

    if ansatz not in _TEMPLATES:
        raise ValueError(
            f"no PennyLane counterpart for ansatz {ansatz!r}; expected one of "
            f"{', '.join(_TEMPLATES)}"
        )
    template = getattr(qml, _TEMPLATES[ansatz])
    kwargs = dict(gradient_kwargs or {})
    device_vjp = diff_method.endswith(VJP_SUFFIX)
    diff_method = diff_method.removesuffix(VJP_SUFFIX)
    if diff_method.startswith(DEVICE_PREFIX):
        kwargs["method"] = diff_method[len(DEVICE_PREFIX) :]
        diff_method = "device"
    wires = n_qubits
    if diff_method == "hadamard":  # the Hadamard test needs an ancilla wire
        wires += 1
        kwargs.setdefault("aux_wire", n_qubits)
    seeded = device in ("default.qubit", "qgradbench.qubit")
    dev = qml.device(device, wires=wires, **({"seed": seed} if seeded else {}))

    def circuit(inputs, weights):
        for i in range(n_qubits):
            qml.RY(math.pi * inputs[..., i], wires=i)
        template(weights, wires=range(n_qubits))
        return [qml.expval(qml.PauliZ(i)) for i in range(n_qubits)]

    qnode = qml.QNode(
        circuit,
        dev,
        interface="torch",
        diff_method=diff_method,
        shots=shots,
        gradient_kwargs=kwargs,
        device_vjp=device_vjp,
    )
    if diff_method in TRANSFORMS:
        qnode = qml.transforms.broadcast_expand(qnode)
    layer = qml.qnn.TorchLayer(qnode, {"weights": tuple(weights.shape)})
    layer = layer.to(dtype)
    with torch.no_grad():
        layer.weights.copy_(weights)
    return layer
