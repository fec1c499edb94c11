"""One Target per backend: the registry, and a toy backend added as one file's worth of code
(the example of docs/architecture.md) running the public path end to end."""

from __future__ import annotations

import numpy as np
import pytest

import nedsym as ns
from nedsym.codegen import available
from nedsym.codegen.printers import NumbaPrinter
from nedsym.codegen.targets import TARGETS, Target, get_target, register_target
from nedsym.errors import BackendUnavailableError

# --- the toy backend: this block is the whole of it ------------------------------------------


class PythonLoopsPrinter(NumbaPrinter):
    """The numba printer's loop nests as plain Python: no numba, one point at a time."""

    backend = "python-loops"

    def _header(self, what):
        lines = super()._header(what)
        i = lines.index("from numba import njit, prange")
        return lines[:i] + ["prange = range", "", "", "def njit(*args, **kwargs):",
                            "    return lambda f: f"] + lines[i + 1:]


class PythonLoopsTarget(Target):
    name = "python-loops"
    printer = PythonLoopsPrinter


# ----------------------------------------------------------------------------------------------


@pytest.fixture
def toy():
    target = register_target(PythonLoopsTarget())
    yield target
    del TARGETS[target.name]


def test_builtin_targets_are_registered_in_preference_order():
    assert list(TARGETS)[:4] == ["numpy", "numba", "numba-cuda", "cupy"]
    assert set(available()) == set(TARGETS)
    assert get_target("numba").time_segments and not get_target("numpy").time_segments
    assert get_target("cupy").device and get_target("numba-cuda").device
    with pytest.raises(BackendUnavailableError, match="unknown backend 'numbaa'"):
        get_target("numbaa")
    with pytest.raises(BackendUnavailableError, match="already registered"):
        register_target(get_target("numpy").__class__())


def test_a_toy_backend_is_one_class_and_runs_the_public_path(toy):
    E = ns.Energy.parse("eps^2/2*|grad(u)|^2 + (u^2-1)^2/4", coords="x y", fields="u",
                        params={"eps": 0.1})
    grid = ns.Grid((10, 8), [(0, 1), (0, 1)], bc="neumann")
    flow = ns.GradientFlow(E)
    ref = flow.discretize(grid, backend="numpy")
    sim = flow.discretize(grid, backend="python-loops")   # checked against numpy at first call
    assert "python-loops" in available() and available()["python-loops"][0]
    assert "prange = range" in sim._rhs_kernel.source()
    y0 = ref.initial("random", seed=1, amplitude=0.3)
    # the energy every step: the automatic interval follows each backend's measured speed
    a = ref.solve(y0, 0.02, stepper="rk4", dt=2e-3, progress=False, energy_every=1)
    b = sim.solve(y0, 0.02, stepper="rk4", dt=2e-3, progress=False, energy_every=1)
    np.testing.assert_allclose(b.final, a.final, rtol=0, atol=1e-13)
    np.testing.assert_allclose(b.energy, a.energy, rtol=1e-12)
    # no compiled segments for a target that has none: the NumPy-level steppers drive it
    with pytest.raises(ns.errors.SolverError, match="compiled=True"):
        sim.solve(y0, 0.02, stepper="rk4", dt=2e-3, progress=False, compiled=True)
    # and the stages print for it like for any backend
    assert "prange = range" in ns.lower(flow, grid, backend="python-loops").sources["rhs"]


def test_a_wrong_toy_kernel_is_caught_by_the_reference_check(toy):
    class Broken(PythonLoopsPrinter):
        def kernel_source(self):
            return super().kernel_source().replace("out[0, i, j] = ", "out[0, i, j] = 1.0 + ")

    class BrokenTarget(Target):
        name = "broken-loops"
        printer = Broken

    register_target(BrokenTarget())
    try:
        E = ns.Energy.parse("|grad(u)|^2/2", coords="x y", fields="u")
        sim = ns.GradientFlow(E).discretize(ns.Grid((6, 6), [(0, 1), (0, 1)]),
                                            backend="broken-loops")
        with pytest.raises(ns.errors.CodegenError):
            sim.rhs(0.0, np.zeros((1, 6, 6)), np.empty((1, 6, 6)))
    finally:
        del TARGETS["broken-loops"]
