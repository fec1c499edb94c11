"""The kernel IR: a small, language-neutral description of one stencil operation.

A kernel reads a padded state ``yp`` of shape ``(nfields, n_0 + 2*halo, ...)``
(interior at ``halo:-halo`` on every spatial axis, field ``f`` at ``yp[f]``)
and either

* **maps** it to ``out`` of shape ``(nfields, n_0, ...)`` (one expression per
  field, evaluated at every interior point), or
* **reduces** one pointwise expression by a sum over the interior (a discrete
  energy or residual norm; the caller multiplies by the cell volume).

Expressions are sympy expressions at a *generic* interior point: a grid access
is ``Indexed(IndexedBase(field), i + a, j + b)`` with ``i, j, k =
index_symbols(ndim)`` and integer offsets ``|a| <= halo``. Other allowed symbols
are the kernel's scalar arguments and the cell-centre coordinates
``x0, x1, x2`` (:func:`coordinate_symbols`), :math:`x_k = lo_k + (i_k + 1/2) h_k`
with ``lo<k>`` and ``h<k>`` passed as scalars. ``Mean(expr)`` is the interior
mean of ``expr``, computed by a reduction pass before the map.

Building an IR validates the expressions, runs common-subexpression
elimination over all outputs together, gives every non-atomic integer-power
base its own temporary (so printers can expand powers to products) and
hoists loop-invariant temporaries out of the point loop.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import sympy as sp
from sympy.logic.boolalg import BooleanFalse, BooleanTrue

from nedsym.codegen.passes import optimize
from nedsym.errors import CodegenError

__all__ = [
    "HALO_RULES",
    "HALO_SPEC",
    "HaloRule",
    "HaloSpec",
    "KernelIR",
    "Mean",
    "build_map_kernel",
    "build_reduce_kernel",
    "coordinate_symbols",
    "index_symbols",
    "SUPPORTED_FUNCTIONS",
]

_INDEX_NAMES = ("i", "j", "k")
#: names of the sympy functions every printer knows how to print
SUPPORTED_FUNCTIONS = frozenset({
    "exp", "log", "sqrt", "sin", "cos", "tan", "asin", "acos", "atan", "atan2",
    "sinh", "cosh", "tanh", "asinh", "acosh", "atanh", "erf", "Abs", "sign",
    "Max", "Min", "floor", "ceiling", "Mod", "Piecewise", "Heaviside",
})
_ALLOWED_NODES = (
    sp.Add, sp.Mul, sp.Pow, sp.Symbol, sp.Number, sp.NumberSymbol, sp.Indexed,
    sp.IndexedBase, sp.Tuple, sp.core.relational.Relational, sp.logic.boolalg.And,
    sp.logic.boolalg.Or, sp.logic.boolalg.Not, BooleanTrue, BooleanFalse,
    sp.functions.elementary.piecewise.ExprCondPair, sp.Max, sp.Min,
)


class Mean(sp.Function):
    r"""Spatial mean of an expression over the interior, :math:`\frac{1}{N}\sum_p e(p)`.

    Example
    -------
    >>> i, = index_symbols(1)
    >>> u = sp.IndexedBase("u")
    >>> Mean(u[i])
    Mean(u[i])
    """

    nargs = 1


def index_symbols(ndim: int) -> tuple[sp.Symbol, ...]:
    """The integer symbols ``i, j, k`` naming a generic interior point (0-based).

    Example
    -------
    >>> i, j = index_symbols(2)
    >>> sp.IndexedBase("u")[i + 1, j]
    u[i + 1, j]
    """
    _check_ndim(ndim)
    return tuple(sp.Symbol(n, integer=True) for n in _INDEX_NAMES[:ndim])


def coordinate_symbols(ndim: int) -> tuple[sp.Symbol, ...]:
    """The cell-centre coordinate symbols ``x0, x1, x2`` usable in kernel expressions.

    :math:`x_k = lo_k + (i_k + 1/2)\\,h_k`; a kernel using ``x<k>`` needs scalars
    ``lo<k>`` and ``h<k>``.

    Example
    -------
    >>> coordinate_symbols(2)
    (x0, x1)
    """
    _check_ndim(ndim)
    return tuple(sp.Symbol(f"x{k}", real=True) for k in range(ndim))


def _check_ndim(ndim: int) -> None:
    if ndim not in (1, 2, 3):
        raise CodegenError(f"ndim must be 1, 2 or 3, got {ndim!r}")




@dataclass(frozen=True)
class KernelIR:
    """One stencil kernel, validated and cse'd; printed by the backend printers.

    Attributes
    ----------
    name: unique kernel name (``nsk_<kind>_<hash>``).
    kind: ``"map"`` or ``"reduce"``.
    ndim, fields, halo, scalars: see the module docstring; scalars are the
        kernel's trailing arguments, in this order.
    outputs: the validated input expressions, ``(field, expr)`` per field for a
        map (missing fields get ``0``), ``(("sum", expr),)`` for a reduce.
    means: ``(symbol, expr)`` interior means computed before the point loop.
    invariants: temporaries that depend only on scalars and means.
    assignments: pointwise temporaries, in evaluation order.
    results: one expression per field (map) or one (reduce), in temporaries.
    coords: the coordinate axes ``k`` whose ``x<k>`` is used.
    accesses: sorted distinct ``(field index, offsets)`` read by the kernel.
    """

    name: str
    kind: str
    ndim: int
    fields: tuple[str, ...]
    halo: int
    scalars: tuple[str, ...]
    outputs: tuple[tuple[str, sp.Expr], ...]
    means: tuple[tuple[sp.Symbol, sp.Expr], ...]
    invariants: tuple[tuple[sp.Symbol, sp.Expr], ...]
    assignments: tuple[tuple[sp.Symbol, sp.Expr], ...]
    results: tuple[sp.Expr, ...]
    coords: tuple[int, ...]
    accesses: tuple[tuple[int, tuple[int, ...]], ...]

    def field_index(self, name: str) -> int:
        """Position of field ``name`` in ``yp``."""
        return self.fields.index(name)

    def access_offsets(self, node: sp.Indexed) -> tuple[int, tuple[int, ...]]:
        """``(field index, offsets)`` of a validated grid access ``u[i + a, j + b]``."""
        idx = index_symbols(self.ndim)
        offsets = tuple(int(sp.expand(e.xreplace(_by_name(e, idx)) - s))
                        for e, s in zip(node.indices, idx, strict=True))
        return self.field_index(str(node.base.label)), offsets

    def pretty(self) -> str:
        """A readable listing of the kernel (what ``sim.kernel_ir`` shows).

        Example
        -------
        >>> (i,) = index_symbols(1)
        >>> u = sp.IndexedBase("u")
        >>> ir = build_map_kernel(["u"], 1, {"u": u[i - 1] - 2*u[i] + u[i + 1]}, ["h0"], 1)
        >>> print(ir.pretty().splitlines()[0])  # doctest: +ELLIPSIS
        kernel nsk_map_... (map, 1-D, halo=1)
        """
        idx = ", ".join(_INDEX_NAMES[: self.ndim])
        lines = [
            f"kernel {self.name} ({self.kind}, {self.ndim}-D, halo={self.halo})",
            f"  fields : {', '.join(self.fields)}   (yp[f, {idx}] at interior point + halo)",
            f"  scalars: {', '.join(self.scalars) or '-'}",
        ]
        for s, e in self.means:
            lines.append(f"  {s} = Mean({e})")
        for k in self.coords:
            lines.append(f"  x{k} = lo{k} + ({_INDEX_NAMES[k]} + 1/2)*h{k}")
        for s, e in self.invariants:
            lines.append(f"  {s} = {e}")
        lines.append(f"  for ({idx}) in interior:")
        for s, e in self.assignments:
            lines.append(f"    {s} = {e}")
        if self.kind == "map":
            for f, e in zip(self.fields, self.results, strict=True):
                lines.append(f"    out[{f}] = {e}")
        else:
            lines.append(f"    total += {self.results[0]}")
            lines.append("  return total")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.pretty()


def build_map_kernel(fields: Iterable[str], halo: int, exprs: Mapping[str, sp.Expr],
                     scalars: Iterable[str], ndim: int, name: str | None = None) -> KernelIR:
    """Build a map kernel ``out[f] = exprs[f]`` at every interior point.

    Fields absent from ``exprs`` get ``out[f] = 0``.

    Example
    -------
    >>> i, j = index_symbols(2)
    >>> u = sp.IndexedBase("u")
    >>> eps, h0, h1 = sp.symbols("eps h0 h1")
    >>> lap = (u[i-1, j] - 2*u[i, j] + u[i+1, j])/h0**2 + (u[i, j-1] - 2*u[i, j] + u[i, j+1])/h1**2
    >>> ir = build_map_kernel(["u"], 1, {"u": eps**2*lap + u[i, j] - u[i, j]**3},
    ...                       ["eps", "h0", "h1"], 2)
    >>> ir.kind, ir.fields
    ('map', ('u',))
    """
    fields = _check_fields(fields)
    unknown = [str(f) for f in exprs if str(f) not in fields]
    if unknown:
        raise CodegenError(f"outputs for unknown field(s) {unknown}; fields are {list(fields)}")
    by_field = {str(f): sp.sympify(e) for f, e in exprs.items()}
    outputs = tuple((f, by_field.get(f, sp.Integer(0))) for f in fields)
    return _build("map", fields, halo, outputs, scalars, ndim, name)


def build_reduce_kernel(fields: Iterable[str], halo: int, expr: sp.Expr,
                        scalars: Iterable[str], ndim: int, name: str | None = None) -> KernelIR:
    r"""Build a reduce kernel returning :math:`\sum_{p \in \text{interior}} e(p)`.

    The sum is not multiplied by the cell volume; the caller does that.

    Example
    -------
    >>> (i,) = index_symbols(1)
    >>> u = sp.IndexedBase("u")
    >>> ir = build_reduce_kernel(["u"], 1, (u[i + 1] - u[i])**2, ["h0"], 1)
    >>> ir.kind
    'reduce'
    """
    fields = _check_fields(fields)
    return _build("reduce", fields, halo, (("sum", sp.sympify(expr)),), scalars, ndim, name)


def _check_fields(fields: Iterable[str]) -> tuple[str, ...]:
    fields = tuple(str(f) for f in fields)
    if not fields:
        raise CodegenError("a kernel needs at least one field")
    if len(set(fields)) != len(fields):
        raise CodegenError(f"duplicate field names in {list(fields)}")
    for f in fields:
        if not f.isidentifier():
            raise CodegenError(f"field name {f!r} is not a valid identifier")
    return fields


def _build(kind, fields, halo, outputs, scalars, ndim, name) -> KernelIR:
    _check_ndim(ndim)
    if not isinstance(halo, int) or halo < 0:
        raise CodegenError(f"halo must be a non-negative int, got {halo!r}")
    scalars = tuple(str(s) for s in scalars)
    reserved = {f"x{k}" for k in range(3)} | set(_INDEX_NAMES) | set(fields)
    for s in scalars:
        if not s.isidentifier() or s in reserved:
            raise CodegenError(f"scalar name {s!r} is not allowed (must be an identifier "
                               f"other than {sorted(reserved)})")
    if len(set(scalars)) != len(scalars):
        raise CodegenError(f"duplicate scalar names in {list(scalars)}")
    checker = _Checker(fields, halo, scalars, ndim)
    exprs = [checker.check(e, where) for where, e in outputs]
    outputs = tuple((w, e) for (w, _), e in zip(outputs, exprs, strict=True))
    exprs, means = _extract_means(exprs, scalars, checker)
    coords = tuple(sorted(checker.coords))
    invariants, assignments, results = optimize(exprs, scalars, fields, means)
    accesses = sorted(checker.accesses)
    if name is None:
        digest = hashlib.sha1(repr((kind, ndim, fields, halo, scalars,
                                    [str(e) for _, e in outputs])).encode()).hexdigest()
        name = f"nsk_{kind}_{digest[:12]}"
    if not name.isidentifier() or name == "step":
        raise CodegenError(f"kernel name {name!r} must be an identifier other than 'step'")
    return KernelIR(name, kind, ndim, fields, halo, scalars, outputs, tuple(means),
                    tuple(invariants), tuple(assignments), tuple(results), coords,
                    tuple(accesses))


def _by_name(expr: sp.Expr, symbols: Iterable[sp.Symbol]) -> dict:
    """Map symbols of ``expr`` to the canonical ones with the same name."""
    names = {s.name: s for s in symbols}
    return {s: names[s.name] for s in expr.free_symbols
            if isinstance(s, sp.Symbol) and s.name in names and s != names[s.name]}


class _Checker:
    """Validates expressions and records what they use."""

    def __init__(self, fields, halo, scalars, ndim):
        self.fields, self.halo, self.scalars, self.ndim = fields, halo, scalars, ndim
        self.index = index_symbols(ndim)
        self.coord_names = {f"x{k}": k for k in range(ndim)}
        self.coords: set[int] = set()
        self.accesses: set[tuple[int, tuple[int, ...]]] = set()
        # built once: a kernel may have thousands of scalars and hundreds of outputs
        self._canon = {s.name: s for s in (*self.index, *coordinate_symbols(ndim))}
        self._canon.update({n: sp.Symbol(n, real=True) for n in scalars})

    def check(self, expr, where: str, inside_mean: bool = False) -> sp.Expr:
        canon = self._canon
        repl = {s: canon[s.name] for s in expr.free_symbols
                if isinstance(s, sp.Symbol) and s.name in canon and s != canon[s.name]}
        expr = expr.xreplace(repl) if repl else expr
        self._walk(expr, where, inside_mean)
        return expr

    def _walk(self, node, where, inside_mean):
        stack = [node]
        while stack:
            e = stack.pop()
            if isinstance(e, sp.Indexed):
                self._check_access(e, where)
                continue
            if isinstance(e, Mean):
                if inside_mean:
                    raise CodegenError(f"nested Mean(...) in the output for {where!r}")
                self._walk(e.args[0], where, True)
                continue
            if isinstance(e, sp.Symbol):
                self._check_symbol(e, where)
                continue
            if isinstance(e, sp.Function):
                fname = type(e).__name__
                if fname not in SUPPORTED_FUNCTIONS:
                    raise CodegenError(
                        f"function {fname!r} in the output for {where!r} cannot be printed; "
                        f"supported: {sorted(SUPPORTED_FUNCTIONS)}")
            elif not isinstance(e, _ALLOWED_NODES):
                raise CodegenError(f"unsupported node {type(e).__name__} ({e}) in the output "
                                   f"for {where!r}")
            stack.extend(e.args)

    def _check_symbol(self, s, where):
        if s.name in self.scalars:
            return
        if s.name in self.coord_names:
            k = self.coord_names[s.name]
            missing = [n for n in (f"lo{k}", f"h{k}") if n not in self.scalars]
            if missing:
                raise CodegenError(f"coordinate {s.name} used in the output for {where!r} "
                                   f"needs scalar(s) {missing}")
            self.coords.add(k)
            return
        if s.name in _INDEX_NAMES:
            raise CodegenError(f"index symbol {s.name!r} used outside a grid access in the "
                               f"output for {where!r}")
        raise CodegenError(f"unknown symbol {s.name!r} in the output for {where!r}; "
                           f"scalars are {list(self.scalars)}, fields {list(self.fields)}")

    def _check_access(self, e, where):
        field = str(e.base.label)
        if field not in self.fields:
            raise CodegenError(f"unknown field {field!r} accessed as {e} in the output for "
                               f"{where!r}; fields are {list(self.fields)}")
        if len(e.indices) != self.ndim:
            raise CodegenError(f"access {e} has {len(e.indices)} indices, kernel is "
                               f"{self.ndim}-D")
        offsets = []
        for d, (ix, s) in enumerate(zip(e.indices, self.index, strict=True)):
            off = sp.expand(ix - s)
            if not off.is_Integer:
                raise CodegenError(f"index {ix} of {e} on axis {d} must be "
                                   f"{s.name} + integer offset")
            if abs(int(off)) > self.halo:
                raise CodegenError(f"offset {int(off)} in {e} exceeds halo={self.halo}")
            offsets.append(int(off))
        self.accesses.add((self.fields.index(field), tuple(offsets)))


def _extract_means(exprs, scalars, checker):
    """Replace each distinct ``Mean(e)`` by a symbol ``mean_<n>`` computed up front."""
    found: dict[sp.Expr, sp.Symbol] = {}
    taken = set(scalars)
    n = 0
    for e in exprs:
        for m in sorted(e.atoms(Mean), key=sp.default_sort_key):
            if m not in found:
                while f"mean_{n}" in taken:
                    n += 1
                found[m] = sp.Symbol(f"mean_{n}", real=True)
                n += 1
    exprs = [e.xreplace(found) for e in exprs]
    return exprs, [(s, m.args[0]) for m, s in found.items()]


# -- ghost cells -----------------------------------------------------------------------------
#: the symbols a ghost rule is written in: the value of its source cell, the ghost layer
#: (0 touches the boundary face) and the side's datum (``value``, ``flux * h`` for Neumann)
HALO_SOURCE, HALO_LAYER, HALO_DATUM = sp.symbols("source layer datum")


@dataclass(frozen=True)
class HaloRule:
    """How one kind of side fills its ghost cells: the single statement of a boundary rule.

    ``code`` is the kind code boundary tables store; ``source`` says which interior cell the
    ghost in layer ``k`` reads (``"wrap"``: the cell one period away, ``"mirror"``: its
    reflection in the boundary face); ``ghost`` is the ghost value as a sympy expression in
    :data:`HALO_SOURCE`, :data:`HALO_LAYER` and :data:`HALO_DATUM`. Every target prints its
    ghost-cell kernel from these rules (:class:`HaloSpec`), and the NumPy reference evaluates
    them (:meth:`evaluate`).
    """

    code: int
    name: str
    source: str
    ghost: sp.Expr

    def evaluate(self, source, layer, datum):
        """The ghost value for array (NumPy or CuPy) or scalar arguments."""
        return _halo_function(self.ghost)(source, layer, datum)


@functools.cache
def _halo_function(expr: sp.Expr):
    # plain arithmetic in the three symbols: works on NumPy and CuPy arrays alike
    return sp.lambdify((HALO_SOURCE, HALO_LAYER, HALO_DATUM), expr, modules=[{}, "math"])


#: the boundary kinds of cell-centred grids (see :mod:`nedsym.codegen.halo` for the contract)
HALO_RULES = (
    HaloRule(0, "periodic", "wrap", HALO_SOURCE),
    HaloRule(1, "even", "mirror", HALO_SOURCE + (2 * HALO_LAYER + 1) * HALO_DATUM),
    HaloRule(2, "odd", "mirror", 2 * HALO_DATUM - HALO_SOURCE),
)


@dataclass(frozen=True)
class HaloSpec:
    """The ghost-cell part of the IR: the rules a grid's boundary tables refer to by code.

    Built by the grid side (:attr:`nedsym.discretize.halo.BoundaryData.spec`) and printed by
    each target (:meth:`nedsym.codegen.targets.base.Target.halo_source`); the kind and value
    tables themselves are runtime arguments, so one compiled filler serves every grid.

    Example
    -------
    >>> spec = HaloSpec()
    >>> [(r.code, r.name, r.source) for r in spec.rules]
    [(0, 'periodic', 'wrap'), (1, 'even', 'mirror'), (2, 'odd', 'mirror')]
    >>> spec.rule(2).evaluate(3.0, 0, 1.0)
    -1.0
    """

    rules: tuple[HaloRule, ...] = HALO_RULES

    def rule(self, code: int) -> HaloRule:
        """The rule of kind ``code`` (a clear error for an unknown code)."""
        for r in self.rules:
            if r.code == code:
                return r
        valid = ", ".join(f"{r.name.upper()}={r.code}" for r in self.rules)
        raise CodegenError(f"unknown halo kind {code}; valid kinds are {valid}")

    def branches(self, print_expr):
        """``(code, "wrap"|"mirror", printed ghost)`` per rule; the ghost is printed by
        ``print_expr`` in the names ``source``, ``layer`` and ``datum``, which the generated
        kernel defines as locals."""
        return [(r.code, r.source, print_expr(r.ghost)) for r in self.rules]

    def key(self) -> str:
        """A short text that changes when a rule changes (part of generated sources)."""
        return "; ".join(f"{r.code} {r.name} {r.source}: {r.ghost}" for r in self.rules)


#: the spec every grid uses (the rules of :data:`HALO_RULES`)
HALO_SPEC = HaloSpec()
