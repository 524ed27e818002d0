"""``hetsim reproduce``: the seed studies' figures, end to end, in one paper style.

Each recipe is a bundled YAML (``recipes/*.yaml``: a study ``hetsim run`` runs as it is, or a recipe
spec) plus a figure function; :func:`run` runs recipes into a folder with PNG, PDF and CSV per figure and
``reproduce.md`` (figures with captions comparing them with the seed papers). See docs/reproduce.md.
"""
from simulator.reproduce.core import (RECIPES, Caption, Context, Figure, Recipe, RecipeRun, register,  # noqa: F401
                                      resolve, run)
