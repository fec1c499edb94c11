"""Deep relaxation, measured fairly: SGD, Nesterov, Entropy-SGD and HJ on bundled digits.

Two proxies on scikit-learn's ``load_digits`` (1797 images 8x8, 10 classes, no download):

  mlp      MLP [64, 32, 10] tanh (nedsym.nn), minibatches of 32
  convnet  LeNet-like: 3x3 conv (8 filters) -> tanh -> 2x2 average pool -> dense 32 -> 10,
           minibatches of 32 with random shifts of up to one pixel (nedsym.relax.convnet)

Protocol (the same for every method):

* **Equal tuning budget**: every method has exactly ``len(grid) = 4`` configurations
  (``GRIDS``); each is trained on the training part of two *tuning* splits (seeds 100, 101)
  and scored on a held-out validation part of it; the configuration with the lowest mean
  validation error is kept. Test seeds are never used for tuning.
* **Equal work**: every run spends the same number of effective epochs (gradient evaluations
  / batches per epoch; Entropy-SGD and HJ with L inner steps take 1/L as many outer steps).
* **Test**: 10 test seeds (split, initialization and minibatches), test error recorded every
  ``--every`` effective epochs: a curve, mean with a 95 % t-interval.
* **Landscape**: at every final point, the top Hessian eigenvalues of the full training
  loss (Lanczos on finite-difference Hessian-vector products of the generated gradient)
  and a local-entropy gap F(x) - f(x), F = -(1/b) log E exp(-b f(x + s xi)) (s = 0.05,
  b = 20, 64 Gaussian samples): smaller means a wider minimum.

    python benchmarks/relax_digits.py [--model mlp|convnet|both] [--epochs 30]
        [--test-seeds 10] [--every 2] [--figure docs/_static/relax_digits.png]

Needs scikit-learn (the ``relax`` extra).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from scipy.special import logsumexp
from scipy.stats import t as student_t

from nedsym.relax import SGD, EntropySGD, HJProx, Nesterov, hessian_top_eigenvalues
from nedsym.relax.classify import classifier_objective
from nedsym.relax.convnet import convnet_objective

TUNE_SEEDS = (100, 101)

GRIDS = {
    "SGD": [SGD(lr=lr) for lr in (0.1, 0.3, 1.0, 3.0)],
    "Nesterov": [Nesterov(lr=lr) for lr in (0.01, 0.03, 0.1, 0.3)],
    # the authors' recipe first, then three variants of their algorithm
    "Entropy-SGD": [EntropySGD.preset("chaudhari2017"),
                    EntropySGD.preset("chaudhari2017", lr=1.0),
                    EntropySGD.preset("chaudhari2017", L=5, lr=1.0),
                    EntropySGD.preset("chaudhari2017", L=5, lr=0.3, inner_lr=0.3)],
    # the authors' HJ (their ESGD loop without averaging), and nedsym's HJ-prox
    "HJ": [HJProx.preset("chaudhari2017"),
           HJProx.preset("chaudhari2017", lr=1.0),
           HJProx.preset("chaudhari2017", L=5, lr=1.0),
           HJProx(lr=1.0, t=0.1, iterations=3, damping=0.5)],
}


def load_data():
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.data / 16.0, d.target


def split(n: int, seed: int, test: float = 0.3):
    perm = np.random.default_rng(seed).permutation(n)
    k = int(round(test * n))
    return perm[k:], perm[:k]


def build(model: str, X, y, seed: int):
    if model == "mlp":
        return classifier_objective(X, y, hidden=(32,), batch=32, seed=seed)
    return convnet_objective(X, y, channels=8, hidden=32, batch=32, shift=1, seed=seed)


def describe(opt) -> str:
    keys = [k for k in ("lr", "momentum", "L", "g0", "g1", "eps", "inner_lr", "beta1", "t",
                        "iterations", "damping") if hasattr(opt, k)]
    return f"{opt.name}: " + ", ".join(f"{k}={getattr(opt, k):g}" for k in keys)


def run(opt, clf, epochs, seed, Xe=None, ye=None, every=None):
    """Train; return the final x and, with test data, the error every ``every`` epochs."""
    curve = []
    per = clf.objective.batches_per_epoch
    state = {"next": every}

    def cb(k, x):
        ep = (k + 1) * opt.evals_per_step / per
        while every is not None and ep + 1e-9 >= state["next"]:
            curve.append((state["next"], clf.error(Xe, ye, x)))
            state["next"] += every

    r = opt.run(clf.objective, clf.theta0, epochs=epochs, seed=seed, record_trajectory=False,
                progress=False, callback=cb if every else None)
    return r, curve


def local_entropy_gap(loss, x, s=0.05, b=20.0, n=64, seed=0) -> float:
    rng = np.random.default_rng(seed)
    vals = np.array([loss(x + s * rng.standard_normal(x.size)) for _ in range(n)])
    F = -(logsumexp(-b * vals) - np.log(n)) / b
    return float(F - loss(x))


def ci95(a) -> float:
    a = np.asarray(a, dtype=float)
    return float(student_t.ppf(0.975, len(a) - 1) * a.std(ddof=1) / np.sqrt(len(a))) \
        if len(a) > 1 else 0.0


def benchmark(model: str, epochs: float, test_seeds: int, every: float, eigs: int) -> dict:
    X, y = load_data()
    print(f"\n=== {model}: digits, {epochs:g} effective epochs per run, tuning seeds "
          f"{TUNE_SEEDS}, {test_seeds} test seeds")
    chosen = {}
    for name, grid in GRIDS.items():
        scores = []
        for opt in grid:
            errs = []
            for s in TUNE_SEEDS:
                tr, _ = split(len(y), s)
                fit, val = tr[: int(0.8 * len(tr))], tr[int(0.8 * len(tr)):]
                clf = build(model, X[fit], y[fit], s)
                try:
                    r, _ = run(opt, clf, epochs, s)
                    errs.append(clf.error(X[val], y[val], r.x))
                except Exception:            # a diverging configuration scores 1
                    errs.append(1.0)
            scores.append(float(np.mean(errs)))
            print(f"  tune {describe(opt):<88} validation {scores[-1]:.4f}")
        chosen[name] = grid[int(np.argmin(scores))]
    out = {"model": model, "epochs": epochs, "chosen": {k: describe(v) for k, v in
                                                          chosen.items()}, "methods": {}}
    for name, opt in chosen.items():
        rows = []
        for s in range(1, test_seeds + 1):
            tr, te = split(len(y), s)
            clf = build(model, X[tr], y[tr], s)
            t0 = time.perf_counter()
            r, curve = run(opt, clf, epochs, s, X[te], y[te], every)
            wall = time.perf_counter() - t0
            lam = hessian_top_eigenvalues(clf.full_grad, r.x, k=eigs, seed=s)
            gap = local_entropy_gap(clf.objective.loss, r.x, seed=s)
            rows.append({"seed": s, "test_error": clf.error(X[te], y[te], r.x),
                         "curve": curve, "train_loss": r.losses[-1], "eigs": lam.tolist(),
                         "entropy_gap": gap, "wall": wall, "steps": r.steps,
                         "grad_evals": r.grad_evals})
        out["methods"][name] = rows
    print(f"\n{model}: test error (%) at {epochs:g} effective epochs, mean ± 95 % interval "
          f"over {test_seeds} seeds; top Hessian eigenvalue; local-entropy gap")
    print("| method | chosen configuration | test error % | train loss | λ_max | "
          "entropy gap | outer steps | s/run |")
    print("|---|---|---|---|---|---|---|---|")
    for name, rows in out["methods"].items():
        err = 100 * np.array([r["test_error"] for r in rows])
        lam = np.array([r["eigs"][0] for r in rows])
        gap = np.array([r["entropy_gap"] for r in rows])
        print(f"| {name} | {out['chosen'][name]} | {err.mean():.2f} ± {ci95(err):.2f} | "
              f"{np.mean([r['train_loss'] for r in rows]):.4f} | {lam.mean():.3g} ± "
              f"{ci95(lam):.2g} | {gap.mean():.3g} | {rows[0]['steps']} | "
              f"{np.mean([r['wall'] for r in rows]):.2f} |")
    base = out["methods"]["SGD"]
    for name in ("Entropy-SGD", "HJ", "Nesterov"):
        rows = out["methods"][name]
        d = 100 * (np.array([r["test_error"] for r in rows])
                   - np.array([r["test_error"] for r in base]))
        ratio = np.array([r["eigs"][0] for r in rows]) / np.array([r["eigs"][0] for r in base])
        print(f"  {name} - SGD (paired by seed): {d.mean():+.2f} ± {ci95(d):.2f} pp; "
              f"λ_max ratio {name}/SGD: median {np.median(ratio):.3g} "
              f"(quartiles {np.quantile(ratio, 0.25):.3g}–{np.quantile(ratio, 0.75):.3g})")
    return out


def figure(results: list[dict], path: str) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 3.6 * len(results)), layout="constrained")
    axes = fig.subplots(len(results), 2, squeeze=False)
    for row, res in zip(axes, results, strict=True):
        ax_c, ax_e = row
        for i, (name, rows) in enumerate(res["methods"].items()):
            ep = np.array([c[0] for c in rows[0]["curve"]])
            errs = 100 * np.array([[c[1] for c in r["curve"]] for r in rows])
            m = errs.mean(0)
            h = np.array([ci95(errs[:, j]) for j in range(errs.shape[1])])
            ax_c.plot(ep, m, label=name, color=f"C{i}")
            ax_c.fill_between(ep, m - h, m + h, color=f"C{i}", alpha=0.2)
            lam = np.array([r["eigs"] for r in rows])
            ax_e.scatter(np.repeat(np.arange(lam.shape[1])[None], len(lam), 0).ravel()
                         + 0.15 * i - 0.2, lam.ravel(), s=10, color=f"C{i}", label=name)
        ax_c.set(xlabel="effective epochs", ylabel="test error %", ylim=(0, None),
                 title=f"{res['model']}: test error (mean, 95 % interval, 10 seeds)")
        ax_e.set(xlabel="eigenvalue index", ylabel="Hessian eigenvalue", yscale="log",
                 title=f"{res['model']}: top Hessian eigenvalues at the final points")
        ax_c.legend(fontsize=8)
        ax_e.legend(fontsize=8)
    fig.savefig(path, dpi=100)
    print(f"wrote {path}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=["mlp", "convnet", "both"], default="both")
    ap.add_argument("--epochs", type=float, default=30)
    ap.add_argument("--test-seeds", type=int, default=10)
    ap.add_argument("--every", type=float, default=2.0)
    ap.add_argument("--eigs", type=int, default=5)
    ap.add_argument("--figure", default=None, help="write the curves and spectra here")
    ap.add_argument("--json", default=None, help="write every number here")
    args = ap.parse_args(argv)
    if args.test_seeds < 2 or args.epochs <= 0 or args.every <= 0:
        ap.error("need --test-seeds >= 2, --epochs > 0 and --every > 0")
    models = ["mlp", "convnet"] if args.model == "both" else [args.model]
    results = [benchmark(m, args.epochs, args.test_seeds, args.every, args.eigs)
               for m in models]
    if args.figure:
        figure(results, args.figure)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)


if __name__ == "__main__":
    main()
