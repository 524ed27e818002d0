"""Compression policy: storage bits per element and sparsity per tensor role.

Quantisation sets the bits a role's elements are stored with (e.g. 8-bit weights, 16-bit activations, as in
EdgeBERT). Pruning stores only the non-zero fraction of a role's elements plus an encoding overhead
(a bit mask by default: 1 bit per element), so a tensor of ``n`` elements takes
``n·(1-sparsity)·bits/8 + n·mask_bits/8`` bytes (:meth:`workloads.trace.TensorInfo.bytes_for`).
Torch-free.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from .errors import WorkloadError
from .trace import ROLES, TensorInfo

#: Bits of the encoding of which elements are kept when a role is sparse: a bit mask (assumption: the
#: simplest encoding, the one NVMExplorer's ALBERT storage figure uses; see reference/workloads.md).
BIT_MASK_BITS = 1.0


def _parse_pairs(spec: str, what: str, example: str) -> list[tuple[str, str]]:
    pairs = []
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        role, sep, value = part.partition("=")
        role, value = role.strip(), value.strip()
        if not sep or not role or not value:
            raise WorkloadError(f"{what}: {part!r}: malformed; expected ROLE=VALUE[,ROLE=VALUE...] "
                                f"such as {example!r}")
        if role not in ROLES:
            raise WorkloadError(f"{what}: {role!r}: unknown role; expected one of {', '.join(ROLES)}")
        pairs.append((role, value))
    if not pairs:
        raise WorkloadError(f"{what}: {spec!r}: empty; expected ROLE=VALUE[,ROLE=VALUE...] such as {example!r}")
    return pairs


def _parse_values(spec: str, what: str, example: str, convert, valid, expected: str) -> dict:
    out = {}
    for role, value in _parse_pairs(spec, what, example):
        try:
            number = convert(value)
        except ValueError:
            number = None
        if number is None or not valid(number):
            raise WorkloadError(f"{what}: {role}={value}: out of range or not a number; expected {expected}")
        out[role] = number
    return out


_BITS_EXPECTED = "a whole number of bits 1..64"
_SPARSITY_EXPECTED = "a fraction 0 <= sparsity < 1"


def _valid_bits(b) -> bool:
    return isinstance(b, int) and not isinstance(b, bool) and 1 <= b <= 64


def _valid_sparsity(f) -> bool:
    return isinstance(f, (int, float)) and not isinstance(f, bool) and 0.0 <= f < 1.0


def parse_bits(spec: str) -> dict[str, int]:
    """Parse ``"weight=8,activation=16"`` into ``{role: bits per element}`` (1..64 bits)."""
    return _parse_values(spec, "--bits", "weight=8,activation=16", int, _valid_bits, _BITS_EXPECTED)


def parse_sparsity(spec: str) -> dict[str, float]:
    """Parse ``"embedding=0.6"`` into ``{role: fraction of elements not stored}`` (0 <= s < 1)."""
    return _parse_values(spec, "--sparsity", "embedding=0.6", float, _valid_sparsity, _SPARSITY_EXPECTED)


@dataclass(frozen=True)
class CompressionPolicy:
    """Bits per element and sparsity by tensor role. Roles not listed keep what the trace recorded (the
    run-time dtype's width, dense). ``mask_bits`` is the per-element encoding overhead of a sparse role,
    in bits per element."""

    bits: dict[str, int] = field(default_factory=dict)
    sparsity: dict[str, float] = field(default_factory=dict)
    mask_bits: float = BIT_MASK_BITS

    def __post_init__(self):
        for role in (*self.bits, *self.sparsity):
            if role not in ROLES:
                raise WorkloadError(f"compression: {role!r}: unknown role; expected one of {', '.join(ROLES)}")
        for role, b in self.bits.items():
            if not _valid_bits(b):
                raise WorkloadError(f"compression: bits.{role}: {b!r}; expected {_BITS_EXPECTED}")
        for role, f in self.sparsity.items():
            if not _valid_sparsity(f):
                raise WorkloadError(f"compression: sparsity.{role}: {f!r}; expected {_SPARSITY_EXPECTED}")
        if not isinstance(self.mask_bits, (int, float)) or not 0 <= self.mask_bits < float("inf"):
            raise WorkloadError(f"compression: mask_bits: {self.mask_bits!r}; expected bits per element >= 0")

    @classmethod
    def parse(cls, bits: str | None = None, sparsity: str | None = None) -> "CompressionPolicy":
        """A policy from the CLI specs ``bits="weight=8,activation=16"`` and ``sparsity="embedding=0.6"``
        (either may be None or empty)."""
        return cls(parse_bits(bits) if bits else {}, parse_sparsity(sparsity) if sparsity else {})

    @classmethod
    def from_dict(cls, data: dict) -> "CompressionPolicy":
        """The inverse of :meth:`to_dict`."""
        return cls(dict(data.get("bits", {})), dict(data.get("sparsity", {})),
                   float(data.get("mask_bits", BIT_MASK_BITS)))

    def to_dict(self) -> dict:
        """JSON form, recorded in a compressed Trace's ``meta["compression"]``."""
        return {"bits": dict(self.bits), "sparsity": dict(self.sparsity), "mask_bits": self.mask_bits}

    @property
    def is_identity(self) -> bool:
        """True when the policy changes nothing."""
        return not self.bits and not self.sparsity

    def apply(self, tensor: TensorInfo) -> TensorInfo:
        """``tensor`` stored as this policy says for its role."""
        bits = self.bits.get(tensor.role, tensor.bits)
        if tensor.role in self.sparsity:
            s = self.sparsity[tensor.role]
            return replace(tensor, bits=bits, sparsity=s, mask_bits=self.mask_bits if s > 0 else 0.0)
        return replace(tensor, bits=bits)
