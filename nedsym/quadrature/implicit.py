r"""Level-set domains :math:`\Omega = \{x \in B : \phi(x) < 0\}`, sampled by rejection."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import sympy as sp

from nedsym.errors import QuadratureError
from nedsym.quadrature.domain import Domain, SeedLike, as_generator
from nedsym.quadrature.domains import Box
from nedsym.quadrature.integrand import compile_integrand, resolve_coords
from nedsym.quadrature.points import Points
from nedsym.quadrature.rules import Rule, check_n, get_rule, product_unit, sample_unit, stream
from nedsym.symbolic.safe import to_expr


class ImplicitDomain(Domain):
    r"""The region where ``levelset`` :math:`\phi < 0` inside a bounding box :math:`B`.

    ``levelset``: a sympy expression in the coordinates (compiled once; ``coords`` as in
    :func:`~nedsym.quadrature.integrate`) or a callable on arrays ``(n, d) -> (n,)``.

    Volume: ``volume`` if given (exact), else estimated once from a scrambled Sobol'
    pilot of ``pilot`` points, :math:`|\Omega| \approx |B|\,a` with acceptance rate
    :math:`a` (``volume_stderr`` is the binomial bound :math:`|B|\sqrt{a(1-a)/N}`,
    conservative for Sobol'). Sampling rules keep drawing candidates in :math:`B` (one
    continuing sequence for Sobol'/Halton, fresh batches for MC/LHS) until ``n`` fall
    inside; weights :math:`|\Omega|/n`. Product rules (gauss, midpoint) put their grid on
    :math:`B` and drop the outside points (weights of :math:`B`): only first-order
    accurate, because the indicator is discontinuous. ``report()`` states the acceptance
    rate; a rate below ``min_acceptance`` is an error. No boundary sampling.

    Example
    -------
    >>> import sympy as sp
    >>> x, y = sp.symbols("x y")
    >>> disk = ImplicitDomain(x**2 + y**2 - 1, [(-1, 1), (-1, 1)], seed=0)
    >>> abs(disk.volume - np.pi) < 0.01
    True
    """

    def __init__(
        self,
        levelset: sp.Expr | Callable[[np.ndarray], np.ndarray],
        bounding_box: Box | Sequence[tuple[float, float]],
        *,
        coords: str | Sequence[sp.Symbol] | None = None,
        params: Mapping[sp.Symbol, float] | None = None,
        volume: float | None = None,
        pilot: int = 2**14,
        seed: SeedLike = 0,
        min_acceptance: float = 1e-4,
    ):
        self.box = bounding_box if isinstance(bounding_box, Box) else Box(bounding_box)
        self.dim = self.param_dim = self.box.dim
        self.product_dim = self.box.dim
        self.levelset = levelset
        self._phi = self._make_phi(levelset, coords, params)
        check_n(pilot)
        u = sample_unit(get_rule("sobol"), self.dim, pilot, as_generator(seed))
        inside = self._inside(self.box.uniform_map(u)[0])
        self.acceptance_rate = float(inside.mean())
        self.pilot = pilot
        if inside.sum() == 0 or self.acceptance_rate < min_acceptance:
            raise QuadratureError(
                f"ImplicitDomain: acceptance rate {self.acceptance_rate:.2e} ({int(inside.sum())}"
                f" of {pilot} pilot points in {self.box!r} have levelset < 0), below "
                f"{min_acceptance:g}; check the sign convention (inside where levelset < 0) and "
                f"that the bounding box encloses the domain"
            )
        a = self.acceptance_rate
        if volume is not None:
            self.measure, self.volume_stderr = float(volume), 0.0
        else:
            self.measure = self.box.measure * a
            self.volume_stderr = self.box.measure * float(np.sqrt(a * (1 - a) / pilot))
        self.last_acceptance: float | None = None

    def _make_phi(self, levelset, coords, params):
        if callable(levelset) and not isinstance(levelset, sp.Basic):
            return levelset
        from nedsym.quadrature.integrate import _STRING_HINT, _parser

        expr = to_expr(levelset, "the level set", hint=_STRING_HINT,
                       parse=_parser(levelset, self.dim, coords, params))
        params = dict(params or {})
        cs = resolve_coords(expr, self.dim, coords, params)
        kernel = compile_integrand(expr, cs, tuple(params))
        return lambda x: kernel.values(x, params=params)

    def _inside(self, x: np.ndarray) -> np.ndarray:
        phi = np.asarray(self._phi(x), dtype=float)
        if phi.shape != (x.shape[0],):
            raise QuadratureError(
                f"levelset returned shape {phi.shape} for points of shape "
                f"{x.shape}; expected ({x.shape[0]},)"
            )
        return phi < 0

    def __repr__(self) -> str:
        return f"ImplicitDomain({self.levelset}, {self.box!r})"

    def report(self) -> str:
        """A one-line summary: acceptance rate and volume (with its error)."""
        return (
            f"{self!r}: acceptance rate {self.acceptance_rate:.4f} over {self.pilot} pilot "
            f"points; volume {self.measure:.6g} ± {self.volume_stderr:.2g}"
        )

    def contains(self, x, tol=0.0):
        return self._inside(x) & self.box.contains(x, 1e-9)

    def points(
        self, n: int | Sequence[int], rule: str | Rule = "mc", seed: SeedLike = None
    ) -> Points:
        """``n`` points inside by rejection; see the class docstring."""
        rule = get_rule(rule)
        check_n(n)
        if rule.kind == "product":
            t, v = product_unit(rule, self.dim, n)
            x = self.box.uniform_map(t)[0]
            keep = self._inside(x)
            self.last_acceptance = float(keep.mean())
            return Points(x[keep], v[keep] * self.box.measure)
        rng = as_generator(seed)
        take = stream(rule, self.dim, rng)
        chunks, have, tried = [], 0, 0
        while have < n:
            m = int(1.2 * (n - have) / self.acceptance_rate) + 16
            x = self.box.uniform_map(take(m))[0]
            x = x[self._inside(x)]
            chunks.append(x)
            have += x.shape[0]
            tried += m
        self.last_acceptance = have / tried
        x = np.concatenate(chunks)[:n]
        return Points(x, np.full(n, self.measure / n))
