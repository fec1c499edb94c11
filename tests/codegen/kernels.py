"""Kernel IRs shared by the codegen tests."""

import sympy as sp

from nedsym.codegen import Mean, build_map_kernel, build_reduce_kernel, coordinate_symbols
from nedsym.codegen import index_symbols as idx

u, v = sp.IndexedBase("u"), sp.IndexedBase("v")
eps, h0, h1, h2, lo0, a = sp.symbols("eps h0 h1 h2 lo0 a")


def lap_1d():
    (i,) = idx(1)
    return build_map_kernel(["u"], 1, {"u": (u[i - 1] - 2 * u[i] + u[i + 1]) / h0**2},
                            ["h0"], 1)


def allen_cahn_2d(halo=1):
    i, j = idx(2)
    lap = ((u[i - 1, j] - 2 * u[i, j] + u[i + 1, j]) / h0**2
           + (u[i, j - 1] - 2 * u[i, j] + u[i, j + 1]) / h1**2)
    return build_map_kernel(["u"], halo, {"u": eps**2 * lap + u[i, j] - u[i, j]**3},
                            ["eps", "h0", "h1"], 2)


def lap_3d():
    i, j, k = idx(3)
    hs = (h0, h1, h2)
    c = u[i, j, k]
    nb = [(u[i - 1, j, k], u[i + 1, j, k]), (u[i, j - 1, k], u[i, j + 1, k]),
          (u[i, j, k - 1], u[i, j, k + 1])]
    lap = sum((m - 2 * c + p) / h**2 for (m, p), h in zip(nb, hs, strict=True))
    return build_map_kernel(["u"], 1, {"u": lap}, ["h0", "h1", "h2"], 3)


def coupled_2d():
    """Two fields, x-dependence, a high power, a Mean, a function, a 2-wide stencil."""
    i, j = idx(2)
    (x0, _) = coordinate_symbols(2)
    du = (u[i - 2, j] - 16 * u[i - 1, j] + 30 * u[i, j] - 16 * u[i + 1, j] + u[i + 2, j])
    return build_map_kernel(
        ["u", "v"], 2,
        {"u": -du / (12 * h0**2) + a * sp.sin(x0) * v[i, j] - (u[i, j] - v[i, j + 1])**7,
         "v": u[i, j] * v[i, j] - Mean(v[i, j]**2) + sp.exp(-v[i, j - 2]) / (1 + x0**2)},
        ["a", "h0", "h1", "lo0"], 2)


def energy(ndim):
    ix = idx(ndim)
    c = u[ix]
    grad2 = sum((u[tuple(s + int(d == k) for k, s in enumerate(ix))] - c)**2
                for d in range(ndim))
    return build_reduce_kernel(["u"], 1, eps**2 / 2 * grad2 + (c**2 - 1)**2 / 4 + Mean(c) * c,
                               ["eps"], ndim)
