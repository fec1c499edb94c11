"""Generated libm replacements for compiled (numba) loops, and when they pay.

Numba without Intel's SVML evaluates ``math.tanh`` with one scalar C-library call per
element, and NumPy's ufuncs can be vectorized. :data:`TANH_SOURCE` is a tanh built from one
``exp`` per element, used by the compiled row kernels of depth models and the compiled
partials of network layers; :func:`compiled_tanh_pays` decides, once per process, whether
it beats NumPy's tanh on this machine (it does where NumPy has no vectorized float64 tanh
for the CPU).
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from nedsym.errors import CodegenError

__all__ = ["TANH_SOURCE", "compiled_tanh_pays", "compiled_loop_pays", "helper_lines"]

_JIT = 'cache=True, fastmath=False, error_model="numpy"'


def _tanh_source(terms: int = 13) -> str:
    """The compiled loops' tanh, written so that LLVM vectorizes the loop around it (no
    call, no branch):

    * ``e = exp(-2|v|)`` by range reduction, ``-2|v| = k ln2 + r`` with ``|r| <= ln2/2``
      (``k`` rounded by the 1.5·2^52 trick, ``ln2`` in two parts), ``expm1(r)`` from its
      Taylor polynomial of ``terms`` terms, and ``2^k`` built from the exponent bits of
      the rounding sum (``_nsd_pow2k``, an LLVM bitcast);
    * ``tanh|v| = -expm1(r) / (2 + expm1(r))`` when ``k = 0`` (small ``|v|``: no
      cancellation), else ``(1 - e) / (1 + e)``, blended arithmetically; ``|v|`` is
      capped at 20, where tanh is 1 in double precision; ``copysign`` restores the sign.

    Within 3 ulp of the exact tanh (tested against mpmath from 1e-300 to 1e3, and for
    signed zeros, ±inf and nan). Over 64 x 256 normal entries on the development VM (AMD
    EPYC, AVX2): 77 µs, where NumPy 2.4's tanh took 256 µs (no vectorized float64 tanh
    for that CPU) and math.tanh, the C library's, 355 µs."""
    coefs = [repr(float(sp.Rational(1, sp.factorial(k + 1)))) for k in range(terms)]
    horner = coefs[-1]
    for c in reversed(coefs[:-1]):
        horner = f"({horner}) * r + {c}"
    return "\n".join([
        "from llvmlite import ir as _nsd_ir",
        "from numba import types as _nsd_types",
        "from numba.extending import intrinsic as _nsd_intrinsic",
        "",
        "",
        "@_nsd_intrinsic",
        "def _nsd_pow2k(typingctx, t):",
        '    """2**k for t = k + 1.5 * 2**52: (low bits of t + 1023) shifted into the',
        '    exponent field."""',
        "    def codegen(context, builder, signature, args):",
        "        i64 = _nsd_ir.IntType(64)",
        "        bits = builder.bitcast(args[0], i64)",
        "        bits = builder.shl(builder.add(bits, _nsd_ir.Constant(i64, 1023)),",
        "                           _nsd_ir.Constant(i64, 52))",
        "        return builder.bitcast(bits, _nsd_ir.DoubleType())",
        "    return _nsd_types.float64(_nsd_types.float64), codegen",
        "",
        "",
        f"@njit({_JIT})",
        "def _nsd_tanh(v):",
        "    a = min(abs(v), 20.0)",
        "    y = -2.0 * a",
        "    t = y * 1.4426950408889634 + 6755399441055744.0",
        "    k = t - 6755399441055744.0",
        "    r = (y - k * 0.6931471803691238) - k * 1.9082149292705877e-10",
        f"    em1 = r * ({horner})",
        "    e = _nsd_pow2k(t) * (1.0 + em1)",
        "    m = 1.0 if k == 0.0 else 0.0",
        "    num = m * (-em1) + (1.0 - m) * (1.0 - e)",
        "    den = m * (2.0 + em1) + (1.0 - m) * (1.0 + e)",
        "    return math.copysign(num / den, v)"])


TANH_SOURCE = _tanh_source()


def compiled_loop_pays(exprs) -> bool:
    """Whether a compiled (numba) loop should evaluate ``exprs`` rather than NumPy's ufuncs:
    they call no libm function (polynomials, ``Max``, ``Abs``, ... compile to a few
    instructions), or tanh alone where the generated tanh is the faster one here
    (:func:`compiled_tanh_pays`). Any other libm call is a scalar C-library call per
    element in numba, where NumPy's ufuncs can be vectorized."""
    from nedsym.codegen.passes import libm_calls

    calls = libm_calls(list(exprs))
    return not calls or (calls == {sp.tanh} and compiled_tanh_pays())


def helper_lines(texts) -> list[str]:
    """The module lines defining the generated functions that the printed ``texts`` call
    (``_nsd_tanh``), followed by two blank lines; none when they call none."""
    if any("_nsd_tanh(" in text for text in texts):
        return TANH_SOURCE.splitlines() + ["", ""]
    return []

_TANH_PAYS: bool | None = None


def compiled_tanh_pays() -> bool:
    """Whether the compiled loops' tanh (``TANH_SOURCE``) is faster than NumPy's on
    this machine: measured once per process on 64 x 256 entries (best of 5 each), the
    compiled one chosen when it takes under 0.8 of NumPy's time. NumPy builds with a
    vectorized tanh for the CPU (AVX-512 machines) keep NumPy; others take the compiled
    loop. ``NEDSYM_ROW_TANH=numpy`` or ``=numba`` fixes the choice."""
    global _TANH_PAYS
    if _TANH_PAYS is None:
        import os
        import time

        fixed = os.environ.get("NEDSYM_ROW_TANH", "").strip().lower()
        if fixed in ("numpy", "numba"):
            _TANH_PAYS = fixed == "numba"
            return _TANH_PAYS
        if fixed:
            raise CodegenError(f"NEDSYM_ROW_TANH must be 'numpy' or 'numba', got {fixed!r}")
        from nedsym.codegen.targets import get_target

        src = "\n".join(["import math", "", "from numba import njit", "", "",
                         TANH_SOURCE, "", "", f"@njit({_JIT})", "def probe(z, o):",
                         "    for r in range(o.shape[0]):",
                         "        for i in range(o.shape[1]):",
                         "            o[r, i] = _nsd_tanh(z[r, i])", ""])
        probe = get_target("numba").load_module(src, "nsd_probe_tanh", kind="batch").probe
        Z = np.linspace(-4.0, 4.0, 64 * 256).reshape(64, 256)
        O = np.empty_like(Z)

        def best(fn):
            fn()
            times = []
            for _ in range(5):
                t0 = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t0)
            return min(times)

        compiled = best(lambda: probe(Z, O))
        _TANH_PAYS = compiled < 0.8 * best(lambda: np.tanh(Z, out=O))
    return _TANH_PAYS
