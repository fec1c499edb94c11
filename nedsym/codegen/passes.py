"""Optimization passes run when a kernel IR is built (pure functions of expressions).

* :func:`optimize`: ``sympy.cse`` over all outputs together (no extra
  optimizations, ``order="none"``: linear-ish in the expression size),
* every non-atomic base of an integer power gets its own temporary, so the
  printers' ``x*x*x`` expansion never repeats a subexpression,
* loop-invariant subexpressions (scalars and means only) move out of the
  point loop; invariant factors of a product become one hoisted temporary, so
  ``A/h**2`` costs a multiplication per point, not a division.
"""

from __future__ import annotations

import sympy as sp

__all__ = ["optimize", "is_transcendental", "libm_calls"]

Assignment = tuple[sp.Symbol, sp.Expr]


def optimize(exprs, scalars, fields, means):
    """cse over all outputs, power-base temporaries, loop-invariant hoisting.

    Returns ``(invariants, pointwise assignments, results)``; see
    :class:`nedsym.codegen.ir.KernelIR`.

    Example
    -------
    >>> x, y = sp.symbols("x y", real=True)
    >>> inv, pts, res = optimize([y*(x + 1)**2], ["y"], [], [])
    >>> pts, res
    ([(tmp0, x + 1)], [tmp0**2*y])
    """
    taken = {*scalars, *fields, *(str(s) for s, _ in means)}
    taken |= {s.name for e in exprs for s in e.free_symbols if isinstance(s, sp.Symbol)}
    temps = sp.numbered_symbols("tmp", real=True, exclude=[sp.Symbol(n) for n in taken])
    temps = (s for s in temps if s.name not in taken)
    repl, reduced = sp.cse(exprs, symbols=temps, optimizations=None, order="none")
    assignments, results = _hoist_power_bases(repl, reduced, temps)
    invariant_ok = {sp.Symbol(s, real=True) for s in scalars} | {s for s, _ in means}
    invariants, pointwise = [], []
    for s, e in assignments:
        if e.free_symbols <= invariant_ok and not e.has(sp.Indexed):
            invariants.append((s, e))
            invariant_ok.add(s)
        else:
            pointwise.append((s, e))
    hoist = _InvariantHoister(invariant_ok, temps, invariants)
    pointwise = [(s, hoist(e)) for s, e in pointwise]
    results = [hoist(e) for e in results]
    return invariants, pointwise, results


class _InvariantHoister:
    """Move loop-invariant subexpressions of pointwise expressions into temporaries.

    A maximal invariant subtree, or the invariant factors (terms) of a product
    (sum), become one hoisted temporary: ``A/h0**2 -> A*tmp`` with
    ``tmp = h0**(-2)`` computed once, so no division by a constant runs per point.
    """

    def __init__(self, invariant_symbols, temps, invariants):
        self.ok, self.temps, self.invariants = invariant_symbols, temps, invariants
        self.memo: dict = {}
        self.made: dict = {}

    def invariant(self, e) -> bool:
        if e in self.memo:
            return self.memo[e]
        if isinstance(e, sp.Indexed):
            r = False
        elif isinstance(e, sp.Symbol):
            r = e in self.ok
        elif e.is_Atom:
            r = True
        else:
            r = all(self.invariant(a) for a in e.args)
        self.memo[e] = r
        return r

    def temp(self, e):
        if e.is_Atom:
            return e
        if e not in self.made:
            s = next(self.temps)
            self.made[e] = s
            self.invariants.append((s, e))
            self.ok.add(s)
        return self.made[e]

    def __call__(self, e):
        if self.invariant(e):
            return self.temp(e)
        if isinstance(e, sp.Indexed) or e.is_Atom:
            return e
        if e.is_Mul or e.is_Add:
            inv = [a for a in e.args if self.invariant(a)]
            rest = [self(a) for a in e.args if not self.invariant(a)]
            if inv and not (len(inv) == 1 and inv[0].is_Number):
                rest.append(self.temp(e.func(*inv)))
            else:
                rest += inv
            return e.func(*rest)
        args = tuple(self(a) for a in e.args)
        return e.func(*args) if args != e.args else e


def _hoist_power_bases(assignments, results, temps):
    """Give each non-atomic base of an integer power its own temporary."""
    seen: dict[sp.Expr, sp.Symbol] = {}
    out: list[Assignment] = []

    def visit(e):
        if e.is_Atom or isinstance(e, sp.Indexed):
            return e
        args = tuple(visit(a) for a in e.args)
        if args != e.args:
            e = e.func(*args)
        if (e.is_Pow and e.exp.is_Integer and abs(int(e.exp)) >= 2
                and not (e.base.is_Atom or isinstance(e.base, sp.Indexed))):
            if e.base not in seen:
                seen[e.base] = next(temps)
                out.append((seen[e.base], e.base))
            e = sp.Pow(seen[e.base], e.exp, evaluate=False)
        return e

    for s, e in assignments:
        out.append((s, visit(e)))
    return out, [visit(e) for e in results]


#: functions a compiled numba loop evaluates with one scalar libm call per element (numba
#: without Intel's SVML does not vectorize them) where NumPy's ufuncs are vectorized; cheap
#: functions (Abs, sign, Heaviside, Piecewise, Min, Max, floor, ...) compile to a few
#: instructions and are not in this list
LIBM_FUNCTIONS = (
    sp.exp, sp.log, sp.sin, sp.cos, sp.tan, sp.cot, sp.sec, sp.csc, sp.asin, sp.acos,
    sp.atan, sp.atan2, sp.sinh, sp.cosh, sp.tanh, sp.coth, sp.asinh, sp.acosh, sp.atanh,
    sp.erf, sp.erfc, sp.gamma, sp.loggamma, sp.LambertW, sp.besselj, sp.bessely,
)


def _integer_valued(e) -> bool:
    return bool(e.is_Integer or (e.is_Float and float(e).is_integer()))


def _half(e) -> bool:
    return bool(e.is_Number and abs(float(e)) == 0.5)


def libm_calls(exprs) -> set:
    """The libm functions (``LIBM_FUNCTIONS`` classes, and ``sp.Pow`` for a power with a
    fractional exponent other than ½) that ``exprs`` (one expression or several) evaluate
    per element; constants (subexpressions without free symbols) do not count.

    >>> x = sp.Symbol("x")
    >>> sorted(f.__name__ for f in libm_calls([sp.tanh(x) * sp.exp(2), x**1.5]))
    ['Pow', 'tanh']
    """
    found: set = set()

    def walk(a) -> None:
        if not isinstance(a, sp.Basic) or not a.free_symbols:
            return
        if isinstance(a, LIBM_FUNCTIONS):
            found.add(a.func)
        elif a.is_Pow and not (_integer_valued(a.exp) or _half(a.exp)):
            found.add(sp.Pow)
        for arg in a.args:
            walk(arg)

    for e in (exprs if isinstance(exprs, list | tuple) else [exprs]):
        walk(sp.sympify(e))
    return found


def is_transcendental(e) -> bool:
    """Whether ``e`` evaluates, per element, a libm function (``LIBM_FUNCTIONS``: exp, log,
    trigonometric, hyperbolic, erf, gamma, ...) or a power with a non-integer exponent other
    than a square root: what a compiled numba loop evaluates with one scalar call per element,
    where NumPy's ufuncs are vectorized.

    Not counted: subexpressions without free symbols (``sqrt(2)*x``, ``x*exp(2)``: constants,
    evaluated once), sums, products, integer powers (``x**2.0`` included), square roots
    (one instruction), and cheap functions such as ``Abs``, ``sign``, ``Heaviside``,
    ``Piecewise``, ``Min``, ``Max``, ``floor``.

    >>> x = sp.Symbol("x")
    >>> is_transcendental(sp.tanh(x)), is_transcendental(sp.Max(x, 0) * sp.exp(2))
    (True, False)
    """
    return bool(libm_calls(e))
