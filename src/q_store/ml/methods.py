"""The gradient method a :class:`~q_store.ml.config.TrainingConfig` describes, from the one
registry (:func:`q_store.gradients.get_gradient_method`)."""

from __future__ import annotations

from typing import Any

from q_store.gradients import GradientMethod, get_gradient_method
from q_store.ml.config import TrainingConfig
from q_store.sim import StatevectorSimulator

__all__ = ["gradient_method_from_config"]


def gradient_method_from_config(config: TrainingConfig, simulator: StatevectorSimulator,
                                spsa_key: int, *, exact: bool = True) -> GradientMethod:
    """``config.gradient_method`` with its options; ``spsa_key`` keys SPSA's perturbations (and
    2-SPSA's); ``exact``: whether the target answers exactly (the local simulator without
    shots), which decides what ``"auto"`` means (adjoint, else parameter shift) and the natural
    gradient's default metric and base."""
    name = config.gradient_method
    if name == "auto":  # the best exact method the target allows
        name = "adjoint" if exact else "parameter_shift"

    def spsa() -> Any:
        return get_gradient_method("spsa", executor=simulator, c=config.spsa_c_initial,
                                   a=config.spsa_step_size, big_a=0.0,
                                   n_samples=config.spsa_samples, seed=spsa_key)

    def natural(base: GradientMethod) -> Any:
        metric = config.natural_gradient_metric
        if metric == "auto":
            metric = "exact" if exact else "block_diagonal"
        return get_gradient_method(
            "natural_gradient", base=base, regularization=config.natural_gradient_regularization,
            metric=metric, cache_size=config.qfim_cache_size,
            reuse_steps=config.qfim_reuse_steps, seed=spsa_key,
            epsilon=0.01 if exact else 0.1)

    if name == "spsa":
        return spsa()
    if name == "adaptive":
        shift = get_gradient_method("parameter_shift", executor=simulator)
        return get_gradient_method(
            "adaptive", spsa=spsa(), exact=shift, natural=natural(shift),
            refine_every=config.adaptive_refine_every,
            switch_patience=config.adaptive_switch_patience)
    if name == "natural_gradient":
        base = (get_gradient_method("adjoint", simulator=simulator) if exact
                else get_gradient_method("parameter_shift", executor=simulator))
        return natural(base)
    if name == "finite_difference":
        return get_gradient_method("finite_difference", executor=simulator,
                                   **({"step": 0.1} if config.shots else {}))
    if name == "adjoint":
        return get_gradient_method("adjoint", simulator=simulator)
    return get_gradient_method(name, executor=simulator)
