import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def _kernel_cache(tmp_path_factory):
    """One fresh kernel cache for the whole test session."""
    old = os.environ.get("NEDSYM_CACHE_DIR")
    os.environ["NEDSYM_CACHE_DIR"] = str(tmp_path_factory.mktemp("nedsym-cache"))
    yield Path(os.environ["NEDSYM_CACHE_DIR"])
    if old is None:
        del os.environ["NEDSYM_CACHE_DIR"]
    else:
        os.environ["NEDSYM_CACHE_DIR"] = old
