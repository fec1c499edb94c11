"""Independent oracles for derived expressions.

``sympy.calculus.euler.euler_equations`` computes Euler–Lagrange equations by
a separate route; where it applies (every field depends on all coordinates),
our variational derivative must agree with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import sympy as sp
from sympy.calculus.euler import euler_equations
from sympy.core.function import AppliedUndef

from nedsym.errors import VerificationError
from nedsym.symbolic.declare import field_name, is_field
from nedsym.symbolic.energy import Energy

__all__ = ["equivalent", "against_sympy", "OracleReport"]


def equivalent(a, b, trials: int = 6, rtol: float = 1e-9, seed: int = 0) -> bool:
    """Whether two expressions in fields/derivatives are equal.

    Fields and derivatives are frozen into independent symbols (they are
    independent jet variables); the difference is expanded, and if that does
    not cancel, evaluated at random points.
    """
    diff = sp.sympify(a) - sp.sympify(b)
    atoms = [d for d in diff.atoms(sp.Derivative) if is_field(d.expr)]
    atoms += list(diff.atoms(AppliedUndef))
    frozen = diff.xreplace({t: sp.Dummy() for t in atoms})
    if sp.expand(frozen) == 0:
        return True
    syms = sorted(frozen.free_symbols, key=str)
    f = sp.lambdify(syms, frozen, "numpy")
    rng = np.random.default_rng(seed)
    for _ in range(trials):
        vals = rng.uniform(0.3, 1.3, len(syms))
        with np.errstate(all="ignore"):
            d = complex(f(*vals))
        if not np.isfinite(d) or abs(d) > rtol * (1 + abs(d)):
            return False
    return True


@dataclass
class OracleReport:
    """Agreement of our δE/δu with ``euler_equations``, per field."""

    applicable: bool
    reason: str = ""
    agree: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.applicable and all(self.agree.values())

    def __str__(self) -> str:
        if not self.applicable:
            return f"sympy oracle not applicable: {self.reason}"
        return "\n".join(f"  {k}: {'agrees' if v else 'DISAGREES'}" for k, v in self.agree.items())


def against_sympy(E: Energy, raise_on_mismatch: bool = True) -> OracleReport:
    """Compare :meth:`Energy.variational_derivative` with ``euler_equations``.

    Not applicable (reported, not raised) when fields depend on different
    coordinates or the energy has spatial means (nonlocal terms).
    """
    comps = E.components
    if any(tuple(c.args) != tuple(E.coords) for c in comps):
        return OracleReport(False, "fields depend on different coordinate lists")
    from nedsym.symbolic.operators import Mean

    if E.density.has(Mean):
        return OracleReport(False, "the energy has spatial means (nonlocal terms), which "
                                   "sympy's euler_equations does not know; the Taylor tests "
                                   "check them")
    report = OracleReport(True)
    kappa = sp.Dummy("kappa")
    for c in comps:
        # A fresh kappa*c keeps euler_equations from collapsing an equation to a
        # boolean (L = u gives Eq(1, 0) = False; null Lagrangians are dropped).
        eq = euler_equations(E.density + kappa * c, [c], E.coords)[0]
        oracle = (eq.lhs - eq.rhs - kappa).expand()
        report.agree[field_name(c)] = equivalent(E.variational_derivative(c), oracle)
    if raise_on_mismatch and not report.ok:
        raise VerificationError(f"variational derivative disagrees with sympy:\n{report}")
    return report
