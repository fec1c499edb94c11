"""A network as an ODE in depth: declare the layer rule, get forward, adjoint and gradient.

dx/dt = tanh(W(t) x + b(t)) - x/4 (a damped tanh ResNet, one (W, b) per step) is trained by
gradient descent with the exact discrete adjoint to rotate its inputs by 90 degrees; the
script checks the gradient against finite differences, shows the costates, and the
near-identity limit of a plain feed-forward net; then it runs the same gradient under
backend="numba", where the forward pass and the adjoint are one compiled program each
(about 5 s to compile the first time, cached after). Writes depth_ode.png (about 15 s).

    python examples/depth_ode.py [out.png]
"""

from __future__ import annotations

import sys

import numpy as np
import sympy as sp

from nedsym.depth import DepthODE, matrix, vector
from nedsym.depth.limits import near_identity_network, near_identity_ode


def main(out: str = "depth_ode.png", n: int = 2, steps: int = 10, train_iters: int = 150,
         max_layers: int = 256, compiled: bool = True) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x, W, b = vector("x", n), matrix("W", n, n), vector("b", n)
    ode = DepthODE(x, (W * x + b).applyfunc(sp.tanh) - x / 4, [W, b])
    print(ode.system.pretty().splitlines()[n + 1])          # first costate equation

    rng = np.random.default_rng(0)
    x0 = rng.uniform(-1, 1, size=(64, n))
    R = np.eye(n)
    R[:2, :2] = [[0, -1], [1, 0]]
    y = x0 @ R.T                                          # targets: inputs rotated by 90°
    theta = ode.pack({W: 0.1 * rng.normal(size=(steps, n, n)), b: np.zeros((steps, n))},
                     steps=steps)

    g = ode.gradient(x0, theta, T=1.0, data=y)
    d = rng.normal(size=theta.shape)
    fd = (ode.loss(x0, theta + 1e-6 * d, data=y) - ode.loss(x0, theta - 1e-6 * d, data=y)) / 2e-6
    rel = abs(fd - np.sum(g.grad * d)) / abs(fd)
    print(f"adjoint vs finite differences: relative error {rel:.1e}")

    losses = []
    for _ in range(train_iters):
        g = ode.gradient(x0, theta, T=1.0, data=y)
        losses.append(g.loss)
        theta -= 2.0 * g.grad
    g = ode.gradient(x0, theta, T=1.0, data=y)
    print(f"loss {losses[0]:.4f} -> {g.loss:.4f} after {train_iters} gradient steps")
    if compiled:
        compare_compiled(ode, x, W, b, x0, theta, y)

    A, c = rng.normal(size=(n, n)) / 2, 0.3 * rng.normal(size=n)
    lim, As, cs = near_identity_ode(sp.tanh, n)
    ref = lim.forward(x0[:8], lim.pack({As: A, cs: c}, steps=400)).final
    layers = 2 ** np.arange(3, int(np.log2(max_layers)) + 1)
    errs = [np.abs(near_identity_network(sp.tanh, A, c, x0[:8], 1.0, L) - ref).max()
            for L in layers]

    fig, ax = plt.subplots(1, 4, figsize=(17, 4))
    xs = g.trajectory.xs
    for s in range(12):
        ax[0].plot(xs[:, 0, s], xs[:, 1, s], "-", lw=1, color=f"C{s % 10}")
        ax[0].plot(*y[s, :2], "x", color=f"C{s % 10}")
    ax[0].set(title="trained trajectories x(t) (x: targets)", aspect="equal")
    ts = np.linspace(0, 1, steps + 1)
    ax[1].plot(ts, g.ps[:, 0, :12], lw=1)
    ax[1].set(title="costates p_0(t)", xlabel="depth t")
    ax[2].semilogy(losses)
    ax[2].set(title="training loss (discrete adjoint)", xlabel="gradient step")
    ax[3].loglog(layers, errs, "o-", label="feed-forward net vs ODE")
    ax[3].loglog(layers, errs[0] * layers[0] / layers, "k:", label="O(1/layers)")
    ax[3].set(title="near-identity limit", xlabel="layers")
    ax[3].legend()
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    print(f"wrote {out}")
    return out


def compare_compiled(ode, x, W, b, x0, theta, y) -> None:
    """The same gradient with backend="numba" (one compiled program) and its time."""
    import time

    fast = DepthODE(x, (W * x + b).applyfunc(sp.tanh) - x / 4, [W, b], backend="numba")
    g_np, g_nb = ode.gradient(x0, theta, data=y), fast.gradient(x0, theta, data=y)
    times = {}
    for name, model in (("numpy", ode), ("numba", fast)):
        t0 = time.perf_counter()
        for _ in range(20):
            model.gradient(x0, theta, data=y)
        times[name] = (time.perf_counter() - t0) / 20
    diff = np.abs(g_nb.grad - g_np.grad).max() / np.abs(g_np.grad).max()
    print(f"backend numba ({fast.fused_reason}): gradient {times['numba'] * 1e3:.2f} ms vs "
          f"{times['numpy'] * 1e3:.2f} ms for numpy, same to {diff:.1e}")


if __name__ == "__main__":
    main(*sys.argv[1:2])
