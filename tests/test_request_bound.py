"""A study, a stream or --requests above the validated bound is a one-line error (exit 2), before any work."""
import pytest

from simulator.cli import main as cli
from simulator.errors import SimulationConfigError
from simulator.prepare import streams
from simulator.prepare.streams import MAX_REQUESTS


@pytest.mark.parametrize("requests", [MAX_REQUESTS + 1, 10**9])
def test_a_study_above_the_bound_is_one_line(tmp_path, capsys, requests):
    path = tmp_path / "big.yaml"
    path.write_text(f"model: albert-base-v2\ntasks: [a, b]\nplatforms: [edge-sram]\n"
                    f"scenario:\n  requests: {requests}\n")
    assert cli.main(["run", str(path), "-o", str(tmp_path / "out"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "scenario.requests" in err[0] and str(MAX_REQUESTS) in err[0]
    assert not (tmp_path / "out").exists()


def test_requests_flag_above_the_bound_is_one_line(tmp_path, capsys):
    assert cli.main(["run", "--requests", str(MAX_REQUESTS + 1), "-o", str(tmp_path / "o"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--requests" in err[0] and "10,000,000" in err[0]


def test_streams_refuse_more_than_the_bound_and_accept_it():
    with pytest.raises(SimulationConfigError, match="scenario.requests"):
        streams.poisson({"a": 1.0}, MAX_REQUESTS + 1, 10.0, 0.3, 0)
    with pytest.raises(SimulationConfigError, match="scenario.requests"):
        streams.round_robin(["a"], MAX_REQUESTS + 1, 0.1)
    assert streams.check_count(MAX_REQUESTS) == MAX_REQUESTS


def test_a_contended_study_above_the_event_bound_is_one_line(tmp_path, capsys, monkeypatch):
    """``max_in_flight > 1`` simulates every event and keeps every transfer: a stream of more ops than
    ``MAX_EVENT_OPS`` is a one-line error naming the study, the field, the count and the way out."""
    from simulator.engine import discrete_event

    monkeypatch.setattr(discrete_event, "MAX_EVENT_OPS", 1000)
    path = tmp_path / "contended.yaml"
    path.write_text("model: albert-base-v2\nlayers: 1\nhidden: 64\nseq_len: 8\ntasks: [a, b]\n"
                    "platforms: [edge-sram]\nscenario:\n  requests: 40\n  max_in_flight: 2\n")
    assert cli.main(["run", str(path), "-o", str(tmp_path / "out"), "--no-progress", "--jobs", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"hetsim: error: {path}: scenario.requests: 40 requests")
    assert "expected at most 1,000 ops" in err[0] and "max_in_flight: 1" in err[0]
    monkeypatch.setattr(discrete_event, "MAX_EVENT_OPS", 10**9)
    assert cli.main(["run", str(path), "-o", str(tmp_path / "out"), "--no-progress", "--jobs", "1"]) == 0
    assert "40 requests (2 in flight at once)" in capsys.readouterr().out.splitlines()[0]
    assert "2 requests in flight at once" in (tmp_path / "out" / "report.md").read_text()
