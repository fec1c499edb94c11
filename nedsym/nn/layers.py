r"""Network layers: an affine map followed by a symbolic elementwise rule.

Every layer maps :math:`a_{in} \in \mathbb{R}^{n_{in}}` to
:math:`a_{out} \in \mathbb{R}^{n_{out}}` by

.. math::  z = W a_{in} + b, \qquad (a_{out})_j = R\big((a_{in})_j,\ z_j,\ p_{1,j}, \dots\big),

where :math:`R(x, z, p_1, \dots)` is a sympy expression in the scalar input
component :math:`x` (only when :math:`n_{in} = n_{out}`), the pre-activation
:math:`z` and optional trainable per-neuron parameters :math:`p_i`.

* :class:`Dense`: :math:`R = \sigma(z)`;
* :class:`Residual`: :math:`R = x + h\,\sigma(z)`;
* :class:`Linear` (output layer): :math:`R = z`;
* :meth:`Layer.from_rule`: any user rule, e.g. ``z*sigmoid(a*z)`` (Swish with a
  learnable ``a``).

The partial derivatives of :math:`R` a computation needs are derived once by
sympy, cse'd and compiled into one elementwise kernel (see
:mod:`nedsym.nn.kernels`); :meth:`Layer.partials_source` shows it.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping

import numpy as np
import sympy as sp

from nedsym.codegen.libm import compiled_loop_pays, compiled_tanh_pays
from nedsym.errors import ConfigError, DeclarationError, NonDifferentiableError
from nedsym.nn.activations import Activation, activation, expand_activations
from nedsym.nn.kernels import NN_BACKENDS, PartialsKernel
from nedsym.symbolic.safe import to_expr

__all__ = ["Layer", "Dense", "Residual", "Linear", "INIT_SCHEMES"]

#: weight initializations: ``xavier`` N(0, 2/(n_in+n_out)), ``he`` N(0, 2/n_in); biases 0
INIT_SCHEMES = ("xavier", "he")

X_SYM = sp.Symbol("x", real=True)
Z_SYM = sp.Symbol("z", real=True)
_NONSMOOTH = (sp.DiracDelta, sp.Derivative, sp.Subs)
_KERNELS: dict = {}


def _rebuild_layer(cls, args, kwargs):
    return cls(*args, **kwargs)


def _param_symbol(i: int) -> sp.Symbol:
    return sp.Symbol(f"p{i}", real=True)


class Layer:
    r"""A layer :math:`a_{out} = R(a_{in}, W a_{in} + b, p)` (see the module docstring).

    Build one with :meth:`from_rule` (or use :class:`Dense`, :class:`Residual`,
    :class:`Linear`). Its trainable parameters, in packing order: ``W``
    (``n_out x n_in``, row-major), ``b`` (``n_out``), then each per-neuron
    parameter (``n_out`` each) in declaration order.
    """

    kind = "user"

    def __init__(self, n_in: int, n_out: int, rule, *, x: sp.Symbol | None = None,
                 z: sp.Symbol | None = None, params: Mapping | None = None,
                 name: str | None = None):
        self.n_in, self.n_out = _positive(n_in, "n_in"), _positive(n_out, "n_out")
        self.name = name or self.kind
        self._recipe = (n_in, n_out, rule, {"x": x, "z": z, "params": params, "name": name})
        x = x if x is not None else sp.Symbol("x")
        z = z if z is not None else sp.Symbol("z")
        params = dict(params or {})
        for s in (x, z, *params):
            if not isinstance(s, sp.Symbol):
                raise DeclarationError(f"layer {self.name!r}: {s!r} must be a sympy Symbol")
        rule = to_expr(rule, "the layer rule")
        allowed = {x, z, *params}
        extra = rule.free_symbols - allowed
        if extra:
            raise DeclarationError(
                f"layer {self.name!r}: the rule {rule} has free symbol(s) "
                f"{sorted(map(str, extra))}; allowed are the input component {x}, the "
                f"pre-activation {z} and declared parameters {sorted(map(str, params))}")
        self.param_names = [str(p) for p in params]
        for reserved in ("W", "b"):
            if reserved in self.param_names:
                raise DeclarationError(f"layer {self.name!r}: parameter name {reserved!r} is "
                                       "reserved for the weights/bias; rename the symbol")
        if len(set(self.param_names)) != len(self.param_names):
            raise DeclarationError(f"layer {self.name!r}: parameter names must be distinct, "
                                   f"got {self.param_names}")
        self._inits = list(params.values())
        reps = {x: X_SYM, z: Z_SYM}
        reps.update({p: _param_symbol(i) for i, p in enumerate(params)})
        self.rule = rule.xreplace(reps)
        self.uses_x = X_SYM in self.rule.free_symbols
        if self.uses_x and self.n_in != self.n_out:
            raise DeclarationError(
                f"layer {self.name!r}: the rule {rule} uses the input component {x}, "
                f"which needs n_in == n_out (got {self.n_in} -> {self.n_out})")
        self.user_rule = rule

    @classmethod
    def from_rule(cls, rule, *, x: sp.Symbol | None = None, z: sp.Symbol | None = None,
                  params: Mapping | None = None, n_in: int, n_out: int,
                  name: str | None = None) -> Layer:
        r"""A user-declared layer :math:`a_j = R(x_j, z_j, p_j)`, :math:`z = W a + b`.

        ``params``: ``{symbol: init}`` of trainable per-neuron parameters; ``init`` is a
        number, an array of length ``n_out`` or a callable ``init(rng, n_out)``.

        Example
        -------
        >>> import sympy as sp
        >>> x, z, a = sp.symbols("x z a")
        >>> L = Layer.from_rule(z * sp.tanh(a * z), z=z, params={a: 1.0}, n_in=2, n_out=8)
        >>> L.n_params  # 8*2 weights + 8 biases + 8 values of a
        32
        """
        return cls(n_in, n_out, rule, x=x, z=z, params=params, name=name)

    # -- parameters ---------------------------------------------------------
    @property
    def n_params(self) -> int:
        return self.n_out * (self.n_in + 1 + len(self.param_names))

    def param_shapes(self) -> list[tuple[str, tuple[int, ...]]]:
        """``[(name, shape)]`` in packing order."""
        out = [("W", (self.n_out, self.n_in)), ("b", (self.n_out,))]
        return out + [(p, (self.n_out,)) for p in self.param_names]

    def init_params(self, rng: np.random.Generator, scheme: str = "xavier") -> list[np.ndarray]:
        """Seeded initial parameters in packing order (``W``, ``b``, per-neuron ones)."""
        if scheme not in INIT_SCHEMES:
            raise ConfigError(f"unknown init {scheme!r}; valid: {', '.join(INIT_SCHEMES)}")
        var = 2.0 / (self.n_in + self.n_out) if scheme == "xavier" else 2.0 / self.n_in
        out = [rng.normal(0.0, np.sqrt(var), (self.n_out, self.n_in)), np.zeros(self.n_out)]
        for name, init in zip(self.param_names, self._inits, strict=True):
            value = init(rng, self.n_out) if callable(init) else init
            arr = np.broadcast_to(np.asarray(value, dtype=np.float64), (self.n_out,)).copy() \
                if np.ndim(value) == 0 else np.asarray(value, dtype=np.float64)
            if arr.shape != (self.n_out,):
                raise DeclarationError(f"layer {self.name!r}: initial value of parameter "
                                       f"{name!r} has shape {arr.shape}, expected ({self.n_out},)")
            out.append(arr)
        return out

    # -- symbolic partials ---------------------------------------------------
    @property
    def is_affine(self) -> bool:
        """True when the rule is ``z`` (no elementwise step)."""
        return self.rule == Z_SYM

    @property
    def spatial_vars(self) -> list[sp.Symbol]:
        return [X_SYM, Z_SYM] if self.uses_x else [Z_SYM]

    def partial_indices(self, level: int) -> list[tuple[int, ...]]:
        r"""Partials needed at ``level`` (jet order): every :math:`\partial^\alpha R` with
        :math:`\alpha` over the spatial inputs, :math:`|\alpha| \le` level+1, and every
        :math:`\partial_p\partial^\alpha R`, :math:`|\alpha| \le` level, for each parameter."""
        nv, npar = len(self.spatial_vars), len(self.param_names)
        out = []
        for k in range(level + 2):
            out += list(itertools.combinations_with_replacement(range(nv), k))
        for p in range(npar):
            for k in range(level + 1):
                for a in itertools.combinations_with_replacement(range(nv), k):
                    out.append((*a, nv + p))
        return out

    def partial_exprs(self, level: int) -> dict[tuple[int, ...], sp.Expr]:
        """The sympy partials of the rule at ``level`` (explicit, activations expanded)."""
        syms = self.spatial_vars + [_param_symbol(i) for i in range(len(self.param_names))]
        out = {}
        for idx in self.partial_indices(level):
            e = sp.diff(self.rule, *[syms[i] for i in idx]) if idx else self.rule
            e = expand_activations(e)
            if e.has(*_NONSMOOTH):
                what = "".join(f"d{syms[i]}" for i in idx)
                raise NonDifferentiableError(
                    f"layer {self.name!r}: the rule {self.user_rule} cannot be differentiated "
                    f"as {what} (needed for order {level}): got {e}. Use an activation with a "
                    "declared derivative (e.g. activation('relu')) or a smooth rule")
            out[idx] = e
        return out

    def kernel(self, level: int, backend: str = "numpy") -> tuple[PartialsKernel, dict]:
        """The compiled partials kernel at ``level`` and ``{alpha: row}`` (cached)."""
        if backend not in NN_BACKENDS:
            raise ConfigError(f"unknown backend {backend!r}; valid: {', '.join(NN_BACKENDS)}")
        # the compiled-tanh choice is made once per process; it is in the key so that a
        # test resetting it does not meet kernels built under the other choice
        tanh_rule = backend == "numba" and self.rule.has(sp.tanh)
        key = (self.rule, len(self.param_names), level, backend,
               tanh_rule and compiled_tanh_pays())
        if key not in _KERNELS:
            exprs = self.partial_exprs(level)
            if backend == "numba" and not compiled_loop_pays(exprs.values()):
                # numba calls the scalar libm per element; NumPy's ufuncs can be vectorized
                # (tanh's partials at 1000 x 64 points: 2.1 ms compiled with math.tanh, 1.3
                # ms in NumPy on an AVX-512 VM); tanh alone has a compiled form from one exp
                # per element, used where it measures faster (nedsym.codegen.libm)
                backend = "numpy"
            syms = self.spatial_vars + [_param_symbol(i) for i in range(len(self.param_names))]
            labels = ["R" + "".join(f"_{syms[i]}" for i in idx) for idx in exprs]
            point = self.spatial_vars
            neuron = [_param_symbol(i) for i in range(len(self.param_names))]
            title = f"partials of R = {self.rule} up to order {level + 1}"
            k = PartialsKernel("partials", list(exprs.values()), point, neuron, backend, labels,
                               title)
            _KERNELS[key] = (k, {idx: q for q, idx in enumerate(exprs)})
        return _KERNELS[key]

    def partials_source(self, level: int = 1, backend: str = "numpy") -> str:
        """The generated elementwise kernel source at ``level``."""
        return self.kernel(level, backend)[0].source

    def __reduce__(self):
        # rebuilt from the declaration (what the layer derives and compiles is made again on
        # the other side); a rule must then use sympy's own functions or nedsym activations
        args, kwargs = self._reduce_args()
        return (_rebuild_layer, (type(self), args, kwargs))

    def _reduce_args(self):
        n_in, n_out, rule, kwargs = self._recipe
        return (n_in, n_out, rule), kwargs

    def __repr__(self) -> str:
        params = f", params={self.param_names}" if self.param_names else ""
        return (f"{type(self).__name__}({self.n_in} -> {self.n_out}, "
                f"R = {self.user_rule}{params})")


class Dense(Layer):
    r"""Dense layer :math:`a = \sigma(W a_{in} + b)`.

    Example
    -------
    >>> Dense(2, 16, "tanh").n_params
    48
    """

    kind = "dense"

    def __init__(self, n_in: int, n_out: int, activation_: str | Activation = "tanh",
                 name: str | None = None):
        self.activation = activation(activation_)
        z = sp.Symbol("z")
        super().__init__(n_in, n_out, self.activation(z), z=z, name=name)

    def _reduce_args(self):
        return (self.n_in, self.n_out, self.activation), {"name": self.name}


class Residual(Layer):
    r"""Residual layer :math:`a = a_{in} + h\,\sigma(W a_{in} + b)` (square, ``n -> n``).

    Example
    -------
    >>> Residual(16, "tanh", h=0.5).n_params
    272
    """

    kind = "residual"

    def __init__(self, n: int, activation_: str | Activation = "tanh", h: float = 1.0,
                 name: str | None = None):
        self.activation = activation(activation_)
        self.h = float(h)
        x, z = sp.symbols("x z")
        hs = sp.Integer(int(self.h)) if self.h.is_integer() else sp.Float(self.h)
        super().__init__(n, n, x + hs * self.activation(z), x=x, z=z, name=name)

    def _reduce_args(self):
        return (self.n_in, self.activation, self.h), {"name": self.name}


class Linear(Layer):
    r"""Affine output layer :math:`a = W a_{in} + b` (no activation).

    Example
    -------
    >>> Linear(16, 1).n_params
    17
    """

    kind = "linear"

    def __init__(self, n_in: int, n_out: int, name: str | None = None):
        z = sp.Symbol("z")
        super().__init__(n_in, n_out, z, z=z, name=name)

    def _reduce_args(self):
        return (self.n_in, self.n_out), {"name": self.name}


def _positive(n, what: str) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise DeclarationError(f"{what} must be a positive integer, got {n!r}")
    return int(n)

