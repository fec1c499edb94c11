"""The grid method's compiled stepper: explicit Runge–Kutta segments on padded buffers.

:class:`CompiledGridStepper` is what :meth:`Simulation.solve` hands the controller for the
numba backend (one per method and simulation, reused by later solves). It keeps three padded
state buffers; the controller's states are views of their interiors, so a segment of many
steps is one compiled call with no padding, copying or allocation, ghosts filled inside it
(constant and time-dependent sides), and a fused health sum. The energy of a state is read
straight off its padded buffer, whose ghosts the segment left filled.
"""

from __future__ import annotations

import numpy as np

from nedsym.codegen.segments import make_rk_segment
from nedsym.codegen.tableau import ButcherTableau
from nedsym.solve.steppers import Stepper

__all__ = ["CompiledGridStepper", "FACE_TABLE_BYTES"]

#: the largest table of time-dependent face values one segment tabulates (bytes)
FACE_TABLE_BYTES = 32 * 2**20


class CompiledGridStepper(Stepper):
    """Fixed-step explicit RK (``tableau``) for a :class:`~nedsym.Simulation`, compiled.

    Example
    -------
    >>> st = CompiledGridStepper(sim, RK4)                                  # doctest: +SKIP
    >>> res = integrate(sim.rhs, y0, 1.0, stepper=st, dt=1e-3)              # doctest: +SKIP
    """

    def __init__(self, sim, tableau: ButcherTableau, check: bool = True):
        self.sim, self.tableau = sim, tableau
        self.name = tableau.name
        self.order, self.stages, self.stability = tableau.order, tableau.stages, tableau.stability
        self.segment = make_rk_segment(sim.kernel_ir, tableau, check=check)
        #: measured wall times (step, energy) the controller reuses in later runs
        self.timing: dict = {}
        bd = sim.boundary
        self._kinds, self._values, self._vmap = bd.kinds, bd.values, bd.vmap()
        self._no_faces = np.zeros((0, 1, 1))
        if bd.varying:
            face = max(bd.face_table([0.0]).shape[2], 1)
            per_step = self._vmap.max() + 1
            self.max_segment_steps = max(1, FACE_TABLE_BYTES // (8 * face * per_step
                                                                  * self.stages))

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

    def _faces(self, t: float, nsteps: int, dt: float) -> np.ndarray:
        bd = self.sim.boundary
        if not bd.varying:
            return self._no_faces
        times = []
        for _ in range(nsteps):
            times += [t + c * dt for c in self.tableau.c]
            t = t + dt
        return bd.face_table([*times, t])

    def advance(self, t, y, nsteps, dt, interrupted=None):
        i = self._index(y)
        if i < 0:                       # a state from elsewhere: copy it into a buffer
            i = 0
            self._bufs[0][...] = y
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

    def energy(self, y: np.ndarray, t: float = 0.0) -> float:
        """The discrete energy of a state at time ``t``; read off its padded buffer when it is
        one of ours (ghosts filled for its time by the segment that produced it)."""
        i = self._index(y)
        if i < 0:
            return self.sim.energy(y, t)
        sim = self.sim
        if sim.boundary.varying:        # ghosts for this time (the start state's were t=0)
            sim.boundary.fill(self._padded[i], t)
        return float(sim._energy_kernel(self._padded[i], *sim.scalars(t))) * sim.grid.dV
