"""Compiled time-stepping segments: many explicit Runge–Kutta steps in one numba call.

:func:`make_rk_segment` prints (:meth:`NumbaPrinter.rk_segment_source`) and compiles a
segment for a map kernel and a :class:`~nedsym.codegen.tableau.ButcherTableau`. Inside one
call the ghost cells are filled before every stage (constant and tabulated time-dependent
sides, through the ghost filler ``fill(yp, halo, kinds, values, vmap, faces, slot)``),
nothing is allocated, the input state is left untouched, and the sum of the final state is
returned as a health value (NaN/Inf exactly when the state went non-finite).

On the first call a segment runs two steps from a random state and compares them with the
same tableau driven through the NumPy reference kernel (:func:`reference_rk_steps`).

:func:`make_embedded_step` compiles one step of an embedded (adaptive) pair with its error
norm fused into the last sweep (:meth:`NumbaPrinter.embedded_step_source`); the step-size
control stays in :class:`nedsym.solve.steppers.EmbeddedRK`, one scalar decision per step.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from nedsym.codegen.backends import require_backend
from nedsym.codegen.compile import CHECK_RTOL, compare_outputs, compile_kernel, random_state
from nedsym.codegen.ir import KernelIR
from nedsym.codegen.printers import NumbaPrinter
from nedsym.codegen.tableau import ButcherTableau
from nedsym.codegen.targets import get_target
from nedsym.errors import CodegenError

__all__ = ["CompiledEmbeddedStep", "CompiledSegment", "make_embedded_step", "make_rk_segment",
           "reference_embedded_step", "reference_rk_steps"]


class CompiledSegment:
    """A compiled explicit RK segment (see :func:`make_rk_segment`).

    ``seg(y0, ya, yb, nsteps, dt, kinds, values, vmap, faces, *scalars) -> (which, health)``
    with padded C-contiguous float64 arrays; the stage work arrays are kept between calls.
    Attributes: ``ir``, ``tableau``, ``path``, ``fill``; :meth:`source` gives the module.
    """

    def __init__(self, ir: KernelIR, tableau: ButcherTableau, function, source: str, path: str,
                 fill: Callable, check: bool):
        self.ir, self.tableau, self._fn, self._source = ir, tableau, function, source
        self.path, self.fill = path, fill
        self._check_pending = check
        #: seconds of the first call's reference check: compiling the kernel (or loading it
        #: from the disk cache) and two checked steps; None until it ran
        self.first_call_s: float | None = None
        self._work: tuple = ()

    @property
    def function(self):
        return self._fn

    def source(self) -> str:
        """The generated module source."""
        return self._source

    def workspace(self, padded_shape: tuple[int, ...]) -> tuple[np.ndarray, ...]:
        """Stage states ``s1, s2`` (padded), stored stages ``K`` and the accumulator."""
        interior = (padded_shape[0],) + tuple(n - 2 * self.ir.halo for n in padded_shape[1:])
        nkept = max(1, len(self.tableau.kept_stages()))
        return (np.zeros(padded_shape), np.zeros(padded_shape),
                np.empty((nkept, *interior)), np.empty(interior))

    def __call__(self, y0, ya, yb, nsteps: int, dt: float, kinds, values, vmap, faces,
                 *scalars) -> tuple[int, float]:
        if not self._work or self._work[0].shape != y0.shape:
            self._work = self.workspace(y0.shape)
        if self._check_pending and nsteps > 0:
            self._check_pending = False
            t0 = time.perf_counter()
            self.check_against_reference(y0.shape, dt, kinds, values, scalars)
            self.first_call_s = time.perf_counter() - t0
        which, health = self._fn(y0, ya, yb, *self._work, int(nsteps), float(dt), kinds, values,
                                 vmap, faces, *scalars)
        return int(which), float(health)

    def check_against_reference(self, padded_shape, dt, kinds, values, scalars, nsteps=2):
        """Run ``nsteps`` steps from a random state here and with NumPy; raise on mismatch."""
        y0 = random_state(padded_shape)
        ya, yb = np.zeros_like(y0), np.zeros_like(y0)
        vmap = np.full(np.shape(kinds), -1, dtype=np.int64)
        faces = np.zeros((0, 1, 1))
        with np.errstate(all="ignore"):    # a run's dt may be unstable: compare what comes
            which, _ = self._fn(y0, ya, yb, *self.workspace(padded_shape), nsteps, dt, kinds,
                                values, vmap, faces, *scalars)
            got = (ya, yb)[which]
            expected = reference_rk_steps(self.ir, self.tableau, self.fill, y0.copy(), nsteps,
                                          dt, kinds, values, list(scalars))
        inner = (slice(None),) + (slice(self.ir.halo, -self.ir.halo or None),) * self.ir.ndim
        compare_outputs(got[inner], expected[inner], CHECK_RTOL["float64"],
                        f"{self.tableau.name} segment of {self.ir.name}")


def reference_rk_steps(ir: KernelIR, tableau: ButcherTableau, fill: Callable, y: np.ndarray,
                       nsteps: int, dt: float, kinds, values, scalars: list) -> np.ndarray:
    """``nsteps`` steps of ``tableau`` with the NumPy reference kernel (the test oracle).

    ``y`` is padded and updated in place (constant ghost data); returns it.
    """
    ref = compile_kernel(ir, "numpy")
    interior = (slice(None),) + (slice(ir.halo, -ir.halo or None),) * ir.ndim
    t_at = ir.scalars.index("t") if "t" in ir.scalars else None
    vmap = np.full(np.shape(kinds), -1, dtype=np.int64)
    faces = np.zeros((0, 1, 1))

    def rhs(state, t):
        args = list(scalars)
        if t_at is not None:
            args[t_at] = t
        fill(state, ir.halo, kinds, values, vmap, faces, 0)
        out = np.empty(state[interior].shape)
        ref(state, out, *args)
        return out

    t = scalars[t_at] if t_at is not None else 0.0
    stage = y.copy()
    for _ in range(nsteps):
        k = []
        for i in range(tableau.stages):
            stage[interior] = y[interior]
            for j, a in enumerate(tableau.A[i]):
                if a:
                    stage[interior] += dt * a * k[j]
            k.append(rhs(stage, t + tableau.c[i] * dt))
        y[interior] = y[interior] + dt * sum(b * kj for b, kj in zip(tableau.b, k, strict=True)
                                             if b)
        t = t + dt
    fill(y, ir.halo, kinds, values, vmap, faces, 0)
    return y


class CompiledEmbeddedStep:
    """One compiled step of an embedded Runge–Kutta pair (see :func:`make_embedded_step`).

    ``step(y0, out, dt, rtol, atol, kinds, values, vmap, faces, *scalars, fsal=False)
    -> error norm`` (the RMS of the scaled error; NaN/Inf when the new state is not finite)
    with padded C-contiguous float64 ``y0``/``out``. The work arrays are kept; :meth:`accept`
    swaps the two right-hand-side buffers so that the next step may reuse
    :math:`f(t+\\Delta t, y_1)` (first-same-as-last).
    """

    def __init__(self, ir: KernelIR, tableau: ButcherTableau, function, source: str, path: str,
                 fill: Callable, check: bool):
        self.ir, self.tableau, self._fn, self._source = ir, tableau, function, source
        self.path, self.fill = path, fill
        self._check_pending = check
        self.first_call_s: float | None = None   # as CompiledSegment.first_call_s
        self._work: list = []
        self.fsal = tableau.fsal

    @property
    def function(self):
        return self._fn

    def source(self) -> str:
        """The generated module source."""
        return self._source

    def workspace(self, padded_shape: tuple[int, ...]) -> list[np.ndarray]:
        """``s1, s2`` (padded), stored stages ``K``, ``acc``, ``eacc``, ``k0``, ``k1``."""
        interior = (padded_shape[0],) + tuple(n - 2 * self.ir.halo for n in padded_shape[1:])
        nkept = max(1, len(self.tableau.kept_stages()))
        return [np.zeros(padded_shape), np.zeros(padded_shape), np.empty((nkept, *interior)),
                *(np.empty(interior) for _ in range(4))]

    def accept(self) -> None:
        """The last step was accepted: its final right-hand side is the next step's first."""
        w = self._work
        w[5], w[6] = w[6], w[5]

    def __call__(self, y0, out, dt: float, rtol: float, atol: float, kinds, values, vmap, faces,
                 *scalars, fsal: bool = False) -> float:
        if not self._work or self._work[0].shape != y0.shape:
            self._work = self.workspace(y0.shape)
            fsal = False
        if self._check_pending:
            self._check_pending = False
            t0 = time.perf_counter()
            self.check_against_reference(y0.shape, dt, rtol, atol, kinds, values, scalars)
            self.first_call_s = time.perf_counter() - t0
        sumsq = self._fn(y0, out, *self._work, int(bool(fsal and self.fsal)), float(dt),
                         float(rtol), float(atol), kinds, values, vmap, faces, *scalars)
        return float(np.sqrt(sumsq / self._work[3].size))

    def check_against_reference(self, padded_shape, dt, rtol, atol, kinds, values, scalars):
        """One step from a random state here and with NumPy (state and error norm)."""
        y0 = random_state(padded_shape)
        out = np.zeros_like(y0)
        vmap = np.full(np.shape(kinds), -1, dtype=np.int64)
        faces = np.zeros((0, 1, 1))
        work = self.workspace(padded_shape)
        with np.errstate(all="ignore"):
            sumsq = self._fn(y0, out, *work, 0, dt, rtol, atol, kinds, values, vmap, faces,
                             *scalars)
            expected, norm = reference_embedded_step(self.ir, self.tableau, self.fill,
                                                     y0.copy(), dt, rtol, atol, kinds, values,
                                                     list(scalars))
        inner = (slice(None),) + (slice(self.ir.halo, -self.ir.halo or None),) * self.ir.ndim
        what = f"{self.tableau.name} step of {self.ir.name}"
        compare_outputs(out[inner], expected[inner], CHECK_RTOL["float64"], what)
        got = np.sqrt(sumsq / work[3].size)
        if not (np.isfinite(got) and np.isfinite(norm)) or \
                abs(got - norm) > CHECK_RTOL["float64"] * max(1.0, abs(norm)):
            raise CodegenError(f"{what}: compiled error norm {got!r} differs from the NumPy "
                               f"reference {norm!r}")


def reference_embedded_step(ir: KernelIR, tableau: ButcherTableau, fill: Callable,
                            y: np.ndarray, dt: float, rtol: float, atol: float, kinds, values,
                            scalars: list) -> tuple[np.ndarray, float]:
    """One step of an embedded pair with the NumPy reference kernel (the test oracle):
    ``(padded new state, error norm)`` (the norm of :class:`~nedsym.solve.EmbeddedRK`)."""
    y0 = y.copy()
    y1 = reference_rk_steps(ir, tableau, fill, y, 1, dt, kinds, values, scalars)
    ref = compile_kernel(ir, "numpy")
    interior = (slice(None),) + (slice(ir.halo, -ir.halo or None),) * ir.ndim
    t_at = ir.scalars.index("t") if "t" in ir.scalars else None
    vmap = np.full(np.shape(kinds), -1, dtype=np.int64)
    faces = np.zeros((0, 1, 1))
    t = scalars[t_at] if t_at is not None else 0.0
    stage, k = y0.copy(), []
    for i in range(tableau.stages):
        stage[interior] = y0[interior]
        for j, a in enumerate(tableau.A[i]):
            if a:
                stage[interior] += dt * a * k[j]
        args = list(scalars)
        if t_at is not None:
            args[t_at] = t + tableau.c[i] * dt
        fill(stage, ir.halo, kinds, values, vmap, faces, 0)
        out = np.empty(stage[interior].shape)
        ref(stage, out, *args)
        k.append(out)
    err = dt * sum(w * kj for w, kj in zip(tableau.b_err, k, strict=True) if w)
    scale = atol + rtol * np.maximum(np.abs(y0[interior]), np.abs(y1[interior]))
    return y1, float(np.sqrt(np.mean((err / scale) ** 2)))


def _load(source: str, name: str, fill: Callable | None):
    """Compile (through the cache) a generated module whose ``_fill`` global is ``fill``
    (default :func:`nedsym.codegen.halo.fill_ghosts`); ``(function, path, fill)``."""
    if fill is None:
        from nedsym.codegen.halo import fill_ghosts as fill
    py = getattr(fill, "py_func", fill)
    fill_id = f"{getattr(py, '__module__', '?')}.{getattr(py, '__qualname__', repr(py))}"
    module = get_target("numba").load_module(source, name, fill=fill_id)
    module._fill = fill
    return getattr(module, name), module.__file__, fill


def make_rk_segment(ir: KernelIR, tableau: ButcherTableau, fill: Callable | None = None,
                    check: bool = True) -> CompiledSegment:
    """Generate and compile (numba) an explicit RK segment for the map kernel ``ir``.

    ``fill``: njit ghost filler ``fill(yp, halo, kinds, values, vmap, faces, slot)``
    (default :func:`nedsym.codegen.halo.fill_ghosts`). ``check``: compare two steps with
    the NumPy reference on the first call. Embedded (adaptive) tableaux are refused: their
    step-size control runs in :mod:`nedsym.solve`.

    Example
    -------
    >>> seg = make_rk_segment(sim.kernel_ir, RK4)                          # doctest: +SKIP
    >>> which, health = seg(y0, ya, yb, 100, 1e-3, kinds, values, vmap, faces, *scalars)
    ...                                                                    # doctest: +SKIP
    """
    require_backend("numba")
    if ir.kind != "map":
        raise CodegenError(f"a time segment needs a map kernel, {ir.name} is a {ir.kind} kernel")
    if tableau.embedded:
        raise CodegenError(f"tableau {tableau.name!r} is an embedded pair; compiled segments "
                           "take fixed-step methods (euler, ssprk3, rk4)")
    name = f"{ir.name}_seg_{tableau.name}"
    source = NumbaPrinter(ir).rk_segment_source(name, tableau)
    function, path, fill = _load(source, name, fill)
    return CompiledSegment(ir, tableau, function, source, path, fill, check)


def make_embedded_step(ir: KernelIR, tableau: ButcherTableau, fill: Callable | None = None,
                       check: bool = True) -> CompiledEmbeddedStep:
    """Generate and compile (numba) one step of the embedded pair ``tableau`` for the map
    kernel ``ir``, with the scaled error norm computed in the kernel.

    ``fill`` and ``check`` as for :func:`make_rk_segment`; the check compares one step and
    its error norm with :func:`reference_embedded_step`.

    Example
    -------
    >>> step = make_embedded_step(sim.kernel_ir, DOPRI5)                  # doctest: +SKIP
    >>> err = step(y0, y1, 1e-3, 1e-6, 1e-9, kinds, values, vmap, faces, *scalars)
    ...                                                                    # doctest: +SKIP
    """
    require_backend("numba")
    if ir.kind != "map":
        raise CodegenError(f"a time step needs a map kernel, {ir.name} is a {ir.kind} kernel")
    if not tableau.embedded:
        raise CodegenError(f"tableau {tableau.name!r} has no embedded error estimate; use "
                           "make_rk_segment for fixed-step methods")
    name = f"{ir.name}_step_{tableau.name}"
    source = NumbaPrinter(ir).embedded_step_source(name, tableau)
    function, path, fill = _load(source, name, fill)
    return CompiledEmbeddedStep(ir, tableau, function, source, path, fill, check)
