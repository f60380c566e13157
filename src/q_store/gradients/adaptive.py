"""Adaptive gradients: cheap SPSA estimates with periodic exact refinement, switching to the
exact method when SPSA stops making progress.

Every ``refine_every``-th step (and the first) uses the exact method (parameter shift); the
others use SPSA. When the epoch loss has not improved by ``min_improvement`` (relative) for
``switch_patience`` epochs, the method switches to the exact one for good. All of this lives in
the state the plans carry (:class:`AdaptiveState`), so a resumed run continues exactly.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from q_store.errors import ValidationError
from q_store.execution.requests import Plan
from q_store.gradients.base import Cotangent, GradientMethod, Problem
from q_store.gradients.parameter_shift import ParameterShiftGradient
from q_store.gradients.spsa import SPSAGradient, SPSAState

__all__ = ["AdaptiveGradient", "AdaptiveState"]


class AdaptiveState(NamedTuple):
    step: int
    method: str  # "spsa" until SPSA stalls, then the exact method's name
    stall: int
    best: float | None
    spsa: SPSAState


class AdaptiveGradient(GradientMethod):
    """SPSA with periodic exact refinement and a switch to the exact method on stalls."""

    name = "adaptive"

    def __init__(self, executor: Any = None, *, spsa: SPSAGradient | None = None,
                 exact: GradientMethod | None = None, refine_every: int = 5,
                 switch_patience: int = 3, min_improvement: float = 1e-3) -> None:
        for label, v in (("refine_every", refine_every), ("switch_patience", switch_patience)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValidationError(f"{label} must be a positive integer, got {v!r}")
        self.spsa = spsa or SPSAGradient(executor)
        self.exact = exact or ParameterShiftGradient(executor)
        self.refine_every, self.switch_patience = refine_every, switch_patience
        self.min_improvement = float(min_improvement)
        super().__init__(self.spsa.executor)

    def init(self) -> AdaptiveState:
        return AdaptiveState(0, "spsa", 0, None, self.spsa.init())

    def choose(self, state: AdaptiveState) -> str:
        """The method the next step uses."""
        if state.method == "spsa" and state.step % self.refine_every != 0:
            return "spsa"
        return self.exact.name

    def _plan(self, problem: Problem, state: Any, cotangent: Cotangent | None) -> Plan[Any]:
        state = _state(state)
        name = self.choose(state)
        if name == "spsa":
            inner = self.spsa._plan(problem, state.spsa, cotangent)
            spsa_state = inner.state
        else:
            inner = self.exact._plan(problem, None, cotangent)
            spsa_state = state.spsa
        new = state._replace(step=state.step + 1, spsa=spsa_state)
        return Plan(inner.requests, inner.finish, new, {**inner.notes, "method": name})

    def state_from_plain(self, value: Any) -> AdaptiveState:
        state = super().state_from_plain(value)
        if state.method not in ("spsa", self.exact.name):
            raise ValidationError(f"state.method must be 'spsa' or {self.exact.name!r}, got "
                                  f"{state.method!r}")
        return state

    def observe(self, state: Any, loss: float) -> AdaptiveState:
        state = _state(state)
        if state.method != "spsa":
            return state
        best = state.best
        if best is None or loss < best - self.min_improvement * abs(best):
            return state._replace(best=float(loss), stall=0)
        stall = state.stall + 1
        if stall >= self.switch_patience:
            return state._replace(stall=stall, method=self.exact.name)
        return state._replace(stall=stall)


def _state(state: Any) -> AdaptiveState:
    if isinstance(state, AdaptiveState):
        return state
    step, method, stall, best, spsa = state
    return AdaptiveState(int(step), str(method), int(stall), best, SPSAState(*spsa))
