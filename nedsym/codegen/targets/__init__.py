"""One :class:`Target` per kernel backend, and the registry nedsym reads.

``numpy`` (the reference), ``numba`` (parallel CPU, compiled time segments), ``numba-cuda``
and ``cupy`` (GPU). Importing this package imports none of numba, numba-cuda or cupy: each
target imports its library when it is checked or used.
"""

# registration order is the preference order on a CPU: numpy, numba, numba-cuda, cupy
from nedsym.codegen.targets.base import TARGETS, Target, get_target, register_target  # noqa: I001
from nedsym.codegen.targets.numpy import NumpyTarget
from nedsym.codegen.targets.numba import NumbaTarget
from nedsym.codegen.targets.numba_cuda import NumbaCudaTarget
from nedsym.codegen.targets.cupy import CupyTarget

__all__ = ["TARGETS", "Target", "get_target", "register_target", "NumpyTarget",
           "NumbaTarget", "NumbaCudaTarget", "CupyTarget"]
