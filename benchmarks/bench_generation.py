"""Speed of tracing generation and multi-task workloads, figures printed (issue 3).

Targets: tracing 32 generated tokens of lightlm in under a minute; the default study's four adapter-ALBERT
task traces (houlsby:64, sequence 128) traced once and then loaded from the cache in well under a second.
Run: ``python benchmarks/bench_generation.py [--tokens N] [--beams N] [--skip-rwkv]``.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time


def _timed(fn):
    t0 = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=32, help="generated tokens (default 32)")
    parser.add_argument("--beams", type=int, default=1, help="beams of lightlm (LightLM uses 20)")
    parser.add_argument("--skip-rwkv", action="store_true", help="skip the RWKV + ProSG figure")
    args = parser.parse_args()

    from workloads.generation import trace_generation
    from workloads.multitask import trace_tasks

    trace_generation("lightlm", new_tokens=1, seq_len=8, layers=1, hidden=32)  # imports, warm-up
    trace, secs = _timed(lambda: trace_generation("lightlm", new_tokens=args.tokens, beams=args.beams))
    s = trace.summary()
    print(f"lightlm, prompt 128, {args.tokens} tokens, {args.beams} beam(s): {secs:.1f} s to trace "
          f"(target < 60 s); {s['ops']} ops, {s['macs'] / 1e9:.2f} GMAC, "
          f"{s['weight_bytes_read'] / 2**20:.0f} MiB weights read, "
          f"{trace.role_table().set_index('role').loc['kv_cache', 'bytes'] / 2**20:.2f} MiB KV cache")

    if not args.skip_rwkv:
        trace, secs = _timed(lambda: trace_generation("rwkv", new_tokens=args.tokens, seq_len=16,
                                                      adapter="prosg:4"))
        s = trace.summary()
        print(f"rwkv (169M shape) + prosg:4, prompt 16, {args.tokens} tokens: {secs:.1f} s to trace; "
              f"{s['ops']} ops, weights written {s['weight_bytes_written'] / 2**20:.1f} MiB "
              f"(at steps 1 and {args.tokens})")

    with tempfile.TemporaryDirectory() as cache:
        os.environ["HETSIM_CACHE"] = cache
        tasks = ["sst2", "mnli", "qqp", "qnli"]
        traces, cold = _timed(lambda: trace_tasks("albert-base-v2", tasks, adapter="houlsby:64"))
        _, warm = _timed(lambda: trace_tasks("albert-base-v2", tasks, adapter="houlsby:64"))
        ops = len(traces["sst2"].ops)
        print(f"adapter-ALBERT, 4 tasks, houlsby:64, sequence 128: traced in {cold:.1f} s "
              f"({ops} ops per task), loaded from the cache in {warm:.2f} s (target well under 1 s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
