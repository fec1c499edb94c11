r"""Hamilton–Jacobi equations of a loss: the PDE behind local entropy (deep relaxation).

For a loss :math:`f(x)`, :math:`x \in \mathbb{R}^n`, the *viscous* Hamilton–Jacobi equation

.. math::
    u_t + H(\nabla u) = \nu\,\Delta u, \qquad u(x, 0) = f(x),
    \qquad H(p) = \tfrac12 |p|^2, \quad \nu = \tfrac{1}{2\beta},

has the solution :math:`u(x, \gamma) = f_\gamma(x)`, the *local entropy*

.. math::
    f_\gamma(x) = -\frac1\beta \log \int G_\gamma(x - y)\, e^{-\beta f(y)}\,dy,
    \qquad G_\gamma(z) = \Big(\frac{\beta}{2\pi\gamma}\Big)^{n/2} e^{-\beta |z|^2/(2\gamma)},

because :math:`v = e^{-\beta u}` solves the heat equation :math:`v_t = \nu\Delta v`
(Cole–Hopf). As :math:`\beta \to \infty` it becomes the inviscid equation
:math:`u_t + \tfrac12|\nabla u|^2 = 0`, solved by the Hopf–Lax formula (the Moreau envelope)
:math:`u(x, t) = \min_y f(y) + |x - y|^2/(2t)`.

This module is the symbolic side only (what the equation *is*); grids and solvers live in
:mod:`nedsym.relax`, reached lazily through :meth:`HamiltonJacobi.discretize`.
"""

from __future__ import annotations

from collections.abc import Sequence

import sympy as sp

from nedsym.errors import DeclarationError
from nedsym.symbolic.declare import Field, Param
from nedsym.symbolic.safe import formula_parser, to_expr

__all__ = ["HamiltonJacobi"]


def _as_coords(loss: sp.Expr, coords) -> tuple[sp.Symbol, ...]:
    if coords is None:
        free = sorted((s for s in loss.free_symbols if not isinstance(s, Param)),
                      key=lambda s: s.name)
        if not free:
            raise DeclarationError(f"the loss {loss} depends on no coordinate; "
                                   "pass coords=ns.coords('x y')")
        return tuple(free)
    if isinstance(coords, str):
        coords = sp.symbols(coords.replace(",", " "), real=True)
        coords = (coords,) if isinstance(coords, sp.Symbol) else coords
    coords = tuple(coords)
    if not coords or not all(isinstance(c, sp.Symbol) for c in coords):
        raise DeclarationError(f"coords must be sympy symbols, got {coords!r}")
    by_name = {c.name: c for c in coords}
    stray = [s.name for s in loss.free_symbols
             if s.name not in by_name and not isinstance(s, Param)]
    if stray:
        raise DeclarationError(
            f"the loss contains symbols {sorted(stray)} that are neither coordinates "
            f"{[c.name for c in coords]} nor nedsym.Param parameters")
    return coords


class HamiltonJacobi:
    r"""The Hamilton–Jacobi equation :math:`u_t = -H(\nabla u) + \nu\,\Delta u`,
    :math:`u(\cdot, 0) = f`, of a loss :math:`f`.

    Parameters
    ----------
    loss: the loss :math:`f` as a sympy expression in ``coords`` (other symbols must be
        :class:`~nedsym.Param` with defaults).
    coords: the coordinates (parameter-space axes); default: the loss's free symbols.
    beta: inverse temperature :math:`\beta` (a number or a :class:`~nedsym.Param`);
        ``None`` or ``inf`` gives the inviscid equation (:math:`\nu = 0`, Hopf–Lax limit).
    hamiltonian: :math:`H(p)` as an expression in the momentum symbols :attr:`p`
        (``p_x, p_y, ...``); default :math:`\tfrac12|p|^2` (deep relaxation). A callable
        ``H(p_symbols) -> expr`` is accepted too.

    Attributes
    ----------
    u: the value field :math:`u(x_1, \dots, x_n)` (a :class:`~nedsym.Field`).
    p: momentum symbols. hamiltonian: :math:`H(p)`. viscosity: :math:`\nu` (sympy).
    rhs: :math:`-H(\nabla u) + \nu\Delta u` in the field ``u`` (sympy).
    initial: the loss :math:`f`.

    Example
    -------
    >>> import nedsym as ns
    >>> x, = ns.coords("x")
    >>> hj = HamiltonJacobi(x**4/4 - x**2/2, coords=[x], beta=2.0)
    >>> hj.rhs
    -Derivative(u(x), x)**2/2 + Derivative(u(x), (x, 2))/4
    """

    def __init__(self, loss, coords: Sequence[sp.Symbol] | str | None = None,
                 beta=None, hamiltonian=None, field: str = "u"):
        parse = formula_parser(coords if coords is not None else "x") \
            if isinstance(loss, str) else None
        self.loss = to_expr(loss, "the loss", parse=parse)
        self.coords = _as_coords(self.loss, coords)
        names = {c.name: c for c in self.coords}
        # symbols with matching names become the canonical coordinates
        self.loss = self.loss.xreplace({s: names[s.name] for s in self.loss.free_symbols
                                        if s.name in names and s != names[s.name]})
        self.initial = self.loss
        self.ndim = len(self.coords)
        self.u = Field(field, self.coords)
        self.p = tuple(sp.Symbol(f"p_{c.name}", real=True) for c in self.coords)
        if hamiltonian is None:
            H = sp.Rational(1, 2) * sum(pk**2 for pk in self.p)
        elif callable(hamiltonian) and not isinstance(hamiltonian, sp.Basic):
            H = to_expr(hamiltonian(self.p), "the Hamiltonian")
        else:
            H = to_expr(hamiltonian, "the Hamiltonian", hint=" in the momenta (or a callable "
                        "p -> H(p))")
        stray = H.free_symbols - set(self.p) - {s for s in H.free_symbols if isinstance(s, Param)}
        if stray:
            raise DeclarationError(
                f"the Hamiltonian {H} uses {sorted(s.name for s in stray)}; write it in the "
                f"momentum symbols {[q.name for q in self.p]} (HamiltonJacobi.p)")
        self.hamiltonian = H
        self.beta, self.beta_value = self._resolve_beta(beta)
        self.viscosity = sp.S.Zero if self.beta is None else 1 / (2 * self.beta)
        grad_u = [sp.Derivative(self.u, c) for c in self.coords]
        lap_u = sum(sp.Derivative(self.u, (c, 2)) for c in self.coords)
        self.rhs = -H.xreplace(dict(zip(self.p, grad_u, strict=True))) + self.viscosity * lap_u
        self.params = {s: s.default for s in (self.loss.free_symbols | H.free_symbols)
                       if isinstance(s, Param)}
        if self.beta is not None and isinstance(self.beta, Param):
            self.params[self.beta] = self.beta_value

    @staticmethod
    def _resolve_beta(beta):
        if beta is None:
            return None, float("inf")
        if isinstance(beta, Param):
            if beta.default is None or not beta.default > 0:
                raise DeclarationError(f"beta {beta} needs a positive default value")
            return beta, float(beta.default)
        try:
            value = float(beta)
        except (TypeError, ValueError):
            raise DeclarationError(f"beta must be a positive number or a nedsym.Param, "
                                   f"got {beta!r}") from None
        if value == float("inf"):
            return None, value
        if not value > 0:
            raise DeclarationError(f"beta (inverse temperature) must be positive, got {value}")
        return (sp.Integer(int(value)) if value.is_integer() else sp.Float(value)), value

    # -- derived quantities ------------------------------------------------------
    @property
    def inviscid(self) -> bool:
        """Whether :math:`\\nu = 0` (the Hopf–Lax / Moreau-envelope limit)."""
        return self.beta is None

    def characteristic_speeds(self) -> tuple[sp.Expr, ...]:
        r""":math:`\partial H/\partial p_k`, the speeds of the characteristics
        :math:`\dot x = \nabla_p H`."""
        return tuple(sp.diff(self.hamiltonian, pk) for pk in self.p)

    def loss_gradient(self) -> tuple[sp.Expr, ...]:
        r""":math:`\nabla f` (sympy), used by the proximal fixed point and the samplers."""
        return tuple(sp.diff(self.loss, c) for c in self.coords)

    def cole_hopf_residual(self) -> sp.Expr:
        r"""Residual of the Cole–Hopf claim: with :math:`u = -\log(v)/\beta`,
        :math:`u_t - \mathrm{rhs}[u]` equals :math:`-(v_t - \nu\Delta v)/(\beta v)`.

        Returns the simplified difference of the two sides, which is 0 exactly when
        the Hamiltonian is :math:`\tfrac12|p|^2` and :math:`\nu = 1/(2\beta)`.
        """
        if self.beta is None:
            raise DeclarationError("the Cole–Hopf transform needs a finite beta (viscous HJ)")
        t = sp.Symbol("t", real=True)
        v = sp.Function("v")(t, *self.coords)
        u_expr = -sp.log(v) / self.beta
        subs = {sp.Derivative(self.u, c): sp.diff(u_expr, c) for c in self.coords}
        subs.update({sp.Derivative(self.u, (c, 2)): sp.diff(u_expr, c, 2) for c in self.coords})
        rhs = self.rhs.subs(subs)
        heat = sp.diff(v, t) - self.viscosity * sum(sp.diff(v, c, 2) for c in self.coords)
        return sp.simplify(sp.diff(u_expr, t) - rhs + heat / (self.beta * v))

    # -- next stage ------------------------------------------------------------------
    def discretize(self, grid, backend: str = "numba", scheme: str = "godunov",
                   cfl: float = 0.9):
        """A grid solver (:class:`nedsym.relax.HJGridSolver`) of this equation.

        (Imported lazily: ``flows`` never depends on later stages.)
        """
        from nedsym.relax.hj_grid import HJGridSolver

        return HJGridSolver(self, grid, backend=backend, scheme=scheme, cfl=cfl)

    def pretty(self) -> str:
        """Human-readable summary of the equation."""
        from nedsym.symbolic.printing import compact_str

        nu = "0 (inviscid, Hopf–Lax)" if self.beta is None else str(self.viscosity)
        return "\n".join([
            f"Hamilton–Jacobi equation, H(p) = {self.hamiltonian}, viscosity ν = {nu}",
            f"  ∂u/∂t = {compact_str(self.rhs)}",
            f"  u(·, 0) = {self.loss}",
        ])

    def __repr__(self) -> str:
        return self.pretty()
