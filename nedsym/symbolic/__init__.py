"""Declaring energies and deriving their variational derivatives."""

from nedsym.symbolic.declare import Field, Param, coords, field_components, field_name
from nedsym.symbolic.energy import Energy
from nedsym.symbolic.operators import Mean, div, dot, grad, hessian, lap, norm
from nedsym.symbolic.parse import Namespace, parse
from nedsym.symbolic.residual import Condition, Residuals, normal
from nedsym.symbolic.variational import (
    NaturalBC,
    natural_boundary_terms,
    variational_derivative,
)

__all__ = [
    "coords", "Field", "Param", "field_components", "field_name", "Energy",
    "grad", "div", "lap", "hessian", "dot", "norm", "Mean", "parse", "Namespace",
    "variational_derivative", "natural_boundary_terms", "NaturalBC", "Residuals", "Condition",
    "normal",
]
