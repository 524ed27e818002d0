"""Install script for hetsim (the design card asks for setup.py)."""
import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
VERSION = re.search(r'__version__ = "([^"]+)"', (HERE / "simulator" / "_version.py").read_text()).group(1)

setup(
    name="hetsim",
    version=VERSION,
    description="Hardware co-design simulator for energy-efficient task adaptation at the edge",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    packages=find_packages(include=["simulator", "simulator.*", "hw_models", "hw_models.*",
                                    "workloads", "workloads.*"]),
    include_package_data=True,
    package_data={
        "hw_models": ["data/**/*.yaml", "data/*.yaml", "platforms/*.yaml"],
        "workloads": ["*.md"],
        "simulator": ["studies/*.yaml", "reproduce/*.mplstyle", "reproduce/recipes/*.yaml",
                      "reproduce/recipes/platforms/*.yaml", "sweep/sweeps/*.yaml"],
    },
    install_requires=[
        # torch is pinned to the local CPU build: a bare `torch` pulls gigabytes of CUDA.
        "torch==2.13.0",
        "transformers==5.23.0",
        "peft==0.21.2",
        "simpy==4.1.2",
        "numpy==2.4.6",
        "numba==0.68.1",      # the contention engine's compiled event loop (simulator/engine/kernel.py)
        "llvmlite==0.50.0",   # numba's compiler back end, pinned with it
        "pandas==3.1.1",
        "matplotlib==3.11.2",
        "pyyaml==6.0.3",
        "pydantic==2.14.3",   # validated platform / study YAML with field paths in errors
        "tqdm==4.70.1",       # progress bars on long work (tracing many models, sweeps)
        "scipy==1.17.1",      # sweeps: Latin-hypercube sampling (scipy.stats.qmc)
        "pyarrow==25.0.1",    # Parquet: the sweep result store, the large tables of long runs
        "optuna==5.0.0",      # sweeps: multi-objective search (NSGA-II sampler)
        "dask[distributed]==2026.8.0",  # sweeps on a cluster (--scheduler)
        "distributed==2026.8.0",
    ],
    extras_require={
        "test": ["pytest==9.2.0", "hypothesis==6.170.15", "pytest-xdist==3.8.0",
                 "import-linter==2.17",  # the layering contract in .importlinter, run by the tests
                 "ruff==0.17.6",         # lint (ruff.toml), run by tests/test_static_checks.py
                 "mypy==2.4.0",          # types of the public hardware/cost API (mypy.ini), same test
                 ],
    },
    entry_points={
        "console_scripts": ["hetsim=simulator.cli.main:main"],
        # the test kit's fixtures (hetsim_check, hetsim_platform, ...) in every pytest run once installed
        "pytest11": ["hetsim = simulator.testing.plugin"],
    },
)
