"""Sphinx configuration for the nedsym documentation (MyST markdown pages).

Build from the repository root, warnings as errors (what CI runs)::

    python -m sphinx -W --keep-going -q -b html docs docs/_build/html
"""

from __future__ import annotations

import os
import re
import sys

# Import the package from this checkout even when it is not installed.
sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))
sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "_ext")))

from nedsym._version import __version__  # noqa: E402

project = "nedsym"
author = "nedsym developers"
copyright = "nedsym developers"
version = __version__
release = __version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "nedsym_gallery",          # docs/_ext: runs examples/ at reduced size into gallery/
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

# MyST: $...$ and $$...$$ math, amsmath environments, ::: fences.
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3

# autodoc / napoleon: numpy-style docstrings; GPU libraries are never needed to build.
autodoc_mock_imports = ["cupy", "numba.cuda"]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
napoleon_numpy_docstring = True
napoleon_google_docstring = False

nitpicky = False

html_theme = "furo"
html_title = f"nedsym {release}"
# only when present: a fresh checkout may have no _static/ (a missing path is a warning)
_static = os.path.join(os.path.dirname(__file__), "_static")
html_static_path = ["_static"] if os.path.isdir(_static) else []
html_theme_options = {"navigation_with_keys": True}


# -- docstring work-arounds ----------------------------------------------------
# nedsym's docstrings write numpy sections as "name: description" (one line per
# name), not numpy's "name : type" + indented description, so napoleon would read
# every description as a type. Rewrite such lines (only in Parameters/Attributes
# sections, before napoleon runs) as "name" + indented description.
_FIELD_SECTIONS = {"parameters", "other parameters", "attributes", "keyword arguments"}
_FIELD_LINE = re.compile(
    r"^(?P<indent>\s*)(?P<names>\**[A-Za-z_]\w*(?:\s*,\s*\**[A-Za-z_]\w*)*):\s+(?P<desc>\S.*)$")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _split_field_lines(lines: list[str]) -> list[str]:
    out: list[str] = []
    section, base = None, 0
    for i, line in enumerate(lines):
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        stripped = line.strip()
        if stripped and set(nxt.strip()) == {"-"} and _indent(nxt) == _indent(line):
            section, base = stripped.lower(), _indent(line)
            out.append(line)
            continue
        m = _FIELD_LINE.match(line)
        if section in _FIELD_SECTIONS and m and _indent(line) == base:
            pad = m.group("indent")
            out += [pad + m.group("names"), pad + "    " + m.group("desc")]
        else:
            out.append(line)
    return out


def _process_docstring(app, what, name, obj, options, lines):
    lines[:] = _split_field_lines(lines)


def setup(app):
    # before napoleon (priority 500) turns the numpy sections into fields
    app.connect("autodoc-process-docstring", _process_docstring, priority=400)
