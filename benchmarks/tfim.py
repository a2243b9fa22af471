"""TFIM variational circuit: value-and-gradient step time, qgradbench against its peers.

The Hamiltonian variational ansatz of the transverse-field Ising model (Wiersema et al., PRX
Quantum 1, 020319, 2020): ``|+>^n``, then per layer ``IsingZZ(b_l)`` on every edge of the ring
and ``RX(g_l)`` on every qubit (one angle per layer and kind, shared by its gates), measured on
``H = sum_i Z_i Z_{i+1} + sum_i X_i``. One step is the energy and its gradient with respect to
the ``2 L`` angles, batch 1::

    python benchmarks/tfim.py --qubits 12 16 20 --layers 10 --threads 2 --json tfim.json

Sides (each skipped, with the reason printed, where it does not import):

* qgradbench, ``backprop`` and ``adjoint`` (complex64 and complex128);
* PennyLane ``lightning.qubit`` with ``diff_method="adjoint"`` (complex128);
* TorchQuantum 0.1.8, backprop through its state vector (complex64), the energy from its state
  in plain torch (its ``expval_joint_analytical`` builds a dense matrix per term);
* TensorCircuit-NG with the PyTorch backend, backprop (complex64);
* Qulacs, its ``backprop`` of a parametric circuit (complex128).

Every side's energy at the same angles is checked against qgradbench's (complex128) first.
Then each side is timed on its own: one warm-up step, then ``--repeat`` steps; medians are
reported with the ratio peer / qgradbench adjoint (above 1: qgradbench is faster). None of the
peers is a dependency of the project.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from scale import sweep, sweep_arguments  # noqa: E402 (a script beside this one)

from qgradbench import QuantumLayer  # noqa: E402
from qgradbench.circuits.model import CircuitSpec, Gate, w  # noqa: E402


def edges(n: int) -> list[tuple[int, int]]:
    """The ring's edges (a single edge for two qubits)."""
    return [(0, 1)] if n == 2 else [(i, (i + 1) % n) for i in range(n)]


def hamiltonian(n: int) -> str:
    """``sum Z_i Z_{i+1} + sum X_i`` as a Pauli-sum string."""
    zz = " + ".join(f"Z{a} Z{b}" for a, b in edges(n))
    return zz + " + " + " + ".join(f"X{i}" for i in range(n))


def tfim_spec(n: int, layers: int) -> CircuitSpec:
    """The HVA in the circuit model: weights ``(L, 2)`` = (ZZ angle, X angle) per layer."""
    gates = [Gate("Hadamard", [i]) for i in range(n)]
    for layer in range(layers):
        gates += [Gate("IsingZZ", [a, b], [w[2 * layer]]) for a, b in edges(n)]
        gates += [Gate("RX", [i], [w[2 * layer + 1]]) for i in range(n)]
    return CircuitSpec(
        n, gates, n_weights=2 * layers, weight_shape=(layers, 2), observables=hamiltonian(n)
    )


# ------------------------------------------------------------------------- the sides
def qgradbench_side(n, layers, angles, method, dtype):
    """A step function of qgradbench: energy and gradient of the weights."""
    layer = QuantumLayer.from_circuit(tfim_spec(n, layers), diff_method=method, dtype=dtype)
    with torch.no_grad():
        layer.weights.copy_(torch.as_tensor(angles).reshape(layers, 2))
    x = torch.zeros(1, 0, dtype=layer.weights.dtype)

    def step():
        layer.zero_grad()
        energy = layer(x).sum()
        energy.backward()
        return float(energy.detach())

    return step


def lightning_side(n, layers, angles):
    """PennyLane lightning.qubit, adjoint differentiation (autograd interface)."""
    import pennylane as qml
    from pennylane import numpy as pnp

    dev = qml.device("lightning.qubit", wires=n)
    obs = qml.sum(*[qml.Z(a) @ qml.Z(b) for a, b in edges(n)], *[qml.X(i) for i in range(n)])

    @qml.qnode(dev, diff_method="adjoint")
    def circuit(params):
        for i in range(n):
            qml.Hadamard(i)
        for layer in range(layers):
            for a, b in edges(n):
                qml.IsingZZ(params[layer, 0], wires=[a, b])
            for i in range(n):
                qml.RX(params[layer, 1], wires=i)
        return qml.expval(obs)

    params = pnp.array(np.asarray(angles).reshape(layers, 2), requires_grad=True)
    grad = qml.grad(circuit)

    def step():
        grad(params)
        return float(circuit(params))

    return step


def energy_of_state(psi: torch.Tensor, n: int) -> torch.Tensor:
    """``<psi|H|psi>`` of a state ``(2**n,)`` in plain torch (differentiable).

    ``sum_b |psi_b|^2 sum_e s_e(b)`` for the ZZ terms and ``Re <psi|X_i|psi>`` by flipping wire
    ``i``. (TorchQuantum's own ``expval_joint_analytical`` builds a dense ``2**n x 2**n``
    matrix per term: 34 GB at 16 qubits.)
    """
    index = torch.arange(2**n)
    bits = [(index >> (n - 1 - i)) & 1 for i in range(n)]
    zz = sum((1 - 2 * (bits[a] ^ bits[b])).to(psi.real.dtype) for a, b in edges(n))
    energy = (psi.real**2 + psi.imag**2) @ zz
    for i in range(n):
        flipped = psi.reshape(2**i, 2, -1).flip(1).reshape(-1)
        energy = energy + (psi.conj() * flipped).real.sum()
    return energy


def torchquantum_side(n, layers, angles):
    """TorchQuantum 0.1.8, backprop through its state vector; the energy in plain torch."""
    import torchquantum as tq
    import torchquantum.functional as tqf

    params = torch.tensor(np.asarray(angles, dtype=np.float32), requires_grad=True)

    def step():
        params.grad = None
        qdev = tq.QuantumDevice(n_wires=n, bsz=1)
        for i in range(n):
            tqf.hadamard(qdev, wires=i)
        for layer in range(layers):
            for a, b in edges(n):
                tqf.rzz(qdev, wires=[a, b], params=params[2 * layer].reshape(1, 1))
            for i in range(n):
                tqf.rx(qdev, wires=i, params=params[2 * layer + 1].reshape(1, 1))
        energy = energy_of_state(qdev.get_states_1d()[0], n)
        energy.backward()
        return float(energy.detach())

    return step


def tensorcircuit_side(n, layers, angles):
    """TensorCircuit-NG, PyTorch backend, backprop (eager)."""
    import tensorcircuit as tc

    tc.set_backend("pytorch")
    tc.set_dtype("complex64")
    params = torch.tensor(np.asarray(angles, dtype=np.float32), requires_grad=True)

    def step():
        params.grad = None
        c = tc.Circuit(n)
        for i in range(n):
            c.h(i)
        for layer in range(layers):
            for a, b in edges(n):
                c.rzz(a, b, theta=params[2 * layer])
            for i in range(n):
                c.rx(i, theta=params[2 * layer + 1])
        energy = sum(c.expectation_ps(z=[a, b]) for a, b in edges(n))
        energy = energy + sum(c.expectation_ps(x=[i]) for i in range(n))
        energy = torch.real(energy)
        energy.backward()
        return float(energy.detach())

    return step


def qulacs_side(n, layers, angles):
    """Qulacs: a parametric circuit and its ``backprop`` (rotations are ``exp(+i t P / 2)``)."""
    from qulacs import Observable, ParametricQuantumCircuit

    circuit = ParametricQuantumCircuit(n)
    for i in range(n):
        circuit.add_H_gate(i)
    for layer in range(layers):
        for a, b in edges(n):  # qulacs' sign: exp(+i t P/2), so -t for PennyLane's angle t
            circuit.add_parametric_multi_Pauli_rotation_gate([a, b], [3, 3], -angles[2 * layer])
        for i in range(n):
            circuit.add_parametric_RX_gate(i, -angles[2 * layer + 1])
    obs = Observable(n)
    for a, b in edges(n):
        obs.add_operator(1.0, f"Z {a} Z {b}")
    for i in range(n):
        obs.add_operator(1.0, f"X {i}")

    from qulacs import QuantumState

    def step():
        circuit.backprop(obs)
        state = QuantumState(n)
        circuit.update_quantum_state(state)
        return float(obs.get_expectation_value(state))

    return step


PEERS = {
    "lightning_adjoint": lightning_side,
    "torchquantum_backprop": torchquantum_side,
    "tensorcircuit_backprop": tensorcircuit_side,
    "qulacs_backprop": qulacs_side,
}


def median_time(step, repeat: int) -> float:
    """Median seconds of ``repeat`` calls after one warm-up call."""
    step()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(n: int, layers: int, repeat: int, peers=tuple(PEERS)) -> dict:
    """Build every side (qgradbench and ``peers``), check its energy, time it."""
    angles = np.random.default_rng(n).uniform(0, 2 * np.pi, 2 * layers)
    reference = qgradbench_side(n, layers, angles, "adjoint", torch.complex128)()
    row = {"n_qubits": n, "layers": layers, "energy": reference, "skipped": {}}
    sides = {
        f"qgradbench_{method}_{bits}": (
            lambda method=method, dtype=dtype: qgradbench_side(n, layers, angles, method, dtype)
        )
        for method in ("backprop", "adjoint")
        for bits, dtype in (("c64", torch.complex64), ("c128", torch.complex128))
    }
    sides.update({name: (lambda f=PEERS[name]: f(n, layers, angles)) for name in peers})
    for name, build in sides.items():
        try:
            step = build()
            energy = step()
        except Exception as exc:  # a peer that does not install or run here
            row["skipped"][name] = f"{type(exc).__name__}: {exc}"[:200]
            continue
        if abs(energy - reference) > 1e-3 * max(1.0, abs(reference)):
            raise SystemExit(f"{name} disagrees at {n} qubits: {energy} against {reference}")
        row[f"{name}_s"] = median_time(step, repeat)
    base = row.get("qgradbench_adjoint_c128_s")
    for name in PEERS:
        if f"{name}_s" in row and base:
            row[f"{name}_ratio"] = row[f"{name}_s"] / base
    return row


def main() -> None:  # noqa: D103
    def peer_option(parser):
        parser.add_argument(
            "--peers", nargs="*", default=list(PEERS), choices=list(PEERS), help="peers to run"
        )

    args = sweep_arguments(__doc__, qubits=[12, 16, 20], batch=1, extra=peer_option, layers=10)

    def describe(row):
        times = ", ".join(f"{k[:-2]} {v * 1e3:.1f} ms" for k, v in row.items() if k.endswith("_s"))
        skipped = "; ".join(f"{k}: {v}" for k, v in row["skipped"].items())
        return f"n={row['n_qubits']:2d} L={row['layers']}: {times}" + (
            f" (skipped {skipped})" if skipped else ""
        )

    sweep(
        args.qubits,
        lambda n: measure(n, args.layers, args.repeat, args.peers),
        describe,
        args.threads,
        args.json,
    )


if __name__ == "__main__":
    main()
