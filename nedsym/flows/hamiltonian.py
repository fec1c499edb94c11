r"""Hamiltonian and costate equations of depth (optimal-control) models.

A network read as an ODE in depth :math:`t \in [0, T]`,

.. math::
    \dot x = F(x, \theta, t), \qquad
    J(\theta) = \Phi(x(T)) + \int_0^T L(x, \theta, t)\,dt,

has (sign convention of the Pontryagin maximum principle) the Hamiltonian

.. math::  H(x, p, \theta, t) = p \cdot F(x, \theta, t) - L(x, \theta, t),

the costate equation :math:`\dot p = -\partial H/\partial x` with
:math:`p(T) = -\partial\Phi/\partial x(T)`, and the gradient
:math:`\delta J/\delta\theta(t) = -\partial H/\partial\theta`. With this sign
:math:`p(t) = -\partial J/\partial x(t)`: the costate is (minus) the loss
gradient with respect to the hidden state, the momentum conjugate to it, and
an optimal :math:`\theta(t)` maximizes :math:`H`.

Everything here is symbolic and done once: :func:`hamiltonian_system` for a
finite state, :func:`width_depth_hamiltonian` for the pointwise part of the
integro-differential (continuum width) model.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

import sympy as sp

from nedsym.errors import DeclarationError
from nedsym.symbolic.safe import to_expr
from nedsym.symbolic.variational import check_differentiable

__all__ = [
    "HamiltonianSystem",
    "WidthDepthHamiltonian",
    "flatten_symbols",
    "hamiltonian_system",
    "width_depth_hamiltonian",
]


def flatten_symbols(items, what: str) -> tuple[sp.Symbol, ...]:
    """Flatten symbols, vectors and matrices (row-major) into a tuple of distinct symbols.

    Example
    -------
    >>> a, b = sp.symbols("a b")
    >>> flatten_symbols([a, sp.Matrix([[b]])], "params")
    (a, b)
    """
    if isinstance(items, (sp.Symbol, sp.MatrixBase)):
        items = [items]
    out: list[sp.Symbol] = []
    for it in items:
        entries = list(it) if isinstance(it, (sp.MatrixBase, list, tuple)) else [it]
        for e in entries:
            if not isinstance(e, sp.Symbol):
                raise DeclarationError(
                    f"{what}: {e!r} is not a symbol; declare {what} with "
                    "nedsym.depth.vector('x', n) / nedsym.depth.matrix('W', n, n) or sympy "
                    "symbols")
            out.append(e)
    if len(set(out)) != len(out):
        dup = sorted({s.name for s in out if out.count(s) > 1})
        raise DeclarationError(f"{what}: repeated symbol(s) {dup}")
    return tuple(out)


@dataclass(frozen=True)
class HamiltonianSystem:
    r"""The Pontryagin system of :math:`\dot x = F(x, \theta, t)` (all sympy).

    Attributes
    ----------
    state: the state symbols :math:`x_i`.
    costate: the costate symbols :math:`p_i` (named ``p_<state name>``).
    params: the flattened parameter symbols :math:`\theta_j`.
    data: per-sample data symbols of the terminal cost (e.g. targets).
    time: the depth variable :math:`t`.
    rhs: :math:`F_i = \partial H/\partial p_i`.
    running_cost: :math:`L`.
    terminal_cost: :math:`\Phi(x, \text{data})` (``0`` when none was given).
    hamiltonian: :math:`H = p\cdot F - L`.
    terminal_costate: :math:`p_i(T) = -\partial\Phi/\partial x_i`.
    costate_rhs: :math:`\dot p_i = -\partial H/\partial x_i`.
    dH_dx: :math:`\partial H/\partial x_i` (the vector-Jacobian product plus cost term).
    dH_dtheta: :math:`\partial H/\partial\theta_j`; the loss gradient is its negative.

    The last three are derived on first use: a model whose dense layers are evaluated
    by matrix products (:mod:`nedsym.depth.dense`) never needs their scalar expansion
    (minutes of sympy at width 64).
    """

    state: tuple[sp.Symbol, ...]
    costate: tuple[sp.Symbol, ...]
    params: tuple[sp.Symbol, ...]
    data: tuple[sp.Symbol, ...]
    time: sp.Symbol
    rhs: tuple[sp.Expr, ...]
    running_cost: sp.Expr
    terminal_cost: sp.Expr
    hamiltonian: sp.Expr
    terminal_costate: tuple[sp.Expr, ...]

    @cached_property
    def dH_dx(self) -> tuple[sp.Expr, ...]:
        return tuple(sp.diff(self.hamiltonian, x) for x in self.state)

    @cached_property
    def dH_dtheta(self) -> tuple[sp.Expr, ...]:
        return tuple(sp.diff(self.hamiltonian, q) for q in self.params)

    @cached_property
    def costate_rhs(self) -> tuple[sp.Expr, ...]:
        return tuple(-g for g in self.dH_dx)

    @property
    def autonomous(self) -> bool:
        """True when neither F nor L depends explicitly on the depth t."""
        return self.time not in self.hamiltonian.free_symbols

    def phase_space_divergence(self) -> sp.Expr:
        r""":math:`\sum_i \partial_{x_i}\dot x_i + \partial_{p_i}\dot p_i` (identically 0:
        the :math:`(x, p)` flow preserves volume)."""
        div = sum((sp.diff(f, x) for f, x in zip(self.rhs, self.state, strict=True)),
                  sp.Integer(0))
        div += sum((sp.diff(g, p) for g, p in zip(self.costate_rhs, self.costate, strict=True)),
                   sp.Integer(0))
        return sp.simplify(div)

    def pretty(self) -> str:
        """A readable summary of the derived system."""
        lines = [f"H = {self.hamiltonian}"]
        for x, f in zip(self.state, self.rhs, strict=True):
            lines.append(f"  d{x}/dt = {f}")
        for p, g in zip(self.costate, self.costate_rhs, strict=True):
            lines.append(f"  d{p}/dt = {g}")
        for p, g in zip(self.costate, self.terminal_costate, strict=True):
            lines.append(f"  {p}(T) = {g}")
        return "\n".join(lines)


def _vector(exprs, what: str) -> tuple[sp.Expr, ...]:
    if isinstance(exprs, sp.MatrixBase):
        exprs = list(exprs)
    elif not isinstance(exprs, (list, tuple)):
        exprs = [exprs]
    try:
        return tuple(to_expr(e, "the dynamics") for e in exprs)
    except (sp.SympifyError, TypeError) as exc:
        raise DeclarationError(f"{what}: cannot read {exprs!r} as sympy expressions") from exc


def hamiltonian_system(state, rhs, params, running_cost=None, terminal_cost=None,
                       data: Iterable = (), time: sp.Symbol | None = None
                       ) -> HamiltonianSystem:
    r"""Derive the Hamiltonian, costate equation and parameter gradient of a depth ODE.

    Parameters
    ----------
    state: the state symbols (a vector or list), :math:`x \in \mathbb{R}^n`.
    rhs: :math:`F(x, \theta, t)`, one expression per state symbol.
    params: parameter symbols, vectors or matrices (flattened row-major).
    running_cost: :math:`L(x, \theta, t)` (default 0).
    terminal_cost: :math:`\Phi(x(T), \text{data})` (default 0).
    data: per-sample symbols of the terminal cost (targets).
    time: the depth symbol (default ``t``).

    Example
    -------
    >>> x0, x1, w = sp.symbols("x0 x1 w")
    >>> s = hamiltonian_system([x0, x1], [sp.tanh(w*x1), -x0], [w])
    >>> s.costate_rhs
    (p_x1, -p_x0*w*(1 - tanh(w*x1)**2))
    """
    xs = flatten_symbols(state, "state")
    th = flatten_symbols(params, "params") if params is not None else ()
    ds = flatten_symbols(list(data), "data") if data else ()
    t = time if time is not None else sp.Symbol("t", real=True)
    if not isinstance(t, sp.Symbol):
        raise DeclarationError(f"time must be a sympy symbol, got {t!r}")
    F = _vector(rhs, "rhs")
    if len(F) != len(xs):
        raise DeclarationError(f"rhs has {len(F)} components but the state has {len(xs)} "
                               f"symbols {[s.name for s in xs]}")
    overlap = set(xs) & set(th) | set(xs) & set(ds) | set(th) & set(ds) | {t} & set(xs + th)
    if overlap:
        raise DeclarationError(f"symbols {sorted(s.name for s in overlap)} are declared in "
                               "more than one role (state, params, data, time)")
    L = to_expr(running_cost, "the running cost") if running_cost is not None else sp.Integer(0)
    Phi = to_expr(terminal_cost, "the terminal cost") if terminal_cost is not None \
        else sp.Integer(0)
    allowed = set(xs) | set(th) | {t}
    for where, e in [*((f"rhs[{i}]", f) for i, f in enumerate(F)), ("running_cost", L)]:
        extra = e.free_symbols - allowed
        if extra:
            raise DeclarationError(
                f"{where} uses undeclared symbol(s) {sorted(s.name for s in extra)}; "
                f"declare them as state, params or time")
        check_differentiable(e, where)
    extra = Phi.free_symbols - set(xs) - set(ds) - set(th)
    if extra:
        raise DeclarationError(f"terminal_cost uses undeclared symbol(s) "
                               f"{sorted(s.name for s in extra)}; declare them as data")
    if Phi.free_symbols & set(th):
        raise DeclarationError("terminal_cost may depend on the state and data only, not on "
                               "params (put parameter costs into running_cost)")
    check_differentiable(Phi, "terminal_cost")
    ps = tuple(sp.Symbol(f"p_{x.name}", real=True) for x in xs)
    clash = set(ps) & (allowed | set(ds))
    if clash:
        raise DeclarationError(f"costate names {sorted(s.name for s in clash)} clash with "
                               "declared symbols; rename them")
    H = sum((p * f for p, f in zip(ps, F, strict=True)), sp.Integer(0)) - L
    return HamiltonianSystem(
        state=xs, costate=ps, params=th, data=ds, time=t, rhs=F, running_cost=L,
        terminal_cost=Phi, hamiltonian=H,
        terminal_costate=tuple(-sp.diff(Phi, x) for x in xs))


@dataclass(frozen=True)
class WidthDepthHamiltonian:
    r"""Pointwise part of the continuum-width Hamiltonian.

    For :math:`\partial_t u(y) = \sigma(z(y))`,
    :math:`z(y) = \int_\Omega w(y, y')\,u(y')\,dy' + b(y)`, the Hamiltonian

    .. math:: H = \int_\Omega h(p(y), z(y))\,dy - \frac{\lambda}{2}\Big(\iint w^2 + \int b^2\Big),
        \qquad h(p, z) = p\,\sigma(z),

    depends on :math:`(u, w, b)` only through the linear map :math:`z`, so the
    chain rule gives, with :math:`g = \partial h/\partial z = p\,\sigma'(z)`,

    .. math::
        \frac{\delta H}{\delta u(y')} = \int_\Omega w(y, y')\,g(y)\,dy, \quad
        \frac{\delta H}{\delta w(y, y')} = g(y)\,u(y') - \lambda w, \quad
        \frac{\delta H}{\delta b(y)} = g(y) - \lambda b.

    Attributes
    ----------
    z, p: the pointwise symbols.
    sigma: :math:`\sigma(z)`.
    density: :math:`h = p\,\sigma(z)`.
    dh_dz: :math:`g = \partial h / \partial z` (derived by sympy).
    """

    z: sp.Symbol
    p: sp.Symbol
    sigma: sp.Expr
    density: sp.Expr
    dh_dz: sp.Expr


def width_depth_hamiltonian(sigma, z: sp.Symbol | None = None) -> WidthDepthHamiltonian:
    r"""Derive :math:`g = \partial_z [p\,\sigma(z)]` for an activation given as a sympy expression.

    ``sigma``: an expression in ``z`` (or a callable ``sigma(z)``, e.g. ``sympy.tanh``).

    Example
    -------
    >>> width_depth_hamiltonian(sp.tanh).dh_dz
    p*(1 - tanh(z)**2)
    """
    z = z if z is not None else sp.Symbol("z", real=True)
    expr = sigma(z) if callable(sigma) and not isinstance(sigma, sp.Basic) \
        else to_expr(sigma, "the activation")
    extra = expr.free_symbols - {z}
    if extra:
        raise DeclarationError(f"activation sigma may depend on {z} only; it uses "
                               f"{sorted(s.name for s in extra)}")
    check_differentiable(expr, "sigma")
    p = sp.Symbol("p", real=True)
    h = p * expr
    return WidthDepthHamiltonian(z=z, p=p, sigma=expr, density=h, dh_dz=sp.diff(h, z))

