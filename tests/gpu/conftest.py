"""Real-GPU tests: skipped (with the reason) where no GPU is usable, failed instead when
``NEDSYM_REQUIRE_GPU=1`` (set it on GPU runners so a broken driver cannot pass silently).

The CUDA simulator does not count as a GPU here (its checks live in tests/codegen).
"""

import os

import pytest

from nedsym.codegen import available
from nedsym.codegen.backends import simulator_enabled

GPU_BACKENDS = ("numba-cuda", "cupy")


def _reason(backend: str) -> str | None:
    if simulator_enabled():
        return "NUMBA_ENABLE_CUDASIM=1: the CUDA simulator is on, these tests need a real GPU"
    ok, why = available()[backend]
    return None if ok else why


def require(backend: str) -> None:
    """Skip (or fail under NEDSYM_REQUIRE_GPU=1) when ``backend`` cannot run here."""
    why = _reason(backend)
    if why is None:
        return
    message = f"backend {backend!r} unavailable: {why}"
    if os.environ.get("NEDSYM_REQUIRE_GPU", "0") not in ("", "0"):
        pytest.fail(f"NEDSYM_REQUIRE_GPU=1 but {message}", pytrace=False)
    pytest.skip(message)


@pytest.fixture(params=GPU_BACKENDS)
def backend(request):
    """Each GPU backend in turn (skipped/failed when unavailable)."""
    require(request.param)
    return request.param


@pytest.fixture
def cupy_backend():
    require("cupy")
    return "cupy"


@pytest.fixture(scope="session", autouse=True)
def _kernel_cache(tmp_path_factory):
    old = os.environ.get("NEDSYM_CACHE_DIR")
    os.environ["NEDSYM_CACHE_DIR"] = str(tmp_path_factory.mktemp("nedsym-gpu-cache"))
    yield
    if old is None:
        del os.environ["NEDSYM_CACHE_DIR"]
    else:
        os.environ["NEDSYM_CACHE_DIR"] = old
