"""Benchmark of nedsym.nn: per-point parameter Jacobians vs hand-written numpy backprop.

Network: tanh MLP ``[2, 64, 64, 1]`` (P = 4417; ``--widths``), M points uniform in [-1, 1]^2.
Measured:

* ``jac0``: d u / d theta per point, shape (M, 1, P), by the numpy and the numba backend
  (the numba one assembles the weight rows in compiled code), fresh and into a reused
  ``out=`` buffer;
* ``jac1``: d u and d grad u / d theta per point, shape (M, 1, 1 + d, P);
* ``jac2``/``jac2-lap``: with the full Hessian / only the Laplacian (nedsym only);
* ``fwd2``: the forward jet (values, gradient, Hessian) alone;
* ``rows-lap``: the rows of a linearized Laplacian residual, d(c0 u + c1 Δu)/d theta per point
  (what a NED step on -Δu = f needs): ``Network.linearize(...).rows`` (one reverse sweep with
  one channel) against contracting the ``jac2-lap`` Jacobian (the sweep with 1 + d + 1
  channels that NED used before); ``rows-diag``: the same for c0 u + c1 u_x0 + c2 u_x1x1 with
  diagonal-only jets (a heat residual in space-time) against the full-Hessian Jacobian.

Baselines measured in the same run: ``hand`` is a plain numpy backprop written for exactly
this architecture (one reverse sweep per output quantity, per-point outer products for the
weights); ``torch`` is ``torch.func.vmap(jacrev(...))`` when torch is importable (skipped
otherwise). Times are the best of ``--repeats`` interleaved runs. BLAS runs on one thread
unless ``--threads`` says otherwise (set before numpy is imported), and the numba kernels run
on one thread: one core each, so the ratios compare code, not cores.

Run on demand:  python benchmarks/nn.py [--quick] [--points 1000 4000] [--widths 64 64]
                [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from functools import partial

import bench_threads  # noqa: E402,F401  (BLAS threads, before numpy)
import numpy as np  # noqa: E402

import nedsym.nn as nn  # noqa: E402


def hand_jacobian(X, p, order, out=None):
    """Per-point Jacobians of u (and grad u) for a [d, w, w, 1] tanh MLP, by hand
    (into ``out`` when given, a reused ``(M, 1 + d*order, P)`` buffer)."""
    W1, b1, W2, b2, W3, b3 = (p[0]["W"], p[0]["b"], p[1]["W"], p[1]["b"], p[2]["W"], p[2]["b"])
    M, d = X.shape
    w = W1.shape[0]
    a1 = np.tanh(X @ W1.T + b1)
    a2 = np.tanh(a1 @ W2.T + b2)
    s1, s2 = 1 - a1**2, 1 - a2**2
    P = W1.size + b1.size + W2.size + b2.size + W3.size + b3.size
    rows = 1 + (d if order else 0)
    J = np.empty((M, rows, P)) if out is None else out
    o1, o2, o3 = W1.size + w, W1.size + w + W2.size + w, W1.size + w + W2.size + w + W3.size
    # u: plain backprop
    z2bar = W3[0] * s2
    z1bar = (z2bar @ W2) * s1
    J[:, 0, :W1.size] = (z1bar[:, :, None] * X[:, None, :]).reshape(M, -1)
    J[:, 0, W1.size:o1] = z1bar
    J[:, 0, o1:o1 + W2.size] = (z2bar[:, :, None] * a1[:, None, :]).reshape(M, -1)
    J[:, 0, o1 + W2.size:o2] = z2bar
    J[:, 0, o2:o3] = a2
    J[:, 0, o3] = 1.0
    if order:
        ds1, ds2 = -2 * a1 * s1, -2 * a2 * s2  # sigma'' = -2 sigma sigma'
        for k in range(d):
            # tangent of the forward pass along x_k
            t1 = W1[:, k]
            da1 = s1 * t1
            dz2 = da1 @ W2.T
            da2 = s2 * dz2
            # reverse sweep of g_k = W3 da2
            da2bar = W3[0]
            dz2bar = da2bar * s2
            z2bar = da2bar * dz2 * ds2
            da1bar = dz2bar @ W2
            a1bar = z2bar @ W2
            z1bar = a1bar * s1 + da1bar * t1 * ds1
            gW1 = z1bar[:, :, None] * X[:, None, :]
            gW1[:, :, k] += da1bar * s1
            r = J[:, 1 + k]
            r[:, :W1.size] = gW1.reshape(M, -1)
            r[:, W1.size:o1] = z1bar
            r[:, o1:o1 + W2.size] = (dz2bar[:, :, None] * da1[:, None, :]
                                     + z2bar[:, :, None] * a1[:, None, :]).reshape(M, -1)
            r[:, o1 + W2.size:o2] = z2bar
            r[:, o2:o3] = da2
            r[:, o3] = 0.0
    return J


def rows_lap(net, X, theta, c):
    """Rows d(c0 u + c1 lap u)/d theta through one seeded reverse sweep."""
    _, lin = net.linearize(X, theta, 2, lap_only=True)
    return lin.rows(nn.Jet(u=c[:, None, 0:1], lap=c[:, None, 1:2]))[:, 0]


def contract_lap(net, X, theta, c):
    _, jac = net.jacobian(X, theta, 2, lap_only=True)
    return c[:, 0:1] * jac.u[:, 0] + c[:, 1:2] * jac.lap[:, 0]


def rows_diag(net, X, theta, c):
    """Rows d(c0 u + c1 u_x0 + c2 u_x1x1)/d theta with diagonal-only jets."""
    M, d = X.shape
    g, dg = np.zeros((M, 1, 1, d)), np.zeros((M, 1, 1, d))
    g[:, 0, 0, 0], dg[:, 0, 0, 1] = c[:, 1], c[:, 2]
    _, lin = net.linearize(X, theta, 2, diag_only=True)
    return lin.rows(nn.Jet(u=c[:, None, 0:1], grad=g, diag=dg))[:, 0]


def contract_diag(net, X, theta, c):
    _, jac = net.jacobian(X, theta, 2)
    return (c[:, 0:1] * jac.u[:, 0] + c[:, 1:2] * jac.grad[:, 0, 0]
            + c[:, 2:3] * jac.hess[:, 0, 1, 1])


def _tanh_mlp(tanh, sizes):
    """``u(theta, x)`` of the tanh MLP ``sizes`` with nedsym's parameter packing, for an
    array library's ``tanh`` (torch, jax.numpy)."""
    shapes = [(sizes[i + 1], sizes[i]) for i in range(len(sizes) - 1)]

    def u(th, x):
        a, k = x, 0
        for i, (n_out, n_in) in enumerate(shapes):
            W = th[k:k + n_out * n_in].reshape(n_out, n_in)
            k += n_out * n_in
            b = th[k:k + n_out]
            k += n_out
            a = W @ a + b
            if i < len(shapes) - 1:
                a = tanh(a)
        return a[0]

    return u


def torch_mlp(sizes):  # pragma: no cover - torch is optional
    import torch

    return _tanh_mlp(torch.tanh, sizes)


def torch_jacobian(X, theta, sizes, order):  # pragma: no cover - torch is optional
    import torch
    from torch.func import jacfwd, jacrev, vmap

    t, u = torch.as_tensor(theta), torch_mlp(sizes)
    f = (lambda th, x: torch.cat([u(th, x)[None], jacfwd(u, argnums=1)(th, x)])) if order else u
    jac = vmap(jacrev(f), in_dims=(None, 0))
    Xt = torch.as_tensor(X)
    return lambda: jac(t, Xt)


def torch_rows_lap(X, theta, sizes, c):  # pragma: no cover - torch is optional
    """torch.func rows d(c0 u + c1 lap u)/d theta: vmap over points of jacrev of the
    combination, the Laplacian as the trace of torch.func.hessian in x."""
    import torch
    from torch.func import hessian, jacrev, vmap

    t, u = torch.as_tensor(theta), torch_mlp(sizes)

    def comb(th, x, ci):
        return ci[0] * u(th, x) + ci[1] * torch.trace(hessian(u, argnums=1)(th, x))

    rows = vmap(jacrev(comb), in_dims=(None, 0, 0))
    Xt, ct = torch.as_tensor(X), torch.as_tensor(c)
    return lambda: rows(t, Xt, ct).numpy()


def jax_mlp(jnp, sizes):  # pragma: no cover - jax is optional
    return _tanh_mlp(jnp.tanh, sizes)


def jax_jacobian(jax, X, theta, sizes, order):  # pragma: no cover - jax is optional
    """``jax.jit(vmap(jacrev(...)))`` per-point Jacobians (u, and grad u by jacfwd in x)."""
    jnp = jax.numpy
    u = jax_mlp(jnp, sizes)
    f = ((lambda th, x: jnp.concatenate([u(th, x)[None], jax.jacfwd(u, argnums=1)(th, x)]))
         if order else u)
    jac = jax.jit(jax.vmap(jax.jacrev(f), in_axes=(None, 0)))
    t, Xj = jnp.asarray(theta), jnp.asarray(X)
    return lambda: np.asarray(jac(t, Xj))


def jax_rows_lap(jax, X, theta, sizes, c):  # pragma: no cover - jax is optional
    """jax rows d(c0 u + c1 lap u)/d theta: jit(vmap(jacrev)) of the combination, the
    Laplacian as the trace of jax.hessian in x."""
    jnp = jax.numpy
    u = jax_mlp(jnp, sizes)

    def comb(th, x, ci):
        return ci[0] * u(th, x) + ci[1] * jnp.trace(jax.hessian(u, argnums=1)(th, x))

    rows = jax.jit(jax.vmap(jax.jacrev(comb), in_axes=(None, 0, 0)))
    t, Xj, cj = jnp.asarray(theta), jnp.asarray(X), jnp.asarray(c)
    return lambda: np.asarray(rows(t, Xj, cj))


def _fresh_fill(shape):
    """Allocate and write an output of ``shape`` once: the memory bound of a Jacobian."""
    np.empty(shape).fill(1.0)


def best(fn, repeats):
    return race({"": fn}, repeats)[""]


def race(fns: dict, repeats: int) -> dict:
    """Best time of each callable over ``repeats`` rounds, the contenders interleaved in
    every round (so that load on a shared machine hits them alike)."""
    for fn in fns.values():
        fn()
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return {k: min(v) for k, v in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, nargs="+", default=[1000, 4000])
    ap.add_argument("--widths", type=int, nargs=2, default=[64, 64])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", default="1",
                    help="BLAS threads (default 1; the numba kernels run on one thread)")
    ap.add_argument("--quick", action="store_true", help="M = 200 only, 2 repeats")
    args = ap.parse_args()
    if args.quick:
        args.points, args.repeats = [200], 2
    sizes = [2, *args.widths, 1]
    net = nn.MLP(sizes, activation="tanh", seed=0)
    fast = nn.MLP(sizes, activation="tanh", seed=0, backend="numba")
    theta, parts = net.theta0, net.unpack()
    try:
        import torch  # noqa: F401
        have_torch = True
    except ImportError:
        have_torch = False
    try:
        os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen="
                              + ("false" if args.threads == "1" else "true"))
        import jax
        jax.config.update("jax_enable_x64", True)
    except ImportError:
        jax = None
    print(f"nedsym.nn benchmark: MLP {sizes} tanh, P = {net.n_params}; "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"BLAS threads {os.environ['OPENBLAS_NUM_THREADS']}, numpy {np.__version__}")
    if not have_torch:
        print("torch not importable: torch.func baseline skipped")
    if jax is None:
        print("jax not importable: jax baseline skipped")
    print("jac0/jac1 columns: nedsym numpy backend, numba backend (compiled row assembly), "
          "numba with out= (a reused buffer), the hand-written numpy backprop (fresh, and into "
          "a reused buffer), their ratios (>1: nedsym faster), torch.func, jax.jit(vmap(jacrev)) "
          "(float64, compiled in a first call outside the timing), and fill: "
          "allocating and writing the output once (what any fresh Jacobian costs at least)")
    print(f"{'M':>6} {'what':>9} {'numpy':>9} {'numba':>9} {'nb,out':>9} {'hand':>9} "
          f"{'hand,out':>9} {'hand/nb':>8} {'out/out':>8} {'torch':>9} {'jax':>9} {'fill':>7}"
          "   (ms)")
    for M in args.points:
        X = np.random.default_rng(1).uniform(-1, 1, (M, 2))
        for order in (0, 1):
            ours = net.jacobian(X, theta, order)[1].data[:, 0]
            ref = hand_jacobian(X, parts, order)
            err = max(np.max(np.abs(ours - ref)),
                      np.max(np.abs(fast.jacobian(X, theta, order)[1].data[:, 0] - ref)))
            assert err < 1e-12 * max(1.0, np.max(np.abs(ref))), f"hand baseline differs: {err}"
            buf, hbuf = np.empty((M, 1) + ref.shape[1:]), np.empty(ref.shape)
            t = race({"numpy": partial(net.jacobian, X, theta, order),
                      "numba": partial(fast.jacobian, X, theta, order),
                      "numba_out": partial(fast.jacobian, X, theta, order, out=buf),
                      "hand": partial(hand_jacobian, X, parts, order),
                      "hand_out": partial(hand_jacobian, X, parts, order, out=hbuf),
                      "fill": partial(_fresh_fill, buf.shape)},
                     args.repeats)
            t_torch = (f"{best(torch_jacobian(X, theta, sizes, order), args.repeats) * 1e3:9.2f}"
                       if have_torch else f"{'-':>9}")
            t_jax = f"{'-':>9}"
            if jax is not None:
                fn = jax_jacobian(jax, X, theta, sizes, order)
                jref = ref.reshape(M, -1, ref.shape[-1]) if order else ref[:, 0]
                err = np.max(np.abs(fn().reshape(jref.shape) - jref))
                assert err < 1e-10 * max(1.0, np.max(np.abs(ref))), f"jax differs: {err}"
                t_jax = f"{best(fn, args.repeats) * 1e3:9.2f}"
            print(f"{M:>6} {'jac' + str(order):>9} " + " ".join(
                f"{t[k] * 1e3:9.2f}" for k in ("numpy", "numba", "numba_out", "hand",
                                               "hand_out"))
                  + f" {t['hand'] / t['numba']:8.2f} {t['hand_out'] / t['numba_out']:8.2f}"
                  f" {t_torch} {t_jax} {t['fill'] * 1e3:7.2f}")
        for what, kw in (("jac2", {}), ("jac2-lap", {"lap_only": True})):
            t_ned = best(partial(net.jacobian, X, theta, 2, **kw), args.repeats)
            t_nb = best(partial(fast.jacobian, X, theta, 2, **kw), args.repeats)
            print(f"{M:>6} {what:>9} {t_ned * 1e3:10.2f} {t_nb * 1e3:10.2f}")
        t_ned = best(partial(net.forward, X, theta, 2), args.repeats)
        t_nb = best(partial(fast.forward, X, theta, 2), args.repeats)
        print(f"{M:>6} {'fwd2':>9} {t_ned * 1e3:10.2f} {t_nb * 1e3:10.2f}")
        c = np.random.default_rng(2).normal(size=(M, 3))
        for what, rows_fn, contract_fn in (("rows-lap", rows_lap, contract_lap),
                                           ("rows-diag", rows_diag, contract_diag)):
            ours = rows_fn(net, X, theta, c)
            ref = contract_fn(net, X, theta, c)
            assert np.allclose(ours, ref, rtol=1e-10, atol=1e-12), f"{what} differs"
            t_rows = best(partial(rows_fn, net, X, theta, c), args.repeats)
            t_con = best(partial(contract_fn, net, X, theta, c), args.repeats)
            t_torch = f"{'-':>10}"
            if have_torch and what == "rows-lap":
                fn = torch_rows_lap(X, theta, sizes, c)
                err = np.max(np.abs(fn() - ours))
                assert err < 1e-10 * max(1.0, np.max(np.abs(ours))), f"torch differs: {err}"
                t_torch = f"{best(fn, args.repeats) * 1e3:10.2f}"
            t_jax = f"{'-':>10}"
            if jax is not None and what == "rows-lap":
                fn = jax_rows_lap(jax, X, theta, sizes, c)
                err = np.max(np.abs(fn() - ours))
                assert err < 1e-10 * max(1.0, np.max(np.abs(ours))), f"jax differs: {err}"
                t_jax = f"{best(fn, args.repeats) * 1e3:10.2f}"
            print(f"{M:>6} {what:>9} {t_rows * 1e3:10.2f} {'':>10} {'':>10} {'':>9} "
                  f"{t_torch} {t_jax}   contracted Jacobian {t_con * 1e3:.2f} ms "
                  f"(x{t_con / t_rows:.1f})")


if __name__ == "__main__":
    main()
