r"""Regularized linear least squares for parameter updates (what NED solves every step).

:func:`solve_rows` takes a rows matrix :math:`A` (one row per residual) and
:func:`solve_gram` a Gram matrix; both add the Tikhonov term :math:`\varepsilon|v|^2`.

Example
-------
>>> import numpy as np
>>> A = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]]); b = np.array([1.0, 2.0, 2.0])
>>> np.round(solve_rows(A, b, 0.0, "svd"), 12).tolist()
[1.0, 1.0]
>>> np.allclose(solve_gram(A.T @ A, A.T @ b, 0.0, "cholesky"), [1.0, 1.0])
True
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla

from nedsym.errors import ConfigError

__all__ = ["SOLVERS", "solve_gram", "solve_rows"]

#: the solvers :func:`solve_rows` accepts
SOLVERS = ("auto", "cholesky", "svd", "kernel")


def solve_rows(A: np.ndarray, b: np.ndarray, ridge: float, solver: str = "auto") -> np.ndarray:
    r"""Solve :math:`\min_v |A v - b|^2 + \varepsilon |v|^2` for a rows matrix ``A`` (R×P).

    ``cholesky``: :math:`(A^\top A + \varepsilon I) v = A^\top b`; ``svd``: through the thin SVD
    (filter factors :math:`s/(s^2+\varepsilon)`); ``kernel``:
    :math:`v = A^\top (A A^\top + \varepsilon I)^{-1} b` (cheap when R < P); ``auto``: kernel if
    R < P else Cholesky. A Cholesky failure (a singular Gram matrix with ``ridge=0``) falls back
    to the SVD.
    """
    R, P = A.shape
    if solver == "auto":
        solver = "kernel" if R < P else "cholesky"
    if solver == "kernel":
        K = A @ A.T
        K[np.diag_indices_from(K)] += ridge
        try:
            return A.T @ sla.cho_solve(sla.cho_factor(K, lower=True, check_finite=False), b)
        except (np.linalg.LinAlgError, ValueError):
            return A.T @ np.linalg.lstsq(K, b, rcond=None)[0]
    if solver == "cholesky":
        G = A.T @ A
        G[np.diag_indices_from(G)] += ridge
        try:
            return sla.cho_solve(sla.cho_factor(G, lower=True, check_finite=False), A.T @ b)
        except (np.linalg.LinAlgError, ValueError):
            solver = "svd"
    if solver == "svd":
        U, s, Vt = np.linalg.svd(A, full_matrices=False)
        if ridge > 0:
            filt = s / (s * s + ridge)
        else:  # minimum-norm least squares: drop numerically zero singular values
            cut = max(R, P) * np.finfo(float).eps * (s[0] if s.size else 0.0)
            filt = np.divide(1.0, s, out=np.zeros_like(s), where=s > cut)
        return Vt.T @ (filt * (U.T @ b))
    raise ConfigError(f"unknown solver {solver!r}; choose one of {SOLVERS}")


def solve_gram(G: np.ndarray, g: np.ndarray, ridge: float, solver: str) -> np.ndarray:
    """``(G + ridge I) v = g`` for the weak route (a Gram matrix, not rows)."""
    G = G.copy()
    G[np.diag_indices_from(G)] += ridge
    if solver in ("auto", "cholesky"):
        try:
            return sla.cho_solve(sla.cho_factor(G, lower=True, check_finite=False), g)
        except (np.linalg.LinAlgError, ValueError):
            pass
    if solver == "kernel":
        raise ConfigError("solver='kernel' needs point-space residuals: use residual='strong', "
                          "or solver='cholesky'/'svd' with residual='weak'")
    lam, V = np.linalg.eigh(G)
    inv = np.divide(1.0, lam, out=np.zeros_like(lam), where=lam > 1e-14 * max(lam[-1], 1e-300))
    return V @ (inv * (V.T @ g))
