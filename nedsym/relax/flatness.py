r"""How flat is a minimum: the top eigenvalues of the loss Hessian, by Lanczos on
Hessian-vector products of the generated gradient.

:math:`Hv \approx (\nabla\ell(\theta + hv) - \nabla\ell(\theta - hv))/(2h)` (central
difference of the full-batch gradient, error :math:`O(h^2)`), fed to ARPACK's Lanczos
(``scipy.sparse.linalg.eigsh``, largest algebraic). The Hessian of a smooth loss is
symmetric, so Lanczos applies; the finite-difference operator is symmetric to
:math:`O(h^2)`.

Example
-------
>>> import numpy as np
>>> A = np.diag([5.0, 2.0, 1.0, 0.5])
>>> vals = hessian_top_eigenvalues(lambda x: A @ x, np.zeros(4), k=2)
>>> np.round(vals, 6).tolist()
[5.0, 2.0]
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse.linalg as spla

from nedsym.errors import SolverError

__all__ = ["hessian_top_eigenvalues"]


def hessian_top_eigenvalues(grad: Callable[[np.ndarray], np.ndarray], theta, k: int = 1,
                            h: float = 1e-4, tol: float = 1e-6, seed: int = 0) -> np.ndarray:
    """The ``k`` largest eigenvalues (descending) of the Hessian of the function whose
    full gradient is ``grad(theta)``, at ``theta``."""
    theta = np.asarray(theta, dtype=float)
    n = theta.size
    if not 1 <= int(k) < n:
        raise SolverError(f"hessian_top_eigenvalues: need 1 <= k < {n} (the dimension), "
                          f"got k={k}")
    if not h > 0:
        raise SolverError(f"hessian_top_eigenvalues: h must be positive, got {h}")

    def hvp(v):
        v = np.asarray(v, dtype=float).ravel()
        nv = float(np.linalg.norm(v))
        if nv == 0:
            return np.zeros(n)
        s = h / nv
        return (np.asarray(grad(theta + s * v)) - np.asarray(grad(theta - s * v))) / (2 * s)

    op = spla.LinearOperator((n, n), matvec=hvp, dtype=float)
    v0 = np.random.default_rng(seed).standard_normal(n)
    vals = spla.eigsh(op, k=int(k), which="LA", tol=tol, v0=v0,
                      return_eigenvectors=False)
    if not np.all(np.isfinite(vals)):
        raise SolverError("hessian_top_eigenvalues: the Hessian-vector products are not "
                          "finite at this theta")
    return np.sort(vals)[::-1]
