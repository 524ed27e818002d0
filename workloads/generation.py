"""Autoregressive generation traced step by step: a prefill, then one decode step per generated token.

All steps run under one :class:`workloads.tracer.Tracer`, so tensors keep their identity across steps: the
KV cache (T5-style decoders such as lightlm; role ``kv_cache``) or the recurrent state (RWKV; role
``state``) that one step writes and the next reads is the same tensor in the trace, and every op carries its
``step`` (0 = prefill, N = decode step N).

- **T5** (lightlm): step 0 runs the encoder once over the prompt and the decoder on the start token; each
  decode step runs the decoder on one token with ``past_key_values`` (self-attention cache grows by one
  position per step; cross-attention keys/values are computed once). Decoding is greedy; LightLM's beam
  search of 20 beams is modelled as ``beams=20``: the prompt is encoded once, its encoder output repeated
  for every beam (as HF's ``generate`` does), and 20 sequences decoded side by side (the batch the beam
  search runs at), without the top-k selection and cache reordering between steps.
- **RWKV**: step 0 runs the prompt (HF's CPU path loops over tokens inside each layer); each decode step
  runs one token with the state.
- **ProSG** (``adapter="prosg:R"``, RWKV only): after the prefill, states that encode the prompt become a
  temporary rank-R modification of the attention key and value weights of every block
  (``W.add_(U @ V)``, real in-place writes that the trace records as writes to the weight tensors at step
  1), undone after the last step (``W.sub_(U @ V)``, recorded at the last step). ``refresh_every=k``
  rewrites the modification from the current state every k decode steps.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from workloads import zoo
from workloads.adapters import ParameterLabels, parse_adapter_spec
from workloads.errors import WorkloadError
from workloads.tracer import Tracer, warn_unknown

#: Weights of each RWKV block that ProSG modifies (square hidden x hidden matrices).
PROSG_TARGETS = ("attention.key", "attention.value")


class ProSGUpdate(nn.Module):
    """ProSG's temporary low-rank weight modification of an RWKV model (Luo et al., 2023).

    For block ``i`` and target weight ``W`` (hidden x hidden), the prompt state ``s`` (the block's WKV
    numerator over denominator, one value per channel) gives ``U = s ⊙ P_u`` (hidden x rank) and the update
    ``W += U @ V`` with ``V = P_v`` (rank x hidden). ``P_u``/``P_v`` are this module's (random) parameters:
    ``2·hidden·rank`` per target. :meth:`apply` writes the weights in place and keeps the deltas;
    :meth:`undo` subtracts them again."""

    def __init__(self, model: nn.Module, rank: int, targets: tuple[str, ...] = PROSG_TARGETS):
        super().__init__()
        blocks = model.rwkv.blocks
        hidden = model.config.hidden_size
        self.rank = rank
        self.targets = [(i, t) for i in range(len(blocks)) for t in targets]
        self._weights = [blocks[i].get_submodule(t).weight for i, t in self.targets]
        for w in self._weights:
            if tuple(w.shape) != (hidden, hidden):
                raise WorkloadError(f"adapter: prosg: target weight of shape {tuple(w.shape)}; expected "
                                    f"({hidden}, {hidden}) (attention key/value/receptance/output)")
        self.proj_u = nn.ParameterList(nn.Parameter(torch.randn(hidden, rank) * 0.02) for _ in self.targets)
        self.proj_v = nn.ParameterList(nn.Parameter(torch.randn(rank, hidden) * 0.02) for _ in self.targets)
        self._deltas: list[torch.Tensor] = []

    def forward(self, state: list[torch.Tensor]) -> None:
        """Undo any previous modification, then write a new one derived from ``state`` (HF RWKV state)."""
        self.undo()
        prompt = state[2][0] / state[3][0].clamp_min(1e-30)  # (hidden, layers): WKV average per channel
        for k, ((block, _), w) in enumerate(zip(self.targets, self._weights)):
            u = prompt[:, block].unsqueeze(1) * self.proj_u[k]
            delta = u @ self.proj_v[k]
            w.add_(delta)
            self._deltas.append(delta)

    def undo(self) -> None:
        """Subtract the modification written by the last call (no-op when none is in place)."""
        for w, delta in zip(self._weights, self._deltas):
            w.sub_(delta)
        self._deltas = []


def trace_generation(model_name: str, *, new_tokens: int = 32, seq_len: int = 128, batch: int = 1,
                     beams: int = 1, adapter: str | None = None, refresh_every: int | None = None,
                     task: str | None = None, layers: int | None = None, hidden: int | None = None,
                     seed: int = 0, **overrides: Any):
    """Trace the prefill of a ``seq_len``-token prompt and ``new_tokens`` greedy decode steps of zoo model
    ``model_name`` (a T5 family model such as lightlm, or rwkv) into one Trace.

    ``beams`` multiplies the batch (a beam search's width; LightLM uses 20). ``adapter``: ``"prosg:R"``
    (RWKV only) adds ProSG weight writes; ``refresh_every`` rewrites them every k decode steps. Sizes as
    in :func:`workloads.zoo.build`. ``meta`` records what was traced, including ``tokens`` (the generated
    token ids)."""
    e = zoo.entry(model_name)
    if e.family not in ("t5", "rwkv"):
        raise WorkloadError(f"generation: model {model_name!r} is an encoder ({e.family}); expected a "
                            f"generative zoo model: lightlm or rwkv")
    zoo.check_int("new_tokens", new_tokens, where="generation", minimum=0)
    zoo.check_int("beams", beams, where="generation")
    spec = parse_adapter_spec(adapter) if adapter else None
    if spec is not None and not (spec.kind == "prosg" and e.family == "rwkv"):
        raise WorkloadError(f"generation: adapter: {adapter!r} with {model_name}; expected prosg:R with rwkv "
                            f"(other adapters: workloads.multitask)")
    if refresh_every is not None:
        zoo.check_int("refresh_every", refresh_every, where="generation")
    # T5 encodes the prompt once and repeats the encoder output per beam; a decoder-only model (RWKV) runs
    # its prefill on every beam's copy of the prompt (as HF's generate expands its inputs)
    prompts = batch if e.family == "t5" else batch * beams
    model, inputs = zoo.build(model_name, seq_len=seq_len, batch=prompts, layers=layers, hidden=hidden,
                              seed=seed, **overrides)
    labels = ParameterLabels()
    prosg = None
    if spec is not None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed + 2)
            prosg = model.prosg = ProSGUpdate(model, spec.size)
    meta = {"kind": "generation", "model": model_name, "seq_len": seq_len, "batch": batch, "beams": beams,
            "new_tokens": new_tokens, "adapter": str(spec) if spec else None, "refresh_every": refresh_every,
            "layers": layers, "hidden": hidden, "seed": seed, "overrides": {k: overrides[k] for k in overrides}}
    tracer = Tracer(model, name=model_name, task=task, role_of=labels.role_of, owner_of=labels.owner_of,
                    carry_role="kv_cache" if e.family == "t5" else "state", meta=meta)
    step_fn = _t5_steps if e.family == "t5" else _rwkv_steps
    tokens = step_fn(tracer, model, inputs, new_tokens, beams, prosg, refresh_every)
    trace = tracer.trace()
    trace.meta["tokens"] = tokens
    warn_unknown(trace)
    return trace


def _greedy(logits: torch.Tensor) -> torch.Tensor:
    return logits[:, -1].argmax(-1, keepdim=True)


def _next_input(token: torch.Tensor) -> torch.Tensor:
    """The chosen token as the next step's input (a new tensor, outside the tracer: role ``input``, not a
    carried ``kv_cache``/``state`` tensor)."""
    return token.clone()


def _cache_tensors(cache):
    """The key and value tensors of an HF cache (``DynamicCache``, or ``EncoderDecoderCache``: self- and
    cross-attention)."""
    for part in (getattr(cache, "self_attention_cache", cache), getattr(cache, "cross_attention_cache", None)):
        for layer in getattr(part, "layers", ()):
            for t in (getattr(layer, "keys", None), getattr(layer, "values", None)):
                if isinstance(t, torch.Tensor):
                    yield t


def _t5_steps(tracer: Tracer, model, inputs, new_tokens, beams, _prosg, _refresh) -> list[list[int]]:
    batch = inputs["input_ids"].shape[0] * beams
    start = torch.full((batch, 1), model.config.decoder_start_token_id, dtype=torch.long)

    def prefill(input_ids, decoder_input_ids):
        encoded = model.get_encoder()(input_ids=input_ids).last_hidden_state
        if beams > 1:  # as HF's generate: encode once, then repeat the encoder output for every beam
            encoded = encoded.repeat_interleave(beams, dim=0)
        return step(encoder_outputs=(encoded,), decoder_input_ids=decoder_input_ids)

    def step(**kw):
        out = model(**kw, use_cache=True)
        return out, _greedy(out.logits)

    out, token = tracer.run(dict(input_ids=inputs["input_ids"], decoder_input_ids=start), step=0, call=prefill,
                            label="decode")
    encoder = (out.encoder_last_hidden_state,)
    tokens = [token]
    for n in range(1, new_tokens + 1):
        out, token = tracer.run(dict(encoder_outputs=encoder, decoder_input_ids=_next_input(token),
                                     past_key_values=out.past_key_values), step=n, call=step, label="decode")
        tokens.append(token)
    # the cache after the last step: carried, though no traced step reads it (the tracer marks a tensor
    # carried only when a later step reads it)
    for t in _cache_tensors(out.past_key_values):
        tracer.set_role(t, "kv_cache")
    return torch.cat(tokens, dim=1).tolist()


def _rwkv_steps(tracer: Tracer, model, inputs, new_tokens, _beams, prosg, refresh_every) -> list[list[int]]:
    def step(**kw):
        out = model(**kw, use_cache=True)
        return out, _greedy(out.logits)

    out, token = tracer.run(dict(input_ids=inputs["input_ids"]), step=0, call=step, label="decode")
    tokens = [token]
    for n in range(1, new_tokens + 1):
        if prosg is not None and (n == 1 or (refresh_every and (n - 1) % refresh_every == 0)):
            tracer.run((out.state,), step=n, call=prosg, label="prosg")
        out, token = tracer.run(dict(input_ids=_next_input(token), state=out.state), step=n, call=step,
                                label="decode")
        tokens.append(token)
    if prosg is not None and new_tokens:
        tracer.run((), step=new_tokens, call=prosg.undo, label="prosg")
    for t in out.state:  # the state after the last step: carried, though no traced step reads it
        tracer.set_role(t, "state")
    return torch.cat(tokens, dim=1).tolist()
