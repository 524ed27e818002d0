"""hetsim hardware layer: memory technologies, compute units, platforms. No torch, no workloads, no simulator.

Units are SI throughout (J, s, bytes, W, m², Hz, V). Typical use::

    from hw_models import load_platform
    p = load_platform("edge-rram")
    p.memories["backbone"].read_energy(1024)      # J to read 1 KiB
    p.mac_array.matmul_cycles(128, 768, 768)      # cycles
"""
from hw_models.compute import MacArray, VectorUnit
from hw_models.dvfs import OperatingPoint
from hw_models.errors import HardwareConfigError
from hw_models.link import COMPUTE, Link
from hw_models.loader import build_platform, list_platforms, load_platform
from hw_models.memory import Memory
from hw_models.placement_policy import ROLES, PlacementPolicy
from hw_models.platform import Platform
from hw_models.technology import Technology, list_technologies, load_technology

__all__ = ["COMPUTE", "ROLES", "HardwareConfigError", "Link", "MacArray", "Memory", "OperatingPoint",
           "PlacementPolicy", "Platform", "Technology", "VectorUnit", "build_platform", "list_platforms",
           "list_technologies", "load_platform", "load_technology"]
