"""Check hetsim's DRAM figures against DRAMPower's own spec file and DRAMPower's formulas.

DRAMPower (tukl-msd/DRAMPower) ships Micron's LPDDR4-3200 as ``memspecs/MICRON_6Gb_LPDDR4-3200_32bit_A.json``
(present up to commit c50d838; later releases moved spec files out of the repository). Get it with e.g.::

    git clone https://github.com/tukl-msd/DRAMPower /tmp/DRAMPower
    git -C /tmp/DRAMPower show c50d838:memspecs/MICRON_6Gb_LPDDR4-3200_32bit_A.json > /tmp/lpddr4.json
    python benchmarks/dram_check.py --memspec /tmp/lpddr4.json [--technology lpddr4]

It checks (1) that every current, voltage and timing in ``hw_models/data/technologies/lpddr4.yaml`` equals
the spec file's, then (2) recomputes each figure with DRAMPower's formulas (``core_calculation_LPDDR4.cpp``:
E_RD = V·(IDD4R − IDD3N)·BL/DR·tCK per burst, E_act + E_pre with IBeta = IDD0, background IDD2N / IDD3N,
power-down IDD2P, self-refresh IDD6, all-bank refresh E_ref = V·(IDD5 − IDD3N)·tRFC per tREFI) and prints
hetsim's figure next to it. DRAMPower's core calculation covers VDD1 and VDD2 and models the VDDQ interface
separately; hetsim includes VDDQ's datasheet currents, so the per-bit energies are shown both ways.
Refresh differs by construction: hetsim uses IDD5AB (JEDEC's refresh current averaged over tREFI), DRAMPower
the burst current IDD5 over tRFC; both are printed. Exit code 1 if a current differs from the spec file or a
figure that is computed the same way differs by more than 1e-9 relative.
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
    power, timing, arch = spec["mempowerspec"], spec["memtimingspec"], spec["memarchitecturespec"]
    tech = load_technology(args.technology)
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
            out.append((power[vkey], {i: power[i + suffix] * 1e-3 for i in _CURRENTS + ("idd5",)}))
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
          f"{m.power_down_W * 1e3:.2f} mW, self-refresh {m.gated_leakage_W * 1e3:.2f} mW")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
