r"""Continuum width and depth: an integro-differential network model.

Neurons are indexed by :math:`y \in \Omega`; the state :math:`u(y, t)` of one
input :math:`\xi` evolves in depth by

.. math::
    \partial_t u(y, t) = \sigma(z(y, t)), \qquad
    z(y, t) = \int_\Omega w(y, y', t)\,u(y', t)\,dy' + b(y, t),

from the embedding :math:`u(\cdot, 0) = u_0(\cdot\,; \xi)`, with the readout
:math:`r(\xi) = \int_\Omega c(y)\,u(y, T)\,dy` and the loss

.. math::
    J = \mathbb{E}_\xi\big[\tfrac12 (r(\xi) - f(\xi))^2\big]
      + \frac{\lambda}{2}\int_0^T\Big(\iint w^2\,dy\,dy' + \int b^2\,dy\Big)dt .

**Discretization.** Width by quadrature nodes :math:`y_k` and weights
:math:`\omega_k` (:mod:`nedsym.quadrature`, Gauss or QMC): with :math:`K` nodes
this is a ResNet of width :math:`K`,
:math:`\dot U_k = \sigma(\sum_l w_{kl}\,\omega_l U_l + b_k)`. Depth by an
explicit RK stepper with :math:`(w, b)` constant per step.

**Costate and gradients** (derived from the Hamiltonian, see
:func:`nedsym.flows.hamiltonian.width_depth_hamiltonian`; PMP sign,
:math:`p = -\delta J/\delta u`): with :math:`g = \partial_z[p\,\sigma(z)] = p\,\sigma'(z)`,

.. math::
    \partial_t p(y) = -\int_\Omega w(y', y)\,g(y')\,dy', \quad
    \nabla_w J = \lambda w - \mathbb{E}[g \otimes u], \quad
    \nabla_b J = \lambda b - \mathbb{E}[g].

The discrete costate :math:`P_k = -\partial J/\partial U_k` is
:math:`\omega_k\,p(y_k)`; the functional gradients (the :math:`L^2` gradients
on :math:`\Omega\times\Omega\times[0, T]`) are the exact discrete gradients
divided by :math:`h\,\omega_k\omega_l` (resp. :math:`h\,\omega_k`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from nedsym.depth.kernels import build_batch_kernel
from nedsym.depth.steppers import get_tableau, rk_discrete_adjoint, rk_forward
from nedsym.errors import ConfigError
from nedsym.flows.hamiltonian import width_depth_hamiltonian
from nedsym.quadrature import Box, Domain
from nedsym.solve.iteration import Iteration, NonFiniteStep, iterate

__all__ = ["TrainingHistory", "WidthDepthGradient", "WidthDepthModel"]


def _default_embed(y: np.ndarray, xi: np.ndarray) -> np.ndarray:
    r""":math:`u_0(y; \xi) = \sin(\pi (y + 1/2)\,\xi)` (first coordinates of y and ξ)."""
    return np.sin(np.pi * (y[:, :1] + 0.5) * xi[:, 0][None, :])


@dataclass
class WidthDepthGradient:
    r"""One forward-backward sweep of the width-depth model.

    Attributes
    ----------
    loss: :math:`J`.
    dw, db: exact gradients of the discrete loss, ``(steps, K, K)``, ``(steps, K)``.
    grad_w, grad_b: functional gradients :math:`\lambda w - \mathbb{E}[\sigma'(z) p\otimes u]`,
        :math:`\lambda b - \mathbb{E}[\sigma'(z) p]` at the nodes.
    residual_w, residual_b: relative stationarity residuals :math:`\|\nabla_w J\|/s`,
        :math:`\|\nabla_b J\|/s` with :math:`s = \max(\|\lambda\theta\|, \|\mathbb{E}[\dots]\|)`,
        :math:`\theta = (w, b)` (L² norms on the nodes and steps).
    ps: discrete costates ``(steps+1, K, B)``; ``prediction``: readouts ``(B,)``.
    """

    loss: float
    dw: np.ndarray
    db: np.ndarray
    grad_w: np.ndarray
    grad_b: np.ndarray
    residual_w: float
    residual_b: float
    ps: np.ndarray
    prediction: np.ndarray

    @property
    def residual(self) -> float:
        """The larger of the two relative stationarity residuals."""
        return max(self.residual_w, self.residual_b)


@dataclass
class TrainingHistory:
    """Loss and stationarity residuals per sweep; final parameters; whether interrupted."""

    method: str
    loss: list = field(default_factory=list)
    residual_w: list = field(default_factory=list)
    residual_b: list = field(default_factory=list)
    w: np.ndarray | None = None
    b: np.ndarray | None = None
    interrupted: bool = False
    converged: bool = False

    @property
    def monotone(self) -> bool:
        """Whether the loss never increased (up to round-off)."""
        J = np.asarray(self.loss)
        return bool(np.all(np.diff(J) <= 1e-12 * max(1.0, abs(J[0])))) if J.size > 1 else True


class WidthDepthModel:
    r"""The integro-differential network, discretized by quadrature in width and RK in depth.

    Parameters
    ----------
    sigma: the activation, a sympy function or expression in ``z`` (default ``tanh``).
    domain: the neuron domain :math:`\Omega` (a :mod:`nedsym.quadrature` domain,
        default ``Box([(0, 1)])``).
    K: number of width nodes; rule: ``"gauss"`` (default), ``"midpoint"``,
        ``"sobol"``, ``"halton"``, … (with ``seed``).
    T, steps, stepper: depth, number of steps, ``"euler"`` or ``"rk4"``.
    lam: the weight-decay :math:`\lambda`.
    embed: :math:`u_0(y; \xi)` as ``embed(y (K, d), xi (B, m)) -> (K, B)``.
    readout: :math:`c(y)` as ``readout(y (K, d)) -> (K,)`` (default 1).
    backend: ``"numpy"`` or ``"numba"`` for the generated pointwise kernels.

    Example
    -------
    >>> m = WidthDepthModel(K=16, steps=10)
    >>> w, b = m.init_params(seed=0)
    >>> xi = np.linspace(-1, 1, 8)[:, None]
    >>> g = m.gradient(xi, np.sin(np.pi*xi[:, 0])/2, w, b)
    >>> g.dw.shape
    (10, 16, 16)
    """

    def __init__(self, sigma=sp.tanh, domain: Domain | None = None, K: int = 32,
                 rule: str = "gauss", T: float = 1.0, steps: int = 20, stepper: str = "rk4",
                 lam: float = 1e-2, embed: Callable | None = None,
                 readout: Callable | None = None, seed: int = 0, backend: str = "numpy"):
        self.hamiltonian = width_depth_hamiltonian(sigma)
        self.domain = domain if domain is not None else Box([(0.0, 1.0)])
        if not isinstance(steps, int) or steps < 1:
            raise ConfigError(f"steps must be a positive int, got {steps!r}")
        if not lam >= 0:
            raise ConfigError(f"lam (weight decay) must be >= 0, got {lam!r}")
        pts = self.domain.points(K, rule, seed=seed)
        self.y, self.omega = pts.x, pts.w
        self.K = len(self.omega)
        self.T, self.steps, self.lam = float(T), steps, float(lam)
        self.h = self.T / steps
        self.tableau = get_tableau(stepper)
        self.embed = embed or _default_embed
        self.c = np.ones(self.K) if readout is None else np.asarray(readout(self.y), float)
        if self.c.shape != (self.K,):
            raise ConfigError(f"readout(y) must return shape ({self.K},), got {self.c.shape}")
        hm, t = self.hamiltonian, sp.Symbol("t", real=True)
        self._sigma = build_batch_kernel([hm.z], [], t, [hm.sigma], backend=backend,
                                         tag="wd_sigma")
        self._dh = build_batch_kernel([hm.z, hm.p], [], t, [hm.dh_dz], backend=backend,
                                      tag="wd_dhdz")
        self._empty = np.empty(0)

    # -- parameters -------------------------------------------------------------
    def init_params(self, scale: float = 0.5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Random smooth-ish start: ``w (steps, K, K)``, ``b (steps, K)``."""
        rng = np.random.default_rng(seed)
        w = scale * rng.standard_normal((self.steps, self.K, self.K))
        b = 0.1 * scale * rng.standard_normal((self.steps, self.K))
        return w, b

    def params_from(self, w_fn: Callable, b_fn: Callable) -> tuple[np.ndarray, np.ndarray]:
        r"""Sample :math:`w(y, y', t)` and :math:`b(y, t)` at the nodes and step midpoints.

        ``w_fn(y (K, 1, d), y' (1, K, d), t)``, ``b_fn(y (K, d), t)``.
        """
        tm = (np.arange(self.steps) + 0.5) * self.h
        w = np.stack([np.broadcast_to(w_fn(self.y[:, None, :], self.y[None, :, :], t),
                                      (self.K, self.K)) for t in tm])
        b = np.stack([np.broadcast_to(b_fn(self.y, t), (self.K,)) for t in tm])
        return w.astype(float), b.astype(float)

    def _pack(self, w, b) -> np.ndarray:
        w, b = np.asarray(w, float), np.asarray(b, float)
        if w.shape != (self.steps, self.K, self.K) or b.shape != (self.steps, self.K):
            raise ConfigError(f"w must have shape {(self.steps, self.K, self.K)} and b "
                              f"{(self.steps, self.K)}; got {w.shape}, {b.shape}")
        return np.concatenate([w.reshape(self.steps, -1), b], axis=1)

    def _unpack(self, th: np.ndarray):
        K = self.K
        return th[: K * K].reshape(K, K), th[K * K:]

    # -- the discretized dynamics ---------------------------------------------
    def _z(self, X, th):
        w, b = self._unpack(th)
        return (w * self.omega[None, :]) @ X + b[:, None]

    def _F(self, X, th, t):
        Z = self._z(X, th)
        out = np.empty((1, Z.size))
        self._sigma(Z.reshape(1, -1), self._empty, t, out, self._empty)
        return out.reshape(Z.shape)

    def _vjp(self, X, M, th, t):
        w, _ = self._unpack(th)
        Z = self._z(X, th)
        G = np.empty((1, Z.size))
        self._dh(np.stack([Z.ravel(), M.ravel()]), self._empty, t, G, self._empty)
        G = G.reshape(Z.shape)
        gx = self.omega[:, None] * (w.T @ G)
        gw = G @ (X * self.omega[:, None]).T
        return gx, np.concatenate([gw.ravel(), G.sum(axis=1)])

    def inputs(self, xi) -> np.ndarray:
        """Embedded inputs :math:`U_0` of shape ``(K, B)``."""
        xi = np.asarray(xi, float)
        xi = xi[:, None] if xi.ndim == 1 else xi
        U0 = np.asarray(self.embed(self.y, xi), float)
        if U0.shape != (self.K, xi.shape[0]):
            raise ConfigError(f"embed(y, xi) must return shape ({self.K}, {xi.shape[0]}); got "
                              f"{U0.shape}")
        return U0

    def forward(self, xi, w, b):
        """States ``(steps+1, K, B)`` and RK stages of the inputs ``xi``."""
        xs, stages, _ = rk_forward(self._F, self.inputs(xi), self._pack(w, b), self.h,
                                   self.tableau)
        return xs, stages

    def predict(self, xi, w, b) -> np.ndarray:
        r"""Readouts :math:`\int c\,u(\cdot, T) \approx \sum_k c_k\omega_k U_k(T)`."""
        xs, _ = self.forward(xi, w, b)
        return (self.c * self.omega) @ xs[-1]

    def regularization(self, w, b) -> float:
        oo = self.omega[:, None] * self.omega[None, :]
        return 0.5 * self.lam * self.h * float(np.sum(np.asarray(w) ** 2 * oo)
                                               + np.sum(np.asarray(b) ** 2 * self.omega))

    def loss(self, xi, target, w, b) -> float:
        """:math:`J` of the discrete model."""
        r = self.predict(xi, w, b) - np.asarray(target, float)
        return 0.5 * float(np.mean(r**2)) + self.regularization(w, b)

    def gradient(self, xi, target, w, b) -> WidthDepthGradient:
        """Forward sweep, discrete costate sweep, exact and functional gradients."""
        theta = self._pack(w, b)
        target = np.asarray(target, float).ravel()
        xs, stages, _ = rk_forward(self._F, self.inputs(xi), theta, self.h, self.tableau)
        B = xs.shape[2]
        if target.shape != (B,):
            raise ConfigError(f"target must have shape ({B},), got {target.shape}")
        pred = (self.c * self.omega) @ xs[-1]
        r = pred - target
        pT = -(self.c * self.omega)[:, None] * r[None, :]
        ps, g = rk_discrete_adjoint(self._vjp, stages, theta, pT, self.h, self.tableau)
        K = self.K
        oo = self.omega[:, None] * self.omega[None, :]
        data_w = (-g[:, : K * K] / B).reshape(self.steps, K, K)
        data_b = -g[:, K * K:] / B
        w, b = np.asarray(w, float), np.asarray(b, float)
        dw = data_w + self.lam * self.h * oo * w
        db = data_b + self.lam * self.h * self.omega * b
        ew, eb = data_w / (self.h * oo), data_b / (self.h * self.omega)  # = -E[g u], -E[g]
        grad_w, grad_b = self.lam * w + ew, self.lam * b + eb

        def norm_w(a):
            return float(np.sqrt(self.h * np.sum(a**2 * oo)))

        def norm_b(a):
            return float(np.sqrt(self.h * np.sum(a**2 * self.omega)))

        # one scale for both: max(||lam theta||, ||E[...]||) in the product L2 norm
        scale = max(np.hypot(norm_w(self.lam * w), norm_b(self.lam * b)),
                    np.hypot(norm_w(ew), norm_b(eb)), 1e-300)
        res_w, res_b = norm_w(grad_w) / scale, norm_b(grad_b) / scale
        J = 0.5 * float(np.mean(r**2)) + self.regularization(w, b)
        return WidthDepthGradient(J, dw, db, grad_w, grad_b, res_w, res_b, ps, pred)

    # -- training ---------------------------------------------------------------
    def train(self, xi, target, w, b, method: str = "gd", lr: float = 0.5,
              relax: float = 0.05, iters: int = 1000, tol: float = 1e-4,
              progress: bool = False, callback: Callable | None = None) -> TrainingHistory:
        r"""Forward-backward sweeps on whole trajectories until the residual is below ``tol``.

        ``method="gd"``: :math:`\theta \leftarrow \theta - \text{lr}\,\nabla_\theta J`
        (functional gradient). ``method="msa"``: the method of successive
        approximations, relaxed: :math:`\theta \leftarrow (1-\alpha)\theta + \alpha\theta^*`
        with :math:`\theta^*` the maximizer of the Hamiltonian with :math:`\sigma'(z)`,
        :math:`p` and :math:`u` frozen, :math:`w^* = \mathbb{E}[\sigma'(z)p\otimes u]/\lambda`,
        :math:`b^* = \mathbb{E}[\sigma'(z)p]/\lambda` (``relax`` :math:`= \alpha`).
        Ctrl-C stops and returns the history so far (``interrupted=True``).
        """
        if method not in ("gd", "msa"):
            raise ConfigError(f"method must be 'gd' or 'msa', got {method!r}")
        if method == "msa" and self.lam <= 0:
            raise ConfigError("method='msa' needs lam > 0 (the Hamiltonian's maximizer is "
                              "θ* = E[...]/lam)")
        step = lr if method == "gd" else relax / self.lam
        if isinstance(iters, bool) or not isinstance(iters, (int, np.integer)) or iters < 0:
            raise ConfigError(f"iters must be an integer >= 0, got {iters!r}")
        sweeps = _Sweeps(self, xi, target, np.array(w, float), np.array(b, float), step)
        out = iterate(sweeps, int(iters) + 1, progress=progress,
                      callback=None if callback is None else
                      (lambda k, rec: callback(k, sweeps._pending)),
                      stop=lambda k, rec: "tol" if rec["residual"] < tol else None)
        hist = TrainingHistory(method, list(out.history.get("loss", [])),
                               list(out.history.get("residual_w", [])),
                               list(out.history.get("residual_b", [])),
                               sweeps.w, sweeps.b, out.interrupted, out.converged)
        return hist


class _Sweeps(Iteration):
    """Width–depth training sweeps (forward, backward, update) on the shared loop."""

    name = "width-depth"
    postfix = ("loss", "residual")

    def __init__(self, model: WidthDepthModel, xi, target, w, b, step: float):
        self.model, self.xi, self.target, self.w, self.b = model, xi, target, w, b
        self.lr = step
        self._pending: WidthDepthGradient | None = None

    def step(self, k: int) -> dict:
        # the update of the previous sweep is applied here, so a run that stops (converged,
        # budget, Ctrl-C) keeps the parameters its last recorded loss belongs to
        w, b = self.w, self.b
        if self._pending is not None:
            w = w - self.lr * self._pending.grad_w
            b = b - self.lr * self._pending.grad_b
        g = self.model.gradient(self.xi, self.target, w, b)
        if not np.isfinite(g.loss):
            raise NonFiniteStep("the loss became NaN/Inf")
        self.w, self.b, self._pending = w, b, g
        return {"loss": g.loss, "residual_w": g.residual_w, "residual_b": g.residual_b,
                "residual": g.residual}

    def advice(self, k: int, what: str) -> str:
        return (f"{what} at sweep {k}: reduce lr/relax (now {self.lr:g} per unit gradient) "
                "or the initial scale")
