"""Symbolic gate angles: expressions over trainable weights ``theta[i]`` and inputs ``x[j]``.

A circuit is a template; its angles are expressions that are bound to numbers many times.
Expressions are immutable and hashable, so circuit structure (and cache keys) include them.
Evaluation is vectorised over a batch; derivatives are symbolic.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Literal

import numpy as np

from q_store.errors import CircuitError

__all__ = [
    "Add",
    "Const",
    "Expr",
    "Func",
    "Mul",
    "Pow",
    "Symbol",
    "SymbolVector",
    "as_expr",
    "theta",
    "x",
]

SymbolKind = Literal["theta", "x"]

_FUNCS = {
    "sin": np.sin,
    "cos": np.cos,
    "tan": np.tan,
    "exp": np.exp,
    "log": np.log,
    "sqrt": np.sqrt,
    "arcsin": np.arcsin,
    "arccos": np.arccos,
    "arctan": np.arctan,
}


class Expr:
    """Base class of angle expressions. Supports + - * / ** with numbers and other expressions."""

    __slots__ = ()

    # -- arithmetic -------------------------------------------------------------------------
    def __add__(self, other: object) -> Expr:
        return _add(self, as_expr(other))

    def __radd__(self, other: object) -> Expr:
        return _add(as_expr(other), self)

    def __sub__(self, other: object) -> Expr:
        return _add(self, _mul(Const(-1.0), as_expr(other)))

    def __rsub__(self, other: object) -> Expr:
        return _add(as_expr(other), _mul(Const(-1.0), self))

    def __mul__(self, other: object) -> Expr:
        return _mul(self, as_expr(other))

    def __rmul__(self, other: object) -> Expr:
        return _mul(as_expr(other), self)

    def __truediv__(self, other: object) -> Expr:
        o = as_expr(other)
        if isinstance(o, Const):
            if o.value == 0.0:
                raise CircuitError("division of an angle expression by zero")
            return _mul(self, Const(1.0 / o.value))
        return _mul(self, Pow(o, -1.0))

    def __rtruediv__(self, other: object) -> Expr:
        return _mul(as_expr(other), Pow(self, -1.0))

    def __neg__(self) -> Expr:
        return _mul(Const(-1.0), self)

    def __pos__(self) -> Expr:
        return self

    def __pow__(self, exponent: object) -> Expr:
        if not isinstance(exponent, numbers.Real):
            raise CircuitError("only real constant exponents are supported in angle expressions")
        return Pow(self, float(exponent))

    # -- interface implemented by subclasses ---------------------------------------------------
    def evaluate(self, weights: np.ndarray, inputs: np.ndarray) -> np.ndarray:
        """Value for a batch: ``weights`` (B, n_w), ``inputs`` (B, n_x) -> (B,)."""
        raise NotImplementedError

    def diff(self, sym: Symbol) -> Expr:
        """Symbolic partial derivative with respect to ``sym``."""
        raise NotImplementedError

    def symbols(self) -> frozenset[Symbol]:
        raise NotImplementedError

    def affine(self) -> tuple[float, dict[Symbol, float]] | None:
        """``(c, {sym: coef})`` if the expression is ``c + sum coef*sym``, else ``None``."""
        raise NotImplementedError

    @property
    def is_constant(self) -> bool:
        return not self.symbols()

    def __float__(self) -> float:
        if not self.is_constant:
            raise CircuitError(f"expression {self} depends on symbols and has no numeric value")
        empty = np.zeros((1, 0))
        return float(np.asarray(self.evaluate(empty, empty)).reshape(-1)[0])

    def bind(self, weights: np.ndarray | None = None, inputs: np.ndarray | None = None) -> float:
        """Numeric value for one weight vector and one input vector (real numbers)."""
        from q_store.circuit.params import as_real_array

        w = np.zeros((1, 0)) if weights is None else as_real_array(weights, "weights")
        xv = np.zeros((1, 0)) if inputs is None else as_real_array(inputs, "inputs")
        w, xv = w.reshape(1, -1), xv.reshape(1, -1)
        return float(np.asarray(self.evaluate(w, xv)).reshape(-1)[0])


@dataclass(frozen=True, slots=True)
class Const(Expr):
    value: float

    def __post_init__(self) -> None:
        if not math.isfinite(self.value):
            raise CircuitError(f"angle must be finite, got {self.value!r}")

    def evaluate(self, weights: np.ndarray, inputs: np.ndarray) -> np.ndarray:
        return np.full(max(len(weights), len(inputs), 1), self.value)

    def diff(self, sym: Symbol) -> Expr:
        return Const(0.0)

    def symbols(self) -> frozenset[Symbol]:
        return frozenset()

    def affine(self) -> tuple[float, dict[Symbol, float]]:
        return self.value, {}

    def __str__(self) -> str:
        return repr(self.value)


@dataclass(frozen=True, slots=True, order=True)
class Symbol(Expr):
    """A trainable weight (``kind='theta'``) or a data input (``kind='x'``)."""

    kind: SymbolKind
    index: int

    def __post_init__(self) -> None:
        if self.kind not in ("theta", "x"):
            raise CircuitError(f"symbol kind must be 'theta' or 'x', got {self.kind!r}")
        if not isinstance(self.index, numbers.Integral) or self.index < 0:
            raise CircuitError(f"symbol index must be a non-negative integer, got {self.index!r}")

    def evaluate(self, weights: np.ndarray, inputs: np.ndarray) -> np.ndarray:
        src = weights if self.kind == "theta" else inputs
        return src[:, self.index]

    def diff(self, sym: Symbol) -> Expr:
        return Const(1.0) if sym == self else Const(0.0)

    def symbols(self) -> frozenset[Symbol]:
        return frozenset((self,))

    def affine(self) -> tuple[float, dict[Symbol, float]]:
        return 0.0, {self: 1.0}

    def __str__(self) -> str:
        return f"{self.kind}[{self.index}]"


@dataclass(frozen=True, slots=True)
class Add(Expr):
    terms: tuple[Expr, ...]

    def evaluate(self, weights: np.ndarray, inputs: np.ndarray) -> np.ndarray:
        out = self.terms[0].evaluate(weights, inputs)
        for t in self.terms[1:]:
            out = out + t.evaluate(weights, inputs)
        return out

    def diff(self, sym: Symbol) -> Expr:
        out: Expr = Const(0.0)
        for t in self.terms:
            out = _add(out, t.diff(sym))
        return out

    def symbols(self) -> frozenset[Symbol]:
        return frozenset().union(*(t.symbols() for t in self.terms))

    def affine(self) -> tuple[float, dict[Symbol, float]] | None:
        c, coefs = 0.0, {}
        for t in self.terms:
            a = t.affine()
            if a is None:
                return None
            c += a[0]
            for s, v in a[1].items():
                coefs[s] = coefs.get(s, 0.0) + v
        return c, coefs

    def __str__(self) -> str:
        out = str(self.terms[0])
        for t in self.terms[1:]:
            s = str(t)
            out += f" - {s[1:]}" if s.startswith("-") else f" + {s}"
        return out


@dataclass(frozen=True, slots=True)
class Mul(Expr):
    factors: tuple[Expr, ...]

    def evaluate(self, weights: np.ndarray, inputs: np.ndarray) -> np.ndarray:
        out = self.factors[0].evaluate(weights, inputs)
        for f in self.factors[1:]:
            out = out * f.evaluate(weights, inputs)
        return out

    def diff(self, sym: Symbol) -> Expr:
        out: Expr = Const(0.0)
        for i, f in enumerate(self.factors):
            d = f.diff(sym)
            if isinstance(d, Const) and d.value == 0.0:
                continue
            term: Expr = d
            for j, g in enumerate(self.factors):
                if j != i:
                    term = _mul(term, g)
            out = _add(out, term)
        return out

    def symbols(self) -> frozenset[Symbol]:
        return frozenset().union(*(f.symbols() for f in self.factors))

    def affine(self) -> tuple[float, dict[Symbol, float]] | None:
        scale, rest = 1.0, None
        for f in self.factors:
            if isinstance(f, Const):
                scale *= f.value
            elif rest is None:
                rest = f.affine()
                if rest is None:
                    return None
            else:
                return None
        if rest is None:
            return scale, {}
        return scale * rest[0], {s: scale * v for s, v in rest[1].items()}

    def __str__(self) -> str:
        parts = []
        for f in self.factors:
            s = str(f)
            parts.append(f"({s})" if isinstance(f, Add) else s)
        if parts[0] == "-1.0" and len(parts) > 1:
            return "-" + "*".join(parts[1:])
        return "*".join(parts)


@dataclass(frozen=True, slots=True)
class Pow(Expr):
    base: Expr
    exponent: float

    def evaluate(self, weights: np.ndarray, inputs: np.ndarray) -> np.ndarray:
        return np.power(self.base.evaluate(weights, inputs), self.exponent)

    def diff(self, sym: Symbol) -> Expr:
        return _mul(_mul(Const(self.exponent), Pow(self.base, self.exponent - 1.0)),
                    self.base.diff(sym))

    def symbols(self) -> frozenset[Symbol]:
        return self.base.symbols()

    def affine(self) -> tuple[float, dict[Symbol, float]] | None:
        if self.exponent == 1.0:
            return self.base.affine()
        return None if self.base.symbols() else (float(self), {})

    def __str__(self) -> str:
        return f"({self.base})**{self.exponent!r}"


@dataclass(frozen=True, slots=True)
class Func(Expr):
    """A unary function applied to an expression: one of sin, cos, tan, exp, log, sqrt,
    arcsin, arccos, arctan."""

    name: str
    arg: Expr

    def __post_init__(self) -> None:
        if self.name not in _FUNCS:
            raise CircuitError(
                f"unknown function {self.name!r} in angle expression; allowed: {sorted(_FUNCS)}"
            )

    def evaluate(self, weights: np.ndarray, inputs: np.ndarray) -> np.ndarray:
        return _FUNCS[self.name](self.arg.evaluate(weights, inputs))

    def diff(self, sym: Symbol) -> Expr:
        a, inner = self.arg, self.arg.diff(sym)
        if isinstance(inner, Const) and inner.value == 0.0:
            return Const(0.0)
        outer: Expr
        if self.name == "sin":
            outer = Func("cos", a)
        elif self.name == "cos":
            outer = -Func("sin", a)
        elif self.name == "tan":
            outer = Pow(Func("cos", a), -2.0)
        elif self.name == "exp":
            outer = self
        elif self.name == "log":
            outer = Pow(a, -1.0)
        elif self.name == "sqrt":
            outer = 0.5 * Pow(a, -0.5)
        elif self.name == "arcsin":
            outer = Pow(1.0 - a * a, -0.5)
        elif self.name == "arccos":
            outer = -Pow(1.0 - a * a, -0.5)
        else:  # arctan
            outer = Pow(1.0 + a * a, -1.0)
        return _mul(outer, inner)

    def symbols(self) -> frozenset[Symbol]:
        return self.arg.symbols()

    def affine(self) -> tuple[float, dict[Symbol, float]] | None:
        return None if self.arg.symbols() else (float(self), {})

    def __str__(self) -> str:
        return f"{self.name}({self.arg})"


def as_expr(value: object) -> Expr:
    """Turn a number or expression into an :class:`Expr`; reject anything else."""
    if isinstance(value, Expr):
        return value
    if isinstance(value, (bool, np.bool_)):
        raise CircuitError(f"angle must be a real number or expression, got {value!r}")
    if isinstance(value, numbers.Real):
        return Const(float(value))
    if isinstance(value, np.ndarray) and value.shape == () and np.isrealobj(value):
        return Const(float(value))
    raise CircuitError(
        f"angle must be a real number or an expression over theta[i] / x[j], got {value!r}"
    )


def _add(a: Expr, b: Expr) -> Expr:
    if isinstance(a, Const) and isinstance(b, Const):
        return Const(a.value + b.value)
    if isinstance(a, Const) and a.value == 0.0:
        return b
    if isinstance(b, Const) and b.value == 0.0:
        return a
    terms = (a.terms if isinstance(a, Add) else (a,)) + (b.terms if isinstance(b, Add) else (b,))
    return Add(terms)


def _mul(a: Expr, b: Expr) -> Expr:
    if isinstance(a, Const) and isinstance(b, Const):
        return Const(a.value * b.value)
    for c, other in ((a, b), (b, a)):
        if isinstance(c, Const):
            if c.value == 0.0:
                return Const(0.0)
            if c.value == 1.0:
                return other
    if isinstance(b, Const):  # constants first, for readable output
        a, b = b, a
    if isinstance(a, Const) and isinstance(b, Mul) and isinstance(b.factors[0], Const):
        return _mul(Const(a.value * b.factors[0].value), Mul(b.factors[1:]) if len(
            b.factors) > 2 else b.factors[1])
    fa = a.factors if isinstance(a, Mul) else (a,)
    fb = b.factors if isinstance(b, Mul) else (b,)
    return Mul(fa + fb)


class SymbolVector:
    """Indexable family of symbols: ``theta[3]`` is the fourth trainable weight."""

    __slots__ = ("kind",)

    def __init__(self, kind: SymbolKind) -> None:
        self.kind = kind

    def __getitem__(self, index: int) -> Symbol:
        return Symbol(self.kind, int(index) if isinstance(index, np.integer) else index)

    def __repr__(self) -> str:
        return f"SymbolVector({self.kind!r})"


theta = SymbolVector("theta")
x = SymbolVector("x")
