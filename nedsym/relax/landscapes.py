"""Test landscapes with a wide and a sharp minimum (sympy expressions)."""

from __future__ import annotations

import sympy as sp

__all__ = ["wide_sharp_1d", "wide_sharp_2d"]


def wide_sharp_1d(x: sp.Symbol | None = None) -> sp.Expr:
    r"""A deep sharp well at :math:`-1` beside a shallower wide one near :math:`1`:

    .. math:: f(x) = -1.2\,e^{-(x+1)^2/(2\cdot0.05^2)} - e^{-(x-1)^2/(2\cdot0.5^2)} + 0.05x^2.

    Example
    -------
    >>> f = wide_sharp_1d()
    >>> x = f.free_symbols.pop()
    >>> round(float(f.subs(x, -1)), 3), round(float(f.subs(x, 1)), 3)
    (-1.15, -0.95)
    """
    x = sp.Symbol("x", real=True) if x is None else x
    return (-sp.Rational(6, 5) * sp.exp(-(x + 1) ** 2 / (2 * sp.Rational(1, 20) ** 2))
            - sp.exp(-(x - 1) ** 2 / (2 * sp.Rational(1, 2) ** 2)) + x**2 / 20)


def wide_sharp_2d(x: sp.Symbol | None = None, y: sp.Symbol | None = None) -> sp.Expr:
    r"""A 2-D landscape: a deep narrow well at :math:`(-1, 0.5)`, a wide one at
    :math:`(1, -0.5)`, and a gentle confining quadratic.

    .. math:: f = -1.2\,e^{-|z - a|^2/(2\cdot0.08^2)} - e^{-|z - b|^2/(2\cdot0.6^2)}
              + 0.05|z|^2.
    """
    x = sp.Symbol("x", real=True) if x is None else x
    y = sp.Symbol("y", real=True) if y is None else y
    r_sharp = (x + 1) ** 2 + (y - sp.Rational(1, 2)) ** 2
    r_wide = (x - 1) ** 2 + (y + sp.Rational(1, 2)) ** 2
    return (-sp.Rational(6, 5) * sp.exp(-r_sharp / (2 * sp.Rational(2, 25) ** 2))
            - sp.exp(-r_wide / (2 * sp.Rational(3, 5) ** 2)) + (x**2 + y**2) / 20)
