"""The CuPy printer's CUDA C, run on the CPU: compiled with the host C++ compiler behind a
small shim (``blockIdx``/``threadIdx`` as globals, one thread per block, so
``__syncthreads`` is a no-op) and launched block by block from Python. This checks the
arithmetic, indexing, halo offsets and grid-stride reduction of the generated source against
the NumPy reference where no GPU exists (the real launch is tested in tests/gpu)."""

import ctypes
import functools
import shutil
import subprocess
import sys

import numpy as np
import pytest
from kernels import allen_cahn_2d, coupled_2d, energy, lap_1d, lap_3d

from nedsym.codegen import compile_kernel
from nedsym.codegen.compile import random_state
from nedsym.codegen.printers.cupy import CupyPrinter, halo_source

CXX = shutil.which("g++") or shutil.which("clang++")
pytestmark = pytest.mark.skipif(CXX is None or sys.platform == "win32",
                                reason="no host C++ compiler (g++/clang++) to emulate CUDA C")

SHIM = r"""
#include <math.h>
struct nsk_dim3 { unsigned int x, y, z; };
static nsk_dim3 blockIdx, threadIdx, blockDim = {1, 1, 1}, gridDim = {1, 1, 1};
#define __global__
#define __shared__ static
static inline void __syncthreads() {}
static inline double atomicAdd(double* a, double v) { double o = *a; *a += v; return o; }
extern "C" void nsk_launch_at(unsigned bx, unsigned by, unsigned bz,
                              unsigned gx, unsigned gy, unsigned gz) {
    blockIdx = {bx, by, bz}; gridDim = {gx, gy, gz};
}
"""


@functools.cache
def _library(source: str, tmp: str):
    src = f"{tmp}/k{abs(hash(source))}.cpp"
    lib = src[:-4] + ".so"
    with open(src, "w") as fh:
        fh.write(SHIM + source)
    proc = subprocess.run([CXX, "-O1", "-shared", "-fPIC", "-o", lib, src],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return ctypes.CDLL(lib)


def _ptr(a):
    return a.ctypes.data_as(ctypes.c_void_p)


def _launch(lib, name, grid, args):
    fn = getattr(lib, name)
    gx, gy, gz = (*grid, 1, 1)[:3]
    for bz in range(gz):
        for by in range(gy):
            for bx in range(gx):
                lib.nsk_launch_at(bx, by, bz, gx, gy, gz)
                fn(*args)


def _c_args(printer, arrays, interior, scalars):
    real = ctypes.c_float if printer.dtype == "float32" else ctypes.c_double
    return ([_ptr(a) for a in arrays] + [ctypes.c_longlong(n) for n in interior]
            + [real(s) for s in scalars])


CASES = [(lap_1d, [0.1], (23,)), (allen_cahn_2d, [0.3, 0.2, 0.25], (16, 13)),
         (lap_3d, [0.1, 0.2, 0.3], (5, 7, 6))]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("make, scalars, interior", CASES)
def test_map_kernels_match_numpy(tmp_path, make, scalars, interior, dtype):
    ir = make()
    p = CupyPrinter(ir, dtype=dtype)
    lib = _library(p.kernel_source(), str(tmp_path))
    yp = random_state((1, *(n + 2 * ir.halo for n in interior)), dtype, seed=2)
    ref, got = np.zeros((1, *interior), dtype), np.zeros((1, *interior), dtype)
    compile_kernel(ir, "numpy", dtype=dtype)(yp, ref, *scalars)
    _launch(lib, p.kernel_name, interior[::-1], _c_args(p, [yp, got], interior, scalars))
    np.testing.assert_allclose(got, ref, rtol=1e-5 if dtype == "float32" else 1e-13)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_two_fields_mean_and_coordinates(tmp_path, dtype):
    ir = coupled_2d()
    p = CupyPrinter(ir, dtype=dtype)
    interior, scalars = (12, 9), [0.7, 0.1, 0.2, -0.3]
    yp = random_state((2, *(n + 2 * ir.halo for n in interior)), dtype, seed=4)
    ref, got = np.zeros((2, *interior), dtype), np.zeros((2, *interior), dtype)
    compile_kernel(ir, "numpy", dtype=dtype)(yp, ref, *scalars)
    # the mean pre-pass (interior sum of v^2) is the reduce kernel's job on the device
    inner = yp[1, 2:-2, 2:-2].astype(np.float64)
    sums = np.array([np.sum(inner**2)])
    lib = _library(p.kernel_source(), str(tmp_path))
    args = _c_args(p, [yp, got], interior, scalars) + [_ptr(sums)]
    _launch(lib, p.kernel_name, interior[::-1], args)
    np.testing.assert_allclose(got, ref, rtol=2e-5 if dtype == "float32" else 1e-12)


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_grid_stride_reduction_matches_numpy(tmp_path, ndim):
    ir = energy(ndim)
    p = CupyPrinter(ir, dtype="float64")
    interior = (9, 7, 5)[:ndim]
    yp = random_state((1, *(n + 2 for n in interior)), "float64", seed=ndim)
    expected = compile_kernel(ir, "numpy")(yp, 0.3)
    sums = np.array([np.mean(yp[(0, *(slice(1, -1),) * ndim)])]) * np.prod(interior)
    result = np.zeros(1)
    lib = _library(p.kernel_source(), str(tmp_path))
    args = _c_args(p, [yp, result], interior, [0.3]) + [_ptr(sums)]
    _launch(lib, p.kernel_name, (7,), args)   # 7 one-thread blocks: every point via the stride
    assert result[0] == pytest.approx(expected, rel=1e-13)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_euler_step_and_halo_kernel_match_numpy(tmp_path, dtype):
    from nedsym.discretize.halo import fill_halo_numpy

    ir, scalars, interior, dt = allen_cahn_2d(), [0.3, 0.2, 0.25], (10, 11), 0.01
    p = CupyPrinter(ir, dtype=dtype)
    lib = _library(p.euler_source() + halo_source(dtype), str(tmp_path))
    # periodic along axis 0; Neumann (lo) and Dirichlet (hi) along axis 1
    kinds = np.array([[[0, 0], [1, 2]]], dtype=np.int64)
    values = np.array([[[0.0, 0.0], [0.05, -0.5]]])
    cur = random_state((1, 12, 13), dtype, seed=5)
    fill_halo_numpy(cur, 1, kinds, values)
    nxt = cur.copy()
    f = np.zeros((1, *interior), dtype)
    compile_kernel(ir, "numpy", dtype=dtype)(cur, f, *scalars)
    expected = cur.copy()
    expected[:, 1:-1, 1:-1] += np.asarray(dt, dtype) * f
    fill_halo_numpy(expected, 1, kinds, values)
    real = ctypes.c_float if dtype == "float32" else ctypes.c_double
    args = ([_ptr(cur), _ptr(nxt)] + [ctypes.c_longlong(n) for n in interior] + [real(dt)]
            + [real(s) for s in scalars])
    _launch(lib, p.euler_name(), interior[::-1], args)
    name = f"nsk_halo_axis_{'f32' if dtype == 'float32' else 'f64'}"
    shape = nxt.shape[1:]
    for a in range(2):   # axis by axis, as the device filler does
        pre, post = int(np.prod(shape[:a])), int(np.prod(shape[a + 1:]))
        k, v = np.ascontiguousarray(kinds[:, a]), np.ascontiguousarray(values[:, a])
        total = 2 * 1 * pre * post
        hargs = [_ptr(nxt)] + [ctypes.c_longlong(x) for x in (1, pre, shape[a], post, 1)] \
            + [_ptr(k), _ptr(v)]
        _launch(lib, name, (total,), hargs)
    np.testing.assert_allclose(nxt, expected, rtol=1e-6 if dtype == "float32" else 1e-14)
