"""Check hetsim's DRAM figures against DRAMPower's own spec file and DRAMPower's formulas.

DRAMPower (tukl-msd/DRAMPower) ships Micron's LPDDR4-3200 as ``memspecs/MICRON_6Gb_LPDDR4-3200_32bit_A.json``
and an HBM2 timing spec as ``memspecs/HBM2.json`` (present up to commit c50d838; later releases moved spec
files out of the repository). Get them with e.g.::

    git clone https://github.com/tukl-msd/DRAMPower /tmp/DRAMPower
    git -C /tmp/DRAMPower show c50d838:memspecs/MICRON_6Gb_LPDDR4-3200_32bit_A.json > /tmp/lpddr4.json
    git -C /tmp/DRAMPower show c50d838:memspecs/HBM2.json > /tmp/hbm2.json
    python benchmarks/dram_check.py --memspec /tmp/lpddr4.json [--technology lpddr4]
    python benchmarks/dram_check.py --memspec /tmp/hbm2.json --technology hbm2

With a spec file that has currents (LPDDR4) it checks (1) that every current, voltage and timing in
``hw_models/data/technologies/lpddr4.yaml`` equals the spec file's, then (2) recomputes each figure with
DRAMPower's formulas (``core_calculation_LPDDR4.cpp``: E_RD = V·(IDD4R − IDD3N)·BL/DR·tCK per burst, E_act +
E_pre with IBeta = IDD0, background IDD2N / IDD3N, power-down IDD2P, self-refresh IDD6, all-bank refresh
E_ref = V·(IDD5 − IDD3N)·tRFC per tREFI) and prints hetsim's figure next to it, and (3) compares the
power-state transitions as hetsim charges them (``simulator.cost.power_states``) with DRAMPower's LPDDR4
counters at c50d838: power-down power, its exit latency tXP and exit energy (tXP at IDD2N), self-refresh
power, its exit latency tXSR and energy (tXSR at IDD2N) and the initial auto-refresh DRAMPower charges at
self-refresh entry, and the break-even idle time they imply. DRAMPower's core calculation covers VDD1 and
VDD2 and models the VDDQ interface separately; hetsim includes VDDQ's datasheet currents, so the per-bit
energies are shown both ways. Refresh differs by construction: hetsim uses IDD5AB (JEDEC's refresh current
averaged over tREFI), DRAMPower the burst current IDD5 over tRFC; both are printed. With a spec file without
currents (DRAMPower's HBM2.json gives timings only) it checks the data rate, exit latencies and access
latency. DRAMPower ships no LPDDR5 device spec (``tests/tests_drampower/resources/lpddr5.json`` in its later
releases is a test fixture with invented currents and timings, e.g. tREFI of 20 clocks), so ``lpddr5`` is
not checked. Exit code 1 if a current or timing differs from the spec file or a figure that is computed
the same way differs by more than 1e-9 relative. The printed result is committed as
``benchmarks/results/dram_check.txt``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# hetsim rail name -> DRAMPower memspec suffix ("" = VDD1, "2" = VDD2, "q" = VDDQ) and voltage key
_RAILS = {"vdd1": ("", "vdd"), "vdd2": ("2", "vdd2"), "vddq": ("q", "vddq")}
_CURRENTS = ("idd0", "idd2n", "idd2p", "idd3n", "idd4r", "idd4w", "idd5ab", "idd6")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--memspec", required=True, help="DRAMPower memspec JSON (MICRON_6Gb_LPDDR4-3200_32bit_A)")
    ap.add_argument("--technology", default="lpddr4")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from hw_models import Memory, load_technology
    from hw_models.dram import figures_from_currents

    spec = json.loads(Path(args.memspec).read_text())["memspec"]
    tech = load_technology(args.technology)
    if "mempowerspec" not in spec:
        return 1 if check_timings(tech, spec) else 0
    power, timing, arch = spec["mempowerspec"], spec["memtimingspec"], spec["memarchitecturespec"]
    d = tech.dram
    c = d.currents
    bad = 0
    print(f"(1) currents and timings of {tech.name} vs {args.memspec}")
    for rail, (suffix, vkey) in _RAILS.items():
        r = c.rails[rail]
        pairs = [(f"{rail}.voltage", r.voltage, power[vkey])]
        pairs += [(f"{rail}.{i}", getattr(r, i), power[i + suffix] * 1e-3) for i in _CURRENTS]
        for name, ours, theirs in pairs:
            ok = abs(ours - theirs) <= 1e-12 * max(abs(theirs), 1e-30)
            bad += not ok
            if not ok:
                print(f"  MISMATCH {name}: hetsim {ours} vs spec {theirs}")
    for name, ours, theirs in (("clock", c.clock, timing["clkMhz"] * 1e6), ("tRC", c.tRC, timing["RC"]),
                               ("tRAS", c.tRAS, timing["RAS"]), ("tXP", c.tXP, timing["XP"]),
                               ("tXSR", c.tXSR, timing["XSR"]), ("width", d.channel_width_bits, arch["width"]),
                               ("row_bytes", d.row_bytes, arch["nbrOfColumns"] * arch["width"] / 8)):
        ok = ours == theirs
        bad += not ok
        if not ok:
            print(f"  MISMATCH {name}: hetsim {ours} vs spec {theirs}")
    print("  all equal" if not bad else f"  {bad} mismatches")

    # (2) DRAMPower's formulas, one channel
    tck = 1e-6 / timing["clkMhz"]
    bl, dr = arch["burstLength"], arch["dataRate"]
    bits_per_burst = bl * arch["width"]

    def rails(core_only: bool):
        out = []
        for rail, (suffix, vkey) in _RAILS.items():
            if core_only and rail == "vddq":
                continue
            out.append((power[vkey], {i: power[i + suffix] * 1e-3 for i in _CURRENTS + ("idd5", "idd3p")}))
        return out

    def e_burst(kind: str, core_only: bool) -> float:
        return sum(v * (i[kind] - i["idd3n"]) * bl / dr * tck for v, i in rails(core_only)) / bits_per_burst

    t_ras, t_rp = timing["RAS"] * tck, (timing["RC"] - timing["RAS"]) * tck
    e_actpre = 0.0
    for v, i in rails(False):
        i_theta = (i["idd0"] * (t_rp + t_ras) - i["idd0"] * t_rp) / t_ras   # IBeta = IDD0
        e_actpre += v * (i_theta - i["idd3n"]) * t_ras + v * (i["idd0"] - i["idd2n"]) * t_rp
    ref_burst = sum(v * (i["idd5"] - i["idd3n"]) * timing["RFCAB"] * tck for v, i in rails(False)) \
        / (timing["REFIAB"] * tck)
    state = {k: sum(v * i[k] for v, i in rails(False)) for k in ("idd2n", "idd3n", "idd2p", "idd6")}
    ours = figures_from_currents(c, 1, d.channel_width_bits, d.data_rate)
    rows = [
        ("read energy / bit, all rails (J)", ours["read_energy_per_bit"], e_burst("idd4r", False), True),
        ("read energy / bit, VDD1+VDD2 (DRAMPower core)", None, e_burst("idd4r", True), False),
        ("write energy / bit, all rails (J)", ours["write_energy_per_bit"], e_burst("idd4w", False), True),
        ("write energy / bit, VDD1+VDD2 (DRAMPower core)", None, e_burst("idd4w", True), False),
        ("activate+precharge per row (J)", ours["activate_energy"], e_actpre, True),
        ("precharge standby (W)", ours["background_power"], state["idd2n"], True),
        ("active standby (W)", ours["active_standby_power"], state["idd3n"], True),
        ("precharge power-down (W)", ours["power_down_power"], state["idd2p"], True),
        ("self-refresh (W)", ours["self_refresh_power"], state["idd6"], True),
        ("refresh: IDD5AB avg (hetsim) vs IDD5 burst (DRAMPower) (W)", ours["refresh_power"], ref_burst, False),
    ]
    print(f"\n(2) one channel: hetsim vs DRAMPower's formulas on the spec file")
    for name, o, t, same in rows:
        ratio = o / t if (o is not None and t) else float("nan")
        if same and abs(ratio - 1) > 1e-9:
            bad += 1
        print(f"  {name:62} hetsim {'-' if o is None else f'{o:.4g}':>10}  DRAMPower {t:.4g}"
              + (f"  ratio {ratio:.4f}" if o is not None else ""))
    m = Memory.from_technology("dram", tech, int(d.device_capacity), word_bits=64)
    print(f"\n  per x32 device as hetsim uses it: read {m.read_energy_per_access_J / 64 * 1e12:.3f} pJ/bit, "
          f"write {m.write_energy_per_access_J / 64 * 1e12:.3f} pJ/bit (burst + row activation + active "
          f"standby while streaming), idle {m.leakage_W * 1e3:.2f} mW (standby + refresh), power-down "
          f"{m.power_down_W * 1e3:.2f} mW (IDD2P + refresh), self-refresh {m.gated_leakage_W * 1e3:.2f} mW")
    bad += transitions(m, d, power, timing, rails(False), tck)
    return 1 if bad else 0


def transitions(m, d, power: dict, timing: dict, rails: list, tck: float) -> int:
    """(3) Power-down and self-refresh entry / exit, per device, as hetsim charges them
    (``simulator.cost.power_states``) and as DRAMPower's LPDDR4 counters do (CountersLPDDR4.cc,
    DRAMPowerLPDDR4.cc at c50d838): a power-down costs IDD2P over its cycles and its exit (PUP) tXP cycles
    at IDD2N; a self-refresh of tSREF >= tRFC costs IDD6 over tSREF - tRFC, the initial auto-refresh at
    entry ((IDD5 - IDD3N) over tRFC plus IDD3P over tRFC - tRP and IDD2P over tRP) and tXSR cycles at
    IDD2N on exit. Returns the number of figures computed the same way that differ (> 1e-9)."""
    from simulator.cost import power_states

    ch = d.channels
    pd_W, pd_exit_J, pd_exit_s = power_states.power_down(m, "power_down_when_idle")
    sr_W, sr_wake_J, sr_wake_s = power_states.low_power_state(m, "retain_when_idle")
    t_xp, t_xsr = timing["XP"] * tck, timing["XSR"] * tck
    t_rfc, t_rp = timing["RFCAB"] * tck, timing["RPAB"] * tck
    i2n = sum(v * i["idd2n"] for v, i in rails)
    dp_pup = ch * i2n * t_xp                                  # PUP_PRE: tXP at IDD2N
    dp_spup = ch * i2n * t_xsr                                # SREX: tXSR at IDD2N
    dp_entry = ch * sum(v * ((i["idd5"] - i["idd3n"]) * t_rfc + i["idd3p"] * (t_rfc - t_rp) + i["idd2p"] * t_rp
                             - i["idd6"] * t_rfc) for v, i in rails)   # initial auto-refresh, beyond IDD6
    dp_pd = ch * sum(v * i["idd2p"] for v, i in rails)
    dp_sr = ch * sum(v * i["idd6"] for v, i in rails)
    # hetsim: every transfer of a power_down_when_idle DRAM waits tXP inside its own latency (busy time,
    # charged at leakage_W) and each exit adds pd_exit_J (simulator/cost/power_states.power_down,
    # tables._power_down); a self-refresh wake-up adds tXSR to the next request's service (busy time at
    # leakage_W) and wakeup_energy_J
    exit_sr_J = m.leakage_W * sr_wake_s            # the tXSR wake-up inside the next request, at standby
    rows = [
        ("precharge power-down (W)", pd_W - m.refresh_power_W, dp_pd, True,
         "hetsim's power_down_W less its refresh share"),
        ("power-down exit latency tXP (s)", pd_exit_s, t_xp, True, ""),
        ("power-down exit energy as charged (J)", pd_exit_J, dp_pup, False,
         "hetsim: none; the exit is inside the transfer's latency (next row)"),
        ("energy over the tXP exit, all charges (J)", pd_exit_J + m.leakage_W * pd_exit_s, dp_pup, False,
         "hetsim: + tXP inside the transfer's latency at leakage_W"),
        ("self-refresh (W)", sr_W, dp_sr, True, ""),
        ("self-refresh exit latency tXSR (s)", sr_wake_s, t_xsr, True, ""),
        ("self-refresh entry: auto-refresh beyond IDD6 (J)", sr_wake_J, dp_entry, False,
         "hetsim: the file's wakeup_energy"),
        ("self-refresh exit over tXSR (J)", exit_sr_J, dp_spup, False,
         "hetsim: tXSR in busy time at leakage_W, standby + refresh"),
        ("self-refresh round trip beyond IDD6 x gap (J)", sr_wake_J + exit_sr_J, dp_spup + dp_entry, False,
         "the two above"),
        ("self-refresh break-even idle time (s)", sr_wake_J / (m.leakage_W - sr_W),
         (dp_spup + dp_entry) / (ch * i2n - dp_sr), False,
         "hetsim: wakeup / (leakage - SR); DRAMPower: round trip / (IDD2N - IDD6)"),
    ]
    bad = 0
    print(f"\n(3) power-state transitions, per device ({ch} channels): hetsim as it charges them vs "
          f"DRAMPower's counters")
    for name, o, t, same, note in rows:
        ratio = o / t if t else float("nan")
        if same and abs(ratio - 1) > 1e-9:
            bad += 1
        print(f"  {name:58} hetsim {o:10.4g}  DRAMPower {t:10.4g}  ratio {ratio:7.4f}"
              + (f"  ({note})" if note else ""))
    return bad


def check_timings(tech, spec: dict) -> int:
    """A technology given by final figures against a DRAMPower spec file without currents (HBM2): the
    clock, data rate, exit latencies and access latency."""
    timing, arch = spec["memtimingspec"], spec["memarchitecturespec"]
    d = tech.dram
    tck = 1e-6 / timing["clkMhz"]
    bad = 0
    rows = [("data rate (T/s)", d.data_rate, timing["clkMhz"] * 1e6 * arch["dataRate"]),
            ("power-down exit latency tXP (s)", d.power_down_exit_latency, timing["XP"] * tck),
            ("self-refresh exit latency tXS (s)", d.self_refresh_exit_latency, timing["XS"] * tck),
            ("access latency tRCDRD + RL (s)", d.access_latency, (timing["RCDRD"] + timing["RL"]) * tck)]
    print(f"(1) timings of {tech.name} vs the spec file (it gives no currents: energies and powers stay "
          f"the technology file's, not checkable here)")
    for name, ours, theirs in rows:
        ok = abs(ours - theirs) <= 1e-9 * theirs
        bad += not ok
        print(f"  {name:40} hetsim {ours:10.4g}  spec {theirs:10.4g}  {'equal' if ok else 'MISMATCH'}")
    print(f"  (organisation, not compared: spec {arch['width']}-bit pseudo-channel, "
          f"{arch['nbrOfColumns']} columns = {arch['nbrOfColumns'] * arch['width'] // 8} B rows, "
          f"{arch['nbrOfBanks']} banks; hetsim {d.channel_width_bits}-bit channels of "
          f"{int(d.row_bytes)} B rows)")
    return bad


if __name__ == "__main__":
    sys.exit(main())
