r"""Neural Energy Descent: the L² gradient flow of an energy, pulled back to network parameters.

Put a network :math:`u(x;\theta(t))` into the gradient flow
:math:`\partial_t u = -\delta E/\delta u`.
The chain rule asks for :math:`\nabla_\theta u\cdot\theta' = -\delta E/\delta u` at every
:math:`x`; solved in least squares this is

.. math::
    G(\theta)\,\theta' = r(\theta),\qquad G = \int_\Omega \nabla_\theta u\,\nabla_\theta u^\top dx,
    \qquad r = -\int_\Omega \nabla_\theta u\;\frac{\delta E}{\delta u}\,dx ,

the natural-gradient flow of :math:`E(\theta)` in the :math:`L^2` metric, along which
:math:`dE/dt = -\theta'^\top G\theta' \le 0`. Each step samples points, forms the rows
:math:`J_i = \nabla_\theta u(x_i)` (weights :math:`w_i`), and solves the ridge-regularized
least-squares problem :math:`\min_v \sum_i w_i |J_i v + F_i|^2 + \varepsilon |v|^2`,
:math:`F_i = \delta E/\delta u(x_i)`, by a Cholesky solve of the normal equations, an SVD,
or the kernel form :math:`v = J^\top (J J^\top + \varepsilon I)^{-1} r` when there are fewer
rows than parameters.

Routes and steps
----------------
* ``residual="strong"`` (default): :math:`F = \delta E/\delta u` from the derived
  Euler–Lagrange expression (it needs the network's spatial derivatives up to twice the
  energy's order). A boundary energy :math:`B(x,u)` adds rows on sampled boundary points
  with :math:`F_b = \partial B/\partial u`. The exact solution is a fixed point whatever the
  boundary penalty's size.
* ``residual="weak"``: :math:`r = -\nabla_\theta E_h` is the exact gradient of the sampled
  energy :math:`E_h = \sum_i w_i L_i` (+ boundary), so small steps on fixed points never
  increase :math:`E_h`.
* ``stepper="euler"``: :math:`\theta \leftarrow \theta + \Delta t\,v`; ``"rk4"``: classical
  Runge–Kutta on the same points; ``"implicit"``: the linearly implicit (Rosenbrock) Euler step
  :math:`(J + \Delta t\,A J)v = -F` with :math:`A = \partial F/\partial u` the derived
  linearization, stable for stiff PDE flows at any :math:`\Delta t`
  (``dt=inf`` is a Gauss–Newton step on :math:`F = 0`). ``"auto"`` picks ``implicit`` when
  :math:`\delta E/\delta u` contains derivatives of :math:`u` and ``euler`` otherwise.

Example
-------
>>> import nedsym as ns, sympy as sp
>>> from nedsym.nn import MLP
>>> x, = ns.coords("x"); u = ns.Field("u", (x,))
>>> E = ns.Energy((u - sp.sin(2*sp.pi*x))**2/2, fields=[u])
>>> ned = ns.NED(E, MLP([1, 20, 1], seed=0), ns.Box([(-1, 1)]), points=200, dt=0.5, seed=0,
...              exact=sp.sin(2*sp.pi*x))
>>> res = ned.run(steps=300)                       # doctest: +SKIP
>>> res.error[-1] < 1e-3                           # doctest: +SKIP
True
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from nedsym.codegen.tableau import RK4
from nedsym.discretize.neural import PointwiseEnergy, PointwiseResidual, SampledSystem
from nedsym.errors import ConfigError, FieldError, SolverError
from nedsym.quadrature.boundary import BoundaryDomain
from nedsym.quadrature.domain import Domain
from nedsym.quadrature.domains import Box, BoxFace
from nedsym.quadrature.points import Points
from nedsym.quadrature.sampler import Sampler
from nedsym.solve.iteration import Iteration, NonFiniteStep, iterate
from nedsym.solve.lstsq import SOLVERS, solve_gram, solve_rows
from nedsym.solve.optim import make_optimizer
from nedsym.symbolic.residual import Residuals

__all__ = ["NED", "NEDResult", "DataSampler", "resolve_part", "solve_rows"]

_RIDGE_CAP = 1e-2
#: a Gauss–Newton increment is trusted when the line search keeps at least this share of it;
#: a shorter step means the linearization is poor there and the ridge grows (up to the cap)
_GN_TRUST = 2.0 ** -4
_GN_RIDGE_CAP = 1e2
_RIDGE_RELAX = 3.0
STEPPERS = ("auto", "euler", "rk4", "implicit")


@dataclass
class NEDResult:
    """What a run returns: the final parameters and per-step histories.

    ``history`` holds arrays ``step``, ``t`` (flow time), ``dt``, ``ridge`` (both as used by
    the accepted step), ``energy`` (sampled energy on the
    step's points), ``residual`` (weighted RMS of :math:`\\delta E/\\delta u` at the start of the
    step, strong route; the gradient norm on the weak route), ``error`` (relative L² error
    against the exact solution, NaN without one), ``wall`` (seconds since the start) and,
    for NED runs, ``step_size`` (the line search's share of a Gauss–Newton increment; with
    ``linesearch="trust"`` 1 for a taken step and 0 when every try was refused; 1 for the
    other steps).
    """

    method: str
    theta: np.ndarray
    history: dict[str, np.ndarray]
    converged: bool = False
    interrupted: bool = False
    reason: str = ""
    options: dict = field(default_factory=dict)

    def __getattr__(self, name):
        hist = self.__dict__.get("history", {})
        if name in hist:
            return hist[name]
        raise AttributeError(name)

    @property
    def steps(self) -> int:
        return int(len(self.history["step"]))

    def time_to(self, error: float) -> float:
        """Wall seconds until the test error first fell below ``error`` (``inf`` if never)."""
        err = self.history["error"]
        hit = np.flatnonzero(err < error)
        return float(self.history["wall"][hit[0]]) if hit.size else math.inf

    def __repr__(self) -> str:
        last = {k: float(v[-1]) for k, v in self.history.items() if len(v)}
        return (f"NEDResult(method={self.method!r}, steps={self.steps}, "
                f"converged={self.converged}, "
                f"interrupted={self.interrupted}, energy={last.get('energy')}, "
                f"error={last.get('error')})")


class DataSampler:
    """Minibatches of a dataset: points ``X`` with per-sample columns, weight ``1/batch`` each.

    The sampled energy is then the mean of the density over the batch (the empirical risk).
    """

    def __init__(self, X, columns: Mapping[str, np.ndarray], batch: int | None, seed=None):
        X = np.asarray(X, dtype=np.float64)
        if X.ndim == 1:
            X = X[:, None]
        self.X = X
        self.columns = {k: np.asarray(v, dtype=np.float64).reshape(len(X)) for k, v in
                        columns.items()}
        self.batch = len(X) if batch is None or batch >= len(X) else int(batch)
        self.rng = np.random.default_rng(seed)
        self.step = 0

    def draw(self):
        self.step += 1
        if self.batch == len(self.X):
            idx = np.arange(len(self.X))
        else:
            idx = self.rng.choice(len(self.X), size=self.batch, replace=False)
        pts = Points(self.X[idx], np.full(len(idx), 1.0 / len(idx)))
        return pts, {k: v[idx] for k, v in self.columns.items()}


class NED:
    r"""Neural Energy Descent for an :class:`~nedsym.Energy` and a network (see the module docs).

    An :class:`~nedsym.Residuals` problem in place of the energy takes the residual route:
    rows :math:`\partial_\theta R` in the interior and on each condition's part, Gauss–Newton
    steps with the line search (``dt=math.inf`` by default) on the weighted mean square.

    Parameters
    ----------
    energy: the energy; its field components are the network's outputs, in order.
    net: a :mod:`nedsym.nn` network (anything with ``n_params``, ``init``, ``forward``,
        ``jacobian`` and ``vjp`` of that interface).
    domain: a :mod:`nedsym.quadrature` domain (interior points; its ``boundary()`` is sampled
        for the boundary energy), or ``None`` with ``data=``.
    points: sample points per step (the batch size for data).
    rule: quadrature rule for the points (``sobol``, ``mc``, ``halton``, ``lhs``, ``gauss``...).
    boundary_points: points on the boundary per step (default: ``points // 4``, at least 32 ...
        in 1-D the boundary has two points and both are used).
    dt: flow time step (default 0.5 for ``euler``/``rk4``, 10 for ``implicit``; ``math.inf``
        with ``implicit`` gives Gauss–Newton steps, globalized by a grid line search).
    linesearch: how Gauss–Newton steps (``dt=math.inf``) are globalized. ``True`` or
        ``"grid"`` (the default there): each step's size among :math:`2^{-k}`,
        :math:`k = 0..20`, by the merit on the step's points (see :meth:`_gauss_newton_step`).
        ``"trust"``: Levenberg–Marquardt, full steps with the ridge steered by the ratio of
        actual to predicted decrease (one merit per try; see :meth:`_trust_region_step`).
        ``False``: the full increment (with the adaptive retries).
    ridge: the Tikhonov term :math:`\varepsilon` (on by default: unregularized solves diverge).
    solver: ``auto``, ``cholesky``, ``svd`` or ``kernel`` (see :func:`solve_rows`).
    stepper: ``auto``, ``euler``, ``rk4`` or ``implicit``.
    residual: ``strong`` or ``weak``.
    resample: draw new points every step (the "efficient NED"); ``False`` keeps the first draw.
    adaptive: retry a step that increases :meth:`merit` too much (see :meth:`step`): on the weak
        route any increase of the sampled energy; on the strong route a growth of the residual
        measure by more than the factor ``merit_growth``.
    max_retries: retries per step before the smallest step is taken anyway.
    seed: seeds the parameter initialization (when ``theta`` is not given) and the sampling.
    theta: initial parameters (default ``net.init(seed)``).
    params: parameter values overriding the energy's defaults.
    exact: the exact solution (sympy expression in the coordinates, a list per component, or a
        callable ``X -> (M,)``/``(M, c)``) for the test error history.
    test_points: size of the fixed Sobol test set for the error.
    data: ``(X, {"y": Y})`` — a dataset instead of a domain; names are per-sample symbols of
        the energy (e.g. ``E = (u - y)**2/2`` with a plain symbol ``y``).
    cluster: a ``dask.distributed.Client`` or scheduler address: the points of each step are
        drawn on the workers (``resample=False``: the first local draw is scattered), every
        worker sums :math:`J^\top J`, :math:`J^\top r`, the merit and the energy over its
        shards, and only :math:`P\times P` matrices travel; the solve stays here.
    shards: number of point shards on the cluster (default: one per worker).
    natural: ``"auto"`` (default): on the strong route, an energy without a boundary term gets
        rows for its natural boundary condition :math:`\partial L/\partial\nabla u\cdot n = 0`
        on ``boundary_points`` per step; ``True`` also for an energy with a boundary term
        (the Robin condition replaces its penalty rows); ``False``: none.
    gram_average: the weight of the past, in [0, 1): solve with the exponential moving
        average of the Gram matrices :math:`A^\top A` of the steps (for resampled points;
        0 = off).
    momentum: in [0, 1), SPRING-style momentum of Gauss–Newton steps (``dt=math.inf``):
        each increment is solved as a correction of this share of the last step (0 = off).
    """

    def __init__(self, energy, net, domain=None, *, points: int = 1000, rule: str = "sobol",
                 boundary_points: int | None = None, dt: float | None = None,
                 ridge: float = 1e-8, solver: str = "auto", stepper: str = "auto",
                 residual: str = "strong", resample: bool = True, adaptive: bool = True,
                 merit_growth: float = 2.0, max_retries: int = 8, seed: int | None = 0,
                 theta=None, params: Mapping | None = None, exact=None,
                 test_points: int = 2048, data=None, cluster=None, shards: int | None = None,
                 linesearch: bool | str | None = None, natural: bool | str = "auto",
                 gram_average: float = 0.0, momentum: float = 0.0):
        if solver not in SOLVERS:
            raise ConfigError(f"unknown solver {solver!r}; choose one of {SOLVERS}")
        if stepper not in STEPPERS:
            raise ConfigError(f"unknown stepper {stepper!r}; choose one of {STEPPERS}")
        if residual not in ("strong", "weak"):
            raise ConfigError(f"residual must be 'strong' or 'weak', got {residual!r}")
        if not ridge >= 0:
            raise ConfigError(f"ridge must be >= 0, got {ridge}")
        if not (natural == "auto" or natural is True or natural is False):
            raise ConfigError(f"natural must be 'auto', True or False, got {natural!r}")
        if not _in_unit_interval(gram_average):
            raise ConfigError(f"gram_average must be a number in [0, 1) (the weight of the "
                              f"past Gram matrices; 0 = off), got {gram_average!r}")
        self.energy, self.net = energy, net
        self.domain = domain
        self.residual_kind = residual
        #: a residual problem (:class:`~nedsym.Residuals`): Gauss–Newton on its least squares
        self.least_squares = isinstance(energy, Residuals)
        data_names = list(data[1]) if data is not None else []
        if self.least_squares:
            if residual != "strong":
                raise ConfigError("a Residuals problem is solved on its residual rows: "
                                  "residual='weak' is for energies")
            if data is not None or domain is None:
                raise ConfigError("a Residuals problem needs a domain to sample")
            parts = [resolve_part(c.where, domain, energy.coords) for c in energy.conditions]
            self.pe = PointwiseResidual(energy, parts, params=params)
        else:
            nat = None
            auto = energy.boundary is None and cluster is None    # clusters: natural=True
            if residual == "strong" and domain is not None and natural is not False and \
                    (natural is True or auto) and hasattr(domain, "boundary"):
                nat = domain.boundary()
            self.pe = PointwiseEnergy(energy, params=params, data=data_names,
                                      strong=(residual == "strong"), natural=nat)
        #: the natural boundary condition's rows are on (strong route, no boundary energy)
        self.natural = bool(self.pe.conditions) and not self.least_squares
        self.gram_average = float(gram_average)
        self._gram = None
        if not _in_unit_interval(momentum):
            raise ConfigError(f"momentum must be a number in [0, 1) (0 = off), got "
                              f"{momentum!r}")
        if momentum and gram_average:
            raise ConfigError("give momentum= or gram_average=, not both")
        #: SPRING-style momentum of Gauss–Newton steps (dt=inf)
        self.momentum = float(momentum)
        self._last_step = None
        self._alpha = None     # the last Gauss–Newton step size (the line search starts there)
        self.dim = len(self.pe.coords)
        self._check_net()
        if self.least_squares and stepper not in ("auto", "implicit"):
            raise ConfigError(f"a Residuals problem takes Gauss–Newton steps on its residual "
                              f"rows (stepper='implicit', the default), not {stepper!r}")
        if stepper == "auto":
            stepper = "implicit" if self.least_squares or (
                residual == "strong" and self.pe.strong_order > 0) else "euler"
        if stepper == "implicit" and residual == "weak":
            raise ConfigError("stepper='implicit' linearizes delta E/delta u: use it with "
                              "residual='strong' (or stepper='euler'/'rk4' with the weak route)")
        self.stepper, self.solver, self.ridge = stepper, solver, float(ridge)
        #: the sampled system: rows, Gram matrix, merit and gradient on a draw of points
        self.sampled = SampledSystem(self.pe, net, residual=residual,
                                     implicit=stepper == "implicit")
        self.dt = float(dt) if dt is not None else (
            math.inf if self.least_squares else 10.0 if stepper == "implicit" else 0.5)
        if not self.dt > 0:
            raise ConfigError(f"dt must be > 0, got {dt}")
        if math.isinf(self.dt) and stepper != "implicit":
            raise ConfigError("dt=inf (Gauss–Newton) needs stepper='implicit'")
        if self.momentum and not math.isinf(self.dt):
            raise ConfigError("momentum= carries Gauss–Newton steps over: it needs dt=math.inf "
                              "(the default for a Residuals problem)")
        if self.gram_average and not (math.isinf(self.dt) and residual == "strong"):
            raise ConfigError("gram_average= averages the Gram matrices of Gauss–Newton steps: "
                              "it needs the strong route with dt=math.inf (the default for a "
                              "Residuals problem)")
        if isinstance(linesearch, (bool, np.bool_)):
            linesearch = bool(linesearch)
        elif linesearch is not None and not (isinstance(linesearch, str)
                                             and linesearch in ("grid", "trust")):
            raise ConfigError(f"linesearch must be True/'grid', 'trust' or False, got "
                              f"{linesearch!r}")
        if linesearch and not math.isinf(self.dt):
            raise ConfigError(f"linesearch={linesearch!r} globalizes Gauss–Newton steps: it "
                              "needs dt=math.inf (stepper='implicit')")
        if linesearch == "trust" and cluster is not None:
            raise ConfigError("linesearch='trust' predicts the decrease from the residual rows, "
                              "which stay on the workers of a cluster: use the grid line "
                              "search (linesearch=True) there")
        #: how Gauss–Newton increments (dt=inf) are globalized: "grid", "trust" or False
        if linesearch is None:
            linesearch = math.isinf(self.dt)
        self.linesearch = "grid" if linesearch is True else linesearch
        self.points, self.rule, self.resample, self.seed = int(points), rule, resample, seed
        self.adaptive, self.max_retries, self.rejected = bool(adaptive), int(max_retries), 0
        self.merit_growth = float(merit_growth)
        if not self.merit_growth >= 1:
            raise ConfigError(f"merit_growth must be >= 1 (1 = monotone), got {merit_growth}")
        self._dt_now, self._ridge_now = self.dt, self.ridge
        if data is not None:
            if domain is not None:
                raise ConfigError("give either a domain or data=(X, columns), not both")
            if energy.boundary is not None:
                raise ConfigError("a boundary energy needs a domain, not a dataset")
            self.sampler = DataSampler(data[0], data[1], batch=points, seed=seed)
        else:
            if domain is None:
                raise ConfigError("NED needs a domain (e.g. ns.Box([(-1, 1)])) or data=(X, {...})")
            if getattr(domain, "dim", self.dim) != self.dim:
                raise FieldError(f"the domain has dimension {domain.dim} but the energy has "
                                 f"coordinates {self.pe.coords}")
            self.sampler = Sampler(domain, rule, n=points, seed=seed)
        self.bsampler = None
        brule = rule if rule != "gauss" else "mc"
        nb = boundary_points if boundary_points is not None else max(32, points // 4)
        #: one sampler per condition (natural boundary rows, a residual problem's conditions)
        self.csamplers = [Sampler(c.where, brule, n=nb,
                                  seed=None if seed is None else seed + 7919 * (k + 2))
                          for k, c in enumerate(self.pe.conditions)]
        if energy.boundary is not None and not self.pe.conditions:
            nb = boundary_points if boundary_points is not None else max(32, points // 4)
            self.bsampler = Sampler(domain.boundary(), rule if rule != "gauss" else "mc",
                                    n=nb, seed=None if seed is None else seed + 7919)
        self.theta0 = np.array(net.init(seed=seed) if theta is None else theta, dtype=np.float64)
        if self.theta0.shape != (net.n_params,):
            raise ConfigError(f"theta has shape {self.theta0.shape}; the network has "
                              f"{net.n_params} parameters")
        self.theta = self.theta0.copy()
        self.t = 0.0
        self._fixed = None
        self._cluster = None
        if cluster is not None:
            if self.pe.conditions:
                raise ConfigError("conditions (a Residuals problem, natural boundary rows) run "
                                  "on one machine: build the NED without cluster= (or pass "
                                  "natural=False)")
            if data is not None:
                raise ConfigError("a Dask cluster shards domain points; datasets run locally")
            if solver not in ("auto", "cholesky"):
                raise ConfigError(f"solver={solver!r} needs all rows on one machine; on a "
                                  "cluster NED sums the normal equations (solver='cholesky')")
            from nedsym.distributed.ned import ClusterSums

            self._cluster = ClusterSums(self.sampled, cluster, shards)
        self._exact = self._exact_fn(exact)
        self._test = None
        if self._exact is not None:
            if data is not None:
                self._test = Points(self.sampler.X, np.full(len(self.sampler.X), 1.0))
            else:
                self._test = domain.points(test_points, "sobol", np.random.default_rng(12345))
            self._test_exact = self._exact(self._test.x)

    # -- set-up ------------------------------------------------------------------------------
    def _check_net(self):
        for attr in ("n_params", "init", "forward", "jacobian"):
            if not hasattr(self.net, attr):
                raise ConfigError(f"net has no {attr!r}: NED needs a nedsym.nn network")
        d_in = getattr(self.net, "d_in", self.dim)
        n_out = getattr(self.net, "n_out", self.pe.n_components)
        if d_in != self.dim:
            raise FieldError(f"the network takes {d_in} inputs but the energy has coordinates "
                             f"{self.pe.coords}")
        if n_out != self.pe.n_components:
            raise FieldError(f"the network has {n_out} outputs but the energy has fields "
                             f"{self.pe.names()}")

    def _exact_fn(self, exact) -> Callable | None:
        if exact is None:
            return None
        if callable(exact) and not isinstance(exact, sp.Basic):
            def fn(X):
                v = np.asarray(exact(X), dtype=np.float64)
                return v.reshape(len(X), -1)
            return fn
        exprs = list(exact) if isinstance(exact, (list, tuple)) else [exact]
        if len(exprs) != self.pe.n_components:
            raise FieldError(f"exact gives {len(exprs)} expressions for fields {self.pe.names()}")
        fns = [sp.lambdify(self.pe.coords, sp.sympify(e), "numpy") for e in exprs]

        def fn(X):
            cols = [X[:, k] for k in range(X.shape[1])]
            return np.stack([np.broadcast_to(np.asarray(f(*cols), dtype=np.float64), (len(X),))
                             for f in fns], axis=1)
        return fn

    # -- evaluation --------------------------------------------------------------------------
    def evaluate(self, X, theta=None) -> np.ndarray:
        """The network's field at points ``X`` (``(M,)`` for one field, ``(M, c)`` otherwise)."""
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        if X.shape[1] != self.dim and X.shape[0] == self.dim:
            X = X.T
        u = self.net.forward(X, self.theta if theta is None else theta, order=0).u
        return u[:, 0] if u.shape[1] == 1 else u

    def error(self, theta=None) -> float:
        """Relative L² error against the exact solution on the fixed test set (NaN without one)."""
        if self._exact is None:
            return math.nan
        u = self.net.forward(self._test.x, self.theta if theta is None else theta, order=0).u
        w = self._test.w[:, None]
        num = np.sqrt(np.sum(w * (u - self._test_exact) ** 2))
        den = np.sqrt(np.sum(w * self._test_exact ** 2))
        return float(num / den) if den > 0 else float(num)

    def _draw(self):
        if self._fixed is not None and not self.resample:
            return self._fixed
        if self._cluster is not None:
            self._fixed = self._cluster.draw(self.sampler, self.bsampler, self.domain,
                                             resample=self.resample)
            return self._fixed
        if isinstance(self.sampler, DataSampler):
            pts, cols = self.sampler.draw()
            data = tuple(cols[s.name] for s in self.pe.data_symbols)
        else:
            pts, data = self.sampler.draw(), ()
        bpts = self.bsampler.draw() if self.bsampler is not None else None
        if self.csamplers:
            bpts = tuple(c.draw() for c in self.csamplers)
        self._fixed = (pts, data, bpts)
        return self._fixed

    def energy_value(self, theta=None, sample=None) -> float:
        """The sampled energy :math:`\\sum_i w_i L_i` (+ boundary) on a draw (default: the last)."""
        theta = self.theta if theta is None else theta
        pts, data, bpts = sample if sample is not None else (self._fixed or self._draw())
        return self._energy(theta, pts, data, bpts)

    def _energy(self, theta, pts, data, bpts) -> float:
        if self._cluster is not None:
            return self._cluster.energy(theta, (pts, data, bpts))
        return self.sampled.energy(theta, (pts, data, bpts))

    # -- the direction -----------------------------------------------------------------------
    def direction(self, theta, sample, dt: float | None = None, ridge: float | None = None):
        """The parameter velocity :math:`v` at ``theta`` on ``sample`` and the residual RMS.

        With the implicit stepper ``dt`` enters the rows; ``dt=inf`` returns the Gauss–Newton
        increment itself.
        """
        system = self.system(theta, sample, dt)
        return self._solve(system, self._ridge_now if ridge is None else ridge), system[3]

    def system(self, theta, sample, dt: float | None = None):
        """The least-squares system of a step: ``("rows", A, b)`` for
        :math:`\\min_v |Av - b|^2 + \\varepsilon|v|^2` (strong route) or ``("gram", G, g)`` for
        :math:`(G + \\varepsilon I)v = g` (weak route), with the residual measure as 3rd item
        (:meth:`nedsym.discretize.neural.SampledSystem.system`)."""
        dt = self.dt if dt is None else dt
        if self._cluster is not None:
            return self._cluster.system(theta, sample, dt)
        return self.sampled.system(theta, sample, dt)

    def _solve(self, system, ridge: float) -> np.ndarray:
        kind, A, b, _ = system
        if self.momentum and kind == "rows" and self._last_step is not None:
            # SPRING: v = mu*v_prev + argmin |A w - (b - mu*A v_prev)|^2 + ridge |w|^2, the
            # ridge measured from the carried-over step instead of from 0
            prev = self.momentum * self._last_step
            return prev + solve_rows(A, b - A @ prev, ridge, self.solver)
        if self.gram_average and kind == "rows":
            return solve_gram(self._averaged_gram(system), A.T @ b, ridge, "cholesky")
        if kind == "rows":
            return solve_rows(A, b, ridge, self.solver)
        return solve_gram(A, b, ridge, self.solver)

    def _averaged_gram(self, system) -> np.ndarray:
        r"""The exponential moving average :math:`\bar G_k = \beta\bar G_{k-1} +
        (1-\beta)A_k^\top A_k` of the Gram matrices of resampled steps (``gram_average`` =
        :math:`\beta`), updated once per system (retries reuse it)."""
        if self._gram is None or self._gram[0] is not system:
            G = system[1].T @ system[1]
            if self._gram is not None:
                G = self.gram_average * self._gram[1] + (1 - self.gram_average) * G
            self._gram = (system, G)
        return self._gram[1]

    def gradient(self, theta, sample) -> tuple[float, np.ndarray]:
        """The sampled energy and its exact gradient in ``theta`` (what the baselines use;
        :meth:`nedsym.discretize.neural.SampledSystem.gradient`)."""
        return self.sampled.gradient(theta, sample)

    # -- stepping ----------------------------------------------------------------------------
    def _advance(self, theta, sample, dt, ridge=None):
        if self.stepper == "rk4":          # the classical tableau, on the same points
            k, r = [], None
            for row in RK4.A:
                stage = theta + dt * sum(a * kj for a, kj in zip(row, k, strict=False) if a) \
                    if k else theta
                v, res = self.direction(stage, sample, ridge=ridge)
                r = res if r is None else r
                k.append(v)
            return theta + dt * sum(b * kj for b, kj in zip(RK4.b, k, strict=True)), r
        v, r = self.direction(theta, sample, dt, ridge)
        if math.isinf(dt):
            return theta + v, r
        return theta + dt * v, r

    def merit(self, theta, sample) -> float:
        """What an accepted step must not increase: the sampled energy (weak route) or
        :math:`\\tfrac12\\sum_i w_i |F_i|^2/\\sum_i w_i` with :math:`F = \\delta E/\\delta u`
        (interior and boundary rows, strong route)."""
        if self._cluster is not None:
            return self._cluster.merit(theta, sample)
        return self.sampled.merit(theta, sample)

    def _acceptable(self, m0: float, m1: float) -> bool:
        if self.residual_kind == "weak":   # the sampled energy (any sign): never increase it
            return m1 <= m0 + 1e-12 * abs(m0)
        return m1 <= m0 * self.merit_growth   # the residual measure (>= 0): bounded growth

    def step(self) -> dict:
        """One step from the current parameters; returns that step's record.

        With ``adaptive`` (default) a step that increases :meth:`merit` on the step's points is
        retried — first with a larger ridge (×10, Levenberg–Marquardt style, up to ``1e-2``),
        then with a quarter of the time step; accepted steps let both relax back toward the
        user's ``ridge`` and ``dt``. A too-large ``dt`` or too-small ``ridge`` then costs
        retries, not a blow-up.
        """
        sample = self._draw()
        dt, ridge = self._dt_now, self._ridge_now
        if math.isinf(dt) and self.linesearch == "trust":
            return self._trust_region_step(sample, ridge)
        if math.isinf(dt) and self.linesearch == "grid":
            return self._gauss_newton_step(sample, ridge)
        m0 = None
        system = None
        for _attempt in range(self.max_retries + 1):
            if self.stepper == "rk4":
                new, res = self._advance(self.theta, sample, dt, ridge)
            else:
                if system is None or system[0] != dt:
                    system = (dt, self.system(self.theta, sample, dt))
                v = self._solve(system[1], ridge)
                res = system[1][3]
                new = self.theta + (v if math.isinf(dt) else dt * v)
            ok = bool(np.all(np.isfinite(new)))
            if not self.adaptive:
                break
            if m0 is None:   # strong route: the step's own residual measure at theta
                m0 = 0.5 * res * res if self.residual_kind == "strong" else \
                    self.merit(self.theta, sample)
            m1 = self.merit(new, sample) if ok else math.nan
            if ok and math.isfinite(m1) and self._acceptable(m0, m1):
                break
            self.rejected += 1
            if ridge < _RIDGE_CAP:
                ridge = min(_RIDGE_CAP, max(10 * ridge, 1e-10))
            else:
                dt = dt / 4 if math.isfinite(dt) else 1e4
        # the weak route's merit is the sampled energy: the accepted step already computed it
        e = m1 if self.adaptive and self.residual_kind == "weak" else self._energy(new, *sample)
        if not (np.all(np.isfinite(new)) and math.isfinite(e)):
            raise NonFiniteStep("non-finite parameters or energy after the step")
        self._last_step = new - self.theta
        self.theta = new
        self.t += dt if math.isfinite(dt) else 0.0
        if self.adaptive:
            self._dt_now = min(self.dt, 2 * dt)
            self._ridge_now = max(self.ridge, ridge / _RIDGE_RELAX)
        return {"dt": dt, "energy": e, "residual": res, "ridge": ridge}

    def _gauss_newton_step(self, sample, ridge: float) -> dict:
        r"""A globalized Gauss–Newton step: the increment :math:`v` of the linearized
        least-squares problem, then the step size :math:`\alpha` among
        :math:`1, \tfrac12, \dots, 2^{-20}` with the smallest merit on the step's points near
        the last step's size (the grid line search of energy natural gradient descent, started
        at twice the last size: see :meth:`_grid_search`). If no step size lowers the merit,
        or the best keeps less than ``_GN_TRUST`` of the increment, the ridge grows tenfold
        (Levenberg–Marquardt) and the increment is solved again; when the retries or the
        ridge cap are spent, the candidate with the lowest merit seen is taken."""
        system = self.system(self.theta, sample, math.inf)
        res = system[3]
        # the merit at theta: on the strong route, the rows' own residual measure
        m0 = 0.5 * res * res if self.residual_kind == "strong" else self.merit(self.theta, sample)
        alphas = 0.5 ** np.arange(21)
        overall = (math.inf, alphas[-1], None)     # the lowest finite merit of any attempt
        for _attempt in range(self.max_retries + 1):
            v = self._solve(system, ridge)
            best = self._grid_search(v, sample, m0, alphas)
            if best[0] < overall[0]:
                overall = best
            if best[2] is not None and best[0] < m0 and best[1] >= _GN_TRUST:
                break
            self.rejected += 1
            if ridge >= _GN_RIDGE_CAP:
                break
            ridge = min(_GN_RIDGE_CAP, max(10 * ridge, 1e-10))
        m1, alpha, new = best if best[2] is not None and best[0] < m0 else overall
        if new is None:
            raise NonFiniteStep("every Gauss–Newton step size gave a non-finite merit")
        self._alpha = float(alpha)
        e = self._move_to(new, m1, sample)
        self._ridge_now = max(self.ridge, ridge / _RIDGE_RELAX)
        return {"dt": math.inf, "energy": e, "residual": res, "ridge": ridge,
                "step_size": float(alpha)}

    def _grid_search(self, v, sample, m0: float, alphas) -> tuple:
        """``(merit, alpha, theta + alpha v)`` with the lowest merit among the step sizes
        ``alphas`` (1, 1/2, ...), searched from twice the last step's size: upward while the
        merit falls, else downward until it rises again after falling below ``m0``. Step
        sizes change slowly from step to step, so this costs about three merits where a
        search from 1 down costs one per halving. It finds the best size near the last one: a
        lower merit at a much larger size, beyond a rise, is not looked for."""
        cache = {}

        def at(k):
            if k not in cache:
                cand = self.theta + alphas[k] * v
                m = self._merit_at(cand, sample)
                cache[k] = (m if math.isfinite(m) else math.inf, alphas[k], cand)
            return cache[k]

        last = self._alpha
        k0 = 0 if last is None else max(0, int(round(-math.log2(last))) - 1)
        k0 = min(k0, len(alphas) - 1)
        if 0 < k0 < len(alphas) - 1 and at(k0)[0] < min(at(k0 + 1)[0], m0):
            k = k0                               # upward while the merit falls
            while k > 0 and at(k - 1)[0] < at(k)[0]:
                k -= 1
            return at(k)
        best = (math.inf, alphas[-1], None)
        for k in range(k0, len(alphas)):         # downward: the search of ENGD
            cand = at(k)
            if cand[0] < best[0]:
                best = cand
            elif best[0] < m0:
                break       # it fell below m0 and rises again as the step shrinks
        return best

    def _trust_region_step(self, sample, ridge: float) -> dict:
        r"""A Levenberg–Marquardt step: the increment :math:`v` of
        :math:`\min_v |Av - b|^2 + \lambda|v|^2` is taken when it lowers the merit; the gain
        ratio :math:`\rho` = actual / predicted decrease (the linear model
        :math:`\tfrac12|Av - b|^2`) sets the next :math:`\lambda` (Nielsen's rule:
        :math:`\lambda \max(\tfrac13, 1 - (2\rho - 1)^3)` after a taken step, ×10 after a
        refused one). One merit evaluation per try, where the grid line search needs several.
        When every try (``max_retries + 1``, or up to the ridge cap) is refused, the
        parameters stay where they are and the larger :math:`\lambda` carries over."""
        system = self.system(self.theta, sample, math.inf)
        _, A, b, res = system
        m0 = 0.5 * res * res
        lam = max(ridge, self.ridge)
        new = m1 = None
        for _attempt in range(self.max_retries + 1):
            v = self._solve(system, lam)
            cand = self.theta + v
            m = self._merit_at(cand, sample)
            if math.isfinite(m) and m < m0:
                r = A @ v - b
                pred = m0 - 0.5 * float(r @ r)
                rho = (m0 - m) / pred if pred > 0 else 0.0    # a model that predicted a rise
                self._ridge_now = max(self.ridge, lam * max(1 / 3, 1 - (2 * rho - 1) ** 3))
                new, m1 = cand, m
                break
            self.rejected += 1
            if lam >= _GN_RIDGE_CAP:
                break
            lam = min(_GN_RIDGE_CAP, max(10 * lam, 1e-10))
        if new is None:                    # no try lowered the merit: stay, with the larger λ
            self._ridge_now = lam
            new, m1 = self.theta, m0
        e = self._move_to(new, m1, sample)
        return {"dt": math.inf, "energy": e, "residual": res, "ridge": lam,
                "step_size": 1.0 if m1 < m0 else 0.0}

    def _merit_at(self, theta, sample) -> float:
        """The merit at a candidate, ``nan`` for non-finite parameters."""
        return self.merit(theta, sample) if np.all(np.isfinite(theta)) else math.nan

    def _move_to(self, new, merit: float, sample) -> float:
        """Take a Gauss–Newton step to ``new`` (``merit`` on the step's points); returns the
        energy to record (the merit itself for a residual problem)."""
        e = merit if self.least_squares else self._energy(new, *sample)
        if not math.isfinite(e):
            raise NonFiniteStep("non-finite energy after the step")
        self._last_step = new - self.theta
        self.theta = new
        return e

    def run(self, steps: int = 100, *, tol: float | None = None, target_error: float | None = None,
            progress: bool = False, callback: Callable | None = None,
            error_every: int = 1, checkpoint: str | None = None,
            checkpoint_every: int | None = None, resume: str | None = None) -> NEDResult:
        """Advance ``steps`` NED steps from the current parameters.

        Stops early at a steady state (``tol``: relative parameter change per step
        :math:`\\|\\Delta\\theta\\|/\\|\\theta\\| <` tol) or when the test error drops below
        ``target_error``. The run goes through :func:`nedsym.solve.iterate`: Ctrl-C stops it
        at the end of a step and returns what was done (``interrupted``); a non-finite step
        raises :class:`~nedsym.errors.BlowUpError` with advice and leaves the last finite
        parameters in ``ned.theta``. ``checkpoint=path`` saves parameters, step controls,
        the point stream and the history (every ``checkpoint_every`` steps, on Ctrl-C, on a
        blow-up and at the end); ``resume=path`` continues such a run from a freshly built
        ``NED`` with the same options, ``steps`` then counting the checkpoint's steps too, and
        gives the same steps as one uninterrupted run.
        """
        _check_every(error_every)
        if (checkpoint or resume) and self._cluster is not None:
            raise ConfigError("runs on a cluster cannot be checkpointed yet: run without "
                              "checkpoint=/resume= (or on one machine)")
        method = _NEDSteps(self, steps, error_every)

        def stop(k, rec):
            if target_error is not None and rec["error"] < target_error:
                return f"test error {rec['error']:.3e} < {target_error}"
            if tol is not None and rec["change"] < tol:
                return f"relative parameter change {rec['change']:.2e} < {tol}"
            return None

        out = iterate(method, steps, stop=stop, progress=progress, checkpoint=checkpoint,
                      checkpoint_every=checkpoint_every, resume=resume,
                      callback=None if callback is None else
                      (lambda k, rec: callback(k, self.theta, method.info)))
        return _ned_result("ned", self.theta.copy(), out, method.options())

    def _blowup_advice(self, k: int, what: str) -> str:
        tips = []
        if self.stepper in ("euler", "rk4"):
            tips.append(f"reduce dt (now {self.dt}) or use stepper='implicit' for stiff PDE flows")
        else:
            tips.append(f"reduce dt (now {self.dt})")
        tips.append(f"increase ridge (now {self.ridge:g}), e.g. to 1e-6")
        if not self.resample:
            tips.append("resample the points (resample=True)")
        return f"NED blew up at step {k}: {what}; " + "; ".join(tips)

    def reset(self) -> None:
        """Back to the initial parameters and a freshly seeded point stream."""
        self.theta = self.theta0.copy()
        self.t = 0.0
        self._dt_now, self._ridge_now = self.dt, self.ridge
        self._fixed = None
        self._gram = None
        self._last_step = None
        self._alpha = None     # the last Gauss–Newton step size (the line search starts there)
        self.sampler.rng = np.random.default_rng(self.seed)
        if self.bsampler is not None:
            self.bsampler.rng = np.random.default_rng(
                None if self.seed is None else self.seed + 7919)
        for k, c in enumerate(self.csamplers):
            c.rng = np.random.default_rng(None if self.seed is None else
                                          self.seed + 7919 * (k + 2))

    # -- baselines -----------------------------------------------------------------------------
    def baseline(self, optimizer: str = "adam", steps: int = 1000, *, lr: float | None = None,
                 target_error: float | None = None, progress: bool = False,
                 error_every: int = 1, checkpoint: str | None = None,
                 checkpoint_every: int | None = None, resume: str | None = None,
                 **options) -> NEDResult:
        """Train the same network from the same start on the same sampled energy and the same
        generated gradients with ``gd``, ``sgd`` (momentum), ``adam`` or ``lbfgs`` (line search;
        use it on fixed points, ``resample=False``); ``lr_decay`` is an exponential schedule.

        The point stream restarts from the seed, so NED and its baselines see the same draws;
        ``ned.theta`` is left as it was. Runs on the same loop as :meth:`run` (Ctrl-C,
        blow-up, ``checkpoint``/``resume`` with the optimizer's moments).
        """
        if self._cluster is not None:
            raise ConfigError("baselines run on one machine: build the NED without cluster=")
        _check_every(error_every)
        defaults = {"gd": 1e-2, "sgd": 1e-2, "adam": 1e-3, "lbfgs": 1.0}
        opt = make_optimizer(optimizer, lr=lr if lr is not None else
                             defaults.get(str(optimizer).lower(), 1e-3), **options)
        saved = (self.theta, self.t, self._fixed, self.sampler.rng, self.bsampler
                 and self.bsampler.rng, [c.rng for c in self.csamplers], self._gram,
                 self._last_step, self._dt_now, self._ridge_now, self._alpha)
        self.reset()
        method = _BaselineSteps(self, opt, steps, error_every, options)

        def stop(k, rec):
            if target_error is not None and rec["error"] < target_error:
                return f"test error {rec['error']:.3e} < {target_error}"
            return None

        try:
            out = iterate(method, steps, stop=stop, progress=progress, checkpoint=checkpoint,
                          checkpoint_every=checkpoint_every, resume=resume)
        finally:
            self.theta, self.t, self._fixed, self.sampler.rng = saved[:4]
            if self.bsampler is not None:
                self.bsampler.rng = saved[4]
            for c, rng in zip(self.csamplers, saved[5], strict=True):
                c.rng = rng
            self._gram, self._last_step, self._dt_now, self._ridge_now, self._alpha = saved[6:]
        return _ned_result(opt.name, method.theta, out,
                           {"lr": opt.lr, "points": self.points, **options})

    # -- checkpoint state ------------------------------------------------------------------
    def _stream_state(self) -> dict:
        """The point stream (and, with fixed points, the points) for a checkpoint."""
        st: dict = {"sampler": self.sampler.rng.bit_generator.state}
        if self.bsampler is not None:
            st["bsampler"] = self.bsampler.rng.bit_generator.state
        for k, c in enumerate(self.csamplers):
            st[f"csampler{k}"] = c.rng.bit_generator.state
        if self._last_step is not None:
            st["last_step"] = self._last_step
        if self._alpha is not None:
            st["alpha"] = self._alpha
        if self._gram is not None:
            st["gram"] = self._gram[1]
        if self._cluster is not None:
            raise ConfigError("runs on a cluster cannot be checkpointed yet: run without "
                              "checkpoint= (or on one machine)")
        if self._fixed is not None and not self.resample:
            pts, data, bpts = self._fixed
            st["fixed_x"], st["fixed_w"] = pts.x, pts.w
            for i, col in enumerate(data):
                st[f"fixed_d{i}"] = np.asarray(col)
            for k, bp in enumerate(bpts if isinstance(bpts, tuple) else [bpts]):
                if bp is None:
                    continue
                tag = "" if not isinstance(bpts, tuple) else str(k)
                st[f"fixed_bx{tag}"], st[f"fixed_bw{tag}"] = bp.x, bp.w
                if bp.normals is not None:
                    st[f"fixed_bn{tag}"] = bp.normals
        return st

    def _load_stream(self, st: dict) -> None:
        self.sampler.rng.bit_generator.state = st["sampler"]
        if self.bsampler is not None and "bsampler" in st:
            self.bsampler.rng.bit_generator.state = st["bsampler"]
        for k, c in enumerate(self.csamplers):
            if f"csampler{k}" in st:
                c.rng.bit_generator.state = st[f"csampler{k}"]
        self._fixed = None
        self._gram = None
        self._last_step = st.get("last_step")
        self._alpha = float(st["alpha"]) if "alpha" in st else None
        if "gram" in st:                 # the averaged Gram matrix, continued by the next step
            self._gram = (None, np.array(st["gram"]))
        if "fixed_x" in st:
            pts = Points(st["fixed_x"], st["fixed_w"])
            data = tuple(st[f"fixed_d{i}"] for i in range(len(self.pe.data_symbols))
                         if f"fixed_d{i}" in st)
            bpts = None
            if "fixed_bx" in st:
                bpts = Points(st["fixed_bx"], st["fixed_bw"], st.get("fixed_bn"))
            if self.csamplers and "fixed_bx0" not in st:
                raise SolverError("the checkpoint holds no points for this run's conditions "
                                  "(it was written without natural boundary rows or "
                                  "conditions): resume with the options it was written with "
                                  "(e.g. natural=False)")
            if self.csamplers:
                bpts = tuple(Points(st[f"fixed_bx{k}"], st[f"fixed_bw{k}"],
                                    st.get(f"fixed_bn{k}")) for k in range(len(self.csamplers)))
            self._fixed = (pts, data, bpts)

    def _run_meta(self) -> dict:
        return {"points": self.points, "resample": bool(self.resample), "seed": self.seed,
                "rule": str(self.rule), "stepper": self.stepper, "solver": self.solver,
                "residual": self.residual_kind, "n_params": int(self.net.n_params),
                "conditions": len(self.csamplers), "gram_average": self.gram_average,
                "momentum": self.momentum, "linesearch": str(self.linesearch)}


_FACE = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*([-+]?(?:\d+\.?\d*|\.\d+)"
                   r"(?:[eE][-+]?\d+)?)\s*")


def resolve_part(where, domain, coords) -> Domain:
    """The domain a condition is sampled on: ``"boundary"``, ``"<coord>=<value>"`` (a face of
    a :class:`~nedsym.quadrature.Box`; the value must be one of its bounds), a domain, or a
    list of these (their union). Strings are matched by a pattern, never evaluated.

    Example
    -------
    >>> import nedsym as ns
    >>> resolve_part("t=0", Box([(0, 1), (-1, 1)]), ns.coords("t x"))
    <nedsym.quadrature.domains.BoxFace object at ...>
    """
    names = [str(c) for c in coords]
    if isinstance(where, (list, tuple)):
        if not where:
            raise ConfigError("an empty list of condition parts")
        pieces = []
        for w in where:
            part = resolve_part(w, domain, coords)
            pieces += part.pieces if isinstance(part, BoundaryDomain) else [part]
        return BoundaryDomain(pieces, name=" + ".join(map(str, where)))
    if isinstance(where, Domain):
        if where.dim != len(names):
            raise ConfigError(f"the condition's domain {where!r} has dimension {where.dim}; "
                              f"the problem has coordinates {names}")
        return where
    if not isinstance(where, str):
        raise ConfigError(f"a condition's part must be 'boundary', '<coord>=<value>', a "
                          f"domain or a list of these; got {where!r}")
    if where.strip() == "boundary":
        return domain.boundary()
    m = _FACE.fullmatch(where)
    if m is None:
        raise ConfigError(f"cannot read the condition's part {where!r}: write 'boundary' or "
                          f"'<coord>=<value>' such as '{names[0]}=0'")
    name, value = m.group(1), float(m.group(2))
    if name not in names:
        raise ConfigError(f"the condition's part {where!r} names {name!r}, which is not a "
                          f"coordinate; coordinates: {names}")
    if not isinstance(domain, Box):
        raise ConfigError(f"the part {where!r} is a face of a box, but the domain is "
                          f"{domain!r}; give the part as a domain instead")
    axis = names.index(name)
    lo, hi = domain.bounds[axis]
    for side, bound in ((0, lo), (1, hi)):
        if math.isclose(value, bound, rel_tol=1e-12, abs_tol=1e-12):
            return BoxFace(domain, axis, side)
    raise ConfigError(f"{where!r} is not a face of the domain: {name} runs over "
                      f"[{lo:g}, {hi:g}]")


def _in_unit_interval(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float, np.integer,
                                                              np.floating)) and 0 <= value < 1


def _check_every(every) -> None:
    if isinstance(every, bool) or not isinstance(every, (int, np.integer)) or every < 1:
        raise SolverError(f"error_every must be a positive integer, got {every!r}")


class _NEDSteps(Iteration):
    """NED's steps on :func:`~nedsym.solve.iterate`."""

    name = "NED"
    health = ("energy",)
    postfix = ("energy", "error")

    def __init__(self, ned: NED, steps: int, error_every: int):
        self.ned, self.steps, self.every = ned, steps, error_every
        self.info: dict = {}

    def step(self, k: int) -> dict:
        ned = self.ned
        before = ned.theta
        info = self.info = ned.step()
        rel = float(np.linalg.norm(ned.theta - before) / max(np.linalg.norm(before), 1e-300))
        err = ned.error() if (k % self.every == 0 or k == self.steps - 1) else math.nan
        return {"t": ned.t, "dt": info["dt"], "ridge": info.get("ridge", math.nan),
                "energy": info["energy"], "residual": info["residual"], "error": err,
                "change": rel, "step_size": info.get("step_size", 1.0)}

    def advice(self, k: int, what: str) -> str:
        return self.ned._blowup_advice(k, what)

    def options(self) -> dict:
        ned = self.ned
        return {"dt": ned.dt, "stepper": ned.stepper, "solver": ned.solver,
                "ridge": ned.ridge, "residual": ned.residual_kind, "points": ned.points}

    def meta(self) -> dict:
        return {**self.ned._run_meta(), "dt": self.ned.dt, "ridge": self.ned.ridge}

    def state_dict(self) -> dict:
        ned = self.ned
        return {"theta": ned.theta, "t": ned.t, "dt_now": ned._dt_now,
                "ridge_now": ned._ridge_now, "rejected": ned.rejected,
                **ned._stream_state()}

    def load_state_dict(self, st: dict) -> None:
        ned = self.ned
        if st["theta"].shape != ned.theta.shape:
            raise SolverError(f"the checkpoint holds {st['theta'].size} parameters, this "
                              f"network {ned.theta.size}")
        ned.theta = np.array(st["theta"], dtype=np.float64)
        ned.t, ned._dt_now, ned._ridge_now = float(st["t"]), float(st["dt_now"]), \
            float(st["ridge_now"])
        ned.rejected = int(st["rejected"])
        ned._load_stream(st)


class _BaselineSteps(Iteration):
    """A baseline (gd/sgd/adam/lbfgs) on the same sampled energy and loop."""

    health = ("energy",)
    postfix = ("energy", "error")

    def __init__(self, ned: NED, opt, steps: int, error_every: int, options: dict):
        self.ned, self.opt, self.steps, self.every = ned, opt, steps, error_every
        self.name = opt.name
        self.theta = ned.theta0.copy()
        self.options = options

    def step(self, k: int) -> dict:
        ned, opt = self.ned, self.opt
        sample = ned._draw()
        lr = opt.current_lr
        e, g = ned.gradient(self.theta, sample)
        if not (math.isfinite(e) and np.all(np.isfinite(g))):
            raise NonFiniteStep("non-finite loss or gradient")
        if getattr(opt, "needs_closure", False):
            self.theta, *_ = opt.step_closure(self.theta,
                                              lambda th: ned.gradient(th, sample), e, g)
        else:
            self.theta = opt.step(self.theta, g)
        err = ned.error(self.theta) if (k % self.every == 0 or k == self.steps - 1) \
            else math.nan
        return {"t": ned.t, "dt": lr, "energy": e, "residual": float(np.linalg.norm(g)),
                "error": err}

    def advice(self, k: int, what: str) -> str:
        return f"{self.name} blew up at step {k}: {what}; reduce lr (now {self.opt.lr})"

    def meta(self) -> dict:
        return {**self.ned._run_meta(), "lr": self.opt.lr,
                "options": {k: repr(v) for k, v in self.options.items()}}

    def state_dict(self) -> dict:
        return {"theta": self.theta, **{f"opt_{k}": v for k, v in
                                        self.opt.state_dict().items()},
                **self.ned._stream_state()}

    def load_state_dict(self, st: dict) -> None:
        self.theta = np.array(st["theta"], dtype=np.float64)
        self.opt.load_state_dict({k[4:]: v for k, v in st.items() if k.startswith("opt_")})
        self.ned._load_stream(st)


def _ned_result(method: str, theta: np.ndarray, out, options: dict) -> NEDResult:
    hist = {k: out.history.get(k, np.zeros(0)) for k in
            ("step", "t", "dt", "ridge", "energy", "residual", "error", "wall", "step_size")
            if k in out.history or k != "step_size"}
    if "ridge" not in out.history and len(hist["step"]):
        hist["ridge"] = np.full(len(hist["step"]), math.nan)
    return NEDResult(method, theta, hist, out.converged, out.interrupted, out.reason, options)
