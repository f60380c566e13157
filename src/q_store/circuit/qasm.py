"""OpenQASM 2 / 3 export and import.

Export writes standard gate names; gates outside the standard include (``ryy``, the IonQ natives
``gpi gpi2 ms zz``, and in QASM 2 also ``sx swap crx cry rxx rzz``) get exact ``gate``
definitions in terms of standard gates, global phase included, so any reader (Qiskit among them)
gets our unitary. QASM 3 keeps symbolic angles as ``input array[float[64], N] theta;`` / ``x``.

Import is a small hand-written tokenizer and recursive-descent parser for what we export plus
common hand-written programs. A ``gate`` definition whose name and signature match one of our
gates (``rxx``, ``gpi``, ``ms`` ...) maps to that gate, so export -> import returns an equal
:class:`Circuit`; other definitions are expanded. ``u3``/``u`` are read as ``U`` (as Qiskit does),
``measure`` at the end, ``barrier`` and ``gphase`` are ignored.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from q_store.circuit.expr import Add, Const, Expr, Func, Mul, Pow, Symbol
from q_store.circuit.gates import GATES
from q_store.circuit.ir import Circuit, Operation
from q_store.errors import CircuitError, QASMError

__all__ = ["expr_to_text", "from_qasm", "to_qasm"]

# canonical gate -> QASM name, shared by both versions; _EXPORT_V holds the differences
_EXPORT_NAMES = {
    "I": "id", "X": "x", "Y": "y", "Z": "z", "H": "h", "S": "s", "Sdg": "sdg", "T": "t",
    "Tdg": "tdg", "SX": "sx", "RX": "rx", "RY": "ry", "RZ": "rz", "CNOT": "cx", "CZ": "cz",
    "SWAP": "swap", "RXX": "rxx", "RYY": "ryy", "RZZ": "rzz", "CRX": "crx", "CRY": "cry",
    "CRZ": "crz", "Toffoli": "ccx", "GPI": "gpi", "GPI2": "gpi2", "MS": "ms", "ZZ": "zz",
}
_EXPORT_V = {2: {"PhaseShift": "u1", "U3": "u3"}, 3: {"PhaseShift": "p", "U3": "U"}}

# exact definitions (global phase included) of gates missing from qelib1.inc / stdgates.inc
_DEFS: dict[str, tuple[str, tuple[str, ...]]] = {
    "sx": ("gate sx a { h a; s a; h a; }", ()),
    "swap": ("gate swap a, b { cx a, b; cx b, a; cx a, b; }", ()),
    "crx": ("gate crx(t) a, b { h b; crz(t) a, b; h b; }", ()),
    "cry": ("gate cry(t) a, b { sdg b; h b; crz(t) a, b; h b; s b; }", ()),
    "rzz": ("gate rzz(t) a, b { cx a, b; rz(t) b; cx a, b; }", ()),
    "rxx": ("gate rxx(t) a, b { h a; h b; cx a, b; rz(t) b; cx a, b; h a; h b; }", ()),
    "ryy": ("gate ryy(t) a, b { rx(pi/2) a; rx(pi/2) b; cx a, b; rz(t) b; cx a, b; "
            "rx(-pi/2) a; rx(-pi/2) b; }", ()),
    "gpi": ("gate gpi(p) a { x a; rz(4*pi*p) a; }", ()),
    "gpi2": ("gate gpi2(p) a { rz(-2*pi*p) a; rx(pi/2) a; rz(2*pi*p) a; }", ()),
    "ms": ("gate ms(p0, p1, t) a, b { rz(-2*pi*p0) a; rz(-2*pi*p1) b; rxx(2*pi*t) a, b; "
           "rz(2*pi*p0) a; rz(2*pi*p1) b; }", ("rxx",)),
    "zz": ("gate zz(t) a, b { cx a, b; rz(2*pi*t) b; cx a, b; }", ()),
}
_NEEDS_DEF = {2: {"sx", "swap", "crx", "cry", "rxx", "ryy", "rzz", "gpi", "gpi2", "ms", "zz"},
              3: {"rxx", "ryy", "rzz", "gpi", "gpi2", "ms", "zz"}}
_FUNC_OUT = {2: {"log": "ln", "arcsin": "asin", "arccos": "acos", "arctan": "atan"}, 3: {}}


def _num(v: float) -> str:
    s = repr(float(v))
    return s.replace("e", ".0e", 1) if "e" in s and "." not in s else s


def expr_to_text(e: Expr, *, number: Callable[[float], str] = _num, pow_op: str = "**",
                 funcs: dict[str, str] | None = None) -> str:
    """Print an expression so that parsing it with the Expr operators rebuilds the same tree."""
    funcs = funcs or {}

    def text(e: Expr) -> str:
        if isinstance(e, Const):
            return number(e.value)
        if isinstance(e, Symbol):
            return f"{e.kind}[{e.index}]"
        if isinstance(e, Add):
            out = factor(e.terms[0]) if isinstance(e.terms[0], Add) else text(e.terms[0])
            for t in e.terms[1:]:
                s = factor(t) if isinstance(t, Add) else text(t)
                out += f" - {s[1:]}" if s.startswith("-") else f" + {s}"
            return out
        if isinstance(e, Mul):
            return mul(e.factors)
        if isinstance(e, Pow):
            ex = number(e.exponent)
            return f"({text(e.base)}){pow_op}{f'({ex})' if ex.startswith('-') else ex}"
        if isinstance(e, Func):
            return f"{funcs.get(e.name, e.name)}({text(e.arg)})"
        raise CircuitError(f"cannot print expression {e!r}")

    def factor(e: Expr) -> str:
        return f"({text(e)})" if isinstance(e, (Add, Mul)) else text(e)

    def mul(fs: Sequence[Expr]) -> str:
        if isinstance(fs[0], Const) and fs[0].value == -1.0 and len(fs) > 1:
            return "-" + mul(fs[1:])
        out = factor(fs[0])
        for i in range(1, len(fs)):
            if isinstance(fs[i], Const):  # a later constant: group the tail to keep the tree
                return f"{out}*({mul(fs[i:])})"
            out += "*" + factor(fs[i])
        return out

    return text(e)


def to_qasm(circuit: Circuit, version: int = 3, weights: Any = None, inputs: Any = None) -> str:
    """OpenQASM text. ``weights``/``inputs`` bind the circuit first; QASM 2 needs numeric angles,
    QASM 3 keeps symbols as ``input`` arrays ``theta`` and ``x``."""
    if version not in (2, 3):
        raise QASMError(f"OpenQASM version must be 2 or 3, got {version!r}")
    if weights is not None or inputs is not None:
        circuit = circuit.bind(weights, inputs)
    if version == 2 and circuit.symbols:
        raise CircuitError(
            "OpenQASM 2 cannot express symbolic angles: bind the circuit first "
            "(circuit.bind(weights, inputs)), pass weights=/inputs= to to_qasm, or use version=3")
    names = {**_EXPORT_NAMES, **_EXPORT_V[version]}
    head = ["OPENQASM 2.0;", 'include "qelib1.inc";'] if version == 2 else [
        "OPENQASM 3.0;", 'include "stdgates.inc";']
    done: list[str] = []

    def need(name: str) -> None:
        if name in _NEEDS_DEF[version] and name not in done:
            for dep in _DEFS[name][1]:
                need(dep)
            done.append(name)

    for op in circuit.operations:
        need(names[op.gate])
    lines = head + [_DEFS[n][0] for n in done]
    if version == 2:
        lines.append(f"qreg q[{circuit.n_qubits}];")
    else:
        for kind, n in (("theta", circuit.n_weights), ("x", circuit.n_inputs)):
            if n:
                lines.append(f"input array[float[64], {n}] {kind};")
        lines.append(f"qubit[{circuit.n_qubits}] q;")
    pow_op, funcs = ("^", _FUNC_OUT[2]) if version == 2 else ("**", _FUNC_OUT[3])
    for op in circuit.operations:
        args = ", ".join(expr_to_text(p, pow_op=pow_op, funcs=funcs) for p in op.params)
        qargs = ", ".join(f"q[{w}]" for w in op.wires)
        lines.append(f"{names[op.gate]}{f'({args})' if op.params else ''} {qargs};")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------- import

_NATIVE = {v: k for k, v in _EXPORT_NAMES.items()}
_NATIVE.update({"p": "PhaseShift", "phase": "PhaseShift", "u1": "PhaseShift", "u3": "U3",
                "u": "U3", "U": "U3", "CX": "CNOT", "cnot": "CNOT", "toffoli": "Toffoli"})
_FUNC_IN = {"sin": "sin", "cos": "cos", "tan": "tan", "exp": "exp", "ln": "log", "log": "log",
            "sqrt": "sqrt", "arcsin": "arcsin", "arccos": "arccos", "arctan": "arctan",
            "asin": "arcsin", "acos": "arccos", "atan": "arctan"}
_CONSTS = {"pi": math.pi, "π": math.pi, "tau": 2 * math.pi, "τ": 2 * math.pi, "euler": math.e,
           "ℇ": math.e}
_PRELUDE = """
gate u2(f, l) q { U(pi/2, f, l) q; }
gate sxdg a { h a; sdg a; h a; }
gate cy a, b { sdg b; cx a, b; s b; }
gate ch a, b { s b; h b; t b; cx a, b; tdg b; h b; sdg b; }
gate cp(l) a, b { p(l/2) a; cx a, b; p(-l/2) b; cx a, b; p(l/2) b; }
gate cu1(l) a, b { cp(l) a, b; }
gate cphase(l) a, b { cp(l) a, b; }
gate cswap a, b, c { cx c, b; ccx a, b, c; cx c, b; }
"""
_TOKEN = re.compile(r"""(?P<ws>\s+)|(?P<com>//[^\n]*|/\*.*?\*/)
    |(?P<num>(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)|(?P<str>"[^"\n]*")|(?P<id>[^\W\d]\w*)
    |(?P<op>\*\*|->|==|[;,()\[\]{}+\-*/^@:=])|(?P<bad>.)""", re.X | re.S)
_UNSUPPORTED = {"opaque", "reset", "if", "for", "while", "def", "const", "let", "ctrl", "negctrl",
                "inv", "pow", "delay", "box", "defcal", "cal", "return", "float", "int", "angle"}
_DECLS = ("qreg", "creg", "qubit", "bit", "input")

Tok = tuple[str, str, int]  # kind, text, line


def _err(line: int, msg: str) -> QASMError:
    return QASMError(f"line {line}: {msg}")


def _tokenize(text: str) -> list[Tok]:
    toks: list[Tok] = []
    line = 1
    for m in _TOKEN.finditer(text):
        if m.lastgroup == "bad":
            raise _err(line, f"unexpected character {m.group()!r}")
        if m.lastgroup in ("num", "str", "id", "op"):
            toks.append((m.lastgroup, m.group(), line))
        line += m.group().count("\n")
    toks.append(("eof", "end of input", line))
    return toks


def _div(a: Expr, b: Expr) -> Expr:
    return Const(a.value / b.value) if isinstance(a, Const) and isinstance(b, Const) else a / b


def _pow(a: Expr, b: Expr) -> Expr:
    if not isinstance(b, Const):
        raise ValueError("exponents must be constant")
    return Const(math.pow(a.value, b.value)) if isinstance(a, Const) else Pow(a, b.value)


_BINARY: dict[str, Callable[[Expr, Expr], Expr]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": _div, "**": _pow}


@dataclass
class _GateDef:
    name: str
    params: tuple[str, ...]
    qubits: tuple[str, ...]
    body: list[tuple[Target, list[Any], list[str], int]] = field(default_factory=list)


Target = str | _GateDef  # canonical gate name, or a definition to expand


class _Parser:
    """Recursive descent over the token list; collects operations while it goes."""

    def __init__(self, text: str, defs: dict[str, _GateDef] | None = None) -> None:
        self.toks, self.i = _tokenize(text), 0
        self.defs: dict[str, _GateDef] = dict(defs or {})
        self.user_defs: set[str] = set()
        self.regs: dict[str, tuple[int, int]] = {}  # name -> (offset, size)
        self.cregs: set[str] = set()
        self.inputs: dict[str, int] = {}
        self.n_qubits = 0
        self.ops: list[Operation] = []
        self.measured: set[int] = set()

    # -- tokens
    def peek(self) -> Tok:
        return self.toks[self.i]

    def next(self) -> Tok:
        tok = self.toks[self.i]
        self.i = min(self.i + 1, len(self.toks) - 1)
        return tok

    def accept(self, text: str) -> bool:
        kind, word, _ = self.peek()
        if word == text and kind != "str":
            self.next()
        return word == text and kind != "str"

    def expect(self, *texts: str) -> int:
        for text in texts:
            kind, word, line = self.next()
            if word != text or kind == "str":
                raise _err(line, f"expected {text!r}, got {word!r}")
        return line

    def ident(self) -> str:
        kind, word, line = self.next()
        if kind != "id":
            raise _err(line, f"expected a name, got {word!r}")
        return word

    def integer(self) -> int:
        kind, word, line = self.next()
        if kind != "num" or not word.isdigit():
            raise _err(line, f"expected a non-negative integer, got {word!r}")
        return int(word)

    def index(self) -> int:
        """``[n]``."""
        self.expect("[")
        n = self.integer()
        self.expect("]")
        return n

    def names(self, close: str) -> tuple[str, ...]:
        out = [self.ident()] if self.peek()[1] != close else []
        while self.accept(","):
            out.append(self.ident())
        return tuple(out)

    def skip_statement(self) -> None:
        while self.peek()[1] != ";" and self.peek()[0] != "eof":
            self.next()
        self.expect(";")

    # -- expressions -> AST tuples: ('num', v) ('id', name, line) ('idx', name, i, line)
    #    ('neg', a) ('call', f, a, line) ('bin', op, a, b, line)
    def expr(self) -> Any:
        node = self.term()
        while self.peek()[1] in ("+", "-"):
            _, op, line = self.next()
            node = ("bin", op, node, self.term(), line)
        return node

    def term(self) -> Any:
        node = self.unary()
        while self.peek()[1] in ("*", "/"):
            _, op, line = self.next()
            node = ("bin", op, node, self.unary(), line)
        return node

    def unary(self) -> Any:
        if self.accept("-"):
            return ("neg", self.unary())
        if self.accept("+"):
            return self.unary()
        node = self.atom()
        if self.peek()[1] in ("**", "^"):
            line = self.next()[2]
            node = ("bin", "**", node, self.unary(), line)
        return node

    def atom(self) -> Any:
        kind, word, line = self.next()
        if kind == "num":
            if not math.isfinite(float(word)):
                raise _err(line, f"number {word} is out of range")
            return ("num", float(word))
        if kind == "op" and word == "(":
            node = self.expr()
            self.expect(")")
            return node
        if kind != "id":
            raise _err(line, f"expected an expression, got {word!r}")
        if word in _FUNC_IN and self.accept("("):
            node = ("call", _FUNC_IN[word], self.expr(), line)
            self.expect(")")
            return node
        if word in _CONSTS:
            return ("num", _CONSTS[word])
        if self.peek()[1] == "[":
            return ("idx", word, self.index(), line)
        return ("id", word, line)

    def eval(self, node: Any, env: dict[str, Expr] | None) -> Expr:
        """The Expr of an AST; ``env`` maps gate parameters (None at top level)."""
        tag = node[0]
        if tag == "num":
            return Const(node[1])
        if tag == "id":
            if env is None or node[1] not in env:
                raise _err(node[2], f"undefined name {node[1]!r} in expression")
            return env[node[1]]
        if tag == "idx":
            _, name, i, line = node
            if name not in self.inputs or env is not None:
                raise _err(line, f"{name!r} is not a declared input array; declare it with "
                                 f"'input array[float[64], N] {name};'")
            if i >= self.inputs[name]:
                raise _err(line, f"index {i} out of range for input array "
                                 f"{name}[{self.inputs[name]}]")
            return Symbol(name, i)
        if tag == "neg":
            return -self.eval(node[1], env)
        if tag == "call":
            return Func(node[1], self.eval(node[2], env))
        _, op, a, b, line = node
        left, right = self.eval(a, env), self.eval(b, env)
        try:
            return _BINARY[op](left, right)
        except (CircuitError, ArithmeticError, ValueError) as exc:
            raise _err(line, f"invalid expression: {exc}") from None

    # -- statements
    def program(self) -> None:
        while self.peek()[0] != "eof":
            self.statement()

    def statement(self) -> None:
        kind, word, line = self.peek()
        if kind != "id":
            raise _err(line, f"expected a statement, got {word!r}")
        if word == "OPENQASM":
            self.next()
            version = self.next()[1]
            if version.split(".")[0] not in ("2", "3"):
                raise _err(line, f"unsupported OpenQASM version {version!r}")
            self.expect(";")
        elif word == "include":
            self.next()
            if self.next()[0] != "str":
                raise _err(line, "include needs a file name in quotes")
            self.expect(";")
        elif word in _DECLS:
            self.declare()
        elif word == "gate":
            self.gate_def()
        elif word in ("barrier", "gphase"):
            self.skip_statement()
        elif word == "measure" or word in self.cregs:
            while not self.accept("measure"):  # c = measure q; / c[0] = measure q[0];
                if self.next()[1] == ";":
                    raise _err(line, "expected 'measure' in assignment")
            self.measured.update(self.qarg())
            self.skip_statement()
        elif word in _UNSUPPORTED:
            raise _err(line, f"unsupported statement {word!r}")
        else:
            self.application()

    def declare(self) -> None:
        word, line = self.next()[1:]
        if word == "input":
            if not self.accept("array"):
                raise _err(line, "only 'input array[float[64], N] theta;' (weights) and '... x;' "
                                 "(inputs) are supported")
            self.expect("[", "float")
            if self.peek()[1] == "[":
                self.index()
            self.expect(",")
            size = self.integer()
            self.expect("]")
        elif word in ("qreg", "creg"):
            name = self.ident()
            size = self.index()
        else:
            size = self.index() if self.peek()[1] == "[" else 1
        if word in ("input", "qubit", "bit"):
            name = self.ident()
        self.expect(";")
        if name in self.regs or name in self.cregs or name in self.inputs:
            raise _err(line, f"{name!r} is already declared")
        if word == "input":
            if name not in ("theta", "x"):
                raise _err(line, f"input arrays must be named 'theta' (weights) or 'x' "
                                 f"(inputs), got {name!r}")
            self.inputs[name] = size
        elif word in ("creg", "bit"):
            self.cregs.add(name)
        elif size < 1:
            raise _err(line, f"register {name!r} must have at least one qubit")
        else:
            self.regs[name] = (self.n_qubits, size)
            self.n_qubits += size

    def gate_def(self) -> None:
        line = self.expect("gate")
        name = self.ident()
        params: tuple[str, ...] = ()
        if self.accept("("):
            params = self.names(")")
            self.expect(")")
        qubits = self.names("{")
        self.expect("{")
        if not qubits or len(set(qubits)) != len(qubits):
            raise _err(line, f"gate {name!r} needs distinct qubit arguments")
        if name in self.user_defs:
            raise _err(line, f"gate {name!r} is already defined")
        gdef = _GateDef(name, params, qubits)
        while not self.accept("}"):
            kind, word, bline = self.peek()
            if kind == "eof":
                raise _err(line, f"gate {name!r} body is not closed with '}}'")
            if word in ("barrier", "gphase"):
                self.skip_statement()
                continue
            target, args = self.lookup(self.ident(), bline), self.call_args()
            qargs = list(self.names(";"))
            self.expect(";")
            for q in qargs:
                if q not in qubits:
                    raise _err(bline, f"{q!r} is not a qubit argument of {name!r}")
            self.check_arity(word, target, len(args), len(qargs), bline)
            for a in args:
                _check_names(a, params)
            gdef.body.append((target, args, qargs, bline))
        self.defs[name] = gdef
        self.user_defs.add(name)

    def lookup(self, name: str, line: int) -> Target:
        """Our gate for a known name (also when the file defines it with our signature)."""
        gdef = self.defs.get(name)
        if name in _NATIVE:
            spec = GATES[_NATIVE[name]]
            if gdef is None or (len(gdef.params), len(gdef.qubits)) == (
                    spec.num_params, spec.num_wires):
                return _NATIVE[name]
        if gdef is None:
            raise _err(line, f"unknown gate {name!r}")
        return gdef

    @staticmethod
    def check_arity(name: str, target: Target, n_args: int, n_q: int, line: int) -> None:
        if isinstance(target, str):
            want_p, want_q = GATES[target].num_params, GATES[target].num_wires
        else:
            want_p, want_q = len(target.params), len(target.qubits)
        if n_args != want_p:
            raise _err(line, f"gate {name!r} takes {want_p} parameter(s), got {n_args}")
        if n_q != want_q:
            raise _err(line, f"gate {name!r} acts on {want_q} qubit(s), got {n_q}")

    def call_args(self) -> list[Any]:
        if not self.accept("("):
            return []
        args = [self.expr()] if self.peek()[1] != ")" else []
        while self.accept(","):
            args.append(self.expr())
        self.expect(")")
        return args

    def qarg(self) -> list[int]:
        line = self.peek()[2]
        name = self.ident()
        if name not in self.regs:
            raise _err(line, f"undefined quantum register {name!r}")
        off, size = self.regs[name]
        if self.peek()[1] != "[":
            return list(range(off, off + size))
        i = self.index()
        if i >= size:
            raise _err(line, f"index {i} out of range for register {name}[{size}]")
        return [off + i]

    def application(self) -> None:
        line = self.peek()[2]
        name = self.ident()
        target = self.lookup(name, line)
        args = [self.eval(a, None) for a in self.call_args()]
        qargs = [self.qarg()]
        while self.accept(","):
            qargs.append(self.qarg())
        self.expect(";")
        self.check_arity(name, target, len(args), len(qargs), line)
        sizes = {len(q) for q in qargs if len(q) > 1}  # whole registers broadcast
        if len(sizes) > 1:
            raise _err(line, "registers of different sizes in one gate call")
        for k in range(sizes.pop() if sizes else 1):
            self.apply(target, args, [q[k] if len(q) > 1 else q[0] for q in qargs], line)

    def apply(self, target: Target, args: list[Expr], wires: list[int], line: int) -> None:
        if isinstance(target, _GateDef):
            if len(set(wires)) != len(wires):
                raise _err(line, f"gate {target.name!r} applied to repeated qubits")
            env = dict(zip(target.params, args, strict=True))
            qmap = dict(zip(target.qubits, wires, strict=True))
            for sub, sargs, sq, _ in target.body:
                self.apply(sub, [self.eval(a, env) for a in sargs], [qmap[q] for q in sq], line)
            return
        if self.measured.intersection(wires):
            raise _err(line, "gate after measurement is not supported (mid-circuit measurement)")
        try:
            self.ops.append(Operation.make(target, wires, args))
        except CircuitError as exc:
            raise _err(line, str(exc)) from None


def _check_names(node: Any, params: tuple[str, ...]) -> None:
    """Reject names in a gate-body expression that are not parameters of the gate."""
    if node[0] == "idx" or (node[0] == "id" and node[1] not in params):
        what = "input arrays cannot be used" if node[0] == "idx" else "undefined name"
        raise _err(node[-1], f"{what} {node[1]!r} in a gate body")
    for child in node[1:]:
        if isinstance(child, tuple):
            _check_names(child, params)


_PRELUDE_DEFS: dict[str, _GateDef] = {}


def from_qasm(text: str) -> Circuit:
    """Parse an OpenQASM 2 or 3 program into a :class:`Circuit`."""
    if not isinstance(text, str):
        raise QASMError(f"expected OpenQASM text, got {type(text).__name__}")
    if not _PRELUDE_DEFS:
        pre = _Parser(_PRELUDE)
        pre.program()
        _PRELUDE_DEFS.update(pre.defs)
    parser = _Parser(text, _PRELUDE_DEFS)
    try:
        parser.program()
    except RecursionError:
        raise _err(parser.peek()[2], "expression or gate definitions nested too deeply") from None
    if parser.n_qubits == 0:
        raise QASMError("the program declares no qubits (qreg q[n]; or qubit[n] q;)")
    return Circuit(parser.n_qubits, tuple(parser.ops), parser.inputs.get("theta"),
                   parser.inputs.get("x"))
