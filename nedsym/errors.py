"""Exception types raised by nedsym.

Every error nedsym raises on purpose derives from :class:`NedsymError`, so a
caller can catch them all at once. Messages name the field, symbol or option
at fault and say what would have been valid.
"""

from __future__ import annotations


class NedsymError(Exception):
    """Base class of every error nedsym raises on purpose."""


class DeclarationError(NedsymError, ValueError):
    """A coordinate, field, parameter or energy was declared inconsistently."""


class ParseError(NedsymError, ValueError):
    """A formula string could not be parsed.

    Attributes
    ----------
    text: the whole formula.
    position: 0-based character offset of the offending token (or ``None``).
    token: the offending token (or ``None``).
    """

    def __init__(self, message: str, text: str = "", position: int | None = None,
                 token: str | None = None):
        self.text = text
        self.position = position
        self.token = token
        if text and position is not None:
            caret = " " * position + "^"
            message = f"{message}\n    {text}\n    {caret}"
        super().__init__(message)


class FieldError(NedsymError, ValueError):
    """A field is missing from, or inconsistent with, the expression it is used in."""


class CoordinateError(NedsymError, ValueError):
    """Coordinates do not match (e.g. a field's arguments differ from the energy's)."""


class NonDifferentiableError(NedsymError, ValueError):
    """The density contains a term that cannot be differentiated (e.g. ``Abs``)."""


class MetricError(NedsymError, ValueError):
    """An unknown or inconsistent gradient-flow metric or mobility."""


class DiscretizationError(NedsymError, ValueError):
    """A grid, stencil or boundary condition is invalid for the requested discretization."""


class BoundaryConditionError(DiscretizationError):
    """A boundary condition is unknown or inconsistent with the grid or field."""


class CodegenError(NedsymError, RuntimeError):
    """Generating or compiling a kernel failed, or it disagrees with the reference."""


class BackendUnavailableError(NedsymError, RuntimeError):
    """A requested kernel backend cannot run on this machine."""


class SolverError(NedsymError, RuntimeError):
    """A time stepper or solver failed."""


class BlowUpError(SolverError):
    """A run failed its health check: the state became NaN/Inf, or the energy of a gradient
    flow rose.

    Attributes (``None`` where unknown): ``t``, ``step`` (of the last good state), ``dt`` (the
    step size that failed), ``advised_dt`` (a stable step estimated at the last good state),
    ``state`` (a copy of the last good state), ``reason`` (``"non-finite"`` or
    ``"energy rose"``), ``compile_s`` (seconds the failed solve spent on its compiled step
    loop's first call, when it made it).
    """

    def __init__(self, message: str, *, t: float | None = None, step: int | None = None,
                 dt: float | None = None, advised_dt: float | None = None, state=None,
                 reason: str | None = None, compile_s: float | None = None):
        super().__init__(message)
        self.t, self.step, self.dt, self.advised_dt = t, step, dt, advised_dt
        self.state, self.reason, self.compile_s = state, reason, compile_s


class QuadratureError(NedsymError, ValueError):
    """A quadrature rule, domain or sample size is invalid."""


class VerificationError(NedsymError, AssertionError):
    """A finite-difference check of a derived quantity failed."""


class ConfigError(NedsymError, ValueError):
    """A problem file or command-line option is invalid."""


class DistributedError(NedsymError, RuntimeError):
    """A distributed (Dask) run cannot start or continue: missing Dask, an unsupported
    stepper or option for chunked execution, or a lost worker with no checkpoint to resume."""
