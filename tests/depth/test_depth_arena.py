"""The arena of depth forward passes and gradients: memory reused between calls only once
nothing references the arrays of the call that used it (nedsym.arena)."""

import pickle
import threading

import numpy as np
import pytest
import sympy as sp

from nedsym.arena import Arena, empty, suspended
from nedsym.depth import DepthODE, matrix, vector
from nedsym.errors import ConfigError

SHAPES = [(6, 10), (3,), (2, 3, 4)]


def _call(arena, shapes=SHAPES, fill=None):
    with arena.active():
        out = [empty(s) for s in shapes]
    if fill is not None:
        for a in out:
            a[...] = fill
    return out


def test_outside_an_active_arena_empty_is_plain_numpy():
    a = empty((4, 5))
    assert a.shape == (4, 5) and a.dtype == np.float64 and a.base is None


def test_the_first_call_measures_and_later_ones_reuse_a_dropped_block():
    arena = Arena()
    first = _call(arena)
    assert all(a.base is None for a in first) and arena.nbytes == 0  # measured only
    second = _call(arena)
    assert all(a.base is not None for a in second) and len(arena._blocks) == 1
    assert all(a.ctypes.data % 64 == 0 for a in second)  # aligned to cache lines
    ptr = second[0].ctypes.data
    del second
    third = _call(arena)
    assert third[0].ctypes.data == ptr and len(arena._blocks) == 1


def test_a_kept_result_or_any_view_of_it_keeps_its_block():
    arena = Arena()
    _call(arena)
    kept = _call(arena, fill=1.0)
    other = _call(arena, fill=2.0)
    assert not any(np.shares_memory(k, o) for k in kept for o in other)
    view = kept[0][1:, ::2].T   # a view of a view: its base collapses to the call's array
    del kept
    again = _call(arena, fill=3.0)
    assert not np.shares_memory(view, again[0]) and np.all(view == 1.0)
    assert not np.shares_memory(other[0], again[0]) and np.all(other[0] == 2.0)
    mv = memoryview(again[1])  # a buffer export keeps it too
    del again
    last = _call(arena, fill=4.0)
    assert np.all(np.asarray(mv) == 3.0)
    assert len(arena._blocks) <= arena.max_blocks and last[0].base is not None


def test_a_larger_call_gets_a_larger_block_and_overflow_falls_back_to_numpy():
    arena = Arena()
    _call(arena)
    big = _call(arena, shapes=[(50, 50)])      # the block is too small: plain arrays
    assert big[0].base is None and big[0].shape == (50, 50)
    del big
    again = _call(arena, shapes=[(50, 50)])    # the next call measured it
    assert again[0].base is not None


def test_reentered_or_from_a_second_thread_it_stands_aside():
    arena = Arena()
    _call(arena, SHAPES * 2)  # measures room for both calls
    seen = {}
    with arena.active():
        outer = empty((6, 10))
        inner = _call(arena)  # re-entered: the arrays of the enclosing call's block
        assert all(a.base is outer.base for a in inner)

        def other():
            seen["base"] = _call(arena)[0].base
        th = threading.Thread(target=other)
        th.start()
        th.join()
    assert seen["base"] is None and outer.base is not None


@pytest.mark.parametrize("max_blocks", [1, 2, 3, 5])
def test_it_keeps_the_most_recent_busy_blocks_up_to_max_blocks(max_blocks):
    arena = Arena(max_blocks=max_blocks)
    _call(arena)
    kept = [_call(arena, fill=float(i)) for i in range(max_blocks + 2)]  # all busy
    assert len(arena._blocks) == max_blocks
    ptrs = {e[0].obj.ctypes.data for e in arena._blocks}
    recent = {int(k[0].base.base.obj.ctypes.data) for k in kept[-max_blocks:]}
    assert ptrs == recent   # the newest ones are kept, the oldest forgotten
    for i, k in enumerate(kept):
        assert np.all(k[0] == float(i))  # forgotten blocks live on in their arrays


def test_max_blocks_must_be_a_whole_number_of_at_least_one():
    for bad in (0, -1, 2.5, None, float("nan"), True, "3"):
        with pytest.raises(ConfigError, match="max_blocks"):
            Arena(max_blocks=bad)


def test_suspended_takes_plain_arrays_inside_an_active_arena():
    arena = Arena()
    _call(arena)
    with arena.active():
        inside = empty((6, 10))
        with suspended():
            plain = empty((3,))
        after = empty((3,))
    assert inside.base is not None and plain.base is None and after.base is inside.base


def test_the_arena_pickles_empty():
    arena = Arena(max_blocks=2)
    _call(arena)
    _call(arena)
    again = pickle.loads(pickle.dumps(arena))
    assert again.max_blocks == 2 and again.nbytes == 0


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_an_earlier_gradient_kept_by_the_user_is_never_overwritten(backend):
    """A result kept while later gradients run (the usual ``g = ode.gradient(...)`` loop
    keeps the previous one during the next call) keeps its values; dropped, its memory is
    reused; the gradients equal those of an ODE without reuse (fresh arrays)."""
    n = 4
    x, W, b = vector("x", n), matrix("W", n, n), vector("b", n)
    rhs = (W * x + b).applyfunc(sp.tanh)
    ode = DepthODE(x, rhs, [W, b], backend=backend)
    rng = np.random.default_rng(0)
    theta = ode.pack({W: rng.normal(size=(5, n, n)) / 2, b: rng.normal(size=(5, n)) / 4},
                     steps=5)
    inputs = [rng.normal(size=(7, n)) for _ in range(4)]
    data = rng.normal(size=(7, n))

    def snapshot(g):
        return [g.grad.copy(), g.ps.copy(), g.trajectory.xs.copy(),
                g.trajectory.stages.copy()]

    fresh = []
    for x0 in inputs:
        ref = DepthODE(x, rhs, [W, b], backend=backend)  # a new ODE: a new, empty arena
        fresh.append(snapshot(ref.gradient(x0, theta, data=data)))
    g0 = ode.gradient(inputs[0], theta, data=data)      # measures
    g1 = ode.gradient(inputs[1], theta, data=data)      # from a block
    assert g1.trajectory.xs.base is not None
    last_state = g0.trajectory.xs[-1]
    del g0
    g = g1
    for x0, want in zip(inputs[2:] + inputs[:2], fresh[2:] + fresh[:2], strict=True):
        g_prev, g = g, ode.gradient(x0, theta, data=data)
        for got, ref in zip(snapshot(g), want, strict=True):
            assert np.array_equal(got, ref)
        assert not np.shares_memory(g.ps, g_prev.ps)
    for got, ref in zip(snapshot(g1), fresh[1], strict=True):
        assert np.array_equal(got, ref)   # g1 kept through four later gradients
    assert np.array_equal(last_state, fresh[0][2][-1])  # a view kept alone, too
    arena = ode._arenas["gradient"]
    assert len(arena._blocks) <= arena.max_blocks


def _tanh_problem(backend, n=4, steps=5):
    x, W, b = vector("x", n), matrix("W", n, n), vector("b", n)
    rhs = (W * x + b).applyfunc(sp.tanh)
    rng = np.random.default_rng(1)
    make = lambda: DepthODE(x, rhs, [W, b], backend=backend)  # noqa: E731
    ode = make()
    theta = ode.pack({W: rng.normal(size=(steps, n, n)) / 2,
                      b: rng.normal(size=(steps, n)) / 4}, steps=steps)
    return make, ode, theta, rng


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_forward_passes_take_their_states_alone_and_survive_later_calls(backend):
    """A forward pass returns its states: its block holds those (not the stage's rows and
    products, which only made the blocks larger), it is not the gradients' block, and a kept
    result keeps its values through later forward passes and gradients."""
    make, ode, theta, rng = _tanh_problem(backend)
    B = 9
    inputs = [rng.normal(size=(B, 4)) for _ in range(4)]
    want = [make().forward(x0, theta).xs.copy() for x0 in inputs]
    kept = [ode.forward(x0, theta) for x0 in inputs]
    ode.gradient(inputs[0], theta, data=inputs[1])
    for traj, ref in zip(kept, want, strict=True):
        assert np.array_equal(traj.xs, ref)
    returned = (kept[-1].xs.size + kept[-1].stages.size) * 8
    fwd = ode._arenas["forward"]
    assert all(len(e[0]) <= returned + 2 * 64 * 8 for e in fwd._blocks)  # padding only


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_the_continuous_adjoint_under_the_arena_equals_a_fresh_one(backend):
    make, ode, theta, rng = _tanh_problem(backend)
    x0, data = rng.normal(size=(6, 4)), rng.normal(size=(6, 4))
    want = make().gradient(x0, theta, data=data, adjoint="continuous")
    for _ in range(3):   # each dropped before the next: its block is reused
        g = ode.gradient(x0, theta, data=data, adjoint="continuous")
        assert np.array_equal(g.grad, want.grad) and np.array_equal(g.ps, want.ps)
        returned = (g.trajectory.xs.size + g.trajectory.stages.size) * 8
        del g
    arena = ode._arenas["gradient"]
    assert len(arena._blocks) == 1   # reused, not one per call
    assert len(arena._blocks[0][0]) <= returned + 2 * 64 * 8   # the states alone
