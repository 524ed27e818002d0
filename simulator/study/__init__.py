"""Studies: a YAML file naming models, adapters, tasks, scenario and platforms, run end to end
(:mod:`simulator.study.runner`); the bundled studies are in ``simulator/studies/``."""
