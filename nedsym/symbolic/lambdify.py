"""Compile symbolic densities into NumPy functions of coordinates and field occurrences."""

from __future__ import annotations

from collections.abc import Callable

import sympy as sp

from nedsym.errors import DeclarationError

__all__ = ["lambdify_density"]


def lambdify_density(expr, coords, occurrences: dict, params: dict) -> Callable:
    """Compile ``expr`` once as a numpy function of (coords..., occurrence values...)."""
    dummies = {o: sp.Dummy() for o in occurrences}
    e = sp.sympify(expr).xreplace(dummies).xreplace(params)
    free = e.free_symbols - set(coords) - set(dummies.values())
    if free:
        raise DeclarationError(
            f"parameters {sorted(map(str, free))} have no value; pass params={{...}}")
    return sp.lambdify(list(coords) + list(dummies.values()), e, "numpy")
