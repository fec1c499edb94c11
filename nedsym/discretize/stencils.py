"""Finite-difference stencils computed by Fornberg's algorithm.

Weights are never tabulated: for any derivative order ``m`` and any set of
integer (or rational) offsets ``s_0 .. s_n`` the weights ``w_j`` of

.. math::  u^{(m)}(x) \\approx \\frac{1}{h^m} \\sum_j w_j \\, u(x + s_j h)

are computed exactly (B. Fornberg, *Generation of finite difference formulas
on arbitrarily spaced grids*, Math. Comp. 51, 1988). All weights here are per
unit spacing; the caller divides by ``h**m``.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from functools import lru_cache
from itertools import product

import numpy as np

from nedsym.errors import DiscretizationError

__all__ = [
    "fd_weights",
    "fd_weights_exact",
    "central_stencil",
    "mixed_stencil",
    "stencil_radius",
]


def _check_order(m: int) -> int:
    if not isinstance(m, (int, np.integer)) or isinstance(m, bool) or m < 0:
        raise DiscretizationError(
            f"derivative order must be a non-negative integer, got {m!r}")
    return int(m)


def _check_accuracy(accuracy: int) -> int:
    if (not isinstance(accuracy, (int, np.integer)) or isinstance(accuracy, bool)
            or accuracy < 2 or accuracy % 2):
        raise DiscretizationError(
            f"central stencil accuracy must be an even integer >= 2 (2, 4, 6, ...), "
            f"got {accuracy!r}")
    return int(accuracy)


@lru_cache(maxsize=256)
def _fornberg(m: int, offsets: tuple[Fraction, ...]) -> tuple[Fraction, ...]:
    n = len(offsets)
    # c[k][j]: weight of node j for derivative k, using the nodes seen so far.
    c = [[Fraction(0)] * n for _ in range(m + 1)]
    c[0][0] = Fraction(1)
    c1 = Fraction(1)
    c4 = offsets[0]
    for i in range(1, n):
        mn = min(i, m)
        c2 = Fraction(1)
        c5 = c4
        c4 = offsets[i]
        for j in range(i):
            c3 = offsets[i] - offsets[j]
            c2 = c2 * c3
            if j == i - 1:
                for k in range(mn, 0, -1):
                    c[k][i] = c1 * (k * c[k - 1][i - 1] - c5 * c[k][i - 1]) / c2
                c[0][i] = -c1 * c5 * c[0][i - 1] / c2
            for k in range(mn, 0, -1):
                c[k][j] = (c4 * c[k][j] - k * c[k - 1][j]) / c3
            c[0][j] = c4 * c[0][j] / c3
        c1 = c2
    return tuple(c[m])


def fd_weights_exact(m: int, offsets: Sequence[int | Fraction]) -> list[Fraction]:
    """Exact finite-difference weights for the ``m``-th derivative at offset 0.

    Returns rationals ``w_j`` with :math:`\\sum_j w_j s_j^k = m!\\,\\delta_{km}`
    for ``k = 0 .. len(offsets)-1`` (Fornberg's recursion in exact arithmetic).

    Example
    -------
    >>> fd_weights_exact(2, [-1, 0, 1])
    [Fraction(1, 1), Fraction(-2, 1), Fraction(1, 1)]
    """
    m = _check_order(m)
    offs = tuple(Fraction(s) for s in offsets)
    if len(set(offs)) != len(offs):
        raise DiscretizationError(f"stencil offsets must be distinct, got {list(offsets)}")
    if len(offs) <= m:
        raise DiscretizationError(
            f"a derivative of order {m} needs at least {m + 1} offsets, got {len(offs)}")
    return list(_fornberg(m, offs))


def fd_weights(m: int, offsets: Sequence[int | Fraction]) -> np.ndarray:
    """Floating-point finite-difference weights (per unit spacing); see :func:`fd_weights_exact`.

    Example
    -------
    >>> fd_weights(1, [-1, 0, 1])
    array([-0.5,  0. ,  0.5])
    """
    return np.array([float(w) for w in fd_weights_exact(m, offsets)], dtype=np.float64)


def stencil_radius(m: int, accuracy: int) -> int:
    """Half-width of the central stencil for derivative ``m`` at even ``accuracy`` order.

    A central stencil of radius ``r`` has ``2r+1`` points and approximates the
    ``m``-th derivative to order ``2r + 1 - m`` rounded down to even, so
    :math:`r = \\lfloor (m+1)/2 \\rfloor - 1 + p/2`.

    Example
    -------
    >>> stencil_radius(2, 4)
    2
    """
    m = _check_order(m)
    accuracy = _check_accuracy(accuracy)
    if m == 0:
        return 0
    return (m + 1) // 2 - 1 + accuracy // 2


def central_stencil(m: int, accuracy: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Central stencil ``(offsets, weights)`` for ``d^m/dx^m`` accurate to ``O(h^accuracy)``.

    Example
    -------
    >>> offsets, weights = central_stencil(2, 2)
    >>> offsets.tolist(), weights.tolist()
    ([-1, 0, 1], [1.0, -2.0, 1.0])
    """
    r = stencil_radius(m, accuracy)
    offsets = np.arange(-r, r + 1, dtype=np.int64)
    if m == 0:
        return offsets, np.ones(1)
    return offsets, fd_weights(m, offsets.tolist())


def mixed_stencil(orders: Sequence[int], accuracy: int = 2) -> dict[tuple[int, ...], float]:
    """Tensor-product stencil for :math:`\\partial^{o_1}_{x_1} \\cdots \\partial^{o_d}_{x_d}`.

    The weight at multi-offset ``(s_1, .., s_d)`` is :math:`\\prod_a w^{(o_a)}_{s_a}`
    (central 1-D stencils, each of the given ``accuracy``); zero weights are dropped.
    Divide by :math:`\\prod_a h_a^{o_a}`.

    Example
    -------
    >>> st = mixed_stencil((1, 1), 2)
    >>> st[(1, 1)], st[(-1, 1)]
    (0.25, -0.25)
    """
    if len(orders) == 0:
        raise DiscretizationError("mixed_stencil needs at least one axis order")
    one_d = []
    for o in orders:
        offs, w = central_stencil(_check_order(o), accuracy)
        one_d.append([(int(s), float(x)) for s, x in zip(offs, w, strict=True) if x != 0.0])
    stencil: dict[tuple[int, ...], float] = {}
    for combo in product(*one_d):
        weight = float(np.prod([w for _, w in combo]))
        if weight != 0.0:
            stencil[tuple(s for s, _ in combo)] = weight
    return stencil
