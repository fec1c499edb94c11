"""Natural boundary terms, checked exactly on the unit square with polynomials:

    d/dh E[u + h v] at h=0  ==  ∫ δE/δu v dx + ∮ Σ_β B_β D^β v ds.
"""

import pytest
import sympy as sp

import nedsym as ns
from nedsym.symbolic.variational import NaturalBC

x, y = ns.coords("x y")
u = ns.Field("u", (x, y))
h = sp.Symbol("h")
U0 = x**2 * y + 2 * x * y**3 - y + 1
V = x**3 - x * y**2 + 3 * y + x * y


def _first_variation(E):
    L = E.density.subs(u, U0 + h * V).doit()
    total = sp.integrate(sp.diff(L, h).subs(h, 0), (x, 0, 1), (y, 0, 1))
    if E.boundary is not None:
        B = sp.diff(E.boundary.subs(u, U0 + h * V).doit(), h).subs(h, 0)
        total += _boundary_integral(lambda nx, ny: B)
    return sp.nsimplify(total)


def _boundary_integral(integrand):
    """∮ over the unit square; integrand(nx, ny) is an expression in x, y."""
    sides = [((1, 0), {x: 1}, y), ((-1, 0), {x: 0}, y), ((0, 1), {y: 1}, x),
             ((0, -1), {y: 0}, x)]
    return sum(sp.integrate(integrand(nx, ny).subs(sub), (t, 0, 1))
               for (nx, ny), sub, t in sides)


def _predicted(E):
    interior = sp.integrate((E.variational_derivative(u) * V).subs(u, U0).doit(),
                            (x, 0, 1), (y, 0, 1))
    bc: NaturalBC = E.natural_bc(u)
    nx, ny = bc.normal

    def integrand(a, b):
        s = 0
        for beta, coeff in bc.terms.items():
            Dv = sp.diff(V, *beta) if beta else V
            s += coeff.subs(u, U0).doit().subs({nx: a, ny: b}) * Dv
        return s

    return sp.nsimplify(interior + _boundary_integral(integrand))


alpha = ns.Param("alpha", 2)


@pytest.mark.parametrize("density,boundary", [
    (ns.dot(ns.grad(u), ns.grad(u)) / 2 + u**3 / 3, None),
    (u.diff(x) ** 2 * u + u.diff(x) * u.diff(y), None),
    (ns.lap(u) ** 2 / 2, None),
    (u.diff(x, y) ** 2 + u.diff(x) * u, None),
    (ns.dot(ns.grad(u), ns.grad(u)) / 2, alpha * u**2 / 2),
])
def test_first_variation_splits_exactly(density, boundary):
    E = ns.Energy(density, [u], boundary=boundary, params={"alpha": 2} if boundary else None)
    assert sp.simplify(_first_variation(E) - _predicted(E)) == 0


def test_dirichlet_flux_form():
    E = ns.Energy(ns.dot(ns.grad(u), ns.grad(u)) / 2, [u])
    bc = E.natural_bc(u)
    nx, ny = bc.normal
    assert sp.simplify(bc.flux() - (nx * u.diff(x) + ny * u.diff(y))) == 0
    assert list(bc.terms) == [()]
    assert "n_x" in bc.pretty()


def test_bilaplacian_has_moment_and_flux_terms():
    bc = ns.Energy(ns.lap(u) ** 2 / 2, [u]).natural_bc(u)
    nx, ny = bc.normal
    lap_u = u.diff(x, 2) + u.diff(y, 2)
    assert sp.simplify(bc.terms[(x,)] - nx * lap_u) == 0
    assert sp.simplify(bc.terms[()] + nx * lap_u.diff(x) + ny * lap_u.diff(y)) == 0
    assert len(bc.conditions()) == 3
