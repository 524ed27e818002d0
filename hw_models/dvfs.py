"""DVFS operating points: a (voltage, frequency) pair and how it scales energy and leakage.

Dynamic energy per operation scales with the square of the supply voltage (CV²); leakage power with
``(V / V_nominal) ** leakage_voltage_exponent``. The default exponent 1 keeps the leakage current constant
over the DVFS range (P = V·I): a stated, conservative law, since DIBL makes the real current fall with V too;
a platform may set a larger exponent.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from hw_models.errors import check_fields


@dataclass(frozen=True)
class OperatingPoint:
    """One DVFS setting: ``voltage_V`` (V), ``frequency_Hz`` (Hz), relative to ``nominal_voltage_V`` (V)."""
    name: str
    voltage_V: float
    frequency_Hz: float
    nominal_voltage_V: float
    leakage_voltage_exponent: float = 1.0
    #: multiplier on dynamic energy per operation: (V / V_nominal)² (dimensionless)
    dynamic_scale: float = field(init=False)
    #: multiplier on leakage power: (V / V_nominal) ** leakage_voltage_exponent (dimensionless)
    leakage_scale: float = field(init=False)

    def __post_init__(self) -> None:
        check_fields(self, f"operating_points.{self.name}",
                     ("voltage_V", "frequency_Hz", "nominal_voltage_V"), ("leakage_voltage_exponent",))
        ratio = self.voltage_V / self.nominal_voltage_V
        object.__setattr__(self, "dynamic_scale", ratio**2)
        object.__setattr__(self, "leakage_scale", ratio**self.leakage_voltage_exponent)

    @property
    def cycle_s(self) -> float:
        """Clock period (s)."""
        return 1.0 / self.frequency_Hz


def dynamic_scale(op_point: OperatingPoint | None) -> float:
    """The dynamic-energy multiplier of ``op_point`` (1 at nominal, i.e. when None)."""
    return 1.0 if op_point is None else op_point.dynamic_scale


def leakage_scale(op_point: OperatingPoint | None) -> float:
    """The leakage-power multiplier of ``op_point`` (1 at nominal, i.e. when None)."""
    return 1.0 if op_point is None else op_point.leakage_scale
