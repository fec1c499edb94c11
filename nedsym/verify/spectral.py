"""Fields sampled on a periodic grid and their spectral derivatives.

The verification layer needs energies evaluated far more accurately than the
derivatives it checks, so it samples smooth periodic fields and differentiates
them in Fourier space (exact up to round-off for band-limited data).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import sympy as sp

from nedsym.errors import VerificationError

__all__ = ["PeriodicSampler"]


class PeriodicSampler:
    """A uniform periodic grid on ``bounds`` with ``n`` points per axis."""

    def __init__(self, coords: Sequence[sp.Symbol], bounds=None, n: int | Sequence[int] = 64):
        self.coords = tuple(coords)
        d = len(self.coords)
        if bounds is None:
            bounds = [(0.0, 2 * np.pi)] * d
        if len(bounds) != d:
            raise VerificationError(f"bounds has {len(bounds)} entries for {d} coordinates")
        self.bounds = [(float(a), float(b)) for a, b in bounds]
        self.n = (int(n),) * d if np.isscalar(n) else tuple(int(k) for k in n)
        pairs = list(zip(self.bounds, self.n, strict=True))
        self.axes = [a + (b - a) * np.arange(k) / k for (a, b), k in pairs]
        self.mesh = np.meshgrid(*self.axes, indexing="ij")
        self.cell = float(np.prod([(b - a) / k for (a, b), k in pairs]))
        self._k = [2j * np.pi * np.fft.fftfreq(k, d=(b - a) / k) for (a, b), k in pairs]

    def sample(self, value, name: str = "field") -> np.ndarray:
        """Values of a sympy expression in the coordinates, a callable or an array."""
        if isinstance(value, np.ndarray):
            arr = np.broadcast_to(np.asarray(value, float), self.mesh[0].shape)
            return np.array(arr)
        if callable(value) and not isinstance(value, sp.Basic):
            return np.broadcast_to(np.asarray(value(*self.mesh), float),
                                   self.mesh[0].shape).copy()
        expr = sp.sympify(value)
        stray = expr.free_symbols - set(self.coords)
        if stray:
            raise VerificationError(
                f"{name} = {expr} contains symbols {sorted(map(str, stray))} other than the "
                f"coordinates {self.coords}")
        f = sp.lambdify(self.coords, expr, "numpy")
        return np.broadcast_to(np.asarray(f(*self.mesh), float), self.mesh[0].shape).copy()

    def derivative(self, values: np.ndarray, multi_index: Sequence[sp.Symbol]) -> np.ndarray:
        """Spectral derivative along the coordinates in ``multi_index`` (with repetition)."""
        if not multi_index:
            return values
        vhat = np.fft.fftn(values)
        for c in multi_index:
            ax = self.coords.index(c)
            shape = [1] * len(self.coords)
            shape[ax] = -1
            k = self._k[ax].copy()
            if self.n[ax] % 2 == 0:  # drop the unresolved Nyquist mode for odd orders
                k[self.n[ax] // 2] = 0
            vhat = vhat * k.reshape(shape)
        return np.real(np.fft.ifftn(vhat))

    def integrate(self, values: np.ndarray) -> float:
        """Trapezoid rule on the periodic grid (spectrally accurate)."""
        return float(np.sum(values) * self.cell)


def lambdify_density(expr, coords, occurrences, params: dict) -> Callable:
    """:func:`nedsym.symbolic.lambdify.lambdify_density`, with a missing parameter value
    reported as a :class:`~nedsym.errors.VerificationError`."""
    from nedsym.errors import DeclarationError
    from nedsym.symbolic.lambdify import lambdify_density as compile_density

    try:
        return compile_density(expr, coords, occurrences, params)
    except DeclarationError as exc:
        raise VerificationError(str(exc)) from None
