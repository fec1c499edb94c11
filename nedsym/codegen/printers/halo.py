"""Ghost-cell kernels printed from a :class:`~nedsym.codegen.ir.HaloSpec`.

The boundary rules (kind code, which interior cell a ghost reads, the ghost value) are stated
once, in :data:`nedsym.codegen.ir.HALO_RULES`; this module prints them for each language:

* :func:`python_ghost_lines`: the per-kind statements of a Python-syntax kernel (the numba
  host filler, the numba-cuda runtime kernel, the standalone export driver);
* :func:`c_ghost_lines`: the same in CUDA C (the CuPy halo kernel);
* :func:`numba_halo_source`: the whole host filler module of the numba target (axis by axis,
  corners included, parallel over large faces).

The NumPy reference (:func:`nedsym.codegen.halo.fill_halo_numpy`) evaluates the same rules.
"""

from __future__ import annotations

import sympy as sp
from sympy.printing.c import C99CodePrinter

from nedsym.codegen.ir import HaloSpec

__all__ = ["c_ghost_lines", "numba_halo_source", "python_ghost_lines"]


def _py(expr: sp.Expr) -> str:
    return sp.pycode(expr)


def python_ghost_lines(spec: HaloSpec, indent: str, read: str, write: str,
                       cast: str = "", setup: tuple[str, ...] = ()) -> list[str]:
    """``if kind == c: ...`` statements, one branch per rule of ``spec``.

    ``read``/``write`` are format strings with ``{src}``/``{g}`` for the source and ghost
    cell's index along the filled axis; the locals ``layer`` and ``datum`` must be defined,
    and ``wrap``/``mirror`` hold the two possible source indices. ``setup`` lines run inside
    each branch before the read (a per-cell loop header, for instance: then the statements
    are indented one level more). ``cast`` wraps the ghost value (``"float32"``)."""
    lines = []
    for n, (code, source, ghost) in enumerate(spec.branches(_py)):
        lines.append(f"{indent}{'if' if n == 0 else 'elif'} kind == {code}:")
        inner = indent + "    "
        for s in setup:
            lines.append(inner + s)
            if s.rstrip().endswith(":"):
                inner += "    "
        value = f"{cast}({ghost})" if cast else ghost
        lines.append(f"{inner}source = {read.format(src=source)}")
        lines.append(f"{inner}{write.format(g='g')} = {value}")
    return lines


class _GhostC(C99CodePrinter):
    def _print_Symbol(self, expr):
        return expr.name

    def _print_Integer(self, expr):
        return f"{int(expr)}.0"


def c_ghost_lines(spec: HaloSpec, indent: str, ctype: str) -> list[str]:
    """The CUDA C branches: ``source`` (``double``) read at ``src``, ghost written at ``g``;
    the value is computed in double and rounded once to ``ctype``."""
    lines = []
    for n, (code, source, ghost) in enumerate(spec.branches(_GhostC().doprint)):
        lines.append(f"{indent}{'if' if n == 0 else '} else if'} (kind == {code}) {{")
        lines.append(f"{indent}    const double source = (double)v[base + {source}*post];")
        lines.append(f"{indent}    v[base + g*post] = ({ctype})({ghost});")
    lines.append(f"{indent}}}")
    return lines


def numba_halo_source(spec: HaloSpec, parallel_face: int) -> str:
    """The numba target's host ghost filler: ``fill_sides``, ``fill_ghosts``, ``fill_all``
    (see :mod:`nedsym.codegen.halo` for the calling conventions).

    Example
    -------
    >>> src = numba_halo_source(HaloSpec(), 16384)
    >>> "def fill_ghosts(yp, halo, kinds, values, vmap, faces, slot):" in src
    True
    """
    rows = python_ghost_lines(
        spec, "        ", "v[i, {src}, j]", "v[i, {g}, j]",
        setup=("for q in range(q0, q1):", "i = q // post", "j = q - i * post",
               "datum = face[q] if use_face else value"))
    body = "\n".join(rows)
    return f'''"""nedsym ghost-cell filler (numba target), printed from the HaloSpec:
{spec.key()}
"""
import numba
from numba import prange
from numba.np.ufunc.parallel import _launch_threads

# the serial fillers below call a parallel one, so their cached code uses the threading
# layer's symbols: start it before any of them is loaded from the cache (otherwise a cached
# caller can fail with "Symbol not found: allocate_sched", or crash)
_launch_threads()

PARALLEL_FACE = {int(parallel_face)}


@numba.njit(cache=True)
def axis_view(yp, f, a):
    pre = 1
    for b in range(a):
        pre *= yp.shape[1 + b]
    npad = yp.shape[1 + a]
    post = yp[f].size // (pre * npad)
    return yp[f].reshape(yp[f].size).reshape((pre, npad, post))


@numba.njit(cache=True)
def fill_side_rows(v, halo, side, kind, value, face, use_face, q0, q1):
    npad = v.shape[1]
    n = npad - 2 * halo
    post = v.shape[2]
    for layer in range(halo):
        if side == 0:
            g = halo - 1 - layer
            wrap = halo + n - 1 - layer
            mirror = halo + layer
        else:
            g = halo + n + layer
            wrap = halo + layer
            mirror = halo + n - 1 - layer
{body}


@numba.njit(parallel=True, cache=True)
def fill_side_par(v, halo, side, kind, value, face, use_face):
    m = v.shape[0] * v.shape[2]
    if m * halo < PARALLEL_FACE:
        fill_side_rows(v, halo, side, kind, value, face, use_face, 0, m)
    else:
        nchunk = 64
        step = (m + nchunk - 1) // nchunk
        for c in prange(nchunk):
            fill_side_rows(v, halo, side, kind, value, face, use_face, c * step,
                           min(m, (c + 1) * step))


@numba.njit(cache=True)
def fill_sides(yp, depth, kinds, values, min_kind):
    for f in range(yp.shape[0]):
        for a in range(yp.ndim - 1):
            v = axis_view(yp, f, a)
            for side in range(2):
                if kinds[f, a, side] >= min_kind:
                    fill_side_par(v, depth, side, kinds[f, a, side], values[f, a, side],
                                  values[f, a], False)


@numba.njit(cache=True)
def fill_ghosts(yp, halo, kinds, values, vmap, faces, slot):
    for f in range(yp.shape[0]):
        for a in range(yp.ndim - 1):
            v = axis_view(yp, f, a)
            for side in range(2):
                m = vmap[f, a, side]
                if m < 0:
                    fill_side_par(v, halo, side, kinds[f, a, side], values[f, a, side],
                                  values[f, a], False)
                else:
                    fill_side_par(v, halo, side, kinds[f, a, side], 0.0, faces[m, slot], True)


@numba.njit(cache=True)
def fill_all(yp, halo, kinds, values):
    fill_sides(yp, halo, kinds, values, 0)
'''
