"""Shared printing rules for all kernel backends.

One printer class per backend derives from :class:`KernelPrinter`; a node's
printing rule lives in one ``_print_<Node>`` method here unless a backend
really differs (function names, grid accesses, literals).

Rules shared by every backend (see GPU_NOTES):

* integer powers are printed as products, ``x**3 -> (x*x*x)``, negative ones as
  ``1/(...)``; ``x**(1/2)`` as ``sqrt(x)``;
* float literals are typed through :meth:`KernelPrinter.literal`, so a
  float32 printer never promotes arithmetic to float64;
* ``Mod`` keeps sympy's (Python's) sign rule: ``a % b``.
"""

from __future__ import annotations

import sympy as sp
from sympy.printing.str import StrPrinter

from nedsym.codegen.ir import KernelIR
from nedsym.errors import CodegenError

#: largest |integer exponent| expanded into a product; larger ones use ``**``
MAX_EXPANDED_POWER = 16
DTYPES = ("float64", "float32")


class KernelPrinter(StrPrinter):
    """Base printer: sympy expression at a generic grid point -> backend source.

    Subclasses set :attr:`backend` and :attr:`function_names` and implement
    :meth:`access` and :meth:`kernel_source`.
    """

    backend = "abstract"
    #: no expression class has this method, so every node goes through ``_print_<Node>``
    printmethod = "_nedsym_kernel_print"
    #: sympy function name -> backend callable name
    function_names: dict[str, str] = {}

    def __init__(self, ir: KernelIR, dtype: str = "float64", state: str = "yp"):
        if dtype not in DTYPES:
            raise CodegenError(f"dtype must be one of {DTYPES}, got {dtype!r}")
        super().__init__({"full_prec": True})
        self.ir = ir
        self.dtype = dtype
        self.state = state

    # -- hooks a backend overrides ------------------------------------------
    def literal(self, value: float) -> str:
        """A float literal of the kernel's dtype."""
        return repr(float(value))

    def access(self, field: int, offsets: tuple[int, ...]) -> str:
        """Source for the grid value of field ``field`` at ``point + offsets``."""
        raise NotImplementedError

    def kernel_source(self) -> str:
        """The complete module source defining the kernel function ``ir.name``."""
        raise NotImplementedError

    # -- shared node rules --------------------------------------------------
    def doprint_expr(self, expr: sp.Expr) -> str:
        """Print one expression (an IR right-hand side)."""
        return self._print(expr)

    def _print_Indexed(self, expr):
        return self.access(*self.ir.access_offsets(expr))

    def _print_Symbol(self, expr):
        return expr.name

    def _print_Integer(self, expr):
        return self.literal(int(expr))

    def _print_Rational(self, expr):
        return self.literal(float(expr))

    def _print_Float(self, expr):
        return self.literal(float(expr))

    def _print_NumberSymbol(self, expr):
        return self.literal(float(expr))

    _print_Pi = _print_Exp1 = _print_NumberSymbol

    def _print_BooleanTrue(self, expr):
        return "True"

    def _print_BooleanFalse(self, expr):
        return "False"

    def _print_Infinity(self, expr):
        raise CodegenError("infinite constants cannot be printed in a kernel")

    _print_NegativeInfinity = _print_NaN = _print_ComplexInfinity = _print_Infinity

    def _print_Pow(self, expr, rational=False):
        base, exp = expr.base, expr.exp
        if exp.is_Integer and abs(int(exp)) <= MAX_EXPANDED_POWER:
            n = int(exp)
            if n == 0:
                return self.literal(1.0)
            b = self.parenthesize(base, sp.printing.precedence.PRECEDENCE["Mul"], strict=False)
            prod = "*".join([b] * abs(n))
            prod = f"({prod})" if abs(n) > 1 else prod
            return prod if n > 0 else f"{self.literal(1.0)}/{prod}"
        if exp == sp.S.Half:
            return self._call("sqrt", [base])
        if exp == -sp.S.Half:
            return f"{self.literal(1.0)}/{self._call('sqrt', [base])}"
        b = self.parenthesize(base, sp.printing.precedence.PRECEDENCE["Pow"], strict=False)
        e = self.parenthesize(exp, sp.printing.precedence.PRECEDENCE["Pow"], strict=True)
        return f"{b}**{e}"

    def _print_Mod(self, expr):
        a, b = (self.parenthesize(x, sp.printing.precedence.PRECEDENCE["Mul"], strict=False)
                for x in expr.args)
        return f"({a} % {b})"

    def _print_Function(self, expr):
        return self._call(type(expr).__name__, expr.args)

    def _print_Max(self, expr):
        return self._fold("Max", expr.args)

    def _print_Min(self, expr):
        return self._fold("Min", expr.args)

    def _print_Heaviside(self, expr):
        return self._print(expr.rewrite(sp.Piecewise))

    def _print_Piecewise(self, expr):
        *pairs, (last_e, last_c) = expr.args
        if last_c != sp.true:
            raise CodegenError(f"Piecewise without a final True branch: {expr}")
        out = self._print(last_e)
        for e, c in reversed(pairs):
            out = self._where(c, e, out)
        return out

    def _print_Relational(self, expr):
        ops = {"==": "==", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
        lhs = self.parenthesize(expr.lhs, sp.printing.precedence.PRECEDENCE["Add"], strict=True)
        rhs = self.parenthesize(expr.rhs, sp.printing.precedence.PRECEDENCE["Add"], strict=True)
        return f"({lhs} {ops[expr.rel_op]} {rhs})"

    # -- helpers ------------------------------------------------------------
    def _call(self, name: str, args) -> str:
        try:
            fname = self.function_names[name]
        except KeyError:
            raise CodegenError(f"the {self.backend} printer cannot print function {name!r}; "
                               f"supported: {sorted(self.function_names)}") from None
        return f"{fname}({', '.join(self._print(a) for a in args)})"

    def _fold(self, name: str, args) -> str:
        out = self._print(args[0])
        for a in args[1:]:
            out = f"{self.function_names[name]}({out}, {self._print(a)})"
        return out

    def _where(self, cond, then, otherwise_src: str) -> str:
        """``then if cond else otherwise`` (``otherwise_src`` is already printed)."""
        raise NotImplementedError

    def scalar_args(self) -> str:
        return "".join(f", {s}" for s in self.ir.scalars)

    def coordinate_source(self, k: int, index: str) -> str:
        """``lo_k + (i_k + 1/2) h_k`` for axis ``k`` with loop index ``index``."""
        return f"lo{k} + ({index} + {self.literal(0.5)})*h{k}"
