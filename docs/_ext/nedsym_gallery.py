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

#: example → keyword arguments of its reduced run (as in tests/test_examples.py)
GALLERY = {
    "allen_cahn": {"n": 32, "t_end": 6.0, "backend": "numpy"},
    "cahn_hilliard": {"n": 32, "t_end": 2e-3, "backend": "numpy"},
    "swift_hohenberg": {"n": 32, "t_end": 15.0, "backend": "numpy"},
    "tv_denoise": {"n": 32, "t_end": 1.0, "backend": "numpy"},
    "heat": {"n": 16, "t_end": 0.01, "backend": "numpy"},
}


def _run(path: Path, kwargs: dict, out: Path) -> tuple[str, Path]:
    spec = importlib.util.spec_from_file_location(f"gallery_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with contextlib.redirect_stdout(io.StringIO()):     # the examples print their physics
        result = module.main(out=str(out), dpi=70, **kwargs)
    return (module.__doc__ or path.stem).strip(), Path(result["figure"])


def build_gallery(app) -> None:
    docs = Path(app.srcdir)
    examples = docs.parent / "examples"
    gallery = docs / "gallery"
    images = gallery / "_images"
    images.mkdir(parents=True, exist_ok=True)
    index = ["# Gallery", "",
             "Each example below was run while these pages were built, at the reduced size "
             "shown, with the NumPy reference kernels; the command under each runs it at full "
             "size. Sources are in `examples/`.", ""]
    pages = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, kwargs in GALLERY.items():
            doc, fig = _run(examples / f"{name}.py", kwargs, Path(tmp))
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
