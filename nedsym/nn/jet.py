r"""Spatial jets and their forward/reverse chain rules through one layer.

A *jet* of a layer's activations at ``M`` points is one array ``S`` of shape
``(M, F, n)``: feature ``0`` holds the values :math:`a`, features ``1..d`` the
gradient :math:`\partial_k a`, and (order 2) the rest the Hessian
:math:`\partial_k\partial_l a` (``d*d`` features, row-major), only its diagonal
:math:`\partial_k^2 a` (``d`` features: exact, since the diagonal's chain rule reads
only gradients and diagonals) or only the Laplacian (one feature). With the
feature axis before the neuron axis, the affine part of a layer is one matrix
product over all features, :math:`Z = S W^T` (plus ``b`` on the values), done by
BLAS.

The elementwise part :math:`a_j = R(v_j, p_j)` with spatial inputs
:math:`v \in \{x, z\}` (``x``: the layer input, ``z``: the pre-activation)
and per-neuron parameters :math:`p` follows the chain rule

.. math::
   \partial_k a = \sum_v R_v\, \partial_k v, \qquad
   \partial_{kl} a = \sum_v R_v\, \partial_{kl} v
     + \sum_{v,w} R_{vw}\, \partial_k v\, \partial_l w .

:func:`elementwise_backward` is its reverse (adjoint) mode, with a leading
*channel* axis ``C`` of cotangents per point, so that one sweep gives the
per-point derivatives of ``C`` output quantities at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nedsym.errors import ConfigError

__all__ = ["Jet", "JetSpec"]


class Jet:
    r"""Values and spatial derivatives of a network's outputs at ``M`` points.

    For :meth:`Network.forward <nedsym.nn.Network.forward>`: ``u`` is ``(M, n_out)``,
    ``grad`` ``(M, n_out, d)``, ``hess`` ``(M, n_out, d, d)`` (``None`` below the
    order). For the Jacobians of :meth:`Network.jacobian <nedsym.nn.Network.jacobian>`
    each field gains a trailing parameter axis ``P``. ``diag`` ``(M, n_out, d)``: the
    Hessian's diagonal alone (``diag_only=True``). ``lap`` is the Laplacian (trace of
    ``hess`` or sum of ``diag``, or the Laplacian computed directly with
    ``lap_only=True``, or given as ``lap=`` for a cotangent). ``data`` (Jacobians
    only): the contiguous buffer ``(M, n_out, F, P)`` the fields are views of;
    ``data.reshape(-1, P)`` is the stacked Jacobian matrix.

    Example
    -------
    >>> jet = Jet(u=np.zeros((3, 1)), lap=np.ones((3, 1)))
    >>> jet.order, jet.lap.shape
    (2, (3, 1))
    """

    def __init__(self, u: np.ndarray, grad: np.ndarray | None = None,
                 hess: np.ndarray | None = None, lap: np.ndarray | None = None,
                 data: np.ndarray | None = None, diag: np.ndarray | None = None):
        self.u, self.grad, self.hess, self._lap, self.data = u, grad, hess, lap, data
        self.diag = diag

    def __repr__(self) -> str:
        shapes = {k: getattr(v, "shape", None) for k, v in
                  (("u", self.u), ("grad", self.grad), ("hess", self.hess),
                   ("diag", self.diag), ("lap", self._lap))}
        return "Jet(" + ", ".join(f"{k}={s}" for k, s in shapes.items() if s is not None) + ")"

    @property
    def lap(self) -> np.ndarray | None:
        """Laplacian: ``(M, n_out)`` (values) or ``(M, n_out, P)`` (Jacobians)."""
        if self._lap is not None:
            return self._lap
        if self.diag is not None:
            return self.diag.sum(axis=2)
        if self.hess is None:
            return None
        return np.trace(self.hess, axis1=2, axis2=3)

    @property
    def order(self) -> int:
        """Highest spatial derivative order present."""
        if self.hess is not None or self._lap is not None or self.diag is not None:
            return 2
        return 1 if self.grad is not None else 0


@dataclass(frozen=True)
class JetSpec:
    """Feature layout of a jet: dimension ``d``, derivative ``order``, and which second
    derivatives (all; ``lap_only``: the Laplacian; ``diag_only``: the diagonal)."""

    d: int
    order: int
    lap_only: bool = False
    diag_only: bool = False

    def __post_init__(self):
        if self.order not in (0, 1, 2):
            raise ConfigError(f"derivative order must be 0, 1 or 2, got {self.order!r}")
        for flag in ("lap_only", "diag_only"):
            value = getattr(self, flag)
            if not isinstance(value, (bool, np.bool_)):
                raise ConfigError(f"{flag} must be True or False, got {value!r}")
            if value and self.order != 2:
                raise ConfigError(f"{flag}=True selects second derivatives: it needs "
                                  f"order=2, got order={self.order}")
        if self.lap_only and self.diag_only:
            raise ConfigError("lap_only and diag_only exclude each other: the Laplacian is "
                              "the sum of the diagonal (Jet.lap gives it from diag_only jets)")

    @property
    def full(self) -> bool:
        r"""Every second derivative :math:`\partial_k\partial_l` (order 2, neither flag)."""
        return self.order == 2 and not (self.lap_only or self.diag_only)

    @property
    def n_second(self) -> int:
        """Number of second-order features (``d*d``, ``d`` for the diagonal, 1 for the
        Laplacian)."""
        if self.order < 2:
            return 0
        return 1 if self.lap_only else self.d if self.diag_only else self.d * self.d

    @property
    def F(self) -> int:
        return 1 + (self.d if self.order >= 1 else 0) + self.n_second

    @property
    def G(self) -> slice:
        return slice(1, 1 + self.d)

    @property
    def H(self) -> slice:
        return slice(1 + self.d, self.F)

    def support(self, f: int) -> tuple[int, ...]:
        """The features that feature ``f`` of a layer's output jet depends on, in any
        layer: a value on values, ``∂_k`` on values and ``∂_k``, ``∂_k∂_l`` on values,
        ``∂_k``, ``∂_l`` and itself, the Laplacian on values, every ``∂_k`` and itself. A
        reverse sweep seeded at feature ``f`` has zero cotangents everywhere else."""
        d = self.d
        if f == 0:
            return (0,)
        if f < 1 + d:
            return (0, f)
        if self.lap_only:
            return (0, *range(1, 1 + d), f)
        k, l_ = ((f - 1 - d, f - 1 - d) if self.diag_only else divmod(f - 1 - d, d))
        return tuple(sorted({0, 1 + k, 1 + l_, f}))

    def seed(self, X: np.ndarray) -> np.ndarray:
        """The jet of the coordinates themselves: values ``X``, gradient the identity."""
        M, d = X.shape
        S = np.zeros((M, self.F, d))
        S[:, 0] = X
        if self.order >= 1:
            S[:, self.G] = np.eye(d)
        return S

    def quad(self, Gv: np.ndarray, Gw: np.ndarray) -> np.ndarray:
        r""":math:`\partial_k v\,\partial_l w` as ``(M, n_second, n)`` (or its trace)."""
        if self.lap_only:
            return np.einsum("mkn,mkn->mn", Gv, Gw)[:, None, :]
        if self.diag_only:
            return Gv * Gw
        M, d, n = Gv.shape
        return (Gv[:, :, None, :] * Gw[:, None, :, :]).reshape(M, d * d, n)

    def split(self, jet: np.ndarray, extra: tuple = ()) -> Jet:
        """Turn ``(M, n_out, F, *extra)`` into a :class:`Jet` of views."""
        M, n_out = jet.shape[:2]
        grad = jet[:, :, self.G] if self.order >= 1 else None
        hess = lap = None
        if self.order == 2:
            second = jet[:, :, self.H]
            if self.lap_only:
                lap = second[:, :, 0]
            elif self.diag_only:
                return Jet(u=jet[:, :, 0], grad=grad, diag=second)
            else:
                hess = second.reshape(M, n_out, self.d, self.d, *extra)
        return Jet(u=jet[:, :, 0], grad=grad, hess=hess, lap=lap)


def elementwise_forward(spec: JetSpec, R: dict, jets: list[np.ndarray]) -> np.ndarray:
    """Jet of :math:`a = R(v, p)` from the jets of the spatial inputs ``v``.

    ``R[alpha]``: the partial of R for the sorted tuple ``alpha`` of input indices
    (``0..len(jets)-1`` spatial, then parameters), each ``(M, n)``.
    """
    M, _, n = jets[0].shape
    out = np.empty((M, spec.F, n))
    out[:, 0] = R[()]
    if spec.order >= 1:
        G = spec.G
        acc = R[(0,)][:, None, :] * jets[0][:, G]
        for v in range(1, len(jets)):
            acc += R[(v,)][:, None, :] * jets[v][:, G]
        out[:, G] = acc
    if spec.order == 2:
        H = spec.H
        acc = R[(0,)][:, None, :] * jets[0][:, H]
        for v in range(1, len(jets)):
            acc += R[(v,)][:, None, :] * jets[v][:, H]
        for v in range(len(jets)):
            for w in range(v, len(jets)):
                q = spec.quad(jets[v][:, spec.G], jets[w][:, spec.G])
                if w != v:
                    q = q + spec.quad(jets[w][:, spec.G], jets[v][:, spec.G])
                acc += R[(v, w)][:, None, :] * q
        out[:, H] = acc
    return out


def _key(*idx: int) -> tuple[int, ...]:
    return tuple(sorted(idx))


def elementwise_backward(spec: JetSpec, R: dict, jets: list[np.ndarray], n_params: int,
                         abar: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    r"""Reverse mode of :func:`elementwise_forward`.

    ``abar``: cotangent of the output jet, ``(M, C, F, n)``. Returns the
    cotangents of the spatial input jets (each ``(M, C, F, n)``) and of the
    per-neuron parameters (each ``(M, C, n)``, per point).
    """
    nv = len(jets)
    a0 = abar[:, :, 0]
    dots_g, dots_h, dots_q = {}, {}, {}
    if spec.order >= 1:
        aG = abar[:, :, spec.G]
        for v in range(nv):
            dots_g[v] = (aG * jets[v][:, None, spec.G]).sum(axis=2)
    if spec.order == 2:
        aH = abar[:, :, spec.H]
        for v in range(nv):
            dots_h[v] = (aH * jets[v][:, None, spec.H]).sum(axis=2)
            for w in range(nv):
                q = spec.quad(jets[v][:, spec.G], jets[w][:, spec.G])
                dots_q[v, w] = (aH * q[:, None]).sum(axis=2)

    def value_bar(u: int) -> np.ndarray:
        acc = a0 * R[(u,)][:, None, :]
        for v in range(nv):
            if spec.order >= 1:
                acc += R[_key(v, u)][:, None, :] * dots_g[v]
            if spec.order == 2:
                acc += R[_key(v, u)][:, None, :] * dots_h[v]
                for w in range(nv):
                    acc += R[_key(v, w, u)][:, None, :] * dots_q[v, w]
        return acc

    if spec.full:
        M, C, _, n = aH.shape
        Hm = aH.reshape(M, C, spec.d, spec.d, n)
        Hsym = Hm + Hm.swapaxes(2, 3)
    jet_bars = []
    for u in range(nv):
        bar = np.empty_like(abar)
        bar[:, :, 0] = value_bar(u)
        Ru = R[(u,)][:, None, None, :]
        if spec.order >= 1:
            bar[:, :, spec.G] = aG * Ru
        if spec.order == 2:
            bar[:, :, spec.H] = aH * Ru
            for w in range(nv):
                Gw = jets[w][:, spec.G]
                if not spec.full:   # Laplacian (aH broadcast over k) or diagonal: 2 aH_k G_k
                    back = 2.0 * aH * Gw[:, None, :, :]
                else:
                    back = (Hsym * Gw[:, None, None, :, :]).sum(axis=3)
                bar[:, :, spec.G] += R[_key(u, w)][:, None, None, :] * back
        jet_bars.append(bar)
    param_bars = [value_bar(nv + i) for i in range(n_params)]
    return jet_bars, param_bars
