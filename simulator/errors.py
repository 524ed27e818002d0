"""User-facing configuration errors of the simulator layer (exit code 2 at the CLI)."""


class SimulationConfigError(ValueError):
    """A study, scenario or run configuration is invalid. The message is one line:
    ``<file>: <field.path>: <what was wrong>; expected <what>``."""
