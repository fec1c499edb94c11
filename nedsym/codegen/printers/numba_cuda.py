"""Numba-CUDA printer: one flat ``@cuda.jit`` kernel per operation.

* **map**: one thread per interior point on a 1-/2-/3-D thread grid. The
  last (contiguous) array axis follows ``threadIdx.x``, so a warp reads
  consecutive addresses (coalesced) and the neighbours of a point come from
  cache; every thread checks the bounds, so sizes need not be block multiples.
* **reduce**: a grid-stride loop over the flattened interior accumulates in
  float64, a shared-memory tree sums each block (:data:`REDUCE_BLOCK` threads)
  and one ``cuda.atomic.add`` per block adds into ``result[0]`` (zero it first).
* **euler**: the map fused with ``nxt = cur + dt*F(cur)`` on the interior of a
  padded buffer (the halo is filled by a separate kernel, see
  :func:`runtime_source`).

No device functions are called (``compile_ptx`` without a GPU cannot link
them), literals are typed (float32 kernels stay float32: ``float32(0.5)``,
integer indices are cast before they meet a float), and integer powers are
products (shared rule of :class:`~nedsym.codegen.printers.base.KernelPrinter`).
Scalars must be passed as numpy scalars of the kernel's dtype (the launcher
in :mod:`nedsym.codegen.gpu` does this). A kernel whose IR has ``Mean`` terms
takes a trailing float64 array ``means`` holding the interior *sums*; the
kernel divides by the point count.
"""

from __future__ import annotations

from nedsym.codegen.ir import HALO_SPEC, HaloSpec
from nedsym.codegen.printers.halo import python_ghost_lines
from nedsym.codegen.printers.numba import NumbaPrinter

__all__ = ["NumbaCudaPrinter", "REDUCE_BLOCK", "runtime_source", "launch_block"]

_INDEX = ("i", "j", "k")
#: threads per block of the reduction kernels (a power of two)
REDUCE_BLOCK = 256
_BLOCKS = {1: (256,), 2: (32, 8), 3: (32, 4, 2)}
#: the CPU printer's table less the names printed by node rules below (``np.sign``,
#: ``np.floor`` and ``np.ceil`` do not exist on the device), and Python's ``max``/``min``
#: for ``Max``/``Min`` (the CPU printer's ``np.maximum`` does not exist there either)
_FUNCS = {name: fn for name, fn in NumbaPrinter.function_names.items()
          if name not in ("sign", "floor", "ceiling")} | {"Max": "max", "Min": "min"}


def launch_block(ndim: int) -> tuple[int, ...]:
    """Threads per block of a map kernel, ``x`` (the contiguous axis) first.

    Example
    -------
    >>> launch_block(2)
    (32, 8)
    """
    return _BLOCKS[ndim]


class NumbaCudaPrinter(NumbaPrinter):
    """Prints a :class:`~nedsym.codegen.ir.KernelIR` as one flat numba-cuda kernel.

    Map ``kernel(yp, out, *scalars[, means])``, reduce ``kernel(yp, result,
    *scalars[, means])`` (adds the interior sum into ``result[0]``), launched by
    :mod:`nedsym.codegen.gpu` with :func:`launch_block` threads per block.

    Example
    -------
    >>> import sympy as sp
    >>> from nedsym.codegen.ir import build_map_kernel, index_symbols
    >>> i, j = index_symbols(2)
    >>> u = sp.IndexedBase("u")
    >>> ir = build_map_kernel(["u"], 1, {"u": u[i, j + 1]**2}, [], 2, name="sq")
    >>> src = NumbaCudaPrinter(ir, dtype="float32").kernel_source()
    >>> "_x, _y = cuda.grid(2)" in src and "yp[0, i + 1, j + 2]*yp[0, i + 1, j + 2]" in src
    True
    """

    backend = "numba-cuda"
    function_names = _FUNCS

    # -- node rules that differ from the CPU printer -----------------------------------
    def _print_sign(self, expr):
        x = self._print(expr.args[0])
        one, zero = self.literal(1.0), self.literal(0.0)
        return f"({one} if {x} > {zero} else (-{one} if {x} < {zero} else {zero}))"

    def _print_floor(self, expr):
        return self._cast_to_dtype(f"math.floor({self._print(expr.args[0])})")

    def _print_ceiling(self, expr):
        return self._cast_to_dtype(f"math.ceil({self._print(expr.args[0])})")

    def _cast_to_dtype(self, src: str) -> str:
        return f"{self.dtype}({src})"

    def coordinate_source(self, k: int, index: str) -> str:
        return f"lo{k} + ({self._cast_to_dtype(index)} + {self.literal(0.5)})*h{k}"

    # -- source assembly ------------------------------------------------------------
    def _module_header(self, what: str) -> list[str]:
        return [*self.banner(what), "import math", "", "import numba",
                "from numba import cuda", f"from numpy import {self.dtype}", ""]

    def _signature_args(self, second: str) -> str:
        means = ", means" if self.ir.means else ""
        return f"{self.state}, {second}{self.scalar_args()}{means}"

    def _point_index(self) -> list[str]:
        """Thread -> interior point (contiguous axis on ``threadIdx.x``)."""
        nd = self.ir.ndim
        if nd == 1:
            return ["i = cuda.grid(1)"]
        names = ("_x", "_y", "_z")[:nd]
        lines = [f"{', '.join(names)} = cuda.grid({nd})"]
        lines += [f"{_INDEX[k]} = {names[nd - 1 - k]}" for k in range(nd)]
        return lines

    def _interior_sizes(self) -> list[str]:
        h2 = 2 * self.ir.halo
        return [f"n{k} = {self.state}.shape[{k + 1}] - {h2}" for k in range(self.ir.ndim)]

    def _invariants(self) -> list[str]:
        ir = self.ir
        count = " * ".join(f"n{k}" for k in range(ir.ndim))
        lines = [f"{s} = {self.dtype}(means[{m}] / ({count}))" for m, (s, _) in enumerate(ir.means)]
        return lines + [f"{s} = {self._print(e)}" for s, e in ir.invariants]

    def _coords(self) -> list[str]:
        return [f"x{k} = {self.coordinate_source(k, _INDEX[k])}" for k in self.ir.coords]

    def _bounds(self) -> str:
        return " and ".join(f"{_INDEX[k]} < n{k}" for k in range(self.ir.ndim))

    def kernel_source(self) -> str:
        """Module source defining the kernel ``ir.name`` (map or reduce)."""
        if self.ir.kind == "reduce":
            return self._reduce_source()
        ir = self.ir
        idx = ", ".join(_INDEX[: ir.ndim])
        body = self._point_index() + self._interior_sizes() + [f"if {self._bounds()}:"]
        inner = self._invariants() + self._coords() + self._pointwise()
        inner += [f"out[{f}, {idx}] = {self._print(e)}" for f, e in enumerate(ir.results)]
        body += ["    " + b for b in inner]
        lines = self._module_header("map kernel") + [
            "", "@cuda.jit", f"def {ir.name}({self._signature_args('out')}):"]
        return "\n".join(lines + ["    " + b for b in body]) + "\n"

    def _reduce_source(self) -> str:
        ir = self.ir
        nd = ir.ndim
        body = [f"_buf = cuda.shared.array({REDUCE_BLOCK}, numba.float64)",
                "_t = cuda.threadIdx.x"] + self._interior_sizes()
        body += [f"_npts = {' * '.join(f'n{k}' for k in range(nd))}"]
        body += self._invariants()
        body += ["_acc = 0.0", "_p = cuda.grid(1)", "_stride = cuda.gridsize(1)",
                 "while _p < _npts:"]
        if nd == 1:
            unravel = ["i = _p"]
        elif nd == 2:
            unravel = ["i = _p // n1", "j = _p - i * n1"]
        else:
            unravel = ["i = _p // (n1 * n2)", "_r = _p - i * (n1 * n2)", "j = _r // n2",
                       "k = _r - j * n2"]
        inner = unravel + self._coords() + self._pointwise()
        inner += [f"_acc += {self._print(ir.results[0])}", "_p += _stride"]
        body += ["    " + b for b in inner]
        body += ["_buf[_t] = _acc", "cuda.syncthreads()", f"_s = {REDUCE_BLOCK // 2}",
                 "while _s > 0:", "    if _t < _s:", "        _buf[_t] += _buf[_t + _s]",
                 "    cuda.syncthreads()", "    _s //= 2", "if _t == 0:",
                 "    cuda.atomic.add(result, 0, _buf[0])"]
        lines = self._module_header("reduce kernel") + [
            "", "@cuda.jit", f"def {ir.name}({self._signature_args('result')}):"]
        return "\n".join(lines + ["    " + b for b in body]) + "\n"

    def euler_source(self, name: str) -> str:
        """One explicit Euler step ``nxt = cur + dt*F(cur)`` on the interior (flat kernel).

        ``name(cur, nxt, dt, *scalars)``; both buffers padded; the halo of
        ``nxt`` is left for the halo kernel. Kernels with ``Mean`` terms are refused.
        """
        ir = self.ir
        if ir.kind != "map" or ir.means:
            raise ValueError("a device Euler step needs a map kernel without means")
        self.state = "cur"
        try:
            pidx = ", ".join(f"{_INDEX[k]} + {ir.halo}" if ir.halo else _INDEX[k]
                             for k in range(ir.ndim))
            body = self._point_index() + self._interior_sizes() + [f"if {self._bounds()}:"]
            inner = self._invariants() + self._coords() + self._pointwise()
            inner += [f"nxt[{f}, {pidx}] = cur[{f}, {pidx}] + dt*({self._print(e)})"
                      for f, e in enumerate(ir.results)]
            body += ["    " + b for b in inner]
            lines = self._module_header("explicit Euler step") + [
                "", "@cuda.jit", f"def {name}(cur, nxt, dt{self.scalar_args()}):"]
            return "\n".join(lines + ["    " + b for b in body]) + "\n"
        finally:
            self.state = "yp"


def runtime_source(dtype: str, spec: HaloSpec = HALO_SPEC) -> str:
    """Module source of the numba-cuda helper kernels: halo filling and zeroing.

    ``halo_axis(v, halo, kinds, values)`` fills both sides of the middle axis of
    ``v`` viewed as ``(nfields, pre, npad, post)``; ``kinds``/``values`` have
    shape ``(nfields, 2)`` with the codes of :mod:`nedsym.codegen.halo`
    (a negative kind leaves the side alone). ``zero(a)`` sets a 1-D array to 0.

    Example
    -------
    >>> "def halo_axis(v, halo, kinds, values):" in runtime_source("float32")
    True
    """
    lines = [
        f'"""nedsym numba-cuda runtime kernels ({dtype}): halo filling, zeroing."""',
        "from numba import cuda",
        f"from numpy import {dtype}",
        "",
        "",
        "@cuda.jit",
        "def halo_axis(v, halo, kinds, values):",
        "    nf, pre, npad, post = v.shape",
        "    n = npad - 2 * halo",
        "    p = cuda.grid(1)",
        "    total = nf * 2 * halo * pre * post",
        "    if p < total:",
        "        q = p % post",
        "        r = p // post",
        "        a = r % pre",
        "        r = r // pre",
        "        layer = r % halo",
        "        r = r // halo",
        "        side = r % 2",
        "        f = r // 2",
        "        kind = kinds[f, side]",
        "        datum = values[f, side]",
        "        if side == 0:",
        "            g = halo - 1 - layer",
        "            wrap = halo + n - 1 - layer",
        "            mirror = halo + layer",
        "        else:",
        "            g = halo + n + layer",
        "            wrap = halo + layer",
        "            mirror = halo + n - 1 - layer",
        *python_ghost_lines(spec, "        ", "v[f, a, {src}, q]", "v[f, a, {g}, q]", cast=dtype),
        "",
        "",
        "@cuda.jit",
        "def zero(a):",
        "    p = cuda.grid(1)",
        "    if p < a.shape[0]:",
        "        a[p] = 0.0",
    ]
    return "\n".join(lines) + "\n"
