"""Resampling: fresh quadrature points every training step, reproducible from a seed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from nedsym.errors import QuadratureError
from nedsym.quadrature.domain import Domain, SeedLike
from nedsym.quadrature.points import IntegralEstimate, Points
from nedsym.quadrature.rules import Rule, check_n, get_rule


class Sampler:
    r"""Draws a fresh set of ``n`` points of ``rule`` on ``domain`` at every step.

    Each draw is an independent randomization (a new i.i.d. sample, Latin hypercube or
    scramble), so :math:`\sum_i w_i f(x_i)` is an unbiased estimate of
    :math:`\int_\Omega f` at every step. The whole stream is reproducible from ``seed``;
    :meth:`state` / :meth:`set_state` save and restore it for checkpoints. Deterministic
    rules (gauss, midpoint) give the same points at every step.

    Example
    -------
    >>> from nedsym.quadrature import Box
    >>> s = Sampler(Box([(0, 1)]), "sobol", n=8, seed=0)
    >>> first = s.draw(); saved = s.state(); second = s.draw()
    >>> s.set_state(saved); bool(np.all(s.draw().x == second.x))
    True
    """

    def __init__(
        self, domain: Domain, rule: str | Rule = "mc", n: int = 1024, seed: SeedLike = None
    ):
        check_n(n)
        self.domain = domain
        self.rule = get_rule(rule)
        self.n = int(n)
        self.rng = np.random.default_rng(seed)
        self.step = 0

    def __repr__(self) -> str:
        return f"Sampler({self.domain!r}, {self.rule.name!r}, n={self.n}, step={self.step})"

    def draw(self) -> Points:
        """The next set of points (and normals on a boundary) with weights."""
        self.step += 1
        return self.domain.points(self.n, self.rule, self.rng)

    def __iter__(self) -> Iterator[Points]:
        return self

    def __next__(self) -> Points:
        return self.draw()

    def integrate(self, f, **kwargs) -> IntegralEstimate:
        r"""Estimate :math:`\int_\Omega f` on the next draw (i.i.d. standard error)."""
        from nedsym.quadrature.integrate import integrate_points

        return integrate_points(f, self.draw(), rule=self.rule.name, **kwargs)

    def state(self) -> dict[str, Any]:
        """A picklable snapshot: generator state, step count, rule and ``n``."""
        return {
            "bit_generator": self.rng.bit_generator.state,
            "step": self.step,
            "rule": self.rule.name,
            "n": self.n,
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore a snapshot from :meth:`state`; the following draws repeat exactly."""
        if state.get("rule") != self.rule.name or state.get("n") != self.n:
            raise QuadratureError(
                f"sampler state is for rule={state.get('rule')!r}, "
                f"n={state.get('n')}; this sampler has rule="
                f"{self.rule.name!r}, n={self.n}"
            )
        self.rng.bit_generator.state = state["bit_generator"]
        self.step = int(state["step"])
