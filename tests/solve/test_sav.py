"""SAV derived from the energy: the modified energy never rises for any dt, H⁻¹ keeps the
mass to round-off, first order in time, and the pieces are refused where they do not apply."""

import numpy as np
import pytest

import nedsym as ns
from nedsym.errors import SolverError
from nedsym.solve import make_stepper

CH = "eps^2/2*|grad(u)|^2 + (u^2-1)^2/4"


def _sim(energy=CH, metric="H-1", n=32, bc="periodic", **params):
    params = params or {"eps": 0.04}
    E = ns.Energy.parse(energy, coords="x y", params=params)
    flow = ns.GradientFlow(E, metric=metric)
    return flow.discretize(ns.Grid((n, n), [(0, 1), (0, 1)], bc=bc), backend="numpy")


@pytest.mark.parametrize("bc", ["periodic", "neumann"])
def test_cahn_hilliard_at_a_thousand_times_the_explicit_limit(bc):
    """Periodic (FFT) and zero-flux Neumann (DCT-II) boxes: modified energy monotone, mass
    to round-off."""
    sim = _sim(n=64, bc=bc)
    y0 = sim.initial("random", amplitude=0.05, mean=0.1, seed=0)
    dt = 1000 * sim.stable_dt(0.0, y0, stepper="euler")
    res = sim.solve(y0, 60 * dt, stepper="sav", dt=dt, energy_every=1, progress=False)
    me = res.diagnostics["modified_energy"][:, 1]
    assert len(me) == 60 and np.all(np.diff(me) <= 1e-14 * abs(me[0]))
    assert abs(float(res.final.mean() - y0.mean())) <= 1e-12
    assert res.energy[-1] < res.energy[0] and np.all(np.isfinite(res.final))


@pytest.mark.parametrize("energy,metric,params", [
    (CH, "L2", {"eps": 0.04}),
    ("-r/2*u^2 + (u + lap(u)/100)^2/2 + u^4/4", "L2", {"r": 0.3}),
])
def test_modified_energy_never_rises_for_l2_flows(energy, metric, params):
    sim = _sim(energy, metric, **params)
    y0 = sim.initial("random", amplitude=0.3, seed=1)
    dt = 500 * sim.stable_dt(0.0, y0, stepper="euler")
    res = sim.solve(y0, 40 * dt, stepper="sav", dt=dt, progress=False)
    me = res.diagnostics["modified_energy"][:, 1]
    assert np.all(np.diff(me) <= 1e-14 * max(1.0, abs(me[0])))


@pytest.mark.parametrize("bc", ["periodic", "neumann", "dirichlet"])
def test_first_order_in_time_and_close_to_rk4(bc):
    sim = _sim(n=24, eps=0.08, bc=ns.Dirichlet(0.0) if bc == "dirichlet" else bc)
    y0 = sim.initial("random", amplitude=0.2, seed=2)
    t_end = 2e-3
    ref = sim.solve(y0, t_end, stepper="rk4", progress=False).final
    errs = []
    for dt in (t_end / 8, t_end / 16, t_end / 32):
        errs.append(np.max(np.abs(sim.solve(y0, t_end, stepper="sav", dt=dt,
                                            progress=False).final - ref)))
    rates = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
    assert np.all(np.abs(rates - 1) < 0.25), (errs, rates)
    assert errs[-1] < 0.05 * np.max(np.abs(ref - y0))


def test_resume_continues_the_auxiliary_variable(tmp_path):
    sim = _sim()
    y0 = sim.initial("random", amplitude=0.05, seed=3)
    dt = 2e-5
    whole = sim.solve(y0, 40 * dt, stepper="sav", dt=dt, progress=False)
    ck = str(tmp_path / "sav.npz")
    sim.solve(y0, 15 * dt, stepper="sav", dt=dt, progress=False, checkpoint=ck)
    again = sim.solve(y0, 40 * dt, stepper="sav", dt=dt, progress=False, resume=ck)
    np.testing.assert_allclose(again.final, whole.final, rtol=0, atol=1e-13)


def test_the_shift_constant_is_an_option_of_sav_only():
    sim = _sim(n=16)
    y0 = sim.initial("random", amplitude=0.05, seed=4)
    res = sim.solve(y0, 1e-4, stepper="sav", dt=2e-5, sav_constant=50.0, progress=False)
    assert res.diagnostics["sav_constant"] == 50.0
    with pytest.raises(SolverError, match="sav_constant is an option of stepper 'sav'"):
        sim.solve(y0, 1e-4, stepper="rk4", dt=2e-5, sav_constant=50.0, progress=False)


def test_sav_is_refused_where_it_does_not_apply():
    for bc in (ns.Neumann(0.2), ns.Dirichlet(0.5),
               {"x": "neumann", "y": ns.Dirichlet(lambda x, y, t: t)}):
        with pytest.raises(SolverError, match="homogeneous condition on both sides"):
            sim = _sim(bc=bc)
            sim.solve(sim.initial("random"), 1e-3, stepper="sav", dt=1e-4, progress=False)
    E = ns.Energy.parse(CH, coords="x y", params={"eps": 0.04})
    flow = ns.GradientFlow(E, metric="H-1", mobility="1 + u^2/10")
    sim = flow.discretize(ns.Grid((16, 16), [(0, 1), (0, 1)]), backend="numpy")
    with pytest.raises(SolverError, match="constant, diagonal mobility"):
        sim.solve(sim.initial("random"), 1e-3, stepper="sav", dt=1e-4, progress=False)
    with pytest.raises(SolverError, match="built from the energy's split"):
        make_stepper("sav")


def test_problem_files_and_the_cli_take_sav(tmp_path, capsys):
    from nedsym.cli import main

    rc = main(["run", "cahn-hilliard", "--n", "32", "--stepper", "sav", "--dt", "1e-4",
               "--t-end", "2e-3", "--no-progress", "--backend", "numpy", "--out",
               str(tmp_path)])
    out = capsys.readouterr()
    assert rc == 0 and "done:" in out.out, out.err


@pytest.mark.parametrize("bc", ["periodic", "neumann"])
def test_sav2_is_second_order_and_energy_stable(bc):
    sim = _sim(n=24, eps=0.08, bc=bc)
    y0 = sim.initial("random", amplitude=0.2, seed=2)
    t_end = 2e-3
    ref = sim.solve(y0, t_end, stepper="rk4", dt=t_end / 800, progress=False).final
    errs = [np.max(np.abs(sim.solve(y0, t_end, stepper="sav2", dt=dt, progress=False).final
                          - ref)) for dt in (t_end / 32, t_end / 64, t_end / 128)]
    rates = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
    assert np.all(np.abs(rates - 2) < 0.3), (errs, rates)      # measured: 2.25, 2.16
    first = [np.max(np.abs(sim.solve(y0, t_end, stepper="sav", dt=t_end / 128,
                                     progress=False).final - ref))]
    assert errs[-1] < 0.2 * first[0]                # far more accurate than SAV1 at equal dt
    big = _sim(n=64, bc=bc)
    y1 = big.initial("random", amplitude=0.05, mean=0.1, seed=0)
    dt = 1000 * big.stable_dt(0.0, y1, stepper="euler")
    res = big.solve(y1, 60 * dt, stepper="sav2", dt=dt, progress=False)
    me = res.diagnostics["modified_energy"][:, 1]
    assert np.all(np.diff(me) <= 1e-14 * abs(me[0]))
    assert abs(float(res.final.mean() - y1.mean())) <= 1e-12


def test_sav_adaptive_grows_the_step_and_keeps_the_energy_falling():
    """Step doubling: from a tiny first step the run covers many decades of dt in few steps,
    rejects where the error or E_h says so, keeps the mass, and E_h and the modified
    energy never rise."""
    sim = _sim(n=32, eps=0.04)
    y0 = sim.initial("random", amplitude=0.05, mean=0.1, seed=0)
    res = sim.solve(y0, 0.05, stepper="sav-adaptive", dt=1e-7, rtol=1e-2, atol=1e-4,
                    progress=False)
    d = res.diagnostics
    assert d["stepper"] == "sav-adaptive" and d["steps"] < 400
    assert res.dt_history.max() > 1e3 * res.dt_history.min()
    assert np.all(np.diff(res.energy) <= 1e-6 * abs(res.energy[0]))
    me = d["modified_energy"][:, 1]
    assert len(me) == d["steps"] and np.all(np.diff(me) <= 1e-14 * abs(me[0]))
    assert abs(float(res.final.mean() - y0.mean())) <= 1e-12
    # a tighter tolerance takes more, smaller steps
    tight = sim.solve(y0, 0.05, stepper="sav-adaptive", dt=1e-7, rtol=1e-3, atol=1e-5,
                      progress=False)
    assert tight.diagnostics["steps"] > 1.5 * d["steps"]
    with pytest.raises(SolverError, match="rtol"):
        sim.solve(y0, 0.05, stepper="sav-adaptive", rtol=0, atol=0, progress=False)
