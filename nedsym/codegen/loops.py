"""Compiled fixed-step time loops built from a map kernel's IR (numba).

:func:`make_euler_loop` generates ``run_euler(yp, ybuf, nsteps, dt, kinds,
values, *scalars)``: per step it fills the halo of the current buffer, evaluates
the map kernel fused with the explicit Euler update
:math:`y^{n+1} = y^n + \\Delta t\\,F(y^n)` into the other buffer, and swaps;
no allocation per step. :func:`make_rk4_loop` generates the classical RK4
``run_rk4(yp, s1, s2, acc, nsteps, dt, kinds, values, *scalars)``.

Halo filling follows the contract of ``nedsym.codegen.halo``:
``fill(yp, halo, kinds, values)``, ``kinds: int64[nfields, ndim, 2]``,
``values: float64[nfields, ndim, 2]``. The final state is in ``yp``, halo filled.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from nedsym.codegen.backends import require_backend
from nedsym.codegen.compile import CHECK_RTOL, compare_outputs, compile_kernel, random_state
from nedsym.codegen.ir import KernelIR
from nedsym.codegen.printers import NumbaPrinter
from nedsym.codegen.printers.numba_blocked import NumbaBlockedPrinter
from nedsym.codegen.targets import get_target
from nedsym.errors import CodegenError

__all__ = ["CompiledLoop", "make_blocked_euler_loop", "make_euler_loop", "make_rk4_loop"]


def _default_filler(ndim: int) -> Callable:
    from nedsym.codegen.halo import halo_filler

    return halo_filler(ndim)


def _filler_id(fill: Callable) -> str:
    py = getattr(fill, "py_func", fill)
    return f"{getattr(py, '__module__', '?')}.{getattr(py, '__qualname__', repr(py))}"


class CompiledLoop:
    """A compiled time loop; ``method`` is ``"euler"`` or ``"rk4"``.

    Call it with the generated signature (``loop(yp, *work, nsteps, dt, kinds,
    values, *scalars)``, ``work = loop.workspace(yp)``), or use :meth:`advance`,
    which keeps the work arrays. ``yp`` holds the final state, halo filled.
    Attributes: ``ir``, ``method``, ``path``, ``function``, ``fill``.
    """

    def __init__(self, ir: KernelIR, method: str, function, source: str, path: str, fill,
                 check: bool, steps_per_pass: int = 1, block_rows: int = 0):
        self.ir, self.method, self._fn, self._source = ir, method, function, source
        self.path, self.fill = path, fill
        self._check_pending = check
        self._work: tuple = ()
        self.steps_per_pass, self.block_rows = steps_per_pass, block_rows
        #: halo width of the padded state this loop takes
        self.halo = ir.halo * steps_per_pass

    @property
    def function(self):
        return self._fn

    def source(self) -> str:
        """The generated module source."""
        return self._source

    def workspace(self, yp: np.ndarray) -> tuple[np.ndarray, ...]:
        """The scratch arrays the generated function takes after ``yp``."""
        if self.method == "euler":
            return (np.empty_like(yp),)
        if self.method == "euler-blocked":
            import numba

            H = self.halo
            slab = (numba.config.NUMBA_NUM_THREADS, 2, yp.shape[0], self.block_rows + 2 * H,
                    *yp.shape[2:])
            return np.empty_like(yp), np.empty(slab, yp.dtype)
        interior = (yp.shape[0],) + tuple(n - 2 * self.ir.halo for n in yp.shape[1:])
        return np.empty_like(yp), np.empty_like(yp), np.empty(interior, yp.dtype)

    def advance(self, yp, nsteps: int, dt: float, kinds, values, *scalars) -> None:
        """Take ``nsteps`` steps in place on ``yp``, reusing work arrays between calls."""
        if not self._work or self._work[0].shape != yp.shape:
            self._work = self.workspace(yp)
        self(yp, *self._work, nsteps, dt, kinds, values, *scalars)

    def __call__(self, yp, *args):
        nwork = {"euler": 1, "euler-blocked": 2, "rk4": 3}[self.method]
        nsteps, dt, kinds, values, *scalars = args[nwork:]
        if self.method == "euler-blocked":
            if nsteps % self.steps_per_pass or np.any(np.asarray(kinds) != 0):
                raise CodegenError(
                    f"the blocked Euler loop takes nsteps divisible by {self.steps_per_pass} "
                    f"and periodic boundaries only (kinds all 0); got nsteps={nsteps}")
        if self._check_pending and nsteps > 0:
            self._check_pending = False
            self.check_against_reference(yp.shape, dt, kinds, values, scalars)
        return self._fn(yp, *args)

    def check_against_reference(self, padded_shape, dt, kinds, values, scalars, nsteps=2):
        """Run ``nsteps`` steps from a random state here and with numpy; raise on mismatch."""
        nsteps = max(nsteps, self.steps_per_pass)
        y0 = random_state(padded_shape)
        y = y0.copy()
        self._fn(y, *self.workspace(y), nsteps, dt, kinds, values, *scalars)
        H, h = self.halo, self.ir.halo
        interior = (slice(None),) + (slice(H, -H or None),) * self.ir.ndim
        small = np.pad(y0[interior], [(0, 0)] + [(h, h)] * self.ir.ndim)
        expected = _reference_steps(self, small, nsteps, dt, kinds, values, list(scalars))
        inner = (slice(None),) + (slice(h, -h or None),) * self.ir.ndim
        compare_outputs(y[interior], expected[inner], CHECK_RTOL["float64"],
                        f"{self.method} loop of {self.ir.name}")


def _reference_steps(loop: CompiledLoop, y, nsteps, dt, kinds, values, scalars):
    """The same time loop with the numpy reference kernel (test oracle)."""
    ir = loop.ir
    ref = compile_kernel(ir, "numpy")
    interior = (slice(None),) + (slice(ir.halo, -ir.halo or None),) * ir.ndim
    t_at = ir.scalars.index("t") if "t" in ir.scalars else None

    def rhs(state, t_shift):
        args = list(scalars)
        if t_at is not None:
            args[t_at] += t_shift
        loop.fill(state, ir.halo, kinds, values)
        out = np.empty(state[interior].shape)
        ref(state, out, *args)
        return out

    for _ in range(nsteps):
        if loop.method != "rk4":
            y[interior] += dt * rhs(y, 0.0)
        else:
            stage = y.copy()
            k1 = rhs(y, 0.0)
            stage[interior] = y[interior] + 0.5 * dt * k1
            k2 = rhs(stage, 0.5 * dt)
            stage[interior] = y[interior] + 0.5 * dt * k2
            k3 = rhs(stage, 0.5 * dt)
            stage[interior] = y[interior] + dt * k3
            k4 = rhs(stage, dt)
            y[interior] += dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        if t_at is not None:
            scalars[t_at] += dt
    return y


def _make_loop(ir: KernelIR, method: str, fill, check: bool) -> CompiledLoop:
    require_backend("numba")
    if ir.kind != "map":
        raise CodegenError(f"a time loop needs a map kernel, {ir.name} is a {ir.kind} kernel")
    if fill is None:
        fill = _default_filler(ir.ndim)
    name = f"{ir.name}_{method}"
    printer = NumbaPrinter(ir)
    source = printer.euler_source(name) if method == "euler" else printer.rk4_source(name)
    module = get_target("numba").load_module(source, name, fill=_filler_id(fill))
    module._fill = fill
    return CompiledLoop(ir, method, getattr(module, name), source, module.__file__, fill, check)


def make_euler_loop(ir: KernelIR, fill: Callable | None = None, check: bool = True) -> CompiledLoop:
    """Generate and compile (numba) an explicit Euler loop for the map kernel ``ir``.

    ``fill``: njit halo filler ``fill(yp, halo, kinds, values)``; defaults to
    ``nedsym.codegen.halo.halo_filler(ir.ndim)``. A scalar named ``t`` is
    the start time and advances by ``dt`` each step. ``check``: on the first
    call, compare two steps from a random state with the numpy reference.

    Example
    -------
    >>> loop = make_euler_loop(ir)                                   # doctest: +SKIP
    >>> loop(yp, np.empty_like(yp), 100, 1e-4, kinds, values, eps, h0, h1)  # doctest: +SKIP
    >>> loop.advance(yp, 100, 1e-4, kinds, values, eps, h0, h1)     # doctest: +SKIP
    """
    return _make_loop(ir, "euler", fill, check)


def make_rk4_loop(ir: KernelIR, fill: Callable | None = None, check: bool = True) -> CompiledLoop:
    """Generate and compile (numba) a classical RK4 loop for the map kernel ``ir``.

    Signature of the generated function: ``(yp, s1, s2, acc, nsteps, dt, kinds,
    values, *scalars)`` with ``s1, s2`` like ``yp`` and ``acc`` of interior shape
    (``loop.workspace(yp)`` makes them); otherwise as :func:`make_euler_loop`.

    Example
    -------
    >>> loop = make_rk4_loop(ir)                                     # doctest: +SKIP
    >>> loop.advance(yp, 100, 1e-3, kinds, values, eps, h0, h1)     # doctest: +SKIP
    """
    return _make_loop(ir, "rk4", fill, check)


def make_blocked_euler_loop(ir: KernelIR, steps_per_pass: int = 2, block_rows: int = 8,
                            fill: Callable | None = None, check: bool = True) -> CompiledLoop:
    """Explicit Euler with temporal blocking: ``steps_per_pass`` steps per sweep of memory.

    **Experimental** (not exported from :mod:`nedsym.codegen`): it is correct
    (tested against the plain loop) but on the 2-core benchmark machine the
    slab loop nests run ~3x slower per cell than the plain ``prange`` nest, for
    generated and hand-written numba alike, so it loses to :func:`make_euler_loop`.

    For memory-bound stencils on periodic grids (see
    :mod:`nedsym.codegen.printers.numba_blocked`). The padded state has halo
    ``loop.halo = steps_per_pass * ir.halo``; ``nsteps`` must be a multiple of
    ``steps_per_pass``; kernels with coordinates or means are refused.
    Generated signature: ``(yp, ybuf, scratch, nsteps, dt, kinds, values, *scalars)``
    (``loop.workspace(yp)`` makes ``ybuf, scratch``).

    Example
    -------
    >>> loop = make_blocked_euler_loop(ir, steps_per_pass=2)          # doctest: +SKIP
    >>> loop.advance(yp, 100, 1e-4, kinds, values, eps, h0, h1)      # doctest: +SKIP
    """
    require_backend("numba")
    if ir.kind != "map" or ir.coords or ir.means:
        raise CodegenError(f"temporal blocking needs a map kernel without coordinates or "
                           f"means; {ir.name} is a {ir.kind} kernel with coords={ir.coords}, "
                           f"{len(ir.means)} mean(s)")
    if steps_per_pass < 1 or block_rows < 1:
        raise CodegenError("steps_per_pass and block_rows must be positive")
    if fill is None:
        fill = _default_filler(ir.ndim)
    name = f"{ir.name}_euler_x{steps_per_pass}"
    source = NumbaBlockedPrinter(ir, steps_per_pass).blocked_euler_source(name)
    module = get_target("numba").load_module(source, name, fill=_filler_id(fill))
    module._fill = fill
    return CompiledLoop(ir, "euler-blocked", getattr(module, name), source, module.__file__,
                        fill, check, steps_per_pass, block_rows)
