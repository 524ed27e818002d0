"""The bundled recipes of ``hetsim reproduce``; importing this package registers them, in the order
``all`` runs them. Each module is one recipe (its YAML beside it)."""
from simulator.reproduce.recipes import footprint, mappings, nvm_choice  # noqa: F401  (isort: skip)
from simulator.reproduce.recipes import early_exit  # noqa: F401,E402  (registration order = run order)
from simulator.reproduce.recipes import methods  # noqa: F401,E402
from simulator.reproduce.recipes import generation  # noqa: F401,E402
from simulator.reproduce.recipes import pareto  # noqa: F401,E402
