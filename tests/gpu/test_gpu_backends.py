"""The GPU backends on a real GPU against the NumPy reference: the demos' right-hand sides
and energies, float32 and float64, a short solve with the state on the device, the
semi-implicit stepper with cupy.fft, and the fused device Euler loop."""

import numpy as np
import pytest

import nedsym as ns
from nedsym.problems import demo
from nedsym.runner import build_simulation
from nedsym.solve.arrays import to_host

RTOL = {"float64": 1e-10, "float32": 2e-5}
DEMOS = ("allen-cahn", "cahn-hilliard", "swift-hohenberg", "tv-denoise", "heat")


def _pair(spec, backend, dtype, shape=(48, 40)):
    spec = dict(spec, grid=dict(spec["grid"], shape=list(shape)))
    _, flow, ref = build_simulation(spec, backend="numpy")
    gpu = flow.discretize(ref.grid, backend=backend, dtype=dtype)
    return ref, gpu


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", DEMOS)
def test_demo_rhs_and_energy_match_numpy(backend, name, dtype):
    ref, gpu = _pair(demo(name), backend, dtype)
    y = ref.initial("random", seed=3, amplitude=0.7)
    a = np.empty_like(y)
    ref.rhs(0.0, y, a)
    yd = gpu.xp.asarray(y, dtype=dtype)
    b = gpu.xp.empty_like(yd)
    gpu.rhs(0.0, yd, b)
    b = to_host(b)
    assert b.dtype == np.dtype(dtype)
    scale = float(np.abs(a).max())
    assert float(np.abs(a - b).max()) <= RTOL[dtype] * max(scale, 1.0)
    e_ref, e_gpu = ref.energy(y), gpu.energy(yd)
    assert abs(e_ref - e_gpu) <= RTOL[dtype] * max(1.0, abs(e_ref))
    assert abs(ref.residual(0.0, y) - gpu.residual(0.0, yd)) <= \
        10 * RTOL[dtype] * max(1.0, ref.residual(0.0, y))


@pytest.mark.parametrize("ndim", [1, 3])
def test_1d_and_3d_neumann_match_numpy(backend, ndim):
    E = ns.Energy.parse("eps^2/2*|grad(u)|^2 + (u^2-1)^2/4", coords="x y z"[: 2 * ndim - 1],
                        fields="u", params={"eps": 0.1})
    flow = ns.GradientFlow(E, metric="H-1")
    grid = ns.Grid((37,) * ndim if ndim == 1 else (13, 10, 17), [(0, 1)] * ndim, bc="neumann")
    ref = flow.discretize(grid, backend="numpy")
    gpu = flow.discretize(grid, backend=backend, dtype="float64")
    y = ref.initial("random", seed=0, amplitude=0.5)
    a, b = np.empty_like(y), gpu.xp.empty(y.shape)
    ref.rhs(0.0, y, a)
    gpu.rhs(0.0, gpu.xp.asarray(y), b)
    np.testing.assert_allclose(to_host(b), a, rtol=1e-10,
                               atol=1e-10 * np.abs(a).max())


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_short_solve_keeps_the_state_on_the_device(backend, dtype):
    ref, gpu = _pair(demo("allen-cahn"), backend, dtype, shape=(64, 64))
    y0 = ref.initial("random", seed=0, amplitude=0.1)
    calls = []
    rhs = gpu.rhs

    def spy(t, y, out):
        calls.append((type(y).__module__.split(".")[0], type(out).__module__.split(".")[0]))
        rhs(t, y, out)

    gpu.rhs = spy
    dt = 0.5 * ref.stable_dt()
    res = gpu.solve(y0, t_end=20 * dt, stepper="rk4", dt=dt, progress=False)
    res_ref = ref.solve(y0, t_end=20 * dt, stepper="rk4", dt=dt, progress=False)
    assert calls and set(calls) == {("cupy", "cupy")}, set(calls)
    assert isinstance(res.final, np.ndarray) and res.final.dtype == np.dtype(dtype)
    np.testing.assert_allclose(res.final, res_ref.final, rtol=0, atol=50 * RTOL[dtype])
    np.testing.assert_allclose(res.energy, res_ref.energy, rtol=50 * RTOL[dtype])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_semi_implicit_with_cupy_fft(cupy_backend, dtype):
    spec = demo("cahn-hilliard")
    ref, gpu = _pair(spec, cupy_backend, dtype, shape=(64, 64))
    y0 = ref.initial("random", seed=0, amplitude=0.05)
    kw = dict(t_end=2e-4, stepper="semi-implicit", dt=1e-5, progress=False)
    res, res_ref = gpu.solve(y0, **kw), ref.solve(y0, **kw)
    np.testing.assert_allclose(res.final, res_ref.final, rtol=0, atol=100 * RTOL[dtype])
    # Cahn-Hilliard conserves mass on the device too
    assert abs(res.final.mean() - y0.mean()) < 100 * RTOL[dtype]


@pytest.mark.parametrize("bc", ["periodic", "neumann"])
def test_device_euler_loop_matches_numba(backend, bc):
    spec = demo("allen-cahn")
    spec = dict(spec, grid=dict(spec["grid"], bc=bc))
    ref, gpu = _pair(spec, backend, "float64", shape=(70, 33))
    y0 = ref.initial("random", seed=1, amplitude=0.3)
    dt = 0.5 * ref.stable_dt()
    y_ref = ref.run_euler(y0, 25, dt)
    y_gpu = to_host(gpu.run_euler(gpu.xp.asarray(y0), 25, dt))
    np.testing.assert_allclose(y_gpu, y_ref, rtol=1e-10, atol=1e-10)
