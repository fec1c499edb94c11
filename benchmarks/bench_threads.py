"""The BLAS thread count of a benchmark run, set before NumPy is imported.

``import bench_threads`` first in a benchmark script (run as ``python benchmarks/X.py``: the
script's folder is then on ``sys.path``): ``--threads N`` on its command line
(default 1) goes into ``OPENBLAS_NUM_THREADS``, ``OMP_NUM_THREADS`` and ``MKL_NUM_THREADS``
unless they are already set, so that the ratios compare code, not cores.
"""

import os
import sys


def threads_from_argv() -> str:
    """The value after ``--threads`` on the command line, else ``"1"``."""
    if "--threads" in sys.argv:
        return sys.argv[sys.argv.index("--threads") + 1]
    return "1"


for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, threads_from_argv())
