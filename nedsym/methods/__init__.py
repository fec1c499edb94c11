"""Methods: the composition roots that join the pipeline's stages into a solver.

* :mod:`nedsym.methods.grid` — finite-difference grids (:class:`Simulation`: lowering,
  generated kernels, halos, the run controller).
* :mod:`nedsym.methods.stages` — :func:`lower`: the grid pipeline's stages (flow, lowered
  flow, kernel IRs, generated sources) without compiling, to print each one.
* :mod:`nedsym.methods.ned` — Neural Energy Descent (:class:`NED`: a network, sampled
  quadrature, least-squares steps, the iteration loop).

The stages below (``symbolic``, ``flows``, ``discretize``, ``codegen``, ``quadrature``,
``nn``, ``solve``) never import a method; a method may import any stage.
"""

from nedsym.methods.grid import Simulation
from nedsym.methods.ned import NED, NEDResult
from nedsym.methods.stages import Stages, lower

__all__ = ["Simulation", "NED", "NEDResult", "Stages", "lower"]
