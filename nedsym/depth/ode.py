r"""Networks as ODEs in depth: :class:`DepthODE`.

A hidden state :math:`x(t) \in \mathbb{R}^n` over depth :math:`t \in [0, T]`
obeys :math:`\dot x = F(x, \theta(t), t)`, declared symbolically. nedsym
derives the Hamiltonian :math:`H = p\cdot F - L`, the costate equation and
the parameter gradient (:mod:`nedsym.flows.hamiltonian`), generates batch
kernels for them (NumPy reference or Numba) and integrates with Euler or RK4,
:math:`\theta` piecewise constant per step (a ResNet). The gradient is the
exact discrete adjoint (equal to finite differences of the discrete loss to
round-off) or the continuous adjoint.

The loss of a batch of ``B`` samples is the batch mean

.. math:: J = \frac{1}{B}\sum_{b}\Big[\Phi(x^b(T), y^b) + \int_0^T L(x^b, \theta, t)\,dt\Big].
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from nedsym.arena import Arena, suspended
from nedsym.arena import empty as arena_empty
from nedsym.depth.dense import DenseProgram, find_dense_layers
from nedsym.depth.kernels import BatchKernel, build_batch_kernel
from nedsym.depth.steppers import (
    _combine,
    fused_combine,
    get_tableau,
    rk_continuous_adjoint,
    rk_discrete_adjoint,
    rk_forward,
    rk_tangent,
)
from nedsym.errors import BlowUpError, CodegenError, ConfigError, DeclarationError
from nedsym.flows.hamiltonian import HamiltonianSystem, hamiltonian_system

__all__ = ["DepthODE", "DepthGradient", "Trajectory", "matrix", "vector"]


def vector(name: str, n: int) -> sp.ImmutableMatrix:
    """A column of real symbols ``name0 … name{n-1}``.

    Example
    -------
    >>> vector("x", 2).T
    Matrix([[x0, x1]])
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise DeclarationError(f"vector name {name!r} is not a valid identifier")
    if not isinstance(n, int) or n < 1:
        raise DeclarationError(f"vector {name!r}: length must be a positive int, got {n!r}")
    return sp.ImmutableMatrix([sp.Symbol(f"{name}{i}", real=True) for i in range(n)])


def matrix(name: str, rows: int, cols: int) -> sp.ImmutableMatrix:
    """A matrix of real symbols ``name_i_j``.

    Example
    -------
    >>> matrix("W", 1, 2)
    Matrix([[W_0_0, W_0_1]])
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise DeclarationError(f"matrix name {name!r} is not a valid identifier")
    for v, what in ((rows, "rows"), (cols, "cols")):
        if not isinstance(v, int) or v < 1:
            raise DeclarationError(f"matrix {name!r}: {what} must be a positive int, got {v!r}")
    return sp.ImmutableMatrix(rows, cols, lambda i, j: sp.Symbol(f"{name}_{i}_{j}", real=True))


@dataclass
class Trajectory:
    """A forward pass: states ``xs (steps+1, n, B)``, RK stages, per-sample running cost."""

    xs: np.ndarray
    stages: np.ndarray
    cost: np.ndarray
    h: float
    stepper: str
    #: per stage (in call order), what a dense program's adjoint reuses; None otherwise
    #: (and None after a compiled gradient, whose kept values stay in its work arrays). The
    #: products no adjoint kernel reads (``DenseProgram._transient()``) share one array, so
    #: their entries all hold the last stage's values
    aux: list | None = None

    @property
    def final(self) -> np.ndarray:
        """:math:`x(T)` as ``(B, n)``."""
        return self.xs[-1].T


@dataclass
class DepthGradient:
    r"""Loss, its gradient and the costates of one forward-backward sweep.

    Attributes
    ----------
    loss: :math:`J` (batch mean).
    grad: :math:`\partial J/\partial\theta_k`, shape ``(steps, nθ)``.
    ps: costates :math:`p_k` (per sample, :math:`p = -B\,\partial J/\partial x`),
        shape ``(steps+1, n, B)``.
    trajectory: the forward pass.
    adjoint: ``"discrete"`` or ``"continuous"``.
    """

    loss: float
    grad: np.ndarray
    ps: np.ndarray
    trajectory: Trajectory
    adjoint: str
    extra: dict = field(default_factory=dict)


class DepthODE:
    r"""A depth ODE :math:`\dot x = F(x, \theta, t)` with derived adjoint and gradient.

    Parameters
    ----------
    state: state symbols (``nedsym.depth.vector("x", n)``).
    rhs: :math:`F`, one expression per state symbol.
    params: parameter symbols, vectors or matrices (flattened row-major into θ).
    running_cost: :math:`L(x, \theta, t)` (default 0).
    terminal_cost: :math:`\Phi(x(T), y)`; default :math:`\tfrac12|x - y|^2` with data
        symbols ``y0 …``.
    data: the data symbols of ``terminal_cost``.
    time: the depth symbol (default ``t``).
    backend: ``"numpy"`` (reference) or ``"numba"``.
    dense: ``"auto"`` (default): parameter matrices that enter only through products
        :math:`W v` are evaluated as matrix products, with generated pointwise kernels
        between them (:mod:`nedsym.depth.dense`; the forward pass keeps each stage's
        products for the adjoint); ``True``: the same, and an error when no matrix
        qualifies; ``False``: every expression expanded into scalars (the reference
        kernels of :meth:`kernel`).
    fused: the discrete-adjoint gradient of a dense model under ``backend="numba"`` as
        one compiled program (:mod:`nedsym.depth.fused`: the forward pass and the adjoint
        each one generated numba function calling the row kernels and BLAS; at small
        widths the Python-driven stages cost several times the arithmetic). ``"auto"``
        (default): when the model is covered (no running cost, every kernel one
        expression over the rows) and its row kernels are compiled anyway; ``True``: also
        when a row kernel would be NumPy (it is printed for numba), an error when not
        covered; ``False``: the Python-driven stages. Before a stepper's first compiled
        gradient, a probe (the first steps and samples of the call) is compared with the
        Python-driven gradient (a :class:`~nedsym.errors.CodegenError` when they differ).
        :attr:`fused_reason` says whether the discrete gradient runs compiled, and why
        not.

    Example
    -------
    >>> x = vector("x", 2); W = matrix("W", 2, 2); b = vector("b", 2)
    >>> ode = DepthODE(x, (W*x + b).applyfunc(sp.tanh), [W, b])
    >>> theta = ode.pack({W: np.eye(2), b: np.zeros(2)}, steps=4)
    >>> res = ode.gradient(np.ones((3, 2)), theta, T=1.0, data=np.zeros((3, 2)))
    >>> res.grad.shape
    (4, 6)
    """

    def __init__(self, state, rhs, params, running_cost=None, *, terminal_cost=None,
                 data=None, time: sp.Symbol | None = None, backend: str = "numpy",
                 dense: bool | str = "auto", fused: bool | str = "auto"):
        xs = list(state) if isinstance(state, sp.MatrixBase) else state
        if terminal_cost is None:
            ys = list(vector("y", len(list(xs))))
            if data is not None:
                raise DeclarationError("data symbols were given without a terminal_cost")
            terminal_cost = sum(((x - y) ** 2 for x, y in zip(xs, ys, strict=True)),
                                sp.Integer(0)) / 2
            data = ys
        self.system: HamiltonianSystem = hamiltonian_system(
            state, rhs, params, running_cost, terminal_cost, data or (), time)
        self.backend = backend
        s = self.system
        self._param_slices = self._slices(params)
        self.n, self.nparams = len(s.state), len(s.params)
        self._k: dict[str, BatchKernel] = {}
        # the memory of forward passes and gradients, reused once their results are dropped
        # a forward pass returns its states alone; a gradient, everything the adjoint reads:
        # blocks of two sizes (see nedsym.arena)
        self._arenas = {"forward": Arena(), "gradient": Arena()}
        self._dense = self._find_dense(dense)
        if isinstance(fused, np.bool_):
            fused = bool(fused)
        if not (isinstance(fused, bool) or isinstance(fused, str) and fused == "auto"):
            raise ConfigError(f"fused must be 'auto', True or False, got {fused!r}")
        self._fused_opt = fused
        self._fused = None          # FusedGradient, once built
        self._fused_lock = threading.Lock()
        #: why the gradient runs compiled or not (set by the first discrete gradient)
        self.fused_reason: str | None = None

    def __getstate__(self):
        # the compiled gradient holds loaded modules and a lock: built again on first use
        state = dict(self.__dict__)
        state.update(_fused=None, fused_reason=None)
        del state["_fused_lock"]
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._fused_lock = threading.Lock()

    def _find_dense(self, dense) -> DenseProgram | None:
        if isinstance(dense, np.bool_):
            dense = bool(dense)
        if not (isinstance(dense, bool) or isinstance(dense, str) and dense == "auto"):
            raise ConfigError(f"dense must be 'auto', True or False, got {dense!r}")
        if dense is False:
            return None
        s = self.system
        items = [(_param_key(it), it, sl, shape) for it, sl, shape in self._param_slices]
        found = find_dense_layers(s.rhs, s.running_cost, items, s.state,
                                  reserved=(*s.costate, *s.data, *s.params, s.time))
        if found is None:
            if dense is True:
                raise DeclarationError(
                    "dense=True, but no parameter matrix (at least two columns) enters the "
                    "dynamics only through full row sums sum_j W[i, j]*v[j] with the same v "
                    "in every row (or full column sums sum_i W[i, j]*v[i], W.T*v); use "
                    "dense='auto' to expand into scalars")
            return None
        layers, rhs, L_sample, L_params, taken = found
        vectors = [(name, sl) for name, _, sl, shape in items if len(shape) == 1]
        return DenseProgram(layers, rhs, L_sample, L_params, s.state, s.costate, s.params,
                            s.time, self.backend, taken, vectors)

    @property
    def dense_layers(self) -> tuple:
        """The :class:`~nedsym.depth.dense.DenseLayer` products found (empty when none)."""
        return self._dense.layers if self._dense is not None else ()

    # -- declaration helpers ----------------------------------------------------
    @staticmethod
    def _slices(params) -> list[tuple[object, slice, tuple[int, ...]]]:
        items = [params] if isinstance(params, (sp.Symbol, sp.MatrixBase)) else list(params)
        out, k = [], 0
        for it in items:
            shape = it.shape if isinstance(it, sp.MatrixBase) else ()
            if len(shape) == 2 and shape[1] == 1:
                shape = (shape[0],)  # a column vector is given as a 1-D array
            size = int(np.prod(shape)) if shape else 1
            out.append((it, slice(k, k + size), shape))
            k += size
        return out

    @property
    def hamiltonian(self) -> sp.Expr:
        """:math:`H = p\\cdot F - L` (sympy)."""
        return self.system.hamiltonian

    @property
    def costate_rhs(self) -> tuple[sp.Expr, ...]:
        return self.system.costate_rhs

    @property
    def param_gradient(self) -> tuple[sp.Expr, ...]:
        """:math:`\\partial H/\\partial\\theta` (the loss gradient density is its negative)."""
        return self.system.dH_dtheta

    def pack(self, values: Mapping, steps: int | None = None) -> np.ndarray:
        """θ as a flat vector ``(nθ,)`` or, with ``steps``, repeated ``(steps, nθ)``.

        ``values``: ``{param (symbol/matrix or its name): array}``; a value of
        shape ``(steps, *shape)`` gives a different value per step.
        """
        by_name = {}
        for k, v in values.items():
            by_name[k if isinstance(k, str) else _param_key(k)] = v
        rows = steps if steps is not None else None
        theta = np.zeros((rows or 1, self.nparams))
        for it, sl, shape in self._param_slices:
            key = _param_key(it)
            if key not in by_name:
                raise ConfigError(f"pack: no value for parameter {key!r}; parameters are "
                                  f"{[_param_key(i) for i, _, _ in self._param_slices]}")
            v = np.asarray(by_name.pop(key), dtype=float)
            if v.shape == shape:
                theta[:, sl] = v.reshape(-1)
            elif rows and v.shape == (rows, *shape):
                theta[:, sl] = v.reshape(rows, -1)
            else:
                raise ConfigError(f"pack: parameter {key!r} has shape {v.shape}, expected "
                                  f"{shape} or {(rows, *shape) if rows else shape}")
        if by_name:
            raise ConfigError(f"pack: unknown parameter(s) {sorted(by_name)}")
        return theta if steps is not None else theta[0]

    def unpack(self, theta: np.ndarray) -> dict[str, np.ndarray]:
        """``{param name: array}`` from θ of shape ``(nθ,)`` or ``(steps, nθ)``."""
        theta = np.asarray(theta)
        lead = theta.shape[:-1]
        return {_param_key(it): theta[..., sl].reshape(*lead, *shape)
                for it, sl, shape in self._param_slices}

    # -- kernels ----------------------------------------------------------------
    def kernel(self, name: str) -> BatchKernel:
        """The generated scalar-expanded kernel ``"rhs"``, ``"vjp"``, ``"jvp"``,
        ``"hamiltonian"``, ``"running_cost"`` or ``"terminal"`` (built on first use, cached
        on disk). With dense layers these are the reference, not what the solves call."""
        if name in self._k:
            return self._k[name]
        s = self.system
        v = tuple(sp.Symbol(f"dv_{x.name}", real=True) for x in s.state)
        specs = {  # derived only for the kernel asked for (the vjp's is the costly one)
            "rhs": lambda: (s.state, s.rhs, ()),
            "vjp": lambda: (s.state + s.costate, s.dH_dx, s.dH_dtheta),
            "jvp": lambda: (s.state + v, [sum((sp.diff(f, x) * vi for x, vi in
                                               zip(s.state, v, strict=True)), sp.Integer(0))
                                          for f in s.rhs], ()),
            "hamiltonian": lambda: (s.state + s.costate, [s.hamiltonian], ()),
            "running_cost": lambda: (s.state, [s.running_cost], ()),
            "terminal": lambda: (s.state + s.data, [s.terminal_cost, *s.terminal_costate], ()),
        }
        if name not in specs:
            raise ConfigError(f"unknown kernel {name!r}; kernels: {sorted(specs)}")
        fields, maps, sums = specs[name]()
        self._k[name] = build_batch_kernel(fields, s.params, s.time, maps, sums,
                                           backend=self.backend, tag=f"depth_{name}")
        return self._k[name]

    def source(self, name: str = "vjp") -> str:
        """Generated source of one kernel (see :meth:`kernel`); with dense layers, for the
        kernels the dense program replaces, the program's account and its kernels;
        ``"fused"``: the compiled gradient's module (see ``fused``)."""
        if name == "fused":
            fused = self._fused_gradient()
            if fused is None:
                raise ConfigError(f"this model's gradient does not run compiled: "
                                  f"{self.fused_reason}")
            return fused.source()
        if self._dense is not None and name != "terminal":
            if name not in ("rhs", "vjp", "jvp", "hamiltonian", "running_cost"):
                raise ConfigError(f"unknown kernel {name!r}; kernels: ['fused', "
                                  "'hamiltonian', 'jvp', 'rhs', 'running_cost', 'terminal', "
                                  "'vjp']")
            return self._dense.source()
        return self.kernel(name).source()

    def _call(self, name, rows, theta, t, nmap):
        k = self.kernel(name)
        yp = np.ascontiguousarray(np.concatenate(rows, axis=0)) if len(rows) > 1 else \
            np.ascontiguousarray(rows[0])
        out = np.empty((nmap, yp.shape[1]))
        acc = np.empty(max(k.nsum, 0))
        k(yp, np.ascontiguousarray(theta, dtype=float), t, out, acc)
        return out, acc

    def F(self, X: np.ndarray, theta: np.ndarray, t: float) -> np.ndarray:
        """:math:`F(X, \\theta, t)` for a batch ``X (n, B)``."""
        if self._dense is not None:
            return self._dense.rhs_eval(X, np.asarray(theta, dtype=float), float(t))
        return self._call("rhs", [X], theta, t, self.n)[0]

    def vjp(self, X, P, theta, t, aux=None):
        """``(∂H/∂x (n, B), Σ_batch ∂H/∂θ (nθ,))`` at ``(X, P)`` (``aux``: what a dense
        forward pass kept at this stage)."""
        if self._dense is not None:
            return self._dense.vjp(X, P, np.asarray(theta, dtype=float), float(t), aux)
        return self._call("vjp", [X, P], theta, t, self.n)

    def jvp(self, X, V, theta, t):
        """:math:`(\\partial F/\\partial x)\\,V`."""
        if self._dense is not None:
            return self._dense.jvp(X, V, np.asarray(theta, dtype=float), float(t))
        return self._call("jvp", [X, V], theta, t, self.n)[0]

    def H(self, X, P, theta, t) -> np.ndarray:
        """Per-sample Hamiltonian ``(B,)``."""
        if self._dense is not None:
            return self._dense.hamiltonian(X, P, np.asarray(theta, dtype=float), float(t))
        return self._call("hamiltonian", [X, P], theta, t, 1)[0][0]

    def L(self, X, theta, t) -> np.ndarray:
        if self._dense is not None:
            return self._dense.running_cost(X, np.asarray(theta, dtype=float), float(t))
        return self._call("running_cost", [X], theta, t, 1)[0][0]

    # -- solves -----------------------------------------------------------------
    def _theta(self, theta, steps):
        theta = np.asarray(theta, dtype=float)
        if theta.ndim == 1:
            if steps is None:
                raise ConfigError("theta of shape (nθ,) needs steps=...; or give one parameter "
                                  "set per step, shape (steps, nθ)")
            theta = np.broadcast_to(theta, (int(steps), theta.shape[0])).copy()
        if theta.ndim != 2 or theta.shape[1] != self.nparams:
            raise ConfigError(f"theta must have shape (steps, {self.nparams}) or "
                              f"({self.nparams},); got {theta.shape}")
        if steps is not None and theta.shape[0] != int(steps):
            raise ConfigError(f"theta has {theta.shape[0]} steps but steps={steps}")
        return theta

    def _x0(self, x0) -> np.ndarray:
        x0 = np.atleast_2d(np.asarray(x0, dtype=float))
        if x0.shape[1] != self.n:
            raise ConfigError(f"inputs x0 must have shape (B, {self.n}); got {x0.shape}")
        return np.ascontiguousarray(x0.T)

    def forward(self, x0, theta, T: float = 1.0, steps: int | None = None,
                stepper: str = "rk4") -> Trajectory:
        """Integrate a batch ``x0 (B, n)`` to depth ``T``; θ ``(steps, nθ)`` or ``(nθ,)``."""
        with self._arenas["forward"].active():
            return self._forward(x0, theta, T, steps, stepper, keep=False)

    def _forward(self, x0, theta, T, steps, stepper, keep: bool) -> Trajectory:
        theta = self._theta(theta, steps)
        tab = get_tableau(stepper)
        h = float(T) / theta.shape[0]
        L = None if self.system.running_cost == 0 else self.L
        F, aux = self.F, None
        if self._dense is not None:
            aux, last = [], []
            scratch = {} if keep else None  # this pass's reused arrays (see rhs_eval)

            def F(X, th, t):
                if keep:
                    K, kept = self._dense.rhs_eval(X, th, t, keep=True, scratch=scratch)
                    aux.append(kept)
                else:  # the stage's rows and products are temporaries: not from the arena
                    with suspended():
                        K, kept = self._dense.rhs_eval(X, th, t, keep=True, scratch=scratch)
                last[:] = [X, kept[0]]
                return K

            if L is not None:  # the running cost at a stage reuses that stage's products
                def L(X, th, t):
                    blocks = last[1] if last and last[0] is X else None
                    return self._dense.running_cost(X, th, t, blocks)
            aux = aux if keep else None
        with np.errstate(over="ignore", invalid="ignore"):  # blow-up raises BlowUpError
            xs, stages, cost = rk_forward(F, self._x0(x0), theta, h, tab, L, fresh=True,
                                          combine=self._combine())
        return Trajectory(xs, stages, cost, h, tab.name, aux)

    def _combine(self):
        """The steppers' stage sums: one compiled pass under ``backend="numba"``, BLAS axpys
        under ``"numpy"`` (no compilation)."""
        return fused_combine() if self.backend == "numba" else _combine

    def _data(self, data, B):
        nd = len(self.system.data)
        if nd == 0:
            return None
        if data is None:
            raise ConfigError(f"the terminal cost needs data of shape (B, {nd}) "
                              f"({[s.name for s in self.system.data]})")
        d = np.atleast_2d(np.asarray(data, dtype=float))
        if d.shape != (B, nd):
            raise ConfigError(f"data must have shape ({B}, {nd}); got {d.shape}")
        return np.ascontiguousarray(d.T)

    def terminal(self, xT: np.ndarray, data, theta0) -> tuple[np.ndarray, np.ndarray]:
        """Per-sample :math:`\\Phi` ``(B,)`` and :math:`p(T) = -\\partial\\Phi/\\partial x`."""
        d = self._data(data, xT.shape[1])
        rows = [xT] if d is None else [xT, d]
        out, _ = self._call("terminal", rows, theta0, 0.0, 1 + self.n)
        return out[0], out[1:]

    def loss(self, x0, theta, T: float = 1.0, data=None, steps=None, stepper="rk4") -> float:
        """The batch-mean loss :math:`J` of the discrete forward pass."""
        traj = self.forward(x0, theta, T, steps, stepper)
        phi, _ = self.terminal(traj.xs[-1], data, np.asarray(theta).reshape(-1, self.nparams)[0])
        return float(np.mean(phi + traj.cost))

    def gradient(self, x0, theta, T: float = 1.0, data=None, steps=None, stepper="rk4",
                 adjoint: str = "discrete") -> DepthGradient:
        """Forward pass, costate sweep and :math:`\\partial J/\\partial\\theta_k`.

        ``adjoint="discrete"``: exact gradient of the discrete loss;
        ``"continuous"``: the costate ODE solved backwards by the same stepper.
        """
        theta = self._theta(theta, steps)
        if adjoint not in ("discrete", "continuous"):
            raise ConfigError(f"adjoint must be 'discrete' or 'continuous', got {adjoint!r}")
        if adjoint == "discrete":
            fused = self._fused_gradient()
            if fused is not None:
                return self._gradient_fused(fused, x0, theta, T, data, stepper)
        return self._gradient_stages(x0, theta, T, data, stepper, adjoint)

    def _gradient_stages(self, x0, theta, T, data, stepper, adjoint) -> DepthGradient:
        with self._arenas["gradient"].active():
            traj = self._forward(x0, theta, T, None, stepper, keep=adjoint == "discrete")
            tab = get_tableau(stepper)
            B = traj.xs.shape[2]
            phi, pT = self.terminal(traj.xs[-1], data, theta[0])
            if adjoint == "discrete":
                # H = p·F without a running cost: the vjp is linear in p (the stage costates
                # are passed pre-scaled)
                ps, g = rk_discrete_adjoint(self.vjp, traj.stages, theta, pT, traj.h, tab,
                                            aux=traj.aux, combine=self._combine(),
                                            linear=self.system.running_cost == 0)
            else:  # recomputes the products at every stage: temporaries
                with suspended():
                    ps, g = rk_continuous_adjoint(self.F, self.vjp, traj.xs, theta, pT,
                                                  traj.h, tab)
        return DepthGradient(float(np.mean(phi + traj.cost)), -g / B, ps, traj, adjoint)

    def _fused_gradient(self):
        """The compiled gradient (built on first use, once: threads wait for it), or None
        (``fused_reason`` says why)."""
        if self._fused is not None:
            return self._fused
        with self._fused_lock:
            return self._build_fused()

    def _build_fused(self):
        if self._fused is not None:
            return self._fused
        if self.fused_reason is not None or self._fused_opt is False:
            self.fused_reason = self.fused_reason or "fused=False"
            return None
        from nedsym.depth.fused import Unsupported, build_fused

        why = None
        if self._dense is None:
            why = "no dense layers (the scalar kernels run)"
        elif self.backend != "numba":
            why = f"backend {self.backend!r} (the compiled gradient is numba)"
        elif self.system.running_cost != 0:
            why = "a running cost (the compiled gradient covers H = p.F)"
        elif self._fused_opt == "auto":
            prog = self._dense
            used = ["rhs", "adj_rhs"] + [f"{k}{l_}" for l_, la in enumerate(prog.layers)
                                         if la.gather is None for k in ("v", "adj_v")]
            rows = prog.row_kernels()
            slow = sorted(k for k in used if k in rows and rows[k].backend != "numba")
            if slow:
                why = (f"row kernels {slow} run in NumPy on this machine "
                       "(nedsym.codegen.libm.compiled_loop_pays); fused=True compiles them")
        if why is None:
            try:
                self._fused = build_fused(self._dense)
            except Unsupported as exc:
                why = str(exc)
        if why is not None:
            if self._fused_opt is True:
                raise ConfigError(f"fused=True, but this model's gradient cannot run as one "
                                  f"compiled program: {why}")
            self.fused_reason = why
            return None
        self.fused_reason = "compiled: forward pass and adjoint each one numba function"
        return self._fused

    def _gradient_fused(self, fused, x0, theta, T, data, stepper) -> DepthGradient:
        tab = get_tableau(stepper)
        if np.any(tab.b <= 0):
            raise ConfigError(f"the discrete adjoint here needs positive weights b; {tab.name} "
                              f"has {tab.b}")
        theta = np.ascontiguousarray(theta, dtype=float)
        if tab.name not in fused.checked:
            if not self._check_fused(fused, x0, theta, T, data, tab):
                return self._gradient_stages(x0, theta, T, data, stepper, "discrete")
        return self._run_fused(fused, x0, theta, T, data, tab)

    def _run_fused(self, fused, x0, theta, T, data, tab) -> DepthGradient:
        X0 = self._x0(x0)
        n, B = X0.shape
        steps = theta.shape[0]
        h = float(T) / steps
        phi = []

        def pT(xT):
            f, p = self.terminal(xT, data, theta[0])
            phi.append(f)
            return p

        with self._arenas["gradient"].active():
            xs = arena_empty((steps + 1, n, B))
            st = arena_empty((steps, tab.stages, n, B))
            ps = arena_empty((steps + 1, n, B))
            g, bad = fused(X0, theta, h, 0.0, tab, xs, st, pT, ps)
        if bad is not None:
            what, k = bad
            raise BlowUpError(
                f"{'the hidden state' if what == 'state' else 'the costate'} became NaN/Inf at "
                f"depth step {k}: reduce the step h = T/steps, the parameter scale or the "
                "input scale (or use rk4 instead of euler)")
        return DepthGradient(float(np.mean(phi[0])), -g / B, ps,
                             Trajectory(xs, st, np.zeros(B), h, tab.name, None), "discrete")

    #: the check's probe: this many steps and samples of the caller's problem (short, so that
    #: the rounding differences of a chaotic model have no time to grow)
    _CHECK_STEPS, _CHECK_SAMPLES = 2, 8

    def _check_fused(self, fused, x0, theta, T, data, tab) -> bool:
        """Before a stepper's first compiled gradient: the compiled and the Python-driven
        gradient of a probe (the first steps and samples of this problem, the same step h)
        must agree to 1e-9 relative. True when the compiled one may run; False to run the
        stages (under ``fused="auto"``, when numba could not compile the generated module);
        a :class:`~nedsym.errors.CodegenError` when they differ."""
        from numba.core.errors import NumbaError

        ks = min(theta.shape[0], self._CHECK_STEPS)
        Tp = float(T) * ks / theta.shape[0]
        xp = np.atleast_2d(np.asarray(x0, dtype=float))[:self._CHECK_SAMPLES]
        dp = None if data is None else \
            np.atleast_2d(np.asarray(data, dtype=float))[:self._CHECK_SAMPLES]
        try:
            got = self._run_fused(fused, xp, theta[:ks], Tp, dp, tab)
        except NumbaError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            self._fused, self.fused_reason = None, f"numba could not compile it: {first}"
            if self._fused_opt is True:
                raise CodegenError(f"fused=True, but numba could not compile the generated "
                                   f"gradient ({fused.path}): {first}") from exc
            return False
        except BlowUpError:
            got = None
        try:
            ref = self._gradient_stages(xp, theta[:ks], Tp, dp, tab.name, "discrete")
        except BlowUpError:
            ref = None
        if got is None and ref is None:
            return True  # nothing to compare on this probe: the next gradient checks again
        if got is None or ref is None:
            errs = (np.inf,) * 3
        else:
            def rel(a, b):
                return float(np.abs(a - b).max()) / max(float(np.abs(b).max()), 1e-300)
            errs = (rel(got.grad, ref.grad), rel(got.ps, ref.ps), rel(got.loss, ref.loss))
        if not max(errs) <= 1e-9:
            # later gradients run the stages
            self._fused, self.fused_reason = None, "the compiled gradient failed its check"
            raise CodegenError(
                f"the compiled depth gradient ({fused.path}) differs from the Python-driven "
                f"one on the first {ks} steps and {len(xp)} samples ({tab.name}): gradient "
                f"{errs[0]:.2e}, costates {errs[1]:.2e}, loss {errs[2]:.2e} (relative); later "
                "gradients run the Python-driven stages; pass fused=False and report it")
        fused.checked.add(tab.name)
        return True

    def tangent(self, traj: Trajectory, theta, v0) -> np.ndarray:
        """Discrete linearized perturbation :math:`\\delta x_k` ``(steps+1, n, B)``;
        ``v0`` of shape ``(B, n)``."""
        theta = self._theta(theta, traj.stages.shape[0])
        return rk_tangent(self.jvp, traj.stages, theta, self._x0(v0), traj.h,
                          get_tableau(traj.stepper))


def _param_key(it) -> str:
    if isinstance(it, sp.Symbol):
        return it.name
    first = next(iter(it)).name
    return re.sub(r"(_0_0|0)$", "", first)
