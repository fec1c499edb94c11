r"""A small LeNet-like convolutional classifier for 8x8 images, with shift augmentation: the
second, larger proxy of the Deep Relaxation benchmark (scikit-learn's bundled digits, no
download).

Layers: 3x3 convolution with ``channels`` filters (valid, 8x8 -> 6x6) -> tanh -> 2x2 average
pooling (-> 3x3) -> dense ``hidden`` -> tanh -> dense 10, softmax cross-entropy. Forward
and backward are NumPy matrix products (the convolution as one product over 3x3 patches).
Every minibatch gradient shifts each image by a random offset in
``{-shift..shift}^2`` (zero fill), so an epoch never sees the same data twice.

Example
-------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> X, y = rng.random((40, 64)), rng.integers(0, 10, 40)
>>> clf = convnet_objective(X, y, channels=4, hidden=8, batch=10)
>>> clf.objective.batches_per_epoch, clf.theta0.size
(4, 426)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp, softmax

from nedsym.errors import DeclarationError
from nedsym.relax.optim import Objective

__all__ = ["ConvClassifier", "convnet_objective", "shift_images"]

_SIDE, _K = 8, 3
_OUT = _SIDE - _K + 1          # 6
_POOL = _OUT // 2              # 3


def shift_images(X: np.ndarray, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """Each 8x8 image of ``X`` (rows of 64) shifted by ``(dy, dx)`` pixels, zero fill."""
    imgs = X.reshape(-1, _SIDE, _SIDE)
    out = np.zeros_like(imgs)
    for s_y in np.unique(dy):
        for s_x in np.unique(dx):
            m = (dy == s_y) & (dx == s_x)
            if not m.any():
                continue
            src = imgs[m]
            ys = slice(max(0, -s_y), _SIDE - max(0, s_y))
            yd = slice(max(0, s_y), _SIDE - max(0, -s_y))
            xs = slice(max(0, -s_x), _SIDE - max(0, s_x))
            xd = slice(max(0, s_x), _SIDE - max(0, -s_x))
            block = np.zeros_like(src)
            block[:, yd, xd] = src[:, ys, xs]
            out[m] = block
    return out.reshape(X.shape)


def _patches(X: np.ndarray) -> np.ndarray:
    """``(N, 36, 9)``: the 3x3 patches of every valid position."""
    imgs = X.reshape(-1, _SIDE, _SIDE)
    win = np.lib.stride_tricks.sliding_window_view(imgs, (_K, _K), axis=(1, 2))
    return win.reshape(imgs.shape[0], _OUT * _OUT, _K * _K)


@dataclass
class ConvClassifier:
    """The network's parameter layout, objective and error (as
    :class:`~nedsym.relax.classify.Classifier`)."""

    channels: int
    hidden: int
    classes: int
    objective: Objective
    theta0: np.ndarray
    full_grad: object = None

    def _split(self, theta):
        c, h, k = self.channels, self.hidden, self.classes
        sizes = [(_K * _K, c), (c,), (c * _POOL * _POOL, h), (h,), (h, k), (k,)]
        out, i = [], 0
        for s in sizes:
            n = int(np.prod(s))
            out.append(theta[i:i + n].reshape(s))
            i += n
        return out

    def forward(self, X, theta):
        Wc, bc, W1, b1, W2, b2 = self._split(theta)
        P = _patches(X)                                    # (N, 36, 9)
        A = np.tanh(P @ Wc + bc)                           # (N, 36, c)
        n = A.shape[0]
        pooled = A.reshape(n, _POOL, 2, _POOL, 2, self.channels).mean(axis=(2, 4))
        F = pooled.reshape(n, -1)                          # (N, 9c)
        H = np.tanh(F @ W1 + b1)
        Z = H @ W2 + b2
        return Z, (P, A, F, H)

    def backward(self, theta, cache, dZ):
        Wc, bc, W1, b1, W2, b2 = self._split(theta)
        P, A, F, H = cache
        n = dZ.shape[0]
        gW2, gb2 = H.T @ dZ, dZ.sum(0)
        dH = (dZ @ W2.T) * (1 - H * H)
        gW1, gb1 = F.T @ dH, dH.sum(0)
        dF = (dH @ W1.T).reshape(n, _POOL, 1, _POOL, 1, self.channels) / 4.0
        dA = np.broadcast_to(dF, (n, _POOL, 2, _POOL, 2, self.channels)).reshape(
            n, _OUT * _OUT, self.channels)
        dpre = dA * (1 - A * A)
        gWc = np.einsum("npk,npc->kc", P, dpre)
        gbc = dpre.sum((0, 1))
        return np.concatenate([g.ravel() for g in (gWc, gbc, gW1, gb1, gW2, gb2)])

    def logits(self, X, theta) -> np.ndarray:
        return self.forward(X, theta)[0]

    def error(self, X, y, theta) -> float:
        """Fraction of misclassified rows of ``X``."""
        return float(np.mean(np.argmax(self.logits(X, theta), axis=1) != y))


def convnet_objective(X, y, channels: int = 8, hidden: int = 32, batch: int = 32,
                      shift: int = 1, seed: int = 0) -> ConvClassifier:
    """A :class:`ConvClassifier` on 8x8 images ``X`` (rows of 64) with labels ``y``;
    minibatch gradients with random shifts of up to ``shift`` pixels."""
    X = np.asarray(X, dtype=float)
    y = np.asarray(y)
    if X.ndim != 2 or X.shape[1] != _SIDE * _SIDE or y.shape != (X.shape[0],):
        raise DeclarationError(f"convnet_objective needs X (N, 64) of 8x8 images and y (N,), "
                               f"got {X.shape} and {y.shape}")
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
        raise DeclarationError("labels y must be non-negative integers 0..C-1")
    if int(shift) < 0 or int(channels) < 1 or int(hidden) < 1:
        raise DeclarationError("convnet_objective: shift >= 0, channels >= 1, hidden >= 1")
    n = X.shape[0]
    k = int(y.max()) + 1
    rng = np.random.default_rng(seed)
    fan = [(_K * _K, channels), (channels,), (channels * _POOL * _POOL, hidden), (hidden,),
           (hidden, k), (k,)]
    parts = [rng.normal(scale=1 / np.sqrt(s[0]), size=s) if len(s) == 2 else np.zeros(s)
             for s in fan]
    theta0 = np.concatenate([p.ravel() for p in parts])
    clf = ConvClassifier(int(channels), int(hidden), k, None, theta0)
    onehot = np.eye(k)[y]
    batch = min(int(batch), n)

    def loss(theta):
        Z = clf.logits(X, theta)
        return float(np.mean(logsumexp(Z, axis=1) - Z[np.arange(n), y]))

    def grad(theta, rng):
        idx = rng.choice(n, size=batch, replace=False)
        Xb = X[idx]
        if shift:
            Xb = shift_images(Xb, rng.integers(-shift, shift + 1, batch),
                              rng.integers(-shift, shift + 1, batch))
        Z, cache = clf.forward(Xb, theta)
        return clf.backward(theta, cache, (softmax(Z, axis=1) - onehot[idx]) / batch)

    def full_grad(theta):
        Z, cache = clf.forward(X, theta)
        return clf.backward(theta, cache, (softmax(Z, axis=1) - onehot) / n)

    clf.objective = Objective(loss, grad, batches_per_epoch=-(-n // batch),
                              name="cross-entropy (convnet)")
    clf.full_grad = full_grad
    return clf
