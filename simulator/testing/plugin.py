"""hetsim's pytest plugin, registered through the ``pytest11`` entry point: installed hetsim, loaded pytest.

Fixtures (nothing to import, nothing to configure):

- ``hetsim_check``: :func:`simulator.testing.hetsim_check`, which runs every law of the catalogue that
  applies to a technology (file or object), memory, compute unit or platform;
- ``hetsim_platforms``: ``{name: Platform}`` of every bundled platform (session-wide);
- ``hetsim_platform``: each bundled platform in turn (the test runs once per platform);
- ``hetsim_technology``: each bundled technology in turn (a :class:`~hw_models.technology.Technology`);
- ``hetsim_workload``: the default study's workload at reduced size (adapter-ALBERT, 2 of its layers at
  width 128, sequence 32, two tasks, 6 Poisson requests with switches; traced once through the trace cache,
  so the first use needs torch and a few seconds).

The report header names hetsim's version and how many laws the catalogue holds (``pytest -p
no:hetsim`` turns the plugin off).
"""
from __future__ import annotations

import pytest


def pytest_report_header(config) -> str:
    """One header line: hetsim's version and the size of the catalogue."""
    from simulator._version import __version__
    from simulator.testing.invariants import CATALOGUE
    return f"hetsim {__version__}: test kit loaded ({len(CATALOGUE)} laws; fixtures hetsim_check, " \
           "hetsim_platform(s), hetsim_technology, hetsim_workload)"


@pytest.fixture
def hetsim_check():
    """:func:`simulator.testing.hetsim_check`: every applicable law on a technology, memory, unit or
    platform; raises naming each broken law."""
    from simulator.testing.invariants import hetsim_check as check
    return check


@pytest.fixture(scope="session")
def hetsim_platforms():
    """Every bundled platform, ``{name: Platform}``."""
    from hw_models import list_platforms, load_platform
    return {name: load_platform(name) for name in list_platforms()}


def _bundled_platforms() -> list[str]:
    from hw_models import list_platforms
    return list_platforms()


def _bundled_technologies() -> list[str]:
    from hw_models.technology import list_technologies
    return list_technologies()


@pytest.fixture(params=_bundled_platforms())
def hetsim_platform(request, hetsim_platforms):
    """Each bundled platform in turn (the test is parametrised by platform name)."""
    return hetsim_platforms[request.param]


@pytest.fixture(params=_bundled_technologies())
def hetsim_technology(request):
    """Each bundled technology in turn (a Technology object; the test is parametrised by its name)."""
    from hw_models.technology import load_technology
    return load_technology(request.param)


@pytest.fixture(scope="session")
def hetsim_workload():
    """The default study's workload at reduced size: adapter-ALBERT (houlsby:8 per repetition, the
    default study's compression), 2 layers of width 128, sequence 32, tasks sst2 and mnli, 6 Poisson
    requests at 2 Hz with a 0.5 switch probability (seed 0)."""
    from simulator.study.runner import build_stream, build_traces, default_study
    from simulator.prepare.served_workload import Workload
    study = default_study().model_copy(update={"layers": 2, "hidden": 128, "seq_len": 32,
                                               "tasks": ["sst2", "mnli"]})
    study = study.model_copy(update={"scenario": study.scenario.model_copy(
        update={"requests": 6, "switch_probability": 0.5, "task_mix": None})})
    return Workload("default-reduced", build_traces(study), build_stream(study), {"study": "default (reduced)"})
