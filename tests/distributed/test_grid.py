"""Chunked Dask runs equal the single-machine run (fields, energy, residual, snapshots)."""

from __future__ import annotations

import numpy as np
import pytest

from nedsym.errors import DistributedError

TOL = 1e-12

# (demo, stepper, uneven 2-D chunking, fused steps, compiled loops); stencil radius 1 or 2
# (CH, SH). The generated loops (``compiled=True``, the default) run for Allen-Cahn here
# (their compile time is paid once); the other demos use the NumPy steppers (bit for bit).
CASES = [
    ("allen-cahn", "rk4", ((9, 15), (8, 12)), 2, True),
    ("cahn-hilliard", "euler", ((10, 14), (9, 11)), 4, False),
    ("swift-hohenberg", "euler", ((9, 15), (20,)), 2, False),
    ("tv-denoise", "euler", ((5, 12, 7), (7, 13)), 5, False),
    ("heat", "rk4", ((12, 12), (8, 12)), 2, False),
]


def _single(sim, y0, stepper, dt, t_end, **kw):
    # the single-process reference runs the NumPy-level steppers (compiled=False) and records
    # the energy every step. Its health check is off: with dt from the stable step at the
    # small initial state, Allen-Cahn's late steps here are past the stable limit (the energy
    # rises; the check would stop the reference run), and these tests compare runs only.
    kw = {"compiled": False, "energy_every": 1, "monotone_energy": None, **kw}
    return sim.solve(y0, t_end=t_end, stepper=stepper, dt=dt, progress=False, **kw)


@pytest.mark.parametrize("name, stepper, chunks, fuse, compiled", CASES,
                         ids=[c[0] for c in CASES])
def test_demo_equals_single_machine(client, demo_sims, name, stepper, chunks, fuse, compiled):
    sim, y0 = demo_sims(name)
    dt = 0.5 * sim.stable_dt(0.0, y0)
    t_end = 10.5 * dt                      # a shortened last step, as in the single run
    ref = _single(sim, y0, stepper, dt, t_end)
    _check_equal(sim, y0, stepper, dt, t_end, ref, client, chunks, fuse, compiled=compiled)


@pytest.mark.parametrize("name, stepper", [
    ("allen-cahn", "rk4"), ("heat", "euler"),
    pytest.param("cahn-hilliard", "rk4", marks=pytest.mark.slow),
    pytest.param("swift-hohenberg", "rk4", marks=pytest.mark.slow),
    pytest.param("tv-denoise", "rk4", marks=pytest.mark.slow),
])
def test_default_chunks_and_most_fused_steps(client, demo_sims, name, stepper):
    # one slab of axis 0 per worker (12 x 20 cells), as many steps per exchange as fit
    sim, y0 = demo_sims(name)
    dt = 0.5 * sim.stable_dt(0.0, y0)
    t_end = 10.5 * dt
    ref = _single(sim, y0, stepper, dt, t_end)
    kmax = 12 // (sim.halo * (4 if stepper == "rk4" else 1))
    _check_equal(sim, y0, stepper, dt, t_end, ref, client, None, kmax,
                 compiled=name == "allen-cahn")


def _check_equal(sim, y0, stepper, dt, t_end, ref, client, chunks, fuse, compiled):
    res = sim.solve(y0, t_end=t_end, stepper=stepper, dt=dt, cluster=client, chunks=chunks,
                    fuse=fuse, compiled=compiled, progress=False)
    if compiled:      # generated fused loops: equal up to rounding
        assert np.max(np.abs(res.final - ref.final)) <= TOL
    else:             # the NumPy steppers: bit for bit
        np.testing.assert_array_equal(res.final, ref.final)
    assert res.diagnostics["steps"] == ref.diagnostics["steps"] == 11
    assert res.diagnostics["t"] == ref.diagnostics["t"]
    np.testing.assert_array_equal(res.dt_history, ref.dt_history)
    # energy: at the start of every round and at the end, on the single run's times
    idx = np.searchsorted(ref.energy_times, res.energy_times)
    np.testing.assert_array_equal(ref.energy_times[idx], res.energy_times)
    np.testing.assert_allclose(res.energy, ref.energy[idx], rtol=1e-13, atol=1e-13)
    assert res.energy_times[0] == 0.0 and res.energy_times[-1] == t_end
    assert res.diagnostics["rounds"] == -(-11 // fuse)   # the shortened step ends a round


def test_snapshots_residual_and_periodic_single_chunk_axis(client, demo_sims):
    sim, y0 = demo_sims("allen-cahn")
    dt = 0.4 * sim.stable_dt(0.0, y0)
    times = [3 * dt, 7.25 * dt, 9 * dt]
    ref = _single(sim, y0, "euler", dt, 9 * dt, snapshot_times=times)
    res = sim.solve(y0, t_end=9 * dt, stepper="euler", dt=dt, cluster=client, fuse=3,
                    chunks=((12, 12), -1), snapshot_times=times, residual=True,
                    progress=False)
    np.testing.assert_array_equal(res.times, ref.times)
    assert np.max(np.abs(res.fields - ref.fields)) <= TOL
    assert len(res.residual) == len(res.residual_times) >= 3
    for t, r in zip(res.residual_times, res.residual, strict=True):
        k = int(np.argmin(np.abs(ref.times - t))) if t in ref.times else None
        state = ref.fields[k] if k is not None else None
        if state is not None:
            assert abs(r - sim.residual(t, state)) <= 1e-12 * max(1.0, r)
    assert abs(res.residual[0] - sim.residual(0.0, y0)) <= 1e-12 * max(1.0, res.residual[0])


def test_neumann_corners_with_four_blocks(client, demo_sims):
    # natural (even) reflection on both axes: corners mix ghosts of two axes
    sim, y0 = demo_sims("tv-denoise")
    dt = 0.5 * sim.stable_dt(0.0, y0)
    ref = _single(sim, y0, "rk4", dt, 6 * dt)
    res = sim.solve(y0, t_end=6 * dt, stepper="rk4", dt=dt, cluster=client,
                    chunks=((12, 12), (10, 10)), fuse=2, compiled=False, progress=False)
    assert np.max(np.abs(res.final - ref.final)) <= TOL


def test_numpy_steppers_equal_the_single_run_bit_for_bit(client, demo_sims):
    # compiled=False repeats the operations of nedsym.solve.steppers in the same order
    sim, y0 = demo_sims("heat")
    dt = 0.5 * sim.stable_dt(0.0, y0)
    ref = _single(sim, y0, "rk4", dt, 5.5 * dt)
    res = sim.solve(y0, t_end=5.5 * dt, stepper="rk4", dt=dt, cluster=client, fuse=2,
                    chunks=((12, 12), (8, 12)), compiled=False, progress=False)
    np.testing.assert_array_equal(res.final, ref.final)


def test_gather_false_keeps_the_state_on_the_cluster(client, demo_sims):
    import dask.array as da

    sim, y0 = demo_sims("heat")
    dt = 0.5 * sim.stable_dt(0.0, y0)
    res = sim.solve(y0, t_end=4 * dt, stepper="euler", dt=dt, cluster=client, fuse=4,
                    gather=False, energy=False, compiled=False, progress=False)
    assert isinstance(res.final, da.Array)
    ref = _single(sim, y0, "euler", dt, 4 * dt)
    assert np.max(np.abs(client.compute(res.final).result() - ref.final)) <= TOL
    assert len(res.energy) == 0


def test_auto_fuse_uses_the_measured_cost_model(client, demo_sims):
    sim, y0 = demo_sims("allen-cahn")
    dt = 0.5 * sim.stable_dt(0.0, y0)
    ref = _single(sim, y0, "euler", dt, 8 * dt)
    res = sim.solve(y0, t_end=8 * dt, stepper="euler", dt=dt, cluster=client, fuse="auto",
                    progress=False)
    model = res.diagnostics["cost_model"]
    assert model["latency"] > 0 and model["seconds_per_cell"] > 0
    # tiny chunks: latency dominates, so the model fuses as many steps as the chunk allows
    assert res.diagnostics["fuse"] == 12
    assert np.max(np.abs(res.final - ref.final)) <= TOL


def test_unsupported_combinations_raise_clear_errors(client, demo_sims):
    sim, y0 = demo_sims("cahn-hilliard")
    with pytest.raises(DistributedError, match="global FFTs"):
        sim.solve(y0, t_end=1e-3, stepper="semi-implicit", dt=1e-5, cluster=client)
    with pytest.raises(DistributedError, match="adaptive stepper 'rk45'"):
        sim.solve(y0, t_end=1e-3, stepper="rk45", cluster=client)
    with pytest.raises(DistributedError, match="fuse=3 needs a halo of 6"):
        sim.solve(y0, t_end=1e-3, stepper="euler", dt=1e-6, cluster=client,
                  chunks=((5, 19), -1), fuse=3)
    with pytest.raises(DistributedError, match="must be positive and sum"):
        sim.solve(y0, t_end=1e-3, stepper="euler", dt=1e-6, cluster=client,
                  chunks=((5, 5), -1))
    with pytest.raises(DistributedError, match="steady_tol"):
        sim.solve(y0, t_end=1e-3, stepper="euler", dt=1e-6, cluster=client, steady_tol=1.0)
    with pytest.raises(DistributedError, match="neither a scheduler address"):
        sim.solve(y0, t_end=1e-3, stepper="euler", dt=1e-6, cluster="nowhere")


def test_mean_flows_are_refused(client):
    import nedsym as ns

    x, y = ns.coords("x y")
    u = ns.Field("u", (x, y))
    E = ns.Energy(ns.grad(u).dot(ns.grad(u)) / 2 + u**4 / 4, fields=[u])
    sim = ns.GradientFlow(E, metric="L2-conserved").discretize(ns.Grid((8, 8)),
                                                               backend="numpy")
    with pytest.raises(DistributedError, match="spatial mean"):
        sim.solve(sim.initial(), t_end=1e-3, stepper="euler", dt=1e-5, cluster=client)


def test_blow_up_in_a_chunk_is_reported(client, demo_sims):
    from nedsym.errors import BlowUpError

    sim, y0 = demo_sims("heat")
    dt = 50 * sim.stable_dt(0.0, y0)
    with pytest.raises(BlowUpError, match="NaN/Inf in chunk"):
        sim.solve(y0 * 1e100, t_end=400 * dt, stepper="euler", dt=dt, cluster=client, fuse=8,
                  compiled=False, progress=False)


def test_a_dask_run_saves_to_zarr_chunk_by_chunk(client, demo_sims, tmp_path):
    """gather=False keeps the final state on the cluster; the zarr store is written from
    its chunks (one zarr chunk per Dask chunk) and reads back equal to a local run."""
    pytest.importorskip("xarray", reason="xarray is an optional extra")
    pytest.importorskip("zarr", reason="zarr is an optional extra")
    import dask.array as da

    from nedsym.solve.export import load

    sim, y0 = demo_sims("heat")
    dt = 0.5 * sim.stable_dt(0.0, y0)
    res = sim.solve(y0, t_end=4 * dt, stepper="euler", dt=dt, cluster=client, fuse=4,
                    gather=False, energy=False, compiled=False, progress=False,
                    chunks=((12, 12), (10, 10)))
    assert isinstance(res.final, da.Array)
    path = res.save(tmp_path / "run.zarr")
    import zarr

    arr = zarr.open_group(str(path), mode="r")["u_final"]
    assert tuple(arr.chunks) == (12, 10)
    back = load(path)
    ref = _single(sim, y0, "euler", dt, 4 * dt)
    assert np.max(np.abs(back.final - ref.final)) <= TOL
