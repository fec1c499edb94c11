"""Deep relaxation on scikit-learn's bundled digits: SGD, Nesterov, Entropy-SGD, HJ-prox.

An MLP [64, 32, 10] (tanh, nedsym.nn) with softmax cross-entropy and minibatches of 32 is
trained by each optimizer for the same number of *effective epochs* (gradient evaluations
/ batches per epoch: Entropy-SGD with L inner steps takes 1/L as many outer steps, HJ-prox
with K fixed-point iterations 1/K). Each method's hyper-parameters are picked from a small
grid on a validation split (seed 0); then test errors are reported over ``--seeds`` splits
and initializations (mean ± std), with the training loss and wall time per run.

    python benchmarks/relax_digits.py [--epochs 30] [--seeds 5]

Needs scikit-learn (the ``relax`` extra) for the data; without it a synthetic dataset is
used and the table says so.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from nedsym.relax import SGD, EntropySGD, HJProx, Nesterov
from nedsym.relax.classify import classifier_objective, synthetic_blobs

GRIDS = {
    "SGD": [SGD(lr=lr) for lr in (0.1, 0.3, 1.0)],
    "Nesterov": [Nesterov(lr=lr) for lr in (0.01, 0.03, 0.1)],
    "Entropy-SGD": [EntropySGD(lr=lr, gamma=g, beta=1e4, inner_steps=L, inner_lr=il,
                               alpha=0.75, momentum=m)
                    for lr, g, il, L, m in [(0.3, 1.0, 1.0, 5, 0.9), (0.5, 1.0, 1.0, 5, 0.5),
                                            (1.0, 3.0, 1.0, 10, 0.9), (0.3, 0.3, 0.3, 5, 0.9)]],
    "HJ-prox": [HJProx(lr=lr, t=t, iterations=K, damping=th)
                for lr, t, K, th in [(1.0, 0.1, 3, 0.5), (1.0, 0.3, 2, 0.7),
                                     (0.3, 0.3, 3, 0.5)]],
}


def load_data():
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        X, y = synthetic_blobs(1500, dim=16, classes=10, seed=0)
        return X / np.abs(X).max(), y, "synthetic blobs (scikit-learn not installed)"
    d = load_digits()
    return d.data / 16.0, d.target, "scikit-learn load_digits (1797 images 8x8, 10 classes)"


def split(n: int, seed: int, test: float = 0.3):
    perm = np.random.default_rng(seed).permutation(n)
    k = int(round(test * n))
    return perm[k:], perm[:k]


def describe(opt) -> str:
    keys = {"SGD": ("lr",), "Nesterov": ("lr", "momentum"),
            "Entropy-SGD": ("lr", "gamma", "inner_lr", "inner_steps", "momentum"),
            "HJ-prox": ("lr", "t", "iterations", "damping")}[opt.name]
    return ", ".join(f"{k}={getattr(opt, k):g}" for k in keys)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=float, default=30)
    ap.add_argument("--seeds", type=int, default=5)
    args = ap.parse_args(argv)
    X, y, what = load_data()
    print(f"data: {what}; MLP [{X.shape[1]}, 32, 10] tanh; batch 32; "
          f"{args.epochs:g} effective epochs per run")

    # 1. hyper-parameters on a validation split of seed 0's training set
    tr, _ = split(len(y), 0)
    fit, val = tr[: int(0.8 * len(tr))], tr[int(0.8 * len(tr)):]
    clf = classifier_objective(X[fit], y[fit], seed=0)
    chosen = {}
    for name, grid in GRIDS.items():
        scores = []
        for opt in grid:
            r = opt.run(clf.objective, clf.theta0, epochs=args.epochs, seed=0,
                        record_trajectory=False, progress=False)
            err = clf.error(X[val], y[val], r.x) if np.isfinite(r.losses[-1]) else 1.0
            scores.append(err)
            print(f"  select {name:12s} {describe(opt):60s} validation error {err:.4f}")
        chosen[name] = grid[int(np.argmin(scores))]

    # 2. test errors over seeds (split + initialization + minibatches)
    rows = {name: [] for name in chosen}
    for s in range(1, args.seeds + 1):
        tr, te = split(len(y), s)
        clf = classifier_objective(X[tr], y[tr], seed=s)
        for name, opt in chosen.items():
            t0 = time.perf_counter()
            r = opt.run(clf.objective, clf.theta0, epochs=args.epochs, seed=s,
                        record_trajectory=False, progress=False)
            rows[name].append((clf.error(X[te], y[te], r.x), r.losses[-1], r.grad_evals,
                               r.steps, time.perf_counter() - t0))

    print(f"\ntest error over {args.seeds} seeds, equal budget of {args.epochs:g} effective "
          "epochs")
    print("| method | hyper-parameters | test error (mean ± std) | train loss | "
          "gradient evals | outer steps | s/run |")
    print("|---|---|---|---|---|---|---|")
    for name, vals in rows.items():
        a = np.array(vals)
        print(f"| {name} | {describe(chosen[name])} | {a[:, 0].mean():.4f} ± "
              f"{a[:, 0].std(ddof=1) if len(a) > 1 else 0:.4f} | {a[:, 1].mean():.4f} | "
              f"{int(a[0, 2])} | {int(a[0, 3])} | {a[:, 4].mean():.2f} |")


if __name__ == "__main__":
    main()
