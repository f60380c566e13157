"""Adaptive shot allocation: the shots of each training step from the measured gradient noise.

The rule is gCANS's (Gu, Lowe, Dub, Coles, Arrasmith 2021, after iCANS: Kuebler, Arrasmith,
Cincio, Coles, Quantum 4, 263 (2020)). For a gradient step of size ``a`` on a loss whose gradient
is ``L``-Lipschitz, the expected decrease per shot is largest at

    s = kappa * tr(Sigma_1) / |g|^2,        kappa = 2 L a / (2 - L a),

where ``Sigma_1`` is the covariance of a one-shot gradient estimate and ``g`` the gradient. A job
samples all its circuits with one shot count, so one count per step is chosen (gCANS's
per-component rule summed over components). ``noise_ratio = 1 / kappa`` is the tolerated ratio of
shot-noise variance to squared gradient norm; :meth:`AdaptiveShotAllocator.from_lipschitz` sets
it from ``L`` and ``a``.

Both quantities are measured each step, with no extra circuit runs:

* ``tr(Sigma_1)``: an expectation of a Pauli string from ``s`` shots has variance
  ``(1 - <P>^2) / s`` (times ``s / (s - 1)``, the unbiased sample variance). That noise is
  propagated through the plan's own post-processing with Rademacher probes ``d_r = +-sd_r``:
  ``E |finish(a + d) - finish(a)|^2 = sum_r J_r^2 sd_r^2``, exact where the gradient depends
  linearly on the expectations (the delta method elsewhere), for every gradient method alike.
* ``g``: an exponential moving average of the step gradients, bias-corrected as in iCANS;
  ``tr(Sigma_1)`` is averaged the same way.

The allocator keeps the history (``history``; ``shots`` events on the tracker) for the dashboard.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from q_store.circuit.observables import Observable, PauliString, PauliSum, Projector
from q_store.errors import ValidationError
from q_store.execution.requests import ExpectationRequest, Plan

__all__ = ["AdaptiveShotAllocator", "gradient_shot_variance", "single_shot_variance"]


def single_shot_variance(observables: Sequence[Observable], values: np.ndarray,
                         shots: int) -> np.ndarray:
    """Variance of one shot of each observable ``(R, K)`` given estimated values ``(R, K)``:
    ``c^2 - v^2`` for a Pauli string ``c P``, ``v (1 - v)`` for a projector, and for a sum of
    ``T`` separately measured terms the bound ``sum_t c_t^2 - v^2 / T``; times
    ``shots / (shots - 1)`` (unbiased)."""
    v = np.atleast_2d(np.asarray(values, dtype=float))
    out = np.empty_like(v)
    for k, o in enumerate(observables):
        col = v[:, k]
        if isinstance(o, Projector):
            out[:, k] = col * (1.0 - col)
        elif isinstance(o, PauliString):
            out[:, k] = o.coeff**2 - col**2
        elif isinstance(o, PauliSum):
            out[:, k] = sum(t.coeff**2 for t in o.terms) - col**2 / len(o.terms)
        else:  # pragma: no cover - measurement plans accept only the types above
            raise ValidationError(f"no shot-noise model for observable {o!r}")
    return np.clip(out, 0.0, None) * (shots / max(1, shots - 1))


def gradient_shot_variance(plan: Plan[Any], answers: Sequence[Any], result: Any, shots: int,
                           rng: np.random.Generator, probes: int = 8) -> np.ndarray:
    """Shot-noise variance ``(B, n_w)`` of ``result.weights`` (per sample and weight) at
    ``shots`` shots per circuit, by propagating the expectations' noise through
    ``plan.finish`` with ``probes`` Rademacher probes (no circuit runs). Metric requests are
    left alone: they precondition, they do not make the gradient."""
    base = np.asarray(result.weights, dtype=float)
    sds: list[np.ndarray | None] = []
    for request, answer in zip(plan.requests, answers, strict=True):
        if isinstance(request, ExpectationRequest) and request.role != "metric":
            var = single_shot_variance(request.observables, answer, shots) / shots
            sds.append(np.sqrt(var).reshape(np.shape(answer)))
        else:
            sds.append(None)
    if all(sd is None for sd in sds):
        return np.zeros_like(base)
    acc = np.zeros_like(base)
    for _ in range(probes):
        noisy = [a if sd is None else a + sd * rng.choice((-1.0, 1.0), size=sd.shape)
                 for a, sd in zip(answers, sds, strict=True)]
        acc += (np.asarray(plan.finish(noisy).weights) - base) ** 2
    return acc / probes


def _shots(name: str, value: object) -> int:
    if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < 1:
        raise ValidationError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


class AdaptiveShotAllocator:
    """Chooses the shots of each training step within ``[min_shots, max_shots]``, starting at
    ``base_shots``, from the measured gradient noise (module docstring).

    The engine asks :attr:`shots` before a step and attaches the step's shot-noise variance to
    the gradient result (:meth:`variance`); the trainer then reports the step's gradient with
    :meth:`observe`, which picks the next step's shots. ``smoothing`` is the moving-average
    factor ``mu``; ``probes`` the Rademacher probes per step; ``tracker`` receives ``shots``
    events."""

    def __init__(self, min_shots: int = 500, max_shots: int = 2000, base_shots: int = 1000, *,
                 noise_ratio: float = 1.0, smoothing: float = 0.9, probes: int = 8,
                 seed: int | None = None, tracker: Any = None) -> None:
        self.min_shots = _shots("min_shots", min_shots)
        self.max_shots = _shots("max_shots", max_shots)
        self.base_shots = _shots("base_shots", base_shots)
        if not self.min_shots <= self.base_shots <= self.max_shots:
            raise ValidationError(f"need min_shots <= base_shots <= max_shots, got {min_shots}, "
                                  f"{base_shots}, {max_shots}")
        if not (isinstance(noise_ratio, int | float) and math.isfinite(noise_ratio)
                and noise_ratio > 0):
            raise ValidationError(f"noise_ratio must be a positive number, got {noise_ratio!r}")
        if not (isinstance(smoothing, int | float) and 0.0 <= smoothing < 1.0):
            raise ValidationError(f"smoothing must be in [0, 1), got {smoothing!r}")
        self.noise_ratio, self.smoothing = float(noise_ratio), float(smoothing)
        self.probes = _shots("probes", probes)
        self.rng = np.random.default_rng(seed)
        self.tracker = tracker
        self.history: list[dict[str, Any]] = []
        self.reset()

    @classmethod
    def from_lipschitz(cls, lipschitz: float, learning_rate: float, **options: Any
                       ) -> AdaptiveShotAllocator:
        """gCANS's constant ``kappa = 2 L a / (2 - L a)`` (needs ``L a < 2``)."""
        la = float(lipschitz) * float(learning_rate)
        if not 0.0 < la < 2.0:
            raise ValidationError(f"need 0 < lipschitz * learning_rate < 2, got {la!r}")
        return cls(noise_ratio=(2.0 - la) / (2.0 * la), **options)

    def reset(self) -> None:
        """Forget the averages: the next step runs ``base_shots``."""
        self.shots = self.base_shots
        self._chi: np.ndarray | None = None
        self._xi = 0.0
        self._t = 0

    def variance(self, plan: Plan[Any], answers: Sequence[Any], result: Any, shots: int
                 ) -> np.ndarray:
        """Shot-noise variance ``(B, n_w)`` of the result's weight gradients at ``shots``."""
        return gradient_shot_variance(plan, answers, result, shots, self.rng, self.probes)

    def observe(self, gradient: np.ndarray, variance: np.ndarray | float, shots: int, *,
                step: int | None = None) -> int:
        """Report a step: its gradient ``(n_w,)``, the variance of that gradient's components
        at ``shots`` shots (summed here), the shots it ran with. Returns the next step's
        shots (also :attr:`shots`)."""
        g = np.asarray(gradient, dtype=float).reshape(-1)
        if self._chi is not None and self._chi.shape != g.shape:  # the model grew (depth)
            self._chi, self._xi, self._t = None, 0.0, 0  # averages start again, shots stay
        per_shot = float(np.sum(variance)) * shots  # tr(Sigma_1): one-shot noise
        mu = self.smoothing
        self._t += 1
        self._chi = (1 - mu) * g if self._chi is None else mu * self._chi + (1 - mu) * g
        self._xi = mu * self._xi + (1 - mu) * per_shot
        correction = 1.0 - mu**self._t
        chi, xi = self._chi / correction, self._xi / correction
        signal = float(chi @ chi)
        wanted = math.inf if signal == 0.0 else xi / (self.noise_ratio * signal)
        chosen = self.max_shots if not math.isfinite(wanted) else math.ceil(wanted)
        self.shots = int(min(self.max_shots, max(self.min_shots, chosen)))
        record = {"step": len(self.history) + 1 if step is None else int(step),
                  "shots": int(shots), "next_shots": self.shots,
                  "gradient_norm2": signal, "variance_per_shot": xi,
                  "noise_ratio": (float(np.sum(variance)) / float(g @ g)
                                  if float(g @ g) > 0 else None),
                  "wanted_shots": None if not math.isfinite(wanted) else float(wanted)}
        self.history.append(record)
        if self.tracker is not None:
            self.tracker.emit("shots", **record)
        return self.shots

    def get_stats(self) -> dict[str, Any]:
        """Steps observed, shots of those steps (per circuit), and the next allocation."""
        used = [h["shots"] for h in self.history]
        return {"steps": len(used), "mean_shots": float(np.mean(used)) if used else None,
                "min_used": min(used, default=None), "max_used": max(used, default=None),
                "next_shots": self.shots}

    def __repr__(self) -> str:
        return (f"AdaptiveShotAllocator(min_shots={self.min_shots}, max_shots={self.max_shots}, "
                f"base_shots={self.base_shots}, noise_ratio={self.noise_ratio}, "
                f"shots={self.shots})")
