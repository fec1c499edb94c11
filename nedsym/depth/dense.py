r"""Dense layers found in a declared depth model: matrix products by BLAS, the rest generated.

A right-hand side written with parameter matrices, such as
``(W*x + b).applyfunc(sp.tanh)``, is a sum :math:`z_i = \sum_j W_{ij} v_j` in every
component. Expanded into scalars, its adjoint is :math:`O(n^2)` generated statements
per sample, slow to derive (minutes at width 64), slow to compile and slower than
matrix products. :func:`find_dense_layers` recognises every such sum in the
expressions (nested ones too: ``W2*tanh(W1*x + b1)``) and rewrites the model as

.. math:: Z_l = W_l\,V_l(x, Z_{<l}),\qquad F = \tilde F(x, Z_1, \dots, Z_L),

and :class:`DenseProgram` evaluates it with generated pointwise kernels (the
package's batch kernels: :math:`V_l`, :math:`\tilde F`, their derivatives) between
BLAS products:

* forward: :math:`Z_l = W_l V_l`;
* adjoint (reverse mode through the layers, :math:`H = p\cdot F - L`):
  :math:`\bar Z_l = \partial_{Z_l}\tilde H + \dots`,
  :math:`\sum_b \partial H/\partial W_l = \bar Z_l V_l^{\mathsf T}`,
  :math:`\bar V_l = W_l^{\mathsf T}\bar Z_l`, pushed through :math:`V_l` by a
  generated kernel;
* tangent: :math:`\dot Z_l = W_l \dot V_l`.

Only the pointwise expressions are differentiated symbolically, so deriving and
compiling cost seconds at width 64. The forward pass can keep each stage's
:math:`Z_l, V_l` (``keep=True``) for the adjoint, which then needs no recomputation.

A matrix is treated densely when each of its entries occurs only as a
coefficient in such a full row sum, with the same vector :math:`v` in every row, or
in a full column sum :math:`\sum_i W_{ij} v_i` (a transposed product ``W.T*v``, as in
the Hamiltonian networks :math:`\dot x = W^{\mathsf T}\sigma(Wx + b)`). A matrix
used otherwise (``W[0, 0]**2`` inside the dynamics) is expanded into scalars as
before. Terms of the running cost that
depend on the parameters alone (weight decay) are split off and differentiated
once per call, not per sample.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import sympy as sp

from nedsym.arena import empty as arena_empty
from nedsym.codegen.libm import compiled_loop_pays
from nedsym.depth.kernels import BatchKernel, build_batch_kernel, build_row_kernel
from nedsym.errors import ConfigError

__all__ = ["DenseLayer", "DenseProgram", "find_dense_layers"]


@dataclass(frozen=True)
class DenseLayer:
    r"""One product :math:`Z = W V`: the matrix ``param`` (``rows × cols``, entries
    ``theta[sl]`` row-major), the new per-sample symbols ``z`` and the vector ``v``.

    ``gather``: when every :math:`v_j` is a state or an earlier :math:`z` symbol, their
    positions in the program's symbol list (no kernel is needed for :math:`V`).
    ``transposed``: the product is :math:`Z = W^{\mathsf T} V` (column sums
    :math:`\sum_i W_{ij} v_i`, as in ``W.T*x``); ``rows × cols`` are then the product's,
    ``W``'s transposed."""

    param: str
    rows: int
    cols: int
    sl: slice
    z: tuple[sp.Symbol, ...]
    v: tuple[sp.Expr, ...]
    gather: tuple[int, ...] | None = None
    transposed: bool = False


class _Rewriter:
    """Bottom-up replacement of full row sums ``Σ_j W_ij v_j`` (and column sums
    ``Σ_i W_ij v_i``, ``W.T*v``) by new symbols."""

    def __init__(self, mats: dict, info: dict, taken: set[str]):
        self.mats = mats  # entry symbol -> (matrix name, i, j)
        self.info = info  # matrix name -> (rows, cols, slice)
        self.layers: list[DenseLayer] = []
        self._by_key: dict = {}
        self._memo: dict = {}
        self._taken = taken

    def _symbol(self, name: str) -> sp.Symbol:
        return fresh_symbol(name, self._taken)

    def __call__(self, e: sp.Expr) -> sp.Expr:
        hit = self._memo.get(e)
        if hit is not None:
            return hit
        if not e.args:
            out = e
        else:
            args = [self(a) for a in e.args]
            out = e if all(a is b for a, b in zip(args, e.args, strict=True)) else e.func(*args)
            if isinstance(out, sp.Add):
                out = self._matvec(out)
        self._memo[e] = out
        return out

    def _split(self, term):
        """``(matrix, i, j, coefficient)`` when ``term`` is one entry times a factor free of
        matrix entries, else None."""
        if term in self.mats:
            return (*self.mats[term], sp.Integer(1))
        if not isinstance(term, sp.Mul):
            return None
        entries = [f for f in term.args if f in self.mats]
        if len(entries) != 1:
            return None
        rest = sp.Mul(*[f for f in term.args if f is not entries[0]])
        if any(s in self.mats for s in rest.free_symbols):
            return None
        return (*self.mats[entries[0]], rest)

    def _matvec(self, add: sp.Add) -> sp.Expr:
        hits = [(term, self._split(term)) for term in add.args]
        used, new = set(), []
        # full row sums Σ_j W_ij v_j first, then full column sums Σ_i W_ij v_i (W.T*x) among
        # the terms left
        for transposed in (False, True):
            groups: dict = defaultdict(dict)
            bad = set()
            for term, hit in hits:
                if hit is None or id(term) in used:
                    continue
                name, i, j, coef = hit
                row, col = (j, i) if transposed else (i, j)
                if col in groups[(name, row)]:
                    bad.add((name, row))
                groups[(name, row)][col] = (term, coef)
            for (name, row), cols in groups.items():
                size = self.info[name][0 if transposed else 1]
                if (name, row) in bad or len(cols) != size or size < 2:
                    continue
                v = tuple(cols[c][1] for c in range(size))
                layer = self._layer(name, v, transposed)
                used.update(id(t) for t, _ in cols.values())
                new.append(layer.z[row])
        if not new:
            return add
        return sp.Add(*[t for t in add.args if id(t) not in used], *new)

    def _layer(self, name: str, v: tuple, transposed: bool = False) -> DenseLayer:
        key = (name, v, transposed)
        if key not in self._by_key:
            rows, cols, sl = self.info[name]
            if transposed:
                rows, cols = cols, rows
            idx = len(self.layers)
            z = tuple(self._symbol(f"z{idx}_{i}") for i in range(rows))
            layer = DenseLayer(name, rows, cols, sl, z, v, transposed=transposed)
            self.layers.append(layer)
            self._by_key[key] = layer
        return self._by_key[key]


def row_outputs(targets, nk: int):
    """Where the ``nk`` outputs of a row plan's kernel go: ``owner[j]``, the first map row
    output ``j`` is written into in place (None: a temporary), and ``post``, the
    ``(kind, start, j)`` targets filled from the outputs after the call (sums over the batch,
    further copies of an output)."""
    owner = [None] * nk
    for kind, start, _, j in targets:  # maps are written in place, into their rows
        if kind == "map" and owner[j] is None:
            owner[j] = start
    post = [(kind, start, j) for kind, start, _, j in targets
            if kind != "map" or owner[j] != start]
    return owner, post


def fresh_symbol(name: str, taken: set[str]) -> sp.Symbol:
    """A real symbol called ``name`` (prefixed by underscores until no name in ``taken``
    is the same), recorded in ``taken``: generated names never meet the user's."""
    while name in taken:
        name = "_" + name
    taken.add(name)
    return sp.Symbol(name, real=True)


def find_dense_layers(rhs, running_cost, param_items, state, reserved=()):
    r"""Find the dense layers of :math:`\dot x = F`, :math:`L`.

    ``param_items``: ``[(name, item, slice, shape)]`` (a matrix item has a 2-D shape,
    entries ``theta[slice]`` row-major); ``reserved``: further names in use (costates,
    data). Returns ``(layers, rhs, L_sample, L_params, taken)``: the layers, the rows
    rewritten in the new symbols, the running cost split into its per-sample part and
    its parameters-only part, and the set of names in use; ``None`` when no matrix is
    dense.
    """
    state = tuple(state)
    candidates = {}
    for name, item, sl, shape in param_items:
        if len(shape) == 2 and shape[1] >= 2:
            candidates[name] = (item, sl, shape)
    if not candidates:
        return None
    L = sp.sympify(running_cost)
    per_sample = set(state)
    L_terms = sp.Add.make_args(L)
    L_params = sp.Add(*[t for t in L_terms if not t.free_symbols & per_sample])
    L_sample = sp.Add(*[t for t in L_terms if t.free_symbols & per_sample])
    taken = {str(s) for e in (*rhs, L) for s in e.free_symbols} | {str(s) for s in state}
    taken |= set(map(str, reserved))
    def attempt(names):
        """One rewrite with the matrices ``names`` dense: ``(rewriter, rhs, L, misused)``."""
        mats, info = {}, {}
        for name in names:
            item, sl, shape = candidates[name]
            rows, cols = shape
            for i in range(rows):
                for j in range(cols):
                    mats[item[i, j]] = (name, i, j)
            info[name] = (rows, cols, sl)
        rw = _Rewriter(mats, info, set(taken))
        new_rhs = tuple(rw(sp.sympify(f)) for f in rhs)
        new_L = rw(L_sample)
        misused = {mats[s][0] for e in (*new_rhs, new_L) for s in e.free_symbols if s in mats}
        return rw, new_rhs, new_L, misused

    # a matrix whose entries are still there after the rewrite is used otherwise and becomes
    # scalars. Its entries also block the row sums of a matrix whose vector contains them, so
    # everything left is first made scalar, then each one is tried again on its own
    dense = list(candidates)
    rw, new_rhs, new_L, misused = attempt(dense)
    demoted = []
    while misused:
        demoted += [m for m in dense if m in misused]
        dense = [m for m in dense if m not in misused]
        rw, new_rhs, new_L, misused = attempt(dense)
    for name in demoted:
        trial = attempt([*dense, name])
        if not trial[3]:
            dense.append(name)
            rw, new_rhs, new_L, misused = trial
    if not any(la.param in dense for la in rw.layers):
        return None
    layers = _with_gather(rw.layers, state)
    return layers, new_rhs, new_L, L_params, rw._taken


def _with_gather(layers, state):
    """Mark the layers whose vector is a plain copy of earlier symbols."""
    pos = {s: k for k, s in enumerate(state)}
    out = []
    for layer in layers:
        g = tuple(pos.get(v, -1) for v in layer.v)
        gather = g if min(g) >= 0 and len(set(g)) == len(g) else None
        out.append(DenseLayer(layer.param, layer.rows, layer.cols, layer.sl, layer.z, layer.v,
                              gather, layer.transposed))
        for zi in layer.z:
            pos[zi] = len(pos)
    return out


def _worth_keeping(e) -> bool:
    """A forward value worth keeping for the adjoint: one with a function call in it (an
    activation), not a symbol, a number or a polynomial."""
    return not e.is_Atom and bool(e.atoms(sp.Function))


def _d(terms, syms):
    """``{symbol: Σ over terms containing it of coef * ∂expr/∂symbol}`` for ``terms`` given
    as ``[(coef, expr)]`` (sparse chain rule: only terms that use the symbol are walked)."""
    out = {}
    for s in syms:
        acc = [c * sp.diff(e, s) for c, e in terms if s in e.free_symbols]
        out[s] = sp.Add(*acc) if acc else sp.Integer(0)
    return out


class DenseProgram:
    r"""The rewritten model evaluated by generated pointwise kernels and BLAS products.

    Built by :class:`~nedsym.depth.DepthODE` when :func:`find_dense_layers` finds
    layers; its methods have the DepthODE callables' signatures (``X`` of shape
    ``(n, B)``, ``theta`` one step's parameter vector).
    """

    def __init__(self, layers, rhs, L_sample, L_params, state, costate, params, time,
                 backend: str, taken: set[str], vectors=()):
        self.layers = tuple(layers)
        self._taken = set(taken) | {str(s) for s in (*state, *costate, *params, time)}
        self.state, self.costate = tuple(state), tuple(costate)
        self.rhs, self.L_sample, self.L_params = tuple(rhs), L_sample, L_params
        self.time, self.backend = time, backend
        params = tuple(params)
        dense = {s for la in self.layers for s in params[la.sl]}
        self.nparams = len(params)
        self._scalar_idx = np.array([k for k, q in enumerate(params) if q not in dense],
                                    dtype=np.intp)
        self.scalars = tuple(params[k] for k in self._scalar_idx)
        self._rparams_idx = np.array([k for k, q in enumerate(params)
                                      if q in L_params.free_symbols], dtype=np.intp)
        self.rparams = tuple(params[k] for k in self._rparams_idx)
        n = len(self.state)
        self.n = n
        self.zs = tuple(z for la in self.layers for z in la.z)
        offs, k = [], 0
        for la in self.layers:
            offs.append(slice(k, k + la.rows))
            k += la.rows
        self._zrows = tuple(offs)
        self.nz = k
        self._k: dict[str, BatchKernel] = {}
        self._vbars = [tuple(fresh_symbol(f"vbar{l_}_{j}", self._taken) for j in range(la.cols))
                       for l_, la in enumerate(self.layers)]
        self._dot_syms = tuple(fresh_symbol(f"dot_{s.name}", self._taken)
                               for s in self.state + self.zs)
        # what a forward pass keeps for the adjoint: F's rows ("k") and each computed layer
        # vector ("vv<l>"); an adjoint kernel reads them instead of re-evaluating them
        self._kept = {"k": (tuple(fresh_symbol(f"k{j}", self._taken) for j in range(n)),
                            self.rhs)}
        for l_, la in enumerate(self.layers):
            if la.gather is None:
                self._kept[f"vv{l_}"] = (tuple(fresh_symbol(f"vv{l_}_{j}", self._taken)
                                               for j in range(la.cols)), la.v)
        self._families(params, vectors)
        self._rows: dict = {}
        # name -> the arguments of build_row_kernel of its row plan's kernel (and its tag):
        # the compiled gradient (nedsym.depth.fused) prints a NumPy row kernel for numba
        self._row_specs: dict = {}
        self._reuse: dict[str, bool] = {}
        self._kept_by: dict[str, list[str]] = {}
        self._specs: dict = {}
        self._runners: dict = {}    # kernel name -> its evaluation, prepared once
        self._vbar = None
        self._gathers: dict = {}    # (gather, prefix) -> where a gathered V comes from
        self._transient_cache = None

    def __getstate__(self):
        # the prepared evaluations are closures (not picklable) and the decisions cached with
        # them are derived again on first use
        state = dict(self.__dict__)
        state.update(_runners={}, _vbar=None, _gathers={})
        return state

    # -- kernels --------------------------------------------------------------------
    def kernel(self, name: str) -> BatchKernel:
        """The pointwise kernel ``name`` (built on first use, cached on disk): ``"rhs"``
        (:math:`\\tilde F`), ``"adj_rhs"``, ``"tan_rhs"``, ``"v<l>"``, ``"adj_v<l>"``,
        ``"tan_v<l>"`` (layer ``l``'s vector, its adjoint and tangent), ``"running_cost"``,
        ``"params"`` (the parameters-only cost and its gradient)."""
        if name not in self._k:
            fields, maps, sums, params, backend = self._spec(name)
            self._k[name] = build_batch_kernel(
                fields, self.scalars if params is None else params, self.time, maps, sums,
                backend=backend or self.backend, tag=f"dense_{name}")
        return self._k[name]

    def _spec(self, name, reuse: bool | None = None):
        """``(fields, maps, sums, params, backend)`` of kernel ``name`` (derived once); an
        adjoint kernel reads the kept forward values (``reuse``, default: what its row plan
        chose)."""
        adjoint = name == "adj_rhs" or name.startswith("adj_v")
        if reuse is None:
            reuse = self._reuse.get(name, True)
        key = (name, bool(reuse and adjoint))
        if key not in self._specs:
            self._specs[key] = self._derive_spec(name, key[1])
        return self._specs[key]

    def _derive_spec(self, name, reuse: bool):
        spec = self._spec_plain(name)
        if not reuse:
            return spec
        fields, maps, sums, params, backend = spec
        repl, extra = {}, []
        for key, (ksyms, exprs) in self._kept.items():
            pairs = [(e, k) for e, k in zip(exprs, ksyms, strict=True) if _worth_keeping(e)]
            if pairs:
                repl.update(pairs)
                extra.append(key)
        if not repl:
            return spec
        maps = [e.xreplace(repl) for e in maps]
        sums = [e.xreplace(repl) for e in sums]
        used = set().union(*(e.free_symbols for e in (*maps, *sums)))
        keys = [key for key in extra if used & set(self._kept[key][0])]
        fields = tuple(fields) + tuple(k for key in keys for k in self._kept[key][0])
        return fields, maps, sums, params, backend

    def kept_families(self, name) -> list[str]:
        """The kept forward values (``"k"``, ``"vv<l>"``) kernel ``name`` reads (decided with
        its row plan, once)."""
        hit = self._kept_by.get(name)
        if hit is None:
            self._row_plan(name)  # decides whether it reads them
            fields = set(self._spec(name)[0])
            hit = [key for key, (ksyms, _) in self._kept.items() if fields & set(ksyms)]
            self._kept_by[name] = hit
        return hit

    def _needs_k(self) -> bool:
        """Whether any adjoint kernel reads F's kept rows (a vjp without them computes F)."""
        names = ["adj_rhs"] + [f"adj_v{l_}" for l_, la in enumerate(self.layers)
                               if la.gather is None]
        return any("k" in self.kept_families(name) for name in names)

    def _spec_plain(self, name):
        syms = self.state + self.zs
        if name == "rhs":
            return syms, self.rhs, (), None, None
        if name == "running_cost":
            return syms, [self.L_sample], (), None, None
        if name == "params":
            sums = [sp.diff(self.L_params, q) for q in self.rparams]
            return (), [self.L_params], sums, self.rparams, "numpy"
        if name == "adj_rhs":
            H = [(p, f) for p, f in zip(self.costate, self.rhs, strict=True)]
            H.append((sp.Integer(-1), self.L_sample))
            d = _d(H, syms + self.scalars)
            return (self.state + self.costate + self.zs, [d[s] for s in syms],
                    [d[s] for s in self.scalars], None, None)
        if name == "tan_rhs":
            return self._tangent_spec(self.rhs)
        for prefix in ("adj_v", "tan_v", "v"):
            if name.startswith(prefix) and name[len(prefix):].isdigit():
                l_ = int(name[len(prefix):])
                if l_ < len(self.layers):
                    break
        else:
            raise ConfigError(f"unknown dense kernel {name!r}")
        la = self.layers[l_]
        if prefix == "v":
            return syms, la.v, (), None, None
        if prefix == "tan_v":
            return self._tangent_spec(la.v)
        vbar = self._vbars[l_]
        d = _d(list(zip(vbar, la.v, strict=True)), syms + self.scalars)
        return syms + vbar, [d[s] for s in syms], [d[s] for s in self.scalars], None, None

    def _tangent_spec(self, exprs):
        syms = self.state + self.zs
        maps = [sp.Add(*[sp.diff(e, s) * ds for s, ds in zip(syms, self._dot_syms, strict=True)
                         if s in e.free_symbols]) for e in exprs]
        return syms + self._dot_syms, maps, (), None, None

    def _names(self) -> list[str]:
        names = ["rhs", "adj_rhs", "tan_rhs"]
        for l_, la in enumerate(self.layers):
            if la.gather is None:
                names += [f"v{l_}", f"adj_v{l_}", f"tan_v{l_}"]
        if self.L_sample != 0:
            names.append("running_cost")
        if self.L_params != 0:
            names.append("params")
        return names

    def row_kernels(self) -> dict:
        """``{name: RowKernel}`` for every kernel of the program that is one expression
        repeated over the rows (built on first use)."""
        out = {}
        for name in self._names():
            plan = self._row_plan(name)
            if plan is not None and plan[0]:
                out[name] = plan[0][1]
        return out

    def source(self) -> str:
        """A readable account of the program and the generated source of its kernels (the
        row kernels where the rows share one expression, else the unrolled ones)."""
        lines = ["# dense program: generated pointwise kernels between matrix products"]
        for l_, la in enumerate(self.layers):
            what = "gathered from earlier rows" if la.gather is not None else f"kernel v{l_}"
            M = f"{la.param}.T" if la.transposed else la.param
            MT = la.param if la.transposed else f"{la.param}.T"
            grad = f"(Zbar{l_} @ V{l_}.T).T" if la.transposed else f"Zbar{l_} @ V{l_}.T"
            lines.append(f"#   Z{l_} = {M} @ V{l_}   ({la.rows}x{la.cols}; V{l_}: {what})")
            lines.append(f"#   adjoint: dJ/d{la.param} from {grad}, Vbar{l_} = {MT} @ Zbar{l_}")
        parts = ["\n".join(lines)]
        rows = self.row_kernels()
        for name in self._names():
            k = rows.get(name)
            if k is None and self._row_plan(name) is not None:
                parts.append(f"# ---- kernel {name}: every output is zero ----")
                continue
            k = k or self.kernel(name)
            parts.append(f"# ---- kernel {name} ----\n{k.source()}")
        return "\n".join(parts)

    # -- row templates ------------------------------------------------------------------
    def _families(self, params, vectors):
        """Index the per-row symbol families: state, costate, each layer's z, its v̄, the
        tangents, and the parameter vectors among the scalars (``vectors``:
        ``[(name, slice of θ)]``)."""
        n = self.n
        fams = [("x", self.state), ("p", self.costate), ("dot_x", self._dot_syms[:n])]
        for l_, la in enumerate(self.layers):
            rows = self._zrows[l_]
            fams += [(f"z{l_}", la.z), (f"vbar{l_}", self._vbars[l_]),
                     (f"dot_z{l_}", self._dot_syms[n + rows.start:n + rows.stop])]
        fams += [(key, ksyms) for key, (ksyms, _) in self._kept.items()]
        pos = {k: j for j, k in enumerate(self._scalar_idx)}
        self._vector_pos = {}
        for name, sl in vectors:
            idx = [pos.get(k) for k in range(sl.start, sl.stop)]
            if None in idx or len(idx) < 2:
                continue
            fams.append((f"param:{name}", tuple(params[sl])))
            self._vector_pos[f"param:{name}"] = np.array(idx, dtype=np.intp)
        self._fam = {key: syms for key, syms in fams}
        self._fam_of = {s: (key, i) for key, syms in fams for i, s in enumerate(syms)}
        self._rep = {key: fresh_symbol(f"row_{key.replace(':', '_')}", self._taken)
                     for key, _ in fams}
        # the sums come in the scalars' order: one group per parameter vector, else single
        groups, k = [], 0
        while k < len(self.scalars):
            key = self._fam_of.get(self.scalars[k], (None,))[0]
            size = len(self._fam[key]) if key in self._vector_pos else 1
            groups.append(size)
            k += size
        self._sum_groups = groups

    def _map_groups(self, name):
        if name in ("adj_rhs",) or name.startswith("adj_v"):
            return [self.n] + [la.rows for la in self.layers]
        if name in ("rhs", "tan_rhs"):
            return [self.n]
        if name.startswith(("v", "tan_v")):
            return [self.layers[int(name.rsplit("v", 1)[1])].cols]
        return None

    def _template(self, exprs):
        """The one expression in the row symbols that every row of ``exprs`` is, or None."""
        r, T = len(exprs), None
        for i, e in enumerate(exprs):
            Ti = self._template_row(e, i, r)
            if Ti is None or (T is not None and Ti != T):
                return None
            T = Ti
        return T

    def _rowsum_template(self, e):
        r"""``(T, R)`` when ``e`` is :math:`\sum_{i<R} T(\text{row } i)`, one expression in the
        row symbols summed over ``R`` rows (each term reads the symbols of one row only),
        else ``(None, 0)``."""
        terms = sp.Add.make_args(e)
        hit = self._rowsum_of(terms)
        if hit[0] is None and any(isinstance(t, sp.Mul) for t in terms):
            # a factor over a sum, as in a**2 * (x0**2 + x1**2 + ...): distributed once
            flat = [u for t in terms for u in sp.Add.make_args(sp.expand_mul(t, deep=False))]
            hit = self._rowsum_of(flat)
        return hit

    def _rowsum_of(self, terms):
        by_row: dict = defaultdict(list)
        R = None
        for term in terms:
            rows = set()
            for sym in term.free_symbols:
                key, idx = self._fam_of.get(sym, (None, None))
                if key is None:
                    continue
                size = len(self._fam[key])
                if R is None:
                    R = size
                if size != R:
                    return None, 0
                rows.add(idx)
            if len(rows) != 1:
                return None, 0  # a constant term, or one that mixes rows
            by_row[rows.pop()].append(term)
        if R is None or len(by_row) != R:
            return None, 0
        T = None
        for i in range(R):
            Ti = self._template_row(sp.Add(*by_row[i]), i, R)
            if Ti is None or (T is not None and Ti != T):
                return None, 0
            T = Ti
        return T, R

    def _template_row(self, e, i, R):
        """``e`` (an expression of row ``i`` of ``R``) in the row symbols, or None."""
        repl = {}
        for sym in e.free_symbols:
            key, idx = self._fam_of.get(sym, (None, None))
            if key is None:
                continue  # time or a lone scalar parameter: shared by all rows
            if idx != i or len(self._fam[key]) != R:
                return None
            repl[sym] = self._rep[key]
        return e.xreplace(repl)

    def _row_plan(self, name):
        """The kernel ``name`` as ``(entry, zero rows)``: ``entry`` is one row kernel
        evaluating every output over all rows and samples at once (None when every output
        is zero), the zero rows are the map rows it does not write; None when some output is
        not one expression repeated over the rows."""
        if name in self._rows:
            return self._rows[name]
        plan = self._try_rows(name, True)
        if plan is None and (name == "adj_rhs" or name.startswith("adj_v")):
            # the kept values broke the row template (rows of another length): without them
            plan = self._try_rows(name, False)
            self._reuse[name] = plan is None  # the unrolled kernel still reads them
        self._rows[name] = plan
        return plan

    def _try_rows(self, name, reuse):
        plan = None
        groups = self._map_groups(name)
        if groups is not None:
            _, maps, sums, _, _ = self._spec(name, reuse)
            outs, k = [], 0
            for size in groups:
                outs.append(("map", k, maps[k:k + size]))
                k += size
            k = 0
            for size in self._sum_groups:
                outs.append(("sum", k, sums[k:k + size]))
                k += size
            plan = self._build_rows(name, outs)
            if plan is not None:  # the map rows no kernel writes are zeros
                written = {(start, r) for kind, start, r, _ in (plan[4] if plan else ())
                           if kind == "map"}
                zero = [(start, size) for kind, start, exprs in outs
                        if kind == "map" and (start, size := len(exprs)) not in written]
                plan = (plan, zero)
        return plan

    def _build_rows(self, name, outs):
        templates, targets = [], []
        for kind, start, exprs in outs:
            if all(e == 0 for e in exprs):
                continue
            T, r = self._template(exprs), len(exprs)
            if T is None and kind == "sum" and r == 1:
                # a lone scalar parameter (a gain a*tanh(...)): its derivative is a sum over
                # the rows of one expression, evaluated as rows and summed
                T, r = self._rowsum_template(exprs[0])
                kind = "rowsum"
            if T is None:
                return None
            if T not in templates:  # ∂H/∂z and ∂H/∂b of z + b are the same: once
                templates.append(T)
            targets.append((kind, start, r, templates.index(T)))
        if not templates:
            return ()
        if len({r for _, _, r, _ in targets}) != 1:
            return None  # one loop nest per kernel: every output has the same rows
        used = set().union(*(T.free_symbols for T in templates))
        inputs, syms = [], []
        for key, rep in self._rep.items():
            if rep not in used:
                continue
            if key in self._vector_pos:
                inputs.append(("param", self._vector_pos[key]))
            else:
                inputs.append(("rows", key))
            syms.append(rep)
        shared = sorted((s for s in used - set(syms) if s != self.time), key=str)
        spos = np.array([self.scalars.index(s) for s in shared], dtype=np.intp)
        r = targets[0][2]
        spec = (syms, [kind == "param" for kind, _ in inputs], shared, self.time, templates)
        k = build_row_kernel(*spec, backend=self.row_backend(templates),
                             tag=f"dense_{name}_rows")
        self._row_specs[name] = (*spec, f"dense_{name}_rows")
        return (r, k, inputs, spos, targets)

    def row_backend(self, exprs) -> str:
        """The backend a row kernel of ``exprs`` is printed for. Under ``numba`` a row with
        a libm function (exp, sin, log, a fractional power, ...) is printed for NumPy:
        numba (without Intel's SVML) calls the scalar libm once per element, while NumPy's
        ufuncs can be vectorized; a ``tanh`` over 64 x 256 entries took 451 µs compiled
        against 40 µs in NumPy on an AVX-512 VM. Polynomial rows stay compiled (one fused
        loop, no temporaries), and so do rows whose only libm function is tanh when the
        compiled tanh is the faster one on this machine
        (:func:`~nedsym.codegen.libm.compiled_loop_pays`)."""
        if self.backend != "numba":
            return self.backend
        return "numba" if compiled_loop_pays(exprs) else "numpy"

    def _run(self, name, blocks, theta_s, t, nmap):
        """Kernel ``name`` on the per-family arrays ``blocks`` (``{"x": X, "p": P, "z0": Z0,
        ...}``, each ``(rows, B)``): ``(maps (nmap, B), sums over the batch)``."""
        run = self._runners.get(name)
        if run is None:
            run = self._runners[name] = self._runner(name)
        return run(blocks, theta_s, t, nmap)

    def _runner(self, name):
        """The evaluation of kernel ``name`` with everything that does not depend on the call
        decided once (it runs several times per RK stage: at small widths its bookkeeping
        was a large part of a gradient)."""
        plan = self._row_plan(name)
        # the right-hand side and the layers' vectors are kept for the adjoint: from the
        # gradient's arena (see nedsym.arena); the adjoint's rows are temporaries
        alloc = arena_empty if name == "rhs" or (name[:1] == "v" and name[1:].isdigit()) \
            else np.empty
        if plan is None:
            fields = self._spec(name)[0]
            kernel = self.kernel(name)

            def batch(blocks, theta_s, t, nmap):
                B = next(iter(blocks.values())).shape[1]
                return self._call(kernel, self._stack(fields, blocks, B), theta_s, t, nmap)
            return batch
        entry, zero = plan
        if name == "adj_rhs":
            zero = self._zero_left(zero)
        nsc = len(self.scalars)
        if not entry:
            def zeros(blocks, theta_s, t, nmap):
                out = alloc((nmap, next(iter(blocks.values())).shape[1]))
                for start, size in zero:
                    out[start:start + size] = 0.0
                return out, np.zeros(nsc)
            return zeros
        r, k, inputs, spos, targets = entry
        fn = k._fn
        owner, post = row_outputs(targets, k.nmap)
        rows_in = [(kind == "rows", w) for kind, w in inputs]

        def rows(blocks, theta_s, t, nmap):
            B = next(iter(blocks.values())).shape[1]
            out = alloc((nmap, B))
            for start, size in zero:
                out[start:start + size] = 0.0
            acc = np.zeros(nsc)
            arrays = [blocks[w] if is_rows else theta_s[w][:, None] for is_rows, w in rows_in]
            dest = [out[o:o + r] if o is not None else np.empty((r, B)) for o in owner]
            fn(*arrays, theta_s[spos], float(t), *dest)
            for kind, start, j in post:
                if kind == "sum":
                    acc[start:start + r] = dest[j].sum(axis=1)
                elif kind == "rowsum":
                    acc[start] = dest[j].sum()
                else:
                    out[start:start + r] = dest[j]
            return out, acc
        return rows

    def _zero_left(self, zero):
        """The zero rows of the adjoint kernel that :meth:`vjp` does not overwrite: a
        gathered layer's ``Wᵀ z̄`` written straight into its rows makes zeroing them first a
        wasted pass."""
        targets, direct = self._vbar_targets()
        covered = {q for tg, ok in zip(targets, direct, strict=True) if ok
                   for q in range(tg.start, tg.stop)}
        left = sorted({q for start, size in zero for q in range(start, start + size)} - covered)
        blocks = []
        for q in left:
            if blocks and blocks[-1][0] + blocks[-1][1] == q:
                blocks[-1][1] += 1
            else:
                blocks.append([q, 1])
        return [tuple(b) for b in blocks]

    def _stack(self, fields, blocks, B):
        """The rows of ``fields`` (whole families, in order) stacked from ``blocks``."""
        ws = np.empty((len(fields), B))
        k = 0
        while k < len(fields):
            key = self._fam_of[fields[k]][0]
            r = len(self._fam[key])
            if key not in blocks and key in self._kept:
                raise RuntimeError(f"dense program: kept forward values {key!r} missing")
            # a layer's vector never reads its own or later z's: zeros, not garbage
            ws[k:k + r] = blocks[key] if key in blocks else 0.0
            k += r
        return ws

    # -- evaluation -------------------------------------------------------------------
    def _mat(self, theta, la):
        """The product's matrix: ``W`` (a view of θ), or ``W.T`` for a transposed layer."""
        if la.transposed:
            return theta[la.sl].reshape(la.cols, la.rows).T
        return theta[la.sl].reshape(la.rows, la.cols)

    def _call(self, k, ws, theta_s, t, nmap):
        out = np.empty((nmap, ws.shape[1]))
        acc = np.empty(k.nsum)
        k(ws, theta_s, t, out, acc)
        return out, acc

    def _gather(self, blocks, gather, prefix=""):
        """``V`` of a gathered layer: a family's array itself when ``gather`` is exactly
        one family (the state, an earlier z), else the rows picked from all of them."""
        src = self._gathers.get((gather, prefix))
        if src is None:
            keys = ["x"] + [f"z{m}" for m in range(len(self.layers))]
            src, k = list(gather), 0
            for key in keys:
                r = len(self._fam[key])
                if gather == tuple(range(k, k + r)):
                    src = prefix + key
                k += r
            self._gathers[(gather, prefix)] = src
        if isinstance(src, str) and src in blocks:
            return blocks[src]
        keys = ["x"] + [f"z{m}" for m in range(len(self.layers))]
        rows = np.concatenate([blocks[prefix + key] for key in keys
                               if prefix + key in blocks], axis=0)
        return rows[list(gather)]

    def _forward(self, X, theta, theta_s, t, scratch=None):
        """``{"x": X, "z<l>": Z_l}`` and the vectors ``V_l``; with ``scratch`` (a dict kept
        by the caller over one forward pass), the products that the adjoint never reads
        again go into one reused array per layer (it stays in cache)."""
        blocks = {"x": X}
        Vs = []
        transient = self._transient() if scratch is not None else ()
        for l_, la in enumerate(self.layers):
            if la.gather is not None:
                V = self._gather(blocks, la.gather)
            else:
                V, _ = self._run(f"v{l_}", blocks, theta_s, t, la.cols)
                blocks[f"vv{l_}"] = V
            Vs.append(V)
            if l_ in transient:
                out = scratch.get(l_)
                if out is None or out.shape != (la.rows, V.shape[1]):
                    out = scratch[l_] = np.empty((la.rows, V.shape[1]))
            else:
                out = arena_empty((la.rows, V.shape[1]))
            blocks[f"z{l_}"] = np.matmul(self._mat(theta, la), V, out=out)
        return blocks, Vs

    def _transient(self) -> frozenset:
        """The layers whose product ``Z_l`` nothing reads after its stage's forward pass:
        no adjoint kernel reads it from the kept values (every adjoint kernel is a row
        kernel without ``z<l>`` among its inputs), and no layer gathers it as its vector
        (the adjoint's ``Z̄ Vᵀ`` would read it)."""
        hit = self._transient_cache
        if hit is None:
            names = ["adj_rhs"] + [f"adj_v{l_}" for l_, la in enumerate(self.layers)
                                   if la.gather is None]
            read = set()
            for name in names:
                plan = self._row_plan(name)
                if plan is None:  # an unrolled kernel stacks every row
                    self._transient_cache = frozenset()
                    return self._transient_cache
                if plan[0]:
                    read |= {w for kind, w in plan[0][2] if kind == "rows"}
            n = self.n
            gathered = {q for la in self.layers if la.gather is not None for q in la.gather}
            hit = frozenset(
                l_ for l_, rows in enumerate(self._zrows) if f"z{l_}" not in read
                and not gathered & set(range(n + rows.start, n + rows.stop)))
            self._transient_cache = hit
        return hit

    def rhs_eval(self, X, theta, t, keep: bool = False, scratch=None):
        """:math:`F(X)`; with ``keep``, also what :meth:`vjp` reuses (the ``Z_l``, ``V_l``
        and ``F`` itself, whose activations the adjoint reads instead of recomputing);
        ``scratch``: see :meth:`_forward` (the kept ``Z_l`` the adjoint does not read are
        then overwritten by the next stage)."""
        theta_s = theta[self._scalar_idx]
        blocks, Vs = self._forward(X, theta, theta_s, t, scratch)
        K, _ = self._run("rhs", blocks, theta_s, t, self.n)
        if keep:
            blocks["k"] = K
            return K, (blocks, Vs)
        return K

    def vjp(self, X, P, theta, t, aux=None):
        """``(∂H/∂x, Σ_batch ∂H/∂θ)`` at ``(X, P)``; ``aux`` from ``rhs_eval(keep=True)``."""
        n = self.n
        theta_s = theta[self._scalar_idx]
        B = X.shape[1]
        fwd, Vs = aux if aux is not None else self._forward(X, theta, theta_s, t)
        blocks = dict(fwd, x=X, p=P)
        if "k" not in blocks and self._needs_k():
            blocks["k"] = self._run("rhs", blocks, theta_s, t, n)[0]
        # adjoint rows: x̄ (n) then z̄ of every layer, in one array
        bar, acc = self._run("adj_rhs", blocks, theta_s, t, n + self.nz)
        g = np.zeros(self.nparams)
        gs = acc
        targets, direct = self._vbar_targets()
        for l_ in range(len(self.layers) - 1, -1, -1):
            la = self.layers[l_]
            rows = self._zrows[l_]
            zbar = bar[n + rows.start:n + rows.stop]
            W = self._mat(theta, la)
            gW = zbar @ Vs[l_].T            # ∂/∂(the product's matrix), summed over the batch
            g[la.sl] += (gW.T if la.transposed else gW).ravel()
            if la.gather is not None:
                tg = targets[l_]
                if direct[l_]:              # rows the adjoint kernel left zero: write there
                    np.matmul(W.T, zbar, out=bar[tg])
                else:
                    bar[tg] += W.T @ zbar   # distinct rows: no repeated index
                continue
            vbar = W.T @ zbar
            d, acc = self._run(f"adj_v{l_}", dict(blocks, **{f"vbar{l_}": vbar}), theta_s, t,
                               n + self.nz)
            bar += d
            gs += acc
        g[self._scalar_idx] += gs
        if len(self._rparams_idx):
            _, dR = self._call(self.kernel("params"), np.empty((0, 1)),
                               theta[self._rparams_idx], t, 1)
            g[self._rparams_idx] -= B * dR
        return bar[:n], g

    def _vbar_targets(self):
        """Per gathered layer, where its ``Wᵀ z̄`` adds into the adjoint rows (a slice when
        the rows are contiguous), and whether it may be written there directly: the rows are
        ones the adjoint kernel zeroes and nothing else adds into (every layer gathered, no
        two gathers overlap)."""
        if self._vbar is None:
            targets, direct = [], []
            plan = self._row_plan("adj_rhs")
            zero = set() if plan is None else {q for start, size in plan[1]
                                               for q in range(start, start + size)}
            gathers = [la.gather for la in self.layers]
            alone = all(gt is not None for gt in gathers) and \
                len({q for gt in gathers for q in gt}) == sum(len(gt) for gt in gathers)
            for gt in gathers:
                if gt is None:
                    targets.append(None)
                    direct.append(False)
                    continue
                contiguous = gt == tuple(range(gt[0], gt[0] + len(gt)))
                targets.append(slice(gt[0], gt[0] + len(gt)) if contiguous else list(gt))
                direct.append(contiguous and alone and set(gt) <= zero)
            self._vbar = (targets, direct)
        return self._vbar

    def jvp(self, X, V, theta, t):
        """:math:`(\\partial F/\\partial x)\\,V`."""
        theta_s = theta[self._scalar_idx]
        blocks, _ = self._forward(X, theta, theta_s, t)
        blocks["dot_x"] = V
        for l_, la in enumerate(self.layers):
            if la.gather is not None:
                dV = self._gather(blocks, la.gather, prefix="dot_")
            else:
                dV, _ = self._run(f"tan_v{l_}", blocks, theta_s, t, la.cols)
            blocks[f"dot_z{l_}"] = self._mat(theta, la) @ dV
        out, _ = self._run("tan_rhs", blocks, theta_s, t, self.n)
        return out

    def hamiltonian(self, X, P, theta, t):
        """Per-sample :math:`H = p\\cdot F - L` ``(B,)``."""
        K, (blocks, _) = self.rhs_eval(X, theta, t, keep=True)
        return np.sum(P * K, axis=0) - self.running_cost(X, theta, t, blocks)

    def running_cost(self, X, theta, t, blocks=None):
        """Per-sample :math:`L` ``(B,)``; ``blocks``: the products at ``X`` when a forward
        pass has them already (from ``rhs_eval(keep=True)``)."""
        B = X.shape[1]
        out = np.zeros(B)
        if self.L_sample != 0:
            theta_s = theta[self._scalar_idx]
            if blocks is None:
                blocks, _ = self._forward(X, theta, theta_s, t)
            out += self._run("running_cost", blocks, theta_s, t, 1)[0][0]
        if self.L_params != 0:
            R, _ = self._call(self.kernel("params"), np.empty((0, 1)),
                              theta[self._rparams_idx], t, 1)
            out += R[0, 0]
        return out
