import subprocess
import sys

import pytest
from kernels import lap_1d

from nedsym.codegen import BACKENDS, available, compile_kernel
from nedsym.errors import BackendUnavailableError


def test_available_reports_every_backend_without_raising():
    av = available()
    assert set(av) == set(BACKENDS)
    assert av["numpy"][0] and av["numba"][0]
    for ok, reason in av.values():
        assert isinstance(ok, bool) and isinstance(reason, str) and reason


@pytest.mark.skipif(available()["cupy"][0], reason="cupy usable here")
def test_missing_gpu_backend_raises_with_reason():
    with pytest.raises(BackendUnavailableError, match="'cupy'") as err:
        compile_kernel(lap_1d(), backend="cupy")
    assert available()["cupy"][1] in str(err.value)


def test_unknown_backend_lists_valid_ones():
    with pytest.raises(BackendUnavailableError, match="valid backends are.*numba-cuda"):
        compile_kernel(lap_1d(), backend="fortran")


def test_import_is_lazy():
    code = ("import sys, nedsym, nedsym.codegen; "
            "print(sorted(m for m in ('numba.cuda', 'numba_cuda', 'cupy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stderr
