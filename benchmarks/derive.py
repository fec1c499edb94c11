"""Derivation speed: nedsym.variational_derivative vs sympy's euler_equations.

Run:  python benchmarks/derive.py [--repeats 3] [--quick]

Both are timed in the same process on the textbook energies and on synthetic
energies of 10–80 terms; each timing is the best of ``--repeats`` runs with
sympy's cache cleared before every run (so neither side profits from the
other's cached sub-results). Ratio = nedsym time / oracle time (< 1: faster).
nedsym is timed with its default output simplification (``tidy``) and raw.
"""

from __future__ import annotations

import argparse
import random
import time

import sympy as sp
from sympy.calculus.euler import euler_equations
from sympy.core.cache import clear_cache

import nedsym as ns

x, y = ns.coords("x y")
u = ns.Field("u", (x, y))
JET = [u, u.diff(x), u.diff(y), u.diff(x, 2), u.diff(y, 2), u.diff(x, y)]


def textbook() -> dict:
    eps, lam, d, p = ns.Param("eps"), ns.Param("lam"), ns.Param("delta"), ns.Param("p")
    g2 = ns.dot(ns.grad(u), ns.grad(u))
    return {
        "dirichlet": g2 / 2,
        "poisson": g2 / 2 - sp.sin(x) * u,
        "ginzburg-landau": eps**2 / 2 * g2 + (u**2 - 1) ** 2 / 4,
        "p-laplacian": (g2 + d**2) ** (p / 2) / p,
        "minimal-surface": sp.sqrt(1 + g2),
        "total-variation": sp.sqrt(g2 + d**2) + lam / 2 * (u - sp.cos(y)) ** 2,
        "perona-malik": lam**2 / 2 * sp.log(1 + g2 / lam**2),
        "bilaplacian": ns.lap(u) ** 2 / 2,
        "swift-hohenberg": -eps / 2 * u**2 + (u + ns.lap(u)) ** 2 / 2 + u**4 / 4,
        "explicit-x": (1 + x**2) * g2 / 2 + y * u,
    }


def synthetic(terms: int, seed: int) -> sp.Expr:
    """A sum of ``terms`` random monomials/transcendental terms in the 2-D jet."""
    rng = random.Random(seed)
    out = []
    for _ in range(terms):
        mono = sp.Integer(rng.randint(1, 9)) * sp.Mul(*[j ** rng.randint(0, 2)
                                                        for j in rng.sample(JET, 3)])
        if rng.random() < 0.25:
            mono *= rng.choice([sp.sin, sp.cos, sp.exp])(rng.choice(JET[:3]))
        out.append(mono)
    return sp.Add(*out)


def best_time(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        clear_cache()
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="fewer synthetic sizes")
    args = ap.parse_args(argv)
    cases = dict(textbook())
    for n in ([10, 40] if args.quick else [10, 20, 40, 80]):
        cases[f"synthetic-{n}"] = synthetic(n, seed=n)
    print(f"{'energy':20s} {'oracle [ms]':>12s} {'nedsym [ms]':>12s} {'ratio':>7s} "
          f"{'raw [ms]':>10s} {'ratio':>7s}")
    ratios, raw_ratios = [], []
    for name, dens in cases.items():
        t_or = best_time(lambda d=dens: euler_equations(d, [u], (x, y)), args.repeats)
        t_ns = best_time(lambda d=dens: ns.variational_derivative(d, u), args.repeats)
        t_raw = best_time(lambda d=dens: ns.variational_derivative(d, u, simplify=False),
                          args.repeats)
        ratios.append(t_ns / t_or)
        raw_ratios.append(t_raw / t_or)
        print(f"{name:20s} {1e3 * t_or:12.2f} {1e3 * t_ns:12.2f} {t_ns / t_or:7.2f} "
              f"{1e3 * t_raw:10.2f} {t_raw / t_or:7.2f}")
    print(f"\nworst ratio (tidy): {max(ratios):.2f}; worst ratio (raw): {max(raw_ratios):.2f}; "
          "ratio < 1 means nedsym is faster")


if __name__ == "__main__":
    main()
