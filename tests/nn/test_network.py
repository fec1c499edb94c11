"""Networks: shapes, packing, jets, Jacobians, vjp, backends and errors."""

import numpy as np
import pytest
import sympy as sp

import nedsym.nn as nn
from nedsym.errors import ConfigError, DeclarationError, FieldError
from nedsym.nn import network as network_module

RNG = np.random.default_rng(7)
X2 = RNG.uniform(-1, 1, (9, 2))


def swish_layer(n_in, n_out):
    z, a = sp.symbols("z a")
    return nn.Layer.from_rule(z * sp.tanh(a * z), z=z, params={a: 1.3}, n_in=n_in, n_out=n_out)


def test_layout_and_unpack():
    net = nn.Network([nn.Dense(2, 4, "tanh"), swish_layer(4, 3), nn.Linear(3, 2)], seed=1)
    assert net.n_params == (8 + 4) + (12 + 3 + 3) + (6 + 2)
    assert [(i, name, shape) for i, name, shape, _ in net.layout] == [
        (0, "W", (4, 2)), (0, "b", (4,)), (1, "W", (3, 4)), (1, "b", (3,)), (1, "a", (3,)),
        (2, "W", (2, 3)), (2, "b", (2,))]
    theta = np.arange(net.n_params, dtype=float)
    parts = net.unpack(theta)
    assert parts[0]["W"][1, 0] == 2.0  # row-major
    assert parts[1]["a"].tolist() == [27.0, 28.0, 29.0]
    assert np.all(net.unpack()[1]["a"] == 1.3)
    assert net.d_in == 2 and net.n_out == 2


def test_init_seeded_and_scaled():
    a = nn.MLP([3, 400, 1], seed=5)
    b = nn.MLP([3, 400, 1], seed=5)
    np.testing.assert_array_equal(a.theta0, b.theta0)
    assert not np.array_equal(a.init(6), b.theta0)
    W = nn.MLP([3, 400, 1], seed=5).unpack()[0]["W"]
    assert abs(W.var() - 2 / 403) < 0.1 * 2 / 403  # Xavier
    W = nn.MLP([3, 400, 1], seed=5, init="he").unpack()[0]["W"]
    assert abs(W.var() - 2 / 3) < 0.1 * 2 / 3  # He
    assert np.all(nn.MLP([3, 4, 1], seed=5).unpack()[0]["b"] == 0)


def test_forward_matches_hand_written_mlp():
    net = nn.MLP([2, 5, 4, 1], activation="sin", seed=3)
    p = net.unpack()
    a = np.sin(X2 @ p[0]["W"].T + p[0]["b"])
    a = np.sin(a @ p[1]["W"].T + p[1]["b"])
    np.testing.assert_allclose(net.forward(X2).u, a @ p[2]["W"].T + p[2]["b"], rtol=1e-14)


def test_residual_forward_and_structure():
    net = nn.MLP([2, 5, 5, 1], activation="tanh", residual=True, h=0.3, seed=3)
    assert [type(L).__name__ for L in net.layers] == ["Dense", "Residual", "Linear"]
    p = net.unpack()
    a = np.tanh(X2 @ p[0]["W"].T + p[0]["b"])
    a = a + 0.3 * np.tanh(a @ p[1]["W"].T + p[1]["b"])
    np.testing.assert_allclose(net.forward(X2).u, a @ p[2]["W"].T + p[2]["b"], rtol=1e-14)


def test_shapes_and_laplacian():
    net = nn.MLP([2, 6, 3], seed=0)
    jet = net.forward(X2, order=2)
    assert jet.u.shape == (9, 3) and jet.grad.shape == (9, 3, 2) and jet.hess.shape == (9, 3, 2, 2)
    np.testing.assert_allclose(jet.hess, jet.hess.transpose(0, 1, 3, 2), atol=1e-14)
    lap = net.forward(X2, order=2, lap_only=True)
    assert lap.hess is None
    np.testing.assert_allclose(lap.lap, jet.lap, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(lap.grad, jet.grad, rtol=1e-14)
    assert net.forward(X2, order=0).grad is None and net.forward(X2, order=1).hess is None


def test_jacobian_values_and_laplacian_only():
    net = nn.Network([nn.Dense(2, 5, "gelu"), swish_layer(5, 5), nn.Residual(5, "sigmoid"),
                      nn.Linear(5, 2)], seed=2)
    vals, jac = net.jacobian(X2, order=2)
    fwd = net.forward(X2, order=2)
    np.testing.assert_allclose(vals.hess, fwd.hess, rtol=1e-13, atol=1e-15)
    P = net.n_params
    assert jac.u.shape == (9, 2, P) and jac.grad.shape == (9, 2, 2, P)
    assert jac.hess.shape == (9, 2, 2, 2, P) and jac.data.shape == (9, 2, 7, P)
    np.testing.assert_allclose(jac.hess, jac.hess.transpose(0, 1, 3, 2, 4), atol=1e-12)
    vl, jl = net.jacobian(X2, order=2, lap_only=True)
    np.testing.assert_allclose(jl.lap, jac.lap, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(jl.u, jac.u, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(vl.lap, vals.lap, rtol=1e-13, atol=1e-15)


def test_jacobian_against_central_differences_in_theta():
    net = nn.MLP([2, 4, 3, 1], activation="softplus", seed=4)
    _, jac = net.jacobian(X2, order=2)
    theta, h = net.theta0, 1e-6
    for i in (0, 9, 13, net.n_params - 1):
        e = np.zeros(net.n_params)
        e[i] = h
        plus, minus = net.forward(X2, theta + e, 2), net.forward(X2, theta - e, 2)
        np.testing.assert_allclose((plus.u - minus.u) / (2 * h), jac.u[..., i], atol=1e-8)
        np.testing.assert_allclose((plus.hess - minus.hess) / (2 * h), jac.hess[..., i],
                                   atol=1e-8)


def test_chunked_jacobian_equals_unchunked(monkeypatch):
    net = nn.MLP([2, 6, 6, 1], activation="tanh", residual=True, seed=0)
    _, full = net.jacobian(X2, order=2)
    monkeypatch.setattr(network_module, "_CHUNK_ENTRIES", 1)  # one point per chunk
    _, chunked = net.jacobian(X2, order=2)
    np.testing.assert_array_equal(chunked.data, full.data)


@pytest.mark.parametrize("lap_only", [False, True])
def test_vjp_equals_cotangent_times_jacobian(lap_only):
    net = nn.Network([nn.Dense(2, 5, "tanh"), swish_layer(5, 4), nn.Linear(4, 2)], seed=3)
    _, jac = net.jacobian(X2, order=2, lap_only=lap_only)
    rng = np.random.default_rng(0)
    cu, cg = rng.normal(size=(9, 2)), rng.normal(size=(9, 2, 2))
    if lap_only:
        cl = rng.normal(size=(9, 2))
        cot = nn.Jet(u=cu, grad=cg, lap=cl)
        expected = (np.einsum("mo,mop->p", cu, jac.u) + np.einsum("mok,mokp->p", cg, jac.grad)
                    + np.einsum("mo,mop->p", cl, jac.lap))
    else:
        ch = rng.normal(size=(9, 2, 2, 2))
        cot = nn.Jet(u=cu, grad=cg, hess=ch)
        expected = (np.einsum("mo,mop->p", cu, jac.u) + np.einsum("mok,mokp->p", cg, jac.grad)
                    + np.einsum("mokl,moklp->p", ch, jac.hess))
    np.testing.assert_allclose(net.vjp(X2, net.theta0, cot), expected, rtol=1e-12, atol=1e-13)
    # u alone (order 0)
    np.testing.assert_allclose(net.vjp(X2, net.theta0, nn.Jet(u=cu)),
                               np.einsum("mo,mop->p", cu, jac.u), rtol=1e-12, atol=1e-13)


JET_KINDS = [(0, {}), (1, {}), (2, {}), (2, {"lap_only": True}), (2, {"diag_only": True})]


@pytest.mark.parametrize("tanh", ["numpy", "numba"])
def test_numba_backend_equals_numpy(tanh, monkeypatch):
    """The numba backend (compiled partials, rows assembled by nedsym.nn.assembly) gives the
    NumPy reference's Jacobians and rows for every jet kind, two outputs, per-neuron
    parameters and a residual layer, with tanh's partials as NumPy kernels or compiled."""
    import nedsym.codegen.libm as libm

    monkeypatch.setenv("NEDSYM_ROW_TANH", tanh)
    monkeypatch.setattr(libm, "_TANH_PAYS", None)
    layers = lambda: [nn.Dense(2, 5, "gelu"), swish_layer(5, 5),  # noqa: E731
                      nn.Residual(5, "tanh", h=0.5), nn.Linear(5, 2)]
    ref = nn.Network(layers(), seed=1)
    fast = nn.Network(layers(), seed=1, backend="numba")
    for order, kw in JET_KINDS:
        v0, j0 = ref.jacobian(X2, order=order, **kw)
        v1, j1 = fast.jacobian(X2, order=order, **kw)
        np.testing.assert_allclose(j1.data, j0.data, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(v1.u, v0.u, rtol=1e-12, atol=1e-12)
        # rows of random cotangents (every feature active)
        _, l0 = ref.linearize(X2, order=order, **kw)
        _, l1 = fast.linearize(X2, order=order, **kw)
        F = j0.data.shape[2]
        cot = RNG.normal(size=(len(X2), 3, 2, F))
        c = nn.Jet(u=cot[:, :, :, 0], grad=None if order == 0 else cot[:, :, :, 1:3],
                   hess=cot[:, :, :, 3:].reshape(len(X2), 3, 2, 2, 2)
                   if order == 2 and not kw else None,
                   lap=cot[:, :, :, 3] if kw.get("lap_only") else None,
                   diag=cot[:, :, :, 3:5] if kw.get("diag_only") else None)
        expected = np.einsum("mcof,mofp->mcp", cot, j0.data)
        np.testing.assert_allclose(l1.rows(c), expected, rtol=1e-11, atol=1e-12)
        np.testing.assert_allclose(l0.rows(c), expected, rtol=1e-11, atol=1e-12)
    # libm partials are NumPy kernels under numba too (vectorized ufuncs), tanh's compiled
    # when chosen
    assert ("@njit" in fast.source()) == (tanh == "numba") and "def partials" in ref.source()


@pytest.mark.parametrize("tanh", ["numpy", "numba"])
def test_numba_compiles_polynomial_partials_only(tanh, monkeypatch):
    """Under backend="numba" a polynomial activation's partials are one compiled loop, and so
    are relu's (Max and Heaviside are a compare, not a libm call); tanh's are compiled with
    the one-exp tanh where that is faster than NumPy's (fixed here by NEDSYM_ROW_TANH), else
    NumPy; all equal the NumPy backend."""
    import nedsym.codegen.libm as libm

    monkeypatch.setenv("NEDSYM_ROW_TANH", tanh)
    monkeypatch.setattr(libm, "_TANH_PAYS", None)
    z = sp.Symbol("z")
    cubic = sp.Lambda(z, z + z**3 / 3)
    layers = lambda: [nn.Dense(2, 4, cubic), nn.Dense(4, 3, "tanh"),  # noqa: E731
                      nn.Dense(3, 3, "relu"), nn.Linear(3, 1)]
    fast = nn.Network(layers(), seed=2, backend="numba")
    ref = nn.Network(layers(), seed=2)
    assert "@njit" in fast.layers[0].partials_source(1, "numba")
    tanh_src = fast.layers[1].partials_source(1, "numba")
    assert ("@njit" in tanh_src and "_nsd_tanh(" in tanh_src) == (tanh == "numba")
    assert "@njit" in fast.layers[2].partials_source(1, "numba")
    for order in (0, 1, 2):
        np.testing.assert_allclose(fast.jacobian(X2, order=order)[1].data,
                                   ref.jacobian(X2, order=order)[1].data,
                                   rtol=1e-12, atol=1e-12)
    # a NaN input stays NaN in the compiled relu partials (Max printed as np.maximum)
    relu = fast.layers[2]
    k, _ = relu.kernel(1, "numba")
    kr, _ = relu.kernel(1, "numpy")
    zs = np.array([[np.nan, -1.0, 2.0]])
    got, want = k([zs], []), kr([zs], [])
    assert np.isnan(got[0, 0, 0])
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("order,kw", JET_KINDS)
def test_seeded_jacobian_support(order, kw):
    """The features a seeded Jacobian skips (JetSpec.support) have zero cotangents: the
    full sweep over every feature gives the same Jacobian."""
    spec = nn.jet.JetSpec(2, order, **kw)
    net = nn.Network([nn.Dense(2, 6, "tanh"), nn.Dense(6, 4, "sin"), nn.Linear(4, 1)], seed=3,
                     backend="numba")
    _, jac = net.jacobian(X2, order=order, **kw)     # skips features outside the support
    _, lin = net.linearize(X2, order=order, **kw)    # rows: every feature summed
    for f in range(spec.F):
        cot = np.zeros((len(X2), 1, 1, spec.F))
        cot[:, 0, 0, f] = 1.0
        rows = lin.rows(nn.Jet(
            u=cot[..., 0], grad=cot[..., 1:3] if order else None,
            hess=cot[..., 3:].reshape(len(X2), 1, 1, 2, 2) if order == 2 and not kw else None,
            lap=cot[..., 3] if kw.get("lap_only") else None,
            diag=cot[..., 3:5] if kw.get("diag_only") else None))
        np.testing.assert_allclose(rows[:, 0], jac.data[:, 0, f], rtol=1e-12, atol=1e-13)
    assert spec.support(0) == (0,)
    if order == 2 and not kw:
        assert spec.support(3 + 1) == (0, 1, 2, 4)      # d2u/dx0dx1 reads u, both grads
        assert spec.support(3) == (0, 1, 3)             # d2u/dx0^2 reads u, du/dx0


def test_numba_rows_in_chunks(monkeypatch):
    """Jacobians and rows assembled chunk by chunk into the same buffer are unchanged."""
    net = nn.MLP([2, 7, 5, 1], seed=2, backend="numba")
    v0, j0 = net.jacobian(X2, order=1)
    monkeypatch.setattr(network_module, "_CHUNK_ENTRIES", 40)
    v1, j1 = net.jacobian(X2, order=1)
    np.testing.assert_array_equal(j1.data, j0.data)
    np.testing.assert_array_equal(v1.u, v0.u)


def test_jacobian_and_rows_into_out():
    for backend in ("numpy", "numba"):
        net = nn.MLP([2, 6, 1], seed=4, backend=backend)
        _, ref = net.jacobian(X2, order=1)
        buf = np.full(ref.data.shape, np.nan)
        _, jac = net.jacobian(X2, order=1, out=buf)
        assert jac.data is buf and np.shares_memory(jac.grad, buf)
        np.testing.assert_array_equal(buf, ref.data)
        _, lin = net.linearize(X2, order=1)
        cot = nn.Jet(u=np.ones((len(X2), 1, 1)))
        rows = np.full((len(X2), 1, net.n_params), np.nan)
        assert lin.rows(cot, out=rows) is rows
        np.testing.assert_array_equal(rows[:, 0], ref.u[:, 0])
        for bad in (np.empty(ref.data.shape, dtype=np.float32), np.empty((1, 2)),
                    np.empty(ref.data.shape[::-1]).T, [[0.0]]):
            with pytest.raises(FieldError, match=r"jacobian: out= .* shape \(9, 1, 3, 25\)"):
                net.jacobian(X2, order=1, out=bad)
        with pytest.raises(FieldError, match=r"rows: out= must be"):
            lin.rows(cot, out=np.empty((9, 2, net.n_params)))
        # out= may not overlap what it is computed from
        shared = np.zeros(ref.data.size)
        shared[:net.n_params] = net.theta0
        with pytest.raises(FieldError, match="overlaps"):
            net.jacobian(X2, shared[:net.n_params], order=1,
                         out=shared.reshape(ref.data.shape))
        # no channels: an empty result
        assert lin.rows(nn.Jet(u=np.ones((len(X2), 0, 1)))).shape == (len(X2), 0, net.n_params)


def test_input_errors():
    net = nn.MLP([2, 4, 1], seed=0)
    with pytest.raises(FieldError, match=r"shape \(M, 2\)"):
        net.forward(np.zeros((5, 3)))
    with pytest.raises(DeclarationError, match=f"P = {net.n_params}"):
        net.forward(X2, np.zeros(3))
    with pytest.raises(ConfigError, match="order must be 0, 1 or 2"):
        net.jacobian(X2, order=3)
    with pytest.raises(ConfigError, match="valid: numpy, numba"):
        nn.MLP([2, 4, 1], backend="cuda")
    with pytest.raises(ConfigError, match="xavier, he"):
        nn.MLP([2, 4, 1], init="lecun")
    with pytest.raises(DeclarationError, match="takes 3 inputs but layer 0 gives 4"):
        nn.Network([nn.Dense(2, 4), nn.Linear(3, 1)])
    with pytest.raises(FieldError, match="cotangent grad"):
        net.vjp(X2, None, nn.Jet(u=np.zeros((9, 1)), grad=np.zeros((9, 2))))
    one_d = nn.MLP([1, 4, 1], seed=0)
    assert one_d.forward(np.linspace(0, 1, 4)).u.shape == (4, 1)


def test_rule_errors():
    x, z, a, q = sp.symbols("x z a q")
    with pytest.raises(DeclarationError, match=r"free symbol\(s\) \['q'\]"):
        nn.Layer.from_rule(z * q, x=x, z=z, n_in=2, n_out=2)
    with pytest.raises(DeclarationError, match="uses the input component x.*2 -> 3"):
        nn.Layer.from_rule(x + sp.tanh(z), x=x, z=z, n_in=2, n_out=3)
    with pytest.raises(DeclarationError, match="initial value of parameter 'a'"):
        nn.Network([nn.Layer.from_rule(a * z, z=z, params={a: np.ones(2)}, n_in=2, n_out=3)])
    with pytest.raises(DeclarationError, match="'b' is reserved"):
        nn.Layer.from_rule(sp.Symbol("b") * z, z=z, params={sp.Symbol("b"): 1.0}, n_in=2,
                           n_out=2)
    with pytest.raises(DeclarationError, match="positive integer"):
        nn.Dense(0, 3)


def test_diagonal_only_jets_equal_the_hessian_diagonal():
    net = nn.Network([nn.Dense(2, 5, "tanh"), swish_layer(5, 4), nn.Linear(4, 2)], seed=3)
    full = net.forward(X2, order=2)
    diag = net.forward(X2, order=2, diag_only=True)
    np.testing.assert_allclose(diag.diag, np.diagonal(full.hess, axis1=2, axis2=3),
                               rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(diag.lap, full.lap, rtol=1e-13, atol=1e-14)
    assert diag.hess is None and diag.order == 2
    _, jf = net.jacobian(X2, order=2)
    _, jd = net.jacobian(X2, order=2, diag_only=True)
    np.testing.assert_allclose(jd.diag, np.diagonal(jf.hess, axis1=2, axis2=3)
                               .transpose(0, 1, 3, 2), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(jd.u, jf.u, rtol=1e-13, atol=1e-14)
    with pytest.raises(ConfigError, match="exclude each other"):
        net.forward(X2, order=2, lap_only=True, diag_only=True)
    with pytest.raises(ConfigError, match="diag_only=True selects second derivatives"):
        net.forward(X2, order=1, diag_only=True)
    with pytest.raises(ConfigError, match="lap_only must be True or False"):
        net.jacobian(X2, order=2, lap_only="yes")
    # a cotangent of what the jet does not carry is refused, naming what it carries
    with pytest.raises(FieldError, match="carrying grad, hess, u"):
        net.vjp(X2, net.theta0, nn.Jet(u=np.zeros((9, 2)), diag=np.zeros((9, 2, 2)),
                                       hess=np.zeros((9, 2, 2, 2))))


@pytest.mark.parametrize("mode", ["full", "lap", "diag"])
def test_linearized_rows_equal_contracted_jacobians(mode, monkeypatch):
    """lin.rows(c) is the per-point, per-channel contraction of the Jacobian with c, for
    several channels at once, in one sweep (and equally in chunks of one point)."""
    net = nn.Network([nn.Dense(2, 5, "tanh"), swish_layer(5, 4), nn.Linear(4, 2)], seed=3)
    kw = {"lap": {"lap_only": True}, "diag": {"diag_only": True}}.get(mode, {})
    _, jac = net.jacobian(X2, order=2, **kw)
    vals, lin = net.linearize(X2, order=2, **kw)
    np.testing.assert_array_equal(vals.u, net.forward(X2, order=2, **kw).u)
    rng = np.random.default_rng(5)
    C = 3
    cu, cg = rng.normal(size=(9, C, 2)), rng.normal(size=(9, C, 2, 2))
    expected = np.einsum("mco,mop->mcp", cu, jac.u) + np.einsum("mcok,mokp->mcp", cg, jac.grad)
    if mode == "full":
        ch = rng.normal(size=(9, C, 2, 2, 2))
        cot = nn.Jet(u=cu, grad=cg, hess=ch)
        expected += np.einsum("mcokl,moklp->mcp", ch, jac.hess)
    elif mode == "lap":
        cl = rng.normal(size=(9, C, 2))
        cot = nn.Jet(u=cu, grad=cg, lap=cl)
        expected += np.einsum("mco,mop->mcp", cl, jac.lap)
    else:
        cd = rng.normal(size=(9, C, 2, 2))
        cot = nn.Jet(u=cu, grad=cg, diag=cd)
        expected += np.einsum("mcok,mokp->mcp", cd, jac.diag)
    rows = lin.rows(cot)
    assert rows.shape == (9, C, net.n_params)
    np.testing.assert_allclose(rows, expected, rtol=1e-11, atol=1e-12)
    monkeypatch.setattr(network_module, "_CHUNK_ENTRIES", 1)
    np.testing.assert_allclose(lin.rows(cot), rows, rtol=1e-13, atol=1e-14)


def test_linearized_rows_refuse_bad_cotangents():
    net = nn.MLP([2, 4, 1], seed=0)
    _, lin = net.linearize(X2, order=1)
    with pytest.raises(FieldError, match="channel axis"):
        lin.rows(nn.Jet(u=np.zeros((9, 1))))
    with pytest.raises(FieldError, match="grad must have shape"):
        lin.rows(nn.Jet(u=np.zeros((9, 2, 1)), grad=np.zeros((9, 1, 1, 2))))
    with pytest.raises(FieldError, match="not part of this jet: order 1"):
        lin.rows(nn.Jet(u=np.zeros((9, 2, 1)), lap=np.zeros((9, 2, 1))))


def test_fresh_jacobians_and_rows_reuse_memory_only_once_dropped():
    """A fresh Jacobian (or rows) comes from the network's arena: a later call never writes
    into one that is still referenced (a view of it included), and takes its memory once it
    is dropped; the values equal the out= path's."""
    net = nn.MLP([2, 5, 1], activation="tanh", seed=0)
    rng = np.random.default_rng(0)
    Xs = [rng.uniform(-1, 1, (7, 2)) for _ in range(4)]
    want = [net.jacobian(X, net.theta0, 1, out=np.empty((7, 1, 3, net.n_params)))[1].data
            for X in Xs]
    first = net.jacobian(Xs[0], net.theta0, 1)[1]      # measures the size
    second = net.jacobian(Xs[1], net.theta0, 1)[1]     # from the arena's block
    assert second.data.base is not None
    grad_view = second.grad                            # keeps the block busy
    ptr = second.data.ctypes.data
    del second
    third = net.jacobian(Xs[2], net.theta0, 1)[1]
    assert not np.shares_memory(third.data, grad_view)
    np.testing.assert_array_equal(grad_view, want[1][:, :, 1:])
    np.testing.assert_array_equal(first.data, want[0])
    np.testing.assert_array_equal(third.data, want[2])
    del grad_view
    fourth = net.jacobian(Xs[3], net.theta0, 1)[1]     # the second's block is free again
    assert fourth.data.ctypes.data == ptr
    np.testing.assert_array_equal(fourth.data, want[3])
    np.testing.assert_array_equal(third.data, want[2])
    _, lin = net.linearize(Xs[0], net.theta0, 1)
    cot = nn.Jet(u=rng.normal(size=(7, 2, 1)), grad=rng.normal(size=(7, 2, 1, 2)))
    r1, r2 = lin.rows(cot), lin.rows(cot)
    assert not np.shares_memory(r1, r2) and np.array_equal(r1, r2)
