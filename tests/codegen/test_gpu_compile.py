"""Every generated GPU kernel compiles without a GPU: numba-cuda through ``compile_ptx``
(cc 9.0), CuPy's CUDA C through NVRTC and ``nvcc -arch=sm_90 -cubin``."""

import functools
import importlib.util
import shutil

import pytest
from kernels import allen_cahn_2d, coupled_2d, energy, lap_1d

import nedsym as ns
from nedsym.codegen.gpu import compile_cuda_source, numba_cuda_ptx
from nedsym.codegen.printers.cupy import CupyPrinter, halo_source
from nedsym.errors import CodegenError

AC = "eps^2/2*|grad(u)|^2 + (u^2-1)^2/4"


def _nvrtc_missing() -> str | None:
    try:
        from cuda.bindings import nvrtc
        nvrtc.nvrtcVersion()
        return None
    except Exception:  # noqa: BLE001
        pass
    try:
        from cupy.cuda import nvrtc
        nvrtc.getVersion()
        return None
    except Exception as exc:  # noqa: BLE001
        return f"NVRTC is not installed (pip install nvidia-cuda-nvrtc==13.0.*): {exc}"


NVRTC_MISSING = _nvrtc_missing()
needs_nvrtc = pytest.mark.skipif(NVRTC_MISSING is not None, reason=str(NVRTC_MISSING))
needs_numba_cuda = pytest.mark.skipif(importlib.util.find_spec("numba_cuda") is None,
                                      reason="numba-cuda is not installed")
needs_nvcc = pytest.mark.skipif(shutil.which("nvcc") is None,
                                reason="nvcc (CUDA toolkit) is not on PATH")


@functools.cache
def _demo_irs():
    """The Allen-Cahn (L2) and Cahn-Hilliard (H-1) rhs and energy kernels of the demos."""
    irs = []
    for metric, names in (("L2", "x y"), ("H-1", "x y"), ("H-1", "x y z")):
        E = ns.Energy.parse(AC, coords=names, fields="u", params={"eps": 0.05})
        n = len(names.split())
        sim = ns.GradientFlow(E, metric=metric).discretize(
            ns.Grid((8,) * n, [(0, 1)] * n, bc="neumann"), backend="numpy")
        irs += [sim.kernel_ir, sim.energy_ir]
    return irs


IRS = [lap_1d(), coupled_2d(), energy(1)]   # 1-D, two fields + Mean + coordinates


@needs_numba_cuda
@needs_nvrtc
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_numba_cuda_kernels_compile_to_ptx(dtype):
    for ir in [*IRS, *_demo_irs()]:
        ptx = numba_cuda_ptx(ir, dtype)
        assert ".entry" in ptx and ".target sm_90" in ptx, ir.name
    ptx = numba_cuda_ptx(allen_cahn_2d(), dtype, euler=True)
    assert ".entry" in ptx
    if dtype == "float32":   # float32 kernels compute in float32
        assert ".f64" not in numba_cuda_ptx(allen_cahn_2d(), dtype)
        assert ".f64" not in ptx


def _all_cupy_sources(dtype):
    sources = []
    for ir in [*IRS, *_demo_irs()]:
        p = CupyPrinter(ir, dtype=dtype)
        sources.append(p.kernel_source())
        if ir.kind == "map" and not ir.means:
            sources.append(p.euler_source())
    return sources + [halo_source(dtype)]


@needs_nvrtc
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cupy_sources_compile_with_nvrtc(dtype):
    sources = _all_cupy_sources(dtype)
    for src in sources:
        ptx = compile_cuda_source(src, "nvrtc")
        assert b".entry" in ptx
    if dtype == "float32":
        ptx = compile_cuda_source(CupyPrinter(allen_cahn_2d(), dtype=dtype).euler_source())
        assert b".f64" not in ptx
    # unique names: every kernel of both dtypes links into one module
    both = "\n".join(sources + _all_cupy_sources("float64" if dtype == "float32" else "float32"))
    assert b".entry" in compile_cuda_source(both, "nvrtc")


@needs_nvcc
def test_cupy_sources_compile_with_nvcc():
    # one translation unit with every kernel of both dtypes: also proves the names unique
    src = "\n".join(_all_cupy_sources("float32") + _all_cupy_sources("float64"))
    cubin = compile_cuda_source(src, "nvcc")
    assert cubin[:4] == b"\x7fELF"


BROKEN = 'extern "C" __global__ void broken(float* a) { a[0] = undefined_name; }\n'


@needs_nvrtc
def test_broken_source_raises_with_the_nvrtc_log():
    with pytest.raises(CodegenError, match="undefined_name") as info:
        compile_cuda_source(BROKEN, "nvrtc")
    assert "NVRTC" in str(info.value)


@needs_nvcc
def test_broken_source_raises_with_the_nvcc_log():
    with pytest.raises(CodegenError, match="undefined_name") as info:
        compile_cuda_source(BROKEN, "nvcc")
    assert "nvcc" in str(info.value)


def test_unknown_compiler_is_refused():
    with pytest.raises(CodegenError, match="compiler"):
        compile_cuda_source(BROKEN, "clang")


@needs_numba_cuda
@needs_nvrtc
def test_numba_cuda_typing_error_becomes_codegen_error(monkeypatch):
    from nedsym.codegen.printers.numba_cuda import NumbaCudaPrinter

    monkeypatch.setattr(NumbaCudaPrinter, "literal", lambda self, v: "undefined_name")
    with pytest.raises(CodegenError, match="numba-cuda could not compile"):
        numba_cuda_ptx(lap_1d(), "float64")
