"""Early exit (EdgeBERT, DeeBERT): highway exit classifiers after chosen encoder layers.

:func:`add_exit_heads` gives a :class:`workloads.adapters.TaskModel` one highway head per task after each
chosen layer (``exits``: numbers of layers run, 1 .. L-1; the model's own task head is the exit after
layer L). A head reads the layer's output at the first ([CLS]) position, optionally through its own
pooler (``Linear(h, h)`` + tanh, DeeBERT's off-ramp), classifies it (``Linear(h, labels)``), and computes
the entropy of its prediction, ``-Σ p·log p`` with ``p = softmax(logits)``, and the exit decision
``entropy < threshold`` — all real ops, so the check is in the trace (kind ``elementwise``, aten ``lt``).

The traced forward evaluates *every* head (nothing exits while tracing: random weights would make the
decision meaningless), so one trace holds the longest path. Ops run in layer order, so a request that
exits after layer ``k`` runs exactly a prefix of the trace: the embeddings, layers ``0 .. k-1`` and the
heads after layers ``≤ k``, up to and including head ``k``'s check. :func:`annotate` records that prefix
length per exit in ``trace.meta["early_exit"]`` (``{"layers": L, "exits": [[k, n_ops], ...]}``) and
labels head ops ``exit#k`` (their layer label), so the simulator (``simulator.prepare.early_exit``) never needs to
guess from module paths.

Head parameters are named ``exit_heads.<task>.after_<k>.…``: role ``adapter``, owner the task (like the
task head), so a task switch loads them with the task's adapters.
"""
from __future__ import annotations

import functools
import re
from typing import Sequence

from workloads.errors import WorkloadError

#: Prefix of the module path of every exit head (``exit_heads.<task>.after_<k>``).
HEADS = "exit_heads"
_HEAD_PATH = re.compile(rf"(?:^|\.){HEADS}\.([^.]+)\.after_(\d+)(?:\.|$)")

#: Entropy threshold the traced check compares against (nats). Its value does not change the trace: every
#: head runs while tracing; the study decides per request where it exits.
TRACE_THRESHOLD = 0.5


def check_exits(exits: Sequence[int], layers: int | None = None, *, where: str = "early_exit.exits") -> list[int]:
    """``exits`` as a sorted list of distinct whole numbers >= 1 (and < ``layers`` when given: the last
    layer's exit is the model's own head). Raises WorkloadError naming ``where`` otherwise."""
    try:
        values = sorted({int(k) for k in exits})
    except (TypeError, ValueError):
        raise WorkloadError(f"{where}: {exits!r}; expected a list of layer numbers such as [2, 4, 6]") from None
    if any(isinstance(k, bool) or int(k) != k for k in exits) or not values or values[0] < 1:
        raise WorkloadError(f"{where}: {list(exits)!r}; expected layer numbers >= 1 (layers run before the exit)")
    if layers is not None and values[-1] >= layers:
        raise WorkloadError(f"{where}: {values[-1]} is not below the model's {layers} layers; expected exits "
                            f"1..{layers - 1} (the model's own head is the exit after layer {layers})")
    return values


def add_exit_heads(top, tasks: Sequence[str], exits: Sequence[int], *, pooler: bool = False) -> int:
    """Give TaskModel ``top`` a highway head per task after each layer count in ``exits`` and the hooks
    that run them (after the matching call of a transformer layer, see :data:`adapters.ADAPTER_HOSTS`;
    ALBERT's shared layer counts once per repetition). Returns the parameters added (elements)."""
    from torch import nn

    from workloads.adapters import ADAPTER_HOSTS, GLUE_LABELS

    layers = [m for m in top.backbone.modules() if type(m).__name__ in ADAPTER_HOSTS]
    if not layers:
        raise WorkloadError(f"early_exit: model {type(top.backbone).__name__}: no transformer layer to exit "
                            f"after; expected an encoder with one of {', '.join(ADAPTER_HOSTS)}")
    exits = check_exits(exits)
    heads = nn.ModuleDict()
    for task in tasks:
        heads[task] = nn.ModuleDict({f"after_{k}": HighwayHead(top.hidden, GLUE_LABELS.get(task, 2), pooler)
                                     for k in exits})
    top.exit_heads = heads
    top._exit_calls = 0

    def reset(module, args):
        module._exit_calls = 0

    def after_layer(module, args, output):
        top._exit_calls += 1
        task_heads = top.exit_heads[top.task] if top.task in top.exit_heads else None
        name = f"after_{top._exit_calls}"
        if task_heads is not None and name in task_heads:
            hidden = output[0] if isinstance(output, (tuple, list)) else getattr(output, "last_hidden_state",
                                                                                  output)
            task_heads[name](hidden)
        return None  # the layer's output is left as it is

    top.register_forward_pre_hook(reset)
    for layer in layers:
        layer.register_forward_hook(after_layer)
    return sum(p.numel() for p in heads.parameters())


@functools.cache
def _highway_head_class():
    from torch import nn

    class _HighwayHead(nn.Module):
        """One exit: [CLS] hidden state → (pooler →) classifier → entropy of the softmax → exit decision."""

        def __init__(self, hidden: int, labels: int, pooler: bool):
            super().__init__()
            self.pooler = nn.Linear(hidden, hidden) if pooler else None
            self.classifier = nn.Linear(hidden, labels)

        def forward(self, hidden):
            import torch

            x = hidden[:, 0]
            if self.pooler is not None:
                x = torch.tanh(self.pooler(x))
            logits = self.classifier(x)
            p = torch.softmax(logits, dim=-1)
            entropy = -(p * torch.log_softmax(logits, dim=-1)).sum(dim=-1)
            return entropy < TRACE_THRESHOLD  # the exit check

    return _HighwayHead


def HighwayHead(hidden: int, labels: int, pooler: bool = False):
    """A highway exit head of width ``hidden`` (elements) predicting ``labels`` classes; ``pooler`` adds
    DeeBERT's own pooler (``Linear(h, h)`` + tanh) before the classifier. Its forward returns the exit
    decision (bool per sequence)."""
    return _highway_head_class()(hidden, labels, pooler)


def annotate(trace, *, layers: int | None = None):
    """Record in ``trace.meta["early_exit"]`` where each exit's prefix of ops ends and label exit-head ops
    ``exit#k``; ``layers`` is the model's layer count L (counted from the trace's ``layer#`` labels when
    not given). Returns the trace (changed in place)."""
    ends: dict[int, int] = {}
    for i, op in enumerate(trace.ops):
        m = _HEAD_PATH.search(op.module)
        if m:
            k = int(m.group(2))
            op.layer = f"exit#{k}"
            ends[k] = i + 1
    if layers is None:
        labels = {op.layer for op in trace.ops if op.layer and op.layer.startswith("layer#")}
        layers = len(labels)
    trace.meta["early_exit"] = {"layers": int(layers), "exits": [[k, ends[k]] for k in sorted(ends)]}
    return trace

