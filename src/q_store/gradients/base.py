"""The common interface of gradient methods.

Every method computes, for a circuit template, observables and a batch of weights / inputs,
the expectation values and their Jacobian with respect to the weights and, on request, the
inputs. Hardware-compatible methods turn one circuit into a batch of angle bindings, run them
through an executor (anything with ``expectation_angles``) and post-process; the adjoint method
needs the exact simulator.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from q_store.circuit.ir import Circuit
from q_store.circuit.observables import Observable
from q_store.circuit.params import Batch, ParameterMap
from q_store.errors import ValidationError
from q_store.sim.statevector import StatevectorSimulator, _as_observables, parameter_map_for

__all__ = ["AngleExecutor", "GradientMethod", "GradientResult", "VJPResult"]

_WRT = ("weights", "inputs")


class AngleExecutor(Protocol):
    """Runs a circuit template for a batch of explicit gate angles."""

    def expectation_angles(self, circuit: Circuit, angles: np.ndarray,
                           observables: tuple[Observable, ...], **options: object
                           ) -> np.ndarray: ...


@dataclass(frozen=True)
class GradientResult:
    """``values (B, K)``; ``weights (B, K, n_w)`` and ``inputs (B, K, n_x)`` Jacobians (None when
    not requested); ``evaluations``: circuit runs used per sample (including the values)."""

    values: np.ndarray
    weights: np.ndarray | None
    inputs: np.ndarray | None
    evaluations: int


@dataclass(frozen=True)
class VJPResult:
    """``values (B, K)`` and per-sample gradients of ``sum_k c_bk <O_k>_b``:
    ``weights (B, n_w)``, ``inputs (B, n_x)``."""

    values: np.ndarray
    weights: np.ndarray | None
    inputs: np.ndarray | None
    evaluations: int


class GradientMethod(ABC):
    """Base class: subclasses implement :meth:`_jacobian_angles` or override :meth:`jacobian`."""

    name: str = "gradient"

    def __init__(self, executor: AngleExecutor | None = None) -> None:
        self.executor: AngleExecutor = executor or StatevectorSimulator()

    def jacobian(self, circuit: Circuit,
                 observables: Observable | Sequence[Observable] | str,
                 weights: object = None, inputs: object = None, *,
                 wrt: Sequence[str] = ("weights",),
                 initial_state: np.ndarray | None = None) -> GradientResult:
        """Expectations and their Jacobian; ``wrt`` names ``"weights"`` and/or ``"inputs"``.
        ``initial_state`` (one per sample) replaces |0...0>, e.g. for amplitude encoding."""
        obs, _ = _as_observables(observables)
        want_w, want_x = _check_wrt(wrt)
        weights = _batch_like_states(weights, inputs, initial_state)
        return self._jacobian(circuit, obs, weights, inputs, want_w, want_x, initial_state)

    def vjp(self, circuit: Circuit, observables: Observable | Sequence[Observable] | str,
            weights: object, inputs: object, cotangent: np.ndarray, *,
            wrt: Sequence[str] = ("weights",),
            initial_state: np.ndarray | None = None) -> VJPResult:
        """Per-sample gradient of ``sum_k cotangent[b, k] * <O_k>_b`` (the chain rule of a loss)."""
        obs, _ = _as_observables(observables)
        want_w, want_x = _check_wrt(wrt)
        weights = _batch_like_states(weights, inputs, initial_state)
        res = self._jacobian(circuit, obs, weights, inputs, want_w, want_x, initial_state)
        c = _cotangent(cotangent, res.values.shape)
        gw = None if res.weights is None else np.einsum("bk,bkp->bp", c, res.weights)
        gx = None if res.inputs is None else np.einsum("bk,bkp->bp", c, res.inputs)
        return VJPResult(res.values, gw, gx, res.evaluations)

    @abstractmethod
    def _jacobian(self, circuit: Circuit, obs: tuple[Observable, ...], weights: object,
                  inputs: object, want_w: bool, want_x: bool,
                  initial_state: np.ndarray | None) -> GradientResult: ...

    def _execute(self, circuit: Circuit, angles: np.ndarray, obs: tuple[Observable, ...],
                 initial_state: np.ndarray | None, repeats: int) -> np.ndarray:
        """Run ``angles`` made of ``repeats`` stacked copies of the batch."""
        if initial_state is None:
            return np.asarray(self.executor.expectation_angles(circuit, angles, obs))
        states = np.asarray(initial_state)
        size = angles.shape[0] // repeats
        if states.ndim == 1:
            states = np.broadcast_to(states, (size, states.shape[0]))
        return np.asarray(self.executor.expectation_angles(
            circuit, angles, obs, initial_state=np.tile(states, (repeats, 1))))

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _batch_like_states(weights: object, inputs: object, initial_state: object) -> object:
    """With a batch of initial states and nothing else batched, repeat the weights per state so
    that every method sees the same batch size."""
    if initial_state is None or np.ndim(initial_state) != 2 or np.ndim(inputs) == 2:
        return weights
    rows = np.shape(initial_state)[0]
    if weights is None or np.ndim(weights) != 1 or rows == 1:
        return weights
    return np.tile(np.asarray(weights, dtype=float), (rows, 1))


def _check_wrt(wrt: Sequence[str]) -> tuple[bool, bool]:
    if isinstance(wrt, str):
        wrt = (wrt,)
    bad = [w for w in wrt if w not in _WRT]
    if bad or not wrt:
        raise ValidationError(f"wrt must name 'weights' and/or 'inputs', got {tuple(wrt)!r}")
    return "weights" in wrt, "inputs" in wrt


def _cotangent(cotangent: object, shape: tuple[int, ...]) -> np.ndarray:
    c = np.asarray(cotangent, dtype=float)
    if c.shape != shape:
        try:
            c = np.broadcast_to(c, shape)
        except ValueError:
            raise ValidationError(f"cotangent must have shape {shape}, got {c.shape}") from None
    if not np.all(np.isfinite(c)):
        raise ValidationError("cotangent must be finite")
    return c


def base_angles(circuit: Circuit, batch: Batch) -> tuple[ParameterMap, np.ndarray]:
    """The parameter map and the ``(B, P)`` angles of every sample (broadcast to the batch)."""
    pm = parameter_map_for(circuit)
    angles = pm.angles(batch)
    return pm, np.ascontiguousarray(np.broadcast_to(angles, (batch.size, pm.n_params)))
