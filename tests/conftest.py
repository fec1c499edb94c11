import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def fresh_kernel_cache(tmp_path_factory):
    """One fresh kernel cache (``NEDSYM_CACHE_DIR``) for the session; the old value returns."""
    old = os.environ.get("NEDSYM_CACHE_DIR")
    os.environ["NEDSYM_CACHE_DIR"] = str(tmp_path_factory.mktemp("nedsym-cache"))
    yield Path(os.environ["NEDSYM_CACHE_DIR"])
    if old is None:
        del os.environ["NEDSYM_CACHE_DIR"]
    else:
        os.environ["NEDSYM_CACHE_DIR"] = old
