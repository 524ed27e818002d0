"""From a sweep's axes to points, and from a point to the platform and study it stands for.

A point is ``{axis path: value as written in YAML}``. :func:`resolve` applies it to copies of the base
platform and study files and builds them **through the normal loaders** (pydantic validation,
:func:`hw_models.loader.build_platform`, :func:`simulator.study.runner.study_from_dict`), so a point's figures
are exactly those of the YAML file a user would write for it. The point's id is a hash of the resolved
configuration (validated platform and study, evaluator, and the technology data files it reads).
"""
from __future__ import annotations

import copy
import hashlib
import json
import math
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from hw_models.errors import HardwareConfigError
from hw_models.memo import Memo
from simulator.errors import SimulationConfigError
from simulator.sweep.spec import Axis, SweepSpec, read_yaml

#: Study fields a workload (the traces) depends on; the scenario makes the request stream.
WORKLOAD_FIELDS = ("model", "adapter", "per_repetition", "tasks", "seq_len", "layers", "hidden", "compression")
#: Memory fields that change only cost figures (energies, bandwidths, latencies, leakage, area), never
#: the placement or the set of candidate mappings. The mapping *choice* can still depend on them: the
#: evaluator checks it per variant (:mod:`simulator.sweep.mapcheck`).
COST_ONLY_MEMORY_FIELDS = ("technology", "word_bits", "banks", "ports", "clock", "description")
#: Platform fields that change only cost figures (see COST_ONLY_MEMORY_FIELDS).
COST_ONLY_PLATFORM_FIELDS = ("name", "description", "node", "nominal_voltage", "leakage_voltage_exponent",
                             "operating_points", "default_operating_point", "prefetch_depth", "assumptions")


def _digest(obj: Any, n: int = 16) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=repr).encode()).hexdigest()[:n]


def _file_digest(path: str) -> str:
    """Digest of the file at ``path`` as it is now: read again when its size or modification time
    changes (a file edited between two sweeps in one process gives new point ids)."""
    st = os.stat(path)
    return _digest_of_file(path, st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=1024)
def _digest_of_file(path: str, _mtime_ns: int, _size: int) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


@dataclass
class Base:
    """The base files of a sweep: the study (parsed YAML and its path) and each base platform (parsed
    YAML, its path, serving mode)."""
    study_data: dict
    study_source: str
    platforms: list[tuple[str, dict, Path, str, dict]]   #: (key, parsed YAML, file, mode, model/adapter)


def load_base(spec: SweepSpec) -> Base:
    """Read the sweep's base study and platforms (bundled names or paths relative to the sweep file)."""
    from hw_models.loader import list_platforms, platform_path
    from simulator.study.runner import STUDIES_DIR, study_from_dict

    name = spec.study
    bundled = STUDIES_DIR / f"{name}.yaml"
    if name in [p.stem for p in STUDIES_DIR.glob("*.yaml")]:
        study_path = bundled
    else:
        study_path = Path(name) if Path(name).is_absolute() else spec.base_dir / name
        if not study_path.is_file():
            raise SimulationConfigError(f"{spec.source}: study: {name!r} is neither a bundled study nor a study "
                                        f"YAML file; expected one of {', '.join(sorted(p.stem for p in STUDIES_DIR.glob('*.yaml')))} or a path")
    study_data = read_yaml(study_path, "study")
    study = study_from_dict(study_data, str(study_path))          # the base itself must be valid
    entries = spec.platforms or [e.model_dump(exclude_none=True, exclude={"label"}) for e in study.platforms]
    platforms = []
    for i, entry in enumerate(entries):
        ref = entry["platform"]
        if ref in list_platforms():
            path = platform_path(ref)
        else:
            where = spec.base_dir if spec.platforms else Path(study_path).parent
            path = Path(ref) if Path(ref).is_absolute() else where / ref
            if not path.is_file():
                field = f"platforms.{i}" if spec.platforms else "study"
                raise SimulationConfigError(f"{spec.source}: {field}: platform {ref!r} is neither bundled nor a "
                                            f"file; expected one of {', '.join(list_platforms())} or a path")
        data = read_yaml(path, "platform")
        key = Path(ref).stem if ref not in list_platforms() else ref
        mode = entry.get("mode", "adapters")
        if mode != "adapters":
            key = f"{key}:{mode}"
        if entry.get("model") or entry.get("adapter"):
            key = f"{key}:{entry.get('model') or ''}{'+' if entry.get('model') and entry.get('adapter') else ''}{entry.get('adapter') or ''}"
        extra = {k: entry[k] for k in ("model", "adapter") if entry.get(k)}
        platforms.append((key, data, path, mode, extra))
    return Base(study_data, str(study_path), platforms)


def _set(doc: Any, keys: list[str], value: Any, where: str) -> Any:
    """A copy of ``doc`` with ``doc[k0][k1]...`` set to ``value`` (list indexes as integers; the last key
    may be new: the schema checks it). Only the containers along the path are copied."""
    if not keys:
        return copy.deepcopy(value)
    key, rest = keys[0], keys[1:]
    if isinstance(doc, list):
        if not key.isdigit() or int(key) >= len(doc):
            raise SimulationConfigError(f"{where}: {key!r} is not an index of a list of {len(doc)}; "
                                        f"expected 0..{len(doc) - 1}")
        out = list(doc)
        out[int(key)] = _set(doc[int(key)], rest, value, where)
        return out
    if not isinstance(doc, dict):
        raise SimulationConfigError(f"{where}: holds {doc!r}, not a mapping; expected a path to a field")
    out = dict(doc)
    out[key] = _set(doc.get(key, {}) if rest else None, rest, value, where)
    return out


def _get(obj: Any, keys: list[str]) -> Any:
    """The value at ``keys`` inside a validated pydantic model (dicts, lists, attributes)."""
    for key in keys:
        if isinstance(obj, dict):
            obj = obj[key]
        elif isinstance(obj, (list, tuple)):
            obj = obj[int(key)]
        else:
            obj = getattr(obj, key)
    return obj


def si_value(value: Any) -> Any:
    """An axis value as stored: numbers as float, lists joined with commas, everything else as text."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    if hasattr(value, "model_dump"):
        return json.dumps(value.model_dump(mode="json"), sort_keys=True)
    return str(value)


@dataclass
class Resolved:
    """One point, resolved: its axis values (as written and in SI), the validated platform file and
    study, the built platform, its serving mode and keys for grouping."""
    index: int
    point: dict
    values: dict                 #: axis path -> SI value (the store's axis columns)
    platform_spec: Any           #: hw_models.schema.PlatformFile
    platform_source: str
    platform_dir: Path
    study: Any                   #: simulator.study.runner.StudyConfig
    mode: str
    platform_key: str
    point_id: str
    workload_key: str
    prep_key: str                #: workload and placement-relevant platform structure: one preparation
    stream_key: str              #: the request scenario

    def platform(self):
        """The point's Platform, built by the normal loader from its resolved file."""
        from hw_models.loader import build_platform

        try:
            return build_platform(self.platform_spec, source=self.platform_source, base_dir=self.platform_dir)
        except HardwareConfigError as exc:
            raise HardwareConfigError(f"{self.platform_source}: {exc}") from None


def _technology_file(tech: str, base_dir: Path) -> str:
    """Digest of the technology file ``tech`` names: a path (relative to ``base_dir``), as the file is now
    (the loader reads it on every build), or a bundled name (the loader reads those once per process)."""
    if tech.endswith((".yaml", ".yml")):
        path = Path(tech) if Path(tech).is_absolute() else base_dir / tech
        return _file_digest(str(path)) if path.is_file() else tech
    return _bundled_technology_file(tech)


@lru_cache(maxsize=256)
def _bundled_technology_file(name: str) -> str:
    from hw_models.technology import TECHNOLOGIES_DIR

    path = TECHNOLOGIES_DIR / f"{name}.yaml"
    return _file_digest(str(path)) if path.is_file() else name


def _technology_files(pspec, base_dir: Path) -> list[str]:
    return [_technology_file(str(m.technology), base_dir) for m in pspec.memories.values()]


def resolve(spec: SweepSpec, base: Base, index: int, point: dict, point_id: str | None = None) -> Resolved:
    """Apply ``point`` to the base files and validate them through the normal loaders. Errors name the
    sweep file and the axis.

    What is value-identical between points is validated once (per worker): each memory, link, operating
    point and the placement of the platform file by the axis values applied to it (so a 10,000-point grid
    validates each backbone memory once per technology × capacity × banks, not once per point), the study
    by its study-axis values, and the preparation key by the axis values it can depend on. The platform
    file itself is validated per point (pydantic takes the validated parts as they are) and built per
    point by the normal loader (tests/test_sweep_build.py: equal to the uncached path)."""
    key = point.get("platform", base.platforms[0][0])
    pkey, pdata, ppath, mode, extra = next(p for p in base.platforms if p[0] == key)
    bkey = _base_key(spec, base)
    plat_axes, study_axes = [], []
    for path, value in point.items():
        if path == "platform":
            continue
        target, *keys = path.split(".")
        (plat_axes if target == "platform" else study_axes).append((keys, value))
    try:
        pspec = _platform_fast(bkey, pkey, pdata, str(ppath), plat_axes)
        if pspec is None:
            pspec = _validate_platform(_apply(pdata, plat_axes, f"{spec.source}: axes.platform"), str(ppath))
        study, (workload_key, stream_key, study_digest) = _study_of(spec, base, bkey, pkey, study_axes)
    except (HardwareConfigError, SimulationConfigError) as exc:
        what = ", ".join(f"{p}={v}" for p, v in point.items())
        line = str(exc).splitlines()[0]
        if line.startswith(f"{spec.source}: axes."):    # a malformed path: named by the axis already
            raise SimulationConfigError(line) from None
        raise SimulationConfigError(f"{spec.source}: axes ({what}): {line}") from None
    values = {}
    for path in point:
        if path == "platform":
            values[path] = key
            continue
        target, *keys = path.split(".")
        values[path] = si_value(_get(pspec if target == "platform" else study, keys))
    structural = tuple(sorted((".".join(k), repr(v)) for k, v in plat_axes if not _structure_free(k, pdata, plat_axes)))
    skey = (bkey, pkey, workload_key, structural)
    prep_key = _PREP_KEYS.get(skey)
    if prep_key is None:
        prep_key = _PREP_KEYS[skey] = _prep_key(pspec, workload_key)
    point_id = point_id or _digest([pspec.model_dump_json(), _technology_files(pspec, ppath.parent), study_digest,
                                    mode])
    return Resolved(index, dict(point), values, pspec, str(ppath), ppath.parent, study, mode, pkey, point_id,
                    workload_key, prep_key, stream_key)


def _apply(data: dict, axes: list, where: str) -> dict:
    """A copy of ``data`` with every (keys, value) of ``axes`` set (errors name ``where`` and the axis)."""
    for keys, value in axes:
        data = _set(data, list(keys), value, f"{where}.{'.'.join(keys)}")
    return data


def _prep_key(pspec, workload_key: str) -> str:
    """The preparation key of a validated platform file: the workload and the platform structure the
    placement and the candidate mappings depend on."""
    buffer = next((n for n, m in pspec.memories.items() if m.is_buffer), None)
    structure = [
        [(n, m.backed_by, m.is_buffer, m.double_buffered, m.channels, m.capacity if m.is_buffer else None)
         for n, m in pspec.memories.items()],
        json.dumps({n: u.model_dump(mode="json") for n, u in pspec.compute.items()}, sort_keys=True),
        [a.model_dump(mode="json") for a in pspec.assignment], pspec.placement.model_dump_json(),
        [(li.src, li.dst) for li in pspec.links], sorted(pspec.operating_points), buffer]
    return _digest([workload_key, structure])


#: Top-level platform fields that are not part of the preparation key's structure (:func:`_prep_key`).
_FREE_TOP = ("name", "description", "node", "nominal_voltage", "leakage_voltage_exponent",
             "default_operating_point", "prefetch_depth", "assumptions")
#: Memory fields outside the structure (capacity is in it for a staging buffer only).
_FREE_MEMORY = ("technology", "word_bits", "banks", "ports", "clock", "description")
_FREE_LINK = ("width_bits", "clock", "energy_per_bit")


def _structure_free(keys: list[str], pdata: dict, axes: list) -> bool:
    """True when a platform axis at ``keys`` provably leaves :func:`_prep_key`'s structure as the base
    file has it (so points that differ only there share the key without computing it)."""
    if len(keys) == 1:
        return keys[0] in _FREE_TOP
    if keys[0] == "memories" and len(keys) == 3:
        if keys[2] in _FREE_MEMORY:
            return True
        mem = (pdata.get("memories") or {}).get(keys[1])
        return keys[2] == "capacity" and isinstance(mem, dict) and not mem.get("is_buffer") and \
            not any(k[-1] == "is_buffer" for k, _ in axes)
    if keys[0] == "links" and len(keys) == 3:
        return keys[2] in _FREE_LINK
    return keys[0] == "operating_points" and len(keys) == 3      # a point's figures, not its name


#: The resolver's memos, keyed by value (the base files' digest, the platform entry, axis values) and
#: bounded (least recently used dropped first): validated sub-documents of platform files, preparation keys
#: per structural axis values, (validated study, its keys) per study-axis values.
_PARTS = Memo(8192)
_PREP_KEYS = Memo(4096)
_STUDIES = Memo(1024)
#: Validated sub-documents of platform files: memories, links, operating points, placement.
_PART_MODELS = {"memories": "MemorySpec", "links": "LinkSpec", "operating_points": "OperatingPointSpec"}


def _base_key(spec: SweepSpec, base: Base) -> str:
    """A digest of the sweep's base files and the settings a resolved point depends on (the memo key)."""
    known = base.__dict__.get("_memo_key")
    if known is None:
        known = _digest([json.dumps(base.study_data, sort_keys=True, default=str), base.study_source,
                         [(k, json.dumps(d, sort_keys=True, default=str), str(p), m, e) for k, d, p, m, e in base.platforms],
                         spec.requests, spec.evaluator])
        base.__dict__["_memo_key"] = known
    return known


def _platform_fast(bkey: str, pkey: str, pdata: dict, source: str, axes: list):
    """The validated platform file of ``pdata`` with ``axes`` applied, its memories, links, operating
    points and placement taken from the per-part memo; None when an axis does not address one field of
    one such part or a top-level field, or anything fails (the caller then validates the whole file, which
    gives the loader's own messages)."""
    from pydantic import ValidationError

    from hw_models import schema

    touched: dict = {}
    top = dict(pdata)
    for keys, value in axes:
        if keys[0] in _PART_MODELS or keys[0] == "compute":
            if len(keys) < 3:
                return None
            touched.setdefault((keys[0], keys[1]), []).append((tuple(keys[2:]), value))
        elif keys[0] == "placement" and len(keys) >= 2:
            touched.setdefault(("placement",), []).append((tuple(keys[1:]), value))
        elif len(keys) == 1 and keys[0] not in ("memories", "links", "operating_points", "compute", "placement",
                                                "assignment"):
            top[keys[0]] = value
        else:
            return None
    try:
        for field, model in _PART_MODELS.items():
            docs = pdata.get(field)
            if isinstance(docs, dict):
                top[field] = {name: _part_of(bkey, pkey, (field, name), doc, touched.get((field, name)), model)
                              for name, doc in docs.items()}
            elif isinstance(docs, list):
                top[field] = [_part_of(bkey, pkey, (field, str(i)), doc, touched.get((field, str(i))), model)
                              for i, doc in enumerate(docs)]
            else:
                return None
            if any(a[0] == field and (a[1] not in docs if isinstance(docs, dict) else
                                      not a[1].isdigit() or int(a[1]) >= len(docs)) for a in touched):
                return None                      # a new memory, or a link index out of range
        if "placement" in pdata:
            top["placement"] = _part_of(bkey, pkey, ("placement",), pdata["placement"], touched.get(("placement",)),
                                        "PlacementSpec")
        compute = pdata.get("compute")
        if any(a[0] == "compute" for a in touched):
            if not isinstance(compute, dict) or any(a[0] == "compute" and a[1] not in compute for a in touched):
                return None
            top["compute"] = {name: _raw(doc, touched.get(("compute", name))) for name, doc in compute.items()}
        return schema.PlatformFile.model_validate(top)
    except (ValidationError, HardwareConfigError, SimulationConfigError, TypeError, ValueError, KeyError):
        return None


def _raw(doc: Any, changes: list | None) -> Any:
    """``doc`` with ``changes`` ((keys, value) pairs) set (no copy when there are none)."""
    for keys, value in changes or ():
        doc = _set(doc, list(keys), value, "")
    return doc


def _part_of(bkey: str, pkey: str, address: tuple, doc: Any, changes: list | None, model: str):
    """The validated ``model`` of sub-document ``doc`` with ``changes`` set, memoised by (base, platform,
    address, changes)."""
    key = (bkey, pkey, address, tuple(sorted((k, repr(v)) for k, v in changes)) if changes else ())
    part = _PARTS.get(key)
    if part is None:
        from hw_models import schema

        part = _PARTS[key] = getattr(schema, model).model_validate(_raw(doc, changes))
    return part


def _study_of(spec: SweepSpec, base: Base, bkey: str, pkey: str, axes: list):
    """(validated study, its keys) of the base study with the study ``axes`` applied on platform entry
    ``pkey``, memoised by the axis values."""
    key = (bkey, pkey, tuple(sorted((".".join(k), repr(v)) for k, v in axes)))
    hit = _STUDIES.get(key)
    if hit is not None:
        return hit
    _, _, ppath, mode, extra = next(p for p in base.platforms if p[0] == pkey)
    sdata = base.study_data
    for keys, value in axes:
        sdata = _set(sdata, list(keys), value, f"{spec.source}: axes.study.{'.'.join(keys)}")
    sdata = dict(sdata)
    if spec.requests is not None:
        sdata["scenario"] = {**sdata.get("scenario", {}), "requests": spec.requests}
    sdata["platforms"] = [{"platform": str(ppath), "mode": mode, **extra}]
    sdata["evaluator"] = spec.evaluator
    hit = _STUDIES[key] = _study(json.dumps(sdata, sort_keys=True, default=str), base.study_source, mode)
    return hit


def _study_keys(study, mode: str) -> tuple[str, str, str]:
    """(workload key, scenario key, digest of the whole study as evaluated) of a validated study."""
    from simulator._version import __version__

    sdump = study.model_dump(mode="json")
    workload = {k: sdump.get(k) for k in WORKLOAD_FIELDS}
    workload["served"] = study.platforms[0].serves(study)    # (model, mode, adapter) of the platform entry
    workload["early_exit"] = sdump.get("early_exit")
    keys = (_digest(workload), _digest(sdump["scenario"]),
            _digest([{k: v for k, v in sdump.items() if k not in ("name", "description", "outputs", "platforms")},
                     __version__]))
    return keys


def _validate_platform(data: dict, source: str):
    """:func:`hw_models.schema.validate` of a whole platform file (the loader's own messages)."""
    from hw_models.schema import PlatformFile, validate

    return validate(PlatformFile, data, source)


@lru_cache(maxsize=1024)
def _study(text: str, source: str, mode: str):
    """(validated StudyConfig, :func:`_study_keys`) of a study's JSON text, memoised by that text (most
    points share a study): a value key, not the study object's id."""
    from simulator.study.runner import study_from_dict

    study = study_from_dict(json.loads(text), source)
    return study, _study_keys(study, mode)


def validate_axes(spec: SweepSpec, base: Base) -> None:
    """Apply every axis value on its own to the base (every base platform) and validate it; a range is
    checked at both ends. Raises the first problem as one line before any work starts."""
    for axis in spec.axes:
        values = axis.values if axis.discrete else (axis.value_at(0.0), axis.written(axis.high))
        for value in values:
            for key, *_ in base.platforms:
                point = {"platform": key, axis.path: value} if len(base.platforms) > 1 else {axis.path: value}
                try:
                    try:
                        resolve(spec, base, -1, point).platform()
                    except HardwareConfigError as exc:
                        raise SimulationConfigError(f"{spec.source}: axes (x): {exc}") from None
                except SimulationConfigError as exc:
                    text = str(exc).splitlines()[0]
                    inner = text.split("): ", 1)[1] if text.startswith(f"{spec.source}: axes (") else text
                    # "<file>: <field>: <problem>" of the base file -> name the axis instead
                    parts = inner.split(": ", 2)
                    problem = parts[2] if len(parts) == 3 else inner
                    raise SimulationConfigError(f"{spec.source}: axes.{axis.path}: value {value!r}: {problem}") from None


def generate(spec: SweepSpec, base: Base) -> list[dict]:
    """The points of a grid, random or lhs sweep, in a fixed order (the same for the same file). With
    several base platforms, ``platform`` is the first axis."""
    axes = list(spec.axes)
    if len(base.platforms) > 1:
        axes = [Axis("platform", tuple(p[0] for p in base.platforms))] + axes
    if spec.method == "grid":
        import itertools

        combos = itertools.product(*(a.values for a in axes))
        return [dict(zip((a.path for a in axes), c)) for c in combos]
    d = len(axes)
    if spec.method == "random":
        u = np.random.default_rng(spec.seed).random((spec.n, d))
    elif spec.method == "lhs":
        from scipy.stats import qmc

        u = qmc.LatinHypercube(d=d, seed=np.random.default_rng(spec.seed)).random(spec.n)
    else:
        raise ValueError(f"generate: method {spec.method!r} has no fixed point list")
    points = [{a.path: a.value_at(float(x)) for a, x in zip(axes, row)} for row in u]
    unique = {json.dumps(p, sort_keys=True, default=str): p for p in points}   # repeats of a discrete draw
    return list(unique.values())


def is_finite(x: Any) -> bool:
    """True for a finite float."""
    return isinstance(x, float) and math.isfinite(x)


#: Link fields that change only cost figures.
COST_ONLY_LINK_FIELDS = ("width_bits", "clock", "energy_per_bit")


@lru_cache(maxsize=1)
def _data_digest() -> str:
    """A digest of every bundled hardware data file (technologies, scaling tables, compute figures)."""
    from hw_models.technology import TECHNOLOGIES_DIR

    data = TECHNOLOGIES_DIR.parent
    return _digest([(str(p.relative_to(data)), _file_digest(str(p))) for p in sorted(data.rglob("*.yaml"))])


def _named_technology_files(pdata: dict, base_dir: Path) -> list[str]:
    """Digests of the technology files a platform file's memories name by path (as they are now)."""
    mems = pdata.get("memories") if isinstance(pdata, dict) else None
    return [_technology_file(str(m["technology"]), base_dir) for m in (mems or {}).values()
            if isinstance(m, dict) and str(m.get("technology", "")).endswith((".yaml", ".yml"))]


class Keys:
    """Per-point keys computed without building anything (the parent process does this for every point):

    - ``point_id``: a hash of everything the point's resolved configuration follows from: the base platform
      and study files as parsed, the point's axis values, the sweep's request override, the bundled hardware
      data files, any technology file the point names by path, and the hetsim version;
    - ``group``: the values of the axes a preparation depends on (workload, staging buffer, MAC array,
      roles, topology); points with equal groups go to one worker, which splits further where the
      placement or a mapping choice differs (:mod:`simulator.sweep.mapcheck`)."""

    def __init__(self, spec: SweepSpec, base: Base):
        from simulator._version import __version__

        self.spec, self.base = spec, base
        common = [json.dumps(base.study_data, sort_keys=True, default=str), spec.requests, _data_digest(),
                  __version__]
        self._base = {key: _digest([json.dumps(data, sort_keys=True, default=str), mode, extra, common,
                                    _named_technology_files(data, path.parent)])
                      for key, data, path, mode, extra in base.platforms}
        self._dir = {key: path.parent for key, _, path, _, _ in base.platforms}
        self._buffers = {key: {n for n, m in (data.get("memories") or {}).items()
                               if isinstance(m, dict) and m.get("is_buffer")} for key, data, _, _, _ in base.platforms}
        self._structural = {a.path: None for a in spec.axes}

    def point_id(self, point: dict) -> str:
        """The point's id (see the class docstring)."""
        key = point.get("platform", self.base.platforms[0][0])
        extra = [_technology_file(str(v), self._dir[key]) for p, v in point.items()
                 if p.endswith(".technology") and str(v).endswith((".yaml", ".yml"))]
        return _digest([self._base[key], sorted((p, repr(v)) for p, v in point.items()), extra])

    def structural(self, path: str, platform_key: str) -> bool:
        """Whether axis ``path`` can change a preparation (placement or candidate mappings)."""
        target, *keys = path.split(".")
        if target == "study":
            return keys[0] != "scenario"
        if keys[0] == "memories" and len(keys) >= 3:
            if keys[2] in COST_ONLY_MEMORY_FIELDS:
                return False
            if keys[2] == "capacity" and keys[1] not in self._buffers[platform_key] and \
                    not any(a.path.endswith(".is_buffer") for a in self.spec.axes):
                return False                     # placement checked per variant (mapcheck.placement_served)
            return True
        if keys[0] == "links" and len(keys) >= 3:
            return keys[2] not in COST_ONLY_LINK_FIELDS
        return keys[0] not in COST_ONLY_PLATFORM_FIELDS

    def group(self, point: dict) -> str:
        """The group of the point (see the class docstring)."""
        key = point.get("platform", self.base.platforms[0][0])
        return _digest([key, sorted((p, repr(v)) for p, v in point.items()
                                    if p != "platform" and self.structural(p, key))])

    def workload(self, point: dict) -> str:
        """Which workload (traces) the point needs: its platform's serving mode and its study axes
        outside the scenario."""
        key = point.get("platform", self.base.platforms[0][0])
        mode, extra = next((p[3], p[4]) for p in self.base.platforms if p[0] == key)
        return _digest([mode, extra, sorted((p, repr(v)) for p, v in point.items()
                                     if p.startswith("study.") and not p.startswith("study.scenario."))])
