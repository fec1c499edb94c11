"""Finite-difference and oracle checks of everything nedsym derives."""

from nedsym.verify.box import box_taylor_test
from nedsym.verify.oracle import OracleReport, against_sympy, equivalent
from nedsym.verify.taylor import TaylorResult, convergence_rates, taylor_test

__all__ = ["taylor_test", "box_taylor_test", "TaylorResult", "convergence_rates",
           "against_sympy", "equivalent", "OracleReport"]
from nedsym.verify.jacobian import JacobianCheck, check_jacobian  # noqa: E402

__all__ += ["check_jacobian", "JacobianCheck"]
