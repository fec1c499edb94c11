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
import threading
import warnings
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType

from nedsym._version import __version__
from nedsym.errors import CodegenError

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


def _file_mode() -> int:
    """``rw-r--r--`` less the umask: a shared cache stays readable by its other users."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _unwritable(folder: Path, exc: OSError) -> CodegenError:
    return CodegenError(f"cannot write the kernel cache in {str(folder)!r} "
                        f"({exc.strerror or exc}); set NEDSYM_CACHE_DIR to a writable folder")


def store_source(source: str, stem: str, options: Mapping[str, object],
                 suffix: str = ".py") -> Path:
    """Write ``source`` to ``<cache>/kernels/<stem>_<key><suffix>`` once; return the path.

    A file that exists and holds exactly ``source`` is never rewritten (safe under
    concurrent processes). One whose content does not match its key (edited by hand,
    truncated) is replaced by the right source, with a warning: a cached file never changes
    what runs. Files are readable by the cache's other users (mode 0644 less the umask).

    Example
    -------
    >>> store_source("// demo", "demo", {}, suffix=".cu").suffix
    '.cu'
    """
    folder = cache_dir() / "kernels"
    path = folder / f"{stem}_{cache_key(source, options)}{suffix}"
    if path.exists():
        try:
            if path.read_text() == source:
                return path
        except (OSError, UnicodeDecodeError):
            pass
        warnings.warn(f"cached kernel {path.name} does not match its hash (edited or "
                      "corrupt): replacing it with the generated source", RuntimeWarning,
                      stacklevel=3)
        _write(folder, path, source, replace=True)
        return path
    _write(folder, path, source, replace=False)
    return path


def _write(folder: Path, path: Path, source: str, replace: bool) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # a temporary file, then a hard link into place: the link fails if a concurrent
        # process got there first, so a good file is never rewritten
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
    except OSError as exc:
        raise _unwritable(folder, exc) from None
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(source)
        os.chmod(tmp, _file_mode())
        if replace:
            os.replace(tmp, path)
            return
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        except OSError:  # no hard links on this file system
            if not path.exists():
                os.replace(tmp, path)
    except OSError as exc:
        raise _unwritable(folder, exc) from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


#: held while a generated module is imported (see load_source)
_IMPORT_LOCK = threading.RLock()


def load_source(source: str, stem: str, options: Mapping[str, object],
                resident: bool = False) -> ModuleType:
    """Write ``source`` to ``<cache>/kernels/<stem>_<key>.py`` (once) and import it.

    ``resident``: a runtime module other compiled code calls by reference (the ghost-cell
    filler): :func:`cache_clear` deletes its file but leaves it imported, since dispatchers
    compiled against it look it up by module name.

    Example
    -------
    >>> mod = load_source("def f():\\n    return 1\\n", "demo", {})
    >>> mod.f()
    1
    """
    path = store_source(source, stem, options)
    fullname = path.stem
    # one import at a time: a module is in sys.modules before its body has run, and another
    # thread finding it there would get it half-defined (re-entrant: a module may load one)
    with _IMPORT_LOCK:
        hit = sys.modules.get(fullname)
        if hit is not None and getattr(hit, "__file__", None) == str(path):
            return hit
        spec = importlib.util.spec_from_file_location(fullname, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[fullname] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(fullname, None)
            raise
        if not resident:
            _LOADED.add(fullname)
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
    """Delete every cached kernel source and numba cache file; return how many sources were
    removed. Files that cannot be removed (a read-only cache) raise a
    :class:`~nedsym.errors.CodegenError` that says so; nothing is reported as removed that
    is still there.

    Example
    -------
    >>> cache_clear() >= 0
    True
    """
    folder = cache_dir() / "kernels"
    if not folder.exists():
        return 0
    sources = [p for p in folder.glob("*") if p.suffix in _SOURCE_SUFFIXES]
    failed: list[str] = []

    def onerror(func, path, exc):
        failed.append(str(path))

    if sys.version_info >= (3, 12):
        shutil.rmtree(folder, onexc=onerror)
    else:
        shutil.rmtree(folder, onerror=onerror)
    for name in _LOADED:
        sys.modules.pop(name, None)
    _LOADED.clear()
    left = [p for p in sources if p.exists()]
    if failed or left:
        raise CodegenError(f"could not clear the kernel cache {str(folder)!r}: "
                           f"{len(sources) - len(left)} of {len(sources)} kernel sources "
                           f"removed; {len(failed)} paths could not be deleted (read-only? "
                           f"first: {failed[0] if failed else left[0]})")
    return len(sources)
