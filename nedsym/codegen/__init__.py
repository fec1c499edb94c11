"""Kernel IR, backend printers, disk cache and backend detection.

The lowering builds a :class:`KernelIR` with :func:`build_map_kernel` or
:func:`build_reduce_kernel`; :func:`compile_kernel` turns it into a callable
for one backend; :func:`make_euler_loop` into a compiled time loop.
Importing this package imports neither numba nor any GPU library.
"""

from nedsym.codegen.backends import BACKENDS, available
from nedsym.codegen.cache import cache_clear, cache_dir, cache_info
from nedsym.codegen.compile import CompiledKernel, compile_kernel
from nedsym.codegen.ir import (
    KernelIR,
    Mean,
    build_map_kernel,
    build_reduce_kernel,
    coordinate_symbols,
    index_symbols,
)
from nedsym.codegen.loops import (
    CompiledLoop,
    make_euler_loop,
    make_rk4_loop,
)

__all__ = [
    "BACKENDS", "CompiledKernel", "CompiledLoop", "KernelIR", "Mean", "available",
    "build_map_kernel", "build_reduce_kernel", "cache_clear", "cache_dir", "cache_info",
    "compile_kernel", "coordinate_symbols", "index_symbols", "make_euler_loop",
    "make_rk4_loop",
]
