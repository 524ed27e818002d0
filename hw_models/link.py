"""Interconnect links between memories and compute (``"compute"``), or between two memories."""
from __future__ import annotations

from dataclasses import dataclass, field

from hw_models.errors import check_fields

#: The endpoint name that stands for the compute units (MAC array and vector unit).
COMPUTE = "compute"


@dataclass(frozen=True)
class Link:
    """A ``width_bits``-wide link clocked at ``clock_hz`` (Hz) costing ``energy_per_bit_J`` (J/bit)."""
    src: str
    dst: str
    width_bits: int
    clock_hz: float
    energy_per_bit_J: float
    #: peak bandwidth (bytes/s) = width × clock / 8
    bandwidth_Bps: float = field(init=False)

    def __post_init__(self) -> None:
        check_fields(self, f"links.{self.name}", ("width_bits", "clock_hz"), ("energy_per_bit_J",))
        object.__setattr__(self, "bandwidth_Bps", self.width_bits * self.clock_hz / 8)

    @property
    def name(self) -> str:
        """Ledger component name, ``"src->dst"``."""
        return f"{self.src}->{self.dst}"

    def connects(self, a: str, b: str) -> bool:
        """True when this link joins ``a`` and ``b`` (either direction)."""
        return {self.src, self.dst} == {a, b}

    def transfer_time(self, nbytes: float) -> float:
        """Time (s) to move ``nbytes`` at the link's bandwidth."""
        return nbytes / self.bandwidth_Bps

    def transfer_energy(self, nbytes: float) -> float:
        """Energy (J) to move ``nbytes``."""
        return nbytes * 8 * self.energy_per_bit_J
