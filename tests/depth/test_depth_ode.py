"""DepthODE: derivation, exact discrete adjoint vs finite differences, continuous adjoint."""

import numpy as np
import pytest
import sympy as sp

from nedsym.depth import DepthODE, matrix, vector
from nedsym.errors import BlowUpError, ConfigError, DeclarationError, NonDifferentiableError
from nedsym.flows.hamiltonian import hamiltonian_system

from .conftest import random_problem, tanh_ode


def _fd_check(ode, theta, x0, y, stepper, seed=1):
    res = ode.gradient(x0, theta, T=1.0, data=y, stepper=stepper)
    rng = np.random.default_rng(seed)
    worst = 0.0
    for _ in range(3):
        d = rng.normal(size=theta.shape)
        eps = 1e-5
        fd = (ode.loss(x0, theta + eps * d, 1.0, y, stepper=stepper)
              - ode.loss(x0, theta - eps * d, 1.0, y, stepper=stepper)) / (2 * eps)
        ad = float(np.sum(res.grad * d))
        worst = max(worst, abs(fd - ad) / abs(fd))
    return worst


def test_hamiltonian_derivation_tanh_layer():
    x, W, b = vector("x", 2), matrix("W", 2, 2), vector("b", 2)
    s = hamiltonian_system(x, (W * x + b).applyfunc(sp.tanh), [W, b])
    z0 = W[0, 0] * x[0] + W[0, 1] * x[1] + b[0]
    z1 = W[1, 0] * x[0] + W[1, 1] * x[1] + b[1]
    p0, p1 = s.costate
    g0, g1 = p0 * (1 - sp.tanh(z0) ** 2), p1 * (1 - sp.tanh(z1) ** 2)
    expect = [-(W[0, 0] * g0 + W[1, 0] * g1), -(W[0, 1] * g0 + W[1, 1] * g1)]
    for got, want in zip(s.costate_rhs, expect, strict=True):
        assert sp.simplify(got - want) == 0
    # dH/dW_ij = p_i sigma'(z_i) x_j, dH/db_i = p_i sigma'(z_i)
    assert sp.simplify(s.dH_dtheta[1] - g0 * x[1]) == 0
    assert sp.simplify(s.dH_dtheta[5] - g1) == 0
    assert s.phase_space_divergence() == 0
    assert s.terminal_costate == (0, 0)


@pytest.mark.parametrize("n", [4, 8, 16])
@pytest.mark.parametrize("stepper", ["euler", "rk4"])
def test_discrete_adjoint_equals_finite_differences(n, stepper):
    ode, W, b = tanh_ode(n)
    theta, x0, y = random_problem(ode, W, b, n, steps=6)
    assert _fd_check(ode, theta, x0, y, stepper) < 1e-6


@pytest.mark.parametrize("stepper", ["euler", "heun", "rk4"])
def test_discrete_adjoint_with_running_cost_and_time(stepper):
    ode, W, b = tanh_ode(4, running_cost=True, time_dep=True)
    theta, x0, y = random_problem(ode, W, b, 4, steps=5, seed=3)
    assert _fd_check(ode, theta, x0, y, stepper) < 1e-6


def test_state_gradient_is_minus_costate():
    n, B = 4, 3
    ode, W, b = tanh_ode(n)
    theta, x0, y = random_problem(ode, W, b, n, steps=4, B=B)
    res = ode.gradient(x0, theta, data=y)
    eps = 1e-6
    for s_, i in [(0, 0), (2, 3)]:
        e = np.zeros_like(x0)
        e[s_, i] = eps
        fd = (ode.loss(x0 + e, theta, data=y) - ode.loss(x0 - e, theta, data=y)) / (2 * eps)
        assert fd == pytest.approx(-res.ps[0][i, s_] / B, rel=1e-6)


@pytest.mark.parametrize("stepper,order", [("euler", 1), ("rk4", 4)])
def test_continuous_adjoint_converges_to_discrete(stepper, order):
    n = 4
    ode, W, b = tanh_ode(n)
    rng = np.random.default_rng(0)
    W0, b0 = rng.normal(size=(n, n)) / 2, 0.2 * rng.normal(size=n)
    x0, y = rng.normal(size=(3, n)), rng.normal(size=(3, n))
    errs = []
    for steps in (8, 16, 32):
        theta = ode.pack({W: W0, b: b0}, steps=steps)
        gd = ode.gradient(x0, theta, data=y, stepper=stepper).grad.sum(axis=0)
        gc = ode.gradient(x0, theta, data=y, stepper=stepper, adjoint="continuous").grad.sum(0)
        errs.append(np.linalg.norm(gd - gc) / np.linalg.norm(gd))
    rates = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
    assert errs[-1] < errs[0]
    assert np.all(rates > order - 0.5), (errs, rates)


def test_numba_backend_matches_numpy():
    n = 4
    ode_np, W, b = tanh_ode(n, running_cost=True)
    ode_nb, _, _ = tanh_ode(n, running_cost=True, backend="numba")
    theta, x0, y = random_problem(ode_np, W, b, n, steps=3, B=7)
    r1 = ode_np.gradient(x0, theta, data=y)
    r2 = ode_nb.gradient(x0, theta, data=y)
    assert r2.loss == pytest.approx(r1.loss, rel=1e-12)
    np.testing.assert_allclose(r2.grad, r1.grad, rtol=1e-10, atol=1e-13)
    assert "njit" in ode_nb.source("vjp")


def test_pack_unpack_roundtrip_and_errors():
    ode, W, b = tanh_ode(3)
    theta = ode.pack({"W": np.arange(9.0).reshape(3, 3), b: np.ones(3)}, steps=2)
    assert theta.shape == (2, 12)
    back = ode.unpack(theta)
    np.testing.assert_array_equal(back["W"][1], np.arange(9.0).reshape(3, 3))
    with pytest.raises(ConfigError, match="'b'"):
        ode.pack({W: np.eye(3)})
    with pytest.raises(ConfigError, match="shape"):
        ode.pack({W: np.eye(2), b: np.ones(3)})
    with pytest.raises(ConfigError, match="x0"):
        ode.forward(np.ones((2, 5)), theta)
    with pytest.raises(ConfigError, match="unknown depth stepper"):
        ode.forward(np.ones((2, 3)), theta, stepper="rk7")
    with pytest.raises(ConfigError, match="data"):
        ode.gradient(np.ones((2, 3)), theta)


def test_declaration_errors_name_the_symbol():
    x, W = vector("x", 2), matrix("W", 2, 2)
    a = sp.Symbol("a")
    with pytest.raises(DeclarationError, match="'a'"):
        DepthODE(x, W * x * a, [W])
    with pytest.raises(DeclarationError, match="3 components"):
        DepthODE(x, sp.ImmutableMatrix([1, 2, 3]), [W])
    with pytest.raises(NonDifferentiableError, match="Abs"):
        DepthODE(x, (W * x).applyfunc(sp.Abs), [W])
    with pytest.raises(DeclarationError, match="more than one role"):
        DepthODE(x, W * x, [W, x])


def test_blow_up_is_detected():
    n = 2
    x, W = vector("x", n), matrix("W", n, n)
    ode = DepthODE(x, (W * x).applyfunc(lambda e: e**3), [W])
    theta = ode.pack({W: 5 * np.eye(n)}, steps=20)
    with pytest.raises(BlowUpError, match="step"):
        ode.forward(10 * np.ones((1, n)), theta, T=5.0, stepper="euler")


def test_combine_in_place_equals_the_sum():
    """The RK stage sums (BLAS axpys into a given array, or a temporary per term for strided
    arrays) equal x + Σ c_j K_j."""
    from nedsym.depth.steppers import _combine

    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 5))
    K = [rng.normal(size=(3, 5)), rng.normal(size=(5, 3)).T, rng.normal(size=(3, 5))]
    coefs = [0.5, -2.0, 0.0]
    want = x + 0.5 * K[0] - 2.0 * K[1]
    out = np.full((3, 5), np.nan)
    assert _combine(x, coefs, K, out=out) is out
    np.testing.assert_allclose(out, want, rtol=1e-15, atol=1e-15)
    np.testing.assert_allclose(_combine(x, coefs, K), want, rtol=1e-15, atol=1e-15)
    strided = np.full((3, 10), np.nan)[:, ::2]
    np.testing.assert_allclose(_combine(x, coefs, K, out=strided), want, rtol=1e-15,
                               atol=1e-15)


def test_combine_broadcasts_and_rk_forward_copies_a_reused_buffer():
    """A term that broadcasts is added as NumPy would (never axpy'd over the wrong entries);
    an F that reuses one output buffer is copied (fresh=False, the default); an empty batch
    integrates."""
    from nedsym.depth.steppers import _combine, get_tableau, rk_forward

    out = _combine(np.zeros((2, 3)), [1.0], [np.ones((2, 1))], out=np.empty((2, 3)))
    np.testing.assert_array_equal(out, np.ones((2, 3)))
    with pytest.raises(ValueError):
        _combine(np.zeros((2, 3)), [1.0], [np.ones((3, 2))], out=np.empty((2, 3)))
    buf = np.empty((2, 3))

    def F(X, th, t):
        np.multiply(X, -1.0, out=buf)
        return buf

    xs = rk_forward(F, np.ones((2, 3)), np.zeros((1, 1)), 1.0, get_tableau("rk4"))[0]
    np.testing.assert_allclose(xs[-1], 0.375)           # one RK4 step of x' = -x, h = 1
    ode, Wm, bm = tanh_ode(3)
    theta, _, _ = random_problem(ode, Wm, bm, 3, steps=2)
    assert ode.forward(np.zeros((0, 3)), theta).xs.shape == (3, 3, 0)


def test_fused_combine_equals_the_blas_sums():
    """The compiled one-pass stage sums equal the BLAS path: scale, zero coefficients
    skipped, more terms than one kernel takes (chained), a strided or broadcast term (the
    BLAS path takes it), a new output array."""
    from nedsym.depth.steppers import _FUSED_TERMS, _combine, fused_combine

    comb = fused_combine()
    rng = np.random.default_rng(3)
    x = rng.normal(size=(4, 6))
    K = [rng.normal(size=(4, 6)) for _ in range(_FUSED_TERMS + 2)]
    for coefs, scale in (([0.5], 1.0), ([0.0, -1.5, 2.0], 0.25), ([1.0] * len(K), -2.0),
                         ([], 3.0)):
        want = scale * x + sum(c * Kj for c, Kj in zip(coefs, K, strict=False))
        out = np.full_like(x, np.nan)
        assert comb(x, coefs, K, out=out, scale=scale) is out
        np.testing.assert_allclose(out, want, rtol=1e-14, atol=1e-14)
        np.testing.assert_allclose(comb(x, coefs, K, scale=scale), want, rtol=1e-14,
                                   atol=1e-14)
        np.testing.assert_allclose(_combine(x, coefs, K, scale=scale), want, rtol=1e-14,
                                   atol=1e-14)
    odd = [rng.normal(size=(6, 4)).T, np.ones((4, 1))]
    np.testing.assert_allclose(comb(x, [2.0, -1.0], odd), x + 2 * odd[0] - 1.0, rtol=1e-14)
    fx = np.asfortranarray(x)                       # an F-order x, and a float32 term
    np.testing.assert_allclose(comb(fx, [1.0, 0.5], [K[0], K[1].astype(np.float32)]),
                               x + K[0] + 0.5 * K[1].astype(np.float32), rtol=1e-6)


@pytest.mark.parametrize("bad", ["fortran", "float32"])
def test_fused_combine_into_x_with_a_refused_term_after_the_first_chunk(bad):
    """``out is x`` with more terms than one kernel takes and a term the kernels refuse in a
    later chunk: the rest goes by BLAS from the partial sum (x itself was overwritten by the
    first chunk; starting again from it summed the first terms twice)."""
    from nedsym.depth.steppers import _FUSED_TERMS, fused_combine

    rng = np.random.default_rng(5)
    x = rng.normal(size=(3, 5))
    K = [rng.normal(size=(3, 5)) for _ in range(_FUSED_TERMS + 2)]
    K[-1] = np.asfortranarray(K[-1]) if bad == "fortran" else K[-1].astype(np.float32)
    coefs = [0.5 + j for j in range(len(K))]
    want = 0.75 * x + sum(c * Kj for c, Kj in zip(coefs, K, strict=True))
    out = fused_combine()(x, coefs, K, out=x, scale=0.75)
    assert out is x
    np.testing.assert_allclose(x, want, rtol=1e-6 if bad == "float32" else 1e-14)


@pytest.mark.parametrize("stepper", ["euler", "heun", "rk4"])
def test_linear_adjoint_equals_the_scaled_one(stepper):
    """Without a running cost the vjp is linear in the costate: passing the stage costates
    pre-scaled by h b_i (``linear=True``) gives the same costates and gradient as scaling
    each result, with the BLAS and the fused stage sums alike."""
    from nedsym.depth.steppers import _combine, fused_combine, get_tableau, rk_discrete_adjoint

    ode, Wm, bm = tanh_ode(3)
    theta, x0, y = random_problem(ode, Wm, bm, 3, steps=4)
    tab = get_tableau(stepper)
    traj = ode._forward(x0, theta, 1.0, None, stepper, keep=True)
    pT = ode.terminal(traj.xs[-1], y, theta[0])[1]
    ref = rk_discrete_adjoint(ode.vjp, traj.stages, theta, pT, traj.h, tab, aux=traj.aux)
    for combine in (_combine, fused_combine()):
        got = rk_discrete_adjoint(ode.vjp, traj.stages, theta, pT, traj.h, tab,
                                  aux=traj.aux, linear=True, combine=combine)
        for a, b_ in zip(got, ref, strict=True):
            np.testing.assert_allclose(a, b_, rtol=1e-13, atol=1e-14)
