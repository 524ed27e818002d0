"""``hetsim trace MODEL``: trace a zoo model's real torch execution, print a summary, save the trace.

Traces are cached (``$HETSIM_CACHE`` or ``~/.cache/hetsim/traces``): a second identical request loads the
saved trace without running torch. Compression (``--bits``, ``--sparsity``) is applied after loading.
"""
from __future__ import annotations

import argparse
from pathlib import Path

EXAMPLES = """\
examples:
  hetsim trace bert-base                               one forward at sequence 128, batch 1
  hetsim trace albert-base-v2 --adapter houlsby:64 --tasks sst2,mnli
                                                       one trace per task, adapters owned by their task
  hetsim trace albert-base-v2 --adapter houlsby:8 --per-repetition
                                                       a separate adapter for each of ALBERT's 12 repetitions
  hetsim trace distilbert --bits weight=8,activation=16 --sparsity embedding=0.6 -o distil.trace.json.gz
  hetsim trace lightlm --new-tokens 32                 prefill plus 32 decode steps with the KV cache
  hetsim trace bert-base --layers 2 --hidden 128 --seq-len 32   a small variant

Roles for --bits/--sparsity: weight, embedding, adapter, activation, kv_cache, state, input, output.
The trace file format is documented in workloads/FORMAT.md; load it with workloads.load_trace(path).
"""


def register(subparsers) -> None:
    """Add the ``trace`` subcommand."""
    p = subparsers.add_parser(
        "trace", help="trace a model's real torch execution into a trace file",
        description="Run a zoo model's real forward (eval mode, no grad) under the tracer and record every "
        "aten op: MACs, bytes read/written per tensor, dependencies, tensor roles and owners. Prints ops, "
        "MACs, unique weight bytes, weight bytes read, activation bytes and a per-role table; saves the "
        "trace (cached, so repeating a request does not run torch again).",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", metavar="MODEL", help="zoo model name (`hetsim models` lists them)")
    p.add_argument("--seq-len", type=int, default=128, metavar="N", help="tokens per sequence (default 128)")
    p.add_argument("--batch", type=int, default=1, metavar="N", help="sequences per forward (default 1)")
    p.add_argument("--layers", type=int, metavar="N", help="override the number of layers")
    p.add_argument("--hidden", type=int, metavar="N", help="override the hidden width")
    p.add_argument("--adapter", metavar="SPEC",
                   help="task adaptation: houlsby:M, pfeiffer:M, lora:R, lora-merged:R, mixture:ExM "
                   "(prosg:R with --new-tokens on rwkv)")
    p.add_argument("--tasks", metavar="T1,T2", help="task names, one trace each (default: one task, "
                   "'task', when --adapter is given)")
    p.add_argument("--per-repetition", action="store_true",
                   help="ALBERT: one adapter per repetition of the shared layer instead of one shared")
    p.add_argument("--new-tokens", type=int, metavar="N",
                   help="generative models (lightlm, rwkv): trace the prefill plus N decode steps")
    p.add_argument("--bits", metavar="ROLE=B,...", help="storage bits by role, e.g. weight=8,activation=16")
    p.add_argument("--sparsity", metavar="ROLE=S,...", help="pruned fraction by role, e.g. embedding=0.6 "
                   "(stored with a 1-bit-per-element mask)")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="where to save (default ./MODEL.trace.json.gz; with several tasks the task name is "
                   "inserted: MODEL.TASK.trace.json.gz)")
    p.add_argument("--no-cache", action="store_true", help="trace again even if a cached trace exists")
    p.set_defaults(func=run)


def _tasks(args) -> list[str] | None:
    """The task names of ``--tasks`` (None: no task adaptation; ``["task"]`` when only ``--adapter`` is
    given). A ``--tasks`` that names no task is an error, not a silent plain trace."""
    if args.tasks is not None:
        tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
        if not tasks:
            from workloads.errors import WorkloadError
            raise WorkloadError(f"--tasks: {args.tasks!r}: no task name; expected T1[,T2...] such as sst2,mnli")
        return tasks
    return ["task"] if args.adapter else None


def _build_traces(args, tasks: list[str] | None) -> tuple[dict, bool | None]:
    """{name: Trace} for the request, and whether it came from the cache (None: not known, the multi-task
    tracer caches by itself)."""
    from workloads import cache

    sizes = dict(seq_len=args.seq_len, batch=args.batch, layers=args.layers, hidden=args.hidden)
    if args.new_tokens is not None:
        parts = {"kind": "generation", "model": args.model, "new_tokens": args.new_tokens,
                 "adapter": args.adapter, "task": tasks[0] if tasks else None, **sizes}

        def build():
            from workloads.generation import trace_generation
            return {"trace": trace_generation(args.model, new_tokens=args.new_tokens, adapter=args.adapter,
                                              task=tasks[0] if tasks else None, **sizes)}
    elif tasks:
        from workloads.multitask import trace_tasks
        info: dict = {}
        traces = trace_tasks(args.model, tasks, adapter=args.adapter, per_repetition=args.per_repetition,
                             cache=not args.no_cache, info=info, **sizes)
        return traces, info.get("from_cache", False)
    else:
        parts = {"kind": "model", "model": args.model, **sizes}

        def build():
            from workloads import trace_model, zoo
            model, inputs = zoo.build(args.model, **sizes)
            return {"trace": trace_model(model, inputs, name=args.model, meta={"kind": "model", **sizes})}
    return cache.cached_traces(parts, build, refresh=args.no_cache)


def _check_sizes(args) -> None:
    """Sizes are whole numbers >= 1 (``--new-tokens`` >= 0), checked before any torch work."""
    from workloads.errors import WorkloadError

    for flag in ("seq_len", "batch", "layers", "hidden", "new_tokens"):
        value, least = getattr(args, flag), 0 if flag == "new_tokens" else 1
        if value is not None and value < least:
            raise WorkloadError(f"--{flag.replace('_', '-')}: {value}; expected a whole number >= {least}")


def _output_path(args, name: str, several: bool) -> Path:
    base = Path(args.output) if args.output else Path(f"{args.model}.trace.json.gz")
    if not several:
        return base
    text = base.name
    stem, dot, rest = text.partition(".")
    return base.with_name(f"{stem}.{name}{dot}{rest}" if dot else f"{stem}.{name}")


def _check_replaceable(path: Path) -> None:
    """WorkloadError unless ``path`` is new or a hetsim trace file (which ``-o`` may replace): a user's file
    of the same name is never overwritten."""
    from workloads import load_trace
    from workloads.errors import WorkloadError

    if not (path.exists() or path.is_symlink()):
        return
    if path.is_dir():
        raise WorkloadError(f"{path}: -o: is a folder; expected a trace file name")
    try:
        load_trace(path)
    except (WorkloadError, OSError):
        raise WorkloadError(f"{path}: -o: exists and is not a hetsim trace; expected a new file name "
                            "(hetsim replaces only its own trace files)") from None


def _mb(nbytes: float) -> str:
    return f"{nbytes / 1e6:,.2f} MB"


def print_summary(name: str, trace) -> None:
    """Print the headline figures and the per-role table of one trace (MACs in G, bytes in MB = 1e6 B)."""
    s = trace.summary()
    title = f"{trace.model}" + (f" / task {trace.task}" if trace.task else "")
    print(title)
    unknown = s.get("unknown_op_names") or {}
    rows = [("ops", f"{s['ops']:,}" + (f"   ({s['unknown_ops']} unknown: "
                                        + ", ".join(f"{k} ×{n}" for k, n in unknown.items()) + ")"
                                        if s["unknown_ops"] else "")),
            ("steps", f"{s['steps']}"),
            ("MACs", f"{s['macs'] / 1e9:,.3f} G"),
            ("other arithmetic ops", f"{s['other_ops'] / 1e6:,.2f} M"),
            ("unique weight bytes", _mb(s["unique_weight_bytes"])),
            ("weight bytes read", _mb(s["weight_bytes_read"])),
            ("weight bytes written", _mb(s["weight_bytes_written"])),
            ("activation bytes", _mb(s["activation_bytes"])),
            ("peak live activation bytes", _mb(s["peak_activation_bytes"]))]
    for label, value in rows:
        print(f"  {label:<28}{value}")
    table = trace.role_table()
    print(f"  {'role':<12}{'tensors':>8}{'elements':>14}{'stored':>14}{'read':>14}{'written':>14}")
    for r in table.itertuples():
        print(f"  {r.role:<12}{r.tensors:>8,}{r.elements:>14,}{_mb(r.bytes):>14}{_mb(r.bytes_read):>14}"
              f"{_mb(r.bytes_written):>14}")


def run(args) -> int:
    """Trace (or load from the cache), compress, print and save. Returns the exit code."""
    from workloads import CompressionPolicy
    from workloads import zoo

    zoo.entry(args.model)  # unknown names list the known ones, before any torch work
    _check_sizes(args)
    policy = CompressionPolicy.parse(args.bits, args.sparsity)
    tasks = _tasks(args)
    if args.new_tokens is not None and tasks and len(tasks) > 1:
        from workloads.errors import WorkloadError
        raise WorkloadError(f"--tasks: {args.tasks}: several tasks with --new-tokens; expected at most one")
    spec = None
    if args.adapter:
        from workloads.adapters import parse_adapter_spec
        spec = parse_adapter_spec(args.adapter)
    if args.per_repetition and (spec is None or not spec.is_bottleneck or args.new_tokens is not None):
        from workloads.errors import WorkloadError
        raise WorkloadError(f"--per-repetition: with --adapter {args.adapter}"
                            + (" and --new-tokens" if args.new_tokens is not None else "")
                            + "; expected a bottleneck --adapter (houlsby:M, pfeiffer:M, mixture:ExM) "
                            "on a multi-task trace")
    outputs = [_output_path(args, t, len(tasks or ()) > 1) for t in (tasks or ["trace"])]
    for out in outputs:  # before any torch work: never replace a file hetsim did not write
        _check_replaceable(out)
    traces, hit = _build_traces(args, tasks)
    source = "loaded from cache" if hit else "traced"
    print(f"{source}: {args.model}, sequence {args.seq_len}, "
          f"batch {args.batch}" + (f", adapter {args.adapter}" if args.adapter else ""))
    for name, trace in traces.items():
        if not policy.is_identity:
            trace = trace.with_compression(policy)
        print_summary(name, trace)
        path = trace.save(_output_path(args, name, len(traces) > 1))
        print(f"  saved {path}")
    return 0
