"""Golden metrics: pin a study's headline figures in a JSON file and tell when they move.

``hetsim golden capture STUDY.yaml -o golden.json`` runs the study and records, per platform, the metrics of
:data:`METRICS` (SI units), with hetsim's version, the versions of the libraries that shape the numbers and
a SHA-256 of every input file (the study, each platform file, each technology file it names, and the model
data under ``hw_models/data``). ``hetsim golden check golden.json`` runs the same study again and prints a
table of every metric that moved beyond its relative tolerance (and which inputs or versions changed, which
usually says why); it exits 1 when any did. ``hetsim golden update golden.json`` re-captures it in place
(the one command after a deliberate change of the figures).

The file is meant to be committed and reviewed: a diff of it is the change of the figures.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import platform as _platform
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from simulator._version import __version__
from simulator.errors import SimulationConfigError

#: The file format's version (bumped when its layout changes).
FORMAT = 1
#: The summary metrics pinned per platform (keys of :meth:`Result.summary`, SI units).
METRICS = ("energy_per_inference_J", "compute_energy_per_inference_J", "sram_energy_per_inference_J",
           "nvm_energy_per_inference_J", "dram_energy_per_inference_J", "interconnect_energy_per_inference_J",
           "leakage_share", "latency_p50_s", "latency_p99_s", "average_power_W", "area_m2",
           "ratio_to_lower_bound", "nvm_lifetime_s", "requests", "switches")
#: Relative tolerance of every metric unless the file says otherwise (the simulation is deterministic:
#: anything beyond float noise is a change).
DEFAULT_RTOL = 1e-6
#: Libraries whose versions shape the numbers (the model code comes from transformers; tracing from torch).
LIBRARIES = ("torch", "transformers", "peft", "numpy", "pandas", "simpy")
#: The marker of a golden file (what ``capture`` may overwrite).
KIND = "hetsim golden metrics"


@dataclass
class Moved:
    """One metric that moved: platform, metric, golden and current value, signed relative change
    ((now - golden) / |golden|; inf when a side is missing or golden is 0) and its tolerance."""
    platform: str
    metric: str
    golden: float | None
    now: float | None
    change: float
    rtol: float


#: The folder holding hetsim's packages (``<hetsim>/`` in recorded paths).
ROOT = Path(__file__).resolve().parents[2]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _display(path: Path, base: Path) -> str:
    """A path as recorded: ``<hetsim>/...`` inside hetsim's own folder, else relative to ``base`` (the
    golden file's folder), so the file and its study can move together."""
    path = path.resolve()
    try:
        return "<hetsim>/" + path.relative_to(ROOT).as_posix()
    except ValueError:
        return Path(os.path.relpath(path, base.resolve())).as_posix()


def input_files(config: Any) -> list[Path]:
    """Every file the study's figures depend on: the study file, each platform file, each technology file
    those platforms name, and the model data (``hw_models/data/*.yaml``, capacity laws and arithmetic)."""
    from hw_models.technology import TECHNOLOGIES_DIR
    from hw_models.yamlio import load_yaml
    from simulator.study.runner import DEFAULT_STUDY, resolve_platform

    files: list[Path] = [Path(config.source) if config.source != "<study>" else DEFAULT_STUDY]
    for i in range(len(config.platforms)):
        path = resolve_platform(config, i)
        files.append(path)
        spec = load_yaml(path, what="platform YAML", error=SimulationConfigError) or {}
        for m in (spec.get("memories") or {}).values():
            tech = str((m or {}).get("technology", ""))
            if tech.endswith((".yaml", ".yml")):
                files.append((path.parent / tech) if not Path(tech).is_absolute() else Path(tech))
            elif tech:
                files.append(TECHNOLOGIES_DIR / f"{tech}.yaml")
    data = Path(TECHNOLOGIES_DIR).parent
    files += sorted(p for p in data.rglob("*.yaml") if TECHNOLOGIES_DIR not in p.parents)
    seen: dict[Path, None] = {}
    for f in files:
        seen.setdefault(f.resolve(), None)
    return list(seen)


def versions() -> dict[str, str]:
    """hetsim's, Python's and the number-shaping libraries' versions."""
    from importlib.metadata import PackageNotFoundError, version
    out = {"hetsim": __version__, "python": _platform.python_version()}
    for lib in LIBRARIES:
        try:
            out[lib] = version(lib)
        except PackageNotFoundError:
            out[lib] = "absent"
    return out


def metrics_of(results: dict[str, Any]) -> dict[str, dict[str, float | None]]:
    """``{platform: {metric: value}}`` of :data:`METRICS` (infinite or NaN values as None)."""
    out = {}
    for key, result in results.items():
        s = result.summary()
        out[key] = {m: (float(s[m]) if s[m] is not None and math.isfinite(float(s[m])) else None)
                    for m in METRICS}
    return out


def _study(study: str | Path | None) -> Any:
    from simulator.study.runner import default_study, load_study
    return load_study(study) if study else default_study()


def capture(study: str | Path | None, *, requests: int | None = None, progress: bool = False,
            base: str | Path = ".") -> dict:
    """Run ``study`` (None: the default study) and return the golden document (not written); file paths
    in it are relative to ``base``, the folder the golden file will be written to."""
    base = Path(base)
    from simulator.study.runner import run_study
    config = _study(study).with_overrides(requests=requests)
    results = run_study(config, progress=progress)
    return {
        "kind": KIND, "format": FORMAT,
        "study": {"file": _display(Path(config.source), base) if study else "<default>", "requests": requests},
        "captured": {"utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "versions": versions()},
        "inputs": {_display(f, base): _sha256(f) for f in input_files(config)},
        "tolerance": {"default_rtol": DEFAULT_RTOL},
        "metrics": metrics_of(results),
    }


def read(path: str | Path) -> dict:
    """A golden file, validated enough to be checked (SimulationConfigError naming file and field)."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise SimulationConfigError(f"{path}: line {exc.lineno}: {exc.msg}; expected a golden-metrics JSON "
                                    "file (hetsim golden capture)") from None
    if not isinstance(doc, dict) or doc.get("kind") != KIND:
        raise SimulationConfigError(f"{path}: kind: missing or not {KIND!r}; expected a file written by "
                                    "hetsim golden capture")
    for key in ("study", "metrics", "tolerance", "inputs"):
        if not isinstance(doc.get(key), dict):
            raise SimulationConfigError(f"{path}: {key}: missing or not a mapping; expected the layout of "
                                        "hetsim golden capture")
    return doc


def study_of(doc: dict, golden_path: str | Path) -> str | None:
    """The study a golden file pins, as a path usable from here (None: the default study); a relative
    path is relative to the golden file's folder."""
    ref = doc["study"].get("file")
    if ref in (None, "<default>"):
        return None
    if ref.startswith("<hetsim>/"):
        return str(ROOT / ref[len("<hetsim>/"):])
    candidate = Path(ref)
    return str(candidate if candidate.is_absolute() else Path(golden_path).parent / candidate)


def compare(golden: dict, now: dict, *, rtol: float | None = None) -> list[Moved]:
    """Metrics of ``now`` (a golden document) that moved beyond their tolerance from ``golden``: the
    file's per-metric ``tolerance.<metric>``, else ``rtol`` or its ``default_rtol``. A platform or metric
    missing on either side counts as moved (change inf)."""
    tol = golden["tolerance"]
    default = rtol if rtol is not None else float(tol.get("default_rtol", DEFAULT_RTOL))
    moved: list[Moved] = []
    platforms = list(golden["metrics"]) + [p for p in now["metrics"] if p not in golden["metrics"]]
    for plat in platforms:
        old, new = golden["metrics"].get(plat, {}), now["metrics"].get(plat, {})
        for metric in list(old) + [m for m in new if m not in old]:
            a, b = old.get(metric, "missing"), new.get(metric, "missing")
            limit = float(tol.get(metric, default))
            if a == b:
                continue
            if isinstance(a, (int, float)) and isinstance(b, (int, float)):
                change = (b - a) / abs(a) if a != 0 else math.inf
                if abs(change) <= limit:
                    continue
            else:
                change = math.inf
            moved.append(Moved(plat, metric, a if isinstance(a, (int, float)) else None,
                               b if isinstance(b, (int, float)) else None, change, limit))
    return moved


def changed_inputs(golden: dict, now: dict) -> list[str]:
    """Lines naming the inputs and versions that differ between two golden documents."""
    lines = []
    old, new = golden.get("inputs", {}), now.get("inputs", {})
    for f in sorted(set(old) | set(new)):
        if f not in new:
            lines.append(f"input no longer used: {f}")
        elif f not in old:
            lines.append(f"new input: {f}")
        elif old[f] != new[f]:
            lines.append(f"input changed: {f}")
    vo = golden.get("captured", {}).get("versions", {})
    vn = now.get("captured", {}).get("versions", {})
    for lib in sorted(set(vo) | set(vn)):
        if vo.get(lib) != vn.get(lib):
            lines.append(f"version of {lib}: {vo.get(lib, '-')} -> {vn.get(lib, '-')}")
    return lines


def format_moved(moved: list[Moved]) -> str:
    """The table ``hetsim golden check`` prints: one row per moved metric."""
    def num(v):
        return "-" if v is None else f"{v:.6g}"
    rows = [("platform", "metric", "golden", "now", "change", "tolerance")]
    rows += [(m.platform, m.metric, num(m.golden), num(m.now),
              "inf" if not math.isfinite(m.change) else f"{100 * m.change:+.4g} %",
              f"{100 * m.rtol:.2g} %") for m in moved]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
             for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def claim(path: str | Path, *, replace: bool = False) -> Path:
    """Check, before any work, that a golden file may be written at ``path``: a new file, or (with
    ``replace``) an existing golden file; never a folder or another file of the user's."""
    path = Path(path)
    if path.is_dir():
        raise SimulationConfigError(f"{path}: -o: is a folder; expected a file name such as golden.json")
    if path.exists():
        try:
            ours = json.loads(path.read_text(encoding="utf-8")).get("kind") == KIND
        except (ValueError, UnicodeDecodeError, AttributeError):
            ours = False
        if not ours:
            raise SimulationConfigError(f"{path}: -o: exists and is not a golden-metrics file; expected a new "
                                        "file name (hetsim never overwrites a file it did not write)")
        if not replace:
            raise SimulationConfigError(f"{path}: -o: a golden file exists; expected `hetsim golden update "
                                        f"{path}` (or --overwrite) to re-capture it")
    parent = path.parent if str(path.parent) else Path(".")
    if parent.exists() and not os.access(parent, os.W_OK):
        raise SimulationConfigError(f"{path}: -o: the folder {parent} is not writable; expected a writable folder")
    return path


def write(doc: dict, path: str | Path, *, replace: bool = False) -> Path:
    """Write ``doc`` to ``path`` atomically (a temporary file renamed into place) after :func:`claim`."""
    path = claim(path, replace=replace)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(doc, indent=2, sort_keys=False) + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def check(path: str | Path, *, rtol: float | None = None,
          progress: bool = False) -> tuple[list[Moved], list[str], dict]:
    """Re-run the study a golden file pins; returns (moved metrics, changed inputs/versions, new document)."""
    golden = read(path)
    now = capture(study_of(golden, path), requests=golden["study"].get("requests"), progress=progress,
                  base=Path(path).parent)
    now["study"] = golden["study"]
    return compare(golden, now, rtol=rtol), changed_inputs(golden, now), now
