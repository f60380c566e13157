"""Binding values to a circuit template: validated batches and the angle map.

``ParameterMap`` turns weights ``(Bw, n_w)`` and inputs ``(Bx, n_x)`` into the numeric value of
every gate parameter, ``angles (B, n_params)``, and pulls derivatives with respect to angles back
to weights and inputs (the chain rule through the angle expressions). Affine expressions, by far
the common case, go through two dense matrix products; other expressions are evaluated as trees.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import sparse

from q_store.circuit.expr import Expr, Symbol
from q_store.circuit.ir import Circuit
from q_store.errors import BindingError, ValidationError

__all__ = ["Batch", "ParameterMap", "as_real_array", "parameter_map_for", "resolve_batch"]


def as_real_array(values: object, what: str,
                  error: type[ValidationError] = BindingError) -> np.ndarray:
    """``values`` as a float64 array, refusing complex numbers (NumPy would drop their
    imaginary part with only a ComplexWarning) and anything that is not a number."""
    try:
        raw = np.asarray(values)
    except (TypeError, ValueError) as e:
        raise error(f"{what} must be an array of real numbers: {e}") from None
    if np.iscomplexobj(raw) or (raw.dtype == object and any(
            isinstance(v, complex | np.complexfloating) for v in raw.reshape(-1))):
        raise error(f"{what} must be real numbers; got complex values (an imaginary part "
                    "cannot be applied as a rotation angle and would be silently dropped)")
    if raw.dtype.kind not in "biuf" and raw.dtype != object:
        raise error(f"{what} must be an array of real numbers, got dtype {raw.dtype}")
    try:
        return raw.astype(float)
    except (TypeError, ValueError) as e:
        raise error(f"{what} must be an array of real numbers: {e}") from None


@dataclass(frozen=True)
class Batch:
    """Validated values for one call: ``weights (Bw, n_w)``, ``inputs (Bx, n_x)``.

    ``size`` is the broadcast batch size; ``batched`` says whether results carry a batch axis.
    """

    weights: np.ndarray
    inputs: np.ndarray
    size: int
    batched: bool


def _as_2d(values: object, n: int, what: str) -> tuple[np.ndarray, bool]:
    if values is None:
        if n:
            raise BindingError(f"the circuit needs {n} {what} per sample, none given")
        return np.zeros((1, 0)), False
    arr = as_real_array(values, what)
    if arr.ndim not in (1, 2):
        raise BindingError(
            f"{what} must be a vector ({n},) or a batch (B, {n}), got shape {arr.shape}")
    batched = arr.ndim == 2
    arr2 = arr.reshape(1, -1) if arr.ndim == 1 else arr
    if arr2.shape[1] != n:
        raise BindingError(
            f"the circuit needs {n} {what} per sample, got {arr2.shape[1]} (shape {arr.shape})")
    if batched and arr2.shape[0] == 0:
        raise BindingError(f"{what} batch is empty")
    if not np.isfinite(arr2).all():
        raise BindingError(f"{what} must be finite; found NaN or infinity")
    return arr2, batched


def _varies(a: np.ndarray) -> bool:
    """Whether the rows of ``a (rows, n)`` differ (NaN counts as differing)."""
    return a.shape[0] > 1 and not bool((a[1:] == a[:1]).all())


def resolve_batch(circuit: Circuit, weights: object = None, inputs: object = None) -> Batch:
    """Validate and broadcast weights and inputs for ``circuit``."""
    w, wb = _as_2d(weights, circuit.n_weights or 0, "weights")
    xv, xb = _as_2d(inputs, circuit.n_inputs or 0, "inputs")
    bw, bx = w.shape[0], xv.shape[0]
    if bw > 1 and bx > 1 and bw != bx:
        raise BindingError(f"weight batch ({bw}) and input batch ({bx}) differ; "
                           "they must be equal or one of them unbatched")
    return Batch(w, xv, max(bw, bx), wb or xb)


class ParameterMap:
    """Angles of every gate parameter of a circuit as functions of weights and inputs."""

    def __init__(self, circuit: Circuit) -> None:
        exprs = circuit.param_exprs
        self.n_params = len(exprs)
        self.n_weights = circuit.n_weights or 0
        self.n_inputs = circuit.n_inputs or 0
        self.const = np.zeros(self.n_params)
        self.a_w = np.zeros((self.n_params, self.n_weights))
        self.a_x = np.zeros((self.n_params, self.n_inputs))
        self.nonlinear: list[tuple[int, Expr, tuple[tuple[Symbol, Expr], ...]]] = []
        self.uses_weights = np.zeros(self.n_params, dtype=bool)
        self.uses_inputs = np.zeros(self.n_params, dtype=bool)
        for j, e in enumerate(exprs):
            syms = e.symbols()
            self.uses_weights[j] = any(s.kind == "theta" for s in syms)
            self.uses_inputs[j] = any(s.kind == "x" for s in syms)
            aff = e.affine()
            if aff is None:
                derivs = tuple((s, e.diff(s)) for s in sorted(syms))
                self.nonlinear.append((j, e, derivs))
                continue
            self.const[j] = aff[0]
            for s, c in aff[1].items():
                (self.a_w if s.kind == "theta" else self.a_x)[j, s.index] += c
        self._aw_any = bool(self.a_w.any())
        self._ax_any = bool(self.a_x.any())
        # angles that are each one symbol times a coefficient (the common case) are gathered;
        # other maps are sparse: single-threaded products that never wake BLAS thread pools,
        # whose spinning threads would compete with the simulator's own threads
        self._w_sel, self._x_sel = _selection(self.a_w), _selection(self.a_x)
        self._w_pull = _one_to_one(self._w_sel, self.n_weights)
        self._x_pull = _one_to_one(self._x_sel, self.n_inputs)
        self._aw = sparse.csr_matrix(self.a_w)
        self._ax = sparse.csr_matrix(self.a_x)
        self._aw_t = sparse.csr_matrix(self.a_w.T)  # for the pullback (built once, not per call)
        self._ax_t = sparse.csr_matrix(self.a_x.T)

    def batched_columns(self, batch: Batch) -> np.ndarray:
        """Which angle columns vary across the batch. Rows that are all equal do not vary
        (weights repeated per initial state, :func:`q_store.gradients.base.make_problem`): their
        gate matrices are then computed once and shared by the batch's kernels."""
        out = np.zeros(self.n_params, dtype=bool)
        if _varies(batch.weights):
            out |= self.uses_weights
        if _varies(batch.inputs):
            out |= self.uses_inputs
        return out

    def angles(self, batch: Batch) -> np.ndarray:
        """``(Ba, n_params)`` with ``Ba`` = 1 when nothing varies across the batch, else B."""
        w, xv = batch.weights, batch.inputs
        rows = max(w.shape[0] if self._aw_any or self.nonlinear else 1,
                   xv.shape[0] if self._ax_any or self.nonlinear else 1)
        out = np.empty((rows, self.n_params))
        out[:] = self.const
        if self._aw_any:
            out += _gather(w, self._w_sel) if self._w_sel is not None else (self._aw @ w.T).T
        if self._ax_any:
            out += _gather(xv, self._x_sel) if self._x_sel is not None else (self._ax @ xv.T).T
        if self.nonlinear:
            wb = np.broadcast_to(w, (rows, w.shape[1]))
            xb = np.broadcast_to(xv, (rows, xv.shape[1]))
            with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
                for j, e, _ in self.nonlinear:
                    out[:, j] = e.evaluate(wb, xb)
        if not np.isfinite(out).all():
            raise BindingError("an angle expression evaluated to NaN or infinity "
                               "(e.g. arccos outside [-1, 1] or log of a non-positive value)")
        return out

    def pullback(self, batch: Batch, d_angles: np.ndarray, *, want_weights: bool = True,
                 want_inputs: bool = False) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Chain rule: ``d_angles (B, ..., n_params)`` -> ``(d_weights (B, ..., n_w),
        d_inputs (B, ..., n_x))``, per sample."""
        gw = _pull(d_angles, self._w_pull, self._aw_t) if want_weights else None
        gx = _pull(d_angles, self._x_pull, self._ax_t) if want_inputs else None
        if self.nonlinear:
            rows = d_angles.shape[0]
            extra = (1,) * (d_angles.ndim - 2)
            wb = np.broadcast_to(batch.weights, (rows, batch.weights.shape[1]))
            xb = np.broadcast_to(batch.inputs, (rows, batch.inputs.shape[1]))
            for j, _e, derivs in self.nonlinear:
                for s, de in derivs:
                    target = gw if s.kind == "theta" else gx
                    if target is None:
                        continue
                    dv = de.evaluate(wb, xb).reshape(rows, *extra)
                    target[..., s.index] += d_angles[..., j] * dv
        return gw, gx


@lru_cache(maxsize=256)
def parameter_map_for(circuit: Circuit) -> ParameterMap:
    """The angle map of a circuit, cached by circuit value."""
    return ParameterMap(circuit)


Selection = tuple[np.ndarray, np.ndarray | None]
"""``(index, coefficients)``: ``values[..., index] * coefficients`` (None: all 1)."""


def _selection(a: np.ndarray) -> Selection | None:
    """``values @ a.T`` as a selection, when every row of ``a (P, n)`` has at most one non-zero
    entry (each angle is one symbol times a coefficient); else None."""
    nonzero = a != 0
    if a.shape[1] == 0 or (nonzero.sum(axis=1) > 1).any():
        return None
    cols = np.argmax(nonzero, axis=1)  # a row without symbols: column 0, coefficient 0
    coefs = a[np.arange(len(a)), cols]
    return cols, None if (coefs == 1.0).all() else coefs


def _one_to_one(sel: Selection | None, n: int) -> Selection | None:
    """The pullback ``d @ a`` as a selection, when each of the ``n`` symbols is used by exactly
    one angle; else None."""
    if sel is None:
        return None
    cols, coefs = sel
    used = np.ones(len(cols), dtype=bool) if coefs is None else coefs != 0
    if not (np.bincount(cols[used], minlength=n) == 1).all():
        return None
    angle = np.flatnonzero(used)[np.argsort(cols[used])]
    return angle, None if coefs is None else coefs[angle]


def _gather(values: np.ndarray, sel: Selection) -> np.ndarray:
    """``values (..., n)`` selected and scaled: ``(..., P)``."""
    index, coefs = sel
    out = np.take(values, index, axis=-1)
    return out if coefs is None else out * coefs


def _pull(d: np.ndarray, sel: Selection | None, a_t: sparse.csr_matrix) -> np.ndarray:
    """``d @ a`` for a dense ``(..., P)`` array: by ``sel``, else with the sparse ``(n, P)``
    matrix ``a.T``. Both make ``(n, rows)`` and transpose it, so that later sums over the
    batch add in the same order (and round the same) either way."""
    flat = d.reshape(-1, d.shape[-1])
    if sel is None:
        out = np.asarray(a_t @ flat.T)
    else:
        index, coefs = sel
        out = np.take(flat.T, index, axis=0)
        if coefs is not None:
            out *= coefs[:, None]
    return out.T.reshape(*d.shape[:-1], a_t.shape[0])
