r"""The grid method's pipeline as named stages a user can print, one by one.

:func:`lower` runs the same steps as ``flow.discretize(grid, backend=...)`` up to, but not
including, compiling: the continuous flow, the flow lowered to stencils at a generic grid
point, the kernel IRs (the right-hand side and the discrete energy), and their generated
source for a backend. Nothing is compiled or written to the cache.

Example
-------
>>> import nedsym as ns
>>> E = ns.Energy.parse("eps^2/2*|grad(u)|^2 + (u^2-1)^2/4", coords="x", fields="u",
...                     params={"eps": 0.1})
>>> st = lower(ns.GradientFlow(E), ns.Grid((32,), [(0, 1)]), backend="numba")
>>> list(st.kernels), st.halo
(['rhs', 'energy'], 1)
>>> "@njit" in st.sources["rhs"] and "prange" in st.sources["energy"]
True
>>> print(st.lowered.rhs["u"])      # parameters become kernel scalars _P<k>_ (here eps)
_P0_**2*(u[i + 1] + u[i - 1] - 2*u[i])/h0**2 - u[i]**3 + u[i]
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nedsym.codegen.ir import KernelIR, build_map_kernel, build_reduce_kernel
from nedsym.codegen.targets import get_target
from nedsym.discretize.grid import Grid
from nedsym.discretize.lower import LoweredFlow, lower_flow
from nedsym.errors import DiscretizationError

__all__ = ["Stages", "kernel_irs", "lower"]


@dataclass
class Stages:
    """What each stage of the grid pipeline produced (see :func:`lower`).

    flow: the continuous gradient flow (energy, variational derivatives, metric);
    lowered: the :class:`~nedsym.discretize.lower.LoweredFlow` (stencil expressions at a
    generic point); kernels: ``{"rhs": KernelIR, "energy": KernelIR}``; sources: the
    generated module source of each kernel for ``backend``.
    """

    flow: object
    grid: Grid
    backend: str
    lowered: LoweredFlow
    kernels: dict[str, KernelIR] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def halo(self) -> int:
        return self.lowered.halo

    def __str__(self) -> str:
        parts = [f"# 1. flow\n{self.flow}",
                 "# 2. lowered (generic point)\n" + "\n".join(
                     f"d{f}/dt = {e}" for f, e in self.lowered.rhs.items())
                 + f"\nE_h density = {self.lowered.energy}"]
        for name, ir in self.kernels.items():
            parts.append(f"# 3. kernel IR {name!r}: {ir.kind}, fields {list(ir.fields)}, "
                         f"halo {ir.halo}, scalars {list(ir.scalars)}")
        for name, src in self.sources.items():
            parts.append(f"# 4. {self.backend} source of {name!r}\n{src}")
        return "\n\n".join(parts)


def kernel_irs(lowered: LoweredFlow, ndim: int) -> dict[str, KernelIR]:
    """The right-hand-side (map) and discrete-energy (reduce) kernel IRs of a lowered flow."""
    L = lowered
    return {"rhs": build_map_kernel(L.fields, L.halo, dict(L.rhs), L.scalars, ndim),
            "energy": build_reduce_kernel(L.fields, L.halo, L.energy, L.scalars, ndim)}


def lower(flow, grid: Grid, backend: str = "numpy", gradient: str = "continuous",
          accuracy: int = 2, params: dict | None = None, dtype: str = "float64") -> Stages:
    """Run the grid pipeline's stages for ``flow`` on ``grid`` without compiling.

    ``backend``: a registered target (``numpy``, ``numba``, ``numba-cuda``, ``cupy``, or one
    you registered); printing needs none of their libraries installed. The other options are
    those of ``flow.discretize``.
    """
    if not isinstance(grid, Grid):
        raise DiscretizationError(f"lower needs a nedsym Grid, got {type(grid).__name__}")
    target = get_target(backend)
    lowered = lower_flow(flow, grid.ndim, accuracy, gradient, params)
    kernels = kernel_irs(lowered, grid.ndim)
    sources = {name: target.source(ir, dtype) for name, ir in kernels.items()}
    return Stages(flow, grid, backend, lowered, kernels, sources)
