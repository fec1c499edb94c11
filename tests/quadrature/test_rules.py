import numpy as np
import pytest

from nedsym.errors import QuadratureError
from nedsym.quadrature.rules import (
    RULES,
    check_n,
    get_rule,
    per_axis,
    product_unit,
    sample_unit,
    stream,
)


def test_unknown_rule_lists_valid_names():
    with pytest.raises(QuadratureError, match="unknown quadrature rule 'simpson'.*mc, lhs, sobol"):
        get_rule("simpson")


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "8"])
def test_non_positive_or_non_integer_n(bad):
    with pytest.raises(QuadratureError, match="positive integer"):
        check_n(bad)


@pytest.mark.parametrize("m", [1, 2, 3, 5, 8])
def test_gauss_exact_to_degree_2m_minus_1(m):
    u, w = product_unit(get_rule("gauss"), 1, m)
    t = u[:, 0]
    for p in range(2 * m):
        assert w @ t**p == pytest.approx(1.0 / (p + 1), rel=1e-12, abs=1e-15)
    assert abs(w @ t ** (2 * m) - 1.0 / (2 * m + 1)) > 1e-12


def test_gauss_per_axis_counts_tensor_exactness():
    u, w = product_unit(get_rule("gauss"), 2, (2, 4))
    assert u.shape == (8, 2)
    assert w @ (u[:, 0] ** 3 * u[:, 1] ** 7) == pytest.approx(1 / 32, rel=1e-13)
    assert abs(w @ (u[:, 0] ** 4) - 0.2) > 1e-6  # degree 4 > 2*2-1 on axis 0


def test_per_axis_rounding_and_mismatch():
    assert per_axis(1000, 3) == [10, 10, 10]
    with pytest.raises(QuadratureError, match="3 entries but the rule needs 2"):
        per_axis((2, 3, 4), 2)


def test_periodic_axis_uses_midpoint():
    u, w = product_unit(get_rule("gauss"), 2, (4, 4), periodic=[False, True])
    assert np.allclose(np.unique(u[:, 1]), (np.arange(4) + 0.5) / 4)
    assert w.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("name", ["mc", "lhs", "sobol", "halton"])
def test_sampling_rules_open_cube_and_seeded(name):
    rule = RULES[name]
    a = sample_unit(rule, 3, 64, np.random.default_rng(5))
    b = sample_unit(rule, 3, 64, np.random.default_rng(5))
    c = sample_unit(rule, 3, 64, np.random.default_rng(6))
    assert a.shape == (64, 3) and np.all((a > 0) & (a < 1))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_lhs_stratifies_each_axis():
    u = sample_unit(RULES["lhs"], 2, 16, np.random.default_rng(0))
    for j in range(2):
        assert sorted(np.floor(u[:, j] * 16).astype(int)) == list(range(16))


def test_sobol_stream_continues_one_sequence():
    take = stream(RULES["sobol"], 2, np.random.default_rng(1))
    first, second = take(8), take(8)
    both = np.vstack([first, second])
    # the first 16 points of a scrambled Sobol' sequence hit each of the 16 cells of a 4x4 grid
    cells = {(int(a * 4), int(b * 4)) for a, b in both}
    assert len(cells) == 16
