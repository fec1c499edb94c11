"""Sampled quadrature: error versus number of points on a disk and a 5-D cube.

Integrates smooth functions with known integrals by Monte Carlo, scrambled Sobol' and
tensor Gauss-Legendre (polar map on the disk) and plots error against n. Writes
``quadrature_convergence_example.png`` (or the path given) and runs in a few seconds.

    python examples/quadrature_convergence.py [OUT.png]
"""

from __future__ import annotations

import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import sympy as sp  # noqa: E402

from nedsym.quadrature import Ball, Box, integrate  # noqa: E402


def cases():
    x, y = sp.symbols("x y")
    xs = sp.symbols("x0:5")
    # disk: int exp(-(x^2+y^2)) = pi (1 - e^{-1});  5-cube: int prod cos(x_j) = sin(1)^5
    yield "disk, exp(-r^2)", sp.exp(-(x**2) - y**2), Ball((0, 0), 1.0), np.pi * (1 - np.e**-1)
    yield "[0,1]^5, prod cos", sp.Mul(*map(sp.cos, xs)), Box([(0, 1)] * 5), np.sin(1.0) ** 5


def study(max_exp: int = 14, seeds: int = 8):
    """Errors ``{case: {rule: (ns, errors)}}``; random rules: RMS over ``seeds`` seeds."""
    out = {}
    for name, f, domain, exact in cases():
        res = {}
        for rule in ("mc", "sobol"):
            ns = [2**e for e in range(4, max_exp + 1)]
            errs = [
                np.sqrt(
                    np.mean(
                        [
                            (integrate(f, domain, rule, n, seed=s, repeats=1).value - exact) ** 2
                            for s in range(seeds)
                        ]
                    )
                )
                for n in ns
            ]
            res[rule] = (ns, errs)
        k = domain.product_dim
        ms = [m for m in range(1, 64) if m**k <= 2**max_exp]
        res["gauss"] = (
            [m**k for m in ms],
            [abs(integrate(f, domain, "gauss", m**k).value - exact) for m in ms],
        )
        out[name] = res
    return out


def main(out: str = "quadrature_convergence_example.png", max_exp: int = 14, seeds: int = 8) -> str:
    results = study(max_exp, seeds)
    fig, axes = plt.subplots(1, len(results), figsize=(9, 3.6), sharey=True)
    for ax, (name, res) in zip(axes, results.items(), strict=True):
        for rule, (ns, errs) in res.items():
            ax.loglog(ns, np.maximum(errs, 1e-16), "o-", ms=3, label=rule)
        ax.set_title(name)
        ax.set_xlabel("points n")
        ax.legend()
    axes[0].set_ylabel("|error|")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


if __name__ == "__main__":
    print("wrote", main(*sys.argv[1:2]))
