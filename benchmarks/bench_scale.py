"""Engine and reporting at scale (issue 12): each figure of this checkout beside the previous release's.

The previous release (default: commit 4bf5b2c, the last before replay and the compact ledger) is checked
out as a ``git worktree`` under ``--old-tree`` and run with the same Python in the same run, so both
sides see the same machine and the same load. Every figure is measured in its own subprocess (its peak
RSS is its own). Printed per figure: this checkout, the previous release and the ratio new / old.

Figures (targets from the issue):

- engine, ``--requests`` (10,000) requests of the default study on one platform (edge-rram): wall and
  peak RSS (target <= 5 s, <= 500 MB). The previous release needs ~30 ms and ~0.7 MB per request, so it
  is run on ``--old-requests`` (1,000) and scaled linearly per request (printed as "scaled");
- ``--million`` (1,000,000) requests on one platform with replay (target <= 60 s, <= 2 GB); the
  previous release cannot (``requests: 1e9`` was an allocation traceback): its figure is its 10,000-request
  cost scaled, for scale;
- ``max_in_flight: 4``, ``--contention-requests`` (1,000) requests: engine CPU time per event over raw
  SimPy's per event (timeouts in one process) measured in the same process (target <= 1.5). The events
  are SimPy's (the previous release) or those the compiled event loop processes (this checkout: the same
  model's events, less the ones nobody waits on: ``meta["events"]``); its compiled code is loaded (from
  numba's cache) before the measurement, as in any run after the first. Also events per traced op and
  engine CPU per op (fewer events make the cost per event not the whole story: per op is what a user
  waits for); the event loop alone (``env.run()``, or the compiled loop's call, without building the run
  output) per event over raw SimPy's;
- warm ``hetsim run`` (default study, 100 requests, every output written): wall (target <= 5 s);
- cold ``hetsim run`` (empty trace cache): wall (target <= 30 s).

Run: ``python benchmarks/bench_scale.py [--quick] [--skip-cold] [--old-commit C] [--old-tree DIR]
[--only run|engine|contention] [--repeat N]`` (``--only run --repeat 3``: the hetsim runs only, the best
of three warm runs per side, the sides alternating).
``--quick`` divides every request count by 10 (a smoke run). On a shared machine wall times include
waiting for other processes: the load average is printed first.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: Imports that work in both layouts (flat simulator/ before the subpackages, and after).
_IMPORTS = """
import json, resource, sys, time
try:
    from simulator.engine.discrete_event import simulate
    from simulator.cost.tables import prepare
    from simulator.prepare.served_workload import Workload
    from simulator.results.result import Result
    from simulator.study.runner import build_stream, build_traces, default_study
except ImportError:
    from simulator.engine import simulate
    from simulator.costs import prepare
    from simulator.workload import Workload
    from simulator.results import Result
    from simulator.study import build_stream, build_traces, default_study
from hw_models import load_platform

def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0

def workload(n):
    config = default_study().with_overrides(requests=n)
    traces = build_traces(config, "adapters")
    return Workload("bench", traces, build_stream(config)), config
"""

_WARM_TRACES = _IMPORTS + """
workload(1)
print(json.dumps({"warmed": True}))
"""

_ENGINE = _IMPORTS + """
n = int(sys.argv[1])
platform = load_platform("edge-rram")
w, _ = workload(n)
prepared = prepare(w, platform)
before = rss_mb()
t0, c0 = time.perf_counter(), time.process_time()
run = simulate(w, platform, prepared=prepared)
summary = Result.from_run(run).summary()
print(json.dumps({"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0, "rss": rss_mb(),
                  "rss_before": before, "energy_per_inference_J": summary["energy_per_inference_J"],
                  "requests": n}))
"""

_CONTENTION = _IMPORTS + """
import simpy
n = int(sys.argv[1])
platform = load_platform("edge-rram")
w, _ = workload(n)
prepared = prepare(w, platform)
envs = []
loop = [0.0]          # CPU in the environments' run(): the event simulation without the run output
init = simpy.Environment.__init__
def timed(fn):       # fn, its CPU time added to loop[0]
    def call(*a, **k):
        c = time.process_time()
        try:
            return fn(*a, **k)
        finally:
            loop[0] += time.process_time() - c
    return call
def counting(self, *a, **k):
    init(self, *a, **k)
    envs.append(self)
    self.run = timed(self.run)
simpy.Environment.__init__ = counting
try:                  # the compiled event loop (this checkout): its call is the event loop
    from simulator.engine import kernel
    kernel.simulate_stream = timed(kernel.simulate_stream)
    simulate(workload(2)[0], platform, max_in_flight=4, engine="compiled")   # load the compiled loop (numba's cache)
    loop[0] = 0.0
except ImportError:
    pass
c0 = time.process_time()
run = simulate(w, platform, prepared=prepared, max_in_flight=4)
engine_cpu = time.process_time() - c0
events = run.meta.get("events") or sum(next(env._eid) for env in envs)
simpy.Environment.__init__ = init

def raw(env, k):
    for _ in range(k):
        yield env.timeout(1e-9)
env = simpy.Environment()
env.process(raw(env, events))
c0 = time.process_time()
env.run()
raw_cpu = time.process_time() - c0
ops = sum(len(w.traces[r.task].ops) for r in w.stream)
print(json.dumps({"engine_cpu": engine_cpu, "events": events, "raw_cpu": raw_cpu, "ops": ops,
                  "per_event_us": engine_cpu / events * 1e6, "raw_per_event_us": raw_cpu / events * 1e6,
                  "loop_per_event_us": loop[0] / events * 1e6,
                  "events_per_op": events / ops, "per_op_us": engine_cpu / ops * 1e6}))
"""

_RUN = """
import json, sys, time
try:
    from simulator.cli.main import main
except ImportError:
    from simulator.cli import main
t0 = time.perf_counter()
code = main(sys.argv[1:])
import resource
cpu = sum(getattr(resource.getrusage(who), f) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
          for f in ("ru_utime", "ru_stime"))
print(json.dumps({"wall": time.perf_counter() - t0, "cpu": cpu, "code": code}))
"""


def ensure_old_tree(commit: str, tree: Path) -> Path:
    """A detached ``git worktree`` of ``commit`` at ``tree`` (created if missing)."""
    if not (tree / "simulator").exists():
        tree.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), commit], check=True,
                       stdout=subprocess.DEVNULL)
    return tree


def measure(tree: Path, code: str, *args: str, env: dict | None = None, timeout: float = 3600) -> dict:
    """Run ``code`` with ``tree`` first on the import path in a fresh interpreter; its last stdout line
    is a JSON object of figures."""
    full_env = {**os.environ, "PYTHONPATH": str(tree), **(env or {})}
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], cwd=tree, env=full_env,
                          capture_output=True, text=True, timeout=timeout)
    lines = [ln for ln in proc.stdout.strip().splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        return {"error": f"exit {proc.returncode}: {tail}"}
    return json.loads(lines[-1])


def run_cli(tree: Path, out: Path, cache: Path, requests: int) -> dict:
    """``hetsim run`` of the default study with ``requests`` requests into ``out``, trace cache ``cache``."""
    shutil.rmtree(out, ignore_errors=True)
    return measure(tree, _RUN, "run", "--requests", str(requests), "-o", str(out), "--no-progress",
                   env={"HETSIM_CACHE": str(cache)})


def row(name: str, new: float | None, old: float | None, unit: str, target: str = "", note: str = "") -> None:
    """One figure: new, old, new/old."""
    def fmt(v):
        return "-" if v is None else f"{v:,.3g} {unit}"
    ratio = f"{new / old:.3g}x" if new is not None and old else "-"
    print(f"  {name:<44} new {fmt(new):>14}   old {fmt(old):>14}   new/old {ratio:>8}   {target}"
          + (f"  ({note})" if note else ""))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--old-commit", default="4bf5b2c", help="the previous release (commit or tag)")
    parser.add_argument("--old-tree", type=Path, default=Path(tempfile.gettempdir()) / "hetsim-bench-old",
                        help="where its git worktree is (created if missing)")
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--old-requests", type=int, default=1_000, help="requests the old engine runs (scaled)")
    parser.add_argument("--million", type=int, default=1_000_000)
    parser.add_argument("--contention-requests", type=int, default=1_000)
    parser.add_argument("--quick", action="store_true", help="every request count / 10")
    parser.add_argument("--skip-cold", action="store_true", help="no cold hetsim run (it traces from scratch)")
    parser.add_argument("--only", choices=("run", "engine", "contention"),
                        help="only these figures: the hetsim runs, the engine (10,000 and 1,000,000 requests) "
                             "or the contention engine")
    parser.add_argument("--repeat", type=int, default=1, metavar="N",
                        help="warm hetsim runs per side (the best wall and its CPU are printed; default 1)")
    args = parser.parse_args()
    div = 10 if args.quick else 1
    n, n_old, n_m, n_c = (max(10, v // div) for v in (args.requests, args.old_requests, args.million,
                                                      args.contention_requests))
    old = ensure_old_tree(args.old_commit, args.old_tree)
    print(f"load average (1 min) {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; new = {ROOT}, "
          f"old = {args.old_commit} at {old}")
    work = Path(tempfile.mkdtemp(prefix="hetsim-bench-scale-"))
    try:
        # the trace cache warm for both, so the engine figures do not include tracing
        # cold: an empty trace cache per side (then warm for the rest); --skip-cold: the user's cache
        caches = {"new": work / "cache-new", "old": work / "cache-old"}
        if args.skip_cold:
            default = os.environ.get("HETSIM_CACHE") or str(Path.home() / ".cache" / "hetsim" / "traces")
            caches = {"new": Path(default), "old": Path(default)}
        cold: dict = {"new": {}, "old": {}}
        warm: dict = {"new": {}, "old": {}}
        if args.only in (None, "run"):
            for side, tree in (("new", ROOT), ("old", old)):
                cold[side] = {} if args.skip_cold else run_cli(tree, work / f"cold-{side}", caches[side], 100)
            print("\nhetsim run, default study, 100 requests, every output written:")
            if not args.skip_cold:
                row("cold (empty trace cache): wall", cold["new"].get("wall"), cold["old"].get("wall"), "s",
                    "target <= 30 s")
                row("cold: CPU (all processes)", cold["new"].get("cpu"), cold["old"].get("cpu"), "s")
            for _ in range(max(1, args.repeat)):      # alternating sides, so both see the same load
                for side, tree in (("new", ROOT), ("old", old)):
                    got = run_cli(tree, work / f"warm-{side}", caches[side], 100)
                    if "error" in got or got.get("wall", 1e9) < warm[side].get("wall", 1e9):
                        warm[side] = got
            row("warm: wall", warm["new"].get("wall"), warm["old"].get("wall"), "s", "target <= 5 s")
            row("warm: CPU (all processes)", warm["new"].get("cpu"), warm["old"].get("cpu"), "s")
            if args.only == "run":
                for side in ("new", "old"):
                    for f in (cold[side], warm[side]):
                        if "error" in f:
                            print(f"  {side}: {f['error']}")
                return 0

        env_new = {"HETSIM_CACHE": str(caches["new"])}
        env_old = {"HETSIM_CACHE": str(caches["old"])}
        e_new = e_old = m_new = c_new = c_old = {}
        if args.only in (None, "engine"):
            e_new, e_old, m_new = engine_figures(n, n_old, n_m, old, env_new, env_old)
        if args.only in (None, "contention"):
            c_new, c_old = contention_figures(n_c, old, env_new, env_old)
        for side, figures in (("new", (cold["new"], warm["new"], e_new, m_new, c_new)),
                              ("old", (cold["old"], warm["old"], e_old, c_old))):
            for f in figures:
                if "error" in f:
                    print(f"  {side}: {f['error']}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def engine_figures(n: int, n_old: int, n_m: int, old: Path, env_new: dict, env_old: dict):
    """The engine figures: ``n`` requests on one platform (the old release on ``n_old``, scaled) and
    ``n_m`` with replay. Returns the new, old and million-request measurements."""
    print("\nengine, default study on edge-rram (simulate + summary):")
    for tree, env in ((ROOT, env_new), (old, env_old)):   # traces into the cache first, in their own process:
        measure(tree, _WARM_TRACES, env=env)               # the measured one then loads them without torch
    e_new = measure(ROOT, _ENGINE, str(n), env=env_new)
    e_old = measure(old, _ENGINE, str(n_old), env=env_old)
    scale = n / n_old
    old_wall = e_old.get("wall") and e_old["wall"] * scale
    old_rss = e_old.get("rss") and e_old["rss_before"] + (e_old["rss"] - e_old["rss_before"]) * scale
    row(f"{n:,} requests: wall", e_new.get("wall"), old_wall, "s", "target <= 5 s",
        f"old: {n_old:,} requests scaled x{scale:g}")
    row(f"{n:,} requests: CPU", e_new.get("cpu"), e_old.get("cpu") and e_old["cpu"] * scale, "s")
    row(f"{n:,} requests: peak RSS", e_new.get("rss"), old_rss, "MB", "target <= 500 MB",
        f"old scaled likewise above its {e_old.get('rss_before', 0):.0f} MB before simulating")
    if "energy_per_inference_J" in e_new and "energy_per_inference_J" in e_old:
        print(f"    energy per inference: new {e_new['energy_per_inference_J']:.6g} J, old "
              f"{e_old['energy_per_inference_J']:.6g} J (old on its first {n_old:,} requests; later "
              "cost-model changes on main also move it)")
    m_new = measure(ROOT, _ENGINE, str(n_m), env=env_new)
    row(f"{n_m:,} requests (replay): wall", m_new.get("wall"), e_old.get("wall") and e_old["wall"] * n_m / n_old,
        "s", "target <= 60 s", "old: scaled; it cannot hold the ledger")
    row(f"{n_m:,} requests (replay): CPU", m_new.get("cpu"), e_old.get("cpu") and e_old["cpu"] * n_m / n_old,
        "s")
    row(f"{n_m:,} requests (replay): peak RSS", m_new.get("rss"),
        e_old.get("rss") and e_old["rss_before"] + (e_old["rss"] - e_old["rss_before"]) * n_m / n_old,
        "MB", "target <= 2 GB", "old: scaled")
    return e_new, e_old, m_new


def contention_figures(n_c: int, old: Path, env_new: dict, env_old: dict):
    """``max_in_flight: 4``: the engine's CPU per SimPy event against raw SimPy's, both sides."""
    print(f"\nmax_in_flight 4, {n_c:,} requests (full event simulation), same process as raw SimPy:")
    c_new = measure(ROOT, _CONTENTION, str(n_c), env=env_new)
    c_old = measure(old, _CONTENTION, str(n_c), env=env_old)
    row("engine CPU per event", c_new.get("per_event_us"), c_old.get("per_event_us"), "µs")
    row("raw SimPy CPU per event", c_new.get("raw_per_event_us"), c_old.get("raw_per_event_us"), "µs")
    ratio_new = c_new.get("per_event_us") and c_new["per_event_us"] / c_new["raw_per_event_us"]
    ratio_old = c_old.get("per_event_us") and c_old["per_event_us"] / c_old["raw_per_event_us"]
    row("engine / raw SimPy per event", ratio_new, ratio_old, "", "target <= 1.5")
    loop_new = c_new.get("loop_per_event_us") and c_new["loop_per_event_us"] / c_new["raw_per_event_us"]
    loop_old = c_old.get("loop_per_event_us") and c_old["loop_per_event_us"] / c_old["raw_per_event_us"]
    row("event loop alone / raw SimPy per event", loop_new, loop_old, "", "",
        "env.run(): without building the run output")
    row("events", c_new.get("events"), c_old.get("events"), "")
    row("events per op", c_new.get("events_per_op"), c_old.get("events_per_op"), "")
    row("engine CPU per op (simulate + run output)", c_new.get("per_op_us"), c_old.get("per_op_us"), "µs")
    return c_new, c_old


if __name__ == "__main__":
    sys.exit(main())
