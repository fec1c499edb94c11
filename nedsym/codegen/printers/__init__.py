"""Backend printers for the kernel IR: one class per backend, sharing :class:`KernelPrinter`."""

from nedsym.codegen.printers.base import KernelPrinter
from nedsym.codegen.printers.numba import NumbaPrinter
from nedsym.codegen.printers.numpy import NumpyPrinter

PRINTERS: dict[str, type[KernelPrinter]] = {"numpy": NumpyPrinter, "numba": NumbaPrinter}

__all__ = ["KernelPrinter", "NumbaPrinter", "NumpyPrinter", "PRINTERS"]
