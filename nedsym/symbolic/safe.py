"""The one door through which user values become sympy expressions.

``sympy.sympify`` on a string *evaluates Python* (it calls ``eval`` on the parsed text), so a
formula string from a user, a problem file or the command line must never reach it. Every
entry point that takes an expression calls :func:`to_expr`:

* a sympy object, a number (Python, NumPy) or a boolean is converted with
  ``sympify(strict=True)``, which never parses text;
* a string goes through nedsym's guarded parser when the caller knows the names it may use
  (``parse=``), and is refused with a clear :class:`~nedsym.errors.ParseError` otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sympy as sp

from nedsym.errors import DeclarationError, ParseError

__all__ = ["to_expr", "formula_parser"]


def formula_parser(coords, params=None, fields=None) -> Callable[[str], sp.Expr]:
    """The guarded parser for formulas in ``coords`` (and ``params`` names or a
    name → value mapping, ``fields``), for :func:`to_expr`'s ``parse=``."""
    from nedsym.symbolic.parse import Namespace

    if params is not None and not isinstance(params, (str, dict)):
        params = [getattr(p, "name", str(p)) for p in params]
    ns = Namespace.declare(coords=coords, fields=fields or {}, params=params)
    return ns.parse


def to_expr(value: Any, what: str, parse: Callable[[str], sp.Expr] | None = None,
            hint: str = "") -> sp.Expr:
    """``value`` as a sympy expression, never evaluating text as Python.

    ``what`` names the argument in messages; ``parse`` is the guarded parser to use for a
    string (e.g. ``Namespace.parse`` with the declared names); ``hint`` says how to pass a
    formula string instead when strings are not accepted here.

    Example
    -------
    >>> to_expr(2, "mobility")
    2
    >>> to_expr("__import__('os')", "mobility")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    nedsym.errors.ParseError: mobility: got the string ...; nedsym never evaluates strings ...
    """
    if isinstance(value, (str, bytes)):
        if parse is not None:
            return parse(value.decode() if isinstance(value, bytes) else value)
        raise ParseError(f"{what}: got the string {value!r}; nedsym never evaluates strings "
                         f"as Python. Pass a sympy expression{hint}")
    try:
        return sp.sympify(value, strict=True)
    except (sp.SympifyError, TypeError, ValueError) as exc:
        raise DeclarationError(f"{what}: cannot use {type(value).__name__} {value!r} as an "
                               "expression; pass a sympy expression or a number") from exc
