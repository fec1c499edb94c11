r"""A classification objective for the optimizers: softmax cross-entropy of a
:mod:`nedsym.nn` network, with minibatch gradients through ``net.vjp``.

.. math:: \ell(\theta) = \frac1N\sum_i \Big[\log\sum_c e^{z_{ic}} - z_{i y_i}\Big]
          + \frac{\lambda}{2}|\theta|^2, \qquad z = \mathrm{net}(X; \theta).

One effective epoch is ``ceil(N / batch)`` minibatch gradients.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp, softmax

from nedsym.errors import DeclarationError
from nedsym.relax.optim import Objective

__all__ = ["Classifier", "classifier_objective", "synthetic_blobs"]


@dataclass
class Classifier:
    """A network with its objective: ``objective`` (train loss + minibatch gradient),
    ``theta0``, and :meth:`error` (misclassification rate on any data)."""

    net: object
    objective: Objective
    theta0: np.ndarray
    #: ``full_grad(theta)``: the gradient of the whole training loss (Hessian products)
    full_grad: object = None

    def logits(self, X, theta) -> np.ndarray:
        return self.net.forward(X, theta, order=0).u

    def error(self, X, y, theta) -> float:
        """Fraction of misclassified rows of ``X``."""
        return float(np.mean(np.argmax(self.logits(X, theta), axis=1) != y))


def classifier_objective(X, y, hidden: Sequence[int] = (32,), batch: int = 32,
                         activation: str = "tanh", weight_decay: float = 0.0,
                         seed: int = 0) -> Classifier:
    """A :class:`Classifier` for integer labels ``y`` in ``0..C-1`` (MLP ``[d, *hidden, C]``).

    Example
    -------
    >>> X, y = synthetic_blobs(60, seed=0)
    >>> clf = classifier_objective(X, y, hidden=(8,), batch=16)
    >>> clf.objective.batches_per_epoch
    4
    """
    import nedsym.nn as nn

    X = np.asarray(X, dtype=float)
    y = np.asarray(y)
    if X.ndim != 2 or y.shape != (X.shape[0],):
        raise DeclarationError(f"classifier_objective needs X (N, d) and y (N,), got "
                               f"{X.shape} and {y.shape}")
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
        raise DeclarationError("labels y must be non-negative integers 0..C-1")
    n, d = X.shape
    c = int(y.max()) + 1
    net = nn.MLP([d, *hidden, c], activation=activation, seed=seed)
    theta0 = net.init(seed)
    onehot = np.eye(c)[y]
    batch = min(int(batch), n)

    def loss(theta):
        z = net.forward(X, theta, order=0).u
        val = float(np.mean(logsumexp(z, axis=1) - z[np.arange(n), y]))
        return val + 0.5 * weight_decay * float(theta @ theta)

    def grad(theta, rng):
        idx = rng.choice(n, size=batch, replace=False)
        z = net.forward(X[idx], theta, order=0).u
        cot = (softmax(z, axis=1) - onehot[idx]) / batch
        g = net.vjp(X[idx], theta, nn.Jet(u=cot, grad=None, hess=None))
        return g + weight_decay * theta

    def full_grad(theta):
        z = net.forward(X, theta, order=0).u
        cot = (softmax(z, axis=1) - onehot) / n
        g = net.vjp(X, theta, nn.Jet(u=cot, grad=None, hess=None))
        return g + weight_decay * theta

    obj = Objective(loss, grad, batches_per_epoch=-(-n // batch), name="cross-entropy")
    return Classifier(net, obj, theta0, full_grad)


def synthetic_blobs(n: int = 120, dim: int = 4, classes: int = 3, seed: int = 0):
    """A small separable-ish dataset: Gaussian blobs around random centres."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=2.0, size=(classes, dim))
    y = rng.integers(0, classes, size=n)
    return centres[y] + rng.normal(size=(n, dim)), y
