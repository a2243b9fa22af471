"""Differentiation methods, one module each, and their registry.

>>> from qgradbench.methods import available, get_method
>>> [m.name for m in available()][:2]
['backprop', 'adjoint']
>>> get_method("parameter-shift")
ParameterShift(shift=1.5707963267948966)
"""

from __future__ import annotations

from qgradbench.backend.adjoint import adjoint_jacobian, adjoint_sweep
from qgradbench.methods.adjoint import Adjoint
from qgradbench.methods.backprop import Backprop
from qgradbench.methods.base import (
    DiffMethod,
    Execution,
    HardwareMethod,
    JacobianMethod,
    Recipe,
    ShiftRuleMethod,
    SimulatorMethod,
)
from qgradbench.methods.finite_diff import FiniteDiff, difference_stencil, finite_diff_coeffs
from qgradbench.methods.hadamard import Hadamard
from qgradbench.methods.parameter_shift import ParameterShift
from qgradbench.methods.shot_adjoint import ShotAdjoint
from qgradbench.methods.spsa import SPSA

_REGISTRY: dict[str, type[DiffMethod]] = {}


def register(cls: type[DiffMethod]) -> type[DiffMethod]:
    """Register a method class under its ``name`` (usable as a decorator)."""
    if cls.name in _REGISTRY:
        raise ValueError(f"diff_method {cls.name!r} is already registered")
    _REGISTRY[cls.name] = cls
    return cls


for _cls in (Backprop, Adjoint, ParameterShift, FiniteDiff, SPSA, Hadamard, ShotAdjoint):
    register(_cls)


def available() -> list[type[DiffMethod]]:
    """Return the registered method classes (with ``name``, ``supports_shots``, ``hardware``...)."""
    return list(_REGISTRY.values())


def names() -> list[str]:
    """Return the registered method names."""
    return list(_REGISTRY)


def shot_methods() -> list[str]:
    """Return the names of the methods that accept ``shots``."""
    return [name for name, cls in _REGISTRY.items() if cls.supports_shots]


def get_method(name: str, **options) -> DiffMethod:
    """Return an instance of the method ``name`` configured with ``options``.

    Raises:
        ValueError: for an unknown name (listing the known ones) or an unknown option.
    """
    if name not in _REGISTRY:
        raise ValueError(f"unknown diff_method {name!r}; expected one of {', '.join(_REGISTRY)}")
    return _REGISTRY[name](**options)


__all__ = [
    "Adjoint",
    "Backprop",
    "DiffMethod",
    "Execution",
    "FiniteDiff",
    "Hadamard",
    "HardwareMethod",
    "JacobianMethod",
    "ParameterShift",
    "Recipe",
    "SPSA",
    "ShiftRuleMethod",
    "ShotAdjoint",
    "SimulatorMethod",
    "adjoint_jacobian",
    "adjoint_sweep",
    "available",
    "difference_stencil",
    "finite_diff_coeffs",
    "get_method",
    "names",
    "register",
    "shot_methods",
]
