"""Numba CPU printer: ``@njit(parallel=True, cache=True)`` loop nests.

The outermost axis runs under ``prange``, inner axes are plain loops, integer
powers are products of cse'd bases, and nothing is allocated inside a kernel.
Reduce kernels (and ``Mean`` pre-passes) accumulate each row in a local
float64 and combine rows with numba's parallel reduction.

``error_model="numpy"``: division by zero gives ``inf``/``nan`` as in the NumPy
reference instead of raising (it also keeps the inner loop branch-free).

:meth:`NumbaPrinter.euler_source` prints a compiled fixed-step explicit Euler
loop ``run_euler(yp, ybuf, nsteps, dt, kinds, values, *scalars)`` whose point
loop is the map kernel fused with the update ``ybuf = yp + dt*F(yp)``.
"""

from __future__ import annotations

from nedsym.codegen.printers.base import KernelPrinter

_NB_FUNCS = {
    "exp": "math.exp", "log": "math.log", "sqrt": "math.sqrt", "sin": "math.sin",
    "cos": "math.cos", "tan": "math.tan", "asin": "math.asin", "acos": "math.acos",
    "atan": "math.atan", "atan2": "math.atan2", "sinh": "math.sinh", "cosh": "math.cosh",
    "tanh": "math.tanh", "asinh": "math.asinh", "acosh": "math.acosh", "atanh": "math.atanh",
    # np.maximum/np.minimum propagate NaN as the NumPy reference does (Python's max(0.0, nan)
    # is 0.0: a NaN would vanish in a compiled relu)
    "erf": "math.erf", "Abs": "abs", "sign": "np.sign", "Max": "np.maximum",
    "Min": "np.minimum",
    "floor": "np.floor", "ceiling": "np.ceil",
}
_INDEX = ("i", "j", "k")
JIT_OPTIONS = 'parallel=True, cache=True, fastmath=False, error_model="numpy"'
#: reductions may reassociate their sum (so the loop vectorizes); no other fast-math flag,
#: so NaN and Inf still propagate into the total
REDUCE_JIT_OPTIONS = 'parallel=True, cache=True, fastmath={"reassoc"}, error_model="numpy"'


class NumbaPrinter(KernelPrinter):
    """Prints a :class:`~nedsym.codegen.ir.KernelIR` as a numba ``prange`` loop nest.

    Same call signatures as the NumPy printer: map ``kernel(yp, out, *scalars)``,
    reduce ``kernel(yp, *scalars) -> float``.

    Example
    -------
    >>> import sympy as sp
    >>> from nedsym.codegen.ir import build_map_kernel, index_symbols
    >>> (i,) = index_symbols(1)
    >>> u = sp.IndexedBase("u")
    >>> ir = build_map_kernel(["u"], 1, {"u": u[i]**3}, [], 1, name="cube")
    >>> "yp[0, i + 1]*yp[0, i + 1]*yp[0, i + 1]" in NumbaPrinter(ir).kernel_source()
    True
    """

    backend = "numba"
    function_names = _NB_FUNCS

    def literal(self, value: float) -> str:
        if self.dtype == "float32":
            return f"float32({float(value)!r})"
        return repr(float(value))

    def access(self, field: int, offsets: tuple[int, ...]) -> str:
        parts = [str(field)]
        for k, o in enumerate(offsets):
            shift = self.ir.halo + o
            parts.append(f"{_INDEX[k]} + {shift}" if shift else _INDEX[k])
        return f"{self.state}[{', '.join(parts)}]"

    def _where(self, cond, then, otherwise_src: str) -> str:
        return f"({self._print(then)} if {self._print(cond)} else {otherwise_src})"

    # -- source assembly ----------------------------------------------------
    def _header(self, what: str) -> list[str]:
        lines = [
            *self.banner(what),
            "import math",
            "",
            "import numpy as np",
            "from numba import njit, prange",
        ]
        if self.dtype == "float32":
            lines.append("from numpy import float32")
        return lines

    def _sizes(self) -> list[str]:
        h2 = 2 * self.ir.halo
        return [f"n{k} = {self.state}.shape[{k + 1}] - {h2}" for k in range(self.ir.ndim)]

    def _nest(self, body: list[str], row_acc: str | None = None) -> list[str]:
        """Loop nest over the interior: ``prange`` outside, ``range`` inside.

        With ``row_acc`` the inner loops accumulate into a float64 ``_row``
        added to ``row_acc`` once per outer iteration.
        """
        ir = self.ir
        lines, ind = [], ""
        for k in range(ir.ndim):
            loop = "prange" if k == 0 else "range"
            lines.append(f"{ind}for {_INDEX[k]} in {loop}(n{k}):")
            ind += "    "
            if k in ir.coords:
                lines.append(f"{ind}x{k} = {self.coordinate_source(k, _INDEX[k])}")
            if k == 0 and row_acc and ir.ndim > 1:
                lines.append(f"{ind}_row = 0.0")
        if row_acc and ir.ndim > 1:
            body = body[:-1] + [f"_row += {body[-1]}"]
            lines += [ind + b for b in body]
            lines.append("    " + f"{row_acc} += _row")
        elif row_acc:
            body = body[:-1] + [f"{row_acc} += {body[-1]}"]
            lines += [ind + b for b in body]
        else:
            lines += [ind + b for b in body]
        return lines

    def _cast(self, src: str) -> str:
        return f"float32({src})" if self.dtype == "float32" else src

    def _prologue(self) -> list[str]:
        """Interior sizes, ``Mean`` reductions and loop invariants."""
        ir = self.ir
        lines = self._sizes()
        count = "*".join(f"n{k}" for k in range(ir.ndim))
        for s, e in ir.means:
            lines.append(f"{s} = 0.0")
            lines += self._nest([self._print(e)], row_acc=str(s))
            lines.append(f"{s} = {self._cast(f'{s} / ({count})')}")
        for s, e in ir.invariants:
            lines.append(f"{s} = {self._print(e)}")
        return lines

    def _pointwise(self) -> list[str]:
        return [f"{s} = {self._print(e)}" for s, e in self.ir.assignments]

    def kernel_source(self) -> str:
        ir = self.ir
        out_arg = ", out" if ir.kind == "map" else ""
        lines = self._header(f"{ir.kind} kernel") + [
            "", "",
            f"@njit({JIT_OPTIONS if ir.kind == 'map' else REDUCE_JIT_OPTIONS})",
            f"def {ir.name}({self.state}{out_arg}{self.scalar_args()}):",
        ]
        body = self._prologue()
        idx = ", ".join(_INDEX[: ir.ndim])
        if ir.kind == "map":
            point = self._pointwise()
            point += [f"out[{f}, {idx}] = {self._print(e)}" for f, e in enumerate(ir.results)]
            body += self._nest(point)
        else:
            body.append("_total = 0.0")
            body += self._nest(self._pointwise() + [self._print(ir.results[0])],
                               row_acc="_total")
            body.append("return _total")
        lines += ["    " + b for b in body]
        return "\n".join(lines) + "\n"

    def _stage(self, read: str, writes: list[str]) -> list[str]:
        """Fill the halo of ``read``, then one fused loop nest; ``writes[f]`` is a format
        string with ``{idx}`` (padded interior index), ``{ii}`` (interior index) and ``{F}``."""
        ir = self.ir
        self.state = read
        idx = ", ".join(f"{_INDEX[k]} + {ir.halo}" if ir.halo else _INDEX[k]
                        for k in range(ir.ndim))
        ii = ", ".join(_INDEX[: ir.ndim])
        point = self._pointwise()
        point += [w.format(idx=idx, ii=ii, F=self._print(e), f=f)
                  for f, (w, e) in enumerate(zip(writes, ir.results, strict=True))]
        lines = [f"_fill({read}, {ir.halo}, kinds, values)"] + self._prologue()
        lines += self._nest(point)
        self.state = "yp"
        return lines

    def rk4_source(self, name: str) -> str:
        """Source of a compiled classical RK4 loop (four fused stage nests per step).

        ``name(yp, s1, s2, acc, nsteps, dt, kinds, values, *scalars)``: ``s1, s2``
        padded stage states like ``yp``, ``acc`` of shape ``(nfields, *interior)``;
        stage ``m`` reads one stage buffer and writes the next (never in place,
        since stencils read neighbours); the last stage updates ``yp`` in place
        (it reads ``yp`` only at the same point). A scalar ``t`` advances per stage.
        """
        ir = self.ir
        if ir.kind != "map":
            raise ValueError("an RK4 loop needs a map kernel")
        dt = self._cast("dt")
        half, sixth, two = (self.literal(v) for v in (0.5, 1 / 6, 2.0))
        y = "yp[{f}, {idx}]"
        stages = [
            ("yp", ["acc[{f}, {ii}] = _k = {F}\n" + "s1[{f}, {idx}] = " + y
                    + f" + {half}*{dt}*_k"]),
            ("s1", ["_k = {F}\nacc[{f}, {ii}] += " + two + "*_k\n" + "s2[{f}, {idx}] = " + y
                    + f" + {half}*{dt}*_k"]),
            ("s2", ["_k = {F}\nacc[{f}, {ii}] += " + two + "*_k\n" + "s1[{f}, {idx}] = " + y
                    + f" + {dt}*_k"]),
            ("s1", ["yp[{f}, {idx}] = " + y + f" + {sixth}*{dt}*(acc[{{f}}, {{ii}}] + {{F}})"]),
        ]
        t_at = ["", "t = _t0 + 0.5*dt", "", "t = _t0 + dt"] if "t" in ir.scalars else [""] * 4
        inner = ["_t0 = t"] if "t" in ir.scalars else []
        for (read, w), tline in zip(stages, t_at, strict=True):
            if tline:
                inner.append(tline)
            writes = w * len(ir.fields)
            body = self._stage(read, writes)
            inner += [ln for b in body for ln in self._split_multi(b)]
        if "t" in ir.scalars:
            inner.append("t = _t0 + dt")
        lines = self._header("classical RK4 loop") + [
            "",
            "_fill = None  # halo filler, set by nedsym.codegen.loops before the first call",
            "", "",
            f"@njit({JIT_OPTIONS})",
            f"def {name}(yp, s1, s2, acc, nsteps, dt, kinds, values{self.scalar_args()}):",
            "    for _step in range(nsteps):",
        ]
        lines += ["        " + b for b in inner]
        lines.append(f"    _fill(yp, {ir.halo}, kinds, values)")
        return "\n".join(lines) + "\n"

    def _rk_names(self):
        """What every Runge–Kutta source needs: whether the kernel has ``t``, the printed
        ``dt``, the literal printer, the padded and interior index lists, the field count."""
        ir = self.ir
        idx = ", ".join(f"{_INDEX[k]} + {ir.halo}" if ir.halo else _INDEX[k]
                        for k in range(ir.ndim))
        return ("t" in ir.scalars, self._cast("dt"), self.literal, idx,
                ", ".join(_INDEX[: ir.ndim]), len(ir.fields))

    def _stage_increment(self, tab, kslot: dict, i: int, f: int, ii: str) -> str:
        """:math:`\\sum_j a_{i+1,j} k_j` for field ``f`` while stage ``i`` is evaluated:
        earlier stages from the stored ``K``, stage ``i`` from ``_k{f}``."""
        lit = self.literal
        terms = [f"{lit(tab.A[i + 1][j])}*K[{kslot[j]}, {f}, {ii}]"
                 for j in range(i) if tab.A[i + 1][j]]
        if tab.A[i + 1][i]:
            terms.append(f"{lit(tab.A[i + 1][i])}*_k{f}")
        return " + ".join(terms) or lit(0.0)

    def rk_segment_source(self, name: str, tableau) -> str:
        """Source of a compiled explicit Runge–Kutta *segment*: ``nsteps`` steps in one call.

        ``name(y0, ya, yb, s1, s2, K, acc, nsteps, dt, kinds, values, vmap, faces, *scalars)
        -> (which, health)``. Every buffer is padded like ``y0`` except ``K`` (stored stages,
        ``(max(1, len(tableau.kept_stages())), nfields, *interior)``) and ``acc``
        (``(nfields, *interior)``). ``y0`` is never written: with one stage, step ``n`` reads
        one buffer and writes the other of ``ya``/``yb``; with more, the first step writes
        ``ya`` and later ones update it in place. ``which`` (0 or 1) names the buffer holding
        the result, halo filled (``-1`` when ``nsteps == 0``). ``health`` is the sum of the final
        state over the interior, a reduction fused into the last step's final sweep, NaN/Inf
        exactly when the state has a NaN or Inf (or overflows). Stage ``i`` of step ``n``
        fills the ghosts of the state it reads with
        ``_fill(state, halo, kinds, values, vmap, faces, n*stages + i)`` (module global, set
        by the loader); the final fill uses slot ``nsteps*stages``. The stage
        state of stage ``i+1`` is written in the nest that evaluates stage ``i``, so each stage
        is one sweep. A scalar ``t`` is the start time; stage times are
        :math:`t_n + c_i\\Delta t` with :math:`t_{n+1} = t_n + \\Delta t`.
        """
        ir = self.ir
        if ir.kind != "map":
            raise ValueError("a Runge–Kutta segment needs a map kernel")
        tab = tableau
        s = tab.stages
        kslot = {j: m for m, j in enumerate(tab.kept_stages())}
        acc_stages = [j for j in range(s - 1) if tab.b[j]]
        has_t, dt, lit, idx, ii, nf = self._rk_names()
        body = ["_w = 0", "_cur = y0", "_health = 0.0"]
        if has_t:
            body.append("_tn = t")
        # one stage (Euler) reads _cur with its stencil while writing: alternate ya/yb. With
        # more stages only the last writes the new state and it reads _cur at the point
        # alone, so every step after the first updates ya in place (no write-allocate of a
        # third array); y0 is still never written
        in_place = s > 1
        body += ["for _step in range(nsteps):",
                 "    _nxt = ya" if in_place else "    _nxt = ya if _w == 0 else yb"]
        for i in range(s):
            read = "_cur" if i == 0 else ("s1" if i % 2 == 1 else "s2")
            dest = "s1" if (i + 1) % 2 == 1 else "s2"
            self.state = read
            stage = []
            if has_t:
                stage.append(f"t = _tn + {lit(tab.c[i])}*dt" if tab.c[i] else "t = _tn")
            stage.append(f"_fill({read}, {ir.halo}, kinds, values, vmap, faces, "
                         f"_step*{s} + {i})")
            stage += self._prologue()
            point = self._pointwise()
            last = i == s - 1
            for f, e in enumerate(ir.results):
                point.append(f"_k{f} = {self._print(e)}")
                if not last:
                    incr = self._stage_increment(tab, kslot, i, f, ii)
                    point.append(f"{dest}[{f}, {idx}] = _cur[{f}, {idx}] + {dt}*({incr})")
                    if i in kslot:
                        point.append(f"K[{kslot[i]}, {f}, {ii}] = _k{f}")
                    if tab.b[i]:
                        op = "=" if i == acc_stages[0] else "+="
                        point.append(f"acc[{f}, {ii}] {op} {lit(tab.b[i])}*_k{f}")
                else:
                    total = [f"acc[{f}, {ii}]"] if acc_stages else []
                    if tab.b[i]:
                        total.append(f"{lit(tab.b[i])}*_k{f}")
                    point.append(f"_v{f} = _cur[{f}, {idx}] + {dt}*({' + '.join(total)})")
                    point.append(f"_nxt[{f}, {idx}] = _v{f}")
            if last:
                # the health sum only in a segment's last step: a reduction in the point loop
                # keeps it from vectorizing (strict float order), so the other steps skip it
                stage.append("if _step == nsteps - 1:")
                stage += ["    " + ln for ln in self._nest(
                    point + [" + ".join(f"_v{f}" for f in range(nf))], row_acc="_health")]
                stage.append("else:")
                stage += ["    " + ln for ln in self._nest(point)]
            else:
                stage += self._nest(point)
            body += ["    " + ln for ln in stage]
        body += ["    _cur = _nxt"] + ([] if in_place else ["    _w = 1 - _w"])
        if has_t:
            body.append("    _tn = _tn + dt")
        self.state = "_cur"
        body.append(f"_fill(_cur, {ir.halo}, kinds, values, vmap, faces, nsteps*{s})")
        body.append("return ((0 if nsteps > 0 else -1), _health)" if in_place else
                    "return (1 - _w if nsteps > 0 else -1), _health")
        return self._segment_module(
            f"explicit Runge–Kutta segment ({tab.name}, {s} stages)",
            f"{name}(y0, ya, yb, s1, s2, K, acc, nsteps, dt, kinds, values, vmap, faces", body)

    def _segment_module(self, what: str, signature: str, body: list[str]) -> str:
        """A generated time-stepping module: header, the ``_fill`` global, one njit function
        ``def <signature><scalar args>):`` with ``body``."""
        self.state = "yp"
        lines = self._header(what) + [
            "",
            "_fill = None  # ghost filler, set by nedsym.codegen.segments before the first call",
            "", "",
            f"@njit({JIT_OPTIONS})",
            f"def {signature}{self.scalar_args()}):",
        ]
        lines += ["    " + b for b in body]
        return "\n".join(lines) + "\n"

    def embedded_step_source(self, name: str, tableau) -> str:
        """Source of one compiled step of an embedded Runge–Kutta pair with its error norm.

        ``name(y0, out, s1, s2, K, acc, eacc, k0, k1, fsal, dt, rtol, atol, kinds, values,
        vmap, faces, *scalars) -> sumsq``. ``y0`` (never written) and ``out`` (the new state,
        halo filled) are padded, like the stage states ``s1, s2``; ``K`` holds the stored
        stages, ``acc``/``eacc`` the solution and error accumulators and ``k0, k1`` one
        right-hand side each, all of interior shape. With ``fsal == 1`` (first-same-as-last
        pairs) ``k0`` already holds :math:`f(t, y_0)` and stage 0 reads it instead of
        evaluating; otherwise stage 0 writes it there, so a rejected step can be retried
        with ``fsal = 1``. The last stage's right-hand side :math:`f(t+\\Delta t, y_1)` goes
        to ``k1`` (the caller swaps ``k0, k1`` when it accepts the step).

        Returned: :math:`\\sum_i (e_i / s_i)^2` over every field and interior point, with
        :math:`e = \\Delta t\\sum_j (b_j - \\hat b_j) k_j` and
        :math:`s = atol + rtol\\max(|y_0|, |y_1|)`, fused into the last stage's sweep, plus
        ``0*sum(y1)`` so that it is NaN/Inf exactly when the new state (or its error) is not
        finite. Stage ``i`` fills the ghosts of the state it reads with slot ``i``; the
        final fill of ``out`` uses slot ``stages``.
        """
        ir = self.ir
        if ir.kind != "map":
            raise ValueError("an embedded Runge–Kutta step needs a map kernel")
        tab = tableau
        s = tab.stages
        fsal = tab.fsal
        kslot = {j: m for m, j in enumerate(tab.kept_stages())}
        acc_stages = [j for j in range(s - 1) if tab.b[j]] if not fsal else []
        err_stages = [j for j in range(s - 1) if tab.b_err[j]]
        has_t, dt, lit, idx, ii, nf = self._rk_names()
        body = ["_sumsq = 0.0"] + (["_tn = t"] if has_t else [])

        def reads(i: int) -> str:
            if i == 0:
                return "y0"
            if fsal and i == s - 1:
                return "out"
            return "s1" if i % 2 == 1 else "s2"

        def update(i: int, f: int) -> list[str]:
            """Point statements of stage ``i`` once ``_k{f}`` holds its right-hand side."""
            lines = []
            if i < s - 1:
                dest = reads(i + 1)
                incr = self._stage_increment(tab, kslot, i, f, ii)
                lines.append(f"{dest}[{f}, {idx}] = y0[{f}, {idx}] + {dt}*({incr})")
                if i in kslot:
                    lines.append(f"K[{kslot[i]}, {f}, {ii}] = _k{f}")
                if i in acc_stages:
                    op = "=" if i == acc_stages[0] else "+="
                    lines.append(f"acc[{f}, {ii}] {op} {lit(tab.b[i])}*_k{f}")
                if i in err_stages:
                    op = "=" if i == err_stages[0] else "+="
                    lines.append(f"eacc[{f}, {ii}] {op} {lit(tab.b_err[i])}*_k{f}")
                return lines
            if fsal:
                lines += [f"_v{f} = out[{f}, {idx}]", f"k1[{f}, {ii}] = _k{f}"]
            else:
                total = [f"acc[{f}, {ii}]"] if acc_stages else []
                if tab.b[i]:
                    total.append(f"{lit(tab.b[i])}*_k{f}")
                lines += [f"_v{f} = y0[{f}, {idx}] + {dt}*({' + '.join(total) or lit(0.0)})",
                          f"out[{f}, {idx}] = _v{f}"]
            err = [f"eacc[{f}, {ii}]"] if err_stages else []
            if tab.b_err[i]:
                err.append(f"{lit(tab.b_err[i])}*_k{f}")
            lines += [f"_a{f} = abs(y0[{f}, {idx}])", f"_b{f} = abs(_v{f})",
                      f"_q{f} = {dt}*({' + '.join(err) or lit(0.0)}) / "
                      f"(atol + rtol*(_a{f} if _a{f} > _b{f} else _b{f}))"]
            return lines

        for i in range(s):
            self.state = reads(i)
            stage = [f"t = _tn + {lit(tab.c[i])}*dt" if tab.c[i] else "t = _tn"] if has_t \
                else []
            point = []
            for f, e in enumerate(ir.results):
                point.append(f"_k{f} = {self._print(e)}")
                if i == 0 and fsal:
                    point.append(f"k0[{f}, {ii}] = _k{f}")
                point += update(i, f)
            if i == s - 1:
                total = " + ".join(f"_q{f}*_q{f}" for f in range(nf))
                vsum = " + ".join(f"_v{f}" for f in range(nf))
                point.append(f"{total} + 0.0*({vsum})")
            evaluate = [f"_fill({self.state}, {ir.halo}, kinds, values, vmap, faces, {i})"]
            evaluate += self._prologue()
            evaluate += self._nest(self._pointwise() + point,
                                   row_acc="_sumsq" if i == s - 1 else None)
            if i == 0 and fsal:        # stage 0 reads the right-hand side it already has
                reuse = []
                for f in range(nf):
                    reuse.append(f"_k{f} = k0[{f}, {ii}]")
                    reuse += update(0, f)
                stage += ["if fsal == 1:"] + ["    " + ln for ln in self._sizes()
                                                 + self._nest(reuse)]
                stage += ["else:"] + ["    " + ln for ln in evaluate]
            else:
                stage += evaluate
            body += stage
        self.state = "out"
        body.append(f"_fill(out, {ir.halo}, kinds, values, vmap, faces, {s})")
        body.append("return _sumsq")
        return self._segment_module(
            f"embedded Runge–Kutta step ({tab.name}, {s} stages, error norm fused)",
            f"{name}(y0, out, s1, s2, K, acc, eacc, k0, k1, fsal, dt, rtol, atol, kinds, "
            "values, vmap, faces", body)

    @staticmethod
    def _split_multi(line: str) -> list[str]:
        """A generated line holding several statements (``\\n``) at one indentation."""
        ind = line[: len(line) - len(line.lstrip())]
        return [ind + part for part in line.strip().split("\n")]

    def euler_source(self, name: str) -> str:
        """Source of a compiled explicit Euler loop (fused map + update, double-buffered).

        ``name(yp, ybuf, nsteps, dt, kinds, values, *scalars)``: each step fills
        the halo of the current buffer with the module global ``_fill(state,
        halo, kinds, values)`` (set by the loader before the first call), then
        writes ``next = cur + dt*F(cur)`` on the interior and swaps buffers.
        A scalar named ``t`` is the start time and advances by ``dt``.
        The final state is left in ``yp`` (halo filled).
        """
        ir = self.ir
        if ir.kind != "map":
            raise ValueError("an Euler loop needs a map kernel")
        self.state = "_cur"
        idx = ", ".join(f"{_INDEX[k]} + {ir.halo}" if ir.halo else _INDEX[k]
                        for k in range(ir.ndim))
        lines = self._header("explicit Euler loop") + [
            "",
            "_fill = None  # halo filler, set by nedsym.codegen.loops before the first call",
            "", "",
            f"@njit({JIT_OPTIONS})",
            f"def {name}(yp, ybuf, nsteps, dt, kinds, values{self.scalar_args()}):",
        ]
        dt = self._cast("dt")
        point = self._pointwise()
        point += [f"_nxt[{f}, {idx}] = _cur[{f}, {idx}] + {dt}*({self._print(e)})"
                  for f, e in enumerate(ir.results)]
        body = ["_cur = yp", "_nxt = ybuf", "for _step in range(nsteps):"]
        inner = [f"_fill(_cur, {ir.halo}, kinds, values)"] + self._prologue()
        inner += self._nest(point)
        inner.append("_cur, _nxt = _nxt, _cur")
        if "t" in ir.scalars:
            inner.append("t = t + dt")
        body += ["    " + b for b in inner]
        body += ["if nsteps % 2 == 1:", "    yp[...] = ybuf",
                 f"_fill(yp, {ir.halo}, kinds, values)"]
        lines += ["    " + b for b in body]
        self.state = "yp"
        return "\n".join(lines) + "\n"
