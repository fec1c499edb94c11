import pickle

import numpy as np
import pytest

from nedsym.errors import QuadratureError
from nedsym.quadrature import Ball, Box, Sampler


@pytest.mark.parametrize("rule", ["mc", "sobol", "lhs"])
def test_fresh_points_each_step_reproducible(rule):
    a = Sampler(Ball((0, 0), 1), rule, n=32, seed=11)
    b = Sampler(Ball((0, 0), 1), rule, n=32, seed=11)
    first, second = a.draw(), a.draw()
    assert not np.array_equal(first.x, second.x)
    assert np.array_equal(b.draw().x, first.x) and np.array_equal(next(b).x, second.x)
    assert a.step == 2


def test_checkpoint_state_round_trip():
    s = Sampler(Box([(0, 1), (0, 1)]).boundary(), "halton", n=40, seed=3)
    s.draw()
    saved = pickle.loads(pickle.dumps(s.state()))
    expected = [s.draw().x for _ in range(3)]
    fresh = Sampler(Box([(0, 1), (0, 1)]).boundary(), "halton", n=40, seed=999)
    fresh.set_state(saved)
    assert fresh.step == 1
    for e, p in zip(expected, fresh, strict=False):
        assert np.array_equal(e, p.x) and p.normals is not None
    with pytest.raises(QuadratureError, match="state is for rule='halton', n=40"):
        Sampler(Box([(0, 1)]), "mc", n=40).set_state(saved)


def test_sampler_integrate_and_deterministic_rule():
    s = Sampler(Box([(0, 2)]), "mc", n=2000, seed=0)
    est = s.integrate(lambda p: p[:, 0])
    assert abs(est.value - 2.0) < 4 * est.stderr
    g = Sampler(Box([(0, 2)]), "gauss", n=4)
    assert np.array_equal(g.draw().x, g.draw().x)
    with pytest.raises(QuadratureError, match="positive integer"):
        Sampler(Box([(0, 1)]), "mc", n=-1)
