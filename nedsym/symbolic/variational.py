r"""The variational derivative (Euler–Lagrange operator) and natural boundary terms.

For :math:`E[u] = \int_\Omega L(x, u, D u, D^2 u, \dots)\,dx`,

.. math::
    \frac{\delta E}{\delta u} = \sum_\alpha (-D)^\alpha
        \frac{\partial L}{\partial (D^\alpha u)},

where :math:`D^\alpha` runs over every derivative of ``u`` that occurs in
``L`` and :math:`D` is the *total* derivative (chain rule through every field
and explicit coordinate dependence). This is the left-hand side of the
Euler–Lagrange equation ``= 0`` in the convention of
``sympy.calculus.euler.euler_equations``. The work is done once, on the
symbolic density: its cost does not depend on any grid.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import permutations

import sympy as sp
from sympy.core.function import AppliedUndef

from nedsym.errors import FieldError, NonDifferentiableError
from nedsym.symbolic.declare import field_name, fields_in, is_field
from nedsym.symbolic.printing import compact_str

__all__ = [
    "variational_derivative",
    "natural_boundary_terms",
    "NaturalBC",
    "jet",
    "check_differentiable",
    "tidy",
]

#: sympy heads whose derivative is undefined somewhere; the density must be smoothed.
_NONSMOOTH = (sp.Abs, sp.sign, sp.Heaviside, sp.Max, sp.Min, sp.floor, sp.ceiling,
              sp.Piecewise, sp.Mod, sp.frac, sp.re, sp.im)

_SMOOTHING_HINT = {
    "Abs": "replace |s| by sqrt(s**2 + delta**2) with a small parameter delta",
    "Max": "replace Max(a, b) by a smooth maximum, e.g. (a + b + sqrt((a - b)**2 + delta**2))/2",
    "Min": "replace Min(a, b) by (a + b - sqrt((a - b)**2 + delta**2))/2",
    "sign": "replace sign(s) by s/sqrt(s**2 + delta**2)",
    "Heaviside": "replace Heaviside(s) by (1 + tanh(s/delta))/2",
}


def check_differentiable(density, where: str = "density") -> None:
    """Raise :class:`NonDifferentiableError` if ``density`` contains a non-smooth head."""
    for head in _NONSMOOTH:
        found = sp.sympify(density).atoms(head)
        if found:
            term = sorted(found, key=sp.default_sort_key)[0]
            name = head.__name__
            hint = _SMOOTHING_HINT.get(name, "replace it by a smooth approximation")
            raise NonDifferentiableError(
                f"the {where} contains the non-differentiable term {term} ({name}); "
                f"its variational derivative is undefined where the argument vanishes: {hint}")


def jet(density, u: AppliedUndef) -> dict[tuple[sp.Symbol, ...], sp.Expr]:
    """Every occurrence of ``u`` and its derivatives in ``density``.

    Returns ``{multi_index: occurrence}`` where the multi-index is the sorted
    tuple of differentiation variables with repetition, e.g.
    ``(x, x, y) -> Derivative(u, (x, 2), y)`` and ``() -> u``.
    """
    out: dict[tuple[sp.Symbol, ...], sp.Expr] = {}
    density = sp.sympify(density)
    for d in density.atoms(sp.Derivative):
        if d.expr == u:
            idx: list[sp.Symbol] = []
            for var, count in d.variable_count:
                idx.extend([var] * int(count))
            out[tuple(sorted(idx, key=sp.default_sort_key))] = d
        elif d.expr.has(u):
            raise FieldError(
                f"unevaluated derivative {d} of an expression containing {u}; "
                "expand it (call .doit()) so derivatives act on fields directly")
    if density.has(u):
        out[()] = u
    return out


def _partials(density, u: AppliedUndef):
    """Yield (multi_index, dL/d(D^alpha u)) for every occurrence of u."""
    occ = jet(density, u)
    dummies = {o: sp.Dummy(f"d{len(k)}") for k, o in occ.items()}
    L = sp.sympify(density).xreplace(dummies)
    if L.has(u):  # u left inside something xreplace cannot reach
        raise FieldError(f"cannot isolate {u} in the density {density}")
    back = {d: o for o, d in dummies.items()}
    for k, o in occ.items():
        yield k, sp.diff(L, dummies[o]).xreplace(back)


def _field_args(u, coords):
    if not is_field(u):
        raise FieldError(
            f"{u!r} is not a scalar field; declare it with nedsym.Field('u', (x, y)) "
            "(for a vector field, pass one component or use Energy.variational_derivative)")
    if coords is not None:
        missing = [c for c in u.args if c not in tuple(coords)]
        if missing:
            from nedsym.errors import CoordinateError
            raise CoordinateError(
                f"field {field_name(u)} depends on {missing}, which are not among the "
                f"coordinates {tuple(coords)}")


def variational_derivative(density, u: AppliedUndef,
                           coords: Sequence[sp.Symbol] | None = None,
                           simplify: bool = True) -> sp.Expr:
    r"""The variational derivative :math:`\delta E/\delta u` of
    :math:`E = \int L\,dx`.

    Works for any derivative order, several fields (also with different
    argument lists: the total derivatives run over ``u``'s own arguments and
    the result is the integrand over the remaining coordinates), explicit
    coordinate dependence and parameters.

    Example
    -------
    >>> from nedsym import Field, coords
    >>> x = coords("x")[0]; u = Field("u", (x,))
    >>> variational_derivative(u.diff(x)**2/2 + u**4/4, u)
    u(x)**3 - Derivative(u(x), (x, 2))
    """
    density = sp.sympify(density)
    _field_args(u, coords)
    check_differentiable(density)
    if not density.has(u):
        present = ", ".join(sorted(field_name(f) for f in fields_in(density))) or "none"
        raise FieldError(
            f"field {field_name(u)} does not occur in the density {density} "
            f"(fields present: {present})")
    result = _local_derivative(density, u) + _mean_terms(density, u, coords)
    return tidy(result) if simplify else result


def _local_derivative(density, u) -> sp.Expr:
    """The Euler–Lagrange expression with every spatial mean held fixed."""
    terms = []
    for k, P in _partials(density, u):
        terms.append((-1) ** len(k) * (sp.diff(P, *k) if k else P))
    return sp.Add(*terms)


def _mean_terms(density, u, coords) -> sp.Expr:
    r"""What the spatial means in ``density`` add to :math:`\delta E/\delta u`.

    For :math:`m = \langle g\rangle = |\Omega|^{-1}\int g\,dx` the first variation of
    :math:`\int L(\dots, m)\,dx` gains :math:`\int \partial_m L\,dx\;\delta m`, so
    :math:`\delta E/\delta u` gains
    :math:`\langle\partial_m L\rangle\,\delta\langle g\rangle/\delta u\cdot|\Omega| =
    \langle \partial_m L\rangle\,\delta G/\delta u` with :math:`G = \int g\,dx`
    (recursively, for means inside means). Example: :math:`L = u\langle u\rangle` gives
    :math:`2\langle u\rangle`."""
    from nedsym.symbolic.operators import Mean

    means = [m for m in density.atoms(Mean) if m.has(u)]
    if not means:
        return sp.S.Zero
    dummies = {m: sp.Dummy("m") for m in means}
    back = {d: m for m, d in dummies.items()}
    held = density.xreplace(dummies)
    extra = []
    for m, d in dummies.items():
        weight = Mean(sp.diff(held, d).xreplace(back))
        extra.append(weight * variational_derivative(m.args[0], u, coords, simplify=False))
    return sp.Add(*extra)


@dataclass
class NaturalBC:
    r"""Boundary terms of the first variation of :math:`E` in direction ``v``.

    .. math::
        \delta E[u; v] = \int_\Omega \frac{\delta E}{\delta u} v\,dx
          + \oint_{\partial\Omega} \sum_\beta B_\beta\, D^\beta v\,ds .

    ``terms[beta]`` is :math:`B_\beta` (an expression in the outward normal
    ``normal``); ``beta = ()`` multiplies ``v`` itself. The natural boundary
    conditions of a free boundary are :math:`B_\beta = 0` for every ``beta``.
    Mixed orders are symmetrized over the order of integration by parts.
    """

    field: AppliedUndef
    normal: tuple[sp.Symbol, ...]
    terms: dict[tuple[sp.Symbol, ...], sp.Expr] = field(default_factory=dict)

    def conditions(self) -> list[sp.Expr]:
        """The natural boundary conditions, each ``expr = 0`` on the boundary."""
        return [e for e in self.terms.values() if e != 0]

    def flux(self) -> sp.Expr:
        """The coefficient of ``v`` itself (the flux term)."""
        return self.terms.get((), sp.S.Zero)

    def pretty(self) -> str:
        name = field_name(self.field)
        lines = []
        for k, e in self.terms.items():
            label = "δ" + name if not k else "∂" + "".join(str(s) for s in k) + " δ" + name
            lines.append(f"  [{label}]:  {compact_str(e)} = 0")
        return "\n".join(lines) if lines else "  (no boundary terms)"

    def __repr__(self) -> str:
        return f"NaturalBC({field_name(self.field)}):\n{self.pretty()}"


def normal_symbols(coords: Sequence[sp.Symbol]) -> tuple[sp.Symbol, ...]:
    """Outward unit normal components ``n_x, n_y, ...``."""
    return tuple(sp.Symbol(f"n_{c}", real=True) for c in coords)


def natural_boundary_terms(density, u: AppliedUndef, coords: Sequence[sp.Symbol],
                           boundary_density=None, simplify: bool = True) -> NaturalBC:
    r"""Natural boundary terms of :math:`\int L\,dx + \oint B\,ds` for field ``u``.

    Integrating :math:`\int P\, D_{a_1}\cdots D_{a_k} v` by parts one
    derivative at a time leaves
    :math:`\sum_{m<k} (-1)^m \oint (D_{a_1..a_m} P)\, n_{a_{m+1}}\, D_{a_{m+2}..a_k} v`;
    the result is averaged over the distinct orders of :math:`(a_1..a_k)`.
    A boundary energy density ``B`` contributes :math:`\partial B/\partial(D^\beta u)`.
    """
    coords = tuple(coords)
    _field_args(u, coords)
    n = normal_symbols(coords)
    nidx = {c: n[i] for i, c in enumerate(coords)}
    out: dict[tuple, sp.Expr] = {}

    def add(key, expr):
        key = tuple(sorted(key, key=sp.default_sort_key))
        out[key] = out.get(key, sp.S.Zero) + expr

    density = sp.sympify(density)
    if density.has(u):
        check_differentiable(density)
        for k, P in _partials(density, u):
            if not k:
                continue
            orders = sorted(set(permutations(k)), key=lambda t: [str(s) for s in t])
            w = sp.Rational(1, len(orders))
            for a in orders:
                for m in range(len(a)):
                    DP = sp.diff(P, *a[:m]) if m else P
                    add(a[m + 1:], w * (-1) ** m * DP * nidx[a[m]])
    if boundary_density is not None and sp.sympify(boundary_density).has(u):
        check_differentiable(boundary_density, where="boundary density")
        for k, P in _partials(boundary_density, u):
            add(k, P)
    if simplify:
        out = {k: tidy(e) for k, e in out.items()}
    out = {k: e for k, e in out.items() if e != 0}
    return NaturalBC(field=u, normal=n, terms=out)


def tidy(expr: sp.Expr) -> sp.Expr:
    """Cheap, predictable simplification of a derived expression.

    Fields and their derivatives are frozen into symbols first, so the work
    never differentiates or touches function internals. Polynomial results are
    expanded and collected by derivative; rational/algebraic ones are put over
    a common denominator (``together``) with common factors pulled out.
    Nothing here calls ``simplify``: the cost stays proportional to the
    expression's size.
    """
    expr = sp.sympify(expr)
    derivs = sorted((a for a in expr.atoms(sp.Derivative) if is_field(a.expr)),
                    key=lambda a: (-a.derivative_count, sp.default_sort_key(a)))
    atoms = derivs + sorted(expr.atoms(AppliedUndef), key=sp.default_sort_key)
    if not atoms:
        return sp.factor_terms(sp.expand(expr)) if expr.is_polynomial() else expr
    frozen = {a: sp.Dummy() for a in atoms}
    back = {d: a for a, d in frozen.items()}
    gens = [frozen[a] for a in atoms]
    e = expr.xreplace(frozen)
    if e.is_polynomial(*gens):
        e = _collect_polynomial(e, gens)
    else:
        num, den = sp.fraction(sp.together(e))
        if num.is_polynomial(*gens):
            num = _collect_polynomial(num, gens)
        e = num / sp.factor_terms(den)
    return e.xreplace(back)


def _collect_polynomial(e: sp.Expr, gens: list[sp.Symbol]) -> sp.Expr:
    """Expand, then group terms by the highest derivative they contain."""
    return sp.collect(sp.expand(e), gens, func=sp.factor_terms)
