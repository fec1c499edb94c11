"""Invariants: H along autonomous trajectories, p·δx, volume of the (x, p) flow;
the near-identity limit of a feed-forward net."""

import numpy as np
import pytest
import sympy as sp

from nedsym.depth.invariants import flow_volume, hamiltonian_along, tangent_pairing
from nedsym.depth.limits import near_identity_network, near_identity_ode

from .conftest import tanh_ode


def _autonomous(n=4, seed=0):
    ode, W, b = tanh_ode(n)
    rng = np.random.default_rng(seed)
    return ode, W, b, rng.normal(size=(n, n)) / 2, 0.2 * rng.normal(size=n), rng


@pytest.mark.parametrize("stepper,order", [("euler", 1), ("rk4", 4)])
def test_hamiltonian_conserved_to_stepper_order(stepper, order):
    ode, W, b, W0, b0, rng = _autonomous()
    x0, y = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    drifts = []
    for steps in (10, 20, 40):
        theta = ode.pack({W: W0, b: b0}, steps=steps)
        res = ode.gradient(x0, theta, T=2.0, data=y, stepper=stepper)
        Hk = hamiltonian_along(ode, res, theta)
        drifts.append(np.max(np.abs(Hk - Hk[0])) / np.max(np.abs(Hk[0])))
    rates = np.log2(np.array(drifts[:-1]) / np.array(drifts[1:]))
    assert np.all(rates > order - 0.4), (drifts, rates)
    if stepper == "rk4":
        assert drifts[-1] < 1e-6


def test_hamiltonian_not_conserved_when_theta_varies():
    ode, W, b, W0, b0, rng = _autonomous()
    steps = 40
    Ws = W0[None] * (1 + np.linspace(0, 1, steps))[:, None, None]
    theta = ode.pack({W: Ws, b: b0[None].repeat(steps, 0)}, steps=steps)
    x0, y = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    res = ode.gradient(x0, theta, T=2.0, data=y)
    Hk = hamiltonian_along(ode, res, theta)
    assert np.max(np.abs(Hk - Hk[0])) / np.max(np.abs(Hk[0])) > 1e-3


@pytest.mark.parametrize("stepper", ["euler", "rk4"])
def test_costate_pairing_with_tangent_is_exactly_constant(stepper):
    ode, W, b, _, _, rng = _autonomous(seed=2)
    steps = 12
    theta = ode.pack({W: rng.normal(size=(steps, 4, 4)) / 2,
                      b: 0.2 * rng.normal(size=(steps, 4))}, steps=steps)
    x0, y, v0 = (rng.normal(size=(3, 4)) for _ in range(3))
    res = ode.gradient(x0, theta, data=y, stepper=stepper)
    pair = tangent_pairing(ode, res, theta, v0)
    np.testing.assert_allclose(pair, np.broadcast_to(pair[0], pair.shape), rtol=1e-12,
                               atol=1e-13 * np.abs(pair).max())
    assert np.ptp(np.linalg.norm(res.ps, axis=1)) > 1e-3  # p itself does change


def test_hamiltonian_flow_preserves_volume():
    ode, W, b, W0, b0, rng = _autonomous(seed=4)
    x0, p0 = rng.normal(size=4), rng.normal(size=4)
    dets = []
    for steps in (5, 10, 20):
        theta = ode.pack({W: 1.5 * W0, b: b0}, steps=steps)
        dets.append(flow_volume(ode, x0, p0, theta, T=2.0))
    errs = np.abs(np.array(dets) - 1)
    assert errs[-1] < 1e-5
    assert errs[-1] < errs[0] or errs[0] < 1e-8
    assert ode.system.phase_space_divergence() == 0


def test_near_identity_network_converges_at_rate_one():
    n, T = 3, 1.0
    rng = np.random.default_rng(0)
    A, c = rng.normal(size=(n, n)) / 2, 0.3 * rng.normal(size=n)
    x0 = rng.normal(size=(4, n))
    ode, As, cs = near_identity_ode(sp.tanh, n)
    ref = ode.forward(x0, ode.pack({As: A, cs: c}, steps=400), T=T).final
    layers = np.array([16, 32, 64, 128])
    errs = np.array([np.abs(near_identity_network(sp.tanh, A, c, x0, T, L) - ref).max()
                     for L in layers])
    rates = np.log2(errs[:-1] / errs[1:])
    assert np.all(np.abs(rates - 1) < 0.15), (errs, rates)
