r"""Forward jets and reverse sweeps through one layer (numeric; BLAS for the affine part).

Forward: :math:`Z = S W^T` over every feature of the input jet ``S`` (one
matrix product), ``b`` added to the values, then the elementwise rule's
chain rule (:mod:`nedsym.nn.jet`) with the partials from the layer's compiled
kernel. The returned tape keeps what the reverse sweep needs.

Reverse: the cotangent :math:`\bar Z` of the pre-activation jet gives, per
point, :math:`\partial/\partial W_{ij} = \sum_f \bar Z_{f i} S_{f j}` (an
outer product for values only), :math:`\partial/\partial b_i = \bar Z_{0 i}`,
and the input cotangent :math:`\bar S = \bar Z W` (+ the direct path through
``x`` for rules that use it).
"""

from __future__ import annotations

import numpy as np

from nedsym.nn.jet import JetSpec, elementwise_backward, elementwise_forward
from nedsym.nn.layers import Layer

__all__ = ["layer_forward", "layer_backward"]


def layer_forward(layer: Layer, spec: JetSpec, S: np.ndarray, params: list[np.ndarray],
                  backend: str, level: int) -> tuple[np.ndarray, tuple]:
    """Output jet ``(M, F, n_out)`` of ``layer`` and its tape.

    ``level``: which partials to evaluate (``spec.order - 1`` for a forward pass,
    ``spec.order`` when a reverse sweep follows).
    """
    W, b, *p = params
    M, F, n_in = S.shape
    Z = (S.reshape(M * F, n_in) @ W.T).reshape(M, F, layer.n_out)
    Z[:, 0] += b
    if layer.is_affine:
        return Z, (S, [Z], None)
    kernel, index = layer.kernel(level, backend)
    jets = [S, Z] if layer.uses_x else [Z]
    values = kernel([j[:, 0] for j in jets], p)
    R = {alpha: values[q] for alpha, q in index.items()}
    return elementwise_forward(spec, R, jets), (S, jets, R)


def layer_backward(layer: Layer, spec: JetSpec, tape: tuple, abar: np.ndarray,
                   params: list[np.ndarray], blocks: list[np.ndarray], per_point: bool,
                   need_input: bool = True, rows: tuple | None = None) -> np.ndarray | None:
    """Reverse sweep: fill the parameter blocks, return the input cotangent.

    ``abar``: cotangent of the output jet, ``(M, C, F, n_out)``. ``blocks``: one
    array per parameter (``W``, ``b``, per-neuron ones) receiving the derivatives:
    ``(M, C, *shape)`` per point when ``per_point``, else ``shape`` summed over
    points and channels. ``rows``: ``(out, off_w, off_b, active)`` to write the per-point
    ``W`` and ``b`` blocks with the compiled :func:`~nedsym.nn.assembly.dense_rows`
    straight into the C-contiguous rows ``out`` ``(M, C, P)`` (the numba backend).
    """
    S, jets, R = tape
    W = params[0]
    if R is None:
        zbar, xbar, pbars = abar, None, []
    else:
        jet_bars, pbars = elementwise_backward(spec, R, jets, len(params) - 2, abar)
        zbar = jet_bars[-1]
        xbar = jet_bars[0] if layer.uses_x else None
    M, C, F, n_out = zbar.shape
    n_in = S.shape[2]
    if per_point:
        if rows is not None:
            from nedsym.nn.assembly import dense_rows
            dense_rows(zbar, S, *rows)
        else:
            if F == 1:
                np.multiply(zbar[:, :, 0, :, None], S[:, None, 0, None, :], out=blocks[0])
            else:
                np.matmul(zbar.transpose(0, 1, 3, 2), S[:, None], out=blocks[0])
            blocks[1][...] = zbar[:, :, 0]
        for blk, pb in zip(blocks[2:], pbars, strict=True):
            blk[...] = pb
    else:
        zs = zbar.sum(axis=1)  # channels are summed: (M, F, n_out)
        blocks[0][...] = zs.reshape(M * F, n_out).T @ S.reshape(M * F, n_in)
        blocks[1][...] = zs[:, 0].sum(axis=0)
        for blk, pb in zip(blocks[2:], pbars, strict=True):
            blk[...] = pb.sum(axis=(0, 1))
    if not need_input:
        return None
    sbar = (zbar.reshape(M * C * F, n_out) @ W).reshape(M, C, F, n_in)
    if xbar is not None:
        sbar += xbar
    return sbar
