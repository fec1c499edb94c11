import numpy as np
import pytest

from nedsym.errors import QuadratureError
from nedsym.quadrature import AdaptiveSampler, Ball, Box, integrate_points


def peak(p):
    return np.exp(-50 * ((p - 0.7) ** 2).sum(axis=1))


def test_adaptive_resampling_unbiased_over_seeds():
    f = lambda p: p[:, 0] ** 2 + p[:, 1]  # noqa: E731
    exact = 1 / 3 + 1 / 2
    values = []
    for s in range(200):
        sampler = AdaptiveSampler(Box([(0, 1), (0, 1)]), n=32, pool=256, mix=0.2, seed=s)
        values.append(integrate_points(f, sampler.draw(peak)).value)
    values = np.array(values)
    se = values.std(ddof=1) / np.sqrt(len(values))
    assert abs(values.mean() - exact) < 4 * se


def test_adaptive_reduces_variance_for_peaked_integrand():
    box = Box([(0, 1), (0, 1)])
    exact = integrate_points(peak, box.points(64**2, "gauss")).value
    plain, adapt = [], []
    for s in range(100):
        plain.append(integrate_points(peak, box.points(64, "mc", seed=s)).value)
        sampler = AdaptiveSampler(box, n=64, pool=1024, p=1.0, seed=s)
        adapt.append(integrate_points(peak, sampler.draw(peak)).value)
    assert np.mean(adapt) == pytest.approx(exact, rel=0.05)
    assert np.std(adapt) < 0.5 * np.std(plain)


def test_points_concentrate_and_weights():
    s = AdaptiveSampler(Ball((0, 0), 1.0), n=200, pool=2000, mix=0.1, seed=0)
    pts = s.draw(lambda p: np.exp(-30 * ((p - [0.5, 0]) ** 2).sum(axis=1)))
    assert np.mean(np.linalg.norm(pts.x - [0.5, 0], axis=1) < 0.3) > 0.5
    assert np.allclose(pts.w, Ball((0, 0), 1.0).volume / (200 * s.last_q))
    assert 1 <= s.ess < 200
    uniform = s.draw()  # no residual: uniform resampling of the pool
    assert np.allclose(uniform.w, np.pi / 200)


def test_given_pool_and_values_and_state():
    box = Box([(0, 1)])
    pool = box.points(16, "gauss")
    s = AdaptiveSampler(box, n=8, seed=1)
    pts = s.draw(pool=pool, values=pool.x[:, 0])
    assert set(map(float, pts.x[:, 0])) <= set(map(float, pool.x[:, 0]))
    saved = s.state()
    again = s.draw(peak)
    s.set_state(saved)
    assert np.array_equal(s.draw(peak).x, again.x)


def test_errors():
    with pytest.raises(QuadratureError, match=r"mix .* must be in \(0, 1\]"):
        AdaptiveSampler(Box([(0, 1)]), n=8, mix=0.0)
    s = AdaptiveSampler(Box([(0, 1)]), n=8, seed=0)
    with pytest.raises(QuadratureError, match=r"finite with shape \(64,\)"):
        s.draw(lambda p: np.ones(3))
    with pytest.raises(QuadratureError, match="values= needs the pool="):
        s.draw(values=np.ones(3))
