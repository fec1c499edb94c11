r"""Lowering a symbolic flow to stencil expressions at one generic grid point.

Everything here is symbolic work at a *generic* interior point ``(i, j, k)``:
grid values are ``Indexed(IndexedBase(field), i + a, j + b)``; the cost does
not depend on the grid size. The result, :class:`LoweredFlow`, holds plain
sympy expressions that :mod:`nedsym.codegen` turns into kernels.

Two routes to the discrete right-hand side (DESIGN §2.3):

* ``"continuous"`` (derive, then discretize): every derivative in
  :math:`\partial_t u = F[u]` becomes a central finite-difference stencil of
  the requested accuracy.
* ``"discrete"`` (discretize, then derive): the energy density becomes
  :math:`L_h(i)` (odd-order derivatives on staggered, compact stencils so that
  :math:`|\nabla u|^2` yields the compact Laplacian), the discrete energy is
  :math:`E_h = \sum_i L_h(i)\,dV`, and
  :math:`\partial E_h/\partial u_p / dV = \sum_o \partial L_h/\partial u_{i+o}\big|_{i \to p-o}`
  (the sum over the stencil's shifts). This is the exact gradient of
  :math:`E_h` on periodic grids, so explicit Euler with a small step decreases
  :math:`E_h` at every step. The metric is applied discretely in conservative
  form (L², conserved L², H⁻¹ / Wasserstein with face-averaged mobility).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from fractions import Fraction
from itertools import product

import sympy as sp
from sympy.core.function import AppliedUndef

from nedsym.codegen.ir import Mean, coordinate_symbols, index_symbols
from nedsym.discretize.stencils import central_stencil, fd_weights_exact
from nedsym.errors import DiscretizationError
from nedsym.flows.gradient import GradientFlow
from nedsym.flows.metrics import L2, ConservedL2, Hminus1
from nedsym.symbolic.declare import field_name, is_field
from nedsym.symbolic.operators import Mean as SymbolicMean

__all__ = ["LoweredFlow", "lower_flow", "index_symbols", "coordinate_symbols",
           "linear_part", "discrete_metric_rule", "GRADIENT_ROUTES"]

GRADIENT_ROUTES = ("continuous", "discrete")


@dataclass
class LoweredFlow:
    """A flow lowered to one generic grid point.

    ``rhs[f]`` is ∂t f; ``energy`` the discrete energy density (sum it and
    multiply by the cell volume); ``linear[f]`` the constant-coefficient,
    even-order linear part of the continuous right-hand side as
    ``{per-axis orders: coefficient}`` and ``nonlinear[f] = rhs[f] - linear``
    (lowered), for semi-implicit spectral stepping.
    """

    fields: tuple[str, ...]
    ndim: int
    halo: int
    rhs: dict[str, sp.Expr]
    energy: sp.Expr
    scalars: tuple[str, ...]
    params: dict[str, float]
    linear: dict[str, dict[tuple[int, ...], float]] = field(default_factory=dict)
    nonlinear: dict[str, sp.Expr] = field(default_factory=dict)
    #: the potential μ = δE/δu split as μ_lin (constant coefficients, ``{orders: coeff}``)
    #: plus μ_nl (lowered with central stencils): the pieces of the SAV schemes
    mu_linear: dict[str, dict[tuple[int, ...], float]] = field(default_factory=dict)
    mu_nonlinear: dict[str, sp.Expr] = field(default_factory=dict)
    gradient: str = "continuous"
    accuracy: int = 2
    uses_mean: bool = False


class _Lowerer:
    """Replaces fields, derivatives, coordinates and parameters at the generic point."""

    def __init__(self, coords, components, accuracy: int, staggered: bool, params=(),
                 direction: tuple[int, ...] | None = None):
        self.coords = tuple(coords)
        self.direction = direction or (1,) * len(self.coords)
        self.params = parameter_scalars(params)
        self.ndim = len(self.coords)
        self.idx = index_symbols(self.ndim)
        self.xs = coordinate_symbols(self.ndim)
        self.h = tuple(sp.Symbol(f"h{k}", positive=True) for k in range(self.ndim))
        self.bases = {c: sp.IndexedBase(field_name(c)) for c in components}
        self.accuracy = accuracy
        self.staggered = staggered

    def at(self, comp, offsets) -> sp.Indexed:
        return self.bases[comp][tuple(i + o for i, o in zip(self.idx, offsets, strict=True))]

    def _axis_stencil(self, m: int, axis: int) -> list[tuple[int, sp.Rational]]:
        if m == 0:
            return [(0, sp.Integer(1))]
        if self.staggered and m % 2 == 1:
            # even number of half-integer points about i + 1/2 (forward) or i - 1/2 (backward)
            n = m + self.accuracy - 1
            half = [Fraction(2 * q - n + 1, 2) for q in range(n)]
            w = fd_weights_exact(m, half)
            shift_ = Fraction(self.direction[axis], 2)
            return [(int(p + shift_), sp.Rational(x.numerator, x.denominator))
                    for p, x in zip(half, w, strict=True) if x != 0]
        offsets, _ = central_stencil(m, self.accuracy)
        w = fd_weights_exact(m, [int(o) for o in offsets])
        return [(int(o), sp.Rational(x.numerator, x.denominator))
                for o, x in zip(offsets, w, strict=True) if x != 0]

    def derivative(self, d: sp.Derivative) -> sp.Expr:
        orders = [0] * self.ndim
        for var, count in d.variable_count:
            if var not in self.coords:
                raise DiscretizationError(f"{d} differentiates in {var}, not a grid axis")
            orders[self.coords.index(var)] += int(count)
        terms = [((), sp.Integer(1))]
        for axis, m in enumerate(orders):
            terms = [(o + (a,), w * b) for o, w in terms for a, b in self._axis_stencil(m, axis)]
        scale = sp.Mul(*[hk ** m for hk, m in zip(self.h, orders, strict=True)])
        return sp.Add(*[w * self.at(d.expr, o) for o, w in terms]) / scale

    def __call__(self, expr) -> sp.Expr:
        expr = sp.sympify(expr)
        repl = {}
        for d in expr.atoms(sp.Derivative):
            if not is_field(d.expr) or d.expr not in self.bases:
                raise DiscretizationError(f"cannot discretize {d}: not a derivative of a field")
            repl[d] = self.derivative(d)
        for f in expr.atoms(AppliedUndef):
            if f not in self.bases:
                raise DiscretizationError(f"{f} is not a field of this flow")
            repl[f] = self.at(f, (0,) * self.ndim)
        for m in expr.atoms(SymbolicMean):
            repl[m] = Mean(self(m.args[0]))
        out = expr.xreplace(repl)
        out = out.xreplace(dict(zip(self.coords, self.xs, strict=True)))
        # parameters become plain symbols named like them (the kernel's scalar arguments)
        return out.xreplace(self.params)


def parameter_scalars(params) -> dict:
    """Parameter → kernel scalar symbol. User names never reach generated code: the k-th
    parameter (ordered by name) becomes ``_P<k>_``, a name no printer generates and no field
    local can take, so a parameter called n0, h0, t, i, out, lambda or u__p1_0 cannot
    collide with the grid's own symbols or the generated locals."""
    ordered = sorted(params, key=lambda p: p.name)
    return {p: sp.Symbol(f"_P{k}_", real=True) for k, p in enumerate(ordered)}


def shift(expr: sp.Expr, offsets, idx, xs, h) -> sp.Expr:
    """``expr`` evaluated at ``i + offsets`` (indices and cell-centre coordinates)."""
    sub = {i: i + o for i, o in zip(idx, offsets, strict=True) if o}
    if not sub:
        return expr
    repl = {a: a.func(a.base, *[ix.xreplace(sub) for ix in a.indices])
            for a in expr.atoms(sp.Indexed)}
    repl.update({x: x + o * hk for x, o, hk in zip(xs, offsets, h, strict=True) if o})
    return expr.xreplace(repl)


def _offsets(a: sp.Indexed, idx) -> tuple[int, ...]:
    return tuple(int(ix - i) for ix, i in zip(a.indices, idx, strict=True))


def halo_of(exprs) -> int:
    """Largest |offset| of any grid access in ``exprs``."""
    r = 0
    for e in exprs:
        for a in sp.sympify(e).atoms(sp.Indexed):
            for ix in a.indices:
                free = list(ix.free_symbols)
                r = max(r, abs(int(ix - free[0])) if free else 0)
    return r


def staggered_density(density, coords, fields, accuracy, pvals) -> sp.Expr:
    r"""The discrete energy density: ``density`` with odd-order derivatives on
    compact staggered stencils, averaged over forward/backward staggering on
    every axis (:math:`2^d` variants), so that products such as
    :math:`u\,u_x` stay second-order consistent. Only odd-order axes that occur
    are varied."""
    ndim = len(coords)
    odd_axes = set()
    for d in sp.sympify(density).atoms(sp.Derivative):
        for var, n in d.variable_count:
            if int(n) % 2 and var in coords:
                odd_axes.add(list(coords).index(var))
    variants = []
    for signs in product((1, -1), repeat=len(odd_axes)):
        direction = [1] * ndim
        for axis, sgn in zip(sorted(odd_axes), signs, strict=True):
            direction[axis] = sgn
        low = _Lowerer(coords, fields, accuracy, staggered=True, params=pvals,
                       direction=tuple(direction))
        variants.append(low(density))
    return sp.Add(*variants) / len(variants)


def discrete_gradient(Lh: sp.Expr, base: sp.IndexedBase, low: _Lowerer) -> sp.Expr:
    r""":math:`\sum_o \partial L_h/\partial u_{i+o}` shifted by :math:`-o`."""
    terms = []
    for a in sorted((a for a in Lh.atoms(sp.Indexed) if a.base == base), key=sp.default_sort_key):
        o = _offsets(a, low.idx)
        terms.append(shift(sp.diff(Lh, a), tuple(-v for v in o), low.idx, low.xs, low.h))
    return sp.Add(*terms)


def _face_divergence(mu, M, low: _Lowerer) -> sp.Expr:
    r"""Conservative :math:`\nabla_h\cdot(M \nabla_h \mu)` of order ``low.accuracy``.

    The flux on face :math:`i+\tfrac12` is :math:`F = \bar M\,(D\mu)` with a staggered
    first derivative :math:`D` and an interpolation :math:`\bar M` on the ``p`` cells around
    the face; the divergence is the same staggered derivative of the face fluxes. Every
    staggered stencil is a combination of differences :math:`F_{k+1/2} - F_{k-1/2}`, so the
    sum over a periodic grid telescopes: mass is conserved to round-off at every order.
    Order 2 is :math:`((M_i + M_{i+1})/2\,(\mu_{i+1}-\mu_i) - \dots)/h^2`.
    """
    n = low.accuracy
    half = [Fraction(2 * q - n + 1, 2) for q in range(n)]      # cells about a face
    d1 = [sp.Rational(w.numerator, w.denominator) for w in fd_weights_exact(1, half)]
    d0 = [sp.Rational(w.numerator, w.denominator) for w in fd_weights_exact(0, half)]
    out = []
    for k in range(low.ndim):
        def at(expr, off, k=k):
            e = tuple(off if q == k else 0 for q in range(low.ndim))
            return shift(expr, e, low.idx, low.xs, low.h) if off else expr

        def flux(face):          # on face i + face + 1/2
            cells = [int(face + c + Fraction(1, 2)) for c in half]
            grad = sp.Add(*[w * at(mu, c) for w, c in zip(d1, cells, strict=True)])
            Mbar = M if not M.atoms(sp.Indexed) else \
                sp.Add(*[w * at(M, c) for w, c in zip(d0, cells, strict=True)])
            return Mbar * grad

        faces = [int(c - Fraction(1, 2)) for c in half]         # faces about cell i
        out.append(sp.Add(*[w * flux(f) for w, f in zip(d1, faces, strict=True)])
                   / low.h[k] ** 2)
    return sp.Add(*out)


@functools.singledispatch
def discrete_metric_rule(metric, i: int, G: list, M: list, low) -> sp.Expr:
    """The right-hand side of field ``i`` of a discrete gradient flow in ``metric``, from the
    exact gradients ``G[j]`` of the discrete energy and the lowered mobility ``M[i][j]``.

    Dispatches on the metric's class (a subclass inherits its parent's rule, e.g.
    Wasserstein uses H⁻¹'s). A new metric gets a rule with
    ``@discrete_metric_rule.register(MyMetric)`` on a function of the same signature.
    """
    raise DiscretizationError(
        f"no discrete rule for metric {metric} (gradient='discrete'); register one with "
        "nedsym.discretize.lower.discrete_metric_rule.register, or use "
        "gradient='continuous'")


@discrete_metric_rule.register(ConservedL2)
def _conserved_l2(metric, i, G, M, low):
    if M[i][i].atoms(sp.Indexed):
        raise DiscretizationError(
            "gradient='discrete' with 'L2-conserved' needs a constant mobility")
    return -M[i][i] * (G[i] - Mean(G[i]))


@discrete_metric_rule.register(Hminus1)
def _hminus1(metric, i, G, M, low):          # and Wasserstein, a subclass
    return sp.Add(*[_face_divergence(G[j], M[i][j], low) for j in range(len(G))
                    if M[i][j] != 0])


@discrete_metric_rule.register(L2)
def _l2(metric, i, G, M, low):
    return -sp.Add(*[M[i][j] * G[j] for j in range(len(G))])


def _discrete_rhs(flow: GradientFlow, low: _Lowerer, Lh: sp.Expr) -> dict:
    comps = flow.fields
    G = [discrete_gradient(Lh, low.bases[c], low) for c in comps]
    M = [[low(flow.mobility[i, j]) for j in range(len(comps))] for i in range(len(comps))]
    return {c: discrete_metric_rule(flow.metric, i, G, M, low) for i, c in enumerate(comps)}


def linear_part(expr: sp.Expr, comp, coords, params: dict) -> dict[tuple[int, ...], sp.Expr]:
    """Constant-coefficient linear terms of ``expr`` in ``comp`` with even per-axis orders.

    Returns ``{per-axis orders: coefficient}`` (symbolic), e.g.
    ``{(2, 0): eps**2, (0, 2): eps**2, (0, 0): 1}`` for Allen–Cahn. Terms whose
    Fourier symbol would be complex (odd orders) stay out; ``params`` must give
    every parameter a value (coefficients must be numbers once substituted).
    """
    out: dict[tuple[int, ...], sp.Expr] = {}
    expr = sp.expand(expr)
    pvals = {s: sp.Float(v) for s, v in params.items()}
    for term in sp.Add.make_args(expr):
        jets = [a for a in term.atoms(sp.Derivative) if a.expr == comp] + \
            ([comp] if term.has(comp) else [])
        if not jets:
            continue
        for j in jets:
            coeff, rest = term.as_independent(j, as_Add=False)
            if rest != j:
                continue
            if coeff.atoms(AppliedUndef) or coeff.atoms(sp.Derivative) or \
                    coeff.free_symbols & set(coords) or coeff.has(SymbolicMean):
                break
            orders = [0] * len(coords)
            if isinstance(j, sp.Derivative):
                for var, n in j.variable_count:
                    orders[list(coords).index(var)] += int(n)
            if any(m % 2 for m in orders):
                break
            if not coeff.xreplace(pvals).is_number:
                break
            key = tuple(orders)
            out[key] = out.get(key, sp.S.Zero) + coeff
            break
    return {k: v for k, v in out.items() if v != 0}


def _jet(c, coords, orders):
    """``D^orders c`` (``c`` itself for all-zero orders)."""
    vars_ = [x for x, m in zip(coords, orders, strict=True) for _ in range(m)]
    return sp.diff(c, *vars_) if vars_ else c


def _constant_diagonal(M) -> bool:
    return M.is_diagonal() and all(not M[i, i].atoms(AppliedUndef) and
                                   not M[i, i].free_symbols - set(M[i, i].atoms(sp.Symbol))
                                   for i in range(M.shape[0])) and \
        all(not M[i, i].has(sp.Derivative) for i in range(M.shape[0]))


def _is_exact_split(flow, c, mu_nl, pvals) -> bool:
    """True if M Δ(μ - μ_nl) reproduces the extracted linear part (checked symbolically)."""
    i = flow.fields.index(c)
    m = flow.mobility[i, i]
    coords = flow.coords
    lin = sp.Add(*[sp.diff(m * (flow.potentials[c] - mu_nl), x, 2) for x in coords])
    ref = linear_part(flow.rhs[c], c, coords, pvals)
    ref_expr = sp.Add(*[v * _jet(c, coords, k) for k, v in ref.items()])
    return sp.expand(lin - ref_expr) == 0


def _flux_form_rhs(flow, low: _Lowerer, potentials) -> dict:
    """``∇_h·(M_face ∇_h μ_h)`` with μ derived symbolically and lowered by ``low``."""
    comps = flow.fields
    mu = [low(potentials[c]) for c in comps]
    out = {}
    for i, c in enumerate(comps):
        out[c] = sp.Add(*[_face_divergence(mu[j], low(flow.mobility[i, j]), low)
                          for j in range(len(comps)) if flow.mobility[i, j] != 0])
    return out


def lower_flow(flow: GradientFlow, ndim: int, accuracy: int = 2,
               gradient: str = "continuous", params: dict | None = None) -> LoweredFlow:
    """Lower ``flow`` to stencil expressions at a generic point of an ``ndim``-D grid."""
    if gradient not in GRADIENT_ROUTES:
        raise DiscretizationError(
            f"unknown gradient route {gradient!r}; valid: {list(GRADIENT_ROUTES)}")
    if accuracy not in (2, 4, 6):
        raise DiscretizationError(f"accuracy must be 2, 4 or 6, got {accuracy!r}")
    E = flow.energy
    if len(E.coords) != ndim:
        raise DiscretizationError(
            f"the energy has {len(E.coords)} coordinates {E.coords} but the grid has {ndim} axes")
    for c in flow.fields:
        if tuple(c.args) != tuple(E.coords):
            raise DiscretizationError(
                f"field {field_name(c)} depends on {c.args}; on a grid every field must depend "
                f"on all coordinates {E.coords}")
    if E.boundary is not None:
        raise DiscretizationError(
            "energies with a boundary part are not discretized on grids yet; "
            "give the boundary condition through Grid(bc=...)")
    pvals = E.param_values(**(params or {}))
    central = _Lowerer(E.coords, flow.fields, accuracy, staggered=False, params=pvals)
    staggered = _Lowerer(E.coords, flow.fields, accuracy, staggered=True, params=pvals)
    Lh = staggered_density(E.density, E.coords, flow.fields, accuracy, pvals)
    conservative = isinstance(flow.metric, Hminus1)
    if gradient == "discrete":
        rhs = _discrete_rhs(flow, staggered, Lh)
    elif conservative:  # flux form: exact discrete mass conservation
        rhs = _flux_form_rhs(flow, central, flow.potentials)
    else:
        rhs = {c: central(r) for c, r in flow.rhs.items()}
    linear, nonlinear = {}, {}
    for c in flow.fields:
        lin = linear_part(flow.rhs[c], c, E.coords, pvals)
        linear[field_name(c)] = {k: float(v.xreplace({s: sp.Float(x) for s, x in pvals.items()}))
                                 for k, v in lin.items()}
        lin_expr = sp.Add(*[v * _jet(c, E.coords, k) for k, v in lin.items()])
        nonlinear[field_name(c)] = central(sp.expand(flow.rhs[c]) - lin_expr)
    if conservative and _constant_diagonal(flow.mobility):
        # ∂t u = M Δ μ: the linear part of the rhs is M Δ (linear part of μ)
        # the linear part of μ itself (M Δ of it must be the rhs's linear part: checked)
        mu_nl = {}
        for c in flow.fields:
            mu_lin = sp.Add(*[v * _jet(c, E.coords, k) for k, v in
                              linear_part(flow.potentials[c], c, E.coords, pvals).items()])
            mu_nl[c] = sp.expand(flow.potentials[c]) - mu_lin
        if all(_is_exact_split(flow, c, mu_nl[c], pvals) for c in flow.fields):
            nonlinear = {field_name(c): e
                         for c, e in _flux_form_rhs(flow, central, mu_nl).items()}
    mu_linear, mu_nonlinear = {}, {}
    for c in flow.fields:
        lin = linear_part(flow.potentials[c], c, E.coords, pvals)
        mu_linear[field_name(c)] = {
            k: float(v.xreplace({s_: sp.Float(x) for s_, x in pvals.items()}))
            for k, v in lin.items()}
        mu_lin = sp.Add(*[v * _jet(c, E.coords, k) for k, v in lin.items()])
        mu_nonlinear[field_name(c)] = central(sp.expand(flow.potentials[c]) - mu_lin)
    names = tuple(field_name(c) for c in flow.fields)
    rhs_named = {field_name(c): e for c, e in rhs.items()}
    halo = max(halo_of(list(rhs_named.values()) + [Lh] + list(nonlinear.values())
                       + list(mu_nonlinear.values())), 1)
    param_names = tuple(v.name for v in parameter_scalars(pvals).values())
    scalars = param_names + tuple(f"h{k}" for k in range(ndim)) + \
        tuple(f"lo{k}" for k in range(ndim)) + ("t",)
    uses_mean = any(e.has(Mean) for e in rhs_named.values())
    return LoweredFlow(fields=names, ndim=ndim, halo=halo, rhs=rhs_named, energy=Lh,
                       scalars=scalars, params={s.name: v for s, v in pvals.items()},
                       linear=linear, nonlinear=nonlinear, mu_linear=mu_linear,
                       mu_nonlinear=mu_nonlinear, gradient=gradient,
                       accuracy=accuracy, uses_mean=uses_mean)
