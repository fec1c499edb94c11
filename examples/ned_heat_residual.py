"""Neural Energy Descent on a PDE that is no energy's Euler–Lagrange equation: heat in space-time.

    u_t = u_xx / 4  on (0, 1)² in (t, x),   u(0, x) = sin πx,   u(t, 0) = u(t, 1) = 0,
    exact u = exp(−π² t / 4) sin πx

given as residuals (``ns.Residuals``) with an initial condition on the face ``t=0`` and the
walls ``x=0``, ``x=1``. NED takes Gauss–Newton steps on the weighted mean square of the
residuals, globalized by a trust region (Levenberg–Marquardt; ``--linesearch grid`` for the
grid line search, which is slower on this problem: see docs/ned.md). Its rows ∂θR come from
the derived linearization, and the network's jet carries only u, ∇u and the Hessian's
diagonal (the residual reads u_t and u_xx). L-BFGS minimizes the same loss from the same start for
comparison. Writes ned_heat_residual.png: the error over (t, x) and the error against wall
time.

    python examples/ned_heat_residual.py [--steps 300] [--width 32] [--linesearch trust]
                                         [--out .]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import sympy as sp

import nedsym as ns
from nedsym.nn import MLP
from nedsym.plot import plot_errors


def build(width: int = 32, points: int = 1024, seed: int = 0,
          linesearch: str = "trust") -> ns.NED:
    t, x = ns.coords("t x")
    u = ns.Field("u", (t, x))
    exact = sp.exp(-sp.pi ** 2 * t / 4) * sp.sin(sp.pi * x)
    heat = ns.Residuals(u.diff(t) - u.diff(x, 2) / 4, fields=[u],
                        conditions={"t=0": (u - sp.sin(sp.pi * x), 10.0),
                                    ("x=0", "x=1"): (u, 10.0)})
    return ns.NED(heat, MLP([2, width, 1], seed=seed), ns.Box([(0, 1), (0, 1)]),
                  points=points, boundary_points=max(16, points // 8), resample=False,
                  seed=seed, ridge=1e-10, exact=exact, linesearch=linesearch)


def main(steps: int = 300, baseline_steps: int = 1000, out: str = ".", dpi: int = 100,
         width: int = 32, points: int = 1024, linesearch: str = "trust") -> dict:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ned = build(width, points, linesearch=linesearch)
    res = ned.run(steps)
    lbfgs = ned.baseline("lbfgs", baseline_steps, error_every=10)
    s = np.linspace(0, 1, 101)
    T, X = np.meshgrid(s, s, indexing="ij")
    pts = np.stack([T.ravel(), X.ravel()], axis=1)
    exact = np.exp(-np.pi ** 2 * pts[:, 0] / 4) * np.sin(np.pi * pts[:, 1])
    err = np.abs(ned.evaluate(pts) - exact).reshape(T.shape)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    im = a1.pcolormesh(X, T, np.log10(err + 1e-16), shading="auto")
    fig.colorbar(im, ax=a1, label="log10 |u - u*|")
    a1.set(xlabel="x", ylabel="t", title=f"NED error after {res.steps} steps")
    plot_errors({"NED (Gauss–Newton)": res, "L-BFGS, same loss": lbfgs}, ax=a2,
                title="u_t = u_xx/4, space-time")
    path = Path(out) / "ned_heat_residual.png"
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    print(f"NED: error {res.error[-1]:.2e} in {res.wall[-1]:.1f} s; "
          f"L-BFGS: {np.nanmin(lbfgs.error):.2e} in {lbfgs.wall[-1]:.1f} s; wrote {path}")
    return {"figure": str(path), "ned": res, "lbfgs": lbfgs}


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--linesearch", choices=["trust", "grid"], default="trust")
    ap.add_argument("--out", default=".")
    a = ap.parse_args()
    if a.steps < 1 or a.width < 1:
        ap.error("--steps and --width must be positive")
    main(steps=a.steps, width=a.width, out=a.out, linesearch=a.linesearch)
