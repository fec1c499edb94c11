import numpy as np
import pytest
import sympy as sp

import nedsym as ns
from nedsym.errors import FieldError
from nedsym.quadrature import Box, integrate_energy

x, y = ns.coords("x y")
u = ns.Field("u", (x, y))
E = ns.Energy(ns.dot(ns.grad(u), ns.grad(u)) / 2 + u**2, [u])
U = sp.sin(sp.pi * x) * sp.sin(sp.pi * y)
EXACT = float(sp.pi**2 / 4 + sp.Rational(1, 4))


def test_expression_field_with_sobol():
    est = integrate_energy(E, U, Box([(0, 1), (0, 1)]), rule="sobol", n=2048, seed=0)
    assert est.ci[0] - 1e-9 <= EXACT <= est.ci[1] + 1e-9
    assert abs(est.value - EXACT) < 1e-3


def test_callable_field_with_monte_carlo():
    def field(X):
        s0, s1 = np.sin(np.pi * X[:, 0]), np.sin(np.pi * X[:, 1])
        return {"u": s0 * s1, "u_x": np.pi * np.cos(np.pi * X[:, 0]) * s1,
                "u_y": np.pi * s0 * np.cos(np.pi * X[:, 1])}

    est = integrate_energy(E, field, Box([(0, 1), (0, 1)]), rule="mc", n=40000, seed=2)
    assert abs(est.value - EXACT) < 5 * est.stderr


def test_callable_missing_occurrence_is_named():
    with pytest.raises(FieldError, match="u_y"):
        integrate_energy(E, lambda X: {"u": X[:, 0], "u_x": X[:, 0]}, Box([(0, 1), (0, 1)]), n=64,
                    seed=0)
