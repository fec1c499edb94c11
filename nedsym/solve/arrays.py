"""Host or device arrays: the solvers work on NumPy or CuPy states alike.

Solvers never import CuPy: the array library is read off the state itself
(``type(y).__module__``), and results are copied to the host only when a
:class:`~nedsym.solve.Result`, a snapshot or a checkpoint needs them.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

__all__ = ["is_device_array", "namespace", "to_host"]


def is_device_array(a: Any) -> bool:
    """Whether ``a`` is a CuPy (device) array.

    Example
    -------
    >>> is_device_array(np.zeros(2))
    False
    """
    return type(a).__module__.split(".")[0] == "cupy"


def namespace(a: Any):
    """The array module of ``a``: ``cupy`` for CuPy arrays, else ``numpy``.

    Example
    -------
    >>> namespace(np.zeros(2)).__name__
    'numpy'
    """
    return sys.modules["cupy"] if is_device_array(a) else np


def to_host(a: Any) -> np.ndarray:
    """``a`` as a NumPy array (a device-to-host copy for CuPy arrays).

    Example
    -------
    >>> to_host(np.ones(2)).tolist()
    [1.0, 1.0]
    """
    return a.get() if is_device_array(a) else np.asarray(a)
