"""User-facing errors of the hardware layer (exit code 2 at the CLI)."""


class HardwareConfigError(ValueError):
    """A platform or technology file is invalid. The message is one line:
    ``<file>: <field.path>: <what was wrong>; expected <what>``."""
