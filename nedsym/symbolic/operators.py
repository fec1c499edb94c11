"""Differential operators on fields: grad, div, lap, hessian, dot, norm.

Operators act on sympy expressions and return sympy expressions (or immutable
matrices). Coordinates are taken from the fields in the expression unless
given explicitly with ``coords=``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sympy as sp
from sympy.core.function import AppliedUndef

from nedsym.errors import CoordinateError
from nedsym.symbolic.declare import Param, fields_in

__all__ = ["grad", "div", "lap", "hessian", "dot", "norm", "Mean", "infer_coords",
           "common_coords"]


def infer_coords(expr, coords: Sequence[sp.Symbol] | None = None) -> tuple[sp.Symbol, ...]:
    """The coordinates an operator differentiates in.

    Given explicitly, ``coords`` wins. Otherwise they are the arguments of the
    fields in ``expr``: the longest argument list, which must contain every
    other field's arguments.
    """
    if coords is not None:
        return tuple(coords)
    fields = fields_in(expr)
    if not fields:
        raise CoordinateError(
            f"cannot infer coordinates of {expr}: it contains no field; pass coords=(x, y)")
    return common_coords(fields, f"fields in {expr}")


def common_coords(fields, what: str = "fields") -> tuple[sp.Symbol, ...]:
    """The longest argument list among ``fields``; it must contain every other one."""
    arg_lists = sorted({f.args for f in fields}, key=len, reverse=True)
    main = arg_lists[0]
    for other in arg_lists[1:]:
        if not set(other) <= set(main):
            raise CoordinateError(
                f"{what} depend on incompatible coordinates {main} and {other}; "
                "pass coords=(...) explicitly")
    return tuple(main)


def _is_matrix(a) -> bool:
    return isinstance(a, sp.MatrixBase)


def grad(f, coords: Sequence[sp.Symbol] | None = None):
    r"""Gradient :math:`\nabla f` as a column vector; for a vector field the
    Jacobian :math:`J_{ik} = \partial f_i / \partial x_k`.

    Example
    -------
    >>> from nedsym import Field, coords
    >>> x, y = coords("x y"); u = Field("u", (x, y))
    >>> grad(u).T
    Matrix([[Derivative(u(x, y), x), Derivative(u(x, y), y)]])
    """
    X = infer_coords(f, coords)
    if _is_matrix(f):
        if f.shape[1] != 1:
            raise CoordinateError(f"grad of a {f.shape} matrix is not supported; use a vector")
        return sp.ImmutableMatrix(len(f), len(X), lambda i, k: sp.diff(f[i], X[k]))
    f = sp.sympify(f)
    return sp.ImmutableMatrix([sp.diff(f, xk) for xk in X])


def div(F, coords: Sequence[sp.Symbol] | None = None):
    r"""Divergence :math:`\nabla\cdot F = \sum_k \partial_k F_k`; for an
    :math:`n\times d` matrix, the row-wise divergence (an n-vector)."""
    X = infer_coords(F, coords)
    if not _is_matrix(F):
        raise CoordinateError(f"div needs a vector (a sympy Matrix), got the scalar {F}")
    if F.shape[1] == 1:
        if F.shape[0] != len(X):
            raise CoordinateError(
                f"div: vector has {F.shape[0]} components but there are {len(X)} "
                f"coordinates {X}")
        return sp.Add(*[sp.diff(F[k], X[k]) for k in range(len(X))])
    if F.shape[1] != len(X):
        raise CoordinateError(f"div: matrix has {F.shape[1]} columns, expected {len(X)}")
    return sp.ImmutableMatrix(
        [sp.Add(*[sp.diff(F[i, k], X[k]) for k in range(len(X))]) for i in range(F.shape[0])])


def lap(f, coords: Sequence[sp.Symbol] | None = None):
    r"""Laplacian :math:`\Delta f = \sum_k \partial_k^2 f` (componentwise for vectors)."""
    X = infer_coords(f, coords)
    if _is_matrix(f):
        return f.applyfunc(lambda c: lap(c, X))
    return sp.Add(*[sp.diff(f, xk, 2) for xk in X])


def hessian(f, coords: Sequence[sp.Symbol] | None = None):
    r"""Hessian matrix :math:`H_{kl} = \partial_k\partial_l f` of a scalar."""
    X = infer_coords(f, coords)
    if _is_matrix(f):
        raise CoordinateError("hessian of a vector field is not supported; take components")
    return sp.ImmutableMatrix(len(X), len(X), lambda k, l: sp.diff(f, X[k], X[l]))


def dot(a, b):
    r"""Euclidean (Frobenius for matrices) inner product; plain product for scalars."""
    if _is_matrix(a) and _is_matrix(b):
        if a.shape != b.shape:
            raise CoordinateError(f"dot: shapes differ, {a.shape} vs {b.shape}")
        return sp.Add(*[ai * bi for ai, bi in zip(a, b, strict=True)])
    if _is_matrix(a) or _is_matrix(b):
        raise CoordinateError("dot: one argument is a vector and the other a scalar")
    return a * b


def norm(a):
    r"""Euclidean norm :math:`|a| = \sqrt{a\cdot a}`; for a scalar, ``Abs(a)``."""
    if _is_matrix(a):
        return sp.sqrt(dot(a, a))
    return sp.Abs(a)


class Mean(sp.Function):
    r"""Spatial mean :math:`\langle f\rangle = |\Omega|^{-1}\int_\Omega f\,dx`.

    A number for every instant, so its spatial derivatives vanish. Used by the
    mass-conserving L² flow (nonlocal Allen–Cahn).
    """

    nargs = 1
    is_real = True

    @classmethod
    def eval(cls, arg):
        """Constants leave the mean: ``Mean(c) = c``, ``Mean(c*f) = c*Mean(f)`` for ``c``
        made of numbers, parameters and means."""
        def constant(e) -> bool:
            inner = e.replace(lambda a: isinstance(a, Mean), lambda a: sp.S.One)
            return not inner.atoms(AppliedUndef) and all(
                isinstance(s, Param) for s in inner.free_symbols)

        arg = sp.sympify(arg)
        if constant(arg):
            return arg
        if arg.is_Mul:
            const = [a for a in arg.args if constant(a)]
            if const:
                rest = [a for a in arg.args if not constant(a)]
                return sp.Mul(*const) * cls(sp.Mul(*rest))
        return None

    def _eval_derivative(self, s):
        return sp.S.Zero

    def _latex(self, printer):
        return r"\left\langle %s \right\rangle" % printer._print(self.args[0])
