"""The NumPy target: the reference backend (whole-array expressions, always available)."""

from __future__ import annotations

from nedsym.codegen.printers.numpy import NumpyPrinter
from nedsym.codegen.targets.base import Target, register_target

__all__ = ["NumpyTarget"]


class NumpyTarget(Target):
    """Vectorized NumPy kernels: the reference every other target is checked against."""

    name = "numpy"
    printer = NumpyPrinter

    def check(self):
        import numpy

        return True, f"numpy {numpy.__version__}"


register_target(NumpyTarget())
