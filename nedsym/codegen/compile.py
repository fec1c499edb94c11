"""Compile a kernel IR with one backend's printer, through the disk cache.

:func:`compile_kernel` prints the IR, writes the source to the cache
(:mod:`nedsym.codegen.cache`), imports it and wraps the function in a
:class:`CompiledKernel`. On the first call of a non-reference backend the
kernel is compared with the NumPy reference on a random padded state of the
same shape; a mismatch raises :class:`~nedsym.errors.CodegenError`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from nedsym.codegen.ir import KernelIR
from nedsym.errors import CodegenError

__all__ = ["CompiledKernel", "compare_outputs", "compile_kernel", "random_state"]

#: relative tolerance of the first-call check, per dtype
CHECK_RTOL = {"float64": 1e-10, "float32": 1e-4}


class CompiledKernel:
    """A generated kernel: call it like the function it wraps.

    Map: ``kernel(yp, out, *scalars)``; reduce: ``kernel(yp, *scalars) -> float``
    (plain sum over the interior; multiply by the cell volume yourself).

    Attributes: ``ir``, ``backend``, ``dtype``, ``path`` (the cached source file),
    ``function`` (the raw numpy function, numba dispatcher or
    :class:`~nedsym.codegen.gpu.GpuKernel`).
    """

    def __init__(self, ir: KernelIR, backend: str, dtype: str, function: Callable,
                 source: str, path: str, check: bool):
        self.ir, self.backend, self.dtype = ir, backend, dtype
        self._fn = function
        self._source = source
        self.path = path
        self._check_pending = check and backend != "numpy"

    @property
    def function(self) -> Callable:
        return self._fn

    def source(self) -> str:
        """The generated module source."""
        return self._source

    def __repr__(self) -> str:
        return f"<CompiledKernel {self.ir.name} {self.ir.kind} backend={self.backend}>"

    def __call__(self, *args):
        if self._check_pending:
            self._check_pending = False
            self.check_against_reference(args[0].shape, args[1 + (self.ir.kind == "map"):])
        return self._fn(*args)

    def check_against_reference(self, padded_shape: tuple[int, ...], scalars, seed: int = 0):
        """Compare with the NumPy reference on a random padded state; raise on mismatch."""
        ref = compile_kernel(self.ir, "numpy", dtype=self.dtype)
        yp = random_state(padded_shape, self.dtype, seed)
        if self.ir.kind == "map":
            interior = (padded_shape[0],) + tuple(n - 2 * self.ir.halo for n in padded_shape[1:])
            expected = np.zeros(interior, dtype=self.dtype)
            got = np.zeros(interior, dtype=self.dtype)
            ref(yp, expected, *scalars)
            self._fn(yp, got, *scalars)
        else:
            expected = np.array(ref(yp, *scalars))
            got = np.array(self._fn(yp, *scalars))
        compare_outputs(got, expected, CHECK_RTOL[self.dtype],
                        f"{self.backend} kernel {self.ir.name}")


def random_state(padded_shape: tuple[int, ...], dtype: str = "float64", seed: int = 0):
    """A random padded state with values in [0.5, 1.5) (safe for log/sqrt/division).

    Example
    -------
    >>> random_state((1, 6)).shape
    (1, 6)
    """
    return np.random.default_rng(seed).uniform(0.5, 1.5, padded_shape).astype(dtype)


def compare_outputs(got: np.ndarray, expected: np.ndarray, rtol: float, what: str) -> None:
    """Raise :class:`CodegenError` naming the largest difference and its index.

    The tolerance is ``rtol * max(1, max|expected|)``; NaN matches NaN.

    Example
    -------
    >>> compare_outputs(np.ones(3), np.ones(3), 1e-12, "demo")
    """
    got, expected = np.asarray(got, dtype=float), np.asarray(expected, dtype=float)
    diff = np.abs(got - expected)
    both_nan = np.isnan(got) & np.isnan(expected)
    diff = np.where(both_nan, 0.0, np.where(np.isnan(diff), np.inf, diff))
    scale = max(1.0, float(np.nanmax(np.abs(expected), initial=0.0)))
    worst = int(np.argmax(diff)) if diff.size else 0
    if diff.size and diff.flat[worst] > rtol * scale:
        index = np.unravel_index(worst, diff.shape) if diff.ndim else ()
        raise CodegenError(
            f"{what} disagrees with the numpy reference: largest difference "
            f"{diff.flat[worst]:.3e} at index {tuple(int(i) for i in index)} "
            f"(got {got.flat[worst]!r}, expected {expected.flat[worst]!r}; "
            f"tolerance {rtol * scale:.1e})")


def compile_kernel(ir: KernelIR, backend: str = "numpy", check: bool = True,
                   dtype: str = "float64") -> CompiledKernel:
    """Print ``ir`` for ``backend``, load it through the disk cache and wrap it.

    ``backend``: a registered target (:mod:`nedsym.codegen.targets`): ``"numpy"``
    (reference), ``"numba"`` (parallel CPU), ``"numba-cuda"`` or ``"cupy"`` (GPU: the
    kernel takes device arrays, see :class:`nedsym.codegen.gpu.GpuKernel`). A backend that
    cannot run here raises :class:`~nedsym.errors.BackendUnavailableError` saying why.
    ``check``: compare with the NumPy reference on the first call.
    ``dtype``: ``"float64"`` or ``"float32"`` (typed literals).

    Example
    -------
    >>> import sympy as sp
    >>> from nedsym.codegen.ir import build_map_kernel, index_symbols
    >>> (i,) = index_symbols(1)
    >>> u = sp.IndexedBase("u")
    >>> h0 = sp.Symbol("h0")
    >>> ir = build_map_kernel(["u"], 1, {"u": (u[i-1] - 2*u[i] + u[i+1])/h0**2}, ["h0"], 1)
    >>> k = compile_kernel(ir, "numpy")
    >>> yp = np.arange(6.0).reshape(1, 6)**2; out = np.empty((1, 4))
    >>> k(yp, out, 1.0); out
    array([[2., 2., 2., 2.]])
    """
    from nedsym.codegen.targets import get_target

    target = get_target(backend)
    target.require()
    return target.compile(ir, dtype, check)
