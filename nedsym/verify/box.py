r"""A Taylor test of the *whole* first variation on a non-periodic box.

On a periodic box boundary terms cancel, so a periodic Taylor test checks
:math:`\delta E/\delta u` alone. Here the box :math:`\Omega = \prod_a [a_a, b_a]` is not
periodic, the base state and the direction are any smooth sympy expressions, and the
prediction is the full first variation

.. math::
    \delta E[u_0; v] = \int_\Omega \frac{\delta E}{\delta u}\,v\,dx
        + \oint_{\partial\Omega} \sum_\beta B_\beta\,D^\beta v\,ds ,

with the natural boundary terms :math:`B_\beta` (:meth:`Energy.natural_bc`), which also
carry a boundary energy :math:`\oint B\,ds`. Derivatives of :math:`u_0 + h v` are exact
(symbolic); integrals use tensor Gauss–Legendre rules inside and on every face, so the
energy is evaluated to round-off and the remainder
:math:`|E(u_0+hv) - E(u_0) - h\,\delta E[u_0; v]|` shrinks at rate 2 exactly when both the
interior derivative and the boundary terms are right.

Spatial means (:class:`~nedsym.symbolic.operators.Mean`) are evaluated by the same interior
rule, so nonlocal energies are checked too.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import sympy as sp

from nedsym.errors import VerificationError
from nedsym.symbolic.declare import field_name
from nedsym.symbolic.energy import Energy
from nedsym.symbolic.variational import jet, normal_symbols
from nedsym.verify.taylor import TaylorResult, _as_component_dict, means_in

__all__ = ["box_taylor_test"]

#: Gauss points per axis by dimension (smooth trigonometric data: round-off accurate)
DEFAULT_ORDER = {1: 40, 2: 24, 3: 12}


class _NodeSet:
    """Quadrature nodes (a tuple of coordinate arrays) and weights; ``normal`` on a face."""

    def __init__(self, coords, weights, normal=None):
        self.coords, self.w, self.normal = coords, weights, normal


def _rules(bounds, order: int) -> tuple[_NodeSet, list[_NodeSet]]:
    g, gw = np.polynomial.legendre.leggauss(order)
    axes = [((b - a) * (g + 1) / 2 + a, (b - a) / 2 * gw) for a, b in bounds]
    d = len(bounds)

    def tensor(parts):
        mesh = np.meshgrid(*[p[0] for p in parts], indexing="ij")
        w = np.ones(mesh[0].shape if mesh else ())
        for k, p in enumerate(parts):
            shape = [1] * len(parts)
            shape[k] = -1
            w = w * p[1].reshape(shape)
        return [m.ravel() for m in mesh], w.ravel()

    pts, w = tensor(axes)
    interior = _NodeSet(pts, w)
    faces = []
    for a in range(d):
        others = [axes[k] for k in range(d) if k != a]
        for side, value in ((-1, bounds[a][0]), (1, bounds[a][1])):
            if others:
                opts, ow = tensor(others)
            else:
                opts, ow = [], np.ones(1)
            full, it = [], iter(opts)
            for k in range(d):
                full.append(np.full(ow.shape, float(value)) if k == a else next(it))
            normal = [0.0] * d
            normal[a] = float(side)
            faces.append(_NodeSet(full, ow, normal))
    return interior, faces


class _Compiled:
    """``expr`` as a numpy function of coordinates, occurrences, normal and means."""

    def __init__(self, expr, coords, occurrences, normal, means, pvals):
        self.occ = list(occurrences)
        dummies = {o: sp.Dummy() for o in self.occ}
        mean_syms = {m: sp.Dummy() for m in means}
        e = sp.sympify(expr).xreplace(mean_syms).xreplace(dummies).xreplace(pvals)
        free = e.free_symbols - set(coords) - set(dummies.values()) - set(normal) - \
            set(mean_syms.values())
        if free:
            raise VerificationError(f"parameters {sorted(map(str, free))} have no value; "
                                    "pass params={...}")
        self.means = list(means)
        self.fn = sp.lambdify([*coords, *dummies.values(), *normal, *mean_syms.values()], e,
                              "numpy")

    def __call__(self, nodes: _NodeSet, occ_values: dict, mean_values: dict) -> np.ndarray:
        normal = nodes.normal if nodes.normal is not None else [0.0] * len(nodes.coords)
        out = self.fn(*nodes.coords, *[occ_values[o] for o in self.occ], *normal,
                      *[mean_values[m] for m in self.means])
        return np.broadcast_to(np.asarray(out, dtype=float), nodes.w.shape)


def box_taylor_test(E: Energy, u0, v, bounds=None, *, order: int | None = None,
                    h0: float = 0.05, steps: int = 6, params: Mapping | None = None,
                    gradient: Mapping | None = None) -> TaylorResult:
    r"""Taylor test of :math:`\delta E/\delta u` *and* the natural boundary terms on a box.

    ``u0`` and ``v``: sympy expressions in the coordinates (a dict ``{field: expr}`` for
    several fields; fields missing from ``v`` are not perturbed). ``bounds``: the box
    (default :math:`[0.2, 1.4]^d`, not a period of anything). ``order``: Gauss points per
    axis. ``gradient``: a claimed ``{field: δE/δfield}`` to check instead of the derived one.

    Example
    -------
    >>> import nedsym as ns
    >>> E = ns.Energy.parse("u_x^2/2 + u^4/4", coords="x", boundary="(u-1)^2")
    >>> box_taylor_test(E, sp.sin(ns.coords("x")[0]), 1).passed()
    True
    """
    coords = E.coords
    d = len(coords)
    if bounds is None:
        bounds = [(0.2, 1.4)] * d
    bounds = [(float(a), float(b)) for a, b in bounds]
    if len(bounds) != d or any(not (np.isfinite(a) and np.isfinite(b) and a < b)
                               for a, b in bounds):
        raise VerificationError(f"the box needs {d} finite intervals a < b, got {bounds}")
    order = int(order or DEFAULT_ORDER.get(d, 8))
    if order < 4 or order ** d > 2_000_000:
        raise VerificationError(f"order={order} Gauss points per axis in {d} dimensions is "
                                "outside 4 .. 2e6 nodes in all")
    base = _as_component_dict(E, u0, "u0", default_zero=False)
    direction = _as_component_dict(E, v, "v", default_zero=True)
    for what, vals in (("u0", base), ("v", direction)):
        for c, e in vals.items():
            if not isinstance(e, (sp.Basic, int, float)):
                raise VerificationError(f"{what}[{field_name(c)}] must be a sympy expression "
                                        "for the box test (its derivatives are exact)")
            stray = sp.sympify(e).free_symbols - set(coords)
            if stray:
                raise VerificationError(f"{what}[{field_name(c)}] = {e} contains symbols "
                                        f"{sorted(map(str, stray))} other than the coordinates")
    pvals = E.param_values(**(params or {}))
    normal = normal_symbols(coords)
    interior, faces = _rules(bounds, order)

    grads = {c: E.variational_derivative(c) for c in E.components}
    if gradient is not None:
        grads.update(_as_component_dict(E, gradient, "gradient", default_zero=True))
    nbc = {c: E.natural_bc(c).terms for c in E.components}
    bdens = E.boundary if E.boundary is not None else sp.S.Zero
    means = means_in(E.density, bdens, *grads.values(), *[t for b in nbc.values()
                                                           for t in b.values()])
    exprs = [E.density, bdens, *grads.values(), *[t for b in nbc.values()
                                                  for t in b.values()]]
    exprs += [m.args[0] for m in means]
    occ: dict = {}
    for c in E.components:
        for e in exprs:
            for idx, o in jet(e, c).items():
                occ[o] = (c, idx)

    def lam(e):
        return sp.lambdify(coords, sp.sympify(e), "numpy")

    # exact derivatives of u0 and v for every occurrence, and of v for the boundary terms
    d_u0 = {o: lam(sp.diff(base[c], *idx) if idx else base[c]) for o, (c, idx) in occ.items()}
    d_v = {o: lam(sp.diff(direction[c], *idx) if idx else direction[c])
           for o, (c, idx) in occ.items()}
    v_beta = {(c, beta): lam(sp.diff(direction[c], *beta) if beta else direction[c])
              for c in E.components for beta in nbc[c]}

    def at(fn, nodes):
        return np.broadcast_to(np.asarray(fn(*nodes.coords), dtype=float), nodes.w.shape)

    cache = {}
    for ns_ in (interior, *faces):
        cache[id(ns_)] = ({o: at(f, ns_) for o, f in d_u0.items()},
                          {o: at(f, ns_) for o, f in d_v.items()})

    def occ_values(nodes, h):
        a, b = cache[id(nodes)]
        return {o: a[o] + h * b[o] for o in occ}

    mean_args = {m: _Compiled(m.args[0], coords, occ, normal, [], pvals) for m in means}
    volume = float(np.prod([b - a for a, b in bounds]))

    def mean_values(h):
        vals = occ_values(interior, h)
        return {m: float(interior.w @ f(interior, vals, {})) / volume
                for m, f in mean_args.items()}

    dens = _Compiled(E.density, coords, occ, normal, means, pvals)
    bden = _Compiled(bdens, coords, occ, normal, means, pvals)

    def energy(h):
        mv = mean_values(h)
        total = float(interior.w @ dens(interior, occ_values(interior, h), mv))
        if E.boundary is not None:
            total += sum(float(f.w @ bden(f, occ_values(f, h), mv)) for f in faces)
        return total

    mv0 = mean_values(0.0)
    vals0 = occ_values(interior, 0.0)
    dE = 0.0
    for c in E.components:
        g = _Compiled(grads[c], coords, occ, normal, means, pvals)
        dE += float(interior.w @ (g(interior, vals0, mv0) * at(lam(direction[c]), interior)))
        for beta, term in nbc[c].items():
            t = _Compiled(term, coords, occ, normal, means, pvals)
            for f in faces:
                dE += float(f.w @ (t(f, occ_values(f, 0.0), mv0) * at(v_beta[(c, beta)], f)))
    with np.errstate(all="ignore"):
        E0 = energy(0.0)
        hs = h0 / 2.0 ** np.arange(steps)
        r0, r1 = [], []
        for h in hs:
            Eh = energy(h)
            r0.append(abs(Eh - E0))
            r1.append(abs(Eh - E0 - h * dE))
        scale = max(abs(E0), float(np.sum(np.abs(interior.w * dens(interior, vals0, mv0)))),
                    1e-300)
    return TaylorResult(hs=hs, remainder0=np.array(r0), remainder1=np.array(r1), energy=E0,
                        floor=np.finfo(float).eps * scale)
