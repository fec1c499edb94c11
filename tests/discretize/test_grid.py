"""Grid geometry, boundary specs and error messages."""

import numpy as np
import pytest

from nedsym.discretize import Dirichlet, Grid, Natural, Neumann, Periodic, resolve_bcs
from nedsym.errors import BoundaryConditionError, DiscretizationError


def test_geometry_cell_centred():
    g = Grid((4, 2, 5), [(0, 1), (-1, 1), (0, 10)], bc="neumann")
    assert g.ndim == 3 and g.shape == (4, 2, 5)
    assert g.spacing == (0.25, 1.0, 2.0)
    assert g.dV == g.cell_volume == 0.5
    np.testing.assert_allclose(g.axes[1], [-0.5, 0.5])
    X, Y, Z = g.mesh()
    assert X.shape == (4, 2, 5) and Z[0, 0, -1] == 9.0
    assert g.integrate(np.ones(g.shape)) == pytest.approx(g.volume) == pytest.approx(20.0)
    assert g.periodic == (False, False, False)
    assert Grid(8).periodic == (True,) and Grid(8).bounds == ((0.0, 1.0),)


@pytest.mark.parametrize("shape,bounds,match", [
    ((4, 0), None, "axis 'y'.*positive integer, got 0"),
    ((4, 2.5), None, "axis 'y'.*got 2.5"),
    ((4,), [(1.0, 0.0)], "axis 'x'.*lo < hi, got \\(1.0, 0.0\\)"),
    ((4, 4), [(0, 1)], "one \\(lo, hi\\) pair per axis"),
    ((2, 2, 2, 2), None, "1 to 3 axes"),
    ((4,), [(0, np.inf)], "finite"),
])
def test_bad_grid(shape, bounds, match):
    with pytest.raises(DiscretizationError, match=match):
        Grid(shape, bounds)


def test_pad_and_interior_roundtrip():
    g = Grid((3, 4))
    y = np.arange(24.0).reshape(2, 3, 4)
    yp = g.pad(y, 2)
    assert yp.shape == (2, 7, 8) and yp.flags.c_contiguous
    np.testing.assert_array_equal(g.interior(yp, 2), y)
    with pytest.raises(DiscretizationError, match="shape"):
        g.pad(np.zeros((1, 4, 3)), 1)


def test_spec_forms():
    g = Grid((4, 4), bc={"x": "periodic", 1: (Dirichlet(1.0), "neumann")})
    bcs = g.bcs_for(["u"])["u"]
    assert bcs[0] == (Periodic(), Periodic())
    assert bcs[1] == (Dirichlet(1.0), Neumann(0.0))
    assert g.periodic == (True, False)
    per_field = Grid((4,), bc={"u": "natural", "v": Dirichlet(2.0)}).bcs_for(["u", "v"])
    assert per_field["u"][0][0] == Natural() and per_field["v"][0][1] == Dirichlet(2.0)
    # override at bcs_for time; fields not named fall back to the grid default
    over = Grid((4,), bc="neumann").bcs_for(["u", "v"], bc={"v": "dirichlet"})
    assert over["u"][0][0] == Neumann() and over["v"][0][0] == Dirichlet()


def test_unknown_name_lists_valid():
    with pytest.raises(BoundaryConditionError, match="'robin'.*dirichlet.*natural.*neumann"):
        Grid(4, bc="robin")
    with pytest.raises(BoundaryConditionError, match="unknown axis 5"):
        resolve_bcs({"u": {5: "neumann"}}, ["x"], ["u"])


def test_periodic_one_side_rejected():
    with pytest.raises(BoundaryConditionError, match="axis 'y'.*side 'hi'"):
        Grid((4, 4), bc={"x": "neumann", "y": ("periodic", "neumann")})


def test_periodic_must_hold_for_all_fields():
    with pytest.raises(BoundaryConditionError, match="axis 'x'.*field 'v'.*side 'lo'"):
        Grid((4,), bc={"u": "periodic", "v": "neumann"})
    with pytest.raises(BoundaryConditionError, match="axis 'x' is periodic, but field 'v'"):
        Grid(4, bc="periodic").bcs_for(["u", "v"], bc={"v": "neumann"})


def test_missing_axis_and_field():
    with pytest.raises(BoundaryConditionError, match="no condition for axis.*'y'"):
        Grid((4, 4), bc={"x": "periodic"})
    with pytest.raises(BoundaryConditionError, match="no boundary condition for field 'w'"):
        Grid((4,), bc={"u": "neumann"}).bcs_for(["u", "w"])
