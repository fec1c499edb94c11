r"""Convex splitting (Eyre 1998): steps that lower the *discrete energy itself* for any
:math:`\Delta t`.

The energy is split as :math:`E = E_c - E_e` with both parts convex:
:math:`E_c(u) = \tfrac12(u, (\mathcal{L} + \beta)u) + \sum_x F_c(u)\,\text{cell}` and
:math:`E_e(u) = \tfrac\beta2(u, u) + \sum_x F_e(u)\,\text{cell}`, where :math:`\mathcal{L}` is
the constant-coefficient linear part of :math:`\mu` (diagonal in the spectral basis),
:math:`\beta \ge 0` shifts it to be positive semi-definite, and the pointwise nonlinearity
:math:`F = F_c - F_e` has :math:`F_c'' \ge 0`, :math:`F_e'' \ge 0`. The step is implicit in
the convex part and explicit in the concave one,

.. math::
    \frac{u^{n+1} - u^n}{\Delta t} = -\mathcal{G}\bigl((\mathcal{L} + \beta)u^{n+1}
    + F_c'(u^{n+1}) - \beta u^n - F_e'(u^n)\bigr),

and then :math:`E_h(u^{n+1}) \le E_h(u^n)` for every :math:`\Delta t > 0` (the gradient of a
convex function is monotone), with the mean kept exactly when :math:`\hat G(0) = 0`
(:math:`H^{-1}`). With :math:`F_c = 0` the scheme is linear (one spectral solve); the
:math:`\beta`-shift is the stabilized scheme's :math:`S`, at the value that makes the split
convex.

The nonlinear equation is solved by Newton's method; each Newton system
:math:`(I + \Delta t\,\mathcal{G}(\mathcal{L} + \beta + \operatorname{diag}F_c''(v)))\,\delta
= -R` by GMRES (matrix-free, in physical space), preconditioned by the spectral inverse
with :math:`F_c''` replaced by its mean, so it takes a few iterations even at large
:math:`\Delta t`. The stepper sees arrays and callables only; the grid method builds them
from the energy (``stepper="convex-split"``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import scipy.sparse.linalg as spla

from nedsym.errors import SolverError
from nedsym.solve.sav import SpectralBasis
from nedsym.solve.steppers import RHS, Stepper

__all__ = ["ConvexSplit"]


class ConvexSplit(Stepper):
    r"""Eyre's convex splitting (see the module docstring).

    ``Lb_hat``: the symbol of :math:`\mathcal{L} + \beta` (``>= 0``); ``G_hat``: the metric's
    symbol; ``beta``: the shift (treated explicitly); ``implicit(y, out)`` /
    ``implicit_d(y, out)``: :math:`F_c'` and :math:`F_c''` pointwise (``None``: no implicit
    nonlinearity, a linear scheme); ``explicit(y, out)``: :math:`F_e'` (``None``: zero);
    ``kinds``: the transform per axis. ``newton_tol``: relative residual of each step's
    solve. ``iterations`` records the Newton and GMRES iterations of the last step.

    Example
    -------
    >>> n = 32; h = 1.0 / n
    >>> k = np.fft.rfftfreq(n, h / (2 * np.pi))
    >>> lap = (4 * np.sin(k * h / 2) ** 2 / h ** 2)[None]        # symbol of -Δ_h
    >>> st = ConvexSplit(1e-3 * lap + 1.0, lap, 1.0,             # (u²-1)²/4, eps² = 1e-3
    ...                  lambda y, o: np.power(y, 3, out=o),
    ...                  lambda y, o: np.multiply(3 * y, y, out=o), None)
    >>> y = st.bind(None, 0.5 * np.cos(2 * np.pi * np.arange(n) * h)[None] + 0.1)
    >>> out = np.empty_like(y); _ = st.step(0.0, y, 1.0, out)    # a huge step
    >>> bool(abs(out.mean() - y.mean()) < 1e-14), st.iterations["newton"] < 10
    (True, True)
    """

    name = "convex-split"
    names = ("convex-split", "eyre")
    order = 1
    stability = float("inf")
    built_by_method = True
    #: the discrete energy itself never rises (the controller checks it)
    energy_stable = "discrete"

    def __init__(self, Lb_hat: np.ndarray, G_hat: np.ndarray, beta: float,
                 implicit: Callable | None, implicit_d: Callable | None,
                 explicit: Callable | None, kinds=None, newton_tol: float = 1e-10,
                 max_newton: int = 30, face_mobility: Callable | None = None,
                 spacing=None):
        self.Lb_hat = np.asarray(Lb_hat, dtype=float)
        self.G_hat = np.asarray(G_hat, dtype=float)
        if np.any(self.Lb_hat < -1e-12 * max(1.0, float(np.max(np.abs(self.Lb_hat))))):
            raise SolverError("convex-split needs L + beta >= 0 (a convex quadratic part)")
        if np.any(self.G_hat < 0):
            raise SolverError("convex-split needs a positive semi-definite metric G")
        if (implicit is None) != (implicit_d is None):
            raise SolverError("convex-split: give both F_c' and F_c'' or neither")
        if not newton_tol > 0:
            raise SolverError(f"newton_tol must be > 0, got {newton_tol}")
        self.beta = float(beta)
        self.implicit, self.implicit_d, self.explicit = implicit, implicit_d, explicit
        self.kinds = None if kinds is None else list(kinds)
        self.newton_tol, self.max_newton = float(newton_tol), int(max_newton)
        if face_mobility is not None:
            if spacing is None:
                raise SolverError("convex-split with a variable mobility needs the spacing")
            bad = [k for k in (self.kinds or []) if k not in ("fft", "dct")]
            if bad:
                raise SolverError("convex-split with a variable mobility supports periodic and "
                                  f"zero-flux Neumann axes, not {bad}")
        #: ``face_mobility(y)``: per axis, the mobility on the faces i+1/2 (variable mobility,
        #: H⁻¹; lagged at the step's start). ``None``: ``G_hat`` is the whole metric
        self.face_mobility = face_mobility
        self.spacing = None if spacing is None else [float(h) for h in spacing]
        self.iterations = {"newton": 0, "gmres": 0}
        #: Newton and GMRES iterations over every step so far
        self.newton_total = {"newton": 0, "gmres": 0}
        self._dt_cached: float | None = None

    def bind(self, rhs: RHS, y0: np.ndarray) -> np.ndarray:
        y = super().bind(rhs, y0)
        self.basis = SpectralBasis.for_state(self.kinds, y0, "convex-split",
                                             Lb_hat=self.Lb_hat, G_hat=self.G_hat)
        self._c, self._d = np.empty_like(y0), np.empty_like(y0)
        return y

    def _A(self, dt: float) -> np.ndarray:
        if self._dt_cached != dt:
            self._Ahat, self._dt_cached = 1.0 + dt * self.G_hat * self.Lb_hat, dt
        return self._Ahat

    def _div_flux(self, w: np.ndarray, mf: list) -> np.ndarray:
        r""":math:`-\nabla_h\cdot(M_{i+1/2}\nabla_h w)` in flux form (periodic axes wrap;
        zero-flux Neumann axes have no flux through the outer faces), so the sum telescopes
        and the mean is kept to round-off."""
        out = np.zeros_like(w)
        for a, kind in enumerate(self.basis.kinds):
            ax = a + 1
            if kind == "fft":
                F = mf[a] * (np.roll(w, -1, axis=ax) - w)
                div = F - np.roll(F, 1, axis=ax)
            else:
                F = np.zeros_like(w)
                inner = [slice(None)] * w.ndim
                inner[ax] = slice(0, -1)
                F[tuple(inner)] = mf[a][tuple(inner)] * np.diff(w, axis=ax)
                div = F.copy()
                lead = [slice(None)] * w.ndim
                lead[ax] = slice(1, None)
                div[tuple(lead)] -= F[tuple(inner)]
            out -= div / self.spacing[a] ** 2
        return out

    def _step_variable(self, t, y, dt, out):
        r"""Eyre's step with the metric :math:`G^n = -\nabla_h\cdot(M(u^n)\nabla_h)` (the
        mobility lagged at the step's start; :math:`G^n` stays symmetric positive
        semi-definite, so :math:`E_h` still never rises), everything matrix-free."""
        basis = self.basis
        mf = self.face_mobility(y)
        low = min(float(np.min(m)) for m in mf)
        if not (np.isfinite(low) and low >= 0):
            raise SolverError(f"convex-split: the mobility on a face is {low:.3g} at "
                              f"t = {t:.6g}; the scheme needs M >= 0 (keep the state in the "
                              "mobility's range)")
        mbar = np.mean([np.mean(m, axis=tuple(range(1, y.ndim)), keepdims=True)
                        for m in mf], axis=0)
        G = lambda w: self._div_flux(w, mf)                           # noqa: E731
        Lb = lambda w: basis.inverse(self.Lb_hat * basis.forward(w))  # noqa: E731
        push = self.beta * y
        if self.explicit is not None:
            self.explicit(y, self._c)
            push = push + self._c
        b = y + dt * G(push)
        shape = y.shape

        def residual(v):
            c = self._c if self.implicit is not None else 0.0
            if self.implicit is not None:
                self.implicit(v, self._c)
            return v + dt * G(Lb(v) + c) - b

        def system(v):
            d = np.zeros_like(v)
            if self.implicit_d is not None:
                self.implicit_d(v, self._d)
                d = self._d.copy()
            Phat = 1.0 / (1.0 + dt * mbar * self.G_hat * (self.Lb_hat + float(np.mean(d))))
            return (lambda w: (w.reshape(shape) + dt * G(Lb(w.reshape(shape))
                                                         + d * w.reshape(shape))).ravel(),
                    lambda w: basis.inverse(Phat * basis.forward(w.reshape(shape))).ravel())

        out[...] = self._newton(t, y.copy(), b, residual, system)
        return dt, dt, 0

    def _newton(self, t, v, b, residual, system):
        """Newton on ``residual(v) = 0`` from ``v``; ``system(v)`` gives the Jacobian's and
        the preconditioner's products, solved by :meth:`_gmres`. Counts the iterations."""
        scale = max(float(np.sqrt(np.mean(b * b))), 1e-300)
        newton = gm = 0
        while True:
            R = residual(v)
            res = float(np.sqrt(np.mean(R * R)))
            if not math.isfinite(res):
                raise SolverError(f"convex-split: the Newton residual is {res} at t = {t:.6g}")
            if res <= self.newton_tol * scale:
                break
            if newton >= self.max_newton:
                raise SolverError(
                    f"convex-split: Newton did not converge in {self.max_newton} iterations "
                    f"at t = {t:.6g} (residual {res:.3g}); take a smaller dt")
            matvec, prec = system(v)
            delta, iters = self._gmres(matvec, prec, -R.ravel(), res / scale, t)
            v += delta.reshape(v.shape)
            newton += 1
            gm += iters
        self._count(newton, gm)
        return v

    def _gmres(self, matvec, prec, rhs, rel: float, t: float):
        count = [0]

        def cb(_):
            count[0] += 1

        n = rhs.size
        J = spla.LinearOperator((n, n), matvec=matvec, dtype=float)
        M = spla.LinearOperator((n, n), matvec=prec, dtype=float)
        delta, info = spla.gmres(J, rhs, M=M, rtol=min(1e-3, 0.1 * rel), atol=0.0,
                                 restart=40, maxiter=20, callback=cb, callback_type="pr_norm")
        if info < 0:
            raise SolverError(f"convex-split: GMRES failed (info {info}) at t = {t:.6g}")
        return delta, count[0]

    def _count(self, newton: int, gm: int) -> None:
        self.iterations = {"newton": newton, "gmres": gm}
        self.newton_total["newton"] += newton
        self.newton_total["gmres"] += gm

    def step(self, t, y, dt, out):
        if self.face_mobility is not None:
            return self._step_variable(t, y, dt, out)
        basis, G = self.basis, self.G_hat
        Ahat = self._A(dt)
        # the explicit (concave) part: b = u^n + dt G (beta u^n + F_e'(u^n))
        push = self.beta * y
        if self.explicit is not None:
            self.explicit(y, self._c)
            push = push + self._c
        bh = basis.forward(y) + dt * G * basis.forward(push)
        if self.implicit is None:                 # linear: one spectral solve
            out[...] = basis.inverse(bh / Ahat)
            self.iterations = {"newton": 0, "gmres": 0}
            return dt, dt, 0
        b = basis.inverse(bh)
        shape = y.shape

        def residual(v):
            self.implicit(v, self._c)
            return basis.inverse(Ahat * basis.forward(v) + dt * G * basis.forward(self._c)) - b

        def system(v):
            self.implicit_d(v, self._d)
            d = self._d.copy()
            Phat = 1.0 / (Ahat + dt * G * float(np.mean(d)))
            return (lambda w: basis.inverse(Ahat * basis.forward(w.reshape(shape))
                                            + dt * G * basis.forward(d * w.reshape(shape)))
                    .ravel(),
                    lambda w: basis.inverse(Phat * basis.forward(w.reshape(shape))).ravel())

        out[...] = self._newton(t, y.copy(), b, residual, system)
        return dt, dt, 0
