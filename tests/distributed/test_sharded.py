"""Sums over sharded sample points equal the sums over all points at once."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from nedsym.distributed import ShardedPoints, sharded_integrate, sharded_sum
from nedsym.distributed.sharded import add_results
from nedsym.errors import DistributedError
from nedsym.quadrature import Box, integrate_points


def _features(x: np.ndarray) -> np.ndarray:
    """A linear model's basis: 1, x, y, x*y, x^2, sin(3y) (P = 6)."""
    return np.stack([np.ones(len(x)), x[:, 0], x[:, 1], x[:, 0] * x[:, 1], x[:, 0] ** 2,
                     np.sin(3 * x[:, 1])], axis=1)


THETA = np.array([0.5, -1.0, 2.0, 0.25, -0.75, 1.5])


def local_normal_equations(shard):
    """Normal equations of the weighted least-squares fit u(x; θ) = Φ(x)θ ≈ g(x), at θ = 0:
    J = sqrt(w) Φ, r = sqrt(w) (u - g); returns (JᵀJ, Jᵀr, Σ w r²/2-energy, count)."""
    x, w = shard.x, shard.w
    J = np.sqrt(w)[:, None] * _features(x)
    g = _features(x) @ THETA
    r = np.sqrt(w) * (0.0 - g)
    return J.T @ J, J.T @ r, 0.5 * float(r @ r), len(x)


@pytest.fixture(scope="module")
def points():
    return Box([(0, 1), (-1, 2)]).points(5000, "mc", np.random.default_rng(3))


def test_add_results_adds_structures_and_rejects_mismatch():
    total = add_results({"a": (np.ones(2), 1)}, {"a": (np.ones(2), 2)})
    np.testing.assert_array_equal(total["a"][0], [2.0, 2.0])
    assert total["a"][1] == 3
    with pytest.raises(DistributedError, match="different keys"):
        add_results({"a": 1}, {"b": 1})


def test_least_squares_normal_equations_sum(client, points):
    JtJ, Jtr, energy, count = sharded_sum(client, local_normal_equations, points, n_shards=7)
    full = local_normal_equations(points)
    np.testing.assert_allclose(JtJ, full[0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(Jtr, full[1], rtol=1e-12, atol=1e-12)
    assert abs(energy - full[2]) <= 1e-12 * abs(full[2])
    assert count == points.n == 5000
    # one Gauss-Newton step from θ = 0 recovers the exact parameters of the linear model
    theta = np.linalg.solve(JtJ, -Jtr)
    np.testing.assert_allclose(theta, THETA, rtol=1e-9, atol=1e-9)


def test_sharded_points_stay_on_the_workers(client, points):
    sp_ = ShardedPoints.scatter(client, points, n_shards=3)
    assert sp_.n == 5000 and len(sp_.shards) == 3
    first = sp_.sum(lambda s: float(s.w.sum()))
    second = sp_.sum(lambda s: float(s.w.sum()))      # reuses the scattered shards
    assert abs(first - 3.0) <= 1e-12 and first == second
    assert sum(len(s) for s in sp_.gather()) == 5000


def test_quadrature_integrand_equals_integrate_points(client, points):
    def f(X):
        return X[:, 0] ** 2 * X[:, 1] + np.cos(X[:, 1])

    est = sharded_integrate(client, f, points, n_shards=5)
    ref = integrate_points(f, points)
    assert abs(est.value - ref.value) <= 1e-12 * abs(ref.value)
    assert abs(est.stderr - ref.stderr) <= 1e-9 * ref.stderr
    assert est.ci is not None and est.n == ref.n == 5000
    # a plain (n, d) array of points with sharded_sum
    total = sharded_sum(client, lambda s: float(np.sum(s[:, 0] ** 2)), points.x, n_shards=4)
    assert abs(total - float(np.sum(points.x[:, 0] ** 2))) <= 1e-9


@pytest.mark.slow
def test_sympy_integrand_compiles_on_the_workers(client, points):
    x, y = sp.symbols("x y")
    f = x**2 * y + sp.cos(y)
    est = sharded_integrate(client, f, points, n_shards=2, coords=(x, y))
    ref = integrate_points(f, points, coords=(x, y))
    assert abs(est.value - ref.value) <= 1e-12 * abs(ref.value)


def test_points_sampled_on_the_workers(client):
    box = Box([(0, 2), (0, 1)])
    sharded = ShardedPoints.sample(client, box, "mc", n=4000, n_shards=4, seed=11)
    assert sharded.sizes == [1000] * 4
    # weights of the union sum to the volume; the estimate of ∫ x dx dy = 2 is unbiased
    assert abs(sharded.sum(lambda s: float(s.w.sum())) - 2.0) <= 1e-12
    est = sharded_integrate(client, lambda X: X[:, 0], sharded)
    assert abs(est.value - 2.0) <= 5 * est.stderr
    again = ShardedPoints.sample(client, box, "mc", n=4000, n_shards=4, seed=11)
    assert again.sum(lambda s: float(s.x.sum())) == sharded.sum(lambda s: float(s.x.sum()))
    with pytest.raises(DistributedError, match="n_shards"):
        ShardedPoints.sample(client, box, "mc", n=3, n_shards=4)
