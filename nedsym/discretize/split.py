r"""The convex/concave split of a gradient flow's pointwise nonlinearity (Eyre's scheme).

:math:`\mu = \mathcal{L}u + \mu_{nl}(u)` with :math:`\mathcal{L}` the constant-coefficient
linear part (what the spectral steppers solve) and :math:`\mu_{nl} = F'(u)` pointwise. The
split :math:`F' = F_c' - F_e'` puts each additive term :math:`g` of :math:`F''` (after
expansion, parameters at their values) on the convex side when :math:`g \ge 0` for every
real :math:`u` and on the concave side when :math:`g \le 0`; a term of either sign (or one
sympy cannot decide) is refused, naming it, unless the user gives the convex part.

Example
-------
>>> import nedsym as ns
>>> E = ns.Energy.parse("eps^2/2*|grad(u)|^2 + (u^2-1)^2/4", coords="x y",
...                     params={"eps": 0.02})
>>> split = pointwise_split(ns.GradientFlow(E, metric="H-1"))
>>> {name: [str(e) for e in parts] for name, parts in split.items()}
{'u': ['u(x, y)**3', '0']}
"""

from __future__ import annotations

import sympy as sp

from nedsym.discretize.lower import _Lowerer, linear_part
from nedsym.errors import DiscretizationError
from nedsym.symbolic.declare import field_name

__all__ = ["lower_pointwise", "pointwise_split"]


def _pointwise(expr, comp, fields, what: str) -> None:
    bad = [d for d in expr.atoms(sp.Derivative)]
    others = [f for f in fields if f != comp and expr.has(f)]
    if bad or others or expr.xreplace({comp: sp.Dummy()}).free_symbols & set(comp.args):
        raise DiscretizationError(
            f"convex-split needs the nonlinear part of the potential of field "
            f"{field_name(comp)!r} to be a function of that field alone; {what} is "
            f"{expr} (use 'sav' for nonlinear gradient terms or coupled fields)")


def _nonnegative(g, s) -> bool:
    """``g(s) >= 0`` for every real ``s``, shown by sympy or, for a polynomial, from its
    values at the real critical points (and its leading term)."""
    g = sp.expand(g)
    if g.is_nonnegative or g.is_zero:
        return True
    if g.free_symbols - {s}:
        return False
    try:
        poly = sp.Poly(g, s)
    except sp.PolynomialError:
        return False
    deg = poly.degree()
    if deg <= 0:
        return bool(poly.LC() >= 0) if deg == 0 else True
    if deg % 2 or poly.LC() < 0:
        return False
    crit = [r for r in sp.Poly(sp.diff(g, s), s).nroots(n=30) if abs(sp.im(r)) < 1e-20]
    return all(float(g.subs(s, sp.re(r))) >= -1e-14 for r in crit)


def pointwise_split(flow, params: dict | None = None, convex: dict | None = None) -> dict:
    r"""``{field name: (F_c', F_e')}`` with :math:`\mu_{nl} = F_c' - F_e'`, both sides
    monotone (sympy expressions in the field; parameters kept as symbols).

    ``convex``: ``{field name: F_c'}`` given by the user (a sympy expression in the field);
    then :math:`F_e' = F_c' - \mu_{nl}` and both derivatives' signs are still checked.
    """
    E = flow.energy
    pvals = E.param_values(**(params or {}))
    sub = {s: sp.Float(v) for s, v in pvals.items()}
    convex = dict(convex or {})
    unknown = set(convex) - {field_name(c) for c in flow.fields}
    if unknown:
        raise DiscretizationError(f"convex part given for unknown field(s) {sorted(unknown)}; "
                                  f"fields: {[field_name(c) for c in flow.fields]}")
    s = sp.Symbol("s_", real=True)
    out = {}
    for c in flow.fields:
        name = field_name(c)
        mu = sp.expand(flow.potentials[c])
        lin = linear_part(mu, c, E.coords, pvals)
        jet = sp.Add(*[v * (sp.diff(c, *[x for x, m in zip(E.coords, k, strict=True)
                                           for _ in range(m)]) if any(k) else c)
                       for k, v in lin.items()])
        nl = sp.expand(mu - jet)
        _pointwise(nl, c, flow.fields, "it")
        if name in convex:
            fc = sp.sympify(convex[name])
            _pointwise(fc, c, flow.fields, "the convex part given")
            fe = sp.expand(fc - nl)
            for part, label in ((fc, "convex"), (fe, "concave")):
                g = sp.simplify(sp.diff(part, c).xreplace(sub).xreplace({c: s}))
                if not _nonnegative(g, s):
                    raise DiscretizationError(
                        f"the {label} side of the split given for field {name!r} has second "
                        f"derivative {g} (with u as {s}), which sympy cannot show to be >= 0 "
                        "for every u")
            out[name] = (fc, fe)
            continue
        conv, conc = [], []
        whole = sp.expand(sp.diff(nl, c))
        terms = [whole] if _nonnegative(whole.xreplace(sub).xreplace({c: s}), s) else \
            sp.Add.make_args(whole)
        for term in terms:
            g = term.xreplace(sub).xreplace({c: s})
            if _nonnegative(g, s):
                conv.append(term)
            elif _nonnegative(-g, s):
                conc.append(term)
            else:
                raise DiscretizationError(
                    f"convex-split cannot place the term {term} of F''(u) of field {name!r} "
                    "(its sign depends on u, or sympy cannot tell); give the convex part "
                    "yourself (convex_part=...), or use 'sav'")
        # integrate each side back to a first derivative (up to a constant, which F' of the
        # whole must carry: put nl's value at 0 on the convex side)
        fc = sp.integrate(sp.Add(*conv).xreplace({c: s}), s).xreplace({s: c}) if conv \
            else sp.S.Zero
        fe = -sp.integrate(sp.Add(*conc).xreplace({c: s}), s).xreplace({s: c}) if conc \
            else sp.S.Zero
        fc = sp.expand(fc + (nl - (fc - fe)).xreplace({c: 0}))
        if sp.simplify(fc - fe - nl) != 0:
            raise DiscretizationError(
                f"convex-split: could not split {nl} (field {name!r}) into monotone parts; "
                "give the convex part yourself (convex_part=...)")
        out[name] = (fc, fe)
    return out


def lower_pointwise(flow, exprs: dict, accuracy: int, params: dict | None = None) -> dict:
    """Pointwise expressions ``{field name: expr}`` lowered to the grid's cell-centre stencil
    symbols (parameters as kernel scalars, as :func:`~nedsym.discretize.lower.lower_flow`
    lowers the flow)."""
    E = flow.energy
    low = _Lowerer(E.coords, flow.fields, accuracy, staggered=False,
                   params=E.param_values(**(params or {})))
    return {name: low(sp.sympify(e)) for name, e in exprs.items()}
