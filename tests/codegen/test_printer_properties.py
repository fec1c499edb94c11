"""Property test: the numpy printer evaluates random expressions exactly as sympy does.

Catches precedence and literal bugs shared by all printers (they share the base rules).
``Mod`` is left out (discontinuous: float rounding flips it); test_printers covers it.
"""

import numpy as np
import sympy as sp
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from nedsym.codegen import build_map_kernel, compile_kernel, index_symbols

(i,) = index_symbols(1)
u = sp.IndexedBase("u")
a = sp.Symbol("a")
VALUES = np.array([0.65, 1.3, 0.9, 1.1, 0.6, 1.45])
A = 1.25

leaves = st.one_of(
    st.sampled_from([u[i - 1], u[i], u[i + 1], a]),
    st.integers(-3, 3).map(sp.Integer),
    st.sampled_from([sp.Rational(1, 3), sp.Float(0.25), sp.Rational(-5, 2)]),
)


def _extend(children):
    pair = st.tuples(children, children)
    return st.one_of(
        pair.map(lambda t: t[0] + t[1]),
        pair.map(lambda t: t[0] - t[1]),
        pair.map(lambda t: t[0] * t[1]),
        st.tuples(children, st.integers(-3, 4)).map(lambda t: t[0] ** t[1]),
        pair.map(lambda t: sp.Max(t[0], t[1])),
        children.map(lambda c: sp.exp(-c**2)),
        children.map(lambda c: -c),
    )


exprs = st.recursive(leaves, _extend, max_leaves=8)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(exprs)
def test_numpy_printer_matches_sympy(expr):
    assume(not expr.has(sp.zoo, sp.nan, sp.oo, -sp.oo))
    ir = build_map_kernel(["u"], 1, {"u": expr}, ["a"], 1)
    out = np.empty((1, len(VALUES) - 2))
    with np.errstate(all="ignore"):
        compile_kernel(ir, "numpy")(VALUES[None].copy(), out, A)
    for p in range(len(VALUES) - 2):
        subs = {u[i - 1]: sp.Float(VALUES[p]), u[i]: sp.Float(VALUES[p + 1]),
                u[i + 1]: sp.Float(VALUES[p + 2]), a: sp.Float(A)}
        at_p = expr.xreplace(subs)
        val = complex(sp.N(at_p, 30))
        assume(abs(val.imag) < 1e-12 and np.isfinite(val.real) and abs(val.real) < 1e12)
        assume(np.isfinite(out[0, p]))
        # float64 rounding of the largest intermediate bounds the error (cancellation)
        parts = (e.xreplace(subs) for e in sp.preorder_traversal(expr)
                 if isinstance(e, sp.Expr) and not isinstance(e, (sp.Idx, sp.IndexedBase)))
        biggest = max((abs(complex(sp.N(e, 20))) for e in parts if e.is_number), default=1.0)
        np.testing.assert_allclose(out[0, p], val.real, rtol=1e-9,
                                   atol=1e-12 * max(1.0, biggest))
