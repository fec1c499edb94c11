"""Width-depth (integro-differential) model: derived costate, exact gradients, convergence in
width and depth, training by forward-backward sweeps."""

import numpy as np
import pytest
import sympy as sp

from nedsym.depth.widthdepth import WidthDepthModel
from nedsym.errors import ConfigError, DeclarationError
from nedsym.flows.hamiltonian import width_depth_hamiltonian


def _toy(m):
    xi = np.linspace(-1, 1, 24)[:, None]
    return xi, np.sin(np.pi * xi[:, 0]) / 2 + xi[:, 0] ** 2 / 4


def _smooth_params(m):
    return m.params_from(lambda y, yp, t: 0.8 * np.cos(np.pi * (y[..., 0] - yp[..., 0]))
                         * (1 + t) / 2, lambda y, t: 0.1 * np.sin(2 * np.pi * y[:, 0]) + 0.2 * t)


def test_pointwise_hamiltonian_derivative_is_symbolic():
    z = sp.Symbol("z", real=True)
    hm = width_depth_hamiltonian(lambda s: s + sp.sin(s) / 2)
    assert sp.simplify(hm.dh_dz - hm.p * (1 + sp.cos(z) / 2)) == 0
    with pytest.raises(DeclarationError, match="'a'"):
        width_depth_hamiltonian(sp.Symbol("a") * z, z=z)


@pytest.mark.parametrize("stepper,rule", [("rk4", "gauss"), ("euler", "sobol")])
def test_width_depth_gradient_equals_finite_differences(stepper, rule):
    m = WidthDepthModel(K=12, steps=6, stepper=stepper, rule=rule, lam=0.05, seed=3)
    xi, f = _toy(m)
    w, b = m.init_params(scale=0.7, seed=1)
    g = m.gradient(xi, f, w, b)
    rng = np.random.default_rng(0)
    for _ in range(3):
        dW, dB = rng.normal(size=w.shape), rng.normal(size=b.shape)
        e = 1e-5
        fd = (m.loss(xi, f, w + e * dW, b + e * dB)
              - m.loss(xi, f, w - e * dW, b - e * dB)) / (2 * e)
        assert np.sum(g.dw * dW) + np.sum(g.db * dB) == pytest.approx(fd, rel=1e-6)
    # functional gradient = lam w - E[sigma'(z) p (x) u]: recompute E[...] by hand at one step
    k = 2
    if stepper == "euler":
        U = m.forward(xi, w, b)[0][k]
        Z = (w[k] * m.omega) @ U + b[k][:, None]
        p = g.ps[k + 1] / m.omega[:, None]          # continuum costate p = P / omega
        gz = p * (1 - np.tanh(Z) ** 2)
        Ew = gz @ U.T / U.shape[1]
        np.testing.assert_allclose(g.grad_w[k], m.lam * w[k] - Ew, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(g.grad_b[k], m.lam * b[k] - gz.mean(axis=1), rtol=1e-10,
                                   atol=1e-12)


def test_outputs_converge_in_width_and_depth():
    xi = np.linspace(-1, 1, 5)[:, None]
    width = []
    for K in (4, 8, 16, 32):
        m = WidthDepthModel(K=K, steps=16)
        width.append(m.predict(xi, *_smooth_params(m)))
    dK = [np.abs(width[j + 1] - width[j]).max() for j in range(3)]
    assert dK[2] < 1e-10 and dK[1] < 1e-2 * dK[0], dK   # Gauss: spectral in K
    depth = []
    for steps in (5, 10, 20, 40):
        m = WidthDepthModel(K=16, steps=steps)
        depth.append(m.predict(xi, *_smooth_params(m)))
    dt = np.array([np.abs(depth[j + 1] - depth[j]).max() for j in range(3)])
    rates = np.log2(dt[:-1] / dt[1:])
    assert np.all(rates > 1.7), (dt, rates)           # O(h^2): midpoint-sampled w(t)
    qmc = [WidthDepthModel(K=K, rule="sobol", steps=16, seed=0) for K in (32, 512)]
    outs = [mm.predict(xi, *_smooth_params(mm)) for mm in qmc]
    assert np.abs(outs[1] - width[-1]).max() < np.abs(outs[0] - width[-1]).max()


@pytest.mark.parametrize("method,kw", [("gd", {"lr": 1.0}), ("msa", {"relax": 0.05})])
def test_toy_regression_trains_to_stationarity(method, kw):
    m = WidthDepthModel(K=32, T=1.0, steps=20, lam=0.05)
    xi, f = _toy(m)
    w, b = m.init_params(scale=0.5, seed=0)
    hist = m.train(xi, f, w, b, method=method, iters=600, tol=1e-4, **kw)
    assert hist.monotone
    assert hist.converged and max(hist.residual_w[-1], hist.residual_b[-1]) < 1e-4
    assert hist.loss[-1] < 0.6 * hist.loss[0]
    # stationarity: lam w = E[sigma'(z) p (x) u] at the end
    g = m.gradient(xi, f, hist.w, hist.b)
    assert g.residual < 1e-4


def test_errors_are_specific():
    m = WidthDepthModel(K=8, steps=4, lam=0.05)
    xi, f = _toy(m)
    w, b = m.init_params(seed=0)
    with pytest.raises(ConfigError, match="method"):
        m.train(xi, f, w, b, method="adam")
    with pytest.raises(ConfigError, match="shape"):
        m.gradient(xi, f, w[:2], b)
    with pytest.raises(ConfigError, match="target"):
        m.gradient(xi, f[:3], w, b)
    with pytest.raises(ConfigError, match="unknown depth stepper"):
        WidthDepthModel(K=8, stepper="leapfrog")


def test_training_can_be_interrupted_and_keeps_progress():
    m = WidthDepthModel(K=8, steps=4, lam=0.05)
    xi, f = _toy(m)
    w, b = m.init_params(seed=0)

    def stop(it, g):
        if it == 5:
            raise KeyboardInterrupt

    hist = m.train(xi, f, w, b, iters=100, callback=stop)
    assert hist.interrupted and not hist.converged and len(hist.loss) == 6
    assert m.loss(xi, f, hist.w, hist.b) < hist.loss[0]
