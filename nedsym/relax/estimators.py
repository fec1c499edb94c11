r"""Sampled estimators of :math:`\nabla f_\gamma(x) = (x - \langle y\rangle)/\gamma` for high
dimensions, where grid quadrature is out of reach.

* :func:`importance_sampling_gradient`: draw :math:`y_i = x + \sqrt{\gamma/\beta}\,z_i`
  from the heat kernel (the proposal), with :math:`z_i` standard normal made from uniform
  points of a :mod:`nedsym.quadrature` rule (``sobol`` by default: randomized QMC), and
  weight them by :math:`e^{-\beta f(y_i)}` (self-normalized). Unbiased as
  :math:`n \to \infty`; the effective sample size reports weight degeneracy.
* :func:`langevin_gradient`: stochastic gradient Langevin dynamics (SGLD) on the Gibbs
  measure :math:`\rho(y) \propto e^{-\beta[f(y) + |x-y|^2/2\gamma]}`,
  :math:`y \leftarrow y - \eta[\nabla f(y) + (y - x)/\gamma] + \sqrt{2\eta/\beta}\,\xi`,
  with an exponential average :math:`\mu \leftarrow (1-\alpha)\mu + \alpha y` standing in
  for :math:`\langle y\rangle` (the Entropy-SGD inner loop). Needs only gradients, also
  stochastic ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp, ndtri

from nedsym.errors import BlowUpError, QuadratureError
from nedsym.quadrature.domain import as_generator
from nedsym.quadrature.rules import get_rule, sample_unit
from nedsym.relax.entropy import _positive
from nedsym.relax.loss import as_loss

__all__ = ["EntropyGradient", "importance_sampling_gradient", "langevin_gradient"]


@dataclass(frozen=True)
class EntropyGradient:
    """A sampled estimate of the local-entropy gradient at one point.

    Attributes: ``grad``; ``mean`` (the Gibbs mean estimate); ``value`` (the estimate of
    :math:`f_\\gamma(x)`, ``nan`` for Langevin); ``ess`` (effective sample size of the
    importance weights, ``nan`` for Langevin); ``evaluations`` (loss or gradient calls);
    ``last`` (the last Langevin state, to warm-start the next call).
    """

    grad: np.ndarray
    mean: np.ndarray
    value: float
    ess: float
    evaluations: int
    last: np.ndarray | None = None


def importance_sampling_gradient(f, x, gamma: float, beta: float, n: int = 1024,
                                 rule: str = "sobol", seed=None, coords=None) -> EntropyGradient:
    r"""Self-normalized importance-sampling estimate of :math:`\nabla f_\gamma(x)` and
    :math:`f_\gamma(x)` with the heat kernel as proposal (see the module docstring).

    Example
    -------
    >>> import sympy as sp
    >>> x, y = sp.symbols("x y")
    >>> est = importance_sampling_gradient(x**2/2 + y**2/2, np.array([1.0, 0.0]), 1.0, 1.0,
    ...                                    n=4096, seed=0)
    >>> bool(abs(est.grad[0] - 0.5) < 0.05)
    True
    """
    gamma = _positive(gamma, "gamma")
    beta = _positive(beta, "beta")
    loss = as_loss(f, coords)
    x = np.asarray(x, dtype=float).reshape(loss.dim)
    r = get_rule(rule)
    if r.kind != "sampling":
        raise QuadratureError(f"importance sampling needs a sampling rule (mc, lhs, sobol, "
                              f"halton), got {rule!r}")
    u = sample_unit(r, loss.dim, int(n), as_generator(seed))
    Y = x + np.sqrt(gamma / beta) * ndtri(u)
    logw = -beta * loss(Y)
    if not np.all(np.isfinite(logw)):
        raise QuadratureError("the loss is NaN/Inf at some samples")
    log_z = logsumexp(logw)
    w = np.exp(logw - log_z)
    mean = w @ Y
    value = -(log_z - np.log(len(Y))) / beta
    ess = 1.0 / float(np.sum(w * w))
    return EntropyGradient((x - mean) / gamma, mean, float(value), ess, len(Y))


def langevin_gradient(grad: Callable, x, gamma: float, beta: float, steps: int = 20,
                      lr: float = 0.01, alpha: float = 0.25, seed=None, y0=None,
                      ) -> EntropyGradient:
    r"""SGLD estimate of :math:`\nabla f_\gamma(x)` (the Entropy-SGD inner loop).

    ``grad``: :math:`\nabla f` as ``grad(y)`` or ``grad(y, rng)`` (a stochastic gradient,
    e.g. on a minibatch) on one point ``y`` of shape ``(n,)``. ``steps``: inner steps
    :math:`L`; ``lr``: inner step :math:`\eta`; ``alpha``: averaging weight of the newest
    sample; ``y0``: start of the chain (default ``x``). Raises
    :class:`~nedsym.errors.BlowUpError` if the chain leaves the finite numbers.

    Example
    -------
    >>> est = langevin_gradient(lambda y: y, np.array([1.0]), 1.0, 1e6, steps=200, lr=0.1)
    >>> round(float(est.grad[0]), 2)     # f = y^2/2: grad f_gamma = x/(1+gamma)
    0.5
    """
    gamma = _positive(gamma, "gamma")
    beta = _positive(beta, "beta")
    rng = as_generator(seed)
    call = _gradient_caller(grad)
    x = np.asarray(x, dtype=float)
    y = x.copy() if y0 is None else np.array(y0, dtype=float)
    mu = y.copy()
    noise = np.sqrt(2 * lr / beta)
    for _ in range(int(steps)):
        g = call(y, rng) + (y - x) / gamma
        y = y - lr * g + noise * rng.standard_normal(y.shape)
        mu = (1 - alpha) * mu + alpha * y
    if not np.all(np.isfinite(mu)):
        raise BlowUpError(f"the Langevin chain diverged (NaN/Inf); reduce the inner step "
                          f"(lr={lr}) below ~1/Lip(grad f)")
    return EntropyGradient((x - mu) / gamma, mu, float("nan"), float("nan"), int(steps), y)


def _gradient_caller(grad: Callable) -> Callable:
    """``grad(y)`` or ``grad(y, rng)`` as a two-argument function."""
    import inspect

    try:
        params = [p for p in inspect.signature(grad).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        two = len(params) >= 2 or any(p.kind == p.VAR_POSITIONAL
                                      for p in inspect.signature(grad).parameters.values())
    except (TypeError, ValueError):
        two = False
    if two:
        return grad
    return lambda y, rng: grad(y)
