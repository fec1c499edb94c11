r"""Variational energies :math:`E[u] = \int_\Omega L\,dx + \oint_{\partial\Omega} B\,ds`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import sympy as sp

from nedsym.errors import CoordinateError, DeclarationError, FieldError
from nedsym.symbolic.declare import (
    field_components,
    field_name,
    fields_in,
    parameter_value,
    params_in,
)
from nedsym.symbolic.operators import common_coords
from nedsym.symbolic.printing import compact_latex, compact_str
from nedsym.symbolic.safe import to_expr
from nedsym.symbolic.variational import (
    check_differentiable,
    natural_boundary_terms,
    variational_derivative,
)

__all__ = ["Energy"]


def _scalar(expr, what: str):
    if isinstance(expr, sp.MatrixBase):
        if expr.shape == (1, 1):
            return expr[0]
        raise DeclarationError(f"the {what} must be a scalar, got a {expr.shape} matrix")
    return to_expr(expr, f"the {what}", hint=' built with nedsym.coords/Field/grad, or parse '
                   'a formula string with Energy.parse("...", coords=..., fields=...)')


class ParamValues(dict):
    """An energy's parameters, ``{symbol: value}``, also looked up by name: ``params["eps"]``
    or ``params[Param("eps")]`` find the parameter named ``eps`` whatever its default (two
    ``Param`` objects with different defaults are different symbols).

    Example
    -------
    >>> from nedsym import Param
    >>> p = ParamValues({Param("eps", 0.1): 0.1})
    >>> p["eps"], p[Param("eps")]
    (0.1, 0.1)
    """

    def __missing__(self, key):
        name = key if isinstance(key, str) else getattr(key, "name", None)
        hits = [v for s, v in self.items() if s.name == name]
        if len(hits) != 1:
            raise KeyError(key)
        return hits[0]


class Energy:
    r"""A variational energy :math:`E[u] = \int_\Omega L(x, u, Du, D^2u, \dots)\,dx`
    (+ an optional boundary energy :math:`\oint B\,ds`).

    Parameters
    ----------
    density: the integrand ``L`` (sympy expression in fields, coordinates, parameters).
    fields: the fields the energy depends on (scalars or vector fields).
    boundary: optional boundary energy density ``B``.
    coords: the integration coordinates; default: the longest argument list of the fields.
    params: values for parameters, ``{symbol_or_name: value}``; :class:`Param`
        defaults are collected automatically.

    Example
    -------
    >>> from nedsym import Field, Param, coords, grad
    >>> x, y = coords("x y"); u = Field("u", (x, y)); eps = Param("eps", 0.05)
    >>> E = Energy(eps**2/2 * grad(u).dot(grad(u)) + (u**2 - 1)**2/4, fields=[u])
    >>> E.variational_derivative(u)
    -eps**2*Derivative(u(x, y), (x, 2)) - eps**2*Derivative(u(x, y), (y, 2)) + u(x, y)**3 - u(x, y)
    """

    def __init__(self, density, fields, boundary=None,
                 coords: Sequence[sp.Symbol] | None = None,
                 params: Mapping | None = None, name: str | None = None):
        self.density = _scalar(density, "energy density")
        self.boundary = None if boundary is None else _scalar(boundary, "boundary density")
        if not isinstance(fields, (list, tuple)):
            fields = [fields]
        if not fields:
            raise DeclarationError("Energy needs at least one field, e.g. fields=[u]")
        self.fields = list(fields)
        self.components = [c for f in self.fields for c in field_components(f)]
        names = [field_name(c) for c in self.components]
        if len(set(names)) != len(names):
            raise DeclarationError(f"field names repeat: {names}")
        self.coords = self._resolve_coords(coords)
        self._check_fields_present()
        check_differentiable(self.density)
        if self.boundary is not None:
            check_differentiable(self.boundary, where="boundary density")
        self.params = self._resolve_params(params)
        self.name = name

    # -- construction helpers -------------------------------------------------
    def _resolve_coords(self, coords):
        if coords is not None:
            coords = tuple(coords)
            for c in self.components:
                extra = [a for a in c.args if a not in coords]
                if extra:
                    raise CoordinateError(
                        f"field {field_name(c)} depends on {extra}, which are not among "
                        f"the energy's coordinates {coords}")
            return coords
        return common_coords(self.components)

    def _check_fields_present(self):
        present = fields_in(self.density)
        if self.boundary is not None:
            present |= fields_in(self.boundary)
        declared = set(self.components)
        for c in self.components:
            if c not in present:
                raise FieldError(
                    f"field {field_name(c)} is declared but does not occur in the energy "
                    f"density {self.density}")
        undeclared = {f for f in present if f not in declared}
        if undeclared:
            raise FieldError(
                "the density contains undeclared fields "
                f"{sorted(field_name(f) for f in undeclared)}; add them to fields=[...]")
        for f in present:
            stray = [a for a in f.args if a not in self.coords]
            if stray:
                raise CoordinateError(f"field {f} uses coordinates {stray} not in {self.coords}")

    def _resolve_params(self, params):
        found = params_in(self.density)
        if self.boundary is not None:
            found.update(params_in(self.boundary))
        free = self.density.free_symbols | (self.boundary.free_symbols if self.boundary else set())
        for s in free:
            if s not in self.coords and s not in found:
                found[s] = None  # plain sympy symbol: a parameter without a default
        if params:
            by_name = {s.name: s for s in found}
            for key, value in params.items():
                name = key if isinstance(key, str) else getattr(key, "name", str(key))
                if name not in by_name:
                    raise DeclarationError(
                        f"parameter {name!r} does not occur in the energy "
                        f"(its symbols: {sorted(by_name)})")
                found[by_name[name]] = float(value)
        return ParamValues(sorted(found.items(), key=lambda kv: kv[0].name))

    # -- derivation ------------------------------------------------------------
    def _components_of(self, u):
        comps = field_components(u)
        for c in comps:
            if c not in self.components:
                raise FieldError(
                    f"{field_name(c)} is not a field of this energy "
                    f"(fields: {[field_name(f) for f in self.components]})")
        return comps

    def variational_derivative(self, u, simplify: bool = True):
        r"""δE/δu (a matrix of component derivatives for a vector field)."""
        comps = self._components_of(u)
        out = [variational_derivative(self.density, c, self.coords, simplify=simplify)
               if self.density.has(c) else sp.S.Zero for c in comps]
        return sp.ImmutableMatrix(out) if isinstance(u, sp.MatrixBase) else out[0]

    def gradient(self, simplify: bool = True) -> dict:
        """``{component: δE/δcomponent}`` for every scalar component."""
        return {c: self.variational_derivative(c, simplify) for c in self.components}

    def natural_bc(self, u, simplify: bool = True):
        """Natural boundary terms (see :class:`NaturalBC`); a list for vector fields."""
        comps = self._components_of(u)
        out = [natural_boundary_terms(self.density, c, self.coords, self.boundary, simplify)
               for c in comps]
        return out if isinstance(u, sp.MatrixBase) else out[0]

    @property
    def order(self) -> int:
        """Highest derivative order in the density."""
        ds = [d.derivative_count for d in self.density.atoms(sp.Derivative)]
        return max(ds, default=0)

    def param_values(self, **overrides) -> dict[sp.Symbol, float]:
        """Parameter values (defaults updated by ``overrides`` by name)."""
        vals = {s: v for s, v in self.params.items()}
        by_name = {s.name: s for s in vals}
        for k, v in overrides.items():
            if k not in by_name:
                raise DeclarationError(f"unknown parameter {k!r}; parameters: {sorted(by_name)}")
            vals[by_name[k]] = parameter_value(k, v)
        missing = [s.name for s, v in vals.items() if v is None]
        if missing:
            raise DeclarationError(
                f"parameters {missing} have no value; give one with params={{...}} "
                "or nedsym.Param(name, default)")
        return vals

    # -- evaluation ----------------------------------------------------------------
    # -- presentation ------------------------------------------------------------
    def latex(self) -> str:
        d = "\\,".join(f"d{sp.latex(c)}" for c in self.coords)
        s = f"E = \\int {compact_latex(self.density)}\\,{d}"
        if self.boundary is not None:
            s += f" + \\oint {compact_latex(self.boundary)}\\,ds"
        return s

    def __repr__(self) -> str:
        b = f" + ∮ {compact_str(self.boundary)} ds" if self.boundary is not None else ""
        dx = " ".join(f"d{c}" for c in self.coords)
        return f"Energy(∫ {compact_str(self.density)} {dx}{b})"

    @classmethod
    def parse(cls, text: str, coords="x", fields="u", params=None, boundary: str | None = None,
              name: str | None = None) -> Energy:
        """Parse an energy written as on paper (see :func:`nedsym.symbolic.parse.parse`).

        Example
        -------
        >>> E = Energy.parse("eps^2/2*|grad(u)|^2 + (u^2-1)^2/4",
        ...                  coords="x y", fields="u", params={"eps": 0.05})
        """
        from nedsym.symbolic.parse import Namespace

        ns = Namespace.declare(coords=coords, fields=fields, params=params)
        density = ns.parse(text)
        bdens = ns.parse(boundary) if boundary else None
        return cls(density, fields=ns.field_list(), boundary=bdens, coords=ns.coords,
                   params={p: p.default for p in ns.params.values() if p.default is not None},
                   name=name)


