"""Test-session set-up shared by every test module."""
import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def _private_trace_cache(tmp_path_factory):
    """Keep the tests' traces out of the user's cache (~/.cache/hetsim): one fresh cache per test session,
    shared by the tests of that session (tests that study the cache itself set their own)."""
    old = os.environ.get("HETSIM_CACHE")
    os.environ["HETSIM_CACHE"] = str(tmp_path_factory.mktemp("trace-cache"))
    yield
    if old is None:
        os.environ.pop("HETSIM_CACHE", None)
    else:
        os.environ["HETSIM_CACHE"] = old
