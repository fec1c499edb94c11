"""Total-variation denoising: the L² gradient flow of a smoothed TV energy.

    E[u] = ∫ sqrt(|∇u|² + δ²) dx,    ∂t u = div(∇u / sqrt(|∇u|² + δ²))

on a 96×96 image (one cell per pixel) with the energy's natural boundary condition
(∇u·n = 0). The initial state is a disk (a smoothed step, values ±1) plus Gaussian noise of
standard deviation 0.4; the flow removes the noise faster than it rounds the edge, because
the diffusivity 1/sqrt(|∇u|² + δ²) is small across the edge. Classical RK4, at the stable
step of the stiffest state (a flat image, diffusivity 1/δ) rather than of the noisy start.
Writes ``tv_denoise.png`` (clean, noisy, denoised, energy); the built-in demo is
``nedsym run tv-denoise``.

    python examples/tv_denoise.py [--n 96] [--t-end 4] [--out .] [--backend numba]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import sympy as sp
from matplotlib.figure import Figure

import nedsym as ns
from nedsym.plot import plot_energy, plot_field


def main(n: int = 96, t_end: float = 4.0, out: str = ".", backend: str = "numba",
         dpi: int = 100) -> dict:
    """Run the example; return the figure path, Result, Simulation and the RMS errors."""
    E = ns.Energy.parse("sqrt(|grad(u)|^2 + delta^2)", coords="x y", fields="u",
                        params={"delta": 0.2})
    flow = ns.GradientFlow(E, metric="L2")
    print(flow.pretty())
    grid = ns.Grid((n, n), [(0, n), (0, n)], bc="natural")
    sim = flow.discretize(grid, backend=backend)
    x, y = flow.coords
    c, radius = n / 2, 5 * n / 24
    clean = sim.initial(sp.tanh((radius - sp.sqrt((x - c) ** 2 + (y - c) ** 2)) / 2))
    noisy = clean + 0.4 * np.random.default_rng(0).standard_normal(clean.shape)
    # The flow is stiffest where the image is flat (diffusivity 1/delta), not at the noisy
    # start, so the RK4 step comes from the stable dt of a constant image.
    dt = 1.4 * sim.stable_dt(0.0, sim.initial("constant"))
    res = sim.solve(noisy, t_end=t_end, stepper="rk4", dt=dt, snapshot_times=[t_end],
                    progress=False)
    rms = {"noisy": float(np.sqrt(np.mean((noisy - clean) ** 2))),
           "denoised": float(np.sqrt(np.mean((res.final - clean) ** 2)))}
    print(f"energy {res.energy[0]:.1f} -> {res.energy[-1]:.1f} in "
          f"{res.diagnostics['steps']} steps ({res.diagnostics['wall_time']:.2f} s); "
          f"RMS error vs clean {rms['noisy']:.3f} -> {rms['denoised']:.3f}")

    fig = Figure(figsize=(13.0, 3.0), layout="constrained")
    axes = fig.subplots(1, 4)
    for ax, state, title in zip(axes[:3], (clean, noisy, res.final),
                                ("clean", "noisy (t = 0)", f"denoised (t = {t_end:.3g})"),
                                strict=True):
        plot_field(state, grid, ax=ax, vmin=-1.5, vmax=1.5, cmap="gray", title=title)
        ax.set_aspect("equal")
    plot_energy(res, ax=axes[3])
    path = Path(out) / "tv_denoise.png"
    fig.savefig(path, dpi=dpi)
    return {"figure": path, "result": res, "sim": sim, "rms": rms}


def _cli(doc: str, **defaults) -> dict:
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    for name, value in defaults.items():
        p.add_argument("--" + name.replace("_", "-"), type=type(value), default=value)
    return vars(p.parse_args())


if __name__ == "__main__":
    main(**_cli(__doc__, n=96, t_end=4.0, out=".", backend="numba"))
