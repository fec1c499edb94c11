"""The authors' recipes (Chaudhari et al., "Deep relaxation"): nedsym's presets reproduce a
direct NumPy transcription of their optimizer loop step by step, and the flatness tools
measure what they claim."""

import numpy as np
import pytest

from nedsym.errors import SolverError
from nedsym.relax import EntropySGD, HJProx, Objective, hessian_top_eigenvalues
from nedsym.relax.classify import classifier_objective, synthetic_blobs
from nedsym.relax.convnet import convnet_objective, shift_images

A = np.random.default_rng(7).normal(size=(12, 4))
b = np.random.default_rng(8).normal(size=12)


def _batch_grad(w, rng):              # least squares on a minibatch of 4 rows
    idx = rng.choice(12, size=4, replace=False)
    return A[idx].T @ (A[idx] @ w - b[idx]) / 4


def _authors_loop(x0, steps, lr, mom, L, eps, g0, g1, llr, beta1, wd, seed):
    """Their ESGD.step, statement by statement (flat buffers, in-place updates), with the
    minibatch gradient in place of closure()."""
    rng = np.random.default_rng(seed)
    wc = x0.copy()
    state_mdw = np.zeros_like(wc)          # outer momentum buffer
    cache_mdw = np.zeros_like(wc)          # inner momentum buffer (kept across steps)
    t = 0
    out = []
    for _ in range(steps):
        t += 1
        g = g0 * (1 + g1) ** t
        w = wc.copy()
        mw = wc.copy()
        for _ in range(L):
            dw = _batch_grad(w, rng)
            if wd > 0:
                dw = dw + wd * w
            dw = dw + g * (w - wc)
            eta = rng.standard_normal(wc.shape)
            dw = dw + eps / np.sqrt(0.5 * llr) * eta
            if mom > 0:
                cache_mdw = mom * cache_mdw + dw
                dw = dw + mom * cache_mdw
            w = w - llr * dw
            mw = beta1 * mw + (1 - beta1) * w
        dw = wc - mw
        if mom > 0:
            state_mdw = mom * state_mdw + dw
            dw = dw + mom * state_mdw
        wc = wc - lr * dw
        out.append(wc.copy())
    return np.array(out)


@pytest.mark.parametrize("kind", ["esgd", "hj"])
def test_presets_reproduce_the_authors_update(kind):
    x0 = np.zeros(4)
    obj = Objective(lambda x: float(np.sum((A @ x - b) ** 2)) / 24, _batch_grad,
                    batches_per_epoch=3)
    opt = (EntropySGD if kind == "esgd" else HJProx).preset("chaudhari2017", L=6,
                                                            eps=1e-2, weight_decay=1e-3)
    traj = []
    r = opt.run(obj, x0, epochs=5 * 6 / 3, seed=11, record_trajectory=True, progress=False,
                callback=lambda k, x: traj.append(x.copy()))
    ref = _authors_loop(x0, 5, lr=0.1, mom=0.9, L=6, eps=1e-2, g0=1e-4, g1=1e-3, llr=0.1,
                        beta1=0.75 if kind == "esgd" else 1e-4, wd=1e-3, seed=11)
    assert r.steps == 5 and r.grad_evals == 30
    np.testing.assert_allclose(np.array(traj), ref, rtol=0, atol=1e-14)
    assert opt.name == ("Entropy-SGD (authors)" if kind == "esgd" else "HJ (authors)")


def test_preset_options_are_checked():
    with pytest.raises(SolverError, match="unknown preset 'paper'"):
        EntropySGD.preset("paper")
    with pytest.raises(SolverError, match=r"no option\(s\) \['gamma'\]"):
        EntropySGD.preset("chaudhari2017", gamma=1.0)
    with pytest.raises(SolverError, match="beta1"):
        HJProx.preset("chaudhari2017", beta1=1.0)


def test_hessian_eigenvalues_of_a_network_loss_match_a_dense_hessian():
    X, y = synthetic_blobs(40, dim=3, classes=3, seed=0)
    clf = classifier_objective(X, y, hidden=(3,), seed=0)
    th = clf.theta0
    n = th.size
    H = np.empty((n, n))
    h = 1e-5
    for i in range(n):
        e = np.zeros(n)
        e[i] = h
        H[:, i] = (clf.full_grad(th + e) - clf.full_grad(th - e)) / (2 * h)
    dense = np.sort(np.linalg.eigvalsh(0.5 * (H + H.T)))[::-1][:3]
    np.testing.assert_allclose(hessian_top_eigenvalues(clf.full_grad, th, k=3), dense,
                               rtol=1e-5, atol=1e-8)
    # the full gradient is the gradient of the loss
    v = np.random.default_rng(1).standard_normal(n)
    fd = (clf.objective.loss(th + 1e-6 * v) - clf.objective.loss(th - 1e-6 * v)) / 2e-6
    assert abs(fd - clf.full_grad(th) @ v) < 1e-7


def test_convnet_gradients_and_shifts():
    rng = np.random.default_rng(0)
    X, y = rng.random((30, 64)), rng.integers(0, 10, 30)
    clf = convnet_objective(X, y, channels=3, hidden=5, batch=30, shift=0)
    th = clf.theta0 + 0.1 * rng.standard_normal(clf.theta0.size)
    v = rng.standard_normal(th.size)
    fd = (clf.objective.loss(th + 1e-6 * v) - clf.objective.loss(th - 1e-6 * v)) / 2e-6
    assert abs(fd - clf.full_grad(th) @ v) < 1e-7 * max(1.0, abs(fd))
    # a full batch without shifts is the full gradient
    np.testing.assert_allclose(clf.objective.grad(th, np.random.default_rng(3)),
                               clf.full_grad(th), atol=1e-12)
    img = np.arange(64.0).reshape(1, 64)
    s = shift_images(img, np.array([1]), np.array([0])).reshape(8, 8)
    assert s[0, 0] == 0 and s[0, 1] == 0 and s[3, 5] == img.reshape(8, 8)[3, 4]
    assert np.array_equal(shift_images(img, np.array([0]), np.array([0])), img)
