"""Multi-task workloads: one backbone, one Trace per task, sharing the backbone tensors' identities.

The backbone is built once and every task's adaptation is added to it (bottleneck adapters, LoRA
adapters through peft, mixture gates, plus a classification head per task for encoders); tracing a task
activates its parts and runs the real forward. So in every task's Trace a backbone tensor has the same
``name`` and owner ``shared``, and what a task switch changes is exactly the tensors owned by the task
(their names contain the task). With ``lora-merged`` the LoRA is folded into the query/value weights
(peft ``merge_adapter``) before tracing and unfolded after: those weights then belong to the task and are
named ``<weight name>[<task>]``.
"""
from __future__ import annotations

import re
from dataclasses import replace
from typing import Any, Sequence

from workloads.errors import WorkloadError
from workloads.trace import Trace

_TASK_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")

#: Zoo families whose layers take bottleneck adapters and whose output feeds a classification head.
ENCODER_FAMILIES = ("bert", "albert", "distilbert", "mobilebert")


def _check_tasks(tasks: Sequence[str]) -> list[str]:
    tasks = list(tasks)
    if not tasks:
        raise WorkloadError("tasks: empty list; expected one or more task names such as sst2,mnli")
    for t in tasks:
        if not isinstance(t, str) or not _TASK_NAME.match(t) or t == "shared":
            raise WorkloadError(f"tasks: {t!r}: not a valid task name; expected letters, digits, '_' or '-' "
                                f"starting with a letter (and not 'shared')")
    if len(set(tasks)) != len(tasks):
        raise WorkloadError(f"tasks: {','.join(tasks)}: a task is listed twice; expected distinct names")
    return tasks


def trace_tasks(model_name: str, tasks: Sequence[str], *, adapter: str | None = "houlsby:64", seq_len: int = 128,
                batch: int = 1, compression=None, per_repetition: bool = False, heads: bool = True,
                layers: int | None = None, hidden: int | None = None, seed: int = 0, cache: bool = True,
                exits: Sequence[int] | None = None, exit_pooler: bool = False,
                info: dict | None = None, **overrides: Any) -> dict[str, Trace]:
    """One Trace per task of zoo model ``model_name`` adapted with ``adapter`` (see
    :func:`workloads.adapters.parse_adapter_spec`; None: the plain backbone, heads only).

    ``per_repetition``: ALBERT adapters one per repetition of the shared layer instead of shared like it.
    ``heads``: a classification head per task (encoder models; GLUE label counts). ``compression``: a
    :class:`workloads.compression.CompressionPolicy` applied to every trace. Sizes as in
    :func:`workloads.zoo.build`. With ``cache`` (default) the traces come from the trace cache
    (:mod:`workloads.cache`) when an identical request was traced before; a cache hit imports no torch.
    ``exits``: early exit (:mod:`workloads.early_exit`): a highway head per task after each of these layer
    counts (1 .. L-1; ``"all"``: after every layer but the last), with ``exit_pooler`` DeeBERT's pooler in
    each; every head runs in the trace and
    ``trace.meta["early_exit"]`` says which prefix of ops each exit runs.
    Returns ``{task: Trace}`` in the order of ``tasks``; ``info`` (a dict), when given, gets
    ``from_cache`` (bool): whether they came from the cache."""
    from workloads import cache as trace_cache
    from workloads import zoo

    tasks = _check_tasks(tasks)
    family = zoo.entry(model_name).family
    options = dict(adapter=str(adapter).strip().lower() if adapter else None, seq_len=seq_len, batch=batch,
                   per_repetition=per_repetition, heads=heads and family in ENCODER_FAMILIES, layers=layers,
                   hidden=hidden, seed=seed, overrides=dict(overrides))
    if exits:  # only then in the key: traces without exits keep their cache entries
        from workloads.early_exit import check_exits

        if not options["heads"]:
            raise WorkloadError(f"early_exit: {model_name} ({family}); expected an encoder model "
                                f"({', '.join(ENCODER_FAMILIES)} families) with task heads")
        options.update(exits="all" if exits == "all" else check_exits(exits), exit_pooler=bool(exit_pooler))
    parts = {"kind": "multitask", "model": model_name, "tasks": tasks, **options}
    traces = trace_cache.load(parts) if cache else None
    if info is not None:
        info["from_cache"] = traces is not None
    if traces is None:  # the spec is parsed (and checked) here: a malformed one is never in the cache
        traces = _trace_all(model_name, tasks, family, options)
        if cache:
            trace_cache.store(parts, traces)
    if compression is not None:
        traces = {t: tr.with_compression(compression) for t, tr in traces.items()}
    return traces


def _parse_for(model_name: str, family: str, adapter: str | None):
    """The parsed adapter spec, checked against the model family (None: no adapter)."""
    from workloads.adapters import parse_adapter_spec

    spec = parse_adapter_spec(adapter) if adapter else None
    if spec is not None and spec.kind == "prosg":
        raise WorkloadError(f"adapter: {spec}: ProSG modifies weights during generation; expected "
                            f"houlsby:M, pfeiffer:M, lora:R, lora-merged:R or mixture:ExM "
                            f"(ProSG: workloads.generation.trace_generation)")
    if spec is not None and spec.is_bottleneck and family not in ENCODER_FAMILIES:
        raise WorkloadError(f"adapter: {spec} with {model_name} ({family}); expected an encoder model "
                            f"({', '.join(ENCODER_FAMILIES)} families) for bottleneck adapters, or lora:R")
    return spec


def _trace_all(model_name: str, tasks: list[str], family: str, options: dict) -> dict[str, Trace]:
    """Build the backbone once, add every task's adaptation, trace each task with its parts active."""
    import torch

    from workloads import adapters as A
    from workloads import zoo
    from workloads.tracer import Tracer, warn_unknown

    spec = _parse_for(model_name, family, options["adapter"])
    model, inputs = zoo.build(model_name, seq_len=options["seq_len"], batch=options["batch"],
                              layers=options["layers"], hidden=options["hidden"], seed=options["seed"],
                              **options["overrides"])
    hidden = model.config.dim if hasattr(model.config, "dim") else model.config.hidden_size
    # a rank above the width adds nothing; a "bottleneck" many times the width is a typo (plausibility bound)
    widest = hidden if spec is not None and spec.is_lora else 4 * hidden
    if spec is not None and spec.size > widest:
        raise WorkloadError(f"adapter: {spec}: a {'rank' if spec.is_lora else 'bottleneck'} of {spec.size} "
                            f"on a model of hidden width {hidden}; expected at most {widest}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(options["seed"] + 1000)
        backbone = model
        for task in tasks:
            if spec is not None and spec.is_bottleneck:
                A.add_bottleneck_adapters(backbone, task, spec, per_repetition=options["per_repetition"])
            elif spec is not None:  # lora, lora-merged: one peft adapter per task
                backbone = A.add_lora(backbone, task, spec.size)
        top = A.TaskModel(backbone, hidden) if options["heads"] else backbone
        if options["heads"]:
            for task in tasks:
                top.add_head(task)
        if options.get("exits"):
            from workloads.early_exit import add_exit_heads

            exits = options["exits"]
            if exits == "all":  # after every layer but the last (the model's own head exits there)
                cfg = model.config
                exits = list(range(1, int(getattr(cfg, "num_hidden_layers", None) or cfg.n_layers)))
            add_exit_heads(top, tasks, exits, pooler=options["exit_pooler"])
    merged_names: set[str] = set()
    if spec is not None and spec.kind == "lora-merged":
        targets = A.lora_targets(model)
        merged_names = {n for n, _ in top.named_parameters()
                        if n.endswith(".base_layer.weight") and n.split(".")[-3] in targets}
    traces = {}
    meta = {"kind": "multitask", "model": model_name, "tasks": tasks, **options}
    for task in tasks:
        _activate(top, backbone, task)
        labels = A.ParameterLabels(merged_task=task if merged_names else None, merged=merged_names)
        tracer = Tracer(top, name=model_name, task=task, role_of=labels.role_of, owner_of=labels.owner_of,
                        meta=meta)
        if merged_names:
            backbone.merge_adapter()
        try:
            tracer.run(inputs)
        finally:
            if merged_names:
                backbone.unmerge_adapter()
        traces[task] = _name_task_tensors(tracer.trace(), task)
        if options.get("exits"):
            from workloads.early_exit import annotate, check_exits

            annotate(traces[task])
            info = traces[task].meta["early_exit"]
            check_exits([k for k, _ in info["exits"]], info["layers"])
        warn_unknown(traces[task])
    return traces


def _activate(top, backbone, task: str) -> None:
    from workloads import adapters as A

    if isinstance(top, A.TaskModel):
        top.set_task(task)
        return
    A.set_bottleneck_task(backbone, task)
    if task in getattr(backbone, "peft_config", {}):
        backbone.set_adapter(task)


def _name_task_tensors(trace: Trace, task: str) -> Trace:
    """Make the name of every tensor the task owns contain the task (merged LoRA weights keep their
    parameter name otherwise)."""
    for tid, t in trace.tensors.items():
        if t.owner == task and task not in t.name.split("."):
            trace.tensors[tid] = replace(t, name=f"{t.name}[{task}]")
    return trace
