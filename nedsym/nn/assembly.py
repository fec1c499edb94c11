"""Compiled assembly of per-point parameter rows of a dense layer (the ``numba`` backend).

The reverse sweep of :meth:`~nedsym.nn.network.Network.jacobian` and of
:meth:`~nedsym.nn.network.Linearization.rows` ends, at every layer, in per-point rows
:math:`\\partial/\\partial W_{ij} = \\sum_f \\bar Z_{mcfi} S_{mfj}` and
:math:`\\partial/\\partial b_i = \\bar Z_{mc0i}`: an outer product per point and channel
(a short sum of them for a jet with ``F`` features). These rows are most of what a
Jacobian writes, so NumPy's way (a temporary per product, then a copy into the strided
block) is bounded by memory traffic. :func:`dense_rows` writes each row once, in place,
in the packed order of :attr:`~nedsym.nn.network.Network.layout`, on one thread: the
kernel is bound by memory writes, and a ``prange`` over points on the two threads of the
2-core development VM (tried first) made Jacobians 1.1–2× slower (``benchmarks/nn.py``) and
the NED rows of a deep net 2.5× slower while one other job ran. It only multiplies and
adds, so it agrees with the NumPy path to round-off for finite values. (Where an
activation overflows, the skipped zero features can turn a NumPy ``nan`` from ``0 * inf``
into an ``inf`` here: both say the Jacobian is not finite.)
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["dense_rows"]


@numba.njit(cache=True)
def _dense_rows(zbar, S, out, off_w, off_b, feats, nfeat):  # pragma: no cover - compiled
    M, C, F, n_out = zbar.shape
    n_in = S.shape[2]
    flat = out.reshape(M * C, out.shape[2])
    for m in range(M):
        for c in range(C):
            row = flat[m * C + c]
            for i in range(n_out):
                row[off_b + i] = zbar[m, c, 0, i]
            nf = nfeat[c]
            for i in range(n_out):
                seg = row[off_w + i * n_in:off_w + (i + 1) * n_in]
                if nf == 0:
                    seg[:] = 0.0
                    continue
                f = feats[c, 0]
                z0 = zbar[m, c, f, i]
                s0 = S[m, f]
                for j in range(n_in):
                    seg[j] = z0 * s0[j]
                for q in range(1, nf):
                    f = feats[c, q]
                    zf = zbar[m, c, f, i]
                    sf = S[m, f]
                    for j in range(n_in):
                        seg[j] += zf * sf[j]


def dense_rows(zbar: np.ndarray, S: np.ndarray, out: np.ndarray, off_w: int, off_b: int,
               active: np.ndarray | None = None) -> None:
    """Write ``∂/∂W`` (row-major ``(n_out, n_in)`` from column ``off_w``) and ``∂/∂b`` (from
    ``off_b``) of every point and channel into ``out`` ``(M, C, P)``, C-contiguous.

    ``zbar``: the pre-activation cotangent ``(M, C, F, n_out)`` (any strides); ``S``: the
    input jet ``(M, F, n_in)``. ``active``: ``(C, F)`` booleans, the features whose
    cotangent may be nonzero in each channel (:meth:`~nedsym.nn.jet.JetSpec.support` of
    a seeded Jacobian); the others are skipped, not summed as zeros. Default: all.
    """
    if not out.flags.c_contiguous:
        raise ValueError("dense_rows writes into a C-contiguous (M, C, P) array")
    C, F = zbar.shape[1:3]
    if active is None:
        active = np.ones((C, F), dtype=bool)
    feats = np.full((C, F), -1, dtype=np.int64)
    nfeat = active.sum(axis=1).astype(np.int64)
    for c in range(C):
        idx = np.flatnonzero(active[c])
        feats[c, :len(idx)] = idx
    _dense_rows(zbar, np.ascontiguousarray(S), out, int(off_w), int(off_b), feats, nfeat)
