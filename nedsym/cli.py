"""The ``nedsym`` command line: derive, verify, run, cache."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from nedsym._version import __version__
from nedsym.errors import ConfigError, NedsymError

ALLEN_CAHN = "eps^2/2*|grad(u)|^2 + (u^2-1)^2/4"


def _fields_arg(values: list[str] | None):
    """``-f u -f w:2`` → {"u": (), "w": 2} (name[:components])."""
    out = {}
    for v in values or ["u"]:
        for item in v.replace(",", " ").split():
            name, _, n = item.partition(":")
            out[name] = int(n) if n else ()
    return out


def _params_arg(values: list[str] | None) -> dict:
    out = {}
    for v in values or []:
        for item in v.replace(",", " ").split():
            name, eq, val = item.partition("=")
            if not eq:
                raise NedsymError(f"--param {item!r}: write NAME=VALUE, e.g. --param eps=0.05")
            try:
                out[name] = float(val)
            except ValueError as exc:
                raise NedsymError(f"--param {item!r}: {val!r} is not a number") from exc
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


def _cmd_verify(args) -> int:
    import sympy as sp

    from nedsym import verify

    E = _energy_from_args(args)
    print(f"Energy: {E}")
    report = verify.against_sympy(E, raise_on_mismatch=False)
    print("sympy euler_equations oracle:")
    print(report)
    X = E.coords
    # smooth periodic base state and direction, different per field
    u0, v = {}, {}
    for k, c in enumerate(E.components):
        u0[c] = sp.Rational(1, 2) * sp.Mul(*[sp.sin(x + k + 1 + i) for i, x in enumerate(X)]) \
            + sp.Rational(1, 5)
        v[c] = sp.Mul(*[sp.cos((i + 1) * x + k) for i, x in enumerate(X)]) + u0[c]
    ok = report.ok or not report.applicable
    for c in E.components:
        r = verify.taylor_test(E, u0=u0, v={c: v[c]}, n=args.n)
        print(f"Taylor test for δE/δ{c.func.__name__}:")
        print(r)
        ok = ok and r.passed()
    print("verification " + ("PASSED" if ok else "FAILED"))
    return 0 if ok else 1


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
        run_app(args.problem, args.out, quick=args.quick,
                progress=False if args.no_progress else None)
        return 0
    spec = load_problem(args.problem) if args.problem.endswith(".toml") else demo(args.problem)
    if args.n is not None and args.n < 4:
        raise ConfigError(f"--n must be at least 4 grid points per axis, got {args.n}")
    if args.dt is not None and not (args.dt > 0 and args.dt < float("inf")):
        raise ConfigError(f"--dt must be a positive finite number, got {args.dt}")
    if args.n:
        spec["grid"]["shape"] = [args.n] * len(spec["grid"]["shape"])
    for key in ("t_end", "dt", "stepper", "gradient"):
        value = getattr(args, key)
        if value is not None:
            spec[key] = value
    run_problem(spec, out_dir=args.out, backend=args.backend,
                progress=False if args.no_progress else None,
                **({"cluster": args.dask} if getattr(args, "dask", None) else {}))
    return 0


def _cmd_cache(args) -> int:
    from nedsym.codegen import cache_clear, cache_info

    if args.action == "clear":
        info = cache_info()
        cache_clear()
        print(f"removed {info['kernels']} cached kernels from {info['dir']}")
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
    v.add_argument("-n", type=int, default=None, help="grid points per axis (periodic box)")
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
                                     "stabilized")
    r.add_argument("--gradient", choices=["continuous", "discrete"],
                   help="derive-then-discretize or exact discrete-energy gradient")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    r.add_argument("--dask", metavar="ADDRESS", help="run on Dask: a scheduler address "
                   "(tcp://host:8786) or local[N] (N worker processes on this machine); "
                   "explicit steppers (euler, rk4) only")
    r.add_argument("--quick", action="store_true",
                   help="non-grid demos (ned-*, relax-*, depth-*): a reduced, fast run")
    r.set_defaults(func=_cmd_run)

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


if __name__ == "__main__":
    sys.exit(main())
