"""Optimizers on a small network (nedsym.nn): determinism under a seed, training loss decreases."""

import numpy as np
import pytest

from nedsym.errors import DeclarationError, SolverError
from nedsym.relax import SGD, EntropySGD, HJProx, Nesterov
from nedsym.relax.classify import classifier_objective, synthetic_blobs

METHODS = [SGD(lr=0.3), Nesterov(lr=0.03),
           EntropySGD(lr=0.5, gamma=1.0, beta=1e4, inner_steps=5, inner_lr=0.5, alpha=0.75,
                      momentum=0.5),
           HJProx(lr=0.5, t=0.1, iterations=3, damping=0.5)]


def _check(X, y, epochs, hidden):
    clf = classifier_objective(X, y, hidden=hidden, batch=16, seed=0)
    # the minibatch gradient is the gradient of the loss (full batch, finite differences)
    full = classifier_objective(X, y, hidden=hidden, batch=len(y), seed=0)
    th = full.theta0
    g = full.objective.grad(th, np.random.default_rng(0))
    e = np.zeros_like(th)
    for k in (0, len(th) // 2, len(th) - 1):
        e[:] = 0
        e[k] = 1e-6
        fd = (full.objective.loss(th + e) - full.objective.loss(th - e)) / 2e-6
        assert g[k] == pytest.approx(fd, rel=1e-5, abs=1e-8)
    for opt in METHODS:
        r1 = opt.run(clf.objective, clf.theta0, epochs=epochs, seed=7, record_trajectory=False)
        r2 = opt.run(clf.objective, clf.theta0, epochs=epochs, seed=7, record_trajectory=False)
        r3 = opt.run(clf.objective, clf.theta0, epochs=epochs, seed=8, record_trajectory=False)
        assert np.array_equal(r1.x, r2.x) and r1.losses == r2.losses, opt.name
        assert not np.array_equal(r1.x, r3.x), opt.name          # the seed matters
        assert r1.grad_evals == epochs * clf.objective.batches_per_epoch
        assert r1.losses[-1] < 0.6 * r1.losses[0], (opt.name, r1.losses)


def test_synthetic_network_training():
    X, y = synthetic_blobs(96, dim=4, classes=3, seed=0)
    _check(X, y, epochs=10, hidden=(8,))


def test_digits_subset_training():
    datasets = pytest.importorskip("sklearn.datasets",
                                   reason="scikit-learn (the relax extra) is not installed")
    d = datasets.load_digits()
    X, y = d.data[:240] / 16.0, d.target[:240]
    _check(X, y, epochs=5, hidden=(16,))


def test_classifier_errors():
    with pytest.raises(DeclarationError, match="labels"):
        classifier_objective(np.zeros((4, 2)), np.array([0.5, 1, 0, 1]))
    with pytest.raises(SolverError, match="inner_lr"):
        EntropySGD(gamma=0.03, inner_lr=0.1)
