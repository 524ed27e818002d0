"""The bundled recipes of ``hetsim reproduce``; importing this package registers them, in the order
``all`` runs them. Each module is one recipe (its YAML beside it)."""
from simulator.reproduce.recipes import footprint, mappings, nvm_choice  # noqa: F401
