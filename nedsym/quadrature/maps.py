r"""Maps from the unit cube onto spheres, balls and simplices.

*Measure-preserving* maps (``*_uniform``) send uniform points to uniform points, so
low-discrepancy points stay evenly spread: the sphere by exact area-preserving maps in
2-D/3-D (angle; Archimedes' :math:`z = 1-2u`) and by normalized Gaussians
:math:`g = \Phi^{-1}(u)`, :math:`\xi = g/|g|` in higher dimension; balls by radial CDF
inversion :math:`r = R\,u^{1/d}`; simplices by the Rosenblatt (conditional CDF) map.

*Smooth* maps (``*_product``) with their Jacobian serve the tensor rules: hyperspherical
angles for spheres and the Duffy (collapsed-coordinate) map for simplices, which keeps
polynomials polynomial so Gauss rules stay exact.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtri


def sphere_param_dim(d: int) -> int:
    """Unit-cube dimension used by :func:`sphere_uniform` for the sphere in :math:`\\mathbb R^d`."""
    return d - 1 if d <= 3 else d


def sphere_uniform(u: np.ndarray, d: int) -> np.ndarray:
    """Uniform points on the unit sphere :math:`S^{d-1}` from uniform ``u``."""
    if d == 2:
        th = 2.0 * np.pi * u[:, 0]
        return np.stack([np.cos(th), np.sin(th)], axis=1)
    if d == 3:
        z = 1.0 - 2.0 * u[:, 0]
        ph = 2.0 * np.pi * u[:, 1]
        s = np.sqrt(np.maximum(0.0, 1.0 - z * z))
        return np.stack([s * np.cos(ph), s * np.sin(ph), z], axis=1)
    g = ndtri(u)
    return g / np.linalg.norm(g, axis=1, keepdims=True)


def hyperspherical_product(t: np.ndarray, d: int) -> tuple[np.ndarray, np.ndarray]:
    r"""Unit vectors and surface Jacobian from :math:`t \in [0,1]^{d-1}`.

    Angles :math:`\phi_j = \pi t_j` (:math:`j < d-2`) and :math:`\phi_{d-2} = 2\pi t_{d-2}`;
    :math:`dS = \pi^{d-2}\,2\pi\,\prod_j \sin^{d-2-j}\phi_j\,dt`. The last axis is periodic.
    """
    n = t.shape[0]
    phi = np.pi * t.copy()
    phi[:, -1] *= 2.0
    xi = np.ones((n, d))
    sin_prod = np.ones(n)
    jac = np.full(n, np.pi ** (d - 2) * 2.0 * np.pi)
    for j in range(d - 1):
        xi[:, j] = sin_prod * np.cos(phi[:, j])
        if j < d - 2:
            jac *= np.sin(phi[:, j]) ** (d - 2 - j)
        sin_prod = sin_prod * np.sin(phi[:, j])
    xi[:, d - 1] = sin_prod
    return xi, jac


def simplex_uniform(u: np.ndarray) -> np.ndarray:
    r"""Rosenblatt map onto the standard simplex :math:`\{\lambda_i\ge 0,\ \sum\lambda_i\le 1\}`.

    :math:`\lambda_j = s_j\,(1-(1-u_j)^{1/(k-j)})` with :math:`s_j = 1-\sum_{i<j}\lambda_i`;
    continuous and measure-preserving (up to the factor :math:`1/k!`).
    """
    n, k = u.shape
    lam = np.empty((n, k))
    s = np.ones(n)
    for j in range(k):
        lam[:, j] = s * (1.0 - (1.0 - u[:, j]) ** (1.0 / (k - j)))
        s = s - lam[:, j]
    return lam


def simplex_product(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""Duffy map onto the standard simplex and its Jacobian.

    :math:`\lambda_j = t_j\prod_{i<j}(1-t_i)`, :math:`J = \prod_j (1-t_j)^{k-1-j}`.
    """
    n, k = t.shape
    lam = np.empty((n, k))
    s = np.ones(n)
    jac = np.ones(n)
    for j in range(k):
        lam[:, j] = s * t[:, j]
        jac *= (1.0 - t[:, j]) ** (k - 1 - j)
        s = s * (1.0 - t[:, j])
    return lam, jac
