"""The numba target: parallel CPU loop nests (``prange``), compiled time segments."""

from __future__ import annotations

import importlib.util

from nedsym.codegen.printers.numba import NumbaPrinter
from nedsym.codegen.targets.base import Target, register_target

__all__ = ["NumbaTarget"]


class NumbaTarget(Target):
    """``@njit(parallel=True)`` kernels; fused Runge–Kutta segments and embedded steps."""

    name = "numba"
    printer = NumbaPrinter
    time_segments = True

    def check(self):
        if importlib.util.find_spec("numba") is None:
            return False, "numba is not installed (pip install numba)"
        import numba

        return True, f"numba {numba.__version__}"


register_target(NumbaTarget())
