"""Sampled quadrature of an :class:`~nedsym.symbolic.energy.Energy` for a given field."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import sympy as sp

from nedsym.errors import FieldError
from nedsym.quadrature.integrate import integrate_density
from nedsym.symbolic.declare import field_name
from nedsym.symbolic.lambdify import lambdify_density
from nedsym.symbolic.printing import compact

__all__ = ["integrate_energy"]


def integrate_energy(E, u, quadrature, rule: str = "sobol", n: int = 4096, seed=None,
                     params: Mapping | None = None, **options):
    r"""Evaluate :math:`E[u] = \int_\Omega L\,dx` by sampled quadrature.

    ``u``: the field as a sympy expression in the coordinates (a dict
    ``{field: expr}`` for several fields; derivatives are taken exactly), or
    a callable ``u(X) -> {name: values}`` on points ``X`` of shape ``(n, d)``
    giving every occurrence the density needs, named in compact notation
    (``"u"``, ``"u_x"``, ``"u_xy"``, ...). ``quadrature``: a
    :mod:`nedsym.quadrature` domain, sampler or fixed points. Returns an
    :class:`~nedsym.quadrature.IntegralEstimate` (value, error estimate, n).

    Example
    -------
    >>> import nedsym as ns
    >>> x, y = ns.coords("x y")
    >>> u = ns.Field("u", (x, y))
    >>> E = ns.Energy(ns.dot(ns.grad(u), ns.grad(u)) / 2, [u])     # exact: pi^2/4 = 2.4674
    >>> est = integrate_energy(E, sp.sin(sp.pi*x)*sp.sin(sp.pi*y), ns.Box([(0, 1), (0, 1)]),
    ...                        seed=0)
    >>> round(est.value, 2)
    2.47
    """

    pvals = E.param_values(**(params or {}))
    if callable(u) and not isinstance(u, (sp.Basic, Mapping)):
        occ = list(E.density.atoms(sp.Derivative)) + list(E.components)
        names = [str(compact(o)) for o in occ]
        fn = lambdify_density(E.density, E.coords, occ, pvals)

        def density(X):
            vals = u(X)
            missing = [nm for nm in names if nm not in vals]
            if missing:
                raise FieldError(f"integrate_energy: the field callable did not return "
                                 f"{missing} (needed by the density)")
            cols = [X[:, k] for k in range(X.shape[1])]
            return np.broadcast_to(fn(*cols, *[vals[nm] for nm in names]), (len(X),))
    else:
        subs = u if isinstance(u, Mapping) else {E.components[0]: u}
        if len(subs) != len(E.components):
            raise FieldError(f"integrate_energy: give an expression for every field "
                             f"{[field_name(c) for c in E.components]}")
        expr = E.density.subs(subs).doit().xreplace(pvals)
        fn = sp.lambdify(E.coords, expr, "numpy")

        def density(X):
            return np.broadcast_to(fn(*[X[:, k] for k in range(X.shape[1])]), (len(X),))
    return integrate_density(density, quadrature, rule=rule, n=n, seed=seed, **options)
