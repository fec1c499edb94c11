r"""Gradient flows :math:`\partial_t u = -\mathcal{M}\,\delta E/\delta u` of an energy."""

from __future__ import annotations

from collections.abc import Mapping

import sympy as sp

from nedsym.errors import MetricError
from nedsym.flows.metrics import Metric, resolve_metric
from nedsym.symbolic.declare import field_components, field_name
from nedsym.symbolic.energy import Energy
from nedsym.symbolic.printing import compact_latex, compact_str
from nedsym.symbolic.safe import formula_parser, to_expr
from nedsym.symbolic.variational import tidy

__all__ = ["GradientFlow"]


class GradientFlow:
    r"""The gradient flow of an :class:`~nedsym.Energy` in a chosen metric.

    Parameters
    ----------
    energy: the energy.
    metric: ``"L2"`` (default), ``"H-1"``, ``"W2"``/``nedsym.Wasserstein(mobility)``,
        ``"L2-conserved"``, or a :class:`~nedsym.flows.metrics.Metric`.
    mobility: ``None`` (the metric's default: 1, or ρ for Wasserstein), one
        expression for every field, ``{field: expr}`` per field, or an
        ``n×n`` symmetric matrix coupling the ``n`` scalar components.

    Attributes
    ----------
    rhs: ``{component: ∂t component}`` (sympy).
    potentials: ``{component: δE/δcomponent}``.
    dissipation: ``dE/dt`` as ``-Integral(...)`` over the coordinates (≤ 0).

    Example
    -------
    >>> import nedsym as ns
    >>> E = ns.Energy.parse("u_x^2/2 + u^4/4", coords="x")
    >>> flow = GradientFlow(E, metric="H-1")
    >>> u, (x,) = E.components[0], E.coords
    >>> (flow.rhs[u] - (u**3 - u.diff(x, 2)).diff(x, 2)).expand()    # u_t = Δ(δE/δu)
    0
    """

    def __init__(self, energy: Energy, metric="L2", mobility=None, simplify: bool = True):
        if not isinstance(energy, Energy):
            raise MetricError(f"GradientFlow needs a nedsym.Energy, got {type(energy).__name__}")
        self.energy = energy
        self.metric: Metric = resolve_metric(metric)
        self.fields = list(energy.components)
        self.coords = energy.coords
        self.mobility = self._mobility_matrix(mobility)
        self.potentials = energy.gradient(simplify=simplify)
        mu = [self.potentials[c] for c in self.fields]
        rhs = self.metric.rhs(mu, self.mobility, self.coords)
        self.rhs = {c: (tidy(r) if simplify else r) for c, r in zip(self.fields, rhs, strict=True)}
        dens = self.metric.dissipation_density(mu, self.mobility, self.coords)
        self.dissipation = -sp.Integral(dens, *self.coords)

    # -- mobility -------------------------------------------------------------
    def _mobility_expr(self, value) -> sp.Expr:
        """A mobility entry; a string is parsed with the energy's names (guarded parser)."""
        E = self.energy
        parse = formula_parser(E.coords, {p.name: v for p, v in E.params.items()}, E.fields)
        return to_expr(value, "mobility", parse=parse)

    def _mobility_matrix(self, mobility) -> sp.ImmutableMatrix:
        n = len(self.fields)
        if mobility is None:
            diag = [sp.sympify(self.metric.default_mobility(c)) for c in self.fields]
            M = sp.diag(*diag)
        elif isinstance(mobility, sp.MatrixBase):
            if mobility.shape != (n, n):
                raise MetricError(
                    f"mobility matrix has shape {mobility.shape}, but the energy has {n} scalar "
                    f"components {[field_name(c) for c in self.fields]}: expected ({n}, {n})")
            if not self.metric.allows_matrix and not mobility.is_diagonal():
                raise MetricError(f"metric {self.metric} accepts only a diagonal mobility")
            if sp.simplify(mobility - mobility.T) != sp.zeros(n, n):
                raise MetricError("mobility matrix must be symmetric for the flow to dissipate")
            M = sp.Matrix(mobility)
        elif isinstance(mobility, Mapping):
            entries = {}
            for key, val in mobility.items():
                comps = field_components(key) if not isinstance(key, str) else [
                    c for c in self.fields if field_name(c) == key
                    or field_name(c).rsplit("_", 1)[0] == key]
                if not comps or any(c not in self.fields for c in comps):
                    raise MetricError(
                        f"mobility given for {key}, which is not a field of the energy "
                        f"(fields: {[field_name(c) for c in self.fields]})")
                for c in comps:
                    entries[c] = self._mobility_expr(val)
            M = sp.diag(*[entries.get(c, sp.sympify(self.metric.default_mobility(c)))
                          for c in self.fields])
        else:
            M = sp.eye(n) * self._mobility_expr(mobility)
        for i in range(n):
            m = M[i, i]
            if m.is_number and not m.is_positive:
                raise MetricError(
                    f"mobility of field {field_name(self.fields[i])} is {m}; it must be positive")
        return sp.ImmutableMatrix(M)

    # -- next stage ---------------------------------------------------------------
    def discretize(self, grid, backend: str = "numba", gradient: str = "continuous",
                   accuracy: int = 2, params: dict | None = None, check: bool = True,
                   dtype: str = "float64"):
        """A :class:`~nedsym.methods.grid.Simulation` of this flow on ``grid``.

        (Imported here lazily: ``flows`` itself never depends on later stages.)
        """
        from nedsym.methods.grid import Simulation

        return Simulation(self, grid, backend=backend, gradient=gradient, accuracy=accuracy,
                          params=params, check=check, dtype=dtype)

    # -- presentation -----------------------------------------------------------
    def _mobility_text(self) -> str:
        M = self.mobility
        if M.is_diagonal() and len(set(M.diagonal())) == 1:
            return str(M[0, 0])
        return str(M.tolist())

    def pretty(self) -> str:
        """Human-readable summary: potentials, evolution, dissipation."""
        lines = [f"Gradient flow, metric {self.metric}, mobility {self._mobility_text()}"]
        for c in self.fields:
            n = field_name(c)
            lines.append(f"  δE/δ{n} = {compact_str(self.potentials[c])}")
        for c in self.fields:
            n = field_name(c)
            lines.append(f"  ∂{n}/∂t = {compact_str(self.rhs[c])}")
        lines.append(f"  dE/dt = {compact_str(self.dissipation)}  (≤ 0)")
        return "\n".join(lines)

    def latex(self) -> str:
        """The evolution equations as a LaTeX ``aligned`` block."""
        rows = [r"\partial_t %s &= %s" % (field_name(c), compact_latex(self.rhs[c]))
                for c in self.fields]
        rows.append(r"\frac{dE}{dt} &= %s \le 0" % compact_latex(self.dissipation))
        return "\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}"

    def __repr__(self) -> str:
        return self.pretty()
