import numpy as np
import pytest
import sympy as sp

from nedsym.errors import QuadratureError
from nedsym.quadrature import Annulus, Ball, Box, Simplex, integrate
from nedsym.quadrature.boundary import allocate

x, y, z = sp.symbols("x y z")
F2 = [x**3 * y + 1, sp.sin(x) * y**2]
F3 = [x * y * z, y**2 + x, sp.sin(z) * x]


def _div(F, cs):
    return sum(sp.diff(f, c) for f, c in zip(F, cs, strict=True))


DOMAINS_2D = [
    Box([(0, 1), (0, 2)]),
    Ball((0.3, 0.1), 1.0),
    Annulus((0, 0.5), 0.5, 1.5),
    Simplex([(0, 0), (2, 0), (0.5, 1)]),
]


@pytest.mark.parametrize("domain", DOMAINS_2D, ids=repr)
def test_divergence_theorem_2d_gauss(domain):
    vol = integrate(_div(F2, (x, y)), domain, "gauss", 30**2).value
    flux = integrate(F2, domain.boundary(), "gauss", 4 * 30).value
    assert flux == pytest.approx(vol, rel=1e-10, abs=1e-10)


@pytest.mark.parametrize(
    "domain",
    [
        Box([(0, 1), (0, 2), (-1, 1)]),
        Ball((0, 0, 0.2), 1.0),
        Annulus((0, 0, 0), 0.5, 1.0),
        Simplex([(0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1)]),
    ],
    ids=repr,
)
def test_divergence_theorem_3d(domain):
    vol = integrate(_div(F3, (x, y, z)), domain, "gauss", 12**3).value
    flux = integrate(F3, domain.boundary(), "gauss", 6 * 12**2).value
    assert flux == pytest.approx(vol, rel=1e-8, abs=1e-8)
    qmc = integrate(F3, domain.boundary(), "sobol", 1024, seed=0)
    assert abs(qmc.value - vol) < 5 * qmc.stderr + 1e-9


def test_callable_flux_and_normals_outward():
    ball = Ball((1.0, -1.0), 2.0)
    pts = ball.boundary().points(64, "sobol", seed=0)
    assert np.allclose(pts.normals, (pts.x - ball.center) / 2.0)
    tri = Simplex([(0, 0), (2, 0), (0.5, 1)])
    p = tri.boundary().points(30, "mc", seed=0)
    assert np.all(np.einsum("ij,ij->i", p.normals, p.x - tri.vertices.mean(axis=0)) > 0)
    assert np.allclose(np.linalg.norm(p.normals, axis=1), 1.0)
    ann = Annulus((0, 0), 1.0, 2.0)
    # F = x: div F = d, so the flux equals d * volume
    est = integrate(lambda q, nrm: np.einsum("ij,ij->i", q, nrm), ann.boundary(), "gauss", 64)
    assert est.value == pytest.approx(2 * ann.volume, rel=1e-12)


def test_interval_boundary_is_two_points():
    est = integrate([x**2], Box([(1, 3)]).boundary(), "mc", 2, seed=0)
    assert est.value == pytest.approx(9 - 1)


def test_boundary_areas_and_allocation():
    assert Box([(0, 1), (0, 2)]).boundary().area == 6.0
    assert Simplex([(0, 0), (1, 0), (0, 1)]).boundary().area == pytest.approx(2 + np.sqrt(2))
    assert Annulus((0, 0), 1, 2).boundary().area == pytest.approx(6 * np.pi)
    assert sum(allocate(101, [1.0, 2.0, 3.5])) == 101
    with pytest.raises(QuadratureError, match="has 4 pieces; n must be at least 4"):
        Box([(0, 1), (0, 1)]).boundary().points(3)
    with pytest.raises(QuadratureError, match="flux F.n and needs a boundary"):
        integrate(F2, Box([(0, 1), (0, 1)]), "mc", 8)
    with pytest.raises(QuadratureError, match="boundary of a boundary"):
        Box([(0, 1), (0, 1)]).boundary().boundary()
