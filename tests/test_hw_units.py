"""Quantities with units at the YAML edge, and the technology files' citations."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hw_models import list_technologies, load_technology
from hw_models.units import UNITS, UnitError, format_si, parse_quantity


@pytest.mark.parametrize("text, dimension, si", [
    ("2 MiB", "bytes", 2 * 2**20), ("64 KB", "bytes", 64_000), ("4 Gb", "bytes", 5e8), ("8 bit", "bytes", 1),
    ("6.18 pJ", "energy", 6.18e-12), ("1 ns", "time", 1e-9), ("10 years", "time", 3.15576e8),
    ("200 MHz", "frequency", 2e8), ("0.8 V", "voltage", 0.8), ("650 mV", "voltage", 0.65),
    ("1.31 mm2", "area", 1.31e-6), ("1.31 mm²", "area", 1.31e-6), ("56.3 mW", "power", 0.0563),
    ("22 nm", "length", 22e-9), ("3200 MT/s", "rate", 3.2e9), ("1e3 pJ", "energy", 1e-9),
])
def test_parse_known_quantities(text, dimension, si):
    assert parse_quantity(text, dimension) == pytest.approx(si, rel=1e-15)


@pytest.mark.parametrize("value, dimension, fragment", [
    (2048, "bytes", "bare number"), ("2048", "bytes", "has no unit"), ("2 ns", "bytes", "unknown bytes unit"),
    ("fast", "time", "cannot read"), (None, "energy", "expected energy with a unit, such as '6.18 pJ'"),
    ([1], "power", "expected power with a unit"),
])
def test_bad_quantities_say_what_was_expected(value, dimension, fragment):
    with pytest.raises(UnitError, match=fragment) as info:
        parse_quantity(value, dimension)
    assert "expected" in str(info.value)


@given(st.floats(min_value=1e-3, max_value=1e6, allow_nan=False),
       st.sampled_from(sorted(UNITS["energy"])))
def test_written_quantity_round_trips_through_format(x, unit):
    si = parse_quantity(f"{x!r} {unit}", "energy")
    assert si == pytest.approx(x * UNITS["energy"][unit], rel=1e-12)
    assert parse_quantity(format_si(si, unit, UNITS["energy"][unit], 17), "energy") == pytest.approx(si)


@pytest.mark.parametrize("name", list_technologies())
def test_every_bundled_technology_loads_and_cites_every_figure(name):
    tech = load_technology(name)
    assert tech.name == name
    block = "dram" if tech.is_dram else "cacti" if tech.cacti is not None else "reference"
    assert getattr(tech, block) is not None
    cited = [k for k in tech.sources if k == block or k.startswith(f"{block}.")]
    assert cited, f"{name}: no citation for its {block} figures"
    assert all(len(text) > 10 for text in tech.sources.values())


def test_library_covers_the_issue_list():
    needed = {"sram-hp", "sram-lstp", "sram-nvsim", "stt-mram", "sot-mram", "rram", "pcm", "fefet", "lpddr4",
              "lpddr5", "hbm2"}
    assert needed <= set(list_technologies())
