"""Temporally blocked explicit Euler loop (numba): ``s`` steps per pass over memory.

A memory-bound stencil step reads and writes the whole state once per step.
Here each thread takes a slab of ``B`` interior rows along axis 0 and advances
it ``s`` steps in a thread-private scratch slab that stays in cache: step ``m``
recomputes ``(s - m)*r`` extra rows/columns on each side (``r`` = kernel
halo), so the state is read and written once per ``s`` steps, at the price of
``1 + 2(s-1)r/B`` times the arithmetic in the first steps.

The redundant cells outside the domain are computed with the same stencil as
the interior; that equals a halo fill only for **periodic** boundaries and
kernels without coordinates or means, which is what this printer accepts.
The padded state carries a halo of ``H = s*r`` cells.
"""

from __future__ import annotations

from nedsym.codegen.printers.numba import JIT_OPTIONS, NumbaPrinter

_LOCAL = ("_l0", "_c1", "_c2")


class NumbaBlockedPrinter(NumbaPrinter):
    """Prints ``name(yp, ybuf, scratch, nsteps, dt, kinds, values, *scalars)``.

    ``yp``, ``ybuf``: padded with halo ``H = steps*ir.halo``; ``scratch``:
    ``float64[nthreads, 2, nfields, B + 2H, *(n_k + 2H for k >= 1)]``, one slab pair
    per thread (``B`` = block rows); ``nsteps`` a multiple of ``steps``.
    """

    def __init__(self, ir, steps: int, **kw):
        super().__init__(ir, **kw)
        self.steps = steps
        self.H = steps * ir.halo
        self._target = ("_cur[", "_q")  # (array prefix, axis-0 index variable)
        self._time = "t"  # name printed for the time symbol t in the current step

    def _print_Symbol(self, expr):
        return self._time if expr.name == "t" else expr.name

    def access(self, field: int, offsets: tuple[int, ...]) -> str:
        prefix, row = self._target
        parts = [str(field)]
        for k, o in enumerate(offsets):
            var = row if k == 0 else _LOCAL[k]
            parts.append(f"{var} + {o}" if o > 0 else f"{var} - {-o}" if o < 0 else var)
        return f"{prefix}{', '.join(parts)}]"

    def _step_nest(self, m: int, src: tuple[str, str], dst: tuple[str, str]) -> list[str]:
        """Loop nest of fused step ``m`` (1-based) over the slab, extended by ``(s-m)*r``."""
        ir, H = self.ir, self.H
        ext = (self.steps - m) * ir.halo
        self._target = src
        lines = [f"for _l0 in range({H - ext}, {H + ext} + _rows):",
                 "    _q = _a + _l0"]
        ind = "    "
        for k in range(1, ir.ndim):
            lines.append(f"{ind}for {_LOCAL[k]} in range({H - ext}, n{k} + {H + ext}):")
            ind += "    "
        point = self._pointwise()
        dprefix, drow = dst
        for f, e in enumerate(ir.results):
            idx = ", ".join([drow] + [_LOCAL[k] for k in range(1, ir.ndim)])
            sidx = ", ".join([src[1]] + [_LOCAL[k] for k in range(1, ir.ndim)])
            point.append(f"{dprefix}{f}, {idx}] = {src[0]}{f}, {sidx}] + dt*({self._print(e)})")
        lines += [ind + p for p in point]
        return lines

    def blocked_euler_source(self, name: str) -> str:
        ir, H, s = self.ir, self.H, self.steps
        lines = self._header(f"explicit Euler loop, {s} steps per pass (temporal blocking)")
        lines += [
            "from numba import get_thread_id",
            "",
            "_fill = None  # halo filler, set by nedsym.codegen.loops before the first call",
            "", "",
            f"@njit({JIT_OPTIONS})",
            f"def {name}(yp, ybuf, scratch, nsteps, dt, kinds, values{self.scalar_args()}):",
        ]
        body = [f"n{k} = yp.shape[{k + 1}] - {2 * H}" for k in range(ir.ndim)]
        body += [f"_B = scratch.shape[3] - {2 * H}", "_nblocks = (n0 + _B - 1) // _B",
                 "_cur = yp", "_nxt = ybuf", f"for _pass in range(nsteps // {s}):"]
        inner = [f"_fill(_cur, {H}, kinds, values)"]
        inner += [f"{sym} = {self._print(e)}" for sym, e in ir.invariants]
        if "t" in ir.scalars:  # stage times outside the parallel loop
            inner += [f"_t{m} = t + {float(m - 1)!r}*dt" for m in range(1, s + 1)]
        inner.append("for _b in prange(_nblocks):")
        blk = ["_tid = get_thread_id()", "_s0 = scratch[_tid, 0]", "_s1 = scratch[_tid, 1]",
               "_a = _b*_B", "_rows = min(_B, n0 - _a)"]
        for m in range(1, s + 1):
            src = ("_cur[", "_q") if m == 1 else (f"_s{m % 2}[", "_l0")
            dst = ("_nxt[", "_q") if m == s else (f"_s{(m + 1) % 2}[", "_l0")
            self._time = f"_t{m}"
            blk += self._step_nest(m, src, dst)
        inner += ["    " + b for b in blk]
        inner.append("_cur, _nxt = _nxt, _cur")
        if "t" in ir.scalars:
            inner.append(f"t = t + {float(s)!r}*dt")
        body += ["    " + b for b in inner]
        body += [f"if (nsteps // {s}) % 2 == 1:", "    yp[...] = ybuf",
                 f"_fill(yp, {H}, kinds, values)"]
        lines += ["    " + b for b in body]
        self._target = ("_cur[", "_q")
        return "\n".join(lines) + "\n"
