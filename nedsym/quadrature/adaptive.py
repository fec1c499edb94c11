r"""Residual-based adaptive resampling by importance sampling from a candidate pool.

Given a pool :math:`\{(x_j, v_j)\}_{j=1}^M` (points and weights of any rule, so that
:math:`\sum_j v_j f(x_j) \approx \int_\Omega f`) and a residual :math:`r`, draw ``n`` pool
indices with replacement, with probabilities

.. math:: \pi_j = \frac{v_j\,q(x_j)}{|\Omega|}, \qquad
          q(x) = \alpha + (1-\alpha)\,\frac{|\Omega|\,|r(x)|^p}{\sum_k v_k |r(x_k)|^p},

(:math:`q` is the mixture density relative to the uniform one, :math:`\alpha` the uniform
"safety" share), and give the drawn point the weight :math:`w = v_j/(n\pi_j)`, i.e.
:math:`w = |\Omega|/(n\,q(x))` for an equally weighted pool. Then
:math:`E[\sum_i w_i f(y_i) \mid \text{pool}] = \sum_j v_j f(x_j)`: the estimator is as
unbiased as the pool's (exactly, for Monte Carlo and scrambled QMC pools), while the points
concentrate where :math:`|r|^p` is large.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from nedsym.errors import QuadratureError
from nedsym.quadrature.domain import Domain, SeedLike
from nedsym.quadrature.points import Points
from nedsym.quadrature.rules import Rule, check_n
from nedsym.quadrature.sampler import Sampler


class AdaptiveSampler:
    r"""Draw ``n`` points where :math:`|r|^p` is large, with unbiasing weights.

    ``pool``: candidate pool size (default :math:`8n`) drawn fresh by ``rule`` each step;
    ``p``: residual exponent; ``mix``: uniform share :math:`\alpha\in(0,1]`.
    After a draw, ``ess`` is the Kish effective sample size :math:`(\sum w)^2/\sum w^2`.

    Example
    -------
    >>> from nedsym.quadrature import Box
    >>> s = AdaptiveSampler(Box([(0, 1)]), n=64, seed=0)
    >>> pts = s.draw(lambda x: np.exp(-100 * (x[:, 0] - 0.5) ** 2))
    >>> bool(np.mean(np.abs(pts.x[:, 0] - 0.5) < 0.2) > 0.6)
    True
    """

    def __init__(
        self,
        domain: Domain,
        n: int = 1024,
        pool: int | None = None,
        rule: str | Rule = "mc",
        p: float = 2.0,
        mix: float = 0.1,
        seed: SeedLike = None,
    ):
        check_n(n)
        if not 0 < mix <= 1:
            raise QuadratureError(
                f"mix (the uniform share) must be in (0, 1]; got {mix}; "
                "mix=0 can give zero probability where the integrand is not 0"
            )
        if p <= 0:
            raise QuadratureError(f"residual exponent p must be positive; got {p}")
        self.n, self.p, self.mix = int(n), float(p), float(mix)
        self.pool_sampler = Sampler(domain, rule, pool or 8 * self.n, seed)
        self.domain = domain
        self.rng = self.pool_sampler.rng
        self.ess: float | None = None
        self.last_q: np.ndarray | None = None

    @property
    def rule(self) -> Rule:
        """The rule of the candidate pool."""
        return self.pool_sampler.rule

    def draw(
        self,
        residual: Callable[[np.ndarray], np.ndarray] | None = None,
        *,
        pool: Points | None = None,
        values: np.ndarray | None = None,
    ) -> Points:
        """Importance-sampled points: from a fresh pool and a ``residual`` callable, or from a
        given ``pool`` with residual ``values`` on it; no residual gives uniform resampling."""
        if pool is None:
            if values is not None:
                raise QuadratureError("values= needs the pool= they were computed on")
            pool = self.pool_sampler.draw()
        else:
            self.pool_sampler.step += 1
        if values is None:
            values = np.ones(pool.n) if residual is None else residual(pool.x)
        rho = np.abs(np.asarray(values, dtype=float)) ** self.p
        if rho.shape != (pool.n,) or not np.all(np.isfinite(rho)):
            raise QuadratureError(
                f"residual values must be finite with shape ({pool.n},); got shape {rho.shape}"
            )
        v = pool.w
        total_v, total_r = v.sum(), (v * rho).sum()
        pi = v / total_v
        if total_r > 0:
            pi = self.mix * pi + (1.0 - self.mix) * v * rho / total_r
        pi = pi / pi.sum()
        idx = self.rng.choice(pool.n, size=self.n, p=pi)
        w = v[idx] / (self.n * pi[idx])
        self.last_q = pi[idx] * total_v / v[idx]
        self.ess = float(w.sum() ** 2 / (w * w).sum())
        nrm = None if pool.normals is None else pool.normals[idx]
        return Points(pool.x[idx], w, nrm)

    def state(self) -> dict[str, Any]:
        """Checkpoint state (the generator is shared with the pool sampler)."""
        return self.pool_sampler.state()

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore a state from :meth:`state`."""
        self.pool_sampler.set_state(state)
