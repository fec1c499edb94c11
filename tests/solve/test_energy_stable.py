"""Energy-stable schemes derived from the energy: the issue's acceptance case (128², eps 0.02,
1000x the explicit limit, periodic and zero-flux boxes, Cahn–Hilliard / Allen–Cahn /
Swift–Hohenberg), convex splitting against a direct dense solve of Eyre's equation, SAV
against an independent NumPy transcription, second-order adaptive SAV, and refusals."""

import re

import numpy as np
import pytest
import scipy.optimize

import nedsym as ns
from nedsym.errors import DiscretizationError, ParseError, SolverError

CH = "eps^2/2*|grad(u)|^2 + (u^2-1)^2/4"
SH = "-r/2*u^2 + (u + lap(u)/100)^2/2 + u^4/4"
CASES = {"cahn-hilliard": (CH, "H-1", {"eps": 0.02}),
         "allen-cahn": (CH, "L2", {"eps": 0.02}),
         "swift-hohenberg": (SH, "L2", {"r": 0.3})}


def _sim(name, n=128, bc="periodic", coords="x y"):
    energy, metric, params = CASES[name]
    E = ns.Energy.parse(energy, coords=coords, params=params)
    ndim = len(coords.split())
    grid = ns.Grid((n,) * ndim, [(0, 1)] * ndim, bc=bc)
    return ns.GradientFlow(E, metric=metric).discretize(grid, backend="numpy")


@pytest.mark.parametrize("stepper", ["sav", "sav2", "convex-split"])
@pytest.mark.parametrize("bc", ["periodic", "neumann"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_a_thousand_times_the_explicit_limit(name, bc, stepper):
    """Every step lowers the energy the scheme guarantees (the modified energy for SAV, E_h
    itself for convex splitting); Cahn–Hilliard keeps its mass to 1e-12. For the L² flows
    SAV runs with stabilization S = 2 (= max F'' on [-1, 1]): without it the modified
    energy still falls but E_h itself rose 0.26 -> 12.5 on Allen–Cahn at this dt."""
    sim = _sim(name, bc=bc)
    y0 = sim.initial("random", amplitude=0.05, mean=0.1, seed=0)
    dt = 1000 * sim.stable_dt(0.0, y0, stepper="euler")
    S = {"stabilization": 2.0} if stepper == "sav" and name != "cahn-hilliard" else {}
    res = sim.solve(y0, 12 * dt, stepper=stepper, dt=dt, energy_every=1, progress=False, **S)
    e = np.asarray(res.energy)
    assert res.diagnostics["steps"] == 12 and np.all(np.isfinite(res.final))
    if stepper == "convex-split":
        assert np.all(np.diff(e) <= 1e-11 * abs(e[0])), np.diff(e).max()
    else:
        me = res.diagnostics["modified_energy"][:, 1]
        assert np.all(np.diff(me) <= 1e-14 * max(1.0, abs(me[0])))
    if stepper != "sav2" or name == "cahn-hilliard":    # CN-SAV is not L-stable
        assert e[-1] < e[0]
    if name == "cahn-hilliard":
        assert abs(float(res.final.mean() - y0.mean())) <= 1e-12


def _eyre_dense(u, dt, eps, h):
    """One step of Eyre's scheme for 1-D periodic Cahn–Hilliard, solved directly:
    v - u + dt G(L v + v^3 - u) = 0 (mu = -eps² Δ_h u + u³ - u with -u explicit),
    G = -D2, L = -eps^2 D2 (dense matrices)."""
    n = u.size
    D2 = (np.roll(np.eye(n), 1, 1) - 2 * np.eye(n) + np.roll(np.eye(n), -1, 1)) / h**2
    G, L = -D2, -eps**2 * D2

    def F(v):
        return v - u + dt * G @ (L @ v + v**3 - u)

    def J(v):
        return np.eye(n) + dt * G @ (L + np.diag(3 * v**2))

    return scipy.optimize.fsolve(F, u, fprime=J, xtol=1e-13)


def test_convex_split_solves_eyres_equation():
    """Against the dense nonlinear solve of the same scheme, at a huge step; E_h falls."""
    sim = _sim("cahn-hilliard", n=24, coords="x")
    eps, h = 0.02, 1 / 24
    u0 = sim.initial("random", amplitude=0.3, mean=0.1, seed=5)
    for dt in (1e-3, 10.0):
        res = sim.solve(u0, dt, stepper="convex-split", dt=dt, progress=False)
        ref = _eyre_dense(u0[0], dt, eps, h)
        assert np.max(np.abs(res.final[0] - ref)) < 1e-9
        assert sim.energy(res.final) < sim.energy(u0)
    assert res.diagnostics["newton_iterations"]["newton"] >= 1


def test_sav_matches_a_numpy_transcription():
    """First-order SAV with the relaxation, written here from the paper's equations with
    np.fft (eliminating r^{n+1} directly), against sim.solve on 2-D periodic CH."""
    n, eps, eta = 32, 0.04, 0.95
    energy, metric, _ = CASES["cahn-hilliard"]
    E = ns.Energy.parse(energy, coords="x y", params={"eps": eps})
    sim = ns.GradientFlow(E, metric=metric).discretize(
        ns.Grid((n, n), [(0, 1), (0, 1)]), backend="numpy")
    u0 = sim.initial("random", amplitude=0.2, mean=0.1, seed=3)
    dt, steps, h = 1e-3, 10, 1.0 / n
    k = 2 * np.pi * np.fft.fftfreq(n, h)
    lam1 = 4 * np.sin(k * h / 2) ** 2 / h**2
    lam = lam1[:, None] + lam1[None, :]          # symbol of -Δ_h
    Lh, Gh = eps**2 * lam, lam                    # L = -eps² Δ_h (β = 1 moved into E_1)

    def ip(f, g):
        return h * h * float(np.sum(f * g))

    def e1(u):                                     # E_h - (u, Lu)/2 = Σ h² (u²-1)²/4
        return h * h * float(np.sum((u**2 - 1) ** 2)) / 4

    u = u0[0].copy()
    C = max(0.0, -e1(u)) + 1.0
    r = np.sqrt(e1(u) + C)
    for _ in range(steps):
        b = (u**3 - u) / np.sqrt(e1(u) + C)
        Ainv = lambda f: np.real(np.fft.ifft2(np.fft.fft2(f) / (1 + dt * Gh * Lh)))  # noqa: E731
        G = lambda f: np.real(np.fft.ifft2(Gh * np.fft.fft2(f)))                    # noqa: E731
        Au, AGb = Ainv(u), Ainv(G(b))
        r_new = (r + 0.5 * ip(b, Au - u)) / (1 + 0.5 * dt * ip(b, AGb))
        u_new = Au - dt * r_new * AGb
        mu = np.real(np.fft.ifft2(Lh * np.fft.fft2(u_new))) + r_new * b
        cap = r_new**2 + eta * dt * ip(mu, G(mu))
        true = e1(u_new) + C
        r = np.sqrt(true) if true <= cap else np.sqrt(cap)
        u = u_new
    res = sim.solve(u0, steps * dt, stepper="sav", dt=dt, progress=False)
    assert np.max(np.abs(res.final[0] - u)) < 1e-12


def test_convex_split_is_first_order_in_time():
    sim = _sim("cahn-hilliard", n=24)
    y0 = sim.initial("random", amplitude=0.2, mean=0.1, seed=2)
    t_end = 2e-3
    ref = sim.solve(y0, t_end, stepper="rk4", progress=False).final
    errs = [np.max(np.abs(sim.solve(y0, t_end, stepper="convex-split", dt=t_end / m,
                                    progress=False).final - ref)) for m in (8, 16, 32)]
    rates = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
    assert np.all(np.abs(rates - 1) < 0.25), (errs, rates)


def test_sav2_adaptive_is_more_accurate_than_sav_adaptive():
    """Same tolerance: the extrapolated pair ends far closer to an accurate reference, the
    modified energy never rises, and the mass is kept."""
    sim = _sim("cahn-hilliard", n=32)
    y0 = sim.initial("random", amplitude=0.05, mean=0.1, seed=0)
    t_end = 0.02
    ref = sim.solve(y0, t_end, stepper="sav2-adaptive", dt=1e-7, rtol=1e-5, atol=1e-7,
                    progress=False)
    runs = {st: sim.solve(y0, t_end, stepper=st, dt=1e-7, rtol=1e-3, atol=1e-5,
                          progress=False) for st in ("sav-adaptive", "sav2-adaptive")}
    err = {st: float(np.max(np.abs(r.final - ref.final))) for st, r in runs.items()}
    assert err["sav2-adaptive"] < 0.2 * err["sav-adaptive"], err
    two = runs["sav2-adaptive"]
    me = two.diagnostics["modified_energy"][:, 1]
    assert np.all(np.diff(me) <= 1e-14 * abs(me[0]))
    assert abs(float(two.final.mean() - y0.mean())) <= 1e-12
    assert two.dt_history.max() > 100 * two.dt_history.min()


def test_convex_split_refusals_and_a_given_split():
    E = ns.Energy.parse(CH + " + u^3/3", coords="x y", params={"eps": 0.05})
    sim = ns.GradientFlow(E, metric="H-1").discretize(ns.Grid((16, 16), [(0, 1), (0, 1)]),
                                                       backend="numpy")
    y0 = sim.initial("random", amplitude=0.2, seed=1)
    with pytest.raises(DiscretizationError, match=r"cannot place the term 2\*u"):
        sim.solve(y0, 1e-3, stepper="convex-split", dt=1e-4, progress=False)
    # F'' = 3u² + 2u: the user puts u³ + u² + u implicitly (F_c'' = 3u² + 2u + 1 >= 0) and
    # u explicitly (F_e'' = 1)
    dt = 1000 * sim.stable_dt(0.0, y0, stepper="euler")
    res = sim.solve(y0, 10 * dt, stepper="convex-split", dt=dt, convex_part="u^3 + u^2 + u",
                    energy_every=1, progress=False)
    assert np.all(np.diff(res.energy) <= 1e-11 * abs(res.energy[0]))
    with pytest.raises(DiscretizationError, match="convex side of the split given"):
        sim.solve(y0, 1e-3, stepper="convex-split", dt=1e-4, convex_part="u^3 + u^2",
                  progress=False)
    with pytest.raises(SolverError, match="unknown field 'v'"):
        sim.solve(y0, 1e-3, stepper="convex-split", dt=1e-4, convex_part={"v": "v^3"},
                  progress=False)
    with pytest.raises(SolverError, match="convex_part is an option of stepper"):
        sim.solve(y0, 1e-3, stepper="sav", dt=1e-4, convex_part="u^3", progress=False)
    with pytest.raises(ParseError, match="unexpected character"):   # never evaluated
        sim.solve(y0, 1e-3, stepper="convex-split", dt=1e-4,
                  convex_part="__import__('os')", progress=False)
    with pytest.raises(ParseError):
        sim.solve(y0, 1e-3, stepper="convex-split", dt=1e-4, convex_part="w^3",
                  progress=False)
    with pytest.raises(SolverError, match="stabilization is an option of"):
        sim.solve(y0, 1e-3, stepper="rk4", dt=1e-4, stabilization=2.0, progress=False)


def test_problem_files_take_the_energy_stable_options(tmp_path):
    from nedsym.errors import ConfigError
    from nedsym.problems import demo
    from nedsym.runner import validate_spec

    spec = demo("cahn-hilliard")
    assert spec["stepper"] == "sav2-adaptive" and spec["grid"]["shape"] == [128, 128]
    validate_spec(dict(spec, rtol=1e-3, atol=1e-5, sav_constant=2.0))
    validate_spec(dict(spec, stepper="convex-split", convex_part="u^3"))
    with pytest.raises(ConfigError, match="convex_part is an option of"):
        validate_spec(dict(spec, convex_part="u^3"))
    with pytest.raises(ConfigError, match="rtol is an option of"):
        validate_spec(dict(spec, stepper="rk4", rtol=1e-3))
    with pytest.raises(ConfigError, match="sav_constant"):
        validate_spec(dict(spec, sav_constant=-1.0))


def test_sav_says_when_the_true_energy_rises():
    """SAV guarantees its modified energy only; when E_h itself rises the run says so (and
    what to do), and stabilization removes it (Allen–Cahn, 1000x the explicit step)."""
    sim = _sim("allen-cahn")
    y0 = sim.initial("random", amplitude=0.05, mean=0.1, seed=0)
    dt = 1000 * sim.stable_dt(0.0, y0, stepper="euler")
    with pytest.warns(RuntimeWarning, match="E_h rose in .* use 'sav2-adaptive'|"
                                            "E_h rose in .*stabilization"):
        bad = sim.solve(y0, 12 * dt, stepper="sav", dt=dt, energy_every=1, progress=False)
    assert bad.diagnostics["energy_rises"] > 0
    # the numbers it quotes are a rise (not the first and last energies, which fell)
    with pytest.warns(RuntimeWarning) as rec:
        sim.solve(y0, 12 * dt, stepper="sav", dt=dt, energy_every=1, progress=False)
    msg = next(str(w.message) for w in rec if "E_h rose" in str(w.message))
    before, after, k = re.search(r"largest: (\S+) -> (\S+) at record (\d+)", msg).groups()
    assert float(after) > float(before)
    e = np.asarray(bad.energy)
    assert e[int(k)] == pytest.approx(float(after), rel=1e-5)
    good = sim.solve(y0, 12 * dt, stepper="sav", dt=dt, energy_every=1, progress=False,
                     stabilization=2.0)
    assert good.diagnostics["energy_rises"] == 0


def _variable_sim(n, coords="x y", bc="periodic"):
    E = ns.Energy.parse(CH, coords=coords, params={"eps": 0.02})
    u = E.fields[0]
    flow = ns.GradientFlow(E, metric="H-1", mobility=1 + u**2 / 2)
    ndim = len(coords.split())
    return flow.discretize(ns.Grid((n,) * ndim, [(0, 1)] * ndim, bc=bc), backend="numpy")


def test_convex_split_with_a_variable_mobility_solves_the_lagged_scheme():
    """M(u) = 1 + u²/2 lagged at the step's start, G = -div(M grad) in flux form: against
    a dense Newton solve of the same equation (1-D periodic), at a small and a huge step."""
    n, h, eps = 24, 1 / 24, 0.02
    sim = _variable_sim(n, coords="x")
    u0 = sim.initial("random", amplitude=0.3, mean=0.1, seed=5)
    w = u0[0]
    Mf = 0.5 * ((1 + w**2 / 2) + np.roll(1 + w**2 / 2, -1))
    Dp = np.roll(np.eye(n), 1, 1) - np.eye(n)
    G = Dp.T @ np.diag(Mf) @ Dp / h**2
    L = -eps**2 * (np.roll(np.eye(n), 1, 1) - 2 * np.eye(n) + np.roll(np.eye(n), -1, 1)) / h**2
    for dt in (1e-3, 10.0):
        res = sim.solve(u0, dt, stepper="convex-split", dt=dt, progress=False)
        ref = scipy.optimize.fsolve(lambda v, dt=dt: v - w + dt * G @ (L @ v + v**3 - w), w,
                                    fprime=lambda v, dt=dt: np.eye(n) + dt * G @ (
                                        L + np.diag(3 * v**2)), xtol=1e-13)
        assert np.max(np.abs(res.final[0] - ref)) < 1e-9
        assert abs(float(res.final.mean() - u0.mean())) < 1e-12


@pytest.mark.parametrize("bc", ["periodic", "neumann"])
def test_variable_mobility_energy_falls_mass_kept_first_order(bc):
    sim = _variable_sim(64, bc=bc)
    y0 = sim.initial("random", amplitude=0.05, mean=0.1, seed=0)
    dt = 1000 * sim.stable_dt(0.0, y0, stepper="euler")
    res = sim.solve(y0, 12 * dt, stepper="convex-split", dt=dt, energy_every=1,
                    progress=False)
    e = np.asarray(res.energy)
    assert np.all(np.diff(e) <= 1e-11 * abs(e[0])) and e[-1] < 0.7 * e[0]
    assert abs(float(res.final.mean() - y0.mean())) <= 1e-12
    ref = sim.solve(y0, 2e-4, stepper="rk4", progress=False).final
    errs = [np.max(np.abs(sim.solve(y0, 2e-4, stepper="convex-split", dt=2e-4 / m,
                                    progress=False).final - ref)) for m in (4, 8, 16)]
    rates = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
    assert np.all(np.abs(rates - 1) < 0.25), rates      # measured 1.08, 1.05 / 1.02, 1.01
    with pytest.raises(SolverError, match="variable mobility works with 'convex-split'"):
        sim.solve(y0, 1e-3, stepper="sav", dt=1e-4, progress=False)
