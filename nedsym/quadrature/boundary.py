r"""Boundaries as unions of pieces (faces, spheres, facets) with outward normals."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nedsym.errors import QuadratureError
from nedsym.quadrature.domain import Domain, SeedLike, as_generator
from nedsym.quadrature.points import Points
from nedsym.quadrature.rules import Rule, check_n, get_rule


def allocate(n: int, measures: Sequence[float]) -> list[int]:
    """Split ``n`` points over pieces in proportion to their measures (largest remainder).

    Example
    -------
    >>> allocate(10, [1.0, 1.0, 2.0])
    [3, 2, 5]
    """
    m = np.asarray(measures, dtype=float)
    share = n * m / m.sum()
    counts = np.floor(share).astype(int)
    rest = n - counts.sum()
    order = np.argsort(-(share - counts), kind="stable")
    counts[order[:rest]] += 1
    return [int(c) for c in counts]


class BoundaryDomain(Domain):
    r"""The boundary :math:`\partial\Omega = \bigcup_j \Gamma_j` of a domain.

    Its points carry outward unit normals and surface weights, so
    :math:`\oint_{\partial\Omega} F\cdot n\,ds \approx \sum_i w_i\,F(x_i)\cdot n_i`.
    ``n`` points are split over the pieces in proportion to their areas (stratified
    sampling: each piece's estimate is unbiased, hence so is the sum); each piece gets
    at least one point, so ``n`` must be at least the number of pieces.

    Example
    -------
    >>> from nedsym.quadrature import Box
    >>> bd = Box([(0, 1), (0, 1)]).boundary()
    >>> bd.area, len(bd.pieces)
    (4.0, 4)
    """

    has_normals = True

    def __init__(self, pieces: Sequence[Domain], name: str = "boundary"):
        self.pieces = list(pieces)
        self.name = name
        self.dim = self.pieces[0].dim
        self.measure = float(sum(p.measure for p in self.pieces))
        self.param_dim = max(p.param_dim for p in self.pieces)
        self.product_dim = None

    def __repr__(self) -> str:
        return f"BoundaryDomain({self.name})"

    @property
    def area(self) -> float:
        """Total surface measure."""
        return self.measure

    def points(
        self, n: int | Sequence[int], rule: str | Rule = "mc", seed: SeedLike = None
    ) -> Points:
        """Points on every piece, ``n`` split by area; see :meth:`Domain.points`."""
        rule = get_rule(rule)
        check_n(n)
        if not isinstance(n, (int, np.integer)):
            raise QuadratureError(f"a boundary takes an integer total n; got {n!r}")
        if n < len(self.pieces):
            raise QuadratureError(
                f"the {self.name} has {len(self.pieces)} pieces; n must be at "
                f"least {len(self.pieces)}, got n={n}"
            )
        rng = as_generator(seed)
        counts = allocate(int(n), [p.measure for p in self.pieces])
        parts = [p.points(c, rule, rng) for p, c in zip(self.pieces, counts, strict=True)]
        return Points.concatenate(parts)

    def contains(self, x, tol=1e-9):
        return np.any([p.contains(x, tol) for p in self.pieces], axis=0)

    def boundary(self):
        raise QuadratureError("the boundary of a boundary is empty; nothing to sample")
