r"""Monotone finite-difference solver of :math:`u_t + H(\nabla u) = \nu\Delta u` on a grid.

The numerical Hamiltonian is lowered symbolically at a generic grid point, from the one-sided
differences :math:`D^\pm_k u = \pm(u_{i\pm e_k} - u_i)/h_k`, and printed by
:mod:`nedsym.codegen` (NumPy reference or parallel Numba) like every other nedsym kernel:

* ``"godunov"`` (separable convex :math:`H = c + \sum_k g_k(p_k)`, :math:`g_k` convex with its
  minimum at 0, e.g. :math:`\tfrac12|p|^2`): the Godunov/Rouy–Tourin flux
  :math:`\hat H = c + \sum_k \max\big(g_k(\max(D^-_k u, 0)),\ g_k(\min(D^+_k u, 0))\big)`;
* ``"lax-friedrichs"`` (any :math:`H`): :math:`\hat H = H\big(\tfrac{D^- u + D^+ u}{2}\big)
  - \sum_k \tfrac{\alpha_k}{2}(D^+_k u - D^-_k u)`,
  :math:`\alpha_k \ge \max|\partial H/\partial p_k|`.

Both are monotone under the CFL condition
:math:`\Delta t\,\big(\sum_k \alpha_k/h_k + 2\nu\sum_k 1/h_k^2\big) \le 1`, hence
first-order convergent to the viscosity solution; the viscous term is the central
second difference. Time stepping is explicit Euler (or SSP-RK2) in a Python loop around
the generated kernel. Non-periodic axes use quadratic extrapolation into the ghost cells
(an outflow condition: exact for quadratic :math:`u`, so the quadratic growth of a
typical loss does not reflect back into the domain).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from nedsym.codegen import build_map_kernel, compile_kernel, index_symbols
from nedsym.discretize.grid import Grid
from nedsym.errors import DiscretizationError
from nedsym.symbolic.declare import Param

__all__ = ["HJGridSolver", "HJSolution", "numerical_hamiltonian", "SCHEMES"]

SCHEMES = ("godunov", "lax-friedrichs")


def _separable_parts(H: sp.Expr, p: tuple[sp.Symbol, ...]):
    """``(c, [g_k])`` with ``H = c + sum_k g_k(p_k)``, ``g_k(0) = 0``, or ``None``."""
    zero = {q: 0 for q in p}
    c = H.xreplace(zero)
    parts = [sp.simplify(H.xreplace({q: 0 for q in p if q != pk}) - c) for pk in p]
    if sp.simplify(H - c - sum(parts)) != 0:
        return None
    return c, parts


def numerical_hamiltonian(H: sp.Expr, p: tuple[sp.Symbol, ...], dm, dp, scheme: str,
                          alphas=None) -> sp.Expr:
    r"""The numerical Hamiltonian :math:`\hat H(D^-u, D^+u)` of ``scheme`` (see the module
    docstring). ``dm``, ``dp``: the one-sided differences per axis (sympy); ``alphas``:
    the Lax–Friedrichs dissipation coefficients (symbols or numbers).

    Example
    -------
    >>> p = (sp.Symbol("p"),); a, b = sp.symbols("a b")
    >>> numerical_hamiltonian(p[0]**2/2, p, [a], [b], "godunov")
    Max(Max(0, a)**2/2, Min(0, b)**2/2)
    """
    if scheme == "godunov":
        split = _separable_parts(H, p)
        if split is None:
            raise DiscretizationError(
                f"scheme 'godunov' needs a separable Hamiltonian H = c + sum_k g_k(p_k); "
                f"H = {H} is not: use scheme='lax-friedrichs'")
        c, parts = split
        out = c
        for pk, g, a, b in zip(p, parts, dm, dp, strict=True):
            convex = sp.diff(g, pk, 2)
            slope0 = sp.diff(g, pk).xreplace({pk: 0})
            if not (convex.is_nonnegative or sp.simplify(convex).is_nonnegative) or \
                    sp.simplify(slope0) != 0:
                raise DiscretizationError(
                    f"scheme 'godunov' needs each part g(p) of H convex with its minimum at "
                    f"p = 0; {pk}: g = {g} is not (or sympy cannot tell): use "
                    "scheme='lax-friedrichs'")
            out += sp.Max(g.xreplace({pk: sp.Max(a, 0)}), g.xreplace({pk: sp.Min(b, 0)}))
        return out
    if scheme == "lax-friedrichs":
        if alphas is None:
            raise DiscretizationError("scheme 'lax-friedrichs' needs the coefficients alphas")
        mid = {pk: (a + b) / 2 for pk, a, b in zip(p, dm, dp, strict=True)}
        return H.xreplace(mid) - sum(al * (b - a) / 2
                                     for al, a, b in zip(alphas, dm, dp, strict=True))
    raise DiscretizationError(f"unknown scheme {scheme!r}; valid: {list(SCHEMES)}")


@dataclass
class HJSolution:
    """A grid solution of the Hamilton–Jacobi equation.

    Attributes: ``u`` (values at the cell centres, shape ``grid.shape``), ``t``, ``steps``,
    ``dt`` (last step), ``times`` and ``snapshots`` (if requested), ``wall_time``.
    """

    u: np.ndarray
    t: float
    steps: int
    dt: float
    times: list[float] = field(default_factory=list)
    snapshots: list[np.ndarray] = field(default_factory=list)
    wall_time: float = 0.0


class HJGridSolver:
    r"""A :class:`~nedsym.flows.HamiltonJacobi` equation on a :class:`~nedsym.Grid`.

    Parameters
    ----------
    hj: the equation (its loss is the initial condition).
    grid: the grid; periodic axes wrap, others extrapolate (outflow).
    backend: ``"numpy"`` or ``"numba"`` (generated kernels).
    scheme: ``"godunov"`` (default) or ``"lax-friedrichs"``.
    cfl: safety factor of the monotonicity (CFL) condition, in ``(0, 1]``.

    Example
    -------
    >>> import nedsym as ns
    >>> from nedsym.flows import HamiltonJacobi
    >>> x, = ns.coords("x")
    >>> hj = HamiltonJacobi(x**2/2, coords=[x], beta=2.0)
    >>> sol = hj.discretize(ns.Grid(200, [(-4, 4)], bc="neumann"), backend="numpy").solve(0.5)
    >>> round(float(sol.u[100]), 2)    # closed form at x = 0.02: 0.0001 + 0.25*log(1.5)
    0.1
    """

    def __init__(self, hj, grid: Grid, backend: str = "numba", scheme: str = "godunov",
                 cfl: float = 0.9):
        if not isinstance(grid, Grid):
            raise DiscretizationError(f"HJGridSolver needs a nedsym Grid, got "
                                      f"{type(grid).__name__}")
        if grid.ndim != hj.ndim:
            raise DiscretizationError(f"the equation has {hj.ndim} coordinates "
                                      f"{[c.name for c in hj.coords]}, the grid {grid.ndim} axes")
        if not 0 < cfl <= 1:
            raise DiscretizationError(f"cfl must be in (0, 1], got {cfl}")
        for a, (n, per) in enumerate(zip(grid.shape, grid.periodic, strict=True)):
            if not per and n < 3:
                raise DiscretizationError(f"axis {a}: extrapolation needs >= 3 cells, got {n}")
        self.hj, self.grid, self.backend, self.scheme, self.cfl = hj, grid, backend, scheme, cfl
        nd = grid.ndim
        idx = index_symbols(nd)
        U = sp.IndexedBase("u")
        hs = [sp.Symbol(f"h{k}", positive=True) for k in range(nd)]
        nu = sp.Symbol("nu", real=True)
        alphas = [sp.Symbol(f"alpha{k}", real=True) for k in range(nd)]

        def at(k, s):
            return U[tuple(i + (s if a == k else 0) for a, i in enumerate(idx))]

        centre = U[idx]
        dm = [(centre - at(k, -1)) / hs[k] for k in range(nd)]
        dp = [(at(k, 1) - centre) / hs[k] for k in range(nd)]
        params = sorted((s for s in hj.hamiltonian.free_symbols if isinstance(s, Param)),
                        key=lambda s: s.name)
        H = hj.hamiltonian.xreplace({s: sp.Symbol(s.name, real=True) for s in params})
        Hhat = numerical_hamiltonian(H, hj.p, dm, dp, scheme,
                                     alphas if scheme == "lax-friedrichs" else None)
        lap = sum((at(k, 1) - 2 * centre + at(k, -1)) / hs[k] ** 2 for k in range(nd))
        self.rhs_expr = -Hhat + nu * lap
        self.scalar_names = [s.name for s in params] + ["nu"] + [h.name for h in hs] + \
            [a.name for a in alphas]
        self.kernel_ir = build_map_kernel(["u"], 1, {"u": self.rhs_expr}, self.scalar_names, nd)
        self._kernel = compile_kernel(self.kernel_ir, backend)
        self._param_values = [float(s.default) for s in params]
        self.nu = 0.0 if hj.inviscid else 1.0 / (2.0 * hj.beta_value)
        self._speeds = [sp.lambdify(hj.p, sp.diff(hj.hamiltonian.xreplace(
            {s: s.default for s in params}), pk), "numpy") for pk in hj.p]
        self._yp = np.zeros((1, *grid.padded_shape(1)))
        self._out = np.zeros((1, *grid.shape))

    # -- pieces --------------------------------------------------------------------
    def initial(self) -> np.ndarray:
        """The loss at the cell centres (the initial condition)."""
        f = sp.lambdify(self.hj.coords, self.hj.loss.xreplace(
            {s: v for s, v in self.hj.params.items() if v is not None}), "numpy")
        return np.broadcast_to(np.asarray(f(*self.grid.mesh()), dtype=float),
                               self.grid.shape).copy()

    def _fill(self, u: np.ndarray) -> np.ndarray:
        yp = self._yp
        yp[(0,) + (slice(1, -1),) * self.grid.ndim] = u
        for a, per in enumerate(self.grid.periodic):
            v = np.moveaxis(yp[0], a, 0)
            if per:
                v[0], v[-1] = v[-2], v[1]
            else:
                v[0] = 3 * v[1] - 3 * v[2] + v[3]
                v[-1] = 3 * v[-2] - 3 * v[-3] + v[-4]
        return yp

    def speeds(self, u: np.ndarray) -> list[float]:
        r""":math:`\alpha_k = \max |\partial H/\partial p_k|` over the one-sided differences of
        ``u`` (the CFL speeds, and the Lax–Friedrichs coefficients)."""
        yp = self._fill(u)[0]
        out = []
        for k, h in enumerate(self.grid.spacing):
            d = np.diff(yp, axis=k) / h
            grads = [np.zeros(1)] * self.grid.ndim
            grads[k] = d.ravel()
            out.append(float(np.max(np.abs(self._speeds[k](*grads)))))
        return out

    def scalars(self, alphas) -> list[float]:
        return self._param_values + [self.nu] + list(self.grid.spacing) + list(alphas)

    def rhs(self, u: np.ndarray, alphas=None) -> np.ndarray:
        """The semi-discrete right-hand side :math:`-\\hat H + \\nu\\Delta_h u` (a new array)."""
        alphas = self.speeds(u) if alphas is None else alphas
        self._kernel(self._fill(u), self._out, *self.scalars(alphas))
        return self._out[0].copy()

    def stable_dt(self, alphas) -> float:
        """The largest step allowed by the monotonicity (CFL) condition, times ``cfl``."""
        rate = sum(a / h for a, h in zip(alphas, self.grid.spacing, strict=True)) + \
            2 * self.nu * sum(1 / h**2 for h in self.grid.spacing)
        return self.cfl / rate if rate > 0 else float("inf")

    # -- running ---------------------------------------------------------------------
    def solve(self, t_end: float, u0: np.ndarray | None = None, stepper: str = "euler",
              snapshot_times=(), progress: bool | None = False,
              checkpoint: str | None = None, resume: str | None = None) -> HJSolution:
        """Step from ``u0`` (default: the loss) to ``t_end`` on :func:`nedsym.solve.integrate`.

        ``stepper``: ``"euler"`` or ``"ssprk2"`` (both keep the scheme monotone). The step is
        automatic: the speeds :math:`\\alpha_k` (×1.1) and with them the CFL step are
        re-estimated as the run goes, and after a failed health check (NaN/Inf) the step is
        halved from the last good state; a run that still fails raises
        :class:`~nedsym.errors.BlowUpError`. Ctrl-C returns the state reached so far;
        ``checkpoint``/``resume`` as for ``integrate``.
        """
        from nedsym.solve import integrate

        if stepper not in ("euler", "ssprk2"):
            raise DiscretizationError(f"unknown stepper {stepper!r}; valid: 'euler', 'ssprk2'")
        if not (np.isfinite(t_end) and t_end >= 0):
            raise DiscretizationError(f"t_end must be finite and >= 0, got {t_end}")
        u = self.initial() if u0 is None else np.array(u0, dtype=float)
        if u.shape != self.grid.shape:
            raise DiscretizationError(f"u0 has shape {u.shape}, the grid {self.grid.shape}")
        pending = sorted(float(s) for s in snapshot_times)
        if t_end == 0:
            return HJSolution(u, 0.0, 0, 0.0, [s for s in pending if s == 0],
                              [u.copy() for s in pending if s == 0])
        frozen = {"alphas": [1.1 * a for a in self.speeds(u)]}

        def rhs(t, y, out):
            out[...] = self.rhs(y, frozen["alphas"])

        def stable(t, y):
            frozen["alphas"] = [1.1 * a for a in self.speeds(y)]
            return self.stable_dt(frozen["alphas"])

        res = integrate(rhs, u, float(t_end), stepper=stepper, stable_dt=stable,
                        snapshot_times=pending or None, progress=progress,
                        checkpoint=checkpoint, resume=resume)
        d = res.diagnostics
        sol = HJSolution(res.final, float(d["t"]), int(d["steps"]),
                         float(res.dt_history[-1]) if len(res.dt_history) else 0.0,
                         [float(s) for s in res.times] if pending else [],
                         [f.copy() for f in res.fields] if pending else [])
        sol.wall_time = float(d["wall_time"])
        return sol

    def source(self) -> str:
        """The generated kernel source."""
        return self._kernel.source()

    def __repr__(self) -> str:
        return (f"HJGridSolver({self.scheme} on {self.grid}, backend={self.backend}, "
                f"nu={self.nu:g})")
