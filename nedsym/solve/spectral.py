"""Semi-implicit Fourier-spectral steppers for periodic grids.

The evolution is split as :math:`\\partial_t u = \\mathcal{L} u + N(u)` with :math:`\\mathcal{L}` a
constant-coefficient linear operator, diagonal in Fourier space with symbol :math:`\\hat L(k)`
(one per field), and :math:`N` the rest, given as ``nonlinear(t, y, out)``. Transforms are
``scipy.fft.rfftn`` over the spatial axes ``1..ndim`` of ``y`` (shape ``(nfields, *grid.shape)``),
or ``cupy.fft.rfftn`` when the state is a CuPy array (``L_hat`` is then moved to the device once).
"""

from __future__ import annotations

import numpy as np
import scipy.fft

from nedsym.errors import SolverError
from nedsym.solve.arrays import is_device_array, namespace
from nedsym.solve.steppers import RHS, Stepper

__all__ = ["SemiImplicitSpectral"]


class SemiImplicitSpectral(Stepper):
    """IMEX Euler in Fourier space, optionally with energy-stable stabilization ``S``.

    .. math::
        (1 + \\Delta t S - \\Delta t \\hat L)\\, \\hat y_{n+1}
            = (1 + \\Delta t S)\\, \\hat y_n + \\Delta t\\, \\widehat{N(y_n)}

    ``S = 0`` is plain IMEX Euler, :math:`\\hat y_{n+1} = (\\hat y_n + \\Delta t \\hat N)/(1 -
    \\Delta t \\hat L)`. For gradient flows :math:`\\partial_t u = -\\delta E/\\delta u` with
    :math:`\\mathcal{L}` the (negative) quadratic part and :math:`N = -f(u)`, choosing
    :math:`S \\ge \\tfrac12 \\max|f'|` makes the discrete energy non-increasing for any
    ``dt`` (Shen & Yang 2010). The stepper's ``rhs`` is the *nonlinear* part ``N``.

    Example
    -------
    >>> from nedsym.discretize import Grid, linear_multiplier
    >>> g = Grid(8, [(0, 2 * np.pi)])
    >>> s = SemiImplicitSpectral(linear_multiplier(g, {(2,): 1.0}))   # heat equation
    >>> y = np.sin(g.axes[0])[None]; out = np.empty_like(y)
    >>> _ = s.bind(lambda t, y, o: o.fill(0.0), y)
    >>> _ = s.step(0.0, y, 0.5, out); bool(np.allclose(out, y / 1.5))
    True
    """

    name = "semi-implicit"
    names = ("semi-implicit", "stabilized")
    order = 1
    needs_linear = True
    stability = float("inf")

    def __init__(self, L_hat: np.ndarray, stabilization: float = 0.0) -> None:
        self.L_hat = L_hat if is_device_array(L_hat) else np.asarray(L_hat)
        self.S = float(stabilization)
        if self.S < 0:
            raise SolverError(f"stabilization S must be >= 0, got {stabilization}")
        if self.S > 0:
            self.name = "stabilized"
        self._dt_cached: float | None = None

    def bind(self, rhs: RHS, y0: np.ndarray) -> np.ndarray:
        y = super().bind(rhs, y0)
        if is_device_array(y0):
            import cupy.fft

            self._fft = cupy.fft
            self.L_hat = namespace(y0).asarray(self.L_hat)
        else:
            self._fft = scipy.fft
        if y0.ndim < 2:
            raise SolverError(
                f"semi-implicit spectral stepping needs a state of shape (nfields, *grid.shape); "
                f"got {y0.shape}")
        self._axes = tuple(range(1, y0.ndim))
        self._spatial = y0.shape[1:]
        fft_shape = (y0.shape[0], *y0.shape[1:-1], y0.shape[-1] // 2 + 1)
        if self.L_hat.shape != fft_shape and self.L_hat.shape != (1, *fft_shape[1:]):
            raise SolverError(
                f"L_hat has shape {self.L_hat.shape}; for a state of shape {y0.shape} it must "
                f"be {fft_shape} (rfftn over the spatial axes)")
        self._n = np.empty_like(y0)
        return y

    def _denominator(self, dt: float) -> np.ndarray:
        if self._dt_cached != dt:
            den = 1.0 + dt * self.S - dt * self.L_hat
            if bool((abs(den) < 1e-300).any()):
                raise SolverError(
                    f"1 + dt*S - dt*L_hat vanishes for dt={dt:.3g}: L_hat has positive "
                    f"eigenvalues; move the unstable part into the nonlinear term")
            self._den, self._dt_cached = den, dt
        return self._den

    def step(self, t, y, dt, out):
        den = self._denominator(dt)
        self.rhs(t, y, self._n)
        fft = self._fft
        y_hat = fft.rfftn(y, axes=self._axes)
        n_hat = fft.rfftn(self._n, axes=self._axes)
        y_hat *= 1.0 + dt * self.S
        n_hat *= dt
        y_hat += n_hat
        y_hat /= den
        out[...] = fft.irfftn(y_hat, s=self._spatial, axes=self._axes)
        return dt, dt, 0

    def full_rhs(self, t: float, y: np.ndarray, out: np.ndarray) -> None:
        """The whole right-hand side :math:`\\mathcal{L}y + N(y)` (for residuals)."""
        self.rhs(t, y, out)
        fft = self._fft
        lin = fft.irfftn(self.L_hat * fft.rfftn(y, axes=self._axes), s=self._spatial,
                         axes=self._axes)
        out += lin
