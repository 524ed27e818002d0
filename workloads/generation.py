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
  temporary rank-R modification of the attention key and value weights of every block, stored and applied
  as its factors (``y = W x + U (V x)``; the trace records ``R·(d_in + d_out)`` elements written into the
  factor tensors per target at step 1, and every ``refresh_every=k`` decode steps after it; the weights are
  never written). The factors are role ``adapter``: the platform's placement policy decides whether they
  live in SRAM or in an NVM that wears by these writes.
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
    """ProSG's temporary low-rank weight modification of an RWKV model (Luo et al., 2023), stored and
    applied as its rank-R factors.

    For block ``i`` and target weight ``W`` (d_out x d_in, square here), the prompt state ``s`` (the
    block's WKV numerator over denominator, one value per channel) gives ``U = s ⊙ P_u`` (d_out x R) and
    ``V = P_v`` (R x d_in); the modified layer computes ``W x + U (V x)``, never the dense ``W + U V``.
    :meth:`forward` writes the factors into this module's buffers ``factor_u.k`` / ``factor_v.k`` (real
    ``copy_`` writes: ``R·(d_in + d_out)`` elements per target per update) and switches on forward hooks
    on the target ``Linear`` layers that add ``(x Vᵀ) Uᵀ`` to their output; :meth:`undo` switches them
    off (nothing to restore: ``W`` is never written). ``P_u``/``P_v`` are this module's (random)
    parameters: ``2·hidden·R`` per target. Parameters and factors are role ``adapter`` (owner ``shared``),
    so where the factors live is the platform's placement policy for adapters (SRAM, or an NVM that then
    wears by the factor writes)."""

    def __init__(self, model: nn.Module, rank: int, targets: tuple[str, ...] = PROSG_TARGETS):
        super().__init__()
        blocks = model.rwkv.blocks
        hidden = model.config.hidden_size
        self.rank = rank
        self.targets = [(i, t) for i in range(len(blocks)) for t in targets]
        layers = [blocks[i].get_submodule(t) for i, t in self.targets]
        self._weights = [layer.weight for layer in layers]
        for w in self._weights:
            if tuple(w.shape) != (hidden, hidden):
                raise WorkloadError(f"adapter: prosg: target weight of shape {tuple(w.shape)}; expected "
                                    f"({hidden}, {hidden}) (attention key/value/receptance/output)")
        self.proj_u = nn.ParameterList(nn.Parameter(torch.randn(hidden, rank) * 0.02) for _ in self.targets)
        self.proj_v = nn.ParameterList(nn.Parameter(torch.randn(rank, hidden) * 0.02) for _ in self.targets)
        for k, w in enumerate(self._weights):
            self.register_buffer(f"factor_u_{k}", torch.zeros(w.shape[0], rank))
            self.register_buffer(f"factor_v_{k}", torch.zeros(rank, w.shape[1]))
        self.active = False
        for k, layer in enumerate(layers):
            layer.register_forward_hook(self._hook(k))

    def factors(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(U, V)`` of target ``k``: (d_out x R) and (R x d_in)."""
        return getattr(self, f"factor_u_{k}"), getattr(self, f"factor_v_{k}")

    def _hook(self, k: int):
        def add_low_rank(module, args, output):
            if not self.active:
                return None
            u, v = self.factors(k)
            return output + (args[0] @ v.T) @ u.T   # W x + U (V x)
        return add_low_rank

    def forward(self, state: list[torch.Tensor]) -> None:
        """Write the factors derived from ``state`` (HF RWKV state) and switch the modification on."""
        prompt = state[2][0] / state[3][0].clamp_min(1e-30)  # (hidden, layers): WKV average per channel
        for k, (block, _) in enumerate(self.targets):
            u, v = self.factors(k)
            u.copy_(prompt[:, block].unsqueeze(1) * self.proj_u[k])
            v.copy_(self.proj_v[k])
        self.active = True

    def undo(self) -> None:
        """Switch the modification off (the weights themselves were never written)."""
        self.active = False


def trace_generation(model_name: str, *, new_tokens: int = 32, seq_len: int = 128, batch: int = 1,
                     beams: int = 1, adapter: str | None = None, refresh_every: int | None = None,
                     task: str | None = None, layers: int | None = None, hidden: int | None = None,
                     seed: int = 0, constrained: str | None = None, items: int = 1000, **overrides: Any):
    """Trace the prefill of a ``seq_len``-token prompt and ``new_tokens`` greedy decode steps of zoo model
    ``model_name`` (a T5 family model such as lightlm, or rwkv) into one Trace.

    ``beams`` > 1 runs a real beam search of that width (LightLM uses 20) on T5-family models: each step
    re-ranks beams × vocabulary by accumulated log-probability (``topk``) and reorders the KV cache by the
    chosen beams (``index_select`` gathers of every cache tensor); ``constrained="trie"`` restricts every
    step to the children of each beam's node in a trie of ``items`` random item ids of ``new_tokens + 1``
    tokens (the mask is built from the trie's child table by gathers and a scatter, all traced). ``adapter``: ``"prosg:R"``
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
    if constrained not in (None, "trie"):
        raise WorkloadError(f"generation: constrained: {constrained!r}; expected 'trie' or nothing")
    if constrained and e.family != "t5":
        raise WorkloadError(f"generation: constrained: trie with {model_name}; expected a T5-family model (lightlm)")
    meta = {"kind": "generation", "constrained": constrained, "items": items if constrained else None,
            "model": model_name, "seq_len": seq_len, "batch": batch, "beams": beams,
            "new_tokens": new_tokens, "adapter": str(spec) if spec else None, "refresh_every": refresh_every,
            "layers": layers, "hidden": hidden, "seed": seed, "overrides": {k: overrides[k] for k in overrides}}
    tracer = Tracer(model, name=model_name, task=task, role_of=labels.role_of, owner_of=labels.owner_of,
                    carry_role="kv_cache" if e.family == "t5" else "state", meta=meta)
    step_fn = _t5_steps if e.family == "t5" else _rwkv_steps
    if e.family == "t5":
        trie = _random_trie(items, new_tokens + 1, model.config.vocab_size, seed) if constrained else None
        tokens = _t5_steps(tracer, model, inputs, new_tokens, beams, trie)
    else:
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


def _random_trie(items: int, length: int, vocab: int, seed: int) -> dict[str, torch.Tensor]:
    """A trie of ``items`` random item ids of ``length`` tokens: ``children`` (nodes, C) child tokens per
    node, padded with ``vocab`` (a sentinel column), and ``child_node`` (nodes, C) the child's node id
    (0 for padding). Node 0 is the root."""
    gen = torch.Generator().manual_seed(seed + 7)
    seqs = torch.randint(0, vocab, (items, length), generator=gen).tolist()
    kids: list[dict[int, int]] = [{}]
    for seq in seqs:
        node = 0
        for tok in seq:
            if tok not in kids[node]:
                kids[node][tok] = len(kids)
                kids.append({})
            node = kids[node][tok]
    width = max(1, max(len(k) for k in kids))
    children = torch.full((len(kids), width), vocab, dtype=torch.long)
    child_node = torch.zeros((len(kids), width), dtype=torch.long)
    for n, k in enumerate(kids):
        for j, (tok, child) in enumerate(k.items()):
            children[n, j], child_node[n, j] = tok, child
    return {"children": children, "child_node": child_node}


def _beam_choice(logits, scores, beams: int, trie, nodes):
    """One beam-search step, as real ops: log-probabilities of the last position, masked to each beam's
    trie children when constrained, plus the beams' accumulated scores; ``topk`` over beams × vocabulary
    per sequence; the chosen beam (``origin``, flat index into the batch of beams) and token of each new
    beam. Returns (scores, tokens (N, 1), origin (N,), nodes)."""
    logp = torch.log_softmax(logits[:, -1], dim=-1)                        # (N, V)
    n, vocab = logp.shape
    if trie is not None:
        allowed = trie["children"].index_select(0, nodes)                  # (N, C) child tokens of each node
        mask = torch.full((n, vocab + 1), float("-inf"))
        mask.scatter_(1, allowed, 0.0)                                     # 0 where a child, -inf elsewhere
        logp = logp + mask[:, :vocab]
    total = logp + scores.unsqueeze(1)
    top, index = total.view(n // beams, beams * vocab).topk(beams, dim=-1)  # re-rank beams x vocabulary
    beam = torch.div(index, vocab, rounding_mode="floor")
    token = index - beam * vocab
    origin = (beam + torch.arange(n // beams).unsqueeze(1) * beams).view(-1)
    if trie is not None:                                                    # follow the trie
        parent = nodes.index_select(0, origin)
        kids = trie["children"].index_select(0, parent)
        slot = (kids == token.view(-1, 1)).int().argmax(dim=1, keepdim=True)
        nodes = trie["child_node"].index_select(0, parent).gather(1, slot).view(-1)
    return top.view(-1), token.view(-1, 1), origin, nodes


def _t5_steps(tracer: Tracer, model, inputs, new_tokens, beams, trie=None) -> list[list[int]]:
    batch = inputs["input_ids"].shape[0] * beams
    start = torch.full((batch, 1), model.config.decoder_start_token_id, dtype=torch.long)
    if beams > 1 or trie is not None:
        return _t5_beam_search(tracer, model, inputs, new_tokens, beams, trie, start)

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


def _t5_beam_search(tracer: Tracer, model, inputs, new_tokens, beams, trie, start) -> list[list[int]]:
    """Beam search: prefill encodes once and repeats the encoder output per beam; every step re-ranks
    (:func:`_beam_choice`), and the next step first reorders the cache by the chosen beams
    (``Cache.reorder_cache``, as HF's generate: an ``index_select`` per cache tensor, self- and
    cross-attention) before its decoder reads it."""
    n = start.shape[0]
    scores = torch.zeros(n)
    scores.view(-1, beams)[:, 1:] = float("-inf")   # all beams start equal: expand from the first only
    nodes = torch.zeros(n, dtype=torch.long)

    def prefill(input_ids, decoder_input_ids, scores, nodes):
        encoded = model.get_encoder()(input_ids=input_ids).last_hidden_state
        encoded = encoded.repeat_interleave(beams, dim=0)
        return step(encoder_outputs=(encoded,), decoder_input_ids=decoder_input_ids, scores=scores,
                    nodes=nodes)

    def step(scores, nodes, origin=None, **kw):
        if origin is not None:   # the previous step's choice: gather each new beam's cache from its origin
            kw["past_key_values"].reorder_cache(origin)
        out = model(**kw, use_cache=True)
        scores, token, origin, nodes = _beam_choice(out.logits, scores, beams, trie, nodes)
        return out, scores, token, origin, nodes

    out, scores, token, origin, nodes = tracer.run(
        dict(input_ids=inputs["input_ids"], decoder_input_ids=start, scores=scores, nodes=nodes), step=0,
        call=prefill, label="decode")
    encoder = (out.encoder_last_hidden_state,)   # every beam of a sequence shares its prompt's encoding
    history = [token]
    for k in range(1, new_tokens + 1):
        out, scores, token, origin, nodes = tracer.run(
            dict(encoder_outputs=encoder, decoder_input_ids=_next_input(token), past_key_values=out.past_key_values,
                 scores=scores, nodes=nodes, origin=origin), step=k, call=step, label="decode")
        history = [h.index_select(0, origin) for h in history] + [token]
    for t in _cache_tensors(out.past_key_values):
        tracer.set_role(t, "kv_cache")
    return torch.cat(history, dim=1).tolist()


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
    if prosg is not None:
        prosg.undo()  # no ops: the factors are dropped, the weights were never written
    for t in out.state:  # the state after the last step: carried, though no traced step reads it
        tracer.set_role(t, "state")
    return torch.cat(tokens, dim=1).tolist()
