"""DRAM figures from datasheet currents, the way DRAMPower computes them.

A technology file gives a DRAM channel either as its datasheet currents per supply rail (IDD0, IDD2N,
IDD2P, IDD3N, IDD4R, IDD4W, IDD5AB, IDD6 and each rail's voltage, as in DRAMPower's memspec files) or as
final figures. :func:`dram_figures` returns the final figures either way, per *device* (``channels``
channels), in SI units. With currents, for one channel (sums over the rails of V × I):

- state powers: precharge standby Σ V·IDD2N, active standby Σ V·IDD3N, precharge power-down Σ V·IDD2P,
  self-refresh Σ V·IDD6; refresh on top of standby Σ V·(IDD5AB − IDD2N) (IDD5AB is the all-bank refresh
  current averaged over tREFI, JESD209-4);
- read / write energy per bit: Σ V·(IDD4R − IDD3N) / (width × data rate) (DRAMPower's E_RD / E_WR per
  burst, divided by the bits of the burst), write likewise with IDD4W. The VDDQ rail is included: its
  IDD4RQ / IDD4WQ are the datasheet's I/O currents, so the figure covers the interface too;
- activate + precharge energy per row: Σ V·(IDD0·tRC − IDD3N·tRAS − IDD2N·(tRC − tRAS)) (DRAMPower's
  E_act + E_pre with tRP = tRC − tRAS);
- exit latencies: tXP (power-down), tXSR (self-refresh).

Device figures are the channel's times ``channels`` (powers) or equal to them (energies per bit / row).
"""
from __future__ import annotations

from hw_models.memo import Memo
from hw_models.schema import DramCurrentsSpec, DramSpec

#: The final figures of a DRAM device (SI: J/bit, J per row, W per device, s).
FIGURES = ("read_energy_per_bit", "write_energy_per_bit", "activate_energy", "background_power",
           "active_standby_power", "refresh_power", "power_down_power", "power_down_exit_latency",
           "self_refresh_power", "self_refresh_exit_latency")


def rail_power(c: DramCurrentsSpec, current: str, minus: str | None = None) -> float:
    """Σ over rails of V × (I_current − I_minus) (W, one channel)."""
    return sum(r.voltage * (getattr(r, current) - (getattr(r, minus) if minus else 0.0))
               for r in c.rails.values())


def figures_from_currents(c: DramCurrentsSpec, channels: int, width_bits: int, data_rate: float) -> dict:
    """The final figures of a device of ``channels`` channels, each described by the currents ``c``
    (``width_bits`` data pins at ``data_rate`` transfers/s)."""
    bit_rate = width_bits * data_rate  # bits/s of one channel
    tck = 1.0 / c.clock
    act_J = sum(r.voltage * (r.idd0 * c.tRC - r.idd3n * c.tRAS - r.idd2n * (c.tRC - c.tRAS))
                for r in c.rails.values()) * tck
    return dict(
        read_energy_per_bit=rail_power(c, "idd4r", "idd3n") / bit_rate,
        write_energy_per_bit=rail_power(c, "idd4w", "idd3n") / bit_rate,
        activate_energy=act_J,
        background_power=channels * rail_power(c, "idd2n"),
        active_standby_power=channels * rail_power(c, "idd3n"),
        refresh_power=channels * rail_power(c, "idd5ab", "idd2n"),
        power_down_power=channels * rail_power(c, "idd2p"),
        power_down_exit_latency=c.tXP * tck,
        self_refresh_power=channels * rail_power(c, "idd6"),
        self_refresh_exit_latency=c.tXSR * tck)


#: a device spec's value (its JSON) -> its figures, bounded: a sweep building the same DRAM thousands of
#: times derives its figures once, and no key is an ``id()`` that a collected spec could hand to another.
_FIGURES = Memo(256)


def dram_figures(d: DramSpec) -> dict:
    """The final figures (:data:`FIGURES`) of the device ``d``: derived from its currents when it has
    them, else as given (a figure a file leaves out raises: the loader checks every one is present).
    Each call gets its own copy."""
    def derive() -> dict:
        if d.currents is not None:
            return figures_from_currents(d.currents, d.channels, d.channel_width_bits, d.data_rate)
        return {f: getattr(d, f) for f in FIGURES}

    return dict(_FIGURES.get_or(d.model_dump_json(), derive))
