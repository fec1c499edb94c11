import pytest
import sympy as sp

import nedsym as ns
from nedsym.errors import ParseError
from nedsym.symbolic.parse import parse

x, y = ns.coords("x y")
u = ns.Field("u", (x, y))


def test_parse_matches_python_api():
    E1 = ns.Energy.parse("eps^2/2*|grad(u)|^2 + (u^2-1)^2/4", coords="x y", fields="u",
                         params={"eps": 0.05})
    eps = ns.Param("eps", 0.05)
    E2 = ns.Energy(eps**2 / 2 * ns.grad(u).dot(ns.grad(u)) + (u**2 - 1) ** 2 / 4, fields=[u])
    assert sp.expand(E1.density - E2.density) == 0
    assert E1.params == {eps: 0.05}


@pytest.mark.parametrize("text,expected", [
    ("u_x^2 + u_xy", u.diff(x) ** 2 + u.diff(x, y)),
    ("u_xx + u_yy - lap(u)", sp.S.Zero),
    ("-u^2", -(u**2)),
    ("2^3^2", sp.Integer(512)),
    ("2u + 0.5(u-1)", 2 * u + (u - 1) / 2),
    ("|grad(u)|^2", u.diff(x) ** 2 + u.diff(y) ** 2),
    ("dot(grad(u), grad(u))", u.diff(x) ** 2 + u.diff(y) ** 2),
    ("1e-3*u", u / 1000),
    ("sin(pi*x)*u", sp.sin(sp.pi * x) * u),
    ("norm(grad(u))^2", u.diff(x) ** 2 + u.diff(y) ** 2),
])
def test_notation(text, expected):
    assert sp.simplify(parse(text, "x y", "u") - expected) == 0


@pytest.mark.parametrize("name", ["E", "I", "N", "S", "Q", "beta", "gamma", "lambda", "pi"])
def test_user_names_are_never_sympy_objects(name):
    expr = parse(f"{name}*u", "x y", "u", {name: 1.5})
    sym = next(s for s in expr.free_symbols if s.name == name)
    assert isinstance(sym, ns.Param) and sym.default == 1.5
    assert expr.func is sp.Mul


@pytest.mark.parametrize("name", ["E", "I", "N", "S", "gamma", "lambda", "beta"])
def test_undeclared_sympy_names_are_errors(name):
    with pytest.raises(ParseError, match=f"unknown name '{name}'"):
        parse(f"u + {name}", "x y", "u")


@pytest.mark.parametrize("text,position,fragment", [
    ("u +* 2", 3, "unexpected '*'"),
    ("foo*u", 0, "unknown name 'foo'"),
    ("u u", 2, "missing operator"),
    ("sin(u", 5, "expected ')'"),
    ("bar(u)", 0, "unknown function 'bar'"),
    ("u + $", 4, "unexpected character"),
    ("div(u)", 0, "div"),
    ("grad(u)[5]", 7, "out of range"),
    ("", 0, "empty"),
])
def test_errors_name_token_and_position(text, position, fragment):
    with pytest.raises(ParseError) as info:
        parse(text, "x y", "u")
    assert fragment in str(info.value)
    assert info.value.position == position


def test_vector_field_and_indexing():
    expr = parse("|grad(w)|^2 + div(w)^2 + w[0]*w[1]", "x y", {"w": 2})
    w = ns.Field("w", (x, y), shape=2)
    assert sp.expand(expr - (sum(e**2 for e in ns.grad(w)) + ns.div(w) ** 2 + w[0] * w[1])) == 0


def test_duplicate_names_rejected():
    with pytest.raises(ParseError, match="declared twice"):
        parse("u", "x y", "u", {"x": 1})


def test_boundary_energy_parse():
    E = ns.Energy.parse("|grad(u)|^2/2", coords="x y", fields="u", params="alpha=2",
                        boundary="alpha*u^2/2")
    assert E.boundary is not None and E.params[ns.Param("alpha")] == 2.0


def test_a_parameter_default_never_leaks_into_another_energy():
    """sympy caches expressions by equality: a Param equal to an earlier one (same name)
    came back out of a cached product with the earlier default (0.05 instead of 0.2)."""
    ns.Energy.parse("eps^2/2*|grad(u)|^2 + (u^2-1)^2/4", coords="x y", fields="u",
                    params={"eps": 0.05})
    x1, = ns.coords("x")
    u1 = ns.Field("u", (x1,))
    eps = ns.Param("eps", 0.2)
    E = ns.Energy(eps ** 2 / 2 * ns.grad(u1).dot(ns.grad(u1)) + (u1 ** 2 - 1) ** 2 / 4,
                  fields=[u1])
    assert E.params["eps"] == 0.2 and E.params[ns.Param("eps")] == 0.2
    assert ns.Param("eps", 0.2) == eps and ns.Param("eps", 0.05) != eps
