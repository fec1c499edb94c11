"""Butcher tableaux: the one description every explicit Runge–Kutta implementation reads.

The NumPy steppers (:mod:`nedsym.solve.steppers`) and the generated compiled segments
(:meth:`nedsym.codegen.printers.NumbaPrinter.rk_segment_source`) are both driven by a
:class:`ButcherTableau`, so a method is written down once.

For :math:`\\dot y = f(t, y)` a step of size :math:`\\Delta t` is

.. math::
    Y_i = y_n + \\Delta t \\sum_{j<i} a_{ij} k_j,\\qquad k_i = f(t_n + c_i\\Delta t, Y_i),
    \\qquad y_{n+1} = y_n + \\Delta t \\sum_i b_i k_i,

and an embedded pair also gives the error estimate
:math:`e = \\Delta t \\sum_i (b_i - \\hat b_i) k_i` (``b_err``).
"""

from __future__ import annotations

from dataclasses import dataclass

from nedsym.errors import SolverError

__all__ = ["ButcherTableau", "EULER", "RK4", "SSPRK2", "SSPRK3", "DOPRI5", "BS32", "TABLEAUX"]


@dataclass(frozen=True)
class ButcherTableau:
    """An explicit Runge–Kutta method.

    name: short name (used in generated function names).
    A: strictly lower-triangular stage matrix, row ``i`` has ``i`` entries.
    b: solution weights; c: stage times (``c_i = sum_j a_ij``).
    order: order of the solution; b_err: ``b - b_hat`` of an embedded pair (or ``()``).
    error_order: order used by step-size control (lower order + 1).
    stability: length of the stability interval on the negative real axis
        (:math:`\\Delta t\\,\\rho \\le` ``stability`` for a real negative spectrum of radius ρ).

    Example
    -------
    >>> RK4.stages, RK4.stability
    (4, 2.785)
    """

    name: str
    A: tuple[tuple[float, ...], ...]
    b: tuple[float, ...]
    c: tuple[float, ...]
    order: int
    stability: float
    b_err: tuple[float, ...] = ()
    error_order: int = 0

    def __post_init__(self) -> None:
        s = len(self.b)
        if len(self.A) != s or len(self.c) != s:
            raise SolverError(f"tableau {self.name!r}: A, b and c need {s} rows")
        for i, row in enumerate(self.A):
            if len(row) != i:
                raise SolverError(f"tableau {self.name!r}: row {i} of A needs {i} entries "
                                  f"(explicit methods only), got {len(row)}")
            if abs(sum(row) - self.c[i]) > 1e-12:
                raise SolverError(f"tableau {self.name!r}: c[{i}] = {self.c[i]} is not the "
                                  f"row sum {sum(row)} of A")
        if abs(sum(self.b) - 1.0) > 1e-12:
            raise SolverError(f"tableau {self.name!r}: the weights b sum to {sum(self.b)}, "
                              "not 1 (inconsistent method)")
        if self.b_err and len(self.b_err) != s:
            raise SolverError(f"tableau {self.name!r}: b_err needs {s} entries")

    @property
    def stages(self) -> int:
        return len(self.b)

    @property
    def embedded(self) -> bool:
        return bool(self.b_err)

    @property
    def fsal(self) -> bool:
        """First same as last: the last stage is evaluated at the new solution
        (:math:`a_{s,j} = b_j`, :math:`b_s = 0`, :math:`c_s = 1`), so its right-hand side is
        the next step's first."""
        return self.b[-1] == 0 and tuple(self.A[-1]) == tuple(self.b[:-1]) and self.c[-1] == 1

    def kept_stages(self) -> tuple[int, ...]:
        """Stages whose ``k`` is read again after the next stage (must be stored)."""
        s = self.stages
        return tuple(j for j in range(s)
                     if any(self.A[m][j] for m in range(j + 2, s)))


EULER = ButcherTableau("euler", A=((),), b=(1.0,), c=(0.0,), order=1, stability=2.0)
RK4 = ButcherTableau("rk4", A=((), (0.5,), (0.0, 0.5), (0.0, 0.0, 1.0)),
                     b=(1 / 6, 1 / 3, 1 / 3, 1 / 6), c=(0.0, 0.5, 0.5, 1.0), order=4,
                     stability=2.785)
#: Shu–Osher strong-stability-preserving RK3
SSPRK2 = ButcherTableau("ssprk2", A=((), (1.0,)), b=(0.5, 0.5), c=(0.0, 1.0), order=2,
                        stability=2.0)
SSPRK3 = ButcherTableau("ssprk3", A=((), (1.0,), (0.25, 0.25)), b=(1 / 6, 1 / 6, 2 / 3),
                        c=(0.0, 1.0, 0.5), order=3, stability=2.512)
DOPRI5 = ButcherTableau(
    "dopri5",
    A=((),
       (1 / 5,),
       (3 / 40, 9 / 40),
       (44 / 45, -56 / 15, 32 / 9),
       (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
       (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
       (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84)),
    b=(35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0.0),
    c=(0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0), order=5, stability=3.3,
    b_err=(71 / 57600, 0.0, -71 / 16695, 71 / 1920, -17253 / 339200, 22 / 525, -1 / 40),
    error_order=5)
BS32 = ButcherTableau(
    "bs32", A=((), (1 / 2,), (0.0, 3 / 4), (2 / 9, 1 / 3, 4 / 9)),
    b=(2 / 9, 1 / 3, 4 / 9, 0.0), c=(0.0, 1 / 2, 3 / 4, 1.0), order=3, stability=2.5,
    b_err=(2 / 9 - 7 / 24, 1 / 3 - 1 / 4, 4 / 9 - 1 / 3, -1 / 8), error_order=3)

TABLEAUX = {t.name: t for t in (EULER, RK4, SSPRK2, SSPRK3, DOPRI5, BS32)}
