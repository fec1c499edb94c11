"""The ghost-cell rules are stated once (``HaloSpec``) and every target prints them: a new
boundary kind is one more rule, and the host filler, the CUDA C kernel, the numba-cuda
kernel and the NumPy reference all follow it."""

import numpy as np
import pytest
from test_gpu_compile import needs_nvrtc

from nedsym.codegen.gpu import compile_cuda_source
from nedsym.codegen.halo import SPEC, fill_halo_numpy, halo_filler
from nedsym.codegen.ir import HALO_RULES, HALO_SOURCE, HaloRule, HaloSpec
from nedsym.codegen.printers.cupy import halo_source
from nedsym.codegen.printers.halo import numba_halo_source
from nedsym.codegen.printers.numba_cuda import runtime_source
from nedsym.codegen.targets import get_target
from nedsym.errors import BoundaryConditionError

#: an antiperiodic side: the ghost is minus the cell one period away
ANTI = HaloSpec(HALO_RULES + (HaloRule(3, "antiperiodic", "wrap", -HALO_SOURCE),))


def _tables(rng, kinds):
    kinds = np.array(kinds, np.int64)
    return kinds, rng.standard_normal(kinds.shape)


def test_default_filler_follows_the_reference_on_every_kind_pair():
    rng = np.random.default_rng(0)
    for lo in range(3):
        for hi in range(3):
            if (lo == 0) != (hi == 0):
                continue           # periodic is a property of the axis, both sides
            kinds, values = _tables(rng, [[[lo, hi], [hi, lo]], [[2, 2], [1, 1]]])
            yp = rng.standard_normal((2, 9, 8))
            ref = yp.copy()
            halo_filler(2)(yp, 2, kinds, values)
            fill_halo_numpy(ref, 2, kinds, values)
            np.testing.assert_array_equal(yp, ref)


def test_a_new_rule_changes_the_compiled_host_filler_and_the_reference_alike():
    module = get_target("numba").load_module(numba_halo_source(ANTI, 16384), "nsk_halo_anti",
                                             kind="halo")
    rng = np.random.default_rng(1)
    kinds, values = _tables(rng, [[[3, 3], [1, 2]]])
    yp = rng.standard_normal((1, 10, 7))
    ref = yp.copy()
    module.fill_all(yp, 2, kinds, values)
    fill_halo_numpy(ref, 2, kinds, values, spec=ANTI)
    np.testing.assert_array_equal(yp, ref)
    # the antiperiodic ghosts really are minus the wrapped cells
    np.testing.assert_array_equal(yp[0, 0, 2:-2], -yp[0, 6, 2:-2])
    # the default spec refuses the unknown code, naming it
    with pytest.raises(BoundaryConditionError, match="unknown halo kind 3"):
        fill_halo_numpy(ref.copy(), 2, kinds, values)


def test_gpu_sources_print_every_rule():
    c = halo_source("float32", ANTI)
    py = runtime_source("float64", ANTI)
    for code in (0, 1, 2, 3):
        assert f"kind == {code}" in c and f"kind == {code}" in py
    assert "(float)(-source)" in c and "float64(-source)" in py
    # the default spec prints the three grid kinds, each once
    assert halo_source("float64").count("kind == ") == len(SPEC.rules) == 3


@needs_nvrtc
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cuda_halo_kernel_of_a_new_rule_compiles(dtype):
    ptx = compile_cuda_source(halo_source(dtype, ANTI), name="halo_anti.cu")
    assert b".entry" in ptx
