"""Time steppers for :math:`\\dot y = f(t, y)` given as ``rhs(t, y, out)``.

Every stepper is bound once to ``rhs`` and a state shape (buffers are allocated then, never
per step) and advances with ``step(t, y, dt, out) -> (dt_taken, dt_next, rejected)``, writing
:math:`y_{n+1}` into ``out`` and leaving ``y`` untouched (so an interrupted step never corrupts
the state). Adaptive steppers may take a smaller ``dt_taken`` than asked and propose
``dt_next``; fixed-step ones return ``(dt, dt, 0)``.

Fixed-step steppers also advance a whole *segment*, ``advance(t, y, nsteps, dt) -> (y_new,
health, steps_taken)``: ``nsteps`` steps into a buffer the stepper owns, ``y`` untouched,
``health`` a number that is finite exactly when the new state is (compiled steppers fuse it
into their last sweep). The controller (:func:`nedsym.solve.integrate`) calls it between events.

Steppers register themselves by their class attributes (``names``, ``adaptive``, ``stages``,
``needs_linear``, ``stability``), so :data:`STEPPERS` is the only list of names.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from nedsym.codegen.tableau import BS32, DOPRI5, EULER, SSPRK2, SSPRK3, ButcherTableau
from nedsym.codegen.tableau import RK4 as RK4_TABLEAU
from nedsym.errors import BlowUpError, SolverError
from nedsym.solve.arrays import namespace

__all__ = ["Stepper", "PartialSegment", "ExplicitRK", "ExplicitEuler", "RK4", "SSPRK2Stepper",
           "SSPRK3Stepper", "EmbeddedRK", "DormandPrince45", "BogackiShampine32", "RHS", "STEPPERS"]

RHS = Callable[[float, np.ndarray, np.ndarray], Any]

#: registered stepper classes by name (filled by ``Stepper.__init_subclass__``)
STEPPERS: dict[str, type] = {}


class PartialSegment(KeyboardInterrupt):
    """A segment interrupted inside a step: ``state`` after ``steps`` completed steps."""

    def __init__(self, state: np.ndarray, steps: int):
        super().__init__()
        self.state, self.steps = state, steps


class Stepper:
    """Base class: ``bind(rhs, y0)`` then ``step(t, y, dt, out)`` or ``advance``.

    Class attributes a subclass sets (and is registered by): ``names`` (the names
    :func:`~nedsym.solve.make_stepper` accepts; empty: not registered), ``adaptive``,
    ``stages`` (right-hand-side calls per step), ``needs_linear`` (takes the Fourier
    multiplier of a linear part), ``stability`` (stability interval on the negative real
    axis, :math:`\\Delta t\\,\\rho \\le` ``stability``; ``inf`` when unconditional).
    """

    name = "stepper"
    names: tuple[str, ...] = ()
    order = 1
    adaptive = False
    stages = 1
    needs_linear = False
    stability = 2.0

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for n in cls.__dict__.get("names", ()):
            STEPPERS[n] = cls

    def bind(self, rhs: RHS, y0: np.ndarray) -> np.ndarray:
        """Attach the right-hand side, allocate buffers shaped like ``y0``; return a copy of
        ``y0`` in one of the stepper's state buffers (the controller's starting state)."""
        self.rhs = rhs
        self._scratch = np.empty_like(y0)
        self._bufs = [np.empty_like(y0) for _ in range(3)]
        self._bufs[0][...] = y0
        return self._bufs[0]

    def step(self, t: float, y: np.ndarray, dt: float, out: np.ndarray,
             ) -> tuple[float, float, int]:
        raise NotImplementedError

    def buffer_other_than(self, *arrays: np.ndarray) -> np.ndarray:
        """A state buffer that is none of ``arrays`` (the controller's states)."""
        for b in self._bufs:
            if all(b is not a for a in arrays):
                return b
        raise SolverError("internal: no free state buffer")  # pragma: no cover

    def advance(self, t: float, y: np.ndarray, nsteps: int, dt: float,
                interrupted: dict | None = None) -> tuple[np.ndarray, float, int]:
        """``nsteps`` fixed steps from ``(t, y)``; ``y`` is not written. Returns the new state
        (a buffer of this stepper, valid until the next call), a health number and the number
        of steps taken: fewer than ``nsteps`` when ``interrupted["hit"]`` became true (a
        deferred Ctrl-C). A ``KeyboardInterrupt`` raised inside a step becomes
        :class:`PartialSegment` carrying the steps completed before it."""
        cur, done = y, 0
        try:
            for _ in range(int(nsteps)):
                nxt = self.buffer_other_than(y, cur)
                self.step(t, cur, dt, nxt)
                t = t + dt
                cur = nxt
                done += 1
                if interrupted is not None and interrupted.get("hit"):
                    break
        except KeyboardInterrupt:
            raise PartialSegment(cur, done) from None
        return cur, float(namespace(cur).sum(cur)), done

    def health(self, y: np.ndarray) -> float:
        """A number that is finite exactly when the state ``y`` (the last step's result) is;
        compiled steppers return the one fused into their last sweep."""
        return float(namespace(y).sum(y))

    def state_dict(self) -> dict[str, float]:
        """Controller state needed to resume bit-for-bit (floats only)."""
        return {}

    def load_state_dict(self, state: dict[str, float]) -> None:
        """Restore what :meth:`state_dict` returned."""

    def _axpy(self, out: np.ndarray, a: float, x: np.ndarray) -> None:
        """``out += a * x`` without allocating."""
        np.multiply(x, a, out=self._scratch)
        out += self._scratch


class ExplicitRK(Stepper):
    """Fixed-step explicit Runge–Kutta method driven by a :class:`ButcherTableau`.

    :math:`Y_i = y + \\Delta t\\sum_{j<i} a_{ij}k_j`, :math:`k_i = f(t + c_i\\Delta t, Y_i)`,
    :math:`y_{n+1} = y + \\Delta t\\sum_i b_i k_i`.
    """

    tableau: ButcherTableau = EULER

    def __init__(self, tableau: ButcherTableau | None = None) -> None:
        if tableau is not None:
            if tableau.embedded:
                raise SolverError(f"tableau {tableau.name!r} is an embedded pair: use an "
                                  "adaptive stepper (rk45, rk23)")
            self.tableau = tableau
            self.name = tableau.name
        self.order = self.tableau.order
        self.stages = self.tableau.stages
        self.stability = self.tableau.stability

    def bind(self, rhs: RHS, y0: np.ndarray) -> np.ndarray:
        y = super().bind(rhs, y0)
        self._k = namespace(y0).empty((self.tableau.stages, *y0.shape), dtype=y0.dtype)
        self._ytmp = np.empty_like(y0)
        return y

    def step(self, t, y, dt, out):
        tab, k, yt = self.tableau, self._k, self._ytmp
        self.rhs(t, y, k[0])
        for i in range(1, tab.stages):
            yt[...] = y
            for j, a in enumerate(tab.A[i]):
                if a:
                    self._axpy(yt, a * dt, k[j])
            self.rhs(t + tab.c[i] * dt, yt, k[i])
        out[...] = y
        for i, w in enumerate(tab.b):
            if w:
                self._axpy(out, w * dt, k[i])
        return dt, dt, 0


class ExplicitEuler(ExplicitRK):
    """Forward Euler, :math:`y_{n+1} = y_n + \\Delta t\\, f(t_n, y_n)` (order 1).

    Example
    -------
    >>> s = ExplicitEuler(); y = np.ones(1); out = np.empty(1)
    >>> _ = s.bind(lambda t, y, o: np.negative(y, out=o), y)
    >>> s.step(0.0, y, 0.1, out)[0], out.tolist()
    (0.1, [0.9])
    """

    name = "euler"
    names = ("euler",)
    tableau = EULER
    stability = EULER.stability


class RK4(ExplicitRK):
    """Classical 4-stage Runge-Kutta (order 4).

    :math:`y_{n+1} = y_n + \\tfrac{\\Delta t}{6}(k_1 + 2k_2 + 2k_3 + k_4)` with
    :math:`k_1 = f(t, y)`, :math:`k_2 = f(t+\\Delta t/2, y+\\Delta t k_1/2)`,
    :math:`k_3 = f(t+\\Delta t/2, y+\\Delta t k_2/2)`,
    :math:`k_4 = f(t+\\Delta t, y+\\Delta t k_3)`.

    Example
    -------
    >>> s = RK4(); y = np.ones(1); out = np.empty(1)
    >>> _ = s.bind(lambda t, y, o: np.negative(y, out=o), y)
    >>> _ = s.step(0.0, y, 0.1, out); bool(abs(out[0] - np.exp(-0.1)) < 1e-7)
    True
    """

    name = "rk4"
    names = ("rk4",)
    tableau = RK4_TABLEAU
    stages = 4
    stability = RK4_TABLEAU.stability


class SSPRK2Stepper(ExplicitRK):
    """Heun's strong-stability-preserving RK2 (``"ssprk2"``, order 2): two Euler steps
    averaged, so a monotone Euler scheme stays monotone.

    Example
    -------
    >>> SSPRK2Stepper().order
    2
    """

    name = "ssprk2"
    names = ("ssprk2", "heun")
    tableau = SSPRK2
    stages = 2
    stability = SSPRK2.stability


class SSPRK3Stepper(ExplicitRK):
    """Shu–Osher strong-stability-preserving RK3 (``"ssprk3"``, order 3).

    Example
    -------
    >>> SSPRK3Stepper().order
    3
    """

    name = "ssprk3"
    names = ("ssprk3",)
    tableau = SSPRK3
    stages = 3
    stability = SSPRK3.stability


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

    def bind(self, rhs: RHS, y0: np.ndarray) -> np.ndarray:
        y = super().bind(rhs, y0)
        self._k = namespace(y0).empty((len(self.b), *y0.shape), dtype=y0.dtype)
        self._ytmp = np.empty_like(y0)
        self._err = np.empty_like(y0)
        self._fsal_valid = False
        return y

    def state_dict(self) -> dict[str, float]:
        return {"err_prev": self._err_prev}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self._err_prev = float(state.get("err_prev", 1e-4))
        self._fsal_valid = False

    def _fsal_accept(self) -> None:
        """The accepted step's last right-hand side becomes the next step's first."""
        self._k[0][...] = self._k[-1]

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
                        self._fsal_accept()
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
    >>> _ = s.bind(lambda t, y, o: np.negative(y, out=o), y)
    >>> dt, dt_next, rej = s.step(0.0, y, 0.1, out); bool(abs(out[0] - np.exp(-0.1)) < 1e-8)
    True
    """

    name = "rk45"
    names = ("rk45", "dopri5")
    order = DOPRI5.order
    error_order = DOPRI5.error_order
    stages = DOPRI5.stages
    stability = DOPRI5.stability
    A, b, b_err, c = DOPRI5.A, DOPRI5.b, DOPRI5.b_err, DOPRI5.c


class BogackiShampine32(EmbeddedRK):
    """Bogacki–Shampine 3(2) pair (``"rk23"``, ``"bs32"``), FSAL, 3rd-order solution.

    Example
    -------
    >>> BogackiShampine32().order
    3
    """

    name = "rk23"
    names = ("rk23", "bs32")
    order = BS32.order
    error_order = BS32.error_order
    stages = BS32.stages
    stability = BS32.stability
    A, b, b_err, c = BS32.A, BS32.b, BS32.b_err, BS32.c
