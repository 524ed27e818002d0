"""The memory technology library: one YAML file per technology under ``hw_models/data/technologies``.

A technology is the cited figures of one memory array (or, for DRAM, one device) at a reference point, plus
the law by which they scale. Adding a technology is adding one file (see README, "Adding a technology").
Every figure in a file must name its source (or say ``assumption: ...``) in the file's ``sources`` map;
loading checks that.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from hw_models.errors import HardwareConfigError
from hw_models.scaling import CapacityLaw, load_capacity_law
from hw_models.schema import DramSpec, ReferencePointSpec, TechnologyFile, validate
from hw_models.yamlio import load_yaml

TECHNOLOGIES_DIR = Path(__file__).parent / "data" / "technologies"

#: Top-level figures each file must cite in ``sources`` (besides one entry per present block).
_CITED = ("endurance", "retention", "wakeup_latency", "wakeup_energy", "gated_leakage_fraction")


@dataclass(frozen=True)
class Technology:
    """One memory technology: reference figures (SI) and scaling. ``kind`` is "sram", "nvm" or "dram"."""
    name: str
    description: str
    kind: str
    volatile: bool
    reference: ReferencePointSpec | None  # on-chip arrays: node (m), capacity (B), J, s, W, m²
    dram: DramSpec | None                 # DRAM: per-device figures (J/bit, B, T/s, s, W)
    endurance_writes: float               # writes per cell before wear-out (inf: unlimited)
    retention_s: float                    # data retention without power (s; 0 for volatile memories)
    wakeup_latency_s: float               # from the power-gated / self-refresh state (s)
    wakeup_energy_J: float                # per wake-up at the reference capacity (J)
    gated_leakage_fraction: float         # leakage in the gated state / active leakage (on-chip)
    capacity_law: CapacityLaw | None
    word_width_exponent: float
    sources: dict[str, str]
    path: str

    @property
    def is_dram(self) -> bool:
        """True for off-chip DRAM technologies."""
        return self.kind == "dram"


def _check_sources(spec: TechnologyFile, source: str) -> None:
    needed = list(_CITED)
    if spec.reference is not None:
        needed.append("reference")
    if spec.dram is not None:
        needed += [f"dram.{field}" for field in DramSpec.model_fields]
    if spec.scaling is not None:
        needed.append("scaling")
    for key in needed:
        if key not in spec.sources:
            raise HardwareConfigError(f"{source}: sources.{key}: missing; expected a citation or "
                                      f"'assumption: <why>' for every figure")


def technology_from_file(path: Path | str) -> Technology:
    """Read, validate and return the technology in the YAML file ``path``."""
    path = Path(path)
    spec = validate(TechnologyFile, load_yaml(path, what="technology"), str(path))
    if spec.kind == "dram" and spec.dram is None:
        raise HardwareConfigError(f"{path}: dram: missing; expected the DRAM block for kind 'dram'")
    if spec.kind != "dram" and spec.reference is None:
        raise HardwareConfigError(f"{path}: reference: missing; expected the reference point of an "
                                  f"on-chip array for kind '{spec.kind}'")
    if spec.kind != "dram" and spec.scaling is None:
        raise HardwareConfigError(f"{path}: scaling: missing; expected capacity_law for an on-chip array")
    _check_sources(spec, str(path))
    try:
        law = load_capacity_law(spec.scaling.capacity_law) if spec.scaling else None
    except HardwareConfigError as exc:
        raise HardwareConfigError(f"{path}: {exc}") from None
    return Technology(
        name=spec.name, description=spec.description, kind=spec.kind, volatile=spec.volatile,
        reference=spec.reference, dram=spec.dram, endurance_writes=spec.endurance,
        retention_s=spec.retention, wakeup_latency_s=spec.wakeup_latency,
        wakeup_energy_J=spec.wakeup_energy, gated_leakage_fraction=spec.gated_leakage_fraction,
        capacity_law=law, word_width_exponent=spec.scaling.word_width_exponent if spec.scaling else 1.0,
        sources=dict(spec.sources), path=str(path))


def list_technologies() -> list[str]:
    """Names of the bundled technologies (file stems under ``hw_models/data/technologies``)."""
    return sorted(p.stem for p in TECHNOLOGIES_DIR.glob("*.yaml"))


@lru_cache(maxsize=None)
def _bundled(name: str) -> Technology:
    path = TECHNOLOGIES_DIR / f"{name}.yaml"
    if not path.is_file():
        raise HardwareConfigError(f"unknown technology {name!r}; expected one of "
                                  f"{', '.join(list_technologies())} or a path to a .yaml file")
    tech = technology_from_file(path)
    if tech.name != name:
        raise HardwareConfigError(f"{tech.path}: name: {tech.name!r} differs from the file name; "
                                  f"expected {name!r}")
    return tech


def load_technology(name_or_path: str, relative_to: Path | None = None) -> Technology:
    """A bundled technology by name (``"rram"``) or a technology file by path (``"./my-tech.yaml"``,
    resolved against ``relative_to`` when relative). Unknown names raise :class:`HardwareConfigError`.
    Bundled technologies are read once and cached."""
    if not name_or_path.endswith((".yaml", ".yml")):
        return _bundled(name_or_path)
    path = Path(name_or_path)
    if not path.is_absolute() and relative_to is not None:
        path = relative_to / path
    if not path.is_file():
        raise HardwareConfigError(f"{name_or_path}: no such technology file; expected a path to a "
                                  f"technology YAML")
    return technology_from_file(path)
