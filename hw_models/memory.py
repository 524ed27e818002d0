"""A memory instance: one technology at one capacity, word width and banking, with its costs in SI units.

:class:`Memory` holds final figures as plain attributes (computed once, so sweeps that evaluate thousands of
variants pay nothing per access). :meth:`Memory.from_technology` derives them from the technology library:

- CACTI SRAM (``sram-hp``, ``sram-lstp``): CACTI 7's figures for the capacity, banks, word width and
  node, interpolated in log space from the committed table (:mod:`hw_models.cacti`; 22 … 90 nm, node
  scaling from the nearest table node outside); bandwidth from CACTI's random cycle time unless a clock
  is given;
- cited-point arrays (NVM, ``sram-nvsim``): the cited figures times CACTI's periphery ratios between the
  geometry and the cited one (:mod:`hw_models.scaling`): banks cost routing energy, area and leakage;
- both: energy, leakage and area scale with the technology node (Stillmaker & Baas), an NVM cell's write
  energy and latency do not; latency is not node-scaled (no published law in the sources; a limit);
- DRAM: from the datasheet currents (or final figures) of a device (:mod:`hw_models.dram`); bandwidth =
  channels × channel width × data rate; idle power (precharge standby + refresh), power-down and
  self-refresh per device (devices = ceil(capacity / device capacity)). DRAM adds no chip area.

``source`` on a memory says in a few words where its figures come from.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np

from hw_models.cacti import array_figures, table_node
from hw_models.dram import dram_figures
from hw_models.errors import HardwareConfigError, check_fields
from hw_models.scaling import periphery_ratios
from hw_models.techscaling import area_factor, energy_factor, leakage_factor
from hw_models.technology import Technology, load_technology

_NON_NEGATIVE = ("read_energy_per_access_J", "write_energy_per_access_J", "leakage_W", "area_m2",
                 "wakeup_latency_s", "wakeup_energy_J", "gated_leakage_W", "refresh_power_W",
                 "retention_s")
_POSITIVE = ("capacity_bytes", "word_bits", "banks", "ports", "read_latency_s", "write_latency_s",
             "endurance_writes")


@dataclass(frozen=True)
class AffineCost:
    """The cost protocol of a memory: every transfer is affine in its bytes ``b`` (b > 0): time
    ``latency + b / bandwidth`` (s; :func:`access_time`), energy ``b × J per byte``; leakage per power
    state (``hw_models.vocabulary.POWER_STATES``: W). The cost layer reads these fields by name; a memory
    kind whose costs are not affine must not claim this protocol."""
    read_latency_s: float
    write_latency_s: float
    read_Bps: float
    write_Bps: float
    read_J_per_byte: float
    write_J_per_byte: float
    leakage_W: dict[str, float]

    def read_time(self, nbytes):
        """Time (s) to read ``nbytes`` (number or array)."""
        return access_time(nbytes, self.read_latency_s, self.read_Bps)

    def write_time(self, nbytes):
        """Time (s) to write ``nbytes`` (number or array)."""
        return access_time(nbytes, self.write_latency_s, self.write_Bps)

    def read_energy(self, nbytes):
        """Energy (J) to read ``nbytes``."""
        return nbytes * self.read_J_per_byte

    def write_energy(self, nbytes):
        """Energy (J) to write ``nbytes``."""
        return nbytes * self.write_J_per_byte


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
    power_down_W: float | None = None     # DRAM: precharge power-down + refresh (W); None: no such state
    power_down_exit_latency_s: float = 0.0  # DRAM: tXP (s)
    #: DRAM: energy of one power-down exit beyond the standby power over tXP, which every transfer's latency
    #: already holds (J); 0 as DRAMPower counts it (tXP at IDD2N), so power-down pays in any gap
    power_down_exit_energy_J: float = 0.0
    clock_hz: float | None = None         # on-chip: pipelined access rate per bank and port (Hz)
    peak_bandwidth_Bps: float | None = None  # DRAM: channels × width × data rate (bytes/s)
    sources: dict[str, str] = field(default_factory=dict, repr=False)
    source: str = ""                      # where the figures come from, in a few words ("CACTI 7 itrs-hp", ...)
    in_unit: str | None = None            # compute-in-memory: the unit whose crossbar cells these are
    #: between requests (``hw_models.vocabulary.POWER_POLICIES``; simulator.cost.power_states): None follows
    #: the platform's ``power_gating`` (NVM and DRAM retain_when_idle, SRAM always_on)
    power_state: str | None = None
    #: SRAM at its data-retention voltage (retain_when_idle): leakage (W), wake-up energy (J) and latency (s);
    #: None when the technology gives no retention state
    retention_leakage_W: float | None = None
    retention_wakeup_energy_J: float = 0.0
    retention_wakeup_latency_s: float = 0.0

    @property
    def kind(self) -> str:
        """The memory kind (``hw_models.vocabulary.MEMORY_KINDS``): ``dram``, ``buffer`` or ``array``."""
        return "dram" if self.is_dram else "buffer" if self.is_buffer else "array"

    def cost(self) -> AffineCost:
        """This memory's figures as the affine cost protocol the cost layer reads."""
        return AffineCost(read_latency_s=self.read_latency_s, write_latency_s=self.write_latency_s,
                          read_Bps=self.bandwidth_Bps, write_Bps=self.write_bandwidth_Bps,
                          read_J_per_byte=self.read_energy_per_byte_J,
                          write_J_per_byte=self.write_energy_per_byte_J,
                          leakage_W={"on": self.leakage_W, "gated": self.gated_leakage_W})

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
            return cls(**common, source=tech.source, **_dram_figures(tech, capacity_bytes, word_bits, channels))
        fig = _array_figures(tech, capacity_bytes, word_bits, banks, node_m)
        cycle_s = fig.pop("cycle_time_s")
        if clock_hz is None and cycle_s is not None:
            clock_hz = 1.0 / cycle_s  # CACTI's random cycle time: one access per bank and port per cycle
        return cls(**common, clock_hz=clock_hz, source=tech.source, **fig)


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
    """Figures of ``capacity_bytes`` of DRAM built of whole devices (:func:`hw_models.dram.dram_figures`).
    Energy per access of ``word_bits`` = bits × (burst energy per bit + the row's activate/precharge
    energy shared by the bits of the row + the active-standby increment over precharge standby while the
    bits stream at the channel's rate): transfers stream through whole rows (a tensor is contiguous), so
    each row is opened once. ``leakage_W`` is precharge standby + refresh (on, idle); ``gated`` is
    self-refresh; ``power_down`` is precharge power-down + refresh."""
    d = tech.dram
    f = dram_figures(d)
    devices = math.ceil(capacity_bytes / d.device_capacity)
    n_channels = channels if channels is not None else d.channels * devices
    per_bit_shared = (f["activate_energy"] / (d.row_bytes * 8)
                      + (f["active_standby_power"] - f["background_power"]) / d.channels
                      / (d.channel_width_bits * d.data_rate))
    return dict(read_energy_per_access_J=word_bits * (f["read_energy_per_bit"] + per_bit_shared),
                write_energy_per_access_J=word_bits * (f["write_energy_per_bit"] + per_bit_shared),
                read_latency_s=d.access_latency, write_latency_s=d.access_latency,
                leakage_W=devices * (f["background_power"] + f["refresh_power"]), area_m2=0.0, is_dram=True,
                refresh_power_W=devices * f["refresh_power"], gated_leakage_W=devices * f["self_refresh_power"],
                power_down_W=devices * (f["power_down_power"] + f["refresh_power"]),
                power_down_exit_latency_s=f["power_down_exit_latency"],
                wakeup_latency_s=f["self_refresh_exit_latency"], wakeup_energy_J=devices * tech.wakeup_energy_J,
                peak_bandwidth_Bps=n_channels * d.channel_width_bits * d.data_rate / 8)


def _array_figures(tech: Technology, capacity_bytes: float, word_bits: int, banks: int,
                   node_m: float | None) -> dict:
    """Figures of an on-chip array. CACTI technologies: the CACTI table interpolated at the geometry.
    Cited-point technologies (NVM, NVMExplorer's SRAM): the cited figures times CACTI's periphery ratios
    (22 nm). Then node scaling (Stillmaker & Baas) from the node the figures are at (a CACTI technology:
    ``node`` itself between 22 and 90 nm, so no scaling, else the nearest table node; a cited point: its
    reference node) to ``node``: read energy, leakage and area always; write energy only when CMOS
    circuitry sets it (SRAM), not for an NVM cell's switching. Latency is not node-scaled (no published law
    in the sources; a stated limit), except as CACTI's own figures at its nodes."""
    ref = tech.reference
    node = ref.node if node_m is None else node_m
    from_node = ref.node             # the node the figures below are at; node scaling takes them to ``node``
    if tech.cacti is not None:
        c = tech.cacti
        from_node = table_node(c.flavour, node, c.table)
        f = array_figures(c.flavour, capacity_bytes, banks, word_bits, c.table,
                          node_m=None if from_node == ref.node else from_node)
        fig = dict(read_energy=f["read_energy_J"], write_energy=f["write_energy_J"], leakage=f["leakage_W"],
                   area=f["area_m2"], read_latency=f["access_time_s"], write_latency=f["access_time_s"])
        cycle_s, write_scaled = f["cycle_time_s"], True
    else:
        r = periphery_ratios(tech.scaling.periphery, capacity_bytes, banks, word_bits, ref.capacity,
                             ref.word_bits)
        fig = {k: getattr(ref, k) * r[k] for k in r}
        cycle_s, write_scaled = None, tech.scaling.write_node_scaled
        if not write_scaled:
            # an NVM write = the cell's switching (what the write costs beyond a read at the cited point:
            # per bit, so linear in the word, fixed with capacity and banks) + the periphery's share (taken
            # as the cited read's, scaled like SRAM's write)
            words = word_bits / ref.word_bits
            for key, read_key in (("write_energy", "read_energy"), ("write_latency", "read_latency")):
                w, rd = getattr(ref, key), getattr(ref, read_key)
                periphery = min(w, rd)
                cell = (w - periphery) * (words if key == "write_energy" else 1.0)
                fig[key] = cell + periphery * r[key]
    e_node, a_node, l_node = (energy_factor(node, from_node), area_factor(node, from_node),
                              leakage_factor(node, from_node))
    leakage = fig["leakage"] * l_node
    # the wake-up recharges the array's supply: it scales with the array like its leakage does
    wake_J = tech.wakeup_energy_J * leakage / ref.leakage if ref.leakage > 0 else tech.wakeup_energy_J
    rv = tech.retention_voltage
    retention = {} if rv is None else dict(
        retention_leakage_W=leakage * rv.leakage_fraction, retention_wakeup_latency_s=rv.wakeup_latency,
        retention_wakeup_energy_J=wake_J * rv.wakeup_energy_fraction)
    return dict(
        read_energy_per_access_J=fig["read_energy"] * e_node,
        write_energy_per_access_J=fig["write_energy"] * (e_node if write_scaled else 1.0),
        read_latency_s=fig["read_latency"], write_latency_s=fig["write_latency"],
        leakage_W=leakage, area_m2=fig["area"] * a_node,
        gated_leakage_W=leakage * tech.gated_leakage_fraction,
        wakeup_latency_s=tech.wakeup_latency_s,
        wakeup_energy_J=wake_J, cycle_time_s=cycle_s, **retention)
