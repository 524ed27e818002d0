"""User-facing errors of the hardware layer (exit code 2 at the CLI)."""


class HardwareConfigError(ValueError):
    """A platform or technology file is invalid. The message is one line:
    ``<file>: <field.path>: <what was wrong>; expected <what>``."""


def check_fields(obj: object, prefix: str, positive: tuple[str, ...] = (),
                 non_negative: tuple[str, ...] = ()) -> None:
    """Raise :class:`HardwareConfigError` ``<prefix>.<field>: got ...; expected > 0`` (or ``>= 0``) for the
    first attribute of ``obj`` out of range (NaN fails both)."""
    for name in positive:
        value = getattr(obj, name)
        if not value > 0:
            raise HardwareConfigError(f"{prefix}.{name}: got {value!r}; expected > 0")
    for name in non_negative:
        value = getattr(obj, name)
        if not value >= 0:
            raise HardwareConfigError(f"{prefix}.{name}: got {value!r}; expected >= 0")
