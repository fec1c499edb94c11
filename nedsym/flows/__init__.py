"""Gradient flows of energies in a chosen metric (L², H⁻¹, Wasserstein, conserved L²)."""

from nedsym.flows.gradient import GradientFlow
from nedsym.flows.hamilton_jacobi import HamiltonJacobi
from nedsym.flows.hamiltonian import HamiltonianSystem, hamiltonian_system
from nedsym.flows.metrics import L2, ConservedL2, Hminus1, Metric, Wasserstein, resolve_metric

__all__ = ["GradientFlow", "Metric", "L2", "Hminus1", "Wasserstein", "ConservedL2",
           "resolve_metric", "HamiltonianSystem", "hamiltonian_system",
           "HamiltonJacobi"]
