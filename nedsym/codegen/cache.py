"""On-disk cache of generated kernel modules.

Generated source is written to a real file so numba's ``cache=True`` works
and a new process loads compiled machine code instead of recompiling. The file
name is a hash of the source, the nedsym and numba versions and every option
that changes the code; a file is written once and never rewritten (numba's
cache index is keyed on the source file's timestamp).

Location: ``$NEDSYM_CACHE_DIR``, else ``$XDG_CACHE_HOME/nedsym``, else
``~/.cache/nedsym``; kernels live in its ``kernels/`` folder.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType

from nedsym._version import __version__

__all__ = ["cache_clear", "cache_dir", "cache_info", "cache_key", "load_source"]

_LOADED: set[str] = set()
#: file suffixes of generated sources (Python modules, CUDA C)
_SOURCE_SUFFIXES = (".py", ".cu")


def cache_dir() -> Path:
    """The cache folder (created when a kernel is first written), honouring ``NEDSYM_CACHE_DIR``.

    Example
    -------
    >>> isinstance(cache_dir(), Path)   # NEDSYM_CACHE_DIR=/tmp/k moves it to /tmp/k
    True
    """
    env = os.environ.get("NEDSYM_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "nedsym"


def _numba_version() -> str:
    try:
        from importlib.metadata import version
        return version("numba")
    except Exception:  # noqa: BLE001 - metadata missing: key without it
        return "none"


def cache_key(source: str, options: Mapping[str, object]) -> str:
    """Hash of the source, nedsym and numba versions and code-changing ``options``.

    Example
    -------
    >>> cache_key("x = 1", {"backend": "numpy"}) != cache_key("x = 1", {"backend": "numba"})
    True
    """
    h = hashlib.sha256()
    h.update(source.encode())
    h.update(f"\0nedsym={__version__}\0numba={_numba_version()}".encode())
    for k in sorted(options):
        h.update(f"\0{k}={options[k]!r}".encode())
    return h.hexdigest()[:24]


def store_source(source: str, stem: str, options: Mapping[str, object],
                 suffix: str = ".py") -> Path:
    """Write ``source`` to ``<cache>/kernels/<stem>_<key><suffix>`` once; return the path.

    A file that exists is never rewritten (safe under concurrent processes).

    Example
    -------
    >>> store_source("// demo", "demo", {}, suffix=".cu").suffix
    '.cu'
    """
    folder = cache_dir() / "kernels"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}_{cache_key(source, options)}{suffix}"
    if not path.exists():
        # write a temporary file, then hard-link it into place: the link fails if a
        # concurrent process got there first, so the file is never rewritten
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(source)
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
            except OSError:  # no hard links on this file system
                if not path.exists():
                    os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return path


def load_source(source: str, stem: str, options: Mapping[str, object]) -> ModuleType:
    """Write ``source`` to ``<cache>/kernels/<stem>_<key>.py`` (once) and import it.

    Example
    -------
    >>> mod = load_source("def f():\\n    return 1\\n", "demo", {})
    >>> mod.f()
    1
    """
    path = store_source(source, stem, options)
    fullname = path.stem
    if fullname in sys.modules and getattr(sys.modules[fullname], "__file__", None) == str(path):
        return sys.modules[fullname]
    spec = importlib.util.spec_from_file_location(fullname, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[fullname] = module
    _LOADED.add(fullname)
    spec.loader.exec_module(module)
    return module


def cache_info() -> dict:
    """Cache folder, number of kernel sources (``.py``, ``.cu``) and total bytes.

    Example
    -------
    >>> sorted(cache_info())
    ['bytes', 'dir', 'kernels']
    """
    folder = cache_dir() / "kernels"
    kernels = [p for p in folder.glob("*") if p.suffix in _SOURCE_SUFFIXES] \
        if folder.exists() else []
    total = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) \
        if folder.exists() else 0
    return {"dir": str(cache_dir()), "kernels": len(kernels), "bytes": total}


def cache_clear() -> int:
    """Delete every cached kernel source and numba cache file; return how many sources.

    Example
    -------
    >>> cache_clear() >= 0
    True
    """
    folder = cache_dir() / "kernels"
    if not folder.exists():
        return 0
    n = len([p for p in folder.glob("*") if p.suffix in _SOURCE_SUFFIXES])
    shutil.rmtree(folder, ignore_errors=True)
    for name in _LOADED:
        sys.modules.pop(name, None)
    _LOADED.clear()
    return n
