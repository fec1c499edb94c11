import pytest
import sympy as sp

import nedsym as ns
from nedsym.errors import (
    CoordinateError,
    DeclarationError,
    FieldError,
    MetricError,
    NedsymError,
    NonDifferentiableError,
)

x, y, z = ns.coords("x y z")
u = ns.Field("u", (x, y))
v = ns.Field("v", (x, y))


def test_field_not_in_density():
    with pytest.raises(FieldError, match="field v is declared but does not occur"):
        ns.Energy(u**2, [u, v])


def test_undeclared_field():
    with pytest.raises(FieldError, match=r"undeclared fields \['v'\]"):
        ns.Energy(u**2 + v**2, [u])


def test_variational_derivative_of_absent_field():
    with pytest.raises(FieldError, match="field v does not occur"):
        ns.variational_derivative(u**2, v)


@pytest.mark.parametrize("term,head", [(sp.Abs(u), "Abs"), (sp.Max(u, 0), "Max"),
                                       (sp.sign(u.diff(x)), "sign")])
def test_non_differentiable(term, head):
    with pytest.raises(NonDifferentiableError, match=head) as info:
        ns.Energy(term + u**2, [u])
    assert "sqrt" in str(info.value) or "smooth" in str(info.value)


def test_mismatched_coordinates():
    w = ns.Field("w", (x, z))
    with pytest.raises(CoordinateError, match="incompatible"):
        ns.Energy(u**2 + w**2, [u, w])
    with pytest.raises(CoordinateError, match="not among"):
        ns.Energy(u**2, [u], coords=(x,))


def test_unknown_metric():
    E = ns.Energy(u**2, [u])
    with pytest.raises(MetricError, match="unknown metric 'H2'.*'L2', 'H-1'"):
        ns.GradientFlow(E, metric="H2")


def test_bad_mobility():
    E = ns.Energy(u**2 + v**2, [u, v])
    with pytest.raises(MetricError, match="positive"):
        ns.GradientFlow(E, mobility=-1)
    with pytest.raises(MetricError, match=r"expected \(2, 2\)"):
        ns.GradientFlow(E, mobility=sp.eye(3))
    with pytest.raises(MetricError, match="symmetric"):
        ns.GradientFlow(E, mobility=sp.Matrix([[1, 1], [0, 1]]))
    with pytest.raises(MetricError, match="not a field"):
        ns.GradientFlow(E, mobility={"q": 1})


def test_declaration_errors():
    with pytest.raises(DeclarationError):
        ns.Field("2u", (x,))
    with pytest.raises(DeclarationError):
        ns.Field("u", (x + 1,))
    with pytest.raises(DeclarationError):
        ns.Param("eps", "small")
    with pytest.raises(DeclarationError, match="does not occur"):
        ns.Energy(u**2, [u], params={"eps": 1})
    E = ns.Energy(sp.Symbol("k") * u**2, [u])
    with pytest.raises(DeclarationError, match=r"\['k'\] have no value"):
        E.param_values()


def test_all_errors_share_a_base():
    with pytest.raises(NedsymError):
        ns.GradientFlow(ns.Energy(u**2, [u]), metric="nope")
