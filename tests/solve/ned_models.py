"""A model linear in its parameters (frozen tanh features) with the network interface NED uses."""

from types import SimpleNamespace

import numpy as np


class FrozenFeatures:
    r"""``u(x) = sum_k theta_k tanh(a_k . x + b_k)``: exact jets and Jacobians in closed form."""

    def __init__(self, d: int, width: int, seed: int = 0, scale: float = 2.0):
        rng = np.random.default_rng(seed)
        self.a = scale * rng.standard_normal((width, d))
        self.b = scale * rng.standard_normal(width)
        self.d_in, self.n_out, self.n_params = d, 1, width

    def init(self, seed=0):
        return 0.1 * np.random.default_rng(seed).standard_normal(self.n_params)

    def _features(self, X):
        t = np.tanh(X @ self.a.T + self.b)
        return t, 1 - t**2, -2 * t * (1 - t**2)

    def _jac(self, X, order):
        f0, f1, f2 = self._features(X)
        Ju = f0[:, None, :]
        Jg = (f1[:, None, :] * self.a.T[None]) [:, None] if order >= 1 else None
        Jh = (f2[:, None, None, :] * np.einsum("ki,kj->ijk", self.a, self.a)[None])[:, None] \
            if order >= 2 else None
        return SimpleNamespace(u=Ju, grad=Jg, hess=Jh)

    def forward(self, X, theta, order=0):
        J = self._jac(X, order)
        return SimpleNamespace(u=J.u @ theta, grad=None if J.grad is None else J.grad @ theta,
                               hess=None if J.hess is None else J.hess @ theta)

    def jacobian(self, X, theta, order=0):
        return self.forward(X, theta, order), self._jac(X, order)
