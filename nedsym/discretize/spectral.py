"""Fourier symbols of constant-coefficient linear operators on periodic grids.

The semi-implicit steppers (:class:`nedsym.solve.SemiImplicitSpectral`) take the symbol
:math:`\\hat L(k)` as an array and know nothing of grids; this module computes it from a
:class:`~nedsym.discretize.Grid` and the coefficients of the linear part (exact spectral
symbols, or those of the grid's finite-difference stencils).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import scipy.fft

from nedsym.discretize.stencils import central_stencil
from nedsym.errors import DiscretizationError

__all__ = ["SPECTRAL_KINDS", "fourier_wavenumbers", "linear_multiplier", "spectral_wavenumbers"]


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


#: the transform that diagonalizes the grid's stencils along an axis, by its ghost cells:
#: periodic → FFT, homogeneous Neumann (even reflection) → DCT-II, homogeneous Dirichlet
#: (odd reflection) → DST-II
SPECTRAL_KINDS = ("fft", "dct", "dst")


def spectral_wavenumbers(grid: Any, kinds: Sequence[str]) -> tuple[np.ndarray, ...]:
    """Angular wavenumbers of the transform ``kinds`` (one of :data:`SPECTRAL_KINDS` per axis).

    FFT axes: :math:`2\\pi\\,\text{fftfreq}(n, h)`, and :math:`2\\pi\\,\text{rfftfreq}` on
    the last FFT axis (it is halved by ``rfftn``). DCT-II axes (even reflection about the
    faces, period :math:`2nh`): :math:`k_j = \\pi j/(nh)`, ``j = 0..n-1``. DST-II axes (odd
    reflection): :math:`k_j = \\pi (j+1)/(nh)`. A central stencil's symbol at these ``k`` is
    its eigenvalue on that basis, so :func:`linear_multiplier` with ``kinds`` gives the
    eigenvalues of the grid's operator with those boundary conditions.

    Example
    -------
    >>> from nedsym.discretize import Grid
    >>> k, = spectral_wavenumbers(Grid(4, [(0, np.pi)], bc="neumann"), ["dct"])
    >>> k.tolist()
    [0.0, 1.0, 2.0, 3.0]
    """
    kinds = list(kinds)
    if len(kinds) != grid.ndim or any(k not in SPECTRAL_KINDS for k in kinds):
        raise DiscretizationError(f"kinds must give one of {SPECTRAL_KINDS} per axis; got "
                                  f"{kinds}")
    ffts = [a for a, k in enumerate(kinds) if k == "fft"]
    ks = []
    for a, (n, h) in enumerate(zip(grid.shape, grid.spacing, strict=True)):
        if kinds[a] == "fft":
            freq = 2 * np.pi * (scipy.fft.rfftfreq(n, h) if a == ffts[-1]
                                else scipy.fft.fftfreq(n, h))
        elif kinds[a] == "dct":
            freq = np.pi * np.arange(n) / (n * h)
        else:
            freq = np.pi * (np.arange(n) + 1) / (n * h)
        shape = [1] * grid.ndim
        shape[a] = freq.size
        ks.append(freq.reshape(shape))
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
                      accuracy: int | None = None,
                      kinds: Sequence[str] | None = None) -> np.ndarray:
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
    complex128, of shape ``(nfields, *rfftn shape)``. ``kinds`` (one of ``"fft"``, ``"dct"``,
    ``"dst"`` per axis, see :func:`spectral_wavenumbers`): the eigenvalues on that basis
    instead (non-periodic boxes with homogeneous Neumann or Dirichlet sides).

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
    ks = fourier_wavenumbers(grid) if kinds is None else spectral_wavenumbers(grid, kinds)
    fft_shape = tuple(k.size for k in ks)
    out = np.zeros((len(per_field), *fft_shape), dtype=np.complex128)
    for f, cf in enumerate(per_field):
        for alpha, c in cf.items():
            alpha = (alpha,) if isinstance(alpha, int) else tuple(alpha)
            out[f] += complex(c) * _symbol(grid, ks, alpha, accuracy)
    if np.all(out.imag == 0):
        return np.ascontiguousarray(out.real)
    return out
