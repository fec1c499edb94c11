import numpy as np
import pytest
import sympy as sp

from nedsym.errors import QuadratureError
from nedsym.quadrature import Ball, Box, Points, Sampler, integrate, integrate_density

x, y, z, c = sp.symbols("x y z c")
UNIT2 = Box([(0, 1), (0, 1)])
EXACT = (np.e - 1) * np.sin(1.0)


def smooth(p):
    return np.exp(p[:, 0]) * np.cos(p[:, 1])


def test_sympy_and_callable_agree_and_params():
    est_sym = integrate(sp.exp(x) * sp.cos(y), UNIT2, "sobol", 128, seed=4)
    est_fun = integrate(smooth, UNIT2, "sobol", 128, seed=4)
    assert est_sym.value == pytest.approx(est_fun.value, rel=1e-12)
    assert est_sym.stderr == pytest.approx(est_fun.stderr, rel=1e-9)
    est = integrate(c * x, Box([(0, 2)]), "gauss", 2, params={"c": 3.0})
    assert est.value == pytest.approx(6.0)


def test_reproducible_from_seed():
    one = integrate(smooth, UNIT2, "mc", 100, seed=7)
    two = integrate(smooth, UNIT2, "mc", 100, seed=7)
    other = integrate(smooth, UNIT2, "mc", 100, seed=8)
    assert one == two and one.value != other.value


@pytest.mark.parametrize(
    "rule, n, repeats",
    [("mc", 64, 1), ("lhs", 64, 1), ("sobol", 32, 8), ("halton", 32, 8), ("mc", 16, 10)],
)
def test_confidence_interval_coverage(rule, n, repeats):
    hits = [
        integrate(smooth, UNIT2, rule, n, seed=s, repeats=repeats).contains(EXACT)
        for s in range(200)
    ]
    coverage = np.mean(hits)
    if rule == "lhs":  # the i.i.d. standard error is conservative for Latin hypercubes
        assert coverage >= 0.88
    else:
        assert 0.88 <= coverage <= 0.99


def test_monte_carlo_unbiased_over_seeds():
    values = np.array(
        [integrate(smooth, Ball((0, 0), 1), "mc", 32, seed=s).value for s in range(300)]
    )
    exact = integrate(smooth, Ball((0, 0), 1), "gauss", 24**2).value
    se = values.std(ddof=1) / np.sqrt(len(values))
    assert abs(values.mean() - exact) < 4 * se


def test_qmc_beats_mc_on_smooth_integrand():
    mc = integrate(smooth, UNIT2, "mc", 1024, seed=0, repeats=8)
    sobol = integrate(smooth, UNIT2, "sobol", 1024, seed=0, repeats=8)
    assert sobol.stderr < mc.stderr / 10
    assert sobol.n_total == 8192 and sobol.repeats == 8 and sobol.n == 1024


def test_deterministic_rules_and_a_posteriori():
    g = integrate(smooth, UNIT2, "gauss", 16, a_posteriori=True)
    assert g.stderr is None and g.ci is None
    assert abs(g.value - EXACT) <= g.error_estimate + 1e-12 and g.n_total == 16 + 64
    m = integrate(smooth, UNIT2, "midpoint", 64, a_posteriori=True)
    assert abs(m.value - EXACT) < 2 * m.error_estimate


def test_three_dimensional_sympy_gauss_exact():
    est = integrate(x**2 * y * z**3, Box([(0, 1), (0, 1), (0, 2)]), "gauss", 27)
    assert est.value == pytest.approx(1 / 3 * 1 / 2 * 4, rel=1e-13)


def test_integrate_density_hook():
    ball = Ball((0, 0), 1.0)
    rho = lambda p: (p**2).sum(axis=1)  # noqa: E731
    assert integrate_density(rho, ball, "gauss", 100).value == pytest.approx(np.pi / 2)
    est = integrate_density(rho, Sampler(ball, "mc", 4000, seed=0))
    assert abs(est.value - np.pi / 2) < 4 * est.stderr
    pts = Points(np.array([[0.5, 0.0]]), np.array([2.0]))
    assert integrate_density(rho, pts).value == pytest.approx(0.5)


def test_error_messages():
    with pytest.raises(QuadratureError, match="valid rules: mc, lhs, sobol, halton, gauss"):
        integrate(smooth, UNIT2, "trapezoid", 16)
    with pytest.raises(QuadratureError, match="positive integer; got n=0"):
        integrate(smooth, UNIT2, "mc", 0)
    with pytest.raises(QuadratureError, match="repeats must be a positive integer"):
        integrate(smooth, UNIT2, "sobol", 8, repeats=0)
    with pytest.raises(QuadratureError, match="'gauss' is deterministic"):
        integrate(smooth, UNIT2, "gauss", 16, repeats=4)
    with pytest.raises(QuadratureError, match=r"\(x, y, z\) \(3\) but the domain is 2-dim"):
        integrate(x * y * z, UNIT2, "mc", 8)
    with pytest.raises(QuadratureError, match=r"returned shape \(8, 2\).*expected \(8,\)"):
        integrate(lambda p: p, UNIT2, "mc", 8)
    with pytest.raises(
        QuadratureError, match="vector integrand has 3 components but the domain is 2-dimensional"
    ):
        integrate([x, y, x], UNIT2.boundary(), "mc", 8)
    with pytest.raises(QuadratureError, match="confidence"):
        integrate(smooth, UNIT2, "mc", 8, confidence=95)
