r"""Baselines for energy minimization: gradient descent, SGD with momentum, Adam (each with
an exponential learning-rate schedule, ``lr_decay``), and L-BFGS with a line search.

They act on a flat parameter vector through a gradient, so that Neural Energy Descent and
its baselines run on the same sampled loss and the same generated gradients.

Example
-------
>>> import numpy as np
>>> opt = make_optimizer("adam", lr=0.1)
>>> theta = np.array([1.0, -2.0])
>>> for _ in range(200):
...     theta = opt.step(theta, 2 * theta)        # gradient of |theta|^2
>>> bool(np.linalg.norm(theta) < 1e-2)
True
"""

from __future__ import annotations

import numpy as np

from nedsym.errors import ConfigError

__all__ = ["GD", "SGD", "Adam", "LBFGS", "make_optimizer", "OPTIMIZERS"]


class GD:
    r"""Plain gradient descent: :math:`\theta \leftarrow \theta - \eta\, g`."""

    name = "gd"

    def __init__(self, lr: float = 1e-2, lr_decay: float = 1.0):
        if not lr > 0:
            raise ConfigError(f"learning rate lr must be > 0, got {lr}")
        if not 0 < lr_decay <= 1:
            raise ConfigError(f"lr_decay (the learning rate's factor per step, an "
                              f"exponential schedule) must be in (0, 1], got {lr_decay}")
        self.lr, self.lr_decay = float(lr), float(lr_decay)
        self._steps = 0

    #: the attributes that carry the optimizer's memory between steps (checkpoints)
    _memory: tuple[str, ...] = ("_steps",)

    @property
    def current_lr(self) -> float:
        """The learning rate the next step uses."""
        return self.lr * self.lr_decay ** self._steps

    def rate(self) -> float:
        """This step's learning rate (``lr * lr_decay**k``), and count the step."""
        eta = self.lr * self.lr_decay ** self._steps
        self._steps += 1
        return eta

    def step(self, theta: np.ndarray, grad: np.ndarray) -> np.ndarray:
        return theta - self.rate() * grad

    def state_dict(self) -> dict:
        """The optimizer's memory (moments, step count) as arrays, for a checkpoint."""
        return {k: np.asarray(getattr(self, k)) for k in self._memory
                if getattr(self, k) is not None}

    def load_state_dict(self, state: dict) -> None:
        for k in self._memory:
            if k in state:
                v = np.array(state[k])
                setattr(self, k, v if v.ndim else v.item())


class SGD(GD):
    r"""Gradient descent with heavy-ball momentum :math:`\mu`:
    :math:`m \leftarrow \mu m + g,\ \theta \leftarrow \theta - \eta m`."""

    name = "sgd"
    _memory = ("_m", "_steps")

    def __init__(self, lr: float = 1e-2, momentum: float = 0.9, lr_decay: float = 1.0):
        super().__init__(lr, lr_decay)
        if not 0 <= momentum < 1:
            raise ConfigError(f"momentum must be in [0, 1), got {momentum}")
        self.momentum = float(momentum)
        self._m: np.ndarray | None = None

    def step(self, theta, grad):
        self._m = grad.copy() if self._m is None else self.momentum * self._m + grad
        return theta - self.rate() * self._m


class Adam(GD):
    r"""Adam (Kingma–Ba) with bias correction:
    :math:`m \leftarrow \beta_1 m + (1-\beta_1) g`,
    :math:`v \leftarrow \beta_2 v + (1-\beta_2) g^2`,
    :math:`\theta \leftarrow \theta - \eta\,\hat m/(\sqrt{\hat v} + \epsilon)`."""

    name = "adam"
    _memory = ("_m", "_v", "_k", "_steps")

    def __init__(self, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, lr_decay: float = 1.0):
        super().__init__(lr, lr_decay)
        b1, b2 = betas
        if not (0 <= b1 < 1 and 0 <= b2 < 1):
            raise ConfigError(f"Adam betas must lie in [0, 1), got {betas}")
        self.b1, self.b2, self.eps = float(b1), float(b2), float(eps)
        self._m = self._v = None
        self._k = 0

    def step(self, theta, grad):
        if self._m is None:
            self._m = np.zeros_like(theta)
            self._v = np.zeros_like(theta)
        self._k += 1
        self._m = self.b1 * self._m + (1 - self.b1) * grad
        self._v = self.b2 * self._v + (1 - self.b2) * grad * grad
        mhat = self._m / (1 - self.b1 ** self._k)
        vhat = self._v / (1 - self.b2 ** self._k)
        return theta - self.rate() * mhat / (np.sqrt(vhat) + self.eps)


class LBFGS(GD):
    r"""Limited-memory BFGS with a backtracking (Armijo) line search, for losses on fixed
    points (the classical PINN baseline). ``history`` pairs :math:`(s_k, y_k)` build the
    inverse-Hessian product by the two-loop recursion; a pair with :math:`s^\top y \le 0`
    is skipped. It needs the loss, so its step is :meth:`step_closure`."""

    name = "lbfgs"
    _memory = ("_S", "_Y", "_steps")
    needs_closure = True

    def __init__(self, lr: float = 1.0, history: int = 20, lr_decay: float = 1.0):
        super().__init__(lr, lr_decay)
        if isinstance(history, bool) or not isinstance(history, int) or history < 1:
            raise ConfigError(f"history must be a positive integer, got {history!r}")
        self.history = history
        self._S = np.zeros((0, 0))
        self._Y = np.zeros((0, 0))

    def _direction(self, g: np.ndarray) -> np.ndarray:
        q = g.copy()
        S, Y = self._S, self._Y
        alphas = []
        for s, y in zip(S[::-1], Y[::-1], strict=True):
            a = (s @ q) / (y @ s)
            alphas.append(a)
            q -= a * y
        if len(S):
            q *= (S[-1] @ Y[-1]) / (Y[-1] @ Y[-1])
        for (s, y), a in zip(zip(S, Y, strict=True), alphas[::-1], strict=True):
            q += (a - (y @ q) / (y @ s)) * s
        return -q

    def step_closure(self, theta, loss_and_grad, f0=None, g0=None):
        """One step: ``loss_and_grad(theta) -> (f, g)``; returns ``(theta, f, g)`` at the new
        point (the loss and gradient there, for the next step)."""
        if f0 is None:
            f0, g0 = loss_and_grad(theta)
        d = self._direction(g0)
        slope = float(g0 @ d)
        if not slope < 0:                     # not a descent direction: restart
            self._S, self._Y = np.zeros((0, 0)), np.zeros((0, 0))
            d, slope = -g0, -float(g0 @ g0)
        eta = self.rate() if len(self._S) else min(self.rate(), 1.0 / max(
            float(np.linalg.norm(g0)), 1e-300))
        for _ in range(40):
            cand = theta + eta * d
            f1, g1 = loss_and_grad(cand)
            if np.isfinite(f1) and f1 <= f0 + 1e-4 * eta * slope:
                break
            eta *= 0.5
        else:                                  # no sufficient decrease: stay, forget the pairs
            self._S, self._Y = np.zeros((0, 0)), np.zeros((0, 0))
            return theta, f0, g0
        s, y = cand - theta, g1 - g0
        if float(s @ y) > 1e-12 * float(np.linalg.norm(s) * np.linalg.norm(y)):
            S = s[None] if not len(self._S) else np.vstack([self._S, s])[-self.history:]
            Y = y[None] if not len(self._Y) else np.vstack([self._Y, y])[-self.history:]
            self._S, self._Y = S, Y
        return cand, f1, g1

    def step(self, theta, grad):
        raise ConfigError("L-BFGS needs the loss for its line search: call step_closure")


OPTIMIZERS = {"gd": GD, "sgd": SGD, "adam": Adam, "lbfgs": LBFGS}


def make_optimizer(name: str, **options):
    """An optimizer by name (``gd``, ``sgd``, ``adam``, ``lbfgs``) with its options."""
    try:
        cls = OPTIMIZERS[name.lower()]
    except (KeyError, AttributeError):
        raise ConfigError(
            f"unknown optimizer {name!r}; choose one of {sorted(OPTIMIZERS)}") from None
    try:
        return cls(**options)
    except TypeError as exc:
        raise ConfigError(f"optimizer {name!r}: {exc}") from None
