"""The numba-cuda target: CUDA kernels printed as numba ``@cuda.jit`` functions."""

from __future__ import annotations

import importlib
import importlib.util

from nedsym.codegen.printers.numba_cuda import NumbaCudaPrinter
from nedsym.codegen.targets.base import Target, register_target

__all__ = ["NumbaCudaTarget"]


class NumbaCudaTarget(Target):
    """GPU kernels through numba-cuda (or its CPU simulator, ``NUMBA_ENABLE_CUDASIM=1``);
    states are CuPy arrays on a real GPU, NumPy arrays under the simulator."""

    name = "numba-cuda"
    printer = NumbaCudaPrinter
    device = True

    def check(self):
        from nedsym.codegen.backends import _driver_reason, _nvrtc_reason, simulator_enabled

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

    def compile(self, ir, dtype="float64", check=True):
        from nedsym.codegen.compile import CompiledKernel
        from nedsym.codegen.gpu import GpuKernel

        kernel = GpuKernel(ir, self.name, dtype)
        return CompiledKernel(ir, self.name, dtype, kernel, kernel.source, kernel.path, check)

    def array_module(self):
        from nedsym.codegen.gpu import array_module

        return array_module(self.name)

    def to_host(self, a):
        from nedsym.codegen.gpu import to_host

        return to_host(a)

    def halo_filler(self, boundary, dtype):
        from nedsym.codegen.gpu import DeviceHaloFiller

        return DeviceHaloFiller(boundary, self.name, dtype)


register_target(NumbaCudaTarget())
