r"""Metrics that turn a variational derivative into an evolution.

With chemical potentials :math:`\mu_i = \delta E/\delta u_i` and a symmetric
positive semi-definite mobility matrix :math:`M`:

- ``L2``: :math:`\partial_t u = -M\mu`; dissipation :math:`-\int \mu^T M \mu`.
- ``H-1``: :math:`\partial_t u = \nabla\cdot(M\nabla\mu)`;
  dissipation :math:`-\int \nabla\mu^T M \nabla\mu`.
- ``Wasserstein``: :math:`\partial_t\rho = \nabla\cdot(M(\rho)\nabla\mu)`, default
  :math:`M = \rho`; dissipation as H-1.
- ``L2-conserved``: :math:`\partial_t u = -M(\mu - \lambda)` with
  :math:`\lambda = \langle M\mu\rangle/\langle M\rangle`; dissipation
  :math:`-\int M(\mu-\lambda)^2`.

Each metric is a small class with ``rhs`` and ``dissipation_density``; the
string names map onto them through :func:`resolve_metric`.
"""

from __future__ import annotations

import sympy as sp

from nedsym.errors import MetricError
from nedsym.symbolic.operators import Mean

__all__ = ["Metric", "L2", "Hminus1", "Wasserstein", "ConservedL2", "resolve_metric",
           "METRIC_NAMES"]


class Metric:
    """Base class: a metric maps (μ, M) to ∂t u and to the dissipation density."""

    name = "metric"
    #: whether the mobility may be a full (coupling) matrix
    allows_matrix = True

    def default_mobility(self, u):
        return sp.S.One

    def rhs(self, mu: list, M: sp.Matrix, coords) -> list:
        raise NotImplementedError

    def dissipation_density(self, mu: list, M: sp.Matrix, coords) -> sp.Expr:
        raise NotImplementedError

    def __repr__(self) -> str:
        return self.name


class L2(Metric):
    r"""L² gradient flow :math:`\partial_t u = -M\,\delta E/\delta u` (Allen–Cahn)."""

    name = "L2"

    def rhs(self, mu, M, coords):
        v = M * sp.Matrix(mu)
        return [-e for e in v]

    def dissipation_density(self, mu, M, coords):
        m = sp.Matrix(mu)
        return (m.T * M * m)[0]


def _grad(e, coords):
    return sp.Matrix([sp.diff(e, c) for c in coords])


class Hminus1(Metric):
    r"""H⁻¹ gradient flow :math:`\partial_t u = \nabla\cdot(M\nabla\,\delta E/\delta u)`
    (Cahn–Hilliard); conserves :math:`\int u`."""

    name = "H-1"

    def rhs(self, mu, M, coords):
        n = len(mu)
        out = []
        for i in range(n):
            flux = sum((M[i, j] * _grad(mu[j], coords) for j in range(n)),
                       sp.zeros(len(coords), 1))
            out.append(sp.Add(*[sp.diff(flux[k], coords[k]) for k in range(len(coords))]))
        return out

    def dissipation_density(self, mu, M, coords):
        n = len(mu)
        return sp.Add(*[(_grad(mu[i], coords).T * M[i, j] * _grad(mu[j], coords))[0]
                        for i in range(n) for j in range(n)])


class Wasserstein(Hminus1):
    r"""Wasserstein (W₂) gradient flow :math:`\partial_t\rho = \nabla\cdot(M(\rho)\nabla\mu)`.

    ``mobility`` defaults to the density itself, :math:`M(\rho) = \rho`
    (Fokker–Planck, porous medium); pass an expression in the field to change it.
    """

    name = "Wasserstein"

    def __init__(self, mobility=None):
        self.mobility = mobility

    def default_mobility(self, u):
        return u if self.mobility is None else self.mobility


class ConservedL2(Metric):
    r"""Mass-conserving L² flow (nonlocal Allen–Cahn):
    :math:`\partial_t u = -M(\mu - \lambda)`, with the Lagrange multiplier
    :math:`\lambda = \langle M\mu\rangle / \langle M\rangle` a spatial mean,
    so :math:`\frac{d}{dt}\int u = 0`."""

    name = "L2-conserved"
    allows_matrix = False

    def _multiplier(self, mu_i, m_i):
        if m_i.free_symbols or m_i.atoms(sp.Function):
            if any(f for f in m_i.atoms(sp.core.function.AppliedUndef)):
                return Mean(m_i * mu_i) / Mean(m_i)
        return Mean(mu_i)

    def rhs(self, mu, M, coords):
        return [-M[i, i] * (mu[i] - self._multiplier(mu[i], M[i, i])) for i in range(len(mu))]

    def dissipation_density(self, mu, M, coords):
        return sp.Add(*[M[i, i] * (mu[i] - self._multiplier(mu[i], M[i, i])) ** 2
                        for i in range(len(mu))])


METRIC_NAMES = {
    "l2": L2, "h-1": Hminus1, "h^-1": Hminus1, "hm1": Hminus1, "h_-1": Hminus1,
    "w2": Wasserstein, "wasserstein": Wasserstein,
    "l2-conserved": ConservedL2, "l2-mass": ConservedL2, "conserved-l2": ConservedL2,
    "mass-conserving": ConservedL2,
}


def resolve_metric(metric) -> Metric:
    """A :class:`Metric` from a name (``"L2"``, ``"H-1"``, ``"W2"``, ``"L2-conserved"``)
    or an instance."""
    if isinstance(metric, Metric):
        return metric
    if isinstance(metric, type) and issubclass(metric, Metric):
        return metric()
    if isinstance(metric, str) and metric.strip().lower() in METRIC_NAMES:
        return METRIC_NAMES[metric.strip().lower()]()
    raise MetricError(
        f"unknown metric {metric!r}; valid: 'L2', 'H-1', 'W2' (Wasserstein), 'L2-conserved', "
        "or an instance such as nedsym.Wasserstein(mobility=...)")
