"""Source-level rules of the GPU printers (no GPU, no CUDA library needed)."""

import re
import subprocess
import sys

import pytest
import sympy as sp
from kernels import allen_cahn_2d, coupled_2d, energy, lap_3d, u

from nedsym.codegen import build_map_kernel, index_symbols
from nedsym.codegen.printers import PRINTERS, CupyPrinter, NumbaCudaPrinter
from nedsym.codegen.printers.cupy import halo_source
from nedsym.errors import CodegenError


def _special_ir():
    (i,) = index_symbols(1)
    x = u[i]
    e = (sp.Max(x, 0) + sp.Min(x, 2, 2 * x) + sp.Mod(x, 3) + sp.pi * x + sp.exp(1) * x
         + x**2 + x**-3 + sp.sqrt(2) * x + x / sp.pi + sp.Rational(1, 3) * x**sp.Rational(5, 2)
         + sp.Piecewise((x, x > 1), (-x, True)) + sp.sign(x) + sp.Heaviside(x - 1))
    return build_map_kernel(["u"], 1, {"u": e}, [], 1)


def test_printers_are_registered():
    assert PRINTERS["cupy"] is CupyPrinter and PRINTERS["numba-cuda"] is NumbaCudaPrinter


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cupy_source_follows_the_gpu_rules(dtype):
    src = CupyPrinter(_special_ir(), dtype=dtype).kernel_source()
    body = src.split("{", 1)[1]
    assert not re.search(r"\bpow\w*\([^,]+, *-?\d+(\.0F?)?\)", body), body  # no pow(x, 2)
    for macro in ("M_PI", "M_E", "M_SQRT", "M_1_PI", "INFINITY", "NAN"):
        assert macro not in body
    f = "f" if dtype == "float32" else ""
    assert f"fmax{f}(0.0{'F' if f else ''}, " in body            # float arguments only
    assert f"floor{f}(" in body and "fmod" not in body         # sympy's Mod: a - b*floor(a/b)
    assert f"pow{f}(" in body                                    # x**(5/2) stays a pow
    if dtype == "float32":
        # every float literal is typed, no double functions, no double casts
        assert not re.search(r"(?<![\w.])\d+\.\d+(e[+-]?\d+)?(?![\dF])", body), body
        assert not re.search(r"\b(exp|sqrt|floor|fmax|fmin|pow)\(", body), body
        assert "(double)" not in body
    else:
        assert not re.search(r"\d+\.\d+F", body)
    assert 'extern "C" __global__ void nsk_map_' in src


def test_cupy_kernel_names_are_unique_per_ir_and_dtype():
    names = {CupyPrinter(ir, dtype=d).kernel_name
             for ir in (allen_cahn_2d(), coupled_2d(), lap_3d(), energy(2))
             for d in ("float32", "float64")}
    assert len(names) == 8 and not any(n == "step" for n in names)


def test_cupy_contiguous_axis_on_thread_x_with_bounds_check():
    src = CupyPrinter(lap_3d(), dtype="float32").kernel_source()
    assert "const long long k = (long long)blockIdx.x*blockDim.x + threadIdx.x;" in src
    assert "const long long i = (long long)blockIdx.z*blockDim.z + threadIdx.z;" in src
    assert "if (i >= n0 || j >= n1 || k >= n2) return;" in src
    # neighbours are the centre index plus constant offsets (cache-friendly reuse)
    assert "yp[_c - _s0]" in src and "yp[_c + 1]" in src and "yp[_c - _s1]" in src


def test_cupy_reduce_accumulates_in_double_with_one_atomic_per_block():
    src = CupyPrinter(energy(2), dtype="float32").kernel_source()
    assert "__shared__ double _buf[256];" in src and "double _acc = 0.0;" in src
    assert src.count("atomicAdd(") == 1 and "__syncthreads();" in src
    assert "const double* __restrict__ means" in src   # energy(2) has a Mean term


def test_cupy_refuses_reserved_names_and_infinities():
    (i,) = index_symbols(1)
    ir = build_map_kernel(["u"], 1, {"u": sp.Symbol("float") * u[i]}, ["float"], 1)
    with pytest.raises(CodegenError, match="reserved"):
        CupyPrinter(ir).kernel_source()
    with pytest.raises(CodegenError, match="non-finite"):
        CupyPrinter(_special_ir()).literal(float("inf"))


def test_halo_source_is_typed():
    assert "float* __restrict__ v" in halo_source("float32")
    assert "double* __restrict__ v" in halo_source("float64")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_numba_cuda_source_is_one_flat_kernel(dtype):
    src = NumbaCudaPrinter(coupled_2d(), dtype=dtype).kernel_source()
    assert src.count("@cuda.jit") == 1 and "device=True" not in src
    assert "_x, _y = cuda.grid(2)" in src and "i = _y" in src and "j = _x" in src
    assert "if i < n0 and j < n1:" in src
    assert not re.search(r"\*\*\s*-?\d", src)                  # integer powers are products
    if dtype == "float32":
        # no untyped float literal outside float32(...)
        stripped = re.sub(r"float32\([^()]*\)", "", src.split("def ", 1)[1])
        assert not re.search(r"(?<![\w.])\d+\.\d+", stripped), stripped
        assert "float32(i) + float32(0.5)" in src               # coordinates stay float32
    reduce_src = NumbaCudaPrinter(energy(3), dtype=dtype).kernel_source()
    assert "cuda.shared.array(256, numba.float64)" in reduce_src
    assert reduce_src.count("cuda.atomic.add(") == 1


def test_importing_nedsym_loads_no_gpu_library():
    code = ("import sys, nedsym, nedsym.codegen, nedsym.methods.grid; "
            "bad = [m for m in sys.modules if m.startswith(('cupy', 'numba.cuda', 'cuda'))]; "
            "print(bad); assert not bad, bad")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_gpu_backend_reasons_and_errors(monkeypatch):
    from nedsym.codegen import available
    from nedsym.codegen import backends as bk
    from nedsym.errors import BackendUnavailableError

    av = available()
    for name in ("numba-cuda", "cupy"):
        ok, why = av[name]
        if not ok:   # the reason says what is missing, never a bare traceback
            assert any(w in why for w in ("not installed", "driver", "GPU", "NVRTC",
                                          "NUMBA_ENABLE_CUDASIM")), why
    import importlib.util

    real_find_spec = importlib.util.find_spec          # the targets' checks look it up
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda n, *a: None if n == "cupy" else real_find_spec(n, *a))
    assert available()["cupy"] == (False, "cupy is not installed (pip install cupy-cuda13x)")
    with pytest.raises(BackendUnavailableError, match="backend 'cupy' is unavailable: cupy is "
                                                      "not installed"):
        bk.require_backend("cupy")
