"""nedsym: symbolic-numeric PDE modeling.

Write a variational energy as a formula; nedsym derives its variational
derivative and gradient flow, discretizes it, generates kernels and verifies
every derivation against finite differences.

Importing nedsym loads the symbolic layer (sympy) only; the grid, quadrature, network and
backend modules (numpy kernels, scipy, numba) load on first use of a name that needs them.
"""

from __future__ import annotations

import importlib

from nedsym._version import __version__
from nedsym.symbolic import (
    Condition,
    Energy,
    Field,
    Mean,
    Param,
    Residuals,
    coords,
    div,
    dot,
    grad,
    hessian,
    lap,
    norm,
    normal,
    variational_derivative,
)

#: public names loaded on first use, and the module that defines each
_LAZY = {
    "GradientFlow": "nedsym.flows", "L2": "nedsym.flows", "Hminus1": "nedsym.flows",
    "Wasserstein": "nedsym.flows", "ConservedL2": "nedsym.flows",
    "Grid": "nedsym.discretize", "Periodic": "nedsym.discretize",
    "Neumann": "nedsym.discretize", "Dirichlet": "nedsym.discretize",
    "Natural": "nedsym.discretize",
    "Box": "nedsym.quadrature", "Ball": "nedsym.quadrature", "Sphere": "nedsym.quadrature",
    "Annulus": "nedsym.quadrature", "Simplex": "nedsym.quadrature",
    "ImplicitDomain": "nedsym.quadrature", "Sampler": "nedsym.quadrature",
    "AdaptiveSampler": "nedsym.quadrature",
    "NED": "nedsym.methods.ned", "NEDResult": "nedsym.methods.ned",
    "lower": "nedsym.methods.stages",
}
#: subpackages reachable as attributes (``ns.errors``, ``ns.codegen``, ...), loaded on use
_SUBMODULES = ("errors", "symbolic", "flows", "discretize", "codegen", "quadrature", "nn",
               "solve", "methods", "verify", "relax", "depth", "distributed", "plot", "cli",
               "runner", "problems", "apps")


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value          # later lookups skip this hook
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"nedsym.{name}")
    raise AttributeError(f"module 'nedsym' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | set(_SUBMODULES))

__all__ = [
    "__version__",
    "coords", "Field", "Param", "Energy", "grad", "div", "lap", "hessian", "dot", "norm",
    "Mean", "variational_derivative", "Residuals", "Condition", "normal",
    "GradientFlow", "L2", "Hminus1", "Wasserstein", "ConservedL2",
    "Grid", "Periodic", "Neumann", "Dirichlet", "Natural",
    "Box", "Ball", "Sphere", "Annulus", "Simplex", "ImplicitDomain", "Sampler",
    "AdaptiveSampler",
    "NED", "NEDResult", "lower",
]
