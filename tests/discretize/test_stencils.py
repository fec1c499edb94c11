"""Stencil weights: exact identities and measured convergence orders."""

from fractions import Fraction

import numpy as np
import pytest

from nedsym.discretize import (
    central_stencil,
    fd_weights,
    fd_weights_exact,
    mixed_stencil,
    stencil_radius,
)
from nedsym.errors import DiscretizationError


def test_exact_weights_known_formulas():
    assert fd_weights_exact(2, [-1, 0, 1]) == [1, -2, 1]
    assert fd_weights_exact(1, [0, 1, 2]) == [Fraction(-3, 2), 2, Fraction(-1, 2)]
    assert fd_weights_exact(2, [-2, -1, 0, 1, 2]) == [
        Fraction(-1, 12), Fraction(4, 3), Fraction(-5, 2), Fraction(4, 3), Fraction(-1, 12)]
    # half-integer offsets (staggered first derivative)
    assert fd_weights_exact(1, [Fraction(-1, 2), Fraction(1, 2)]) == [-1, 1]


@pytest.mark.parametrize("m", [0, 1, 2, 3, 4])
def test_moment_conditions(m):
    offsets = [-3, -1, 0, 2, 5, 6]
    w = fd_weights_exact(m, offsets)
    for k in range(len(offsets)):
        moment = sum(wj * Fraction(s) ** k for wj, s in zip(w, offsets, strict=True))
        expected = 1 if k == m else 0
        fact = 1
        for i in range(2, m + 1):
            fact *= i
        assert moment == expected * fact


def test_radius_and_sizes():
    assert stencil_radius(1, 2) == 1 and stencil_radius(2, 2) == 1
    assert stencil_radius(3, 2) == 2 and stencil_radius(4, 2) == 2
    assert stencil_radius(4, 6) == 4 and stencil_radius(0, 4) == 0
    offs, w = central_stencil(3, 4)
    assert offs.tolist() == [-3, -2, -1, 0, 1, 2, 3] and w.shape == (7,)


def test_bad_arguments():
    with pytest.raises(DiscretizationError, match="even integer"):
        central_stencil(2, 3)
    with pytest.raises(DiscretizationError, match="at least 3 offsets"):
        fd_weights(2, [0, 1])
    with pytest.raises(DiscretizationError, match="distinct"):
        fd_weights(1, [0, 0, 1])
    with pytest.raises(DiscretizationError, match="non-negative"):
        fd_weights(-1, [0, 1])


def _f(x):
    return np.sin(1.3 * x) + 0.5 * np.cos(0.7 * x)


def _df(x, m):
    a = 1.3 ** m * np.sin(1.3 * x + m * np.pi / 2)
    b = 0.5 * 0.7 ** m * np.cos(0.7 * x + m * np.pi / 2)
    return a + b


def _observed_rate(m, acc, x0=0.37, hs=(0.2, 0.1, 0.05)):
    offs, w = central_stencil(m, acc)
    errs = [abs(w @ _f(x0 + offs * h) / h ** m - _df(x0, m)) for h in hs]
    return np.log2(errs[-2] / errs[-1])


@pytest.mark.parametrize("m", [1, 2, 3, 4])
@pytest.mark.parametrize("acc", [2, 4, 6])
def test_central_convergence_order(m, acc):
    rate = _observed_rate(m, acc)
    assert abs(rate - acc) < 0.45, f"m={m} acc={acc}: observed order {rate:.2f}"


@pytest.mark.parametrize("acc", [2, 4])
def test_mixed_derivative_order(acc):
    st = mixed_stencil((1, 2), acc)
    x0, y0 = 0.3, -0.2
    exact = -4.0 * np.cos(x0) * np.cos(2 * y0)  # d_x d_yy of sin(x) cos(2y)

    def approx(h):
        return sum(w * np.sin(x0 + i * h) * np.cos(2 * (y0 + j * h))
                   for (i, j), w in st.items()) / h ** 3

    e1, e2 = abs(approx(0.1) - exact), abs(approx(0.05) - exact)
    assert abs(np.log2(e1 / e2) - acc) < 0.3
    assert all(len(k) == 2 for k in st)
    assert (0, 0) not in st or st[(0, 0)] != 0.0
