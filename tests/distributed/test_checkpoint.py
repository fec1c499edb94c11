"""Chunk-wise checkpoints: resume bit-for-bit, and survive a worker killed mid-run."""

from __future__ import annotations

import os
import signal
import warnings

import numpy as np
import pytest

from nedsym.errors import DistributedError


@pytest.fixture(scope="module")
def run_case(demo_sims):
    sim, y0 = demo_sims("allen-cahn")
    dt = 0.5 * sim.stable_dt(0.0, y0)
    ref = sim.solve(y0, t_end=16 * dt, stepper="euler", dt=dt, progress=False,
                    compiled=False, monotone_energy=None)  # see test_grid._single
    return sim, y0, dt, ref


def test_checkpoint_files_and_resume(client, run_case, tmp_path):
    sim, y0, dt, ref = run_case
    ckpt = tmp_path / "ckpt"
    part = sim.solve(y0, t_end=16 * dt, stepper="euler", dt=dt, cluster=client, fuse=4,
                     chunks=((10, 14), (9, 11)), checkpoint=str(ckpt), checkpoint_every=4,
                     max_steps=8, compiled=False, progress=False)
    assert part.diagnostics["stop_reason"] == "max_steps" and part.diagnostics["steps"] == 8
    latest = (ckpt / "LATEST").read_text().strip()
    assert latest == "step_00000008"
    files = sorted(p.name for p in (ckpt / latest).iterdir())
    assert files == ["chunk_0_0.npz", "chunk_0_1.npz", "chunk_1_0.npz", "chunk_1_1.npz",
                     "history.npz"]
    assert [p.name for p in ckpt.iterdir() if p.is_dir()] == [latest]   # older ones removed
    with np.load(ckpt / latest / "chunk_1_0.npz") as z:
        assert z["y"].shape == (1, 14, 9)
        np.testing.assert_array_equal(z["y"], part.final[:, 10:, :9])
    res = sim.solve(y0, t_end=16 * dt, stepper="euler", dt=dt, cluster=client, fuse=4,
                    checkpoint=str(ckpt), resume=str(ckpt), compiled=False, progress=False)
    assert res.diagnostics["resumed"] and res.diagnostics["steps"] == 16
    assert np.max(np.abs(res.final - ref.final)) <= 1e-12
    np.testing.assert_array_equal(res.dt_history, ref.dt_history)
    assert res.energy_times[0] == 0.0 and len(res.energy) == 5    # start, 4 rounds... end


def test_resume_without_checkpoint_is_a_clear_error(client, run_case, tmp_path):
    sim, y0, dt, _ = run_case
    with pytest.raises(DistributedError, match="no complete checkpoint"):
        sim.solve(y0, t_end=dt, stepper="euler", dt=dt, cluster=client,
                  resume=str(tmp_path / "none"))


def test_killed_worker_does_not_lose_the_run(client, run_case, tmp_path):
    sim, y0, dt, ref = run_case
    killed = []

    def kill_one_worker(info):
        if info["round"] >= 2 and not killed:
            pids = info["client"].run(os.getpid)
            address, pid = sorted(pids.items())[0]
            killed.append(address)
            os.kill(pid, signal.SIGKILL)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = sim.solve(y0, t_end=16 * dt, stepper="euler", dt=dt, cluster=client, fuse=4,
                        chunks=((12, 12), -1), checkpoint=str(tmp_path / "ck"),
                        checkpoint_every=8, callback=kill_one_worker, compiled=False,
                        progress=False)
    client.wait_for_workers(2, timeout=60)     # the nanny restarts the killed worker
    assert killed
    assert res.diagnostics["steps"] == 16
    assert np.max(np.abs(res.final - ref.final)) <= 1e-12
    np.testing.assert_allclose(res.energy[-1], ref.energy[-1], rtol=1e-13)
    # either Dask recomputed the lost chunks, or the run resumed from its checkpoint (warned)
    resumed = [w for w in caught if "resuming from the last checkpoint" in str(w.message)]
    assert len(resumed) == res.diagnostics["recoveries"] <= 1
    print("recoveries:", res.diagnostics["recoveries"])
