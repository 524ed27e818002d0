"""How an on-chip array given by one cited reference point scales with capacity, banks and word width.

NVMExplorer (the source of the NVM figures) characterises one array geometry per technology (2 MB or 1 MB,
64-bit words). The periphery of an NVM array (decoders, word-line drivers, sense amplifiers, H-tree routing
between banks) is the same CMOS circuitry as an SRAM's, so the figures of another geometry are the cited
ones times the ratio CACTI gives for SRAM between the two geometries (:func:`periphery_ratios`, from the
committed CACTI table of :mod:`hw_models.cacti`). At the reference geometry every ratio is exactly 1, so a
memory returns its cited figures; banks cost what CACTI says they cost (routing energy, area, leakage).
"""
from __future__ import annotations

from hw_models.cacti import array_figures

#: Memory figure -> the CACTI figure whose ratio scales it.
RATIO_OF = {"read_energy": "read_energy_J", "write_energy": "write_energy_J", "leakage": "leakage_W",
            "area": "area_m2", "read_latency": "access_time_s", "write_latency": "access_time_s"}


def periphery_ratios(flavour: str, capacity_bytes: float, banks: int, word_bits: int,
                     ref_capacity_bytes: float, ref_word_bits: int) -> dict[str, float]:
    """Dimensionless multipliers (keys of :data:`RATIO_OF`) taking a one-bank array of
    ``ref_capacity_bytes`` bytes and ``ref_word_bits``-bit words to ``capacity_bytes`` / ``banks`` /
    ``word_bits``, both as CACTI's SRAM of periphery ``flavour`` ("itrs-hp" or "itrs-lstp"); all 1.0 at
    the reference geometry."""
    if capacity_bytes == ref_capacity_bytes and banks == 1 and word_bits == ref_word_bits:
        return dict.fromkeys(RATIO_OF, 1.0)
    at = array_figures(flavour, capacity_bytes, banks, word_bits)
    ref = array_figures(flavour, ref_capacity_bytes, 1, ref_word_bits)
    return {k: at[v] / ref[v] for k, v in RATIO_OF.items()}
