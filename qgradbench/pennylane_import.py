r"""PennyLane circuits in: QNodes compiled to the circuit model, and a ``TorchLayer`` drop-in.

:func:`from_pennylane` records a PennyLane quantum function (or QNode, or tape) once, decomposes
it with PennyLane's own decompositions into the gate set of the circuit model
(:data:`~qgradbench.circuits.model.GATES`), and returns a
:class:`~qgradbench.circuits.model.CircuitSpec`. :class:`TorchLayer` is a drop-in for
``qml.qnn.TorchLayer`` that runs the compiled circuit with any of qgradbench's gradient methods::

    import pennylane as qml
    import qgradbench

    dev = qml.device("default.qubit", wires=3)

    @qml.qnode(dev)
    def circuit(inputs, weights):
        qml.AngleEmbedding(inputs, wires=range(3))
        qml.StronglyEntanglingLayers(weights, wires=range(3))
        return [qml.expval(qml.Z(i)) for i in range(3)]

    layer = qgradbench.TorchLayer(circuit, {"weights": (2, 3, 3)}, diff_method="adjoint")

**Angles.** The circuit model's gate angles are
``theta = c + sum_j a_j x_j + sum_k b_k w_k + sum_jk C_jk x_j w_k + sum_{j<=l} d_jl x_j x_l``
(:class:`~qgradbench.circuits.model.Angle`). Each recorded gate parameter is a torch scalar
computed from the inputs ``x`` and the weights ``w``; at a random point ``(x0, w0)`` autograd
gives its gradient and the Hessian blocks ``H_xw = C`` and ``H_xx`` (``d_jl = H_jl`` for
``j < l``, ``d_jj = H_jj / 2``), from which

.. math:: a = \nabla_x \theta - C w_0 - H_{xx} x_0, \qquad b = \nabla_w \theta - C^T x_0,
          \qquad c = \theta_0 - a \cdot x_0 - b \cdot w_0 - x_0^T C w_0
          - \tfrac12 x_0^T H_{xx} x_0.

The circuit is then recorded again at a second random point and every parameter must match its
model to ``1e-9`` (relative to ``1 + |theta|``): an angle of another form (``sin(w)``,
``w_0 w_1``) is refused, as is a circuit whose gates change with the values.
"""

from __future__ import annotations

import functools
import inspect
import math
import numbers
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from qgradbench.circuits.model import GATES, Angle, CircuitSpec, Gate
from qgradbench.circuits.pauli import PauliSum

#: Recursion limit of PennyLane's decompositions (templates of templates).
MAX_DEPTH = 20
#: Verification tolerance of the angles' affine/bilinear model, relative to ``1 + |theta|``.
ANGLE_TOL = 1e-9
_ZERO = 1e-12  # coefficients below this (autograd's rounding) are dropped
_POINTS = (20240601, 20240602)  # seeds of the two random points (numpy; torch's RNG untouched)

# ---------------------------------------------------------------------------- weights


def normalise_weight_shapes(weight_shapes: object) -> dict[str, tuple[int, ...]]:
    """``weight_shapes`` as ``qml.qnn.TorchLayer`` reads it: ``{name: shape}``.

    A shape is an iterable of sizes; an integer ``n`` is ``(n,)``, except ``1``, a scalar ``()``.
    """
    if weight_shapes is None:
        return {}
    if not isinstance(weight_shapes, dict):
        raise ValueError(
            f"weight_shapes must be a dict {{name: shape}}, got {type(weight_shapes).__name__}"
        )
    out = {}
    for name, size in weight_shapes.items():
        if not isinstance(name, str) or name == "inputs":
            raise ValueError(f"weight names must be strings other than 'inputs', got {name!r}")
        shape = tuple(size) if isinstance(size, Iterable) else () if size == 1 else (size,)
        if not all(isinstance(n, numbers.Integral) and not isinstance(n, bool) for n in shape):
            raise ValueError(f"weight {name!r}: a shape must hold integers, got {size!r}")
        if any(n < 0 for n in shape):
            raise ValueError(f"weight {name!r}: sizes must be >= 0, got {size!r}")
        out[name] = tuple(int(n) for n in shape)
    return out


@dataclass(frozen=True)
class WeightLayout:
    """Named weight tensors laid out in one flat vector, row-major, in ``weight_shapes`` order.

    Attributes:
        shapes: ``(name, shape)`` pairs, in order.
    """

    shapes: tuple[tuple[str, tuple[int, ...]], ...] = ()

    @property
    def n_weights(self) -> int:
        """Total number of weights."""
        return sum(math.prod(shape) for _, shape in self.shapes)

    @property
    def offsets(self) -> dict[str, int]:
        """Where each named tensor starts in the flat vector."""
        out, start = {}, 0
        for name, shape in self.shapes:
            out[name] = start
            start += math.prod(shape)
        return out

    def split(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """The named tensors (views) of a flat weight vector."""
        offsets = self.offsets
        return {
            name: flat[offsets[name] : offsets[name] + math.prod(shape)].reshape(shape)
            for name, shape in self.shapes
        }

    def flatten(self, tensors: dict[str, torch.Tensor]) -> torch.Tensor:
        """The flat vector of the named tensors (differentiable)."""
        parts = [tensors[name].reshape(-1) for name, _ in self.shapes]
        return torch.cat(parts) if parts else torch.zeros(0)


@dataclass(frozen=True, eq=False)
class PennyLaneCircuit(CircuitSpec):
    """A :class:`CircuitSpec` compiled from PennyLane, with what the conversion needs.

    Attributes:
        weight_layout: the named weights in the flat weight vector ``w``.
        single_output: whether the quantum function returned one measurement (not a list), so
            that ``TorchLayer``'s output has no output axis, as PennyLane's.
        wire_labels: PennyLane's wire label of each qubit ``0..n_qubits - 1``.
    """

    weight_layout: WeightLayout = WeightLayout()
    single_output: bool = False
    wire_labels: tuple = ()


# ---------------------------------------------------------------------------- recording


def _supported(op) -> bool:
    if op.name == "QubitUnitary":
        return len(op.wires) <= 3
    return op.name in GATES


def _gate_list() -> str:
    return ", ".join(GATES)


def _expand(ops, depth: int = 0, origin: str | None = None) -> list:
    """Decompose ``ops`` with PennyLane's decompositions until every gate is in :data:`GATES`.

    Returns ``(op, origin)`` pairs, ``origin`` the name of the recorded operation it came from.
    """
    import pennylane as qml

    out = []
    for op in ops:
        if _supported(op):
            out.append((op, origin))
            continue
        try:
            if depth >= MAX_DEPTH or not op.has_decomposition:
                raise qml.operation.DecompositionUndefinedError
            parts = op.decomposition()
        except qml.operation.DecompositionUndefinedError:
            within = f" (in {origin})" if origin else ""
            raise ValueError(
                f"cannot compile the PennyLane operation {op.name} on wires {list(op.wires)}"
                f"{within}: it is not in the circuit model's gate set and PennyLane does not "
                f"decompose it into that set; supported gates: {_gate_list()}"
            ) from None
        out.extend(_expand(parts, depth + 1, origin or op.name))
    return out


def _call_args(func: Callable, x: torch.Tensor | None, weights: dict) -> tuple[tuple, dict]:
    """``qfunc(inputs, **weights)`` as ``qml.qnn.TorchLayer`` calls it (``inputs=`` by name)."""
    if x is None:
        return (), weights
    try:
        by_name = "inputs" in inspect.signature(func).parameters
    except (TypeError, ValueError):
        by_name = False
    return ((), {"inputs": x, **weights}) if by_name else ((x,), weights)


def _record(source, x: torch.Tensor | None, w: torch.Tensor, layout: WeightLayout):
    """Record the tape of ``source`` (a dict from :func:`_source`) at inputs ``x``, weights ``w``.

    Returns ``(operations, origins, measurements, single)``: the operations decomposed into
    :data:`GATES`, and the name of the recorded operation each came from (``None``: itself).
    """
    import pennylane as qml

    if source["tape"] is not None:
        tape, single = source["tape"], False
    else:
        args, kwargs = _call_args(source["func"], x, layout.split(w))
        with qml.queuing.AnnotatedQueue() as queue:
            result = source["func"](*args, **kwargs)
        tape = qml.tape.QuantumScript.from_queue(queue)
        single = isinstance(result, qml.measurements.MeasurementProcess)
        if source["pipeline"]:
            tapes, _ = source["pipeline"]((tape,))
            if len(tapes) != 1:
                raise ValueError(
                    f"the QNode's transforms turn its circuit into {len(tapes)} circuits; "
                    f"only transforms that give one circuit are supported"
                )
            tape = tapes[0]
    pairs = _expand(tape.operations)
    return [op for op, _ in pairs], [o for _, o in pairs], list(tape.measurements), single


def _source(qfunc_or_tape) -> dict:
    """What to record: a quantum function (with its QNode's device and transforms) or a tape."""
    import pennylane as qml

    if isinstance(qfunc_or_tape, qml.tape.QuantumScript):
        return {"tape": qfunc_or_tape, "func": None, "pipeline": None, "device": None}
    if isinstance(qfunc_or_tape, qml.QNode):
        return {
            "tape": None,
            "func": qfunc_or_tape.func,
            "pipeline": qfunc_or_tape.compile_pipeline,
            "device": qfunc_or_tape.device,
        }
    if callable(qfunc_or_tape):
        return {"tape": None, "func": qfunc_or_tape, "pipeline": None, "device": None}
    raise ValueError(
        f"expected a PennyLane quantum function, QNode or QuantumScript (tape), "
        f"got {type(qfunc_or_tape).__name__}"
    )


# ---------------------------------------------------------------------------- angles


def _gate_params(op) -> list:
    """The gate's angle parameters (QubitUnitary's matrix is no angle)."""
    return [] if op.name == "QubitUnitary" else list(op.parameters)


def _describe(op, index: int, origin: str | None) -> str:
    within = f", from {origin}" if origin else ""
    return f"{op.name} on wires {list(op.wires)} (gate {index} after decomposition{within})"


def _grads(value: torch.Tensor, x: torch.Tensor, w: torch.Tensor, create: bool):
    gx, gw = torch.autograd.grad(
        value, (x, w), retain_graph=True, create_graph=create, allow_unused=True,
        materialize_grads=True,
    )  # fmt: skip
    return gx, gw


def _fit_angle(value, x: torch.Tensor, w: torch.Tensor, where: str) -> Angle:
    """The :class:`Angle` of one recorded parameter, from its value and derivatives at (x, w)."""
    if not isinstance(value, torch.Tensor) or not value.requires_grad:
        return Angle(_real_number(value, where))
    if value.numel() != 1:
        raise ValueError(f"{where}: a gate parameter must be a scalar, got shape {value.shape}")
    value = value.reshape(())
    if value.is_complex():
        raise ValueError(f"{where}: a gate parameter must be real, got {value.dtype}")
    gx, gw = _grads(value, x, w, create=True)
    n_in, n_w = x.numel(), w.numel()
    hxx, hxw = torch.zeros(n_in, n_in, dtype=x.dtype), torch.zeros(n_in, n_w, dtype=x.dtype)
    if gx.requires_grad:
        for j in range(n_in):
            hxx[j], hxw[j] = (g.detach() for g in _grads(gx[j], x, w, create=False))
    x0, w0 = x.detach(), w.detach()
    a = gx.detach() - hxw @ w0 - hxx @ x0
    b = gw.detach() - hxw.T @ x0
    const = value.detach() - a @ x0 - b @ w0 - x0 @ hxw @ w0 - 0.5 * x0 @ hxx @ x0
    keep = lambda v: abs(float(v)) > _ZERO  # noqa: E731
    return Angle(
        float(const) if keep(const) else 0.0,
        tuple((j, float(v)) for j, v in enumerate(a) if keep(v)),
        tuple((k, float(v)) for k, v in enumerate(b) if keep(v)),
        tuple((j, k, float(hxw[j, k])) for j in range(n_in) for k in range(n_w)
              if keep(hxw[j, k])),
        tuple((j, m, float(hxx[j, m]) * (0.5 if j == m else 1.0)) for j in range(n_in)
              for m in range(j, n_in) if keep(hxx[j, m])),
    )  # fmt: skip


def _real_number(value, where: str) -> float:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    arr = np.asarray(value)
    if arr.size != 1:
        raise ValueError(f"{where}: a gate parameter must be a scalar, got shape {arr.shape}")
    v = complex(arr.reshape(()))
    if v.imag != 0:
        raise ValueError(f"{where}: a gate parameter must be real, got {v}")
    return float(v.real)


def evaluate_angle(angle: Angle, x: np.ndarray, w: np.ndarray) -> float:
    """The value of ``angle`` at inputs ``x`` and weights ``w`` (numpy)."""
    out = angle.const
    out += sum(a * x[j] for j, a in angle.inputs)
    out += sum(b * w[k] for k, b in angle.weights)
    out += sum(c * x[j] * w[k] for j, k, c in angle.products)
    out += sum(d * x[j] * x[m] for j, m, d in angle.input_products)
    return float(out)


def _point(seed: int, n_inputs: int, n_weights: int) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(seed)
    x = torch.tensor(rng.uniform(-2.0, 2.0, n_inputs), dtype=torch.float64)
    w = torch.tensor(rng.uniform(-2.0, 2.0, n_weights), dtype=torch.float64)
    return x, w


def _matrix(op, where: str) -> np.ndarray:
    matrix = op.parameters[0]
    if isinstance(matrix, torch.Tensor):
        if matrix.requires_grad:
            raise ValueError(
                f"{where}: QubitUnitary's matrix depends on the inputs or weights; only a "
                f"constant matrix is supported (parameterise with rotation gates instead)"
            )
        matrix = matrix.detach().cpu().numpy()
    return np.asarray(matrix, dtype=complex)


def _signature(ops) -> list:
    return [(op.name, tuple(op.wires), len(op.parameters)) for op in ops]


def _verify(angles, ops, origins, source, layout, n_inputs) -> None:
    """Record again at a second random point; every parameter must match its model."""
    x1, w1 = _point(_POINTS[1], n_inputs or 0, layout.n_weights)
    with torch.no_grad():
        ops1, _, _, _ = _record(source, x1 if n_inputs is not None else None, w1, layout)
    if _signature(ops1) != _signature(ops):
        raise ValueError(
            "the circuit's gates change with the values of its inputs or weights (control flow "
            "on parameter values); only a fixed gate sequence can be compiled"
        )
    xs, ws = x1.numpy(), w1.numpy()
    for index, (op, op1) in enumerate(zip(ops, ops1, strict=True)):
        where = _describe(op, index, origins[index])
        for angle, value in zip(angles[index], _gate_params(op1), strict=True):
            got = _real_number(value, where)
            model = evaluate_angle(angle, xs, ws)
            if not abs(got - model) <= ANGLE_TOL * (1 + abs(got)):
                raise ValueError(
                    f"{where}: its angle is not of the supported form const + sum a_j x_j + "
                    f"sum b_k w_k + sum c x_j w_k + sum d x_j x_l (affine in the weights, at most "
                    f"bilinear in the inputs): {got!r} at a second point, model {model!r}"
                )
        if op.name == "QubitUnitary" and not np.allclose(
            _matrix(op, where), _matrix(op1, where), atol=1e-12
        ):
            raise ValueError(f"{where}: QubitUnitary's matrix changes with the inputs or weights")


# ---------------------------------------------------------------------------- observables


def _coefficient(value, where: str) -> float:
    if isinstance(value, torch.Tensor):
        if value.requires_grad:
            raise ValueError(
                f"{where}: a coefficient depends on the inputs or weights; observables must be "
                f"constant"
            )
        value = value.detach().cpu().numpy()
    v = complex(np.asarray(value).reshape(()))
    if abs(v.imag) > _ZERO:
        raise ValueError(f"{where}: coefficient {v} is complex: the observable is not Hermitian")
    return v.real


def _observable(m, index: int, qubit: dict) -> PauliSum:
    """One ``qml.expval`` as a :class:`PauliSum` over qubits ``0..n-1``."""
    import pennylane as qml

    what = f"of {m.obs.name} " if m.obs is not None else ""
    where = f"measurement {index} ({type(m).__name__} {what}on wires {list(m.wires)})"
    if not isinstance(m, qml.measurements.ExpectationMP):
        raise ValueError(
            f"{where}: only qml.expval of Pauli words, sums of them, Hamiltonians, SProd and "
            f"Prod can be compiled, not {type(m).__name__} (probs, sample, var, state...)"
        )
    if m.obs is None:
        raise ValueError(f"{where}: an expectation value of a mid-circuit measurement")
    try:
        sentence = qml.pauli.pauli_sentence(m.obs)
    except (ValueError, TypeError, NotImplementedError):
        raise ValueError(
            f"{where}: {m.obs.name} is not a sum of Pauli words (qml.Hermitian, qml.Projector... "
            f"are not supported; write the observable with Pauli words, sums, Hamiltonians, "
            f"SProd or Prod)"
        ) from None
    terms = [
        (_coefficient(c, where), tuple((qubit[wire], p) for wire, p in word.items()))
        for word, c in sentence.items()
    ]
    return PauliSum(tuple(terms))


# ---------------------------------------------------------------------------- compile


def _wire_order(wires, source, ops, measurements) -> tuple:
    used = []
    for item in [*ops, *measurements]:
        for label in item.wires:
            if label not in used:
                used.append(label)
    if wires is not None:
        labels = tuple(wires)
    elif source["device"] is not None and source["device"].wires is not None:
        labels = tuple(source["device"].wires)
    else:
        try:
            labels = tuple(sorted(used))
        except TypeError:
            labels = tuple(used)
    if len(set(labels)) != len(labels):
        raise ValueError(f"wires must be distinct, got {list(labels)}")
    missing = [label for label in used if label not in labels]
    if missing:
        raise ValueError(f"the circuit uses wires {missing} that are not in wires {list(labels)}")
    if not labels:
        raise ValueError("the circuit acts on no wires")
    return labels


def _gate(op, angles, where: str, qubit: dict) -> Gate:
    wires = [qubit[label] for label in op.wires]
    if op.name == "PauliRot":
        return Gate("PauliRot", wires, angles, word=op.hyperparameters["pauli_word"])
    if op.name == "QubitUnitary":
        return Gate("QubitUnitary", wires, matrix=_matrix(op, where))
    return Gate(op.name, wires, angles)


def from_pennylane(
    qfunc_or_tape,
    *,
    n_inputs: int | None = None,
    weight_shapes: dict | None = None,
    wires: Iterable | None = None,
) -> PennyLaneCircuit:
    """Compile a PennyLane circuit into the circuit model.

    A quantum function or QNode is called as ``qml.qnn.TorchLayer`` calls it,
    ``qfunc(inputs, **weights)`` (``inputs`` by name when the function has an argument of that
    name, else first), and its tape recorded with torch tensors; operations outside
    :data:`~qgradbench.circuits.model.GATES` are decomposed with PennyLane's own decompositions
    (templates, ``qml.adjoint``, controlled operations). Each gate angle must be
    ``c + a.x + b.w + x^T C w + sum d x_j x_l``, recovered by autograd at one random point and
    verified at a second (see the module docstring). A tape's parameters are constants.

    Args:
        qfunc_or_tape: a quantum function, a ``qml.QNode`` (its device gives the wire order,
            its transforms are applied) or a ``qml.tape.QuantumScript``.
        n_inputs: number of input features (``inputs`` has shape ``(n_inputs,)``); ``None``:
            the function takes no ``inputs``.
        weight_shapes: ``{name: shape}`` as ``qml.qnn.TorchLayer`` takes it; the weights are
            flattened in this order, row-major (``spec.weight_layout``).
        wires: the wire labels in qubit order; default the QNode's device wires, else the
            circuit's wires sorted.

    Returns:
        A :class:`PennyLaneCircuit`, one output per ``qml.expval``.

    Raises:
        ValueError: naming the operation, angle or measurement that cannot be compiled.
    """
    source = _source(qfunc_or_tape)
    shapes = normalise_weight_shapes(weight_shapes)
    if source["tape"] is not None and (n_inputs is not None or shapes):
        raise ValueError("a tape has constant parameters: n_inputs and weight_shapes must be None")
    if n_inputs is not None and (
        isinstance(n_inputs, bool) or not isinstance(n_inputs, numbers.Integral) or n_inputs < 0
    ):
        raise ValueError(f"n_inputs must be None or an integer >= 0, got {n_inputs!r}")
    layout = WeightLayout(tuple(shapes.items()))
    x0, w0 = _point(_POINTS[0], n_inputs or 0, layout.n_weights)
    x0.requires_grad_(True)
    w0.requires_grad_(True)
    record = _record(source, x0 if n_inputs is not None else None, w0, layout)
    ops, origins, measurements, single = record
    where = [_describe(op, i, o) for i, (op, o) in enumerate(zip(ops, origins, strict=True))]
    angles = []
    for op, at in zip(ops, where, strict=True):
        if source["tape"] is not None:  # a tape's parameters are constants
            angles.append([Angle(_real_number(v, at)) for v in _gate_params(op)])
        else:
            angles.append([_fit_angle(v, x0, w0, at) for v in _gate_params(op)])
    if source["tape"] is None:
        _verify(angles, ops, origins, source, layout, n_inputs)
    if not measurements:
        raise ValueError("the circuit measures nothing; return qml.expval(...) or a list of them")
    labels = _wire_order(wires, source, ops, measurements)
    qubit = {label: i for i, label in enumerate(labels)}
    gates = [_gate(*args, qubit) for args in zip(ops, angles, where, strict=True)]
    observables = [_observable(m, i, qubit) for i, m in enumerate(measurements)]
    single_shape = len(shapes) == 1 and next(iter(shapes.values()))
    func = source["func"]
    return PennyLaneCircuit(
        n_qubits=len(labels),
        gates=tuple(gates),
        n_inputs=n_inputs or 0,
        n_weights=layout.n_weights,
        observables=observables,
        weight_shape=single_shape or (layout.n_weights,),
        name=getattr(func, "__name__", "pennylane-circuit") if func else "pennylane-tape",
        weight_layout=layout,
        single_output=single,
        wire_labels=labels,
    )


# ---------------------------------------------------------------------------- TorchLayer


def _init_weight(name: str, shape: tuple[int, ...], init_method) -> torch.Tensor:
    """One weight, initialised exactly as ``qml.qnn.TorchLayer`` does (torch's global RNG)."""
    if init_method is None:
        init = functools.partial(nn.init.uniform_, b=2 * math.pi)
    elif callable(init_method):
        init = init_method
    elif isinstance(init_method, dict):
        if name not in init_method:
            raise ValueError(f"init_method has no entry for weight {name!r}")
        init = init_method[name]
        if isinstance(init, torch.Tensor):
            if tuple(init.shape) != shape:
                raise ValueError(
                    f"init_method's tensor for weight {name!r} has shape {tuple(init.shape)}, "
                    f"expected {shape}"
                )
            return init
    else:
        raise ValueError(
            f"init_method must be None, a torch.nn.init function or a dict, got {init_method!r}"
        )
    return init(torch.Tensor(*shape)) if shape else init(torch.Tensor(1))[0]


class TorchLayer(nn.Module):
    """A drop-in for ``qml.qnn.TorchLayer`` that runs on qgradbench's simulator and methods.

    The QNode is compiled with :func:`from_pennylane` (at the first call, when the number of
    input features is known, or at once if ``n_inputs`` is given) and executed by a
    :meth:`QuantumLayer.from_circuit <qgradbench.layer.QuantumLayer.from_circuit>` engine. The
    module holds one ``nn.Parameter`` per ``weight_shapes`` entry, registered under its name and
    initialised as ``qml.qnn.TorchLayer`` does (same draws from torch's global RNG, so the same
    ``torch.manual_seed`` gives the same weights; compiling draws nothing from it). Inputs
    ``(..., n_inputs)`` give outputs ``(..., n_outputs)``, or ``(...)`` when the QNode returns a
    single ``qml.expval`` (not a list), as PennyLane's layer does.

    Args:
        qnode: the ``qml.QNode`` (or quantum function) with an ``inputs`` argument.
        weight_shapes: ``{name: shape}`` of its other arguments, as ``qml.qnn.TorchLayer``.
        diff_method: a name from :func:`qgradbench.methods.names`.
        shots: shots per executed circuit, or ``None`` (exact).
        seed: seeds the engine's generator (shots, stochastic rules); not the weights.
        dtype: the simulation's complex dtype; the weights get the matching real dtype.
        device: where the weights and the simulation live.
        init_method: as ``qml.qnn.TorchLayer``: a ``torch.nn.init`` function, or a dict of
            functions or tensors per weight; default uniform on ``[0, 2 pi]``.
        shot_split: how shots are split among the observables' measurement groups.
        n_inputs: compile now for this many input features (default: at the first call).
        **method_options: options of the differentiation method.
    """

    def __init__(
        self,
        qnode,
        weight_shapes: dict,
        *,
        diff_method: str = "backprop",
        shots: int | None = None,
        seed: int | None = None,
        dtype: torch.dtype = torch.complex64,
        device: str | torch.device = "cpu",
        init_method=None,
        shot_split: str = "uniform",
        n_inputs: int | None = None,
        **method_options,
    ):
        super().__init__()
        from qgradbench.layer import _COMPLEX, check_shots
        from qgradbench.methods import get_method

        if dtype not in _COMPLEX:
            raise ValueError(f"dtype must be torch.complex64 or torch.complex128, got {dtype!r}")
        get_method(diff_method, **method_options).check_shots(check_shots(shots))  # fail early
        _source(qnode)
        self.qnode = qnode
        self.weight_shapes = normalise_weight_shapes(weight_shapes)
        self._options = {
            "diff_method": diff_method,
            "shots": check_shots(shots),
            "seed": seed,
            "dtype": dtype,
            "device": torch.device(device),
            "shot_split": shot_split,
            **method_options,
        }
        self.qnode_weights: dict[str, nn.Parameter] = {}
        for name, shape in self.weight_shapes.items():
            value = _init_weight(name, shape, init_method)
            param = nn.Parameter(value.detach().to(device=device, dtype=dtype.to_real()))
            self.qnode_weights[name] = param
            self.register_parameter(name, param)
        self._engines: dict = {}  # n_inputs -> (spec, QuantumLayer); not submodules
        self._last = None
        if n_inputs is not None:
            self._engine(n_inputs)

    def _engine(self, n_inputs: int):
        if n_inputs not in self._engines:
            from qgradbench.layer import QuantumLayer

            spec = from_pennylane(self.qnode, n_inputs=n_inputs, weight_shapes=self.weight_shapes)
            with torch.random.fork_rng(devices=[]):  # leave torch's global RNG as it was
                engine = QuantumLayer.from_circuit(spec, **self._options)
            del engine.weights  # the weights live here, one tensor per name
            self._engines[n_inputs] = (spec, engine)
        self._last = self._engines[n_inputs]
        return self._last

    @property
    def circuit(self) -> PennyLaneCircuit | None:
        """The compiled circuit (of the last call; ``None`` before the first)."""
        return self._last[0] if self._last else None

    @property
    def engine(self):
        """The :class:`~qgradbench.layer.QuantumLayer` that runs it (``None`` before)."""
        return self._last[1] if self._last else None

    @property
    def cost(self):
        """Circuits and shots spent so far by the engine (``None`` before the first call).

        See :class:`~qgradbench.backend.cost.Cost`.
        """
        return self.engine.cost if self._last else None

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """The QNode's expectation values for ``inputs`` ``(..., n_inputs)``."""
        if not isinstance(inputs, torch.Tensor) or inputs.dim() == 0:
            raise ValueError(
                f"inputs must be a torch.Tensor of shape (..., n_inputs), got {inputs!r}"
            )
        spec, engine = self._engine(inputs.shape[-1])
        real = engine.dtype.to_real()
        flat = spec.weight_layout.flatten(self.qnode_weights)
        out = engine.forward_with(inputs, flat.to(device=self._options["device"], dtype=real))
        return out.squeeze(-1) if spec.single_output else out

    def extra_repr(self) -> str:  # noqa: D102
        name = getattr(getattr(self.qnode, "func", self.qnode), "__name__", "?")
        o = self._options
        return (
            f"qnode={name}, weight_shapes={self.weight_shapes}, diff_method={o['diff_method']!r}, "
            f"shots={o['shots']}, dtype={o['dtype']}"
        )
