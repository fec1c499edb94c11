import time

import pytest
import sympy as sp
from kernels import allen_cahn_2d, coupled_2d, eps, h0, u

from nedsym.codegen import Mean, build_map_kernel, build_reduce_kernel, index_symbols
from nedsym.errors import CodegenError

i, j = index_symbols(2)


def test_index_symbols_and_ir_basics():
    ir = allen_cahn_2d()
    assert ir.kind == "map" and ir.fields == ("u",) and ir.ndim == 2
    assert ir.name.startswith("nsk_map_") and ir.name != "step"
    assert (0, (0, 0)) in ir.accesses and len(ir.accesses) == 5
    text = ir.pretty()
    assert "for (i, j) in interior" in text and "out[u] =" in text


def test_user_symbols_matched_by_name():
    # a plain Symbol("i") (no integer assumption) and a real eps are accepted
    ii, jj = sp.symbols("i j")
    ir = build_map_kernel(["u"], 1, {"u": sp.Symbol("eps", real=True) * u[ii + 1, jj]},
                          ["eps"], 2)
    assert ir.accesses == ((0, (1, 0)),)


@pytest.mark.parametrize("expr, match", [
    (u[i, j] * sp.Symbol("beta"), "unknown symbol 'beta'"),
    (sp.IndexedBase("w")[i, j], "unknown field 'w'"),
    (u[i + 2, j], "exceeds halo=1"),
    (u[i, j] * i, "index symbol 'i'"),
    (u[2 * i, j], "integer offset"),
    (sp.gamma(u[i, j]), "function 'gamma'"),
    (sp.Symbol("x0") * u[i, j], r"needs scalar\(s\) \['lo0'"),
    (Mean(Mean(u[i, j])), "nested Mean"),
])
def test_validation_errors(expr, match):
    with pytest.raises(CodegenError, match=match):
        build_map_kernel(["u"], 1, {"u": expr}, ["eps", "h0"], 2)


def test_other_validation_errors():
    with pytest.raises(CodegenError, match="unknown field"):
        build_map_kernel(["u"], 1, {"w": u[i, j]}, [], 2)
    with pytest.raises(CodegenError, match="'step'"):
        build_map_kernel(["u"], 1, {"u": u[i, j]}, [], 2, name="step")
    with pytest.raises(CodegenError, match="3 indices"):
        build_map_kernel(["u"], 1, {"u": u[i, j, i]}, [], 2)
    with pytest.raises(CodegenError, match="ndim"):
        build_map_kernel(["u"], 1, {"u": u[i]}, [], 4)
    with pytest.raises(CodegenError, match="scalar name 'u'"):
        build_map_kernel(["u"], 1, {"u": u[i, j]}, ["u"], 2)


def test_cse_and_power_bases():
    e = (u[i + 1, j] - u[i, j])**3 + sp.exp(u[i + 1, j] - u[i, j]) * eps**2
    ir = build_reduce_kernel(["u"], 1, e, ["eps"], 2)
    # the shared difference is one temporary, the power base is that temporary
    diffs = [s for s, rhs in ir.assignments if str(rhs) == str(u[i + 1, j] - u[i, j])]
    assert len(diffs) == 1
    assert str(ir.results[0]).count("u[") == 0
    # eps**2 is hoisted out of the point loop
    assert any(str(rhs) == str(eps**2) for _, rhs in ir.invariants)


def test_invariant_division_hoisted():
    ir = build_map_kernel(["u"], 1, {"u": (u[i - 1, j] + u[i + 1, j]) / h0**2}, ["h0"], 2)
    assert [str(rhs) for _, rhs in ir.invariants] == [str(h0**-2)]
    assert ir.results[0].has(ir.invariants[0][0])


def test_mean_becomes_prepass():
    ir = coupled_2d()
    assert [str(s) for s, _ in ir.means] == ["mean_0"]
    assert ir.means[0][1] == sp.IndexedBase("v")[i, j]**2
    assert ir.coords == (0,)
    assert "mean_0 = Mean(" in ir.pretty()


def test_huge_expression_builds_fast():
    rng = range(-3, 4)
    terms = [(k + 1) * u[i + a, j + b]**(1 + (a * b) % 4) for k, (a, b) in
             enumerate((a, b) for a in rng for b in rng)]
    big = sp.Add(*terms)
    expr = sum(sp.expand(big * u[i + a, j]) for a in range(-3, 4)) + big**3
    start = time.thread_time()   # CPU time of this thread: not the load of the machine
    ir = build_map_kernel(["u"], 3, {"u": expr}, [], 2)
    assert time.thread_time() - start < 10
    assert len(ir.accesses) == 49


def test_is_transcendental_counts_libm_calls_only():
    """Only what a compiled loop evaluates with one libm call per element counts: exp,
    tanh, erf, general powers. Constants, integer-valued powers, square roots and cheap
    functions (Abs, sign, Heaviside, Piecewise, Max, floor) do not."""
    from nedsym.codegen.passes import is_transcendental

    x, y = sp.symbols("x y", real=True)
    libm = [sp.tanh(x), sp.exp(-x**2), sp.erf(x) * x, x**1.5, x**y, 2**x,
            sp.Piecewise((sp.log(x), x > 1), (0, True)), sp.Max(sp.sin(x), 0)]
    cheap = [sp.Abs(x), sp.sign(x), sp.Heaviside(x, 0), sp.Max(x, 0), sp.floor(x),
             sp.Piecewise((x, x > 0), (0, True)), sp.sqrt(2) * x, x * sp.exp(2),
             x**2.0, x**-3, sp.sqrt(x * x + 1), 1 / sp.sqrt(x), x * y + 1, sp.Integer(3)]
    assert [e for e in libm if not is_transcendental(e)] == []
    assert [e for e in cheap if is_transcendental(e)] == []
