"""CuPy printer: CUDA C source from the kernel IR, launched as ``cupy.RawKernel``.

The expression rules come from sympy's ``C99CodePrinter`` (math function
names, ``float`` variants ``expf``/``tanhf`` through type aliases) with the
shared rules of :class:`~nedsym.codegen.printers.base.KernelPrinter` on top
and the GPU rules that NVRTC and nvcc both accept:

* integer powers as products (``pow(x, 2)`` is not folded and ``pow(float, 2)``
  silently computes in double),
* typed literals: ``0.5F`` in float32 kernels, ``0.5`` in float64 ones,
* no ``M_PI``/``INFINITY``/``NAN`` macros (NVRTC has none): constants are
  printed as literals, infinities are refused,
* ``fmax``/``fmin`` (``fmaxf``/``fminf``) with float arguments only,
* sympy's ``Mod`` (sign of the divisor): ``a - b*floor(a/b)``, not ``fmod``,
* kernel names are unique per IR and dtype (``<ir.name>_f32``), declared
  ``extern "C"`` so CuPy finds them unmangled.

Kernels read the padded state through a flat pointer: the value of field
``f`` at ``point + (a, b)`` is ``yp[_c + f*_sf + a*_s0 + b]`` with ``_c`` the
padded index of the point and ``_sf``/``_s0`` runtime strides, so a warp
(consecutive ``threadIdx.x`` along the contiguous axis) reads consecutive
addresses. Interior sizes ``n0, n1, ...`` are passed as ``long long``
arguments before the scalars; a kernel with ``Mean`` terms takes a trailing
``const double* means`` (interior sums; the kernel divides by the count).
"""

from __future__ import annotations

import sympy as sp
from sympy.codegen.ast import float32, float64, real
from sympy.printing.c import C99CodePrinter

from nedsym.codegen.ir import HALO_SPEC, HaloSpec
from nedsym.codegen.printers.base import MAX_EXPANDED_POWER, KernelPrinter
from nedsym.codegen.printers.halo import c_ghost_lines
from nedsym.codegen.printers.numba_cuda import REDUCE_BLOCK, launch_block  # one geometry
from nedsym.errors import CodegenError

__all__ = ["CupyPrinter", "REDUCE_BLOCK", "halo_source", "launch_block"]

_INDEX = ("i", "j", "k")
_CTYPE = {"float32": "float", "float64": "double"}
_RESERVED = frozenset(C99CodePrinter.reserved_words) | {
    "bool", "true", "false", "inline", "restrict", "new", "delete", "class", "template",
    "namespace", "this", "yp", "out", "result", "means", "cur", "nxt", "dt"}


class CupyPrinter(KernelPrinter, C99CodePrinter):
    """Prints a :class:`~nedsym.codegen.ir.KernelIR` as CUDA C for ``cupy.RawKernel``.

    Map ``kernel(yp, out, n0.., *scalars[, means])``; reduce ``kernel(yp,
    result, n0.., *scalars[, means])`` adds the interior sum (in double) into
    ``result[0]`` with one ``atomicAdd`` per block of :data:`REDUCE_BLOCK`
    threads. The C function is :attr:`kernel_name`.

    Example
    -------
    >>> from nedsym.codegen.ir import build_map_kernel, index_symbols
    >>> i, j = index_symbols(2)
    >>> u = sp.IndexedBase("u")
    >>> ir = build_map_kernel(["u"], 1, {"u": sp.pi*u[i + 1, j]**2}, [], 2, name="sq")
    >>> src = CupyPrinter(ir, dtype="float32").kernel_source()
    >>> "3.141592653589793F*(yp[_c + _s0]*yp[_c + _s0])" in src
    True
    """

    backend = "cupy"

    def printer_settings(self) -> dict:
        alias = float32 if self.dtype == "float32" else float64
        return {"full_prec": True, "type_aliases": {real: alias}, "math_macros": {}}

    @property
    def ctype(self) -> str:
        """The C type of the kernel's floats."""
        return _CTYPE[self.dtype]

    @property
    def kernel_name(self) -> str:
        """The ``extern "C"`` name of the generated kernel."""
        return f"{self.ir.name}_{'f32' if self.dtype == 'float32' else 'f64'}"

    # -- node rules --------------------------------------------------------------
    def literal(self, value: float) -> str:
        text = repr(float(value))
        if "inf" in text or "nan" in text:
            raise CodegenError(f"the non-finite constant {text} cannot be printed in a kernel")
        if "." not in text and "e" not in text:
            text += ".0"
        return text + ("F" if self.dtype == "float32" else "")

    def access(self, field: int, offsets: tuple[int, ...]) -> str:
        nd = self.ir.ndim
        terms = [(field, "_sf")] + [(o, f"_s{k}") for k, o in enumerate(offsets) if k < nd - 1]
        src = "_c"
        for coef, stride in terms:
            if coef:
                sign = "+" if coef > 0 else "-"
                mag = abs(coef)
                src += f" {sign} {stride}" if mag == 1 else f" {sign} {mag}*{stride}"
        last = offsets[-1]
        if last:
            src += f" {'+' if last > 0 else '-'} {abs(last)}"
        return f"{self.state}[{src}]"

    def _print_Symbol(self, expr):
        return expr.name

    def _print_Pow(self, expr, rational=False):
        exp = expr.exp
        if (exp.is_Integer and abs(int(exp)) <= MAX_EXPANDED_POWER) or \
                exp in (sp.S.Half, -sp.S.Half):
            return KernelPrinter._print_Pow(self, expr)
        return f"{self._fname('pow')}({self._print(expr.base)}, {self._print(exp)})"

    def _print_BooleanTrue(self, expr):
        return "true"

    def _print_BooleanFalse(self, expr):
        return "false"

    def _print_Mod(self, expr):
        a, b = (self.parenthesize(x, sp.printing.precedence.PRECEDENCE["Mul"], strict=False)
                for x in expr.args)
        return f"({a} - {b}*{self._fname('floor')}({a}/{b}))"

    def _print_Max(self, expr):
        return self._fold_c("fmax", expr.args)

    def _print_Min(self, expr):
        return self._fold_c("fmin", expr.args)

    def _print_sign(self, expr):
        x = self._print(expr.args[0])
        one, zero = self.literal(1.0), self.literal(0.0)
        return f"(({x}) > {zero} ? {one} : (({x}) < {zero} ? -{one} : {zero}))"

    def _print_Function(self, expr):
        raise CodegenError(f"the cupy printer cannot print function {type(expr).__name__!r}")

    def _fname(self, name: str) -> str:
        return name + ("f" if self.dtype == "float32" else "")

    def _fold_c(self, name: str, args) -> str:
        out = self._print(args[0])
        for a in args[1:]:
            out = f"{self._fname(name)}({out}, {self._print(a)})"
        return out

    def _call(self, name: str, args) -> str:
        return f"{self._fname(name)}({', '.join(self._print(a) for a in args)})"

    def _where(self, cond, then, otherwise_src: str) -> str:
        return f"(({self._print(cond)}) ? ({self._print(then)}) : ({otherwise_src}))"

    def coordinate_source(self, k: int, index: str) -> str:
        return f"lo{k} + (({self.ctype}){index} + {self.literal(0.5)})*h{k}"

    # -- source assembly --------------------------------------------------------
    def _check_names(self) -> None:
        bad = [n for n in (*self.ir.fields, *self.ir.scalars) if n in _RESERVED]
        if bad:
            raise CodegenError(f"name(s) {bad} are reserved in generated CUDA C; rename the "
                               "field(s)/parameter(s)")

    def _params(self, second: str, second_type: str) -> str:
        t = self.ctype
        ps = [f"const {t}* __restrict__ {self.state}", f"{second_type}* __restrict__ {second}"]
        ps += [f"const long long n{k}" for k in range(self.ir.ndim)]
        ps += [f"const {t} {s}" for s in self.ir.scalars]
        if self.ir.means:
            ps.append("const double* __restrict__ means")
        return ", ".join(ps)

    def _strides(self) -> list[str]:
        """Padded strides ``_s<k>`` (axis k, in elements) and the field stride ``_sf``."""
        ir, h2 = self.ir, 2 * self.ir.halo
        nd = ir.ndim
        lines = []
        prev = "1"
        for k in reversed(range(nd - 1)):
            lines.append(f"const long long _s{k} = {prev}*(n{k + 1} + {h2});")
            prev = f"_s{k}"
        lines.append(f"const long long _sf = {prev}*(n0 + {h2});")
        return lines

    def _center(self) -> str:
        ir = self.ir
        terms = [f"({_INDEX[k]} + {ir.halo})*_s{k}" for k in range(ir.ndim - 1)]
        terms.append(f"({_INDEX[ir.ndim - 1]} + {ir.halo})")
        return f"const long long _c = {' + '.join(terms)};"

    def _scalars_and_temps(self) -> list[str]:
        ir, t = self.ir, self.ctype
        count = "*".join(f"n{k}" for k in range(ir.ndim))
        lines = [f"const {t} {s} = ({t})(means[{m}]/(double)({count}));"
                 for m, (s, _) in enumerate(ir.means)]
        return lines + [f"const {t} {s} = {self._print(e)};" for s, e in ir.invariants]

    def _point(self) -> list[str]:
        t = self.ctype
        lines = [f"const {t} x{k} = {self.coordinate_source(k, _INDEX[k])};"
                 for k in self.ir.coords]
        return lines + [f"const {t} {s} = {self._print(e)};" for s, e in self.ir.assignments]

    def _thread_index(self) -> list[str]:
        nd = self.ir.ndim
        axes = ("x", "y", "z")
        lines = []
        for k in range(nd):
            a = axes[nd - 1 - k]
            lines.append(f"const long long {_INDEX[k]} = (long long)blockIdx.{a}*blockDim.{a}"
                         f" + threadIdx.{a};")
        cond = " || ".join(f"{_INDEX[k]} >= n{k}" for k in range(nd))
        return lines + [f"if ({cond}) return;"]

    def _function(self, name: str, params: str, body: list[str]) -> list[str]:
        return [f'extern "C" __global__ void {name}({params})', "{"] + \
            ["    " + b for b in body] + ["}"]

    def kernel_source(self) -> str:
        """CUDA C source of the kernel :attr:`kernel_name` (map or reduce)."""
        self._check_names()
        if self.ir.kind == "reduce":
            return self._reduce_source()
        ir = self.ir
        out_index = " + ".join(
            [f"{_INDEX[k]}*" + "*".join(f"n{m}" for m in range(k + 1, ir.ndim))
             for k in range(ir.ndim - 1)] + [_INDEX[ir.ndim - 1]])
        count = "*".join(f"n{k}" for k in range(ir.ndim))
        body = self._thread_index() + self._strides() + [self._center()]
        body.append(f"const long long _o = {out_index};")
        body += self._scalars_and_temps() + self._point()
        for f, e in enumerate(ir.results):
            where = "_o" if f == 0 else f"{f}*({count}) + _o"
            body.append(f"out[{where}] = {self._print(e)};")
        lines = self.banner("map kernel", comment="//")
        lines += self._function(self.kernel_name, self._params("out", self.ctype), body)
        return "\n".join(lines) + "\n"

    def _reduce_source(self) -> str:
        ir = self.ir
        nd = ir.ndim
        body = [f"__shared__ double _buf[{REDUCE_BLOCK}];"] + self._strides()
        body.append(f"const long long _npts = {'*'.join(f'n{k}' for k in range(nd))};")
        body += self._scalars_and_temps()
        body.append("double _acc = 0.0;")
        body.append("for (long long _p = (long long)blockIdx.x*blockDim.x + threadIdx.x; "
                    "_p < _npts; _p += (long long)blockDim.x*gridDim.x) {")
        if nd == 1:
            unravel = ["const long long i = _p;"]
        elif nd == 2:
            unravel = ["const long long i = _p/n1;", "const long long j = _p - i*n1;"]
        else:
            unravel = ["const long long i = _p/(n1*n2);", "const long long _r = _p - i*(n1*n2);",
                       "const long long j = _r/n2;", "const long long k = _r - j*n2;"]
        inner = unravel + [self._center()] + self._point()
        inner.append(f"_acc += (double)({self._print(ir.results[0])});")
        body += ["    " + b for b in inner] + ["}"]
        body += ["_buf[threadIdx.x] = _acc;", "__syncthreads();",
                 "for (unsigned int _s = blockDim.x/2; _s > 0; _s >>= 1) {",
                 "    if (threadIdx.x < _s) _buf[threadIdx.x] += _buf[threadIdx.x + _s];",
                 "    __syncthreads();", "}",
                 "if (threadIdx.x == 0) atomicAdd(result, _buf[0]);"]
        lines = self.banner("reduce kernel", comment="//")
        lines += self._function(self.kernel_name, self._params("result", "double"), body)
        return "\n".join(lines) + "\n"

    def euler_name(self) -> str:
        """C name of the fused Euler-step kernel of :meth:`euler_source`."""
        return f"{self.kernel_name}_euler"

    def euler_source(self) -> str:
        """One explicit Euler step ``nxt = cur + dt*F(cur)`` on the padded interior.

        ``euler(cur, nxt, n0.., dt, *scalars)``; the halo of ``nxt`` is left for
        :func:`halo_source`'s kernel. Kernels with ``Mean`` terms are refused.
        """
        self._check_names()
        ir = self.ir
        if ir.kind != "map" or ir.means:
            raise CodegenError("a device Euler step needs a map kernel without means")
        self.state = "cur"
        try:
            t = self.ctype
            body = self._thread_index() + self._strides() + [self._center()]
            body += self._scalars_and_temps() + self._point()
            for f, e in enumerate(ir.results):
                at = "_c" if f == 0 else f"_c + {f}*_sf"
                body.append(f"nxt[{at}] = cur[{at}] + dt*({self._print(e)});")
            params = [f"const {t}* __restrict__ cur", f"{t}* __restrict__ nxt"]
            params += [f"const long long n{k}" for k in range(ir.ndim)]
            params += [f"const {t} dt"] + [f"const {t} {s}" for s in ir.scalars]
            lines = self.banner("explicit Euler step", comment="//")
            lines += self._function(self.euler_name(), ", ".join(params), body)
            return "\n".join(lines) + "\n"
        finally:
            self.state = "yp"


def halo_source(dtype: str, spec: HaloSpec = HALO_SPEC) -> str:
    """CUDA C of the halo kernel ``nsk_halo_axis_<f32|f64>`` (one axis, both sides).

    ``(v, nf, pre, npad, post, halo, kinds, values)``: ``v`` viewed as
    ``(nf, pre, npad, post)`` (the padded state with the axis in the middle),
    ``kinds``/``values`` ``(nf, 2)`` with the codes of :mod:`nedsym.codegen.halo`
    (a negative kind leaves the side alone). One thread per ghost cell.

    Example
    -------
    >>> "nsk_halo_axis_f32" in halo_source("float32")
    True
    """
    t = _CTYPE[dtype]
    rules = "\n".join(c_ghost_lines(spec, "    ", t))
    name = f"nsk_halo_axis_{'f32' if dtype == 'float32' else 'f64'}"
    return f"""// nedsym CUDA halo kernel ({dtype}): fills both sides of one axis.
extern "C" __global__ void {name}({t}* __restrict__ v, const long long nf,
    const long long pre, const long long npad, const long long post, const long long halo,
    const long long* __restrict__ kinds, const double* __restrict__ values)
{{
    const long long total = nf*2*halo*pre*post;
    const long long p = (long long)blockIdx.x*blockDim.x + threadIdx.x;
    if (p >= total) return;
    const long long n = npad - 2*halo;
    const long long q = p % post;
    long long r = p/post;
    const long long a = r % pre;
    r = r/pre;
    const long long layer = r % halo;
    r = r/halo;
    const long long side = r % 2;
    const long long f = r/2;
    const long long kind = kinds[2*f + side];
    const double datum = values[2*f + side];
    long long g, wrap, mirror;
    if (side == 0) {{
        g = halo - 1 - layer; wrap = halo + n - 1 - layer; mirror = halo + layer;
    }} else {{
        g = halo + n + layer; wrap = halo + layer; mirror = halo + n - 1 - layer;
    }}
    const long long base = (f*pre + a)*npad*post + q;
{rules}
}}
"""
