"""A tiny periodic halo filler following the nedsym.discretize.halo contract (tests only)."""

from numba import njit


@njit(cache=True)
def periodic_fill_1d(yp, halo, kinds, values):
    h = halo
    n0 = yp.shape[1] - 2 * h
    for f in range(yp.shape[0]):
        for a in range(h):
            yp[f, a] = yp[f, n0 + a]
            yp[f, n0 + h + a] = yp[f, h + a]


@njit(cache=True)
def periodic_fill_2d(yp, halo, kinds, values):
    h = halo
    n0 = yp.shape[1] - 2 * h
    n1 = yp.shape[2] - 2 * h
    for f in range(yp.shape[0]):
        for a in range(h):
            for j in range(yp.shape[2]):
                yp[f, a, j] = yp[f, n0 + a, j]
                yp[f, n0 + h + a, j] = yp[f, h + a, j]
        for i in range(yp.shape[1]):
            for a in range(h):
                yp[f, i, a] = yp[f, i, n1 + a]
                yp[f, i, n1 + h + a] = yp[f, i, h + a]


def periodic_numpy(yp, halo):
    """Reference: the same periodic fill with np.pad semantics."""
    import numpy as np

    h = halo
    inner = yp[(slice(None),) + (slice(h, -h),) * (yp.ndim - 1)]
    return np.pad(inner, [(0, 0)] + [(h, h)] * (yp.ndim - 1), mode="wrap")
