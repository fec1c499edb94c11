"""Depth-model gradient: generated adjoint kernels vs NumPy by hand (vs PyTorch when installed).

The loss is J = mean_b |x_b(T) - y_b|^2 / 2 for dx/dt = tanh(W_k x + b_k), RK4, one (W, b)
per step. Timed, in one run: the full gradient (forward pass + exact discrete adjoint) with

* nedsym with dense layers (the default): ``W x`` found in the declared right-hand side
  and evaluated as matrix products, generated row kernels (NumPy or Numba) for the
  pointwise rest, each stage's products kept by the forward pass for the adjoint; under
  Numba the forward pass and the adjoint each run as one generated numba function
  (``fused="auto"``, :mod:`nedsym.depth.fused`);
* the same under Numba with ``fused=False`` ("numba stages"): the stages driven from Python,
  one kernel call and product at a time;
* nedsym with ``dense=False``: every expression expanded into scalars (the reference
  kernels; the derivation and compilation grow like n^3, so only up to --scalar-max-n);
* NumPy by hand: the same discrete adjoint written with matrix products (BLAS), the
  baseline of the ratios; it recomputes each stage's activation in the adjoint;
* NumPy by hand, tuned ("hand kept"): the activations kept from the forward pass, in-place
  updates, one dW product per step;
* "bound": the three matrix products and one tanh per stage alone, into preallocated arrays,
  on one hot input per step, driven from Python: at large widths an estimate of the floor
  for any implementation doing these products on this BLAS with NumPy's tanh; at small
  widths mostly the Python calls themselves, which a compiled program goes below;
* PyTorch autograd through the same RK4 (skipped when torch is not installed);
* ``jax.jit(jax.value_and_grad(...))`` of the same RK4 in float64 (skipped when jax is not
  installed); its setup column is the jit compile and the first call.

"setup" is the time from the declaration to the end of the first gradient: deriving,
generating, compiling (or loading from the disk cache) and one run. Every variant's
gradient is checked against the hand-written one first.

    python benchmarks/depth.py [--sizes 4 16 64] [--batch 256] [--steps 20]
                               [--scalar-max-n 8] [--backends numpy numba] [--threads 1]

BLAS (NumPy's and torch's) runs on ``--threads`` threads (default 1, set before NumPy is
imported), and the Numba kernels on one: one core each, so the ratios compare code, not cores.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import time

import bench_threads  # noqa: E402,F401  (BLAS threads, before numpy)
import numpy as np  # noqa: E402
import sympy as sp  # noqa: E402

from nedsym.depth import DepthODE, matrix, vector  # noqa: E402

A_RK4 = [(), (0.5,), (0.0, 0.5), (0.0, 0.0, 1.0)]
B_RK4 = (1 / 6, 1 / 3, 1 / 3, 1 / 6)


def hand_gradient(Ws, bs, X0, Y, h):
    """Forward RK4 + exact discrete adjoint with matrix products; returns (J, dW, db)."""
    steps = len(Ws)
    B = X0.shape[1]
    x = X0
    stages = []
    for k in range(steps):
        W, b = Ws[k], bs[k][:, None]
        Ks, Xs = [], []
        for i in range(4):
            Xi = x + h * sum(a * Kj for a, Kj in zip(A_RK4[i], Ks, strict=False)) if i else x
            Xs.append(Xi)
            Ks.append(np.tanh(W @ Xi + b))
        stages.append(Xs)
        x = x + h * sum(c * Kj for c, Kj in zip(B_RK4, Ks, strict=True))
    r = x - Y
    J = 0.5 * float(np.sum(r * r)) / B
    p = -r
    dW, db = np.zeros_like(Ws), np.zeros_like(bs)
    for k in range(steps - 1, -1, -1):
        W, b = Ws[k], bs[k][:, None]
        P = [None] * 4
        for i in range(3, -1, -1):
            m = p.copy()
            for l_ in range(i + 1, 4):
                a = A_RK4[l_][i] if i < len(A_RK4[l_]) else 0.0
                if a:
                    m += (a / B_RK4[i]) * P[l_]
            T = np.tanh(W @ stages[k][i] + b)
            G = m * (1.0 - T * T)
            P[i] = h * B_RK4[i] * (W.T @ G)
            dW[k] -= h * B_RK4[i] * (G @ stages[k][i].T)
            db[k] -= h * B_RK4[i] * G.sum(axis=1)
        p = p + P[0] + P[1] + P[2] + P[3]
    return J, dW / B, db / B


def hand_kept_gradient(Ws, bs, X0, Y, h):
    """NumPy by hand, tuned: the forward pass keeps tanh(W X_i + b) for the adjoint (no
    recomputed products), in-place updates, and one product per step for dW (the four
    stages' Zbar and X side by side)."""
    steps, B = len(Ws), X0.shape[1]
    x, kept = X0, []
    for k in range(steps):
        W, b = Ws[k], bs[k][:, None]
        Xs, Ks = [], []
        for i in range(4):
            Xi = x + (h * A_RK4[i][i - 1]) * Ks[-1] if i else x
            T = W @ Xi
            T += b
            np.tanh(T, out=T)
            Xs.append(Xi)
            Ks.append(T)
        kept.append((Xs, Ks))
        x = x + (h / 6) * (Ks[0] + 2 * Ks[1] + 2 * Ks[2] + Ks[3])
    r = x - Y
    J = 0.5 * float(np.sum(r * r)) / B
    p = -r
    dW, db = np.zeros_like(Ws), np.zeros_like(bs)
    for k in range(steps - 1, -1, -1):
        W, (Xs, Ks) = Ws[k], kept[k]
        P, G = [None] * 4, [None] * 4
        for i in range(3, -1, -1):
            m = p if i == 3 else p + (A_RK4[i + 1][i] / B_RK4[i]) * P[i + 1]
            Gi = Ks[i] * Ks[i]
            np.subtract(1.0, Gi, out=Gi)
            Gi *= m
            Gi *= h * B_RK4[i]
            P[i] = W.T @ Gi
            G[i] = Gi
        Gs = np.concatenate(G, axis=1)
        dW[k] = -(Gs @ np.concatenate(Xs, axis=1).T)
        db[k] = -Gs.sum(axis=1)
        p = p + P[0] + P[1] + P[2] + P[3]
    return J, dW / B, db / B


def bound_gradient(Ws, X0):
    """An estimate of the floor for any gradient doing these products on the same BLAS: per
    stage only the three matrix products (W X, W^T Zbar, Zbar X^T) and one tanh, into
    preallocated arrays, on one hot input, nothing else (the values are not a gradient)."""
    n, B = X0.shape
    Z, T, G = np.empty((n, B)), np.empty((n, B)), np.empty((n, n))
    for k in range(4 * len(Ws)):
        W = Ws[k // 4]
        np.matmul(W, X0, out=Z)
        np.tanh(Z, out=T)
        np.matmul(W.T, T, out=Z)
        np.matmul(T, X0.T, out=G)


def _rk4_tanh(tanh, W, b, x, h):
    """RK4 steps of x' = tanh(x W_kᵀ + b_k) on a batch ``x (B, n)``, for an array library's
    ``tanh`` (torch, jax.numpy): the baselines' forward pass."""
    for k in range(W.shape[0]):
        def f(z, k=k):
            return tanh(z @ W[k].T + b[k])
        k1 = f(x)
        k2 = f(x + 0.5 * h * k1)
        k3 = f(x + 0.5 * h * k2)
        k4 = f(x + h * k3)
        x = x + h * (k1 + 2 * k2 + 2 * k3 + k4) / 6
    return x


def torch_gradient(torch, Ws, bs, X0, Y, h):
    W = torch.tensor(Ws, requires_grad=True)
    b = torch.tensor(bs, requires_grad=True)
    x = _rk4_tanh(torch.tanh, W, b, torch.tensor(X0.T), h)
    J = 0.5 * ((x - torch.tensor(Y.T)) ** 2).sum() / X0.shape[1]
    J.backward()
    return float(J), W.grad.numpy(), b.grad.numpy()


def jax_gradient(jax, Ws, bs, X0, Y, h):
    """``jax.jit(jax.grad)`` of the same RK4 loss (float64, the loop unrolled under jit);
    returns a callable giving (J, dW, db) as NumPy arrays. The jit compile happens in the
    first call, outside the timing."""
    jnp = jax.numpy

    def loss(W, b, x, y):
        x = _rk4_tanh(jnp.tanh, W, b, x, h)
        return 0.5 * jnp.sum((x - y) ** 2) / x.shape[0]

    vg = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))
    args = [jnp.asarray(a) for a in (Ws, bs, X0.T, Y.T)]

    def run():
        J, (dW, db) = vg(*args)
        return float(J), np.asarray(dW), np.asarray(db)

    return run


def bench_size(n, args, torch, jax=None):
    """Time every variant at state size ``n``; return ``{variant: seconds}``."""
    rng = np.random.default_rng(n)
    x, Wsym, bsym = vector("x", n), matrix("W", n, n), vector("b", n)
    Ws = rng.normal(size=(args.steps, n, n)) / np.sqrt(n)
    bs = 0.1 * rng.normal(size=(args.steps, n))
    X0, Y = rng.normal(size=(args.batch, n)), rng.normal(size=(args.batch, n))
    X0T, YT = X0.T.copy(), Y.T.copy()
    h = 1.0 / args.steps
    J0, dW0, db0 = hand_gradient(Ws, bs, X0T, YT, h)
    row = {}
    Jk, dWk, dbk = hand_kept_gradient(Ws, bs, X0T, YT, h)
    assert abs(Jk - J0) < 1e-12 * abs(J0) and np.abs(dWk - dW0).max() < 1e-12 * np.abs(dW0).max()
    calls = {"hand": lambda: hand_gradient(Ws, bs, X0T, YT, h),
             "kept": lambda: hand_kept_gradient(Ws, bs, X0T, YT, h),
             "bound": lambda: bound_gradient(Ws, X0T)}
    variants = [(f"{b}", b, True, "auto") for b in args.backends]
    if "numba" in args.backends:
        variants.append(("stages", "numba", True, False))
    if n <= args.scalar_max_n:
        variants.append(("scalar", "numpy", False, "auto"))
    for key, backend, dense, fused in variants:
        t0 = time.perf_counter()
        ode = DepthODE(x, (Wsym * x + bsym).applyfunc(sp.tanh), [Wsym, bsym], backend=backend,
                       dense=dense, fused=fused)
        theta = ode.pack({Wsym: Ws, bsym: bs}, steps=args.steps)
        g = ode.gradient(X0, theta, data=Y)
        row[f"{key}_setup"] = time.perf_counter() - t0
        assert bool(ode.dense_layers) == dense, key
        if key == "numba":
            row["numba_path"] = ode.fused_reason
        parts = ode.unpack(g.grad)
        err = max(np.abs(parts["W"] - dW0).max(), np.abs(parts["b"] - db0).max())
        assert err < 1e-10 * np.abs(dW0).max() and abs(g.loss - J0) < 1e-12 * abs(J0), key
        calls[key] = lambda o=ode, th=theta: o.gradient(X0, th, data=Y)
    if torch is not None:
        _, dWt, _ = torch_gradient(torch, Ws, bs, X0T, YT, h)
        assert np.abs(dWt - dW0).max() < 1e-10 * max(1.0, np.abs(dW0).max())
        calls["torch"] = lambda: torch_gradient(torch, Ws, bs, X0T, YT, h)
    if jax is not None:
        t0 = time.perf_counter()
        fn = jax_gradient(jax, Ws, bs, X0T, YT, h)
        Jj, dWj, dbj = fn()
        row["jax_setup"] = time.perf_counter() - t0
        assert abs(Jj - J0) < 1e-12 * abs(J0)
        assert np.abs(dWj - dW0).max() < 1e-10 * max(1.0, np.abs(dW0).max())
        calls["jax"] = fn
    # interleaved: one call of every contender per round, best round each, so that load from
    # other processes hits them alike; each contender's last result is kept until its next
    # call, as a training loop ``g = gradient(...)`` keeps it (what the allocator can reuse
    # depends on it: nedsym's arena, glibc's heap)
    times = {key: [] for key in calls}
    last = {}
    for _ in range(args.repeat):
        for key, fn in calls.items():
            t0 = time.perf_counter()
            last[key] = fn()
            times[key].append(time.perf_counter() - t0)
    row.update({key: min(v) for key, v in times.items()})
    return row


COLUMNS = ("numpy", "numba", "stages", "scalar", "torch", "jax", "kept", "bound")
SETUP = ("numpy", "numba", "scalar", "jax")


def format_row(n, row):
    def cell(key):
        return f"{row[key] * 1e3:8.2f}ms" if key in row else f"{'-':>10}"

    def ratio(key):
        return f"{row[key] / row['hand']:6.2f}" if key in row else f"{'-':>6}"

    def setup(key):
        return f"{row[key + '_setup']:7.1f}s" if key + "_setup" in row else f"{'-':>8}"

    cells = [f"{cell(k)} {ratio(k)}" + (f" {setup(k)}" if k in SETUP else "")
             for k in COLUMNS]
    return f"{n:>3} {cell('hand')} " + " ".join(cells)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[4, 16, 64])
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--backends", nargs="+", default=["numpy", "numba"],
                    choices=["numpy", "numba"], help="backends of the dense-layer variant")
    ap.add_argument("--threads", default="1",
                    help="BLAS and torch threads (default 1; the numba kernels run on one)")
    ap.add_argument("--scalar-max-n", type=int, default=8,
                    help="largest n for the scalar-expanded variant (setup grows like n^3: "
                         "minutes at n = 32)")
    args = ap.parse_args(argv)
    for what in ("sizes", "batch", "steps", "repeat"):
        vals = getattr(args, what)
        if min(vals if isinstance(vals, list) else [vals]) < 1:
            ap.error(f"--{what} must be positive")
    torch = None
    if importlib.util.find_spec("torch") is not None:
        import torch
        torch.set_num_threads(int(args.threads))
    jax = None
    if importlib.util.find_spec("jax") is not None:
        os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen="
                              + ("false" if args.threads == "1" else "true"))
        import jax
        jax.config.update("jax_enable_x64", True)
    print(f"# depth gradient benchmark: B={args.batch}, steps={args.steps}, RK4; "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, BLAS threads "
          f"{os.environ['OPENBLAS_NUM_THREADS']}; "
          f"torch {torch.__version__ if torch is not None else 'not installed (skipped)'}, "
          f"jax {jax.__version__ if jax is not None else 'not installed (skipped)'}")
    head = [f"{'n':>3} {'hand numpy':>10}"]
    for k, label in zip(COLUMNS, ("dense numpy", "dense numba", "numba stages",
                                  "scalar numpy", "torch", "jax jit", "hand kept", "bound"),
                        strict=True):
        head.append(f"{label:>10} {'ratio':>6}" + (f" {'setup':>8}" if k in SETUP else ""))
    print(" ".join(head))
    paths = {}
    for n in args.sizes:
        row = bench_size(n, args, torch, jax)
        paths[n] = row.get("numba_path")
        print(format_row(n, row), flush=True)
    if any(paths.values()):
        print("# dense numba ran: " + "; ".join(f"n = {n}: {p}" for n, p in paths.items()))
    print("# ratio = time / hand-written NumPy time (lower is faster); setup = declaration to "
          "the end of the first gradient; gradients agree to 1e-10; hand kept = NumPy by "
          "hand keeping the activations; numba stages = dense numba with fused=False; bound "
          "= the products and one tanh per stage alone on hot data, driven from Python)")


if __name__ == "__main__":
    main()
