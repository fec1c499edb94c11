import numpy as np
import pytest
import sympy as sp

from nedsym.errors import QuadratureError
from nedsym.quadrature import ImplicitDomain, integrate

x, y, z = sp.symbols("x y z")


def test_disk_volume_acceptance_and_report():
    disk = ImplicitDomain(x**2 + y**2 - 1, [(-1, 1), (-1, 1)], seed=0)
    assert abs(disk.volume - np.pi) < 4 * disk.volume_stderr
    assert disk.acceptance_rate == pytest.approx(np.pi / 4, abs=0.01)
    assert "acceptance rate 0.78" in disk.report()
    pts = disk.points(500, "sobol", seed=1)
    assert pts.n == 500 and np.all((pts.x**2).sum(axis=1) < 1)
    assert 0.6 < disk.last_acceptance < 0.95


def test_integrate_with_exact_volume_is_unbiased():
    # quarter-annulus-like region given by a callable level set
    def phi(p):
        r2 = (p**2).sum(axis=1)
        return np.maximum(r2 - 1.0, 0.25 - r2)

    ring = ImplicitDomain(phi, [(-1, 1), (-1, 1)], volume=0.75 * np.pi)
    est = integrate(x**2 + y**2, ring, "mc", 2000, seed=3)
    exact = np.pi / 2 * (1 - 0.5**4)
    assert abs(est.value - exact) < 4 * est.stderr
    sob = integrate(x**2 + y**2, ring, "sobol", 256, seed=3)
    assert abs(sob.value - exact) < 5 * sob.stderr + 1e-3
    gauss = integrate(lambda p: np.ones(len(p)), ring, "gauss", 200**2)
    assert gauss.value == pytest.approx(0.75 * np.pi, rel=0.01)  # first order only


def test_errors():
    with pytest.raises(QuadratureError, match="acceptance rate 0.00e.*sign convention"):
        ImplicitDomain(x**2 + y**2 + 1, [(-1, 1), (-1, 1)])
    with pytest.raises(QuadratureError, match=r"\(x, y, z\) \(3\) but the domain is 2-dim"):
        ImplicitDomain(x + y + z, [(-1, 1), (-1, 1)])
    with pytest.raises(QuadratureError, match=r"levelset returned shape \(3,\)"):
        ImplicitDomain(lambda p: np.ones(3), [(-1, 1), (-1, 1)])
    with pytest.raises(QuadratureError, match="no boundary"):
        ImplicitDomain(x**2 + y**2 - 1, [(-1, 1), (-1, 1)]).boundary()
