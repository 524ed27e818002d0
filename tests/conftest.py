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


#: The small study of the sweep tests (tests/test_sweep*.py): ALBERT cut to 2 layers of width 96, two
#: tasks, 12 requests; its traces take seconds, so a sweep of a few dozen points stays quick.
SWEEP_STUDY = """\
name: small
model: albert-base-v2
adapter: houlsby:8
tasks: [a, b]
seq_len: 16
layers: 2
hidden: 96
compression: {bits: {weight: 8, embedding: 8, adapter: 8, activation: 16}}
scenario: {requests: 12, rate: 20 Hz, switch_probability: 0.5, seed: 3}
platforms: [edge-rram]
evaluator: analytic
"""


@pytest.fixture(scope="module")
def sweep_root(tmp_path_factory):
    """A fresh folder (one per test module) holding the sweep tests' small study as ``study.yaml``."""
    root = tmp_path_factory.mktemp("sweep")
    (root / "study.yaml").write_text(SWEEP_STUDY)
    return root
