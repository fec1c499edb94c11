"""Compact notation for derived expressions: ``u_xx`` instead of ``Derivative(u(x, y), (x, 2))``."""

from __future__ import annotations

import sympy as sp
from sympy.core.function import AppliedUndef

from nedsym.symbolic.declare import is_field

__all__ = ["compact", "compact_str", "compact_latex"]


def _subscript(d: sp.Derivative) -> str:
    return "".join(str(v) * int(n) for v, n in d.variable_count)


def compact(expr, latex: bool = False):
    """Replace fields by plain symbols and derivatives by subscripted symbols."""
    expr = sp.sympify(expr)
    repl = {}
    for d in expr.atoms(sp.Derivative):
        if is_field(d.expr):
            name = d.expr.func.__name__
            sub = _subscript(d)
            repl[d] = sp.Symbol(f"{name}_{{{sub}}}" if latex else f"{name}_{sub}")
    for f in expr.atoms(AppliedUndef):
        if is_field(f):
            repl[f] = sp.Symbol(f.func.__name__)
    return expr.xreplace(repl)


def compact_str(expr) -> str:
    """Compact plain-text rendering, e.g. ``-eps**2*u_xx + u**3 - u``."""
    return sp.sstr(compact(expr))


def compact_latex(expr) -> str:
    """Compact LaTeX rendering, e.g. ``- eps^{2} u_{xx} + u^{3} - u``."""
    return sp.latex(compact(expr, latex=True))
