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

from hw_models.dram import FIGURES as DRAM_FIGURES
from hw_models.errors import HardwareConfigError
from hw_models.schema import (CactiSpec, DramSpec, ReferencePointSpec, RetentionVoltageSpec, ScalingSpec,
                              TechnologyFile, validate)
from hw_models.yamlio import load_yaml

TECHNOLOGIES_DIR = Path(__file__).parent / "data" / "technologies"

#: Top-level figures each file must cite in ``sources`` (besides one entry per present block).
_CITED = ("endurance", "retention", "wakeup_latency", "wakeup_energy", "gated_leakage_fraction")


@dataclass(frozen=True)
class Technology:
    """One memory technology: reference figures (SI) and scaling. ``kind`` is "sram", "nvm" or "dram".

    An on-chip array is either CACTI's own (``cacti`` set: every figure from the committed CACTI table;
    ``reference`` is then the table's figures at the reference geometry, for display) or a cited reference
    point (``reference``) scaled by CACTI's periphery ratios (``scaling``). ``source`` names in a few words
    where the figures come from (shown by ``hetsim platforms technologies`` and in reports)."""
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
    scaling: ScalingSpec | None           # cited-point arrays: how capacity, banks, word and node scale them
    cacti: CactiSpec | None               # CACTI-table arrays
    sources: dict[str, str]
    path: str
    source: str = ""                      # short provenance label, e.g. "CACTI 7 itrs-hp", "NVMExplorer"
    #: SRAM: the data-retention-voltage state (leakage fraction, wake-up latency s, wake-up energy fraction)
    retention_voltage: RetentionVoltageSpec | None = None

    @property
    def is_dram(self) -> bool:
        """True for off-chip DRAM technologies."""
        return self.kind == "dram"


def _check_sources(spec: TechnologyFile, source: str) -> None:
    needed = list(_CITED)
    if spec.reference is not None:
        needed.append("reference")
    if spec.cacti is not None:
        needed.append("cacti")
    if spec.dram is not None:
        needed += [f"dram.{field}" for field in sorted(spec.dram.model_fields_set)]
    if spec.scaling is not None:
        needed.append("scaling")
    if spec.retention_voltage is not None:
        needed.append("retention_voltage")
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
    if spec.dram is not None and spec.dram.currents is None:
        for fig in DRAM_FIGURES:
            if getattr(spec.dram, fig) is None:
                raise HardwareConfigError(f"{path}: dram.{fig}: missing; expected it, or the datasheet "
                                          f"currents (dram.currents) it is derived from")
    if spec.kind != "dram" and (spec.reference is None) == (spec.cacti is None):
        raise HardwareConfigError(f"{path}: reference: {'both reference and cacti given' if spec.cacti else 'missing'}"
                                  f"; expected either the cited reference point of an on-chip array or a "
                                  f"cacti block for kind '{spec.kind}'")
    if spec.retention_voltage is not None and spec.kind != "sram":
        raise HardwareConfigError(f"{path}: retention_voltage: set for kind {spec.kind!r}; expected it only for "
                                  f"SRAM (NVM retains powered off, DRAM self-refreshes)")
    _check_sources(spec, str(path))
    reference, scaling, label = spec.reference, spec.scaling, spec.source
    if spec.kind != "dram" and spec.cacti is not None:
        reference = _cacti_reference(spec.cacti, str(path))
        label = label or f"CACTI 7 {spec.cacti.flavour}"
    elif spec.kind != "dram":
        scaling = scaling or ScalingSpec()
    return Technology(
        name=spec.name, description=spec.description, kind=spec.kind, volatile=spec.volatile,
        reference=reference, dram=spec.dram, endurance_writes=spec.endurance,
        retention_s=spec.retention, wakeup_latency_s=spec.wakeup_latency,
        wakeup_energy_J=spec.wakeup_energy, gated_leakage_fraction=spec.gated_leakage_fraction,
        scaling=scaling, cacti=spec.cacti, sources=dict(spec.sources), path=str(path),
        source=label or "see sources", retention_voltage=spec.retention_voltage)


def _cacti_reference(c: CactiSpec, source: str) -> ReferencePointSpec:
    """The CACTI table's figures at the technology's reference geometry (one bank), as a reference point."""
    from hw_models.cacti import array_figures, load_table

    try:
        node = load_table(c.table)[c.flavour].node_m
        f = array_figures(c.flavour, c.reference_capacity, 1, c.reference_word_bits, c.table)
    except HardwareConfigError as exc:
        raise HardwareConfigError(f"{source}: {exc}") from None
    return ReferencePointSpec.model_construct(
        node=node, capacity=c.reference_capacity, word_bits=c.reference_word_bits,
        read_energy=f["read_energy_J"], write_energy=f["write_energy_J"], read_latency=f["access_time_s"],
        write_latency=f["access_time_s"], leakage=f["leakage_W"], area=f["area_m2"])


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
