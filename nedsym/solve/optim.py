r"""First-order baselines for energy minimization: gradient descent, SGD with momentum, Adam.

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

__all__ = ["GD", "SGD", "Adam", "make_optimizer", "OPTIMIZERS"]


class GD:
    r"""Plain gradient descent: :math:`\theta \leftarrow \theta - \eta\, g`."""

    name = "gd"

    def __init__(self, lr: float = 1e-2):
        if not lr > 0:
            raise ConfigError(f"learning rate lr must be > 0, got {lr}")
        self.lr = float(lr)

    #: the attributes that carry the optimizer's memory between steps (checkpoints)
    _memory: tuple[str, ...] = ()

    def step(self, theta: np.ndarray, grad: np.ndarray) -> np.ndarray:
        return theta - self.lr * grad

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
    _memory = ("_m",)

    def __init__(self, lr: float = 1e-2, momentum: float = 0.9):
        super().__init__(lr)
        if not 0 <= momentum < 1:
            raise ConfigError(f"momentum must be in [0, 1), got {momentum}")
        self.momentum = float(momentum)
        self._m: np.ndarray | None = None

    def step(self, theta, grad):
        self._m = grad.copy() if self._m is None else self.momentum * self._m + grad
        return theta - self.lr * self._m


class Adam(GD):
    r"""Adam (Kingma–Ba) with bias correction:
    :math:`m \leftarrow \beta_1 m + (1-\beta_1) g`,
    :math:`v \leftarrow \beta_2 v + (1-\beta_2) g^2`,
    :math:`\theta \leftarrow \theta - \eta\,\hat m/(\sqrt{\hat v} + \epsilon)`."""

    name = "adam"
    _memory = ("_m", "_v", "_k")

    def __init__(self, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8):
        super().__init__(lr)
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
        return theta - self.lr * mhat / (np.sqrt(vhat) + self.eps)


OPTIMIZERS = {"gd": GD, "sgd": SGD, "adam": Adam}


def make_optimizer(name: str, **options):
    """An optimizer by name (``gd``, ``sgd``, ``adam``) with its options."""
    try:
        cls = OPTIMIZERS[name.lower()]
    except (KeyError, AttributeError):
        raise ConfigError(
            f"unknown optimizer {name!r}; choose one of {sorted(OPTIMIZERS)}") from None
    try:
        return cls(**options)
    except TypeError as exc:
        raise ConfigError(f"optimizer {name!r}: {exc}") from None
