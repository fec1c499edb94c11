"""The :class:`Target` interface: everything nedsym knows about one kernel backend.

A target names its printer, says whether it can run here (:meth:`Target.check`), compiles a
kernel IR through the disk cache (:meth:`Target.compile`), says which array library holds
states (:meth:`Target.array_module`) and how to bring them to the host, who fills ghost
cells (:meth:`Target.halo_filler`: the host filler of :mod:`nedsym.codegen.halo` on a
CPU), and whether it has compiled time segments
(``time_segments``). :data:`TARGETS` is the registry :func:`nedsym.codegen.available` reads;
a new backend is one module that subclasses :class:`Target` and calls
:func:`register_target` (see ``docs/architecture.md``).
"""

from __future__ import annotations

import numpy as np

from nedsym.errors import BackendUnavailableError

__all__ = ["TARGETS", "Target", "get_target", "register_target"]

#: registered targets by backend name (in registration order: the preference on a CPU)
TARGETS: dict[str, Target] = {}


class Target:
    """One kernel backend. Subclasses set ``name`` and ``printer`` and override what differs.

    Example
    -------
    >>> get_target("numpy").array_module().__name__, get_target("numba").time_segments
    ('numpy', True)
    """

    #: the backend name users pass (``backend="..."``)
    name = ""
    #: the :class:`~nedsym.codegen.printers.KernelPrinter` subclass printing its kernels
    printer: type | None = None
    #: states live on a device (a GPU), not in host memory
    device = False
    #: it has compiled fixed-step and embedded Runge–Kutta segments (:mod:`nedsym.codegen.segments`)
    time_segments = False

    def check(self) -> tuple[bool, str]:
        """``(can run here, why)``; must not raise."""
        return True, self.name

    def require(self) -> None:
        """Raise :class:`~nedsym.errors.BackendUnavailableError` unless it can run here."""
        try:
            ok, reason = self.check()
        except Exception as exc:  # noqa: BLE001 - any failure is a reason
            ok, reason = False, f"{type(exc).__name__}: {exc}"
        if not ok:
            raise BackendUnavailableError(f"backend {self.name!r} is unavailable: {reason}")

    def source(self, ir, dtype: str = "float64") -> str:
        """The generated module source of a kernel IR."""
        return self.printer(ir, dtype=dtype).kernel_source()

    def load_module(self, source: str, name: str, resident: bool = False, **key: str):
        """Load a generated module of this backend through the disk cache (the one entry
        point every package compiles through: grid kernels, network partials, depth batches,
        chunk kernels). ``key`` adds to the cache key (``dtype=``, ``kind=``, ...);
        ``resident`` keeps it imported across :func:`~nedsym.codegen.cache_clear`."""
        from nedsym.codegen.cache import load_source

        return load_source(source, name, {"backend": self.name, **key}, resident=resident)

    def compile(self, ir, dtype: str = "float64", check: bool = True):
        """Print, load through the cache and wrap a kernel IR
        (a :class:`~nedsym.codegen.compile.CompiledKernel`)."""
        from nedsym.codegen.compile import CompiledKernel

        source = self.source(ir, dtype)
        module = self.load_module(source, ir.name, dtype=dtype)
        return CompiledKernel(ir, self.name, dtype, getattr(module, ir.name), source,
                              module.__file__, check)

    def array_module(self):
        """The array library holding a simulation's state (numpy here)."""
        return np

    def to_host(self, a) -> np.ndarray:
        """A NumPy view or copy of one of its arrays."""
        return np.asarray(a)

    def halo_filler(self, boundary, dtype: str):
        """An object with ``fill(yp, t)`` for padded states of this target: on the CPU the
        compiled host filler (:class:`nedsym.codegen.halo.HostHaloFiller`)."""
        from nedsym.codegen.halo import HostHaloFiller

        return HostHaloFiller(boundary, dtype)

    def __repr__(self) -> str:
        return f"<Target {self.name!r}>"


def register_target(target: Target, replace: bool = False) -> Target:
    """Add ``target`` to :data:`TARGETS` (``replace=True`` to redefine a name)."""
    if not isinstance(target, Target) or not target.name or target.printer is None:
        raise BackendUnavailableError("a target needs a name and a printer class "
                                      f"(got {target!r})")
    if target.name in TARGETS and not replace:
        raise BackendUnavailableError(f"a target named {target.name!r} is already "
                                      "registered (pass replace=True to redefine it)")
    TARGETS[target.name] = target
    return target


def get_target(name: str) -> Target:
    """The registered target of backend ``name`` (a clear error for an unknown name)."""
    try:
        return TARGETS[name]
    except (KeyError, TypeError):
        raise BackendUnavailableError(
            f"unknown backend {name!r}; valid backends are {list(TARGETS)}") from None
