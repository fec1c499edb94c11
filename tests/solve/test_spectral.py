"""Semi-implicit Fourier stepping vs RK4, spectral symbols, energy stability."""

import numpy as np
import pytest
import scipy.fft

from nedsym.discretize import Grid, fourier_wavenumbers, linear_multiplier
from nedsym.errors import DiscretizationError, SolverError
from nedsym.solve import integrate

EPS = 0.15


def _grid():
    return Grid(64, [(0.0, 2 * np.pi)], bc="periodic")


def _spectral_lap(grid):
    (k,) = fourier_wavenumbers(grid)
    return lambda u: scipy.fft.irfft(-(k ** 2) * scipy.fft.rfft(u, axis=-1), n=u.shape[-1],
                                     axis=-1)


def test_symbols():
    g = Grid((8, 6), [(0, 2 * np.pi), (0, 2 * np.pi)])
    kx, ky = fourier_wavenumbers(g)
    assert kx.shape == (8, 1) and ky.shape == (1, 4)
    L = linear_multiplier(g, {(2, 0): 1.0, (0, 2): 2.0})
    np.testing.assert_allclose(L[0], -(kx ** 2) - 2 * ky ** 2)
    Lm = linear_multiplier(g, {(1, 1): 1.0})
    mask = (np.arange(8) != 4)[:, None] & (np.arange(4) != 3)[None, :]  # Nyquist modes
    np.testing.assert_allclose(Lm[0].real, -(kx * ky) * mask)
    adv = linear_multiplier(Grid(8, [(0, 2 * np.pi)]), {(1,): 1.0})
    assert np.iscomplexobj(adv) and adv[0, 4] == 0 and adv[0, 1] == 1j
    two = linear_multiplier(g, {"v": {(0, 0): -1.0}, "u": {(2, 0): 1.0}}, field_names=["u", "v"])
    assert two.shape == (2, 8, 4) and two[1].max() == -1.0
    with pytest.raises(DiscretizationError, match="not periodic"):
        fourier_wavenumbers(Grid(8, bc="neumann"))
    with pytest.raises(DiscretizationError, match="2 non-negative orders"):
        linear_multiplier(g, {(2,): 1.0})


def test_linear_multiplier_matches_derivative():
    g = Grid(32, [(0, 2 * np.pi)])
    x = g.axes[0]
    L = linear_multiplier(g, {(3,): 1.0})
    d3 = scipy.fft.irfft(L[0] * scipy.fft.rfft(np.sin(2 * x)), n=32)
    np.testing.assert_allclose(d3, -8 * np.cos(2 * x), atol=1e-10)


def test_heat_semi_implicit_first_order_vs_exact():
    g = _grid()
    x = g.axes[0]
    y0 = (np.sin(x) + 0.5 * np.sin(3 * x))[None]
    L = linear_multiplier(g, {(2,): 0.1})
    exact = np.sin(x) * np.exp(-0.1) + 0.5 * np.sin(3 * x) * np.exp(-0.9)
    errs = []
    for dt in (0.1, 0.05):
        res = integrate(lambda t, y, out: out.fill(0.0), y0, 1.0, stepper="semi-implicit",
                        linear=L, dt=dt, progress=False)
        errs.append(np.abs(res.final[0] - exact).max())
    assert abs(np.log2(errs[0] / errs[1]) - 1.0) < 0.15


def _allen_cahn(grid):
    lap = _spectral_lap(grid)
    L = linear_multiplier(grid, {(2,): EPS ** 2})

    def full(t, y, out):
        out[...] = EPS ** 2 * lap(y) + y - y ** 3

    def nonlinear(t, y, out):
        out[...] = y - y ** 3

    (k,) = fourier_wavenumbers(grid)

    def energy(y):
        ux = scipy.fft.irfft(1j * k * scipy.fft.rfft(y[0]), n=y.shape[-1])
        return grid.integrate(EPS ** 2 / 2 * ux ** 2 + (y[0] ** 2 - 1) ** 2 / 4)

    return full, nonlinear, L, energy


def test_allen_cahn_semi_implicit_close_to_rk4():
    g = _grid()
    full, nonlinear, L, _ = _allen_cahn(g)
    y0 = (0.3 * np.cos(g.axes[0]) + 0.1 * np.sin(2 * g.axes[0]))[None]
    ref = integrate(full, y0, 1.0, stepper="rk4", dt=0.01, progress=False).final
    errs = [np.abs(integrate(nonlinear, y0, 1.0, stepper="semi-implicit", linear=L, dt=dt,
                             progress=False).final - ref).max() for dt in (0.02, 0.01)]
    assert errs[1] < 0.02
    assert 1.6 < errs[0] / errs[1] < 2.4    # first order in dt


def test_stabilized_energy_decreases_with_large_dt():
    g = _grid()
    _, nonlinear, L, energy = _allen_cahn(g)
    y0 = np.random.default_rng(1).uniform(-0.5, 0.5, size=(1, 64))
    res = integrate(nonlinear, y0, 40.0, stepper="stabilized", linear=L, stabilization=2.0,
                    dt=2.0, energy=energy, progress=False)
    E = res.energy
    assert len(E) == 21 and res.diagnostics["stepper"] == "stabilized"
    assert np.all(np.diff(E) <= 1e-12), np.diff(E).max()
    assert E[-1] < 0.5 * E[0]


def test_semi_implicit_shape_checks():
    g = _grid()
    L = linear_multiplier(g, {(2,): 1.0})
    with pytest.raises(SolverError, match="L_hat has shape"):
        integrate(lambda t, y, o: o.fill(0), np.zeros((2, 32)), 1.0, stepper="semi-implicit",
                  linear=L, dt=0.1, progress=False)
    with pytest.raises(SolverError, match="vanishes"):
        integrate(lambda t, y, o: o.fill(0), np.zeros((1, 64)), 1.0, stepper="semi-implicit",
                  linear=np.ones_like(L), dt=1.0, progress=False)
