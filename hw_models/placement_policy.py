"""The placement policy of a platform: which memories each tensor role may live in, in preference order."""
from __future__ import annotations

from dataclasses import dataclass, field

from hw_models.vocabulary import ADAPTER_MODES, ON_OVERFLOW, ROLES  # noqa: F401  (the shared vocabulary)


@dataclass(frozen=True)
class PlacementPolicy:
    """``roles``: role -> memory names in preference order. ``on_overflow``: "next" (spill to the next
    memory in the list) or "error". ``adapters``: "resident" or "load_on_switch" (fetched from their backing
    store when the task changes). ``power_gating``: gate memories between requests where data allows."""
    roles: dict[str, list[str]] = field(default_factory=dict)
    on_overflow: str = "next"
    adapters: str = "resident"
    power_gating: bool = False

    def memories_for(self, role: str) -> list[str]:
        """The memories ``role`` may be placed in, best first (empty when the policy does not name it)."""
        return self.roles.get(role, [])
