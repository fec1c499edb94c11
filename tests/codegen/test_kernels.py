"""Generated numba kernels against the numpy reference on random padded states."""

import numpy as np
import pytest
from _fillers import periodic_fill_2d, periodic_numpy
from kernels import allen_cahn_2d, coupled_2d, energy, lap_1d, lap_3d

from nedsym.codegen import compile_kernel, make_euler_loop
from nedsym.errors import CodegenError

SCALARS = {"h0": 0.1, "h1": 0.07, "h2": 0.05, "eps": 0.3, "a": 1.7, "lo0": -0.4}


def _padded(ir, n, seed=1):
    rng = np.random.default_rng(seed)
    shape = (len(ir.fields),) + tuple(n + 2 * ir.halo + d for d in range(ir.ndim))
    return rng.uniform(-1.0, 1.0, shape)


def _scalars(ir):
    return [SCALARS[s] for s in ir.scalars]


@pytest.mark.parametrize("make", [lap_1d, allen_cahn_2d, lap_3d, coupled_2d])
def test_map_kernel_numba_matches_numpy(make):
    ir = make()
    n = {1: 50, 2: 17, 3: 9}[ir.ndim]
    yp = _padded(ir, n)
    interior = (yp.shape[0],) + tuple(s - 2 * ir.halo for s in yp.shape[1:])
    got, ref = np.empty(interior), np.empty(interior)
    compile_kernel(ir, "numba")(yp, got, *_scalars(ir))
    compile_kernel(ir, "numpy")(yp, ref, *_scalars(ir))
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_reduce_kernel_numba_matches_numpy(ndim):
    ir = energy(ndim)
    yp = _padded(ir, {1: 100, 2: 20, 3: 8}[ndim])
    got = compile_kernel(ir, "numba")(yp, 0.3)
    ref = compile_kernel(ir, "numpy")(yp, 0.3)
    assert isinstance(got, float)
    assert got == pytest.approx(ref, rel=1e-12)


def test_coordinates_are_cell_centres():
    ir = coupled_2d()
    yp = np.zeros((2, 8, 7))
    out = np.empty((2, 4, 3))
    compile_kernel(ir, "numpy")(yp, out, 1.0, 0.25, 0.1, -0.4)
    # with u = v = 0: out_v = 1/(1 + x0^2) at x0 = lo0 + (i + 1/2) h0
    x0 = -0.4 + (np.arange(4) + 0.5) * 0.25
    np.testing.assert_allclose(out[1], np.broadcast_to((1 / (1 + x0**2))[:, None], (4, 3)))


def test_first_call_mismatch_is_detected():
    ir = allen_cahn_2d()
    k = compile_kernel(ir, "numba")
    good = k.function

    def sabotaged(yp, out, *s):
        good(yp, out, *s)
        out[0, 3, 5] += 1e-6

    k._fn = sabotaged
    yp = _padded(ir, 16)
    with pytest.raises(CodegenError, match=r"largest difference 1\.0\d*e-06 at index \(0, 3, 5\)"):
        k(yp, np.empty((1, 16, 16)), *_scalars(ir))


def test_float32_numba_kernel():
    ir = allen_cahn_2d()
    k = compile_kernel(ir, "numba", dtype="float32")
    yp = _padded(ir, 16).astype(np.float32)
    out = np.empty((1, 16, 16), np.float32)
    k(yp, out, np.float32(0.3), np.float32(0.1), np.float32(0.07))  # checked vs numpy f32
    assert out.dtype == np.float32


@pytest.mark.parametrize("use_default_filler", [False, True])
def test_euler_loop_matches_numpy_steps(use_default_filler):
    ir = allen_cahn_2d()
    fill = None if use_default_filler else periodic_fill_2d
    loop = make_euler_loop(ir, fill=fill)
    yp = _padded(ir, 24)
    kinds = np.zeros((1, 2, 2), np.int64)
    values = np.zeros((1, 2, 2))
    ref = yp.copy()
    rhs = compile_kernel(ir, "numpy")
    out = np.empty((1, 24, 25))
    dt, nsteps = 1e-4, 5
    for _ in range(nsteps):
        ref = periodic_numpy(ref, 1)
        rhs(ref, out, *_scalars(ir))
        ref[:, 1:-1, 1:-1] += dt * out
    loop(yp, np.empty_like(yp), nsteps, dt, kinds, values, *_scalars(ir))
    np.testing.assert_allclose(yp[:, 1:-1, 1:-1], ref[:, 1:-1, 1:-1], rtol=1e-12)
    np.testing.assert_allclose(yp, periodic_numpy(yp, 1))  # halo left filled


def test_rk4_loop_matches_numpy_steps_with_time_and_two_fields():
    import sympy as sp

    from nedsym.codegen import build_map_kernel, index_symbols, make_rk4_loop

    i, j = index_symbols(2)
    u, v, t = sp.IndexedBase("u"), sp.IndexedBase("v"), sp.Symbol("t")
    ir = build_map_kernel(["u", "v"], 1,
                          {"u": u[i + 1, j] - u[i, j] + sp.cos(t) * v[i, j],
                           "v": -u[i, j - 1] * v[i, j] + t}, ["t"], 2)
    loop = make_rk4_loop(ir, fill=periodic_fill_2d)  # first call checks 2 steps vs numpy
    yp = _padded(ir, 12)
    kinds, values = np.zeros((2, 2, 2), np.int64), np.zeros((2, 2, 2))
    y0 = yp.copy()
    loop.advance(yp, 3, 0.01, kinds, values, 0.5)
    from nedsym.codegen.loops import _reference_steps
    ref = _reference_steps(loop, y0, 3, 0.01, kinds, values, [0.5])
    np.testing.assert_allclose(yp[:, 1:-1, 1:-1], ref[:, 1:-1, 1:-1], rtol=1e-12)
    assert "def " + ir.name + "_rk4(yp, s1, s2, acc, nsteps, dt" in loop.source()


@pytest.mark.parametrize("steps_per_pass, block_rows", [(3, 5)])
def test_blocked_euler_loop_matches_plain_steps(steps_per_pass, block_rows):
    import sympy as sp

    from nedsym.codegen import build_map_kernel, index_symbols
    from nedsym.codegen.loops import _reference_steps, make_blocked_euler_loop

    i, j = index_symbols(2)
    u, v, t = sp.IndexedBase("u"), sp.IndexedBase("v"), sp.Symbol("t")
    ir = build_map_kernel(["u", "v"], 1,
                          {"u": u[i + 1, j] - 2 * u[i, j] + u[i - 1, j + 1] - u[i, j]**3 * v[i, j],
                           "v": v[i, j - 1] - v[i, j] + t * u[i, j]}, ["t"], 2)
    loop = make_blocked_euler_loop(ir, steps_per_pass, block_rows)  # first call checks
    H = loop.halo
    n0, n1 = 13, 11  # not a multiple of block_rows
    yp = np.zeros((2, n0 + 2 * H, n1 + 2 * H))
    yp[:, H:-H, H:-H] = np.random.default_rng(3).uniform(-1, 1, (2, n0, n1))
    kinds, values = np.zeros((2, 2, 2), np.int64), np.zeros((2, 2, 2))
    small = np.pad(yp[:, H:-H, H:-H], [(0, 0), (1, 1), (1, 1)])
    nsteps = 2 * steps_per_pass
    loop.advance(yp, nsteps, 0.01, kinds, values, 0.3)
    ref = _reference_steps(loop, small, nsteps, 0.01, kinds, values, [0.3])
    np.testing.assert_allclose(yp[:, H:-H, H:-H], ref[:, 1:-1, 1:-1], rtol=1e-12)
    with pytest.raises(CodegenError, match="periodic"):
        loop.advance(yp, nsteps, 0.01, np.ones((2, 2, 2), np.int64), values, 0.3)
