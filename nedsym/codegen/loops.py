"""Compiled fixed-step time loops built from a map kernel's IR.

:func:`make_euler_loop` generates ``run_euler(yp, ybuf, nsteps, dt, kinds,
values, *scalars)``: per step it fills the halo of the current buffer with the
halo filler, evaluates the map kernel fused with the explicit Euler update
:math:`y^{n+1} = y^n + \\Delta t\\,F(y^n)` into the other buffer, and swaps;
no allocation per step. Halo filling follows the contract of
``nedsym.discretize.halo``: ``fill(yp, halo, kinds, values)`` with
``kinds: int64[nfields, ndim, 2]``, ``values: float64[nfields, ndim, 2]``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from nedsym.codegen.backends import require_backend
from nedsym.codegen.cache import load_source
from nedsym.codegen.compile import CHECK_RTOL, compare_outputs, compile_kernel, random_state
from nedsym.codegen.ir import KernelIR
from nedsym.codegen.printers import NumbaPrinter
from nedsym.errors import CodegenError

__all__ = ["CompiledLoop", "make_euler_loop"]


def _default_filler(ndim: int) -> Callable:
    try:
        from nedsym.discretize.halo import halo_filler
    except ImportError as exc:
        raise CodegenError("no halo filler: nedsym.discretize.halo.halo_filler is not "
                           f"importable ({exc}); pass fill=") from exc
    return halo_filler(ndim)


def _filler_id(fill: Callable) -> str:
    py = getattr(fill, "py_func", fill)
    return f"{getattr(py, '__module__', '?')}.{getattr(py, '__qualname__', repr(py))}"


class CompiledLoop:
    """A compiled time loop: ``loop(yp, ybuf, nsteps, dt, kinds, values, *scalars)``.

    ``yp`` (padded state) holds the final state, halo filled; ``ybuf`` is a
    scratch array of the same shape. Attributes: ``ir``, ``path``, ``function``.
    """

    def __init__(self, ir: KernelIR, function, source: str, path: str, fill, check: bool):
        self.ir, self._fn, self._source, self.path, self.fill = ir, function, source, path, fill
        self._check_pending = check

    @property
    def function(self):
        return self._fn

    def source(self) -> str:
        """The generated module source."""
        return self._source

    def __call__(self, yp, ybuf, nsteps, dt, kinds, values, *scalars):
        if self._check_pending and nsteps > 0:
            self._check_pending = False
            self.check_against_reference(yp.shape, dt, kinds, values, scalars)
        return self._fn(yp, ybuf, nsteps, dt, kinds, values, *scalars)

    def check_against_reference(self, padded_shape, dt, kinds, values, scalars, nsteps=2):
        """Run ``nsteps`` steps from a random state here and with numpy; raise on mismatch."""
        ref = compile_kernel(self.ir, "numpy")
        y0 = random_state(padded_shape)
        y = y0.copy()
        self._fn(y, np.empty_like(y), nsteps, dt, kinds, values, *scalars)
        expected = y0.copy()
        interior = (slice(None),) + (slice(self.ir.halo, -self.ir.halo or None),) * self.ir.ndim
        out = np.empty(expected[interior].shape)
        args = list(scalars)
        t_at = self.ir.scalars.index("t") if "t" in self.ir.scalars else None
        for _ in range(nsteps):
            self.fill(expected, self.ir.halo, kinds, values)
            ref(expected, out, *args)
            expected[interior] += dt * out
            if t_at is not None:
                args[t_at] += dt
        compare_outputs(y[interior], expected[interior], CHECK_RTOL["float64"],
                        f"Euler loop of {self.ir.name}")


def make_euler_loop(ir: KernelIR, fill: Callable | None = None, check: bool = True) -> CompiledLoop:
    """Generate and compile (numba) an explicit Euler loop for the map kernel ``ir``.

    ``fill``: njit halo filler ``fill(yp, halo, kinds, values)``; defaults to
    ``nedsym.discretize.halo.halo_filler(ir.ndim)``. A scalar named ``t`` is
    the start time and advances by ``dt`` each step.

    Example
    -------
    >>> loop = make_euler_loop(ir)                        # doctest: +SKIP
    >>> loop(yp, np.empty_like(yp), 100, 1e-4, kinds, values, eps, h0, h1)  # doctest: +SKIP
    """
    require_backend("numba")
    if ir.kind != "map":
        raise CodegenError(f"an Euler loop needs a map kernel, {ir.name} is a {ir.kind} kernel")
    if fill is None:
        fill = _default_filler(ir.ndim)
    name = f"{ir.name}_euler"
    source = NumbaPrinter(ir).euler_source(name)
    module = load_source(source, name, {"backend": "numba", "fill": _filler_id(fill)})
    module._fill = fill
    return CompiledLoop(ir, getattr(module, name), source, module.__file__, fill, check)
