"""User-facing errors of the workload layer (exit code 2 at the CLI)."""


class WorkloadError(ValueError):
    """A model name, adapter/compression spec, trace file or model forward is invalid. One line:
    ``<where>: <what was wrong>; expected <what>``."""
