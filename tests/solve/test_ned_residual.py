"""The residual route of NED (non-variational PDEs, boundary and initial conditions on named
parts, space-time), natural boundary rows on the strong route, and Gram averaging."""

import math

import numpy as np
import pytest
import sympy as sp

import nedsym as ns
from nedsym.errors import ConfigError, DeclarationError, FieldError
from nedsym.methods.ned import resolve_part
from nedsym.nn import MLP
from nedsym.quadrature.boundary import BoundaryDomain
from nedsym.quadrature.domains import BoxFace

x, y = ns.coords("x y")
t, = ns.coords("t")
u2 = ns.Field("u", (x, y))
EX2 = sp.sin(sp.pi * x) * sp.sin(sp.pi * y)
POISSON = ns.Residuals(-(u2.diff(x, 2) + u2.diff(y, 2)) - 2 * sp.pi ** 2 * EX2, fields=[u2],
                       conditions={"boundary": u2})
BOX2 = ns.Box([(0, 1), (0, 1)])


def test_residuals_declaration():
    kappa = ns.Param("kappa", 0.25)
    g = sp.Symbol("g")
    uh = ns.Field("u", (t, x))
    heat = ns.Residuals(uh.diff(t) - kappa * uh.diff(x, 2), fields=[uh],
                        conditions={"t=0": uh - sp.sin(sp.pi * x),
                                    ("x=0", "x=1"): (uh.diff(x) * ns.normal((t, x))[1] - g,
                                                     10.0)})
    # parameters of the conditions count; the normal's components are not parameters
    assert {s.name: v for s, v in heat.params.items()} == {"g": None, "kappa": 0.25}
    assert [c.weight for c in heat.conditions] == [1.0, 10.0]
    assert heat.order == 2
    v = ns.Field("v", (t, x))
    with pytest.raises(FieldError, match="undeclared fields"):
        ns.Residuals(uh.diff(t), fields=[uh], conditions={"t=0": v})
    with pytest.raises(DeclarationError, match="must be > 0"):
        ns.Residuals(uh.diff(t), fields=[uh], conditions={"t=0": (uh, -1.0)})


def test_condition_parts_are_matched_never_evaluated():
    box = ns.Box([(0, 2), (-1, 1)])
    tx = ns.coords("t x")
    face = resolve_part("t=0", box, tx)
    assert isinstance(face, BoxFace) and (face.axis, face.side) == (0, 0)
    hi = resolve_part(" x = 1 ", box, tx)
    assert (hi.axis, hi.side) == (1, 1)
    both = resolve_part(["x=-1", "x=1"], box, tx)
    assert isinstance(both, BoundaryDomain) and len(both.pieces) == 2
    assert len(resolve_part("boundary", box, tx).pieces) == 4
    with pytest.raises(ConfigError, match=r"runs over \[-1, 1\]"):
        resolve_part("x=0.5", box, tx)
    with pytest.raises(ConfigError, match="not a coordinate"):
        resolve_part("z=0", box, tx)
    with pytest.raises(ConfigError, match="cannot read"):
        resolve_part("__import__('os').system('echo no')", box, tx)
    with pytest.raises(ConfigError, match="face of a box"):
        resolve_part("t=0", ns.Ball([0.0, 0.0], 1.0), tx)


def test_poisson_residual_route_gauss_newton_converges():
    ned = ns.NED(POISSON, MLP([2, 16, 1], seed=0), BOX2, points=256, boundary_points=64,
                 resample=False, seed=0, exact=EX2)
    assert ned.stepper == "implicit" and math.isinf(ned.dt) and ned.linesearch
    res = ned.run(steps=60)
    assert res.error[0] > 1 and res.error[-1] < 1e-3          # measured 1.9 -> 2.4e-5
    # the merit is the weighted mean square: interior mean R^2/2 + boundary mean u^2/2
    pts, _, (bpts,) = ned._fixed
    jv = ned.net.forward(bpts.x, ned.theta, order=0)
    boundary_ms = 0.5 * float(np.mean(jv.u[:, 0] ** 2))
    assert 0 < boundary_ms <= ned.merit(ned.theta, ned._fixed)
    with pytest.raises(ConfigError, match="residual='weak'"):
        ns.NED(POISSON, MLP([2, 4, 1]), BOX2, residual="weak")
    with pytest.raises(ConfigError, match="not 'euler'"):
        ns.NED(POISSON, MLP([2, 4, 1]), BOX2, stepper="euler")


def test_heat_space_time_with_initial_condition():
    """u_t = u_xx/4 on (0,1)² in (t, x): a PDE that is no energy's Euler–Lagrange equation."""
    tt, xx = ns.coords("t x")
    uh = ns.Field("u", (tt, xx))
    exact = sp.exp(-sp.pi ** 2 * tt / 4) * sp.sin(sp.pi * xx)
    heat = ns.Residuals(uh.diff(tt) - uh.diff(xx, 2) / 4, fields=[uh],
                        conditions={"t=0": uh - sp.sin(sp.pi * xx), ("x=0", "x=1"): uh})
    ned = ns.NED(heat, MLP([2, 16, 1], seed=1), ns.Box([(0, 1), (0, 1)]), points=256,
                 boundary_points=64, resample=False, seed=0, exact=exact)
    res = ned.run(steps=60)
    assert res.error[-1] < 5e-3                  # measured 8.3e-4


def test_natural_boundary_rows_give_the_right_solution():
    """Nonlinear Deep Ritz: 1/2 u'^2 + 1/4 u^4 - f u on (-1, 1), free boundary. The natural
    condition u'(±1) = 0 selects u = cos(pi x); without its rows the interior residual alone
    leaves the solution undetermined."""
    u1 = ns.Field("u", (x,))
    ex = sp.cos(sp.pi * x)
    f = sp.pi ** 2 * ex + ex ** 3
    E = ns.Energy(u1.diff(x) ** 2 / 2 + u1 ** 4 / 4 - f * u1, fields=[u1])

    def run(natural):
        ned = ns.NED(E, MLP([1, 16, 1], seed=0), ns.Box([(-1, 1)]), points=128,
                     resample=False, seed=0, exact=ex, natural=natural)
        return ned, ned.run(steps=40)

    ned, on = run("auto")
    assert ned.natural and ned.pe.conditions[0].name == "natural"
    off_ned, off = run(False)
    assert not off_ned.natural
    assert on.error[-1] < 1e-3
    assert off.error[-1] > 10 * on.error[-1]


def test_gram_average_on_resampled_points():
    ned = ns.NED(POISSON, MLP([2, 16, 1], seed=0), BOX2, points=256, boundary_points=64,
                 seed=0, exact=EX2, gram_average=0.6)
    res = ned.run(steps=40)
    assert res.error[-1] < 2e-2                  # measured 1.9 -> 7.7e-3
    for bad in (1.0, -0.1, True):
        with pytest.raises(ConfigError, match="gram_average"):
            ns.NED(POISSON, MLP([2, 4, 1]), BOX2, gram_average=bad)


@pytest.mark.parametrize("opts", [{}, {"gram_average": 0.6}, {"momentum": 0.5},
                                  {"linesearch": "trust"}])
def test_residual_run_resumes_like_one_run(tmp_path, opts):
    def ned():
        return ns.NED(POISSON, MLP([2, 8, 1], seed=0), BOX2, points=64, boundary_points=16,
                      seed=0, exact=EX2, **opts)

    whole = ned().run(steps=6)
    ck = str(tmp_path / "ck.npz")
    ned().run(steps=3, checkpoint=ck)
    rest = ned().run(steps=6, resume=ck)
    np.testing.assert_allclose(rest.theta, whole.theta, rtol=1e-10, atol=1e-12)


def test_momentum_on_resampled_points():
    ned = ns.NED(POISSON, MLP([2, 16, 1], seed=0), BOX2, points=256, boundary_points=64,
                 seed=0, exact=EX2, momentum=0.5)
    res = ned.run(steps=40)
    assert res.error[-1] < 2e-2
    with pytest.raises(ConfigError, match="needs dt=math.inf"):
        ns.NED(POISSON, MLP([2, 4, 1]), BOX2, dt=10.0, momentum=0.5)
    with pytest.raises(ConfigError, match="not both"):
        ns.NED(POISSON, MLP([2, 4, 1]), BOX2, momentum=0.5, gram_average=0.5)


@pytest.mark.parametrize("optimizer, steps, lr", [("adam", 200, 1e-2), ("lbfgs", 60, 1.0)])
def test_baselines_minimise_the_same_least_squares(optimizer, steps, lr):
    ned = ns.NED(POISSON, MLP([2, 8, 1], seed=0), BOX2, points=128, boundary_points=32,
                 resample=False, seed=0, exact=EX2)
    base = ned.baseline(optimizer, steps=steps, lr=lr)
    # its energy is NED's merit (the weighted mean square), and the optimizer lowers it
    assert base.energy[0] == pytest.approx(ned.merit(ned.theta0, ned._draw()), rel=1e-10)
    assert base.energy[-1] < 0.05 * base.energy[0]    # measured 46 -> 0.82 (adam), 0.4


def test_least_squares_gradient_uses_laplacians_only_and_is_exact():
    ned = ns.NED(POISSON, MLP([2, 8, 1], seed=0), BOX2, points=128, boundary_points=32,
                 resample=False, seed=0, exact=EX2)
    sample, th = ned._draw(), ned.theta0
    seen = []
    forward = ned.net.forward

    def spy(X, theta=None, order=0, **kw):
        seen.append((order, kw.get("lap_only", False)))
        return forward(X, theta, order, **kw)

    ned.net.forward = spy
    e, g = ned.gradient(th, sample)
    assert (2, True) in seen and (2, False) not in seen
    eye = np.eye(th.size)
    fd = np.array([(ned.merit(th + 1e-6 * eye[i], sample) -
                    ned.merit(th - 1e-6 * eye[i], sample)) / 2e-6 for i in range(th.size)])
    assert e == pytest.approx(ned.merit(th, sample), rel=1e-12)
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-7 * np.abs(fd).max())


def test_more_residuals_than_fields_on_a_part():
    """Two conditions on one face (u = 0 and u' = 0 at x = 0): rows are per residual."""
    u1 = ns.Field("u", (x,))
    ex = x ** 2 * (1 - x) ** 2 * 10
    prob = ns.Residuals(u1.diff(x, 2) - sp.diff(ex, x, 2), fields=[u1],
                        conditions={"x=0": [u1, u1.diff(x)], "x=1": u1})
    ned = ns.NED(prob, MLP([1, 12, 1], seed=0), ns.Box([(0, 1)]), points=64,
                 boundary_points=4, resample=False, seed=0, exact=ex)
    kind, A, b, _ = ned.system(ned.theta, ned._draw())
    assert A.shape == (64 + 2 * 4 + 4, ned.net.n_params) and b.shape == (A.shape[0],)
    res = ned.run(steps=40)
    assert res.error[0] > 1 and res.error[-1] < 0.05          # measured 3.0 -> 0.015
    with pytest.raises(ConfigError, match="one residual per field"):
        ns.NED(prob, MLP([1, 4, 1]), ns.Box([(0, 1)]), dt=1.0, points=8,
               boundary_points=2).step()


def test_natural_rows_leave_the_energy_alone():
    """The natural condition's rows steer the step; the energy (history, baselines) is E."""
    u1 = ns.Field("u", (x,))
    E = ns.Energy(u1.diff(x) ** 2 / 2 + u1 ** 2 / 2 - sp.cos(sp.pi * x) * u1, fields=[u1])

    def ned(natural):
        return ns.NED(E, MLP([1, 8, 1], seed=0), ns.Box([(-1, 1)]), points=64,
                      resample=False, seed=0, natural=natural)

    on, off = ned("auto"), ned(False)
    s_on, s_off = on._draw(), off._draw()
    assert on.energy_value(on.theta0, s_on) == pytest.approx(
        off.energy_value(off.theta0, s_off), rel=1e-12)
    e_on, g_on = on.gradient(on.theta0, s_on)
    e_off, g_off = off.gradient(off.theta0, s_off)
    np.testing.assert_allclose(g_on, g_off, rtol=1e-12, atol=1e-14)


def test_condition_declarations_are_checked():
    uh = ns.Field("u", (t, x))
    c = ns.Condition("t=0", uh)                    # one residual, not a list: accepted
    assert c.residuals == (uh,) and c.weight == 1.0
    with pytest.raises(DeclarationError, match="must be > 0"):
        ns.Condition("t=0", uh, weight=0)
    heavy = ns.Residuals(uh.diff(t), fields=[uh], conditions={"t=0": (uh, sp.Integer(10))})
    assert heavy.conditions[0].weight == 10.0 and len(heavy.conditions[0].residuals) == 1


def test_lbfgs_stays_put_when_its_line_search_fails():
    from nedsym.solve.optim import LBFGS

    opt = LBFGS()
    theta = np.array([1.0, 2.0])
    # a "loss" whose every trial point is worse: the step must not move
    new, f, g = opt.step_closure(theta, lambda th: (float(th @ th) + 1e3 * float(
        np.any(th != theta)), 2 * th))
    np.testing.assert_array_equal(new, theta)
    assert f == 5.0


def test_line_search_keeps_looking_until_the_merit_falls_below_the_start():
    """m(1) = 5 and m(1/2) = 6 are both above m0 = 1: the search must go on to 1/4 (0.5)."""
    ned = ns.NED(POISSON, MLP([2, 4, 1], seed=0), BOX2, points=16, boundary_points=8,
                 resample=False, seed=0)
    theta0 = ned.theta.copy()
    ned._solve = lambda system, ridge: np.ones_like(theta0)

    def merit(th, sample):
        a = round(float(th[0] - theta0[0]), 9)
        return {0.0: 1.0, 1.0: 5.0, 0.5: 6.0}.get(a, 0.5)

    ned.merit = merit
    system = ned.system
    # m0 is the rows' own residual measure, 0.5 res^2: make it 1
    ned.system = lambda th, s, dt=None: (*system(th, s, dt)[:3], math.sqrt(2.0))
    rec = ned._gauss_newton_step(ned._draw(), 1e-8)
    assert rec["step_size"] == 0.25


@pytest.mark.parametrize("last, best, merits", [(1 / 16, 1.0, 5), (1 / 4, 1 / 16, 5),
                                                (1 / 8, 1 / 8, 3)])
def test_line_search_starts_at_twice_the_last_step_size(last, best, merits):
    """From 2x the last step size the search climbs while the merit falls and descends
    otherwise; it finds the same step size as a search from 1 (here the merit's minimum on
    the grid) with fewer merits."""
    ned = ns.NED(POISSON, MLP([2, 4, 1], seed=0), BOX2, points=16, boundary_points=8,
                 resample=False, seed=0)
    theta0 = ned.theta.copy()
    ned._solve = lambda system, ridge: np.ones_like(theta0)
    calls = []

    def merit(th, sample):
        a = float(th[0] - theta0[0])
        calls.append(a)
        return 0.5 + (math.log2(a) - math.log2(best)) ** 2 * 1e-3

    ned.merit = merit
    system = ned.system
    ned.system = lambda th, s, dt=None: (*system(th, s, dt)[:3], math.sqrt(2.0))
    ned._alpha = last
    rec = ned._gauss_newton_step(ned._draw(), 1e-8)
    assert rec["step_size"] == best
    assert ned._alpha == best
    assert len(calls) == merits      # a search from 1 down needs 2, 6 and 5


@pytest.mark.parametrize("kwargs, match", [
    ({"gram_average": "0.5"}, "gram_average must be a number"),
    ({"momentum": [0.1]}, "momentum must be a number"),
    ({"natural": 1}, "natural must be"),
    ({"natural": "yes"}, "natural must be"),
])
def test_strict_new_options(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        ns.NED(POISSON, MLP([2, 4, 1]), BOX2, **kwargs)


class _JacobianOnly:
    """The network interface without ``linearize``: SampledSystem contracts full Jacobians."""

    def __init__(self, net):
        self.net, self.n_params = net, net.n_params

    def init(self, seed=0):
        return self.net.init(seed)

    def forward(self, X, theta=None, order=0):
        return self.net.forward(X, theta, order)

    def jacobian(self, X, theta=None, order=0):
        return self.net.jacobian(X, theta, order)


@pytest.mark.parametrize("case", ["laplacian", "diagonal", "mixed", "finite_dt"])
def test_linearized_rows_equal_the_contracted_jacobian_rows(case):
    """The rows built by one reverse sweep seeded with the linearization (Laplacian-only,
    diagonal-only or full jets) are the rows contracted from the full Jacobians."""
    uh = ns.Field("u", (t, x))
    res = {"laplacian": -(u2.diff(x, 2) + u2.diff(y, 2)) * (1 + u2 ** 2) - EX2,
           "diagonal": uh.diff(t) - uh.diff(x, 2) / 4 + uh ** 3,
           "mixed": u2.diff(x, y) + u2.diff(x, 2) - u2 * u2.diff(y),
           "finite_dt": -(u2.diff(x, 2) + u2.diff(y, 2)) + u2 ** 3}[case]
    field = uh if case == "diagonal" else u2
    prob = ns.Residuals(res, fields=[field], conditions={"boundary": (field, 3.0)})
    dt = 0.5 if case == "finite_dt" else math.inf
    fast = ns.NED(prob, MLP([2, 6, 1], seed=1), BOX2, points=40, boundary_points=16, seed=0,
                  dt=dt, linesearch=False)
    slow = ns.NED(prob, _JacobianOnly(MLP([2, 6, 1], seed=1)), BOX2, points=40,
                  boundary_points=16, seed=0, dt=dt, linesearch=False)
    part = fast.pe.interior
    assert (part.laplacian_only, part.diagonal_only) == {
        "laplacian": (True, True), "diagonal": (False, True), "mixed": (False, False),
        "finite_dt": (True, True)}[case]
    sample = fast._draw()
    _, A1, b1, r1 = fast.system(fast.theta, sample)
    _, A0, b0, r0 = slow.system(fast.theta, sample)
    np.testing.assert_allclose(A1, A0, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(b1, b0, rtol=1e-12, atol=1e-14)
    assert r1 == pytest.approx(r0, rel=1e-12)


def test_trust_region_gauss_newton_converges_and_is_checked():
    """linesearch='trust' (Levenberg–Marquardt steered by the gain ratio) converges on
    Poisson from the default initialization with one merit per try; bad values are refused."""
    ned = ns.NED(POISSON, MLP([2, 8, 1], seed=0), BOX2, points=64, boundary_points=32,
                 resample=False, seed=0, exact=EX2, linesearch="trust", test_points=256)
    res = ned.run(steps=100)
    assert res.error[-1] < 0.02 * res.error[0]          # measured 0.70 -> 5e-3
    assert np.all(np.diff(res.energy) <= 1e-15 * res.energy[:-1])   # the merit never rises
    calls = []
    merit = ned.merit
    ned.merit = lambda th, s: calls.append(1) or merit(th, s)
    before = ned.rejected
    ned.step()
    assert len(calls) == 1 + (ned.rejected - before)       # one merit per try
    for bad, match in ((1, "linesearch must be"), ("line", "linesearch must be")):
        with pytest.raises(ConfigError, match=match):
            ns.NED(POISSON, MLP([2, 4, 1]), BOX2, linesearch=bad)
    with pytest.raises(ConfigError, match="needs dt=math.inf"):
        ns.NED(POISSON, MLP([2, 4, 1]), BOX2, linesearch="trust", dt=1.0)


def test_linearized_rows_for_two_fields_normals_and_extra_residuals():
    """Two fields, a condition with more residuals than fields and one using the normal:
    the seeded-sweep rows equal the rows contracted from full Jacobians."""
    v2 = ns.Field("v", (x, y))
    n = ns.normal((x, y))
    prob = ns.Residuals([-(u2.diff(x, 2) + u2.diff(y, 2)) + v2 * u2.diff(x) - EX2,
                         -(v2.diff(x, 2) + v2.diff(y, 2)) + u2 ** 2 * v2.diff(x, y)],
                        fields=[u2, v2],
                        conditions={"x=0": ([u2, v2, u2.diff(x) - v2], 2.0),
                                    ("y=0", "y=1"): (u2.diff(x) * n[0] + u2.diff(y) * n[1]
                                                     + v2, 1.0),
                                    "x=1": ([u2, v2], 1.0)})
    fast = ns.NED(prob, MLP([2, 6, 2], seed=1), BOX2, points=40, boundary_points=12, seed=0)
    slow = ns.NED(prob, _JacobianOnly(MLP([2, 6, 2], seed=1)), BOX2, points=40,
                  boundary_points=12, seed=0)
    sample = fast._draw()
    _, A1, b1, r1 = fast.system(fast.theta, sample)
    _, A0, b0, r0 = slow.system(fast.theta, sample)
    assert A1.shape == A0.shape and A1.shape[0] == 2 * 40 + 3 * 12 + 12 + 2 * 12
    np.testing.assert_allclose(A1, A0, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(b1, b0, rtol=1e-12, atol=1e-14)


def test_trust_region_stays_put_when_no_try_lowers_the_merit():
    ned = ns.NED(POISSON, MLP([2, 8, 1], seed=0), BOX2, points=32, boundary_points=16,
                 resample=False, seed=0, linesearch="trust", max_retries=3)
    real = ned.merit
    ned.merit = lambda th, s: real(th, s) + 1e3        # every candidate is worse
    theta, ridge = ned.theta.copy(), ned._ridge_now
    rec = ned.step()
    np.testing.assert_array_equal(ned.theta, theta)
    assert rec["step_size"] == 0.0 and ned.rejected == 4
    assert ned._ridge_now == pytest.approx(max(ridge, 1e-10) * 1e4, rel=1e-12)
    assert rec["energy"] == pytest.approx(0.5 * rec["residual"] ** 2, rel=1e-12)


def test_a_trust_region_checkpoint_does_not_resume_as_a_grid_search(tmp_path):
    from nedsym.errors import SolverError

    def ned(**kw):
        return ns.NED(POISSON, MLP([2, 4, 1], seed=0), BOX2, points=16, boundary_points=8,
                      seed=0, **kw)

    ck = str(tmp_path / "ck.npz")
    ned(linesearch="trust").run(steps=2, checkpoint=ck)
    with pytest.raises(SolverError, match="linesearch='grid' \\(checkpoint: 'trust'\\)"):
        ned().run(steps=4, resume=ck)
