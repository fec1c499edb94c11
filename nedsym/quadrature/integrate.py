r"""Integral estimates: :func:`integrate` (sympy or callable integrands), :func:`integrate_density`.

Estimators (``n`` points per randomization, ``R`` randomizations):

* Monte Carlo / Latin hypercube, :math:`R = 1`: :math:`\hat I = \sum_i w_i f(x_i)`, standard
  error :math:`s/\sqrt n` with :math:`s` the sample standard deviation of
  :math:`Y_i = n w_i f(x_i)`, and a Student-:math:`t` interval (for LHS this is conservative).
* any randomized rule with :math:`R \ge 2` (the default for scrambled Sobol'/Halton is
  :math:`R = 8`): :math:`\hat I = \frac1R\sum_r \hat I_r`, standard error
  :math:`\mathrm{sd}(\hat I_r)/\sqrt R`, :math:`t_{R-1}` interval.
* Gauss / midpoint: no random error (``stderr = ci = None``); ``a_posteriori=True`` adds
  :math:`|Q_m - Q_{2m}|` (``m`` points per axis) as ``error_estimate``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import sympy as sp
from scipy import stats

from nedsym.errors import QuadratureError
from nedsym.quadrature.domain import Domain, SeedLike, as_generator
from nedsym.quadrature.integrand import compile_integrand, resolve_coords
from nedsym.quadrature.points import IntegralEstimate, Points
from nedsym.quadrature.rules import check_n, get_rule, per_axis
from nedsym.symbolic.safe import formula_parser, to_expr

Integrand = sp.Expr | Sequence[sp.Expr] | Callable[..., np.ndarray]
QMC_DEFAULT_REPEATS = 8
_STRING_HINT = " (or a formula string with coords= naming its coordinates)"


def _parser(f, dim, coords, params):
    """The guarded parser for a string integrand: its coordinates are ``coords`` (names or
    symbols), else x, y, z for up to three dimensions (``None``: ``f`` is no string)."""
    if not isinstance(f, str):
        return None
    if coords is None:
        if dim > 3:
            return None
        coords = " ".join("xyz"[:dim])
    if not isinstance(coords, str):
        coords = " ".join(getattr(c, "name", str(c)) for c in coords)
    return formula_parser(coords, list(params or {}))


def _wants_normals(f: Callable) -> bool:
    try:
        sig = inspect.signature(f)
    except (TypeError, ValueError):
        return False
    required = [
        p
        for p in sig.parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]
    return len(required) >= 2


def make_evaluator(
    f: Integrand, dim: int, has_normals: bool, coords=None, params: Mapping | None = None
) -> Callable[[Points], tuple[float, float]]:
    r"""A function ``points -> (sum_i w_i f_i, sample variance of n w_i f_i)``.

    ``f``: a sympy expression (compiled once), a sequence of ``dim`` sympy expressions
    :math:`F` integrated as the flux :math:`F\cdot n` over a boundary, or a callable
    ``f(x)`` / ``f(x, normals)`` (two required arguments) on arrays ``x`` of shape ``(n, d)``.
    """
    params = {sp.Symbol(k) if isinstance(k, str) else k: v for k, v in (params or {}).items()}
    if callable(f) and not isinstance(f, sp.Basic):
        with_normals = _wants_normals(f)
        if with_normals and not has_normals:
            raise QuadratureError(
                "the integrand takes (x, normals) but the domain has no normals;"
                " integrate over domain.boundary()"
            )

        def evaluate_callable(pts: Points) -> tuple[float, float]:
            vals = np.asarray(f(pts.x, pts.normals) if with_normals else f(pts.x), dtype=float)
            if vals.shape != (pts.n,):
                raise QuadratureError(
                    f"the integrand returned shape {vals.shape} for points of "
                    f"shape {pts.x.shape}; expected ({pts.n},)"
                )
            y = pts.n * pts.w * vals
            return float(pts.w @ vals), float(np.var(y, ddof=1)) if pts.n > 1 else np.nan

        return evaluate_callable

    normals: tuple = ()
    if isinstance(f, (list, tuple, sp.MatrixBase)):
        comps = [to_expr(c, "the integrand", hint=_STRING_HINT)
                 for c in (list(f) if not isinstance(f, sp.MatrixBase) else f)]
        if len(comps) != dim:
            raise QuadratureError(
                f"dimension mismatch: vector integrand has {len(comps)} "
                f"components but the domain is {dim}-dimensional"
            )
        if not has_normals:
            raise QuadratureError(
                "a vector integrand F is integrated as the flux F.n and needs "
                "a boundary domain (domain.boundary())"
            )
        normals = tuple(sp.Symbol(f"_nedsym_normal_{j}") for j in range(dim))  # stable key
        coords = resolve_coords(sp.Add(*comps), dim, coords, params)
        expr = sp.Add(*[c * nj for c, nj in zip(comps, normals, strict=True)])
    else:
        expr = to_expr(f, "the integrand", parse=_parser(f, dim, coords, params),
                       hint=_STRING_HINT)
        coords = resolve_coords(expr, dim, coords, params)
    kernel = compile_integrand(expr, coords, tuple(params), normals)

    def evaluate_kernel(pts: Points) -> tuple[float, float]:
        m = min(pts.n, 16)
        shift = float(np.mean(pts.w[:m] * kernel.values(pts.x[:m], _nrm(pts, m), params)))
        s1, s2 = kernel.moments(pts.x, pts.w, pts.normals, params, shift)
        total = s1 + pts.n * shift
        var_z = (s2 - s1 * s1 / pts.n) / (pts.n - 1) if pts.n > 1 else np.nan
        return total, max(var_z, 0.0) * pts.n**2

    return evaluate_kernel


def _nrm(pts: Points, m: int):
    return None if pts.normals is None else pts.normals[:m]


def _interval(value: float, se: float, dof: int, confidence: float):
    if not np.isfinite(se) or dof < 1:
        return None
    h = float(stats.t.ppf(0.5 + confidence / 2, dof)) * se
    return (float(value - h), float(value + h))


def integrate(
    f: Integrand,
    domain: Domain,
    rule: str = "mc",
    n: int | Sequence[int] = 1024,
    seed: SeedLike = None,
    repeats: int | None = None,
    *,
    coords: str | Sequence[sp.Symbol] | None = None,
    params: Mapping[sp.Symbol | str, float] | None = None,
    confidence: float = 0.95,
    a_posteriori: bool = False,
) -> IntegralEstimate:
    r"""Estimate :math:`\int_\Omega f\,dx` (or :math:`\oint F\cdot n\,ds` on a boundary).

    ``f``: sympy expression in coordinate symbols (``coords``; default: its free symbols
    sorted by name when they number ``domain.dim``, else ``x, y, z`` / ``x0, x1, …``),
    with other symbols given values in ``params``; a list of ``dim`` expressions
    :math:`F` on a boundary (flux); or a callable ``f(x)`` / ``f(x, normals)``.
    ``rule``: ``mc``, ``lhs``, ``sobol``, ``halton``, ``gauss``, ``midpoint``.
    ``repeats``: independent randomizations (default 8 for sobol/halton, else 1).
    See the module docstring for the error estimates.

    Example
    -------
    >>> import sympy as sp
    >>> from nedsym.quadrature import Box
    >>> x, y = sp.symbols("x y")
    >>> est = integrate(x**2 * y, Box([(0, 1), (0, 2)]), rule="gauss", n=16)
    >>> round(est.value, 12)   # (1/3) * 2
    0.666666666667
    """
    r = get_rule(rule)
    check_n(n)
    if not 0 < confidence < 1:
        raise QuadratureError(f"confidence must be in (0, 1); got {confidence}")
    if repeats is None:
        repeats = QMC_DEFAULT_REPEATS if r.name in ("sobol", "halton") else 1
    if isinstance(repeats, bool) or not isinstance(repeats, (int, np.integer)) or repeats < 1:
        raise QuadratureError(f"repeats must be a positive integer; got repeats={repeats!r}")
    if not r.randomized and repeats != 1:
        raise QuadratureError(
            f"repeats={repeats} applies to randomized rules; {r.name!r} is "
            f"deterministic (use a_posteriori=True for an error estimate)"
        )
    evaluate = make_evaluator(f, domain.dim, domain.has_normals, coords, params)
    rng = as_generator(seed)
    totals, variances, n_pts = [], [], 0
    for _ in range(repeats):
        pts = domain.points(n, r, rng)
        total, var = evaluate(pts)
        totals.append(total)
        variances.append(var)
        n_pts += pts.n
    per_rep = n_pts // repeats
    value = float(np.mean(totals))
    se = ci = err = None
    if r.randomized and repeats >= 2:
        se = float(np.std(totals, ddof=1) / np.sqrt(repeats))
        ci = _interval(value, se, repeats - 1, confidence)
    elif r.randomized:
        se = float(np.sqrt(variances[0] / per_rep)) if per_rep > 1 else None
        ci = _interval(value, se, per_rep - 1, confidence) if se is not None else None
    elif a_posteriori:
        fine = domain.points(_refined(n, domain), r, rng)
        fine_value, _ = evaluate(fine)
        err = abs(fine_value - value)
        n_pts += fine.n
    return IntegralEstimate(
        value, se, ci, per_rep, repeats, n_pts, r.name, confidence, err, np.asarray(totals)
    )


def _refined(n, domain: Domain):
    if isinstance(n, (tuple, list)):
        return tuple(2 * m for m in n)
    k = domain.product_dim
    if k is None:  # a boundary: pieces have one dimension less than the ambient space
        return int(n) * 2 ** (domain.dim - 1)
    return tuple(2 * m for m in per_axis(n, k))


def integrate_points(
    f: Integrand,
    points: Points,
    *,
    coords=None,
    params=None,
    confidence: float = 0.95,
    rule: str = "points",
) -> IntegralEstimate:
    r""":math:`\sum_i w_i f(x_i)` on given points, with the i.i.d. standard error of
    :math:`Y_i = n w_i f(x_i)` (valid for Monte Carlo and importance-sampled points).

    Example
    -------
    >>> p = Points(np.array([[0.25], [0.75]]), np.array([0.5, 0.5]))
    >>> integrate_points(lambda x: x[:, 0], p).value
    0.5
    """
    evaluate = make_evaluator(f, points.dim, points.normals is not None, coords, params)
    total, var = evaluate(points)
    se = float(np.sqrt(var / points.n)) if points.n > 1 else None
    ci = _interval(total, se, points.n - 1, confidence) if se is not None else None
    return IntegralEstimate(total, se, ci, points.n, 1, points.n, rule, confidence)


def integrate_density(
    density: Callable[[np.ndarray], np.ndarray],
    domain,
    rule: str = "mc",
    n: int = 1024,
    seed: SeedLike = None,
    repeats: int | None = None,
    **kwargs,
) -> IntegralEstimate:
    r"""Hook for energies: :math:`E = \int_\Omega \rho(x)\,dx` for a density callable.

    ``density`` maps points ``(n, d)`` to values ``(n,)`` (e.g. the Lagrangian of an
    energy evaluated on a parameterized field). ``domain`` may be a :class:`Domain`
    (fresh points from ``rule``), a :class:`~nedsym.quadrature.Sampler` (its next draw)
    or fixed :class:`Points`.

    Example
    -------
    >>> from nedsym.quadrature import Ball
    >>> e = integrate_density(lambda x: np.ones(len(x)), Ball((0, 0), 1), "sobol", 256, seed=0)
    >>> round(e.value, 12) == round(np.pi, 12)
    True
    """
    if isinstance(domain, Points):
        return integrate_points(density, domain, **kwargs)
    if hasattr(domain, "draw"):
        return integrate_points(density, domain.draw(), rule=domain.rule.name, **kwargs)
    return integrate(density, domain, rule, n, seed, repeats, **kwargs)
