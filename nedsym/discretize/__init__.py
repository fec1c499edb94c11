"""Finite-difference discretization: stencils, grids, boundary conditions, ghost cells."""

from nedsym.discretize.boundary import (
    BoundaryCondition,
    Dirichlet,
    Natural,
    Neumann,
    Periodic,
    resolve_bcs,
)
from nedsym.discretize.grid import Grid
from nedsym.discretize.halo import (
    EVEN,
    ODD,
    PERIODIC,
    BoundaryData,
    fill_halo_numpy,
    halo_filler,
)
from nedsym.discretize.spectral import fourier_wavenumbers, linear_multiplier
from nedsym.discretize.stencils import (
    central_stencil,
    fd_weights,
    fd_weights_exact,
    mixed_stencil,
    stencil_radius,
)

__all__ = [
    "BoundaryCondition", "Dirichlet", "Natural", "Neumann", "Periodic", "resolve_bcs",
    "Grid",
    "EVEN", "ODD", "PERIODIC", "BoundaryData", "fill_halo_numpy", "halo_filler",
    "central_stencil", "fd_weights", "fd_weights_exact", "mixed_stencil", "stencil_radius",
    "fourier_wavenumbers", "linear_multiplier",
]
