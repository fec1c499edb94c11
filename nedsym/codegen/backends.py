"""Which kernel backends work on this machine, checked lazily and without raising.

Importing nedsym never imports numba, numba-cuda or cupy; :func:`available`
does so only when called, and turns every failure into a reason string.
"""

from __future__ import annotations

import os

__all__ = ["BACKENDS", "available", "require_backend", "simulator_enabled"]

#: the built-in backends, in order of preference on a CPU (the registry,
#: :data:`nedsym.codegen.targets.TARGETS`, may hold more)
BACKENDS = ("numpy", "numba", "numba-cuda", "cupy")


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


def available() -> dict[str, tuple[bool, str]]:
    """For each registered backend (:data:`nedsym.codegen.targets.TARGETS`), whether it can
    run here and why (never raises).

    Example
    -------
    >>> ok, reason = available()["numpy"]
    >>> ok
    True
    """
    from nedsym.codegen.targets import TARGETS

    result = {}
    for name, target in TARGETS.items():
        try:
            result[name] = target.check()
        except Exception as exc:  # noqa: BLE001 - any failure is a reason, not an error
            result[name] = (False, f"{type(exc).__name__}: {exc}")
    return result


def require_backend(name: str) -> None:
    """Raise :class:`BackendUnavailableError` unless backend ``name`` can compile here.

    Example
    -------
    >>> require_backend("numpy")
    """
    from nedsym.codegen.targets import get_target

    get_target(name).require()
