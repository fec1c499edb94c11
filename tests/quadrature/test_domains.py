from math import pi

import numpy as np
import pytest
import sympy as sp

from nedsym.errors import QuadratureError
from nedsym.quadrature import Annulus, Ball, Box, Domain, Simplex, Sphere, integrate
from nedsym.quadrature.domains import ball_volume

x, y, z = sp.symbols("x y z")

DOMAINS = [
    Box([(0, 1), (-1, 2), (0, 0.5)]),
    Ball((0.5, -1), 2.0),
    Ball((0, 0, 0), 1.0),
    Ball((0,) * 5, 1.0),
    Annulus((1, 0), 0.5, 1.5),
    Annulus((0, 0, 0), 0.5, 1.0),
    Simplex([(0, 0), (2, 0), (0, 1)]),
    Simplex([(0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1)]),
    Sphere((0, 0, 0), 2.0),
    Sphere((0,) * 4, 1.0),
]


@pytest.mark.parametrize("rule", ["mc", "lhs", "sobol", "halton", "gauss", "midpoint"])
@pytest.mark.parametrize("domain", DOMAINS, ids=repr)
def test_points_inside_and_weights_sum_to_measure(domain, rule):
    n = 256 if rule in ("mc", "lhs", "sobol", "halton") else 4**domain.product_dim
    p = domain.points(n, rule, seed=3)
    assert np.all(domain.contains(p.x))
    # sampling rules: exact; product rules: spectrally accurate in angles, Duffy + midpoint O(h^2)
    rel = 1e-10 if n == 256 or isinstance(domain, Box) else 0.05
    assert p.w.sum() == pytest.approx(domain.measure, rel=rel)
    assert (p.normals is not None) == domain.has_normals


def test_exact_measures():
    assert Box([(0, 2), (1, 4)]).volume == 6.0
    assert Ball((0, 0), 2).volume == pytest.approx(4 * pi)
    assert Ball((0, 0, 0), 1).volume == pytest.approx(4 * pi / 3)
    assert Ball((0,) * 4, 1).volume == pytest.approx(pi**2 / 2)
    assert Annulus((0, 0), 1, 2).area == pytest.approx(3 * pi)
    assert Annulus((0, 0, 0), 1, 2).volume == pytest.approx(4 * pi / 3 * 7)
    assert Simplex([(0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1)]).volume == pytest.approx(1 / 6)
    assert Simplex([(1, 1), (3, 1), (1, 4)]).volume == pytest.approx(3.0)
    assert Sphere((0, 0, 0), 2).area == pytest.approx(16 * pi)
    assert Sphere((0, 0), 1).area == pytest.approx(2 * pi)


@pytest.mark.parametrize(
    "domain",
    [
        Ball((0.2, 0.1), 1.0),
        Simplex([(0, 0), (2, 0), (0, 1)]),
        Annulus((0, 0), 0.5, 1.5),
        Ball((0, 0, 0), 1.0),
    ],
    ids=repr,
)
def test_monte_carlo_volume_within_4_standard_errors(domain):
    lo = np.min(domain.points(512, "sobol", seed=0).x, axis=0) - 0.6
    hi = np.max(domain.points(512, "sobol", seed=0).x, axis=0) + 0.6
    box = Box(list(zip(lo, hi, strict=True)))
    est = integrate(lambda p: domain.contains(p).astype(float), box, "mc", 4000, seed=1)
    assert abs(est.value - domain.volume) < 4 * est.stderr


def test_gauss_exact_polynomials_on_box_per_axis():
    box = Box([(0, 1), (0, 2), (-1, 1)])
    # m = (2, 3, 1) nodes per axis: exact for degrees (3, 5, 1)
    est = integrate(x**3 * y**5 * z + x * y, box, "gauss", (2, 3, 1))
    exact = (1 / 4) * (2**6 / 6) * 0 + (1 / 2) * 2 * 2
    assert est.value == pytest.approx(exact, abs=1e-12)
    est = integrate(x**3 * y**5 * (z + 2), box, "gauss", (2, 3, 1))
    assert est.value == pytest.approx((1 / 4) * (2**6 / 6) * 4, rel=1e-13)
    assert est.stderr is None and est.ci is None


def test_gauss_exact_polynomials_on_ball_annulus_simplex():
    f = x**2 * y**2
    assert integrate(f, Ball((0, 0), 1), "gauss", 36).value == pytest.approx(pi / 24, rel=1e-12)
    assert integrate(f, Annulus((0, 0), 1, 2), "gauss", 36).value == pytest.approx(
        pi / 24 * (2**6 - 1), rel=1e-12
    )
    tri = Simplex([(0, 0), (1, 0), (0, 1)])
    assert integrate(f, tri, "gauss", 16).value == pytest.approx(1 / 180, rel=1e-12)


@pytest.mark.parametrize("d, m", [(2, 2), (3, 8), (5, 12)])
def test_ball_volume_formula(d, m):
    est = integrate(lambda p: np.ones(len(p)), Ball((0,) * d, 1.5), "gauss", m**d)
    assert est.value == pytest.approx(ball_volume(d, 1.5), rel=1e-12)


def test_constructor_errors():
    with pytest.raises(QuadratureError, match="low < high"):
        Box([(1, 0)])
    with pytest.raises(QuadratureError, match="at least 2 coordinates"):
        Ball((0,), 1.0)
    with pytest.raises(QuadratureError, match="positive"):
        Ball((0, 0), -1.0)
    with pytest.raises(QuadratureError, match="r_in < r_out"):
        Annulus((0, 0), 2, 1)
    with pytest.raises(QuadratureError, match="in 3 dimensions needs 4 vertices; got 3"):
        Simplex([(0, 0, 0), (1, 0, 0), (0, 1, 0)])
    with pytest.raises(QuadratureError, match="degenerate"):
        Simplex([(0, 0), (1, 1), (2, 2)])
    with pytest.raises(QuadratureError, match="no boundary"):
        Sphere((0, 0), 1).boundary()


def test_rule_that_cannot_serve_domain():
    class Blob(Domain):  # a domain with only a measure-preserving map
        dim = param_dim = 2
        measure = 1.0

        def uniform_map(self, u):
            return u, None

    assert Blob().points(8, "mc", seed=0).n == 8
    with pytest.raises(QuadratureError, match="rule 'gauss' cannot serve Blob.*mc, lhs, sobol"):
        Blob().points(9, "gauss")
