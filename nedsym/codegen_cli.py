"""``nedsym codegen``: write the generated kernels of an energy's gradient flow to a folder.

For a grid and a backend it writes, through :func:`nedsym.lower` (nothing is compiled):

* ``rhs_<backend>.py``: the right-hand side :math:`\\partial_t u = -M\\,\\delta E/\\delta u`,
  lowered to stencils, as the backend's kernel ``rhs(yp, out, *scalars)``;
* ``energy_<backend>.py``: the discrete energy density summed over the interior,
  ``energy(yp, *scalars) -> float`` (multiply by the cell volume);
* ``driver.py`` (CPU backends): a standalone explicit-Euler driver that imports the two
  files, fills ghost cells with NumPy and prints the energy; it needs only numpy (and numba
  for the numba backend), not nedsym;
* ``README.md``: what each file computes, its signature and the scalar arguments.

Each kernel file starts with a header saying what it computes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from nedsym.errors import ConfigError

__all__ = ["write_codegen"]

def _fill_ghosts_source() -> str:
    """The driver's NumPy ghost filler, printed from the halo rules every target uses."""
    from nedsym.codegen.halo import SPEC
    from nedsym.codegen.printers.halo import python_ghost_lines

    lines = [
        "def fill_ghosts(yp):",
        '    """The ghost cells of a padded state, in place (the generated kernels read them)."""',
        "    h = HALO",
        "    for f in range(yp.shape[0]):",
        "        u = yp[f]",
        "        for a in range(u.ndim):",
        "            n = u.shape[a] - 2 * h",
        "            pre = (slice(None),) * a",
        "            for side in (0, 1):",
        "                kind, datum = KINDS[f, a, side], VALUES[f, a, side]",
        "                for layer in range(h):",
        "                    if side == 0:",
        "                        g, mirror, wrap = h - 1 - layer, h + layer, h + n - 1 - layer",
        "                    else:",
        "                        g, mirror, wrap = h + n + layer, h + n - 1 - layer, h + layer",
        *python_ghost_lines(SPEC, "                    ", "u[pre + ({src},)]", "u[pre + ({g},)]"),
    ]
    return "\n".join(lines)


_DRIVER = '''"""Standalone explicit-Euler driver for the generated kernels here (nedsym codegen).

It needs numpy{numba}, not nedsym. Run: python driver.py [steps]

State layout: yp[field, i(+halo), j(+halo), ...], a padded array with {halo} ghost layer(s)
per side; the kernels read the ghosts and write the interior.
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rhs_{backend} import {rhs_name} as rhs          # noqa: E402
from energy_{backend} import {energy_name} as energy  # noqa: E402

FIELDS = {fields!r}
SHAPE = {shape!r}                    # interior points per axis
HALO = {halo}
#: kernel scalars, in order: {scalar_names}
SCALARS = {scalars!r}
#: ghost kinds per field, axis, side: 0 periodic, 1 even (Neumann), 2 odd (Dirichlet)
KINDS = np.array({kinds!r})
#: side data: Dirichlet value, or Neumann flux times h (for kind 1)
VALUES = np.array({values!r})
DT = {dt!r}                          # explicit Euler: half the step nedsym estimated stable
                                     # at a state of amplitude 1
CELL = {cell!r}                      # cell volume


{fill_ghosts}

def main(steps=200):
    rng = np.random.default_rng(0)
    yp = np.zeros((len(FIELDS),) + tuple(n + 2 * HALO for n in SHAPE))
    inner = (slice(None),) + (slice(HALO, -HALO or None),) * len(SHAPE)
    yp[inner] = 0.1 * rng.standard_normal((len(FIELDS),) + SHAPE)
    out = np.empty((len(FIELDS),) + SHAPE)
    t = 0.0
    for step in range(steps + 1):
        fill_ghosts(yp)
        if step % max(1, steps // 5) == 0:
            e = energy(yp, *SCALARS[:-1], t) * CELL
            print(f"step {{step:5d}}  t = {{t:.4g}}  E_h = {{e:.6g}}")
        if step == steps:
            break
        rhs(yp, out, *SCALARS[:-1], t)
        yp[inner] += DT * out
        t += DT


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
'''


def _header(what: str, lines: list[str]) -> str:
    return "\n".join(["# " + what, "#", *("# " + ln if ln else "#" for ln in lines), ""])


def write_codegen(flow, grid, backend: str, out: str | Path, accuracy: int = 2,
                  gradient: str = "continuous") -> list[Path]:
    """Write the kernel sources, a driver and a README for ``flow`` on ``grid`` into ``out``.

    Returns the written paths. Refuses a folder that exists and holds files other than
    earlier ``nedsym codegen`` output (it never overwrites foreign files).
    """
    from nedsym.methods.stages import lower

    out = Path(out)
    st = lower(flow, grid, backend=backend, gradient=gradient, accuracy=accuracy)
    names = {f"rhs_{backend}.py", f"energy_{backend}.py", "driver.py", "README.md",
             "codegen.json"}
    if out.exists():
        if not out.is_dir():
            raise ConfigError(f"-o {str(out)!r} exists and is not a folder")
        foreign = sorted(p.name for p in out.iterdir() if p.name not in names
                         and not p.name.startswith(("rhs_", "energy_")))
        if foreign:
            raise ConfigError(f"-o {str(out)!r} already holds other files ({', '.join(foreign[:3])}"
                              "); choose an empty or new folder")
    out.mkdir(parents=True, exist_ok=True)
    E = flow.energy
    from nedsym.symbolic.declare import field_name
    from nedsym.symbolic.printing import compact_str

    scal = list(st.kernels["rhs"].scalars)
    params = [float(st.lowered.params[p]) for p in sorted(st.lowered.params)]
    scalars = params + [float(h) for h in grid.spacing] + [float(b[0]) for b in grid.bounds] \
        + [0.0]
    common = [
        f"energy:   E[u] = ∫ {compact_str(E.density)} dx",
        *(f"δE/δ{field_name(c)} = {compact_str(flow.potentials[c])}" for c in E.components),
        f"flow:     {flow.metric} gradient flow; d{field_name(E.components[0])}/dt = "
        f"{compact_str(next(iter(flow.rhs.values())))}",
        f"grid:     {grid.shape} points on {list(map(tuple, grid.bounds))}, bc={grid.bc!r}, "
        f"accuracy {accuracy}, gradient route {gradient!r}, halo {st.halo}",
        f"scalars (in this order): {', '.join(map(str, scal))}",
        "  (parameters sorted by name, then h<k> spacings, lo<k> lower bounds, t the time)",
        *(f"  _P{k}_ = {name} (default {st.lowered.params[name]:g})"
          for k, name in enumerate(sorted(st.lowered.params))),
        f"backend:  {backend}; written by nedsym codegen (nedsym "
        f"{__import__('nedsym').__version__})",
    ]
    rhs_doc = _header(f"rhs_{backend}.py: the gradient flow's right-hand side, generated",
                      ["rhs(yp, out, *scalars): out[f, i, ...] = d(field f)/dt at interior "
                       "point i,", "reading the padded state yp (ghost cells filled by the "
                       "caller).", "", *common])
    en_doc = _header(f"energy_{backend}.py: the discrete energy, generated",
                     ["energy(yp, *scalars) -> float: the sum of the discrete energy density "
                      "over", "the interior; E_h = energy(...) * cell volume.", "", *common])
    written = []
    for name, doc in (("rhs", rhs_doc), ("energy", en_doc)):
        p = out / f"{name}_{backend}.py"
        p.write_text(doc + "\n" + st.sources[name])
        written.append(p)
    if backend in ("numpy", "numba"):
        sim = flow.discretize(grid, backend="numpy", accuracy=accuracy, gradient=gradient)
        # the stable step shrinks as the state grows (phases reach ±1): estimate it at a
        # state of amplitude 1 and keep half of it, so the fixed-step driver stays stable
        y0 = sim.initial("random", seed=0, amplitude=1.0)
        dt = 0.5 * float(sim.stable_dt(0.0, y0, stepper="euler"))
        bd = sim.boundary
        p = out / "driver.py"
        p.write_text(_DRIVER.format(
            numba=" and numba" if backend == "numba" else "", halo=st.halo, backend=backend,
            rhs_name=st.kernels["rhs"].name, energy_name=st.kernels["energy"].name,
            fields=[str(f) for f in st.lowered.fields], shape=tuple(grid.shape),
            scalar_names=", ".join(map(str, scal)), scalars=scalars,
            kinds=np.asarray(bd.kinds).tolist(), values=np.asarray(bd.values).tolist(),
            dt=dt, cell=float(grid.dV), fill_ghosts=_fill_ghosts_source()))
        written.append(p)
    readme = ["# Generated kernels", "", "Written by `nedsym codegen`. Every number below was "
              "derived from the energy.", "", "```text", *common, "```", "",
              f"- `rhs_{backend}.py`: `{st.kernels['rhs'].name}(yp, out, *scalars)`, the "
              "right-hand side on the interior of a padded state.",
              f"- `energy_{backend}.py`: `{st.kernels['energy'].name}(yp, *scalars)`, the "
              "discrete energy's interior sum (times the cell volume gives E_h)."]
    if backend in ("numpy", "numba"):
        readme.append("- `driver.py`: explicit Euler from a small random state with NumPy "
                      "ghost filling; `python driver.py 200` prints the energy as it falls.")
    else:
        readme.append(f"- GPU backend `{backend}`: the kernels take device arrays; launch "
                      "them with `nedsym.codegen.gpu.GpuKernel` or your own launcher (no "
                      "driver is written).")
    (out / "README.md").write_text("\n".join(readme) + "\n")
    written.append(out / "README.md")
    (out / "codegen.json").write_text(json.dumps(
        {"backend": backend, "shape": list(grid.shape), "scalars": [str(s) for s in scal],
         "values": scalars, "halo": st.halo, "files": [p.name for p in written]}, indent=1))
    written.append(out / "codegen.json")
    return written
