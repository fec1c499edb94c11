"""Compiled time-stepping segments: many explicit Runge–Kutta steps in one numba call.

:func:`make_rk_segment` prints (:meth:`NumbaPrinter.rk_segment_source`) and compiles a
segment for a map kernel and a :class:`~nedsym.codegen.tableau.ButcherTableau`. Inside one
call the ghost cells are filled before every stage (constant and tabulated time-dependent
sides, through the ghost filler ``fill(yp, halo, kinds, values, vmap, faces, slot)``),
nothing is allocated, the input state is left untouched, and the sum of the final state is
returned as a health value (NaN/Inf exactly when the state went non-finite).

On the first call a segment runs two steps from a random state and compares them with the
same tableau driven through the NumPy reference kernel (:func:`reference_rk_steps`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from nedsym.codegen.backends import require_backend
from nedsym.codegen.cache import load_source
from nedsym.codegen.compile import CHECK_RTOL, compare_outputs, compile_kernel, random_state
from nedsym.codegen.ir import KernelIR
from nedsym.codegen.printers import NumbaPrinter
from nedsym.codegen.tableau import ButcherTableau
from nedsym.errors import CodegenError

__all__ = ["CompiledSegment", "make_rk_segment", "reference_rk_steps"]


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
            self.check_against_reference(y0.shape, dt, kinds, values, scalars)
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


def _default_fill() -> Callable:
    from nedsym.codegen.halo import fill_ghosts

    return fill_ghosts


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
    fill = _default_fill() if fill is None else fill
    py = getattr(fill, "py_func", fill)
    fill_id = f"{getattr(py, '__module__', '?')}.{getattr(py, '__qualname__', repr(py))}"
    name = f"{ir.name}_seg_{tableau.name}"
    source = NumbaPrinter(ir).rk_segment_source(name, tableau)
    module = load_source(source, name, {"backend": "numba", "fill": fill_id})
    module._fill = fill
    return CompiledSegment(ir, tableau, getattr(module, name), source, module.__file__, fill,
                           check)
