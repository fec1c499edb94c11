r"""The near-identity limit: a deep feed-forward net becomes an ODE.

A feed-forward layer :math:`x_{k+1} = \sigma_h(W_h x_k + h c)` with
:math:`W_h = I + hA` and :math:`\sigma_h(z) = z + h\,\varphi(z)` expands as

.. math::
    x_{k+1} = x_k + h\big(A x_k + c + \varphi(x_k)\big) + O(h^2),

a forward-Euler step of :math:`\dot x = A x + c + \varphi(x)`. With
:math:`L = T/h` layers the network output converges to :math:`x(T)` at
:math:`O(h)` (global error of a consistent one-step method of order 1).
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from nedsym.depth.kernels import build_batch_kernel
from nedsym.depth.ode import DepthODE, matrix, vector
from nedsym.errors import ConfigError
from nedsym.symbolic.safe import to_expr

__all__ = ["near_identity_network", "near_identity_ode"]


def _activation(phi) -> tuple[sp.Symbol, sp.Expr]:
    z = sp.Symbol("z", real=True)
    expr = phi(z) if callable(phi) and not isinstance(phi, sp.Basic) \
        else to_expr(phi, "the activation")
    extra = expr.free_symbols - {z}
    if extra:
        raise ConfigError(f"phi must be a function of z only; it uses "
                          f"{sorted(s.name for s in extra)}")
    return z, expr


def near_identity_ode(phi, n: int, backend: str = "numpy") -> tuple[DepthODE, sp.Matrix,
                                                                    sp.Matrix]:
    r"""The limit ODE :math:`\dot x = A x + c + \varphi(x)` (elementwise :math:`\varphi`).

    Returns ``(ode, A, c)`` with ``A``, ``c`` the parameter symbols.
    """
    z, expr = _activation(phi)
    x, A, c = vector("x", n), matrix("A", n, n), vector("c", n)
    rhs = A * x + c + x.applyfunc(lambda e: expr.subs(z, e))
    return DepthODE(x, rhs, [A, c], backend=backend), A, c


def near_identity_network(phi, A: np.ndarray, c: np.ndarray, x0: np.ndarray, T: float,
                          layers: int, backend: str = "numpy") -> np.ndarray:
    r"""Output of ``layers`` feed-forward layers :math:`x \mapsto \sigma_h((I + hA)x + hc)`.

    :math:`h = T/\text{layers}`, :math:`\sigma_h(z) = z + h\varphi(z)`; ``x0`` of shape
    ``(B, n)``; returns ``(B, n)``.

    Example
    -------
    >>> A, c, x0 = np.zeros((2, 2)), np.zeros(2), np.ones((1, 2))
    >>> xL = near_identity_network(sp.tanh, A, c, x0, T=1.0, layers=64)   # x' = tanh(x)
    >>> bool(np.all(xL > x0)), xL.shape
    (True, (1, 2))
    """
    z, expr = _activation(phi)
    hsym = sp.Symbol("h", real=True)
    kern = build_batch_kernel([z], [hsym], sp.Symbol("t", real=True), [z + hsym * expr],
                              backend=backend, tag="near_identity")
    A, c = np.asarray(A, float), np.asarray(c, float)
    x = np.array(x0, float).T.copy()
    n = x.shape[0]
    if A.shape != (n, n) or c.shape != (n,):
        raise ConfigError(f"A must be ({n}, {n}) and c ({n},); got {A.shape}, {c.shape}")
    if int(layers) < 1:
        raise ConfigError(f"layers must be a positive int, got {layers!r}")
    h = float(T) / int(layers)
    Wh = np.eye(n) + h * A
    acc = np.empty(0)
    for _ in range(int(layers)):
        pre = (Wh @ x + h * c[:, None]).reshape(1, -1)
        out = np.empty_like(pre)
        kern(pre, np.array([h]), 0.0, out, acc)
        x = out.reshape(n, -1)
    return x.T
