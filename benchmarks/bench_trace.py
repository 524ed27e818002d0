"""Tracer cost: traced forward over plain forward for bert-base at sequence 128 (target <= 1.5x), the
tracer's overhead per recorded op (target ~50 us), and how fast a cached trace loads (target well under
1 s). Prints figures; asserts nothing (the machine is shared and noisy)."""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _median_cpu(fn, repeats: int, no_grad: bool = False) -> float:
    import torch

    times = []
    for _ in range(repeats):
        t0 = time.process_time()
        if no_grad:
            with torch.no_grad():
                fn()
        else:
            fn()
        times.append(time.process_time() - t0)
    return statistics.median(times)


def _bare_mechanism(model, inputs) -> None:
    """The tracing mechanism with nothing recorded: an empty TorchDispatchMode and empty global module
    hooks around one forward (what any dispatch-mode tracer pays before doing its own work)."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode

    class Empty(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            return func(*args, **(kwargs or {}))

    pre = torch.nn.modules.module.register_module_forward_pre_hook(lambda m, a: None)
    post = torch.nn.modules.module.register_module_forward_hook(lambda m, a, o: None)
    try:
        with torch.no_grad(), Empty():
            model(**inputs)
    finally:
        pre.remove()
        post.remove()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="bert-base")
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    import torch

    from workloads import load_trace, trace_model, zoo

    model, inputs = zoo.build(args.model, seq_len=args.seq_len)

    def plain():
        with torch.no_grad():
            model(**inputs)

    def traced():
        return trace_model(model, inputs, name=args.model)

    for _ in range(2):  # warm up both paths (allocator, kernels, rule tables)
        plain()
        traced()
    # interleave so both see the same machine load
    t_plain, t_traced = [], []
    for _ in range(args.repeats):
        t_plain.append(_median_time(plain, 1))
        t_traced.append(_median_time(traced, 1))
    p, t = statistics.median(t_plain), statistics.median(t_traced)
    trace = traced()
    n_ops = len(trace.ops)
    print(f"{args.model} at sequence {args.seq_len}, torch threads {torch.get_num_threads()}, "
          f"{args.repeats} runs each (median)")
    print(f"  plain forward        {p * 1e3:8.1f} ms")
    print(f"  traced forward       {t * 1e3:8.1f} ms   ({n_ops} ops recorded)")
    print(f"  traced / plain       {t / p:8.2f} x    (target <= 1.5 x)")
    print(f"  wall overhead per op {(t - p) / n_ops * 1e6:8.1f} us")

    # The tracer's own cost per op, in CPU time, on a narrow variant whose kernels cost next to nothing
    # (one torch thread: idle worker threads spin and would count as CPU time)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    small, small_inputs = zoo.build(args.model, hidden=48, seq_len=8)
    with torch.no_grad():
        small(**small_inputs)
    cpu_plain = _median_cpu(lambda: small(**small_inputs), args.repeats * 3, no_grad=True)
    cpu_traced = _median_cpu(lambda: trace_model(small, small_inputs), args.repeats * 3)
    n_small = len(trace_model(small, small_inputs).ops)
    cpu_bare = _median_cpu(lambda: _bare_mechanism(small, small_inputs), args.repeats * 3)
    print(f"  narrow variant (hidden 48, seq 8): plain {cpu_plain * 1e3:.1f} ms, traced {cpu_traced * 1e3:.1f} ms "
          f"CPU for {n_small} ops")
    print(f"  tracer CPU per op    {(cpu_traced - cpu_plain) / n_small * 1e6:8.1f} us   (target ~50 us), of which")
    print(f"    torch's dispatch mode + global module hooks doing nothing {(cpu_bare - cpu_plain) / n_small * 1e6:6.1f} us")
    print(f"    hetsim's recording and trace assembly                    {(cpu_traced - cpu_bare) / n_small * 1e6:6.1f} us")
    torch.set_num_threads(threads)

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.trace.json.gz"
        t_save = _median_time(lambda: trace.save(path), 3)
        t_load = _median_time(lambda: load_trace(path), args.repeats)
        t_summary = _median_time(lambda: load_trace(path).summary(), 3)
        print(f"  trace file           {path.stat().st_size / 1e3:8.1f} kB (gzip JSON, format v1)")
        print(f"  save                 {t_save * 1e3:8.1f} ms")
        print(f"  cached load          {t_load * 1e3:8.1f} ms   (target well under 1 s)")
        print(f"  load + summary()     {t_summary * 1e3:8.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
