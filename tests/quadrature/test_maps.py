from math import factorial

import numpy as np
import pytest

from nedsym.quadrature.domains import sphere_area
from nedsym.quadrature.maps import (
    hyperspherical_product,
    simplex_product,
    simplex_uniform,
    sphere_param_dim,
    sphere_uniform,
)
from nedsym.quadrature.rules import RULES, product_unit


@pytest.mark.parametrize("d", [2, 3, 5])
def test_sphere_uniform_unit_and_isotropic(d):
    u = np.random.default_rng(0).random((20000, sphere_param_dim(d)))
    xi = sphere_uniform(u, d)
    assert np.allclose(np.linalg.norm(xi, axis=1), 1.0)
    assert np.allclose((xi**2).mean(axis=0), 1.0 / d, atol=0.02)
    assert np.allclose(xi.mean(axis=0), 0.0, atol=0.03)


@pytest.mark.parametrize("d", [2, 3, 4])
def test_hyperspherical_jacobian_integrates_area(d):
    periodic = [False] * (d - 2) + [True]
    t, w = product_unit(RULES["gauss"], d - 1, 12 ** (d - 1), periodic)
    xi, jac = hyperspherical_product(t, d)
    assert np.allclose(np.linalg.norm(xi, axis=1), 1.0)
    assert w @ jac == pytest.approx(sphere_area(d), rel=1e-10)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_simplex_maps(k):
    u = np.random.default_rng(1).random((40000, k))
    lam = simplex_uniform(u)
    assert np.all(lam >= 0) and np.all(lam.sum(axis=1) <= 1 + 1e-12)
    # uniform on the simplex: E[lambda_j] = 1/(k+1)
    assert np.allclose(lam.mean(axis=0), 1.0 / (k + 1), atol=0.01)
    t, w = product_unit(RULES["gauss"], k, 5**k)
    lam2, jac = simplex_product(t)
    assert np.all(lam2.sum(axis=1) <= 1 + 1e-12)
    assert w @ jac == pytest.approx(1.0 / factorial(k), rel=1e-12)
