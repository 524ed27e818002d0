"""A sweep point's platform, resolved and built with every memo the sweep uses (validated parts per axis
value, value-identical memories and compute units, CACTI figures and DRAM figures derived once), equals the same point's
platform file validated and built from scratch by the normal loader with every memo empty: no stale
figures, ever."""
from __future__ import annotations

import copy
import dataclasses
import itertools
import random

import yaml

from hw_models import cacti, dram, loader, registry
from hw_models.compute import ComputeUnit
from hw_models.loader import build_platform, platform_path
from hw_models.platform import is_compute_unit
from hw_models.schema import PlatformFile, validate
from simulator.sweep.points import _set, load_base, resolve
from simulator.sweep.spec import spec_from_dict

#: Axes into every kind of sub-document the resolver memoises (memories, links, operating points,
#: compute, placement, top-level fields), with values that change figures.
AXES = {
    "platform.memories.backbone.technology": ["rram", "stt-mram", "sram-lstp", "pcm"],
    "platform.memories.backbone.capacity": ["16 MiB", "24 MiB", "48 MiB"],
    "platform.memories.backbone.banks": [1, 4, 32],
    "platform.memories.buffer.capacity": ["32 KiB", "100 KiB"],
    "platform.memories.act_sram.word_bits": [32, 128],
    "platform.links.1.width_bits": [64, 256],
    "platform.operating_points.low.voltage": ["0.5 V", "0.55 V"],
    "platform.default_operating_point": ["nominal", "low"],
    "platform.compute.mac_array.rows": [8, 16],
    "platform.placement.power_gating": [True, False],
    "platform.node": ["22 nm", "12 nm"],
}


def _clear_memos() -> None:
    cacti._array_figures.cache_clear()
    dram._FIGURES.clear()
    loader._MEMORIES.clear()
    registry._UNITS.clear()


def _figures(platform) -> dict:
    """Every field of every memory, unit, link and operating point, and the totals."""
    def fields(obj):
        return {k: v for k, v in vars(obj).items() if not k.startswith("_")}

    return {"memories": {n: fields(m) for n, m in platform.memories.items()},
            "compute": {n: fields(u) for n, u in platform.compute.items()},
            "links": [fields(lk) for lk in platform.links],
            "points": {n: fields(o) for n, o in platform.operating_points.items()},
            "area": platform.area_m2, "leakage": platform.leakage_W, "default": platform.default_operating_point,
            "placement": fields(platform.placement)}


def test_a_cached_build_equals_an_uncached_build():
    spec = spec_from_dict({"name": "memo", "study": "default", "platform": "edge-rram", "axes": AXES})
    base = load_base(spec)
    _, pdata, ppath, _, _ = base.platforms[0]
    combos = list(itertools.product(*AXES.values()))
    rng = random.Random(7)
    sample = rng.sample(combos, 40) + combos[:4]
    resolved = [resolve(spec, base, i, dict(zip(AXES, c))) for i, c in enumerate(sample)]
    warm = [r.platform() for r in resolved]          # memos filled by earlier points
    for r, built in zip(resolved, warm):
        data = pdata
        for path, value in r.point.items():
            data = _set(data, path.split(".")[1:], value, "test")
        plain = validate(PlatformFile, copy.deepcopy(data), str(ppath))
        assert r.platform_spec.model_dump() == plain.model_dump(), r.point
        _clear_memos()
        cold = build_platform(plain, source=str(ppath), base_dir=ppath.parent)
        assert _figures(built) == _figures(cold), r.point
    # figures differ where the axes changed them (the comparison above is not vacuous)
    assert len({w.memories["backbone"].read_energy_per_byte_J for w in warm}) > 4
    assert len({w.area_m2 for w in warm}) > 10


def test_memoised_memories_are_copies():
    """A platform may set fields of its own memories: another platform built from the same figures
    does not see it."""
    data = yaml.safe_load(platform_path("edge-rram").read_text())
    spec = validate(PlatformFile, data, "edge-rram")
    a, b = (build_platform(spec, base_dir=platform_path("edge-rram").parent) for _ in range(2))
    assert a.memories["backbone"] is not b.memories["backbone"]
    assert all(a.compute[n] is not b.compute[n] and vars(a.compute[n]) == vars(b.compute[n]) for n in a.compute)
    a.memories["backbone"].leakage_W = -1.0
    c = build_platform(spec, base_dir=platform_path("edge-rram").parent)
    assert b.memories["backbone"].leakage_W == c.memories["backbone"].leakage_W > 0
    assert dataclasses.asdict(b.memories["buffer"]) == dataclasses.asdict(c.memories["buffer"])


def test_compute_unit_check_is_the_protocol_check():
    from hw_models.loader import load_platform

    units = list(load_platform("edge-cim").compute.values())
    assert units and all(is_compute_unit(u) and isinstance(u, ComputeUnit) for u in units)

    class Partial:
        kind, actions, takes = "mac_array", (), ()

        def can_run(self, op):
            return True

    for thing in (Partial(), object(), 3, load_platform("edge-cim").memories["backbone"]):
        assert is_compute_unit(thing) == isinstance(thing, ComputeUnit) is False
