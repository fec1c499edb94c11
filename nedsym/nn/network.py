r"""Networks :math:`u(x;\theta)` with spatial derivatives and per-point parameter Jacobians.

A :class:`Network` is a sequence of layers (:mod:`nedsym.nn.layers`) with all
trainable parameters packed in one vector :math:`\theta`:

* layers in order; per layer ``W`` (``n_out x n_in``, row-major), then ``b``
  (``n_out``), then each per-neuron parameter (``n_out``) in declaration order.
  :attr:`Network.layout` lists ``(layer_index, name, shape, slice)``.

:meth:`Network.forward` propagates the jet (values, gradient, Hessian or
Laplacian) layer by layer in forward mode. :meth:`Network.jacobian` runs one
reverse sweep through that computation with one cotangent channel per output
quantity and point (``n_out * F`` channels, ``F = 1 + d + d^2`` at order 2), so
the per-point Jacobians cost a fixed multiple of the forward pass, linear in
depth. :meth:`Network.vjp` is the same sweep with one channel summed over
points: the gradient of :math:`\sum_m \langle \text{cot}, \text{jet}\rangle`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nedsym.arena import Arena
from nedsym.arena import empty as arena_empty
from nedsym.errors import ConfigError, DeclarationError, FieldError
from nedsym.nn.activations import Activation
from nedsym.nn.jet import Jet, JetSpec
from nedsym.nn.kernels import NN_BACKENDS
from nedsym.nn.layers import INIT_SCHEMES, Dense, Layer, Linear, Residual
from nedsym.nn.propagate import layer_backward, layer_forward

__all__ = ["Network", "MLP", "Linearization"]

#: cotangent arrays per chunk of points are kept below this many float64 entries
_CHUNK_ENTRIES = 1 << 21


class Network:
    r"""A sequential network :math:`u(x;\theta) = L_k \circ \dots \circ L_1(x)`.

    Parameters
    ----------
    layers: the layers; ``layers[i].n_out`` must equal ``layers[i+1].n_in``.
    backend: elementwise kernels by ``"numpy"`` (reference) or ``"numba"``.
    seed: seed of the initial parameters :attr:`theta0` (``None``: 0).
    init: ``"xavier"`` (normal, variance ``2/(n_in+n_out)``) or ``"he"`` (``2/n_in``).

    Example
    -------
    >>> net = Network([Dense(2, 8, "tanh"), Linear(8, 1)], seed=0)
    >>> jet = net.forward(np.zeros((5, 2)), order=2)
    >>> jet.hess.shape
    (5, 1, 2, 2)
    """

    def __init__(self, layers: Sequence[Layer], *, backend: str = "numpy", seed: int | None = None,
                 init: str = "xavier"):
        layers = list(layers)
        if not layers:
            raise DeclarationError("a Network needs at least one layer")
        for i, L in enumerate(layers):
            if not isinstance(L, Layer):
                raise DeclarationError(f"layer {i} is {L!r}, not a nedsym.nn Layer")
            if i and L.n_in != layers[i - 1].n_out:
                raise DeclarationError(
                    f"layer {i} ({L!r}) takes {L.n_in} inputs but layer {i - 1} gives "
                    f"{layers[i - 1].n_out}")
        if backend not in NN_BACKENDS:
            raise ConfigError(f"unknown backend {backend!r}; valid: {', '.join(NN_BACKENDS)}")
        if init not in INIT_SCHEMES:
            raise ConfigError(f"unknown init {init!r}; valid: {', '.join(INIT_SCHEMES)}")
        self.layers = layers
        self.backend = backend
        self.init_scheme = init
        # the memory of fresh Jacobians and rows, reused once the earlier one is dropped
        self._arenas = {"jacobian": Arena(), "rows": Arena()}
        self.layout = []
        start = 0
        for i, L in enumerate(layers):
            for name, shape in L.param_shapes():
                size = int(np.prod(shape))
                self.layout.append((i, name, shape, slice(start, start + size)))
                start += size
        self.n_params = start
        self.theta0 = self.init(0 if seed is None else seed)

    def __reduce__(self):
        # layers travel as their declarations (see Layer.__reduce__); theta0 as it is
        state = {k: v for k, v in self.__dict__.items()
                 if k not in ("layers", "backend", "init_scheme", "layout", "n_params")}
        return (_rebuild_network, (type(self), self.layers, self.backend, self.init_scheme, state))

    @property
    def d_in(self) -> int:
        """Input (spatial) dimension ``d``."""
        return self.layers[0].n_in

    @property
    def n_out(self) -> int:
        """Number of output components."""
        return self.layers[-1].n_out

    # -- parameters ---------------------------------------------------------
    def init(self, seed: int = 0) -> np.ndarray:
        """Seeded initial parameters (``numpy.random.default_rng(seed)``); sets :attr:`theta0`."""
        rng = np.random.default_rng(seed)
        parts = [a.ravel() for L in self.layers for a in L.init_params(rng, self.init_scheme)]
        self.theta0 = np.concatenate(parts)
        return self.theta0

    def _theta(self, theta) -> np.ndarray:
        if theta is None:
            return self.theta0
        theta = np.asarray(theta, dtype=np.float64)
        if theta.shape != (self.n_params,):
            raise DeclarationError(f"theta must be a 1-D array of length P = {self.n_params} "
                                   f"(the network's parameter count), got shape {theta.shape}")
        return theta

    def unpack(self, theta=None) -> list[dict[str, np.ndarray]]:
        """Per layer ``{name: array view}`` of ``theta`` (``W`` as ``(n_out, n_in)``)."""
        theta = self._theta(theta)
        out = [{} for _ in self.layers]
        for i, name, shape, sl in self.layout:
            out[i][name] = theta[sl].reshape(shape)
        return out

    def _params(self, theta) -> list[list[np.ndarray]]:
        return [list(d.values()) for d in self.unpack(theta)]

    def _points(self, X) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim == 1 and self.d_in == 1:
            X = X[:, None]
        if X.ndim != 2 or X.shape[1] != self.d_in:
            raise FieldError(f"points X must have shape (M, {self.d_in}) (M points in "
                             f"d = {self.d_in} dimensions), got shape {X.shape}")
        return X

    # -- evaluation ---------------------------------------------------------
    def forward(self, X, theta=None, order: int = 0, *, lap_only: bool = False,
                diag_only: bool = False) -> Jet:
        r"""Values and spatial derivatives of :math:`u(x;\theta)` at the points ``X``.

        Returns a :class:`~nedsym.nn.jet.Jet`: ``u`` ``(M, n_out)``, ``grad``
        ``(M, n_out, d)`` (order >= 1), ``hess`` ``(M, n_out, d, d)`` (order 2; with
        ``lap_only=True`` only the Laplacian ``lap`` ``(M, n_out)``, with ``diag_only=True``
        only the diagonal ``diag`` ``(M, n_out, d)``; both cheaper).
        ``theta``: the packed parameters (default :attr:`theta0`).
        """
        X, theta = self._points(X), self._theta(theta)
        spec = JetSpec(self.d_in, order, lap_only, diag_only)
        S = spec.seed(X)
        for L, p in zip(self.layers, self._params(theta), strict=True):
            S, _ = layer_forward(L, spec, S, p, self.backend, order - 1)
        return spec.split(np.ascontiguousarray(S.transpose(0, 2, 1)))

    __call__ = forward

    def jacobian(self, X, theta=None, order: int = 0, *, lap_only: bool = False,
                 diag_only: bool = False, out: np.ndarray | None = None) -> tuple[Jet, Jet]:
        r"""Per-point Jacobians of the jet w.r.t. :math:`\theta`.

        Returns ``(values, jac)``: ``values`` as :meth:`forward`; ``jac.u``
        ``(M, n_out, P)`` :math:`=\partial u/\partial\theta`, ``jac.grad``
        ``(M, n_out, d, P)``, ``jac.hess`` ``(M, n_out, d, d, P)`` (or ``jac.lap``
        ``(M, n_out, P)`` with ``lap_only``, ``jac.diag`` ``(M, n_out, d, P)`` with
        ``diag_only``). ``jac.data`` is the contiguous
        ``(M, n_out, F, P)`` buffer; ``jac.data.reshape(-1, P)`` the stacked matrix.
        ``out``: that buffer, to be overwritten (a C-contiguous float64 array of exactly
        this shape). A loop that asks for Jacobians of the same size again saves the
        fresh allocation, whose first touch is a large part of writing a Jacobian.

        Example
        -------
        >>> net = MLP([2, 8, 1], seed=0)
        >>> val, jac = net.jacobian(np.zeros((4, 2)), order=1)
        >>> jac.grad.shape == (4, 1, 2, net.n_params)
        True
        """
        X, theta = self._points(X), self._theta(theta)
        spec = JetSpec(self.d_in, order, lap_only, diag_only)
        M, F, n_out, P = X.shape[0], spec.F, self.n_out, self.n_params
        C = n_out * F
        jac = _out_buffer(out, (M, n_out, F, P), "jacobian", X, theta,
                          arena=self._arenas["jacobian"])
        vals = np.empty((M, n_out, F))
        seed_bar = np.eye(C).reshape(C, n_out, F).transpose(0, 2, 1)  # (C, F, n_out)
        active = np.zeros((n_out, F, F), dtype=bool)   # channel (output, feature) reads
        for f in range(F):
            active[:, f, list(spec.support(f))] = True
        active = active.reshape(C, F)
        width = max(L.n_out for L in self.layers) + self.d_in
        chunk = max(1, _CHUNK_ENTRIES // (C * F * width))
        params = self._params(theta)
        for lo in range(0, M, chunk):
            hi = min(M, lo + chunk)
            dest = jac[lo:hi].reshape(hi - lo, C, P)
            S, tapes = spec.seed(X[lo:hi]), []
            for L, p in zip(self.layers, params, strict=True):
                S, tape = layer_forward(L, spec, S, p, self.backend, order)
                tapes.append(tape)
            vals[lo:hi] = S.transpose(0, 2, 1)
            abar = np.broadcast_to(seed_bar, (hi - lo, C, F, n_out))
            self._sweep(spec, tapes, abar, params, dest, per_point=True, active=active)
        return spec.split(vals), _with_data(spec.split(jac, (P,)), jac)

    def linearize(self, X, theta=None, order: int = 0, *, lap_only: bool = False,
                  diag_only: bool = False) -> tuple[Jet, Linearization]:
        r"""The jet at ``X`` and its linearization in :math:`\theta`, for rows of chosen
        combinations of the jet.

        Returns ``(values, lin)``: ``values`` as :meth:`forward`; ``lin.rows(cot)`` gives,
        per point and channel, :math:`\partial_\theta \langle \text{cot}, \text{jet}
        \rangle` as ``(M, C, P)``. A least-squares residual linearized in the jet,
        :math:`\delta R = \sum_\alpha c_\alpha\, \delta D^\alpha u`, has rows
        ``lin.rows(c)``: one reverse sweep with ``C`` channels (one per residual), where
        :meth:`jacobian` sweeps ``n_out * F`` channels and the rows are then contracted
        (``F = 1 + d + d^2`` at order 2). The coefficients may depend on ``values``, which
        is why this comes in two steps.

        Example
        -------
        >>> net = MLP([2, 8, 1], seed=0)
        >>> X = np.random.default_rng(0).uniform(size=(5, 2))
        >>> vals, lin = net.linearize(X, order=2, lap_only=True)
        >>> rows = lin.rows(Jet(u=np.zeros((5, 1, 1)), lap=np.ones((5, 1, 1))))
        >>> jac = net.jacobian(X, order=2, lap_only=True)[1]
        >>> bool(np.allclose(rows[:, 0], jac.lap[:, 0]))
        True
        """
        X, theta = self._points(X), self._theta(theta)
        spec = JetSpec(self.d_in, order, lap_only, diag_only)
        params = self._params(theta.copy())     # the tape keeps its own weights
        M = X.shape[0]
        vals = np.empty((M, self.n_out, spec.F))
        width = max(L.n_out for L in self.layers) + self.d_in
        chunk = max(1, _CHUNK_ENTRIES // (spec.F * width))
        chunks = []                # the forward pass in chunks: bounded temporaries
        for lo in range(0, M, chunk):
            hi = min(M, lo + chunk)
            S, tapes = spec.seed(X[lo:hi]), []
            for L, p in zip(self.layers, params, strict=True):
                S, tape = layer_forward(L, spec, S, p, self.backend, order)
                tapes.append(tape)
            vals[lo:hi] = S.transpose(0, 2, 1)
            chunks.append((lo, hi, tapes))
        return spec.split(vals), Linearization(self, spec, chunks, params, M)

    def vjp(self, X, theta, cot: Jet) -> np.ndarray:
        r"""Gradient :math:`\nabla_\theta \sum_m (\bar u\cdot u + \bar g\cdot\nabla u
        + \bar H : \nabla^2 u)` at the points ``X``, without forming the Jacobian.

        ``cot``: a :class:`~nedsym.nn.jet.Jet` of cotangents shaped like
        :meth:`forward`'s result; ``None`` fields count as zero, and the highest
        field given sets the order (``cot.lap`` alone: Laplacian-only; ``cot.diag``:
        the Hessian's diagonal).

        Example
        -------
        >>> net = MLP([1, 8, 1], seed=0)
        >>> X = np.linspace(0, 1, 5)[:, None]
        >>> g = net.vjp(X, net.theta0, Jet(u=np.ones((5, 1))))
        >>> g.shape == (net.n_params,)
        True
        """
        X, theta = self._points(X), self._theta(theta)
        diag_only = cot.hess is None and cot.diag is not None
        lap_only = cot.hess is None and cot.diag is None and cot.lap is not None
        order = 2 if (cot.hess is not None or lap_only or diag_only) else \
            (1 if cot.grad is not None else 0)
        spec = JetSpec(self.d_in, order, lap_only, diag_only)
        abar = _pack_cotangent(spec, cot, X.shape[0], self.n_out, channels=None)
        params = self._params(theta)
        S, tapes = spec.seed(X), []
        for L, p in zip(self.layers, params, strict=True):
            S, tape = layer_forward(L, spec, S, p, self.backend, order)
            tapes.append(tape)
        grad = np.zeros(self.n_params)
        self._sweep(spec, tapes, abar, params, grad, per_point=False)
        return grad

    def _sweep(self, spec, tapes, abar, params, out, per_point: bool,
               active: np.ndarray | None = None) -> None:
        """Reverse sweep over all layers writing parameter derivatives into ``out``;
        ``active``: ``(C, F)``, the features with nonzero cotangents per channel (a seeded
        Jacobian's structure, used by the compiled rows)."""
        compiled = per_point and self.backend == "numba" and out.flags.c_contiguous
        for i in reversed(range(len(self.layers))):
            L = self.layers[i]
            blocks = []
            lay = self.layout_of(i)
            for _, _, shape, sl in lay:
                blocks.append(_view(out[..., sl],
                                    (*out.shape[:-1], *shape) if per_point else shape))
            rows = (out, lay[0][3].start, lay[1][3].start, active) if compiled else None
            abar = layer_backward(L, spec, tapes[i], abar, params[i], blocks, per_point,
                                  need_input=i > 0, rows=rows)

    def layout_of(self, i: int) -> list:
        """The :attr:`layout` entries of layer ``i``."""
        return [e for e in self.layout if e[0] == i]

    def source(self, order: int = 1, backend: str | None = None) -> str:
        """The generated elementwise kernel sources used by :meth:`jacobian` at ``order``."""
        seen, parts = set(), []
        for i, L in enumerate(self.layers):
            if L.is_affine:
                continue
            src = L.partials_source(order, backend or self.backend)
            if src not in seen:
                seen.add(src)
                parts.append(f"# layer {i}: {L!r}\n{src}")
        return "\n".join(parts)

    def __repr__(self) -> str:
        rows = "\n".join(f"  {i}: {L!r}" for i, L in enumerate(self.layers))
        return f"Network(P = {self.n_params}, backend = {self.backend!r})\n{rows}"


class Linearization:
    """What :meth:`Network.linearize` returns: the forward tape at the points (with a copy
    of the parameters it was taken at), and :meth:`rows` for per-point rows of
    cotangent-weighted jets. The tape holds the layers' jets at every point, about
    ``M * F * width`` numbers per layer."""

    def __init__(self, net: Network, spec: JetSpec, chunks: list, params: list, n_points: int):
        self.net, self.spec, self._chunks, self._params = net, spec, chunks, params
        self.n_points = n_points

    def rows(self, cot: Jet, out: np.ndarray | None = None) -> np.ndarray:
        r"""``(M, C, P)``: :math:`\partial_\theta \sum_f \text{cot}_{mcf}\,
        \text{jet}_{mf}` at each point ``m`` and channel ``c``.

        ``cot``: a :class:`~nedsym.nn.jet.Jet` with a channel axis after the points:
        ``u`` ``(M, C, n_out)``, ``grad`` ``(M, C, n_out, d)``, ``hess``
        ``(M, C, n_out, d, d)``, ``diag`` ``(M, C, n_out, d)`` (diagonal-only
        linearization) or ``lap`` ``(M, C, n_out)`` (Laplacian-only); ``None`` fields
        count as zero, and fields the linearization does not carry are refused.
        ``out``: a C-contiguous float64 ``(M, C, P)`` array to write the rows into (and
        return), as in :meth:`Network.jacobian`.
        """
        spec, net, M = self.spec, self.net, self.n_points
        fields = {"u": cot.u, "grad": cot.grad, "hess": cot.hess, "diag": cot.diag,
                  "lap": cot._lap}
        given = [f for f in fields.values() if f is not None]
        if not given or np.ndim(given[0]) < 3:
            raise FieldError("a cotangent of rows needs a channel axis: u (M, C, n_out), "
                             "grad (M, C, n_out, d), ...")
        C = np.shape(given[0])[1]
        _pack_cotangent(spec, cot, M, net.n_out, channels=C, check_only=True)
        out = _out_buffer(out, (M, C, net.n_params), "rows", arena=net._arenas["rows"])
        if C == 0 or M == 0:
            return out
        width = max(L.n_out for L in net.layers) + net.d_in
        sub = max(1, _CHUNK_ENTRIES // (max(C, 1) * spec.F * width))
        for lo0, hi0, tapes0 in self._chunks:
            for lo in range(lo0, hi0, sub):
                hi = min(hi0, lo + sub)
                part = Jet(**{k: None if v is None else np.asarray(v)[lo:hi]
                              for k, v in fields.items()})
                abar = _pack_cotangent(spec, part, hi - lo, net.n_out, channels=C)
                tapes = [_slice_tape(t, lo - lo0, hi - lo0) for t in tapes0]
                net._sweep(spec, tapes, abar, self._params, out[lo:hi], per_point=True)
        return out


def _out_buffer(out, shape: tuple, what: str, *inputs, arena: Arena | None = None) -> np.ndarray:
    """``out`` checked as the destination of ``what`` (or a new array of ``shape``, from
    ``arena`` when given: the memory of an earlier result nothing references any more, see
    :mod:`nedsym.arena`); it must not overlap the ``inputs`` it is computed from."""
    if out is None:
        if arena is None:
            return np.empty(shape)
        with arena.active():
            return arena_empty(shape)
    if any(isinstance(a, np.ndarray) and np.may_share_memory(out, a) for a in inputs):
        raise FieldError(f"{what}: out= overlaps the points or the parameters it is "
                         "computed from; pass a separate array")
    if not isinstance(out, np.ndarray) or out.dtype != np.float64 or \
            tuple(out.shape) != tuple(shape) or not out.flags.c_contiguous or \
            not out.flags.writeable:
        got = (f"{type(out).__name__} {getattr(out, 'dtype', '')} "
               f"{tuple(getattr(out, 'shape', ()))}")
        raise FieldError(f"{what}: out= must be a writeable C-contiguous float64 array of "
                         f"shape {tuple(shape)}; got {got.strip()}")
    return out


def _slice_tape(tape: tuple, lo: int, hi: int) -> tuple:
    S, jets, R = tape
    return (S[lo:hi], [j[lo:hi] for j in jets],
            None if R is None else {k: v[lo:hi] for k, v in R.items()})


def _pack_cotangent(spec: JetSpec, cot: Jet, M: int, n_out: int,
                    channels: int | None, check_only: bool = False) -> np.ndarray | None:
    """``(M, C, F, n_out)`` cotangent array from a :class:`Jet` of cotangents (``channels``
    ``None``: one channel and no channel axis in the fields); ``check_only``: validate the
    fields' names and shapes only."""
    d = spec.d
    C = 1 if channels is None else channels
    lead = (M,) if channels is None else (M, C)
    abar = None if check_only else np.zeros((M, C, spec.F, n_out))
    fields = [("u", cot.u, (*lead, n_out))]
    given = {"grad": cot.grad is not None, "hess": cot.hess is not None,
             "diag": cot.diag is not None, "lap": cot._lap is not None}
    if spec.order >= 1:
        fields.append(("grad", cot.grad, (*lead, n_out, d)))
    if spec.order == 2:
        fields.append(("lap", cot._lap, (*lead, n_out)) if spec.lap_only
                      else ("diag", cot.diag, (*lead, n_out, d)) if spec.diag_only
                      else ("hess", cot.hess, (*lead, n_out, d, d)))
    named = {f[0] for f in fields}
    extra = [k for k, v in given.items() if v and k not in named]
    if extra:
        carries = ", ".join(sorted(named))
        raise FieldError(f"cotangent field(s) {', '.join(extra)} are not part of this jet: "
                         f"order {spec.order}, carrying {carries} (give the cotangent of "
                         "what the jet carries; lap, diag and hess exclude each other)")
    for name, value, shape in fields:
        if value is None:
            continue
        value = np.asarray(value, dtype=np.float64)
        if value.shape != shape:
            raise FieldError(f"cotangent {name} must have shape {shape}, got {value.shape}")
        if check_only:
            continue
        if channels is None:
            value = value[:, None]
        if name in ("u", "lap"):
            abar[:, :, 0 if name == "u" else spec.H.start] = value
        else:
            block = spec.G if name == "grad" else spec.H   # grad, diag or hess
            abar[:, :, block] = value.reshape(M, C, n_out, -1).transpose(0, 1, 3, 2)
    return abar


def _view(a: np.ndarray, shape: tuple) -> np.ndarray:
    """``a`` reshaped without copying (writes must reach ``a``)."""
    r = a.reshape(shape)
    if not np.may_share_memory(r, a):  # pragma: no cover - layouts above always allow a view
        raise RuntimeError(f"internal error: cannot view {a.shape} as {shape} without a copy")
    return r


def _rebuild_network(cls, layers, backend, init, state):
    net = cls.__new__(cls)
    Network.__init__(net, layers, backend=backend, init=init)
    net.__dict__.update(state)
    return net


def _with_data(jet: Jet, data: np.ndarray) -> Jet:
    jet.data = data
    return jet


class MLP(Network):
    r"""Multilayer perceptron ``sizes = [d, w_1, ..., w_k, n_out]``.

    Hidden layers are :class:`~nedsym.nn.layers.Dense` with ``activation``; with
    ``residual=True`` each hidden layer whose width equals the previous one is a
    :class:`~nedsym.nn.layers.Residual` :math:`a + h\,\sigma(Wa+b)`. The output
    layer is :class:`~nedsym.nn.layers.Linear`.

    Example
    -------
    >>> net = MLP([2, 50, 50, 1], activation="tanh", seed=0)
    >>> net.n_params
    2751
    """

    def __init__(self, sizes: Sequence[int], activation: str | Activation = "tanh", *,
                 residual: bool = False, h: float = 1.0, seed: int | None = None,
                 init: str = "xavier", backend: str = "numpy"):
        sizes = list(sizes)
        if len(sizes) < 2:
            raise DeclarationError(f"MLP sizes must be [d, widths..., n_out], got {sizes}")
        layers: list[Layer] = []
        for k in range(1, len(sizes) - 1):
            if residual and sizes[k] == sizes[k - 1] and k > 1:
                layers.append(Residual(sizes[k], activation, h=h))
            else:
                layers.append(Dense(sizes[k - 1], sizes[k], activation))
        layers.append(Linear(sizes[-2], sizes[-1]))
        self.sizes = sizes
        super().__init__(layers, backend=backend, seed=seed, init=init)
