"""Platforms: every bundled one loads; every malformed variant is rejected with its file and field path."""
from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings

from hw_models import (COMPUTE, ROLES, HardwareConfigError, Link, MacArray, Memory, OperatingPoint,
                       PlacementPolicy, Platform, VectorUnit, list_platforms, load_platform)
from hw_models.loader import PLATFORMS_DIR
from simulator.testing.strategies import technology_platforms as platforms
from hw_models.technology import TECHNOLOGIES_DIR, technology_from_file
from simulator.cli.main import main as cli_main

BUNDLED = ("edge-sram", "edge-sram-dram", "edge-sram-reload", "edge-rram", "edge-mram")


def test_bundled_platforms_are_listed():
    assert set(BUNDLED) <= set(list_platforms())


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_platform_loads_and_is_edgebert_like(name):
    p = load_platform(name)
    assert p.name == name and Path(p.source).name == f"{name}.yaml"
    ma = p.mac_array
    assert (ma.rows, ma.cols, ma.weight_bits, ma.act_bits) == (16, 16, 8, 16)
    assert p.vector_unit.lanes == 16
    assert len(p.buffers) == 1 and p.memories[p.buffers[0]].capacity_bytes == 128 * 1024
    assert p.area_m2 > 0 and p.leakage_W > 0
    assert p.operating_point.name == p.default_operating_point
    for mem in p.memories.values():
        assert mem.bandwidth_Bps > 0 and mem.read_energy(1) > 0
    buf = p.buffers[0]
    assert p.link_between(buf, COMPUTE) is p.link_between(COMPUTE, buf) is not None
    # the model fits where the policy puts the backbone: adapter-ALBERT at 8 bit is ~12 MB
    first_weight_home = p.memories[p.placement.memories_for("weight")[0]]
    assert first_weight_home.capacity_bytes >= 12e6


def test_placement_split_of_the_study():
    assert load_platform("edge-rram").memories["backbone"].technology == "rram"
    assert load_platform("edge-mram").memories["backbone"].technology == "stt-mram"
    dram = load_platform("edge-sram-dram")
    assert dram.memories[dram.placement.memories_for("weight")[0]].is_dram
    assert all(not m.is_dram for m in load_platform("edge-sram").memories.values())
    for name in ("edge-rram", "edge-mram"):
        p = load_platform(name)
        assert p.placement.memories_for("adapter")[0] == "act_sram"
        assert not p.memories[p.placement.memories_for("embedding")[0]].volatile


def test_roles_mirror_the_trace_roles():
    trace = pytest.importorskip("workloads.trace")
    assert tuple(trace.ROLES) == ROLES


def _variants(doc: dict) -> list[tuple[str, str, callable]]:
    """(label, expected field path, mutation) for one platform document."""
    mem = next(iter(doc["memories"]))

    def setpath(*path_and_value):
        *path, value = path_and_value

        def mutate(d):
            node = d
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = value
        return mutate

    def delete(*path):
        def mutate(d):
            node = d
            for key in path[:-1]:
                node = node[key]
            del node[path[-1]]
        return mutate

    def unlink(d):
        d["memories"]["orphan"] = {"technology": "sram-hp", "capacity": "1 MiB"}

    return [
        ("unknown top-level key", "colour", setpath("colour", "blue")),
        ("unknown memory key", f"memories.{mem}.speed", setpath("memories", mem, "speed", "fast")),
        ("zero capacity", f"memories.{mem}.capacity", setpath("memories", mem, "capacity", "0 MiB")),
        ("negative capacity", f"memories.{mem}.capacity", setpath("memories", mem, "capacity", "-2 MiB")),
        ("capacity without unit", f"memories.{mem}.capacity", setpath("memories", mem, "capacity", 2048)),
        ("capacity wrong unit", f"memories.{mem}.capacity", setpath("memories", mem, "capacity", "2 ns")),
        ("unknown unit", f"memories.{mem}.capacity", setpath("memories", mem, "capacity", "2 parsecs")),
        ("zero banks", f"memories.{mem}.banks", setpath("memories", mem, "banks", 0)),
        ("unknown technology", f"memories.{mem}.technology",
         setpath("memories", mem, "technology", "unobtainium")),
        ("missing technology", f"memories.{mem}.technology", delete("memories", mem, "technology")),
        ("backed_by unknown", f"memories.{mem}.backed_by", setpath("memories", mem, "backed_by", "tape")),
        ("memory with no link", "memories.orphan", unlink),
        ("link to unknown memory", "links.0.src", setpath("links", 0, "src", "nowhere")),
        ("link energy wrong unit", "links.0.energy_per_bit", setpath("links", 0, "energy_per_bit", "1 mW")),
        ("link zero width", "links.0.width_bits", setpath("links", 0, "width_bits", 0)),
        ("placement unknown memory", "placement.roles.weight.0",
         setpath("placement", "roles", "weight", ["nowhere"])),
        ("placement unknown role", "placement.roles.gradients",
         setpath("placement", "roles", "gradients", [mem])),
        ("placement buffer as home", "placement.roles.weight.0",
         setpath("placement", "roles", "weight", ["buffer"])),
        ("bad overflow", "placement.on_overflow", setpath("placement", "on_overflow", "panic")),
        ("zero rows", "compute.mac_array.rows", setpath("compute", "mac_array", "rows", 0)),
        ("bad dataflow", "compute.mac_array.dataflow", setpath("compute", "mac_array", "dataflow", "xs")),
        ("voltage wrong unit", "operating_points.nominal.voltage",
         setpath("operating_points", "nominal", "voltage", "0.8 W")),
        ("frequency without unit", "operating_points.nominal.frequency",
         setpath("operating_points", "nominal", "frequency", "1000")),
        ("unknown default point", "default_operating_point", setpath("default_operating_point", "turbo")),
        ("negative prefetch", "prefetch_depth", setpath("prefetch_depth", -1)),
        ("bad node", "node", setpath("node", "-12 nm")),
        ("double-buffered home memory", f"memories.{mem}.double_buffered",
         setpath("memories", mem, "double_buffered", True)),
    ]


CASES = [(name, label, path, mutate) for name in BUNDLED
         for label, path, mutate in _variants(yaml.safe_load((PLATFORMS_DIR / f"{name}.yaml").read_text()))]


@pytest.mark.parametrize("name, label, path, mutate", CASES, ids=[f"{c[0]}:{c[1]}" for c in CASES])
def test_malformed_variant_is_rejected_with_file_and_field_path(tmp_path, name, label, path, mutate):
    doc = yaml.safe_load((PLATFORMS_DIR / f"{name}.yaml").read_text())
    bad = copy.deepcopy(doc)
    mutate(bad)
    file = tmp_path / f"{name}.yaml"
    file.write_text(yaml.safe_dump(bad, sort_keys=False))
    with pytest.raises(HardwareConfigError) as info:
        load_platform(str(file))
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{file}: {path}: "), message
    assert "expected" in message.split(f"{path}: ", 1)[1]


def test_user_technology_file_next_to_platform(tmp_path):
    tech = yaml.safe_load((TECHNOLOGIES_DIR / "rram.yaml").read_text())
    tech["name"] = "my-rram"
    tech["reference"]["read_energy"] = "3 pJ"
    (tmp_path / "my-rram.yaml").write_text(yaml.safe_dump(tech))
    doc = yaml.safe_load((PLATFORMS_DIR / "edge-rram.yaml").read_text())
    doc["memories"]["backbone"]["technology"] = "my-rram.yaml"
    doc["node"] = "22 nm"
    doc["memories"]["backbone"].update(banks=8, capacity="16 MiB")
    (tmp_path / "chip.yaml").write_text(yaml.safe_dump(doc))
    p = load_platform(str(tmp_path / "chip.yaml"))
    assert p.memories["backbone"].technology == "my-rram"
    # same geometry and periphery scaling as the bundled ReRAM: only the cited read energy differs
    bundled = Memory.from_technology("b", "rram", 16 * 2**20, banks=8, node_m=22e-9)
    assert p.memories["backbone"].read_energy_per_access_J == pytest.approx(
        bundled.read_energy_per_access_J * 3 / 6.18, rel=1e-12)


def test_technology_without_a_source_is_rejected(tmp_path):
    tech = yaml.safe_load((TECHNOLOGIES_DIR / "rram.yaml").read_text())
    del tech["sources"]["endurance"]
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(tech))
    with pytest.raises(HardwareConfigError, match=r"t\.yaml: sources\.endurance: missing; expected"):
        technology_from_file(tmp_path / "t.yaml")


def _direct_platform(**overrides) -> Platform:
    mems = {"sram": Memory.from_technology("sram", "sram-hp", 2**20),
            "buf": Memory.from_technology("buf", "sram-hp", 2**16, is_buffer=True)}
    kwargs = dict(name="p", memories=mems, mac_array=MacArray(), vector_unit=VectorUnit(),
                  links=[Link("sram", "buf", 128, 1e9, 1e-14), Link("buf", COMPUTE, 256, 1e9, 1e-14)],
                  placement=PlacementPolicy(roles={"weight": ["sram"]}),
                  operating_points={"n": OperatingPoint("n", 0.8, 1e9, 0.8)}, default_operating_point="n")
    kwargs.update(overrides)
    return Platform(**kwargs)


def test_platform_from_objects_and_reachability_through_memories():
    p = _direct_platform()
    assert p.buffers == ["buf"] and p.link_between("sram", COMPUTE) is None
    assert p.area_m2 == pytest.approx(sum(m.area_m2 for m in p.memories.values())
                                      + p.mac_array.area_m2 + p.vector_unit.area_m2)
    with pytest.raises(HardwareConfigError, match="^memories.sram: has no link"):
        _direct_platform(links=[Link("buf", COMPUTE, 256, 1e9, 0.0)])


def test_cli_lists_and_shows_platforms(capsys):
    assert cli_main(["platforms"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in BUNDLED)
    assert cli_main(["platforms", "show", "edge-rram"]) == 0
    out = capsys.readouterr().out
    for text in ("backbone", "rram", "GB/s", "read pJ", "leak mW", "mm²", "mac_array", "totals"):
        assert text in out
    assert cli_main(["platforms", "technologies"]) == 0
    assert "stt-mram" in capsys.readouterr().out


def test_cli_show_bad_file_exits_2_with_one_line(tmp_path):
    doc = yaml.safe_load((PLATFORMS_DIR / "edge-sram.yaml").read_text())
    doc["memories"]["backbone"]["capacity"] = "0 MiB"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(doc))
    proc = subprocess.run([sys.executable, "-m", "simulator.cli.main", "platforms", "show", str(bad)],
                          capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert lines[0].startswith(f"hetsim: error: {bad}: memories.backbone.capacity: ")


def test_cli_show_unknown_name_exits_2(capsys):
    assert cli_main(["platforms", "show", "edge-nothing"]) == 2
    assert "unknown platform" in capsys.readouterr().err


@settings(max_examples=40, deadline=None)
@given(platforms())
def test_random_platforms_from_the_public_strategies_are_consistent(p):
    assert p.area_m2 > 0 and p.leakage_W > 0
    assert p.buffers == ["buffer"]
    for name, mem in p.memories.items():
        assert mem.bandwidth_Bps > 0 and mem.read_time(64) > mem.read_latency_s
        if name != "buffer":
            assert p.link_between(name, "buffer") is not None
    for op in p.operating_points.values():
        assert p.mac_array.energy_per_mac_J(op) <= p.mac_array.energy_per_mac_J() * (1 + 1e-12)


def test_unknown_key_message_lists_the_allowed_keys(tmp_path):
    doc = yaml.safe_load((PLATFORMS_DIR / "edge-rram.yaml").read_text())
    doc["links"][1]["lenght"] = "1 mm"
    doc["memories"]["dram"]["clock"] = "1 GHz"
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(doc))
    with pytest.raises(HardwareConfigError, match=r"links\.1\.lenght: unknown key; expected one of src, dst, "
                                                  r"width_bits, clock, energy_per_bit$"):
        load_platform(str(tmp_path / "p.yaml"))
    del doc["links"][1]["lenght"]
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(doc))
    with pytest.raises(HardwareConfigError, match=r"memories\.dram\.clock: .*expected no clock"):
        load_platform(str(tmp_path / "p.yaml"))
