"""``hetsim platforms``: list the bundled platforms, show one as tables, list the memory technologies."""
from __future__ import annotations

import argparse

EXAMPLES = """\
examples:
  hetsim platforms                      the bundled platforms, one line each
  hetsim platforms show edge-rram       memories, compute, links, DVFS points and totals of a platform
  hetsim platforms show my-chip.yaml    the same for your own platform file (validated)
  hetsim platforms technologies         the memory technology library at its reference points

Units: energies in pJ per access (one word), latencies in ns, power in mW, area in mm², bandwidth in GB/s.
"""


def register(subparsers) -> None:
    """Add the ``platforms`` command to the ``hetsim`` parser."""
    parser = subparsers.add_parser(
        "platforms", help="list, show and check hardware platforms",
        description="List the bundled hardware platforms, show one (memories with derived bandwidth, "
        "per-access energies, leakage and area; compute units; links; operating points; totals), or "
        "list the memory technology library. A platform file is validated when shown: a bad one prints "
        "one line naming the file, the field and what was expected, and exits with code 2.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", nargs="?", choices=("list", "show", "technologies"), default="list",
                        help="list (default), show NAME_OR_PATH, or technologies")
    parser.add_argument("platform", nargs="?", metavar="NAME_OR_PATH",
                        help="a bundled platform name (see `hetsim platforms`) or a platform YAML file")
    parser.set_defaults(func=run)


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows)]
    numeric = [all(_is_number(r[i]) for r in rows) for i in range(len(headers))]

    def line(cells: list[str]) -> str:
        return "  ".join(str(c).rjust(w) if num else str(c).ljust(w)
                         for c, w, num in zip(cells, widths, numeric)).rstrip()

    return "\n".join([line(headers), "  ".join("-" * w for w in widths), *map(line, rows)])


def _is_number(text: str) -> bool:
    try:
        float(str(text).split()[0].lstrip("*"))
        return True
    except (ValueError, IndexError):
        return False


def _num(value: float, scale: float, digits: int = 4) -> str:
    from hw_models.units import format_si

    return format_si(value, "", scale, digits).strip()


def _capacity(nbytes: float) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if nbytes >= size:
            return f"{nbytes / size:g} {unit}"
    return f"{nbytes:g} B"


def _unit_row(name: str, u) -> list[str]:
    """One row of the compute table: shape, clock, peak rate, energy per op, leakage, area of a unit."""
    if u.kind == "mac_array":
        shape = f"{u.rows}x{u.cols} {u.dataflow}, w{u.weight_bits}/a{u.act_bits}/acc{u.acc_bits}"
        peak, per_op = u.peak_macs_per_cycle * u.clock_hz, u.energy_per_mac_J()
    elif u.kind == "vector_unit":
        shape, peak, per_op = f"{u.lanes} lanes x {u.op_bits} bit", u.lanes * u.clock_hz, u.energy_per_op_J()
    elif u.kind == "cim_crossbar":
        shape = (f"{u.tiles} x {u.rows}x{u.cols} cells of {u.cell_bits} b, w{u.weight_bits}/in{u.input_bits}/"
                 f"adc{u.adc_bits}")
        per_tile = u.rows * (u.cols // u.slices)               # MACs per read cycle per tile, one input bit
        peak = u.tiles * per_tile * u.clock_hz / u.input_bits
        per_op = u.mvm_energy_J(u.rows, u.cols // u.slices) / (u.rows * (u.cols // u.slices))
    else:
        shape, peak, per_op = "", 0.0, 0.0
    return [name, u.kind, shape, _num(u.clock_hz, 1e6), _num(peak, 1e9), _num(per_op, 1e-12),
            _num(u.leakage_W, 1e-3), _num(u.area_m2, 1e-6)]


def show_platform(platform) -> str:
    """The text report of ``platform`` (a :class:`hw_models.Platform`)."""
    homes: dict[str, list[str]] = {}
    for role, names in platform.placement.roles.items():
        for rank, name in enumerate(names):
            homes.setdefault(name, []).append(role if rank == 0 else f"({role})")
    mem_rows = []
    for m in platform.memories.values():
        use = "staging buffer" if m.is_buffer else ", ".join(homes.get(m.name, [])) or "-"
        mem_rows.append([m.name, m.technology, _capacity(m.capacity_bytes), str(m.word_bits), str(m.banks),
                         _num(m.bandwidth_Bps, 1e9), _num(m.read_energy_per_access_J, 1e-12),
                         _num(m.write_energy_per_access_J, 1e-12), _num(m.read_latency_s, 1e-9),
                         _num(m.write_latency_s, 1e-9), _num(m.leakage_W, 1e-3),
                         _num(m.gated_leakage_W, 1e-3),
                         _num(m.area_m2, 1e-6), "no" if m.volatile else "yes", use, m.source or "-"])
    compute_rows = [_unit_row(name, unit) for name, unit in platform.compute.items()]
    link_rows = [[li.name, str(li.width_bits), _num(li.clock_hz, 1e6), _num(li.bandwidth_Bps, 1e9),
                  _num(li.energy_per_bit_J, 1e-12)] for li in platform.links]
    op_rows = [[("* " if name == platform.default_operating_point else "  ") + name, _num(op.voltage_V, 1),
                _num(op.frequency_Hz, 1e6), f"{op.dynamic_scale:.3f}", f"{op.leakage_scale:.3f}"]
               for name, op in platform.operating_points.items()]
    on_chip = sum(m.capacity_bytes for m in platform.memories.values() if not m.is_dram)
    pol = platform.placement
    parts = [
        f"platform {platform.name}  ({platform.source})",
        platform.description,
        f"node {platform.node_m * 1e9:g} nm; placement: overflow={pol.on_overflow}, adapters={pol.adapters}, "
        f"power_gating={'on' if pol.power_gating else 'off'}; prefetch_depth={platform.prefetch_depth}",
        "",
        "memories (energies per access of one word; bandwidth = banks x ports x word / cycle, DRAM: channels "
        "x width x data rate)",
        _table(["name", "technology", "capacity", "word", "banks", "GB/s", "read pJ", "write pJ", "read ns",
                "write ns", "leak mW", "gated mW", "mm²", "NVM", "holds", "figures from"], mem_rows),
        "",
        "compute",
        _table(["unit", "kind", "shape", "MHz", "peak Gop/s", "pJ/op", "leak mW", "mm²"], compute_rows),
        "",
        "links",
        _table(["link", "bits", "MHz", "GB/s", "pJ/bit"], link_rows),
        "",
        "operating points (* = default)",
        _table(["name", "V", "MHz", "dyn scale", "leak scale"], op_rows),
        "",
        f"totals: on-chip capacity {_capacity(on_chip)}, chip area {_num(platform.area_m2, 1e-6)} mm², "
        f"idle power {_num(platform.leakage_W, 1e-3)} mW at nominal voltage (DRAM background included)",
    ]
    if platform.assumptions:
        parts += ["", "assumptions:", *(f"  - {a}" for a in platform.assumptions)]
    return "\n".join(parts)


def list_platforms_text() -> str:
    """One line per bundled platform: name, memories, area, idle power, description."""
    from hw_models import list_platforms, load_platform

    rows = []
    for name in list_platforms():
        p = load_platform(name)
        mems = ", ".join(f"{m.name}:{m.technology}" for m in p.memories.values())
        rows.append([name, mems, _num(p.area_m2, 1e-6), _num(p.leakage_W, 1e-3), p.description])
    return _table(["platform", "memories", "mm²", "idle mW", "description"], rows)


def list_technologies_text() -> str:
    """The technology library at its reference points (on-chip arrays) or per device (DRAM)."""
    from hw_models import Memory, list_technologies, load_technology

    rows = []
    for name in list_technologies():
        tech = load_technology(name)
        ref_bytes = tech.dram.device_capacity if tech.is_dram else tech.reference.capacity
        word = 64 if tech.is_dram else tech.reference.word_bits
        m = Memory.from_technology(name, tech, int(ref_bytes), word_bits=word)
        node = "off-chip" if tech.is_dram else f"{tech.reference.node * 1e9:g} nm"
        rows.append([name, tech.kind, node, _capacity(ref_bytes), str(word),
                     _num(m.read_energy_per_access_J, 1e-12), _num(m.write_energy_per_access_J, 1e-12),
                     _num(m.read_latency_s, 1e-9), _num(m.write_latency_s, 1e-9), _num(m.leakage_W, 1e-3),
                     _num(m.area_m2, 1e-6), _num(m.bandwidth_Bps, 1e9), f"{tech.endurance_writes:.0e}",
                     tech.source])
    return _table(["technology", "kind", "node", "capacity", "word", "read pJ", "write pJ", "read ns",
                   "write ns", "leak mW", "mm²", "GB/s", "endurance", "figures from"], rows) + (
        "\n\nOn-chip arrays at one bank; DRAM per device, 64-bit access (burst, row activation and active "
        "standby included), leak = precharge standby + refresh. CACTI technologies interpolate the "
        "committed CACTI 7 table (hw_models/data/cacti); NVMExplorer ones scale their cited point by "
        "CACTI's periphery ratios; DRAM from datasheet currents where the file gives them.")


def run(args: argparse.Namespace) -> int:
    """Entry point of ``hetsim platforms``; returns the exit code."""
    from hw_models import HardwareConfigError, load_platform

    if args.action == "show":
        if not args.platform:
            raise HardwareConfigError("platforms show: NAME_OR_PATH: missing; expected a bundled platform "
                                      "name or a platform YAML file")
        print(show_platform(load_platform(args.platform)))
    elif args.action == "technologies":
        print(list_technologies_text())
    else:
        print(list_platforms_text())
    return 0
