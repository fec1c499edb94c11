"""The fused-steps cost model and chunk specifications (no cluster needed)."""

from __future__ import annotations

import pytest

from nedsym.distributed import CostModel, choose_fuse, normalize_chunks
from nedsym.distributed.cost import max_fuse
from nedsym.errors import DistributedError


def test_fuse_grows_with_latency_and_shrinks_with_chunk_size():
    chunk, kw = (512, 512), dict(nfields=1, radius=1, stages=1, max_fuse=200)
    ks = [CostModel(lat, 1e-9, 1e-8).best_fuse(chunk, **kw) for lat in (1e-4, 1e-2, 1.0)]
    assert ks[0] < ks[1] < ks[2]
    assert CostModel(0.0, 0.0, 1e-8).best_fuse(chunk, **kw) == 1       # nothing to amortize
    # on a small chunk a round costs less compute, so the latency weighs more
    assert CostModel(1e-2, 1e-9, 1e-8).best_fuse((64, 64), **kw) > ks[1]
    assert CostModel(1.0, 0.0, 0.0).best_fuse(chunk, **kw) == 200      # capped by the halo


def test_step_time_is_the_round_time_over_k():
    m = CostModel(0.01, 1e-9, 1e-8, 2e-9)
    T = m.round_time((100, 80), nfields=2, radius=2, stages=4, k=3)
    H = 3 * 4 * 2
    padded = (100 + 2 * H) * (80 + 2 * H)
    expected = 0.01 + 1e-9 * 16 * (padded - 8000) + 3 * 2e-9 * 2 * padded \
        + 1e-8 * 3 * 4 * 2 * (100 + 2 * H - 4) * (80 + 2 * H - 4)
    assert abs(T - expected) <= 1e-15
    assert abs(m.step_time((100, 80), 2, 2, 4, 3) - T / 3) <= 1e-15


def test_choose_fuse_respects_the_smallest_chunk():
    chunks = ((30, 9), (40,))
    assert max_fuse(chunks, radius=1, stages=4) == 2
    assert choose_fuse(CostModel(10.0, 0, 0), chunks, 1, 1, 4, n_workers=2) == 2
    with pytest.raises(DistributedError, match="smallest chunk has 3 cells"):
        max_fuse(((3, 5),), radius=1, stages=4)


def test_normalize_chunks():
    assert normalize_chunks(None, (10, 6), 3) == ((4, 3, 3), (6,))
    assert normalize_chunks(4, (10, 6), 2) == ((4, 4, 2), (4, 2))
    assert normalize_chunks(((2, 8), -1), (10, 6), 2) == ((2, 8), (6,))
    with pytest.raises(DistributedError, match="sum to the axis length 10"):
        normalize_chunks(((2, 7), -1), (10, 6), 2)
    with pytest.raises(DistributedError, match="gives 1 axes; the grid has 2"):
        normalize_chunks((5,), (10, 6), 2)
