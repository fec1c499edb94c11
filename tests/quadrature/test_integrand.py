import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from nedsym.errors import QuadratureError
from nedsym.quadrature.integrand import cache_size, compile_integrand, resolve_coords

x, y, z, a, b = sp.symbols("x y z a b")

EXPRS = [
    sp.sin(x) * y**2 + sp.Rational(1, 3),
    sp.exp(-(x**2) - y**2) * sp.cos(3 * x * y) + sp.sqrt(1 + x**2),
    sp.Piecewise((x * y, x > 0.5), (y**3, True)) + sp.Max(x, y) + sp.Abs(x - y) ** 1.5,
]


@pytest.mark.parametrize("expr", EXPRS, ids=str)
def test_compiled_matches_numpy_reference(expr):
    pts = np.random.default_rng(0).random((257, 2))
    kernel = compile_integrand(expr, (x, y))
    reference = sp.lambdify((x, y), expr, "numpy")(pts[:, 0], pts[:, 1])
    assert np.allclose(kernel.values(pts), reference, rtol=1e-13, atol=1e-14)
    w = np.full(257, 0.5)
    s1, s2 = kernel.moments(pts, w, shift=0.1)
    zs = w * reference - 0.1
    assert s1 == pytest.approx(zs.sum(), rel=1e-12)
    assert s2 == pytest.approx((zs**2).sum(), rel=1e-12)
    assert "njit(parallel=True)" in kernel.source and "prange" in kernel.source


@settings(max_examples=25, deadline=None)
@given(st.floats(-5, 5), st.floats(-5, 5))
def test_parameters_are_arguments_not_recompiles(av, bv):
    kernel = compile_integrand(a * x**2 + b * sp.cos(x * y), (x, y), (a, b))
    size = cache_size()
    pts = np.random.default_rng(1).random((33, 2))
    got = kernel.values(pts, params={a: av, b: bv})
    assert np.allclose(got, av * pts[:, 0] ** 2 + bv * np.cos(pts[:, 0] * pts[:, 1]))
    assert compile_integrand(a * x**2 + b * sp.cos(x * y), (x, y), (a, b)) is kernel
    assert cache_size() == size


def test_errors():
    with pytest.raises(QuadratureError, match=r"symbols \['a'\] that are neither coordinates"):
        compile_integrand(a * x, (x,))
    with pytest.raises(QuadratureError, match="cannot compile integrand.*besselj"):
        compile_integrand(sp.besselj(0, x), (x,))
    with pytest.raises(QuadratureError, match=r"points have shape \(4, 3\).*2 coordinates"):
        compile_integrand(x * y, (x, y)).values(np.zeros((4, 3)))


def test_resolve_coords():
    assert resolve_coords(y * x, 2) == (x, y)
    assert resolve_coords(x, 2) == (x, sp.Symbol("y"))  # subset of the default names x, y
    x2, x10 = sp.symbols("x2 x10")
    assert resolve_coords(x10 + x2, 2) == (x2, x10)  # natural order
    assert resolve_coords(x * a, 1, params=[a]) == (x,)
    assert resolve_coords(x, 2, coords="y x") == (y, x)
    with pytest.raises(
        QuadratureError,
        match=r"free symbols \(x, y, z\) \(3\) but the domain "
        r"is 2-dimensional",
    ):
        resolve_coords(x * y * z, 2)
    with pytest.raises(QuadratureError, match="coords .* have 3 entries but the domain is 2"):
        resolve_coords(x, 2, coords="x y z")
