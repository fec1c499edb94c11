r"""Activation functions as sympy expressions of one scalar variable.

An :class:`Activation` holds :math:`\sigma(z)` symbolically. Its derivatives
:math:`\sigma^{(k)}` are derived once by sympy (and cached); a derivative can
also be *declared* instead of derived, which is how ``relu`` gets its
subgradient :math:`\sigma'(z) = H(z)` with :math:`H(0) = 0` and
:math:`\sigma^{(k)} = 0` for :math:`k \ge 2`. Numerical kernels for any
derivative come from :meth:`Activation.kernel`; sympy never runs per point.

Inside a layer rule an activation appears as ``act(z)``: a sympy function
whose derivative is the activation's next derivative, so declared
derivatives survive differentiation of the rule.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import sympy as sp

from nedsym.errors import DeclarationError, NonDifferentiableError
from nedsym.symbolic.safe import to_expr

__all__ = ["Activation", "activation", "BUILTIN_ACTIVATIONS", "expand_activations"]

#: the scalar variable every activation is stored in
Z = sp.Symbol("z", real=True)

_NONSMOOTH = (sp.DiracDelta, sp.Derivative, sp.Subs)


def _builtin(name: str) -> tuple[sp.Expr, dict[int, sp.Expr]]:
    z = Z
    table = {
        "tanh": (sp.tanh(z), {}),
        "sin": (sp.sin(z), {}),
        "softplus": (sp.log(1 + sp.exp(z)), {}),
        "sigmoid": (1 / (1 + sp.exp(-z)), {}),
        "gelu": (z * (1 + sp.erf(z / sp.sqrt(2))) / 2, {}),
        "relu": (sp.Max(z, 0), {1: sp.Heaviside(z, 0), 2: sp.S.Zero}),
        "identity": (z, {}),
        "linear": (z, {}),
    }
    return table[name]


#: names accepted by :func:`activation`
BUILTIN_ACTIVATIONS = ("tanh", "sin", "softplus", "sigmoid", "gelu", "relu", "identity", "linear")


class Activation:
    r"""A scalar activation :math:`\sigma(z)` with symbolic derivatives of any order.

    Parameters
    ----------
    name: a name used in generated code and messages.
    expr: sympy expression in ``var``.
    var: the scalar symbol of ``expr``.
    derivatives: optional ``{k: expression in var}`` declaring the k-th derivative
        instead of deriving it (a subgradient, or a known closed form); orders above
        the highest declared one are derived from it.

    Example
    -------
    >>> import sympy as sp
    >>> t = sp.Symbol("t")
    >>> swish = Activation("swish", t * sp.tanh(t), t)
    >>> swish.derivative(1)
    z*(1 - tanh(z)**2) + tanh(z)
    """

    def __init__(self, name: str, expr, var: sp.Symbol,
                 derivatives: Mapping[int, object] | None = None):
        if not isinstance(var, sp.Symbol):
            raise DeclarationError(f"activation {name!r}: the variable must be a sympy Symbol, "
                                   f"got {var!r}")
        expr = to_expr(expr, "the activation")
        extra = expr.free_symbols - {var}
        if extra:
            raise DeclarationError(
                f"activation {name!r} depends on {sorted(map(str, extra))} besides its "
                f"variable {var}; an activation has exactly one scalar argument")
        self.name = str(name)
        self.expr = expr.xreplace({var: Z})
        self._derivs: dict[int, sp.Expr] = {0: self.expr}
        self._declared = set()
        for k, d in (derivatives or {}).items():
            if int(k) < 1:
                raise DeclarationError(f"activation {name!r}: declared derivative orders must "
                                       f"be >= 1, got {k}")
            d = to_expr(d, f"derivative {k} of the activation")
            self._derivs[int(k)] = d.xreplace({var: Z})
            self._declared.add(int(k))
        self._kernels: dict[tuple[int, str], Callable] = {}
        self._fn: dict[int, type] = {}

    @property
    def var(self) -> sp.Symbol:
        """The stored scalar variable (a real symbol named ``z``)."""
        return Z

    def derivative(self, k: int) -> sp.Expr:
        r"""The k-th derivative :math:`\sigma^{(k)}(z)` (declared or derived, cached).

        Raises :class:`~nedsym.errors.NonDifferentiableError` when sympy's result
        contains a Dirac delta or an unevaluated derivative (the expression is not
        k times differentiable; declare the derivative instead).
        """
        k = int(k)
        if k < 0:
            raise DeclarationError(f"derivative order must be >= 0, got {k}")
        if k in self._derivs:
            return self._derivs[k]
        prev = self.derivative(k - 1)
        d = sp.diff(prev, Z)
        if d.has(*_NONSMOOTH):
            raise NonDifferentiableError(
                f"activation {self.name!r} = {self.expr} is not {k} times differentiable: "
                f"d^{k}/dz^{k} gives {d}. Declare a subgradient with "
                f"Activation(..., derivatives={{{k}: ...}})")
        self._derivs[k] = d
        return d

    def kernel(self, k: int = 0, backend: str = "numpy") -> Callable:
        """A compiled vectorized ``f(z: ndarray) -> ndarray`` for the k-th derivative.

        Example
        -------
        >>> import numpy as np
        >>> f = activation("tanh").kernel(1)
        >>> float(f(np.array([0.0]))[0])
        1.0
        """
        key = (int(k), backend)
        if key not in self._kernels:
            from nedsym.nn.kernels import scalar_kernel
            self._kernels[key] = scalar_kernel(f"act_{_ident(self.name)}_d{k}",
                                               self.derivative(k), Z, backend)
        return self._kernels[key]

    def function(self, k: int = 0) -> type:
        """The sympy function class standing for :math:`\\sigma^{(k)}` inside layer rules."""
        if k not in self._fn:
            act = self

            def fdiff(self, argindex=1):
                return act.function(k + 1)(self.args[0])

            name = f"{_ident(self.name)}" + (f"_d{k}" if k else "")
            self._fn[k] = type(name, (sp.Function,),
                               {"nargs": 1, "fdiff": fdiff, "_nedsym_activation": (act, k)})
        return self._fn[k]

    def __call__(self, arg) -> sp.Expr:
        """``act(z)``: the activation applied to a sympy expression, for use in layer rules."""
        return self.function(0)(sp.sympify(arg))

    def __repr__(self) -> str:
        return f"Activation({self.name!r}, {self.expr})"

    def __reduce__(self):
        # rebuilt from its recipe: the sympy function classes and compiled kernels made on
        # demand are not picklable (Dask workers receive networks this way)
        return (Activation, (self.name, self.expr, Z,
                             {k: self._derivs[k] for k in sorted(self._declared)}))


def _ident(name: str) -> str:
    out = "".join(c if c.isalnum() else "_" for c in name)
    return out if out and not out[0].isdigit() else f"a_{out}"


def expand_activations(expr: sp.Expr) -> sp.Expr:
    """Replace every ``act_dk(arg)`` in ``expr`` by the explicit k-th derivative at ``arg``."""
    reps = {}
    for f in expr.atoms(sp.Function):
        tag = getattr(type(f), "_nedsym_activation", None)
        if tag is not None:
            act, k = tag
            reps[f] = act.derivative(k).xreplace({Z: expand_activations(f.args[0])})
    return expr.xreplace(reps) if reps else expr


def activation(spec, var: sp.Symbol | None = None) -> Activation:
    """An :class:`Activation` from a built-in name, a ``sympy.Lambda``, an
    ``(expr, symbol)`` pair or an existing Activation.

    Built-in names: ``tanh``, ``sin``, ``softplus`` (:math:`\\log(1+e^z)`), ``sigmoid``,
    ``gelu`` (exact, :math:`\\tfrac z2(1+\\mathrm{erf}(z/\\sqrt2))`), ``relu`` (declared
    subgradient :math:`H(z)`, :math:`H(0)=0`; higher derivatives 0), ``identity``/``linear``.

    Example
    -------
    >>> import sympy as sp
    >>> z = sp.Symbol("z")
    >>> activation(sp.Lambda(z, z * sp.tanh(z))).name
    'lambda'
    >>> activation("relu").derivative(2)
    0
    """
    if isinstance(spec, Activation):
        return spec
    if isinstance(spec, str):
        if spec not in BUILTIN_ACTIVATIONS:
            raise DeclarationError(f"unknown activation {spec!r}; valid names: "
                                   f"{', '.join(BUILTIN_ACTIVATIONS)} (or a sympy.Lambda)")
        expr, derivs = _builtin(spec)
        return Activation(spec, expr, Z, derivs)
    if isinstance(spec, sp.Lambda):
        if len(spec.variables) != 1:
            raise DeclarationError(f"an activation Lambda takes exactly one argument; "
                                   f"{spec} takes {len(spec.variables)}")
        return Activation("lambda", spec.expr, spec.variables[0])
    if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[1], sp.Symbol):
        return Activation("user", spec[0], spec[1])
    if isinstance(spec, sp.Expr) and var is not None:
        return Activation("user", spec, var)
    raise DeclarationError(f"cannot make an activation from {spec!r}: give a name "
                           f"({', '.join(BUILTIN_ACTIVATIONS)}), a sympy.Lambda or an "
                           "(expr, symbol) pair")
