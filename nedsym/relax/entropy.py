r"""Local entropy by Cole–Hopf quadrature, its closed form for quadratics, and the
Moreau envelope (its :math:`\beta \to \infty` limit) by the proximal fixed point.

Local entropy (the viscous Hamilton–Jacobi solution at time :math:`\gamma`):

.. math::
    f_\gamma(x) = -\frac1\beta \log \int G_\gamma(x - y)\,e^{-\beta f(y)}\,dy,\qquad
    \nabla f_\gamma(x) = \frac{x - \langle y\rangle}{\gamma},

with :math:`G_\gamma(z) = (\beta/2\pi\gamma)^{n/2} e^{-\beta|z|^2/2\gamma}` and
:math:`\langle y\rangle` the mean under the Gibbs measure
:math:`\rho(y) \propto e^{-\beta[f(y) + |x-y|^2/2\gamma]}`. The normalisation makes
:math:`f_\gamma \to f` as :math:`\gamma \to 0` (it is the issue's formula plus the constant
:math:`\frac{n}{2\beta}\log(2\pi\gamma/\beta)`).

Moreau envelope / Hopf–Lax (:math:`\beta = \infty`):
:math:`u(x, t) = \min_y f(y) + |x - y|^2/2t`, with :math:`\nabla u = p`,
:math:`p = \nabla f(x - t p)`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp

from nedsym.errors import QuadratureError, SolverError
from nedsym.quadrature import Box, Points
from nedsym.quadrature.domain import as_generator
from nedsym.relax.loss import as_loss

__all__ = ["quadratic_local_entropy", "local_entropy", "LocalEntropy", "moreau_envelope",
           "MoreauPoint", "hopf_lax"]


def _positive(value, name: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise QuadratureError(f"{name} must be a positive number, got {value!r}") from None
    if not (v > 0 and np.isfinite(v)):
        raise QuadratureError(f"{name} must be positive and finite, got {value!r}")
    return v


def quadratic_local_entropy(x, a: float, gamma: float, beta: float) -> np.ndarray:
    r"""Closed form for :math:`f(x) = a|x|^2/2` (``x``: shape ``(..., n)``):

    .. math:: f_\gamma(x) = \frac{a|x|^2}{2(1 + a\gamma)} + \frac{n}{2\beta}\log(1 + a\gamma).

    Valid for :math:`1 + a\gamma > 0`.

    Example
    -------
    >>> float(quadratic_local_entropy(np.array([1.0]), a=1.0, gamma=1.0, beta=1.0))
    0.5965735902799727
    """
    x = np.asarray(x, dtype=float)
    if 1 + a * gamma <= 0:
        raise QuadratureError(f"closed form needs 1 + a*gamma > 0, got a={a}, gamma={gamma}")
    n = x.shape[-1]
    return a * np.sum(x * x, axis=-1) / (2 * (1 + a * gamma)) + n / (2 * beta) * np.log1p(a * gamma)


@dataclass(frozen=True)
class LocalEntropy:
    """Values of the local entropy at points ``x`` (shape ``(m, n)``).

    Attributes
    ----------
    value: :math:`f_\\gamma(x)`, shape ``(m,)``.
    grad: :math:`\\nabla f_\\gamma(x) = (x - \\langle y\\rangle)/\\gamma`, shape ``(m, n)``.
    mean: the Gibbs mean :math:`\\langle y\\rangle`, shape ``(m, n)``.
    n_points: quadrature points per ``x``.
    """

    value: np.ndarray
    grad: np.ndarray
    mean: np.ndarray
    n_points: int


def local_entropy(f, x, gamma: float, beta: float, n: int | tuple | None = None,
                  rule: str = "gauss",
                  width: float = 10.0, bounds=None, seed=None, coords=None) -> LocalEntropy:
    r"""Local entropy :math:`f_\gamma(x)` and its gradient by Cole–Hopf quadrature.

    ``f``: a :class:`~nedsym.relax.Loss` or a sympy expression. ``x``: ``(n,)`` or ``(m, n)``.
    The integral over :math:`y` uses a :mod:`nedsym.quadrature` rule (``gauss``,
    ``midpoint``, ``sobol``, ``mc``, ...) either on the translated box
    :math:`x + [-w, w]^n`, :math:`w = \text{width}\,\sqrt{\gamma/\beta}` (default; the heat
    kernel is below :math:`e^{-\text{width}^2/2}` outside), or on fixed ``bounds``
    ``[(lo, hi), ...]`` in :math:`y` (needed when :math:`\beta` is large and the Gibbs
    measure sits far from :math:`x`). Sums are taken in log space (no overflow for large
    :math:`\beta`). ``n``: points (a tuple: per axis for product rules); default 256, 96, 32
    per axis in 1, 2, 3-D for product rules (resolve the narrowest well of ``f``: raise it
    for sharp features), 4096 for sampling rules. Returns a :class:`LocalEntropy`.

    Example
    -------
    >>> import sympy as sp
    >>> x = sp.Symbol("x")
    >>> le = local_entropy(x**2/2, np.array([[1.0]]), gamma=1.0, beta=1.0)
    >>> bool(abs(le.value[0] - (0.25 + 0.5*np.log(2))) < 1e-10)
    True
    """
    gamma = _positive(gamma, "gamma")
    beta = _positive(beta, "beta")
    loss = as_loss(f, coords)
    X = np.asarray(x, dtype=float)
    single = X.ndim == 1
    X = X.reshape(1, -1) if single else X
    if X.ndim != 2 or X.shape[1] != loss.dim:
        raise QuadratureError(f"x must have shape (m, {loss.dim}) or ({loss.dim},), "
                              f"got {np.shape(x)}")
    d = loss.dim
    rng = as_generator(seed)
    if n is None:
        if rule in ("gauss", "midpoint"):
            if d > 3:
                raise QuadratureError(f"product rule {rule!r} in {d} dimensions: give n= "
                                      "explicitly or use a sampling rule (sobol, mc)")
            n = ((256,), (96, 96), (32, 32, 32))[d - 1]
        else:
            n = 4096
    if bounds is None:
        w = _positive(width, "width") * np.sqrt(gamma / beta)
        pts: Points = Box([(-w, w)] * d).points(n, rule, rng)
        Y = X[:, None, :] + pts.x[None, :, :]                       # (m, q, d)
    else:
        pts = Box([tuple(b) for b in bounds]).points(n, rule, rng)
        Y = np.broadcast_to(pts.x[None, :, :], (X.shape[0], *pts.x.shape))
    m, q, _ = Y.shape
    fy = loss(Y.reshape(m * q, d)).reshape(m, q)
    dist2 = np.sum((Y - X[:, None, :]) ** 2, axis=-1)
    log_kernel = 0.5 * d * np.log(beta / (2 * np.pi * gamma)) - beta * dist2 / (2 * gamma)
    with np.errstate(divide="ignore"):
        logw = np.log(pts.w)[None, :] + log_kernel - beta * fy
    if not np.all(np.isfinite(logw) | (logw == -np.inf)):
        raise QuadratureError("the loss is NaN/Inf at some quadrature points; narrow the box "
                              "(width=, bounds=) or check the loss")
    log_z = logsumexp(logw, axis=1)
    if not np.all(np.isfinite(log_z)):
        raise QuadratureError("the Cole–Hopf integral underflowed: no quadrature point carries "
                              "weight; widen the box (width=, bounds=) or add points")
    p = np.exp(logw - log_z[:, None])
    mean = np.einsum("mq,mqd->md", p, Y)
    value = -log_z / beta
    grad = (X - mean) / gamma
    if single:
        return LocalEntropy(value[:1], grad[:1], mean[:1], q)
    return LocalEntropy(value, grad, mean, q)


@dataclass(frozen=True)
class MoreauPoint:
    """Result of :func:`moreau_envelope` at one point.

    Attributes: ``value`` :math:`u(x, t)`; ``grad`` :math:`p`; ``prox`` :math:`x - tp`;
    ``iterations``; ``residual`` :math:`|p - \\nabla f(x - tp)|`.
    """

    value: float
    grad: np.ndarray
    prox: np.ndarray
    iterations: int
    residual: float


def moreau_envelope(f, x, t: float, damping: float = 1.0, tol: float = 1e-12,
                    maxiter: int = 10_000, p0=None, coords=None) -> MoreauPoint:
    r"""Moreau envelope :math:`u(x,t) = \min_y f(y) + |x-y|^2/2t` by the proximal fixed point.

    Iterates :math:`p \leftarrow (1-\theta)p + \theta\,\nabla f(x - t p)` (``damping``
    :math:`\theta \in (0, 1]`). For convex :math:`f` with :math:`L`-Lipschitz gradient the
    iteration map has slope :math:`1 - \theta(1 + t f'')`, a contraction for
    :math:`\theta < 2/(1 + tL)`: undamped (:math:`\theta = 1`) needs :math:`tL < 1`.
    The fixed point gives :math:`\nabla u = p` and the prox point :math:`y^* = x - tp`.
    Raises :class:`~nedsym.errors.SolverError` (with advice) if it does not converge.

    Example
    -------
    >>> import sympy as sp
    >>> x = sp.Symbol("x")
    >>> r = moreau_envelope(x**2/2, np.array([2.0]), t=1.0, damping=0.5)  # u = x^2/(2(1+t))
    >>> round(r.value, 12), r.grad.round(12).tolist()
    (1.0, [1.0])
    """
    t = _positive(t, "t")
    if not 0 < damping <= 1:
        raise SolverError(f"damping must be in (0, 1], got {damping}")
    loss = as_loss(f, coords)
    x = np.asarray(x, dtype=float).reshape(loss.dim)
    p = np.zeros_like(x) if p0 is None else np.asarray(p0, dtype=float).reshape(loss.dim)
    res = np.inf
    for k in range(1, maxiter + 1):
        g = loss.grad(x - t * p)
        res = float(np.linalg.norm(g - p))
        if not np.isfinite(res):
            raise SolverError(
                f"proximal fixed point diverged (NaN/Inf) at iteration {k}; reduce t "
                f"(t*Lip(grad f) < 1) or the damping (now {damping})")
        p = (1 - damping) * p + damping * g
        if res <= tol * max(1.0, float(np.linalg.norm(p))):
            break
    else:
        raise SolverError(
            f"proximal fixed point did not converge in {maxiter} iterations (residual "
            f"{res:.2e}); reduce t or the damping (now {damping}), or f may not be convex")
    y = x - t * p
    value = float(loss(y) + np.dot(x - y, x - y) / (2 * t))
    return MoreauPoint(value, p, y, k, res)


def hopf_lax(f, x, t: float, bounds, n: int = 4001, coords=None) -> np.ndarray:
    r"""Hopf–Lax formula :math:`\min_y f(y) + |x-y|^2/2t` by search over a tensor grid of
    ``n`` points per axis in ``bounds`` (a low-dimensional oracle; exact as the grid is
    refined, any :math:`f`). ``x``: ``(m, d)``; returns ``(m,)``.
    """
    t = _positive(t, "t")
    loss = as_loss(f, coords)
    X = np.atleast_2d(np.asarray(x, dtype=float))
    axes = [np.linspace(lo, hi, n) for lo, hi in bounds]
    if len(axes) != loss.dim:
        raise QuadratureError(f"bounds give {len(axes)} axes, the loss has {loss.dim}")
    Y = np.stack([g.ravel() for g in np.meshgrid(*axes, indexing="ij")], axis=1)
    fy = loss(Y)
    out = np.empty(len(X))
    for i, xi in enumerate(X):
        out[i] = np.min(fy + np.sum((Y - xi) ** 2, axis=1) / (2 * t))
    return out
