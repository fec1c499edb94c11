"""A discretized flow ready to run: generated kernels + boundary data + steppers.

``sim = flow.discretize(grid, backend="numba")`` builds one. It is the only
place where the symbolic pipeline (``lower_flow``), code generation and the
callable-only solvers meet; every stage below it sees only callables.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import sympy as sp

from nedsym.codegen import (
    build_map_kernel,
    compile_kernel,
    make_euler_loop,
)
from nedsym.codegen.gpu import DeviceEulerLoop, to_host
from nedsym.codegen.targets import get_target
from nedsym.discretize.grid import Grid
from nedsym.discretize.lower import LoweredFlow, lower_flow
from nedsym.discretize.spectral import linear_multiplier
from nedsym.errors import BlowUpError, DiscretizationError, SolverError
from nedsym.methods.grid_stepper import CompiledEmbeddedGridStepper, CompiledGridStepper
from nedsym.methods.stages import kernel_irs
from nedsym.solve import Result, integrate
from nedsym.solve.solver import make_stepper, stepper_class, stepper_option_error
from nedsym.solve.steppers import EmbeddedRK, ExplicitRK
from nedsym.symbolic.declare import field_name as field_name_of

__all__ = ["Simulation"]

class Simulation:
    """A gradient flow on a grid with generated kernels.

    Parameters
    ----------
    flow: a :class:`~nedsym.GradientFlow`.
    grid: a :class:`~nedsym.discretize.Grid` (its ``bc`` gives the boundary conditions).
    backend: ``"numpy"`` (reference), ``"numba"`` (parallel CPU), ``"numba-cuda"`` or
        ``"cupy"`` (GPU: the state lives on the device as CuPy arrays for the whole solve;
        see ``nedsym.codegen.available()``).
    gradient: ``"continuous"`` (derive, then discretize) or ``"discrete"`` (exact
        gradient of the discrete energy).
    accuracy: order of the finite-difference stencils (2, 4, 6).
    params: parameter values overriding the energy's defaults, by name.
    check: compare compiled kernels with the NumPy reference on first call.
    dtype: ``"float64"`` or ``"float32"`` (kernels, state and stepper arithmetic).

    Example
    -------
    >>> import nedsym as ns
    >>> E = ns.Energy.parse("eps^2/2*|grad(u)|^2 + (u^2-1)^2/4", coords="x y",
    ...                     params={"eps": 0.1})
    >>> flow = ns.GradientFlow(E)
    >>> sim = flow.discretize(ns.Grid((16, 16), [(0, 1), (0, 1)]), backend="numpy")
    >>> res = sim.solve(sim.initial("random", seed=0), t_end=0.1, stepper="rk4",
    ...                 progress=False)
    >>> bool(res.energy[-1] < res.energy[0])
    True
    """

    def __init__(self, flow, grid: Grid, backend: str = "numba", gradient: str = "continuous",
                 accuracy: int = 2, params: dict | None = None, check: bool = True,
                 dtype: str = "float64"):
        if not isinstance(grid, Grid):
            raise DiscretizationError(f"discretize needs a nedsym Grid, got {type(grid).__name__}")
        if dtype not in ("float64", "float32"):
            raise DiscretizationError(f"dtype must be 'float64' or 'float32', got {dtype!r}")
        self.flow, self.grid, self.backend, self.dtype = flow, grid, backend, dtype
        self.accuracy = int(accuracy)
        self.lowered: LoweredFlow = lower_flow(flow, grid.ndim, accuracy, gradient, params)
        L = self.lowered
        self.fields = L.fields
        self.halo = L.halo
        self.boundary = grid.boundary_data(list(L.fields), L.halo)
        #: the backend's :class:`~nedsym.codegen.targets.Target` (printer, compile, arrays,
        #: ghost filling, compiled time segments)
        self.target = get_target(backend)
        irs = kernel_irs(L, grid.ndim)
        self.kernel_ir, self.energy_ir = irs["rhs"], irs["energy"]
        self._rhs_kernel = compile_kernel(self.kernel_ir, backend, check=check, dtype=dtype)
        self._energy_kernel = compile_kernel(self.energy_ir, backend, check=check, dtype=dtype)
        self._nonlinear_kernel = None
        #: the array library holding the state (numpy, or cupy for the GPU backends)
        self.xp = self.target.array_module()
        xp = self.xp
        self._yp = xp.zeros((len(L.fields), *grid.padded_shape(L.halo)), dtype=dtype)
        self._scratch = xp.zeros((len(L.fields), *grid.shape), dtype=dtype)
        self._halo_filler = self.target.halo_filler(self.boundary, dtype)
        self._base_scalars = [float(L.params[p]) for p in sorted(L.params)] + \
            [float(h) for h in grid.spacing] + [float(b[0]) for b in grid.bounds]
        self._euler_loop = None
        self._compiled: dict[str, CompiledGridStepper] = {}

    # -- evaluation ----------------------------------------------------------
    def scalars(self, t: float = 0.0) -> list[float]:
        """Kernel scalar arguments: parameters, spacings, lower bounds, time."""
        return self._base_scalars + [float(t)]

    def _fill(self, y: np.ndarray, t: float) -> np.ndarray:
        self.grid.interior(self._yp, self.halo)[...] = y
        self._halo_filler.fill(self._yp, t)
        return self._yp

    def rhs(self, t: float, y: np.ndarray, out: np.ndarray) -> None:
        """∂t y at time t, written into ``out`` (shape ``(nfields, *grid.shape)``)."""
        self._rhs_kernel(self._fill(y, t), out, *self.scalars(t))

    def energy(self, y: np.ndarray, t: float = 0.0) -> float:
        r"""The discrete energy :math:`E_h = \sum_i L_h(i)\,dV`."""
        return float(self._energy_kernel(self._fill(y, t), *self.scalars(t))) * self.grid.dV

    def residual(self, t: float, y: np.ndarray) -> float:
        r"""RMS of the right-hand side, :math:`\|F[u]\|_{L^2}/|\Omega|^{1/2}`."""
        self.rhs(t, y, self._scratch)
        s = self._scratch.astype(np.float64, copy=False)
        return float(self.xp.sqrt(self.xp.mean(s * s)))

    def spectral_radius(self, t: float = 0.0, y: np.ndarray | None = None, iters: int = 20,
                        seed: int = 0) -> float:
        r"""Spectral radius :math:`\rho(\partial F/\partial u)` at ``y`` (default: a small
        random state), by power iteration on finite differences of the generated right-hand
        side."""
        xp = self.xp
        rng = np.random.default_rng(seed)
        y = self.initial("random", seed=seed) if y is None else xp.asarray(y, self.dtype)
        f0 = xp.empty_like(y)
        f1 = xp.empty_like(y)
        self.rhs(t, y, f0)
        v = xp.asarray(rng.standard_normal(y.shape).astype(self.dtype))
        lam = 0.0
        # float32 needs a larger finite-difference step to resolve the Jacobian
        rel = 1e-7 if self.dtype == "float64" else 1e-3
        # norms as ufunc reductions, not BLAS: an OpenBLAS call between numba's parallel
        # kernels leaves its threads spinning against numba's (measured on 2 cores at 128²:
        # these re-estimates made a public-path RK4 step 14x slower)
        def norm(a):
            return float(xp.sqrt(xp.sum(a * a)))

        for _ in range(iters):
            v /= norm(v)
            eps = rel * max(1.0, float(xp.abs(y).max()))
            self.rhs(t, y + eps * v, f1)
            w = (f1 - f0) / eps
            lam = norm(w)
            if lam == 0:
                return 0.0
            v = w
        return lam

    def stable_dt(self, t: float = 0.0, y: np.ndarray | None = None, iters: int = 20,
                  seed: int = 0, stepper: str = "euler") -> float:
        r"""Largest stable step of an explicit ``stepper`` at ``y``,
        :math:`0.9\,s/\rho(\partial F/\partial u)` with ``s`` the stepper's stability
        interval (2 for Euler, 2.785 for RK4) and ρ from :meth:`spectral_radius`."""
        rho = self.spectral_radius(t, y, iters, seed)
        stability = stepper_class(stepper).stability
        if rho == 0 or not np.isfinite(stability):
            return float("inf")
        return 0.9 * stability / rho

    def initial(self, kind="random", seed: int = 0, amplitude: float = 0.1,
                mean: float = 0.0) -> np.ndarray:
        """An initial state ``(nfields, *grid.shape)`` (on the device for GPU backends).

        ``kind``: ``"random"`` (mean + amplitude·U(-1, 1), reproducible from
        ``seed``), ``"constant"``, a sympy expression in the coordinates, a
        callable ``f(*mesh)``, or an array; a list gives one per field.
        """
        nf = len(self.fields)
        kinds = kind if isinstance(kind, (list, tuple)) else [kind] * nf
        if len(kinds) != nf:
            raise DiscretizationError(f"initial: {len(kinds)} values for {nf} fields")
        rng = np.random.default_rng(seed)
        mesh = self.grid.mesh()
        out = np.empty((nf, *self.grid.shape))
        coords = self.flow.coords
        for f, k in enumerate(kinds):
            if isinstance(k, str) and k == "random":
                out[f] = mean + amplitude * rng.uniform(-1, 1, self.grid.shape)
            elif isinstance(k, str) and k == "constant":
                out[f] = mean
            elif isinstance(k, str):
                raise DiscretizationError(
                    f"unknown initial kind {k!r}; use 'random', 'constant', an expression, "
                    "a callable or an array")
            elif isinstance(k, sp.Basic):
                out[f] = np.broadcast_to(sp.lambdify(coords, k, "numpy")(*mesh), self.grid.shape)
            elif callable(k):
                out[f] = np.broadcast_to(k(*mesh), self.grid.shape)
            else:
                out[f] = np.broadcast_to(np.asarray(to_host(k), float), self.grid.shape)
        return self.xp.asarray(out.astype(self.dtype, copy=False))

    def _negative_mobility(self, y) -> tuple[int, str, float, int] | None:
        """``(field index, mobility, min, count)`` where a state-dependent mobility is
        negative on state ``y``, else ``None``."""
        M = getattr(self.flow, "mobility", None)
        if M is None or not hasattr(M, "shape"):
            return None
        fields = list(self.flow.fields)
        host = to_host(y)
        for i in range(M.shape[0]):
            m = M[i, i]
            if not m.atoms(sp.Function) & set(fields) or m.has(sp.Derivative):
                continue
            syms = {f: sp.Dummy(f"f{k}") for k, f in enumerate(fields)}
            pv = self.lowered.params
            e = m.xreplace(syms)
            e = e.xreplace({s_: sp.Float(pv[s_.name]) for s_ in e.free_symbols
                            if s_.name in pv})
            try:
                fn = sp.lambdify([*self.flow.coords, *syms.values()], e, "numpy")
                vals = np.asarray(fn(*self.grid.mesh(), *[host[k] for k in
                                                          range(len(fields))]), dtype=float)
            except Exception:       # noqa: BLE001 - a mobility we cannot tabulate: no check
                continue
            if np.any(vals < 0):
                return i, str(m), float(np.min(vals)), int(np.sum(vals < 0))
        return None

    def _check_mobility(self, y) -> None:
        """A state-dependent mobility must be >= 0 on the initial state (a negative one
        makes the flow gain energy: the run would stop with an energy rise)."""
        bad = self._negative_mobility(y)
        if bad is not None:
            i, m, lo, count = bad
            raise SolverError(
                f"the mobility {m} of field {self.fields[i]!r} is negative on the initial "
                f"state (min {lo:.3g} at {count} points): a gradient flow needs M >= 0; "
                "choose an initial state inside the mobility's range (or a mobility that "
                "stays non-negative)")

    # -- semi-implicit pieces ----------------------------------------------------
    def linear_split(self) -> tuple[np.ndarray, np.ndarray]:
        r"""Fourier symbols of the constant-coefficient linear part, split into
        its non-positive part (treated implicitly) and the rest (explicit)."""
        L_hat = linear_multiplier(self.grid, self.lowered.linear, list(self.fields),
                                  accuracy=self.accuracy)
        L_hat = np.real(L_hat)
        neg = np.minimum(L_hat, 0.0)
        return neg, L_hat - neg

    def _nonlinear_rhs(self) -> Callable:
        import scipy.fft as fft

        if self._nonlinear_kernel is None:
            L = self.lowered
            ir = build_map_kernel(L.fields, L.halo,
                                  dict(L.nonlinear),
                                  L.scalars, self.grid.ndim)
            self._nonlinear_kernel = compile_kernel(ir, self.backend, dtype=self.dtype)
        neg, pos = self.linear_split()
        axes = tuple(range(1, self.grid.ndim + 1))
        explicit_linear = bool(np.any(pos != 0))
        if self.xp is not np:   # GPU: multipliers and transforms on the device
            import cupy.fft as fft
        neg, pos = self.xp.asarray(neg), self.xp.asarray(pos)

        def nonlinear(t, y, out):
            self._nonlinear_kernel(self._fill(y, t), out, *self.scalars(t))
            if explicit_linear:
                lin = fft.irfftn(pos * fft.rfftn(y, axes=axes), s=self.grid.shape, axes=axes)
                out += lin.astype(out.dtype, copy=False)
        return nonlinear, neg

    # -- running -----------------------------------------------------------------------
    def solve(self, y0: np.ndarray, t_end: float, stepper: str = "rk4", dt: float | None = None,
              cluster=None, compiled: bool | None = None, **options) -> Result:
        """Integrate from ``y0`` to ``t_end`` (see :func:`nedsym.solve.integrate` for options).

        ``stepper``: ``euler``, ``ssprk3``, ``rk4``, ``rk45``, ``rk23``, ``semi-implicit``
        (periodic grids: the linear constant-coefficient part implicitly in Fourier space)
        or ``stabilized`` (energy-stable, ``stabilization=S``).

        ``compiled`` (numba backend, float64, explicit Runge–Kutta steppers; default on): the
        fixed-step ones advance in compiled segments of many steps (ghost cells filled
        inside, health fused); each step of ``rk45``/``rk23`` is one compiled call with the
        error norm fused into its last sweep. ``compiled=False`` runs the same steps through
        the NumPy-level stepper and the generated right-hand side (the reference).

        Defaults chosen here: the energy is recorded with the generated discrete-energy
        kernel every ``energy_every="auto"`` steps (recording ≤ ~5 % of the run); for a
        gradient flow with homogeneous, time-independent boundary data the energy must not
        rise (``monotone_energy=1e-6``, relative), else the run stops with
        :class:`~nedsym.errors.BlowUpError`; ``dt=None`` is an automatic step that follows the
        state (:meth:`stable_dt` re-estimated as the run goes, halved on a failed check).

        ``cluster``: a ``distributed.Client``, a scheduler address or ``"local[N]"`` runs
        the explicit steppers chunk-wise on Dask (see :func:`nedsym.distributed.solve`).
        """
        if cluster is not None:
            from nedsym.distributed import solve as solve_distributed

            if compiled is not None:
                options["compiled"] = compiled
            res = solve_distributed(self, y0, t_end, cluster=cluster, stepper=stepper, dt=dt,
                                    **options)
            res.metadata = self.describe()
            return res
        _check_solve_options(options)
        y0 = self.xp.asarray(y0, dtype=self.dtype)
        if y0.shape != (len(self.fields), *self.grid.shape):
            raise DiscretizationError(
                f"initial state has shape {y0.shape}; expected "
                f"{(len(self.fields), *self.grid.shape)} (fields {list(self.fields)})")
        self._check_mobility(y0)
        cls = stepper_class(stepper)
        name = stepper if isinstance(stepper, str) else cls.names[0] if cls.names else "euler"
        options.setdefault("energy", self.energy)
        options.setdefault("energy_every", "auto")
        sav = getattr(cls, "built_by_method", False)
        convex = getattr(cls, "energy_stable", None) == "discrete"
        wrong = stepper_option_error(name, options)
        if wrong:
            raise SolverError(wrong)
        if self.is_gradient_flow() and (convex or not sav):
            # SAV guarantees its *modified* energy; convex splitting E_h itself
            options.setdefault("monotone_energy", 1e-6)
        options.setdefault("stable_dt",
                           lambda t, y: self.stable_dt(t, y, iters=8, stepper=name))
        if sav:                                   # SAV: built from the energy's split
            tol = {k: options.pop(k) for k in ("rtol", "atol") if k in options} \
                if cls.adaptive else {}
            S = float(options.pop("stabilization", 0.0))
            if convex:
                stepper = self._convex_stepper(cls, options.pop("convex_part", None),
                                               options.pop("newton_tol", 1e-10), S)
            else:
                stepper = self._sav_stepper(options.pop("sav_constant", None), cls, S, **tol)
            rhs = self.rhs
            if dt is None:
                dt = max(self.stable_dt(0.0, y0, stepper="euler"), 1e-3 * t_end)
        elif cls.needs_linear:
            if not all(self.grid.periodic):
                raise SolverError(f"stepper {stepper!r} needs a periodic grid; "
                                  "use 'rk4' or 'rk45' for other boundary conditions")
            rhs, neg = self._nonlinear_rhs()
            options["linear"] = neg
            if dt is None:
                dt = max(self.stable_dt(0.0, y0, stepper="euler"), 1e-3 * t_end)
        else:
            rhs = self.rhs
        use_compiled = compiled if compiled is not None else True
        if compiled and not self._can_compile(cls):
            raise SolverError(
                f"compiled=True needs the numba backend in float64 and an explicit "
                f"Runge–Kutta stepper (euler, ssprk2, ssprk3, rk4, rk45, rk23); got backend "
                f"{self.backend!r}, dtype {self.dtype}, stepper {stepper!r}")
        if use_compiled and isinstance(stepper, str) and self._can_compile(cls):
            # one compiled stepper per method, kept: its kernel is compiled and checked
            # against the reference once, and its padded buffers are reused by later solves
            st = self._compiled.get(cls.name)
            if st is None and cls.adaptive:
                st = CompiledEmbeddedGridStepper(self, cls)
            elif st is None:
                st = CompiledGridStepper(self, cls.tableau)
            self._compiled[cls.name] = st
            if cls.adaptive:                          # this solve's tolerances
                ref = make_stepper(stepper, rtol=options.pop("rtol", 1e-6),
                                   atol=options.pop("atol", 1e-9))
                st.rtol, st.atol = ref.rtol, ref.atol
                st.load_state_dict({})
            if options["energy"] == self.energy:     # the default: read off padded buffers
                options["energy"] = st.energy
            stepper = st
        kernel = getattr(stepper, "segment", None) or getattr(stepper, "kernel", None)
        first = kernel is not None and getattr(kernel, "_check_pending", False)
        try:
            res = integrate(rhs, y0, t_end, stepper=stepper, dt=dt, **options)
            if first and getattr(kernel, "first_call_s", None) is not None:
                # this solve compiled (or loaded) and checked the kernel: part of wall_time
                res.diagnostics["compile_s"] = kernel.first_call_s
            res.metadata = self.describe()
            res.metadata["attrs"]["stepper"] = name
            if convex:
                res.diagnostics["newton_iterations"] = stepper.newton_total
            if hasattr(stepper, "history") and getattr(stepper, "built_by_method", False):
                res.diagnostics["modified_energy"] = np.asarray(stepper.history)
                res.diagnostics["sav_constant"] = stepper.C
                self._report_energy_rises(res, name)
            return res
        except BlowUpError as exc:
            if first and getattr(kernel, "first_call_s", None) is not None:
                exc.compile_s = kernel.first_call_s   # the failed solve's compile time too
            bad = None if exc.state is None else self._negative_mobility(exc.state)
            if bad is None:
                raise
            i, m, lo, count = bad
            raise BlowUpError(
                f"{exc}; note: the mobility {m} of field {self.fields[i]!r} is negative at "
                f"{count} points of the last good state (min {lo:.3g}), so the flow can gain "
                "energy there: keep the state inside the mobility's range (smaller dt, or a "
                "mobility that stays non-negative)", t=exc.t, step=exc.step, dt=exc.dt,
                advised_dt=exc.advised_dt, state=exc.state, reason=exc.reason,
                compile_s=exc.compile_s) from None

    @staticmethod
    def _report_energy_rises(res: Result, name: str) -> None:
        """SAV guarantees its modified energy only: count the records where E_h itself rose
        (by more than 1e-6 relative) and warn, with what to do, when there are any."""
        import warnings

        e = np.asarray(res.energy, dtype=float)
        if e.size < 2 or not np.all(np.isfinite(e)):
            return
        de = np.diff(e)
        rises = int(np.sum(de > 1e-6 * max(1.0, abs(e[0]))))
        res.diagnostics["energy_rises"] = rises
        if rises:
            k = int(np.argmax(de))          # the largest rise, between records k and k+1
            warnings.warn(
                f"stepper {name!r}: the discrete energy E_h rose in {rises} of {e.size - 1} "
                f"records (the largest: {e[k]:.6g} -> {e[k + 1]:.6g} at record {k + 1}) while "
                "the modified energy fell: the step "
                "is too large for accuracy. Use 'sav2-adaptive' (error-controlled), a smaller "
                "dt, stabilization=S (S ~ max F''), or 'convex-split' (E_h itself never rises)",
                RuntimeWarning, stacklevel=3)

    def _can_compile(self, cls) -> bool:
        return (self.target.time_segments and self.dtype == "float64"
                and (issubclass(cls, ExplicitRK) or issubclass(cls, EmbeddedRK)))

    def _spectral_operators(self, what: str, stabilization: float = 0.0,
                            variable: list | None = None):
        r"""What the spectral energy-stable steppers solve with: the transform per axis,
        :math:`\hat L` of the constant-coefficient linear part of μ shifted by β ≥ 0 to be
        positive semi-definite, β, and :math:`\hat G` from the metric (L²: the mobility;
        H⁻¹: mobility times the symbol of :math:`-\Delta_h`)."""
        from nedsym.flows.metrics import L2, Hminus1

        kinds = self._spectral_kinds(what)
        if self.xp is not np or self.dtype != "float64":
            raise SolverError(f"stepper {what!r} runs on the CPU backends in float64")
        if self.lowered.uses_mean or self.lowered.gradient != "continuous":
            raise SolverError(f"stepper {what!r} needs gradient='continuous' and no mean() "
                              "terms")
        metric = self.flow.metric
        if type(metric) not in (L2, Hminus1):
            raise SolverError(f"stepper {what!r} supports the L2 and H-1 metrics, not "
                              f"{metric}")
        M = self.flow.mobility
        pv = self.lowered.params
        mob = []
        for i in range(M.shape[0]):
            m = M[i, i].xreplace({s_: sp.Float(pv[s_.name]) for s_ in M[i, i].free_symbols
                                  if s_.name in pv})
            offdiag = any(M[i, j] != 0 for j in range(M.shape[1]) if j != i)
            if not m.is_number and not offdiag and variable is not None and \
                    isinstance(metric, Hminus1) and self.accuracy == 2 and \
                    all(k in ("fft", "dct") for k in kinds):
                variable.append(i)             # G = -div(M(u) grad), built by the caller
                mob.append(1.0)
                continue
            if not m.is_number or offdiag:
                more = (" (a variable mobility works with 'convex-split' in the H-1 metric at "
                        "accuracy 2 on periodic or zero-flux Neumann axes)"
                        if what != "convex-split" else
                        " (a variable one needs the H-1 metric, accuracy 2 and periodic or "
                        "zero-flux Neumann axes)")
                raise SolverError(f"stepper {what!r} needs a constant, diagonal mobility; "
                                  f"got {M[i, i]} for field {self.fields[i]!r}{more}")
            mob.append(float(m))
        names = list(self.fields)
        mu_sym = np.real(linear_multiplier(self.grid, self.lowered.mu_linear, names,
                                           accuracy=self.accuracy, kinds=kinds))
        beta = max(0.0, -float(np.min(mu_sym)), float(stabilization))
        if isinstance(metric, Hminus1):
            lap = {n: {tuple(2 if a == k else 0 for a in range(self.grid.ndim)): 1.0
                       for k in range(self.grid.ndim)} for n in names}
            G_hat = -np.real(linear_multiplier(self.grid, lap, names, accuracy=self.accuracy,
                                               kinds=kinds))
        else:
            G_hat = np.ones_like(mu_sym)
        G_hat = np.maximum(G_hat, 0.0) * np.asarray(mob).reshape((-1,) + (1,) * self.grid.ndim)
        return kinds, mu_sym + beta, beta, G_hat

    def _pointwise_kernel(self, exprs: dict):
        """``f(y, out)``: the generated map kernel of pointwise expressions per field."""
        L = self.lowered
        ir = build_map_kernel(L.fields, L.halo, exprs, L.scalars, self.grid.ndim)
        kernel = compile_kernel(ir, self.backend, dtype=self.dtype)

        def f(y, out):
            kernel(self._fill(y, 0.0), out, *self.scalars(0.0))
        return f

    def _sav_stepper(self, C: float | None = None, cls=None, stabilization: float = 0.0,
                     **tol):
        r"""The SAV stepper of this flow (:meth:`_spectral_operators`) with
        :math:`E_1 = E_h - \tfrac12(u, \mathcal{L}u)` and :math:`E_1' = \mu_{nl} - \beta u`."""
        from nedsym.solve.sav import SAV

        kinds, L_hat, beta, G_hat = self._spectral_operators("sav", stabilization)
        mu_nl = self._pointwise_kernel(dict(self.lowered.mu_nonlinear))
        cell = float(np.prod(self.grid.spacing))

        def grad_e1(y, out):
            mu_nl(y, out)
            if beta:
                out -= beta * y

        return (cls or SAV)(L_hat, G_hat, grad_e1, self.energy, cell, C, kinds=kinds, **tol)

    def _convex_stepper(self, cls, convex_part=None, newton_tol: float = 1e-10,
                        stabilization: float = 0.0):
        r"""Eyre's convex splitting of this flow: :math:`\mathcal{L} + \beta` and
        :math:`F_c'` implicit, :math:`\beta u + F_e'` explicit, the pointwise split found by
        :func:`nedsym.discretize.split.pointwise_split` (or ``convex_part``: the implicit
        part of :math:`\mu_{nl}`, a string or ``{field: string}``, parsed by nedsym's
        guarded parser)."""
        from nedsym.discretize.split import lower_pointwise, pointwise_split

        variable: list = []
        kinds, Lb_hat, beta, G_hat = self._spectral_operators("convex-split", stabilization,
                                                              variable)
        given = None
        if convex_part is not None:
            given = self._parse_field_exprs(convex_part, "convex_part")
        split = pointwise_split(self.flow, self.lowered.params, given)
        fields = {field_name_of(c): c for c in self.flow.fields}
        fc = {n: split[n][0] for n in self.fields}
        dfc = {n: sp.diff(split[n][0], fields[n]) for n in self.fields}
        fe = {n: split[n][1] for n in self.fields}
        low = lambda ex: lower_pointwise(self.flow, ex, self.accuracy,  # noqa: E731
                                         self.lowered.params)
        nonzero = lambda ex: any(e != 0 for e in ex.values())  # noqa: E731
        implicit = self._pointwise_kernel(low(fc)) if nonzero(fc) else None
        implicit_d = self._pointwise_kernel(low(dfc)) if nonzero(fc) else None
        explicit = self._pointwise_kernel(low(fe)) if nonzero(fe) else None
        face_mobility = None
        if variable:
            # one map kernel for every field's cell mobility (constant ones included)
            mob = {n: self.flow.mobility[i, i] for i, n in enumerate(self.fields)}
            cells = self._pointwise_kernel(low(mob))
            buf = np.empty((len(self.fields), *self.grid.shape))

            def face_mobility(y):
                cells(y, buf)
                faces = []
                for a, kind in enumerate(kinds):
                    nxt = np.roll(buf, -1, axis=a + 1)
                    if kind == "dct":          # the outer face carries no flux
                        idx = [slice(None)] * buf.ndim
                        idx[a + 1] = -1
                        nxt[tuple(idx)] = buf[tuple(idx)]
                    faces.append(0.5 * (buf + nxt))
                return faces

        return cls(Lb_hat, G_hat, beta, implicit, implicit_d, explicit, kinds=kinds,
                   newton_tol=newton_tol, face_mobility=face_mobility,
                   spacing=self.grid.spacing)

    def _parse_field_exprs(self, spec, what: str) -> dict:
        """``{field: sympy expression}`` from a string (one field) or a dict of strings,
        through the guarded parser with this flow's coordinates, fields and parameters."""
        from nedsym.symbolic.parse import Namespace

        E = self.flow.energy
        if isinstance(spec, str):
            if len(self.fields) != 1:
                raise SolverError(f"{what} as one string needs a one-field flow; give a dict "
                                  f"{{field: expression}} for fields {list(self.fields)}")
            spec = {self.fields[0]: spec}
        if not isinstance(spec, dict):
            raise SolverError(f"{what} must be a string or a dict of strings, got "
                              f"{type(spec).__name__}")
        names = Namespace.declare(coords=" ".join(str(x) for x in E.coords),
                                  fields=" ".join(self.fields),
                                  params={p.name: v for p, v in E.params.items()}
                                  if isinstance(E.params, dict) else None)
        out = {}
        for k, v in spec.items():
            if k not in self.fields:
                raise SolverError(f"{what}: unknown field {k!r}; fields: {list(self.fields)}")
            if not isinstance(v, str):
                raise SolverError(f"{what}[{k!r}] must be a string, got {type(v).__name__}")
            out[k] = names.parse(v)
        return out

    def _spectral_kinds(self, what: str) -> list[str]:
        """The transform per axis that diagonalizes this grid's stencils: FFT (periodic),
        DCT-II (homogeneous Neumann on both sides, every field), DST-II (homogeneous
        Dirichlet); anything else is refused, naming the axis."""
        from nedsym.codegen.halo import EVEN, ODD

        bd = self.boundary
        kinds = []
        for a, name in enumerate(self.grid.axis_names):
            if self.grid.periodic[a]:
                kinds.append("fft")
                continue
            k = np.asarray(bd.kinds)[:, a, :]
            v = np.asarray(bd.values)[:, a, :]
            fixed = not bd.varying or np.all(np.asarray(bd.vmap())[:, a, :] < 0)
            if fixed and np.all(v == 0) and np.all(k == EVEN):
                kinds.append("dct")
            elif fixed and np.all(v == 0) and np.all(k == ODD):
                kinds.append("dst")
            else:
                raise SolverError(
                    f"stepper {what!r} solves its linear part with FFT/DCT/DST: axis {name!r} "
                    "needs periodic sides, or the same homogeneous condition on both sides of "
                    "every field (zero-flux Neumann, or Dirichlet 0); use 'rk4'/'rk45' for "
                    "inhomogeneous or mixed data")
        return kinds

    def describe(self) -> dict:
        """What a saved run carries about this simulation: field and coordinate names, the
        cell-centre coordinates, and the energy, derived equations, parameters, grid and
        backend as attributes (``Result.metadata``)."""
        from nedsym._version import __version__
        from nedsym.symbolic.printing import compact_str

        E = self.flow.energy
        dims = [str(c) for c in E.coords]
        attrs = {"energy": compact_str(E.density), "metric": str(self.flow.metric),
                 "mobility": self.flow._mobility_text(),
                 "grid_shape": list(self.grid.shape),
                 "grid_bounds": [list(map(float, b)) for b in self.grid.bounds],
                 "bc": repr(self.grid.bc), "backend": self.backend, "dtype": self.dtype,
                 "accuracy": self.accuracy, "gradient": self.lowered.gradient,
                 "nedsym_version": __version__}
        for c, r in self.flow.rhs.items():
            attrs[f"rhs_{field_name_of(c)}"] = compact_str(r)
        for p, v in sorted(self.lowered.params.items()):
            attrs[f"param_{p}"] = float(v)
        return {"fields": list(self.fields), "dims": dims,
                "coords": dict(zip(dims, (np.asarray(a) for a in self.grid.axes),
                                   strict=True)),
                "attrs": attrs}

    def is_gradient_flow(self) -> bool:
        """Whether the discrete energy must not rise along the flow: a gradient flow with
        homogeneous, time-independent boundary data and no explicit time dependence."""
        from nedsym.flows import GradientFlow

        if not isinstance(self.flow, GradientFlow) or self.boundary.varying:
            return False
        if np.any(self.boundary.values != 0):
            return False
        t = sp.Symbol("t", real=True)
        return not any(t.name in {str(v) for v in e.free_symbols}
                       for e in self.lowered.rhs.values())

    def run_euler(self, y: np.ndarray, nsteps: int, dt: float, t: float = 0.0) -> np.ndarray:
        """``nsteps`` explicit Euler steps in one compiled loop (constant BC data).

        CPU backends: a numba loop (float64). GPU backends: one fused kernel plus
        the halo kernels per step, state on the device (returns a device array).
        """
        if self.lowered.uses_mean:
            raise SolverError("run_euler does not support flows with a spatial mean")
        if self.target.device:
            if self._euler_loop is None:
                self._euler_loop = DeviceEulerLoop(self.kernel_ir, self.backend, self.dtype,
                                                   self._halo_filler)
            yp = self._fill(self.xp.asarray(y, dtype=self.dtype), t).copy()
            self._euler_loop.advance(yp, int(nsteps), float(dt), *self.scalars(t))
            return self.grid.interior(yp, self.halo).copy()
        if self._euler_loop is None:
            self._euler_loop = make_euler_loop(self.kernel_ir)
        yp = self.grid.pad(y, self.halo, self.boundary, t)
        buf = np.empty_like(yp)
        self.boundary.update(t)
        out = self._euler_loop(yp, buf, int(nsteps), float(dt), self.boundary.kinds,
                               self.boundary.values, *self.scalars(t))
        return self.grid.interior(out if isinstance(out, np.ndarray) else yp, self.halo).copy()

    # -- inspection ------------------------------------------------------------------------
    def source(self) -> str:
        """Generated source of the right-hand-side and energy kernels."""
        return self._rhs_kernel.source() + "\n\n" + self._energy_kernel.source()

    def __repr__(self) -> str:
        return (f"Simulation({', '.join(self.fields)} on {self.grid}, backend={self.backend}, "
                f"dtype={self.dtype}, "
                f"gradient={self.lowered.gradient}, halo={self.halo})")


def _check_solve_options(options: dict) -> None:
    """Unknown keyword arguments of :meth:`Simulation.solve` are refused by name."""
    import difflib
    import inspect

    from nedsym.solve import solver

    known = set(inspect.signature(solver.integrate).parameters) - {
        "rhs", "y0", "t_end", "stepper", "dt"} | {"sav_constant", "convex_part", "newton_tol"}
    for key in options:
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise SolverError(f"solve() got an unknown option {key!r}{hint}; options: "
                              f"{sorted(known)}")
