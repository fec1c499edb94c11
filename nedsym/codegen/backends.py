"""Which kernel backends work on this machine, checked lazily and without raising.

Importing nedsym never imports numba, numba-cuda or cupy; :func:`available`
does so only when called, and turns every failure into a reason string.
"""

from __future__ import annotations

import importlib
import importlib.util
import os

from nedsym.errors import BackendUnavailableError

__all__ = ["BACKENDS", "available", "require_backend", "simulator_enabled"]

#: every backend name nedsym knows, in order of preference on a CPU
BACKENDS = ("numpy", "numba", "numba-cuda", "cupy")
#: backends whose printers exist in this version
PRINTED = BACKENDS


def simulator_enabled() -> bool:
    """Whether numba's CUDA simulator is requested (``NUMBA_ENABLE_CUDASIM=1``).

    It must be set before numba is first imported; kernels then run as Python
    threads on the CPU (slow; for tests on small grids).

    Example
    -------
    >>> isinstance(simulator_enabled(), bool)
    True
    """
    return os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")


def _check_numpy() -> tuple[bool, str]:
    import numpy
    return True, f"numpy {numpy.__version__}"


def _check_numba() -> tuple[bool, str]:
    if importlib.util.find_spec("numba") is None:
        return False, "numba is not installed (pip install numba)"
    import numba
    return True, f"numba {numba.__version__}"


def _nvrtc_reason() -> str | None:
    """Why NVRTC (the runtime CUDA compiler) cannot be loaded, or None when it can."""
    try:
        from cuda.bindings import nvrtc
        err, major, minor = nvrtc.nvrtcVersion()
        if int(err) != 0:
            return f"NVRTC reports {err}"
        return None
    except ImportError:
        pass
    except Exception as exc:  # noqa: BLE001 - library present but unusable
        return f"NVRTC cannot be loaded ({type(exc).__name__}: {exc}); pip install " \
               "nvidia-cuda-nvrtc==13.0.*"
    try:
        from cupy.cuda import nvrtc as cupy_nvrtc
        cupy_nvrtc.getVersion()
        return None
    except Exception as exc:  # noqa: BLE001
        return f"NVRTC is missing ({type(exc).__name__}: {exc}); pip install " \
               "nvidia-cuda-nvrtc==13.0.*"


def _driver_reason() -> str:
    """Why numba sees no usable GPU: no driver, or a driver but no device."""
    try:
        from numba.cuda.cudadrv.driver import driver
        count = driver.get_device_count()
    except Exception as exc:  # noqa: BLE001
        first = " ".join(str(exc).split())
        return f"no usable CUDA driver ({first})"
    if count == 0:
        return "the CUDA driver is installed but no GPU was found"
    return "numba-cuda cannot use the GPU (see numba.cuda.detect())"


def _check_numba_cuda() -> tuple[bool, str]:
    if importlib.util.find_spec("numba") is None or \
            importlib.util.find_spec("numba_cuda") is None:
        return False, "numba-cuda is not installed (pip install numba-cuda)"
    if simulator_enabled():
        from numba import config
        if not config.ENABLE_CUDASIM:
            return False, "NUMBA_ENABLE_CUDASIM=1 was set after numba was imported; set it " \
                "before (e.g. in the shell) to use the CUDA simulator"
        return True, "CUDA simulator on (NUMBA_ENABLE_CUDASIM=1): kernels run on the CPU, " \
            "for tests only"
    cuda = importlib.import_module("numba.cuda")
    if not cuda.is_available():
        return False, _driver_reason()
    reason = _nvrtc_reason()
    if reason:
        return False, reason
    dev = cuda.get_current_device()
    return True, f"numba-cuda on {dev.name.decode() if isinstance(dev.name, bytes) else dev.name}" \
        f" (compute capability {dev.compute_capability[0]}.{dev.compute_capability[1]})"


def _check_cupy() -> tuple[bool, str]:
    if importlib.util.find_spec("cupy") is None:
        return False, "cupy is not installed (pip install cupy-cuda13x)"
    cupy = importlib.import_module("cupy")
    if not cupy.is_available():
        try:
            n = cupy.cuda.runtime.getDeviceCount()
            why = "the CUDA driver is installed but no GPU was found" if n == 0 else \
                "cupy cannot use the GPU"
        except Exception as exc:  # noqa: BLE001
            why = f"no usable CUDA driver ({' '.join(str(exc).split())})"
        return False, f"cupy {cupy.__version__} is installed but {why}"
    reason = _nvrtc_reason()
    if reason:
        return False, reason
    props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
    name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
    return True, f"cupy {cupy.__version__} on {name}"


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
