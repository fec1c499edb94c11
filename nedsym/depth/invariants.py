r"""Invariants of the state-costate system, as numerical checks.

* :func:`hamiltonian_along`: :math:`H(x_k, p_k)` along a forward-backward sweep.
  For autonomous dynamics (no explicit :math:`t`, :math:`\theta` constant in
  depth) :math:`dH/dt = \partial_t H = 0`, so the drift is of the stepper's order.
* :func:`tangent_pairing`: :math:`p_k\cdot\delta x_k` for a linearized perturbation
  :math:`\delta x`. Without running cost
  :math:`\tfrac{d}{dt}(p\cdot\delta x) = -p^\top F_x\,\delta x + p^\top F_x\,\delta x = 0`;
  the discrete adjoint keeps it constant *exactly* (to round-off), because it
  is the transpose of the discrete tangent map.
* :func:`flow_volume`: :math:`\det \partial(x(T), p(T))/\partial(x_0, p_0)` of the
  Hamiltonian flow :math:`\dot x = \partial_p H,\ \dot p = -\partial_x H` (divergence
  free, so the determinant is 1; the RK4 flow map keeps it to :math:`O(h^4)`).
"""

from __future__ import annotations

import numpy as np

from nedsym.depth.ode import DepthGradient, DepthODE
from nedsym.depth.steppers import get_tableau
from nedsym.errors import ConfigError

__all__ = ["flow_volume", "hamiltonian_along", "tangent_pairing"]


def _theta_at_nodes(theta: np.ndarray) -> np.ndarray:
    """θ for each of the ``steps + 1`` nodes (the last node uses the last step's θ)."""
    return np.concatenate([theta, theta[-1:]], axis=0)


def hamiltonian_along(ode: DepthODE, res: DepthGradient, theta: np.ndarray) -> np.ndarray:
    r"""Per-sample :math:`H(x_k, p_k, \theta_k, t_k)`, shape ``(steps + 1, B)``.

    Example
    -------
    >>> import sympy as sp
    >>> from nedsym.depth import DepthODE, matrix, vector
    >>> x = vector("x", 2); W = matrix("W", 2, 2); b = vector("b", 2)
    >>> ode = DepthODE(x, (W*x + b).applyfunc(sp.tanh), [W, b])
    >>> theta = ode.pack({W: np.eye(2) / 2, b: np.zeros(2)}, steps=40)
    >>> res = ode.gradient(np.ones((3, 2)), theta, T=1.0, data=np.zeros((3, 2)),
    ...                    stepper="rk4")
    >>> Hk = hamiltonian_along(ode, res, theta)   # constant in depth: autonomous weights
    >>> Hk.shape, bool(np.max(np.abs(Hk - Hk[0])) < 1e-6 * np.max(np.abs(Hk[0])))
    ((41, 3), True)
    """
    theta = ode._theta(theta, res.trajectory.stages.shape[0])
    th = _theta_at_nodes(theta)
    h = res.trajectory.h
    return np.stack([ode.H(res.trajectory.xs[k], res.ps[k], th[k], k * h)
                     for k in range(len(th))])


def tangent_pairing(ode: DepthODE, res: DepthGradient, theta: np.ndarray,
                    v0: np.ndarray) -> np.ndarray:
    r""":math:`p_k\cdot\delta x_k` per sample, shape ``(steps + 1, B)``; ``v0`` is ``(B, n)``.

    Constant to round-off for the discrete adjoint when there is no running cost.
    """
    vs = ode.tangent(res.trajectory, theta, v0)
    return np.einsum("knb,knb->kb", res.ps, vs)


def flow_volume(ode: DepthODE, x0: np.ndarray, p0: np.ndarray, theta: np.ndarray,
                T: float = 1.0, stepper: str = "rk4", eps: float = 1e-5) -> float:
    r"""Determinant of the Jacobian of the :math:`(x, p)` flow map over :math:`[0, T]`.

    One sample ``x0, p0`` (shape ``(n,)``); the Jacobian by central differences,
    all :math:`4n` perturbed copies integrated together as one batch.
    """
    x0, p0 = np.asarray(x0, float).ravel(), np.asarray(p0, float).ravel()
    n = ode.n
    if x0.shape != (n,) or p0.shape != (n,):
        raise ConfigError(f"flow_volume needs x0 and p0 of shape ({n},)")
    theta = np.asarray(theta, float)
    if theta.ndim != 2:
        raise ConfigError("flow_volume needs theta of shape (steps, nθ)")
    z0 = np.concatenate([x0, p0])
    E = np.eye(2 * n) * eps
    Z = np.concatenate([z0 + E, z0 - E], axis=0).T  # (2n, 4n)
    tab = get_tableau(stepper)
    h = float(T) / theta.shape[0]

    def field(z, th, t):
        X, P = z[:n], z[n:]
        gx, _ = ode.vjp(np.ascontiguousarray(X), np.ascontiguousarray(P), th, t)
        return np.concatenate([ode.F(np.ascontiguousarray(X), th, t), -gx], axis=0)

    K = np.empty((tab.stages,) + Z.shape)
    for k in range(theta.shape[0]):
        for i in range(tab.stages):
            Zi = Z + h * np.tensordot(tab.a[i, :i], K[:i], axes=1) if i else Z
            K[i] = field(Zi, theta[k], (k + tab.c[i]) * h)
        Z = Z + h * np.tensordot(tab.b, K, axes=1)
    jac = (Z[:, : 2 * n] - Z[:, 2 * n:]) / (2 * eps)
    return float(np.linalg.det(jac))
