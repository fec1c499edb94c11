r"""Rules on the unit cube :math:`[0,1]^k`: nodes ``u`` (shape ``(n, k)``) and weights summing to 1.

Two kinds:

* *sampling* rules (``"mc"``, ``"lhs"``, ``"sobol"``, ``"halton"``) give ``n`` equally
  weighted points that are uniform in distribution. Domains map them with a
  measure-preserving map, so :math:`w_i = |\Omega|/n`.
* *product* rules (``"gauss"``, ``"midpoint"``) give a tensor grid of ``m`` points per axis
  with :math:`m = \operatorname{round}(n^{1/k})` (or ``n`` given as a tuple of per-axis
  counts). Domains map them with a smooth map and multiply the weights by its Jacobian.
  Axes a domain marks *periodic* (angles) use the midpoint rule, which is exact for
  trigonometric polynomials of degree :math:`< m` there.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import qmc

from nedsym.errors import QuadratureError

_EPS = 1e-12


@dataclass(frozen=True)
class Rule:
    """A named rule on the unit cube. ``randomized``: whether it has a random error."""

    name: str
    kind: str  # "sampling" | "product"
    randomized: bool
    description: str


RULES: dict[str, Rule] = {
    "mc": Rule("mc", "sampling", True, "plain Monte Carlo, i.i.d. uniform"),
    "lhs": Rule("lhs", "sampling", True, "Latin hypercube (scipy.stats.qmc)"),
    "sobol": Rule("sobol", "sampling", True, "scrambled Sobol' (Owen), scipy.stats.qmc"),
    "halton": Rule("halton", "sampling", True, "scrambled Halton, scipy.stats.qmc"),
    "gauss": Rule("gauss", "product", False, "tensor Gauss-Legendre"),
    "midpoint": Rule("midpoint", "product", False, "tensor midpoint grid"),
}


def get_rule(name: str | Rule) -> Rule:
    """Look up a rule by name; raise :class:`QuadratureError` listing the valid names.

    Example
    -------
    >>> get_rule("sobol").kind
    'sampling'
    """
    if isinstance(name, Rule):
        return name
    try:
        return RULES[str(name).lower()]
    except KeyError:
        raise QuadratureError(
            f"unknown quadrature rule {name!r}; valid rules: {', '.join(RULES)}"
        ) from None


def check_n(n: int | Sequence[int]) -> None:
    """Raise :class:`QuadratureError` unless ``n`` (or every entry of it) is a positive integer."""
    values = list(n) if isinstance(n, (tuple, list)) else [n]
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0:
            raise QuadratureError(f"the number of points must be a positive integer; got n={n!r}")


def per_axis(n: int | Sequence[int], k: int) -> list[int]:
    """Per-axis point counts of a product rule asked for ``n`` points in ``k`` dimensions."""
    check_n(n)
    if isinstance(n, (tuple, list)):
        if len(n) != k:
            raise QuadratureError(
                f"per-axis point counts {tuple(n)} have {len(n)} entries but the rule "
                f"needs {k} (the domain's parameter dimension)"
            )
        return [int(m) for m in n]
    return [max(1, int(round(n ** (1.0 / k))))] * k if k else []


def _engine(cls, k: int, seed: int):
    """A scrambled scipy QMC engine; ``rng=`` since scipy 1.15, ``seed=`` before."""
    try:
        return cls(d=k, scramble=True, rng=seed)
    except TypeError:  # pragma: no cover - scipy < 1.15
        return cls(d=k, scramble=True, seed=seed)


def sample_unit(rule: Rule, k: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` points of a sampling rule in :math:`(0,1)^k` (clipped away from 0 and 1)."""
    check_n(n)
    if k == 0:
        return np.zeros((n, 0))
    seed = rng.integers(2**63 - 1)
    if rule.name == "mc":
        u = rng.random((n, k))
    elif rule.name == "lhs":
        u = _engine(qmc.LatinHypercube, k, seed).random(n)
    elif rule.name == "sobol":
        engine = _engine(qmc.Sobol, k, seed)
        with warnings.catch_warnings():  # n not a power of 2 is allowed, merely less balanced
            warnings.simplefilter("ignore", UserWarning)
            u = engine.random(n)
    elif rule.name == "halton":
        u = _engine(qmc.Halton, k, seed).random(n)
    else:
        raise QuadratureError(f"rule {rule.name!r} is not a sampling rule")
    return np.clip(u, _EPS, 1.0 - _EPS)


def stream(rule: Rule, k: int, rng: np.random.Generator):
    """A function ``take(m)`` giving the next ``m`` points of one randomized sequence.

    Sobol'/Halton continue a single scrambled sequence (so a rejected-and-kept subset stays
    low-discrepancy); MC and LHS draw fresh independent batches.
    """
    if rule.name in ("sobol", "halton"):
        cls = qmc.Sobol if rule.name == "sobol" else qmc.Halton
        engine = _engine(cls, k, rng.integers(2**63 - 1))

        def take(m: int) -> np.ndarray:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                return np.clip(engine.random(m), _EPS, 1.0 - _EPS)

        return take
    return lambda m: sample_unit(rule, k, m, rng)


def _nodes_1d(rule: Rule, m: int, periodic: bool) -> tuple[np.ndarray, np.ndarray]:
    if rule.name == "gauss" and not periodic:
        t, w = np.polynomial.legendre.leggauss(m)
        return (t + 1.0) / 2.0, w / 2.0
    return (np.arange(m) + 0.5) / m, np.full(m, 1.0 / m)


def product_unit(
    rule: Rule, k: int, n: int | Sequence[int], periodic: Sequence[bool] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    r"""Tensor grid on :math:`[0,1]^k` and its weights (summing to 1).

    Gauss–Legendre with ``m`` nodes integrates polynomials of degree :math:`\le 2m-1`
    exactly in each variable.

    Example
    -------
    >>> u, w = product_unit(get_rule("gauss"), 1, 2)
    >>> round(float(w @ u[:, 0] ** 3), 12)
    0.25
    """
    ms = per_axis(n, k)
    periodic = list(periodic) if periodic is not None else [False] * k
    if k == 0:
        return np.zeros((1, 0)), np.ones(1)
    nodes = [_nodes_1d(rule, m, p) for m, p in zip(ms, periodic, strict=True)]
    grids = np.meshgrid(*[t for t, _ in nodes], indexing="ij")
    wgrids = np.meshgrid(*[w for _, w in nodes], indexing="ij")
    u = np.stack([g.ravel() for g in grids], axis=1)
    w = np.prod(np.stack([g.ravel() for g in wgrids], axis=1), axis=1)
    return u, w
