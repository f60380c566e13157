"""Adaptive gradients: cheap SPSA estimates with periodic exact refinement, switching when SPSA
stops making progress (the v3.3 spec's table: SPSA early, parameter shift every few steps,
natural gradient on slow convergence).

Every ``refine_every``-th step (and the first) uses the exact method (parameter shift); the
others use SPSA. When the epoch loss has not improved by ``min_improvement`` (relative) for
``switch_patience`` epochs, the method switches for good: to ``natural`` (a
:class:`~q_store.gradients.natural.NaturalGradient` whose metric the target can estimate) when
one is given, else to the exact method. All of this lives in the state the plans carry
(:class:`AdaptiveState`), so a resumed run continues exactly.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from q_store.errors import ValidationError
from q_store.execution.requests import Plan
from q_store.gradients.base import Cotangent, GradientMethod, Problem, _from_plain
from q_store.gradients.parameter_shift import ParameterShiftGradient
from q_store.gradients.spsa import SPSAGradient, SPSAState

__all__ = ["AdaptiveGradient", "AdaptiveState"]


class AdaptiveState(NamedTuple):
    step: int
    method: str  # "spsa" until SPSA stalls, then the natural or exact method's name
    stall: int
    best: float | None
    spsa: SPSAState
    natural: Any = None  # the natural-gradient method's state, once it is used


class AdaptiveGradient(GradientMethod):
    """SPSA with periodic exact refinement and a switch to ``natural`` (else the exact method)
    on stalls."""

    name = "adaptive"

    def __init__(self, executor: Any = None, *, spsa: SPSAGradient | None = None,
                 exact: GradientMethod | None = None, natural: GradientMethod | None = None,
                 refine_every: int = 5, switch_patience: int = 3,
                 min_improvement: float = 1e-3) -> None:
        for label, v in (("refine_every", refine_every), ("switch_patience", switch_patience)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValidationError(f"{label} must be a positive integer, got {v!r}")
        self.spsa = spsa or SPSAGradient(executor)
        self.exact = exact or ParameterShiftGradient(executor)
        self.natural = natural
        self.refine_every, self.switch_patience = refine_every, switch_patience
        self.min_improvement = float(min_improvement)
        super().__init__(self.spsa.executor)

    def init(self) -> AdaptiveState:
        natural = None if self.natural is None else self.natural.init()
        return AdaptiveState(0, "spsa", 0, None, self.spsa.init(), natural)

    @property
    def _fallback(self) -> GradientMethod:
        """Where a stalled SPSA switches to."""
        return self.natural if self.natural is not None else self.exact

    def choose(self, state: AdaptiveState) -> str:
        """The method the next step uses."""
        if state.method == "spsa":
            return "spsa" if state.step % self.refine_every != 0 else self.exact.name
        return state.method

    def _plan(self, problem: Problem, state: Any, cotangent: Cotangent | None) -> Plan[Any]:
        state = _state(state)
        name = self.choose(state)
        advance = None
        if name == "spsa":
            inner = self.spsa._plan(problem, state.spsa, cotangent)
            new = state._replace(step=state.step + 1, spsa=inner.state)
        elif self.natural is not None and name == self.natural.name:
            inner = self.natural._plan(problem, state.natural, cotangent)
            new = state._replace(step=state.step + 1, natural=inner.state)
            if inner.advance is not None:
                natural_advance = inner.advance

                def advance(result: Any) -> AdaptiveState:
                    return new._replace(natural=natural_advance(result))
        else:
            inner = self.exact._plan(problem, None, cotangent)
            new = state._replace(step=state.step + 1)
        return Plan(inner.requests, inner.finish, new, {**inner.notes, "method": name}, advance)

    def state_to_plain(self, state: Any) -> Any:
        s = _state(state)
        plain = super().state_to_plain(s._replace(natural=None))
        if self.natural is not None and s.natural is not None:
            plain["natural"] = self.natural.state_to_plain(s.natural)
        return plain

    def state_from_plain(self, value: Any) -> AdaptiveState:
        natural = None
        if isinstance(value, dict):  # "natural" is absent from states written before it existed
            natural = value.get("natural")
            value = {**value, "natural": None}
        state = _from_plain(self.init()._replace(natural=None), value, "state")
        allowed = ("spsa", self.exact.name) + (
            (self.natural.name,) if self.natural is not None else ())
        if state.method not in allowed:
            raise ValidationError(f"state.method must be one of {allowed}, got "
                                  f"{state.method!r}")
        if self.natural is None:
            return state
        restored = (self.natural.init() if natural is None
                    else self.natural.state_from_plain(natural))
        return state._replace(natural=restored)

    def observe(self, state: Any, loss: float) -> AdaptiveState:
        state = _state(state)
        if state.method != "spsa":
            return state
        best = state.best
        if best is None or loss < best - self.min_improvement * abs(best):
            return state._replace(best=float(loss), stall=0)
        stall = state.stall + 1
        if stall >= self.switch_patience:
            return state._replace(stall=stall, method=self._fallback.name)
        return state._replace(stall=stall)


def _state(state: Any) -> AdaptiveState:
    if isinstance(state, AdaptiveState):
        return state
    step, method, stall, best, spsa, *natural = state
    return AdaptiveState(int(step), str(method), int(stall), best, SPSAState(*spsa),
                         natural[0] if natural else None)
