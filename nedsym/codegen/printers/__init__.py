"""Backend printers for the kernel IR: one class per backend, sharing :class:`KernelPrinter`."""

from nedsym.codegen.printers.base import KernelPrinter
from nedsym.codegen.printers.cupy import CupyPrinter
from nedsym.codegen.printers.numba import NumbaPrinter
from nedsym.codegen.printers.numba_cuda import NumbaCudaPrinter
from nedsym.codegen.printers.numpy import NumpyPrinter

PRINTERS: dict[str, type[KernelPrinter]] = {
    "numpy": NumpyPrinter, "numba": NumbaPrinter, "numba-cuda": NumbaCudaPrinter,
    "cupy": CupyPrinter,
}

__all__ = ["CupyPrinter", "KernelPrinter", "NumbaCudaPrinter", "NumbaPrinter", "NumpyPrinter",
           "PRINTERS"]
