"""Trace cache: a trace is stored under a key of everything that shapes it, so a second run with the same
model, sizes, adapters and tasks loads it instead of running torch (imports no torch).

The key hashes the caller's description (model name, sequence length, batch, adapter spec, task list,
any overrides) together with what else changes what a trace holds: the trace file format, the tracer's
counting rules, the source of the modules that build and trace models (:data:`SHAPING_MODULES`: editing
a zoo config or an adapter re-traces), and the installed torch, transformers and peft (read from package
metadata, without importing them). Compression is not part of the key: it is applied to a loaded trace.

Location: ``$HETSIM_CACHE`` if set, else ``~/.cache/hetsim/traces``.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import warnings
from importlib import metadata
from pathlib import Path
from typing import Callable, Mapping

from .errors import WorkloadError
from .trace import FORMAT_VERSION, TRACER_VERSION, Trace, load_trace

#: Installed packages whose version changes the op sequence a model runs.
KEY_PACKAGES = ("torch", "transformers", "peft")
#: Modules of this package whose source shapes a trace (counting rules, model configs, adapters, the
#: multi-task and generation drivers); their content is hashed into every key.
SHAPING_MODULES = ("tracer.py", "zoo.py", "adapters.py", "multitask.py", "generation.py")
_HERE = Path(__file__).resolve().parent


def cache_dir() -> Path:
    """The cache directory: ``$HETSIM_CACHE`` or ``~/.cache/hetsim/traces``."""
    env = os.environ.get("HETSIM_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "hetsim" / "traces"


@functools.lru_cache(maxsize=None)
def package_version(name: str) -> str | None:
    """The installed version of distribution ``name`` (from its metadata, without importing it), or None."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


@functools.lru_cache(maxsize=256)     # keyed by the file's state: an edited file is hashed anew
def _file_hash(path: Path, _mtime_ns: int, _size: int) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def code_fingerprint() -> str:
    """Hex SHA-256 of the source of :data:`SHAPING_MODULES` (re-read only when a file changes)."""
    digest = hashlib.sha256()
    for name in SHAPING_MODULES:
        path = _HERE / name
        st = path.stat()
        digest.update(f"{name}:{_file_hash(path, st.st_mtime_ns, st.st_size)};".encode())
    return digest.hexdigest()


def cache_key(parts: Mapping) -> str:
    """Hex SHA-256 of ``parts`` (JSON values) plus the format, tracer, code and package versions."""
    doc = {"parts": parts, "format": FORMAT_VERSION, "tracer": TRACER_VERSION, "code": code_fingerprint(),
           "packages": {p: package_version(p) for p in KEY_PACKAGES}}
    try:
        text = json.dumps(doc, sort_keys=True, separators=(",", ":"))
    except TypeError as exc:
        raise WorkloadError(f"cache: key parts: {exc}; expected JSON values (str, int, float, bool, "
                            "None, lists, dicts)") from None
    return hashlib.sha256(text.encode()).hexdigest()


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[:60] or "trace"


def _stem(parts: Mapping) -> str:
    return f"{_slug(str(parts.get('model', 'trace')))}-{cache_key(parts)[:20]}"


def load(parts: Mapping, *, directory: str | os.PathLike | None = None) -> dict[str, Trace] | None:
    """The traces stored under ``parts`` (name -> Trace), or None when not cached, damaged, or not the
    entry of this request: the index must record this request's full key and each trace file's SHA-256."""
    directory = Path(directory) if directory is not None else cache_dir()
    key = cache_key(parts)
    stem = _stem(parts)
    index = directory / f"{stem}.index.json"
    if not index.exists():
        return None
    try:
        doc = json.loads(index.read_text())
        if doc["key"] != key:  # another request's entry (a shortened-key collision, or a copied file)
            return None
        traces = {}
        for name in doc["traces"]:
            path = directory / f"{stem}.{_slug(name)}.trace.json.gz"
            data = path.read_bytes()
            if hashlib.sha256(data).hexdigest() != doc["sha256"][name]:
                return None  # the file is not the one stored with this key
            traces[name] = load_trace(path)
        return traces
    except (OSError, KeyError, TypeError, ValueError):
        return None  # a damaged entry (or one of an older layout) is rebuilt


def save(parts: Mapping, traces: Mapping[str, Trace], *, directory: str | os.PathLike | None = None) -> Path:
    """Store ``traces`` (name -> Trace) under ``parts``; returns the index file. The index is written last,
    so a reader never sees a partial entry."""
    directory = Path(directory) if directory is not None else cache_dir()
    stem = _stem(parts)
    digests = {}
    for name, trace in traces.items():
        path = trace.save(directory / f"{stem}.{_slug(name)}.trace.json.gz")
        digests[name] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    index = directory / f"{stem}.index.json"
    tmp = index.with_name(f".{index.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"key": cache_key(parts), "parts": parts, "traces": list(traces),
                               "sha256": digests}, sort_keys=True))
    os.replace(tmp, index)
    return index


def store(parts: Mapping, traces: Mapping[str, Trace], *,
          directory: str | os.PathLike | None = None) -> Path | None:
    """:func:`save`, but a cache that cannot be written (read-only, full, missing parent) only warns: the
    cache saves time, it never fails a trace. Returns the index file, or None when nothing was stored."""
    try:
        return save(parts, traces, directory=directory)
    except OSError as exc:
        where = directory if directory is not None else cache_dir()
        warnings.warn(f"trace cache: {where}: not written ({exc.strerror or exc}); set HETSIM_CACHE to a "
                      "writable folder to reuse traces", RuntimeWarning, stacklevel=2)
        return None


def cached_traces(parts: Mapping, build: Callable[[], Mapping[str, Trace]], *,
                  directory: str | os.PathLike | None = None, refresh: bool = False) -> tuple[dict[str, Trace], bool]:
    """The traces described by ``parts`` (a dict name -> Trace, e.g. one per task), from the cache when all
    are there, else from ``build()`` (then stored). Returns ``(traces, hit)``. ``refresh`` rebuilds."""
    traces = None if refresh else load(parts, directory=directory)
    if traces is not None:
        return traces, True
    traces = dict(build())
    store(parts, traces, directory=directory)
    return traces, False


def cached_trace(parts: Mapping, build: Callable[[], Trace], *, directory: str | os.PathLike | None = None,
                 refresh: bool = False) -> tuple[Trace, bool]:
    """One trace described by ``parts``, from the cache or from ``build()``. Returns ``(trace, hit)``."""
    traces, hit = cached_traces(parts, lambda: {"trace": build()}, directory=directory, refresh=refresh)
    return traces["trace"], hit
