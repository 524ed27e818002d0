"""Task adaptation of zoo (and other transformers) models: bottleneck adapters, LoRA, adapter mixtures.

Every method here changes a real torch model, so the tracer sees the real extra ops and tensors:

- **Houlsby** / **Pfeiffer** bottleneck adapters (:class:`BottleneckAdapter`: down-projection →
  nonlinearity → up-projection, plus the skip connection) after the attention output projection and after
  the FFN output projection of every layer, before the residual layer norm (Pfeiffer: after the FFN only).
  In ALBERT, whose one layer runs 12 times, an adapter is either shared like the layer (AdapterHub) or
  one per repetition (adapter-ALBERT, ``per_repetition=True``): the :class:`AdapterSlot` counts its calls
  within a forward and picks the repetition's adapter.
- **LoRA** through peft (``lora:R`` kept separate: two extra small matmuls; ``lora-merged:R``: folded
  into the weights with ``merge_and_unload``, so the weights themselves become task-specific).
- **mixture** (ALTER's mixture of task adapters): E bottleneck adapters shared by all tasks, mixed per
  token by a gate that belongs to the task.

Parameter names say who owns them: ``….adapter_attention.adapters.<task>.…``, ``….lora_A.<task>.…``,
``….adapter_ffn.gates.<task>.…``, ``task_heads.<task>.…``. :class:`ParameterLabels` turns a parameter name
into the tracer's role (``weight``, ``embedding``, ``adapter``) and owner (``shared`` or the task).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import torch
from torch import nn

from workloads.errors import WorkloadError

ADAPTER_FORMS = "houlsby:M, pfeiffer:M, lora:R, lora-merged:R, mixture:ExM or prosg:R (positive integers)"
_SPEC = re.compile(r"^(houlsby|pfeiffer|lora|lora-merged|prosg):(\d+)$|^(mixture):(\d+)x(\d+)$")

#: Number of output labels of the GLUE tasks (the task heads); any other task name gets 2.
GLUE_LABELS = {"mnli": 3, "stsb": 1}

#: Where bottleneck adapters go, per transformer layer class: slot name -> path of the Linear whose output
#: the adapter transforms (the attention output projection and the FFN output projection).
ADAPTER_HOSTS: dict[str, dict[str, str]] = {
    "BertLayer": {"attention": "attention.output.dense", "ffn": "output.dense"},
    "AlbertLayer": {"attention": "attention.dense", "ffn": "ffn_output"},
    "TransformerBlock": {"attention": "attention.out_lin", "ffn": "ffn.lin2"},      # DistilBERT
    "MobileBertLayer": {"attention": "attention.output.dense", "ffn": "output.dense"},
}

#: LoRA target modules (the attention query and value projections, as in the LoRA paper) per model type.
LORA_TARGETS: dict[str, list[str]] = {
    "bert": ["query", "value"], "albert": ["query", "value"], "mobilebert": ["query", "value"],
    "distilbert": ["q_lin", "v_lin"], "t5": ["q", "v"], "rwkv": ["key", "value"],
}


@dataclass(frozen=True)
class AdapterSpec:
    """A parsed adapter spec: ``kind`` (houlsby, pfeiffer, lora, lora-merged, mixture, prosg), ``size``
    (bottleneck width m, or the rank r of LoRA/ProSG, in elements) and ``experts`` (mixture only)."""

    kind: str
    size: int
    experts: int = 1

    def __str__(self) -> str:
        return f"mixture:{self.experts}x{self.size}" if self.kind == "mixture" else f"{self.kind}:{self.size}"

    @property
    def is_bottleneck(self) -> bool:
        """True for the module-inserting kinds (houlsby, pfeiffer, mixture)."""
        return self.kind in ("houlsby", "pfeiffer", "mixture")

    @property
    def is_lora(self) -> bool:
        """True for lora and lora-merged."""
        return self.kind in ("lora", "lora-merged")

    @property
    def slots(self) -> tuple[str, ...]:
        """The insertion points of a bottleneck kind: Houlsby and mixture both, Pfeiffer the FFN only."""
        return ("ffn",) if self.kind == "pfeiffer" else ("attention", "ffn")


def parse_adapter_spec(text: str | AdapterSpec) -> AdapterSpec:
    """Parse ``"houlsby:64"``, ``"pfeiffer:16"``, ``"lora:8"``, ``"lora-merged:8"``, ``"mixture:4x16"``
    (4 adapters of bottleneck 16) or ``"prosg:4"``. Malformed text raises WorkloadError with the forms."""
    if isinstance(text, AdapterSpec):
        return text
    m = _SPEC.match(str(text).strip().lower())
    if not m:
        raise WorkloadError(f"adapter: {text!r}: malformed; expected {ADAPTER_FORMS}")
    if m.group(1):
        spec = AdapterSpec(m.group(1), int(m.group(2)))
    else:
        spec = AdapterSpec("mixture", int(m.group(5)), int(m.group(4)))
    if spec.size < 1 or spec.experts < 1:
        raise WorkloadError(f"adapter: {text!r}: sizes must be at least 1; expected {ADAPTER_FORMS}")
    return spec


# -- modules ---------------------------------------------------------------------------------------------

class BottleneckAdapter(nn.Module):
    """``x + up(act(down(x)))`` with ``down: hidden→bottleneck`` and ``up: bottleneck→hidden`` (biases on):
    ``2·hidden·bottleneck + bottleneck + hidden`` parameters."""

    def __init__(self, hidden: int, bottleneck: int):
        super().__init__()
        self.down = nn.Linear(hidden, bottleneck)
        self.act = nn.ReLU()
        self.up = nn.Linear(bottleneck, hidden)

    def delta(self, x: torch.Tensor) -> torch.Tensor:
        """The adapter's contribution without the skip connection."""
        return self.up(self.act(self.down(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x + delta(x)``: same shape as ``x`` (..., hidden)."""
        return x + self.delta(x)


class AdapterSlot(nn.Module):
    """One insertion point: the adapters of every task (``adapters[task]``: one adapter, or one per
    repetition of a shared layer) and, for a mixture, the shared ``experts`` and per-task ``gates``.
    Applies the active task's adaptation to the output of its host Linear (a forward hook)."""

    def __init__(self, hidden: int):
        super().__init__()
        self.hidden = hidden
        self.adapters = nn.ModuleDict()
        self.experts = nn.ModuleList()
        self.gates = nn.ModuleDict()
        self.active: str | None = None
        self.calls = 0  # calls since the model's forward began (reset by a pre-hook on the root)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The host Linear's output ``x`` (..., hidden) adapted for the active task: its adapter (the
        repetition's one when there is one per repetition), the gated mixture of experts, or ``x`` as is."""
        task, call = self.active, self.calls
        self.calls += 1
        if task in self.gates:
            weights = torch.softmax(self.gates[task](x), dim=-1)
            out = x
            for e, expert in enumerate(self.experts):
                out = out + weights[..., e:e + 1] * expert.delta(x)
            return out
        adapter = self.adapters[task] if task in self.adapters else None
        if adapter is None:  # no task active, or the task has no adapter here (Pfeiffer: no attention one)
            return x
        if isinstance(adapter, nn.ModuleList):
            adapter = adapter[call % len(adapter)]
        return adapter(x)


def _layer_modules(model: nn.Module) -> list[nn.Module]:
    layers = [m for m in model.modules() if type(m).__name__ in ADAPTER_HOSTS]
    if not layers:
        raise WorkloadError(f"adapter: model {type(model).__name__}: no layer to put a bottleneck adapter in; "
                            f"expected a model with one of {', '.join(ADAPTER_HOSTS)} (BERT family, ALBERT, "
                            f"DistilBERT, MobileBERT)")
    return layers


def _repetitions(model: nn.Module) -> int:
    """How many times one layer module runs per forward (ALBERT: layers / (groups · inner layers))."""
    cfg = getattr(model, "config", None)
    if getattr(cfg, "model_type", "") == "albert":
        return cfg.num_hidden_layers // (cfg.num_hidden_groups * cfg.inner_group_num) or 1
    return 1


def _slots(model: nn.Module, spec: AdapterSpec) -> list[AdapterSlot]:
    """The adapter slots of ``model`` (created and hooked on first use)."""
    if not getattr(model, "_hetsim_slots_hooked", False):
        model.register_forward_pre_hook(_reset_calls)
        model._hetsim_slots_hooked = True
    slots = []
    for layer in _layer_modules(model):
        for slot_name in spec.slots:
            attr = f"adapter_{slot_name}"
            slot = getattr(layer, attr, None)
            if slot is None:
                path = ADAPTER_HOSTS[type(layer).__name__][slot_name]
                try:
                    host = layer.get_submodule(path)
                    width = host.out_features
                except AttributeError:
                    raise WorkloadError(f"adapter: {type(layer).__name__}: no Linear at {path!r}; expected the "
                                        f"layout of the transformers class of that name") from None
                slot = AdapterSlot(width)
                layer.add_module(attr, slot)
                host.register_forward_hook(lambda _mod, _args, out, slot=slot: slot(out))
            slots.append(slot)
    return slots


def _reset_calls(model: nn.Module, _args) -> None:
    for m in model.modules():
        if isinstance(m, AdapterSlot):
            m.calls = 0


def add_bottleneck_adapters(model: nn.Module, task: str, spec: AdapterSpec | str, *,
                            per_repetition: bool = False) -> int:
    """Insert ``task``'s bottleneck adapters (houlsby, pfeiffer or mixture) into ``model`` in place and
    return the number of parameters added. ``per_repetition``: in a model whose layer runs several times
    (ALBERT), one adapter per repetition instead of one shared like the layer. A mixture adds its shared
    experts once (the first task) and a gate per task. New parameters are drawn from the global RNG."""
    spec = parse_adapter_spec(spec)
    if not spec.is_bottleneck:
        raise WorkloadError(f"adapter: {spec}: not a bottleneck adapter; expected houlsby:M, pfeiffer:M or "
                            f"mixture:ExM")
    reps = _repetitions(model) if per_repetition else 1
    added = 0
    for slot in _slots(model, spec):
        if task in slot.adapters or task in slot.gates:
            raise WorkloadError(f"adapter: task {task!r}: already has adapters in this model; "
                                f"expected a new task name")
        if spec.kind == "mixture":
            if not len(slot.experts):
                slot.experts.extend(BottleneckAdapter(slot.hidden, spec.size) for _ in range(spec.experts))
                added += sum(p.numel() for p in slot.experts.parameters())
            new = nn.Linear(slot.hidden, spec.experts)
            slot.gates[task] = new
        elif reps > 1:
            new = nn.ModuleList(BottleneckAdapter(slot.hidden, spec.size) for _ in range(reps))
            slot.adapters[task] = new
        else:
            new = BottleneckAdapter(slot.hidden, spec.size)
            slot.adapters[task] = new
        added += sum(p.numel() for p in new.parameters())
    model.eval()
    return added


def set_bottleneck_task(model: nn.Module, task: str | None) -> None:
    """Make ``task``'s bottleneck adapters (or gate) the active ones in every slot (None: none)."""
    for m in model.modules():
        if isinstance(m, AdapterSlot):
            m.active = task


# -- LoRA (peft) -----------------------------------------------------------------------------------------

def lora_targets(model: nn.Module) -> list[str]:
    """The LoRA target module names for ``model``'s config ``model_type`` (:data:`LORA_TARGETS`)."""
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    if model_type not in LORA_TARGETS:
        raise WorkloadError(f"adapter: lora: model type {model_type!r} has no known target modules; "
                            f"expected one of {', '.join(LORA_TARGETS)}")
    return LORA_TARGETS[model_type]


def add_lora(model: nn.Module, task: str, rank: int):
    """Add a LoRA adapter named ``task`` of rank ``rank`` (alpha = 2·rank, on the query and value
    projections) with peft and make it active. ``model`` may already be a peft model (another task's
    LoRA is then kept, inactive). Returns the peft model, in eval mode (``get_peft_model`` returns train
    mode). LoRA's B factor starts at zero in peft; it is filled with random values here, as after
    fine-tuning, so a merge really changes the weights."""
    import warnings

    from peft import LoraConfig, PeftModel, get_peft_model

    with warnings.catch_warnings():
        # library chatter a user cannot act on, printed on every LoRA run: transformers' deprecation of
        # is_gradient_checkpointing (called by peft), peft's note on adapter names inside "lora_" (we
        # never reload adapters by name)
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"transformers\.")
        warnings.filterwarnings("ignore", message=r"Adapter name .* should not be contained in the prefix")
        if isinstance(model, PeftModel):
            config = LoraConfig(r=rank, lora_alpha=2 * rank,
                                target_modules=lora_targets(model.base_model.model))
            model.add_adapter(task, config)
            model.set_adapter(task)
        else:
            config = LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=lora_targets(model))
            model = get_peft_model(model, config, adapter_name=task)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if f"lora_B.{task}." in name:
                p.normal_(0.0, 0.02)
    return model.eval()


def merge_lora(peft_model) -> nn.Module:
    """Fold the active LoRA adapter into its target weights (peft ``merge_and_unload``); returns the plain
    model in eval mode. Its target weights now belong to the task (see :class:`ParameterLabels`)."""
    return peft_model.merge_and_unload().eval()


# -- task heads ------------------------------------------------------------------------------------------

class TaskModel(nn.Module):
    """A backbone plus one classification head per task (``task_heads[task]``: hidden → labels on the
    pooled output, or on the first token when the backbone has no pooler). ``set_task`` switches the head,
    the bottleneck adapters and peft's active LoRA adapter together."""

    def __init__(self, backbone: nn.Module, hidden: int):
        super().__init__()
        self.backbone = backbone
        self.hidden = hidden
        self.task_heads = nn.ModuleDict()
        self.task: str | None = None

    def add_head(self, task: str, labels: int | None = None) -> int:
        """Add ``task``'s head (GLUE label counts by default); returns the parameters added."""
        head = nn.Linear(self.hidden, labels or GLUE_LABELS.get(task, 2))
        self.task_heads[task] = head
        return sum(p.numel() for p in head.parameters())

    def set_task(self, task: str) -> None:
        """Make ``task`` active everywhere (head, bottleneck adapters, LoRA adapter)."""
        self.task = task
        set_bottleneck_task(self.backbone, task)
        peft_configs = getattr(self.backbone, "peft_config", {})
        if task in peft_configs:
            self.backbone.set_adapter(task)

    def forward(self, **inputs):
        """The active task's logits (batch, labels) from the backbone's pooled output; the pooled output
        (batch, hidden) when the task has no head."""
        out = self.backbone(**inputs)
        pooled = getattr(out, "pooler_output", None)
        if pooled is None:
            pooled = out.last_hidden_state[:, 0]
        return self.task_heads[self.task](pooled) if self.task in self.task_heads else pooled


# -- parameter labels for the tracer -------------------------------------------------------------------------

_TASK_SEGMENT = re.compile(r"(?:^|\.)(?:adapters|gates|task_heads|exit_heads|lora_A|lora_B|lora_embedding_A|"
                           r"lora_embedding_B)\.([^.]+)")
_ADAPTER_SEGMENT = re.compile(r"(?:^|\.)(?:adapter_attention|adapter_ffn|task_heads|exit_heads|lora_A|lora_B|"
                              r"lora_embedding_A|lora_embedding_B|prosg)(?:\.|$)")


@dataclass
class ParameterLabels:
    """Role and owner of a parameter from its name, for the tracer's ``role_of``/``owner_of``.

    Role ``adapter`` for anything task adaptation added (bottleneck adapters and their mixture experts
    and gates, LoRA factors, task heads, ProSG projections); None otherwise, which leaves the tracer's
    default (``embedding`` for embedding tables, else ``weight``). Owner: the task named in the parameter
    path (``adapters.<task>``, ``gates.<task>``, ``lora_A.<task>``, ``task_heads.<task>``), ``merged_task``
    for the weights a LoRA was merged into (``merged`` names them), ``shared`` otherwise (backbone,
    mixture experts, ProSG projections)."""

    merged_task: str | None = None
    merged: set[str] = field(default_factory=set)

    def role_of(self, name: str) -> str | None:
        """``adapter`` for a task-adaptation parameter ``name``, else None (the tracer's default)."""
        return "adapter" if _ADAPTER_SEGMENT.search(name) else None

    def owner_of(self, name: str) -> str:
        """The task that owns parameter ``name``, or ``shared``."""
        m = _TASK_SEGMENT.search(name)
        if m:
            return m.group(1)
        if self.merged_task and name in self.merged:
            return self.merged_task
        return "shared"


def adapter_parameters(model: nn.Module, task: str) -> int:
    """Parameters ``model`` holds for ``task`` alone (owner == task), in elements."""
    labels = ParameterLabels()
    return sum(p.numel() for n, p in model.named_parameters() if labels.owner_of(n) == task)
