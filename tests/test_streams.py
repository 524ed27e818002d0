"""Request streams: order, periods, seeding, task mix and switch probability."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from simulator.prepare import streams
from simulator.errors import SimulationConfigError
from simulator.testing import request_streams


def test_fixed_keeps_order_and_period():
    s = streams.fixed(["a", "b", "b", "a"], 2e-3)
    assert [r.task for r in s] == ["a", "b", "b", "a"]
    assert np.allclose(s.arrivals_s, [0, 2e-3, 4e-3, 6e-3])
    assert s.switches() == 2 and s.tasks == ["a", "b"]


def test_round_robin_cycles():
    s = streams.round_robin(["x", "y", "z"], 7, 1.0)
    assert [r.task for r in s] == list("xyzxyzx")
    assert [r.id for r in s] == list(range(7))


@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 50))
@settings(max_examples=30, deadline=None)
def test_poisson_same_seed_same_stream(seed, n):
    mix = {"a": 1.0, "b": 2.0, "c": 0.5}
    assert streams.poisson(mix, n, 1e3, 0.3, seed) == streams.poisson(mix, n, 1e3, 0.3, seed)


def test_poisson_different_seed_differs():
    mix = {"a": 1.0, "b": 1.0}
    assert streams.poisson(mix, 20, 1e3, 0.5, 1) != streams.poisson(mix, 20, 1e3, 0.5, 2)


def test_poisson_rate_and_mix_and_switches():
    n = 20000
    s = streams.poisson({"a": 3.0, "b": 1.0}, n, 500.0, 1.0, seed=7)
    gaps = np.diff(np.concatenate([[0.0], s.arrivals_s]))
    assert abs(gaps.mean() - 1 / 500.0) < 0.05 / 500.0          # mean inter-arrival 1/rate
    assert s.switches() == n - 1                                   # switch_prob 1 with two tasks: always
    never = streams.poisson({"a": 3.0, "b": 1.0}, n, 500.0, 0.0, seed=7)
    assert never.switches() == 0 and len(never.tasks) == 1
    half = streams.poisson({"a": 1.0, "b": 1.0}, n, 500.0, 0.25, seed=3)
    assert abs(half.switches() / (n - 1) - 0.25) < 0.02
    first = [streams.poisson({"a": 3.0, "b": 1.0}, 1, 1.0, 0.0, seed=k).requests[0].task for k in range(2000)]
    assert abs(first.count("a") / 2000 - 0.75) < 0.05              # the first task follows the mix


@given(st.data())
@settings(max_examples=50, deadline=None)
def test_streams_are_ordered(data):
    s = data.draw(request_streams(["a", "b"]))
    assert all(b.arrival_s >= a.arrival_s for a, b in zip(s.requests, s.requests[1:]))
    assert [r.id for r in s] == list(range(len(s)))


@pytest.mark.parametrize("make, field", [
    (lambda: streams.fixed([], 1.0), "scenario.tasks"),
    (lambda: streams.fixed(["a"], -1.0), "scenario.period_s"),
    (lambda: streams.round_robin(["a"], 0, 1.0), "scenario.requests"),
    (lambda: streams.poisson({"a": 1.0}, 3, 0.0, 0.1, 0), "scenario.rate_hz"),
    (lambda: streams.poisson({"a": 1.0}, 3, 1.0, 1.5, 0), "scenario.switch_prob"),
    (lambda: streams.poisson({"a": -1.0}, 3, 1.0, 0.5, 0), "scenario.task_mix"),
])
def test_bad_input_names_the_field(make, field):
    with pytest.raises(SimulationConfigError, match=field):
        make()
