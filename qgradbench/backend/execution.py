"""The state-vector backend: what a method may ask of the simulator, and nothing else.

:class:`Execution` is the backend a differentiation method talks to, as PennyLane's
``workflow/jacobian_products.py`` separates device derivatives from gradient transforms: it
executes circuits (:meth:`Execution.estimate`: exact or sampled, chunked to bound memory), and
offers the derivatives only a simulator has: the adjoint sweep's Jacobian and vector-Jacobian
product (:mod:`qgradbench.backend.adjoint`), the pi-kicked shifted distributions that share a
circuit's prefix (:mod:`qgradbench.backend.branching`), and the Hadamard test's ancilla circuits
(:mod:`qgradbench.backend.hadamard`). Schedules, fusion and the sweep's plans stay behind it:
no method reads them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import torch

from qgradbench import engine
from qgradbench.backend.cost import Cost
from qgradbench.circuits import Circuit, Observable
from qgradbench.circuits.pauli import SHOT_SPLITS, PauliObservable

#: Amplitudes one engine call may hold at once; larger batches are executed in chunks.
MAX_AMPLITUDES_PER_CALL = 2**24


@dataclass
class Execution:
    """Everything a method needs to execute circuits: what to run, how precisely, and with what.

    Attributes:
        circuit: the compiled circuit.
        observable: what is measured at the end.
        dtype: complex dtype of the simulation.
        shots: shots per evaluation of a circuit, or ``None`` for exact expectation values. An
            observable measured in several qubit-wise commuting groups splits them among its
            groups (``shot_split``); each group is one circuit on hardware.
        generator: the random generator for shots and stochastic rules (owned by the layer).
        cost: the circuits and shots spent so far.
        shot_split: ``"uniform"`` or ``"weighted"``, how shots are split among measurement
            groups (:mod:`qgradbench.circuits.pauli`).
    """

    circuit: Circuit
    observable: Observable | PauliObservable
    dtype: torch.dtype = torch.complex64
    shots: int | None = None
    generator: torch.Generator | None = field(default=None, repr=False)
    cost: Cost = field(default_factory=Cost)
    shot_split: str = "uniform"

    def __post_init__(self):
        if self.shot_split not in SHOT_SPLITS:
            raise ValueError(
                f"shot_split must be one of {', '.join(SHOT_SPLITS)}, got {self.shot_split!r}"
            )
        if self.shots is not None and not self.observable.diagonal:
            self.observable.allocate(self.shots, self.shot_split)  # enough shots for the groups

    def group_cost(self) -> list[dict]:
        """What each measurement group spent so far, forward and backward.

        Every evaluation runs one circuit per group and splits ``shots`` among them the same
        way (:meth:`~qgradbench.circuits.pauli.PauliObservable.allocate`), so group ``g``
        spent ``circuits / G`` circuits and ``circuits / G * shots_g`` shots of each phase.

        Returns:
            One dict per group: ``group``, ``basis`` (e.g. ``"X0 X1"``, ``"Z"`` for the
            computational basis), ``words``, ``shots_per_evaluation``, and
            ``forward_circuits``, ``forward_shots``, ``backward_circuits``, ``backward_shots``.
        """
        groups = getattr(self.observable, "groups", None)
        n_groups = self.n_groups
        share = (
            [self.shots] * n_groups
            if self.shots is None or groups is None
            else self.observable.allocate(self.shots, self.shot_split)
        )
        rows = []
        for g in range(n_groups):
            basis = groups[g].basis if groups is not None else {}
            row = {
                "group": g,
                "basis": " ".join(f"{p}{w}" for w, p in sorted(basis.items())) or "Z",
                "words": len(groups[g].words) if groups is not None else None,
                "shots_per_evaluation": share[g],
            }
            for phase in ("forward", "backward"):
                evaluations = getattr(self.cost, f"{phase}_circuits") // n_groups
                row[f"{phase}_circuits"] = evaluations
                row[f"{phase}_shots"] = evaluations * (share[g] or 0)
            rows.append(row)
        return rows

    @property
    def n_groups(self) -> int:
        """Circuits per evaluation on hardware: the observable's measurement groups."""
        return getattr(self.observable, "n_groups", 1)

    @property
    def n_qubits(self) -> int:
        """Number of qubits."""
        return self.circuit.n_qubits

    def diagonals(self, device) -> torch.Tensor:
        """The observable's eigenvalue table on ``device``, ``(n_out, 2**n)``."""
        return self.observable.diagonals(self.dtype.to_real(), device)

    def state(self, theta: torch.Tensor, shared: torch.Tensor | None = None) -> torch.Tensor:
        """Final states ``(B, 2, ..., 2)``.

        Args:
            theta: angle vectors ``(B, P)``; or, with ``shared``, the first ``k`` slots ``(B, k)``.
            shared: the other ``P - k`` slots ``(P - k,)``, the same for every circuit (a layer's
                weights), or ``None``.
        """
        return self.circuit.run(theta, self.dtype, shared)

    @staticmethod
    def per_circuit_slots(theta: torch.Tensor) -> int:
        """``k``: the slots of ``theta`` ``(B, P)`` after the first ``k`` are the same in every row.

        Rows of a layer's batch share its weights, the last slots; a schedule for ``k`` batched
        slots builds their gates once for all rows (:meth:`state` with ``shared``).
        """
        varies = (theta != theta[:1]).any(0).cpu().numpy()
        return int(np.flatnonzero(varies)[-1]) + 1 if varies.any() else 0

    def split_shared(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``theta``'s per-circuit slots ``(B, k)`` and the shared rest ``(P - k,)``.

        ``k`` is :meth:`per_circuit_slots`; the pair is what :meth:`state` takes with ``shared``.
        """
        k = self.per_circuit_slots(theta)
        return theta[:, :k], theta[0, k:]

    def state_for_sweep(self, batched: torch.Tensor, shared: torch.Tensor):
        """Final states for a later adjoint sweep (:meth:`vjp`), and the gates to pass it.

        The gates are built once, with every rotation's carried generator, and serve the
        forward run and the sweep: the sweep would otherwise rebuild the rotations it
        differentiates. Diagonal layers' phases (a state's worth each, per circuit) are not
        kept: the sweep rebuilds them, so the sweep still holds ``O(1)`` states between the
        passes.

        Args:
            batched: the per-circuit slots ``(B, k)``.
            shared: the other slots ``(P - k,)`` (empty when ``k = P``).

        Returns:
            ``(state, gates)``: the states ``(B, 2, ..., 2)`` and an opaque value for :meth:`vjp`.
        """
        schedule = self.circuit.schedule(batched.shape[-1])
        gates = schedule.gates(batched, shared, self.dtype, generators=True)
        state = schedule.run(batched, shared, self.dtype, gates=gates)
        return state, dataclasses.replace(gates, diagonals=None)

    def expval(self, theta: torch.Tensor, shared: torch.Tensor | None = None) -> torch.Tensor:
        """Exact expectation values ``(B, n_out)``; differentiable (this is what backprop uses).

        ``theta`` and ``shared`` as in :meth:`state`.
        """
        return self.measure_exact(self.state(theta, shared))

    def measure_exact(self, state: torch.Tensor) -> torch.Tensor:
        """Exact expectation values ``(B, n_out)`` of final states; differentiable."""
        if self.observable.diagonal:
            return engine.expval(state, self.observable, self.n_qubits)
        return self.observable.expval(state)

    def apply_observable(self, state: torch.Tensor, coeffs: torch.Tensor) -> torch.Tensor:
        """``sum_j coeffs_j O_j |psi>`` ``(B, 2, ..., 2)`` for ``coeffs`` ``(B, n_out)``."""
        if self.observable.diagonal:
            o_eff = self.observable.weights(coeffs)  # (B, 2**n): eigenvalues of sum_j c_j O_j
            flat = state.reshape(o_eff.shape)
            if torch.is_grad_enabled() and (flat.requires_grad or o_eff.requires_grad):
                return (flat * o_eff).reshape(state.shape)
            return engine.scale_by_real(flat, o_eff).reshape(state.shape)  # a pooled buffer
        return self.observable.apply(state, coeffs)

    def estimate(self, theta: torch.Tensor, shared: torch.Tensor | None = None) -> torch.Tensor:
        """Expectation values as the hardware would return them: exact, or from ``shots`` samples.

        ``theta`` and ``shared`` as in :meth:`state`. Rows are executed in chunks of at most
        :data:`MAX_AMPLITUDES_PER_CALL` amplitudes, so gradient rules over large registers do not
        exhaust memory.
        """
        rows = max(1, MAX_AMPLITUDES_PER_CALL >> self.n_qubits)
        with torch.no_grad():
            parts = [self._estimate(chunk, shared) for chunk in theta.split(rows)]
        return parts[0] if len(parts) == 1 else torch.cat(parts)

    def _estimate(self, theta: torch.Tensor, shared: torch.Tensor | None) -> torch.Tensor:
        if self.shots is None:
            return self.expval(theta, shared)
        return self.sample(self.state(theta, shared))

    def estimate_shifted(self, theta: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        """:meth:`estimate` of every shifted circuit ``theta[b] + offsets[m]``, ``(B, M, n_out)``.

        A gradient rule's circuits, measured in the order (circuit, shift) with the same
        shots, so the result is the one :meth:`estimate` gives the ``B M`` rows. What the rows
        share is simulated once: the slots after the last one that differs between the
        circuits (a layer's weights) are shared, so a shift of one of them changes the same
        gates for every circuit (:meth:`~qgradbench.circuits.schedule.Schedule.run_variants`)
        and a shift of a per-circuit slot leaves the shared gates alone (also when only those
        are shifted: the inputs' gradient of a layer with frozen weights). Rows that shift both
        kinds, and schedules that cannot run variants when a row shifts a shared slot, run
        every circuit in full.

        Args:
            theta: angle vectors ``(B, P)``.
            offsets: shifts ``(M, P)``.
        """
        batch, n_params = theta.shape
        sharing = self._sharing(theta, offsets)
        if sharing is None:
            shifted = (theta.unsqueeze(1) + offsets).reshape(-1, n_params)
            return self.estimate(shifted).reshape(batch, len(offsets), -1)
        per_chunk = max(1, (MAX_AMPLITUDES_PER_CALL >> self.n_qubits) // len(offsets))
        with torch.no_grad():
            parts = [
                self._estimate_shared(chunk, offsets, *sharing) for chunk in theta.split(per_chunk)
            ]
        return parts[0] if len(parts) == 1 else torch.cat(parts)

    def shifted_states(self, theta: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        """Final states ``(B, M, 2**n)`` of the shifted circuits of :meth:`estimate_shifted`.

        Shared as there; not recorded for autograd, and in one piece (the caller bounds
        ``B M 2**n``).
        """
        batch, n_params = theta.shape
        sharing = self._sharing(theta, offsets)
        with torch.no_grad():
            if sharing is None:
                shifted = (theta.unsqueeze(1) + offsets).reshape(-1, n_params)
                return self.state(shifted).reshape(batch, len(offsets), -1)
            return self._shared_states(theta, offsets, *sharing)

    def _sharing(self, theta, offsets) -> tuple | None:
        """``(on_shared, k, schedule)`` for :meth:`_shared_states`, or ``None``: run in full."""
        k = self.per_circuit_slots(theta)
        moved = (offsets != 0).cpu().numpy()
        on_shared = moved[:, k:].any(1)  # rows that shift a shared slot
        schedule = self.circuit.schedule(k)
        mixed = moved[on_shared, :k].any()
        if k == theta.shape[1] or mixed or (on_shared.any() and not schedule.runs_variants):
            return None
        return on_shared, k, schedule

    def _estimate_shared(self, theta, offsets, on_shared, k, schedule) -> torch.Tensor:
        """:meth:`estimate_shifted` of one chunk of circuits, sharing what they share."""
        states = self._shared_states(theta, offsets, on_shared, k, schedule)
        flat = states.reshape(-1, *[2] * self.n_qubits)
        values = self.measure_exact(flat) if self.shots is None else self.sample(flat)
        return values.reshape(theta.shape[0], offsets.shape[0], -1)

    def _shared_states(self, theta, offsets, on_shared, k, schedule) -> torch.Tensor:
        """The states ``(B, M, 2**n)`` of one chunk of shifted circuits, sharing what they share."""
        batch, count, n = theta.shape[0], offsets.shape[0], self.n_qubits
        shared = theta[0, k:]  # the same in every row
        states = theta.new_empty(batch, count, 2**n, dtype=self.dtype)
        own_rows, shared_rows = (
            torch.as_tensor(np.flatnonzero(rows), device=theta.device)
            for rows in (~on_shared, on_shared)
        )
        if len(own_rows):  # per-circuit shifts (or none): the shared gates as they are
            moved = offsets.index_select(0, own_rows)[:, :k]  # (M_o, k)
            rows = (theta[:, :k].unsqueeze(1) + moved).reshape(-1, k)
            own = self.state(rows, shared).reshape(batch, len(own_rows), 2**n)
            states.index_copy_(1, own_rows, own)
        if len(shared_rows):  # shared shifts: the variants' gates, once each
            variants = shared + offsets.index_select(0, shared_rows)[:, k:]  # (M_s, P - k)
            out = schedule.run_variants(theta[:, :k], variants, self.dtype)  # (M_s, B, ...)
            states.index_copy_(
                1, shared_rows, out.reshape(len(shared_rows), batch, 2**n).transpose(0, 1)
            )
        return states

    def sample(self, state: torch.Tensor) -> torch.Tensor:
        """Estimates ``(B, n_out)`` from ``shots`` samples of final states ``(B, 2, ..., 2)``."""
        if self.observable.diagonal:
            probs = engine.probabilities(state, self.n_qubits)
            return engine.estimate_expvals(
                probs, self.diagonals(state.device), self.shots, self.generator
            )
        return self.observable.estimate(state, self.shots, self.generator, self.shot_split)

    def measure_probabilities(self, probs: torch.Tensor) -> torch.Tensor:
        """Values ``(rows, n_out)`` of a diagonal observable from probabilities ``(rows, 2**n)``.

        Exact, or from ``shots`` samples of each row.
        """
        diag = self.diagonals(probs.device)
        if self.shots is None:
            return probs @ diag.T
        return engine.estimate_expvals(probs, diag, self.shots, self.generator)

    # ----------------------------------------------------------------- simulator derivatives
    def jacobian(self, theta: torch.Tensor, slots=None) -> torch.Tensor:
        """The exact Jacobian ``d <O_j> / d theta`` ``(B, n_out, P)`` by one adjoint sweep.

        With ``slots``, its columns ``slots`` only, ``(B, n_out, len(slots))``
        (:func:`~qgradbench.backend.adjoint.adjoint_jacobian`).
        """
        from qgradbench.backend.adjoint import adjoint_jacobian

        return adjoint_jacobian(self, theta, slots)

    def vjp(
        self,
        batched: torch.Tensor,
        shared: torch.Tensor,
        state: torch.Tensor,
        lam: torch.Tensor,
        gates=None,
    ) -> torch.Tensor:
        """The gradient ``(B, P)`` of ``<psi|O|psi>`` by one adjoint sweep.

        ``Im <lambda_k| P_k |phi_k>`` summed per slot, for ``lam = O |psi>`` ``(B, 1, 2, ..., 2)``
        (:func:`~qgradbench.backend.adjoint.adjoint_sweep`). ``batched`` ``(B, k)`` and
        ``shared`` ``(P - k,)`` are the slots ``state`` was run with; ``gates``, those
        :meth:`state_for_sweep` returned with it (by default built anew).
        """
        from qgradbench.backend.adjoint import adjoint_sweep

        return adjoint_sweep(self, batched, shared, state, lam, gates=gates)[:, 0]

    def kickable(self, slots: np.ndarray, min_qubits: int | None = None) -> np.ndarray:
        """Which ``slots`` the pi-kicked shortcuts serve (:mod:`qgradbench.backend.branching`).

        Plain Pauli rotations (one rotation, scale 1), a diagonal observable, and a register of
        at least ``min_qubits`` qubits (by default
        :data:`~qgradbench.backend.branching.KICK_QUBITS`, parameter-shift's), where sharing the
        prefix pays; below, a step is bound by per-call overhead.
        """
        from qgradbench.backend.branching import KICK_QUBITS

        slots = np.asarray(slots, dtype=np.int64)
        least = KICK_QUBITS if min_qubits is None else min_qubits
        if self.n_qubits < least or not self.observable.diagonal:
            return np.zeros(len(slots), dtype=bool)
        return self.circuit.simple_slots[slots]

    def kicked_probabilities(
        self, theta: torch.Tensor, slots: torch.Tensor, c: float, s: float
    ) -> torch.Tensor:
        """Probabilities ``(B, S, 2, 2**n)`` of ``c psi +- s psi(theta + pi e_k)`` per slot."""
        from qgradbench.backend.branching import kicked_probabilities

        return kicked_probabilities(self, theta, slots, c, s)

    def hadamard_circuits(self, theta: torch.Tensor, rotations) -> torch.Tensor:
        """``<Y_a O_j>`` ``(B, C, n_out)`` of the Hadamard test of each of ``rotations``."""
        from qgradbench.backend.hadamard import hadamard_circuits

        return hadamard_circuits(self, theta, rotations)

    def kicked_hadamard(self, theta: torch.Tensor, slots) -> torch.Tensor:
        """The Hadamard test of kickable ``slots`` from pi-kicked states ``(B, S, n_out)``."""
        from qgradbench.backend.hadamard import kicked_hadamard

        return kicked_hadamard(self, theta, slots)

    def record(self, phase: str, samples: int, circuits_per_sample: int) -> None:
        """Record a pass of ``phase`` over ``samples`` samples in :attr:`cost`.

        ``circuits_per_sample`` counts evaluations; each is one circuit per measurement group,
        and spends ``shots`` in all.
        """
        self.cost.record(
            phase, samples, samples * circuits_per_sample, self.shots, groups=self.n_groups
        )
