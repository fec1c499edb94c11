import json
import subprocess
import sys

from nedsym.cli import main


def test_derive_default_allen_cahn(capsys):
    assert main(["derive"]) == 0
    out = capsys.readouterr().out
    assert "δE/δu = -eps**2*u_xx - eps**2*u_yy + u**3 - u" in out
    assert "∂u/∂t" in out and "n_x" in out


def test_derive_json_h_minus_one(capsys):
    assert main(["derive", "u_x^2/2 + lambda*u^4", "--coords", "x", "-p", "lambda=1",
                 "--metric", "H-1", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["variational_derivative"]["u"] == "4*lambda*u**3 - u_xx"
    assert doc["flow"]["metric"] == "H-1"
    assert "u_xxxx" in doc["flow"]["rhs"]["u"]


def test_derive_latex(capsys):
    assert main(["derive", "--latex"]) == 0
    assert r"\frac{\delta E}{\delta u}" in capsys.readouterr().out


def test_derive_error_names_token(capsys):
    assert main(["derive", "gamma*|grad(u)|^2"]) == 2
    err = capsys.readouterr().err
    assert "unknown name 'gamma'" in err and "Traceback" not in err


def test_bad_param_syntax(capsys):
    assert main(["derive", "u^2", "-p", "eps"]) == 2
    assert "NAME=VALUE" in capsys.readouterr().err


def test_verify_command(capsys):
    assert main(["verify", "sqrt(1 + |grad(u)|^2)", "-n", "32"]) == 0
    assert "verification PASSED" in capsys.readouterr().out


def test_help_lists_commands():
    out = subprocess.run([sys.executable, "-m", "nedsym", "--help"], capture_output=True,
                         text=True, check=True).stdout
    assert "derive" in out and "verify" in out


def test_cli_page_matches_the_live_help():
    """docs/cli.md's `--help` and `run --list` blocks are the argparse output (regenerate
    them with `python -m nedsym.cli_doc docs/cli.md`)."""
    from pathlib import Path

    from nedsym.cli_doc import refresh

    page = Path(__file__).resolve().parents[1] / "docs" / "cli.md"
    new, stale = refresh(page.read_text())
    assert not stale, f"stale blocks in docs/cli.md: {stale}"
    for command in ("derive", "verify", "run", "codegen", "cache"):
        assert f"$ nedsym {command} --help" in new


def test_import_nedsym_loads_nothing_heavy_until_used():
    """Fast start: `import nedsym` and `nedsym derive` load sympy, not numpy kernels, scipy or
    numba (timings are in benchmarks/import_time.py); names still resolve on first use."""
    import subprocess
    import sys

    code = ("import sys, nedsym as ns; heavy = [m for m in ('scipy', 'numba', 'matplotlib', "
            "'nedsym.codegen', 'nedsym.quadrature') if m in sys.modules]; assert not heavy, "
            "heavy; g = ns.Grid((4,), [(0, 1)]); assert 'nedsym.discretize' in sys.modules; "
            "assert 'NED' in dir(ns) and ns.errors.NedsymError; print('ok')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr
    code = ("import sys; from nedsym.cli import main; main(['derive']); "
            "heavy = [m for m in ('scipy', 'numba', 'nedsym.codegen') if m in sys.modules]; "
            "assert not heavy, heavy")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
