"""Declarations: coordinates, fields and parameters.

A field is a plain sympy *applied undefined function* such as ``u(x, y)``, so
every sympy operation (``diff``, ``subs``, printing) works on it unchanged. A
vector field is an immutable column matrix of such components. A parameter is
a sympy symbol that carries a default value.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import sympy as sp
from sympy.core.function import AppliedUndef

from nedsym.errors import DeclarationError

__all__ = [
    "coords",
    "Field",
    "Param",
    "is_field",
    "field_name",
    "field_components",
    "fields_in",
    "params_in",
]


def coords(names: str | Sequence[str]) -> tuple[sp.Symbol, ...]:
    """Declare real spatial coordinates.

    Example
    -------
    >>> x, y = coords("x y")
    """
    if isinstance(names, str):
        parts = names.replace(",", " ").split()
    else:
        parts = list(names)
    if not parts:
        raise DeclarationError("coords() needs at least one coordinate name, e.g. coords('x y')")
    for name in parts:
        if not isinstance(name, str) or not name.isidentifier():
            raise DeclarationError(f"coordinate name {name!r} is not a valid identifier")
    if len(set(parts)) != len(parts):
        raise DeclarationError(f"coordinate names repeat: {parts}")
    return tuple(sp.Symbol(n, real=True) for n in parts)


class Field:
    """Declare a scalar or vector field over coordinates.

    ``Field("u", (x, y))`` returns the sympy expression ``u(x, y)``;
    ``Field("u", (x, y), shape=(2,))`` returns the column matrix
    ``[u_0(x, y), u_1(x, y)]``. The returned objects are ordinary sympy
    expressions: this class is only a constructor.

    Example
    -------
    >>> x, y = coords("x y")
    >>> u = Field("u", (x, y))
    >>> u.diff(x)
    Derivative(u(x, y), x)
    """

    def __new__(cls, name: str, args: Sequence[sp.Symbol] | sp.Symbol,
                shape: tuple[int, ...] | int = ()):
        if not isinstance(name, str) or not name.isidentifier():
            raise DeclarationError(f"field name {name!r} is not a valid identifier")
        if isinstance(args, sp.Basic):
            args = (args,)
        args = tuple(args)
        if not args:
            raise DeclarationError(f"field {name!r} needs at least one coordinate argument")
        for a in args:
            if not isinstance(a, sp.Symbol):
                raise DeclarationError(
                    f"field {name!r}: argument {a!r} is not a coordinate symbol; "
                    "declare coordinates with nedsym.coords('x y')")
        if len(set(args)) != len(args):
            raise DeclarationError(f"field {name!r}: repeated coordinate in {args}")
        if isinstance(shape, int):
            shape = (shape,)
        shape = tuple(shape)
        if not shape:
            return sp.Function(name, real=True)(*args)
        if len(shape) != 1 or shape[0] < 1:
            raise DeclarationError(
                f"field {name!r}: shape {shape} not supported; use () for a scalar "
                "or (n,) for a vector field")
        comps = [sp.Function(f"{name}_{k}", real=True)(*args) for k in range(shape[0])]
        return sp.ImmutableMatrix(comps)


class Param(sp.Symbol):
    """A named real parameter with a default value.

    Two ``Param`` objects with the same name and default are the same symbol; the default
    is part of the symbol (and is collected by :class:`nedsym.Energy`), so parameters of
    the same name with different defaults never take each other's values.

    Example
    -------
    >>> eps = Param("eps", 0.05)
    >>> eps.default
    0.05
    """

    default: float | None

    def __new__(cls, name: str, default: float | None = None, **assumptions):
        if not isinstance(name, str) or not name.isidentifier():
            raise DeclarationError(f"parameter name {name!r} is not a valid identifier")
        assumptions.setdefault("real", True)
        obj = sp.Symbol.__xnew__(cls, name, **assumptions)
        if default is not None:
            default = parameter_value(name, default)
        obj.default = default
        return obj

    def __getnewargs_ex__(self):
        return ((self.name, self.default), self.assumptions0)

    def _hashable_content(self):
        # the default is part of the symbol: sympy caches expressions by equality, so a
        # Param("eps", 0.2) equal to an earlier Param("eps", 0.05) would come back out of a
        # cached product still carrying 0.05
        return (*super()._hashable_content(), self.default)


def parameter_value(name: str, value) -> float:
    """``value`` as a finite float, or a :class:`DeclarationError` naming the parameter."""
    import math

    if isinstance(value, bool):
        raise DeclarationError(f"parameter {name!r}: {value!r} is not a number")
    try:
        out = float(value)
    except (TypeError, ValueError, OverflowError):
        raise DeclarationError(f"parameter {name!r}: {value!r} is not a number") from None
    if not math.isfinite(out):
        raise DeclarationError(f"parameter {name!r} must be finite, got {value!r}")
    return out


def is_field(expr) -> bool:
    """True for a scalar field (an applied undefined function)."""
    return isinstance(expr, AppliedUndef)


def field_name(f: AppliedUndef) -> str:
    """The name of a scalar field (component) ``u(x, y)`` → ``"u"``."""
    return f.func.__name__


def field_components(f) -> list[AppliedUndef]:
    """Scalar components of a field (itself for a scalar, entries for a vector)."""
    if isinstance(f, sp.MatrixBase):
        comps = list(f)
    else:
        comps = [f]
    for c in comps:
        if not is_field(c):
            raise DeclarationError(
                f"{c!r} is not a field; declare fields with nedsym.Field('u', (x, y))")
    return comps


def fields_in(expr) -> set[AppliedUndef]:
    """All scalar fields occurring in an expression (or matrix)."""
    if isinstance(expr, sp.MatrixBase):
        out: set[AppliedUndef] = set()
        for e in expr:
            out |= fields_in(e)
        return out
    return set(sp.sympify(expr).atoms(AppliedUndef))


def params_in(expr) -> dict[sp.Symbol, float | None]:
    """Parameters (:class:`Param`) occurring in an expression, with their defaults."""
    items: Iterable = expr if isinstance(expr, sp.MatrixBase) else [expr]
    out: dict[sp.Symbol, float | None] = {}
    for e in items:
        for s in sp.sympify(e).free_symbols:
            if isinstance(s, Param):
                out[s] = s.default
    return out
