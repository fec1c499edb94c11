"""A gallery built from ``examples/`` while the docs build (executed, at reduced size).

For every entry of :data:`GALLERY` the example's ``main(...)`` runs with the NumPy reference
kernels and the small sizes the test suite uses; its figure is copied to
``docs/gallery/_images/`` and a page ``docs/gallery/<name>.md`` is written with the
example's docstring, the figure, the command to run it at full size and its source. The
index page ``docs/gallery/index.md`` links them with thumbnails. A failing example fails
the build (the gallery cannot show a stale figure).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import shutil
import tempfile
from pathlib import Path

#: example → (how it takes its output: "dir" (an ``out`` folder, returns {"figure": path}) or
#: "file" (an output file path, returns it), keyword arguments of its reduced run, as in the
#: test suite)
GALLERY = {
    "allen_cahn": ("dir", {"n": 32, "t_end": 6.0, "backend": "numpy", "dpi": 70}),
    "cahn_hilliard": ("dir", {"n": 32, "t_end": 2e-3, "backend": "numpy", "dpi": 70}),
    "energy_stable": ("dir", {"n": 32, "t_end": 0.05, "backend": "numpy", "dpi": 70}),
    "swift_hohenberg": ("dir", {"n": 32, "t_end": 15.0, "backend": "numpy", "dpi": 70}),
    "tv_denoise": ("dir", {"n": 32, "t_end": 1.0, "backend": "numpy", "dpi": 70}),
    "heat": ("dir", {"n": 16, "t_end": 0.01, "backend": "numpy", "dpi": 70}),
    "ned_nonlinear_poisson": ("dir", {"steps": 30, "baseline_steps": 200, "dpi": 70,
                                      "width": 16, "points": 200}),
    "ned_heat_residual": ("dir", {"steps": 40, "baseline_steps": 200, "dpi": 70,
                                  "width": 16, "points": 256}),
    "depth_ode": ("file", {"n": 3, "max_layers": 32, "train_iters": 20}),
    "relax_landscape": ("file", {"cells": 200, "seeds": 2, "outer_steps": 20}),
    "quadrature_convergence": ("file", {"max_exp": 7, "seeds": 2}),
}


def _run(path: Path, how: str, kwargs: dict, out: Path) -> tuple[str, Path]:
    spec = importlib.util.spec_from_file_location(f"gallery_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with contextlib.redirect_stdout(io.StringIO()):     # the examples print their physics
        if how == "dir":
            figure = module.main(out=str(out), **kwargs)["figure"]
        else:
            figure = module.main(str(out / f"{path.stem}.png"), **kwargs)
    return (module.__doc__ or path.stem).strip(), Path(figure)


def build_gallery(app) -> None:
    docs = Path(app.srcdir)
    examples = docs.parent / "examples"
    gallery = docs / "gallery"
    images = gallery / "_images"
    images.mkdir(parents=True, exist_ok=True)
    index = ["# Gallery", "",
             "Each example below was run while these pages were built, at the reduced size "
             "shown (grid examples with the NumPy reference kernels); the command under each "
             "runs it at full size. Sources are in `examples/`.", ""]
    pages = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, (how, kwargs) in GALLERY.items():
            doc, fig = _run(examples / f"{name}.py", how, kwargs, Path(tmp))
            shutil.copyfile(fig, images / f"{name}.png")
            title, _, rest = doc.partition("\n")
            small = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
            page = [f"# {title.rstrip('.')}", "", "```text", rest.strip(), "```", "",
                    f"![{name}](_images/{name}.png)", "",
                    f"Run here as `main({small})`. At full size:", "", "```console",
                    f"$ python examples/{name}.py", "```", "", "## Source", "",
                    f"```{{literalinclude}} ../../examples/{name}.py", ":language: python",
                    "```", ""]
            (gallery / f"{name}.md").write_text("\n".join(page))
            pages.append(name)
            index += [f"## [{title.rstrip('.')}]({name}.md)", "",
                      f"[![{name}](_images/{name}.png)]({name}.md)", ""]
    index += ["```{toctree}", ":hidden:", "", *pages, "```", ""]
    (gallery / "index.md").write_text("\n".join(index))


def setup(app):
    app.connect("builder-inited", build_gallery)
    return {"parallel_read_safe": True, "version": "1"}
