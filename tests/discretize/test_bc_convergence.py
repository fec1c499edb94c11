"""The discrete Laplacian with each boundary condition converges at its stated order.

Manufactured solutions of the Helmholtz problem ``u - lap(u) = f``: the operator is assembled
column by column from ghost filling + central stencils (so it is exactly what kernels see).
Periodic: order = stencil accuracy. Dirichlet/Neumann by reflection: 2nd order.
"""

import numpy as np
import pytest

from nedsym.discretize import Dirichlet, Grid, Natural, Neumann, central_stencil


def _laplacian(grid, yp, halo, acc):
    offs, w = central_stencil(2, acc)
    out = np.zeros((yp.shape[0], *grid.shape))
    for a in range(grid.ndim):
        for s, wk in zip(offs, w, strict=True):
            idx = [slice(None)] + [slice(halo, halo + n) for n in grid.shape]
            idx[1 + a] = slice(halo + s, halo + s + grid.shape[a])
            out += wk * yp[tuple(idx)] / grid.spacing[a] ** 2
    return out


def _helmholtz_error(grid, u, f, acc=2):
    halo = central_stencil(2, acc)[0][-1]
    bd = grid.boundary_data(["u"], halo)
    N = grid.size

    def apply(v):
        yp = grid.pad(v.reshape(1, *grid.shape), halo, bd)
        return (v.reshape(1, *grid.shape) - _laplacian(grid, yp, halo, acc)).ravel()

    b = apply(np.zeros(N))
    A = np.column_stack([apply(e) - b for e in np.eye(N)])
    sol = np.linalg.solve(A, f(*grid.mesh()).ravel() - b)
    return np.abs(sol - u(*grid.mesh()).ravel()).max()


def _rates(make_grid, u, f, acc=2, ns=(16, 32, 64)):
    errs = [_helmholtz_error(make_grid(n), u, f, acc) for n in ns]
    return [np.log2(errs[i] / errs[i + 1]) for i in range(len(errs) - 1)], errs


def _u(x):
    return np.exp(x) * np.cos(2 * x)


def _f(x):  # u - u''   with u'' = exp(x)(-3 cos 2x - 4 sin 2x)
    return np.exp(x) * np.cos(2 * x) + np.exp(x) * (3 * np.cos(2 * x) + 4 * np.sin(2 * x))


def _du(x):
    return np.exp(x) * (np.cos(2 * x) - 2 * np.sin(2 * x))


@pytest.mark.parametrize("name", ["dirichlet", "neumann", "mixed"])
def test_reflection_bcs_second_order_1d(name):
    a, b = 0.0, 1.0
    bcs = {
        "dirichlet": Dirichlet(lambda x, t: _u(x)),
        "neumann": (Neumann(-_du(a)), Neumann(_du(b))),      # outward normal: -u'(a), +u'(b)
        "mixed": (Dirichlet(float(_u(a))), Neumann(lambda x, t: _du(x))),
    }[name]
    rates, errs = _rates(lambda n: Grid(n, [(a, b)], bc={"x": bcs}), _u, _f)
    assert errs[-1] < 1e-3
    assert min(rates) > 1.8 and max(rates) < 2.3, rates


def test_natural_is_zero_flux():
    # u = cos(pi x) has u'(0) = u'(1) = 0
    def u(x):
        return np.cos(np.pi * x)

    def f(x):
        return (1 + np.pi ** 2) * np.cos(np.pi * x)

    rates, _ = _rates(lambda n: Grid(n, [(0, 1)], bc=Natural()), u, f)
    assert min(rates) > 1.8


@pytest.mark.parametrize("acc", [2, 4])
def test_periodic_order_equals_accuracy(acc):
    def u(x):
        return np.sin(2 * np.pi * x) + 0.3 * np.cos(4 * np.pi * x)

    def f(x):
        return (1 + 4 * np.pi ** 2) * np.sin(2 * np.pi * x) \
            + 0.3 * (1 + 16 * np.pi ** 2) * np.cos(4 * np.pi * x)

    rates, _ = _rates(lambda n: Grid(n, [(0, 1)], bc="periodic"), u, f, acc=acc)
    assert abs(rates[-1] - acc) < 0.3, rates


def test_2d_mixed_bcs_second_order():
    def u(x, y):
        return np.sin(x + 0.5) * np.exp(0.5 * y)

    def f(x, y):
        return u(x, y) * (1 + 1 - 0.25)

    bc = {"x": Dirichlet(lambda x, y, t: u(x, y)),
          "y": (Neumann(lambda x, y, t: -0.5 * u(x, y)), Neumann(lambda x, y, t: 0.5 * u(x, y)))}
    rates, _ = _rates(lambda n: Grid((n, n), [(0, 1), (0, 1)], bc=bc), u, f, ns=(8, 16, 32))
    assert min(rates) > 1.8 and max(rates) < 2.3, rates
