"""The compiled gradient (nedsym.depth.fused): the forward pass and the discrete adjoint of a
dense model as two numba functions. Every result is compared with the Python-driven stages
of the same declaration (``fused=False``), which the other depth tests compare with the
scalar reference and finite differences."""

import threading

import numpy as np
import pytest
import sympy as sp

from nedsym.depth import DepthODE, matrix, vector
from nedsym.errors import BlowUpError, CodegenError, ConfigError

N = 3
x, W, b = vector("x", N), matrix("W", N, N), vector("b", N)
V, c = matrix("V", N, N), vector("c", N)
t = sp.Symbol("t", real=True)
a, d = sp.symbols("a d", real=True)
W2, x2 = matrix("W", 3, 2), vector("x", 2)

CASES = {
    "tanh": (x, lambda: (W * x + b).applyfunc(sp.tanh) - x / 4, [W, b]),
    "gathered": (x, lambda: (W * x + b).applyfunc(sp.tanh), [W, b]),
    "product_of_product": (x, lambda: (V * (W * x) + b).applyfunc(sp.tanh), [W, V, b]),
    "gathered_twice": (x, lambda: (W * x + b).applyfunc(sp.tanh) + V * x, [W, b, V]),
    # a computed layer vector (tanh of the first product), time dependence
    "nested": (x, lambda: V * (W * x + b).applyfunc(sp.tanh) + c * sp.cos(t), [W, b, V, c]),
    "hamiltonian": (x, lambda: W.T * (W * x + b).applyfunc(sp.tanh), [W, b]),
    # transposed and gathered products of one matrix with a lone scalar gain (a row sum)
    "hamiltonian_gain": (x, lambda: W.T * (W * x + b).applyfunc(lambda e: sp.tanh(a * e)),
                         [W, b, a]),
    "rectangular": (x2, lambda: W2.T * (W2 * x2).applyfunc(sp.tanh) + x2 / 3, [W2]),
    "gain": (x, lambda: (W * x + b).applyfunc(lambda e: sp.tanh(a * e)) - d * x, [W, b, a, d]),
}


def _values(params, steps, rng):
    return {p: rng.normal(size=(steps, *((p.shape[0],) if p.shape[1] == 1 else p.shape)))
            if isinstance(p, sp.MatrixBase) else rng.normal(size=steps) for p in params}


def _pair(case, **kw):
    state, rhs, params = CASES[case]
    fused = DepthODE(state, rhs(), params, time=t, backend="numba", fused=True, **kw)
    stages = DepthODE(state, rhs(), params, time=t, backend="numba", fused=False, **kw)
    return fused, stages, params, len(state)


#: one compile each (3-5 s on a 2-core VM): two in the default run, the rest with -m slow
QUICK = {("nested", "euler"), ("nested", "heun"), ("nested", "rk4"), ("hamiltonian_gain", "rk4")}


@pytest.mark.parametrize("case,stepper", [
    pytest.param(c_, s_, marks=() if (c_, s_) in QUICK else pytest.mark.slow)
    for c_ in sorted(CASES) for s_ in ("euler", "heun", "rk4")])
def test_fused_gradient_equals_the_stages(case, stepper):
    fused, stages, params, n = _pair(case)
    rng = np.random.default_rng(3)
    theta = fused.pack(_values(params, 4, rng), steps=4)
    X, Y = rng.normal(size=(7, n)), rng.normal(size=(7, n))
    for T in (1.0, 0.6):  # the first call runs the built-in check too; the second does not
        g1 = fused.gradient(X, theta, T=T, data=Y, stepper=stepper)
        g0 = stages.gradient(X, theta, T=T, data=Y, stepper=stepper)
        assert fused.fused_reason.startswith("compiled") and stages.fused_reason == "fused=False"
        np.testing.assert_allclose(g1.grad, g0.grad, rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(g1.ps, g0.ps, rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(g1.trajectory.xs, g0.trajectory.xs, rtol=1e-13, atol=1e-14)
        np.testing.assert_allclose(g1.trajectory.stages, g0.trajectory.stages, rtol=1e-13,
                                   atol=1e-14)
        assert g1.loss == pytest.approx(g0.loss, rel=1e-13)
        assert g1.trajectory.aux is None and g1.adjoint == "discrete"
    assert fused._fused.checked == {stepper}


def test_auto_compiles_where_covered_and_says_why_not_elsewhere():
    state, rhs, params = CASES["hamiltonian_gain"]
    auto = DepthODE(state, rhs(), params, time=t, backend="numba")
    rng = np.random.default_rng(0)
    theta = auto.pack(_values(params, 2, rng), steps=2)
    X = rng.normal(size=(4, N))
    auto.gradient(X, theta, data=X)
    if all(k.backend == "numba" for k in auto._dense.row_kernels().values()):
        assert auto.fused_reason.startswith("compiled")
        assert "def forward(" in auto.source("fused") and "def adjoint(" in auto.source("fused")
    else:  # this machine's NumPy tanh is the faster one: auto keeps the stages
        assert "fused=True compiles them" in auto.fused_reason
    L = sum(x[i] ** 2 for i in range(N)) / 4
    why = {"a running cost": DepthODE(state, rhs(), params, L, time=t, backend="numba"),
           "backend 'numpy'": DepthODE(state, rhs(), params, time=t),
           "no dense layers": DepthODE(state, rhs(), params, time=t, dense=False)}
    for reason, ode in why.items():
        g = ode.gradient(X, theta, data=X)
        assert reason in ode.fused_reason and np.all(np.isfinite(g.grad))
        with pytest.raises(ConfigError, match=reason):
            ode.source("fused")
    # a state factor outside the rows: the right-hand side is an unrolled kernel
    outside = (W * x.applyfunc(sp.sin) + b).applyfunc(sp.tanh) * x[0]
    strict = {"a running cost": (DepthODE, (state, rhs(), params, L), theta),
              "backend 'numpy'": (DepthODE, (state, rhs(), params), theta),
              "'rhs' is not one expression over the rows": (
                  DepthODE, (state, outside, [W, b]), np.zeros((2, N * N + N)))}
    for reason, (make, args, th) in strict.items():
        backend = "numpy" if "numpy" in reason else "numba"
        ode = make(*args, time=t, backend=backend, fused=True)
        with pytest.raises(ConfigError, match=f"fused=True.*{reason}"):
            ode.gradient(X, th, data=X)
    for bad in ("yes", None, 1):
        with pytest.raises(ConfigError, match="fused must be"):
            DepthODE(state, rhs(), params, backend="numba", fused=bad)


def test_a_continuous_adjoint_runs_the_stages():
    fused, stages, params, n = _pair("nested")
    rng = np.random.default_rng(1)
    theta = fused.pack(_values(params, 3, rng), steps=3)
    X = rng.normal(size=(4, n))
    g1 = fused.gradient(X, theta, data=X, adjoint="continuous")
    g0 = stages.gradient(X, theta, data=X, adjoint="continuous")
    np.testing.assert_array_equal(g1.grad, g0.grad)
    assert fused._fused is None  # not built: nothing compiled ran


def test_blow_up_is_reported_with_its_step():
    fused, _, params, n = _pair("nested")
    rng = np.random.default_rng(2)
    values = _values(params, 6, rng)
    values[c][2:] = np.inf   # x' gains c cos t: the state is inf after step 3
    X = rng.normal(size=(3, n))
    with pytest.raises(BlowUpError, match="hidden state became NaN/Inf at depth step 3:"):
        fused.gradient(X, fused.pack(values, steps=6), data=X)
    ok = fused.pack(_values(params, 6, rng), steps=6)
    with pytest.raises(BlowUpError, match="costate became NaN/Inf at depth step 5:"):
        fused.gradient(X, ok, data=np.full((3, n), np.inf))
    g = fused.gradient(X, ok, data=X)   # and it still works after both
    assert np.all(np.isfinite(g.grad))


def test_the_first_gradient_check_can_fail(monkeypatch):
    """A compiled gradient that disagrees with the stages is refused on its first call, and
    later gradients run the stages."""
    fused, stages, params, n = _pair("nested")
    rng = np.random.default_rng(4)
    theta = fused.pack(_values(params, 3, rng), steps=3)
    X, Y = rng.normal(size=(4, n)), rng.normal(size=(4, n))
    fg = fused._fused_gradient()
    real = type(fg).__call__

    def off(self, *args):
        g, bad = real(self, *args)
        g[1, 0] *= 1 + 1e-7
        return g, bad

    monkeypatch.setattr(type(fg), "__call__", off)
    with pytest.raises(CodegenError, match="differs from the Python-driven one"):
        fused.gradient(X, theta, data=Y)
    assert "failed its check" in fused.fused_reason
    g1, g0 = fused.gradient(X, theta, data=Y), stages.gradient(X, theta, data=Y)
    np.testing.assert_array_equal(g1.grad, g0.grad)


def test_threads_share_one_model():
    """Two threads computing gradients of one model at once: the second finds the work
    arrays in use and takes its own."""
    fused, stages, params, n = _pair("nested")
    rng = np.random.default_rng(5)
    probs = []
    for _ in range(2):
        theta = fused.pack(_values(params, 5, rng), steps=5)
        X, Y = rng.normal(size=(64, n)), rng.normal(size=(64, n))
        probs.append((X, theta, Y, stages.gradient(X, theta, data=Y).grad))
    fused.gradient(*probs[0][:2], data=probs[0][2])  # compiled and checked once
    errors = []

    def work(X, theta, Y, want):
        for _ in range(30):
            got = fused.gradient(X, theta, data=Y).grad
            errors.append(float(np.abs(got - want).max()))

    threads = [threading.Thread(target=work, args=p) for p in probs]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(errors) == 60 and max(errors) < 1e-12


def test_a_second_caller_takes_its_own_work_arrays():
    """While one call holds the model's work arrays, another computes in fresh ones."""
    fused, stages, params, n = _pair("nested")
    rng = np.random.default_rng(8)
    theta = fused.pack(_values(params, 4, rng), steps=4)
    X, Y = rng.normal(size=(6, n)), rng.normal(size=(6, n))
    first = fused.gradient(X, theta, data=Y).grad
    fg = fused._fused
    held = fg._arrays(4, 4, 6)
    before = [a.copy() for a in held]
    with fg._lock:  # as another thread in the middle of its call
        g = fused.gradient(X, theta, data=Y).grad
    np.testing.assert_array_equal(g, first)
    for a_, b_ in zip(held, before, strict=True):
        np.testing.assert_array_equal(a_, b_)   # not touched
    np.testing.assert_allclose(g, stages.gradient(X, theta, data=Y).grad, rtol=1e-12,
                               atol=1e-13)


def test_the_check_runs_on_a_short_probe_once_per_stepper(monkeypatch):
    """The check compares the first steps and samples only (a chaotic model's rounding
    differences have no time to grow there), once per stepper."""
    fused, _, params, n = _pair("nested")
    rng = np.random.default_rng(9)
    theta = fused.pack(_values(params, 12, rng), steps=12)
    X = rng.normal(size=(40, n))
    seen = []
    real = type(fused)._gradient_stages

    def spy(self, x0, th, *args):
        seen.append((np.shape(x0)[0], th.shape[0]))
        return real(self, x0, th, *args)

    monkeypatch.setattr(type(fused), "_gradient_stages", spy)
    for stepper in ("rk4", "rk4", "heun"):
        fused.gradient(X, theta, data=X, stepper=stepper)
    assert seen == [(8, 2), (8, 2)] and fused._fused.checked == {"rk4", "heun"}


def test_results_kept_by_the_caller_are_not_overwritten():
    fused, _, params, n = _pair("nested")
    rng = np.random.default_rng(6)
    th1 = fused.pack(_values(params, 3, rng), steps=3)
    th2 = fused.pack(_values(params, 3, rng), steps=3)
    X = rng.normal(size=(5, n))
    g1 = fused.gradient(X, th1, data=X)
    keep = (g1.grad.copy(), g1.ps.copy(), g1.trajectory.xs.copy())
    fused.gradient(X, th2, data=X)
    for a_, b_ in zip((g1.grad, g1.ps, g1.trajectory.xs), keep, strict=True):
        np.testing.assert_array_equal(a_, b_)


def test_a_fused_model_pickles():
    """The compiled gradient is loaded again (and checked again) after unpickling."""
    import pickle

    fused, _, params, n = _pair("nested")
    rng = np.random.default_rng(7)
    theta = fused.pack(_values(params, 3, rng), steps=3)
    X = rng.normal(size=(4, n))
    g = fused.gradient(X, theta, data=X)
    again = pickle.loads(pickle.dumps(fused))
    assert again._fused is None
    np.testing.assert_array_equal(again.gradient(X, theta, data=X).grad, g.grad)
    assert again.fused_reason.startswith("compiled") and again._fused.checked == {"rk4"}
