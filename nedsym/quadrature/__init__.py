"""Sampled quadrature: domains, points and weights, integral estimates, resampling.

Neural Energy Descent integrates energies over the domain by random sampling; this
package is that integration, usable on its own::

    from nedsym.quadrature import Ball, integrate
    est = integrate(x**2 + y**2, Ball((0, 0), 1), rule="sobol", n=1024, seed=0)
    est.value, est.stderr, est.ci
"""

from nedsym.quadrature.adaptive import AdaptiveSampler
from nedsym.quadrature.boundary import BoundaryDomain
from nedsym.quadrature.domain import Domain
from nedsym.quadrature.domains import Annulus, Ball, Box, BoxFace, Simplex, Sphere
from nedsym.quadrature.energy import integrate_energy
from nedsym.quadrature.implicit import ImplicitDomain
from nedsym.quadrature.integrand import compile_integrand
from nedsym.quadrature.integrate import integrate, integrate_density, integrate_points
from nedsym.quadrature.points import IntegralEstimate, Points
from nedsym.quadrature.rules import RULES
from nedsym.quadrature.sampler import Sampler

__all__ = [
    "AdaptiveSampler",
    "Annulus",
    "Ball",
    "BoundaryDomain",
    "Box",
    "BoxFace",
    "Domain",
    "ImplicitDomain",
    "IntegralEstimate",
    "Points",
    "RULES",
    "Sampler",
    "Simplex",
    "Sphere",
    "compile_integrand",
    "integrate",
    "integrate_density", "integrate_energy",
    "integrate_points",
]
