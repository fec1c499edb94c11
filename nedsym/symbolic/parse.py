"""Parse energies written as on paper.

Grammar (precedence low → high)::

    expr    := term (('+' | '-') term)*
    term    := unary (('*' | '/') unary | implicit)*      # '2u', '0.5(u-1)'
    unary   := ('-' | '+') unary | power
    power   := postfix (('^' | '**') unary)?               # right-assoc, -u^2 = -(u^2)
    postfix := atom ('[' INT ']')*
    atom    := NUMBER | NAME | NAME '(' args ')' | '(' expr ')' | '|' expr '|'

Names resolve **only** to what the user declared (coordinates, fields,
parameters), the derivative shorthand ``u_x``, ``u_xy``, ``u_xx``, the
functions listed in :data:`FUNCTIONS` and the operators ``grad``, ``div``,
``lap``, ``hessian``, ``dot``, ``norm``, ``mean``. ``E``, ``I``, ``N``,
``S``, ``beta``, ``gamma``, ``lambda`` ... are never sympy objects: they must
be declared like any other name. ``|v|`` is the Euclidean norm of a vector and
``Abs`` of a scalar. ``pi`` is π unless declared.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import sympy as sp

from nedsym.errors import NedsymError, ParseError
from nedsym.symbolic.declare import Field, Param, parameter_value
from nedsym.symbolic.declare import coords as make_coords
from nedsym.symbolic.operators import Mean, div, dot, grad, hessian, lap, norm

__all__ = ["Namespace", "parse", "FUNCTIONS", "OPERATORS"]

FUNCTIONS = {
    "sin": sp.sin, "cos": sp.cos, "tan": sp.tan, "exp": sp.exp, "log": sp.log,
    "ln": sp.log, "sqrt": sp.sqrt, "tanh": sp.tanh, "sinh": sp.sinh, "cosh": sp.cosh,
    "atan": sp.atan, "arctan": sp.atan, "asin": sp.asin, "acos": sp.acos,
    "sech": sp.sech, "erf": sp.erf, "abs": sp.Abs,
}
OPERATORS = {"grad": grad, "div": div, "lap": lap, "laplace": lap, "hessian": hessian,
             "dot": dot, "norm": norm, "mean": Mean}

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<num>(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z_0-9]*)
  | (?P<op>\*\*|[-+*/^(),|\[\]])
""", re.VERBOSE | re.ASCII)


@dataclass
class Token:
    kind: str  # num, name, op, end
    text: str
    pos: int


def tokenize(text: str) -> list[Token]:
    toks, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise ParseError(f"unexpected character {text[pos]!r} at position {pos}",
                             text, pos, text[pos])
        if m.lastgroup != "ws":
            toks.append(Token(m.lastgroup, m.group(), pos))
        pos = m.end()
    toks.append(Token("end", "", len(text)))
    return toks


def _split_names(spec) -> list[str]:
    if spec is None:
        return []
    if isinstance(spec, str):
        return spec.replace(",", " ").split()
    return [getattr(s, "name", s) if not isinstance(s, str) else s for s in spec]


@dataclass
class Namespace:
    """The names a formula may use: coordinates, fields and parameters."""

    coords: tuple[sp.Symbol, ...]
    fields: dict[str, object] = field(default_factory=dict)
    params: dict[str, sp.Symbol] = field(default_factory=dict)

    @classmethod
    def declare(cls, coords="x", fields="u", params=None) -> Namespace:
        """Build a namespace.

        ``coords``: "x y" or symbols. ``fields``: "u v", a list of names or
        declared fields, or ``{"u": 2}`` for vector fields (name → components).
        ``params``: ``{"eps": 0.05}``, "eps=0.05 a=1", or a list of names.
        """
        X = make_coords(coords) if isinstance(coords, str) else tuple(coords)
        ns = cls(coords=X)
        if isinstance(fields, Mapping):
            items = list(fields.items())
        elif isinstance(fields, (sp.Basic, sp.MatrixBase)):
            items = [fields]
        elif isinstance(fields, str):
            items = [(n, ()) for n in _split_names(fields)]
        else:
            items = list(fields)
        for item in items:
            if isinstance(item, tuple):
                name, shape = item
                ns.fields[name] = Field(name, X, shape=shape or ())
            elif isinstance(item, str):
                ns.fields[item] = Field(item, X)
            else:  # an already-declared field
                base = item[0] if isinstance(item, sp.MatrixBase) else item
                nm = base.func.__name__
                nm = nm.rsplit("_", 1)[0] if isinstance(item, sp.MatrixBase) else nm
                ns.fields[nm] = item
        if isinstance(params, str):
            pairs = [p.split("=", 1) for p in params.replace(",", " ").split()]
            params = {p[0]: (parameter_value(p[0], p[1]) if len(p) > 1 else None)
                      for p in pairs}
        elif params is not None and not isinstance(params, Mapping):
            params = {n: None for n in _split_names(params)}
        for k, v in (params or {}).items():
            if isinstance(k, Param):
                ns.params[k.name] = k if v is None else Param(k.name, v)
            else:
                name = getattr(k, "name", k)
                ns.params[name] = Param(name, v)
        clash = ({c.name for c in X} & set(ns.fields)) | ({c.name for c in X} & set(ns.params)) \
            | (set(ns.fields) & set(ns.params))
        if clash:
            raise ParseError(f"names declared twice (coordinate/field/parameter): {sorted(clash)}")
        return ns

    def field_list(self) -> list:
        return list(self.fields.values())

    def parse(self, text: str):
        """Parse ``text`` into a sympy expression (or matrix).

        Limits (each a :class:`ParseError`, so no formula can hang nedsym): at most
        ``MAX_LENGTH`` characters and ``MAX_TOKENS`` tokens, nesting depth ``MAX_DEPTH``,
        numeric exponents of magnitude at most ``MAX_EXPONENT``, towers of at most two
        non-numeric exponents, and number literals below 1e300 in magnitude.
        """
        if not isinstance(text, str) or not text.strip():
            raise ParseError("empty formula", text or "", 0)
        if len(text) > MAX_LENGTH:
            raise ParseError(f"formula of {len(text)} characters; at most {MAX_LENGTH} are "
                             "accepted")
        return _Parser(text, self).parse()

    def describe(self) -> str:
        return (f"coordinates {[c.name for c in self.coords]}, fields {list(self.fields)}, "
                f"parameters {list(self.params)}")


#: parser limits (see Namespace.parse)
MAX_LENGTH = 4000
MAX_TOKENS = 2000
MAX_DEPTH = 60
MAX_EXPONENT = 100


class _Parser:
    def __init__(self, text: str, ns: Namespace):
        self.text, self.ns = text, ns
        self.toks = tokenize(text)
        if len(self.toks) > MAX_TOKENS:
            raise ParseError(f"formula of {len(self.toks)} tokens; at most {MAX_TOKENS} are "
                             "accepted (split it into named parts in Python)", text, 0)
        self.i = 0
        self.depth = 0
        self.coord_names = {c.name: c for c in ns.coords}

    # -- token helpers ---------------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.toks[self.i]

    def advance(self) -> Token:
        t = self.toks[self.i]
        self.i += 1
        return t

    def expect(self, text: str) -> Token:
        if self.tok.text != text:
            found = repr(self.tok.text) if self.tok.kind != "end" else "end of formula"
            raise self.error(f"expected {text!r} but found {found}", self.tok)
        return self.advance()

    def error(self, msg: str, tok: Token) -> ParseError:
        return ParseError(msg, self.text, tok.pos, tok.text)

    # -- grammar ----------------------------------------------------------------
    def parse(self):
        e = self.expr()
        if self.tok.kind != "end":
            raise self.error(f"unexpected {self.tok.text!r} at position {self.tok.pos}", self.tok)
        return e

    def expr(self):
        e = self.term()
        while self.tok.text in ("+", "-"):
            op = self.advance()
            r = self.term()
            e = self.apply(op, lambda a, b, o=op.text: a + b if o == "+" else a - b, e, r)
        return e

    def term(self):
        e = self.unary()
        while True:
            if self.tok.text in ("*", "/"):
                op = self.advance()
                r = self.unary()
                e = self.apply(op, lambda a, b, o=op.text: a * b if o == "*" else a / b, e, r)
            elif self.toks[self.i - 1].kind == "num" and (
                    self.tok.kind == "name" or self.tok.text == "("):
                op = self.tok
                r = self.unary()
                e = self.apply(op, lambda a, b: a * b, e, r)
            elif self.tok.kind in ("name", "num") or self.tok.text == "(":
                prev = self.toks[self.i - 1]
                raise self.error(
                    f"missing operator between {prev.text!r} and {self.tok.text!r} at position "
                    f"{self.tok.pos} (write {prev.text}*{self.tok.text})", self.tok)
            else:
                return e

    def unary(self):
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"formula nested more than {MAX_DEPTH} levels deep", self.tok)
        try:
            if self.tok.text in ("-", "+"):
                op = self.advance()
                e = self.unary()
                return self.apply(op, lambda a: -a, e) if op.text == "-" else e
            return self.power()
        finally:
            self.depth -= 1

    def power(self):
        base = self.postfix()
        if self.tok.text in ("^", "**"):
            op = self.advance()
            exp = self.unary()
            if isinstance(base, sp.MatrixBase) or isinstance(exp, sp.MatrixBase):
                raise self.error("a power of a vector (e.g. grad(u)); write |grad(u)|^2 or "
                                 "dot(grad(u), grad(u))", op)
            if isinstance(exp, sp.Expr) and exp.is_number:
                if exp.is_finite is False or abs(complex(exp)) > MAX_EXPONENT:
                    raise self.error(f"exponent {exp} is larger than {MAX_EXPONENT} in "
                                     "magnitude", op)
            elif isinstance(exp, sp.Expr) and any(not q.exp.is_number
                                                  for q in exp.atoms(sp.Pow)):
                raise self.error("a tower of more than two non-numeric exponents", op)
            return self.apply(op, lambda a, b: a ** b, base, exp)
        return base

    def postfix(self):
        e = self.atom()
        while self.tok.text == "[":
            lb = self.advance()
            idx = self.advance()
            if idx.kind != "num" or not idx.text.isdigit():
                raise self.error("an index must be a non-negative integer", idx)
            self.expect("]")
            if not isinstance(e, sp.MatrixBase) or int(idx.text) >= len(e):
                raise self.error(f"index {idx.text} is out of range or applied to a scalar", lb)
            e = e[int(idx.text)]
        return e

    def atom(self):
        t = self.tok
        if t.kind == "num":
            self.advance()
            if len(t.text) > 100 or not abs(float(t.text)) < 1e300:
                raise self.error(f"number {t.text[:20]}{'...' if len(t.text) > 20 else ''} is "
                                 "too large (at most 100 characters and below 1e300)", t)
            return sp.Rational(t.text) if ("." in t.text or "e" in t.text.lower()) \
                else sp.Integer(t.text)
        if t.text == "(":
            self.advance()
            e = self.expr()
            self.expect(")")
            return e
        if t.text == "|":
            self.advance()
            e = self.expr()
            self.expect("|")
            return self.apply(t, norm, e)
        if t.kind == "name":
            self.advance()
            if self.tok.text == "(":
                return self.call(t)
            return self.name(t)
        if t.kind == "end":
            raise self.error("the formula ends where an operand was expected", t)
        raise self.error(f"unexpected {t.text!r} at position {t.pos}", t)

    def call(self, t: Token):
        fn = FUNCTIONS.get(t.text) or OPERATORS.get(t.text)
        if fn is None or t.text in self.ns.fields or t.text in self.ns.params:
            raise self.error(
                f"unknown function {t.text!r} at position {t.pos}; known: "
                f"{sorted(FUNCTIONS) + sorted(OPERATORS)}", t)
        self.expect("(")
        args = [self.expr()]
        while self.tok.text == ",":
            self.advance()
            args.append(self.expr())
        self.expect(")")
        return self.apply(t, fn, *args)

    def name(self, t: Token):
        n = t.text
        if n in self.coord_names:
            return self.coord_names[n]
        if n in self.ns.fields:
            return self.ns.fields[n]
        if n in self.ns.params:
            return self.ns.params[n]
        deriv = self.derivative_shorthand(n)
        if deriv is not None:
            return deriv
        if n == "pi":
            return sp.pi
        raise self.error(
            f"unknown name {n!r} at position {t.pos}; declared: {self.ns.describe()}. "
            f"Declare it, e.g. params={{'{n}': value}}", t)

    def derivative_shorthand(self, n: str):
        """``u_x`` → ∂u/∂x, ``u_xy`` → ∂²u/∂x∂y (coordinate names matched greedily)."""
        if "_" not in n:
            return None
        base, _, suffix = n.rpartition("_")
        if base not in self.ns.fields or not suffix:
            return None
        names = sorted(self.coord_names, key=len, reverse=True)
        seq, rest = [], suffix
        while rest:
            for c in names:
                if rest.startswith(c):
                    seq.append(self.coord_names[c])
                    rest = rest[len(c):]
                    break
            else:
                return None
        f = self.ns.fields[base]
        if isinstance(f, sp.MatrixBase):
            return f.applyfunc(lambda c: sp.diff(c, *seq))
        return sp.diff(f, *seq)

    def apply(self, tok: Token, fn, *args):
        """Apply an operation, turning sympy/shape errors into a positioned ParseError."""
        try:
            return fn(*args)
        except NedsymError as exc:
            raise self.error(f"{tok.text!r} at position {tok.pos}: {exc}", tok) from exc
        except (TypeError, ValueError, AttributeError, sp.SympifyError,
                sp.matrices.ShapeError) as exc:
            raise self.error(
                f"cannot apply {tok.text!r} at position {tok.pos} to these operands "
                f"({type(exc).__name__}: {exc})", tok) from exc


def parse(text: str, coords="x", fields="u", params=None):
    """Parse a formula into a sympy expression (see module docstring).

    Example
    -------
    >>> parse("eps^2/2*|grad(u)|^2 + (u^2-1)^2/4", "x y", "u", {"eps": 0.05})
    eps**2*(Derivative(u(x, y), x)**2 + Derivative(u(x, y), y)**2)/2 + (u(x, y)**2 - 1)**2/4
    """
    return Namespace.declare(coords, fields, params).parse(text)
