"""Semi-implicit Fourier-spectral steppers for periodic grids.

The evolution is split as :math:`\\partial_t u = \\mathcal{L} u + N(u)` with :math:`\\mathcal{L}` a
constant-coefficient linear operator, diagonal in Fourier space with symbol :math:`\\hat L(k)`
(one per field), and :math:`N` the rest, given as ``nonlinear(t, y, out)``. Transforms are
``scipy.fft.rfftn`` over the spatial axes ``1..ndim`` of ``y`` (shape ``(nfields, *grid.shape)``),
or ``cupy.fft.rfftn`` when the state is a CuPy array (``L_hat`` is then moved to the device once).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import scipy.fft

from nedsym.errors import DiscretizationError, SolverError
from nedsym.solve.arrays import is_device_array, namespace
from nedsym.solve.steppers import RHS, Stepper

__all__ = ["fourier_wavenumbers", "linear_multiplier", "SemiImplicitSpectral"]


def _check_periodic(grid: Any) -> None:
    bad = [grid.axis_names[a] for a, p in enumerate(grid.periodic) if not p]
    if bad:
        raise DiscretizationError(
            f"Fourier-spectral treatment needs a periodic grid; axes {bad} are not periodic "
            f"(use an explicit stepper such as 'rk4' or 'rk45' there)")


def fourier_wavenumbers(grid: Any) -> tuple[np.ndarray, ...]:
    """Angular wavenumbers of ``rfftn`` over the grid, one array per axis, broadcastable.

    Axis ``a`` (length ``n``, spacing ``h``): :math:`k = 2\\pi\\,\\text{fftfreq}(n, h)`, and
    :math:`2\\pi\\,\\text{rfftfreq}(n, h)` on the last axis. Each array has shape 1 except
    along its own axis, so ``sum(k**2 for k in ks)`` has the full ``rfftn`` shape.

    Example
    -------
    >>> from nedsym.discretize import Grid
    >>> kx, = fourier_wavenumbers(Grid(4, [(0, 2 * np.pi)]))
    >>> kx.tolist()
    [0.0, 1.0, 2.0]
    """
    _check_periodic(grid)
    ks = []
    for a, (n, h) in enumerate(zip(grid.shape, grid.spacing, strict=True)):
        freq = scipy.fft.rfftfreq(n, h) if a == grid.ndim - 1 else scipy.fft.fftfreq(n, h)
        shape = [1] * grid.ndim
        shape[a] = freq.size
        ks.append((2 * np.pi * freq).reshape(shape))
    return tuple(ks)


def _symbol(grid: Any, ks: tuple[np.ndarray, ...], alpha: Sequence[int],
            accuracy: int | None = None) -> np.ndarray:
    if len(alpha) != grid.ndim or any(int(o) < 0 for o in alpha):
        raise DiscretizationError(
            f"derivative multi-index {tuple(alpha)} must have {grid.ndim} non-negative orders "
            f"(one per axis {list(grid.axis_names)})")
    sym: np.ndarray = np.ones([1] * grid.ndim, dtype=np.complex128)
    for a, o in enumerate(alpha):
        if o == 0:
            continue
        k = ks[a].astype(np.complex128)
        if accuracy is not None:
            from nedsym.discretize.stencils import central_stencil

            h = grid.spacing[a]
            offsets, weights = central_stencil(int(o), int(accuracy))
            st = sum(w * np.exp(1j * k * h * j) for j, w in zip(offsets, weights, strict=True))
            sym = sym * st / h ** int(o)
            continue
        if o % 2 == 1 and grid.shape[a] % 2 == 0:
            # odd derivatives of the Nyquist mode are not representable by a real field
            nyq = grid.shape[a] // 2
            idx = [0] * grid.ndim
            idx[a] = nyq
            k[tuple(idx)] = 0.0
        sym = sym * (1j * k) ** int(o)
    return sym


def linear_multiplier(grid: Any, coeffs: Any, field_names: Sequence[str] | None = None,
                      accuracy: int | None = None) -> np.ndarray:
    """Fourier symbol :math:`\\hat L` of
    :math:`\\mathcal{L} = \\sum_\\alpha c_\\alpha \\partial^\\alpha`.

    ``coeffs`` is ``{alpha: c}`` with ``alpha`` a tuple of per-axis derivative orders (one field),
    or a list of such dicts (one per field), or ``{field name: {alpha: c}}`` with
    ``field_names`` giving the order. With ``accuracy=None`` exact spectral symbols are used:
    :math:`\\widehat{\\partial^\\alpha} = \\prod_a (i k_a)^{\\alpha_a}`
    (so :math:`\\partial_{xx}\\to -k_x^2`);
    odd orders vanish on the Nyquist mode. With ``accuracy=p`` the symbols are those of the
    central finite-difference stencils of order ``p`` that the grid kernels use,
    :math:`\\prod_a h_a^{-\\alpha_a}\\sum_j w^{(\\alpha_a)}_j e^{i k_a h_a j}`
    (:math:`\\partial_{xx}\\to -4\\sin^2(k h/2)/h^2` for ``p = 2``), so a semi-implicit step
    advances the same semi-discrete flow as the explicit steppers and the discrete energy
    that the run records. Returns float64 when the symbol is real, else
    complex128, of shape ``(nfields, *rfftn shape)``.

    Example
    -------
    >>> from nedsym.discretize import Grid
    >>> L = linear_multiplier(Grid(4, [(0, 2 * np.pi)]), {(2,): 0.5, (0,): 1.0})
    >>> L.tolist()
    [[1.0, 0.5, -1.0]]
    """
    if isinstance(coeffs, Mapping) and coeffs and all(isinstance(k, str) for k in coeffs):
        if field_names is None:
            field_names = list(coeffs)
        missing = [f for f in field_names if f not in coeffs]
        if missing:
            raise DiscretizationError(f"linear_multiplier: no coefficients for fields {missing}")
        per_field = [coeffs[f] for f in field_names]
    elif isinstance(coeffs, Mapping):
        per_field = [coeffs]
    else:
        per_field = list(coeffs)
    ks = fourier_wavenumbers(grid)
    fft_shape = tuple(k.size for k in ks)
    out = np.zeros((len(per_field), *fft_shape), dtype=np.complex128)
    for f, cf in enumerate(per_field):
        for alpha, c in cf.items():
            alpha = (alpha,) if isinstance(alpha, int) else tuple(alpha)
            out[f] += complex(c) * _symbol(grid, ks, alpha, accuracy)
    if np.all(out.imag == 0):
        return np.ascontiguousarray(out.real)
    return out


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
    >>> from nedsym.discretize import Grid
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
