"""`nedsym verify` tells the truth: PASS on the energies of the docs and examples, FAIL on
wrong derivatives and wrong boundary terms, INCONCLUSIVE (non-zero exit) when nothing could
be measured."""

import numpy as np
import pytest
import sympy as sp

import nedsym as ns
from nedsym.cli import main
from nedsym.verify import box_taylor_test, taylor_test

# (density, coords, extra CLI arguments): the energies in docs/, the examples and the demos
ENERGIES = [
    ("eps^2/2*|grad(u)|^2 + (u^2-1)^2/4", "x,y", ["-p", "eps=0.1"]),
    ("-r/2*u^2 + (u + lap(u))^2/2 + u^4/4", "x,y", ["-p", "r=0.3"]),
    ("sqrt(|grad(u)|^2 + delta^2)", "x,y", ["-p", "delta=0.5"]),
    ("kappa/2*|grad(u)|^2", "x,y", ["-p", "kappa=2"]),
    ("(1 + u^2)*|grad(u)|^2/2 + u^4/4", "x,y", []),
    ("u_x^2 + u*(1-u)", "x", []),
    ("u_x^2/2 + lambda*u^4", "x", ["-p", "lambda=0.5"]),
    ("|grad(u)|^2/2", "x,y,z", []),
    ("|grad(w[0])|^2/2 + |grad(w[1])|^2/2 + (|w|^2 - 1)^2/4", "x,y", ["-f", "w:2"]),
    ("sqrt(1+|grad(u)|^2)", "x,y", []),
    ("(1+x^2)*u_x^2/2 - sin(x)*u", "x", []),
    ("u*log(u) + u_x^2/(2*u)", "x", []),
    ("u_x^2/2 + mean(u)^2", "x", []),
    ("u_x^2/2 + u*mean(u)", "x", []),
    ("u_xx^2/2 + u_x^2", "x", []),
    ("lap(u)^2/2 + u*u_x*u_y", "x,y", []),
    ("log(1 + |grad(u)|^2)/2 + (u - sin(x)*cos(y))^2/2", "x,y", []),
    ("u_x^2/2 + u^4/4", "x", ["--boundary", "10*(u-1)^2"]),
]


@pytest.mark.parametrize("density,coords,extra", ENERGIES, ids=[e[0] for e in ENERGIES])
def test_verify_passes_the_documented_energies(capsys, density, coords, extra):
    rc = main(["verify", density, "--coords", coords, *extra])
    out = capsys.readouterr().out
    assert rc == 0 and "verification PASSED" in out, out


@pytest.mark.parametrize("claim", ["u=u_xx - u^3", "u=-u_xx", "u=-u_xx + u^3 + u"],
                         ids=["sign flipped", "term dropped", "term added"])
def test_verify_fails_wrong_derivatives(capsys, claim):
    rc = main(["verify", "u_x^2/2 + u^4/4", "--coords", "x", "--gradient", claim])
    out = capsys.readouterr().out
    assert rc == 1 and "verification FAILED" in out, out


def test_box_test_catches_a_wrong_boundary_term(monkeypatch):
    x, = ns.coords("x")
    E = ns.Energy.parse("u_x^2/2 + u^2/2", coords="x", boundary="(u-1)^2")
    assert box_taylor_test(E, sp.sin(x + 1), sp.cos(2 * x) + 1).passed()
    real = type(E).natural_bc

    def dropped(self, c, *a, **k):
        bc = real(self, c, *a, **k)
        bc.terms = {k2: 0 * t for k2, t in bc.terms.items()}
        return bc

    monkeypatch.setattr(type(E), "natural_bc", dropped)
    r = box_taylor_test(E, sp.sin(x + 1), sp.cos(2 * x) + 1)
    assert r.verdict()[0] == "FAIL"


def test_nothing_measured_is_inconclusive_not_pass():
    x, y = ns.coords("x y")
    E = ns.Energy.parse("u_x^2", coords="x y")
    # 4 points per axis cannot see cos(3x): the energy does not change at all
    r = taylor_test(E, u0=sp.Integer(0), v=sp.cos(2 * x), n=4)
    assert r.verdict()[0] == "INCONCLUSIVE" and not r.passed()
    E2 = ns.Energy.parse("u*log(u)", coords="x")
    r2 = taylor_test(E2, u0=sp.sin(x), v=sp.cos(x), n=32)
    assert r2.verdict()[0] == "INCONCLUSIVE" and "NaN" in r2.verdict()[1]
    assert np.isnan(r2.energy) or not np.all(np.isfinite(r2.remainder1))


@pytest.mark.parametrize("args,msg", [
    (["-n", "-5"], "-n must be at least 8"),
    (["-n", "100000000"], "at most"),
    (["--box", "1:0"], "a < b"),
    (["--box", "0:1,0:1,0:1"], "one interval"),
    (["-f", "u:0"], "components must be an integer"),
    (["-p", "eps=nan"], "not a finite decimal"),
    (["-p", "eps=\uff11"], "not a finite decimal"),
    (["--u0", "__import__('os')"], "unexpected character"),
    (["--u0", "exp(q)"], "unknown name 'q'"),
])
def test_verify_refuses_bad_options_in_one_line(capsys, args, msg):
    rc = main(["verify", "eps*u_x^2/2", "--coords", "x,y", "-p", "eps=1", *args])
    err = capsys.readouterr().err
    assert rc == 2 and msg in err and "Traceback" not in err, err
