"""Ghost-cell filling: compiled filler vs numpy reference, values per kind, varying data."""

import numpy as np
import pytest

from nedsym.discretize import (
    EVEN,
    ODD,
    PERIODIC,
    Dirichlet,
    Grid,
    Neumann,
    fill_halo_numpy,
    halo_filler,
)
from nedsym.errors import DiscretizationError


@pytest.mark.parametrize("ndim", [1, 2, 3])
@pytest.mark.parametrize("halo", [1, 2, 3])
def test_njit_matches_numpy_every_kind(ndim, halo):
    rng = np.random.default_rng(ndim * 10 + halo)
    shape = (5, 4, 3)[:ndim]
    nfields = 3
    fill = halo_filler(ndim)
    for kind in (PERIODIC, EVEN, ODD, None):
        if kind is None:   # mixed: random non-periodic kinds per side, periodic per whole axis
            kinds = rng.integers(1, 3, size=(nfields, ndim, 2))
            kinds[:, 0, :] = PERIODIC
        else:
            kinds = np.full((nfields, ndim, 2), kind, dtype=np.int64)
        kinds = kinds.astype(np.int64)
        values = rng.normal(size=(nfields, ndim, 2))
        yp = rng.normal(size=(nfields, *[n + 2 * halo for n in shape]))
        ref = yp.copy()
        fill(yp, halo, kinds, values)
        fill_halo_numpy(ref, halo, kinds, values)
        np.testing.assert_array_equal(yp, ref)
        inner = (slice(None),) + (slice(halo, -halo),) * ndim
        # ghosts were actually written (no longer the random initial values)
        assert not np.array_equal(yp, rng.normal(size=yp.shape))
        assert np.isfinite(yp).all() and yp[inner].shape == (nfields, *shape)


def test_values_per_kind_1d():
    y = np.array([[1.0, 2.0, 4.0, 8.0]])
    for kind, value, lo, hi in [
        (PERIODIC, 0.0, [4.0, 8.0], [1.0, 2.0]),
        (EVEN, 0.5, [2.0 + 3 * 0.5, 1.0 + 0.5], [8.0 + 0.5, 4.0 + 1.5]),
        (ODD, 3.0, [6.0 - 2.0, 6.0 - 1.0], [6.0 - 8.0, 6.0 - 4.0]),
    ]:
        yp = np.zeros((1, 8))
        yp[0, 2:6] = y
        kinds = np.full((1, 1, 2), kind, np.int64)
        halo_filler(1)(yp, 2, kinds, np.full((1, 1, 2), value))
        assert yp[0, :2].tolist() == lo and yp[0, 6:].tolist() == hi, kind


def test_corners_filled_axis_by_axis():
    yp = np.zeros((1, 4, 4))
    yp[0, 1:3, 1:3] = [[1.0, 2.0], [3.0, 4.0]]
    kinds = np.full((1, 2, 2), ODD, np.int64)
    values = np.zeros((1, 2, 2))
    values[0, 0, 0] = 10.0   # axis 0, lo
    values[0, 1, 0] = 1.0    # axis 1, lo
    halo_filler(2)(yp, 1, kinds, values)
    # axis-0 ghost (row 0, col 1) = 2*10 - 1 = 19; corner (0, 0) = 2*1 - 19 along axis 1
    assert yp[0, 0, 1] == 19.0
    assert yp[0, 0, 0] == 2 * 1.0 - 19.0


def test_halo_too_wide_rejected():
    with pytest.raises(DiscretizationError, match="halo=3 exceeds"):
        fill_halo_numpy(np.zeros((1, 8)), 3, np.zeros((1, 1, 2), np.int64), np.zeros((1, 1, 2)))


def test_boundary_data_neumann_uses_spacing():
    g = Grid(4, [(0.0, 2.0)], bc=Neumann(flux=2.0))
    bd = g.boundary_data(["u"], halo=2)
    assert bd.kinds.tolist() == [[[EVEN, EVEN]]]
    assert bd.values[0, 0, 0] == pytest.approx(2.0 * 0.5)
    yp = g.pad(np.zeros((1, 4)), 2, bd)
    # outward flux 2 at x=0: ghost at distance (2k+1) h from its mirror gets + 2 * d
    assert yp[0, :2].tolist() == [2.0 * 1.5, 2.0 * 0.5]


def test_varying_dirichlet_linear_extension_exact_2d():
    # u = 1 + 2x - 3y + t is linear: odd reflection reproduces it in every ghost, corners too.
    def u_exact(x, y, t):
        return 1.0 + 2.0 * x - 3.0 * y + t

    g = Grid((6, 5), [(0.0, 1.0), (-1.0, 0.5)], bc=Dirichlet(u_exact))
    halo, t = 2, 0.75
    bd = g.boundary_data(["u"], halo)
    assert bd.varying
    yp = g.pad(u_exact(*g.mesh(), t)[None], halo, bd, t=t)
    xs = [lo + (np.arange(n + 2 * halo) - halo + 0.5) * h
          for (lo, _), n, h in zip(g.bounds, g.shape, g.spacing, strict=True)]
    X, Y = np.meshgrid(*xs, indexing="ij")
    np.testing.assert_allclose(yp[0], u_exact(X, Y, t), atol=1e-12)
    # refresh at a new time
    yp2 = g.pad(u_exact(*g.mesh(), 2.0)[None], halo, bd, t=2.0)
    np.testing.assert_allclose(yp2[0], u_exact(X, Y, 2.0), atol=1e-12)


def test_varying_constant_callable_matches_constant_path():
    g = Grid((5, 4, 3), bc={"x": Dirichlet(lambda x, y, z, t: 0.0 * x + 1.5),
                            "y": (Neumann(0.25), "dirichlet"), "z": "periodic"})
    g2 = Grid((5, 4, 3), bc={"x": Dirichlet(1.5), "y": (Neumann(0.25), "dirichlet"),
                             "z": "periodic"})
    y = np.random.default_rng(0).normal(size=(2, 5, 4, 3))
    a = g.pad(y, 2, g.boundary_data(["u", "v"], 2))
    b = g2.pad(y, 2, g2.boundary_data(["u", "v"], 2))
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-15)
    assert np.abs(a).sum() > np.abs(g.pad(y, 2)).sum()
