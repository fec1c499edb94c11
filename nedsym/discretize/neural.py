r"""An energy lowered to pointwise kernels on a network's jet — the neural discretization.

A network :math:`u(x;\theta)` gives, at sample points, the values of the field and of its
spatial derivatives (its *jet*: ``u``, :math:`\nabla u`, :math:`\nabla^2 u`). Everything Neural
Energy Descent needs from the energy is then a pointwise function of ``(x, jet)``:

* the density :math:`L(x, u, \nabla u, \dots)` (the sampled energy is :math:`\sum_i w_i L_i`);
* its partials :math:`\partial L/\partial(D^\alpha u)` — the cotangent of the jet, so that
  :math:`\nabla_\theta E = \sum_i w_i \sum_\alpha \partial L/\partial(D^\alpha u)\,
  \partial_\theta D^\alpha u` is the exact gradient of the sampled energy (the *weak* route);
* the variational derivative :math:`F = \delta E/\delta u` (the *strong* route,
  :math:`r = -\sum_i w_i \nabla_\theta u\,F_i`), and its linearization
  :math:`\partial F/\partial(D^\alpha u)` for linearly implicit steps;
* the same for the boundary energy :math:`B`, sampled on the boundary.

Sympy works once here, at construction; each kernel is a ``lambdify``'d numpy function with
common subexpressions eliminated, evaluated on whole arrays of points.

Example
-------
>>> import nedsym as ns
>>> x, = ns.coords("x"); u = ns.Field("u", (x,))
>>> pe = PointwiseEnergy(ns.Energy(ns.grad(u).dot(ns.grad(u))/2 - u, fields=[u]))
>>> pe.order, pe.strong_order
(1, 2)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import sympy as sp

from nedsym.errors import ConfigError, DeclarationError, FieldError
from nedsym.symbolic.declare import field_name
from nedsym.symbolic.printing import compact
from nedsym.symbolic.variational import jet

__all__ = ["PointwiseEnergy", "PointwiseResidual", "Occurrence", "JetValues", "SampledSystem"]


@dataclass(frozen=True)
class Occurrence:
    """One entry of the jet: field component ``k`` differentiated along coordinate axes ``axes``."""

    component: int
    axes: tuple[int, ...]
    name: str  # compact notation, e.g. "u_xy"

    @property
    def order(self) -> int:
        return len(self.axes)


@dataclass
class JetValues:
    """Jet arrays as a network returns them.

    ``u (M, c)``, ``grad (M, c, d)``, ``hess (M, c, d, d)``; of second derivatives, only
    ``lap (M, c)`` (Laplacian-only jets) or only ``diag (M, c, d)`` (the Hessian's diagonal)
    may be given instead.

    A trailing axis (parameters) is allowed on every array, for Jacobians.
    """

    u: np.ndarray
    grad: np.ndarray | None = None
    hess: np.ndarray | None = None
    lap: np.ndarray | None = None
    diag: np.ndarray | None = None   # the Hessian's diagonal (M, c, d) alone

    def take(self, occ: Occurrence) -> np.ndarray:
        if occ.order == 0:
            return self.u[:, occ.component]
        if occ.order == 1:
            if self.grad is None:
                raise ConfigError(f"{occ.name} needs first derivatives of the network (order=1)")
            return self.grad[:, occ.component, occ.axes[0]]
        if occ.order == 2:
            if self.hess is None and self.diag is not None and occ.axes[0] == occ.axes[1]:
                return self.diag[:, occ.component, occ.axes[0]]
            if self.hess is None and self.lap is not None and occ.axes[0] == occ.axes[1]:
                # Laplacian-only jets: exact when the expression depends on the diagonal
                # second derivatives only through their sum (see PointwiseEnergy.laplacian_only)
                return self.lap[:, occ.component] / self.grad.shape[2]
            if self.hess is None:
                raise ConfigError(f"{occ.name} needs second derivatives of the network (order=2)")
            return self.hess[:, occ.component, occ.axes[0], occ.axes[1]]
        raise ConfigError(
            f"{occ.name} is a derivative of order {occ.order}; networks provide derivatives up "
            "to order 2, so energies of order <= 1 work on the strong route and order <= 2 on "
            "the weak route")


class _Kernel:
    """``f(X, occ_values, data) -> (M,)`` arrays for a list of sympy expressions."""

    def __init__(self, exprs: Sequence[sp.Expr], coords, occ_syms, data_syms):
        self.exprs = [sp.sympify(e) for e in exprs]
        args = [*coords, *occ_syms, *data_syms]
        self._fn = sp.lambdify(args, self.exprs, modules="numpy", cse=True)
        self._nocc = len(occ_syms)

    def __call__(self, X, occ_vals, data_vals) -> list[np.ndarray]:
        M = X.shape[0]
        cols = [X[:, k] for k in range(X.shape[1])]
        with np.errstate(all="ignore"):
            out = self._fn(*cols, *occ_vals, *data_vals)
        return [np.broadcast_to(np.asarray(o, dtype=np.float64), (M,)) for o in out]


class _Lowered:
    """One expression set (density or boundary density) and its occurrences."""

    def __init__(self, owner: PointwiseEnergy, density, residuals, data=None):
        self.density = density
        occs = owner._occurrences([density, *residuals])
        self.occurrences = occs
        syms = [owner._occ_symbol(o) for o in occs]
        rep = {owner._occ_expr(o): s for o, s in zip(occs, syms, strict=True)}
        # replace higher derivatives first so sub-derivatives are not substituted inside them
        order = sorted(rep, key=lambda e: -_deriv_order(e))

        def lower(e):
            e = sp.sympify(e)
            for k in order:
                e = e.xreplace({k: rep[k]})
            return e.xreplace(owner.pvals)

        L = lower(density)
        Fs = [lower(r) for r in residuals]
        coords = owner.coords
        data = owner.data_symbols if data is None else tuple(data)
        dens = [(o, s) for o, s in zip(occs, syms, strict=True) if _in(owner, o, density)]
        self.density_occurrences = [o for o, _ in dens]
        dsyms = [s for _, s in dens]
        self.value = _Kernel([L], coords, dsyms, data)
        self.partials = _Kernel([sp.diff(L, s) for s in dsyms], coords, dsyms, data)
        self.residual = _Kernel(Fs, coords, syms, data) if Fs else None
        self.linearization = (
            _Kernel([sp.diff(F, s) for F in Fs for s in syms], coords, syms, data) if Fs else None)
        self.order = max((o.order for o in self.density_occurrences), default=0)
        self.residual_order = max((o.order for o in occs), default=0)
        self.laplacian_only = _through_laplacian(occs, syms, Fs, len(coords))
        #: every second derivative read is a diagonal one (u_xx, u_tt; no u_xy)
        second = [o for o in occs if o.order == 2]
        self.diagonal_only = bool(second) and all(o.axes[0] == o.axes[1] for o in second)

    def portable(self) -> _Lowered:
        """A copy without the sympy density (which holds the energy's field functions)."""
        out = type(self).__new__(type(self))
        out.__dict__.update(self.__dict__)
        out.density = None
        return out


class _ConditionPart(_Lowered):
    """Residuals that must vanish on a part of the domain (a boundary face, ``t = 0``, a level
    set): lowered like the interior, with the outward normal's components as per-point data.
    ``weight`` scales its mean square in the merit; ``where`` says where it is sampled."""

    def __init__(self, owner, residuals, where, weight: float, name: str):
        from nedsym.symbolic.variational import normal_symbols

        self.normals = normal_symbols(owner.coords)
        super().__init__(owner, sum((r ** 2 for r in residuals), sp.S.Zero) / 2, residuals,
                         data=self.normals)
        self.where, self.weight, self.name = where, float(weight), name
        self.uses_normals = any(sp.sympify(r).has(*self.normals) for r in residuals)

    def data(self, pts) -> tuple:
        """The normal's columns at the points (what the kernels take as data)."""
        if pts.normals is None:
            if self.uses_normals:
                raise ConfigError(f"the condition on {self.name} uses the normal, but its "
                                  "points carry none: sample it on a boundary (a face, a "
                                  "sphere), not on a subdomain")
            return tuple(np.zeros(len(pts.x)) for _ in self.normals)
        return tuple(pts.normals[:, k] for k in range(pts.normals.shape[1]))


def _through_laplacian(occs, syms, Fs, d) -> bool:
    """True when the residuals read second derivatives only through Laplacians: every
    second-order occurrence is diagonal, each component's diagonal is complete, and every
    residual has the same partial derivative in each diagonal entry."""
    second = [(o, s) for o, s in zip(occs, syms, strict=True) if o.order == 2]
    if not second or not Fs or any(o.axes[0] != o.axes[1] for o, _ in second):
        return False
    by_comp: dict[int, list] = {}
    for o, s in second:
        by_comp.setdefault(o.component, []).append(s)
    if any(len(v) != d for v in by_comp.values()):
        return False
    for F in Fs:
        for ss in by_comp.values():
            first = sp.diff(F, ss[0])
            if any(sp.expand(sp.diff(F, t) - first) != 0 for t in ss[1:]):
                return False
    return True


def _deriv_order(e) -> int:
    return int(sum(c for _, c in e.variable_count)) if isinstance(e, sp.Derivative) else 0


def _in(owner, occ, expr) -> bool:
    return sp.sympify(expr).has(owner._occ_expr(occ))


def _param_values(declared: Mapping, overrides: Mapping | None, data=None) -> dict:
    """Parameter values: the declared defaults, updated by ``overrides`` (by name); data
    symbols (per-sample values; ``None``: the caller takes none) are left out. A parameter
    without a value is refused."""
    hint = ", or name them as per-sample data" if data is not None else ""
    data = () if data is None else tuple(data)
    vals = dict(declared)
    by_name = {s.name: s for s in vals}
    for key, value in (overrides or {}).items():
        name = key if isinstance(key, str) else getattr(key, "name", str(key))
        if name not in by_name:
            raise DeclarationError(f"unknown parameter {name!r}; parameters: {sorted(by_name)}")
        vals[by_name[name]] = float(value)
    missing = [s.name for s, v in vals.items() if s not in data and v is None]
    if missing:
        raise DeclarationError(
            f"parameters {missing} have no value; give params={{'{missing[0]}': ...}}, "
            f"declare them with ns.Param(name, default){hint}")
    return {s: v for s, v in vals.items() if s not in data}


class PointwiseEnergy:
    r"""An :class:`~nedsym.Energy` as pointwise kernels of the jet of a network.

    Parameters
    ----------
    energy: the energy; its field components map, in order, to the network's outputs.
    params: parameter values overriding the energy's defaults.
    data: names of per-sample data symbols (e.g. ``["y"]`` for a dataset target): free
        symbols of the density that take a value per point rather than per run.
    strong: also derive :math:`\delta E/\delta u` and its linearization (the strong route).
    natural: add the natural boundary condition :math:`\partial L/\partial\nabla u\cdot n
        (+\,\partial B/\partial u) = 0` (:meth:`~nedsym.Energy.natural_bc`) as a condition
        on ``natural`` (a boundary domain), replacing the boundary energy's penalty rows;
        ``None``: none (strong route only).
    """

    def __init__(self, energy, params: Mapping | None = None, data: Sequence[str] = (),
                 strong: bool = True, natural=None):
        self.energy = energy
        self.coords = tuple(energy.coords)
        self.components = list(energy.components)
        data = list(data)
        by_name = {s.name: s for s in energy.params}
        for nm in data:
            if nm not in by_name:
                raise DeclarationError(
                    f"data symbol {nm!r} does not occur in the energy (symbols: {sorted(by_name)})")
        self.data_symbols = tuple(by_name[nm] for nm in data)
        self.pvals = _param_values(energy.params, params, self.data_symbols)
        residuals = []
        if strong:
            residuals = [energy.variational_derivative(c, simplify=False) for c in self.components]
        self.interior = _Lowered(self, energy.density, residuals)
        self.boundary = None
        if energy.boundary is not None:
            bres = [sp.diff(energy.boundary, c) for c in self.components] if strong else []
            self.boundary = _Lowered(self, energy.boundary, bres)
            if strong and self.boundary.order > 0:
                raise ConfigError(
                    "the boundary energy depends on derivatives of the field; the strong route "
                    "needs a boundary energy in the field values only (use residual='weak')")
        #: residuals sampled on parts of the domain (natural conditions, a residual problem's
        #: boundary and initial conditions); their rows replace the boundary energy's
        self.conditions: list[_ConditionPart] = []
        if natural is not None and strong:
            flux = [energy.natural_bc(c).flux() for c in self.components]
            if any(f != 0 for f in flux):
                self.conditions.append(_ConditionPart(self, flux, natural, 1.0, "natural"))

    def __getstate__(self):
        # the compiled kernels and occurrences are all a worker needs; the energy's fields are
        # dynamically created sympy functions, which do not pickle
        state = dict(self.__dict__)
        state["energy"] = None
        state["components"] = [None] * len(self.components)
        state["interior"] = self.interior.portable()
        state["boundary"] = None if self.boundary is None else self.boundary.portable()
        state["conditions"] = [c.portable() for c in self.conditions]
        for c in state["conditions"]:
            c.where = None
        return state

    # -- occurrences -----------------------------------------------------------------------
    def _occurrences(self, exprs) -> list[Occurrence]:
        found: dict[tuple[int, tuple[int, ...]], Occurrence] = {}
        for k, c in enumerate(self.components):
            for e in exprs:
                for idx, occ in jet(e, c).items():
                    try:
                        axes = tuple(sorted(self.coords.index(v) for v in idx))
                    except ValueError as exc:
                        raise FieldError(
                            f"{occ} differentiates {field_name(c)} along a variable that is not "
                            f"a coordinate of the energy {self.coords}") from exc
                    found.setdefault((k, axes), Occurrence(k, axes, str(compact(occ))))
        return sorted(found.values(), key=lambda o: (o.order, o.component, o.axes))

    def _occ_expr(self, o: Occurrence):
        c = self.components[o.component]
        if o.order == 0:
            return c
        return sp.Derivative(c, *[self.coords[a] for a in o.axes])

    def _occ_symbol(self, o: Occurrence) -> sp.Symbol:
        return sp.Symbol("_jet_" + o.name)

    # -- summary -------------------------------------------------------------------------
    @property
    def order(self) -> int:
        """Highest derivative order in the densities (weak route needs this jet order)."""
        b = self.boundary.order if self.boundary is not None else 0
        return max(self.interior.order, b)

    @property
    def strong_order(self) -> int:
        """Highest derivative order of :math:`\\delta E/\\delta u` (strong route jet order)."""
        return self.interior.residual_order

    @property
    def n_components(self) -> int:
        return len(self.components)

    def names(self) -> list[str]:
        return [field_name(c) for c in self.components]

    # -- evaluation ----------------------------------------------------------------------
    @staticmethod
    def _vals(part: _Lowered, jv: JetValues, density_only: bool = False):
        occs = part.density_occurrences if density_only else part.occurrences
        return [jv.take(o) for o in occs]

    def density(self, X, jv: JetValues, data=(), boundary: bool = False) -> np.ndarray:
        part = self._part(boundary)
        return part.value(X, self._vals(part, jv, True), data)[0]

    def cotangent(self, X, jv: JetValues, data=(), boundary: bool = False):
        """:math:`\\partial L/\\partial(D^\\alpha u)` for each density occurrence, ``(M,)`` each."""
        part = self._part(boundary)
        return part.partials(X, self._vals(part, jv, True), data)

    def residual(self, X, jv: JetValues, data=(), boundary: bool = False) -> np.ndarray:
        """:math:`\\delta E/\\delta u_k` at the points, ``(M, c)`` (``∂B/∂u`` on the boundary)."""
        part = self._part(boundary)
        if part.residual is None:
            raise ConfigError("this PointwiseEnergy was built with strong=False")
        return np.stack(part.residual(X, self._vals(part, jv), data), axis=1)

    def linearization(self, X, jv: JetValues, data=(), boundary: bool = False):
        """``lin[k][j]`` = :math:`\\partial F_k/\\partial(\\text{occurrence}_j)` at the points."""
        part = self._part(boundary)
        flat = part.linearization(X, self._vals(part, jv), data)
        n = len(part.occurrences)
        return [flat[k * n:(k + 1) * n] for k in range(len(flat) // n)]

    def occurrences(self, boundary: bool = False, density_only: bool = False) -> list[Occurrence]:
        """The jet entries the residual (or, with ``density_only``, the density) reads."""
        part = self._part(boundary)
        return list(part.density_occurrences if density_only else part.occurrences)

    def _part(self, boundary) -> _Lowered:
        if isinstance(boundary, _Lowered):    # a condition's part
            return boundary
        if boundary:
            if self.boundary is None:
                raise ConfigError("the energy has no boundary density")
            return self.boundary
        return self.interior


class PointwiseResidual(PointwiseEnergy):
    r"""A :class:`~nedsym.Residuals` problem as pointwise kernels of a network's jet.

    The interior part's residual is :math:`R` itself (not :math:`\delta E/\delta u` of the
    least-squares energy, which would be of twice the order), so rows are
    :math:`\partial_\theta R` through the derived linearization; each condition is a part
    sampled on its own domain. ``domains``: one domain per condition, in order.
    """

    least_squares = True

    def __init__(self, problem, domains: Sequence, params: Mapping | None = None):
        self.energy = problem
        self.coords = tuple(problem.coords)
        self.components = list(problem.components)
        self.data_symbols = ()
        self.pvals = _param_values(problem.params, params)
        self.interior = _Lowered(self, problem.density, problem.residuals)
        self.boundary = None
        if len(domains) != len(problem.conditions):
            raise ConfigError(f"{len(problem.conditions)} conditions but {len(domains)} "
                              "domains to sample them on")
        self.conditions = [_ConditionPart(self, c.residuals, d, c.weight, c.name)
                           for c, d in zip(problem.conditions, domains, strict=True)]
        for part, what in [(self.interior, "the interior residual")] + \
                [(c, f"the condition on {c.name}") for c in self.conditions]:
            if part.residual_order > 2:
                raise ConfigError(f"{what} has derivatives of order {part.residual_order}; "
                                  "networks provide derivatives up to order 2")

    @property
    def strong_order(self) -> int:
        return max([self.interior.residual_order] +
                   [c.residual_order for c in self.conditions])


def _cotangent(jv: JetValues, occs, coefs, channels: int | None = None):
    """A :class:`~nedsym.nn.Jet` of cotangents shaped like the jet ``jv``: ``coefs[j]`` (each
    ``(M,)`` or a scalar) is the coefficient of ``occs[j]``; with ``channels`` there is a
    channel axis after the points and ``coefs[k][j]`` belongs to channel ``k``. A diagonal
    second derivative of a Laplacian-only jet was read as ``lap/d`` (:meth:`JetValues.take`),
    so its coefficient enters the Laplacian's as ``c/d``."""
    from nedsym.nn import Jet

    M = jv.u.shape[0]
    lead = () if channels is None else (channels,)

    def zeros(a):
        return None if a is None else np.zeros((M, *lead, *a.shape[1:]))

    u, g, h = zeros(jv.u), zeros(jv.grad), zeros(jv.hess)
    dg = zeros(jv.diag) if h is None else None
    lap = zeros(jv.lap) if h is None and dg is None else None
    for k, row in enumerate([coefs] if channels is None else coefs):
        ch = () if channels is None else (k,)
        for coef, occ in zip(row, occs, strict=True):
            at = (slice(None), *ch, occ.component)
            if occ.order == 0:
                u[at] += coef
            elif occ.order == 1:
                g[(*at, occ.axes[0])] += coef
            elif dg is not None:
                dg[(*at, occ.axes[0])] += coef
            elif lap is not None:
                lap[at] += coef / jv.grad.shape[2]
            else:
                h[(*at, *occ.axes)] += coef
    return Jet(u=u, grad=g, hess=h, lap=lap, diag=dg)


class SampledSystem:
    r"""What one step of Neural Energy Descent needs from an energy, a network and a sample.

    ``pe``: the :class:`PointwiseEnergy`; ``net``: a :mod:`nedsym.nn` network; ``residual``:
    ``"strong"`` (rows :math:`\sqrt{w_i}\,\nabla_\theta u(x_i)` and right-hand sides
    :math:`-\sqrt{w_i}F_i`, :math:`F = \delta E/\delta u`) or ``"weak"`` (the Gram matrix
    :math:`\sum_i w_i \nabla_\theta u\,\nabla_\theta u^\top` and the exact gradient of the
    sampled energy); ``implicit``: strong rows of the linearly implicit step,
    :math:`J + \Delta t\,\partial F/\partial(D^\alpha u)\,\partial_\theta D^\alpha u`.
    ``raw_weights``: sums with the raw quadrature weights, not normalized by their total (what
    the shards of a cluster run return; the client divides).

    A sample is ``(pts, data, bpts)``: interior :class:`~nedsym.quadrature.Points` (or None),
    per-sample data columns, boundary points (or None). The object holds no state between
    calls and pickles, so the shards of a Dask run evaluate the same methods on their points.

    Example
    -------
    >>> import nedsym as ns
    >>> from nedsym.nn import MLP
    >>> from nedsym.quadrature import Points
    >>> x, = ns.coords("x"); u = ns.Field("u", (x,))
    >>> pe = PointwiseEnergy(ns.Energy(ns.grad(u).dot(ns.grad(u))/2 - u, fields=[u]))
    >>> net = MLP([1, 8, 1], seed=0); s = SampledSystem(pe, net)
    >>> pts = Points(np.linspace(0, 1, 5)[:, None], np.full(5, 0.2))
    >>> kind, A, b, res = s.system(net.init(seed=0), (pts, (), None), dt=0.5)
    >>> kind, A.shape == (5, net.n_params), bool(res > 0)
    ('rows', True, True)
    """

    def __init__(self, pe: PointwiseEnergy, net, residual: str = "strong",
                 implicit: bool = False, raw_weights: bool = False):
        import inspect

        self.pe, self.net = pe, net
        self.residual_kind, self.implicit, self.raw_weights = residual, implicit, raw_weights
        if self.least_squares and (residual != "strong" or not implicit):
            raise ConfigError("a residual problem is solved on its linearized residual rows: "
                              "SampledSystem(..., residual='strong', implicit=True)")
        try:
            sig = inspect.signature(net.jacobian).parameters
        except (TypeError, ValueError):
            sig = {}
        self.net_has_lap = "lap_only" in sig
        self.net_has_diag = "diag_only" in sig

    # -- helpers -----------------------------------------------------------------------------
    @staticmethod
    def jet(j) -> JetValues:
        """The :class:`JetValues` of a network's forward/Jacobian output."""
        hess = getattr(j, "hess", None)
        diag = getattr(j, "diag", None) if hess is None else None
        lap = getattr(j, "lap", None) if hess is None and diag is None else None
        return JetValues(j.u, getattr(j, "grad", None), hess, lap, diag)

    def _parts(self, sample, energy: bool = False):
        """``(points, part key, lowered part, data)`` for the interior, the boundary points (the
        boundary energy) or each condition's points (a tuple, aligned with
        ``pe.conditions``). ``energy``: the parts of the energy rather than of the rows; for an
        energy with natural-condition rows these are the interior and the boundary energy
        (evaluated on the natural condition's points), not the conditions."""
        pts, data, bpts = sample
        if pts is not None:
            yield pts, False, self.pe.interior, data
        if bpts is None:
            return
        if isinstance(bpts, tuple):
            if energy and not self.least_squares:
                if self.pe.boundary is not None:
                    yield bpts[0], True, self.pe.boundary, ()
                return
            for cond, bp in zip(self.pe.conditions, bpts, strict=True):
                yield bp, cond, cond, cond.data(bp)
        else:
            yield bpts, True, self.pe.boundary, ()

    @property
    def least_squares(self) -> bool:
        """A residual problem: its energy is the weighted mean-square merit."""
        return getattr(self.pe, "least_squares", False)

    def _weights(self, p, part, W) -> np.ndarray:
        """Row weights: a condition's points average to its weight; the interior's and the
        boundary energy's are the quadrature weights over the interior's total."""
        weight = getattr(part, "weight", None)
        if weight is not None and not self.raw_weights:
            return weight * p.w / float(p.w.sum())
        return p.w / W

    def _lap_only(self, part) -> dict:
        """The second derivatives a part's jets need: ``{"lap_only": True}`` when the residual
        reads Laplacians only and the network can propagate them alone (3–4× cheaper than
        full Hessians), ``{"diag_only": True}`` when it reads diagonal second derivatives
        only (``d`` features instead of ``d*d``)."""
        if part.laplacian_only and self.net_has_lap:
            return {"lap_only": True}
        if getattr(part, "diagonal_only", False) and self.net_has_diag:
            return {"diag_only": True}
        return {}

    def _weight_total(self, pts) -> float:
        return 1.0 if self.raw_weights or pts is None else float(pts.w.sum())

    # -- sums over a sample --------------------------------------------------------------------
    def energy(self, theta, sample) -> float:
        """The sampled energy :math:`\\sum_i w_i L_i` (+ the boundary energy's sum); for a
        residual problem, its least-squares energy (:meth:`merit`)."""
        if self.least_squares:
            return self.merit(theta, sample)
        val = 0.0
        for p, bnd, part, d in self._parts(sample, energy=True):
            jv = self.jet(self.net.forward(p.x, theta, order=part.order))
            val += float(p.w @ self.pe.density(p.x, jv, d, boundary=bnd))
        return val

    def system(self, theta, sample, dt: float):
        """``("rows", A, b, residual RMS)`` (strong route) or ``("gram", G, g, |g|)`` (weak)."""
        if self.residual_kind == "weak":
            return self.weak_system(theta, sample)
        W = self._weight_total(sample[0])
        if self.implicit and hasattr(self.net, "linearize"):
            return self._seeded_system(theta, sample, dt, W)
        rows, rhs, res2 = [], [], 0.0
        for p, bnd, part, d in self._parts(sample):
            lap = self._lap_only(part)
            if self.implicit:
                vals, jac = self.net.jacobian(p.x, theta, order=part.residual_order, **lap)
            else:
                vals = self.net.forward(p.x, theta, order=part.residual_order, **lap)
                jac = self.net.jacobian(p.x, theta, order=0)[1]
            jv, jj = self.jet(vals), self.jet(jac)
            F = self.pe.residual(p.x, jv, d, boundary=bnd)              # (M, c)
            K = self.rows(p.x, jv, jj, d, bnd, dt) if self.implicit else jj.u
            w = self._weights(p, part, W)
            sw = np.sqrt(w)
            rows.append((sw[:, None, None] * K).reshape(-1, K.shape[-1]))
            rhs.append((-sw[:, None] * F).reshape(-1))
            res2 += float(np.sum(w[:, None] * F * F))
        if not rows:
            P = self.net.n_params
            return ("rows", np.zeros((0, P)), np.zeros(0), 0.0)
        return self._rows_system(np.concatenate(rows), np.concatenate(rhs), res2)

    def _seeded_system(self, theta, sample, dt, W):
        """:meth:`system`'s rows by one reverse sweep per part seeded with the linearization
        (a channel per residual), written straight into the stacked matrix and weighted in
        place: no per-part copy, no concatenation of the rows."""
        parts, res2 = [], 0.0
        for p, bnd, part, d in self._parts(sample):
            vals, lin = self.net.linearize(p.x, theta, order=part.residual_order,
                                           **self._lap_only(part))
            jv = self.jet(vals)
            F = self.pe.residual(p.x, jv, d, boundary=bnd)              # (M, c)
            w = self._weights(p, part, W)
            parts.append((lin, self.row_cotangent(p.x, jv, d, bnd, dt), F, np.sqrt(w)))
            res2 += float(np.sum(w[:, None] * F * F))
        P = self.net.n_params
        A = np.empty((sum(F.size for _, _, F, _ in parts), P))
        b, k = np.empty(A.shape[0]), 0
        for lin, cot, F, sw in parts:
            M, c = F.shape
            K = lin.rows(cot, out=A[k:k + M * c].reshape(M, c, P))
            K *= sw[:, None, None]
            b[k:k + M * c] = (-sw[:, None] * F).reshape(-1)
            k += M * c
        return self._rows_system(A, b, res2)

    @staticmethod
    def _rows_system(A, b, res2):
        if not (np.all(np.isfinite(A)) and np.all(np.isfinite(b))):
            from nedsym.solve.iteration import NonFiniteStep

            raise NonFiniteStep("non-finite residual or Jacobian")
        return ("rows", A, b, math.sqrt(res2))

    def rows(self, X, jv, jj, data, bnd, dt):
        """Rows :math:`J + \\Delta t\\,\\partial F/\\partial(D^\\alpha u)\\,
        \\partial_\\theta D^\\alpha u` (or the linearization alone for ``dt = inf``)."""
        lin = self.pe.linearization(X, jv, data, boundary=bnd)
        occs = self.pe.occurrences(boundary=bnd)
        M, nres, P = jj.u.shape[0], len(lin), jj.u.shape[2]
        if math.isinf(dt):       # one row per residual (a part may have more than fields)
            K = np.zeros((M, nres, P))
        elif nres != jj.u.shape[1]:
            raise ConfigError(f"a finite dt steps u_t = -F: it needs one residual per field, "
                              f"but a part has {nres} residuals for {jj.u.shape[1]} fields "
                              "(use dt=math.inf, Gauss–Newton)")
        else:
            K = jj.u.copy()
        scale = 1.0 if math.isinf(dt) else dt
        for k in range(nres):
            for coef, occ in zip(lin[k], occs, strict=True):
                if np.any(coef):
                    K[:, k, :] += scale * coef[:, None] * jj.take(occ)
        return K

    def row_cotangent(self, X, jv, data, bnd, dt):
        """The rows of :meth:`rows` as a cotangent of the jet, one channel per residual:
        ``Network.linearize(...).rows`` of it gives them in one reverse sweep."""
        lin = self.pe.linearization(X, jv, data, boundary=bnd)
        occs = self.pe.occurrences(boundary=bnd)
        nres, c = len(lin), jv.u.shape[1]
        if not math.isinf(dt) and nres != c:
            raise ConfigError(f"a finite dt steps u_t = -F: it needs one residual per field, "
                              f"but a part has {nres} residuals for {c} fields "
                              "(use dt=math.inf, Gauss–Newton)")
        scale = 1.0 if math.isinf(dt) else dt
        cot = _cotangent(jv, occs, [[scale * coef for coef in row] for row in lin],
                         channels=nres)
        if not math.isinf(dt):     # the rows J + dt dF/d(D^a u) d_theta D^a u
            cot.u[:, np.arange(nres), np.arange(nres)] += 1.0
        return cot

    def weak_system(self, theta, sample):
        """``("gram", G, -grad E_h, |grad E_h|)``: the interior Gram matrix and the exact
        gradient of the sampled energy."""
        W = self._weight_total(sample[0])
        P = self.net.n_params
        G, g = np.zeros((P, P)), np.zeros(P)
        for p, bnd, part, d in self._parts(sample, energy=True):
            vals, jac = self.net.jacobian(p.x, theta, order=part.order)
            jv, jj = self.jet(vals), self.jet(jac)
            w = p.w / W
            cot = self.pe.cotangent(p.x, jv, d, boundary=bnd)
            for coef, occ in zip(cot, self.pe.occurrences(bnd, density_only=True), strict=True):
                g += (w * coef) @ jj.take(occ)
            if not bnd:
                Ju = jj.u.reshape(-1, P) * np.repeat(np.sqrt(w), jj.u.shape[1])[:, None]
                G += Ju.T @ Ju
        if not (np.all(np.isfinite(G)) and np.all(np.isfinite(g))):
            from nedsym.solve.iteration import NonFiniteStep

            raise NonFiniteStep("non-finite gradient or Gram matrix")
        return ("gram", G, -g, float(np.linalg.norm(g)))

    def gradient(self, theta, sample) -> tuple[float, np.ndarray]:
        """The sampled energy and its exact gradient in ``theta``; through the network's
        vector-Jacobian product (no Jacobian formed) when it has one."""
        val, grad = 0.0, np.zeros(self.net.n_params)
        W = self._weight_total(sample[0])
        for p, bnd, part, d in self._parts(sample, energy=True):
            if self.least_squares:          # the merit's weights (a weighted mean square)
                from nedsym.quadrature.points import Points

                p = Points(p.x, self._weights(p, part, W), p.normals)
            occs = self.pe.occurrences(bnd, density_only=True)
            # a residual read through its Laplacian: so is its square, and the network
            # propagates the Laplacian alone (3-4x cheaper than the Hessian)
            lap = self._lap_only(part) if self.least_squares and part.order == 2 else {}
            if hasattr(self.net, "vjp"):
                jv = self.jet(self.net.forward(p.x, theta, order=part.order, **lap))
                val += float(p.w @ self.pe.density(p.x, jv, d, boundary=bnd))
                cot = self.pe.cotangent(p.x, jv, d, boundary=bnd)
                grad += self.net.vjp(p.x, theta, _cotangent(jv, occs, [p.w * c for c in cot]))
                continue
            vals, jac = self.net.jacobian(p.x, theta, order=part.order, **lap)
            jv, jj = self.jet(vals), self.jet(jac)
            val += float(p.w @ self.pe.density(p.x, jv, d, boundary=bnd))
            cot = self.pe.cotangent(p.x, jv, d, boundary=bnd)
            for coef, occ in zip(cot, occs, strict=True):
                grad += (p.w * coef) @ jj.take(occ)
        return val, grad

    def merit(self, theta, sample) -> float:
        """What an accepted step must not increase: the sampled energy (weak route) or
        :math:`\\tfrac12\\sum_i w_i |F_i|^2/\\sum_i w_i` (strong route, interior and
        boundary)."""
        if self.residual_kind == "weak":
            return self.energy(theta, sample)
        W = self._weight_total(sample[0])
        total = 0.0
        for p, bnd, part, d in self._parts(sample):
            jv = self.jet(self.net.forward(p.x, theta, order=part.residual_order,
                                           **self._lap_only(part)))
            F = self.pe.residual(p.x, jv, d, boundary=bnd)
            total += float(np.sum(self._weights(p, part, W)[:, None] * F * F))
        return 0.5 * total

    def partial_sums(self, theta, sample, dt: float, what: str) -> dict:
        """Additive partial sums of ``what`` (``"energy"``, ``"merit"`` or ``"system"``) on a
        shard (use ``raw_weights=True``): adding them over shards and dividing by the total
        weight ``W`` gives the whole sample's value."""
        pts = sample[0]
        W = 0.0 if pts is None else float(pts.w.sum())
        if what == "energy":
            return {"value": self.energy(theta, sample)}
        if what == "merit":
            return {"value": self.merit(theta, sample), "W": W}
        if self.residual_kind == "weak":
            _, G, b, _ = self.weak_system(theta, sample)
            return {"AtA": G, "Atb": b, "res2": 0.0, "W": W}
        _, A, b, r = self.system(theta, sample, dt)
        return {"AtA": A.T @ A, "Atb": A.T @ b, "res2": r * r, "W": W}
