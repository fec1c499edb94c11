"""nedsym: symbolic-numeric PDE modeling.

Write a variational energy as a formula; nedsym derives its variational
derivative and gradient flow, discretizes it, generates kernels and verifies
every derivation against finite differences.
"""

from nedsym._version import __version__
from nedsym.discretize import Dirichlet, Grid, Natural, Neumann, Periodic
from nedsym.flows import L2, ConservedL2, GradientFlow, Hminus1, Wasserstein
from nedsym.methods.ned import NED, NEDResult
from nedsym.quadrature import (
    AdaptiveSampler,
    Annulus,
    Ball,
    Box,
    ImplicitDomain,
    Sampler,
    Simplex,
    Sphere,
)
from nedsym.symbolic import (
    Energy,
    Field,
    Mean,
    Param,
    coords,
    div,
    dot,
    grad,
    hessian,
    lap,
    norm,
    variational_derivative,
)

__all__ = [
    "__version__",
    "coords", "Field", "Param", "Energy", "grad", "div", "lap", "hessian", "dot", "norm",
    "Mean", "variational_derivative",
    "GradientFlow", "L2", "Hminus1", "Wasserstein", "ConservedL2",
    "Grid", "Periodic", "Neumann", "Dirichlet", "Natural",
    "Box", "Ball", "Sphere", "Annulus", "Simplex", "ImplicitDomain", "Sampler",
    "AdaptiveSampler",
    "NED", "NEDResult",
]
