r"""Generated batch kernels: pointwise-in-sample expressions over a batch of inputs.

A depth model evaluates the same expressions (the right-hand side, the
Hamiltonian's derivatives, the costs) for every sample of a batch. A
:class:`BatchKernel` takes

* ``yp`` of shape ``(nfields, B)``: the per-sample inputs, one row per symbol
  (state, costate, data),
* ``theta`` of shape ``(nparams,)`` and the depth ``t`` (scalars shared by the batch),

and writes ``out`` of shape ``(nmap, B)`` (one row per *map* expression) and
``acc`` of shape ``(nsum,)``, the batch sums of the *sum* expressions (used for
parameter gradients, so no per-sample parameter gradient is stored).

The expressions go through the package's kernel IR (validation, cse over all
outputs, power-base temporaries, hoisting of loop invariants) and its
NumPy/Numba expression printers; the module is assembled here and loaded
through the disk cache (so numba's ``cache=True`` works across processes).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import sympy as sp

from nedsym._version import __version__
from nedsym.codegen.backends import require_backend
from nedsym.codegen.ir import build_map_kernel, index_symbols
from nedsym.codegen.libm import helper_lines
from nedsym.codegen.printers import PRINTERS
from nedsym.codegen.targets import get_target
from nedsym.errors import CodegenError

__all__ = ["BatchKernel", "RowKernel", "build_batch_kernel", "build_row_kernel"]

#: serial loop over the batch: compile time grows with the (unrolled) expression size, and a
#: ``parallel=True`` parfor pass multiplies it (measured 3x on the n = 16 tanh VJP)
_JIT = 'cache=True, fastmath=False, error_model="numpy"'


class BatchKernel:
    """A compiled batch kernel; call ``kernel(yp, theta, t, out, acc)``.

    Attributes: ``backend``, ``fields`` (input rows), ``nmap``, ``nsum``, ``path``.
    """

    def __init__(self, function, source: str, path: str, backend: str, fields, nmap: int,
                 nsum: int):
        self._fn = function
        self._source = source
        self.path = path
        self.backend = backend
        self.fields = tuple(fields)
        self.nmap, self.nsum = nmap, nsum

    def source(self) -> str:
        """The generated module source."""
        return self._source

    def __call__(self, yp: np.ndarray, theta: np.ndarray, t: float, out: np.ndarray,
                 acc: np.ndarray) -> None:
        self._fn(yp, theta, float(t), out, acc)

    def __repr__(self) -> str:
        return f"<BatchKernel {len(self.fields)} fields -> {self.nmap} map, {self.nsum} sum, " \
               f"backend={self.backend}>"


def build_batch_kernel(fields: Sequence[sp.Symbol], params: Sequence[sp.Symbol],
                       time: sp.Symbol, map_exprs: Sequence[sp.Expr],
                       sum_exprs: Sequence[sp.Expr] = (), backend: str = "numpy",
                       tag: str = "batch") -> BatchKernel:
    r"""Generate, cache and load a batch kernel.

    ``fields``: the per-sample symbols (rows of ``yp``), ``params``: the shared
    parameter symbols (entries of ``theta``), ``time``: the depth symbol.
    ``map_exprs`` are evaluated per sample, ``sum_exprs`` summed over the batch.

    Example
    -------
    >>> x, w, t = sp.symbols("x w t")
    >>> k = build_batch_kernel([x], [w], t, [sp.tanh(w*x)], [x*w])
    >>> yp = np.array([[0.0, 1.0]]); out = np.empty((1, 2)); acc = np.empty(1)
    >>> k(yp, np.array([2.0]), 0.0, out, acc); float(acc[0])
    2.0
    """
    require_backend(backend)
    if backend not in ("numpy", "numba"):
        raise CodegenError(f"batch kernels are printed for numpy and numba, not {backend!r}")
    fields, params = tuple(fields), tuple(params)
    fnames, onames, qnames, exprs, used = _indexed(fields, params, time,
                                                   (*map_exprs, *sum_exprs), "per-sample")
    ir = build_map_kernel([*fnames, *onames], 0, exprs, [*qnames, "tau"], 1,
                          name=f"nsd_{tag}")
    printer = PRINTERS[backend](ir)
    nin, nmap = len(fnames), len(map_exprs)
    # only the parameters the expressions read are unpacked (a terminal cost reads none of
    # a width-64 model's 4160; unpacking them all cost numba minutes)
    qs = [k for k, q in enumerate(params) if q in used]
    src = (_numba_source if backend == "numba" else _numpy_source)(ir, printer, nin, nmap, qs)
    module = get_target(backend).load_module(src, f"nsd_{tag}", kind="batch")
    return BatchKernel(module.kernel, src, module.__file__, backend, fields, nmap,
                       len(sum_exprs))


def _indexed(fields, params, time, exprs, what: str):
    """The expressions in the kernel IR's names: field ``k`` as ``f<k>[i]``, parameter ``k``
    as ``q<k>``, the time as ``tau``. Returns ``(fnames, onames, qnames, {oname: expr},
    symbols used)``; a symbol of no role is a :class:`CodegenError`."""
    (i,) = index_symbols(1)
    fnames = [f"f{k}" for k in range(len(fields))]
    onames = [f"o{k}" for k in range(len(exprs))]
    qnames = [f"q{k}" for k in range(len(params))]
    repl = {s: sp.IndexedBase(n)[i] for s, n in zip(fields, fnames, strict=True)}
    repl.update({s: sp.Symbol(n, real=True) for s, n in zip(params, qnames, strict=True)})
    repl[time] = sp.Symbol("tau", real=True)
    allowed = set(fields) | set(params) | {time}
    out, used = {}, set()
    for name, e in zip(onames, exprs, strict=True):
        e = sp.sympify(e)
        extra = e.free_symbols - allowed
        if extra:
            raise CodegenError(f"expression {e} uses symbol(s) {sorted(map(str, extra))} that "
                               f"are neither {what} fields, parameters nor the time")
        used |= e.free_symbols
        out[name] = e.xreplace(repl)
    return fnames, onames, qnames, out, used


def _unpack(qs) -> list[str]:
    return [f"q{k} = theta[{k}]" for k in qs]


def _numpy_source(ir, printer, nin: int, nmap: int, qs) -> str:
    body = ["n0 = yp.shape[1]", *_unpack(qs)]
    for f, offs in ir.accesses:
        body.append(f"{printer.access(f, offs)} = yp[{f}, :n0]")
    body += [f"{s} = {printer.doprint_expr(e)}" for s, e in (*ir.invariants, *ir.assignments)]
    results = ir.results[nin:]
    for k, e in enumerate(results[:nmap]):
        body.append(f"out[{k}, :] = {printer.doprint_expr(e)}")
    for k, e in enumerate(results[nmap:]):
        body.append(f"acc[{k}] = np.sum(np.broadcast_to({printer.doprint_expr(e)}, (n0,)))")
    lines = [f'"""Generated by nedsym {__version__} (numpy backend): batch kernel. '
             'Do not edit."""', "import numpy as np"]
    if "_sps." in "\n".join(body):
        lines.append("import scipy.special as _sps")
    lines += ["", "", "def kernel(yp, theta, tau, out, acc):"] + ["    " + b for b in body]
    return "\n".join(lines) + "\n"


def _numba_source(ir, printer, nin: int, nmap: int, qs) -> str:
    results = ir.results[nin:]
    nsum = len(results) - nmap
    head = ["n0 = yp.shape[1]", *_unpack(qs)]
    head += [f"{s} = {printer.doprint_expr(e)}" for s, e in ir.invariants]
    head += [f"_s{k} = 0.0" for k in range(nsum)]
    point = [f"{s} = {printer.doprint_expr(e)}" for s, e in ir.assignments]
    point += [f"out[{k}, i] = {printer.doprint_expr(e)}" for k, e in enumerate(results[:nmap])]
    point += [f"_s{k} += {printer.doprint_expr(e)}" for k, e in enumerate(results[nmap:])]
    loop = ["for i in range(n0):"] + ["    " + p for p in point]
    tail = [f"acc[{k}] = _s{k}" for k in range(nsum)]
    lines = [f'"""Generated by nedsym {__version__} (numba backend): batch kernel. '
             'Do not edit."""', "import math", "", "import numpy as np",
             "from numba import njit", "", "",
             f"@njit({_JIT})", "def kernel(yp, theta, tau, out, acc):"]
    lines += ["    " + b for b in head + loop + tail]
    return "\n".join(lines) + "\n"


def _into(printer, e: sp.Expr, out: str) -> str:
    """NumPy source evaluating ``e`` into the array ``out``: the outermost operation (a
    ufunc call, a product, a sum) is given ``out=``, so no temporary is copied over. A
    ufunc of a sum or product evaluates its argument into ``out`` first
    (``np.tanh(np.add(z, b, out=o0), out=o0)``): no temporary for the argument either."""
    if isinstance(e, sp.Function) and len(e.args) == 1:
        text = printer.doprint_expr(e)
        head = text.split("(", 1)[0]
        arg = e.args[0]
        if head.startswith("np.") and isinstance(getattr(np, head[3:], None), np.ufunc) \
                and text == f"{head}({printer.doprint_expr(arg)})":
            # not a product with a division in it: np.multiply(1.0/w, z) would allocate
            # 1.0/w and round twice where z/w rounds once
            quotient = arg.is_Mul and any(f.is_Pow and f.exp.is_negative for f in arg.args)
            if (arg.is_Mul or arg.is_Add) and len(arg.args) >= 2 and not quotient:
                return f"{head}({_into(printer, arg, out)}, out={out})"
            return f"{text[:-1]}, out={out})"
    if (e.is_Mul or e.is_Add) and len(e.args) >= 2:
        op = "np.multiply" if e.is_Mul else "np.add"
        rest = e.func(*e.args[:-1], evaluate=False)
        return (f"{op}({printer.doprint_expr(rest)}, {printer.doprint_expr(e.args[-1])}, "
                f"out={out})")
    return f"{out}[...] = {printer.doprint_expr(e)}"


class RowKernel:
    """A compiled row kernel; call ``kernel(inputs, theta, t, outs)``.

    ``inputs``: one array per input symbol, shape ``(R, B)``, or ``(R, 1)`` for a
    broadcast input (a parameter vector, one value per row); ``outs``: one ``(R, B)``
    array per expression, written in place. Attributes as :class:`BatchKernel`.
    """

    def __init__(self, function, source: str, path: str, backend: str, fields, nmap: int):
        self._fn = function
        self._source = source
        self.path = path
        self.backend = backend
        self.fields = tuple(fields)
        self.nmap = nmap

    def source(self) -> str:
        """The generated module source."""
        return self._source

    def __call__(self, inputs, theta: np.ndarray, t: float, outs) -> None:
        self._fn(*inputs, theta, float(t), *outs)

    def __repr__(self) -> str:
        return f"<RowKernel {len(self.fields)} inputs -> {self.nmap} outputs, " \
               f"backend={self.backend}>"


def build_row_kernel(fields: Sequence[sp.Symbol], broadcast: Sequence[bool],
                     params: Sequence[sp.Symbol], time: sp.Symbol,
                     exprs: Sequence[sp.Expr], backend: str = "numpy",
                     tag: str = "rows") -> RowKernel:
    r"""Generate, cache and load a row kernel: the same expressions at every entry of
    ``(R, B)`` arrays (every row of a layer and every sample of a batch).

    Where :func:`build_batch_kernel` unrolls one statement per row, this kernel is one
    statement over whole arrays (NumPy) or one loop nest (Numba), whatever the width;
    an input with ``broadcast`` true is read as ``(R, 1)`` (no copy per sample).

    Example
    -------
    >>> z, b, t = sp.symbols("z b t")
    >>> k = build_row_kernel([z, b], [False, True], [], t, [sp.tanh(z + b)])
    >>> out = np.empty((2, 3))
    >>> k([np.zeros((2, 3)), np.array([[0.0], [1.0]])], np.empty(0), 0.0, [out])
    >>> round(float(out[1, 2]), 6)
    0.761594
    """
    require_backend(backend)
    if backend not in ("numpy", "numba"):
        raise CodegenError(f"row kernels are printed for numpy and numba, not {backend!r}")
    fields, params, broadcast = tuple(fields), tuple(params), tuple(bool(b) for b in broadcast)
    if len(broadcast) != len(fields):
        raise CodegenError(f"{len(fields)} fields but {len(broadcast)} broadcast flags")
    fnames, onames, qnames, out_exprs, _ = _indexed(fields, params, time, tuple(exprs), "row")
    ir = build_map_kernel([*fnames, *onames], 0, out_exprs, [*qnames, "tau"], 1,
                          name=f"nsd_{tag}")
    printer = PRINTERS[backend](ir)
    nin = len(fnames)
    args = ", ".join([f"a{k}" for k in range(nin)] + ["theta", "tau"]
                     + [f"o{k}" for k in range(len(exprs))])
    results = ir.results[nin:]
    head = _unpack(range(len(qnames)))
    if backend == "numpy":
        body = head + [f"{printer.access(f, offs)} = a{f}" for f, offs in ir.accesses]
        body += [f"{s} = {printer.doprint_expr(e)}" for s, e in ir.invariants]
        # an output that is a common subexpression is computed straight into the output
        # (and read from there); any other output's last operation writes into it
        direct = {}
        for k, e in enumerate(results):
            if isinstance(e, sp.Symbol) and e not in direct:
                direct[e] = k
        defined = {s for s, _ in ir.assignments}
        for sym, e in ir.assignments:
            k = direct.get(sym)
            body.append(f"{sym} = " + (_into(printer, e, f"o{k}") if k is not None
                                       else printer.doprint_expr(e)))
        for k, e in enumerate(results):
            if direct.get(e) == k and e in defined:
                continue
            body.append(_into(printer, e, f"o{k}"))
        lines = [f'"""Generated by nedsym {__version__} (numpy backend): row kernel. '
                 'Do not edit."""', "import numpy as np"]
        if "_sps." in "\n".join(body):
            lines.append("import scipy.special as _sps")
        lines += ["", "", f"def kernel({args}):"] + ["    " + b for b in body]
    else:
        read = {f: f"a{f}[r_, 0]" if broadcast[f] else f"a{f}[r_, i]" for f in range(nin)}

        class _Rows(type(printer)):
            function_names = {**type(printer).function_names, "tanh": "_nsd_tanh"}

            def access(self, field, offsets):
                return read[field]

        printer = _Rows(ir)
        head += [f"{s} = {printer.doprint_expr(e)}" for s, e in ir.invariants]
        point = [f"{s} = {printer.doprint_expr(e)}" for s, e in ir.assignments]
        point += [f"o{k}[r_, i] = {printer.doprint_expr(e)}" for k, e in enumerate(results)]
        loop = ["for r_ in range(o0.shape[0]):", "    for i in range(o0.shape[1]):"]
        loop += ["        " + p for p in point]
        lines = [f'"""Generated by nedsym {__version__} (numba backend): row kernel. '
                 'Do not edit."""', "import math", "", "import numpy as np",
                 "from numba import njit", "", ""]
        lines += helper_lines(head + point)
        lines += [f"@njit({_JIT})", f"def kernel({args}):"]
        lines += ["    " + b for b in head + loop]
    src = "\n".join(lines) + "\n"
    module = get_target(backend).load_module(src, f"nsd_{tag}", kind="batch")
    return RowKernel(module.kernel, src, module.__file__, backend, fields, len(exprs))
