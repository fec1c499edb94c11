r"""Finite-difference checks of a network's parameter Jacobians and spatial derivatives.

For each quantity :math:`f \in \{u, \nabla u, \nabla^2 u\}` (or :math:`\Delta u`)
and a random direction :math:`v` in parameter space, the Taylor remainder

.. math::  r_1(h) = \max |f(\theta + h v) - f(\theta) - h\, J_f v|

must shrink at rate 2 when the Jacobian :math:`J_f` is right (rate 1 when it
is wrong). The spatial derivatives of the forward pass are checked against
central differences in :math:`x`, whose error also shrinks at rate 2:

.. math::  \max |(f(x + h e_k) - f(x - h e_k))/2h - \partial_k f|.

When the network also has ``linearize`` (a :class:`nedsym.nn.Network`), the rows
``lin.rows(c)`` of random cotangents ``c`` (three channels) are Taylor-tested the same way,
as the Jacobian of :math:`\langle c, \text{jet}\rangle` (``taylor["rows"]``): they are
what the NED strong route builds its least-squares systems from.

Works with any object that has ``forward(X, theta, order)`` and
``jacobian(X, theta, order)`` (taking ``lap_only=``/``diag_only=`` when those are
checked) and ``n_params`` (a :class:`nedsym.nn.Network`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from nedsym.errors import ConfigError, VerificationError
from nedsym.verify.taylor import TaylorResult, convergence_rates

__all__ = ["check_jacobian", "JacobianCheck", "FiniteDifferenceResult", "ParameterTaylorResult"]


@dataclass
class FiniteDifferenceResult:
    """Errors of central differences against a derivative, and their observed rates."""

    name: str
    hs: np.ndarray
    errors: np.ndarray
    floor: float

    @property
    def rates(self) -> np.ndarray:
        return convergence_rates(self.hs, self.errors)

    def _usable(self) -> np.ndarray:
        # a rate is read between two errors an order of magnitude above round-off; at 100x
        # a correct but tiny derivative (|hess| ~ 3e-6, errors 4e-13 -> 2e-15 at rate 2.00)
        # left no usable pair and was called FAIL
        ok = self.errors > 10 * self.floor
        return ok[:-1] & ok[1:]

    @property
    def rate(self) -> float:
        """Mean of the last two usable rates (NaN if every error is at round-off)."""
        last = self.rates[self._usable()][-2:]
        return float(np.mean(last)) if last.size else float("nan")

    def passed(self, expected: float = 2.0, tol: float = 0.2) -> bool:
        """Rates reach ``expected - tol``, or every error is at round-off level."""
        last = self.rates[self._usable()][-2:]
        if not last.size:
            return bool(np.all(self.errors <= 100 * self.floor))
        return bool(np.all(last >= expected - tol))

    def __str__(self) -> str:
        rows = [f"central differences of {self.name} (round-off floor {self.floor:.1e})",
                "       h       max error   rate"]
        r = self.rates
        for k, h in enumerate(self.hs):
            rate = f"{r[k - 1]:5.2f}" if k else "     "
            rows.append(f"  {h:9.3e}   {self.errors[k]:11.4e}  {rate}")
        rows.append(f"  observed rate {self.rate:.3f} (expected 2): "
                    f"{'PASS' if self.passed() else 'FAIL'}")
        return "\n".join(rows)


@dataclass
class ParameterTaylorResult(TaylorResult):
    r"""A :class:`~nedsym.verify.taylor.TaylorResult` for one network output ``f``
    (``energy`` holds :math:`\max|f(\theta)|`)."""

    name: str = "u"

    def verdict(self, expected: float = 2.0, tol: float = 0.2) -> tuple[str, str]:
        """As :meth:`TaylorResult.verdict`, except that an output that is identically zero
        (``max|f| = 0``, e.g. the Hessian of a piecewise-linear network) with a zero
        remainder passes: its derivative is zero, and so is the claimed one."""
        if self.energy == 0 and np.all(self.remainder0 == 0) and \
                np.all(self.remainder1 <= 100 * self.floor):
            return ("PASS", f"{self.name} is identically zero, and so is J v")
        return super().verdict(expected, tol)

    def __str__(self) -> str:
        text = super().__str__().splitlines()
        text[0] = (f"Taylor test of {self.name} in theta, max|{self.name}| = {self.energy:.6g} "
                   f"(round-off floor {self.floor:.1e})")
        text[1] = "       h      max|f(t+hv)-f(t)|  rate   max|... - h J v|  rate"
        return "\n".join(text)


@dataclass
class JacobianCheck:
    """Taylor tests of the parameter Jacobians and finite-difference tests in ``x``.

    ``taylor``: ``{"u" | "grad" | "hess" | "lap" | "diag" | "rows": TaylorResult}``;
    ``spatial``: ``{"grad" | "hess" | "lap" | "diag": FiniteDifferenceResult}``.
    """

    taylor: dict[str, TaylorResult] = field(default_factory=dict)
    spatial: dict[str, FiniteDifferenceResult] = field(default_factory=dict)

    def failures(self) -> list[str]:
        """Names of the checks that failed (``"jacobian u"``, ``"spatial hess"``, ...)."""
        return ([f"jacobian {k}" for k, r in self.taylor.items() if not r.passed()]
                + [f"spatial {k}" for k, r in self.spatial.items() if not r.passed()])

    def passed(self) -> bool:
        return not self.failures()

    def assert_ok(self) -> None:
        """Raise :class:`~nedsym.errors.VerificationError` with the report if a check failed."""
        if not self.passed():
            raise VerificationError(f"Jacobian check failed ({', '.join(self.failures())}):\n"
                                    f"{self}")

    def __str__(self) -> str:
        parts = []
        for k, r in self.taylor.items():
            parts.append(f"[d {k} / d theta]\n{r}")
        for k, r in self.spatial.items():
            parts.append(f"[{k} vs finite differences in x]\n{r}")
        return "\n".join(parts)


def _quantities(jet, order: int, second: str) -> dict[str, np.ndarray]:
    """``second``: which second derivatives the jet carries (``hess``, ``lap`` or ``diag``)."""
    out = {"u": jet.u}
    if order >= 1:
        out["grad"] = jet.grad
    if order == 2:
        out[second] = getattr(jet, second)
    return out


def check_jacobian(net, X, theta=None, order: int = 2, *, seed: int = 0, h0: float = 0.05,
                   steps: int = 7, fd_h0: float = 0.02, fd_steps: int = 5,
                   lap_only: bool = False, diag_only: bool = False,
                   spatial: bool = True, rows: bool = True) -> JacobianCheck:
    r"""Check ``net.jacobian`` (Taylor rates along a random direction) and ``net.forward``'s
    spatial derivatives (central differences in ``x``) at the points ``X``.

    ``theta``: parameters (default ``net.theta0``); ``seed``: of the random
    direction :math:`v \sim N(0, I)`; ``h0``/``steps``: Taylor step sizes
    ``h0 / 2**k``; ``fd_h0``/``fd_steps``: the same for the differences in ``x``;
    ``lap_only``/``diag_only``: check the Laplacian-only or diagonal-only jets instead of
    the full Hessian; ``rows``: also check ``net.linearize(...).rows`` (when the network
    has it).

    Example
    -------
    >>> import numpy as np, nedsym.nn as nn
    >>> net = nn.MLP([2, 8, 1], seed=0)
    >>> X = np.random.default_rng(0).uniform(size=(10, 2))
    >>> check_jacobian(net, X, order=2).passed()
    True
    """
    X = np.asarray(X, dtype=np.float64)
    theta = np.asarray(net.theta0 if theta is None else theta, dtype=np.float64)
    rng = np.random.default_rng(seed)
    v = rng.standard_normal(theta.shape)
    flags = {"lap_only": True} if lap_only else {"diag_only": True} if diag_only else {}
    if lap_only and diag_only:
        raise ConfigError("lap_only and diag_only exclude each other")
    second = "lap" if lap_only else "diag" if diag_only else "hess"
    values, jac = net.jacobian(X, theta, order, **flags)
    base = _quantities(values, order, second)
    derivs = _quantities(jac, order, second)
    hs = h0 / 2.0 ** np.arange(steps)
    result = JacobianCheck()
    perturbed = [_quantities(net.forward(X, theta + h * v, order, **flags), order, second)
                 for h in hs]
    checks = [(name, f0, derivs[name] @ v, [p[name] for p in perturbed])
              for name, f0 in base.items()]
    if rows and hasattr(net, "linearize"):
        checks.append(_rows_check(net, X, theta, order, flags, second, v, perturbed, rng))
    for name, f0, Jv, moved in checks:
        r0 = np.array([np.max(np.abs(p - f0)) for p in moved])
        r1 = np.array([np.max(np.abs(p - f0 - h * Jv)) for p, h in zip(moved, hs, strict=True)])
        scale = max(float(np.max(np.abs(f0))), float(np.max(np.abs(Jv))) * h0, 1e-300)
        result.taylor[name] = ParameterTaylorResult(
            hs=hs, remainder0=r0, remainder1=r1, energy=float(np.max(np.abs(f0))),
            floor=10 * np.finfo(float).eps * scale, name=name)
    if spatial and order >= 1:
        result.spatial.update(_spatial(net, X, theta, order, second, fd_h0, fd_steps, base))
    return result


def _rows_check(net, X, theta, order, flags, second, v, perturbed, rng):
    """``("rows", f0, R v, [f(θ + h v)])`` for ``f = ⟨c, jet⟩`` with random cotangents ``c``
    of three channels and ``R = net.linearize(...).rows(c, out=...)`` (into a buffer, as
    NED builds its systems)."""
    from nedsym.nn.jet import Jet

    vals, lin = net.linearize(X, theta, order, **flags)
    q0 = _quantities(vals, order, second)
    C = 3
    cot = {k: rng.standard_normal((a.shape[0], C) + a.shape[1:]) for k, a in q0.items()}

    def comb(q):
        M = X.shape[0]
        return sum((cot[k] * q[k][:, None]).reshape(M, C, -1).sum(axis=2) for k in cot)

    R = lin.rows(Jet(**cot), out=np.full((X.shape[0], C, theta.size), np.nan))
    return ("rows", comb(q0), R @ v, [comb(p) for p in perturbed])


def _spatial(net, X, theta, order, second, h0, steps, base) -> dict:
    """Central differences of u (against grad) and of grad (against hess / lap / diag)."""
    d = X.shape[1]
    hs = h0 / 2.0 ** np.arange(steps)
    lower = order - 1
    targets = {"grad": base["grad"]}
    if order == 2:
        targets[second] = base[second]
    errs = {k: [] for k in targets}
    for h in hs:
        fd_grad = np.empty_like(base["grad"])
        fd_hess = np.empty(base["grad"].shape + (d,))
        for k in range(d):
            e = np.zeros(d)
            e[k] = h
            plus, minus = net.forward(X + e, theta, lower), net.forward(X - e, theta, lower)
            fd_grad[..., k] = (plus.u - minus.u) / (2 * h)
            if order == 2:
                fd_hess[..., k] = (plus.grad - minus.grad) / (2 * h)
        errs["grad"].append(np.max(np.abs(fd_grad - targets["grad"])))
        if order == 2:
            if second == "lap":
                fd = np.trace(fd_hess, axis1=2, axis2=3)
            elif second == "diag":
                fd = np.diagonal(fd_hess, axis1=2, axis2=3)
            else:
                fd = fd_hess
            errs[second].append(np.max(np.abs(fd - targets[second])))
    out = {}
    for name, e in errs.items():
        lower_vals = base["u"] if name == "grad" else base["grad"]
        scale = max(float(np.max(np.abs(lower_vals))), 1e-300)
        # round-off of a central difference: eps * |f| / h at the smallest h
        floor = np.finfo(float).eps * scale / hs[-1]
        out[name] = FiniteDifferenceResult(name=name, hs=hs, errors=np.array(e), floor=floor)
    return out
