"""CACTI's committed SRAM figures at each of its nodes are what hetsim's model returns.

Reads the committed tables (``hw_models/data/cacti/``): ``sram.csv`` (the grid: every point must come back
exactly, at its own node), ``offgrid.csv`` and ``check.csv`` (direct CACTI runs between a node's grid points,
written by ``benchmarks/cacti_sram.py``: within 10 % at CACTI's nodes, the calibration's target). Fails if
the interpolation, the node selection or the node scaling outside the table breaks.
"""
import csv
import math

import pytest

from hw_models.cacti import CACTI_DIR, array_figures, load_nodes, table_node
from hw_models.memory import Memory
from hw_models.techscaling import area_factor, energy_factor, leakage_factor

FIGURES = ("read_energy_J", "write_energy_J", "leakage_W", "area_m2", "access_time_s", "cycle_time_s")
#: hetsim's Memory attribute for each CACTI figure the check compares
MEMORY_OF = {"read_energy_J": "read_energy_per_access_J", "write_energy_J": "write_energy_per_access_J",
             "leakage_W": "leakage_W", "area_m2": "area_m2", "access_time_s": "read_latency_s"}
TECH_OF = {"itrs-hp": "sram-hp", "itrs-lstp": "sram-lstp"}


def _rows(name: str) -> list[dict]:
    path = CACTI_DIR / name
    if not path.is_file():
        return []
    lines = [ln for ln in path.read_text().splitlines() if ln and not ln.startswith("#")]
    out = []
    for r in csv.DictReader(lines):
        out.append(dict(flavour=r["flavour"], node_nm=float(r["node_nm"]), capacity_bytes=int(r["capacity_bytes"]),
                        banks=int(r["banks"]), word_bits=int(r["word_bits"]),
                        **{f: float(r[f]) for f in FIGURES}))
    return out


GRID = _rows("sram.csv")
CHECK = _rows("offgrid.csv") + _rows("check.csv")
NODES = sorted({r["node_nm"] for r in GRID})


def test_the_table_covers_cactis_nodes_for_both_flavours():
    assert NODES == [22, 32, 45, 65, 90]
    for flavour, nt in load_nodes().items():
        assert [round(n * 1e9) for n in nt.nodes_m] == NODES, flavour


@pytest.mark.parametrize("node", [22, 32, 45, 65, 90])
def test_every_committed_point_is_reproduced_at_its_node(node):
    rows = [r for r in GRID if r["node_nm"] == node]
    assert len(rows) > 100
    for r in rows:
        got = array_figures(r["flavour"], r["capacity_bytes"], r["banks"], r["word_bits"], node_m=node * 1e-9)
        for f in FIGURES:
            assert got[f] == pytest.approx(r[f], rel=1e-12), (r, f)


@pytest.mark.parametrize("node", [22, 32, 45, 65, 90])
def test_a_memory_at_a_table_node_has_that_nodes_figures(node):
    """The Memory path (node selection + node scaling) adds nothing at a table node."""
    for r in [r for r in GRID if r["node_nm"] == node][::37]:
        m = Memory.from_technology("m", TECH_OF[r["flavour"]], r["capacity_bytes"], word_bits=r["word_bits"],
                                   banks=r["banks"], node_m=node * 1e-9)
        for theirs, ours in MEMORY_OF.items():
            assert getattr(m, ours) == pytest.approx(r[theirs], rel=1e-12), (r, theirs)


def test_off_grid_points_are_within_ten_percent_of_cacti():
    """Direct CACTI runs between a node's grid points (offgrid.csv, check.csv) at CACTI's nodes. (check.csv
    also holds runs at nodes between CACTI's, where CACTI interpolates its device parameters and hetsim the
    figures: those are shown in check.txt, not held to 10 %: LSTP leakage differs ~0.6x at 28 nm.)"""
    rows = [r for r in CHECK if r["node_nm"] in NODES]
    assert len(rows) >= 50
    assert {r["node_nm"] for r in rows} == set(NODES)
    for r in rows:
        m = Memory.from_technology("m", TECH_OF[r["flavour"]], r["capacity_bytes"], word_bits=r["word_bits"],
                                   banks=r["banks"], node_m=r["node_nm"] * 1e-9)
        key = (r["flavour"], r["node_nm"], r["capacity_bytes"], r["banks"], r["word_bits"])
        for theirs, ours in MEMORY_OF.items():
            dev = abs(getattr(m, ours) / r[theirs] - 1)
            assert dev <= KNOWN.get(key, 0.10), (key, theirs, getattr(m, ours), r[theirs])


#: check points where CACTI's own figures are not monotone between two power-of-two capacities (its
#: optimiser changes the organisation: at 32 nm, 8 banks of 256-bit words, the write energy of 856 KiB is
#: above that of 1 MiB; the 22 nm grid has the same kind of point, e.g. 0.83x on that write), so no
#: interpolation of a power-of-two grid comes within 10 %; the bound they do keep.
KNOWN = {("itrs-hp", 32.0, 876544, 8, 256): 0.20, ("itrs-hp", 32.0, 624640, 4, 256): 0.20,
         ("itrs-hp", 90.0, 876544, 8, 256): 0.22}


@pytest.mark.parametrize("flavour", ["itrs-hp", "itrs-lstp"])
@pytest.mark.parametrize("node", [28, 40, 55, 77])
def test_between_nodes_each_figure_is_the_power_law_through_its_neighbours(flavour, node):
    lo = max(n for n in NODES if n < node)
    hi = min(n for n in NODES if n > node)
    t = (math.log(node) - math.log(lo)) / (math.log(hi) - math.log(lo))
    for cap, banks, word in ((2**17, 1, 64), (3 * 2**20, 4, 128), (2**25, 32, 32)):
        a = array_figures(flavour, cap, banks, word, node_m=lo * 1e-9)
        b = array_figures(flavour, cap, banks, word, node_m=hi * 1e-9)
        x = array_figures(flavour, cap, banks, word, node_m=node * 1e-9)
        for f in FIGURES:
            assert min(a[f], b[f]) * (1 - 1e-12) <= x[f] <= max(a[f], b[f]) * (1 + 1e-12), f
            assert x[f] == pytest.approx(a[f] ** (1 - t) * b[f] ** t, rel=1e-9), f


@pytest.mark.parametrize("node, nearest", [(12, 22), (16, 22), (130, 90)])
def test_outside_the_nodes_the_nearest_node_is_scaled_by_the_node_law(node, nearest):
    assert table_node("itrs-hp", node * 1e-9) == pytest.approx(nearest * 1e-9, rel=1e-6)
    for tech in ("sram-hp", "sram-lstp"):
        near = Memory.from_technology("a", tech, 3 * 2**20, banks=4, node_m=nearest * 1e-9)
        far = Memory.from_technology("b", tech, 3 * 2**20, banks=4, node_m=node * 1e-9)
        n, f = nearest * 1e-9, node * 1e-9
        assert far.read_energy_per_access_J == pytest.approx(near.read_energy_per_access_J * energy_factor(f, n))
        assert far.leakage_W == pytest.approx(near.leakage_W * leakage_factor(f, n))
        assert far.area_m2 == pytest.approx(near.area_m2 * area_factor(f, n))
        assert far.read_latency_s == near.read_latency_s    # latency: CACTI's at the nearest node


def test_the_bundled_reference_node_is_unchanged_by_the_other_nodes():
    """22 nm figures come from the 22 nm rows alone: the technologies' reference point is the 22 nm grid's."""
    for r in [r for r in GRID if r["node_nm"] == 22 and r["banks"] == 1 and r["word_bits"] == 64][:5]:
        got = array_figures(r["flavour"], r["capacity_bytes"], 1, 64)   # no node: the reference
        assert got == {f: r[f] for f in FIGURES}
