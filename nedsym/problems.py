"""Problem specifications: the built-in demos and ``problem.toml`` files.

A problem is a plain dict (the same keys in TOML)::

    energy   = "eps^2/2*|grad(u)|^2 + (u^2-1)^2/4"   # formula (Energy.parse notation)
    coords   = "x y"
    fields   = "u"
    metric   = "L2"                                   # L2 | H-1 | W2 | L2-conserved
    mobility = "1"                                    # optional formula
    t_end    = 5.0
    stepper  = "rk4"         # euler, rk4, rk45, semi-implicit, stabilized, sav, sav2,
                             # sav-adaptive, sav2-adaptive, convex-split
    dt       = 0.01                                   # optional (default: from the stable dt)
    stabilization = 2.0      # S of the 'stabilized' stepper (required by it)
    sav_constant = 1.0       # C of the SAV steppers (optional)
    convex_part = "u^3"      # implicit part of convex-split (optional: found from the energy)
    rtol = 1e-3              # tolerances of the adaptive steppers (optional)
    atol = 1e-5
    gradient = "continuous"                           # or "discrete"
    accuracy = 2                                      # stencil order: 2, 4, 6
    snapshots = 4
    backend  = "numba"                                # or "numpy"
    [params]  eps = 0.02
    [grid]    shape = [128, 128]   bounds = [[0, 1], [0, 1]]   bc = "periodic"
    [initial] kind = "random"  amplitude = 0.1  mean = 0.0  seed = 0   noise = 0.0
              # or expr = "sin(x)", or one formula per field: expr = ["sin(x)", "cos(y)"]

Every key is checked (:func:`nedsym.runner.validate_spec`): an unknown key at any level, a
wrong type, a non-finite number or an impossible value is refused with the key named. A
``boundary`` energy is passed to the energy, and refused there for grid runs (give the
boundary condition in ``[grid] bc`` instead).
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

from nedsym.errors import ConfigError

__all__ = ["DEMOS", "APPS", "load_problem", "demo", "run_app"]

DEMOS: dict[str, dict] = {
    "allen-cahn": {
        "title": "Allen–Cahn: phase separation by the L² gradient flow of the Ginzburg–Landau "
                 "energy",
        "energy": "eps^2/2*|grad(u)|^2 + (u^2-1)^2/4", "coords": "x y", "fields": "u",
        "params": {"eps": 0.02}, "metric": "L2",
        "grid": {"shape": [128, 128], "bounds": [[0, 1], [0, 1]], "bc": "periodic"},
        "t_end": 8.0, "stepper": "rk4",
        "initial": {"kind": "random", "amplitude": 0.1, "seed": 0},
    },
    "cahn-hilliard": {
        "title": "Cahn–Hilliard: spinodal decomposition by the H⁻¹ gradient flow (mass conserved)",
        "energy": "eps^2/2*|grad(u)|^2 + (u^2-1)^2/4", "coords": "x y", "fields": "u",
        "params": {"eps": 0.02}, "metric": "H-1",
        "grid": {"shape": [128, 128], "bounds": [[0, 1], [0, 1]], "bc": "periodic"},
        "t_end": 1.0, "stepper": "sav2-adaptive", "dt": 1e-6,
        "initial": {"kind": "random", "amplitude": 0.05, "mean": 0.1, "seed": 0},
    },
    "swift-hohenberg": {
        "title": "Swift–Hohenberg: pattern formation, u_t = r u - (1+Δ)²u - u³",
        "energy": "-r/2*u^2 + (u + lap(u))^2/2 + u^4/4", "coords": "x y", "fields": "u",
        "params": {"r": 0.3}, "metric": "L2",
        "grid": {"shape": [128, 128], "bounds": [[0, 100], [0, 100]], "bc": "periodic"},
        "t_end": 60.0, "stepper": "semi-implicit", "dt": 0.25,
        "initial": {"kind": "random", "amplitude": 0.1, "seed": 0},
    },
    "tv-denoise": {
        "title": "Total-variation flow of a noisy image (smoothed TV, natural boundary)",
        "energy": "sqrt(|grad(u)|^2 + delta^2)", "coords": "x y", "fields": "u",
        "params": {"delta": 0.2}, "metric": "L2",
        "grid": {"shape": [96, 96], "bounds": [[0, 96], [0, 96]], "bc": "natural"},
        "t_end": 4.0, "stepper": "rk4",
        "initial": {"expr": "tanh((20 - sqrt((x-48)^2 + (y-48)^2))/2)", "noise": 0.4,
                    "seed": 0},
    },
    "heat": {
        "title": "Heat equation: the L² gradient flow of the Dirichlet energy",
        "energy": "kappa/2*|grad(u)|^2", "coords": "x y", "fields": "u",
        "params": {"kappa": 1.0}, "metric": "L2",
        "grid": {"shape": [64, 64], "bounds": [[0, 1], [0, 1]], "bc": "neumann"},
        "t_end": 0.02, "stepper": "rk4",
        "initial": {"expr": "exp(-((x-0.5)^2 + (y-0.5)^2)/0.01)"},
    },
}


#: Demos that are not grid flows (neural energy descent, relaxation, depth models): name →
#: (title, "module:function"). The function is called as ``fn(out_dir, quick=..., progress=...,
#: log=...)`` and returns a JSON-able summary dict; it writes its figures into ``out_dir``.
APPS: dict[str, tuple[str, str]] = {
    "ned-fit": ("Neural Energy Descent: fit sin(2πx) with a tanh network, vs GD and Adam",
                "nedsym.apps.ned_demo:run_fit"),
    "ned-poisson": ("Neural Energy Descent: -u'' = π² sin(πx) on (-1, 1), u(±1) = 0, vs Adam",
                    "nedsym.apps.ned_demo:run_poisson"),
    "relax-landscape": ("Deep relaxation: local entropy of a wide and a sharp well; "
                        "Entropy-SGD vs SGD", "nedsym.apps.relax_demo:run_landscape"),
    "depth-ode": ("Networks as ODEs in depth: tanh ResNet, costates, H over depth, near-identity "
                  "limit; width-depth training", "nedsym.apps.depth_demo:run_depth_demo"),
}


def run_app(name: str, out_dir, **options) -> dict:
    """Run the non-grid demo ``name`` (see :data:`APPS`)."""
    import importlib

    if name not in APPS:
        raise ConfigError(f"unknown demo {name!r}; demos: {sorted(DEMOS) + sorted(APPS)}")
    module, func = APPS[name][1].split(":")
    return getattr(importlib.import_module(module), func)(out_dir, **options)


def demo(name: str) -> dict:
    """A copy of a built-in demo's specification."""
    if name not in DEMOS:
        raise ConfigError(f"unknown demo {name!r}; built-in demos: {sorted(DEMOS) + sorted(APPS)}, "
                          "or give a problem.toml file")
    spec = copy.deepcopy(DEMOS[name])
    spec["name"] = name
    return spec


def load_problem(path: str | Path) -> dict:
    """Read a problem TOML file (see module docstring)."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"problem file {str(path)!r} not found")
    try:
        spec = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
    spec.setdefault("name", path.stem)
    from nedsym.runner import validate_spec

    try:
        return validate_spec(spec)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
