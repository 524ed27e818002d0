"""The model zoo: named language models built offline from transformers config objects.

No model hub is reachable, so every model is built from its configuration with random weights (a fixed
seed). That gives the real shapes, operator sequence and bytes; weight values do not shape a trace.
Sizes are overridable (``layers``, ``hidden``, any config field) so tests and sweeps can use small
variants. Parameter counts of the full-size models match ``shared/reference/workloads.md``.

Importing this module does not import torch; :func:`build` and :func:`describe` do.
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from typing import Any

from workloads.errors import WorkloadError


@dataclass(frozen=True)
class ZooEntry:
    """How to build one zoo model.

    ``config_class``/``model_class`` are attribute names in ``transformers``; ``config`` the fields that
    differ from the config class's defaults; ``*_field`` name the config fields that ``layers``,
    ``hidden``, ``heads`` and ``ffn`` map to (``None``: not applicable). ``reference_parameters`` is the
    published count (workloads.md) of the module named by ``backbone`` (``""`` = the whole model)."""

    name: str
    summary: str
    family: str                      # bert, albert, distilbert, mobilebert, t5, rwkv
    config_class: str
    model_class: str
    config: dict[str, Any]
    layers_fields: tuple[str, ...]
    hidden_field: str
    heads_field: str | None
    ffn_field: str | None
    reference_parameters: float
    backbone: str = ""               # attribute path of the backbone inside the built model
    scale_ffn: bool = True           # scale the FFN width with a `hidden` override
    min_layers: int = 1              # RWKV's initialisation divides by (layers - 1)
    notes: str = ""
    extra_options: dict[str, Any] = field(default_factory=dict)  # build options beyond config fields


_BERT = dict(config_class="BertConfig", model_class="BertModel", family="bert",
             layers_fields=("num_hidden_layers",), hidden_field="hidden_size",
             heads_field="num_attention_heads", ffn_field="intermediate_size")

ZOO: dict[str, ZooEntry] = {e.name: e for e in (
    ZooEntry(
        name="albert-base-v2", summary="ALBERT: one transformer layer shared by all 12 repetitions",
        family="albert", config_class="AlbertConfig", model_class="AlbertModel",
        config=dict(vocab_size=30000, embedding_size=128, hidden_size=768, num_hidden_layers=12,
                    num_attention_heads=12, intermediate_size=3072, num_hidden_groups=1,
                    inner_group_num=1, hidden_act="gelu_new"),
        layers_fields=("num_hidden_layers",), hidden_field="hidden_size",
        heads_field="num_attention_heads", ffn_field="intermediate_size",
        reference_parameters=11.68e6),
    ZooEntry(name="bert-base", summary="BERT base", config=dict(), reference_parameters=109.5e6, **_BERT),
    ZooEntry(
        name="distilbert", summary="distilled BERT (DistilBERT base)", family="distilbert",
        config_class="DistilBertConfig", model_class="DistilBertModel", config=dict(),
        layers_fields=("n_layers",), hidden_field="dim", heads_field="n_heads", ffn_field="hidden_dim",
        reference_parameters=66.4e6),
    ZooEntry(name="tinybert-4l-312", summary="distilled BERT, 4 layers of width 312 (TinyBERT)",
             config=dict(num_hidden_layers=4, hidden_size=312, num_attention_heads=12,
                         intermediate_size=1200),
             reference_parameters=14.35e6, **_BERT),
    ZooEntry(
        name="mobilebert", summary="bottleneck BERT (MobileBERT, 24 layers, bottleneck 128)",
        family="mobilebert", config_class="MobileBertConfig", model_class="MobileBertModel", config=dict(),
        layers_fields=("num_hidden_layers",), hidden_field="hidden_size", heads_field=None, ffn_field=None,
        reference_parameters=24.8e6,
        notes="`hidden` changes the inter-block width only; the 128-wide bottleneck stays"),
    ZooEntry(name="rubert-tiny2", summary="small distilled Russian BERT (rubert-tiny2)",
             config=dict(num_hidden_layers=3, hidden_size=312, num_attention_heads=12,
                         intermediate_size=600, vocab_size=83828, max_position_embeddings=2048),
             reference_parameters=29.2e6, **_BERT),
    ZooEntry(
        name="lightlm", summary="deep-and-narrow generative recommender: t5-small shape, FFN width 16",
        family="t5", config_class="T5Config", model_class="T5ForConditionalGeneration",
        config=dict(d_model=512, num_layers=6, num_decoder_layers=6, num_heads=8, d_ff=16,
                    vocab_size=32128, decoder_start_token_id=0),
        layers_fields=("num_layers", "num_decoder_layers"), hidden_field="d_model", heads_field="num_heads",
        ffn_field="d_ff", scale_ffn=False, reference_parameters=35.5e6,
        notes="decoding is beam search with 20 beams over item ids of length <= 8 (batch=20 models the beams)",
        extra_options=dict(decoder_len=8)),
    ZooEntry(
        name="rwkv", summary="RNN-like language model, RWKV-4 169M shape (the ProSG setting)",
        family="rwkv", config_class="RwkvConfig", model_class="RwkvForCausalLM",
        config=dict(hidden_size=768, num_hidden_layers=12, vocab_size=50277, context_length=1024,
                    attention_hidden_size=None, intermediate_size=None, rescale_every=0),
        layers_fields=("num_hidden_layers",), hidden_field="hidden_size", heads_field=None, ffn_field=None,
        reference_parameters=130.7e6, backbone="rwkv", min_layers=2,
        notes="130.7 M without the untied LM head (169.3 M with it); HF runs a sequence one token at a "
              "time on CPU, so trace short sequences or use workloads.generation. rescale_every=0: HF's "
              "fp16 overflow guard would rewrite weights in place on the first eval forward"),
)}


def list_models() -> list[str]:
    """Names of the zoo models, in table order."""
    return list(ZOO)


def entry(name: str) -> ZooEntry:
    """The :class:`ZooEntry` of ``name``; an unknown name raises WorkloadError listing the known ones."""
    try:
        return ZOO[name]
    except KeyError:
        raise WorkloadError(f"model: unknown model {name!r}; expected one of {', '.join(ZOO)}") from None


def make_config(name: str, *, layers: int | None = None, hidden: int | None = None, **overrides: Any):
    """The transformers config object of ``name`` with size overrides applied.

    ``hidden`` also scales the FFN width in proportion (except lightlm, whose narrow FFN is the point)
    and, where the head count does not divide it, lowers the head count to the largest that does.
    Any other keyword must be a field of the config class."""
    import transformers

    e = entry(name)
    cls = getattr(transformers, e.config_class)
    fields = dict(e.config)
    defaults = cls()
    for key in overrides:
        if not hasattr(defaults, key):
            raise WorkloadError(f"model: {name}: override {key!r} is not a field of {e.config_class}; "
                                f"expected one of layers, hidden, seq_len, batch or a config field")
    if layers is not None:
        check_int("layers", layers)
        if layers < e.min_layers:
            raise WorkloadError(f"model: {name}: layers: {layers}; expected at least {e.min_layers}")
        for f in e.layers_fields:
            fields[f] = layers
    if hidden is not None:
        check_int("hidden", hidden)
        old_hidden = fields.get(e.hidden_field, getattr(defaults, e.hidden_field))
        fields[e.hidden_field] = hidden
        if e.ffn_field and e.scale_ffn:
            old_ffn = fields.get(e.ffn_field, getattr(defaults, e.ffn_field))
            fields[e.ffn_field] = max(1, round(old_ffn * hidden / old_hidden))
        if e.heads_field and e.family != "t5":  # T5's head width d_kv does not depend on d_model
            heads = overrides.get(e.heads_field, fields.get(e.heads_field, getattr(defaults, e.heads_field)))
            fields[e.heads_field] = max(h for h in range(1, heads + 1) if hidden % h == 0)
    fields.update(overrides)
    return cls(**fields)


def check_int(what: str, value: int, *, where: str = "model", minimum: int = 1) -> None:
    """Raise WorkloadError ``<where>: <what>: ...; expected an integer >= minimum`` unless ``value`` is
    such an integer."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise WorkloadError(f"{where}: {what}: {value!r} is not a whole number >= {minimum}; "
                            f"expected an integer >= {minimum}")


@contextlib.contextmanager
def _fast_init():
    """Replace transformers' orthogonal init (a QR decomposition per matrix: 9 s for RWKV-169M here) by
    a normal init of the same scale while building. Weight values do not shape a trace."""
    from transformers import initialization

    funcs = initialization.TORCH_INIT_FUNCTIONS
    original = funcs["orthogonal_"]

    def normal_like_orthogonal(tensor, gain=1.0, generator=None):
        fan_in = tensor[0].numel() if tensor.dim() > 1 else tensor.numel()
        return tensor.normal_(0.0, gain / math.sqrt(max(fan_in, 1)), generator=generator)

    funcs["orthogonal_"] = normal_like_orthogonal
    try:
        yield
    finally:
        funcs["orthogonal_"] = original


def _instantiate(name: str, config, device: str | None = None):
    import torch
    import transformers

    cls = getattr(transformers, entry(name).model_class)
    if device == "meta":
        with torch.device("meta"):
            return cls(config)
    with _fast_init():
        return cls(config)


def count_parameters(module) -> int:
    """Unique parameter elements of a torch module (shared and tied parameters counted once)."""
    return sum(p.numel() for p in module.parameters())


def backbone_of(name: str, model):
    """The part of a built zoo model whose parameter count workloads.md quotes (e.g. RWKV without its
    LM head)."""
    path = entry(name).backbone
    return model.get_submodule(path) if path else model


def describe(name: str, *, layers: int | None = None, hidden: int | None = None, **overrides: Any) -> dict:
    """Facts about a zoo model without allocating its weights (built on the meta device).

    Returns a dict: ``name``, ``summary``, ``family``, ``model_class``, ``layers``, ``hidden``,
    ``parameters`` (unique elements of the built model), ``backbone_parameters`` (the part workloads.md
    quotes), ``reference_parameters`` (the workloads.md figure, full size only), ``config`` (dict) and
    ``notes``."""
    e = entry(name)
    config = make_config(name, layers=layers, hidden=hidden, **overrides)
    model = _instantiate(name, config, device="meta")
    full_size = layers is None and hidden is None and not overrides
    return {
        "name": name,
        "summary": e.summary,
        "family": e.family,
        "model_class": e.model_class,
        "layers": getattr(config, e.layers_fields[0]),
        "hidden": getattr(config, e.hidden_field),
        "parameters": count_parameters(model),
        "backbone_parameters": count_parameters(backbone_of(name, model)),
        "reference_parameters": e.reference_parameters if full_size else None,
        "config": config.to_dict(),
        "notes": e.notes,
    }


def build(name: str, *, seq_len: int = 128, batch: int = 1, layers: int | None = None,
          hidden: int | None = None, seed: int = 0, **overrides: Any):
    """Build zoo model ``name`` and example inputs: returns ``(model, inputs)``.

    The model is in eval mode with random weights drawn from ``seed`` (the global torch RNG is left as it
    was). ``inputs`` is a dict of keyword arguments for ``model(**inputs)``: random token ids of shape
    ``(batch, seq_len)``; for lightlm also ``decoder_input_ids`` of shape ``(batch, decoder_len)``
    (``decoder_len`` defaults to 8, the item-id length). Unknown names and bad overrides raise
    WorkloadError."""
    import torch

    e = entry(name)
    check_int("seq_len", seq_len)
    check_int("batch", batch)
    options = dict(e.extra_options)
    for key in list(overrides):
        if key in options:
            options[key] = overrides.pop(key)
    config = make_config(name, layers=layers, hidden=hidden, **overrides)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = _instantiate(name, config).eval()
        gen = torch.Generator().manual_seed(seed + 1)
        inputs = {"input_ids": torch.randint(0, config.vocab_size, (batch, seq_len), generator=gen)}
        if "decoder_len" in options:
            check_int("decoder_len", options["decoder_len"])
            inputs["decoder_input_ids"] = torch.randint(
                0, config.vocab_size, (batch, options["decoder_len"]), generator=gen)
    return model, inputs
