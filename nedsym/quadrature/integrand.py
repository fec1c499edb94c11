r"""Sympy integrands compiled once to a numba pointwise kernel and a weighted reduction.

A sympy expression :math:`f(x; p)` in coordinate symbols (and optionally outward-normal
components and parameters) is common-subexpression-eliminated, printed by a small
scalar printer and compiled with ``numba.njit(parallel=True)`` into two kernels:

* ``values(X, NRM, P, out)``: :math:`\mathrm{out}_i = f(x_i)`;
* ``moments(X, NRM, P, W, c)``: :math:`(\sum_i z_i, \sum_i z_i^2)`, :math:`z_i = w_i f(x_i) - c`,
  which gives the quadrature sum :math:`\sum_i w_i f(x_i)` and its sample variance in one
  pass (the shift :math:`c` avoids cancellation).

Kernels are cached in-process by a hash of the expression, coordinates, normals and
parameter names, so each integrand compiles once; parameters are kernel arguments, so
changing their values never recompiles. Nothing is ``lambdify``'d per call.

This is a stop-gap: once ``nedsym.codegen`` (kernel IR, per-backend printers, on-disk
cache) exists, this module will move onto it and keep only :func:`compile_integrand`'s
interface.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import sympy as sp
from sympy.printing.codeprinter import PrintMethodNotImplementedError
from sympy.printing.pycode import PythonCodePrinter

from nedsym.errors import QuadratureError

_CACHE: dict[str, CompiledIntegrand] = {}


class _ScalarPrinter(PythonCodePrinter):
    """Prints one scalar expression as numba-compatible Python (``math`` module calls)."""

    def __init__(self) -> None:
        super().__init__({"fully_qualified_modules": True, "strict": True})

    def _print_Rational(self, expr):  # keep rationals as float literals
        return repr(float(expr))


def _natural_key(sym: sp.Symbol):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", sym.name)]


def default_coord_names(dim: int) -> list[str]:
    """``x, y, z`` for :math:`d \\le 3`, else ``x0, …, x{d-1}``."""
    return ["x", "y", "z"][:dim] if dim <= 3 else [f"x{j}" for j in range(dim)]


def resolve_coords(
    expr: sp.Expr,
    dim: int,
    coords: str | Sequence[sp.Symbol] | None = None,
    params: Iterable[sp.Symbol] = (),
) -> tuple[sp.Symbol, ...]:
    """The coordinate symbols of ``expr`` on a ``dim``-dimensional domain.

    ``coords`` given (a string ``"x y"`` or symbols): used as is, and must have ``dim``
    entries. ``coords=None``: the free symbols that are not parameters, sorted by name
    (natural order: ``x2`` before ``x10``), if there are exactly ``dim`` of them; if there
    are fewer, they must be among :func:`default_coord_names` and those names are used.

    Example
    -------
    >>> x, y = sp.symbols("x y")
    >>> resolve_coords(x * y, 2)
    (x, y)
    """
    if coords is not None:
        cs = tuple(sp.symbols(coords)) if isinstance(coords, str) else tuple(coords)
        if len(cs) != dim:
            raise QuadratureError(
                f"dimension mismatch: coords {cs} have {len(cs)} entries but "
                f"the domain is {dim}-dimensional"
            )
        return cs
    free = sorted(expr.free_symbols - set(params), key=_natural_key)
    if len(free) == dim:
        return tuple(free)
    names = default_coord_names(dim)
    by_name = {s.name: s for s in free}
    if len(free) < dim and set(by_name) <= set(names):
        return tuple(by_name.get(nm, sp.Symbol(nm)) for nm in names)
    raise QuadratureError(
        f"dimension mismatch: the integrand has free symbols {tuple(free)} "
        f"({len(free)}) but the domain is {dim}-dimensional; pass coords=... "
        f"(and params={{symbol: value}} for the others)"
    )


@dataclass
class CompiledIntegrand:
    """A compiled integrand; call :meth:`values` or :meth:`moments`. ``source``: generated code."""

    expr: sp.Expr
    coords: tuple[sp.Symbol, ...]
    normals: tuple[sp.Symbol, ...]
    params: tuple[sp.Symbol, ...]
    source: str
    _values: object = field(repr=False)
    _moments: object = field(repr=False)

    def _args(self, x, normals, params):
        x = np.ascontiguousarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != len(self.coords):
            raise QuadratureError(
                f"dimension mismatch: points have shape {x.shape} but the "
                f"integrand has {len(self.coords)} coordinates {self.coords}"
            )
        if self.normals:
            if normals is None:
                raise QuadratureError(
                    "this integrand uses outward normals; integrate it over a "
                    "boundary (domain.boundary())"
                )
            nrm = np.ascontiguousarray(normals, dtype=np.float64)
        else:
            nrm = np.zeros((0, x.shape[1]))
        p = np.array([float(params[s]) for s in self.params]) if self.params else np.zeros(0)
        return x, nrm, p

    def values(
        self,
        x: np.ndarray,
        normals: np.ndarray | None = None,
        params: Mapping[sp.Symbol, float] | None = None,
    ) -> np.ndarray:
        """Pointwise values :math:`f(x_i)`, shape ``(n,)``."""
        x, nrm, p = self._args(x, normals, params or {})
        out = np.empty(x.shape[0])
        self._values(x, nrm, p, out)
        return out

    def moments(
        self,
        x: np.ndarray,
        w: np.ndarray,
        normals: np.ndarray | None = None,
        params: Mapping[sp.Symbol, float] | None = None,
        shift: float = 0.0,
    ) -> tuple[float, float]:
        r""":math:`(\sum_i (w_i f_i - c), \sum_i (w_i f_i - c)^2)` with shift ``c``."""
        x, nrm, p = self._args(x, normals, params or {})
        s1, s2 = self._moments(x, nrm, p, np.ascontiguousarray(w, dtype=np.float64), float(shift))
        return float(s1), float(s2)


def _generate_source(expr: sp.Expr, coords, normals, params) -> str:
    names = {s: sp.Symbol(f"_c{j}") for j, s in enumerate(coords)}
    names.update({s: sp.Symbol(f"_n{j}") for j, s in enumerate(normals)})
    names.update({s: sp.Symbol(f"_p{j}") for j, s in enumerate(params)})
    body_expr = sp.sympify(expr).xreplace(names)
    temps, (reduced,) = sp.cse(body_expr, symbols=sp.numbered_symbols("_t"))
    printer = _ScalarPrinter()
    try:
        lines = [f"{printer.doprint(t)} = {printer.doprint(e)}" for t, e in temps]
        final = printer.doprint(reduced)
    except PrintMethodNotImplementedError as err:
        raise QuadratureError(f"cannot compile integrand {expr}: {err}".splitlines()[0]) from None
    load = [f"_c{j} = X[i, {j}]" for j in range(len(coords))]
    load += [f"_n{j} = NRM[i, {j}]" for j in range(len(normals))]
    hoist = [f"_p{j} = P[{j}]" for j in range(len(params))]

    def kernel(head: str, tail: list[str], pre: list[str], ret: list[str]) -> str:
        ind = "        "
        out = [head] + ["    " + h for h in hoist + pre]
        out.append("    for i in prange(X.shape[0]):")
        out += [ind + s for s in load + lines + tail]
        out += ["    " + r for r in ret]
        return "\n".join(out)

    values = kernel("def values(X, NRM, P, out):", [f"out[i] = {final}"], [], [])
    moments = kernel(
        "def moments(X, NRM, P, W, shift):",
        [f"_z = W[i] * ({final}) - shift", "s1 += _z", "s2 += _z * _z"],
        ["s1 = 0.0", "s2 = 0.0"],
        ["return s1, s2"],
    )
    return (
        f"# generated by nedsym.quadrature.integrand for: {expr}\n"
        "import math\nfrom numba import njit, prange\n\n\n"
        f"@njit(parallel=True)\n{values}\n\n\n@njit(parallel=True)\n{moments}\n"
    )


def compile_integrand(
    expr: sp.Expr,
    coords: Sequence[sp.Symbol],
    params: Sequence[sp.Symbol] = (),
    normals: Sequence[sp.Symbol] = (),
) -> CompiledIntegrand:
    r"""Compile ``expr`` (once per process) to numba kernels; see the module docstring.

    ``coords``: the coordinate symbols, in the column order of the points; ``normals``:
    symbols standing for the outward normal components; ``params``: symbols whose
    values are passed at call time.

    Example
    -------
    >>> x, y = sp.symbols("x y")
    >>> k = compile_integrand(x * y, (x, y))
    >>> k.values(np.array([[2.0, 3.0]])).tolist()
    [6.0]
    """
    expr = sp.sympify(expr)
    coords, params, normals = tuple(coords), tuple(params), tuple(normals)
    extra = expr.free_symbols - set(coords) - set(params) - set(normals)
    if extra:
        raise QuadratureError(
            f"integrand {expr} has symbols {sorted(map(str, extra))} that are neither coordinates "
            f"{coords} nor parameters; pass params={{symbol: value}} or coords=..."
        )
    key = hashlib.sha1(
        repr(
            (sp.srepr(expr), [sp.srepr(s) for s in coords + normals + params], len(normals))
        ).encode()
    ).hexdigest()
    if key not in _CACHE:
        src = _generate_source(expr, coords, normals, params)
        namespace: dict = {}
        exec(compile(src, f"<nedsym-integrand-{key[:12]}>", "exec"), namespace)
        _CACHE[key] = CompiledIntegrand(
            expr, coords, normals, params, src, namespace["values"], namespace["moments"]
        )
    return _CACHE[key]


def cache_size() -> int:
    """Number of integrands compiled in this process."""
    return len(_CACHE)
