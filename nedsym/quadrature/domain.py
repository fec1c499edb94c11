"""The :class:`Domain` base class: what every domain offers to the rules."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nedsym.errors import QuadratureError
from nedsym.quadrature.points import Points
from nedsym.quadrature.rules import Rule, check_n, get_rule, product_unit, sample_unit

SeedLike = int | np.random.Generator | None


def as_generator(seed: SeedLike) -> np.random.Generator:
    """A numpy ``Generator`` from an int seed, a generator, or ``None`` (fresh entropy)."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


class Domain:
    r"""A region (or surface) :math:`\Omega\subset\mathbb R^d` that rules can put points on.

    Subclasses set ``dim`` (ambient dimension), ``measure`` (volume, or area for
    surfaces), ``param_dim`` (unit-cube dimension of :meth:`uniform_map`) and
    ``product_dim`` (of :meth:`product_map`; ``None`` when product rules cannot serve
    the domain), and implement the two maps.

    * sampling rules: :math:`x_i = T(u_i)` with a measure-preserving :math:`T`,
      :math:`w_i = |\Omega|/n`;
    * product rules: :math:`x_i = S(t_i)`, :math:`w_i = v_i\,|\det DS(t_i)|` with the
      tensor weights :math:`v_i` of the unit cube.
    """

    dim: int
    measure: float
    param_dim: int
    product_dim: int | None = None
    has_normals: bool = False

    # -- maps (overridden) ---------------------------------------------------------------
    def uniform_map(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Measure-preserving map of uniform ``u`` to ``(x, normals or None)``."""
        raise NotImplementedError

    def product_map(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Smooth map of ``t`` in the unit cube to ``(x, jacobian, normals or None)``."""
        raise QuadratureError(self._no_product_message())

    @property
    def periodic_axes(self) -> list[bool]:
        """Which axes of :meth:`product_map` are periodic angles (midpoint rule there)."""
        return [False] * (self.product_dim or 0)

    def contains(self, x: np.ndarray, tol: float = 1e-9) -> np.ndarray:
        """Boolean mask: which rows of ``x`` (shape ``(n, d)``) lie in the closed domain."""
        raise NotImplementedError

    def boundary(self) -> Domain:
        """The boundary as a domain whose points carry outward normals and surface weights."""
        raise QuadratureError(f"{type(self).__name__} has no boundary nedsym can sample")

    # -- shared ------------------------------------------------------------------------
    @property
    def volume(self) -> float:
        """Volume (Lebesgue measure) for solids, surface area for surfaces."""
        return self.measure

    def _no_product_message(self) -> str:
        return (
            f"rule cannot serve {type(self).__name__}: product rules (gauss, midpoint) need "
            f"a smooth parameterization it lacks; use mc, lhs, sobol or halton"
        )

    def points(
        self, n: int | Sequence[int], rule: str | Rule = "mc", seed: SeedLike = None
    ) -> Points:
        r"""Quadrature points and weights of ``rule`` on this domain.

        :math:`\int_\Omega f\,dx \approx \sum_i w_i f(x_i)`; ``n`` is the number of points
        (product rules: rounded to :math:`m^k`, or give per-axis counts as a tuple).

        Example
        -------
        >>> from nedsym.quadrature import Box
        >>> p = Box([(0, 2)]).points(3, "gauss")
        >>> round(float(p.w @ p.x[:, 0] ** 5), 10)   # 2**6 / 6
        10.6666666667
        """
        rule = get_rule(rule)
        check_n(n)
        if rule.kind == "sampling":
            if not isinstance(n, (int, np.integer)):
                raise QuadratureError(f"rule {rule.name!r} takes an integer n; got {n!r}")
            u = sample_unit(rule, self.param_dim, int(n), as_generator(seed))
            x, nrm = self.uniform_map(u)
            w = np.full(x.shape[0], self.measure / x.shape[0])
            return Points(x, w, nrm)
        if self.product_dim is None:
            msg = self._no_product_message()
            raise QuadratureError(msg.replace("rule", f"rule {rule.name!r}", 1))
        t, v = product_unit(rule, self.product_dim, n, self.periodic_axes)
        x, jac, nrm = self.product_map(t)
        return Points(x, v * jac, nrm)

    def check_dim(self, d: int, what: str) -> None:
        """Raise :class:`QuadratureError` naming both dimensions if ``d != self.dim``."""
        if d != self.dim:
            raise QuadratureError(
                f"dimension mismatch: {what} is {d}-dimensional but the domain "
                f"{type(self).__name__} is {self.dim}-dimensional"
            )
