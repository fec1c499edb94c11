"""Neural Energy Descent for a nonlinear Poisson problem on the unit disk, with a new layer.

    -Δu + u³ = f  in the unit disk,   u = 0 on the circle,   exact u = cos(π r²/2)

written as the energy ∫ |∇u|²/2 + u⁴/4 - f u dx + 25 ∮ u² ds. The network uses a layer
declared by its symbolic rule, a residual tanh block with a learnable per-neuron gate:
a_out = x + sigmoid(g)·tanh(z), z = W a + b. nedsym derives what it needs from the formulas
(δE/δu, its linearization, the layer's partials), trains with linearly implicit NED steps and
compares with Adam on the same sampled energy. Writes ned_nonlinear_poisson.png.

    python examples/ned_nonlinear_poisson.py [--steps 30] [--out .]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import sympy as sp

import nedsym as ns
from nedsym.nn import Dense, Layer, Linear, Network
from nedsym.plot import plot_errors


def build(width: int = 16, points: int = 400, seed: int = 0) -> ns.NED:
    x, y = ns.coords("x y")
    u = ns.Field("u", (x, y))
    exact = sp.cos(sp.pi * (x ** 2 + y ** 2) / 2)
    f = sp.simplify(-(sp.diff(exact, x, 2) + sp.diff(exact, y, 2)) + exact ** 3)
    E = ns.Energy(ns.grad(u).dot(ns.grad(u)) / 2 + u ** 4 / 4 - f * u, fields=[u],
                  boundary=25 * u ** 2)
    a, z, g = sp.symbols("a z g")
    gated = Layer.from_rule(a + sp.tanh(z) / (1 + sp.exp(-g)), x=a, z=z,
                            params={g: 0.0}, n_in=width, n_out=width)
    net = Network([Dense(2, width, "tanh"), gated, Linear(width, 1)], seed=seed)
    return ns.NED(E, net, ns.Ball((0, 0), 1), points=points, boundary_points=points // 4,
                  seed=seed,
                  exact=exact)


def main(steps: int = 30, baseline_steps: int = 1000, out: str = ".", dpi: int = 100,
         width: int = 16, points: int = 400) -> dict:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ned = build(width, points)
    res = ned.run(steps)
    adam = ned.baseline("adam", baseline_steps, lr=1e-2, error_every=10)
    t = np.linspace(-1, 1, 121)
    X, Y = np.meshgrid(t, t, indexing="ij")
    pts = np.stack([X.ravel(), Y.ravel()], axis=1)
    inside = (pts ** 2).sum(1) <= 1
    err = np.full(len(pts), np.nan)
    ex = np.cos(np.pi * (pts[inside] ** 2).sum(1) / 2)
    err[inside] = np.abs(ned.evaluate(pts[inside]) - ex)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    im = a1.pcolormesh(X, Y, np.log10(err.reshape(X.shape) + 1e-16), shading="auto")
    fig.colorbar(im, ax=a1, label="log10 |u - u*|")
    a1.set(aspect="equal", title=f"NED error after {res.steps} steps")
    plot_errors({"NED": res, "Adam (lr 1e-2)": adam}, ax=a2, title="-Δu + u³ = f on the disk")
    path = Path(out) / "ned_nonlinear_poisson.png"
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    print(f"NED: error {res.error[-1]:.2e} in {res.wall[-1]:.1f} s; "
          f"Adam: {np.nanmin(adam.error):.2e} in {adam.wall[-1]:.1f} s; wrote {path}")
    return {"figure": str(path), "ned": res, "adam": adam}


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--out", default=".")
    a = ap.parse_args()
    main(steps=a.steps, out=a.out)
