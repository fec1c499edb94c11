r"""Losses :math:`f: \mathbb{R}^n \to \mathbb{R}` with gradients, vectorized over points.

A :class:`Loss` evaluates :math:`f` and :math:`\nabla f` on a batch of points ``X`` of shape
``(m, n)`` (a single point of shape ``(n,)`` also works). From a sympy expression it is
lambdified once (sympy at declaration time only), from callables it is wrapped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import sympy as sp

from nedsym.errors import DeclarationError
from nedsym.symbolic.safe import to_expr

__all__ = ["Loss", "as_loss"]


class Loss:
    r"""A differentiable loss :math:`f(x)`, :math:`x \in \mathbb{R}^n`.

    Parameters
    ----------
    value: ``f(X) -> (m,)`` on points ``X`` of shape ``(m, n)``.
    grad: ``grad(X) -> (m, n)``.
    dim: ``n``.
    expr, coords: the sympy expression and coordinates it came from (``None`` for callables).

    Example
    -------
    >>> import sympy as sp
    >>> x, y = sp.symbols("x y")
    >>> f = Loss.from_expr(x**2 + 3*y, [x, y])
    >>> f(np.array([1.0, 2.0])), f.grad(np.array([1.0, 2.0])).tolist()
    (7.0, [2.0, 3.0])
    """

    def __init__(self, value: Callable, grad: Callable, dim: int, name: str = "f",
                 expr: sp.Expr | None = None, coords: Sequence[sp.Symbol] | None = None):
        if not isinstance(dim, (int, np.integer)) or dim < 1:
            raise DeclarationError(f"Loss dimension must be a positive integer, got {dim!r}")
        self._value, self._grad, self.dim, self.name = value, grad, int(dim), name
        self.expr, self.coords = expr, None if coords is None else tuple(coords)

    @classmethod
    def from_expr(cls, expr, coords: Sequence[sp.Symbol] | None = None,
                  params: Mapping | None = None, name: str = "f") -> Loss:
        """Lambdify ``expr`` and its gradient once; ``params`` give values to other symbols
        (:class:`~nedsym.Param` defaults are used otherwise)."""
        from nedsym.flows.hamilton_jacobi import _as_coords

        expr = to_expr(expr, "the loss", hint=" in sympy symbols (the optimization "
                       "variables)")
        coords = _as_coords(expr, coords)
        values = {s: getattr(s, "default", None) for s in expr.free_symbols if s not in coords}
        for key, v in (params or {}).items():
            match = [s for s in values if s.name == (key if isinstance(key, str) else key.name)]
            if not match:
                raise DeclarationError(f"parameter {key!r} does not occur in the loss {expr}")
            values[match[0]] = float(v)
        missing = sorted(s.name for s, v in values.items() if v is None)
        if missing:
            raise DeclarationError(f"loss parameters {missing} have no value; pass params=...")
        e = expr.xreplace({s: sp.Float(v) for s, v in values.items()})
        grads = [sp.diff(e, c) for c in coords]
        f_num = sp.lambdify(coords, e, "numpy")
        g_num = [sp.lambdify(coords, g, "numpy") for g in grads]

        def value(X):
            cols = [X[:, k] for k in range(X.shape[1])]
            return np.broadcast_to(f_num(*cols), (X.shape[0],)).astype(float)

        def grad(X):
            cols = [X[:, k] for k in range(X.shape[1])]
            return np.stack([np.broadcast_to(g(*cols), (X.shape[0],)) for g in g_num], axis=1)

        return cls(value, grad, len(coords), name=name, expr=e, coords=coords)

    def _points(self, X) -> tuple[np.ndarray, bool]:
        X = np.asarray(X, dtype=float)
        single = X.ndim == 1
        X2 = X.reshape(1, -1) if single else X
        if X2.ndim != 2 or X2.shape[1] != self.dim:
            raise DeclarationError(
                f"loss {self.name} takes points of shape (m, {self.dim}) or ({self.dim},), "
                f"got {X.shape}")
        return X2, single

    def __call__(self, X):
        """:math:`f` at ``X`` (a float for a single point)."""
        X2, single = self._points(X)
        v = np.asarray(self._value(X2), dtype=float)
        return float(v[0]) if single else v

    def grad(self, X):
        r""":math:`\nabla f` at ``X`` (shape ``(n,)`` for a single point, else ``(m, n)``)."""
        X2, single = self._points(X)
        g = np.asarray(self._grad(X2), dtype=float).reshape(X2.shape)
        return g[0] if single else g

    def __repr__(self) -> str:
        what = str(self.expr) if self.expr is not None else "callable"
        return f"Loss({self.name}: R^{self.dim} -> R, {what})"


def as_loss(f, coords=None, grad: Callable | None = None, dim: int | None = None) -> Loss:
    """A :class:`Loss` from a Loss, a sympy expression, or a vectorized callable + gradient."""
    if isinstance(f, Loss):
        return f
    if isinstance(f, (sp.Basic, str)):
        return Loss.from_expr(f, coords)
    if callable(f):
        if grad is None or dim is None:
            raise DeclarationError("a callable loss needs grad=... and dim=... "
                                   "(vectorized over points of shape (m, dim))")
        return Loss(f, grad, dim)
    raise DeclarationError(f"cannot make a loss from {type(f).__name__}; give a sympy "
                           "expression, a nedsym.relax.Loss or a callable with grad= and dim=")
