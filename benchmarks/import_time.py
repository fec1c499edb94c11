"""Process-start benchmark: ``import nedsym`` and ``nedsym derive`` against ``import sympy``.

Each figure is the median wall time of fresh Python processes (``--runs``, default 7), run
interleaved, measured around the import inside the process (so interpreter start-up is
excluded), and for the CLI the whole process (``python -m nedsym derive``) against a whole
``python -c "import sympy"`` process.

Usage: python benchmarks/import_time.py [--runs 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

INNER = "import time; t = time.perf_counter(); import {m}; print(time.perf_counter() - t)"


def inner(module: str) -> float:
    out = subprocess.run([sys.executable, "-c", INNER.format(m=module)], capture_output=True,
                         text=True, check=True)
    return float(out.stdout)


def whole(argv: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, *argv], capture_output=True, check=True)
    return time.perf_counter() - t


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=7)
    args = p.parse_args(argv)
    rows = {"import sympy": [], "import nedsym": [], "process: import sympy": [],
            "process: nedsym derive": []}
    for _ in range(args.runs):
        rows["import sympy"].append(inner("sympy"))
        rows["import nedsym"].append(inner("nedsym"))
        rows["process: import sympy"].append(whole(["-c", "import sympy"]))
        rows["process: nedsym derive"].append(whole(["-m", "nedsym", "derive"]))
    med = {k: statistics.median(v) for k, v in rows.items()}
    for k, v in med.items():
        print(f"{k:<24} {v:6.3f} s (median of {args.runs})")
    print(f"import nedsym / import sympy: {med['import nedsym'] / med['import sympy']:.2f}x")
    print(f"nedsym derive / python -c 'import sympy': "
          f"{med['process: nedsym derive'] / med['process: import sympy']:.2f}x")


if __name__ == "__main__":
    main()
