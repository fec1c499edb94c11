"""Device side of the GPU backends: compile, launch, halo filling, Euler loop.

Both GPU backends print one flat kernel per operation
(:mod:`~nedsym.codegen.printers.numba_cuda`, :mod:`~nedsym.codegen.printers.cupy`);
this module compiles them and launches them on device arrays:

* :class:`GpuKernel`: the :class:`~nedsym.codegen.compile.CompiledKernel`
  calling convention (map ``k(yp, out, *scalars)``, reduce ``k(yp, *scalars) ->
  float``) on device arrays (CuPy arrays, numba device arrays, or NumPy arrays
  under the CUDA simulator). Host NumPy arrays are also accepted: they are
  copied in and out (convenient for checks, slow in a loop). ``Mean`` terms are
  computed on the device by reduce kernels before the map.
* :class:`DeviceHaloFiller`: ghost cells of a padded device state, one kernel
  per axis (the same contract as :mod:`nedsym.codegen.halo`).
* :class:`DeviceEulerLoop`: fixed-step explicit Euler, one fused kernel plus
  the halo kernels per step, state on the device throughout.
* :func:`compile_cuda_source`: compile CUDA C with NVRTC or nvcc without a GPU
  (the checks CI runs), raising :class:`~nedsym.errors.CodegenError` with the log.

Nothing here imports numba.cuda or cupy before it is needed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from math import ceil
from pathlib import Path

import numpy as np

from nedsym.codegen.backends import require_backend, simulator_enabled
from nedsym.codegen.cache import load_source, store_source
from nedsym.codegen.ir import KernelIR, build_reduce_kernel
from nedsym.errors import CodegenError

__all__ = ["DeviceEulerLoop", "DeviceHaloFiller", "GpuKernel", "array_module",
           "compile_cuda_source", "compile_gpu_kernel", "to_host"]

GPU_BACKENDS = ("numba-cuda", "cupy")
#: most blocks a grid-stride reduction launches
MAX_REDUCE_BLOCKS = 1024


def to_host(a) -> np.ndarray:
    """A NumPy copy/view of a NumPy, CuPy or numba device array.

    Example
    -------
    >>> to_host(np.ones(2)).tolist()
    [1.0, 1.0]
    """
    if isinstance(a, np.ndarray):
        return a
    if hasattr(a, "get") and type(a).__module__.startswith("cupy"):
        return a.get()
    if hasattr(a, "copy_to_host"):
        return a.copy_to_host()
    return np.asarray(a)


def array_module(backend: str):
    """The array library that holds a simulation's state for ``backend``.

    ``numpy`` for the CPU backends and for ``numba-cuda`` under the CUDA
    simulator (kernels then run on host arrays); ``cupy`` for ``cupy``, and for
    ``numba-cuda`` on a real GPU (numba launches on CuPy arrays through the CUDA
    array interface, and CuPy does the stepper arithmetic on the device).

    Example
    -------
    >>> array_module("numba").__name__
    'numpy'
    """
    if backend not in GPU_BACKENDS:
        return np
    if backend == "numba-cuda" and simulator_enabled():
        return np
    try:
        import cupy
    except ImportError as exc:
        from nedsym.errors import BackendUnavailableError

        raise BackendUnavailableError(
            f"backend {backend!r} keeps the state on the GPU as CuPy arrays; install "
            f"cupy-cuda13x ({exc})") from exc
    return cupy


# -- backend-specific primitives -------------------------------------------------------
class _NumbaCudaOps:
    """Launch and memory primitives of the numba-cuda backend."""

    name = "numba-cuda"

    def __init__(self, dtype: str):
        from numba import cuda

        self.cuda, self.dtype = cuda, dtype
        self.simulator = simulator_enabled()
        from nedsym.codegen.printers.numba_cuda import runtime_source

        src = runtime_source(dtype)
        self.runtime = load_source(src, f"nsk_runtime_{dtype}", {"backend": self.name})

    def is_host(self, a) -> bool:
        return isinstance(a, np.ndarray) and not self.simulator

    def to_device(self, a):
        return a if self.simulator else self.cuda.to_device(np.ascontiguousarray(a))

    def empty(self, shape, dtype):
        return np.empty(shape, dtype) if self.simulator else self.cuda.device_array(shape, dtype)

    def empty_like(self, a):
        """A buffer like ``a`` from the same library (CuPy, numba device or NumPy)."""
        if type(a).__module__.split(".")[0] == "cupy" or isinstance(a, np.ndarray):
            return _like(a)
        return self.cuda.device_array_like(a)

    def zero(self, a) -> None:
        if isinstance(a, np.ndarray):
            a[...] = 0
            return
        self.runtime.zero[ceil(a.shape[0] / 128), 128](a)

    def launch(self, kernel, grid, block, args) -> None:
        kernel[grid, block](*args)

    def scalar(self, a) -> float:
        return float(to_host(a)[0])


class _CupyOps:
    """Launch and memory primitives of the cupy backend."""

    name = "cupy"
    simulator = False

    def __init__(self, dtype: str):
        import cupy

        self.cp, self.dtype = cupy, dtype

    def is_host(self, a) -> bool:
        return isinstance(a, np.ndarray)

    def to_device(self, a):
        return self.cp.asarray(a)

    def empty(self, shape, dtype):
        return self.cp.empty(shape, dtype)

    def empty_like(self, a):
        return self.cp.empty_like(a)

    def zero(self, a) -> None:
        a.fill(0)

    def launch(self, kernel, grid, block, args) -> None:
        kernel(grid, block, args)

    def scalar(self, a) -> float:
        return float(a[0].get())


def _like(a):
    """``empty_like`` in the library of ``a`` (NumPy or CuPy)."""
    import sys

    mod = sys.modules["cupy"] if type(a).__module__.split(".")[0] == "cupy" else np
    return mod.empty_like(a)


def _ops(backend: str, dtype: str):
    return _NumbaCudaOps(dtype) if backend == "numba-cuda" else _CupyOps(dtype)


def _map_grid(ndim: int, interior: tuple[int, ...], block: tuple[int, ...]) -> tuple[int, ...]:
    """Blocks per grid axis; grid ``x`` covers the last (contiguous) array axis."""
    return tuple(ceil(interior[ndim - 1 - a] / block[a]) for a in range(ndim))


def _reduce_grid(npts: int, block: int) -> int:
    return max(1, min(ceil(npts / block), MAX_REDUCE_BLOCKS))


# -- compilation ---------------------------------------------------------------------
def _raw_kernel(source: str, name: str, path: Path):
    """A compiled ``cupy.RawKernel``; compile errors become CodegenError with the log."""
    import cupy

    kernel = cupy.RawKernel(source, name, options=("--std=c++11",))
    try:
        kernel.compile()
    except Exception as exc:  # noqa: BLE001 - cupy's CompileException carries the log
        raise CodegenError(f"NVRTC could not compile kernel {name} ({path}):\n{exc}") from exc
    return kernel


def _compile_device_function(ir: KernelIR, backend: str, dtype: str):
    """Print and compile one kernel; returns ``(callable, source, path)``."""
    if backend == "numba-cuda":
        from nedsym.codegen.printers.numba_cuda import NumbaCudaPrinter

        source = NumbaCudaPrinter(ir, dtype=dtype).kernel_source()
        module = load_source(source, ir.name, {"backend": backend, "dtype": dtype})
        return getattr(module, ir.name), source, module.__file__
    from nedsym.codegen.printers.cupy import CupyPrinter

    printer = CupyPrinter(ir, dtype=dtype)
    source = printer.kernel_source()
    path = store_source(source, printer.kernel_name, {"backend": backend}, suffix=".cu")
    return _raw_kernel(source, printer.kernel_name, path), source, str(path)


class GpuKernel:
    """A generated kernel of a GPU backend with the CPU kernels' calling convention.

    Map ``k(yp, out, *scalars)``; reduce ``k(yp, *scalars) -> float`` (plain
    interior sum, accumulated in float64 on the device; one 8-byte copy back).
    ``yp``/``out`` are device arrays of the kernel's dtype (or host NumPy arrays,
    copied in and out). Attributes: ``ir``, ``backend``, ``dtype``, ``source``,
    ``path``, ``device_function``.
    """

    def __init__(self, ir: KernelIR, backend: str, dtype: str):
        self.ir, self.backend, self.dtype = ir, backend, dtype
        self.ops = _ops(backend, dtype)
        self.device_function, self.source, self.path = _compile_device_function(
            ir, backend, dtype)
        self._means = [GpuKernel(build_reduce_kernel(ir.fields, ir.halo, e, ir.scalars,
                                                     ir.ndim), backend, dtype)
                       for _, e in ir.means]
        self._mean_sums = None
        self._result = None
        if backend == "numba-cuda":
            from nedsym.codegen.printers.numba_cuda import REDUCE_BLOCK, launch_block
        else:
            from nedsym.codegen.printers.cupy import REDUCE_BLOCK, launch_block
        self.block = (REDUCE_BLOCK,) if ir.kind == "reduce" else launch_block(ir.ndim)

    def __repr__(self) -> str:
        return f"<GpuKernel {self.ir.name} {self.ir.kind} backend={self.backend} {self.dtype}>"

    def _check(self, a, what: str) -> None:
        if a.dtype != np.dtype(self.dtype):
            raise CodegenError(f"{what} has dtype {a.dtype}; kernel {self.ir.name} was built "
                               f"for {self.dtype} (discretize(..., dtype={str(a.dtype)!r}))")
        if a.ndim != self.ir.ndim + 1 or a.shape[0] != len(self.ir.fields):
            raise CodegenError(f"{what} has shape {a.shape}; kernel {self.ir.name} takes "
                               f"({len(self.ir.fields)}, n0, ...) with {self.ir.ndim} "
                               "spatial axes")

    def _interior(self, yp) -> tuple[int, ...]:
        return tuple(int(n) - 2 * self.ir.halo for n in yp.shape[1:])

    def _args(self, yp, second, scalars) -> list:
        typed = [np.dtype(self.dtype).type(s) for s in scalars]
        if len(typed) != len(self.ir.scalars):
            raise CodegenError(f"kernel {self.ir.name} takes scalars {list(self.ir.scalars)}, "
                               f"got {len(typed)} values")
        if self.backend == "numba-cuda":
            args = [yp, second, *typed]
        else:
            args = [yp, second, *(np.int64(n) for n in self._interior(yp)), *typed]
        if self.ir.means:
            args.append(self._compute_means(yp, scalars))
        return args

    def _compute_means(self, yp, scalars):
        if self._mean_sums is None:
            self._mean_sums = self.ops.empty((len(self._means),), np.float64)
        self.ops.zero(self._mean_sums)
        for m, k in enumerate(self._means):
            k.reduce_into(yp, self._mean_sums[m:m + 1], scalars)
        return self._mean_sums

    def reduce_into(self, yp, result, scalars) -> None:
        """Add the interior sum into the float64 device array ``result[0]`` (no sync)."""
        npts = int(np.prod(self._interior(yp)))
        grid = (_reduce_grid(npts, self.block[0]),)
        self.ops.launch(self.device_function, grid, self.block, self._args(yp, result, scalars))

    def __call__(self, yp, *args):
        self._check(yp, "the padded state")
        host = self.ops.is_host(yp)
        d_yp = self.ops.to_device(np.ascontiguousarray(yp)) if host else yp
        if self.ir.kind == "reduce":
            if self._result is None:
                self._result = self.ops.empty((1,), np.float64)
            self.ops.zero(self._result)
            self.reduce_into(d_yp, self._result, args)
            return self.ops.scalar(self._result)
        out, *scalars = args
        self._check(out, "out")
        d_out = self.ops.empty(out.shape, out.dtype) if host else out
        grid = _map_grid(self.ir.ndim, self._interior(yp), self.block)
        self.ops.launch(self.device_function, grid, self.block, self._args(d_yp, d_out, scalars))
        if host:
            out[...] = to_host(d_out)
        return None


def compile_gpu_kernel(ir: KernelIR, backend: str, dtype: str = "float64") -> GpuKernel:
    """Compile ``ir`` for ``backend`` (``"numba-cuda"`` or ``"cupy"``).

    Raises :class:`~nedsym.errors.BackendUnavailableError` when the backend
    cannot run here (see :func:`nedsym.codegen.available`).

    Example
    -------
    >>> k = compile_gpu_kernel(ir, "cupy", dtype="float32")       # doctest: +SKIP
    >>> k(yp_device, out_device, *scalars)                         # doctest: +SKIP
    """
    if backend not in GPU_BACKENDS:
        raise CodegenError(f"{backend!r} is not a GPU backend; GPU backends: {GPU_BACKENDS}")
    require_backend(backend)
    return GpuKernel(ir, backend, dtype)


# -- halo filling on the device ---------------------------------------------------------
class DeviceHaloFiller:
    """Fill the ghost cells of a padded device state, one kernel launch per axis.

    Same contract as :class:`nedsym.discretize.halo.BoundaryData` (axis by
    axis, corners included); sides with space/time-dependent data are filled
    from faces evaluated on the host by ``boundary.update(t)`` and copied to the
    device (face-sized, not state-sized).

    Example
    -------
    >>> filler = DeviceHaloFiller(sim.boundary, "cupy", "float32")   # doctest: +SKIP
    >>> filler.fill(yp_device, t=0.0)                                 # doctest: +SKIP
    """

    def __init__(self, boundary, backend: str, dtype: str):
        self.boundary, self.backend, self.dtype = boundary, backend, dtype
        self.halo = boundary.halo
        self.ops = _ops(backend, dtype)
        varying = {(f, a, s) for f, a, s, _ in boundary._varying}
        nf, nd = boundary.kinds.shape[:2]
        self.varying = sorted(varying)
        self._kinds, self._values = [], []
        for a in range(nd):
            kinds = boundary.kinds[:, a, :].copy()
            for f, aa, s in varying:
                if aa == a:
                    kinds[f, s] = -1
            self._kinds.append(self.ops.to_device(np.ascontiguousarray(kinds, np.int64)))
            self._values.append(self.ops.to_device(
                np.ascontiguousarray(boundary.values[:, a, :], np.float64)))
        if backend == "cupy":
            import cupy

            from nedsym.codegen.printers.cupy import halo_source

            src = halo_source(dtype)
            name = f"nsk_halo_axis_{'f32' if dtype == 'float32' else 'f64'}"
            path = store_source(src, name, {"backend": backend}, suffix=".cu")
            self._kernel = _raw_kernel(src, name, path)
            self._cupy = cupy
        else:
            self._kernel = self.ops.runtime.halo_axis

    def fill(self, yp, t: float = 0.0) -> None:
        """Fill every ghost cell of the device array ``yp`` for time ``t``."""
        h = self.halo
        nf = yp.shape[0]
        shape = yp.shape[1:]
        if self.varying and (self.boundary.t != t or not self.boundary.faces):
            self.boundary.update(t)
        for a, npad in enumerate(shape):
            pre = int(np.prod(shape[:a], dtype=np.int64))
            post = int(np.prod(shape[a + 1:], dtype=np.int64))
            total = nf * 2 * h * pre * post
            grid, block = (ceil(total / 256),), (256,)
            if self.backend == "cupy":
                args = (yp, np.int64(nf), np.int64(pre), np.int64(npad), np.int64(post),
                        np.int64(h), self._kinds[a], self._values[a])
            else:
                args = (yp.reshape(nf, pre, npad, post), h, self._kinds[a], self._values[a])
            self.ops.launch(self._kernel, grid, block, args)
            for f, aa, s in self.varying:
                if aa == a:
                    self._fill_face(yp, f, a, s, pre, npad, post)

    def _fill_face(self, yp, f, a, s, pre, npad, post) -> None:
        xp = self._cupy if self.backend == "cupy" else np
        face = xp.asarray(self.boundary.faces[(f, a, s)].astype(self.dtype))
        v = yp[f].reshape(pre, npad, post)
        h, n = self.halo, npad - 2 * self.halo
        kind = int(self.boundary.kinds[f, a, s])
        for layer in range(h):
            g, src = (h - 1 - layer, h + layer) if s == 0 else (h + n + layer, h + n - 1 - layer)
            if kind == 1:
                v[:, g, :] = v[:, src, :] + (2 * layer + 1) * face
            else:
                v[:, g, :] = 2 * face - v[:, src, :]


# -- a fixed-step explicit Euler loop on the device ---------------------------------------------
class DeviceEulerLoop:
    """Explicit Euler steps on a padded device state: one fused kernel + halo kernels per step.

    ``loop.advance(yp, nsteps, dt, *scalars)`` leaves the result in ``yp``
    (halo filled); a second buffer is allocated once per shape. A scalar named
    ``t`` advances by ``dt`` each step. No host copy happens inside the loop.

    Example
    -------
    >>> loop = DeviceEulerLoop(sim.kernel_ir, "cupy", "float32", filler)   # doctest: +SKIP
    >>> loop.advance(yp_device, 100, 1e-4, *sim.scalars())                  # doctest: +SKIP
    """

    def __init__(self, ir: KernelIR, backend: str, dtype: str, filler: DeviceHaloFiller):
        require_backend(backend)
        if ir.kind != "map" or ir.means:
            raise CodegenError(f"a device Euler loop needs a map kernel without means; "
                               f"{ir.name} is a {ir.kind} kernel with {len(ir.means)} mean(s)")
        self.ir, self.backend, self.dtype, self.filler = ir, backend, dtype, filler
        self.ops = _ops(backend, dtype)
        name = f"{ir.name}_euler"
        if backend == "numba-cuda":
            from nedsym.codegen.printers.numba_cuda import NumbaCudaPrinter, launch_block

            self.source = NumbaCudaPrinter(ir, dtype=dtype).euler_source(name)
            module = load_source(self.source, name, {"backend": backend, "dtype": dtype})
            self.function, self.path = getattr(module, name), module.__file__
        else:
            from nedsym.codegen.printers.cupy import CupyPrinter, launch_block

            printer = CupyPrinter(ir, dtype=dtype)
            self.source = printer.euler_source()
            path = store_source(self.source, printer.euler_name(), {"backend": backend},
                                suffix=".cu")
            self.function, self.path = _raw_kernel(self.source, printer.euler_name(), path), \
                str(path)
        self.block = launch_block(ir.ndim)
        self._buf = None
        self._t_at = ir.scalars.index("t") if "t" in ir.scalars else None

    def advance(self, yp, nsteps: int, dt: float, *scalars) -> None:
        """``nsteps`` steps in place on the padded device array ``yp``."""
        if self._buf is None or self._buf.shape != yp.shape:
            self._buf = self.ops.empty_like(yp)
        interior = tuple(int(n) - 2 * self.ir.halo for n in yp.shape[1:])
        grid = _map_grid(self.ir.ndim, interior, self.block)
        typ = np.dtype(self.dtype).type
        scalars = list(scalars)
        sizes = [] if self.backend == "numba-cuda" else [np.int64(n) for n in interior]
        t = scalars[self._t_at] if self._t_at is not None else 0.0
        cur, nxt = yp, self._buf
        self.filler.fill(cur, t)
        for _ in range(int(nsteps)):
            args = [cur, nxt, *sizes, typ(dt), *(typ(s) for s in scalars)]
            self.ops.launch(self.function, grid, self.block, args)
            if self._t_at is not None:
                scalars[self._t_at] += dt
                t = scalars[self._t_at]
            self.filler.fill(nxt, t)
            cur, nxt = nxt, cur
        if cur is not yp:
            _copy(yp, cur)


def _copy(dst, src) -> None:
    if hasattr(dst, "copy_to_device"):  # numba device array
        dst.copy_to_device(src)
    else:
        dst[...] = src


# -- compile checks without a GPU ---------------------------------------------------------
def compile_cuda_source(source: str, compiler: str = "nvrtc", arch: str = "90",
                        name: str = "kernel.cu") -> bytes:
    """Compile CUDA C source without a GPU: PTX from NVRTC, or a cubin from ``nvcc``.

    ``compiler``: ``"nvrtc"`` (``cuda.bindings.nvrtc``, else CuPy's low-level
    ``cupy.cuda.nvrtc``) or ``"nvcc"`` (``nvcc -arch=sm_<arch> -cubin``).
    A compile error raises :class:`~nedsym.errors.CodegenError` with the
    compiler's log; a missing compiler raises ``FileNotFoundError``/``ImportError``.

    Example
    -------
    >>> ptx = compile_cuda_source(CupyPrinter(ir).kernel_source())   # doctest: +SKIP
    """
    if compiler == "nvcc":
        return _compile_nvcc(source, arch)
    if compiler != "nvrtc":
        raise CodegenError(f"compiler must be 'nvrtc' or 'nvcc', got {compiler!r}")
    opts = [f"--gpu-architecture=compute_{arch}", "--std=c++11"]
    try:
        from cuda.bindings import nvrtc
    except ImportError:
        return _compile_cupy_nvrtc(source, opts, name)
    err, prog = nvrtc.nvrtcCreateProgram(source.encode(), name.encode(), 0, [], [])
    _nvrtc_ok(nvrtc, err, "nvrtcCreateProgram")
    try:
        (err,) = nvrtc.nvrtcCompileProgram(prog, len(opts), [o.encode() for o in opts])
        if err != nvrtc.nvrtcResult.NVRTC_SUCCESS:
            _, size = nvrtc.nvrtcGetProgramLogSize(prog)
            log = b" " * size
            nvrtc.nvrtcGetProgramLog(prog, log)
            raise CodegenError(f"NVRTC could not compile {name}:\n"
                               f"{log.decode(errors='replace').rstrip(chr(0))}")
        err, size = nvrtc.nvrtcGetPTXSize(prog)
        _nvrtc_ok(nvrtc, err, "nvrtcGetPTXSize")
        ptx = b" " * size
        (err,) = nvrtc.nvrtcGetPTX(prog, ptx)
        _nvrtc_ok(nvrtc, err, "nvrtcGetPTX")
        return ptx
    finally:
        nvrtc.nvrtcDestroyProgram(prog)


def _nvrtc_ok(nvrtc, err, what: str) -> None:
    if err != nvrtc.nvrtcResult.NVRTC_SUCCESS:
        raise CodegenError(f"{what} failed: {err}")


def _compile_cupy_nvrtc(source: str, opts: list[str], name: str) -> bytes:
    from cupy.cuda import nvrtc

    prog = nvrtc.createProgram(source, name, (), ())
    try:
        try:
            nvrtc.compileProgram(prog, opts)
        except nvrtc.NVRTCError as exc:
            raise CodegenError(f"NVRTC could not compile {name}:\n"
                               f"{nvrtc.getProgramLog(prog)}") from exc
        ptx = nvrtc.getPTX(prog)
        return ptx if isinstance(ptx, bytes) else ptx.encode()
    finally:
        nvrtc.destroyProgram(prog)


def _compile_nvcc(source: str, arch: str) -> bytes:
    nvcc = shutil.which("nvcc") or (os.path.join(os.environ["CUDA_HOME"], "bin", "nvcc")
                                    if os.environ.get("CUDA_HOME") else None)
    if nvcc is None or not os.path.exists(nvcc):
        raise FileNotFoundError("nvcc not found on PATH (nor in $CUDA_HOME/bin)")
    with tempfile.TemporaryDirectory(prefix="nedsym-nvcc-") as tmp:
        src, out = Path(tmp) / "kernel.cu", Path(tmp) / "kernel.cubin"
        src.write_text(source)
        proc = subprocess.run([nvcc, f"-arch=sm_{arch}", "-cubin", "-o", str(out), str(src)],
                              capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            raise CodegenError(f"nvcc could not compile the kernel:\n{proc.stderr}{proc.stdout}")
        return out.read_bytes()


def numba_cuda_ptx(ir: KernelIR, dtype: str = "float64", cc: tuple[int, int] = (9, 0),
                   euler: bool = False) -> str:
    """PTX of the numba-cuda kernel for ``ir`` (no GPU needed; NVRTC must be installed).

    ``euler``: compile the fused Euler-step kernel instead of the map/reduce one.
    A kernel that fails to compile raises :class:`~nedsym.errors.CodegenError`.

    Example
    -------
    >>> ".entry" in numba_cuda_ptx(ir, "float32")                      # doctest: +SKIP
    True
    """
    from numba import cuda, types

    from nedsym.codegen.printers.numba_cuda import NumbaCudaPrinter

    printer = NumbaCudaPrinter(ir, dtype=dtype)
    name = f"{ir.name}_euler" if euler else ir.name
    source = printer.euler_source(name) if euler else printer.kernel_source()
    module = load_source(source, name, {"backend": "numba-cuda", "dtype": dtype})
    real = getattr(types, dtype)
    state = types.Array(real, ir.ndim + 1, "C")
    scalars = [real] * len(ir.scalars)
    if euler:
        args = [state, state, real, *scalars]
    elif ir.kind == "map":
        args = [state, state, *scalars]
    else:
        args = [state, types.Array(types.float64, 1, "C"), *scalars]
    if ir.means and not euler:
        args.append(types.Array(types.float64, 1, "C"))
    fn = getattr(module, name)
    try:
        ptx, _ = cuda.compile_ptx(getattr(fn, "py_func", fn), tuple(args), cc=cc)
    except Exception as exc:  # noqa: BLE001 - numba's typing/lowering errors
        raise CodegenError(f"numba-cuda could not compile {name} ({module.__file__}):\n"
                           f"{exc}") from exc
    return ptx
