"""Uniform, cell-centred Cartesian grids in 1 to 3 dimensions.

Axis ``a`` covers ``[lo_a, hi_a]`` with ``n_a`` cells of width :math:`h_a = (hi_a - lo_a)/n_a`;
cell ``i`` has its centre at :math:`x_i = lo_a + (i + 1/2) h_a`. Boundary conditions are imposed
through ghost cells (see :mod:`nedsym.discretize.halo`), never through special-cased loops.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nedsym.discretize.boundary import (
    BoundaryCondition,
    Periodic,
    check_periodic_consistency,
    is_per_field_spec,
    resolve_axis_bcs,
)
from nedsym.discretize.halo import BoundaryData
from nedsym.errors import BoundaryConditionError, DiscretizationError

__all__ = ["Grid"]

_DEFAULT_AXIS_NAMES = ("x", "y", "z")


class Grid:
    """A uniform cell-centred grid with boundary conditions.

    The volume element is :math:`dV = \\prod_a h_a` (``dV`` and ``cell_volume``), so
    :math:`\\int f\\,dx \\approx` ``grid.integrate(f)`` ``= dV * f.sum()`` (midpoint rule).

    Parameters
    ----------
    shape: number of cells per axis (an int for 1-D).
    bounds: ``[(lo, hi), ...]`` per axis; a single ``(lo, hi)`` pair is used for every axis.
        Default: the unit box.
    bc: default boundary spec (see :mod:`nedsym.discretize.boundary`); a per-field dict is
        allowed and then fixes the conditions of the fields it names.
    axis_names: names of the axes (default ``x, y, z``), used in specs and messages.

    Example
    -------
    >>> g = Grid((4, 2), [(0, 1), (0, 2)], bc="periodic")
    >>> g.spacing, g.axes[0].tolist()
    ((0.25, 1.0), [0.125, 0.375, 0.625, 0.875])
    """

    def __init__(self, shape: int | Sequence[int], bounds: Any = None, bc: Any = "periodic",
                 axis_names: Sequence[str] | None = None) -> None:
        shape_t = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
        ndim = len(shape_t)
        if not 1 <= ndim <= 3:
            raise DiscretizationError(f"Grid supports 1 to 3 axes; got shape {shape!r}")
        names = tuple(axis_names) if axis_names is not None else _DEFAULT_AXIS_NAMES[:ndim]
        if len(names) != ndim or len(set(names)) != ndim:
            raise DiscretizationError(
                f"axis_names must be {ndim} distinct names, got {axis_names!r}")
        for a, n in enumerate(shape_t):
            if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
                raise DiscretizationError(
                    f"axis {names[a]!r}: the number of cells must be a positive integer, "
                    f"got {n!r}")
        if bounds is None:
            bounds = [(0.0, 1.0)] * ndim
        bounds = list(bounds)
        if len(bounds) == 2 and all(np.isscalar(b) for b in bounds):
            bounds = [tuple(bounds)] * ndim
        if len(bounds) != ndim:
            raise DiscretizationError(
                f"bounds must give one (lo, hi) pair per axis ({ndim}), got {len(bounds)}")
        checked = []
        for a, pair in enumerate(bounds):
            try:
                lo, hi = (float(v) for v in pair)
            except (TypeError, ValueError):
                raise DiscretizationError(
                    f"axis {names[a]!r}: bounds must be a (lo, hi) pair of numbers, "
                    f"got {pair!r}") from None
            if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
                raise DiscretizationError(
                    f"axis {names[a]!r}: bounds need finite lo < hi, got ({lo}, {hi})")
            checked.append((lo, hi))
        self.shape: tuple[int, ...] = tuple(int(n) for n in shape_t)
        self.ndim = ndim
        self.axis_names: tuple[str, ...] = names
        self.bounds: tuple[tuple[float, float], ...] = tuple(checked)
        self.spacing: tuple[float, ...] = tuple(
            (hi - lo) / n for (lo, hi), n in zip(self.bounds, self.shape, strict=True))
        self.axes: tuple[np.ndarray, ...] = tuple(
            lo + (np.arange(n) + 0.5) * h
            for (lo, _), n, h in zip(self.bounds, self.shape, self.spacing, strict=True))
        self.dV = float(np.prod(self.spacing))
        self.bc = bc
        self.periodic: tuple[bool, ...] = self._periodic_flags(bc)

    def _periodic_flags(self, bc: Any) -> tuple[bool, ...]:
        if is_per_field_spec(bc, self.axis_names):
            resolved = {f: resolve_axis_bcs(s, self.axis_names, f) for f, s in bc.items()}
            check_periodic_consistency(resolved, self.axis_names)
            first = next(iter(resolved.values()))
        else:
            first = resolve_axis_bcs(bc, self.axis_names)
        return tuple(isinstance(lo, Periodic) for lo, _ in first)

    # --- geometry ---------------------------------------------------------------------------
    @property
    def cell_volume(self) -> float:
        """Volume of one cell, :math:`\\prod_a h_a` (same as ``dV``)."""
        return self.dV

    @property
    def size(self) -> int:
        """Number of cells."""
        return int(np.prod(self.shape))

    @property
    def volume(self) -> float:
        """Volume of the domain, :math:`\\prod_a (hi_a - lo_a)`."""
        return float(np.prod([hi - lo for lo, hi in self.bounds]))

    def mesh(self) -> tuple[np.ndarray, ...]:
        """Cell-centre coordinate arrays of shape ``grid.shape`` (``indexing="ij"``).

        Example
        -------
        >>> X, Y = Grid((2, 3)).mesh()
        >>> X.shape
        (2, 3)
        """
        return tuple(np.meshgrid(*self.axes, indexing="ij"))

    def integrate(self, f: np.ndarray) -> np.ndarray | float:
        """Midpoint-rule integral :math:`\\sum_i f_i\\,dV` over the trailing ``ndim`` axes."""
        f = np.asarray(f)
        return f.sum(axis=tuple(range(f.ndim - self.ndim, f.ndim))) * self.dV

    # --- boundary conditions ---------------------------------------------------------------
    def bcs_for(self, field_names: Sequence[str], bc: Any = None,
                ) -> dict[str, tuple[tuple[BoundaryCondition, BoundaryCondition], ...]]:
        """Resolved ``{field: ((lo, hi) per axis)}`` for ``field_names``.

        ``bc`` overrides the grid's default (any spec form, incl. per field); fields it does not
        name fall back to the grid's spec. Periodicity must match the grid's ``periodic`` flags.

        Example
        -------
        >>> Grid(8, bc="neumann").bcs_for(["u"])["u"][0][1]
        Neumann(flux=0.0)
        """
        per_field = is_per_field_spec(self.bc, self.axis_names)
        spec_map: dict[str, Any] = dict(self.bc) if per_field else {}
        default = None if per_field else self.bc
        if bc is not None and is_per_field_spec(bc, self.axis_names):
            spec_map.update(bc)
        elif bc is not None:
            spec_map, default = {}, bc
        unknown = [f for f in spec_map if f not in field_names]
        if unknown:
            raise BoundaryConditionError(
                f"boundary spec names {unknown}, which are neither fields {list(field_names)} "
                f"nor axes {list(self.axis_names)}")
        out = {}
        for f in field_names:
            spec = spec_map.get(f, default)
            if spec is None:
                raise BoundaryConditionError(
                    f"no boundary condition for field {f!r}; the grid's per-field spec names "
                    f"{list(spec_map)}")
            out[f] = resolve_axis_bcs(spec, self.axis_names, f)
        check_periodic_consistency(out, self.axis_names, self.periodic)
        return out

    def boundary_data(self, field_names: Sequence[str], halo: int, bc: Any = None,
                      ) -> BoundaryData:
        """Halo kinds/values for ``field_names``; see :class:`~nedsym.discretize.halo.BoundaryData`.

        Example
        -------
        >>> Grid(8).boundary_data(["u", "v"], halo=2).kinds.shape
        (2, 1, 2)
        """
        return BoundaryData(self, field_names, halo, self.bcs_for(field_names, bc))

    # --- padding ---------------------------------------------------------------------------
    def padded_shape(self, halo: int) -> tuple[int, ...]:
        """Spatial shape of a padded array: ``n + 2*halo`` per axis."""
        return tuple(n + 2 * halo for n in self.shape)

    def pad(self, y: np.ndarray, halo: int, boundary: BoundaryData | None = None,
            t: float = 0.0) -> np.ndarray:
        """Copy ``y`` (``(nfields, *shape)``) into a new C-contiguous padded array.

        Ghosts are zero unless ``boundary`` is given, in which case they are filled for time t.

        Example
        -------
        >>> Grid(3).pad(np.ones((1, 3)), 1).tolist()
        [[0.0, 1.0, 1.0, 1.0, 0.0]]
        """
        y = np.asarray(y, dtype=np.float64)
        if y.shape[1:] != self.shape:
            raise DiscretizationError(
                f"state must have shape (nfields, {', '.join(map(str, self.shape))}), "
                f"got {y.shape}")
        yp = np.zeros((y.shape[0], *self.padded_shape(halo)), dtype=np.float64)
        self.interior(yp, halo)[...] = y
        if boundary is not None:
            boundary.fill(yp, t)
        return yp

    def interior(self, yp: np.ndarray, halo: int) -> np.ndarray:
        """View of the interior of a padded array: ``yp[:, halo:-halo, ...]``."""
        if halo == 0:
            return yp
        return yp[(slice(None),) + (slice(halo, -halo),) * self.ndim]

    def __repr__(self) -> str:
        return (f"Grid(shape={self.shape}, bounds={list(self.bounds)}, bc={self.bc!r}, "
                f"axis_names={self.axis_names})")

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Grid) and self.shape == other.shape
                and self.bounds == other.bounds and self.axis_names == other.axis_names
                and self.periodic == other.periodic)

    __hash__ = None  # type: ignore[assignment]
