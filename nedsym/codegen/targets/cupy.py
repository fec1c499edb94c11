"""The CuPy target: CUDA C kernels compiled by NVRTC through ``cupy.RawModule``."""

from __future__ import annotations

import importlib
import importlib.util

import numpy as np

from nedsym.codegen.cache import store_source
from nedsym.codegen.ir import HALO_SPEC
from nedsym.codegen.printers.cupy import CupyPrinter, halo_source
from nedsym.codegen.targets.base import register_target
from nedsym.codegen.targets.numba_cuda import NumbaCudaTarget
from nedsym.errors import BackendUnavailableError, CodegenError

__all__ = ["CupyTarget"]


class CupyTarget(NumbaCudaTarget):
    """GPU kernels in CUDA C compiled by NVRTC, states as CuPy arrays; it differs from
    numba-cuda only in how kernels are compiled and launched (sizes passed explicitly)."""

    name = "cupy"
    printer = CupyPrinter

    def check(self):
        from nedsym.codegen.backends import _nvrtc_reason

        if importlib.util.find_spec("cupy") is None:
            return False, "cupy is not installed (pip install cupy-cuda13x)"
        cupy = importlib.import_module("cupy")
        if not cupy.is_available():
            try:
                n = cupy.cuda.runtime.getDeviceCount()
                why = "the CUDA driver is installed but no GPU was found" if n == 0 else \
                    "cupy cannot use the GPU"
            except Exception as exc:  # noqa: BLE001
                why = f"no usable CUDA driver ({' '.join(str(exc).split())})"
            return False, f"cupy {cupy.__version__} is installed but {why}"
        reason = _nvrtc_reason()
        if reason:
            return False, reason
        props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
        name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
        return True, f"cupy {cupy.__version__} on {name}"


    def array_module(self):
        try:
            import cupy
        except ImportError as exc:
            raise BackendUnavailableError(f"backend 'cupy' needs cupy (pip install "
                                          f"cupy-cuda13x): {exc}") from exc
        return cupy

    def ops(self, dtype: str):
        return _CupyOps(dtype)

    def device_function(self, ir, dtype: str, euler: bool = False):
        printer = self.printer(ir, dtype=dtype)
        name = printer.euler_name() if euler else printer.kernel_name
        source = printer.euler_source() if euler else printer.kernel_source()
        path = store_source(source, name, {"backend": self.name}, suffix=".cu")
        return raw_kernel(source, name, path), source, str(path)

    def size_args(self, interior) -> list:
        """CUDA C kernels take the interior sizes after the two arrays."""
        return [np.int64(n) for n in interior]

    def halo_kernel(self, dtype: str):
        src = halo_source(dtype, HALO_SPEC)
        name = f"nsk_halo_axis_{'f32' if dtype == 'float32' else 'f64'}"
        return raw_kernel(src, name, store_source(src, name, {"backend": self.name},
                                                  suffix=".cu"))

    def halo_args(self, yp, h, pre, npad, post, kinds, values) -> tuple:
        return (yp, np.int64(yp.shape[0]), np.int64(pre), np.int64(npad), np.int64(post),
                np.int64(h), kinds, values)


def raw_kernel(source: str, name: str, path):
    """A compiled ``cupy.RawKernel``; compile errors become CodegenError with the log."""
    import cupy

    kernel = cupy.RawKernel(source, name, options=("--std=c++11",))
    try:
        kernel.compile()
    except Exception as exc:  # noqa: BLE001 - cupy's CompileException carries the log
        raise CodegenError(f"NVRTC could not compile kernel {name} ({path}):\n{exc}") from exc
    return kernel


class _CupyOps:
    """Launch and memory primitives of the cupy backend."""

    simulator = False

    def __init__(self, dtype: str):
        import cupy

        self.cp = self.xp = cupy
        self.dtype = dtype

    def is_host(self, a) -> bool:
        return isinstance(a, np.ndarray)

    def to_device(self, a):
        return self.cp.asarray(a)

    def empty(self, shape, dtype):
        return self.cp.empty(shape, dtype)

    def empty_like(self, a):
        return self.cp.empty_like(a)

    def zero(self, a) -> None:
        a.fill(0)

    def launch(self, kernel, grid, block, args) -> None:
        kernel(grid, block, args)

    def scalar(self, a) -> float:
        return float(a[0].get())

    def copy(self, dst, src) -> None:
        dst[...] = src


register_target(CupyTarget())
