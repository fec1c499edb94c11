"""Which kernel backends work on this machine, checked lazily and without raising.

Importing nedsym never imports numba, numba-cuda or cupy; :func:`available`
does so only when called, and turns every failure into a reason string.
"""

from __future__ import annotations

import importlib
import importlib.util
import os

from nedsym.errors import BackendUnavailableError

__all__ = ["BACKENDS", "available", "require_backend"]

#: every backend name nedsym knows, in order of preference on a CPU
BACKENDS = ("numpy", "numba", "numba-cuda", "cupy")
#: backends whose printers exist in this version
PRINTED = ("numpy", "numba")


def _check_numpy() -> tuple[bool, str]:
    import numpy
    return True, f"numpy {numpy.__version__}"


def _check_numba() -> tuple[bool, str]:
    if importlib.util.find_spec("numba") is None:
        return False, "numba is not installed (pip install numba)"
    import numba
    return True, f"numba {numba.__version__}"


def _check_numba_cuda() -> tuple[bool, str]:
    if importlib.util.find_spec("numba_cuda") is None:
        return False, "numba-cuda is not installed (pip install numba-cuda)"
    simulator = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"
    cuda = importlib.import_module("numba.cuda")
    if simulator:
        return True, "CUDA simulator (NUMBA_ENABLE_CUDASIM=1)"
    if not cuda.is_available():
        return False, "numba-cuda is installed but no CUDA GPU/driver is usable"
    return True, f"numba-cuda on {cuda.get_current_device().name!r}"


def _check_cupy() -> tuple[bool, str]:
    if importlib.util.find_spec("cupy") is None:
        return False, "cupy is not installed (pip install cupy-cuda13x)"
    cupy = importlib.import_module("cupy")
    if not cupy.is_available():
        return False, "cupy is installed but no CUDA GPU/driver is usable"
    return True, f"cupy {cupy.__version__}"


_CHECKS = {"numpy": _check_numpy, "numba": _check_numba,
           "numba-cuda": _check_numba_cuda, "cupy": _check_cupy}


def available() -> dict[str, tuple[bool, str]]:
    """For each backend, whether it can run here and why (never raises).

    Example
    -------
    >>> ok, reason = available()["numpy"]
    >>> ok
    True
    """
    result = {}
    for name in BACKENDS:
        try:
            result[name] = _CHECKS[name]()
        except Exception as exc:  # noqa: BLE001 - any failure is a reason, not an error
            result[name] = (False, f"{type(exc).__name__}: {exc}")
    return result


def require_backend(name: str) -> None:
    """Raise :class:`BackendUnavailableError` unless backend ``name`` can compile here.

    Example
    -------
    >>> require_backend("numpy")
    """
    if name not in BACKENDS:
        raise BackendUnavailableError(
            f"unknown backend {name!r}; valid backends are {list(BACKENDS)}")
    try:
        ok, reason = _CHECKS[name]()
    except Exception as exc:  # noqa: BLE001
        ok, reason = False, f"{type(exc).__name__}: {exc}"
    if not ok:
        raise BackendUnavailableError(f"backend {name!r} is unavailable: {reason}")
    if name not in PRINTED:
        raise BackendUnavailableError(
            f"backend {name!r} is available here ({reason}) but nedsym {_version()} has no "
            f"printer for it yet; printed backends: {list(PRINTED)}")


def _version() -> str:
    from nedsym._version import __version__
    return __version__
