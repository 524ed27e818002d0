"""The torch-free Trace: the tensors and aten ops of one traced execution, and its file format.

A Trace records what a model did, not how a platform does it: element counts, MACs and producer→consumer
dependencies per op, and per tensor its role, shape, storage bits and sparsity. Bytes always follow from
elements through :meth:`TensorInfo.bytes_for`, so a compression policy changes every byte figure at once.

This module imports no torch (a saved trace loads on a machine without it). The file format is documented
in ``workloads/FORMAT.md``; :data:`FORMAT_VERSION` is the version written here.
"""
from __future__ import annotations

import contextlib
import gzip
import json
import os
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Mapping

# Tensor roles and op kinds are the shared vocabulary (hw_models/vocabulary.py: torch-free, imports nothing).
from hw_models.vocabulary import OP_KINDS as KINDS
from hw_models.vocabulary import PARAMETER_ROLES, ROLES, RUNTIME_ROLES

from .errors import WorkloadError


FORMAT_NAME = "hetsim-trace"
#: Version of the file format written by :meth:`Trace.save`; see FORMAT.md for the history.
FORMAT_VERSION = 2
#: Version of the tracer's counting rules (workloads/tracer.py); part of every cache key, so bump it when a
#: rule changes what a trace holds.
TRACER_VERSION = 6

_TENSOR_FIELDS = ("id", "name", "role", "shape", "numel", "bits", "sparsity", "mask_bits", "owner", "dtype")
_OP_FIELDS = ("id", "module", "layer", "aten", "kind", "macs", "other_ops", "reads", "writes", "deps",
              "gemm", "step", "operands")
#: The op columns of format version 1 (no ``operands``: the mapper then matches operands by element count).
_OP_FIELDS_V1 = _OP_FIELDS[:-1]
#: How many operands an op of each kind records: (A, W, O) of a gemm, (Q, K, V, O) of fused attention.
OPERAND_COUNTS = {"matmul": 3, "attention": 4}


@dataclass(slots=True)
class TensorInfo:
    """One tensor (one storage) of a trace. Sizes are in elements; bytes come from :meth:`bytes_for`."""

    id: int                 #: unique within a Trace
    name: str               #: parameter name for parameters (stable across tasks), else producer op name
    role: str               #: one of ROLES
    shape: tuple[int, ...]  #: elements per dimension
    numel: int              #: element count
    bits: int               #: storage bits per element (after the compression policy)
    sparsity: float = 0.0   #: fraction of zero elements that are not stored (0..1)
    mask_bits: float = 0.0  #: encoding overhead in bits per element (1.0 for a bit mask)
    owner: str = "shared"   #: "shared" or a task name
    dtype: str = "float32"  #: the torch dtype it had at run time

    def bytes_for(self, elements: float) -> float:
        """Bytes moved to touch ``elements`` elements of this tensor (values kept plus mask), in bytes."""
        return elements * ((1.0 - self.sparsity) * self.bits + self.mask_bits) / 8.0

    @property
    def stored_bytes(self) -> float:
        """Bytes this tensor occupies in memory: ``numel·(1-sparsity)·bits/8 + numel·mask_bits/8``."""
        return self.bytes_for(self.numel)

    @property
    def is_parameter(self) -> bool:
        """True for weights, embeddings and adapters."""
        return self.role in PARAMETER_ROLES


@dataclass(slots=True)
class OpInfo:
    """One aten op that did work, in execution order. ``reads``/``writes`` count ELEMENTS per tensor id."""

    id: int                     #: index in Trace.ops (execution order)
    module: str                 #: module path with call index, e.g. "albert.encoder.albert_layer_groups.0#3.…"
    layer: str                  #: coarse layer label for per-layer reports ("embeddings", "layer#3", "head")
    aten: str                   #: e.g. "aten.addmm.default"
    kind: str                   #: one of KINDS
    macs: int                   #: multiply-accumulate operations
    other_ops: int              #: non-MAC arithmetic operations (adds, exps, compares, ...)
    reads: dict[int, int]       #: tensor id -> elements read by this op
    writes: dict[int, int]      #: tensor id -> elements written by this op
    deps: tuple[int, ...]       #: ids of the ops that produced what this op reads
    gemm: tuple[int, int, int, int] | None  #: (batch, m, k, n) for matmul/attention, else None
    step: int = 0               #: 0 = forward / prefill; 1..N = decode step N
    #: tensor ids of the op's gemm operands by argument position, as the tracer saw them: ``(A, W, O)`` of
    #: a ``matmul`` (A the ``m×k`` operand, W the ``k×n`` one, O the output), ``(Q, K, V, O)`` of an
    #: ``attention``; ``()`` when they are not one tensor each (an RNN layer's gemm spans two weights);
    #: None when not recorded (format version 1, hand-made ops: the mapper matches by element count)
    operands: tuple[int, ...] | None = None


@dataclass
class Trace:
    """The ops and tensors of one traced execution of ``model`` for ``task`` (None: no task adaptation).

    ``meta`` holds JSON values only (what was traced: sequence length, batch, adapter, versions, ...)."""

    model: str
    task: str | None
    tensors: dict[int, TensorInfo]
    ops: list[OpInfo]
    meta: dict = field(default_factory=dict)

    # -- bytes per op -------------------------------------------------------------------------------------
    def read_bytes(self, op: OpInfo) -> dict[int, float]:
        """Bytes ``op`` reads from each tensor id (after compression), in bytes."""
        t = self.tensors
        return {tid: t[tid].bytes_for(n) for tid, n in op.reads.items()}

    def write_bytes(self, op: OpInfo) -> dict[int, float]:
        """Bytes ``op`` writes to each tensor id (after compression), in bytes."""
        t = self.tensors
        return {tid: t[tid].bytes_for(n) for tid, n in op.writes.items()}

    # -- per-tensor and whole-trace figures --------------------------------------------------------------
    def _access_counts(self) -> tuple[dict[int, int], dict[int, int], dict[int, int], dict[int, int]]:
        """Per tensor id: ops reading it, elements read, ops writing it, elements written."""
        n_reads: dict[int, int] = dict.fromkeys(self.tensors, 0)
        e_reads: dict[int, int] = dict.fromkeys(self.tensors, 0)
        n_writes: dict[int, int] = dict.fromkeys(self.tensors, 0)
        e_writes: dict[int, int] = dict.fromkeys(self.tensors, 0)
        for op in self.ops:
            for tid, n in op.reads.items():
                n_reads[tid] += 1
                e_reads[tid] += n
            for tid, n in op.writes.items():
                n_writes[tid] += 1
                e_writes[tid] += n
        return n_reads, e_reads, n_writes, e_writes

    def peak_runtime_bytes(self) -> float:
        """Largest total of run-time tensors (activations, inputs, outputs, caches, state) live at once,
        in bytes. A tensor is live from the first op that touches it to the last one."""
        first: dict[int, int] = {}
        last: dict[int, int] = {}
        for op in self.ops:
            for tid in (*op.reads, *op.writes):
                if self.tensors[tid].role in RUNTIME_ROLES:
                    first.setdefault(tid, op.id)
                    last[tid] = op.id
        delta: dict[int, float] = {}
        for tid, start in first.items():
            size = self.tensors[tid].stored_bytes
            delta[start] = delta.get(start, 0.0) + size
            delta[last[tid] + 1] = delta.get(last[tid] + 1, 0.0) - size
        live = peak = 0.0
        for pos in sorted(delta):
            live += delta[pos]
            peak = max(peak, live)
        return peak

    def summary(self) -> dict:
        """The figures users ask first. Bytes in bytes, after compression:

        ``ops``, ``macs``, ``other_ops``, ``tensors``, ``parameters`` (elements), ``unique_weight_bytes``
        (stored bytes of every parameter the trace touches), ``weight_bytes_read`` (parameter bytes read by
        all ops; a shared layer counts once per use), ``activation_bytes`` (stored bytes of every run-time
        tensor), ``activation_bytes_read``, ``activation_bytes_written``, ``peak_activation_bytes``,
        ``bytes_read``, ``bytes_written``, ``unknown_ops``, ``unknown_op_names`` (``{aten name: count}``),
        ``steps``, ``ops_by_kind``."""
        _, e_reads, _, e_writes = self._access_counts()
        s = dict(ops=len(self.ops), macs=0, other_ops=0, tensors=len(self.tensors), parameters=0,
                 unique_weight_bytes=0.0, weight_bytes_read=0.0, weight_bytes_written=0.0,
                 activation_bytes=0.0, activation_bytes_read=0.0, activation_bytes_written=0.0,
                 bytes_read=0.0, bytes_written=0.0, unknown_ops=0)
        kinds: dict[str, int] = {}
        steps = set()
        for op in self.ops:
            s["macs"] += op.macs
            s["other_ops"] += op.other_ops
            kinds[op.kind] = kinds.get(op.kind, 0) + 1
            steps.add(op.step)
        for tid, t in self.tensors.items():
            read, written = t.bytes_for(e_reads[tid]), t.bytes_for(e_writes[tid])
            s["bytes_read"] += read
            s["bytes_written"] += written
            if t.role in PARAMETER_ROLES:
                s["parameters"] += t.numel
                s["unique_weight_bytes"] += t.stored_bytes
                s["weight_bytes_read"] += read
                s["weight_bytes_written"] += written
            else:
                s["activation_bytes"] += t.stored_bytes
                s["activation_bytes_read"] += read
                s["activation_bytes_written"] += written
        s["unknown_ops"] = kinds.get("unknown", 0)
        s["unknown_op_names"] = self.unknown_ops()
        s["peak_activation_bytes"] = self.peak_runtime_bytes()
        s["steps"] = len(steps)
        s["ops_by_kind"] = dict(sorted(kinds.items()))
        return s

    def unknown_ops(self) -> dict[str, int]:
        """``{aten op name: count}`` of the ops recorded with kind ``unknown`` (no counting rule: bytes
        recorded, no MACs), most frequent first; empty when every op was classified."""
        names: dict[str, int] = {}
        for op in self.ops:
            if op.kind == "unknown":
                names[op.aten] = names.get(op.aten, 0) + 1
        return dict(sorted(names.items(), key=lambda kv: (-kv[1], kv[0])))

    def tensor_reads(self):
        """A pandas DataFrame, one row per tensor: ``id, name, role, owner, shape, numel, bits, sparsity,
        bytes`` (stored bytes), ``reads`` (ops reading it), ``elements_read``, ``bytes_read``, ``writes``
        (ops writing it), ``bytes_written``. Bytes in bytes."""
        import pandas as pd

        n_reads, e_reads, n_writes, e_writes = self._access_counts()
        rows = [(tid, t.name, t.role, t.owner, t.shape, t.numel, t.bits, t.sparsity, t.stored_bytes,
                 n_reads[tid], e_reads[tid], t.bytes_for(e_reads[tid]), n_writes[tid],
                 t.bytes_for(e_writes[tid])) for tid, t in self.tensors.items()]
        return pd.DataFrame(rows, columns=["id", "name", "role", "owner", "shape", "numel", "bits", "sparsity",
                                           "bytes", "reads", "elements_read", "bytes_read", "writes",
                                           "bytes_written"])

    def role_table(self):
        """A pandas DataFrame, one row per role present: ``role, tensors, elements, bytes`` (stored),
        ``bytes_read, bytes_written``. Bytes in bytes."""
        df = self.tensor_reads()
        table = df.groupby("role", sort=False).agg(tensors=("id", "size"), elements=("numel", "sum"),
                                                   bytes=("bytes", "sum"), bytes_read=("bytes_read", "sum"),
                                                   bytes_written=("bytes_written", "sum"))
        order = [r for r in ROLES if r in table.index]
        return table.loc[order].reset_index()

    # -- derived traces ----------------------------------------------------------------------------------
    def with_compression(self, policy) -> "Trace":
        """A copy whose tensors carry the bits/sparsity ``policy`` gives their role (a
        :class:`workloads.compression.CompressionPolicy`, or any object with ``apply(TensorInfo) ->
        TensorInfo``). Ops are shared, not copied: their element counts do not change, their bytes do."""
        tensors = {tid: policy.apply(t) for tid, t in self.tensors.items()}
        meta = dict(self.meta)
        describe = getattr(policy, "to_dict", None)
        if describe is not None:
            meta["compression"] = describe()
        return Trace(self.model, self.task, tensors, self.ops, meta)

    def ops_of_step(self, step: int) -> list[OpInfo]:
        """The ops of one step (0 = forward / prefill, N = decode step N)."""
        return [op for op in self.ops if op.step == step]

    # -- file format -------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """The JSON document of format version :data:`FORMAT_VERSION` (see FORMAT.md)."""
        strings: dict[str, int] = {}

        def s(text: str) -> int:
            return strings.setdefault(text, len(strings))

        tensors = [[t.id, t.name, t.role, list(t.shape), t.numel, t.bits, t.sparsity, t.mask_bits, t.owner,
                    t.dtype] for t in self.tensors.values()]
        ops = [[op.id, s(op.module), s(op.layer), s(op.aten), op.kind, op.macs, op.other_ops,
                [[k, v] for k, v in op.reads.items()], [[k, v] for k, v in op.writes.items()], list(op.deps),
                None if op.gemm is None else list(op.gemm), op.step,
                None if op.operands is None else list(op.operands)] for op in self.ops]
        return {"format": FORMAT_NAME, "version": FORMAT_VERSION, "model": self.model, "task": self.task,
                "meta": self.meta, "tensor_fields": list(_TENSOR_FIELDS), "tensors": tensors,
                "op_fields": list(_OP_FIELDS), "strings": list(strings), "ops": ops}

    def save(self, path: str | os.PathLike) -> Path:
        """Write the trace to ``path`` (gzip-compressed when the name ends in ``.gz``), atomically.
        Returns the path. Raises OSError naming ``path`` when it cannot be written."""
        path = Path(path)
        data = json.dumps(self.to_dict(), separators=(",", ":"), allow_nan=False).encode()
        if path.suffix == ".gz":
            data = gzip.compress(data, compresslevel=6, mtime=0)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(data)
            os.replace(tmp, path)
        except OSError as exc:  # name the file asked for, not the temporary one
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            raise OSError(exc.errno, exc.strerror, str(path)) from None
        return path


def _fail(where: str, field_path: str, problem: str, expected: str) -> WorkloadError:
    return WorkloadError(f"{where}: {field_path}: {problem}; expected {expected}")


def _count(where: str, field_path: str, value: Any, low: int = 0, high: int | None = None) -> None:
    """Raise WorkloadError unless ``value`` is a whole number in ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        bound = f"{low}..{high}" if high is not None else f">= {low}"
        raise _fail(where, field_path, f"got {str(value)[:40]}", f"a whole number {bound}")


def _fraction(where: str, field_path: str, value: Any, high: float) -> None:
    """Raise WorkloadError unless ``value`` is a finite number in ``[0, high]``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= high:
        raise _fail(where, field_path, f"got {str(value)[:40]}", f"a number from 0 to {high:g}")


def _check_operands(where: str, at: str, kind: str, operands: Any, reads: dict, writes: dict) -> None:
    """Raise WorkloadError unless ``operands`` is ``[]`` or, for a matmul (attention), 2 (3) tensors the op
    reads and 1 it writes."""
    want = OPERAND_COUNTS.get(kind)
    if want is None or not isinstance(operands, list) or (operands and len(operands) != want):
        raise _fail(where, f"{at}.operands", f"got {str(operands)[:40]}",
                    f"null, [] or {want} tensor ids for a {kind} op" if want else f"null for a {kind} op")
    for j, tid in enumerate(operands):
        is_output = j == len(operands) - 1
        if not (isinstance(tid, int) and tid in (writes if is_output else reads)):
            raise _fail(where, f"{at}.operands[{j}]", f"tensor id {tid!r} is not one the op "
                        f"{'writes' if is_output else 'reads'}",
                        f"an id from its {'writes' if is_output else 'reads'}")


def trace_from_dict(doc: Mapping[str, Any], where: str = "<trace>") -> Trace:
    """Rebuild a Trace from the JSON document of :meth:`Trace.to_dict`. Raises WorkloadError naming the
    field when the document is not a hetsim trace of a supported version."""
    if not isinstance(doc, Mapping) or doc.get("format") != FORMAT_NAME:
        raise _fail(where, "format", "not a hetsim trace file", f'a JSON document with "format": "{FORMAT_NAME}"')
    version = doc.get("version")
    if not isinstance(version, int) or not 1 <= version <= FORMAT_VERSION:
        raise _fail(where, "version", f"unsupported version {version!r}",
                    f"1..{FORMAT_VERSION} (re-trace the model with this hetsim)")
    op_fields = _OP_FIELDS if version >= 2 else _OP_FIELDS_V1
    if list(doc.get("tensor_fields", ())) != list(_TENSOR_FIELDS) or \
            list(doc.get("op_fields", ())) != list(op_fields):
        raise _fail(where, "tensor_fields/op_fields", "unexpected columns",
                    f"{list(_TENSOR_FIELDS)} and {list(op_fields)} (version {version})")
    try:
        tensors = {}
        for i, (tid, name, role, shape, numel, bits, sparsity, mask_bits, owner, dtype) in \
                enumerate(doc["tensors"]):
            if role not in ROLES:
                raise _fail(where, f"tensors[{i}].role", f"unknown role {role!r}", f"one of {', '.join(ROLES)}")
            at = f"tensors[{i}]"
            _count(where, f"{at}.id", tid)
            if tid in tensors:
                raise _fail(where, f"{at}.id", f"id {tid} repeats", "distinct tensor ids")
            _count(where, f"{at}.numel", numel)
            for j, dim in enumerate(shape):
                _count(where, f"{at}.shape[{j}]", dim)
            _count(where, f"{at}.bits", bits, low=1, high=64)
            _fraction(where, f"{at}.sparsity", sparsity, high=1.0)
            _fraction(where, f"{at}.mask_bits", mask_bits, high=64.0)
            tensors[tid] = TensorInfo(tid, name, role, tuple(shape), numel, bits, sparsity, mask_bits, owner,
                                      dtype)
        strings = doc["strings"]
        ops = []
        for i, row in enumerate(doc["ops"]):
            if len(row) != len(op_fields):
                raise _fail(where, f"ops[{i}]", f"{len(row)} columns", f"{len(op_fields)}: {list(op_fields)}")
            oid, module, layer, aten, kind, macs, other, reads, writes, deps, gemm, step = row[:12]
            operands = row[12] if version >= 2 else None
            if kind not in KINDS:
                raise _fail(where, f"ops[{i}].kind", f"unknown kind {kind!r}", f"one of {', '.join(KINDS)}")
            reads, writes = {k: v for k, v in reads}, {k: v for k, v in writes}
            missing = [k for k in (*reads, *writes) if k not in tensors]
            if missing:
                raise _fail(where, f"ops[{i}].reads/writes", f"tensor id {missing[0]!r} not in tensors",
                            "ids of the file's tensors")
            at = f"ops[{i}]"
            if oid != i:
                raise _fail(where, f"{at}.id", f"id {oid!r} at position {i}", "ops numbered 0, 1, ... in order")
            for field_name, value in (("macs", macs), ("other_ops", other), ("step", step),
                                      *((f"reads.{k}", v) for k, v in reads.items()),
                                      *((f"writes.{k}", v) for k, v in writes.items())):
                _count(where, f"{at}.{field_name}", value)
            stray = [d for d in deps if not (isinstance(d, int) and 0 <= d < i)]
            if stray:
                raise _fail(where, f"{at}.deps", f"op id {stray[0]!r} does not resolve", "ids of earlier ops")
            if gemm is not None:
                if len(gemm) != 4:
                    raise _fail(where, f"{at}.gemm", f"{len(gemm)} numbers", "[batch, m, k, n] or null")
                for j, dim in enumerate(gemm):
                    _count(where, f"{at}.gemm[{j}]", dim)
            for field_name, index in (("module", module), ("layer", layer), ("aten", aten)):
                if not (isinstance(index, int) and not isinstance(index, bool) and 0 <= index < len(strings)):
                    raise _fail(where, f"{at}.{field_name}", f"string index {index!r} does not resolve",
                                f"an index into strings (0..{len(strings) - 1})")
            if operands is not None:
                _check_operands(where, at, kind, operands, reads, writes)
                operands = tuple(operands)
            ops.append(OpInfo(oid, strings[module], strings[layer], strings[aten], kind, macs, other,
                              reads, writes, tuple(deps), None if gemm is None else tuple(gemm), step, operands))
    except WorkloadError:
        raise
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise _fail(where, "tensors/ops", f"malformed record ({type(exc).__name__}: {exc})",
                    "the layout described in workloads/FORMAT.md") from None
    return Trace(doc.get("model", ""), doc.get("task"), tensors, ops, dict(doc.get("meta") or {}))


def load_trace(path: str | os.PathLike) -> Trace:
    """Load a trace written by :meth:`Trace.save` (plain or gzip JSON; detected from the content).
    Imports no torch. Raises FileNotFoundError, or WorkloadError for a file that is not a valid trace."""
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise _fail(str(path), "(file)", f"damaged gzip data ({type(exc).__name__}: {exc})",
                        "a complete hetsim trace written by Trace.save") from None
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _fail(str(path), "(file)", f"not JSON ({exc})", "a hetsim trace written by Trace.save") from None
    return trace_from_dict(doc, str(path))


def concat_traces(traces: Iterable[Trace], *, model: str | None = None, task: str | None = None,
                  meta: dict | None = None) -> Trace:
    """One Trace of several traces run one after another (e.g. steps traced by separate calls).

    Parameters (roles in :data:`PARAMETER_ROLES`) with the same ``(owner, name)`` become one tensor, so a
    weight read in every step is one tensor read many times; every other tensor stays distinct (separate
    traces cannot know that a run-time tensor of one is the same storage as one of another: to keep the
    KV cache or recurrent state identical across steps, trace all steps with one
    :class:`workloads.tracer.Tracer`). Tensors and ops are renumbered; op ``step`` values are kept."""
    traces = list(traces)
    if not traces:
        raise WorkloadError("concat_traces: traces: empty list; expected at least one Trace")
    params: dict[tuple[str, str], int] = {}
    tensors: dict[int, TensorInfo] = {}
    ops: list[OpInfo] = []
    for tr in traces:
        remap: dict[int, int] = {}
        for tid, t in tr.tensors.items():
            new = params.get((t.owner, t.name)) if t.role in PARAMETER_ROLES else None
            if new is None:
                new = len(tensors)
                if t.role in PARAMETER_ROLES:
                    params[(t.owner, t.name)] = new
                tensors[new] = replace(t, id=new)
            remap[tid] = new
        op_remap: dict[int, int] = {}
        for op in tr.ops:
            new_id = len(ops)
            op_remap[op.id] = new_id
            ops.append(replace(op, id=new_id,
                               reads={remap[k]: v for k, v in op.reads.items()},
                               writes={remap[k]: v for k, v in op.writes.items()},
                               deps=tuple(op_remap[d] for d in op.deps if d in op_remap),
                               operands=None if op.operands is None else tuple(remap[k] for k in op.operands)))
    first = traces[0]
    return Trace(model if model is not None else first.model, task if task is not None else first.task,
                 tensors, ops, dict(meta) if meta is not None else dict(first.meta))
