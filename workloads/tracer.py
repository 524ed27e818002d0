"""Trace real torch execution into a :class:`workloads.trace.Trace`.

One forward of any ``torch.nn.Module`` runs in eval mode under ``torch.no_grad`` inside a
``TorchDispatchMode`` that sees every aten op, while global module forward pre/post hooks keep the stack of
module calls (so ops get a module path with call index: ALBERT's shared layer group shows as ``#1 … #12``).

Tensors are identified by storage: a view (transpose, reshape, slice, ``detach``) is the tensor it views,
so a transposed weight is still that weight, and view ops move no bytes and are not recorded. Parameters
are found through ``named_parameters(remove_duplicate=False)``; buffers through ``named_buffers`` (integer
buffers such as position or token-type ids are inputs, float buffers are weights, or state once the forward
writes them, like a static KV cache).

Counting rules (elements; bytes follow from the tensor's bits in the Trace):
- an op reads every distinct element of each tensor argument (a broadcast bias is read once per element
  it holds) and writes every element of each output; in-place and ``out=`` ops write their target, and
  ``copy_``/``fill_``/``zero_``/``out=`` targets are not read; in-place scatters write only what they
  address: ``index_put_`` what its indices select (``x[mask] = 0`` writes the mask's true elements),
  ``scatter_`` one element per index, ``index_copy_``/``index_add_`` their source, ``masked_scatter_``
  the mask's true elements;
- gathers (embedding lookup, ``index_select``, ``index``, ``gather``) read from their source only the
  elements they return: one row per looked-up index (an embedding bag: one row per index, not per bag);
- an op that writes a tensor without reading it depends on that tensor's previous writer (a partial
  write leaves the earlier data in place);
- norm, attention and embedding-bag kernels' auxiliary outputs (mean/rstd, logsumexp, bag offsets) are
  not recorded as writes;
- MACs of gemms (mm, addmm, bmm, baddbmm, mv, addmv, dot) from their shapes, of convolutions from
  ``torch.utils.flop_counter.flop_registry`` (MACs = FLOPs / 2), of fused attention kernels (including the
  CPU kernel ``_scaled_dot_product_flash_attention_for_cpu``, which the registry lacks) as
  ``B·H·L·S·(E + Ev)``;
- ``other_ops`` (non-MAC arithmetic) per output element: see :data:`OPS_PER_ELEMENT`;
- in-place view ops (``unsqueeze_``, ``t_``, ``as_strided_``) change metadata only: not recorded;
- an op the tracer has no rule for is recorded with kind ``unknown`` and its bytes; a failure inside the
  tracer's own bookkeeping also records the op as ``unknown`` rather than failing the trace;
  :func:`trace_model` warns (:class:`UnknownOpWarning`) naming them, ``Trace.unknown_ops()`` lists them;
- torch's fused transformer fast paths are switched off while tracing (``torch.backends.mha``), so
  ``nn.TransformerEncoderLayer`` and ``nn.MultiheadAttention`` run as separate, counted gemms;
- a gemm-like op records its operands by argument position (``OpInfo.operands``): ``(A, W, O)`` of a gemm
  or convolution (``addmm(bias, A, W)``, ``bmm(A, W)``, ``mv(A, x)``, ``convolution(x, w, ...)``),
  ``(Q, K, V, O)`` of a fused attention kernel, ``()`` for an RNN layer (its gemm spans two weights);
- a transposed convolution's gemm is the scatter form ``(groups, N·input positions, Cin/g,
  Cout/g·kernel)``, whose product is its MAC count.
"""
from __future__ import annotations

import functools
import math
import os
import re
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import torch
from torch.multiprocessing.reductions import StorageWeakRef
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from hw_models.vocabulary import MATMUL_KINDS

from .cache import package_version
from .errors import WorkloadError
from .trace import FORMAT_VERSION, ROLES, TRACER_VERSION, OpInfo, TensorInfo, Trace

_aten = torch.ops.aten

#: Non-MAC arithmetic operations per element, by kind (assumption: one vector operation per output
#: element for elementwise ops and copies that compute; softmax = max, subtract-exp, sum, divide = 4 per
#: element; a norm = mean, subtract, square, sum, scale, shift = 6 per element; a reduction = one per
#: element read). The vector unit model turns these into cycles and energy.
OPS_PER_ELEMENT = {"elementwise": 1, "softmax": 4, "norm": 6, "reduction": 1}

_GEMM = {"mm", "addmm", "bmm", "baddbmm", "mv", "addmv", "dot", "vdot", "_addmm_activation", "_int_mm"}
_RNN = {"mkldnn_rnn_layer"}  # one layer of an LSTM/GRU/RNN over the whole sequence (CPU kernel)
_CONV = {"convolution", "_convolution", "_slow_conv2d_forward", "mkldnn_convolution", "cudnn_convolution",
         "convolution_overrideable", "slow_conv3d_forward", "thnn_conv2d", "_conv_depthwise2d"}
_ATTENTION = {"_scaled_dot_product_flash_attention_for_cpu", "_scaled_dot_product_flash_attention",
              "_scaled_dot_product_efficient_attention", "_scaled_dot_product_cudnn_attention",
              "_scaled_dot_product_fused_attention_overrideable", "_flash_attention_forward",
              "_efficient_attention_forward"}
_SOFTMAX = {"_softmax", "softmax", "_log_softmax", "log_softmax", "_safe_softmax"}
_NORM = {"native_layer_norm", "layer_norm", "native_batch_norm", "_native_batch_norm_legit",
         "_native_batch_norm_legit_no_training", "native_group_norm", "_fused_rms_norm", "rms_norm",
         "batch_norm", "instance_norm", "group_norm"}
_EMBEDDING_BAG = {"embedding_bag", "_embedding_bag", "_embedding_bag_forward_only"}
_EMBEDDING = {"embedding", *_EMBEDDING_BAG}
_GATHER = {"index_select", "index", "_unsafe_index", "gather", "take"}
_COPY = {"clone", "copy", "_to_copy", "cat", "stack", "_copy_from", "_copy_from_and_resize", "repeat",
         "expand_copy", "constant_pad_nd", "slice_scatter", "select_scatter", "index_put", "_index_put_impl",
         "index_copy", "scatter", "masked_scatter", "flip", "roll", "lift_fresh_copy", "contiguous", "zero",
         "fill", "zeros", "ones", "full", "zeros_like", "ones_like", "full_like", "new_zeros", "new_ones",
         "new_full", "arange", "scalar_tensor", "_local_scalar_dense", "masked_select", "narrow_copy",
         "split_with_sizes_copy", "unbind_copy", "resize_as", "alias_copy", "transpose_copy", "t_copy",
         "permute_copy", "view_copy", "index_fill", "masked_fill", "tril", "triu", "where"}
_REDUCTION = {"sum", "mean", "amax", "amin", "max", "min", "argmax", "argmin", "var", "std", "var_mean",
              "std_mean", "prod", "logsumexp", "cumsum", "cumprod", "any", "all", "norm", "linalg_vector_norm",
              "topk", "sort", "argsort", "aminmax"}
#: Scatters that combine what they address with the existing values (an add per written element).
_SCATTER_ARITHMETIC = {"index_add", "scatter_add", "scatter_reduce"}
#: Ops that allocate without writing: their output is a new tensor, but no op is recorded.
_ALLOCATE = {"empty", "empty_like", "empty_strided", "new_empty", "new_empty_strided", "resize"}
#: Ops that check metadata or synchronise and move no data: not recorded.
_NO_WORK = {"_assert_tensor_metadata", "_assert_async", "_assert_scalar", "sym_constrain_range",
            "sym_constrain_range_for_size", "_functional_sym_constrain_range", "record_stream",
            "is_same_size", "_has_same_storage_numel", "sym_size", "sym_numel", "sym_stride",
            "sym_storage_offset", "_nested_tensor_size"}
#: Ops whose first (mutated) argument is written without being read.
_WRITE_ONLY_SELF = {"copy", "fill", "zero", "index_put", "_index_put_impl", "index_copy", "slice_scatter",
                    "select_scatter", "uniform", "normal", "random", "bernoulli", "exponential"}
#: In-place scatters: they write only the elements they address (see :func:`_scattered`).
_SCATTERS = {"index_put", "_index_put_impl", "index_copy", "scatter", "scatter_add", "scatter_reduce",
             "index_add", "masked_scatter"}
#: Ops whose outputs after the first few are auxiliary (statistics, logsumexp): not recorded.
_PRIMARY_OUTPUTS = {"native_layer_norm": 1, "native_batch_norm": 1, "_native_batch_norm_legit": 1,
                    "_native_batch_norm_legit_no_training": 1, "native_group_norm": 1, "_fused_rms_norm": 1,
                    **dict.fromkeys(_ATTENTION, 1), **dict.fromkeys(_EMBEDDING_BAG, 1)}
#: Integer dtypes: buffers of these are inputs (ids), not weights.
_INT_DTYPES = {torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8, torch.bool}


@dataclass(slots=True)
class _OpRule:
    """What the tracer knows about one aten overload (computed once per overload)."""

    name: str                 # "aten.addmm.default"
    base: str                 # "addmm" (packet name without trailing underscore)
    kind: str | None          # None: a view or allocation, not recorded
    mutated: tuple[int, ...]  # positional args the op writes
    mutated_kw: tuple[str, ...]
    read_mutated: bool        # whether the written positional args are also read
    primary_outputs: int | None
    func: Any = None          # the overload itself (keeps it alive while its id keys _RULES)


def _rule_for(func) -> _OpRule:
    """Classify an aten overload from its schema (views, mutated arguments), its name and its tags."""
    schema = func._schema
    packet = func.overloadpacket.__name__
    base = packet[:-1] if packet.endswith("_") and not packet.endswith("__") else packet
    mutated, mutated_kw = [], []
    for i, arg in enumerate(schema.arguments):
        if arg.alias_info is not None and arg.alias_info.is_write:
            (mutated_kw if arg.kwarg_only else mutated).append(i if not arg.kwarg_only else arg.name)
    returns_alias = bool(schema.returns) and all(r.alias_info is not None for r in schema.returns)
    if base in _ALLOCATE or base in _NO_WORK:
        kind = None
    elif (returns_alias and not mutated and not mutated_kw) or torch.Tag.inplace_view in func.tags:
        kind = None  # a view, or an in-place view (unsqueeze_, t_): changes metadata, moves no bytes
    elif base in _GEMM or base in _CONV or base in _RNN:
        kind = "matmul"
    elif base in _ATTENTION:
        kind = "attention"
    elif base in _SOFTMAX:
        kind = "softmax"
    elif base in _NORM:
        kind = "norm"
    elif base in _EMBEDDING:
        kind = "embedding_lookup"
    elif base in _SCATTER_ARITHMETIC:
        kind = "elementwise"
    elif base in _GATHER or base in _COPY:
        kind = "copy"
    elif base in _REDUCTION or torch.Tag.reduction in func.tags:
        kind = "reduction"
    elif torch.Tag.pointwise in func.tags:
        kind = "elementwise"
    else:
        kind = "unknown"
    return _OpRule(f"aten.{packet}.{func._overloadname}", base, kind, tuple(mutated), tuple(mutated_kw),
                   base not in _WRITE_ONLY_SELF, _PRIMARY_OUTPUTS.get(base), func)


#: Rules by id() of the aten overload, shared by all tracers (a rule depends on the overload only; each
#: rule keeps its overload alive, so the id cannot be reused).
_RULES: dict[int, _OpRule] = {}


def _distinct(t: torch.Tensor) -> int:
    """Distinct elements a (possibly broadcast) view holds: dimensions of stride 0 count once."""
    strides = t.stride()
    if 0 not in strides:
        return t.numel()
    n = 1
    for size, stride in zip(t.shape, strides):
        if stride != 0:
            n *= size
    return n


def _scattered(base: str, args, whole: int) -> int:
    """Elements an in-place op writes into its target of ``whole`` elements: all of them, except for
    scatters: ``index_put_`` the elements its indices select, ``scatter_`` one per index (its source
    may be larger), ``index_copy_``/``index_add_`` the source's slices, ``masked_scatter_`` the mask's
    true elements."""
    if base not in _SCATTERS or not args or not isinstance(args[0], torch.Tensor):
        return whole
    target = args[0]
    if base in ("index_put", "_index_put_impl"):  # the values broadcast over the indexed positions
        n = _indexed(target, args[1])
    elif base == "masked_scatter":
        n = int(torch.broadcast_to(args[1], target.shape).count_nonzero())
    else:  # scatter family: (self, dim, index, src); index_copy/index_add: (self, dim, index, source)
        src = args[3] if len(args) > 3 else None
        n = src.numel() if base in ("index_copy", "index_add") and isinstance(src, torch.Tensor) \
            else args[2].numel()
    return min(whole, n)


def _gathered(base: str, source: torch.Tensor, tensors: list, out: torch.Tensor) -> int:
    """Elements a gather reads from its ``source``: one row per looked-up index. An embedding bag sums
    its rows into fewer bags, so its rows are counted from its indices (the second tensor argument);
    other gathers return what they read."""
    if base in _EMBEDDING_BAG and len(tensors) > 1:
        return tensors[1].numel() * math.prod(source.shape[1:])
    return out.numel()


def _indexed(target: torch.Tensor, indices) -> int:
    """Elements of ``target`` that ``target[indices]`` selects (advanced indexing: integer index tensors
    broadcast together, a boolean mask selects its true elements, ``None`` keeps a whole dimension)."""
    shapes, rest, dim = [], 1, 0
    for idx in indices:
        if idx is None:
            rest *= target.shape[dim]
            dim += 1
        elif idx.dtype in (torch.bool, torch.uint8):
            shapes.append((int(idx.count_nonzero()),))
            dim += idx.dim()
        else:
            shapes.append(tuple(idx.shape))
            dim += 1
    return math.prod(torch.broadcast_shapes(*shapes)) * rest * math.prod(target.shape[dim:])


def _tensors_in(values, out: list) -> list:
    """Tensors among ``values``, one level into lists and tuples (aten arguments nest no deeper)."""
    for v in values:
        if isinstance(v, torch.Tensor):
            out.append(v)
        elif isinstance(v, (list, tuple)):
            for w in v:
                if isinstance(w, torch.Tensor):
                    out.append(w)
    return out


def _gemm_of(base: str, args, out) -> tuple[tuple[int, int, int, int] | None, int, int]:
    """(gemm dims, MACs, other ops) of a gemm, convolution or attention op."""
    if base in ("mm", "_int_mm"):
        (m, k), n = args[0].shape, args[1].shape[1]
        return (1, m, k, n), m * k * n, 0
    if base in ("addmm", "_addmm_activation"):
        (m, k), n = args[1].shape, args[2].shape[1]
        return (1, m, k, n), m * k * n, m * n * (2 if base == "_addmm_activation" else 1)
    if base in ("bmm", "baddbmm"):
        a, b = (args[0], args[1]) if base == "bmm" else (args[1], args[2])
        bt, m, k = a.shape
        n = b.shape[2]
        return (bt, m, k, n), bt * m * k * n, (bt * m * n if base == "baddbmm" else 0)
    if base in ("mv", "addmv"):
        m, k = (args[0] if base == "mv" else args[1]).shape
        return (1, m, k, 1), m * k, (m if base == "addmv" else 0)
    if base in ("dot", "vdot"):
        k = args[0].shape[0]
        return (1, 1, k, 1), k, 0
    if base in _ATTENTION:
        q, k, v = args[0], args[1], args[2]
        *lead, L, E = q.shape
        S, Ev = k.shape[-2], v.shape[-1]
        bh = math.prod(lead)
        # softmax over the score matrix plus the scaling: OPS_PER_ELEMENT["softmax"] + 1 per score
        return (bh, L, E, S), bh * L * S * (E + Ev), bh * L * S * (OPS_PER_ELEMENT["softmax"] + 1)
    if base in _RNN:
        # input (T, B, In) or (B, T, In); weights (G·H, In) and (G·H, H); as one gemm of T·B rows (the
        # hidden-state half is really T dependent gemms of B rows)
        x, w_ih, w_hh = args[0], args[1], args[2]
        steps = x.numel() // x.shape[-1]
        gh = w_ih.shape[0]
        k = w_ih.shape[1] + w_hh.shape[1]
        # gate nonlinearities and state update: about 3 ops per gate element (assumption)
        return (1, steps, k, gh), steps * k * gh, steps * gh * 3
    # convolutions: the registry's FLOP formula; gemm view of im2col: (groups, N·out positions, Cin/g·kernel, Cout/g)
    # (a transposed convolution scatters instead: (groups, N·in positions, Cin/g, Cout/g·kernel), then
    # col2im adds the overlapping outputs; either way batch·m·k·n equals the registry's MACs)
    packet = getattr(_aten, base)
    macs = int(flop_registry[packet](*args, out_val=out)) // 2 if packet in flop_registry else 0
    o = out[0] if isinstance(out, (tuple, list)) else out
    x, w = args[0], args[1]
    groups = args[8] if base in ("convolution", "_convolution") and len(args) > 8 else 1
    groups = max(int(groups), 1)
    transposed = base in ("convolution", "_convolution") and len(args) > 6 and bool(args[6])
    if transposed:  # weight (Cin, Cout/g, *kernel)
        n_in = x.shape[0] * math.prod(x.shape[2:])
        gemm = (groups, n_in, w.shape[0] // groups, w.shape[1] * math.prod(w.shape[2:]))
    else:           # weight (Cout, Cin/g, *kernel)
        n_out = o.shape[0] * math.prod(o.shape[2:])
        gemm = (groups, n_out, w.shape[1] * math.prod(w.shape[2:]), w.shape[0] // groups)
    return gemm, macs, (o.numel() if len(args) > 2 and args[2] is not None else 0)


def _operand_args(base: str, args, out) -> list | None:
    """The tensors of a gemm-like op's operands by argument position: ``[A, W, O]`` of a gemm (A the
    ``m×k`` operand of its gemm view, W the ``k×n`` one), of a convolution (input, weight, output) and
    ``[Q, K, V, O]`` of a fused attention kernel; None when they are not one tensor each (an RNN layer's
    gemm spans the input and the hidden state, two weights)."""
    o = out[0] if isinstance(out, (tuple, list)) else out
    if base in ("addmm", "_addmm_activation", "baddbmm", "addmv"):
        ins = [args[1], args[2]]
    elif base in _GEMM or base in _CONV:
        ins = [args[0], args[1]]
    elif base in _ATTENTION:
        ins = [args[0], args[1], args[2]]
    else:
        return None
    tensors = [*ins, o]
    return tensors if all(isinstance(t, torch.Tensor) for t in tensors) else None


@dataclass
class _Frame:
    module: Any
    parent: int           # index of the parent frame, -1 for none
    rel: str              # name relative to the parent frame's module
    index: int            # call number of this module within the parent call (1-based)
    counts: dict = field(default_factory=dict)


class _Mode(TorchDispatchMode):
    def __init__(self, tracer: "Tracer"):
        super().__init__()
        self.tracer = tracer

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        try:
            self.tracer._record(func, args, kwargs, out)
        except Exception as exc:  # never fail a trace for the tracer's own bookkeeping
            self.tracer._record_unknown(func, args, kwargs, out, exc)
        return out


_INDEX_RE = re.compile(r"^(\d+)(?:#(\d+))?$|^.*#(\d+)$")
_CALL_INDEX = re.compile(r"#\d+$")


def _layer_label(path: str) -> str | None:
    """The coarse layer label of a module path: ``layer#N`` (0-based) inside the N-th repetition of a
    layer stack (a list index, or the call index of a repeated module), prefixed by ``decoder.`` inside a
    decoder stack; None outside any stack."""
    parts = path.split(".")
    for i, part in enumerate(parts):
        m = _INDEX_RE.match(part)
        if m:
            if m.group(1) is not None:
                n = int(m.group(2)) - 1 if m.group(2) else int(m.group(1))
            else:
                n = int(m.group(3)) - 1
            prefix = "decoder." if any("decoder" in p for p in parts[:i]) else ""
            return f"{prefix}layer#{n}"
    return None


class Tracer:
    """Trace one model over one or more calls, keeping tensor identities (by storage) across them.

    ``Tracer(model, task=..., role_of=..., owner_of=...)``; then ``tracer.run(inputs, step=N)`` once per
    step (it returns the model's output, to feed the next step); then ``tracer.trace()`` gives one Trace of
    all steps. A tensor produced in one step and read in a later one (the KV cache, a recurrent state) keeps
    its id and gets role ``carry_role`` ("kv_cache" by default; pass "state" for RNNs).

    - ``role_of(param_name) -> role | None`` and ``owner_of(param_name) -> owner | None`` override the
      default role (``embedding`` for ``nn.Embedding`` weights, else ``weight``) and owner (``shared``)
      of parameters and buffers; e.g. the adapter helper marks adapter parameters ``adapter``/task.
    - ``call``: what :meth:`run` calls instead of ``model`` (e.g. a ProSG weight update, or
      ``model.generate``); ops outside any module get module path ``label``.
    - ``step="auto"`` in :meth:`run` numbers steps by calls of the model's own forward (first call = 0).
    - :meth:`set_role` relabels a live tensor (e.g. the last step's KV cache) instead of editing the Trace.
    """

    def __init__(self, model: torch.nn.Module, *, name: str | None = None, task: str | None = None,
                 role_of: Callable[[str], str | None] | None = None,
                 owner_of: Callable[[str], str | None] | None = None, carry_role: str = "kv_cache",
                 meta: Mapping | None = None):
        if not isinstance(model, torch.nn.Module):
            raise WorkloadError(f"trace_model: model: {type(model).__name__} is not a module; "
                                "expected a torch.nn.Module")
        if carry_role not in ROLES:
            raise WorkloadError(f"trace_model: carry_role: {carry_role!r}; expected one of {', '.join(ROLES)}")
        self.model = model
        self.name = name or type(model).__name__
        self.task = task
        self.carry_role = carry_role
        self.meta = dict(meta or {})
        self._module_names = {}
        embedding_params = set()
        for qname, mod in model.named_modules(remove_duplicate=False):
            self._module_names.setdefault(id(mod), qname)
            if isinstance(mod, (torch.nn.Embedding, torch.nn.EmbeddingBag)):
                embedding_params.add(id(mod.weight))
        # storage key -> (name, role, owner, shape, numel, dtype) of parameters and buffers, registered on use
        self._known: dict[int, tuple] = {}
        for pname, p in model.named_parameters(remove_duplicate=False):
            default = "embedding" if id(p) in embedding_params else "weight"
            self._add_known(p, pname, default, role_of, owner_of)
        self._float_buffers = set()  # storage keys of float buffers left at the default role
        for bname, b in model.named_buffers(remove_duplicate=False):
            if self._add_known(b, bname, "input" if b.dtype in _INT_DTYPES else "weight", role_of, owner_of) \
                    and b.dtype not in _INT_DTYPES:
                self._float_buffers.add(self._key(b))
        self._state_buffers: set[int] = set()  # tensor ids of default-role float buffers
        self._ids: dict[int, int] = {}          # storage key -> tensor id
        self._weak: list[StorageWeakRef] = []   # keeps storage keys unique while the tracer lives
        self._tensors: list[list] = []          # [name, role, shape, numel, dtype, owner, first step]
        self._producer: dict[int, int] = {}     # tensor id -> newest writer op
        self._ops: list[OpInfo] = []
        self._op_frames: list[int] = []
        self._frames: list[_Frame] = []
        self._stack: list[int] = []
        self._step = 0
        self._auto_step: int | None = None
        self._label = ""
        self._rel_cache: dict[tuple[int, int], str] = {}
        self.unknown_errors: list[str] = []  # tracer-internal failures, recorded as unknown ops

    # -- tensor table ------------------------------------------------------------------------------------
    def _add_known(self, t, tname, default, role_of, owner_of) -> bool:
        """Note a parameter or buffer; True when it got the default role."""
        key = self._key(t)
        if key is None or key in self._known:
            return False
        given = role_of(tname) if role_of else None
        role = given or default
        if role not in ROLES:
            raise WorkloadError(f"trace_model: role_of({tname!r}): {role!r}; expected one of {', '.join(ROLES)}")
        owner = (owner_of(tname) if owner_of else None) or "shared"
        self._known[key] = (tname, role, owner, tuple(t.shape), t.numel(), t.dtype)
        return given is None

    @staticmethod
    def _key(t: torch.Tensor) -> int | None:
        try:
            return t.untyped_storage()._cdata
        except (RuntimeError, NotImplementedError, TypeError):
            return None  # sparse, meta-free or otherwise storage-less tensors

    def _new_tensor(self, key: int, t: torch.Tensor, name: str, role: str, owner: str = "shared",
                    shape=None, numel=None, dtype=None) -> int:
        tid = len(self._tensors)
        storage = t.untyped_storage()
        if numel is None:
            itemsize = t.element_size()
            numel = storage.nbytes() // itemsize if itemsize else t.numel()
            shape = tuple(t.shape) if numel == t.numel() else (numel,)
        self._tensors.append([name, role, shape, numel, dtype or t.dtype, owner, self._step])
        self._ids[key] = tid
        self._weak.append(StorageWeakRef(storage))  # holds the key: no new storage can reuse it
        return tid

    def _lookup(self, t: torch.Tensor, key: int, op_id: int) -> int:
        """Id of the tensor whose storage ``t`` views, registering parameters, buffers and constants."""
        tid = self._ids.get(key)
        if tid is not None:
            return tid
        known = self._known.get(key)
        if known is not None:
            name, role, owner, shape, numel, dtype = known
            tid = self._new_tensor(key, t, name, role, owner, shape, numel, dtype)
            if key in self._float_buffers:
                self._state_buffers.add(tid)
            return tid
        return self._new_tensor(key, t, self._here(f"const@{op_id}"), "input")

    def _register_inputs(self, value, prefix: str) -> None:
        for name, t in _named_tensors(value, prefix):
            key = self._key(t)
            if key is not None and key not in self._ids:
                known = self._known.get(key)
                if known is not None:
                    self._lookup(t, key, -1)
                else:
                    self._new_tensor(key, t, name, "input")

    # -- module stack ------------------------------------------------------------------------------------
    def _here(self, text: str) -> tuple[int, str] | str:
        """A tensor name "<module path>/<text>", resolved in :meth:`trace` once call indices are known."""
        if self._stack:
            return (self._stack[-1], text)
        return f"{self._label or '<model>'}/{text}"  # outside any module: the label of this run

    def _rel_name(self, parent_module, module) -> str:
        """``module``'s name relative to ``parent_module`` (its qualified name if not a descendant)."""
        key = (id(parent_module), id(module))
        rel = self._rel_cache.get(key)
        if rel is None:
            qname = self._module_names.get(id(module), type(module).__name__)
            pq = self._module_names.get(id(parent_module))
            rel = qname[len(pq) + 1:] if pq and qname.startswith(pq + ".") else qname
            self._rel_cache[key] = rel
        return rel

    def _pre_hook(self, module, args):
        parent = self._stack[-1] if self._stack else -1
        if parent >= 0:
            pframe = self._frames[parent]
            rel = self._rel_name(pframe.module, module)
            index = pframe.counts[id(module)] = pframe.counts.get(id(module), 0) + 1
        else:
            rel = self._module_names.get(id(module), type(module).__name__)
            index = 1
            if module is self.model and self._auto_step is not None:
                self._step = self._auto_step
                self._auto_step += 1
        self._frames.append(_Frame(module, parent, rel, index))
        self._stack.append(len(self._frames) - 1)

    def _post_hook(self, module, args, output):
        if self._stack and self._frames[self._stack[-1]].module is module:
            self._stack.pop()

    def _path_now(self) -> str:
        """Module path of the current call (call index shown when above 1), for messages and names."""
        parts = []
        f = self._stack[-1] if self._stack else -1
        while f >= 0:
            fr = self._frames[f]
            parts.append(fr.rel + (f"#{fr.index}" if fr.index > 1 else ""))
            f = fr.parent
        return ".".join(p for p in reversed(parts) if p) or self._label or "<model>"

    # -- op recording --------------------------------------------------------------------------------------
    def _record(self, func, args, kwargs, out) -> None:
        rule = _RULES.get(id(func))  # overloads live for the whole process; id() hashes fastest
        if rule is None:
            rule = _RULES[id(func)] = _rule_for(func)
        kind = rule.kind
        if kind is None and rule.base not in _ALLOCATE:
            return  # a view: moves no bytes
        outs = _tensors_in(out, []) if isinstance(out, (tuple, list)) else _tensors_in((out,), [])
        if rule.primary_outputs is not None:
            outs = outs[:rule.primary_outputs]
        op_id = len(self._ops)
        if kind is None:  # an allocation: a tensor without a producer until something writes it
            for o in outs:
                key = self._key(o)
                if key is not None and key not in self._ids:
                    self._new_tensor(key, o, self._here(f"{rule.base}@{op_id}"), "activation")
            return
        reads: dict[int, int] = {}
        writes: dict[int, int] = {}
        written_keys = set()
        for i in rule.mutated:
            if i < len(args) and isinstance(args[i], torch.Tensor):
                t = args[i]
                key = self._key(t)
                if key is not None:
                    tid = self._lookup(t, key, op_id)
                    writes[tid] = writes.get(tid, 0) + _scattered(rule.base, args, _distinct(t))
                    written_keys.add(id(t))
        for name in rule.mutated_kw:
            t = kwargs.get(name)
            if isinstance(t, torch.Tensor):
                key = self._key(t)
                if key is not None:
                    tid = self._lookup(t, key, op_id)
                    writes[tid] = writes.get(tid, 0) + _distinct(t)
                    written_keys.add(id(t))
        gather = rule.base in _GATHER or rule.base in _EMBEDDING
        arg_list = _tensors_in(args, [])
        for k, v in kwargs.items():
            if k not in rule.mutated_kw:
                _tensors_in((v,), arg_list)
        in_keys = set()
        for pos, t in enumerate(arg_list):
            if id(t) in written_keys and not rule.read_mutated:
                continue
            key = self._key(t)
            if key is None:
                continue
            in_keys.add(key)
            tid = self._lookup(t, key, op_id)
            n = _distinct(t)
            if gather and pos == 0 and outs:
                n = min(n, _gathered(rule.base, t, arg_list, outs[0]))  # only the looked-up rows
            reads[tid] = reads.get(tid, 0) + n
        out_keys = [self._key(o) for o in outs]
        if not writes and out_keys and all(k in in_keys for k in out_keys):
            return  # every output is storage of an input (e.g. _unsafe_view): a view in practice
        out_elements = 0
        for k, (o, key) in enumerate(zip(outs, out_keys)):
            if key is None:
                continue
            tid = self._ids.get(key)
            if tid is None:
                suffix = f".{k}" if len(outs) > 1 else ""
                tid = self._new_tensor(key, o, self._here(f"{rule.base}@{op_id}{suffix}"), "activation")
            n = _distinct(o)
            out_elements += n
            if tid not in writes:
                writes[tid] = n
        self._add_op(rule, func, args, out, reads, writes, out_elements)

    def _add_op(self, rule: _OpRule, func, args, out, reads, writes, out_elements) -> None:
        op_id = len(self._ops)
        kind = rule.kind
        gemm, macs, other = None, 0, 0
        operands = None
        if kind in MATMUL_KINDS:
            gemm, macs, other = _gemm_of(rule.base, args, out)
            found = _operand_args(rule.base, args, out)
            ids = [self._ids.get(self._key(t)) for t in found] if found is not None else [None]
            operands = () if None in ids else tuple(ids)
        elif kind == "reduction":
            other = sum(reads.values())
        elif kind in OPS_PER_ELEMENT:
            other = OPS_PER_ELEMENT[kind] * out_elements
        producer = self._producer
        # what it reads, and what it writes without reading: a partial write (a cache row, a state slice)
        # leaves the earlier writer's data in place, and any write must follow the previous one
        deps = sorted({producer[t] for t in reads if t in producer}
                      | {producer[t] for t in writes if t not in reads and t in producer})
        step = self._step
        tensors = self._tensors
        if step:  # a tensor made in an earlier step and read now is carried state (KV cache, RNN state)
            for tid in reads:
                info = tensors[tid]
                if info[6] < step and info[1] in ("activation", "output"):
                    info[1] = self.carry_role
        for tid in writes:
            producer[tid] = op_id
        if self._state_buffers:  # a float buffer the model writes is state, not a weight
            for tid in writes:
                if tid in self._state_buffers:
                    tensors[tid][1] = "state"
        self._ops.append(OpInfo(op_id, "" if self._stack else self._label, "", rule.name, kind, macs, other,
                                reads, writes, tuple(deps), gemm, step, operands))
        self._op_frames.append(self._stack[-1] if self._stack else -1)

    def _record_unknown(self, func, args, kwargs, out, exc: Exception) -> None:
        """Fallback when a rule failed: every tensor argument read, every output written."""
        self.unknown_errors.append(f"{func}: {type(exc).__name__}: {exc}")
        rule = _OpRule(f"aten.{func.overloadpacket.__name__}.{func._overloadname}", "", "unknown", (), (),
                       True, None)
        op_id = len(self._ops)
        reads, writes = {}, {}
        for t in _tensors_in(list(args) + list(kwargs.values()), []):
            key = self._key(t)
            if key is not None:
                tid = self._lookup(t, key, op_id)
                reads[tid] = reads.get(tid, 0) + t.numel()
        n_out = 0
        for o in _tensors_in(out if isinstance(out, (tuple, list)) else (out,), []):
            key = self._key(o)
            if key is not None:
                tid = self._ids.get(key)
                if tid is None:
                    tid = self._new_tensor(key, o, self._here(f"unknown@{op_id}"), "activation")
                writes[tid] = o.numel()
                n_out += o.numel()
        self._add_op(rule, func, args, out, reads, writes, n_out)

    # -- public ----------------------------------------------------------------------------------------------
    def run(self, inputs: Any = (), *, step: int | str = 0, call: Callable | None = None, label: str = ""):
        """Run ``call`` (default: the model) on ``inputs`` under the tracer and return its output.

        ``inputs``: a dict (keyword arguments), a tuple/list (positional arguments) or one tensor.
        ``step``: 0 for a forward or prefill, N for decode step N, or "auto" (see the class docstring).
        A forward that raises becomes a WorkloadError naming the module path where it failed."""
        if step == "auto":
            self._auto_step = self._step + (1 if self._ops else 0)
        elif isinstance(step, int) and step >= 0:
            self._step, self._auto_step = step, None
        else:
            raise WorkloadError(f"trace_model: step: {step!r}; expected a whole number >= 0 or 'auto'")
        self._label = label
        was_training = self.model.training
        self.model.eval()
        if isinstance(inputs, Mapping):
            self._register_inputs(inputs, "input")
            args, kwargs = (), dict(inputs)
        elif isinstance(inputs, (tuple, list)):
            self._register_inputs(inputs, "input")
            args, kwargs = tuple(inputs), {}
        else:
            self._register_inputs((inputs,), "input")
            args, kwargs = (inputs,), {}
        fn = call if call is not None else self.model
        pre = torch.nn.modules.module.register_module_forward_pre_hook(self._pre_hook)
        post = torch.nn.modules.module.register_module_forward_hook(self._post_hook)
        self._stack = []
        # torch's fused fast paths (nn.TransformerEncoderLayer → aten._transformer_encoder_layer_fwd,
        # nn.MultiheadAttention → aten._native_multi_head_attention) hide their gemms in one kernel the
        # tracer cannot count: take the composite path, whose ops are the same arithmetic one by one
        fastpath = torch.backends.mha.get_fastpath_enabled()
        torch.backends.mha.set_fastpath_enabled(False)
        threads = torch.get_num_threads()
        torch.set_num_threads(tracing_threads())
        try:
            with torch.no_grad(), _Mode(self):
                output = fn(*args, **kwargs)
        except WorkloadError:
            raise
        except Exception as exc:
            where = self._path_now()
            msg = str(exc).strip().splitlines()
            raise WorkloadError(f"{self.name}: {where}: forward failed ({type(exc).__name__}: "
                                f"{msg[0] if msg else ''}); expected a forward that runs on the given "
                                "inputs") from exc
        finally:
            torch.set_num_threads(threads)
            torch.backends.mha.set_fastpath_enabled(fastpath)
            pre.remove()
            post.remove()
            self._stack = []
            self.model.train(was_training)
        for _, t in _named_tensors(output, "output"):
            key = self._key(t)
            tid = self._ids.get(key) if key is not None else None
            if tid is not None and self._tensors[tid][1] == "activation":
                self._tensors[tid][1] = "output"
        return output

    def set_role(self, tensor: torch.Tensor, role: str, *, owner: str | None = None) -> int:
        """Give the traced tensor that ``tensor`` (or any view of it) is stored in the role ``role`` (one of
        ROLES) and, when given, the owner ``owner`` (``shared`` or a task). Call it between :meth:`run`
        calls or after the last, e.g. for the KV cache the last decode step appends to, which no later step
        reads (so the tracer cannot tell it is carried). Returns the tensor id. A tensor no traced op
        touched raises WorkloadError."""
        if role not in ROLES:
            raise WorkloadError(f"set_role: role: {role!r}; expected one of {', '.join(ROLES)}")
        key = self._key(tensor) if isinstance(tensor, torch.Tensor) else None
        tid = self._ids.get(key) if key is not None else None
        if tid is None:
            raise WorkloadError(f"set_role: tensor of shape {tuple(getattr(tensor, 'shape', ()))}: not in the "
                                "trace; expected a tensor (or a view of one) that a traced op read or wrote")
        self._tensors[tid][1] = role
        if owner is not None:
            self._tensors[tid][5] = owner
        return tid

    def _frame_paths(self) -> list[str]:
        """Module path of every frame; "#k" on modules called more than once within one parent call."""
        repeated = {id(fr.module) for fr in self._frames if fr.index > 1}
        paths: list[str] = []
        for fr in self._frames:
            part = fr.rel + (f"#{fr.index}" if id(fr.module) in repeated and fr.rel else "")
            parent = paths[fr.parent] if fr.parent >= 0 else ""
            paths.append(f"{parent}.{part}" if parent and part else parent or part)
        return paths

    def trace(self) -> Trace:
        """The Trace of every op run so far (all steps), with module paths and layer labels."""
        paths = self._frame_paths()
        leaf = [next(fr.module.children(), None) is None for fr in self._frames]
        root: list[int] = []  # the outermost frame of each frame
        for i, fr in enumerate(self._frames):
            root.append(root[fr.parent] if fr.parent >= 0 else i)
        labels, where = [], []  # where: the module path without a leaf's call index
        for k, op in enumerate(self._ops):
            f = self._op_frames[k]
            if f >= 0:  # ops outside any module got the label of their run when recorded
                op.module = paths[f]
            # a leaf called again (a reused activation) is not a repeated layer: its call index is no label
            where.append(_CALL_INDEX.sub("", op.module) if f >= 0 and leaf[f] else op.module)
            labels.append(_layer_label(where[-1]))
        span: dict[int, tuple[int, int]] = {}  # step -> first and last op inside a layer stack
        for k, lab in enumerate(labels):
            if lab is not None:
                step = self._ops[k].step
                span[step] = (span.get(step, (k, k))[0], k)
        for k, op in enumerate(self._ops):
            lab = labels[k]
            f = self._op_frames[k]
            outside = (self._frames[root[f]].module is not self.model and "embed" not in op.module) \
                if f >= 0 else bool(op.module)
            if lab is None and (op.step not in span or outside):
                # no layer stack in this step, or work outside the model's forward (`run(call=...,
                # label=...)`: a ProSG weight update, the greedy choice of a token): the top-level module,
                # or the run's label
                lab = ".".join(where[k].split(".")[:2]) or "model"
            elif lab is None:
                first, last = span[op.step]
                decoder = "decoder." if "decoder" in op.module else ""
                if k > last and not decoder:
                    lab = "head"
                elif k < first or "embed" in op.module:
                    lab = f"{decoder}embeddings"
                else:
                    lab = ".".join(op.module.split(".")[:2]) or "model"
            op.layer = lab

        def resolve(name):
            if isinstance(name, str):
                return name
            frame, text = name
            return f"{paths[frame] or '<model>'}/{text}"

        tensors = {tid: TensorInfo(tid, resolve(name), role, shape, numel, _bits(dtype), owner=owner,
                                   dtype=str(dtype).removeprefix("torch."))
                   for tid, (name, role, shape, numel, dtype, owner, _) in enumerate(self._tensors)}
        meta = {"tracer_version": TRACER_VERSION, "format_version": FORMAT_VERSION,
                "torch": torch.__version__, "transformers": package_version("transformers"), **self.meta}
        if self.unknown_errors:
            meta["tracer_errors"] = self.unknown_errors[:20]
        return Trace(self.name, self.task, tensors, list(self._ops), meta)


@functools.lru_cache(maxsize=None)
def _bits(dtype) -> int:
    return (torch.finfo(dtype).bits if dtype.is_floating_point else
            8 if dtype == torch.bool else torch.iinfo(dtype).bits)


def _named_tensors(value, prefix: str):
    """(name, tensor) pairs of the tensors in nested dicts/lists/tuples (and ModelOutput objects)."""
    if isinstance(value, torch.Tensor):
        yield prefix, value
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield from _named_tensors(v, f"{prefix}.{k}")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield from _named_tensors(v, f"{prefix}.{i}")


#: Environment variable fixing torch's intra-op threads while tracing (a whole number >= 1).
THREADS_ENV = "HETSIM_TORCH_THREADS"


def tracing_threads() -> int:
    """Torch intra-op threads for a traced forward: ``$HETSIM_TORCH_THREADS`` when set, else the cores no
    other process is using (CPU count minus the 1-minute load average, this process counted as free; at
    least 1, at most torch's default). On a loaded 2-core machine two threads thrash: a bert-base forward
    took 1.9 s on two threads and 0.33 s on one (issue 12). Processes tracing in parallel should set 1."""
    value = os.environ.get(THREADS_ENV, "").strip()
    if value:
        if not value.isdigit() or int(value) < 1:
            raise WorkloadError(f"{THREADS_ENV}: got {value!r}; expected a whole number >= 1")
        return int(value)
    cpus = os.cpu_count() or 1
    try:
        busy = os.getloadavg()[0]
    except OSError:  # not available on this system
        busy = 0.0
    free = cpus - max(0, round(busy) - 1)
    return max(1, min(free, torch.get_num_threads(), cpus))


def trace_model(model: torch.nn.Module, inputs: Any, *, task: str | None = None, name: str | None = None,
                step: int = 0, role_of: Callable[[str], str | None] | None = None,
                owner_of: Callable[[str], str | None] | None = None, meta: Mapping | None = None) -> Trace:
    """Trace one forward of ``model`` on ``inputs`` (dict = keyword arguments, tuple = positional, or one
    tensor) into a Trace: eval mode, no grad, every aten op that does work. ``step`` labels the ops (0 =
    forward/prefill, N = decode step N). ``role_of``/``owner_of`` map parameter names to role/owner
    (see :class:`Tracer`). For several steps sharing tensors (KV cache, state) use :class:`Tracer`, or trace
    steps separately and join them with :func:`workloads.trace.concat_traces` (parameters keep identity).
    Raises WorkloadError naming the module path when the forward fails."""
    tracer = Tracer(model, name=name, task=task, role_of=role_of, owner_of=owner_of, meta=meta)
    tracer.run(inputs, step=step)
    trace = tracer.trace()
    warn_unknown(trace)
    return trace


class UnknownOpWarning(UserWarning):
    """A trace holds ops the tracer has no counting rule for (kind ``unknown``: bytes recorded, no MACs)."""


def warn_unknown(trace: Trace, *, stacklevel: int = 3) -> None:
    """Warn (:class:`UnknownOpWarning`) naming each unknown aten op of ``trace`` and its count; silent when
    there are none. ``trace_model`` and the zoo/multi-task/generation tracing helpers call it."""
    names = trace.unknown_ops()
    if names:
        listed = ", ".join(f"{name} ×{n}" for name, n in names.items())
        warnings.warn(f"{trace.model}: {sum(names.values())} op(s) the tracer has no rule for (recorded with "
                      f"their bytes, no MACs; the simulator costs them conservatively): {listed}",
                      UnknownOpWarning, stacklevel=stacklevel)
