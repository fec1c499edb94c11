"""The grid method's compiled steppers: explicit Runge–Kutta on padded buffers.

:class:`CompiledGridStepper` (fixed-step) and :class:`CompiledEmbeddedGridStepper` (rk45,
rk23) are what :meth:`Simulation.solve` hands the controller for the numba backend (one per
method and simulation, reused by later solves). Each keeps three padded state buffers; the
controller's states are views of their interiors, so nothing is padded, copied or allocated
per step, and ghosts are filled inside the compiled calls (constant and time-dependent
sides). A fixed-step segment of many steps is one compiled call with a fused health sum; an
adaptive step is one compiled call with its error norm fused into the last sweep, and the
step-size control (a few scalar operations) stays in :class:`~nedsym.solve.EmbeddedRK`. The
energy of a state is read straight off its padded buffer, whose ghosts the call left filled.
"""

from __future__ import annotations

import numpy as np

from nedsym.codegen.segments import make_embedded_step, make_rk_segment
from nedsym.codegen.tableau import TABLEAUX, ButcherTableau
from nedsym.solve.steppers import EmbeddedRK, Stepper

__all__ = ["CompiledEmbeddedGridStepper", "CompiledGridStepper", "FACE_TABLE_BYTES"]

#: the largest table of time-dependent face values one segment tabulates (bytes)
FACE_TABLE_BYTES = 32 * 2**20


class _PaddedStates:
    """Three padded state buffers whose interiors are the controller's states."""

    def _setup(self, sim) -> None:
        self.sim = sim
        #: measured wall times (step, energy) the controller reuses in later runs
        self.timing: dict = {}
        bd = sim.boundary
        self._kinds, self._values, self._vmap = bd.kinds, bd.values, bd.vmap()
        self._no_faces = np.zeros((0, 1, 1))

    def bind(self, rhs, y0: np.ndarray) -> np.ndarray:
        self.rhs = rhs
        sim = self.sim
        shape = (len(sim.fields), *sim.grid.padded_shape(sim.halo))
        if getattr(self, "_padded", None) is None or self._padded[0].shape != shape:
            self._padded = [np.zeros(shape) for _ in range(3)]
            self._bufs = [sim.grid.interior(p, sim.halo) for p in self._padded]
        self._bufs[0][...] = y0
        self._scratch = np.empty_like(self._bufs[0])
        sim.boundary.fill(self._padded[0], 0.0)
        return self._bufs[0]

    def _index(self, y: np.ndarray) -> int:
        for i, b in enumerate(self._bufs):
            if b is y:
                return i
        return -1

    def _own(self, y: np.ndarray, avoid: int = -1) -> int:
        """The buffer holding ``y`` (copied into a free one when it is not ours)."""
        i = self._index(y)
        if i < 0:
            i = next(m for m in range(3) if m != avoid)
            self._bufs[i][...] = y
        return i

    def _face_table(self, times: list[float]) -> np.ndarray:
        bd = self.sim.boundary
        return bd.face_table(times) if bd.varying else self._no_faces

    def energy(self, y: np.ndarray, t: float = 0.0) -> float:
        """The discrete energy of a state at time ``t``; read off its padded buffer when it is
        one of ours (ghosts filled for its time by the call that produced it)."""
        i = self._index(y)
        if i < 0:
            return self.sim.energy(y, t)
        sim = self.sim
        if sim.boundary.varying:        # ghosts for this time (the start state's were t=0)
            sim.boundary.fill(self._padded[i], t)
        return float(sim._energy_kernel(self._padded[i], *sim.scalars(t))) * sim.grid.dV


class CompiledGridStepper(_PaddedStates, Stepper):
    """Fixed-step explicit RK (``tableau``) for a :class:`~nedsym.Simulation`, compiled.

    Example
    -------
    >>> st = CompiledGridStepper(sim, RK4)                                  # doctest: +SKIP
    >>> res = integrate(sim.rhs, y0, 1.0, stepper=st, dt=1e-3)              # doctest: +SKIP
    """

    def __init__(self, sim, tableau: ButcherTableau, check: bool = True):
        self._setup(sim)
        self.tableau = tableau
        self.name = tableau.name
        self.order, self.stages, self.stability = tableau.order, tableau.stages, tableau.stability
        self.segment = make_rk_segment(sim.kernel_ir, tableau, check=check)
        bd = sim.boundary
        if bd.varying:
            face = max(bd.face_table([0.0]).shape[2], 1)
            per_step = self._vmap.max() + 1
            self.max_segment_steps = max(1, FACE_TABLE_BYTES // (8 * face * per_step
                                                                  * self.stages))

    def _faces(self, t: float, nsteps: int, dt: float) -> np.ndarray:
        if not self.sim.boundary.varying:
            return self._no_faces
        times = []
        for _ in range(nsteps):
            times += [t + c * dt for c in self.tableau.c]
            t = t + dt
        return self._face_table([*times, t])

    def advance(self, t, y, nsteps, dt, interrupted=None):
        i = self._own(y)
        j, k = (m for m in range(3) if m != i)
        P = self._padded
        which, health = self.segment(P[i], P[j], P[k], nsteps, dt, self._kinds, self._values,
                                     self._vmap, self._faces(t, nsteps, dt),
                                     *self.sim.scalars(t))
        return self._bufs[(j, k)[which]], health, int(nsteps)

    def step(self, t, y, dt, out):
        new, _, _ = self.advance(t, y, 1, dt)
        out[...] = new
        return dt, dt, 0


class CompiledEmbeddedGridStepper(_PaddedStates, EmbeddedRK):
    """An adaptive embedded pair (``cls``: :class:`~nedsym.solve.DormandPrince45` or
    :class:`~nedsym.solve.BogackiShampine32`) for a :class:`~nedsym.Simulation`: each attempt
    is one compiled call that evaluates every stage, writes the new state and returns the
    scaled error norm; the PI step-size control and rejections are the class's own.

    Example
    -------
    >>> st = CompiledEmbeddedGridStepper(sim, DormandPrince45, rtol=1e-6)     # doctest: +SKIP
    >>> res = integrate(sim.rhs, y0, 1.0, stepper=st)                       # doctest: +SKIP
    """

    def __init__(self, sim, cls: type, rtol: float = 1e-6, atol: float = 1e-9,
                 check: bool = True, tableau: ButcherTableau | None = None):
        self._setup(sim)
        self.name, self.order, self.error_order = cls.name, cls.order, cls.error_order
        self.stages, self.stability = cls.stages, cls.stability
        self.A, self.b, self.b_err, self.c, self.fsal = cls.A, cls.b, cls.b_err, cls.c, cls.fsal
        EmbeddedRK.__init__(self, rtol=rtol, atol=atol)
        self.tableau = tableau or next(t for t in TABLEAUX.values()
                                       if t.embedded and t.b_err == tuple(cls.b_err))
        self.kernel = make_embedded_step(sim.kernel_ir, self.tableau, check=check)
        self._last = (None, np.nan)

    def bind(self, rhs, y0: np.ndarray) -> np.ndarray:
        y = _PaddedStates.bind(self, rhs, y0)
        self._fsal_valid = False
        return y

    def _attempt(self, t, y, dt, out) -> float:
        o = self._index(out)
        if o < 0:                         # a caller's array: step into a buffer, copy out
            err = self._attempt(t, y, dt, self.buffer_other_than(y))
            out[...] = self._last[0]
            self._last = (out, err)
            return err
        i = self._own(y, avoid=o)
        c = self.tableau.c
        faces = self._face_table([t + ci * dt for ci in c] + [t + dt]) \
            if self.sim.boundary.varying else self._no_faces
        err = self.kernel(self._padded[i], self._padded[o], dt, self.rtol, self.atol,
                          self._kinds, self._values, self._vmap, faces, *self.sim.scalars(t),
                          fsal=self._fsal_valid)
        self._last = (out, err)
        return err

    def _fsal_accept(self) -> None:
        self.kernel.accept()

    def health(self, y: np.ndarray) -> float:
        out, err = self._last
        return err if out is y else super().health(y)
