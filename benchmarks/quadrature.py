"""Benchmark of nedsym.quadrature: error versus n, and compiled-integrand throughput.

Integrand: f(x) = prod_j cos(x_j) on [0, 1]^d, exact integral sin(1)^d, in d = 2, 5, 10.
For MC, scrambled Sobol' and scrambled Halton the error is the root-mean-square error over
independent randomizations; for tensor Gauss-Legendre the absolute error. Slopes are
least-squares fits of log(error) against log(n). Throughput compares the compiled numba
reduction with ``sympy.lambdify`` + numpy (evaluate, then weighted sum) on the same points.

Run on demand:  python benchmarks/quadrature.py [--quick] [--png PATH]
"""

from __future__ import annotations

import argparse
import platform
import time

import numba
import numpy as np
import sympy as sp

from nedsym.quadrature import Box, integrate
from nedsym.quadrature.integrand import compile_integrand


def product_of_cosines(d: int) -> tuple[sp.Expr, tuple[sp.Symbol, ...], float]:
    xs = sp.symbols(f"x0:{d}")
    return sp.Mul(*[sp.cos(s) for s in xs]), xs, float(np.sin(1.0) ** d)


def convergence(d: int, exponents: range, reps: int, max_gauss: int) -> dict:
    expr, xs, exact = product_of_cosines(d)
    box = Box([(0.0, 1.0)] * d)
    out: dict[str, tuple[list[int], list[float]]] = {}
    for rule in ("mc", "sobol", "halton"):
        ns, errs = [], []
        for e in exponents:
            n = 2**e
            vals = [
                integrate(expr, box, rule, n, seed=1000 * e + r, repeats=1, coords=xs).value
                for r in range(reps)
            ]
            ns.append(n)
            errs.append(float(np.sqrt(np.mean((np.array(vals) - exact) ** 2))))
        out[rule] = (ns, errs)
    ns, errs = [], []
    m = 1
    while m**d <= max_gauss:
        ns.append(m**d)
        errs.append(abs(integrate(expr, box, "gauss", m**d, coords=xs).value - exact))
        m += 1
    out["gauss"] = (ns, errs)
    return out


def slope(ns, errs) -> float:
    ns, errs = np.asarray(ns, float), np.asarray(errs, float)
    keep = errs > 1e-14  # ignore errors at round-off level
    if keep.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(ns[keep]), np.log(errs[keep]), 1)[0])


def energy_like(d: int) -> tuple[sp.Expr, tuple[sp.Symbol, ...]]:
    """A Ginzburg-Landau-like polynomial density with many shared subexpressions."""
    xs = sp.symbols(f"x0:{d}")
    r2 = sum(s**2 for s in xs)
    coupling = sum(a * b for a, b in zip(xs[:-1], xs[1:], strict=True))
    return (r2 - 1) ** 2 / 4 + sp.Rational(1, 100) * coupling, xs


def throughput(d: int, n: int, reps: int, kind: str = "cos") -> dict:
    expr, xs = product_of_cosines(d)[:2] if kind == "cos" else energy_like(d)
    pts = np.random.default_rng(0).random((n, d))
    w = np.full(n, 1.0 / n)
    t = time.perf_counter()
    kernel = compile_integrand(expr, xs)
    kernel.moments(pts[:10], w[:10])
    compile_s = time.perf_counter() - t
    t = time.perf_counter()
    for _ in range(reps):
        kernel.moments(pts, w)
    compiled = n * reps / (time.perf_counter() - t)
    t = time.perf_counter()
    f = sp.lambdify(xs, expr, "numpy")
    lambdify_s = time.perf_counter() - t
    cols = [pts[:, j] for j in range(d)]
    t = time.perf_counter()
    for _ in range(reps):
        float(w @ f(*cols))
    numpy_pps = n * reps / (time.perf_counter() - t)
    return {
        "compiled": compiled,
        "numpy": numpy_pps,
        "compile_s": compile_s,
        "lambdify_s": lambdify_s,
    }


def plot(results: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(4.2 * len(results), 3.6), sharey=True)
    for ax, (d, res) in zip(np.atleast_1d(axes), results.items(), strict=True):
        for rule, (ns, errs) in res.items():
            errs = np.maximum(errs, 1e-16)
            label = rule if rule == "gauss" else f"{rule} (slope {slope(ns, errs):+.2f})"
            ax.loglog(ns, errs, "o-", ms=3, label=label)
        n = np.array(res["mc"][0], float)
        ax.loglog(n, res["mc"][1][0] * (n / n[0]) ** -0.5, "k:", lw=0.8, label="n^-1/2")
        ax.loglog(n, res["sobol"][1][0] * (n / n[0]) ** -1.0, "k--", lw=0.8, label="n^-1")
        ax.set_title(f"prod cos(x_j) on [0,1]^{d}")
        ax.set_xlabel("points n")
        ax.legend(fontsize=7)
    np.atleast_1d(axes)[0].set_ylabel("error (RMS over seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes (about 10 s)")
    ap.add_argument("--png", default="docs/_static/quadrature_convergence.png")
    args = ap.parse_args()
    exps = range(6, 12) if args.quick else range(6, 17)
    reps = 4 if args.quick else 16
    gmax = 2**12 if args.quick else 2**17
    print(
        f"machine: {platform.machine()}, {platform.processor() or '?'}, "
        f"python {platform.python_version()}"
    )
    results = {d: convergence(d, exps, reps, gmax) for d in (2, 5, 10)}
    print(
        f"\nerror vs n: log-log slopes (n = 2^{exps.start}..2^{exps.stop - 1}, "
        f"RMS over {reps} seeds)"
    )
    print("(gauss converges spectrally; its column is the first n with error < 1e-10)")
    print(
        f"{'d':>3} {'mc':>8} {'sobol':>8} {'halton':>8} {'gauss n':>8}   "
        f"errors at n=2^{exps.stop - 1}: mc / sobol / halton"
    )
    for d, res in results.items():
        s = [slope(*res[r]) for r in ("mc", "sobol", "halton")]
        reached = [n for n, e in zip(*res["gauss"], strict=True) if e < 1e-10]
        last = [res[r][1][-1] for r in ("mc", "sobol", "halton")]
        print(
            f"{d:>3} "
            + " ".join(f"{v:8.2f}" for v in s)
            + f" {reached[0] if reached else '>' + str(res['gauss'][0][-1]):>8}   "
            + " / ".join(f"{v:.2e}" for v in last)
        )
    for d, res in results.items():
        ns, errs = res["gauss"]
        pairs = list(zip(ns, errs, strict=True))[-4:]
        print(f"gauss d={d}: " + ", ".join(f"n={n}: {e:.1e}" for n, e in pairs))
    plot(results, args.png)
    print(f"\nplot written to {args.png}")
    n = 200_000 if args.quick else 2_000_000
    print(
        f"\nthroughput of integrand + weighted sum, n = {n} points "
        f"(compiled: numba parallel, {numba.get_num_threads()} threads)"
    )
    print(
        f"{'integrand':>10} {'d':>3} {'compiled pts/s':>15} {'lambdify pts/s':>15} "
        f"{'ratio':>7} {'compile s':>10}"
    )
    for kind in ("cos", "energy"):
        for d in (2, 5, 10):
            t = throughput(d, n, 3 if args.quick else 10, kind)
            print(
                f"{kind:>10} {d:>3} {t['compiled']:15.3e} {t['numpy']:15.3e} "
                f"{t['compiled'] / t['numpy']:7.1f} {t['compile_s']:10.2f}"
            )


if __name__ == "__main__":
    main()
