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

__all__ = ["TANH_SOURCE", "compiled_tanh_pays"]

_JIT = 'cache=True, fastmath=False, error_model="numpy"'


def _tanh_source(terms: int = 9, switch: float = 0.2) -> str:
    """The compiled loops' tanh: for ``|v| < switch`` the odd Taylor polynomial of
    ``terms`` terms (coefficients 2^2k (2^2k - 1) B_2k / (2k)!, from the Bernoulli numbers),
    else ``(1 - e) / (1 + e)`` with ``e = exp(-2|v|)``; both are evaluated and one is
    selected (no branch to mispredict), the sign restored by ``copysign``. One exp per
    element: within 3 ulp of tanh over 1e-300..1e3 (measured against mpmath), signed zeros,
    ±inf and nan as NumPy's; 147 µs over 64 x 256 normal entries on the development VM
    (AMD EPYC), where math.tanh (the C library's) took 355 µs and NumPy 2.4's tanh 267 µs
    (that NumPy build has no vectorized float64 tanh for this CPU; a build that has one is
    faster still, see :func:`compiled_tanh_pays`)."""
    coefs = []
    for k in range(1, terms + 1):
        c = 2**(2 * k) * (2**(2 * k) - 1) * sp.bernoulli(2 * k) / sp.factorial(2 * k)
        coefs.append(repr(float(c)))
    horner = coefs[-1]
    for c in reversed(coefs[:-1]):
        horner = f"({horner}) * s + {c}"
    return "\n".join([
        f"@njit({_JIT})",
        "def _tanh(v):",
        "    a = abs(v)",
        "    s = a * a",
        f"    p = a * ({horner})",
        "    e = math.exp(-2.0 * a)",
        "    q = (1.0 - e) / (1.0 + e)",
        f"    return math.copysign(p if a < {switch!r} else q, v)"])


TANH_SOURCE = _tanh_source()

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
                         "            o[r, i] = _tanh(z[r, i])", ""])
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
