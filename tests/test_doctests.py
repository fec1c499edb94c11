"""Every docstring example in the package runs and shows what it claims (one test per
module, so a failure names it)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import nedsym

MODULES = sorted(m.name for m in pkgutil.walk_packages(nedsym.__path__, "nedsym.")
                 if m.name != "nedsym.__main__")   # runs the CLI when imported


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False,
                             report=True)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
