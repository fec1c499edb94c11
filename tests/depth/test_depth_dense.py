"""Dense layers: W v found in the declared dynamics, evaluated as matrix products.

Every dense result is compared with the scalar-expanded reference (``dense=False``) of the
same declaration, and the gradient with finite differences of the discrete loss.
"""

import numpy as np
import pytest
import sympy as sp

from nedsym.depth import DepthODE, matrix, vector
from nedsym.depth.dense import find_dense_layers
from nedsym.depth.kernels import build_row_kernel
from nedsym.errors import CodegenError, ConfigError, DeclarationError

from .conftest import random_problem, tanh_ode

N = 3
x, W, b = vector("x", N), matrix("W", N, N), vector("b", N)
V, c = matrix("V", N, N), vector("c", N)
t = sp.Symbol("t", real=True)

CASES = {
    # one layer, the state gathered as it is
    "tanh": (lambda: (W * x + b).applyfunc(sp.tanh) - x / 4, [W, b], None),
    # two layers (the inner activation is the outer layer's vector), time dependence and a
    # running cost with per-sample terms, diagonal and full weight decay
    "nested": (lambda: V * (W * x + b).applyfunc(sp.tanh) + c * sp.cos(t), [W, b, V, c],
               lambda: sum(x[i] ** 2 for i in range(N)) / 4
               + sum(W[i, i] ** 2 for i in range(N)) / 2
               + sum(V[i, j] ** 2 for i in range(N) for j in range(N)) / 8),
    # one matrix applied to two vectors (sin x and x), a state factor outside the rows
    "two_vectors": (lambda: (W * x.applyfunc(sp.sin) + b).applyfunc(sp.tanh) * x[0],
                    [W, b], lambda: sum((W * x)[i] ** 2 for i in range(N)) / 10),
    # gathered layers whose Wᵀ z̄ goes straight into rows the adjoint kernel leaves zero:
    # the state alone, and a product of a product (V gathers W x)
    "gathered": (lambda: (W * x + b).applyfunc(sp.tanh), [W, b], None),
    "product_of_product": (lambda: (V * (W * x) + b).applyfunc(sp.tanh), [W, V, b], None),
    # two products of the state: both add into the same rows
    "gathered_twice": (lambda: (W * x + b).applyfunc(sp.tanh) + V * x, [W, b, V], None),
}

DIRECT = {"gathered": [True], "product_of_product": [True, True],
          "gathered_twice": [False, False], "tanh": [False]}


def _values(params, steps, rng):
    return {p: rng.normal(size=(steps, *((p.shape[0],) if p.shape[1] == 1 else p.shape)))
            for p in params}


def _results(ode, values, steps=4):
    theta = ode.pack(values, steps=steps)
    rng = np.random.default_rng(1)
    X, Y, dX = (rng.normal(size=(5, N)) for _ in range(3))
    g = ode.gradient(X, theta, data=Y)
    tr = ode.forward(X, theta)
    out = [g.loss, g.grad, g.ps, ode.tangent(tr, theta, dX),
           ode.H(tr.xs[1], g.ps[1], theta[1], 0.3), ode.F(tr.xs[-1], theta[-1], 0.1)]
    if ode.system.running_cost != 0:
        out.append(ode.L(tr.xs[1], theta[1], 0.3))
    return out


@pytest.mark.parametrize("case", sorted(CASES))
def test_dense_program_equals_the_scalar_reference(case):
    rhs, params, L = CASES[case]
    L = L() if L else None
    dense = DepthODE(x, rhs(), params, L, time=t)
    ref = DepthODE(x, rhs(), params, L, time=t, dense=False)
    assert dense.dense_layers and not ref.dense_layers
    values = _values(params, 4, np.random.default_rng(0))
    for got, want in zip(_results(dense, values), _results(ref, values), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("case", sorted(DIRECT))
def test_gathered_adjoint_writes_directly_only_into_rows_nothing_else_adds_to(case):
    """The cases above exercise both paths of a gathered layer's Wᵀ z̄ (they equal the scalar
    reference there); this pins which path each one takes."""
    rhs, params, _ = CASES[case]
    prog = DepthODE(x, rhs(), params, time=t)._dense
    assert all(la.gather is not None for la in prog.layers)
    assert prog._vbar_targets()[1] == DIRECT[case]
    # rows written directly are not zeroed first; rows added into are
    zero = prog._row_plan("adj_rhs")[1]
    left = prog._zero_left(zero)
    assert (left == [] and zero) if all(DIRECT[case]) else left == zero


@pytest.mark.parametrize("case,want", [("gathered", {0}), ("product_of_product", {1}),
                                       ("nested", {0, 1}), ("two_vectors", set())])
def test_products_nothing_reads_again_share_one_array(case, want):
    """A product the adjoint never reads (its kernels read the kept activations: tanh(W x + b)
    in the nested case) goes into one array reused by every stage; one gathered as a later
    layer's vector (W x in V (W x)) or read by an adjoint kernel (W sin x in two_vectors)
    is kept per stage. The cases above compare these
    gradients with the scalar reference."""
    rhs, params, L = CASES[case]
    prog = DepthODE(x, rhs(), params, L() if L else None, time=t)._dense
    assert set(prog._transient()) == want


def test_layers_found():
    layers = DepthODE(x, CASES["nested"][0](), CASES["nested"][1]).dense_layers
    assert [(la.param, la.rows, la.cols) for la in layers] == [("W", 3, 3), ("V", 3, 3)]
    assert layers[0].gather == (0, 1, 2)  # V_0 is the state itself: no kernel
    assert layers[1].gather is None  # V_1 = tanh(z + b): a generated kernel
    rhs, params, L = CASES["two_vectors"]
    two = DepthODE(x, rhs(), params, L()).dense_layers  # W sin(x) in F, W x in L
    assert [la.param for la in two] == ["W", "W"]
    assert [la.gather for la in two] == [None, (0, 1, 2)]


def test_dense_gradient_equals_finite_differences():
    ode, Wm, bm = tanh_ode(4, running_cost=True, time_dep=True)
    assert ode.dense_layers
    theta, x0, y = random_problem(ode, Wm, bm, 4, steps=5, seed=3)
    res = ode.gradient(x0, theta, data=y)
    d = np.random.default_rng(2).normal(size=theta.shape)
    eps = 1e-5
    fd = (ode.loss(x0, theta + eps * d, data=y) - ode.loss(x0, theta - eps * d, data=y)) / (
        2 * eps)
    assert abs(fd - np.sum(res.grad * d)) < 1e-7 * abs(fd)


def test_kept_products_give_the_recomputed_adjoint():
    """The forward pass keeps each stage's products; the adjoint with and without them
    agree exactly, and the continuous adjoint (which recomputes) still works."""
    ode, Wm, bm = tanh_ode(4)
    theta, x0, y = random_problem(ode, Wm, bm, 4, steps=3)
    res = ode.gradient(x0, theta, data=y)
    assert res.trajectory.aux is not None and len(res.trajectory.aux) == 3 * 4
    X, P = res.trajectory.stages[1, 2], res.ps[2]
    a = ode.vjp(X, P, theta[1], 0.5, res.trajectory.aux[1 * 4 + 2])
    b_ = ode.vjp(X, P, theta[1], 0.5)
    np.testing.assert_array_equal(a[0], b_[0])
    np.testing.assert_array_equal(a[1], b_[1])
    assert ode.forward(x0, theta).aux is None
    cont = ode.gradient(x0, theta, data=y, adjoint="continuous")
    assert np.linalg.norm(cont.grad - res.grad) < 0.05 * np.linalg.norm(res.grad)


def test_numba_dense_matches_numpy():
    rhs, params, L = CASES["nested"]
    a = DepthODE(x, rhs(), params, L(), time=t)
    nb = DepthODE(x, rhs(), params, L(), time=t, backend="numba")
    values = _values(params, 3, np.random.default_rng(4))
    for got, want in zip(_results(nb, values, 3), _results(a, values, 3), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13)
    src = nb.source("vjp")
    assert "W @ V0" in src and "njit" in src and "row kernel" in src


@pytest.mark.parametrize("tanh", ["numpy", "numba"])
def test_numba_prints_libm_rows_for_numpy(tanh, monkeypatch):
    """Under backend="numba" a row with a libm function is a NumPy kernel (vectorized ufuncs
    beat a scalar libm loop), except tanh alone where the compiled tanh is the faster one
    (here fixed by NEDSYM_ROW_TANH, else measured once); a polynomial row stays a compiled
    loop (the adjoint of tanh reads the kept activation k: (1 - k²) p); all agree with the
    NumPy backend."""
    import nedsym.codegen.libm as libm

    monkeypatch.setenv("NEDSYM_ROW_TANH", tanh)
    monkeypatch.setattr(libm, "_TANH_PAYS", None)
    cubic = W * x + b - x.applyfunc(lambda v: v**3)
    tanh_rows = {"rhs": tanh, "tan_rhs": tanh, "adj_rhs": "numba"}
    cubic_rows = {"rhs": "numba", "tan_rhs": "numba", "adj_rhs": "numba"}
    sin_rows = {"rhs": "numpy", "tan_rhs": "numpy", "adj_rhs": "numpy"}
    for rhs, want in (((W * x + b).applyfunc(sp.tanh), tanh_rows), (cubic, cubic_rows),
                      ((W * x + b).applyfunc(lambda v: sp.tanh(sp.sin(v))), sin_rows)):
        nb = DepthODE(x, rhs, [W, b], backend="numba")
        ref = DepthODE(x, rhs, [W, b])
        rows = nb._dense.row_kernels()
        assert {name: k.backend for name, k in rows.items()} == want
        values = _values([W, b], 3, np.random.default_rng(5))
        for got, exp in zip(_results(nb, values, 3), _results(ref, values, 3), strict=True):
            np.testing.assert_allclose(got, exp, rtol=1e-12, atol=1e-13)


def test_compiled_tanh_is_accurate_and_the_choice_strict(monkeypatch):
    """The compiled rows' tanh: within 3 ulp of the exact value (mpmath) from 1e-300 to
    1e3 and around the switch between its two formulas, odd, signed zeros, ±inf and nan as
    NumPy's; a bad NEDSYM_ROW_TANH is refused."""
    import mpmath

    import nedsym.codegen.libm as libm

    z = sp.Symbol("z", real=True)
    k = build_row_kernel([z], [False], [], t, [sp.tanh(z)], backend="numba")
    assert "_nsd_tanh(" in k.source()
    v = np.concatenate([np.logspace(-300, 3, 3000), np.linspace(0.15, 0.25, 2001),
                        np.linspace(0, 20, 2001)[1:]])
    v = np.concatenate([v, -v])
    exact = np.array([float(mpmath.tanh(mpmath.mpf(a))) for a in v])
    out = np.empty((1, v.size))
    k([v[None]], np.empty(0), 0.0, [out])
    ulps = np.abs(out[0] - exact) / np.spacing(np.abs(exact))
    assert ulps.max() <= 3.0, ulps.max()
    special = np.array([[0.0, -0.0, np.inf, -np.inf, np.nan, 1e308, -1e308]])
    got = np.empty_like(special)
    k([special], np.empty(0), 0.0, [got])
    np.testing.assert_array_equal(got, np.tanh(special))
    assert list(np.signbit(got[0, :2])) == [False, True]
    monkeypatch.setenv("NEDSYM_ROW_TANH", "fast")
    monkeypatch.setattr(libm, "_TANH_PAYS", None)
    with pytest.raises(CodegenError, match="NEDSYM_ROW_TANH"):
        libm.compiled_tanh_pays()


def test_matrix_used_otherwise_is_expanded_into_scalars():
    # W[0, 0] squared inside the dynamics: W is not a pure product, V still is
    rhs = (V * (W * x).applyfunc(sp.tanh)) + sp.ImmutableMatrix([W[0, 0] ** 2, 0, 0])
    ode = DepthODE(x, rhs, [W, V])
    assert [la.param for la in ode.dense_layers] == ["V"]
    ref = DepthODE(x, rhs, [W, V], dense=False)
    values = _values([W, V], 2, np.random.default_rng(5))
    for got, want in zip(_results(ode, values, 2), _results(ref, values, 2), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13)
    # a misused matrix inside another's vector does not block that one (V is still dense)
    for rhs2 in (V * (W * x + sp.ImmutableMatrix([W[0, 0] * x[0]] * 3)).applyfunc(sp.tanh),
                 (V * (x * W[0, 0])).applyfunc(sp.tanh) + sp.ImmutableMatrix([W[0, 0] ** 2] * 3)):
        ode2 = DepthODE(x, rhs2, [W, V])
        assert [la.param for la in ode2.dense_layers] == ["V"]
        ref2 = DepthODE(x, rhs2, [W, V], dense=False)
        for got, want in zip(_results(ode2, values, 2), _results(ref2, values, 2), strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13)
    # no full row or column sum: no layer, and dense=True says why
    rhs_s = (x * W[0, 0] + W[:, 0]).applyfunc(sp.tanh)
    assert DepthODE(x, rhs_s, [W]).dense_layers == ()
    with pytest.raises(DeclarationError, match="full row sums .* full column sums"):
        DepthODE(x, rhs_s, [W], dense=True)


def test_transposed_products_are_dense():
    """Column sums (W.T*v) are products with the transposed matrix: the Hamiltonian network
    x' = W^T tanh(W x + b) uses W both ways (one gradient, both contributions), and a
    rectangular W too; every result equals the scalar reference."""
    ham = DepthODE(x, W.T * (W * x + b).applyfunc(sp.tanh), [W, b])
    assert [(la.param, la.transposed, la.gather is not None) for la in ham.dense_layers] == [
        ("W", False, True), ("W", True, False)]
    assert "Z1 = W.T @ V1" in ham.source("vjp")
    W2, x2 = matrix("W", 3, 2), vector("x", 2)
    rect = DepthODE(x2, W2.T * (W2 * x2).applyfunc(sp.tanh) + x2 / 3, [W2])
    assert [(la.rows, la.cols, la.transposed) for la in rect.dense_layers] == [
        (3, 2, False), (2, 3, True)]
    for rhs, params, xx, dim in ((W.T * (W * x + b).applyfunc(sp.tanh), [W, b], x, N),
                                 (W2.T * (W2 * x2).applyfunc(sp.tanh) + x2 / 3, [W2], x2, 2)):
        dense, ref = DepthODE(xx, rhs, params), DepthODE(xx, rhs, params, dense=False)
        rng = np.random.default_rng(6)
        values = {p: rng.normal(size=(3, *((p.shape[0],) if p.shape[1] == 1 else p.shape)))
                  for p in params}
        th = dense.pack(values, steps=3)
        X, Y, dX = (rng.normal(size=(4, dim)) for _ in range(3))
        g1, g0 = dense.gradient(X, th, data=Y), ref.gradient(X, th, data=Y)
        np.testing.assert_allclose(g1.grad, g0.grad, rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(g1.loss, g0.loss, rtol=1e-13)
        tr = dense.forward(X, th)
        np.testing.assert_allclose(dense.tangent(tr, th, dX), ref.tangent(tr, th, dX),
                                   rtol=1e-12, atol=1e-13)


def test_dense_option_is_strict():
    for bad in ("yes", 1, 0.0, 1.0, None, "dense", np.array([True])):
        with pytest.raises(ConfigError, match="dense must be"):
            DepthODE(x, (W * x).applyfunc(sp.tanh), [W], dense=bad)
    assert DepthODE(x, (W * x).applyfunc(sp.tanh), [W], dense=np.bool_(False)).dense_layers \
        == ()


def test_generated_names_never_meet_user_names():
    """A state called z0_ (and a parameter called z0_0) cannot be confused with the
    generated pre-activation symbols."""
    xs = vector("z0_", N)  # z0_0, z0_1, z0_2: the generated names' first choice
    unused = vector("_z0_", N)  # a parameter the dynamics never read, named like the second
    rhs = (W * xs + b).applyfunc(sp.tanh)
    ode = DepthODE(xs, rhs, [W, b, unused])
    zs = {s.name for la in ode.dense_layers for s in la.z}
    assert not zs & {s.name for s in (*xs, *unused)}
    ref = DepthODE(xs, rhs, [W, b, unused], dense=False)
    values = _values([W, b, unused], 2, np.random.default_rng(6))
    for got, want in zip(_results(ode, values, 2), _results(ref, values, 2), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13)


def test_width_64_derives_and_runs_in_seconds():
    """The scalar expansion of this model takes minutes of sympy at width 64; the dense
    program derives only pointwise expressions (checked by its size, not by a clock)."""
    n = 64
    xs, Wm, bm = vector("x", n), matrix("W", n, n), vector("b", n)
    ode = DepthODE(xs, (Wm * xs + bm).applyfunc(sp.tanh), [Wm, bm])
    (layer,) = ode.dense_layers
    assert (layer.rows, layer.cols) == (n, n)
    rng = np.random.default_rng(0)
    Ws, bs = rng.normal(size=(2, n, n)) / 8, 0.1 * rng.normal(size=(2, n))
    theta = ode.pack({Wm: Ws, bm: bs}, steps=2)
    X0, Y = rng.normal(size=(7, n)), rng.normal(size=(7, n))
    g = ode.gradient(X0, theta, data=Y, stepper="euler")
    # the same gradient by hand: one Euler step per layer, matrix products
    xk, xsv = X0.T, []
    for k in range(2):
        xsv.append(xk)
        xk = xk + 0.5 * np.tanh(Ws[k] @ xk + bs[k][:, None])
    p = -(xk - Y.T)
    dW = np.zeros_like(Ws)
    for k in (1, 0):
        G = p * (1 - np.tanh(Ws[k] @ xsv[k] + bs[k][:, None]) ** 2)
        dW[k] = -0.5 * G @ xsv[k].T / 7
        p = p + 0.5 * Ws[k].T @ G
    np.testing.assert_allclose(ode.unpack(g.grad)["W"], dW, rtol=1e-10, atol=1e-14)
    # every generated kernel is one expression over the rows, whatever the width
    assert all(len(k.source().splitlines()) < 40 for k in ode._dense.row_kernels().values())


def test_find_dense_layers_without_matrices():
    assert find_dense_layers([x[0] * b[0]], 0, [("b", b, slice(0, 3), (3,))], x) is None


def test_row_kernel_broadcast_and_errors():
    z, w, q = sp.symbols("z w q")
    k = build_row_kernel([z, w], [False, True], [q], t, [q * z + w, sp.Integer(2)])
    out = [np.empty((2, 3)), np.empty((2, 3))]
    k([np.ones((2, 3)), np.array([[1.0], [2.0]])], np.array([3.0]), 0.0, out)
    np.testing.assert_array_equal(out[0], [[4, 4, 4], [5, 5, 5]])
    np.testing.assert_array_equal(out[1], 2.0)
    with pytest.raises(CodegenError, match="broadcast"):
        build_row_kernel([z], [], [], t, [z])
    with pytest.raises(CodegenError, match="neither"):
        build_row_kernel([z], [False], [], t, [z * w])


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_row_kernel_writes_into_its_outputs(backend):
    """Outputs that are shared subexpressions, ufunc calls, products, sums, broadcast-only
    and special-function expressions: the in-place NumPy source (``out=``) and the Numba
    loop give the values of a plain evaluation."""
    z, w, p = sp.symbols("z w p")
    exprs = [sp.tanh(z + w), (1 - sp.tanh(z + w) ** 2) * p, z + w, -p / 2, z * w * p,
             sp.sin(z) ** 2, 3 * w, sp.erf(z), sp.Integer(0) + 1, sp.cos(3 * z * p),
             sp.exp(w - 1)]
    k = build_row_kernel([z, w, p], [False, True, False], [], t, exprs, backend=backend)
    if backend == "numpy":
        src = k.source()
        assert "np.tanh(tmp0, out=o0)" in src and "out=o3" in src
        # a ufunc's compound argument is evaluated into the output first (no temporary),
        # a broadcast-only one too
        assert "np.cos(np.multiply(" in src and "np.exp(np.add(" in src
    rng = np.random.default_rng(0)
    Z, Wb, P = rng.normal(size=(3, 4)), rng.normal(size=(3, 1)), rng.normal(size=(3, 4))
    outs = [np.full((3, 4), np.nan) for _ in exprs]
    k([Z, Wb, P], np.empty(0), 0.0, outs)
    f = sp.lambdify((z, w, p), exprs, "scipy")
    for got, want in zip(outs, f(Z, Wb, P), strict=True):
        np.testing.assert_allclose(got, np.broadcast_to(want, (3, 4)), rtol=1e-14, atol=1e-15)


def test_adjoint_reads_the_kept_activations():
    """The adjoint kernels read F and the layer vectors the forward pass kept instead of
    re-evaluating their activations; without kept values (a bare vjp) they are computed."""
    ode, Wm, bm = tanh_ode(4)
    prog = ode._dense
    assert prog.kept_families("adj_rhs") == ["k"]
    assert "tanh" not in prog.row_kernels()["adj_rhs"].source()
    rhs, params, L = CASES["nested"]
    nested = DepthODE(x, rhs(), params, L(), time=t)._dense
    assert nested.kept_families("adj_v1") == ["vv1"]
    assert "tanh" not in nested.row_kernels()["adj_v1"].source()
    # a bare vjp (no forward pass kept) equals the one with the kept values
    theta, x0, y = random_problem(ode, Wm, bm, 4, steps=2, seed=5)
    res = ode.gradient(x0, theta, data=y)
    X, P = res.trajectory.stages[0, 1], res.ps[1]
    kept = ode.vjp(X, P, theta[0], 0.125, res.trajectory.aux[1])
    bare = ode.vjp(X, P, theta[0], 0.125)
    np.testing.assert_array_equal(kept[0], bare[0])
    np.testing.assert_array_equal(kept[1], bare[1])


def test_bare_vjp_when_a_layer_adjoint_reads_the_kept_rhs():
    """An adj_v kernel may read F's kept rows where adj_rhs does not; a vjp without a forward
    pass (and the continuous adjoint, which has none) computes them, equal to the scalar
    reference."""
    x2, W12 = vector("x", 2), matrix("W", 1, 2)
    rhs = sp.ImmutableMatrix([sp.sin(x2[0]), (W12 * sp.ImmutableMatrix(
        [sp.sin(x2[0]) ** 2, sp.cos(x2[1]) ** 3]))[0]])
    ode, ref = DepthODE(x2, rhs, [W12]), DepthODE(x2, rhs, [W12], dense=False)
    assert "k" in ode._dense.kept_families("adj_v0")
    rng = np.random.default_rng(8)
    th = ode.pack({W12: rng.normal(size=(2, 1, 2))}, steps=2)
    X, Y = rng.normal(size=(4, 2)), rng.normal(size=(4, 2))
    for got, want in zip(ode.vjp(X.T.copy(), Y.T.copy(), th[0], 0.0),
                         ref.vjp(X.T.copy(), Y.T.copy(), th[0], 0.0), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    for adjoint in ("discrete", "continuous"):
        np.testing.assert_allclose(ode.gradient(X, th, data=Y, adjoint=adjoint).grad,
                                   ref.gradient(X, th, data=Y, adjoint=adjoint).grad,
                                   rtol=1e-12, atol=1e-14)


def test_scalar_gains_keep_row_kernels():
    """A lone scalar parameter (a gain a*tanh(W x + b), a rate a inside tanh, a damping c):
    its derivative is a sum over the rows of one expression, so the adjoint is still a row
    kernel, not unrolled; every result equals the scalar reference."""
    a, c_ = sp.symbols("a c_", real=True)
    decay = a ** 2 * sum(x[i] ** 2 for i in range(N)) / 2   # a factor over a row sum
    for rhs, params, L in (((W * x + b).applyfunc(sp.tanh) * a, [W, b, a], 0),
                           ((W * x + b).applyfunc(lambda e: sp.tanh(a * e)) - c_ * x,
                            [W, b, a, c_], 0),
                           ((W * x + b).applyfunc(sp.tanh) * a, [W, b, a], decay)):
        ode, ref = DepthODE(x, rhs, params, L), DepthODE(x, rhs, params, L, dense=False)
        assert "adj_rhs" in ode._dense.row_kernels()
        rng = np.random.default_rng(9)
        values = {W: rng.normal(size=(3, N, N)), b: rng.normal(size=(3, N)),
                  a: rng.normal(size=3), c_: rng.normal(size=3)}
        values = {p: v for p, v in values.items() if p in params}
        for got, want in zip(_results(ode, values, 3), _results(ref, values, 3), strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13)


def test_unrolled_kernels_are_derived_once(monkeypatch):
    """Rows that differ (tanh and sin rows) fall back to the unrolled kernels; their
    derivatives are taken once, not at every call (that cost 30x the gradient), and the
    results equal the scalar reference."""
    import nedsym.depth.dense as dense_module

    z = W * x + b
    rhs = sp.ImmutableMatrix([sp.tanh(z[i]) if i % 2 else sp.sin(z[i]) for i in range(N)])
    ode, ref = DepthODE(x, rhs, [W, b]), DepthODE(x, rhs, [W, b], dense=False)
    assert ode.dense_layers and "adj_rhs" not in ode._dense.row_kernels()
    calls = []
    real = dense_module._d
    monkeypatch.setattr(dense_module, "_d", lambda *a: calls.append(1) or real(*a))
    values = _values([W, b], 3, np.random.default_rng(10))
    first = _results(ode, values, 3)
    n_calls = len(calls)
    again = _results(ode, values, 3)
    assert len(calls) == n_calls           # nothing derived again
    for got, want, same in zip(first, _results(ref, values, 3), again, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13)
        np.testing.assert_array_equal(got, same)


def test_an_evaluated_model_pickles():
    """The prepared kernel evaluations are rebuilt after unpickling: the round trip after a
    gradient gives the same gradient (they are closures, which pickle refuses)."""
    import pickle

    rhs, params, _ = CASES["gathered"]
    ode = DepthODE(x, rhs(), params, time=t)
    values = _values(params, 3, np.random.default_rng(6))
    before = _results(ode, values, 3)
    again = pickle.loads(pickle.dumps(ode))
    for got, want in zip(_results(again, values, 3), before, strict=True):
        np.testing.assert_array_equal(got, want)
