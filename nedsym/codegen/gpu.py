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

from nedsym.codegen.halo import fill_side_numpy
from nedsym.codegen.ir import KernelIR, build_reduce_kernel
from nedsym.codegen.targets import TARGETS, get_target
from nedsym.codegen.targets.numba_cuda import to_host
from nedsym.errors import CodegenError

__all__ = ["DeviceEulerLoop", "DeviceHaloFiller", "GpuKernel", "array_module",
           "compile_cuda_source", "compile_gpu_kernel", "to_host"]

#: most blocks a grid-stride reduction launches
MAX_REDUCE_BLOCKS = 1024


def _gpu_target(backend: str):
    target = get_target(backend)
    if not target.device:
        gpus = [name for name, t in TARGETS.items() if t.device]
        raise CodegenError(f"{backend!r} is not a GPU backend; GPU backends: {gpus}")
    return target


def array_module(backend: str):
    """The array library that holds a simulation's state for ``backend``
    (:meth:`~nedsym.codegen.targets.base.Target.array_module`).

    ``numpy`` for the CPU backends and for ``numba-cuda`` under the CUDA
    simulator (kernels then run on host arrays); ``cupy`` for ``cupy``, and for
    ``numba-cuda`` on a real GPU (numba launches on CuPy arrays through the CUDA
    array interface, and CuPy does the stepper arithmetic on the device).

    Example
    -------
    >>> array_module("numba").__name__
    'numpy'
    """
    return get_target(backend).array_module()


def _map_grid(ndim: int, interior: tuple[int, ...], block: tuple[int, ...]) -> tuple[int, ...]:
    """Blocks per grid axis; grid ``x`` covers the last (contiguous) array axis."""
    return tuple(ceil(interior[ndim - 1 - a] / block[a]) for a in range(ndim))


def _reduce_grid(npts: int, block: int) -> int:
    return max(1, min(ceil(npts / block), MAX_REDUCE_BLOCKS))


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
        self.target = _gpu_target(backend)
        self.ops = self.target.ops(dtype)
        self.device_function, self.source, self.path = self.target.device_function(ir, dtype)
        self._means = [GpuKernel(build_reduce_kernel(ir.fields, ir.halo, e, ir.scalars,
                                                     ir.ndim), backend, dtype)
                       for _, e in ir.means]
        self._mean_sums = None
        self._result = None
        self.block = (self.target.reduce_block,) if ir.kind == "reduce" else \
            self.target.launch_block(ir.ndim)

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
        args = [yp, second, *self.target.size_args(self._interior(yp)), *typed]
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
    _gpu_target(backend).require()
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
        self.target = _gpu_target(backend)
        self.ops = self.target.ops(dtype)
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
        self._kernel = self.target.halo_kernel(dtype)

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
            args = self.target.halo_args(yp, h, pre, npad, post, self._kinds[a],
                                         self._values[a])
            self.ops.launch(self._kernel, grid, block, args)
            for f, aa, s in self.varying:
                if aa == a:
                    self._fill_face(yp, f, a, s, pre, npad, post)

    def _fill_face(self, yp, f, a, s, pre, npad, post) -> None:
        """A side with varying data: the face from the host, the rule of
        :data:`~nedsym.codegen.halo.SPEC` evaluated on device arrays."""
        face = self.ops.xp.asarray(self.boundary.faces[(f, a, s)].astype(self.dtype))
        fill_side_numpy(yp[f].reshape(pre, npad, post), self.halo, 1, s,
                        int(self.boundary.kinds[f, a, s]), face)


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
        _gpu_target(backend).require()
        if ir.kind != "map" or ir.means:
            raise CodegenError(f"a device Euler loop needs a map kernel without means; "
                               f"{ir.name} is a {ir.kind} kernel with {len(ir.means)} mean(s)")
        self.ir, self.backend, self.dtype, self.filler = ir, backend, dtype, filler
        self.target = _gpu_target(backend)
        self.ops = self.target.ops(dtype)
        self.function, self.source, self.path = self.target.device_function(ir, dtype,
                                                                            euler=True)
        self.block = self.target.launch_block(ir.ndim)
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
        sizes = self.target.size_args(interior)
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
            self.ops.copy(yp, cur)


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

    name = f"{ir.name}_euler" if euler else ir.name
    fn, _, path = get_target("numba-cuda").device_function(ir, dtype, euler=euler)
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
    try:
        ptx, _ = cuda.compile_ptx(getattr(fn, "py_func", fn), tuple(args), cc=cc)
    except Exception as exc:  # noqa: BLE001 - numba's typing/lowering errors
        raise CodegenError(f"numba-cuda could not compile {name} ({path}):\n"
                           f"{exc}") from exc
    return ptx
