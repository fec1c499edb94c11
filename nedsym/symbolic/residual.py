r"""Residual problems: PDEs that are not the Euler–Lagrange equation of an energy.

A :class:`Residuals` problem asks for fields with :math:`R(x, u, Du, D^2u) = 0` in the
domain and :math:`C_j(x, u, Du, n) = 0` on named parts of it (faces of a box, ``t = 0`` of a
space-time box, a level set). Time-dependent problems treat ``t`` as one more coordinate
(space-time). Its *energy* is the least-squares functional

.. math::
    E[u] = \tfrac12 \frac{1}{|\Omega|}\int_\Omega |R|^2\,dx
        + \sum_j \tfrac{\lambda_j}{2} \frac{1}{|\Gamma_j|}\int_{\Gamma_j} |C_j|^2\,ds ,

whose Gauss–Newton (energy natural gradient) steps are what Neural Energy Descent takes on
it (:class:`nedsym.NED`). Conditions may use the outward normal: its components are the
symbols :func:`normal` returns (``n_x, n_y, ...``).

Example
-------
>>> import nedsym as ns, sympy as sp
>>> t, x = ns.coords("t x"); u = ns.Field("u", (t, x))
>>> heat = ns.Residuals(u.diff(t) - u.diff(x, 2) / 4, fields=[u],
...                     conditions={"t=0": u - sp.sin(sp.pi * x), "x=0": u, "x=1": u})
>>> [c.where for c in heat.conditions]
['t=0', 'x=0', 'x=1']
>>> heat.order
2
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import sympy as sp

from nedsym.errors import DeclarationError, FieldError
from nedsym.symbolic.declare import field_name, fields_in
from nedsym.symbolic.energy import Energy, _scalar
from nedsym.symbolic.variational import normal_symbols

__all__ = ["Condition", "Residuals", "normal"]


def normal(coords: Sequence[sp.Symbol]) -> tuple[sp.Symbol, ...]:
    """The outward unit normal's components ``n_x, n_y, ...`` for conditions on a boundary.

    Example
    -------
    >>> import nedsym as ns
    >>> normal(ns.coords("x y"))
    (n_x, n_y)
    """
    return normal_symbols(tuple(coords))


@dataclass(frozen=True)
class Condition:
    """A residual that must vanish on a part of the domain.

    ``where``: ``"boundary"`` (all of it), ``"<coord>=<value>"`` (a face of a box, e.g.
    ``"t=0"`` or ``"x=1"``), a :mod:`nedsym.quadrature` domain (a level set such as a
    ``Sphere``, a ``BoxFace``), or a list of these; ``residuals``: one expression or a list;
    ``weight``: :math:`\\lambda_j` in the least-squares energy.
    """

    where: object
    residuals: tuple
    weight: float = 1.0

    def __post_init__(self):
        rs = self.residuals
        rs = list(rs) if isinstance(rs, (list, tuple)) else [rs]
        if not rs:
            raise DeclarationError(f"the condition on {self.name} has no residual")
        object.__setattr__(self, "residuals",
                           tuple(_scalar(r, f"condition on {self.where!r}") for r in rs))
        try:
            weight = float(self.weight)
        except (TypeError, ValueError):
            raise DeclarationError(f"the weight of the condition on {self.where!r} must be a "
                                   f"number, got {self.weight!r}") from None
        if not weight > 0:
            raise DeclarationError(f"the weight of the condition on {self.where!r} must be > 0, "
                                   f"got {weight}")
        object.__setattr__(self, "weight", weight)

    @property
    def name(self) -> str:
        return self.where if isinstance(self.where, str) else repr(self.where)


class Residuals(Energy):
    r"""A PDE given by residuals (see the module docs); an :class:`~nedsym.Energy` whose
    density is :math:`\tfrac12|R|^2`.

    Parameters
    ----------
    residuals: the interior residual :math:`R` (one expression, or a list for systems).
    fields: the unknown fields.
    conditions: ``{where: residual}`` or ``{where: (residual, weight)}``, or a list of
        :class:`Condition`.
    coords, params, name: as for :class:`~nedsym.Energy`.
    """

    def __init__(self, residuals, fields, conditions=None,
                 coords: Sequence[sp.Symbol] | None = None, params: Mapping | None = None,
                 name: str | None = None):
        rs = list(residuals) if isinstance(residuals, (list, tuple)) else [residuals]
        if not rs:
            raise DeclarationError("Residuals needs at least one interior residual")
        self.residuals = tuple(_scalar(r, "interior residual") for r in rs)
        self.conditions = _conditions(conditions)
        listed = fields if isinstance(fields, (list, tuple)) else [fields]
        present = {f for r in self.residuals for f in fields_in(r)}
        for f in listed:
            for c in (list(f) if isinstance(f, sp.MatrixBase) else [f]):
                if c not in present:
                    raise FieldError(f"field {field_name(c)} is declared but does not occur "
                                     f"in the interior residual(s) {list(self.residuals)}")
        density = sum((r ** 2 for r in self.residuals), sp.S.Zero) / 2
        super().__init__(density, fields, coords=coords, params=params, name=name)
        declared = set(self.components)
        for c in self.conditions:
            stray = {f for r in c.residuals for f in fields_in(r)} - declared
            if stray:
                raise FieldError(f"condition on {c.name} contains undeclared fields "
                                 f"{sorted(field_name(f) for f in stray)}")

    def _resolve_params(self, params):
        # the conditions' parameters count too; the normals are data on the boundary
        normals = {n: sp.Dummy(n.name) for n in normal_symbols(self.coords)}
        extra = [sp.Dummy() * r.xreplace(normals) for c in self.conditions for r in c.residuals]
        held = self.density
        self.density = sp.Add(held, *extra)
        try:
            found = super()._resolve_params(params)
        finally:
            self.density = held
        return {s: v for s, v in found.items() if not isinstance(s, sp.Dummy)}

    @property
    def order(self) -> int:
        """Highest derivative order in the residuals (the network's jet must reach it)."""
        ds = [d.derivative_count for r in self.residuals for d in r.atoms(sp.Derivative)]
        return max(ds, default=0)


def _conditions(conditions) -> tuple[Condition, ...]:
    if conditions is None:
        return ()
    items = conditions.items() if isinstance(conditions, Mapping) else None
    out = []
    if items is None:
        for c in conditions:
            if not isinstance(c, Condition):
                raise DeclarationError(f"conditions must be a dict {{where: residual}} or a "
                                       f"list of Condition; got {c!r}")
            out.append(c)
        return tuple(out)
    for where, spec in items:
        weight = 1.0
        # (residual, weight): a number in second place is a weight (a constant residual
        # could never vanish)
        if isinstance(spec, tuple) and len(spec) == 2 and (
                isinstance(spec[1], (int, float)) or isinstance(spec[1], sp.Number)):
            spec, weight = spec
        out.append(Condition(where, spec, weight))
    return tuple(out)
