"""The numba-cuda target: CUDA kernels printed as numba ``@cuda.jit`` functions."""

from __future__ import annotations

import importlib
import importlib.util
from math import ceil

import numpy as np

from nedsym.codegen.backends import simulator_enabled
from nedsym.codegen.ir import HALO_SPEC
from nedsym.codegen.printers.numba_cuda import (
    REDUCE_BLOCK,
    NumbaCudaPrinter,
    launch_block,
    runtime_source,
)
from nedsym.codegen.targets.base import Target, get_target, register_target
from nedsym.errors import BackendUnavailableError

__all__ = ["NumbaCudaTarget", "to_host"]


class NumbaCudaTarget(Target):
    """GPU kernels through numba-cuda (or its CPU simulator, ``NUMBA_ENABLE_CUDASIM=1``);
    states are CuPy arrays on a real GPU, NumPy arrays under the simulator."""

    name = "numba-cuda"
    printer = NumbaCudaPrinter
    device = True

    def check(self):
        from nedsym.codegen.backends import _driver_reason, _nvrtc_reason

        if importlib.util.find_spec("numba") is None or \
                importlib.util.find_spec("numba_cuda") is None:
            return False, "numba-cuda is not installed (pip install numba-cuda)"
        if simulator_enabled():
            from numba import config

            if not config.ENABLE_CUDASIM:
                return False, ("NUMBA_ENABLE_CUDASIM=1 was set after numba was imported; "
                               "set it before (e.g. in the shell) to use the CUDA simulator")
            return True, ("CUDA simulator on (NUMBA_ENABLE_CUDASIM=1): kernels run on the "
                          "CPU, for tests only")
        cuda = importlib.import_module("numba.cuda")
        if not cuda.is_available():
            return False, _driver_reason()
        reason = _nvrtc_reason()
        if reason:
            return False, reason
        dev = cuda.get_current_device()
        name = dev.name.decode() if isinstance(dev.name, bytes) else dev.name
        cc = dev.compute_capability
        return True, f"numba-cuda on {name} (compute capability {cc[0]}.{cc[1]})"

    # -- what the device module (nedsym.codegen.gpu) asks of a GPU target ----------------
    #: threads per block of reductions; ``launch_block(ndim)`` those of map kernels
    reduce_block = REDUCE_BLOCK
    launch_block = staticmethod(launch_block)

    def compile(self, ir, dtype="float64", check=True):
        from nedsym.codegen.compile import CompiledKernel
        from nedsym.codegen.gpu import GpuKernel

        kernel = GpuKernel(ir, self.name, dtype)
        return CompiledKernel(ir, self.name, dtype, kernel, kernel.source, kernel.path, check)

    def ops(self, dtype: str):
        """Launch and memory primitives for states of ``dtype``."""
        return _NumbaCudaOps(dtype)

    def device_function(self, ir, dtype: str, euler: bool = False):
        """Print and compile one kernel (the map/reduce kernel, or the fused Euler step):
        ``(launchable, source, path)``."""
        name = f"{ir.name}_euler" if euler else ir.name
        printer = self.printer(ir, dtype=dtype)
        source = printer.euler_source(name) if euler else printer.kernel_source()
        module = self.load_module(source, name, dtype=dtype)
        return getattr(module, name), source, module.__file__

    def size_args(self, interior) -> list:
        """Extra launch arguments after the two arrays (numba-cuda kernels read shapes)."""
        return []

    def halo_kernel(self, dtype: str):
        """The device ghost-cell kernel printed from :data:`nedsym.codegen.ir.HALO_SPEC`."""
        return self.ops(dtype).runtime.halo_axis

    def halo_args(self, yp, h, pre, npad, post, kinds, values) -> tuple:
        return (yp.reshape(yp.shape[0], pre, npad, post), h, kinds, values)

    def array_module(self):
        if simulator_enabled():
            return np
        try:
            import cupy
        except ImportError as exc:
            raise BackendUnavailableError(
                f"backend {self.name!r} keeps the state on the GPU as CuPy arrays; install "
                f"cupy-cuda13x ({exc})") from exc
        return cupy

    def to_host(self, a):
        return to_host(a)

    def halo_filler(self, boundary, dtype):
        from nedsym.codegen.gpu import DeviceHaloFiller

        return DeviceHaloFiller(boundary, self.name, dtype)


def to_host(a) -> np.ndarray:
    """A NumPy copy/view of a NumPy, CuPy or numba device array.

    Example
    -------
    >>> to_host(np.ones(2)).tolist()
    [1.0, 1.0]
    """
    if isinstance(a, np.ndarray):
        return a
    if hasattr(a, "get") and type(a).__module__.startswith("cupy"):
        return a.get()
    if hasattr(a, "copy_to_host"):
        return a.copy_to_host()
    return np.asarray(a)


def _like(a):
    """``empty_like`` in the library of ``a`` (NumPy or CuPy)."""
    import sys

    mod = sys.modules["cupy"] if type(a).__module__.split(".")[0] == "cupy" else np
    return mod.empty_like(a)


class _NumbaCudaOps:
    """Launch and memory primitives of the numba-cuda backend (NumPy arrays under the
    simulator, numba device or CuPy arrays on a GPU)."""

    def __init__(self, dtype: str):
        from numba import cuda

        self.cuda, self.dtype = cuda, dtype
        self.simulator = simulator_enabled()
        self.runtime = get_target("numba-cuda").load_module(
            runtime_source(dtype, HALO_SPEC), f"nsk_runtime_{dtype}")

    @property
    def xp(self):
        """The array library of states (NumPy under the simulator, CuPy on a GPU): needed
        only for time-dependent boundary faces, so a kernel alone never imports CuPy."""
        return np if self.simulator else get_target("numba-cuda").array_module()

    def is_host(self, a) -> bool:
        return isinstance(a, np.ndarray) and not self.simulator

    def to_device(self, a):
        return a if self.simulator else self.cuda.to_device(np.ascontiguousarray(a))

    def empty(self, shape, dtype):
        return np.empty(shape, dtype) if self.simulator else self.cuda.device_array(shape, dtype)

    def empty_like(self, a):
        """A buffer like ``a`` from the same library (CuPy, numba device or NumPy)."""
        if type(a).__module__.split(".")[0] == "cupy" or isinstance(a, np.ndarray):
            return _like(a)
        return self.cuda.device_array_like(a)

    def zero(self, a) -> None:
        if isinstance(a, np.ndarray):
            a[...] = 0
            return
        self.runtime.zero[ceil(a.shape[0] / 128), 128](a)

    def launch(self, kernel, grid, block, args) -> None:
        kernel[grid, block](*args)

    def scalar(self, a) -> float:
        return float(to_host(a)[0])

    def copy(self, dst, src) -> None:
        if hasattr(dst, "copy_to_device"):  # numba device array
            dst.copy_to_device(src)
        else:
            dst[...] = src


register_target(NumbaCudaTarget())
