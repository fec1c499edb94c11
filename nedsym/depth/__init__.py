"""Networks as differential equations in depth: ODE and integro-differential models.

* :class:`DepthODE`: :math:`\\dot x = F(x, \\theta, t)` declared symbolically; derived
  Hamiltonian, costate and parameter gradient; generated batch kernels; Euler/RK4 with the
  exact discrete adjoint and the continuous adjoint; invariant checks.
* :class:`WidthDepthModel`: neurons indexed by :math:`y \\in \\Omega` (continuum width),
  discretized by quadrature nodes; trained by forward-backward sweeps.
"""

from nedsym.depth.ode import DepthGradient, DepthODE, Trajectory, matrix, vector
from nedsym.depth.steppers import TABLEAUX
from nedsym.depth.widthdepth import TrainingHistory, WidthDepthGradient, WidthDepthModel

__all__ = ["DepthODE", "DepthGradient", "Trajectory", "TABLEAUX", "matrix", "vector",
           "WidthDepthModel", "WidthDepthGradient", "TrainingHistory"]
