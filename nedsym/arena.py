"""Reused memory for the arrays a depth forward pass or gradient returns.

A gradient at width 64, batch 256, 20 RK4 steps returns ~58 MB of arrays (the states, the
stage states, the products the forward pass kept for the adjoint, the costates). Taken from
the allocator afresh at every call, that memory is page-faulted in again whenever glibc has
given the previous call's pages back to the system, which depends on what else the process
holds: measured on a 2-core AMD EPYC VM, the same gradient took 31 ms in a loop that dropped
each result and 47 ms (4,700 page faults per call) while one earlier result was kept alive.

:class:`Arena` hands out the call's arrays from one block it keeps between calls. A block is
reused only once nothing references any array of the call that used it: each call's arrays
are views of one per-call array over the block (a ``memoryview``, so that NumPy does not
collapse the views' bases past it), and a weak reference to that array tells when the last
view, the user's included, has died. A result the user keeps therefore keeps its block;
the next call takes another one. Arrays are taken only while :meth:`Arena.active` is
entered in the current context (:func:`empty` is ``np.empty`` otherwise), so the helpers
that use it work unchanged outside a gradient; :func:`suspended` turns it off for a stretch
of a call whose arrays are temporaries (they would only make the block larger).

Limits: a kept array, or any view of it, pins its whole block (a block holds everything the
call took, not only that array); a call that returns little should take little (the depth
module's forward pass takes its states and stage states alone, its gradient with the
discrete adjoint everything that adjoint reads, with the continuous one the states and
stage states).
What is tracked is the arrays: the buffer objects below them (``a.base.base``, a
``memoryview`` NumPy made, and its ``.obj``) kept alone after their arrays have died are
not, and the block is then reused under them. The offsets of one call are not locked: the
threads of one call (a context copied into a worker thread) must not take arrays at once.
"""

from __future__ import annotations

import contextvars
import threading
import weakref
from contextlib import contextmanager

import numpy as np

_ACTIVE: contextvars.ContextVar = contextvars.ContextVar("nedsym_depth_arena", default=None)

#: offsets of the arrays taken, in float64 entries (64 bytes: cache lines, AVX-512 loads)
_ALIGN = 8


def empty(shape) -> np.ndarray:
    """An uninitialized float64 array of ``shape``: from the arena active in this context,
    else ``np.empty``."""
    arena = _ACTIVE.get()
    if arena is None:
        return np.empty(shape)
    return arena.take(shape)


@contextmanager
def suspended():
    """Within it, :func:`empty` is ``np.empty`` even inside an active arena (for the
    temporaries of a call that returns only some of what it computes). It hides the active
    arena: another arena entered within it serves its own call (safe: each arena's blocks
    are its own) instead of standing aside."""
    token = _ACTIVE.set(None)
    try:
        yield
    finally:
        _ACTIVE.reset(token)


class Arena:
    """Blocks of memory reused by successive calls (see the module docstring).

    ``max_blocks``: how many blocks it keeps (one per call result alive at once: a loop
    that rebinds ``g = ode.gradient(...)`` holds the previous result during the next call,
    so two are in use); blocks beyond that are forgotten (their memory goes when the last
    array of them dies)."""

    def __init__(self, max_blocks: int = 3):
        import numbers

        if not isinstance(max_blocks, numbers.Integral) or isinstance(max_blocks, bool) \
                or max_blocks < 1:
            from nedsym.errors import ConfigError

            raise ConfigError(f"Arena(max_blocks=...) must be a whole number >= 1, "
                              f"got {max_blocks!r}")
        self.max_blocks = int(max_blocks)
        self._blocks: list[list] = []  # [memoryview, weakref to its call's array or None]
        self._need = 0                 # float64 entries the calls took (the largest)
        self._lock = threading.Lock()
        self._flat = None
        self._off = 0

    def __reduce__(self):
        return (Arena, (self.max_blocks,))

    @property
    def nbytes(self) -> int:
        """Bytes of the blocks kept."""
        return sum(len(b[0]) for b in self._blocks)

    @contextmanager
    def active(self):
        """Take the arrays of the enclosed call from a free block. Re-entered, it stands
        aside (the enclosing call's block serves); entered by a second thread while one
        call runs, too (that thread allocates plainly)."""
        if _ACTIVE.get() is not None or not self._lock.acquire(blocking=False):
            yield
            return
        try:
            self._flat, self._off = self._pick(), 0
            token = _ACTIVE.set(self)
            try:
                yield
            finally:
                _ACTIVE.reset(token)
                self._need = max(self._need, self._off)
                self._flat = None  # the call's arrays alone keep it alive now
        finally:
            self._lock.release()

    def _pick(self):
        """A per-call array over a free block large enough for the largest call so far (a
        new block when none is free), or None before the first call has measured it."""
        if self._need == 0:
            return None
        need = (self._need + _ALIGN) * 8  # room to align the first array
        kept, chosen = [], None
        for entry in self._blocks:
            free = entry[1] is None or entry[1]() is None
            if free and len(entry[0]) < need:
                continue  # too small for these calls: let it go
            if free and chosen is None:
                chosen = entry
            kept.append(entry)
        if chosen is None:
            # a memoryview over an uninitialized array: not zero-filled (a bytearray would
            # write every page once more), and no ndarray base for the views to collapse to
            chosen = [memoryview(np.empty(need, dtype=np.uint8)), None]
            kept.append(chosen)
        busy = [e for e in kept if e is not chosen]
        # the most recent busy blocks, max_blocks - 1 of them, and the chosen one
        self._blocks = busy[max(0, len(busy) - (self.max_blocks - 1)):] + [chosen] \
            if self.max_blocks > 1 else [chosen]
        buf = chosen[0]
        skip = (-np.frombuffer(buf, dtype=np.uint8).ctypes.data) % (8 * _ALIGN)
        # one array straight over the buffer: every view of it has it as its base
        flat = np.frombuffer(buf, dtype=np.float64, count=(len(buf) - skip) // 8, offset=skip)
        chosen[1] = weakref.ref(flat)
        return flat

    def take(self, shape) -> np.ndarray:
        """An array of ``shape`` from the current block (``np.empty`` once it is full; the
        next call's block is then large enough)."""
        size = 1
        for d in (shape if isinstance(shape, tuple) else (shape,)):
            size *= int(d)
        start = self._off
        self._off = start + -(-size // _ALIGN) * _ALIGN
        flat = self._flat
        if flat is None or self._off > flat.shape[0]:
            return np.empty(shape)
        return flat[start:start + size].reshape(shape)
