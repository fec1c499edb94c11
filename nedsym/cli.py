"""The ``nedsym`` command line: derive, verify, run, codegen, cache."""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Sequence

from nedsym._version import __version__
from nedsym.errors import ConfigError, NedsymError

ALLEN_CAHN = "eps^2/2*|grad(u)|^2 + (u^2-1)^2/4"


_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _number(text: str, what: str) -> float:
    """An ASCII decimal number (no NaN/Inf, no other digits), or a clear error."""
    text = text.strip()
    if not _NUMBER.fullmatch(text) or not text.isascii():
        raise ConfigError(f"{what}: {text!r} is not a finite decimal number")
    value = float(text)
    if not math.isfinite(value):
        raise ConfigError(f"{what}: {text!r} is out of range")
    return value


def _fields_arg(values: list[str] | None):
    """``-f u -f w:2`` → {"u": (), "w": 2} (name[:components])."""
    out = {}
    for v in values or ["u"]:
        for item in v.replace(",", " ").split():
            name, colon, n = item.partition(":")
            if not colon:
                out[name] = ()
                continue
            if not (n.isascii() and n.isdigit()) or not 1 <= int(n) <= 16:
                raise ConfigError(f"--field {item!r}: the number of components must be an "
                                  "integer from 1 to 16, e.g. -f w:2")
            out[name] = int(n)
    return out


def _params_arg(values: list[str] | None) -> dict:
    out = {}
    for v in values or []:
        for item in v.replace(",", " ").split():
            name, eq, val = item.partition("=")
            if not eq:
                raise ConfigError(f"--param {item!r}: write NAME=VALUE, e.g. --param eps=0.05")
            out[name] = _number(val, f"--param {name}")
    return out


def _energy_from_args(args):
    from nedsym.symbolic.energy import Energy

    return Energy.parse(args.energy, coords=args.coords.replace(",", " "),
                        fields=_fields_arg(args.field), params=_params_arg(args.param),
                        boundary=args.boundary)


def _cmd_derive(args) -> int:
    from nedsym.flows import GradientFlow
    from nedsym.symbolic.declare import field_name
    from nedsym.symbolic.printing import compact_latex, compact_str

    E = _energy_from_args(args)
    flow = GradientFlow(E, metric=args.metric,
                        mobility=None if args.mobility is None else _parse_mobility(E, args))
    bcs = {c: E.natural_bc(c) for c in E.components}
    if args.json:
        show = compact_latex if args.latex else compact_str
        doc = {
            "energy": show(E.density),
            "coords": [str(c) for c in E.coords],
            "fields": [field_name(c) for c in E.components],
            "params": {str(k): v for k, v in E.params.items()},
            "variational_derivative": {field_name(c): show(flow.potentials[c])
                                       for c in E.components},
            "natural_bc": {field_name(c): {"".join(map(str, k)) or "v": show(e)
                                           for k, e in b.terms.items()}
                           for c, b in bcs.items()},
            "normal": [str(n) for b in list(bcs.values())[:1] for n in b.normal],
            "flow": {"metric": str(flow.metric), "mobility": flow._mobility_text(),
                     "rhs": {field_name(c): show(r) for c, r in flow.rhs.items()},
                     "dissipation": show(flow.dissipation)},
        }
        print(json.dumps(doc, indent=2))
        return 0
    if args.latex:
        print(E.latex())
        for c in E.components:
            print(r"\frac{\delta E}{\delta %s} = %s" % (field_name(c),
                                                         compact_latex(flow.potentials[c])))
        print(flow.latex())
        return 0
    print(f"Energy: {E}")
    if E.params:
        print("Parameters: " + ", ".join(f"{k} = {v}" for k, v in E.params.items()))
    for c in E.components:
        print(f"δE/δ{field_name(c)} = {compact_str(flow.potentials[c])}")
    print(f"Natural boundary conditions (outward normal {bcs[E.components[0]].normal}):")
    for b in bcs.values():
        print(b.pretty())
    print(flow.pretty())
    return 0


def _parse_mobility(E, args):
    from nedsym.symbolic.parse import Namespace

    ns = Namespace.declare(coords=E.coords, fields=E.fields,
                           params={p.name: v for p, v in E.params.items()})
    return ns.parse(args.mobility)


def _box_arg(text: str | None, d: int):
    """``--box a:b`` (every axis) or ``a:b,c:d`` (one interval per axis)."""
    if text is None:
        return None
    parts = [p for p in text.replace(" ", "").split(",") if p]
    if len(parts) == 1:
        parts = parts * d
    if len(parts) != d:
        raise ConfigError(f"--box {text!r}: give one interval a:b or {d} of them")
    out = []
    for p in parts:
        lo, colon, hi = p.partition(":")
        if not colon:
            raise ConfigError(f"--box {text!r}: write intervals as a:b, e.g. --box 0:1")
        a, b = _number(lo, "--box"), _number(hi, "--box")
        if not a < b:
            raise ConfigError(f"--box {text!r}: each interval needs a < b")
        out.append((a, b))
    return out


def _field_exprs(values: list[str] | None, E, what: str) -> dict:
    """``--u0 u=EXPR`` (or ``EXPR`` for a single field) parsed with the coordinates only."""
    import sympy as sp

    from nedsym.symbolic.declare import field_name
    from nedsym.symbolic.parse import Namespace

    if not values:
        return {}
    names = {field_name(c): c for c in E.components}
    coords_only = Namespace.declare(coords=E.coords, fields=[],
                                    params={p.name: v for p, v in E.params.items()})
    full = Namespace.declare(coords=E.coords, fields=E.fields,
                             params={p.name: v for p, v in E.params.items()})
    out = {}
    for item in values:
        name, eq, text = item.partition("=")
        if not eq or name.strip() not in names:
            if len(names) == 1 and not (eq and name.strip().isidentifier()):
                name, text = next(iter(names)), item
            else:
                raise ConfigError(f"{what} {item!r}: write FIELD=EXPR with FIELD one of "
                                  f"{sorted(names)}")
        ns_ = full if what == "--gradient" else coords_only
        expr = ns_.parse(text)
        out[names[name.strip()]] = expr.xreplace({p: sp.Float(v) for p, v in E.params.items()}) \
            if what != "--gradient" else expr
    return out


def _cmd_verify(args) -> int:
    import numpy as np
    import sympy as sp

    from nedsym import verify
    from nedsym.symbolic.declare import field_name

    E = _energy_from_args(args)
    X = E.coords
    d = len(X)
    if args.n is not None and not 8 <= args.n:
        raise ConfigError(f"-n must be at least 8 grid points per axis, got {args.n}")
    if args.n is not None and args.n ** d > verify.taylor.MAX_POINTS:
        raise ConfigError(f"-n {args.n} in {d} dimensions is {args.n ** d:.3g} points; at most "
                          f"{verify.taylor.MAX_POINTS:.3g} are allowed")
    box = _box_arg(args.box, d)
    given_u0 = _field_exprs(args.u0, E, "--u0")
    claimed = _field_exprs(args.gradient, E, "--gradient") or None
    print(f"Energy: {E}")
    report = verify.against_sympy(E, raise_on_mismatch=False)
    print("sympy euler_equations oracle:")
    print(report)
    periodic = box or [(0.0, 2 * math.pi)] * d

    def phase(k, i, x, lo, hi, freq=1.0):
        return 2 * sp.pi * freq * (x - lo) / (hi - lo) + k + 1 + i

    def states(bounds, shift):
        u0, v = {}, {}
        for k, c in enumerate(E.components):
            u0[c] = given_u0.get(c, shift + sp.Rational(1, 2) * sp.Mul(*[
                sp.sin(phase(k, i, x, *bounds[i])) for i, x in enumerate(X)]))
            v[c] = sp.Mul(*[sp.cos(phase(k, i, x, *bounds[i], freq=i + 1))
                            for i, x in enumerate(X)]) + sp.Rational(1, 2)
        return u0, v

    # explicit coordinates make the density non-periodic: perturb away from the seam
    window = sp.Mul(*[((1 - sp.cos(2 * sp.pi * (x - a) / (b - a))) / 2) ** 4
                      for x, (a, b) in zip(X, periodic, strict=True)]) \
        if E.density.free_symbols & set(X) else sp.S.One
    ok = report.ok or not report.applicable
    verdicts = []
    shift = sp.Rational(1, 5)
    for attempt in range(2):
        verdicts = []
        if not given_u0:
            u0, v = states(periodic, shift)
            for c in E.components:
                r = verify.taylor_test(E, u0=u0, v={c: v[c] * window}, n=args.n,
                                       bounds=periodic, gradient=claimed)
                verdicts.append((f"interior Taylor test for δE/δ{field_name(c)} on the "
                                 f"periodic box {periodic}", r))
        bbox = box or [(0.2, 1.4)] * d
        u0b, vb = states([(0.0, 2 * math.pi)] * d, shift)
        u0b = {c: given_u0.get(c, e) for c, e in u0b.items()}
        for c in E.components:
            r = verify.box_taylor_test(E, u0b, {c: vb[c]}, bbox, gradient=claimed)
            verdicts.append((f"whole first variation (δE/δ{field_name(c)} and natural "
                             f"boundary terms{' with the boundary energy' if E.boundary else ''}"
                             f") on the box {bbox}", r))
        nan = any(not np.all(np.isfinite(np.r_[r.remainder1, r.energy])) for _, r in verdicts)
        if nan and not given_u0 and attempt == 0:
            print("the energy is not finite at the default base state: trying a positive "
                  "one (u0 in [0.5, 1.5]); give --u0 to choose")
            shift = sp.Integer(1)
            continue
        break
    status = "PASSED"
    for title, r in verdicts:
        print(f"{title}:")
        print(r)
        verdict = r.verdict()[0]
        if verdict == "FAIL" or not ok:
            status = "FAILED"
        elif verdict != "PASS" and status == "PASSED":
            status = "INCONCLUSIVE"
    if not ok:
        status = "FAILED"
    print("verification " + status)
    return {"PASSED": 0, "FAILED": 1}.get(status, 3)


def _cmd_run(args) -> int:
    from nedsym.problems import APPS, DEMOS, demo, load_problem, run_app
    from nedsym.runner import run_problem

    if args.list or not args.problem:
        for name, spec in DEMOS.items():
            print(f"  {name:16s} {spec['title']}")
        for name, (title, _) in APPS.items():
            print(f"  {name:16s} {title}")
        if not args.list:
            print("give a demo name or a problem.toml file, e.g. `nedsym run allen-cahn`")
        return 0
    if args.problem in APPS:
        grid_only = [f"--{k.replace('_', '-')}" for k in ("n", "t_end", "dt", "stepper",
                                                          "gradient", "backend", "dask",
                                                          "stabilization", "sav_constant",
                                                          "convex_part", "rtol", "atol",
                                                          "save", "movie")
                     if getattr(args, k, None) is not None]
        if grid_only:
            raise ConfigError(f"{args.problem} is not a grid demo: {', '.join(grid_only)} "
                              "apply to grid demos and problem files only (it takes --out, "
                              "--quick and --no-progress)")
        run_app(args.problem, args.out, quick=args.quick,
                progress=False if args.no_progress else None)
        return 0
    if args.quick:
        raise ConfigError(f"--quick is for the non-grid demos (ned-*, relax-*, depth-*); for "
                          f"{args.problem} give a smaller grid with --n N or --t-end")
    spec = load_problem(args.problem) if args.problem.endswith(".toml") else demo(args.problem)
    if args.n is not None and args.n < 4:
        raise ConfigError(f"--n must be at least 4 grid points per axis, got {args.n}")
    if args.dt is not None and not (args.dt > 0 and args.dt < float("inf")):
        raise ConfigError(f"--dt must be a positive finite number, got {args.dt}")
    if args.n:
        spec["grid"]["shape"] = [args.n] * len(spec["grid"]["shape"])
    for key in ("t_end", "dt", "stepper", "gradient", "stabilization", "sav_constant",
                "convex_part", "rtol", "atol"):
        value = getattr(args, key)
        if value is not None:
            spec[key] = value
    run_problem(spec, out_dir=args.out, backend=args.backend,
                progress=False if args.no_progress else None, save=args.save,
                movie=args.movie,
                **({"cluster": args.dask} if getattr(args, "dask", None) else {}))
    return 0


def _grid_arg(args, E):
    """``--grid N`` or ``N,M`` points per axis, ``--box``, ``--bc`` → a Grid."""
    from nedsym.discretize import Dirichlet, Grid

    d = len(E.coords)
    parts = [p for p in args.grid.replace(" ", "").split(",") if p]
    if len(parts) == 1:
        parts = parts * d
    if len(parts) != d or not all(p.isascii() and p.isdigit() for p in parts):
        raise ConfigError(f"--grid {args.grid!r}: give one point count N or {d} of them "
                          "(N,M), positive integers")
    shape = tuple(int(p) for p in parts)
    if min(shape) < 4 or math.prod(shape) > 2**27:
        raise ConfigError(f"--grid {args.grid!r}: at least 4 points per axis and at most "
                          "2^27 points in all")
    box = _box_arg(args.box, d) or [(0.0, 1.0)] * d
    kind, eq, val = args.bc.partition("=")
    if kind not in ("periodic", "neumann", "dirichlet") or (eq and kind != "dirichlet"):
        raise ConfigError(f"--bc {args.bc!r}: choose periodic, neumann or dirichlet[=VALUE]")
    bc = Dirichlet(_number(val, "--bc dirichlet") if eq else 0.0) if kind == "dirichlet" \
        else kind
    return Grid(shape, box, bc=bc)


def _cmd_codegen(args) -> int:
    from nedsym.codegen.targets import get_target
    from nedsym.codegen_cli import write_codegen
    from nedsym.flows import GradientFlow

    get_target(args.backend)             # an unknown backend: one line, before any work
    E = _energy_from_args(args)
    flow = GradientFlow(E, metric=args.metric,
                        mobility=None if args.mobility is None else _parse_mobility(E, args))
    grid = _grid_arg(args, E)
    paths = write_codegen(flow, grid, args.backend, args.out, accuracy=args.accuracy,
                          gradient=args.gradient)
    for p in paths:
        print(p)
    return 0


def _cmd_cache(args) -> int:
    from nedsym.codegen import cache_clear, cache_info

    if args.action == "clear":
        removed = cache_clear()
        print(f"removed {removed} cached kernels from {cache_info()['dir']}")
        return 0
    info = cache_info()
    print(f"kernel cache: {info['dir']}")
    for k, v in info.items():
        if k != "dir":
            print(f"  {k}: {v}")
    from nedsym.codegen import available

    print("backends:")
    for name, (ok, why) in available().items():
        print(f"  {name:<11} {'yes' if ok else 'no '}  {why}")
    return 0


def _add_energy_args(p: argparse.ArgumentParser, default_energy: str | None = ALLEN_CAHN):
    p.add_argument("energy", nargs="?" if default_energy else None, default=default_energy,
                   help=f"energy density as a formula (default: Allen–Cahn, {ALLEN_CAHN!r}); "
                        "write ^ for powers, |grad(u)|^2, lap(u), u_x, u_xx")
    p.add_argument("--coords", default="x,y", help="coordinates, comma separated (default x,y)")
    p.add_argument("--field", "-f", action="append",
                   help="field name; NAME:N for an N-component vector field; repeatable "
                        "(default u)")
    p.add_argument("--param", "-p", action="append",
                   help="parameter value NAME=VALUE; repeatable (default eps=0.05 for the "
                        "built-in energy)")
    p.add_argument("--boundary", help="boundary energy density (optional)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nedsym",
        description="Symbolic-numeric PDE modeling: derive variational derivatives and "
                    "gradient flows from energies written as formulas.")
    parser.add_argument("--version", action="version", version=f"nedsym {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    d = sub.add_parser("derive", help="print δE/δu, the natural boundary terms and the flow",
                       description="Derive the variational derivative, natural boundary "
                                   "conditions and gradient flow of an energy.")
    _add_energy_args(d)
    d.add_argument("--metric", default="L2",
                   help="gradient-flow metric: L2 (default), H-1, W2, L2-conserved")
    d.add_argument("--mobility", help="mobility expression, e.g. 'u*(1-u)' (default 1)")
    out = d.add_mutually_exclusive_group()
    out.add_argument("--latex", action="store_true", help="print LaTeX")
    out.add_argument("--json", action="store_true", help="print JSON")
    d.set_defaults(func=_cmd_derive)

    v = sub.add_parser("verify", help="check the derivation against sympy and a Taylor test",
                       description="Check δE/δu against sympy's euler_equations and against "
                                   "finite differences of the energy (Taylor test, rate 2).")
    _add_energy_args(v)
    v.add_argument("-n", type=int, default=None,
                   help="grid points per axis of the periodic test (default 256/64/24)")
    v.add_argument("--u0", action="append", metavar="[FIELD=]EXPR",
                   help="base state, an expression in the coordinates (repeatable per field); "
                        "then only the box test runs, which needs no periodicity")
    v.add_argument("--box", metavar="a:b[,c:d]",
                   help="the test box (one interval for every axis, or one per axis)")
    v.add_argument("--gradient", action="append", metavar="FIELD=EXPR",
                   help="check this claimed δE/δFIELD instead of the derived one")
    v.set_defaults(func=_cmd_verify)

    r = sub.add_parser("run", help="run a built-in demo or a problem.toml (derive → kernels → "
                                   "solve → figures)",
                       description="Derive the flow, generate kernels, time-step, and write "
                                   "PNG figures and a JSON summary. Demos: allen-cahn, "
                                   "cahn-hilliard, swift-hohenberg, tv-denoise, heat; "
                                   "non-grid demos: see --list.")
    r.add_argument("problem", nargs="?", help="demo name or path to a problem .toml file")
    r.add_argument("--list", action="store_true", help="list the built-in demos")
    r.add_argument("--out", default="nedsym-out", help="output folder (default nedsym-out)")
    r.add_argument("--backend", choices=["numba", "numpy"], default=None,
                   help="kernel backend (default numba)")
    r.add_argument("--n", type=int, help="grid points per axis (overrides the problem)")
    r.add_argument("--t-end", dest="t_end", type=float, help="final time")
    r.add_argument("--dt", type=float, help="time step")
    r.add_argument("--stepper", help="euler | ssprk3 | rk4 | rk45 | rk23 | semi-implicit | "
                                     "stabilized | sav | sav2 | sav-adaptive | sav2-adaptive | "
                                     "convex-split (energy-stable: docs/energy-stable.md)")
    r.add_argument("--stabilization", type=float, metavar="S",
                   help="the constant S of stepper 'stabilized' (required by it); for the "
                        "SAV steppers and convex-split an extra implicit S*u (S ~ max F'' "
                        "keeps E_h falling at large dt)")
    r.add_argument("--sav-constant", dest="sav_constant", type=float, metavar="C",
                   help="the shift C of E_1 in the SAV steppers (default: from the initial "
                        "state, E_1 + C >= 1)")
    r.add_argument("--convex-part", dest="convex_part", metavar="FORMULA",
                   help="convex-split: the part of the nonlinear potential taken implicitly "
                        "(default: found from the energy, e.g. u^3 for (u^2-1)^2/4)")
    r.add_argument("--rtol", type=float, help="relative tolerance of the adaptive steppers")
    r.add_argument("--atol", type=float, help="absolute tolerance of the adaptive steppers")
    r.add_argument("--gradient", choices=["continuous", "discrete"],
                   help="derive-then-discretize or exact discrete-energy gradient")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    r.add_argument("--dask", metavar="ADDRESS", help="run on Dask: a scheduler address "
                   "(tcp://host:8786) or local[N] (N worker processes on this machine); "
                   "explicit steppers (euler, rk4) only")
    r.add_argument("--save", metavar="FILE.nc|FILE.zarr",
                   help="also write the run (fields over time, coordinates, energy history, "
                        "the derived equations as attributes) as netCDF or zarr (needs "
                        "xarray: pip install \"nedsym[io]\")")
    r.add_argument("--movie", metavar="FILE.gif|FILE.mp4",
                   help="also write a movie of the first field (GIF always; MP4 needs ffmpeg)")
    r.add_argument("--quick", action="store_true",
                   help="non-grid demos (ned-*, relax-*, depth-*): a reduced, fast run")
    r.set_defaults(func=_cmd_run)

    g = sub.add_parser("codegen", help="write the generated kernels of a flow, a driver and a "
                                       "README to a folder",
                       description="Derive the gradient flow of an energy, lower it to "
                                   "stencils on a grid and write the generated kernel sources "
                                   "(right-hand side and discrete energy) with a standalone "
                                   "driver (CPU backends) and a README. Nothing is compiled.")
    _add_energy_args(g)
    g.add_argument("--backend", default="numba",
                   help="kernel backend to print: numba (default), numpy, numba-cuda, cupy "
                        "(GPU sources print without a GPU)")
    g.add_argument("--grid", default="64", metavar="N[,M]",
                   help="grid points per axis (default 64)")
    g.add_argument("--box", metavar="a:b[,c:d]", help="the domain (default 0:1 on every axis)")
    g.add_argument("--bc", default="periodic", metavar="KIND",
                   help="periodic (default), neumann, or dirichlet[=VALUE]")
    g.add_argument("--metric", default="L2",
                   help="gradient-flow metric: L2 (default), H-1, W2, L2-conserved")
    g.add_argument("--mobility", help="mobility expression (default 1)")
    g.add_argument("--accuracy", type=int, default=2, choices=[2, 4, 6],
                   help="finite-difference order (default 2)")
    g.add_argument("--gradient", choices=["continuous", "discrete"], default="continuous",
                   help="derive-then-discretize (default) or the discrete energy's gradient")
    g.add_argument("-o", "--out", required=True, metavar="DIR", help="output folder")
    g.set_defaults(func=_cmd_codegen)

    c = sub.add_parser("cache", help="inspect or clear the generated-kernel cache",
                       description="The generated kernels live in NEDSYM_CACHE_DIR "
                                   "(default ~/.cache/nedsym).")
    c.add_argument("action", choices=["info", "clear"], nargs="?", default="info")
    c.set_defaults(func=_cmd_cache)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 0
    if getattr(args, "energy", None) == ALLEN_CAHN and not args.param:
        args.param = ["eps=0.05"]
    try:
        return args.func(args)
    except NedsymError as exc:
        print(f"nedsym {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:             # `nedsym derive | head`: the reader left, not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
