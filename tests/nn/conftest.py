
import pytest


@pytest.fixture(scope="session", autouse=True)
def _kernel_cache(fresh_kernel_cache):
    """These tests compile into one fresh kernel cache (see tests/conftest.py)."""
    return fresh_kernel_cache
