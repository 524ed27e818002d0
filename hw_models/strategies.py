"""Hypothesis strategies that build random, valid hardware: for property tests of cost models and engines.

Needs ``hypothesis`` (the ``test`` extra); nothing else in hw_models imports this module. Example::

    from hypothesis import given
    from hw_models.strategies import platforms

    @given(platforms())
    def test_energy_is_positive(platform): ...
"""
from __future__ import annotations

from hypothesis import strategies as st

from hw_models.compute import MacArray, VectorUnit
from hw_models.dvfs import OperatingPoint
from hw_models.link import COMPUTE, Link
from hw_models.memory import Memory
from hw_models.placement_policy import PlacementPolicy
from hw_models.vocabulary import ADAPTER_MODES, ON_OVERFLOW, ROLES
from hw_models.platform import Platform
from hw_models.technology import list_technologies, load_technology

ON_CHIP = tuple(t for t in list_technologies() if not load_technology(t).is_dram)
DRAM = tuple(t for t in list_technologies() if load_technology(t).is_dram)
NODES_M = (7e-9, 12e-9, 16e-9, 22e-9, 28e-9, 40e-9, 65e-9)


@st.composite
def memories(draw, name: str = "mem", technologies: tuple[str, ...] = ON_CHIP + DRAM,
             min_bytes: int = 4 * 2**10, max_bytes: int = 64 * 2**20, is_buffer: bool = False,
             node_m: float | None = None) -> Memory:
    """A :class:`Memory` of a bundled technology with random capacity, word width, banks and ports."""
    return Memory.from_technology(
        name, draw(st.sampled_from(technologies)), draw(st.integers(min_bytes, max_bytes)),
        word_bits=draw(st.sampled_from([16, 32, 64, 128, 256])),
        banks=draw(st.sampled_from([1, 2, 4, 8, 16])), ports=draw(st.integers(1, 2)),
        node_m=node_m if node_m is not None else draw(st.sampled_from(NODES_M)),
        is_buffer=is_buffer)


@st.composite
def mac_arrays(draw, node_m: float = 22e-9, clock_hz: float = 1e9) -> MacArray:
    """A :class:`MacArray` of random shape, dataflow and precision."""
    sides = st.sampled_from([4, 8, 16, 32, 64])
    return MacArray(rows=draw(sides), cols=draw(sides), dataflow=draw(st.sampled_from(["ws", "os", "is"])),
                    weight_bits=draw(st.sampled_from([4, 8, 16])),
                    act_bits=draw(st.sampled_from([8, 16])), acc_bits=draw(st.sampled_from([16, 24, 32])),
                    clock_hz=clock_hz, node_m=node_m)


@st.composite
def operating_points(draw, nominal_voltage_V: float = 0.8) -> dict[str, OperatingPoint]:
    """One to three DVFS points, the first named "nominal" at the nominal voltage."""
    points = {"nominal": OperatingPoint("nominal", nominal_voltage_V, draw(st.sampled_from([2e8, 5e8, 1e9])),
                                        nominal_voltage_V)}
    for i in range(draw(st.integers(0, 2))):
        v = draw(st.floats(0.4, nominal_voltage_V))
        points[f"p{i}"] = OperatingPoint(f"p{i}", v, draw(st.floats(5e7, 1e9)), nominal_voltage_V)
    return points


@st.composite
def platforms(draw, with_dram: bool | None = None) -> Platform:
    """A valid :class:`Platform`: one buffer, one to three on-chip home memories, optionally a DRAM; every
    home linked to the buffer and to compute, the buffer linked to compute; roles spread over the homes."""
    node = draw(st.sampled_from(NODES_M))
    ops = draw(operating_points())
    clock = ops["nominal"].frequency_Hz
    buffer = draw(memories("buffer", ON_CHIP, 8 * 2**10, 512 * 2**10, True, node))
    mems: dict[str, Memory] = {"buffer": buffer}
    for i in range(draw(st.integers(1, 3))):
        mems[f"home{i}"] = draw(memories(f"home{i}", ON_CHIP, 64 * 2**10, 32 * 2**20, False, node))
    if with_dram if with_dram is not None else draw(st.booleans()):
        mems["dram"] = draw(memories("dram", DRAM, 2**28, 2**30, False, node))
    energy = st.floats(0.0, 1e-12)
    links = [Link("buffer", COMPUTE, draw(st.sampled_from([64, 128, 256])), clock, draw(energy))]
    for name in mems:
        if name != "buffer":
            links.append(Link(name, "buffer", draw(st.sampled_from([32, 64, 128])), clock, draw(energy)))
            links.append(Link(name, COMPUTE, draw(st.sampled_from([32, 64, 128])), clock, draw(energy)))
    homes = [n for n in mems if n != "buffer"]
    roles = {role: draw(st.permutations(homes)) for role in ROLES}
    placement = PlacementPolicy(roles=roles, on_overflow=draw(st.sampled_from(ON_OVERFLOW)),
                                adapters=draw(st.sampled_from(ADAPTER_MODES)),
                                power_gating=draw(st.booleans()))
    return Platform(name="random", memories=mems, mac_array=draw(mac_arrays(node, clock)),
                    vector_unit=VectorUnit(lanes=draw(st.sampled_from([4, 8, 16, 32])), clock_hz=clock,
                                           node_m=node),
                    links=links, placement=placement, operating_points=ops, default_operating_point="nominal",
                    prefetch_depth=draw(st.integers(0, 2)), node_m=node)
