"""NumPy printer: the reference backend and the test oracle for all others.

Every grid access ``u[i+a, j+b]`` becomes a slice view of the padded state,
so a kernel is a handful of whole-array expressions and no Python loop over
points runs.
"""

from __future__ import annotations

from nedsym.codegen.printers.base import KernelPrinter

_NP_FUNCS = {
    "exp": "np.exp", "log": "np.log", "sqrt": "np.sqrt", "sin": "np.sin", "cos": "np.cos",
    "tan": "np.tan", "asin": "np.arcsin", "acos": "np.arccos", "atan": "np.arctan",
    "atan2": "np.arctan2", "sinh": "np.sinh", "cosh": "np.cosh", "tanh": "np.tanh",
    "asinh": "np.arcsinh", "acosh": "np.arccosh", "atanh": "np.arctanh", "erf": "_sps.erf",
    "Abs": "np.abs", "sign": "np.sign", "Max": "np.maximum", "Min": "np.minimum",
    "floor": "np.floor", "ceiling": "np.ceil",
}


class NumpyPrinter(KernelPrinter):
    """Prints a :class:`~nedsym.codegen.ir.KernelIR` as a vectorized NumPy function.

    Map: ``kernel(yp, out, *scalars)`` fills ``out``; reduce:
    ``kernel(yp, *scalars) -> float`` returns the plain sum over the interior.

    Example
    -------
    >>> import sympy as sp
    >>> from nedsym.codegen.ir import build_map_kernel, index_symbols
    >>> (i,) = index_symbols(1)
    >>> u = sp.IndexedBase("u")
    >>> ir = build_map_kernel(["u"], 1, {"u": u[i + 1] - u[i - 1]}, [], 1, name="diff")
    >>> "yp[0, 2:2 + n0]" in NumpyPrinter(ir).kernel_source()
    True
    """

    backend = "numpy"
    function_names = _NP_FUNCS

    def literal(self, value: float) -> str:
        if self.dtype == "float32":
            return f"np.float32({float(value)!r})"
        return repr(float(value))

    def access(self, field: int, offsets: tuple[int, ...]) -> str:
        tags = "_".join(f"m{-o}" if o < 0 else f"p{o}" if o > 0 else "0" for o in offsets)
        return f"{self.ir.fields[field]}__{tags}"

    def _where(self, cond, then, otherwise_src: str) -> str:
        return f"np.where({self._print(cond)}, {self._print(then)}, {otherwise_src})"

    def _slice(self, field: int, offsets: tuple[int, ...]) -> str:
        parts = [str(field)]
        for k, o in enumerate(offsets):
            start = self.ir.halo + o
            parts.append(f"{start}:{start} + n{k}" if start else f":n{k}")
        return f"{self.state}[{', '.join(parts)}]"

    def kernel_source(self) -> str:
        ir = self.ir
        uses_erf = "erf" in repr([e for _, e in ir.outputs])
        lines = [*self.banner(), "import numpy as np"]
        if uses_erf:
            lines.append("import scipy.special as _sps")
        out_arg = ", out" if ir.kind == "map" else ""
        lines += ["", "", f"def {ir.name}({self.state}{out_arg}{self.scalar_args()}):"]
        body = []
        for k in range(ir.ndim):
            body.append(f"n{k} = {self.state}.shape[{k + 1}] - {2 * ir.halo}")
        shape = "(" + "".join(f"n{k}, " for k in range(ir.ndim)) + ")"
        for f, offs in ir.accesses:
            body.append(f"{self.access(f, offs)} = {self._slice(f, offs)}")
        for k in ir.coords:
            dims = ", ".join(f"n{k}" if d == k else "1" for d in range(ir.ndim))
            body.append(f"x{k} = ({self.coordinate_source(k, f'np.arange(n{k})')})"
                        f".reshape(({dims},))")
        for s, e in ir.means:
            body.append(f"{s} = np.mean(np.broadcast_to({self._print(e)}, {shape}))")
        for s, e in (*ir.invariants, *ir.assignments):
            body.append(f"{s} = {self._print(e)}")
        if ir.kind == "map":
            for f, e in enumerate(ir.results):
                body.append(f"out[{f}, ...] = {self._print(e)}")
        else:
            body.append(f"return float(np.sum(np.broadcast_to({self._print(ir.results[0])}, "
                        f"{shape}), dtype=np.float64))")
        lines += ["    " + b for b in body]
        return "\n".join(lines) + "\n"
