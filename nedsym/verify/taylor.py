r"""Taylor tests: does a derived gradient really differentiate the energy?

For a smooth energy, :math:`E(u_0 + h v) = E(u_0) + h \langle \delta E/\delta u, v\rangle + O(h^2)`.
The remainder

.. math::  r_1(h) = |E(u_0 + h v) - E(u_0) - h\langle \delta E/\delta u, v\rangle|

must shrink at rate 2 as :math:`h \to 0` when the derivative is right, and
only at rate 1 when it is wrong; :math:`r_0(h) = |E(u_0 + hv) - E(u_0)|`
shrinks at rate 1 either way. Rates are reported, not only pass/fail.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import sympy as sp

from nedsym.errors import VerificationError
from nedsym.symbolic.declare import field_components, field_name
from nedsym.symbolic.energy import Energy
from nedsym.symbolic.variational import jet
from nedsym.verify.spectral import PeriodicSampler, lambdify_density

__all__ = ["TaylorResult", "taylor_test", "convergence_rates", "means_in"]

#: the most grid points a periodic Taylor test may use (all axes together)
MAX_POINTS = 4_194_304


def means_in(*exprs) -> list:
    """The distinct spatial means (:class:`~nedsym.symbolic.operators.Mean`) in ``exprs``."""
    from nedsym.symbolic.operators import Mean

    found = []
    for e in exprs:
        for m in sp.sympify(e).atoms(Mean):
            if m.args[0].atoms(Mean):
                raise VerificationError(f"nested means {m} are not supported by the test")
            if m not in found:
                found.append(m)
    return found


def convergence_rates(hs: Sequence[float], errors: Sequence[float]) -> np.ndarray:
    """Observed orders ``log(e_k/e_{k+1}) / log(h_k/h_{k+1})``."""
    hs, errors = np.asarray(hs, float), np.asarray(errors, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(errors[:-1] / errors[1:]) / np.log(hs[:-1] / hs[1:])


@dataclass
class TaylorResult:
    """Remainders and observed rates of a Taylor test."""

    hs: np.ndarray
    remainder0: np.ndarray
    remainder1: np.ndarray
    energy: float
    floor: float

    @property
    def rates0(self) -> np.ndarray:
        return convergence_rates(self.hs, self.remainder0)

    @property
    def rates(self) -> np.ndarray:
        """Observed rates of the first-order remainder (→ 2 when δE/δu is right)."""
        return convergence_rates(self.hs, self.remainder1)

    def _usable(self) -> np.ndarray:
        """Rates computed from remainders well above the round-off floor."""
        ok = self.remainder1 > 100 * self.floor
        return ok[:-1] & ok[1:]

    def _asymptotic(self) -> np.ndarray:
        """The last (smallest-h) two usable rates: the asymptotic regime."""
        return self.rates[self._usable()][-2:]

    @property
    def rate(self) -> float:
        """Observed rate in the asymptotic regime (NaN if round-off swamps every step)."""
        last = self._asymptotic()
        return float(np.mean(last)) if last.size else float("nan")

    def verdict(self, expected: float = 2.0, tol: float = 0.2) -> tuple[str, str]:
        """``("PASS" | "FAIL" | "INCONCLUSIVE", reason)``.

        PASS: the asymptotic rates reach ``expected - tol``, or the remainder stays at
        round-off for every h while the energy itself visibly changes (an exact gradient of
        a quadratic energy). INCONCLUSIVE: nothing could be measured — a value is NaN/Inf
        (the base state leaves the energy's domain?) or the energy does not change along
        the direction at all (too few grid points, a direction in the kernel). Only PASS is
        a pass.
        """
        vals = np.concatenate([self.remainder0, self.remainder1, [self.energy]])
        if not np.all(np.isfinite(vals)):
            return ("INCONCLUSIVE", "the energy or its derivative is NaN/Inf at the base "
                    "state (outside the energy's domain? give a valid base state, e.g. a "
                    "positive one for logs and negative powers)")
        if not np.any(self.remainder0 > 1e4 * self.floor):
            return ("INCONCLUSIVE", "the energy does not change along the direction (too "
                    "few grid points, a null Lagrangian such as u_xy, or a direction the "
                    "energy cannot see): nothing was measured")
        last = self._asymptotic()
        if not last.size:
            if np.all(self.remainder1 <= 100 * self.floor):
                return ("PASS", "remainder at round-off for every h (exact gradient)")
            return ("INCONCLUSIVE", "no rate could be measured above round-off")
        if np.all(last >= expected - tol):
            return ("PASS", f"rate {self.rate:.3f}")
        return ("FAIL", f"rate {self.rate:.3f} < {expected - tol:g}: the derivative "
                        "(or a boundary term) is wrong")

    def passed(self, expected: float = 2.0, tol: float = 0.2) -> bool:
        """True only for a PASS verdict (see :meth:`verdict`)."""
        return self.verdict(expected, tol)[0] == "PASS"

    def assert_ok(self, expected: float = 2.0, tol: float = 0.2) -> None:
        if not self.passed(expected, tol):
            raise VerificationError(f"Taylor test failed (expected rate {expected}):\n{self}")

    def __str__(self) -> str:
        rows = [f"Taylor test, E(u0) = {self.energy:.6g} (round-off floor {self.floor:.1e})",
                "       h      |E(u+hv)-E(u)|  rate   |... - h<dE,v>|  rate"]
        r0, r1 = self.rates0, self.rates
        for k, h in enumerate(self.hs):
            a = f"{r0[k - 1]:5.2f}" if k else "     "
            b = f"{r1[k - 1]:5.2f}" if k else "     "
            rows.append(f"  {h:9.3e}   {self.remainder0[k]:11.4e}  {a}   "
                        f"{self.remainder1[k]:11.4e}  {b}")
        verdict, why = self.verdict()
        rows.append(f"  observed rate {self.rate:.3f} (expected 2): {verdict} ({why})")
        return "\n".join(rows)


def _as_component_dict(E: Energy, value, what: str, default_zero: bool) -> dict:
    comps = E.components
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            ks = field_components(k) if not isinstance(k, str) else [
                c for c in comps if field_name(c) == k]
            if not ks:
                raise VerificationError(f"{what}: {k} is not a field of the energy")
            if isinstance(v, sp.MatrixBase):
                out.update(dict(zip(ks, list(v), strict=True)))
            else:
                for c in ks:
                    out[c] = v
        missing = [field_name(c) for c in comps if c not in out]
        if missing and not default_zero:
            raise VerificationError(f"{what}: no value for fields {missing}")
        return {c: out.get(c, 0) for c in comps}
    if isinstance(value, sp.MatrixBase):
        value = list(value)
    if isinstance(value, (list, tuple)):
        if len(value) != len(comps):
            raise VerificationError(f"{what}: {len(value)} values for {len(comps)} fields")
        return dict(zip(comps, value, strict=True))
    if len(comps) != 1:
        raise VerificationError(
            f"{what}: the energy has fields {[field_name(c) for c in comps]}; "
            "pass a dict {field: value}")
    return {comps[0]: value}


def taylor_test(E: Energy, u=None, u0=None, v=None, *, bounds=None, n: int | None = None,
                h0: float = 0.05, steps: int = 6, params: Mapping | None = None,
                gradient: Mapping | None = None) -> TaylorResult:
    r"""Check :math:`\delta E/\delta u` against the energy itself on a periodic box.

    ``u0``: the base state (sympy expressions in the coordinates, callables or
    arrays; a dict ``{field: value}`` for several fields). ``v``: the direction
    (same forms; fields not given are not perturbed). ``u``: the field(s) to
    perturb when ``v`` is a single value. The domain is the periodic box
    ``bounds`` (default :math:`[0, 2\pi]^d`) with ``n`` points per axis; give
    smooth periodic ``u0`` and ``v`` so that boundary terms vanish.
    ``gradient``: a claimed ``{field: δE/δfield}`` to check instead of the
    derived one (e.g. a hand-derived formula).

    Example
    -------
    >>> import nedsym as ns
    >>> E = ns.Energy.parse("|grad(u)|^2/2 + u^4/4", coords="x y")
    >>> x, y = E.coords
    >>> r = taylor_test(E, u0=sp.sin(x)*sp.cos(y), v=sp.cos(2*x + y), n=32)
    >>> r.verdict()[0], round(r.rate, 1)
    ('PASS', 2.0)
    """
    if u0 is None or v is None:
        raise VerificationError("taylor_test needs a base state u0 and a direction v")
    if u is not None and not isinstance(v, Mapping):
        comps = field_components(u)
        v = {c: vv for c, vv in zip(comps, list(v) if isinstance(v, (list, tuple, sp.MatrixBase))
                                    else [v] * len(comps), strict=True)}
    base = _as_component_dict(E, u0, "u0", default_zero=False)
    direction = _as_component_dict(E, v, "v", default_zero=True)
    d = len(E.coords)
    n = {1: 256, 2: 64}.get(d, 24) if n is None else n
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 4:
        raise VerificationError(f"n must be an integer >= 4 grid points per axis, got {n!r}")
    if n ** d > MAX_POINTS:
        raise VerificationError(f"n={n} in {d} dimensions gives {n ** d:.3g} points; the "
                                f"test allows at most {MAX_POINTS:.3g}")
    grid = PeriodicSampler(E.coords, bounds, n)
    pvals = E.param_values(**(params or {}))

    grads = {c: E.variational_derivative(c) for c in E.components}
    if gradient is not None:
        grads.update(_as_component_dict(E, gradient, "gradient", default_zero=True))
    means = means_in(E.density, *grads.values())
    mean_syms = {m: sp.Dummy(f"mean{k}") for k, m in enumerate(means)}
    occ = {}  # occurrence (u or a derivative) -> (component, multi-index)
    for c in E.components:
        for e in [E.density, *[m.args[0] for m in means]]:
            for idx, o in jet(e, c).items():
                occ[o] = (c, idx)
    occ_list = list(occ)
    coords_m = (*E.coords, *mean_syms.values())
    density_fn = lambdify_density(E.density.xreplace(mean_syms), coords_m, occ_list, pvals)
    mean_fns = [lambdify_density(m.args[0], E.coords, occ_list, pvals) for m in means]
    grad_occ = {}
    for c in E.components:
        for g in grads.values():
            for idx, o in jet(g, c).items():
                grad_occ[o] = (c, idx)
    grad_list = list(grad_occ)
    grad_fns = {c: lambdify_density(g.xreplace(mean_syms), coords_m, grad_list, pvals)
                for c, g in grads.items()}

    U0 = {c: grid.sample(val, f"u0[{field_name(c)}]") for c, val in base.items()}
    V = {c: grid.sample(val, f"v[{field_name(c)}]") for c, val in direction.items()}
    volume = float(np.prod([b - a for a, b in grid.bounds]))

    def values(state, table, keys):
        return [np.broadcast_to(grid.derivative(state[table[o][0]], table[o][1]),
                                grid.mesh[0].shape) for o in keys]

    def mean_values(state):
        vals = values(state, occ, occ_list)
        return [grid.integrate(np.broadcast_to(f(*grid.mesh, *vals), grid.mesh[0].shape))
                / volume for f in mean_fns]

    def energy(state) -> float:
        dens = density_fn(*grid.mesh, *mean_values(state), *values(state, occ, occ_list))
        return grid.integrate(np.broadcast_to(dens, grid.mesh[0].shape))

    with np.errstate(all="ignore"):
        E0 = energy(U0)
        gvals = values(U0, grad_occ, grad_list)
        m0 = mean_values(U0)
        dE = sum(grid.integrate(np.broadcast_to(grad_fns[c](*grid.mesh, *m0, *gvals),
                                                grid.mesh[0].shape) * V[c])
                 for c in E.components)
        hs = h0 / 2.0 ** np.arange(steps)
        r0, r1 = [], []
        for h in hs:
            Eh = energy({c: U0[c] + h * V[c] for c in E.components})
            r0.append(abs(Eh - E0))
            r1.append(abs(Eh - E0 - h * dE))
        scale = max(abs(E0), float(np.sum(np.abs(density_fn(
            *grid.mesh, *m0, *values(U0, occ, occ_list)))) * grid.cell), 1e-300)
    return TaylorResult(hs=hs, remainder0=np.array(r0), remainder1=np.array(r1), energy=E0,
                        floor=np.finfo(float).eps * scale)
