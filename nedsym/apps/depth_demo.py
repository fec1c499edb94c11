"""The ``nedsym run depth-ode`` demo: a tanh ResNet as an ODE, its costates, invariants,
the near-identity limit, and width-depth training by forward-backward sweeps."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import sympy as sp

from nedsym.depth.invariants import hamiltonian_along
from nedsym.depth.limits import near_identity_network, near_identity_ode
from nedsym.depth.ode import DepthODE, matrix, vector
from nedsym.depth.widthdepth import WidthDepthModel
from nedsym.errors import ConfigError

__all__ = ["DEFAULTS", "QUICK", "run_depth_demo"]

#: demo settings (override any of them as keyword arguments)
DEFAULTS = {"n": 4, "batch": 6, "T": 2.0, "steps": 40, "stepper": "rk4", "K": 32,
            "wd_steps": 20, "lam": 0.05, "iters": 400, "lr": 1.0, "relax": 0.1, "seed": 0}


def _tanh_resnet(n: int):
    x, W, b = vector("x", n), matrix("W", n, n), vector("b", n)
    return DepthODE(x, (W * x + b).applyfunc(sp.tanh), [W, b]), W, b


#: smaller settings for ``quick=True`` (tests, ``nedsym run depth-ode --quick``)
QUICK = {"steps": 20, "K": 16, "wd_steps": 10, "iters": 120}


def run_depth_demo(out_dir: str | Path = "nedsym-out", *, quick: bool = False,
                   progress: bool | None = None, log=print, **overrides) -> dict:
    """Run the demo; write ``depth-ode_ode.png``, ``depth-ode_training.png`` and
    ``depth-ode_summary.json`` into ``out_dir``; return the summary.

    ``overrides``: any key of :data:`DEFAULTS` (e.g. ``n=8``, ``stepper="euler"``).
    """
    import matplotlib
    if matplotlib.get_backend().lower() not in ("agg", "pdf", "svg", "ps", "cairo"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cfg = dict(DEFAULTS)
    if quick:
        cfg.update(QUICK)
    unknown = sorted(set(overrides) - set(DEFAULTS))
    if unknown:
        raise ConfigError(f"unknown depth-ode demo option(s) {unknown}; options: "
                          f"{sorted(DEFAULTS)}")
    cfg.update(overrides)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    name = "depth-ode"
    t0 = time.perf_counter()
    rng = np.random.default_rng(cfg["seed"])
    n, B, T, steps = cfg["n"], cfg["batch"], cfg["T"], cfg["steps"]

    log("== depth-ode: a tanh ResNet as an ODE in depth; width-depth model training")
    ode, W, b = _tanh_resnet(n)
    log(ode.system.pretty().splitlines()[0][:200] + " …")
    W0, b0 = rng.normal(size=(n, n)) / np.sqrt(n) * 1.5, 0.2 * rng.normal(size=n)
    theta = ode.pack({W: W0, b: b0}, steps=steps)
    x0, y = rng.normal(size=(B, n)), rng.normal(size=(B, n))
    res = ode.gradient(x0, theta, T=T, data=y, stepper=cfg["stepper"])
    d = rng.normal(size=theta.shape)
    eps = 1e-6
    fd = (ode.loss(x0, theta + eps * d, T, y, stepper=cfg["stepper"])
          - ode.loss(x0, theta - eps * d, T, y, stepper=cfg["stepper"])) / (2 * eps)
    fd_err = abs(fd - float(np.sum(res.grad * d))) / abs(fd)
    cont = ode.gradient(x0, theta, T=T, data=y, stepper=cfg["stepper"], adjoint="continuous")
    cont_err = float(np.linalg.norm(cont.grad - res.grad) / np.linalg.norm(res.grad))
    Hk = hamiltonian_along(ode, res, theta)
    h_drift = float(np.max(np.abs(Hk - Hk[0])) / np.max(np.abs(Hk[0])))
    res_e = ode.gradient(x0, theta, T=T, data=y, stepper="euler")
    Hk_e = hamiltonian_along(ode, res_e, theta)
    log(f"discrete adjoint vs finite differences: relative error {fd_err:.1e}; continuous "
        f"adjoint differs by {cont_err:.1e}; H drift {h_drift:.1e} ({cfg['stepper']})")

    # near-identity limit
    A, c = rng.normal(size=(n, n)) / 2, 0.3 * rng.normal(size=n)
    lim, As, cs = near_identity_ode(sp.tanh, n)
    ref = lim.forward(x0, lim.pack({As: A, cs: c}, steps=400), T=1.0).final
    layers = np.array([8, 16, 32, 64] if quick else [8, 16, 32, 64, 128])
    lim_err = np.array([np.abs(near_identity_network(sp.tanh, A, c, x0, 1.0, L) - ref).max()
                        for L in layers])
    lim_rate = float(np.polyfit(np.log(1.0 / layers), np.log(lim_err), 1)[0])
    log(f"near-identity limit: error {lim_err[0]:.2e} → {lim_err[-1]:.2e} over "
        f"{layers[0]}…{layers[-1]} layers, rate {lim_rate:.2f}")

    ts = np.linspace(0, T, steps + 1)
    fig, ax = plt.subplots(2, 2, figsize=(10, 7.5))
    styles = ("-", "--")            # two of the inputs: solid and dashed
    for i in range(n):              # colour: the state component i
        for s_, ls in enumerate(styles):
            lab = f"component {i}" if s_ == 0 else None
            ax[0, 0].plot(ts, res.trajectory.xs[:, i, s_], color=f"C{i}", ls=ls, lw=1,
                          label=lab)
            ax[0, 1].plot(ts, res.ps[:, i, s_], color=f"C{i}", ls=ls, lw=1, label=lab)
    ax[0, 0].set(title="hidden states $x_i(t)$ (input 1 solid, input 2 dashed)",
                 xlabel="depth t")
    ax[0, 1].set(title="costates $p_i(t) = -B\\,\\partial J/\\partial x_i$", xlabel="depth t")
    ax[0, 0].legend(fontsize="x-small", ncol=2)
    ax[0, 1].legend(fontsize="x-small", ncol=2)
    for s_ in range(min(3, Hk.shape[1])):
        ax[1, 0].plot(ts, Hk[:, s_] - Hk[0, s_], color=f"C{s_}", lw=1.5,
                      label=f"input {s_ + 1}")
        ax[1, 0].plot(ts, Hk_e[:, s_] - Hk_e[0, s_], "--", color=f"C{s_}", lw=1)
    ax[1, 0].legend(fontsize="x-small")
    ax[1, 0].set(title=f"H(t) - H(0): {cfg['stepper']} (solid), euler (dashed)",
                 xlabel="depth t")
    ax[1, 1].loglog(layers, lim_err, "o-", label=f"net → ODE (rate {lim_rate:.2f})")
    ax[1, 1].loglog(layers, lim_err[0] * layers[0] / layers, "k:", label="O(h)")
    ax[1, 1].set(title="near-identity limit, W = I + hA, σ = z + hφ", xlabel="layers T/h",
                 ylabel="max error")
    ax[1, 1].legend()
    fig.tight_layout()
    f1 = out / f"{name}_ode.png"
    fig.savefig(f1, dpi=110)
    plt.close(fig)

    # width-depth training
    m = WidthDepthModel(K=cfg["K"], T=1.0, steps=cfg["wd_steps"], lam=cfg["lam"])
    xi = np.linspace(-1, 1, 32)[:, None]
    target = np.sin(np.pi * xi[:, 0]) / 2 + xi[:, 0] ** 2 / 4
    w0, bb0 = m.init_params(scale=0.5, seed=cfg["seed"])
    show = progress if progress is not None else False
    hists = {meth: m.train(xi, target, w0, bb0, method=meth, lr=cfg["lr"], relax=cfg["relax"],
                           iters=cfg["iters"], progress=show) for meth in ("gd", "msa")}
    fig, ax = plt.subplots(1, 3, figsize=(14, 4))
    for meth, hst in hists.items():
        ax[0].semilogy(hst.loss, label=meth)
        ax[1].semilogy(np.maximum(hst.residual_w, hst.residual_b), label=meth)
    ax[0].set(title="loss J (forward-backward sweeps)", xlabel="sweep")
    ax[1].axhline(1e-4, color="k", ls=":")
    ax[1].set(title="relative stationarity residual", xlabel="sweep")
    hg = hists["gd"]
    ax[2].plot(xi[:, 0], target, "k", label="target")
    ax[2].plot(xi[:, 0], m.predict(xi, w0, bb0), "--", label="initial")
    ax[2].plot(xi[:, 0], m.predict(xi, hg.w, hg.b), label=f"trained (K={m.K})")
    ax[2].set(title="width-depth model readout", xlabel="input ξ")
    for a in ax:
        a.legend()
    fig.tight_layout()
    f2 = out / f"{name}_training.png"
    fig.savefig(f2, dpi=110)
    plt.close(fig)
    for meth, hst in hists.items():
        log(f"width-depth {meth}: J {hst.loss[0]:.4g} → {hst.loss[-1]:.4g} in {len(hst.loss) - 1}"
            f" sweeps, residual {max(hst.residual_w[-1], hst.residual_b[-1]):.1e}, "
            f"monotone {hst.monotone}")

    summary = {
        "problem": name, "n": n, "batch": B, "T": T, "steps": steps, "stepper": cfg["stepper"],
        "fd_relative_error": fd_err, "continuous_vs_discrete": cont_err,
        "hamiltonian_drift": h_drift, "near_identity_rate": lim_rate,
        "width_depth": {meth: {"loss_initial": hst.loss[0], "loss_final": hst.loss[-1],
                               "sweeps": len(hst.loss) - 1, "monotone": hst.monotone,
                               "residual": max(hst.residual_w[-1], hst.residual_b[-1]),
                               "converged": hst.converged}
                        for meth, hst in hists.items()},
        "wall_time_s": time.perf_counter() - t0,
        "figures": [f1.name, f2.name],
    }
    (out / f"{name}_summary.json").write_text(json.dumps(summary, indent=2))
    log(f"done in {summary['wall_time_s']:.1f} s; wrote {f1}, {f2}, "
        f"{out / (name + '_summary.json')}")
    return summary
