r"""Explicit Runge–Kutta in depth, with its exact discrete adjoint and the continuous one.

One step of an explicit RK method with tableau :math:`(a, b, c)` and the
parameters :math:`\theta_k` held constant over the step (one parameter set
per step: a ResNet block),

.. math::
    X_i = x_k + h\sum_{j<i} a_{ij} K_j,\quad K_i = F(X_i, \theta_k, t_k + c_i h),\quad
    x_{k+1} = x_k + h\sum_i b_i K_i,

and the running cost integrated by the same weights, :math:`h\sum_i b_i L(X_i)`.

**Discrete adjoint** (reverse-mode differentiation of exactly these
operations, written with the Hamiltonian :math:`H = p\cdot F - L`). With
:math:`p_{k+1} = -\partial J/\partial x_{k+1}`, going through the stages
backwards,

.. math::
    m_i = p_{k+1} + \sum_{l > i} \frac{a_{li}}{b_i} P_l,\qquad
    P_i = h\,b_i\,\partial_x H(X_i, m_i),\qquad
    p_k = p_{k+1} + \sum_i P_i,

and :math:`-\partial J/\partial\theta_k = h\sum_i b_i\,\partial_\theta H(X_i, m_i)`.
This is the gradient of the discrete loss to round-off (it needs
:math:`b_i > 0`, true for Euler, Heun and classical RK4). For RK4 it is the
symplectic partitioned RK partner of the forward method.

**Continuous adjoint**: the costate ODE :math:`\dot p = -\partial_x H` and
:math:`\dot G = -\partial_\theta H` integrated backwards by the same tableau,
with :math:`x(t)` between stored steps from cubic Hermite interpolation. It
differs from the discrete gradient by :math:`O(h^{\text{order}})`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.linalg.blas import daxpy as _daxpy

from nedsym.codegen.tableau import EULER, RK4, SSPRK2, ButcherTableau
from nedsym.errors import BlowUpError, ConfigError

__all__ = ["TABLEAUX", "Tableau", "get_tableau", "rk_forward", "rk_discrete_adjoint",
           "rk_continuous_adjoint", "rk_tangent"]


@dataclass(frozen=True)
class Tableau:
    """A dense view of a :class:`~nedsym.codegen.tableau.ButcherTableau` (``a`` strictly
    lower triangular) for the depth steppers' array arithmetic."""

    name: str
    a: np.ndarray
    b: np.ndarray
    c: np.ndarray
    order: int

    @property
    def stages(self) -> int:
        return len(self.b)

    @classmethod
    def from_butcher(cls, tab: ButcherTableau, name: str | None = None) -> Tableau:
        """The dense arrays of the shared tableau ``tab`` (one source for every RK method)."""
        s = tab.stages
        a = np.zeros((s, s))
        for i, row in enumerate(tab.A):
            a[i, :len(row)] = row
        return cls(name or tab.name, a, np.array(tab.b, dtype=float),
                   np.array(tab.c, dtype=float), tab.order)


#: Heun's method is the two-stage strong-stability-preserving pair's tableau
TABLEAUX = {
    "euler": Tableau.from_butcher(EULER),
    "heun": Tableau.from_butcher(SSPRK2, name="heun"),
    "rk4": Tableau.from_butcher(RK4),
}


def get_tableau(name: str) -> Tableau:
    """The tableau called ``name``; :class:`ConfigError` listing the valid names otherwise."""
    try:
        return TABLEAUX[str(name).lower()]
    except KeyError:
        raise ConfigError(f"unknown depth stepper {name!r}; valid steppers: "
                          f"{sorted(TABLEAUX)}") from None


def _combine(x: np.ndarray, coefs, K, out: np.ndarray | None = None) -> np.ndarray:
    """``x + Σ_j coefs[j] K[j]`` (into ``out`` when given, else a new array), zero
    coefficients skipped (the RK tableaux are sparse; a tensordot costs more than the few
    axpys at the batch sizes of depth models). The axpys run in place (BLAS ``daxpy``) when
    the arrays are contiguous: no temporary per term. This runs several times per stage, so
    it is kept lean: at n = 4 its own overhead was most of its time."""
    if out is None:
        out = x.copy()
    else:
        np.copyto(out, x)
    flat = None
    for c, Kj in zip(coefs, K, strict=False):
        if not c:
            continue
        if flat is None:
            flat = out.ravel() if out.flags.c_contiguous and out.size else False
        if flat is not False and Kj.shape == out.shape and Kj.dtype == np.float64 and \
                Kj.flags.c_contiguous:
            r = _daxpy(Kj.ravel(), flat, a=float(c))
            if r is not flat and not np.shares_memory(r, flat):  # f2py copied instead
                flat[...] = r
        else:
            out += c * Kj
    return out


def _check_finite(x: np.ndarray, step: int, what: str) -> None:
    if not np.all(np.isfinite(x)):
        raise BlowUpError(
            f"{what} became NaN/Inf at depth step {step}: reduce the step h = T/steps, the "
            "parameter scale or the input scale (or use rk4 instead of euler)")


def rk_forward(F: Callable, x0: np.ndarray, theta: np.ndarray, h: float, tab: Tableau,
               L: Callable | None = None, t0: float = 0.0, fresh: bool = False):
    """Integrate ``x' = F(X, theta_k, t)`` over ``len(theta)`` steps.

    ``x0``: ``(n, B)``; ``theta``: ``(steps, nθ)``. Returns ``(xs, stages, cost)``:
    ``xs`` of shape ``(steps + 1, n, B)``, the stage states ``(steps, s, n, B)``
    and the per-sample running cost ``(B,)`` (zeros when ``L`` is None).
    ``fresh``: ``F`` returns a new array at every call, which is then used as it is
    instead of copied (the package's own right-hand sides do; an ``F`` that reuses an
    output buffer must leave it False).
    """
    steps = theta.shape[0]
    n, B = x0.shape
    s = tab.stages
    xs = np.empty((steps + 1, n, B))
    stages = np.empty((steps, s, n, B))
    xs[0] = x0
    cost = np.zeros(B)
    K = [None] * s  # F's results (copies, or F's own arrays when they are fresh)
    A = [[float(v) for v in h * tab.a[i, :i]] for i in range(s)]
    hb, hc = [float(v) for v in h * tab.b], [float(v) for v in h * tab.c]
    for k in range(steps):
        x = xs[k]
        tk = t0 + k * h
        for i in range(s):
            X = _combine(x, A[i], K[:i], out=stages[k, i])
            Ki = F(X, theta[k], tk + hc[i])
            K[i] = Ki if fresh else np.array(Ki, dtype=float)
            if L is not None:
                cost += hb[i] * L(X, theta[k], tk + hc[i])
        _combine(x, hb, K, out=xs[k + 1])
        _check_finite(xs[k + 1], k + 1, "the hidden state")
    return xs, stages, cost


def rk_discrete_adjoint(vjp: Callable, stages: np.ndarray, theta: np.ndarray, pT: np.ndarray,
                        h: float, tab: Tableau, t0: float = 0.0, aux: list | None = None):
    r"""The exact discrete adjoint of :func:`rk_forward` (see the module docstring).

    ``vjp(X, M, theta_k, t) -> (dH/dx (n, B), sum over batch of dH/dtheta (nθ,))``;
    with ``aux`` (what the forward pass kept at each stage, in call order), it is called
    as ``vjp(X, M, theta_k, t, aux[k * stages + i])``.
    Returns ``(ps, g)``: costates ``(steps + 1, n, B)`` and
    :math:`-\partial J/\partial\theta_k` summed over the batch, ``(steps, nθ)``.
    """
    if np.any(tab.b <= 0):
        raise ConfigError(f"the discrete adjoint here needs positive weights b; {tab.name} has "
                          f"{tab.b}")
    steps, s = stages.shape[:2]
    ps = np.empty((steps + 1,) + pT.shape)
    g = np.zeros_like(theta, dtype=float)
    ps[steps] = pT
    P = np.empty((s,) + pT.shape)
    Pi = list(P)
    m = np.empty(pT.shape)
    A = [[float(v) for v in tab.a[i + 1:, i] / tab.b[i]] for i in range(s)]
    hb, hc, ones = [float(v) for v in h * tab.b], [float(v) for v in h * tab.c], [1.0] * s
    for k in range(steps - 1, -1, -1):
        pn = ps[k + 1]
        tk = t0 + k * h
        gk = g[k]
        for i in range(s - 1, -1, -1):
            _combine(pn, A[i], Pi[i + 1:], out=m)
            if aux is None:
                gx, gth = vjp(stages[k, i], m, theta[k], tk + hc[i])
            else:
                gx, gth = vjp(stages[k, i], m, theta[k], tk + hc[i], aux[k * s + i])
            np.multiply(gx, hb[i], out=Pi[i])
            gk += hb[i] * gth
        _combine(pn, ones, Pi, out=ps[k])
        _check_finite(ps[k], k, "the costate")
    return ps, g


def _hermite_mid(x0, f0, x1, f1, h, s):
    """Cubic Hermite interpolant at ``t_k + s h`` from values and slopes at both ends."""
    h00 = 2 * s**3 - 3 * s**2 + 1
    h10 = s**3 - 2 * s**2 + s
    h01 = -2 * s**3 + 3 * s**2
    h11 = s**3 - s**2
    return h00 * x0 + h10 * h * f0 + h01 * x1 + h11 * h * f1


def rk_continuous_adjoint(F: Callable, vjp: Callable, xs: np.ndarray, theta: np.ndarray,
                          pT: np.ndarray, h: float, tab: Tableau, t0: float = 0.0):
    r"""Integrate :math:`\dot p = -\partial_x H`, :math:`\dot G = -\partial_\theta H` backwards.

    The stored states ``xs`` give :math:`x(t)` by cubic Hermite interpolation
    on each step (slopes :math:`F(x_k, \theta_k)`, :math:`F(x_{k+1}, \theta_k)`).
    Returns ``(ps, g)`` as :func:`rk_discrete_adjoint`.
    """
    steps = theta.shape[0]
    ps = np.empty((steps + 1,) + pT.shape)
    g = np.zeros_like(theta, dtype=float)
    ps[steps] = pT
    s = tab.stages
    for k in range(steps - 1, -1, -1):
        tk = t0 + k * h
        f0 = F(xs[k], theta[k], tk)
        f1 = F(xs[k + 1], theta[k], tk + h)
        Kp = np.empty((s,) + pT.shape)
        p = ps[k + 1]
        for i in range(s):
            # backward time: tau = t_{k+1} - c_i h
            P = _combine(p, h * tab.a[i, :i], Kp[:i]) if i else p
            frac = 1.0 - tab.c[i]
            X = _hermite_mid(xs[k], f0, xs[k + 1], f1, h, frac)
            gx, gth = vjp(X, P, theta[k], tk + frac * h)
            Kp[i] = gx
            g[k] += h * tab.b[i] * gth
        ps[k] = _combine(p, h * tab.b, Kp)
        _check_finite(ps[k], k, "the costate")
    return ps, g


def rk_tangent(jvp: Callable, stages: np.ndarray, theta: np.ndarray, v0: np.ndarray, h: float,
               tab: Tableau, t0: float = 0.0) -> np.ndarray:
    r"""Linearized perturbation :math:`\delta x_k` of the discrete forward map.

    ``jvp(X, V, theta_k, t) -> (∂F/∂x) V``. Returns ``(steps + 1, n, B)``.
    """
    steps, s = stages.shape[:2]
    vs = np.empty((steps + 1,) + v0.shape)
    vs[0] = v0
    dK = np.empty((s,) + v0.shape)
    for k in range(steps):
        tk = t0 + k * h
        for i in range(s):
            dX = _combine(vs[k], h * tab.a[i, :i], dK[:i]) if i else vs[k]
            dK[i] = jvp(stages[k, i], dX, theta[k], tk + tab.c[i] * h)
        vs[k + 1] = _combine(vs[k], h * tab.b, dK)
    return vs
