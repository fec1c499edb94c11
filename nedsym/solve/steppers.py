"""Explicit time steppers for :math:`\\dot y = f(t, y)` given as ``rhs(t, y, out)``.

Every stepper is bound once to ``rhs`` and a state shape (buffers are allocated then, never
per step) and advances with ``step(t, y, dt, out) -> (dt_taken, dt_next, rejected)``, writing
:math:`y_{n+1}` into ``out`` and leaving ``y`` untouched (so an interrupted step never corrupts
the state). Adaptive steppers may take a smaller ``dt_taken`` than asked and propose
``dt_next``; fixed-step ones return ``(dt, dt, 0)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from nedsym.errors import BlowUpError, SolverError
from nedsym.solve.arrays import namespace

__all__ = ["Stepper", "ExplicitEuler", "RK4", "EmbeddedRK", "DormandPrince45",
           "BogackiShampine32", "RHS"]

RHS = Callable[[float, np.ndarray, np.ndarray], Any]


class Stepper:
    """Base class: ``bind(rhs, y0)`` then ``step(t, y, dt, out)``."""

    name = "stepper"
    order = 1
    adaptive = False

    def bind(self, rhs: RHS, y0: np.ndarray) -> None:
        """Attach the right-hand side and allocate buffers shaped like ``y0``."""
        self.rhs = rhs
        self._scratch = np.empty_like(y0)

    def step(self, t: float, y: np.ndarray, dt: float, out: np.ndarray,
             ) -> tuple[float, float, int]:
        raise NotImplementedError

    def state_dict(self) -> dict[str, float]:
        """Controller state needed to resume bit-for-bit (floats only)."""
        return {}

    def load_state_dict(self, state: dict[str, float]) -> None:
        """Restore what :meth:`state_dict` returned."""

    def _axpy(self, out: np.ndarray, a: float, x: np.ndarray) -> None:
        """``out += a * x`` without allocating."""
        np.multiply(x, a, out=self._scratch)
        out += self._scratch


class ExplicitEuler(Stepper):
    """Forward Euler, :math:`y_{n+1} = y_n + \\Delta t\\, f(t_n, y_n)` (order 1).

    Example
    -------
    >>> s = ExplicitEuler(); y = np.ones(1); out = np.empty(1)
    >>> s.bind(lambda t, y, o: np.negative(y, out=o), y)
    >>> s.step(0.0, y, 0.1, out)[0], out.tolist()
    (0.1, [0.9])
    """

    name = "euler"
    order = 1

    def bind(self, rhs: RHS, y0: np.ndarray) -> None:
        super().bind(rhs, y0)
        self._k = np.empty_like(y0)

    def step(self, t, y, dt, out):
        self.rhs(t, y, self._k)
        out[...] = y
        self._axpy(out, dt, self._k)
        return dt, dt, 0


class RK4(Stepper):
    """Classical 4-stage Runge-Kutta (order 4).

    :math:`y_{n+1} = y_n + \\tfrac{\\Delta t}{6}(k_1 + 2k_2 + 2k_3 + k_4)` with
    :math:`k_1 = f(t, y)`, :math:`k_2 = f(t+\\Delta t/2, y+\\Delta t k_1/2)`,
    :math:`k_3 = f(t+\\Delta t/2, y+\\Delta t k_2/2)`,
    :math:`k_4 = f(t+\\Delta t, y+\\Delta t k_3)`.

    Example
    -------
    >>> s = RK4(); y = np.ones(1); out = np.empty(1)
    >>> s.bind(lambda t, y, o: np.negative(y, out=o), y)
    >>> _ = s.step(0.0, y, 0.1, out); bool(abs(out[0] - np.exp(-0.1)) < 1e-7)
    True
    """

    name = "rk4"
    order = 4

    def bind(self, rhs: RHS, y0: np.ndarray) -> None:
        super().bind(rhs, y0)
        self._k = namespace(y0).empty((4, *y0.shape), dtype=y0.dtype)
        self._ytmp = np.empty_like(y0)

    def step(self, t, y, dt, out):
        k, yt = self._k, self._ytmp
        self.rhs(t, y, k[0])
        for i, c in ((1, 0.5), (2, 0.5), (3, 1.0)):
            yt[...] = y
            self._axpy(yt, c * dt, k[i - 1])
            self.rhs(t + c * dt, yt, k[i])
        out[...] = y
        for i, w in enumerate((1.0, 2.0, 2.0, 1.0)):
            self._axpy(out, w * dt / 6.0, k[i])
        return dt, dt, 0


class EmbeddedRK(Stepper):
    """Adaptive embedded Runge-Kutta pair with PI step-size control (Hairer & Wanner).

    Error norm
    :math:`\\|e\\| = \\sqrt{\\operatorname{mean}(e_i / (atol + rtol\\max(|y_i|, |\\hat y_i|)))^2}`;
    a step is accepted when :math:`\\|e\\| \\le 1` and the next step is
    :math:`\\Delta t_{new} = \\Delta t\\,s\\,\\|e_n\\|^{-\\alpha}\\|e_{n-1}\\|^{\\beta}`
    (s: safety; clipped to ``[0.2, 10]`` times the old step), :math:`\\alpha = 1/q - 0.75\\beta`,
    :math:`\\beta = 0.04` (q: the lower order + 1). Subclasses give the Butcher tableau.
    """

    name = "embedded-rk"
    adaptive = True
    A: tuple[tuple[float, ...], ...] = ()
    b: tuple[float, ...] = ()
    b_err: tuple[float, ...] = ()   # b - b_hat
    c: tuple[float, ...] = ()
    fsal = True
    error_order = 5

    def __init__(self, rtol: float = 1e-6, atol: float = 1e-9, safety: float = 0.9,
                 max_rejections: int = 60) -> None:
        if rtol <= 0 and atol <= 0:
            raise SolverError(f"need rtol > 0 or atol > 0, got rtol={rtol}, atol={atol}")
        self.rtol, self.atol, self.safety = float(rtol), float(atol), float(safety)
        self.max_rejections = int(max_rejections)
        self.beta = 0.04
        self.alpha = 1.0 / self.error_order - 0.75 * self.beta
        self._err_prev = 1e-4
        self._fsal_valid = False
        self._fsal_t: float = float("nan")
        self._fsal_y: np.ndarray | None = None

    def bind(self, rhs: RHS, y0: np.ndarray) -> None:
        super().bind(rhs, y0)
        self._k = namespace(y0).empty((len(self.b), *y0.shape), dtype=y0.dtype)
        self._ytmp = np.empty_like(y0)
        self._err = np.empty_like(y0)
        self._fsal_valid = False

    def state_dict(self) -> dict[str, float]:
        return {"err_prev": self._err_prev}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self._err_prev = float(state.get("err_prev", 1e-4))
        self._fsal_valid = False

    def _error_norm(self, y, ynew) -> float:
        scale = self._scratch
        np.maximum(np.abs(y), np.abs(ynew), out=scale)
        scale *= self.rtol
        scale += self.atol
        np.divide(self._err, scale, out=scale)
        return float(np.sqrt(np.mean(scale * scale)))

    def _attempt(self, t, y, dt, out) -> float:
        k, yt = self._k, self._ytmp
        if not self._fsal_valid:
            self.rhs(t, y, k[0])
        for i in range(1, len(self.b)):
            yt[...] = y
            for j, a in enumerate(self.A[i]):
                if a:
                    self._axpy(yt, a * dt, k[j])
            if self.fsal and i == len(self.b) - 1:
                out[...] = yt        # last stage of an FSAL pair is the new solution
            self.rhs(t + self.c[i] * dt, yt, k[i])
        if not self.fsal:
            out[...] = y
            for j, w in enumerate(self.b):
                if w:
                    self._axpy(out, w * dt, k[j])
        self._err[...] = 0.0
        for j, w in enumerate(self.b_err):
            if w:
                self._axpy(self._err, w * dt, k[j])
        return self._error_norm(y, out)

    def step(self, t, y, dt, out):
        # first-same-as-last: reuse f(t, y) only when this is the state the last step produced
        if self._fsal_valid and (t != self._fsal_t or y is not self._fsal_y):
            self._fsal_valid = False
        rejected = 0
        try:
            while True:
                err = self._attempt(t, y, dt, out)
                if np.isfinite(err) and err <= 1.0:
                    fac = self.safety * max(err, 1e-10) ** -self.alpha \
                        * self._err_prev ** self.beta
                    dt_next = dt * min(10.0, max(0.2, fac))
                    self._err_prev = max(err, 1e-4)
                    if self.fsal:
                        self._k[0][...] = self._k[-1]
                        self._fsal_valid, self._fsal_t, self._fsal_y = True, t + dt, out
                    return dt, dt_next, rejected
                rejected += 1
                self._fsal_valid, self._fsal_t, self._fsal_y = True, t, y  # k[0] = f(t, y)
                fac = 0.2 if not np.isfinite(err) else \
                    max(0.2, self.safety * err ** -self.alpha)
                dt = dt * min(1.0, fac)
                if rejected > self.max_rejections or dt <= 1e-14 * max(1.0, abs(t)):
                    raise BlowUpError(
                        f"{self.name}: step size collapsed to dt={dt:.3g} at t={t:.6g} after "
                        f"{rejected} rejected steps (error norm {err:.3g}); the problem is "
                        f"stiff or blowing up: try stepper='semi-implicit' or looser "
                        f"rtol/atol")
        except BaseException:
            self._fsal_valid = False
            raise


class DormandPrince45(EmbeddedRK):
    """Dormand–Prince 5(4) pair (``"rk45"``, ``"dopri5"``), FSAL, 5th-order solution.

    Example
    -------
    >>> s = DormandPrince45(rtol=1e-8); y = np.ones(1); out = np.empty(1)
    >>> s.bind(lambda t, y, o: np.negative(y, out=o), y)
    >>> dt, dt_next, rej = s.step(0.0, y, 0.1, out); bool(abs(out[0] - np.exp(-0.1)) < 1e-8)
    True
    """

    name = "rk45"
    order = 5
    error_order = 5
    c = (0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0)
    A = ((),
         (1 / 5,),
         (3 / 40, 9 / 40),
         (44 / 45, -56 / 15, 32 / 9),
         (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
         (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
         (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84))
    b = (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0.0)
    b_err = (71 / 57600, 0.0, -71 / 16695, 71 / 1920, -17253 / 339200, 22 / 525, -1 / 40)


class BogackiShampine32(EmbeddedRK):
    """Bogacki–Shampine 3(2) pair (``"rk23"``, ``"bs32"``), FSAL, 3rd-order solution.

    Example
    -------
    >>> BogackiShampine32().order
    3
    """

    name = "rk23"
    order = 3
    error_order = 3
    c = (0.0, 1 / 2, 3 / 4, 1.0)
    A = ((), (1 / 2,), (0.0, 3 / 4), (2 / 9, 1 / 3, 4 / 9))
    b = (2 / 9, 1 / 3, 4 / 9, 0.0)
    b_err = (2 / 9 - 7 / 24, 1 / 3 - 1 / 4, 4 / 9 - 1 / 3, -1 / 8)
