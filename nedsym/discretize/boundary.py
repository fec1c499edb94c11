"""Boundary conditions for finite-difference grids and how a user spells them.

Four conditions, each a small immutable object:

* :class:`Periodic` -- ``u(a) = u(b)``; must hold on both sides of an axis and for all fields.
* :class:`Neumann` ``(flux)`` -- :math:`\\partial u/\\partial n = g` with the *outward* normal.
* :class:`Dirichlet` ``(value)`` -- :math:`u = g` on the face.
* :class:`Natural` -- the energy's natural boundary condition. The numeric layer treats it as
  zero-flux Neumann (:math:`\\partial u/\\partial n = 0`), which is exact for energies whose
  natural boundary term is
  :math:`\\partial L/\\partial(\\nabla u)\\cdot n = \\kappa\\,\\partial_n u`;
  the symbolic layer refines it for other densities before the grid sees it.

``g`` may be a number or a callable ``g(*coords, t)`` receiving one coordinate array per axis
(cell-centre coordinates along the face, the boundary position along the normal axis), all of
the face's shape, and returning an array of that shape (or a scalar).

Spec forms accepted by :func:`resolve_bcs` (and by :class:`~nedsym.discretize.grid.Grid`):

* a name: ``"periodic"``, ``"neumann"``, ``"dirichlet"``, ``"natural"``;
* a condition object: ``Dirichlet(1.0)``;
* a dict per axis (name or index) -> condition or ``(lo, hi)`` pair; every axis must appear;
* a dict per field name -> any of the above (``{"u": "neumann", "v": Dirichlet(0)}``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nedsym.errors import BoundaryConditionError

__all__ = [
    "BoundaryCondition",
    "Periodic",
    "Neumann",
    "Dirichlet",
    "Natural",
    "BC_NAMES",
    "as_bc",
    "resolve_axis_bcs",
    "resolve_bcs",
    "is_per_field_spec",
    "check_periodic_consistency",
]

BCValue = float | Callable[..., Any]


@dataclass(frozen=True)
class BoundaryCondition:
    """Base class of the boundary conditions; ``kind`` is the halo kind code."""

    kind = -1

    @property
    def data(self) -> BCValue:
        """The boundary datum (value or flux); 0 for periodic."""
        return 0.0

    @property
    def varying(self) -> bool:
        """Whether the datum is a callable of the boundary coordinates and time."""
        return callable(self.data)


@dataclass(frozen=True)
class Periodic(BoundaryCondition):
    """Periodic boundary: ``u(x + L) = u(x)``.

    Example
    -------
    >>> Periodic().kind
    0
    """

    kind = 0


@dataclass(frozen=True)
class Neumann(BoundaryCondition):
    """Flux condition :math:`\\partial u/\\partial n = \\text{flux}` (outward normal).

    Example
    -------
    >>> Neumann(0.5).data
    0.5
    """

    flux: BCValue = 0.0
    kind = 1

    @property
    def data(self) -> BCValue:
        return self.flux


@dataclass(frozen=True)
class Natural(Neumann):
    """The energy's natural boundary condition; numerically zero-flux Neumann.

    The symbolic layer derives the actual natural boundary term of an energy; the grid treats
    this object as :math:`\\partial u/\\partial n = 0`.

    Example
    -------
    >>> Natural().flux
    0.0
    """

    flux: BCValue = 0.0


@dataclass(frozen=True)
class Dirichlet(BoundaryCondition):
    """Value condition :math:`u = \\text{value}` on the face.

    Example
    -------
    >>> Dirichlet(lambda y, x, t: x * y).varying
    True
    """

    value: BCValue = 0.0
    kind = 2

    @property
    def data(self) -> BCValue:
        return self.value


BC_NAMES: dict[str, type[BoundaryCondition]] = {
    "periodic": Periodic,
    "neumann": Neumann,
    "dirichlet": Dirichlet,
    "natural": Natural,
}


def as_bc(spec: Any, where: str = "") -> BoundaryCondition:
    """Turn a name or condition object into a :class:`BoundaryCondition`.

    Example
    -------
    >>> as_bc("Neumann")
    Neumann(flux=0.0)
    """
    if isinstance(spec, BoundaryCondition):
        return spec
    if isinstance(spec, str):
        cls = BC_NAMES.get(spec.strip().lower())
        if cls is not None:
            return cls()
    at = f" ({where})" if where else ""
    raise BoundaryConditionError(
        f"unknown boundary condition {spec!r}{at}; valid names are "
        f"{sorted(BC_NAMES)} or a Periodic/Neumann/Dirichlet/Natural object")


def _side_pair(spec: Any, where: str) -> tuple[BoundaryCondition, BoundaryCondition]:
    if isinstance(spec, (tuple, list)):
        if len(spec) != 2:
            raise BoundaryConditionError(
                f"a per-side boundary condition must be a (lo, hi) pair ({where}), got {spec!r}")
        return as_bc(spec[0], f"{where}, side lo"), as_bc(spec[1], f"{where}, side hi")
    bc = as_bc(spec, where)
    return bc, bc


def _axis_index(key: Any, axis_names: Sequence[str]) -> int | None:
    if isinstance(key, bool):
        return None
    if isinstance(key, int):
        return key if 0 <= key < len(axis_names) else None
    if isinstance(key, str) and key in axis_names:
        return list(axis_names).index(key)
    return None


def resolve_axis_bcs(
    spec: Any, axis_names: Sequence[str], field: str | None = None,
) -> tuple[tuple[BoundaryCondition, BoundaryCondition], ...]:
    """Resolve one field's spec into ``((lo, hi), ...)`` per axis, checking periodic pairs.

    Example
    -------
    >>> resolve_axis_bcs({"x": "periodic", "y": ("dirichlet", "neumann")}, ["x", "y"])[1]
    (Dirichlet(value=0.0), Neumann(flux=0.0))
    """
    fname = f"field {field!r}, " if field is not None else ""
    ndim = len(axis_names)
    if isinstance(spec, Mapping):
        pairs: list[Any] = [None] * ndim
        for key, sub in spec.items():
            a = _axis_index(key, axis_names)
            if a is None:
                raise BoundaryConditionError(
                    f"{fname}unknown axis {key!r} in boundary spec; valid axes are "
                    f"{list(axis_names)} or indices 0..{ndim - 1}")
            pairs[a] = _side_pair(sub, f"{fname}axis {axis_names[a]!r}")
        missing = [axis_names[a] for a in range(ndim) if pairs[a] is None]
        if missing:
            raise BoundaryConditionError(
                f"{fname}boundary spec gives no condition for axis/axes {missing}")
    else:
        pairs = [_side_pair(spec, f"{fname}axis {axis_names[a]!r}") for a in range(ndim)]
    for a, (lo, hi) in enumerate(pairs):
        if isinstance(lo, Periodic) != isinstance(hi, Periodic):
            side = "hi" if isinstance(lo, Periodic) else "lo"
            raise BoundaryConditionError(
                f"{fname}axis {axis_names[a]!r}: periodic on one side only; side {side!r} is "
                f"{(hi if side == 'hi' else lo)!r}. A periodic axis must be periodic on both sides")
    return tuple(pairs)


def is_per_field_spec(spec: Any, axis_names: Sequence[str]) -> bool:
    """True when ``spec`` is a dict keyed by field names rather than axes."""
    if not isinstance(spec, Mapping) or not spec:
        return False
    axes = [k for k in spec if _axis_index(k, axis_names) is not None]
    if axes and len(axes) < len(spec):
        others = [k for k in spec if k not in axes]
        raise BoundaryConditionError(
            f"boundary spec mixes axes {axes} with {others}, which are not axes "
            f"{list(axis_names)}: key it by axis or by field, not both (a typo in an axis "
            "name?)")
    return not axes


def resolve_bcs(
    spec: Any,
    axis_names: Sequence[str],
    field_names: Sequence[str],
    default: Any = None,
) -> dict[str, tuple[tuple[BoundaryCondition, BoundaryCondition], ...]]:
    """Resolve a boundary spec for every field and check periodicity is shared by all fields.

    ``default`` is used for fields a per-field dict does not name. A periodic axis must be
    periodic for every field; otherwise :class:`BoundaryConditionError` names field, axis, side.

    Example
    -------
    >>> bcs = resolve_bcs({"u": "neumann", "v": "dirichlet"}, ["x"], ["u", "v"])
    >>> bcs["v"][0][0]
    Dirichlet(value=0.0)
    """
    field_names = list(field_names)
    if is_per_field_spec(spec, axis_names):
        unknown = [k for k in spec if k not in field_names]
        if unknown:
            raise BoundaryConditionError(
                f"boundary spec names unknown field(s) or axes {unknown}; fields are "
                f"{field_names}, axes are {list(axis_names)}")
        per_field = {}
        for f in field_names:
            if f in spec:
                per_field[f] = spec[f]
            elif default is not None:
                per_field[f] = default
            else:
                raise BoundaryConditionError(
                    f"no boundary condition for field {f!r}; the per-field spec names "
                    f"{list(spec)}")
    else:
        per_field = {f: spec for f in field_names}
    out = {f: resolve_axis_bcs(s, axis_names, f) for f, s in per_field.items()}
    check_periodic_consistency(out, axis_names)
    return out


def check_periodic_consistency(
    bcs: Mapping[str, tuple[tuple[BoundaryCondition, BoundaryCondition], ...]],
    axis_names: Sequence[str],
    periodic: Sequence[bool] | None = None,
) -> None:
    """Raise unless each axis is periodic for all fields or for none (or matches ``periodic``)."""
    for a, name in enumerate(axis_names):
        flags = {f: isinstance(pairs[a][0], Periodic) for f, pairs in bcs.items()}
        want = periodic[a] if periodic is not None else any(flags.values())
        for f, is_p in flags.items():
            if is_p != want:
                side_bc = bcs[f][a][0]
                if want:
                    msg = (f"axis {name!r} is periodic, but field {f!r} has {side_bc!r} on side "
                           f"'lo' (and 'hi'); a periodic axis must be periodic for all fields")
                else:
                    msg = (f"field {f!r} is periodic on axis {name!r} (sides 'lo' and 'hi'), "
                           f"but the axis is not periodic for the grid or the other fields")
                raise BoundaryConditionError(msg)
