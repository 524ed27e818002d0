"""The sweep store under failure and parallelism: a sweep killed (SIGKILL, a real subprocess) and resumed
equals an uninterrupted one row for row; process-pool and Dask LocalCluster results equal serial ones;
random and Latin-hypercube draws, confirm_front and search."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from simulator.sweep import load_sweep, run_sweep

#: Ten staging-buffer sizes: ten preparation groups, so a run takes a few seconds and writes many chunks.
AXES = {"platform.memories.buffer.capacity": {"from": "16 KiB", "to": "1 MiB", "steps": 10, "scale": "log"},
        "platform.memories.backbone.technology": ["rram", "stt-mram", "sram-lstp"],
        "study.scenario.rate": ["5 Hz", "50 Hz"]}


@pytest.fixture(scope="module")
def root(sweep_root):
    """A folder with the small study (tests/conftest.py)."""
    return sweep_root


def _spec(root: Path, name: str, axes=AXES, **extra) -> Path:
    doc = {"name": name, "study": "study.yaml", "platform": "edge-rram", "axes": axes, **extra}
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def serial(root):
    spec = _spec(root, "store", chunk_rows=2)
    return spec, run_sweep(spec, root / "serial", workers=1)


def test_killed_and_resumed_sweep_equals_an_uninterrupted_one(root, serial):
    spec, whole = serial
    out = root / "killed"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "simulator.cli.main", "sweep", str(spec), "-o", str(out),
                             "--workers", "1", "--no-progress"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    parts = []
    while time.monotonic() < deadline and proc.poll() is None:
        parts = list((out / "points.parquet").glob("part-*.parquet")) if out.exists() else []
        if parts:
            break
        time.sleep(0.02)
    assert proc.poll() is None, proc.stderr.read().decode()      # still running: killed partway
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = load_sweep(out)
    assert 0 < len(partial) < len(whole)
    assert partial["point_id"].is_unique
    resumed = run_sweep(spec, out, workers=1)
    assert len(resumed) == len(whole)
    pd.testing.assert_frame_equal(load_sweep(out), load_sweep(root / "serial"))
    # nothing evaluated twice: the resumed run only added the points the killed one had not stored
    stored = pd.concat([pd.read_parquet(p) for p in (out / "points.parquet").glob("part-*.parquet")])
    assert len(stored) == len(whole) and stored["point_id"].is_unique


def test_process_pool_equals_serial(root, serial):
    spec, whole = serial
    pooled = run_sweep(spec, root / "pool", workers=2)
    pd.testing.assert_frame_equal(pooled, whole)


def test_dask_local_cluster_equals_serial(root, serial):
    distributed = pytest.importorskip("distributed")
    spec, whole = serial
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=50) as cluster, distributed.Client(cluster) as client:
        on_cluster = run_sweep(spec, root / "dask", client=client)
        assert len(client.scheduler_info()["workers"]) == 2
    pd.testing.assert_frame_equal(on_cluster, whole)


@pytest.mark.parametrize("method", [{"random": 7}, {"lhs": 7}])
def test_random_and_lhs_draws_are_reproducible_and_within_the_axes(root, method):
    axes = {"platform.memories.buffer.capacity": {"from": "32 KiB", "to": "512 KiB", "scale": "log"},
            "study.scenario.switch_probability": {"from": 0.0, "to": 1.0},
            "platform.memories.backbone.technology": ["rram", "stt-mram"]}
    kind = next(iter(method))
    spec = _spec(root, f"draw-{kind}", axes, method=method, seed=5)
    a = run_sweep(spec, root / f"draw-{kind}-a", workers=1, outputs=False)
    b = run_sweep(spec, root / f"draw-{kind}-b", workers=1, outputs=False)
    pd.testing.assert_frame_equal(a, b)
    assert len(a) == 7
    cap = a["platform.memories.buffer.capacity"]
    assert ((cap >= 32 * 1024) & (cap <= 512 * 1024)).all() and (cap == cap.round()).all()
    p = a["study.scenario.switch_probability"]
    assert ((p >= 0) & (p <= 1)).all()
    if kind == "lhs":   # one draw in each of 7 strata of the probability axis
        assert sorted((p * 7).astype(int).clip(0, 6)) == list(range(7))


def test_confirm_front_stores_the_engine_beside_the_closed_form(root):
    axes = {"platform.memories.backbone.technology": ["rram", "stt-mram", "sram-lstp"]}
    spec = _spec(root, "confirm", axes, confirm_front=True,
                 objectives={"energy_per_inference_J": "min", "area_m2": "min"})
    frame = run_sweep(spec, root / "confirm", workers=1)
    analytic = frame[frame["evaluator"] == "analytic"]
    engine = frame[frame["evaluator"] == "engine"]
    pareto = pd.read_csv(root / "confirm" / "pareto.csv")
    assert len(analytic) == 3 and 1 <= len(engine) == len(pareto)
    assert set(engine["point_id"]) == set(pareto["point_id"])
    assert pareto["engine_energy_per_inference_J"].notna().all()
    assert engine["peak_power_W"].notna().all()          # the engine gives the timeline figures too


def test_search_finds_points_no_grid_point_dominates(root):
    axes = {"platform.memories.backbone.technology": ["rram", "stt-mram", "sram-lstp", "pcm"],
            "platform.memories.buffer.capacity": ["32 KiB", "128 KiB"]}
    objectives = {"energy_per_inference_J": "min", "area_m2": "min"}
    grid = run_sweep(_spec(root, "grid-all", axes, objectives=objectives), root / "grid-all", workers=1)
    found = run_sweep(_spec(root, "search", axes, objectives=objectives, method={"search": 12}, seed=1),
                      root / "search", workers=1)
    assert 1 <= len(found) <= 12 and found["point_id"].isin(grid["point_id"]).all()
    from simulator.sweep.pareto import front

    best = front(grid, objectives)
    assert front(found, objectives)["point_id"].isin(grid["point_id"]).all()
    assert found["point_id"].isin(best["point_id"]).any()
