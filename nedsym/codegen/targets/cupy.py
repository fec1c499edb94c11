"""The CuPy target: CUDA C kernels compiled by NVRTC through ``cupy.RawModule``."""

from __future__ import annotations

import importlib
import importlib.util

from nedsym.codegen.printers.cupy import CupyPrinter
from nedsym.codegen.targets.base import register_target
from nedsym.codegen.targets.numba_cuda import NumbaCudaTarget

__all__ = ["CupyTarget"]


class CupyTarget(NumbaCudaTarget):
    """GPU kernels in CUDA C, states as CuPy arrays (launch, memory and halo kernels are the
    device module's, as for numba-cuda)."""

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


register_target(CupyTarget())
