r"""``qgradbench.qubit``: qgradbench's engine as a PennyLane device.

>>> import pennylane as qml
>>> dev = qml.device("qgradbench.qubit", wires=2)
>>> @qml.qnode(dev, diff_method="adjoint")
... def circuit(t):
...     qml.RX(t, wires=0)
...     qml.CNOT(wires=[0, 1])
...     return qml.expval(qml.Z(1))

**Execution.** PennyLane's ``decompose`` preprocessing lowers every operation to the circuit
model's gate set (:data:`~qgradbench.circuits.model.GATES`). Each tape then becomes a
:class:`~qgradbench.circuits.model.CircuitSpec` whose every gate angle is its own weight
``w[k]``, so that the compiled circuit's slots are the tape's angles in order: a broadcast tape
(``tape.batch_size = B``) runs as one batched simulation of ``B`` angle vectors, in
``complex128``. The circuit model lowers fixed gates to rotations equal *up to a global phase*;
for ``qml.state()`` that phase is restored gate by gate (:func:`_gate_phase`), so the state
equals ``default.qubit``'s. Measurements are then computed from the final state by PennyLane's
own measurement functions (``measure_final_state``): exact values, or, with shots (shot vectors
included), samples drawn with the device's seeded numpy generator.

**Derivatives.** ``diff_method="adjoint"`` runs the engine's adjoint sweep
(:meth:`Execution.jacobian <qgradbench.backend.execution.Execution.jacobian>`, Jones & Gacon,
arXiv:2009.02823) on expectation values of Pauli sums. ``diff_method="device"`` takes
``gradient_kwargs={"method": name}`` with ``name`` one of :data:`DEVICE_METHODS`: the engine's
batched parameter-shift rule, the Hadamard test, or the shot-based adjoint, with the tape's
shots (or exact without); the other ``gradient_kwargs`` are the rule's options (e.g.
``{"method": "shot-adjoint", "match": "parameter-shift"}``: every entry drawn with the two-term
parameter-shift estimator's distribution). Tapes of one structure, observables, shots and
trainable angles (a broadcast tape split by ``broadcast_expand``, a batch of inputs) are
differentiated by one engine call on their stacked angle rows.

**Vector-Jacobian products.** With ``device_vjp=True`` (``qml.QNode(..., diff_method="adjoint",
device_vjp=True)``, or ``"device"``) a backward pass asks the device for ``dy^T J`` directly
(:meth:`QgradbenchQubit.compute_vjp`): the adjoint is one reverse sweep on
``|lambda> = (sum_j dy_j O_j)|psi>``, and a broadcast tape is *not* split, so a batch of inputs
in a ``qml.qnn.TorchLayer`` is one tape and one engine call forward and backward.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

import numpy as np
import torch

try:
    import pennylane as qml
    from pennylane.devices import Device, ExecutionConfig
    from pennylane.devices.modifiers import simulator_tracking
    from pennylane.devices.preprocess import (
        decompose,
        validate_device_wires,
        validate_measurements,
        validate_observables,
    )
    from pennylane.devices.qubit import measure_final_state
    from pennylane.measurements import ExpectationMP, StateMP
    from pennylane.transforms import broadcast_expand, defer_measurements
    from pennylane.transforms.core import CompilePipeline
except ImportError as err:  # pragma: no cover
    raise ImportError(
        "qgradbench.device needs PennyLane: pip install 'qgradbench[pennylane]'"
    ) from err

from qgradbench.backend import MAX_AMPLITUDES_PER_CALL, Execution
from qgradbench.circuits.model import GATES, CircuitSpec, Gate, w
from qgradbench.circuits.pauli import as_observable
from qgradbench.pennylane_import import _expand, _observable

#: Engine gradient rules that ``diff_method="device"`` accepts (``gradient_kwargs["method"]``).
DEVICE_METHODS = ("adjoint", "parameter-shift", "hadamard", "shot-adjoint")
_DTYPE = torch.complex128
#: ``slot_of`` marker of a parameter no expectation value depends on (``GlobalPhase``).
ZERO = "zero"


# ---------------------------------------------------------------------------- preprocessing


def _native(op) -> bool:
    """Whether the engine runs ``op`` directly.

    The gate set, ``GlobalPhase``, and on up to 3 wires ``QubitUnitary`` and any operation
    with a matrix but no decomposition (``BlockEncode``...), run as its matrix.
    """
    if op.name in GATES and op.name != "QubitUnitary" or op.name == "GlobalPhase":
        return True
    small = len(op.wires) <= 3
    return small and (op.name == "QubitUnitary" or (not op.has_decomposition and op.has_matrix))


@qml.transform
def matrix_fallback(tape):
    """Operations without a decomposition but with a matrix become ``QubitUnitary``.

    On up to 3 wires the engine runs that unitary; on more, PennyLane decomposes it (quantum
    Shannon decomposition) into the gate set.
    """

    def swap(op):
        if _native(op) or op.has_decomposition or not op.has_matrix:
            return op
        return qml.QubitUnitary(op.matrix(), wires=op.wires)

    new = tape.copy(operations=[swap(op) for op in tape.operations])
    return (new,), lambda results: results[0]


def _native_differentiable(op) -> bool:
    """Native, and with angles only where trainable (a trainable matrix is decomposed)."""
    if not _native(op):
        return False
    angles = op.name in GATES and op.name != "QubitUnitary" or op.name == "GlobalPhase"
    return angles or not any(qml.math.requires_grad(d) for d in op.data)


def _expval_of_pauli_sum(m) -> bool:
    if not isinstance(m, ExpectationMP) or m.obs is None:
        return False
    try:
        qml.pauli.pauli_sentence(m.obs)
    except (ValueError, TypeError, NotImplementedError, AttributeError):
        return False
    return True


def _observable_ok(obs) -> bool:
    return obs.has_matrix or obs.has_diagonalizing_gates


# ---------------------------------------------------------------------------- tape to engine


_ANGLE_GATES = frozenset(name for name in GATES if name != "QubitUnitary")


def _value(p) -> np.ndarray:
    """A gate angle as a float64 array: torch and numpy directly, other interfaces unwrapped."""
    if isinstance(p, torch.Tensor):
        return p.detach().cpu().numpy().astype(np.float64, copy=False)
    if not isinstance(p, np.ndarray | np.generic | float | int):
        p = qml.math.unwrap(p)
    return np.asarray(p, dtype=np.float64)


def _matrix(op) -> np.ndarray:
    if op.name == "QubitUnitary":
        return np.asarray(qml.math.unwrap(op.parameters[0]), dtype=complex)
    return np.asarray(qml.math.unwrap(op.matrix()), dtype=complex)


def _fixed_gates(op, wires: list[int]) -> list[Gate]:
    """A state preparation or matrix operation as gates (their data is part of the structure)."""
    if isinstance(op, qml.operation.StatePrepBase):
        return _state_prep(op, wires)
    if op.num_params and op.batch_size:
        raise ValueError(f"{op.name}: a broadcast matrix operation is not supported")
    return [Gate("QubitUnitary", wires, matrix=_matrix(op))]


def _signature(gates: list[Gate]) -> tuple:
    return tuple(
        (g.name, tuple(g.wires), None if g.matrix is None else g.matrix.tobytes()) for g in gates
    )


@dataclass(frozen=True)
class Lowered:
    """A tape lowered to the engine.

    Attributes:
        key: the tape's structure (gates, wires, matrices; not its angles): tapes with one key
            share one compiled circuit and run as one batched simulation.
        spec: the circuit, slot ``k`` = angle ``k`` (shared by every tape of the key).
        theta: ``(B, P)`` float64 angles (``B = 1`` for a tape without broadcasting).
        slot_of: per parameter of the tape's operations (``tape.get_parameters(
            trainable_only=False)`` order) its slot, ``None`` (a matrix) or :data:`ZERO`.
        batch_size: the broadcast size, ``None`` for an unbroadcast tape.
    """

    key: tuple
    spec: CircuitSpec
    theta: torch.Tensor
    slot_of: tuple
    batch_size: int | None


_SPECS: dict = {}
_CACHE_MAX = 256


def _cache(store: dict, key, build):
    """``store[key]``, built on a miss; the oldest entry leaves beyond :data:`_CACHE_MAX`."""
    if key not in store:
        if len(store) >= _CACHE_MAX:
            store.pop(next(iter(store)))
        store[key] = build()
    return store[key]


def _build_spec(n_qubits: int, key: tuple, fixed: list) -> tuple[CircuitSpec, tuple]:
    """The spec and ``slot_of`` of a structure (:func:`lower`'s key and its fixed gates)."""
    gates, slot_of, n_angles = [], [], 0
    fixed = iter(fixed)
    for item in key[1:]:
        if item[0] == "phase":
            slot_of.append(ZERO)
        elif item[0] == "fixed":
            gates.extend(next(fixed))
            slot_of.extend([None] * item[-1])
        else:
            _, name, wires, word, n = item
            ks = list(range(n_angles, n_angles + n))
            n_angles += n
            slot_of.extend(ks)
            gates.append(Gate(name, list(wires), [w[k] for k in ks], word=word))
    spec = CircuitSpec(n_qubits=n_qubits, gates=gates, n_weights=n_angles, observables=[])
    return spec, tuple(slot_of)


def lower(tape) -> Lowered:
    """The tape (standard wires, native gates) on the engine; the spec cached by structure.

    Per operation only its name, wires and data are read (no per-tape ``Gate`` objects, no
    ``tape.batch_size``): PennyLane's gradient transforms send hundreds of tapes of one
    structure, and their lowering is most of a device call's own time.
    """
    n_qubits = max(1, len(tape.wires))
    key, values, fixed = [n_qubits], [], []
    for op in _initial_state(tape.operations):
        name = op.name
        if name in _ANGLE_GATES:
            data = op.data
            word = op.hyperparameters["pauli_word"] if name == "PauliRot" else None
            key.append(("angle", name, tuple(int(v) for v in op.wires), word, len(data)))
            values.extend(data)
        elif name == "GlobalPhase":  # no effect on measurements; see _finish
            key.append(("phase",))
        else:
            gates = _fixed_gates(op, [int(v) for v in op.wires])
            fixed.append(gates)
            key.append(("fixed", _signature(gates), op.num_params))
    key = tuple(key)
    spec, slot_of = _cache(_SPECS, key, lambda: _build_spec(n_qubits, key, fixed))
    arrays = [_value(v) for v in values]
    batch = max((a.shape[0] for a in arrays if a.ndim), default=None)
    if batch is None:
        theta = np.array([float(a) for a in arrays], dtype=np.float64).reshape(1, -1)
    else:
        theta = np.stack([np.broadcast_to(a, (batch,)) for a in arrays], axis=1)
    return Lowered(key, spec, torch.from_numpy(np.ascontiguousarray(theta)), slot_of, batch)


def tape_to_spec(tape) -> tuple[CircuitSpec, torch.Tensor, list]:
    """The tape (standard wires, native gates) as a spec whose slot ``k`` is angle ``k``.

    Returns:
        ``(spec, theta, slot_of)``: ``theta`` ``(B, P)`` the angles (``B = 1`` for a tape
        without broadcasting), ``slot_of[i]`` the slot of the tape's parameter ``i`` (over
        ``tape.get_parameters(trainable_only=False)``), ``None`` for a matrix or an
        observable's parameter, :data:`ZERO` for a global phase (a zero derivative).
    """
    low = lower(tape)
    n_obs_params = len(tape.get_parameters(trainable_only=False)) - len(low.slot_of)
    return low.spec, low.theta, list(low.slot_of) + [None] * n_obs_params


def _initial_state(operations: list) -> list:
    """The operations, a first state preparation on more than 3 wires decomposed.

    ``BasisState`` stays (it becomes X gates); ``StatePrep`` on up to 3 wires stays (one
    unitary); a larger one is decomposed by PennyLane (Mottonen), exact up to a global phase.
    """
    if not operations or not isinstance(operations[0], qml.operation.StatePrepBase):
        return list(operations)
    first = operations[0]
    if first.name == "BasisState" or (first.name == "StatePrep" and len(first.wires) <= 3):
        return list(operations)
    parts = [op for op, _ in _expand(first.decomposition())]
    return parts + list(operations[1:])


def householder(psi: np.ndarray) -> np.ndarray:
    r"""A unitary ``U`` with ``U |0> = psi``: a phase times a Householder reflection.

    With ``e^{i phi} = psi_0 / |psi_0|`` (1 if ``psi_0 = 0``) and ``v = |0> - e^{-i phi} psi``,
    :math:`U = e^{i\phi} (1 - 2 v v^\dagger / v^\dagger v)` (``U = e^{i phi} 1`` if ``v = 0``):
    the reflection swaps ``|0>`` and ``e^{-i phi} psi``, unit vectors with a real overlap.
    """
    psi = np.asarray(psi, dtype=complex).reshape(-1)
    phase = psi[0] / abs(psi[0]) if abs(psi[0]) > 1e-15 else 1.0
    v = -np.conj(phase) * psi
    v[0] += 1.0
    norm = np.vdot(v, v).real
    reflection = np.eye(len(psi), dtype=complex)
    if norm > 1e-30:
        reflection -= 2 * np.outer(v, v.conj()) / norm
    return phase * reflection


def _state_prep(op, wires: list[int]) -> list[Gate]:
    """The first ``BasisState`` (X gates) or ``StatePrep`` (one unitary) as gates."""
    if op.name == "BasisState":
        bits = np.asarray(qml.math.unwrap(op.parameters[0])).reshape(-1)
        return [Gate("PauliX", [wire]) for wire, bit in zip(wires, bits, strict=True) if bit]
    psi = np.asarray(qml.math.unwrap(op.state_vector()), dtype=complex).reshape(-1)
    if psi.size != 2 ** len(wires):
        raise ValueError(f"{op.name}: a broadcast state preparation is not supported")
    return [Gate("QubitUnitary", wires, matrix=householder(psi))]


@functools.lru_cache(maxsize=4096)
def _gate_phase(name: str, n_wires: int, params: tuple, word, matrix_bytes) -> complex:
    """``e^{i a}`` with ``U_true = e^{i a} U_engine`` for one gate at constant angles.

    Both unitaries map ``|0...0>`` to a unit vector, so ``e^{i a} = <U_engine 0|U_true 0>``.
    """
    matrix = None if matrix_bytes is None else np.frombuffer(matrix_bytes, dtype=complex)
    if matrix is not None:
        matrix = matrix.reshape(2**n_wires, 2**n_wires)
    gate = Gate(name, list(range(n_wires)), list(params), word=word, matrix=matrix)
    spec = CircuitSpec(n_qubits=n_wires, gates=[gate], observables=[])
    circuit, _ = spec.compile()
    engine = circuit.run(torch.zeros(1, 0, dtype=torch.float64), _DTYPE).reshape(-1).numpy()
    true = gate.unitary(params)[:, 0]
    return complex(np.vdot(engine, true))


def global_phases(spec: CircuitSpec, theta: torch.Tensor) -> np.ndarray:
    """Per batch row, the global phase ``(B,)`` between the tape's unitary and the engine's."""
    out = np.ones(theta.shape[0], dtype=complex)
    values = theta.numpy()
    for b in range(theta.shape[0]):
        for gate in spec.gates:
            params = tuple(float(values[b, a.weights[0][0]]) for a in gate.params)
            matrix = None if gate.matrix is None else gate.matrix.tobytes()
            out[b] *= _gate_phase(gate.name, len(gate.wires), params, gate.word, matrix)
    return out


def _global_phase_ops(tape) -> np.ndarray:
    """``prod e^{-i phi}`` of the tape's ``GlobalPhase(phi)`` operations, per batch row."""
    phi = np.zeros(tape.batch_size or 1)
    for op in tape.operations:
        if op.name == "GlobalPhase":
            phi = phi + np.asarray(qml.math.unwrap(op.parameters[0]), dtype=float)
    return np.exp(-1j * phi)


def _structure(spec: CircuitSpec) -> tuple:
    """What a spec compiles from: its gates without angle values."""
    return (spec.n_qubits,) + tuple(
        (g.name, g.wires, g.word, None if g.matrix is None else g.matrix.tobytes(), len(g.params))
        for g in spec.gates
    )


_COMPILED: dict = {}


def compiled(spec: CircuitSpec, key: tuple | None = None):
    """The compiled circuit of a :func:`tape_to_spec` spec, cached by structure.

    Tapes that differ only in their angles (an optimisation loop, a batch of inputs, a
    broadcast split) share one compiled circuit and its execution schedules. ``key``: the
    structure's :attr:`Lowered.key` when known (else computed from the spec).
    """
    key = ("spec", _structure(spec)) if key is None else key
    return _cache(_COMPILED, key, lambda: spec.compile()[0])


def _finish(tape, low: Lowered, state: torch.Tensor):
    """One tape's engine states ``(B, 2, ..., 2)`` as ``default.qubit`` has them."""
    state = state.numpy()
    if len(tape.wires) == 0:
        state = state[:, :1]  # no wires: the amplitude of |0>
    if any(isinstance(m, StateMP) for m in tape.measurements):
        phases = global_phases(low.spec, low.theta) * _global_phase_ops(tape)
        state = state * phases.reshape((-1,) + (1,) * (state.ndim - 1))
    batched = low.batch_size is not None
    return (state if batched else state[0]), batched


def _run_rows(circuit, theta: torch.Tensor) -> torch.Tensor:
    """``circuit.run`` over the rows of ``theta``, in chunks of at most 2**24 amplitudes."""
    rows = max(1, MAX_AMPLITUDES_PER_CALL >> circuit.n_qubits)
    parts = [circuit.run(chunk, _DTYPE) for chunk in theta.split(rows)]
    return parts[0] if len(parts) == 1 else torch.cat(parts)


def _groups(keys: list) -> dict:
    """Indices per distinct key, in first-seen order."""
    groups: dict = {}
    for i, key in enumerate(keys):
        groups.setdefault(key, []).append(i)
    return groups


def final_states(tapes) -> list[tuple[np.ndarray, bool]]:
    """The tapes' final states (``((B,) 2, ..., 2)``, batched or not), as ``default.qubit``'s.

    Tapes of one structure (same gates and wires, other angles: a gradient rule's shifted tapes,
    a batch of inputs) run as one batched simulation, their angle rows stacked.
    """
    lowered = [lower(tape) for tape in tapes]
    out = [None] * len(tapes)
    for members in _groups([low.key for low in lowered]).values():
        first = lowered[members[0]]
        thetas = [lowered[i].theta for i in members]
        states = _run_rows(compiled(first.spec, first.key), torch.cat(thetas))
        for i, state in zip(members, states.split([len(t) for t in thetas]), strict=True):
            out[i] = _finish(tapes[i], lowered[i], state)
    return out


def final_state(tape) -> tuple[np.ndarray, bool]:
    """The tape's final state as ``default.qubit`` has it: ``((B,) 2, ..., 2)``, batched or not."""
    return final_states([tape])[0]


# ---------------------------------------------------------------------------- the device


@simulator_tracking
class QgradbenchQubit(Device):
    """PennyLane device ``qgradbench.qubit``: qgradbench's batched state-vector engine.

    Args:
        wires: the device's wires (number or labels), or ``None`` (the circuit's).
        shots: default shots of the QNodes (PennyLane's ``shots`` argument).
        seed: seed of the numpy generator that draws samples; ``None``: fresh entropy.
    """

    name = "qgradbench.qubit"
    short_name = "qgradbench.qubit"
    pennylane_requires = ">=0.45"
    version = "0.1.0"
    author = "qgradbench developers"

    def __init__(self, wires=None, shots=None, seed=None):
        super().__init__(wires=wires, shots=shots)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int | np.integer)):
            raise ValueError(f"seed must be None or an integer, got {seed!r}")
        self._seed = seed
        self._rng = np.random.default_rng(seed)
        self._torch_gen = torch.Generator().manual_seed(
            int(seed) + 1 if seed is not None else int(self._rng.integers(2**62))
        )

    # -------------------------------------------------------------- configuration
    def _method(self, config) -> str | None:
        if config is None or config.gradient_method not in ("adjoint", "device", "best"):
            return None
        if config.gradient_method in ("adjoint", "best"):
            return "adjoint"
        return (config.gradient_keyword_arguments or {}).get("method", "adjoint")

    @staticmethod
    def _options(config) -> dict:
        """The engine rule's options: ``gradient_kwargs`` of ``device`` other than ``method``."""
        if config is None or config.gradient_method != "device":
            return {}
        return {k: v for k, v in (config.gradient_keyword_arguments or {}).items() if k != "method"}

    def supports_derivatives(self, execution_config=None, circuit=None) -> bool:
        """Adjoint (exact; also ``best``), and ``device`` with a method of :data:`DEVICE_METHODS`.

        Only expectation values of Pauli sums on circuits of the gate set are differentiated;
        the shot-free ``adjoint`` refuses shots, the other device methods take them.

        Raises:
            ValueError: for ``diff_method="device"`` with a method not in :data:`DEVICE_METHODS`.
        """
        if execution_config is None:
            return False
        method = self._method(execution_config)
        if execution_config.gradient_method == "device" and method not in DEVICE_METHODS:
            raise ValueError(
                f"{self.name}: gradient_kwargs method must be one of "
                f"{', '.join(DEVICE_METHODS)}, got {method!r}"
            )
        if method is None:
            return False
        if circuit is None:
            return True
        if method == "adjoint" and circuit.shots:
            return False
        return all(_expval_of_pauli_sum(m) for m in circuit.measurements)

    def setup_execution_config(self, config=None, circuit=None):
        """Resolve ``best`` to the adjoint and check the device method's name."""
        config = config or ExecutionConfig()
        updates = {}
        if config.gradient_method == "best":
            updates["gradient_method"] = "adjoint"
        if config.gradient_method in ("adjoint", "best"):
            updates["use_device_gradient"] = True
            updates["grad_on_execution"] = False
        if config.gradient_method == "device":
            method = (config.gradient_keyword_arguments or {}).get("method", "adjoint")
            if method not in DEVICE_METHODS:
                raise ValueError(
                    f"qgradbench.qubit: gradient_kwargs method must be one of "
                    f"{', '.join(DEVICE_METHODS)}, got {method!r}"
                )
            from qgradbench.methods import get_method

            get_method(method, **self._options(config))  # ValueError naming a bad option
            updates["use_device_gradient"] = True
            updates["grad_on_execution"] = False
        if config.gradient_method in ("adjoint", "device", "best"):
            updates["use_device_jacobian_product"] = bool(config.use_device_jacobian_product)
        return replace(config, **updates)

    def preprocess_transforms(self, execution_config=None) -> CompilePipeline:
        """Defer mid-circuit measurements, decompose to the gate set, validate wires/measurements.

        With device derivatives, also: no trainable QubitUnitary, expectation values only,
        and (adjoint) no shots; broadcasting is split into tapes unless the QNode asks for
        device vector-Jacobian products (``device_vjp=True``, :meth:`compute_vjp`), which
        differentiate a broadcast tape whole.
        """
        config = execution_config or ExecutionConfig()
        pipeline = CompilePipeline()
        pipeline.add_transform(defer_measurements, allow_postselect=False)
        pipeline.add_transform(matrix_fallback)
        pipeline.add_transform(
            decompose,
            stopping_condition=_native,
            device_wires=self.wires,
            name=self.name,
            skip_initial_state_prep=True,
        )
        pipeline.add_transform(validate_device_wires, self.wires, name=self.name)
        pipeline.add_transform(validate_observables, _observable_ok, name=self.name)
        pipeline.add_transform(validate_measurements, name=self.name)
        method = self._method(config)
        if method is not None:
            name = f"{method} + {self.name}"
            if method == "adjoint" and config.gradient_method == "adjoint":
                pipeline.add_transform(qml.devices.preprocess.no_sampling, name=name)
            pipeline.add_transform(
                decompose,
                stopping_condition=_native_differentiable,
                device_wires=self.wires,
                name=name,
            )
            pipeline.add_transform(
                validate_observables,
                lambda obs: _expval_of_pauli_sum(qml.expval(obs)),
                name=name,
            )
            if not config.use_device_jacobian_product:
                pipeline.add_transform(broadcast_expand)
        return pipeline

    # -------------------------------------------------------------- execution
    def execute(self, circuits, execution_config=None):
        """Run the tapes on the engine (one batched run per structure) and measure them."""
        return self._execute(circuits)

    def _execute(self, circuits) -> tuple:
        tapes = [tape.map_to_standard_wires() for tape in circuits]
        states = final_states(tapes)
        return tuple(
            measure_final_state(tape, state, batched, rng=self._rng)
            for tape, (state, batched) in zip(tapes, states, strict=True)
        )

    # -------------------------------------------------------------- derivatives
    def compute_derivatives(self, circuits, execution_config=None):
        """The Jacobian of each tape by the configured engine method."""
        return self._jacobians(circuits, execution_config)

    def execute_and_compute_derivatives(self, circuits, execution_config=None):
        """Results and Jacobians (tracked once, as PennyLane's simulators are)."""
        return self._execute(circuits), self._jacobians(circuits, execution_config)

    def supports_vjp(self, execution_config=None, circuit=None) -> bool:
        """Vector-Jacobian products wherever :meth:`supports_derivatives`, without shot vectors."""
        if circuit is not None and circuit.shots.has_partitioned_shots:
            return False
        return self.supports_derivatives(execution_config, circuit)

    def compute_vjp(self, circuits, cotangents, execution_config=None):
        r"""Vector-Jacobian products ``dx_i = sum_{b,j} dy_{bj} d<O_j>_b / dx_i`` per tape.

        The adjoint runs one reverse sweep per structure with
        ``|lambda_b> = (sum_j dy_{bj} O_j) |psi_b>`` (Jones & Gacon, arXiv:2009.02823); the
        other device methods contract their Jacobian rows with ``dy``. A broadcast tape
        (``B`` rows) is differentiated whole: a broadcast parameter gets its ``(B,)`` row
        products; any other parameter the sum over rows, except under the torch interface,
        where it gets the ``(B,)`` row products too and torch's autograd sums them to the
        parameter's shape (PennyLane's torch boundary cannot unpack products of mixed shapes).
        """
        return self._vjps(circuits, cotangents, execution_config)

    def execute_and_compute_vjp(self, circuits, cotangents, execution_config=None):
        """Results and vector-Jacobian products."""
        return self._execute(circuits), self._vjps(circuits, cotangents, execution_config)

    def _vjps(self, circuits, cotangents, config) -> tuple:
        """:meth:`compute_vjp`: tapes of one structure, observables and shots in one call."""
        config = config or ExecutionConfig(gradient_method="adjoint")
        method = self._method(config) or "adjoint"
        rule = (method, self._options(config))
        torch_sums = str(getattr(config.interface, "value", config.interface)) == "torch"
        tapes = [tape.map_to_standard_wires() for tape in circuits]
        lowered = [lower(tape) for tape in tapes]
        keys = [self._derivative_key(t, low) for t, low in zip(tapes, lowered, strict=True)]
        dys = [
            _cotangent_rows(dy, len(t.measurements), len(low.theta))
            for t, low, dy in zip(tapes, lowered, cotangents, strict=True)
        ]
        out = [None] * len(tapes)
        for key, members in _groups(keys).items():
            theta = torch.cat([lowered[i].theta for i in members])
            dy = torch.cat([dys[i] for i in members])
            rows = self._engine_vjp(lowered[members[0]], key, theta, dy, rule)
            for i, part in zip(members, rows.split([len(dys[i]) for i in members]), strict=True):
                out[i] = _vjp_format(tapes[i], lowered[i], part.numpy(), torch_sums)
        return tuple(out)

    def _engine_vjp(self, low, key, theta, dy, rule) -> torch.Tensor:
        """``(B, n_trainable)``: per angle row, ``sum_j dy_j d<O_j>/d x_t`` by the engine's rule.

        The adjoint: one sweep on ``lambda = (sum_j dy_j O_j) psi``; other rules: their Jacobian
        rows contracted with ``dy``. A global phase's column is zero.
        """
        _, sums, shots, trainable = key
        if rule[0] != "adjoint":
            jac = self._engine_jacobian(low, sums, shots, trainable, theta, rule)
            return torch.einsum("bm,bmt->bt", dy, torch.from_numpy(jac))
        execution = Execution(
            compiled(low.spec, low.key), as_observable(list(sums), low.spec.n_qubits), _DTYPE
        )
        columns = [i for i, s in enumerate(trainable) if s != ZERO]
        slots = torch.as_tensor([trainable[i] for i in columns], dtype=torch.long)
        out = torch.zeros(len(theta), len(trainable), dtype=torch.float64)
        if not columns:
            return out
        step = max(1, (MAX_AMPLITUDES_PER_CALL >> low.spec.n_qubits) // 3)
        with torch.no_grad():
            for start in range(0, len(theta), step):
                chunk, cot = theta[start : start + step], dy[start : start + step]
                state = execution.state(chunk)
                lam = execution.apply_observable(state, cot).unsqueeze(1)
                grad = execution.vjp(chunk, chunk.new_zeros(0), state, lam)
                out[start : start + step, columns] = grad[:, slots]
        return out

    def _jacobians(self, circuits, config) -> tuple:
        """Jacobians; tapes of one structure, observables, shots and trainable slots in one call.

        A broadcast tape, split by ``broadcast_expand``, or a batch of tapes that differ only in
        their angles is differentiated by one engine call on its stacked angle rows.
        """
        method = self._method(config) or "adjoint"
        options = self._options(config)
        tapes = [tape.map_to_standard_wires() for tape in circuits]
        lowered = [lower(tape) for tape in tapes]
        keys = [self._derivative_key(t, low) for t, low in zip(tapes, lowered, strict=True)]
        out = [None] * len(tapes)
        for key, members in _groups(keys).items():
            _, sums, shots, trainable = key
            if any(lowered[i].batch_size is not None for i in members):
                raise ValueError(
                    f"{self.name}: derivatives of a broadcast tape need broadcast_expand first "
                    f"(the device's preprocessing does it)"
                )
            theta = torch.cat([lowered[i].theta for i in members])  # one row per tape
            rule = (method, options)
            jac = self._engine_jacobian(lowered[members[0]], sums, shots, trainable, theta, rule)
            for row, i in enumerate(members):
                out[i] = _format(jac[row])
        return tuple(out)

    def _derivative_key(self, tape, low: Lowered) -> tuple:
        """``(structure, Pauli sums, shots, trainable slots)``: what one engine call shares."""
        qubit = {i: i for i in range(low.spec.n_qubits)}
        sums = tuple(_observable(m, i, qubit) for i, m in enumerate(tape.measurements))
        n_ops = len(low.slot_of)
        trainable = tuple(low.slot_of[i] if i < n_ops else None for i in tape.trainable_params)
        if any(s is None for s in trainable):
            raise ValueError(
                f"{self.name}: only gate angles can be differentiated, not observables' "
                f"coefficients or matrices (trainable parameters {list(tape.trainable_params)})"
            )
        return low.key, sums, tape.shots.total_shots or None, trainable

    def _engine_jacobian(self, low, sums, shots, trainable, theta, rule) -> np.ndarray:
        """``(B, n_meas, n_trainable)`` by the engine's ``rule`` ``(name, options)``.

        A global phase's column is zero.
        """
        from qgradbench.methods import get_method

        method, options = rule

        execution = Execution(
            compiled(low.spec, low.key),
            as_observable(list(sums), low.spec.n_qubits),
            _DTYPE,
            shots,
            self._torch_gen,
        )
        columns = [i for i, s in enumerate(trainable) if s != ZERO]
        slots = np.asarray([trainable[i] for i in columns], dtype=np.int64)
        jac = np.zeros((len(theta), len(sums), len(trainable)))
        if not len(slots):
            return jac
        rows = max(1, (MAX_AMPLITUDES_PER_CALL >> low.spec.n_qubits) // (len(sums) + 2))
        for start in range(0, len(theta), rows):
            chunk = theta[start : start + rows]
            if method == "adjoint":
                part = execution.jacobian(chunk, slots)
            else:
                f0 = execution.estimate(chunk)
                with torch.no_grad():
                    part = get_method(method, **options).jacobian(execution, chunk, slots, f0)
            jac[start : start + rows][:, :, columns] = part.numpy()
        return jac


def _cotangent_rows(dy, n_meas: int, n_rows: int) -> torch.Tensor:
    """A tape's cotangents (as its results: one per measurement, ``()`` or ``(B,)``) ``(B, M)``."""
    parts = [dy] if n_meas == 1 else list(dy)
    columns = [np.broadcast_to(np.asarray(p, dtype=np.float64), (n_rows,)) for p in parts]
    return torch.from_numpy(np.ascontiguousarray(np.stack(columns, axis=1)))


def _vjp_format(tape, low: Lowered, rows: np.ndarray, torch_sums: bool):
    """Per trainable parameter its product: ``(B,)`` if broadcast, else summed over the rows.

    ``torch_sums``: a broadcast tape's unbroadcast parameters keep their ``(B,)`` rows too (torch's
    autograd sums a gradient to its input's shape).
    """
    if low.batch_size is None:
        return np.array(rows[0])
    params = tape.get_parameters(trainable_only=True)
    keep = [torch_sums or np.ndim(p) > 0 for p in params]
    return tuple(
        np.array(rows[:, t]) if keep[t] else np.array(rows[:, t].sum()) for t in range(len(params))
    )


def _format(jac: np.ndarray):
    """A ``(n_meas, n_params)`` Jacobian in PennyLane's nesting (as ``default.qubit``'s adjoint)."""
    n_meas, n_params = jac.shape
    if n_meas == 1 and n_params == 1:
        return np.array(jac[0, 0])
    if n_meas == 1:
        return tuple(np.array(v) for v in jac[0])
    if n_params == 1:
        return tuple(np.array(v) for v in jac[:, 0])
    return tuple(tuple(np.array(v) for v in row) for row in jac)


__all__ = [
    "DEVICE_METHODS",
    "ZERO",
    "QgradbenchQubit",
    "compiled",
    "final_state",
    "final_states",
    "global_phases",
    "householder",
    "matrix_fallback",
    "tape_to_spec",
]
