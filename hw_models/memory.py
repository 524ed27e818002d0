"""A memory instance: one technology at one capacity, word width and banking, with its costs in SI units.

:class:`Memory` holds final figures as plain attributes (computed once, so sweeps that evaluate thousands of
variants pay nothing per access). :meth:`Memory.from_technology` derives them from the technology library:

- on-chip arrays: per-access energy and latency follow the capacity law at the *bank* capacity (an access
  activates one bank; CACTI's table is for one bank), leakage and area at the total capacity; energy grows
  with the word width; energy, leakage and area scale with the technology node (Stillmaker & Baas);
  latency is not node-scaled (no published law in the sources; stated as a limit).
- DRAM: energy per bit × bits per access; bandwidth = channels × channel width × data rate; background and
  refresh power per device (devices = ceil(capacity / device capacity)); self-refresh is the gated state.
  DRAM is off chip: it adds no chip area.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np

from hw_models.errors import HardwareConfigError, check_fields
from hw_models.scaling import CapacityLaw, word_width_factor
from hw_models.techscaling import area_factor, energy_factor, leakage_factor
from hw_models.technology import Technology, load_technology

_NON_NEGATIVE = ("read_energy_per_access_J", "write_energy_per_access_J", "leakage_W", "area_m2",
                 "wakeup_latency_s", "wakeup_energy_J", "gated_leakage_W", "refresh_power_W",
                 "retention_s")
_POSITIVE = ("capacity_bytes", "word_bits", "banks", "ports", "read_latency_s", "write_latency_s",
             "endurance_writes")


@dataclass(eq=False)
class Memory:
    """One memory of a platform. Energies in J per access of ``word_bits``, times in s, power in W, area in
    m², bandwidth in bytes/s. ``leakage_W`` is the powered-on idle power (for DRAM: background + refresh);
    ``gated_leakage_W`` the power in the low-power state (power-gated, or DRAM self-refresh).

    Derived at construction: ``bandwidth_Bps`` / ``write_bandwidth_Bps`` (bytes/s) and
    ``read_energy_per_byte_J`` / ``write_energy_per_byte_J`` (J/byte). The figures are final: for another
    capacity or word width call :meth:`from_technology` again (``dataclasses.replace`` keeps the old ones).
    """
    name: str
    technology: str
    capacity_bytes: int
    word_bits: int
    read_energy_per_access_J: float
    write_energy_per_access_J: float
    read_latency_s: float
    write_latency_s: float
    leakage_W: float
    area_m2: float
    banks: int = 1
    ports: int = 1
    volatile: bool = True
    is_dram: bool = False
    is_buffer: bool = False
    double_buffered: bool = False        # a staging buffer split in two halves: fill one while the other computes
    backed_by: str | None = None
    endurance_writes: float = math.inf
    retention_s: float = 0.0
    wakeup_latency_s: float = 0.0
    wakeup_energy_J: float = 0.0
    gated_leakage_W: float = 0.0
    refresh_power_W: float = 0.0          # DRAM: the refresh share of leakage_W (W)
    clock_hz: float | None = None         # on-chip: pipelined access rate per bank and port (Hz)
    peak_bandwidth_Bps: float | None = None  # DRAM: channels × width × data rate (bytes/s)
    sources: dict[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        check_fields(self, f"memories.{self.name}", _POSITIVE, _NON_NEGATIVE)
        word_bytes = self.word_bits / 8
        if self.peak_bandwidth_Bps is not None:
            self.bandwidth_Bps = self.write_bandwidth_Bps = float(self.peak_bandwidth_Bps)
        else:
            lanes = word_bytes * self.banks * self.ports
            self.bandwidth_Bps = lanes * (self.clock_hz or 1.0 / self.read_latency_s)
            self.write_bandwidth_Bps = lanes * (self.clock_hz or 1.0 / self.write_latency_s)
        #: J per byte read / written (accesses counted as bits / word_bits, not rounded: traffic is aggregate)
        self.read_energy_per_byte_J = self.read_energy_per_access_J / word_bytes
        self.write_energy_per_byte_J = self.write_energy_per_access_J / word_bytes

    # ---- costs of moving nbytes -----------------------------------------------------------------------
    def read_energy(self, nbytes: float) -> float:
        """Energy (J) to read ``nbytes`` bytes."""
        return nbytes * self.read_energy_per_byte_J

    def write_energy(self, nbytes: float) -> float:
        """Energy (J) to write ``nbytes`` bytes."""
        return nbytes * self.write_energy_per_byte_J

    def read_time(self, nbytes):
        """Time (s) to read ``nbytes`` (a number or a numpy array of byte counts): one access latency plus
        bandwidth-limited transfer, 0 for 0 bytes (:func:`access_time`)."""
        return access_time(nbytes, self.read_latency_s, self.bandwidth_Bps)

    def write_time(self, nbytes):
        """Time (s) to write ``nbytes`` (a number or a numpy array): one access latency plus
        bandwidth-limited transfer at the write bandwidth, 0 for 0 bytes."""
        return access_time(nbytes, self.write_latency_s, self.write_bandwidth_Bps)

    # ---- construction from the technology library ---------------------------------------------------
    @classmethod
    def from_technology(cls, name: str, technology: str | Technology, capacity_bytes: int,
                        word_bits: int = 64, banks: int = 1, ports: int = 1, node_m: float | None = None,
                        clock_hz: float | None = None, backed_by: str | None = None,
                        is_buffer: bool = False, channels: int | None = None,
                        double_buffered: bool = False) -> Memory:
        """A memory of ``capacity_bytes`` bytes built from a technology (name or object).

        ``node_m`` is the chip's technology node (m; default: the technology's reference node; ignored for
        DRAM). ``channels`` overrides the DRAM channel count (default: the device's channels × devices).
        """
        if isinstance(technology, Technology):
            tech = technology
        else:
            try:
                tech = load_technology(technology)
            except HardwareConfigError as exc:
                raise HardwareConfigError(f"memories.{name}.technology: {exc}") from None
        sizes = dict(capacity_bytes=capacity_bytes, word_bits=word_bits, banks=banks, ports=ports)
        check_fields(SimpleNamespace(**sizes), f"memories.{name}", tuple(sizes))
        common = dict(name=name, technology=tech.name, capacity_bytes=int(capacity_bytes),
                      word_bits=int(word_bits), banks=int(banks), ports=int(ports),
                      volatile=tech.volatile, is_buffer=is_buffer, double_buffered=double_buffered,
                      backed_by=backed_by,
                      endurance_writes=tech.endurance_writes, retention_s=tech.retention_s,
                      sources=tech.sources)
        if tech.is_dram:
            return cls(**common, **_dram_figures(tech, capacity_bytes, word_bits, channels))
        return cls(**common, clock_hz=clock_hz,
                   **_array_figures(tech, capacity_bytes, word_bits, banks, node_m))


def access_time(nbytes, latency_s, bandwidth_Bps):
    """Time (s) to move ``nbytes`` bytes in one access burst: ``latency_s + nbytes / bandwidth_Bps``
    (s, bytes/s), and 0 where ``nbytes`` is 0 (no access, no latency). The one formula of a memory
    transfer: :meth:`Memory.read_time`, :meth:`Memory.write_time` and the simulator's cost arrays (numpy
    arrays of any broadcastable shapes, e.g. variants × ops × memories) all call it. Numbers in, float
    out; an array anywhere, array out."""
    if np.ndim(nbytes) == 0 and np.ndim(latency_s) == 0 and np.ndim(bandwidth_Bps) == 0:
        return latency_s + nbytes / bandwidth_Bps if nbytes > 0 else 0.0
    nbytes = np.asarray(nbytes, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = latency_s + nbytes / bandwidth_Bps
    return np.where(nbytes > 0, t, 0.0)


def _dram_figures(tech: Technology, capacity_bytes: float, word_bits: int,
                  channels: int | None) -> dict:
    d = tech.dram
    devices = math.ceil(capacity_bytes / d.device_capacity)
    n_channels = channels if channels is not None else d.channels * devices
    access_J = d.energy_per_bit * word_bits
    return dict(read_energy_per_access_J=access_J, write_energy_per_access_J=access_J,
                read_latency_s=d.access_latency, write_latency_s=d.access_latency,
                leakage_W=devices * (d.background_power + d.refresh_power), area_m2=0.0, is_dram=True,
                refresh_power_W=devices * d.refresh_power, gated_leakage_W=devices * d.self_refresh_power,
                wakeup_latency_s=d.self_refresh_exit_latency, wakeup_energy_J=devices * tech.wakeup_energy_J,
                peak_bandwidth_Bps=n_channels * d.channel_width_bits * d.data_rate / 8)


def _array_figures(tech: Technology, capacity_bytes: float, word_bits: int, banks: int,
                   node_m: float | None) -> dict:
    ref, law = tech.reference, tech.capacity_law
    node = ref.node if node_m is None else node_m
    bank_bytes = capacity_bytes / banks
    f = CapacityLaw.factor
    width = word_width_factor(word_bits, ref.word_bits, tech.word_width_exponent)
    e_node, a_node, l_node = (energy_factor(node, ref.node), area_factor(node, ref.node),
                              leakage_factor(node, ref.node))
    leak_cap = f(capacity_bytes, ref.capacity, law.leakage)
    leakage = ref.leakage * leak_cap * l_node
    return dict(
        read_energy_per_access_J=(ref.read_energy * f(bank_bytes, ref.capacity, law.read_energy)
                                  * width * e_node),
        write_energy_per_access_J=(ref.write_energy * f(bank_bytes, ref.capacity, law.write_energy)
                                   * width * e_node),
        read_latency_s=ref.read_latency * f(bank_bytes, ref.capacity, law.latency),
        write_latency_s=ref.write_latency * f(bank_bytes, ref.capacity, law.latency),
        leakage_W=leakage, area_m2=ref.area * f(capacity_bytes, ref.capacity, law.area) * a_node,
        gated_leakage_W=leakage * tech.gated_leakage_fraction,
        wakeup_latency_s=tech.wakeup_latency_s,
        wakeup_energy_J=tech.wakeup_energy_J * leak_cap * e_node)
